"""The processes: the forward SDE given by alpha(t) and sigma(t) (``sde``, `DiffusionSDE`) and
its reverse-time SDE and probability-flow ODE (``reverse``, `ReverseSDE`); Song et al.'s VE, VP
and sub-VP and the cosine schedule (``song``), the VP process of a discrete DDPM table
(``table``), EDM's process (``edm``) and the flow-matching interpolant (``flow``); the discrete
DDPM and SMLD chains the SDEs generalize (``discrete``) and the map between VE and VP
coordinates (``conversions``)."""

from . import conversions, discrete
from .edm import EDMSDE
from .flow import FlowMatchingSDE
from .reverse import ReverseSDE
from .sde import DiffusionSDE
from .song import VESDE, VPSDE, CosineVPSDE, SubVPSDE
from .table import DiscreteVPSDE

__all__ = [
    "EDMSDE",
    "VESDE",
    "VPSDE",
    "CosineVPSDE",
    "DiffusionSDE",
    "DiscreteVPSDE",
    "FlowMatchingSDE",
    "ReverseSDE",
    "SubVPSDE",
    "conversions",
    "discrete",
]
