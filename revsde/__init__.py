"""revsde: score-based diffusion models as numerical SDEs.

Forward processes (VE, VP, sub-VP, cosine, DDPM tables, EDM, flow matching) with exact
coefficients, their reverse-time SDEs and probability-flow ODEs, a score-network adapter,
closed-form targets, exact output laws on Gaussians, likelihoods, the training loss, and the
discrete chains the SDEs generalize. The docs site (docs/) describes the API.
"""

from . import evaluation, models, processes, sampling, solvers, training
from .evaluation.likelihood import bits_per_dim, log_likelihood
from .models.adapter import ScoreAdapter
from .processes import (
    EDMSDE,
    VESDE,
    VPSDE,
    CosineVPSDE,
    DiffusionSDE,
    DiscreteVPSDE,
    FlowMatchingSDE,
    ReverseSDE,
    SubVPSDE,
)
from .processes.conversions import ve_to_vp, vp_to_ve
from .sampling.denoise import denoise
from .sampling.sample import sample
from .sampling.tuning import TunedGrid, tune_grid
from .solvers import sdeint
from .training import dsm_loss

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
    "denoise",
    "dsm_loss",
    "evaluation",
    "log_likelihood",
    "models",
    "processes",
    "sample",
    "sampling",
    "sdeint",
    "solvers",
    "training",
    "tune_grid",
    "ve_to_vp",
    "vp_to_ve",
]
