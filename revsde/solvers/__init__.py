"""SDE integrators behind one ``sdeint``, with torchsde's calling convention.

The loop (``integrate``), the noise sources, adaptive control and the generic methods
(Euler–Maruyama, Milstein, SRA1, Heun, RK4, the embedded Runge–Kutta pairs, Gotta Go Fast)
know torchsde's protocol only (``f``, ``g``, ``noise_type``, ``sde_type``). The diffusion
samplers (``diffusion``: DDIM, DPM-Solver++, UniPC, SA-Solver, EDM, the discrete predictors
and predictor–corrector) declare the structure they read of the equation as
``typing.Protocol`` classes (``protocols``), checked before the first step. ``SOLVERS`` maps
each method name to its class; ``resolve`` turns a name, a class or an instance into a solver.
``sdeint`` takes torchsde's arguments; ``solve`` also returns what the solve cost.
"""

from . import counter, problems, protocols
from .base import Noise, NonFiniteError, Solver
from .controller import PIController
from .diffusion import exponential
from .diffusion.ddim import DDIM
from .diffusion.discrete import Ancestral, ReverseDiffusion
from .diffusion.dpm_solver import (
    DPMSolverPP2M,
    DPMSolverPP2MSDE,
    DPMSolverPP2S,
    DPMSolverPP3M,
    DPMSolverPP3MSDE,
    DPMSolverPP3S,
)
from .diffusion.edm import EDMHeun
from .diffusion.pc import LangevinCorrector, NullCorrector, NullPredictor, PredictorCorrector
from .diffusion.sa_solver import SASolver
from .diffusion.unipc import UniPC
from .euler import EulerMaruyama
from .ggf import GottaGoFast
from .integrate import DEFAULT_ATOL, DEFAULT_RTOL, FixedStepSolve, sdeint, solve
from .milstein import Milstein, MilsteinDerivativeFree
from .protocols import DiscreteReverseSDE, LogSNRClock, MarginalCoefficients, SemiLinearSDE
from .registry import SOLVERS, resolve
from .rk_pairs import BogackiShampine, DormandPrince
from .runge_kutta import RK4, Heun
from .solution import Solution, SolveStats, StepInfo
from .sra import SRA1
from .torchsde_compat import TorchsdeConventionWarning

__all__ = [
    "DDIM",
    "DEFAULT_ATOL",
    "DEFAULT_RTOL",
    "RK4",
    "SOLVERS",
    "SRA1",
    "Ancestral",
    "BogackiShampine",
    "DPMSolverPP2M",
    "DPMSolverPP2MSDE",
    "DPMSolverPP2S",
    "DPMSolverPP3M",
    "DPMSolverPP3MSDE",
    "DPMSolverPP3S",
    "DiscreteReverseSDE",
    "DormandPrince",
    "EDMHeun",
    "EulerMaruyama",
    "FixedStepSolve",
    "GottaGoFast",
    "Heun",
    "LangevinCorrector",
    "LogSNRClock",
    "MarginalCoefficients",
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
    "SemiLinearSDE",
    "Solution",
    "SolveStats",
    "Solver",
    "StepInfo",
    "TorchsdeConventionWarning",
    "UniPC",
    "counter",
    "exponential",
    "problems",
    "protocols",
    "resolve",
    "sdeint",
    "solve",
]
