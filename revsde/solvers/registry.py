"""The registry: method name -> solver class, one name per scheme (each class's ``name``). A
new integrator is one file plus one line here, and every test parametrized over ``SOLVERS``
picks it up. The generic integrators come first, then the diffusion samplers
(``revsde.solvers.diffusion``), which declare the structure they read as protocols."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from .base import Solver
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
from .diffusion.pc import PredictorCorrector
from .diffusion.sa_solver import SASolver
from .diffusion.unipc import UniPC
from .euler import EulerMaruyama
from .ggf import GottaGoFast
from .milstein import Milstein, MilsteinDerivativeFree
from .rk_pairs import BogackiShampine, DormandPrince
from .runge_kutta import RK4, Heun
from .sra import SRA1

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
    "dpmpp_2m": DPMSolverPP2M,
    "dpmpp_3m": DPMSolverPP3M,
    "dpmpp_2m_sde": DPMSolverPP2MSDE,
    "dpmpp_3m_sde": DPMSolverPP3MSDE,
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
