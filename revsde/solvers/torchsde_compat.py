"""torchsde's calling convention: which calls of ``sdeint`` would give another result than
``torchsde.sdeint`` with the same arguments, refused with what to pass instead (the solvers
guide tabulates every remaining difference)."""

from __future__ import annotations

from typing import Any

from .registry import SOLVERS


class TorchsdeConventionWarning(UserWarning):
    """A call whose result would differ markedly from ``torchsde.sdeint`` with the same
    arguments (see the table in the solvers guide)."""


class _Unset:
    def __repr__(self) -> str:
        return "<not given>"


#: ``sdeint``'s default dt: not given (torchsde's default would be 1e-3)
UNSET: Any = _Unset()

#: method names torchsde accepts and revsde has no scheme under, and what to use instead
TORCHSDE_ONLY = {
    "srk": "torchsde's 'srk' is Rößler's stochastic Runge–Kutta method; for additive noise "
    "(every revsde diffusion) it is SRA1, method='sra1'; for other noise use torchsde.sdeint",
    **{
        name: f"torchsde's {name!r} integrates Stratonovich SDEs and revsde's methods Itô "
        "SDEs: use torchsde.sdeint, or an Itô method such as 'euler' or 'milstein'"
        for name in ("midpoint", "euler_heun", "reversible_heun", "adjoint_reversible_heun")
    },
    "log_ode": "torchsde's 'log_ode' (log-ODE method) is not implemented in revsde: use "
    "torchsde.sdeint",
}
#: method names both libraries accept: called without dt, torchsde steps at dt = 1e-3
TORCHSDE_SHARED = ("euler", "milstein", "heun")


def check_torchsde_only(**given: Any) -> None:
    """torchsde arguments that this loop does not implement: a clear error, never ignored."""
    unsupported = {
        "names": "rename the SDE's methods to f and g instead",
        "logqp": "the KL term of latent SDEs is not implemented",
        "extra": "solvers keep their state internally",
        "extra_solver_state": "solvers keep their state internally",
    }
    for name, value in given.items():
        if value:
            raise NotImplementedError(
                f"sdeint: {name}={value!r} is not supported: {unsupported[name]}"
            )


def check_torchsde_call(method: Any, dt: Any, adaptive: bool) -> None:
    """Refuse the ``sdeint`` calls whose torchsde result would differ (see ``sdeint``)."""
    if method is None:
        raise ValueError(
            "sdeint needs a method: torchsde's default 'srk' is not one of revsde's; pass "
            f"method= one of {sorted(SOLVERS)}"
        )
    if isinstance(method, str) and method in TORCHSDE_ONLY:
        raise ValueError(f"method {method!r}: {TORCHSDE_ONLY[method]}")
    if dt is UNSET and not adaptive and isinstance(method, str) and method in TORCHSDE_SHARED:
        raise ValueError(
            f"sdeint(method={method!r}) without dt: torchsde would take steps of its default "
            "dt = 1e-3, revsde one step per interval of ts. Pass dt=None to step on the grid "
            "ts, or dt=<step size> for torchsde's fixed steps"
        )
