"""The registry: method name -> solver class. A new integrator is one file plus one line here,
and every test parametrized over ``SOLVERS`` picks it up."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from .base import Solver
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
from .milstein import Milstein, MilsteinDerivativeFree
from .ode import RK4, Heun
from .pc import PredictorCorrector
from .rk_pairs import BogackiShampine, DormandPrince
from .sa_solver import SASolver
from .sra import SRA1
from .unipc import UniPC

SOLVERS: dict[str, type[Solver]] = {
    "euler": EulerMaruyama,
    "milstein": Milstein,
    "milstein_df": MilsteinDerivativeFree,
    "sra1": SRA1,
    "heun": Heun,
    "rk4": RK4,
    "bosh3": BogackiShampine,
    "dopri5": DormandPrince,
    "ggf": GottaGoFast,
    "reverse_diffusion": ReverseDiffusion,
    "ancestral": Ancestral,
    "pc": PredictorCorrector,
    "ddim": DDIM,
    "dpmpp_2s": DPMSolverPP2S,
    "dpmpp_3s": DPMSolverPP3S,
    "dpmpp_2m": DPMSolverPP,
    "dpmpp_3m": DPMSolverPP3M,
    "dpmpp_2m_sde": SDEDPMSolverPP,
    "dpmpp_3m_sde": SDEDPMSolverPP3M,
    "edm": EDMHeun,
    "unipc": UniPC,
    "sa_solver": SASolver,
}


def resolve(
    method: str | type[Solver] | Solver,
    *,
    _caller_keywords: Sequence[str] = (),
    **options: Any,
) -> Solver:
    """A solver instance from a registered name, a solver class or an instance.

    ``options`` go to the solver's constructor; a name it does not take is an error that
    lists the options it does take (and ``_caller_keywords``, the caller's own keywords, so
    that a misspelt one of those is recognised as such)."""
    if isinstance(method, Solver):
        if options:
            raise TypeError(
                f"unexpected keyword argument(s) {sorted(options)}: a solver instance takes no "
                f"options{_own_keywords(_caller_keywords)}"
            )
        return method
    if isinstance(method, str):
        if method not in SOLVERS:
            raise ValueError(f"unknown method {method!r}; valid methods are {sorted(SOLVERS)}")
        method = SOLVERS[method]
    if isinstance(method, type) and issubclass(method, Solver):
        accepted = _constructor_options(method)
        unknown = sorted(set(options) - set(accepted)) if accepted is not None else []
        if unknown:
            takes = f"takes the options {accepted}" if accepted else "takes no options"
            raise TypeError(
                f"unexpected keyword argument(s) {unknown}: method {method.__name__} {takes}"
                f"{_own_keywords(_caller_keywords)}"
            )
        for key in method.method_options:
            if isinstance(options.get(key), str):
                options[key] = resolve(options[key])
        return method(**options)
    raise TypeError(
        f"method must be a registered name {sorted(SOLVERS)}, a Solver class or a Solver "
        f"instance, got {type(method).__name__}"
    )


def _constructor_options(cls: type[Solver]) -> list[str] | None:
    """The keyword options a solver class's constructor takes (``None``: it takes any)."""
    if cls.__init__ is object.__init__:
        return []
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _own_keywords(keywords: Sequence[str]) -> str:
    if not keywords:
        return ""
    return (
        f"; the caller's own keywords are {list(keywords)}. Keyword inputs of a model "
        "(class labels, conditioning) belong to the SDE object, not to the solver (revsde: "
        "model_kwargs= on sde.reverse or revsde.sample)"
    )
