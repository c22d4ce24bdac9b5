"""Argument validation and per-sample broadcasting shared by the whole package.

Every public function that takes a time or a state passes it through here, so that a bad
argument fails with one clear message that names it, and so that no module hard-codes an
image-shaped broadcast.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import numbers
from collections.abc import Iterator

import torch
from torch import Tensor

TimeLike = float | int | Tensor

# Inside a solve, the loop has checked the time range once (``trusted_calls``): per-call checks
# would cost a host sync each and break torch.compile graphs, so they are skipped there.
_TRUSTED: contextvars.ContextVar[bool] = contextvars.ContextVar("revsde_trusted", default=False)


@contextlib.contextmanager
def trusted_calls() -> Iterator[None]:
    """Skip per-call argument checks in this context (this thread or task only)."""
    token = _TRUSTED.set(True)
    try:
        yield
    finally:
        _TRUSTED.reset(token)


def checking(validate_args: bool) -> bool:
    """Whether a call should check its arguments: asked for, outside a checked solve, and not
    while torch.compile traces (the checks read tensor values on the host)."""
    return validate_args and not torch.compiler.is_compiling() and not _TRUSTED.get()


def coefficient_dtype(dtype: torch.dtype) -> torch.dtype:
    """The precision of times and coefficients for a state of ``dtype``: float64 for float64,
    else float32 (a float16 sigma overflows, a bfloat16 time grid cannot resolve the last
    steps). Updates are cast back to the state's dtype."""
    return torch.float64 if dtype == torch.float64 else torch.float32


# Times a hair outside [0, T] come from floating-point grid arithmetic (s = T - t and back);
# they are clamped, anything further out is an error.
_TIME_SLACK = 1e-6


def check_real(
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    strict: bool = False,
    finite: bool = True,
) -> float:
    """``value`` as a float after checking that it is a real number (a Python or numpy number
    or a one-element tensor, not a bool), finite unless ``finite`` is False, at least ``low``
    (above it with ``strict``) and at most ``high``. A value of the wrong kind is a
    ``TypeError``, one out of range a ``ValueError``; both name the argument and what was
    expected. The package's one validator of real parameters."""
    if isinstance(value, Tensor) and value.numel() == 1 and not value.dtype.is_complex:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if math.isnan(value) or (finite and math.isinf(value)):
        raise ValueError(
            f"{name} must be {'a finite number' if finite else 'a number'}, got {value}"
        )
    if low is not None and high is not None and not low <= value <= high:
        raise ValueError(f"{name} must lie in [{low}, {high}], got {value}")
    if low is not None and (value <= low if strict else value < low):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def check_int(name: str, value: object, *, low: int) -> int:
    """Return ``value`` after checking that it is an integer (not a bool) >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def check_finite(name: str, x: Tensor, validate: bool = True) -> Tensor:
    """Raise ``ValueError`` naming ``name`` if ``x`` is not a tensor or holds NaN or inf
    (skipped where ``checking(validate)`` is false)."""
    if not checking(validate):
        return x
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or inf")
    return x


def as_time(
    t: TimeLike,
    T: float,
    *,
    like: Tensor | None = None,
    name: str = "t",
    validate: bool = True,
) -> Tensor:
    """Convert a time to a 0-d or 1-d floating tensor on ``like``'s device, in the coefficient
    precision of ``like``'s dtype (float64 for float64, else float32; see
    ``coefficient_dtype``).

    ``t`` may be a Python number, a 0-d tensor or a per-sample ``(batch,)`` tensor. With
    ``validate``, non-finite times and times outside ``[0, T]`` raise ``ValueError`` (skipped
    inside a checked solve and under torch.compile; see ``checking``).
    """
    validate = checking(validate)
    if validate and (isinstance(t, bool) or not isinstance(t, (int, float, Tensor))):
        raise TypeError(f"{name} must be a float or a tensor, got {type(t).__name__}")
    if like is not None:
        dtype, device = like.dtype, like.device
        if validate and not dtype.is_floating_point:
            raise TypeError(f"the state must be a floating-point tensor, got dtype {dtype}")
    elif isinstance(t, Tensor) and t.dtype.is_floating_point:
        dtype, device = t.dtype, t.device
    else:
        dtype = torch.get_default_dtype()
        device = t.device if isinstance(t, Tensor) else torch.device("cpu")
    t = torch.as_tensor(t, dtype=coefficient_dtype(dtype), device=device)
    if validate and t.dim() > 1:
        raise ValueError(
            f"{name} must be a scalar or a 1-d per-sample tensor, got shape {tuple(t.shape)}"
        )
    if validate:
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} contains NaN or inf")
        slack = _TIME_SLACK * max(T, 1.0)
        if bool(((t < -slack) | (t > T + slack)).any()):
            lo, hi = float(t.min()), float(t.max())
            raise ValueError(f"{name} must lie in [0, T] = [0, {T}], got values in [{lo}, {hi}]")
        t = t.clamp(0.0, T)
    return t


def check_time_range(name: str, t0: float, t1: float, low: float, high: float) -> None:
    """Raise ``ValueError`` unless ``low <= t0 <= t1 <= high`` (up to rounding slack)."""
    slack = _TIME_SLACK * max(high, 1.0)
    if t0 < low - slack or t1 > high + slack:
        raise ValueError(f"{name} must lie in [{low}, {high}], got values in [{t0}, {t1}]")


def per_sample(coef: Tensor, x: Tensor, *, name: str = "t") -> Tensor:
    """Shape a 0-d or ``(batch,)`` coefficient so that it broadcasts against ``x`` of shape
    ``(batch, *event_shape)``, whatever the event shape."""
    if coef.dim() == 0:
        return coef
    if x.dim() == 0 or coef.shape[0] != x.shape[0]:
        batch = x.shape[0] if x.dim() else "none (0-d state)"
        raise ValueError(
            f"per-sample {name} has length {coef.shape[0]} but the batch size is {batch}"
        )
    return coef.reshape(coef.shape[:1] + (1,) * (x.dim() - 1))
