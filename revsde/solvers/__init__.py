"""solvers: generic integrators for any torchsde-style SDE object (f, g, noise_type, sde_type).

This package knows nothing about diffusion models and imports only torch (and torchsde's
Brownian objects, when a caller passes one). ``sdeint`` is the one entry point;
``SOLVERS`` maps each method name to its solver class.
"""

from .base import Noise, NonFiniteError, Solver
from .controller import PIController
from .ddim import DDIM
from .diffusion import Ancestral, ReverseDiffusion
from .dpm_solver import (
    DPMSolverPP,
    DPMSolverPP2S,
    DPMSolverPP3M,
    DPMSolverPP3S,
    SDEDPMSolverPP,
    SDEDPMSolverPP3M,
)
from .edm import EDMHeun
from .euler import EulerMaruyama
from .ggf import GottaGoFast
from .integrate import SolveStats, StepInfo, TorchsdeConventionWarning, sdeint
from .milstein import Milstein, MilsteinDerivativeFree
from .ode import RK4, Heun
from .pc import LangevinCorrector, NullCorrector, NullPredictor, PredictorCorrector
from .registry import SOLVERS, resolve
from .rk_pairs import BogackiShampine, DormandPrince
from .sa_solver import SASolver
from .sra import SRA1
from .unipc import UniPC

__all__ = [
    "DDIM",
    "RK4",
    "SOLVERS",
    "SRA1",
    "Ancestral",
    "BogackiShampine",
    "DPMSolverPP",
    "DPMSolverPP2S",
    "DPMSolverPP3M",
    "DPMSolverPP3S",
    "DormandPrince",
    "EDMHeun",
    "EulerMaruyama",
    "GottaGoFast",
    "Heun",
    "LangevinCorrector",
    "Milstein",
    "MilsteinDerivativeFree",
    "Noise",
    "NonFiniteError",
    "NullCorrector",
    "NullPredictor",
    "PIController",
    "PredictorCorrector",
    "ReverseDiffusion",
    "SASolver",
    "SDEDPMSolverPP",
    "SDEDPMSolverPP3M",
    "SolveStats",
    "Solver",
    "StepInfo",
    "TorchsdeConventionWarning",
    "UniPC",
    "resolve",
    "sdeint",
]
