"""The one integration loop behind ``sdeint``: validation, the step grid, noise, output
recording, evaluation counts and the progress bar live here and nowhere else."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .base import NOISE_TYPES, Solver
from .noise import BrownianNoise, PerSampleNoise, RandnNoise
from .registry import resolve


@dataclass
class SolveStats:
    """What a solve cost. ``nfe`` counts evaluations of the model: drift calls plus direct
    score calls (a reverse SDE's drift evaluates the score once)."""

    steps: int
    nfe: int
    drift_evals: int
    score_evals: int
    diffusion_evals: int


class _Counted:
    """Forwards the torchsde protocol to ``sde`` and counts the calls; checks the first
    drift's shape."""

    def __init__(self, sde: Any) -> None:
        self._sde = sde
        self.noise_type = sde.noise_type
        self.sde_type = sde.sde_type
        self.additive_noise = getattr(sde, "additive_noise", False)
        self.n_f = self.n_g = self.n_score = 0
        self._f_checked = False

    def f(self, t: Tensor, y: Tensor) -> Tensor:
        self.n_f += 1
        out = self._sde.f(t, y)
        if not self._f_checked:
            if not isinstance(out, Tensor) or out.shape != y.shape:
                got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
                raise ValueError(
                    f"sde.f returned {got}, expected the state's shape {tuple(y.shape)}"
                )
            self._f_checked = True
        return out

    def g(self, t: Tensor, y: Tensor) -> Tensor:
        self.n_g += 1
        return self._sde.g(t, y)

    def score(self, t: Tensor, y: Tensor) -> Tensor:
        self.n_score += 1
        return self._sde.score(t, y)

    def transition(self, t0: Tensor, t1: Tensor, like: Tensor):
        return self._sde.transition(t0, t1, like)


def _check_state(y0: Any, noise_type: str) -> Tensor:
    if not isinstance(y0, Tensor):
        raise TypeError(f"y0 must be a torch.Tensor, got {type(y0).__name__}")
    if not y0.dtype.is_floating_point:
        raise TypeError(f"y0 must be a floating-point tensor, got dtype {y0.dtype}")
    if noise_type == "diagonal" and y0.dim() < 2:
        raise ValueError(f"y0 must have shape (batch, *event_shape), got {tuple(y0.shape)}")
    if noise_type != "diagonal" and y0.dim() != 2:
        raise ValueError(
            f"y0 must have shape (batch, d) for {noise_type} noise, got {tuple(y0.shape)}"
        )
    if not bool(torch.isfinite(y0).all()):
        raise ValueError("y0 contains NaN or inf")
    return y0


def _check_times(ts: Any, y0: Tensor) -> list[float]:
    if isinstance(ts, Tensor):
        if ts.device != y0.device:
            raise ValueError(
                f"ts is on {ts.device} but y0 is on {y0.device}; put them on one device"
            )
        if ts.dim() != 1:
            raise ValueError(f"ts must be 1-d, got shape {tuple(ts.shape)}")
        times = ts.detach().double().cpu().tolist()
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


def _grid(times: list[float], dt: float | None) -> tuple[list[float], list[bool]]:
    """Every step's end time, and whether it is an output time. With ``dt``, each interval
    of ``ts`` is split into the fewest equal steps no longer than dt, so every ts is hit."""
    if dt is None:
        return list(times), [True] * len(times)
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a positive finite number, got {dt!r}")
    grid, is_out = [times[0]], [True]
    for a, b in itertools.pairwise(times):
        n = max(1, math.ceil((b - a) / dt - 1e-9))
        grid.extend(a + (b - a) * k / n for k in range(1, n))
        grid.append(b)
        is_out.extend([False] * (n - 1) + [True])
    return grid, is_out


def _check_fit(solver: Solver, sde: Any, method_name: str) -> None:
    if sde.noise_type not in NOISE_TYPES:
        raise ValueError(
            f"sde.noise_type must be one of {list(NOISE_TYPES)}, got {sde.noise_type!r}"
        )
    if sde.noise_type not in solver.noise_types:
        raise ValueError(
            f"method {method_name!r} supports noise types {sorted(solver.noise_types)}; "
            f"the SDE's noise_type is {sde.noise_type!r}"
        )
    if sde.sde_type != solver.sde_type:
        raise ValueError(
            f"method {method_name!r} integrates {solver.sde_type} SDEs; "
            f"the SDE's sde_type is {sde.sde_type!r}"
        )
    additive = sde.noise_type == "additive" or getattr(sde, "additive_noise", False)
    if solver.requires_additive and not additive:
        raise ValueError(
            f"method {method_name!r} needs additive noise: the SDE must declare "
            "additive_noise = True (its g must not depend on the state)"
        )
    missing = [name for name in solver.requires if not callable(getattr(sde, name, None))]
    if missing:
        raise ValueError(
            f"method {method_name!r} needs the SDE to provide {missing} (revsde's ReverseSDE "
            "does); this SDE does not"
        )


def _noise_shape(sde: Any, t0: Tensor, y0: Tensor) -> tuple[int, ...]:
    if sde.noise_type == "diagonal":
        return tuple(y0.shape)
    if sde.noise_type == "scalar":
        return (y0.shape[0], 1)
    g = sde.g(t0, y0)
    if g.dim() != 3 or g.shape[:2] != y0.shape:
        raise ValueError(
            f"sde.g must return (batch, d, m) = ({y0.shape[0]}, {y0.shape[1]}, m) for "
            f"{sde.noise_type} noise, got {tuple(g.shape)}"
        )
    return (y0.shape[0], g.shape[2])


def sdeint(
    sde: Any,
    y0: Tensor,
    ts: Tensor | Sequence[float],
    method: str | type[Solver] | Solver = "euler",
    dt: float | None = None,
    bm: Any = None,
    generator: torch.Generator | Sequence[torch.Generator] | None = None,
    *,
    final_only: bool = False,
    progress: bool = False,
    return_stats: bool = False,
    **options: Any,
) -> Tensor | tuple[Tensor, SolveStats]:
    """Integrate ``sde`` from ``y0`` at ``ts[0]`` and return the states at ``ts``.

    The calling convention and result of ``torchsde.sdeint``: ``sde`` has ``f(t, y)``,
    ``g(t, y)``, ``noise_type`` (diagonal, scalar, additive or general) and ``sde_type``; ``ts``
    increases strictly; the result has shape ``(len(ts), *y0.shape)``. Any
    ``(batch, *event_shape)`` state works for diagonal noise, ``(batch, d)`` otherwise.

    Args:
        method: a name in ``solvers.SOLVERS``, a :class:`~solvers.Solver` class, or an instance.
        dt: without it, one step per interval of ``ts``; with it, each interval is split into
            the fewest equal steps no longer than ``dt`` (every ``ts`` is hit exactly).
        bm: a torchsde Brownian object (``BrownianInterval``...) to draw increments from,
            for refinable paths and agreement with torchsde.
        generator: a ``torch.Generator`` for the default noise, or a list of one generator per
            sample so that sample i does not depend on the batch size.
        final_only: return only the final state, shape ``y0.shape``, storing no path.
        progress: show a tqdm progress bar over the steps.
        return_stats: also return a :class:`SolveStats` with evaluation counts.
        **options: passed to the solver's constructor (e.g. ``n_corrector_steps``, ``snr``).
    """
    solver = resolve(method, **options)
    method_name = method if isinstance(method, str) else type(solver).__name__
    for attr in ("noise_type", "sde_type", "f", "g"):
        if getattr(sde, attr, None) is None:
            raise TypeError(f"sde must follow the torchsde protocol: it has no {attr!r}")
    _check_fit(solver, sde, method_name)
    y0 = _check_state(y0, sde.noise_type)
    times = _check_times(ts, y0)
    grid, is_out = _grid(times, dt)
    tl = list(torch.tensor(grid, dtype=y0.dtype, device=y0.device).unbind())
    hs = [b - a for a, b in itertools.pairwise(grid)]

    counted = _Counted(sde)
    if solver.ode_only and bool(sde.g(tl[0], y0).any()):
        raise ValueError(
            f"method {method_name!r} is for ODEs, but the SDE's diffusion g is not zero"
        )
    shape = _noise_shape(sde, tl[0], y0)
    kw = {
        "dtype": y0.dtype,
        "device": y0.device,
        "levy": solver.needs_levy_area,
        "n_extra": solver.n_extra_normals,
    }
    if bm is not None:
        if isinstance(generator, Sequence):
            raise ValueError("give either bm or per-sample generators, not both")
        noise = BrownianNoise(bm, shape, y0.shape, generator=generator, **kw)
    elif isinstance(generator, Sequence):
        noise = PerSampleNoise(generator, shape, y0.shape, **kw)
    else:
        noise = RandnNoise(shape, y0.shape, generator=generator, **kw)

    y = y0
    state = solver.init(counted, tl[0], y0)
    outputs = [y0] if not final_only else []
    steps = range(len(hs))
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc=method_name, unit="step")
    step, draw = solver.step, noise
    for k in steps:
        t0, t1, h = tl[k], tl[k + 1], hs[k]
        y, state = step(counted, t0, t1, y, draw(t0, t1, h), state)
        if is_out[k + 1] and not final_only:
            outputs.append(y)

    result = y if final_only else torch.stack(outputs)
    if not bool(torch.isfinite(result).all()):
        raise ValueError(_where_non_finite(result, times, final_only))
    if return_stats:
        stats = SolveStats(
            len(hs), counted.n_f + counted.n_score, counted.n_f, counted.n_score, counted.n_g
        )
        return result, stats
    return result


def _where_non_finite(result: Tensor, times: list[float], final_only: bool) -> str:
    hint = "; try a smaller dt or a more stable method"
    if final_only:
        return f"the state became NaN or inf before t = {times[-1]}{hint}"
    ok = torch.isfinite(result.reshape(result.shape[0], -1)).all(dim=1).tolist()
    i = ok.index(False)
    return f"the state became NaN or inf between t = {times[i - 1]} and t = {times[i]}{hint}"
