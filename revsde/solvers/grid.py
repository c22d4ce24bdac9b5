"""The time grid of a fixed-step solve: checking ``ts`` and ``dt``, the step points (the grid
itself, or torchsde's steps of dt), their times as tensors for the device, and the states at
output times between step points."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

from .torchsde_compat import UNSET


def check_times(ts: Any, y0: Tensor) -> list[float]:
    if isinstance(ts, Tensor):
        if ts.device != y0.device:
            raise ValueError(
                f"ts is on {ts.device} but y0 is on {y0.device}; put them on one device"
            )
        if ts.dim() != 1:
            raise ValueError(f"ts must be 1-d, got shape {tuple(ts.shape)}")
        times = ts.detach().double().cpu().tolist()
        if ts.dtype in (torch.float16, torch.bfloat16) and len(set(times)) < len(times):
            raise ValueError(
                f"ts in {ts.dtype} rounds distinct times onto one another: keep ts in float32 "
                "or float64 (the state may be half precision)"
            )
    elif isinstance(ts, Sequence) and all(isinstance(t, (int, float)) for t in ts):
        times = [float(t) for t in ts]
    else:
        raise TypeError("ts must be a 1-d tensor or a sequence of floats")
    if len(times) < 2:
        raise ValueError(f"ts must hold at least two times, got {len(times)}")
    if not all(math.isfinite(t) for t in times):
        raise ValueError("ts contains NaN or inf")
    if any(b <= a for a, b in itertools.pairwise(times)):
        raise ValueError("ts must be strictly increasing")
    return times


def check_dt(dt: Any) -> float | None:
    if dt is None or dt is UNSET:
        return None
    if isinstance(dt, Tensor) and dt.numel() == 1:
        dt = float(dt)
    if isinstance(dt, bool) or not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a positive finite number (or None), got {dt!r}")
    return float(dt)


def fixed_steps(times: list[float], dt: float | None) -> tuple[int, Iterator[float]]:
    """The number of steps of a fixed-step solve and its grid points, generated lazily so
    that memory does not grow with the number of steps: ``times`` themselves without ``dt``;
    with it, torchsde's grid t0 + k dt from ts[0], the last step cut short at ts[-1] (outputs
    between the points are interpolated)."""
    if dt is None:
        return len(times) - 1, iter(times)
    t0, end = times[0], times[-1]
    n = max(1, math.ceil((end - t0) / dt))
    while n > 1 and t0 + (n - 1) * dt >= end:
        n -= 1
    while t0 + n * dt < end:
        n += 1
    return n, itertools.chain((t0 + k * dt for k in range(n)), (end,))


def timed(
    points: Iterator[float],
    prepare,
    dtype,
    device,
    on_device: Tensor | None = None,
    chunk: int = 256,
):
    """The steps between consecutive ``points``, as (t0, t1) floats and 0-d tensors: views of
    one tensor per ``chunk`` steps, built by a single copy to the device (a tensor per step
    would be a fill kernel each, or a blocking copy), or views of ``on_device``, every point
    already there. Where the SDE has ``prepare_times``, it is told each chunk's tensor first,
    so that it can compute the chunk's coefficients in one vectorized pass; memory stays
    bounded by the chunk."""
    points = iter(points)
    block = list(itertools.islice(points, chunk + 1))
    start, last = 0, None
    while len(block) > 1:
        if on_device is not None:
            ends = on_device[start : start + len(block)]
        else:
            ends = torch.tensor(block, dtype=dtype, device=device)
        if prepare is not None:
            prepare(ends)
        views = list(ends.unbind())
        if last is not None:
            # a step starts at the very tensor the previous one ended at: solvers that reuse
            # an evaluation across steps (FSAL pairs) recognise their time by identity
            views[0] = last
        for i in range(len(block) - 1):
            yield block[i], block[i + 1], views[i], views[i + 1]
        last = views[-1]
        start += len(block) - 1
        block = [block[-1], *itertools.islice(points, chunk)]


def interpolate(a: float, b: float, y_a: Tensor, y_b: Tensor, t: float) -> Tensor:
    """The state at ``t`` in [a, b] on the line between the step's ends (torchsde's output
    rule between step points)."""
    if t == b:
        return y_b
    if t == a:
        return y_a
    return y_a + ((t - a) / (b - a)) * (y_b - y_a)
