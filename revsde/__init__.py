"""revsde: score-based diffusion models as numerical SDEs.

Forward processes (VE, VP, sub-VP, cosine, DDPM tables, EDM, flow matching) with exact
coefficients, their reverse-time SDEs and probability-flow ODEs, a score-network adapter,
closed-form targets, exact output laws on Gaussians, likelihoods, the training loss, and the
discrete chains the SDEs generalize. The docs site (docs/) describes the API.
"""

from solvers import sdeint

from . import (
    checkpoint,
    conversions,
    denoisers,
    discrete,
    exact,
    guidance,
    likelihood,
    metrics,
    nets,
    predictions,
    processes,
    targets,
    thresholding,
    training,
    tuning,
)
from .adapter import ScoreAdapter
from .conversions import ve_to_vp, vp_to_ve
from .denoise import denoise
from .likelihood import bits_per_dim, log_likelihood
from .processes import EDMSDE, VESDE, VPSDE, CosineVPSDE, DiscreteVPSDE, FlowMatchingSDE, SubVPSDE
from .reverse import ReverseSDE
from .sample import sample
from .sde import DiffusionSDE
from .training import dsm_loss
from .tuning import TunedGrid, tune_grid

__version__ = "0.1.0.dev0"

__all__ = [
    "EDMSDE",
    "VESDE",
    "VPSDE",
    "CosineVPSDE",
    "DiffusionSDE",
    "DiscreteVPSDE",
    "FlowMatchingSDE",
    "ReverseSDE",
    "ScoreAdapter",
    "SubVPSDE",
    "TunedGrid",
    "__version__",
    "bits_per_dim",
    "checkpoint",
    "conversions",
    "denoise",
    "denoisers",
    "discrete",
    "dsm_loss",
    "exact",
    "guidance",
    "likelihood",
    "log_likelihood",
    "metrics",
    "nets",
    "predictions",
    "processes",
    "sample",
    "sdeint",
    "targets",
    "thresholding",
    "training",
    "tune_grid",
    "tuning",
    "ve_to_vp",
    "vp_to_ve",
]
