"""The registry: method name -> solver class. A new integrator is one file plus one line here,
and every test parametrized over ``SOLVERS`` picks it up."""

from __future__ import annotations

from typing import Any

from .base import Solver
from .diffusion import Ancestral, ReverseDiffusion
from .euler import EulerMaruyama
from .milstein import Milstein, MilsteinDerivativeFree
from .ode import RK4, Heun
from .pc import PredictorCorrector
from .sra import SRA1

SOLVERS: dict[str, type[Solver]] = {
    "euler": EulerMaruyama,
    "milstein": Milstein,
    "milstein_df": MilsteinDerivativeFree,
    "sra1": SRA1,
    "heun": Heun,
    "rk4": RK4,
    "reverse_diffusion": ReverseDiffusion,
    "ancestral": Ancestral,
    "pc": PredictorCorrector,
}


def resolve(method: str | type[Solver] | Solver, **options: Any) -> Solver:
    """A solver instance from a registered name, a solver class or an instance."""
    if isinstance(method, Solver):
        if options:
            raise TypeError(f"options {sorted(options)} cannot be applied to a solver instance")
        return method
    if isinstance(method, str):
        if method not in SOLVERS:
            raise ValueError(f"unknown method {method!r}; valid methods are {sorted(SOLVERS)}")
        method = SOLVERS[method]
    if isinstance(method, type) and issubclass(method, Solver):
        try:
            return method(**options)
        except TypeError as exc:
            raise TypeError(f"bad options for method {method.__name__}: {exc}") from None
    raise TypeError(
        f"method must be a registered name {sorted(SOLVERS)}, a Solver class or a Solver "
        f"instance, got {type(method).__name__}"
    )
