"""Time grids tuned to a model: the steps of a few-step sampler placed where they cost least
error for *this* score, at a fixed number of evaluations.

At 10 evaluations the grid decides most of a sampler's error, and the best grid depends on
the model and the method (a multistep method gains from pairs of close times, where its
differences of data predictions are accurate). ``tune_grid`` finds one by direct search: it
draws a batch of prior samples, solves the probability-flow ODE from them once with a fine
reference solve, and minimises over the grid the root-mean-square distance between the
method's denoised output and the reference's,

    L(grid) = sqrt(mean_i |x0_hat_grid(x_T^i) - x0_hat_ref(x_T^i)|^2),

a bound on the W2 distance between their output laws (the same coupling x_T). The grid is
parametrised by its increments in log t (a softmax, so it stays strictly decreasing) and,
with ``tune_t_min``, by the time where it stops before Tweedie's last denoising step (between
the process's t_min and the time where signal and noise are equal); the search is
``scipy.optimize.minimize`` with Nelder-Mead from the method's default grid. This is the idea
of Chen et al.'s GITS ("Trajectory regularity of ODE-based diffusion sampling", ICML 2024)
and of Sabour et al.'s "Align your steps" (2024), which optimise a schedule against a
teacher's trajectories or a divergence bound; revsde's version takes any registered
deterministic method and any process.

Deterministic methods only (those that read no noise: the tuned path must be a function of
x_T). The cost is about ``max_evals * samples * nfe`` model evaluations on single samples,
once; the grid is then reused for every sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from solvers import Solver, resolve, sdeint

from .._checks import check_int
from ..processes.sde import DiffusionSDE
from .sample import default_spacing

D64 = torch.float64


@dataclass(frozen=True)
class TunedGrid:
    """What ``tune_grid`` found.

    Attributes:
        times: the grid as forward times from t_max down to ``t_min`` (pass it as
            ``spacing=`` to ``revsde.sample`` or ``ReverseSDE.times``).
        t_min: where the grid stops; ``revsde.sample`` reads it off ``times``.
        loss: the tuned grid's RMS distance to the reference on the tuning batch.
        initial_loss: the same for the grid the search started from.
        method: the method it was tuned for, with its options.
        nfe: model evaluations per sample on this grid (with Tweedie's last step).
        evaluations: objective evaluations the search spent.
    """

    times: Tensor
    t_min: float
    loss: float
    initial_loss: float
    method: str
    nfe: int
    evaluations: int


def tune_grid(
    sde: DiffusionSDE,
    score: Any,
    method: str | type[Solver] | Solver,
    steps: int,
    *,
    event_shape: tuple[int, ...] = (2,),
    samples: int = 1024,
    reference_steps: int = 200,
    reference_method: str = "unipc",
    tune_t_min: bool = True,
    start: str | Tensor | None = None,
    max_evals: int = 2000,
    seed: int = 0,
    dtype: torch.dtype = D64,
    device: torch.device | str | None = None,
    **options: Any,
) -> TunedGrid:
    """Tune the ``steps``-step grid of ``method`` (with solver ``options``) on the
    probability-flow ODE of ``sde`` with ``score`` (see the module docstring).

    Args:
        event_shape: the shape of one sample.
        samples: prior draws in the tuning batch; the reference is solved once for them.
        reference_steps: steps of the fine reference solve (on the quadratic grid).
        reference_method: its method.
        tune_t_min: also tune where the grid stops before the final denoising step, between
            the process's t_min and where signal and noise are equal (log-SNR 0; at most
            t_max / 2).
        start: the grid the search starts from (a spacing name or a tensor of forward
            times); default: the method's default grid, as ``revsde.sample`` uses it.
        max_evals: objective evaluations the search may spend.
        seed: seeds the tuning batch.
        dtype: of the tuning batch and its solves (float64 by default).
        device: where they run (the CPU by default).

    Raises ``ValueError`` for a method whose output on the probability-flow ODE depends on
    its noise (DDIM with eta > 0, the SDE-DPM-Solvers, EDM's churn).
    """
    event_shape = tuple(event_shape)
    steps = check_int("steps", steps, low=1)
    samples = check_int("samples", samples, low=2)
    max_evals = check_int("max_evals", max_evals, low=1)
    solver = resolve(method, **options)
    name = method if isinstance(method, str) else type(solver).__name__
    base = sde.reverse(score, probability_flow=True, event_shape=event_shape)
    t_max, t_floor = base.t_max, base.t_min
    t_ceiling = min(float(sde.time_of_log_snr(torch.zeros((), dtype=D64))), 0.5 * t_max)
    tune_t_min = bool(tune_t_min) and t_ceiling > t_floor
    gen = torch.Generator().manual_seed(seed)
    x_T = sde.prior_std * torch.randn((samples, *event_shape), generator=gen, dtype=dtype)
    x_T = x_T.to(device)
    with torch.no_grad():
        ts = base.times(reference_steps, spacing="quadratic", dtype=dtype, device=x_T.device)
        y = sdeint(base, x_T, ts, method=reference_method, final_only=True)
        reference = base.data_prediction(base.s_max, y)

    def grid(z: np.ndarray) -> tuple[Tensor, float]:
        t_end = t_floor
        if tune_t_min:
            t_end = t_floor + (t_ceiling - t_floor) / (1.0 + math.exp(-float(z[-1])))
        w = np.exp(z[:steps] - z[:steps].max())
        u = math.log(t_max) + (math.log(t_end) - math.log(t_max)) * np.concatenate(
            [[0.0], np.cumsum(w / w.sum())]
        )
        t = np.exp(u)
        t[0], t[-1] = t_max, t_end
        return torch.tensor(t, dtype=D64), t_end

    def output(z: np.ndarray, noise_seed: int = 0) -> Tensor:
        times, t_end = grid(z)
        rode = sde.reverse(score, probability_flow=True, t_min=t_end, event_shape=event_shape)
        ts = rode.times(steps, spacing=times, dtype=dtype, device=x_T.device)
        noise = torch.Generator(x_T.device).manual_seed(noise_seed)
        with torch.no_grad():
            y = sdeint(rode, x_T, ts, method=solver, final_only=True, generator=noise)
            return rode.data_prediction(rode.s_max, y)

    def loss(z: np.ndarray) -> float:
        try:
            x0 = output(z)
        except (ValueError, FloatingPointError):  # a degenerate grid or a blow-up
            return math.inf
        value = float((x0 - reference).flatten(1).pow(2).sum(1).mean().sqrt())
        return value if math.isfinite(value) else math.inf

    z0 = _initial(base, solver, sde, steps, start, tune_t_min)
    if not torch.equal(output(z0, 0), output(z0, 1)):
        raise ValueError(
            f"tune_grid tunes deterministic methods (the path must be a function of x_T); "
            f"{name!r} reads noise on the probability-flow ODE"
        )
    initial = loss(z0)
    if not math.isfinite(initial):
        raise FloatingPointError(f"{name!r} blows up on the starting grid; pass another start")
    from scipy.optimize import minimize

    found = minimize(
        loss,
        z0,
        method="Nelder-Mead",
        options={"maxfev": max_evals, "xatol": 1e-4, "fatol": 1e-9 * initial},
    )
    best = found.x if found.fun <= initial else z0
    times, t_end = grid(best)
    return TunedGrid(
        times=times,
        t_min=t_end,
        loss=min(float(found.fun), initial),
        initial_loss=initial,
        method=repr(solver) if options else name,
        nfe=steps * solver.nfe + solver.nfe_startup + 1,
        evaluations=int(found.nfev) + 3,
    )


def _initial(base, solver, sde, steps, start, tune_t_min) -> np.ndarray:
    """The search's starting point: ``start``'s (or the method's default) grid as softmax
    logits of its log-t increments, and the stopping time's logit (just above t_min)."""
    spacing = default_spacing(solver, sde) if start is None else start
    s = base.times(steps, spacing=spacing, dtype=D64)
    t = (base.t_max - s).clamp_min(base.t_min).numpy()
    t[-1] = base.t_min
    increments = np.diff(np.log(t)) / (math.log(base.t_min) - math.log(base.t_max))
    z = np.log(np.clip(increments, 1e-12, None))
    stop = math.log(1e-3 / (1.0 - 1e-3)) if tune_t_min else 0.0
    return np.concatenate([z, [stop]])
