"""Non-finite detection for the integration loop: which step first made the state NaN or inf,
and what produced it (the drift, the diffusion, the score, or the step's own arithmetic).

Reading a flag back to the host after every step would stall a GPU once per step (the host
waits for the device, then the device waits for the next launches), and a reduction per step
costs a small CPU batch a few microseconds of its ~30. `FiniteWatch` instead checks once per
window of steps and, on a bad window, searches the states it kept for the first bad step, so
the error names the same step a per-step check would have.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .base import NonFiniteError
from .protocols import MODEL_EVALUATIONS

# The states a window keeps alive for the diagnosis: at most this many bytes, at most
# _MAX_WINDOW steps. Small states (where a per-step sync costs most) get long windows; a
# state too large for two copies is checked every step (its step dwarfs the sync anyway).
_WINDOW_BYTES = 16 << 20
_MAX_WINDOW = 32
_SUM_DTYPES = (torch.float32, torch.float64)


def window_for(y: Tensor) -> int:
    """Steps between host reads for a state like ``y``."""
    size = max(1, y.numel() * y.element_size())
    return max(1, min(_MAX_WINDOW, _WINDOW_BYTES // size))


class FiniteWatch:
    """Checks the state for NaN or inf once per window of ``every`` steps: one reduction of the
    window's last state and one host read. A non-finite value persists through later steps'
    arithmetic, so a finite window end clears the window; a bad one is searched among the kept
    states for the first bad step, which the error names (the steps after it in the window have
    run by then; nothing they produced is returned). A NaN that a later step of the same window
    turns finite again (say, a ``nan_to_num`` in the model) goes unreported, as the state it
    leaves is finite. ``after_step`` records a step; the loop calls ``flush`` at the end."""

    def __init__(self, sde: Any, n_steps: int, every: int) -> None:
        self.sde, self.n_steps, self.every = sde, n_steps, max(1, int(every))
        self._steps: list[tuple[int, float, float, Tensor, Tensor, Tensor]] = []

    def after_step(self, k: int, a: float, b: float, t0: Tensor, y_prev: Tensor, y: Tensor):
        self._steps.append((k, a, b, t0, y_prev, y))
        if len(self._steps) >= self.every:
            self.flush()

    def flush(self) -> None:
        steps, self._steps = self._steps, []
        if not steps or _finite(steps[-1][-1]):
            return
        for k, a, b, t0, y_prev, y in steps:
            if not _finite(y):
                raise NonFiniteError(diagnose(self.sde, k, self.n_steps, a, b, t0, y_prev))


def _finite(y: Tensor) -> bool:
    """One reduction and one host read; a sum that overflows is checked elementwise before the
    state is called non-finite."""
    if y.requires_grad:
        y = y.detach()
    total = y.sum() if y.dtype in _SUM_DTYPES else y.sum(dtype=torch.float32)
    return math.isfinite(total.item()) or bool(torch.isfinite(y).all())


def forward_time(sde: Any, s: float) -> float:
    """The diffusion's time of the integration time ``s`` where the SDE maps one to the other
    (``sde.forward_time``), else ``s``."""
    mapping = getattr(sde, "forward_time", None)
    return float(mapping(s)) if callable(mapping) else s


def _clock(sde: Any, a: float, b: float) -> str:
    if callable(getattr(sde, "forward_time", None)):
        return (
            f"from s = {a:.6g} to s = {b:.6g} in the integration clock "
            f"(forward time t = {forward_time(sde, a):.6g} to {forward_time(sde, b):.6g})"
        )
    return f"from t = {a:.6g} to t = {b:.6g}"


def clock(sde: Any, a: float) -> str:
    """The time ``a`` of the integration clock, and the diffusion's where the SDE maps one to
    the other."""
    if callable(getattr(sde, "forward_time", None)):
        return f"s = {a:.6g} in the integration clock (forward time t = {forward_time(sde, a):.6g})"
    return f"t = {a:.6g}"


def diagnose(
    sde: Any,
    k: int,
    n: int | None,
    a: float,
    b: float,
    t0: Tensor,
    y0: Tensor,
    what: str = "the state became NaN or inf",
) -> str:
    """Name the step where the state stopped being finite, and what produced it: the model
    (where the SDE offers a protocol's evaluation, ``protocols.MODEL_EVALUATIONS``), the
    drift or the diffusion at the step's start, or else the step's own arithmetic.
    ``sde`` is the loop's counting wrapper (its ``_sde`` is the user's object)."""
    inner = sde._sde
    of = f" of {n}" if n is not None else ""
    where = f"{what} at step {k + 1}{of}, {_clock(inner, a, b)}"
    culprits = []
    with torch.no_grad():
        parts: list[tuple[str, Callable[[], Tensor]]] = [
            (f"{desc} ({name})", lambda name=name: getattr(inner, name)(t0, y0))
            for name, desc in MODEL_EVALUATIONS.items()
            if callable(getattr(inner, name, None))
        ]
        parts += [
            ("the drift f", lambda: inner.f(t0, y0)),
            ("the diffusion g", lambda: inner.g(t0, y0)),
        ]
        for name, fn in parts:
            try:
                if not bool(torch.isfinite(fn()).all()):
                    culprits.append(name)
            except Exception as exc:  # the diagnosis must not hide the original problem
                culprits.append(f"{name} (raised {type(exc).__name__}: {exc})")
    if culprits:
        return f"{where}: {', '.join(culprits)} returned NaN or inf at the step's start state"
    return (
        f"{where}: the model, the drift and the diffusion are finite at the step's start, so "
        "a stage inside the step (the model at an intermediate time or state) or the update "
        "itself produced it (too large a step?); try more steps or a more stable method"
    )


def where_non_finite(result: Tensor, times: list[float], final_only: bool) -> str:
    """For a solve run without per-step checks: the output interval where the path first
    holds NaN or inf."""
    if final_only:
        return f"the state became NaN or inf before ts[-1] = {times[-1]}"
    ok = torch.isfinite(result.reshape(result.shape[0], -1)).all(dim=1).tolist()
    i = ok.index(False)
    return (
        f"the state became NaN or inf between ts[{i - 1}] = {times[i - 1]} and ts[{i}] = {times[i]}"
    )
