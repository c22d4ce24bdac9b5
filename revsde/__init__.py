"""revsde: score-based diffusion models as numerical SDEs.

Forward processes (VE, VP, sub-VP, cosine) with exact coefficients, their reverse-time SDEs and
probability-flow ODEs, a score-network adapter, closed-form targets, and the discrete chains
the SDEs generalize. The docs site (docs/) describes the API.
"""

from solvers import sdeint

from . import conversions, discrete, metrics, predictions, processes, targets, thresholding
from .adapter import ScoreAdapter
from .conversions import ve_to_vp, vp_to_ve
from .denoise import denoise
from .processes import EDMSDE, VESDE, VPSDE, CosineVPSDE, DiscreteVPSDE, FlowMatchingSDE, SubVPSDE
from .reverse import ReverseSDE
from .sample import sample
from .sde import DiffusionSDE

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
    "__version__",
    "conversions",
    "denoise",
    "discrete",
    "metrics",
    "predictions",
    "processes",
    "sample",
    "sdeint",
    "targets",
    "thresholding",
    "ve_to_vp",
    "vp_to_ve",
]
