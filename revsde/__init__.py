"""revsde: score-based diffusion models as numerical SDEs.

Forward processes (VE, VP, sub-VP, cosine) with exact coefficients, closed-form targets, and
the discrete chains they generalize. See DESIGN §3 for the public API.
"""

from . import conversions, discrete, targets
from .conversions import ve_to_vp, vp_to_ve
from .processes import VESDE, VPSDE, CosineVPSDE, SubVPSDE
from .sde import DiffusionSDE

__version__ = "0.1.0.dev0"

__all__ = [
    "VESDE",
    "VPSDE",
    "CosineVPSDE",
    "DiffusionSDE",
    "SubVPSDE",
    "__version__",
    "conversions",
    "discrete",
    "targets",
    "ve_to_vp",
    "vp_to_ve",
]
