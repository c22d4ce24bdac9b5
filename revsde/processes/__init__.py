"""Forward processes: Song et al.'s VE, VP and sub-VP and the cosine schedule (``song``), the
VP process of a discrete DDPM table (``table``), EDM's process (``edm``) and the flow-matching
interpolant (``flow``). Each is a `revsde.DiffusionSDE` given by its alpha(t) and sigma(t)."""

from .edm import EDMSDE
from .flow import FlowMatchingSDE
from .song import VESDE, VPSDE, CosineVPSDE, SubVPSDE
from .table import DiscreteVPSDE

__all__ = [
    "EDMSDE",
    "VESDE",
    "VPSDE",
    "CosineVPSDE",
    "DiscreteVPSDE",
    "FlowMatchingSDE",
    "SubVPSDE",
]
