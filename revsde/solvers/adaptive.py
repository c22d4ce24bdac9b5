"""The adaptive loop of ``sdeint(..., adaptive=True)``: error-controlled steps that land exactly
on every output time.

Each step asks the method for a solution and its embedded error estimate
(``step_with_error``); the scaled norm and the step-size rule are those of
`solvers.controller.PIController`. A rejected step is retried smaller from the same state; for
stochastic methods its noise comes from a Brownian object queried on the new interval, so the
retry stays on the same Brownian path (torchsde's ``BrownianInterval`` bridges between the
points it has drawn), never on fresh independent normals.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .._checks import check_real
from .base import NonFiniteError, Solver
from .controller import PIController
from .finite import clock, diagnose


def check_tolerances(
    rtol: Any, atol: Any, dt_min: Any, max_steps: Any, span: float | None = None
) -> None:
    check_real("rtol", rtol, low=0.0, strict=True)
    check_real("atol", atol, low=0.0, strict=True)
    check_real("dt_min", dt_min, low=0.0)
    if span is not None and dt_min > span:
        raise ValueError(
            f"dt_min = {dt_min} exceeds the span of ts ({span}): no step of the solve could be "
            "that long"
        )
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps must be an integer >= 1, got {max_steps!r}")


def error_ratio(
    solver: Solver,
    sde: Any,
    t0: Tensor,
    y0: Tensor,
    y1: Tensor,
    err: Tensor,
    rtol: float,
    atol: float,
) -> float:
    """The RMS over every element of the batch of err / ``solver.tolerance(...)``: <= 1
    accepts the step (one host read). Computed in float32 at least (a float16 ratio squared
    overflows at 256) and without the autograd graph: the step sizes are chosen, not
    differentiated (the gradient of an adaptive solve is that of its accepted grid)."""
    with torch.no_grad():
        y0, y1, err = (_at_least_float32(v) for v in (y0, y1, err))
        scale = solver.tolerance(sde, t0, y0, y1, rtol, atol)
        return float((err / scale).pow(2).mean().sqrt())


def _at_least_float32(x: Tensor) -> Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def solve_adaptive(
    counted: Any,
    solver: Solver,
    y0: Tensor,
    times: list[float],
    noise: Any,
    as_t: Any,
    *,
    rtol: float,
    atol: float,
    dt0: float | None,
    dt_min: float,
    max_steps: int,
    final_only: bool,
    check_finite: bool,
    controller: PIController,
) -> tuple[Tensor | list[Tensor], int, int, list[float]]:
    """Integrate over ``times``; returns (the final state or the states at ``times``, accepted
    steps, rejected steps, the accepted grid)."""
    controller.reset()
    span = times[-1] - times[0]
    h = dt0 if dt0 is not None else 0.01 * span
    t, y = times[0], y0
    t_tensor = as_t(t)
    state = solver.init(counted, t_tensor, y0, max_steps)
    outputs = [] if final_only else [y0]
    accepted = rejected = 0
    grid = [t]
    exponent = solver.error_exponent
    for t_out in times[1:]:
        while t < t_out:
            if accepted + rejected >= max_steps:
                raise RuntimeError(
                    f"adaptive sdeint: max_steps = {max_steps} reached at "
                    f"{clock(counted._sde, t)} (the solve ends at {times[-1]}); raise max_steps "
                    "or loosen rtol/atol"
                )
            # land exactly on the output time; avoid leaving a sliver after it
            last = t + h >= t_out - 1e-9 * max(abs(t_out), 1.0)
            t1 = t_out if last else t + h
            t1_tensor = as_t(t1)
            y1, err, new_state = solver.step_with_error(
                counted, t_tensor, t1_tensor, y, noise(t_tensor, t1_tensor, t1 - t), state
            )
            e = error_ratio(solver, counted, t_tensor, y, y1, err, rtol, atol)
            if not math.isfinite(e):
                what = f"the error estimate is {e}"
                raise NonFiniteError(
                    "adaptive sdeint: "
                    + diagnose(counted, accepted, None, t, t1, t_tensor, y, what=what)
                )
            ok, h_next = controller.propose(t1 - t, e, exponent)
            if ok:
                accepted += 1
                t_prev, y_prev = t_tensor, y
                t, y, state, t_tensor = t1, y1, new_state, t1_tensor
                grid.append(t)
                if check_finite and not bool(torch.isfinite(y).all()):
                    raise NonFiniteError(
                        "adaptive sdeint: "
                        + diagnose(counted, accepted - 1, None, grid[-2], t, t_prev, y_prev)
                    )
                if not last:
                    h = h_next
                else:  # a step cut short to land on t_out says little about the next one
                    h = max(h_next, h)
            else:
                rejected += 1
                h = h_next
            if h < dt_min and t < times[-1]:
                raise RuntimeError(
                    f"adaptive sdeint: the step size fell to {h:.3g} < dt_min = {dt_min} at "
                    f"{clock(counted._sde, t)}: the problem is too stiff or rough for rtol = "
                    f"{rtol}, atol = {atol}"
                )
        if not final_only:
            outputs.append(y)
    return (y if final_only else outputs), accepted, rejected, grid
