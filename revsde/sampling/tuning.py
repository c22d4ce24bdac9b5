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
method and any process.

A method that reads noise (the SDE samplers: ``sa_solver``, ``dpmpp_2m_sde``, ``euler`` on the
reverse SDE, ...) has no output that is a function of x_T, and no pathwise distance to tune.
For these the objective is the distance between output *laws*, estimated on coupled samples:
the reverse SDE is solved once from the batch with a fine reference (``sra1``, 500 steps),
reading its increments off one Brownian path stored on its grid
(``revsde.sampling.brownian.GridBrownianPath``), and every candidate grid is solved from the
same x_T on the same path (its increments bridged from the stored ones), so that its output
stays close to the reference's sample by sample. The objective is

    L(grid) = | mean_i [phi(x0_hat_grid^i) - phi(x0_hat_ref^i)] |,

for per-sample features phi: by default random Fourier features of a Gaussian kernel
(Rahimi & Recht 2007), which makes L an estimate of the maximum mean discrepancy between the
two output laws (Gretton et al. 2012); any feature map can be passed. A coupling changes the
noise of that mean, not its expectation; the noise left (the candidate's pathwise distance
to the reference over sqrt(samples)) is why the stochastic search needs a large batch, and
``TunedGrid.noise`` reports it at the tuned grid. Every candidate sees the same path, so the
objective is a deterministic function of the grid and Nelder-Mead applies unchanged.

The cost is about ``max_evals * samples * nfe`` model evaluations on single samples, once; the
grid is then reused for every sample. The stochastic objective also stores the path:
``2 * (reference_steps + 1) * samples * prod(event_shape)`` numbers with ``sra1``'s Lévy areas.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .._checks import check_int
from ..processes.sde import DiffusionSDE
from ..solvers import Solver, resolve, solve
from .brownian import GridBrownianPath
from .coupling import checked_features, coupled_feature_error, fourier_features
from .sample import default_spacing

D64 = torch.float64
#: the largest stored Brownian path the stochastic objective allocates, in GiB
PATH_MEMORY_LIMIT_GIB = 8


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
        noise: for a method that reads noise, the Monte Carlo noise of ``loss`` at the tuned
            grid (the norm of the features' standard errors); a loss within about twice it
            is not resolved. ``None`` for deterministic methods (the loss is exact on the
            batch).
    """

    times: Tensor
    t_min: float
    loss: float
    initial_loss: float
    method: str
    nfe: int
    evaluations: int
    noise: float | None = None


def tune_grid(
    sde: DiffusionSDE,
    score: Any,
    method: str | type[Solver] | Solver,
    steps: int,
    *,
    event_shape: tuple[int, ...] = (2,),
    samples: int | None = None,
    reference_steps: int | None = None,
    reference_method: str | None = None,
    features: Callable[[Tensor], Tensor] | None = None,
    tune_t_min: bool = True,
    start: str | Tensor | None = None,
    max_evals: int = 2000,
    seed: int = 0,
    dtype: torch.dtype = D64,
    device: torch.device | str | None = None,
    **options: Any,
) -> TunedGrid:
    """Tune the ``steps``-step grid of ``method`` (with solver ``options``) for ``sde`` with
    ``score`` (see the module docstring): a deterministic method on the probability-flow ODE by
    its pathwise distance to a fine solve, a method that reads noise on the equation it samples
    (``revsde.sample``'s choice) by the coupled distance of its output law to a fine solve's.

    Args:
        event_shape: the shape of one sample.
        samples: prior draws in the tuning batch (default 1024, or 65536 for a method that
            reads noise, whose objective carries Monte Carlo noise); the reference is solved
            once for them.
        reference_steps: steps of the fine reference solve, on the quadratic grid (default 200
            UniPC steps on the ODE, 500 ``sra1`` steps on the reverse SDE).
        reference_method: its method (default ``"unipc"`` or ``"sra1"``).
        features: for a method that reads noise, the per-sample features phi whose mean the
            objective compares, ``(n, *event_shape) -> (n, F)``; default: 512 random Fourier
            features of a Gaussian kernel whose width is the median distance between the
            reference's outputs (the objective is then an MMD estimate).
        tune_t_min: also tune where the grid stops before the final denoising step, between
            the process's t_min and where signal and noise are equal (log-SNR 0; at most
            t_max / 2).
        start: the grid the search starts from (a spacing name or a tensor of forward
            times); default: the method's default grid, as ``revsde.sample`` uses it.
        max_evals: objective evaluations the search may spend.
        seed: seeds the tuning batch, the Brownian path and the features.
        dtype: of the tuning batch and its solves (float64 by default).
        device: where they run (the CPU by default).

    Raises ``ValueError`` for ``features`` given with a deterministic method (its objective is
    pathwise), for features that do not map the batch to one row per sample, and where the
    stochastic objective's stored Brownian path would exceed ``PATH_MEMORY_LIMIT_GIB``.
    """
    event_shape = tuple(event_shape)
    steps = check_int("steps", steps, low=1)
    max_evals = check_int("max_evals", max_evals, low=1)
    solver = resolve(method, **options)
    name = method if isinstance(method, str) else type(solver).__name__
    stochastic = solver.uses_noise
    if features is not None and not stochastic:
        raise ValueError(
            f"features are for methods that read noise; {name!r} is deterministic and is tuned "
            "by its pathwise distance to the reference"
        )
    if samples is None:
        samples = 65536 if stochastic else 1024
    if reference_steps is None:
        reference_steps = 500 if stochastic else 200
    samples = check_int("samples", samples, low=2)
    reference_steps = check_int("reference_steps", reference_steps, low=1)
    if reference_steps <= steps:
        raise ValueError(
            f"reference_steps must exceed steps: the reference is the fine solve the grid is "
            f"tuned against, got reference_steps={reference_steps} for steps={steps}"
        )
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    reference_method = reference_method or ("sra1" if stochastic else "unipc")
    # the equation the method samples, as revsde.sample solves it
    on_ode = solver.ode_only or not stochastic
    base = sde.reverse(score, probability_flow=not stochastic, event_shape=event_shape)
    t_max, t_floor = base.t_max, base.t_min
    t_ceiling = min(float(sde.time_of_log_snr(torch.zeros((), dtype=D64))), 0.5 * t_max)
    tune_t_min = bool(tune_t_min) and t_ceiling > t_floor
    levy = resolve(reference_method).needs_levy_area
    if stochastic:
        copies = 2 if levy else 1
        size = copies * (reference_steps + 1) * samples * math.prod(event_shape)
        gib = size * torch.empty((), dtype=dtype).element_size() / 2**30
        if gib > PATH_MEMORY_LIMIT_GIB:
            raise ValueError(
                f"the stored Brownian path of the stochastic objective would take {gib:.3g} GiB "
                f"({copies} x (reference_steps + 1) x samples x prod(event_shape) numbers; the "
                f"limit is {PATH_MEMORY_LIMIT_GIB} GiB): pass fewer samples or reference_steps"
            )
    gen = torch.Generator().manual_seed(seed)
    x_T = sde.prior_std * torch.randn((samples, *event_shape), generator=gen, dtype=dtype)
    x_T = x_T.to(device)
    path = None
    with torch.no_grad():
        ts = base.times(reference_steps, spacing="quadratic", dtype=dtype, device=x_T.device)
        if stochastic:
            kw = {"dtype": dtype, "device": x_T.device, "seed": seed + 1, "levy_area": levy}
            path = GridBrownianPath.sample(ts, x_T.shape, **kw)
        y = solve(base, x_T, ts, method=reference_method, bm=_fork(path), final_only=True).ys
        reference = base.predict_x0(base.s_max, y)
    if stochastic:
        phi = features or fourier_features(reference, seed=seed + 2)
        reference_features = checked_features(phi, reference)
        reference_mean = reference_features.mean(0)

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

    def output(z: np.ndarray) -> Tensor:
        times, t_end = grid(z)
        problem = sde.reverse(score, probability_flow=on_ode, t_min=t_end, event_shape=event_shape)
        ts = problem.times(steps, spacing=times, dtype=dtype, device=x_T.device)
        # one generator seed: the normals a method draws itself are common to every candidate
        noise = torch.Generator(x_T.device).manual_seed(seed + 3)
        with torch.no_grad():
            y = solve(
                problem, x_T, ts, method=solver, final_only=True, generator=noise, bm=_fork(path)
            ).ys
            return problem.predict_x0(problem.s_max, y)

    def value(x0: Tensor) -> float:
        if stochastic:  # the mean of the feature differences, without forming them
            return float((checked_features(phi, x0).mean(0) - reference_mean).norm())
        return float((x0 - reference).flatten(1).pow(2).sum(1).mean().sqrt())

    def loss(z: np.ndarray) -> float:
        try:
            v = value(output(z))
        except (ValueError, FloatingPointError):  # a degenerate grid or a blow-up
            return math.inf
        return v if math.isfinite(v) else math.inf

    z0 = _initial(base, solver, sde, steps, start, tune_t_min)
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
    noise = None
    if stochastic:
        noise = coupled_feature_error(checked_features(phi, output(best)), reference_features)[1]
    return TunedGrid(
        times=times,
        t_min=t_end,
        loss=min(float(found.fun), initial),
        initial_loss=initial,
        method=repr(solver) if options else name,
        nfe=steps * solver.nfe + solver.nfe_startup + 1,
        evaluations=int(found.nfev) + 2 + int(stochastic),
        noise=noise,
    )


def _fork(path: GridBrownianPath | None) -> GridBrownianPath | None:
    return None if path is None else path.fork()


def _initial(base, solver, sde, steps, start, tune_t_min) -> np.ndarray:
    """The search's starting point: ``start``'s (or the method's default) grid as softmax
    logits of its log-t increments, and the stopping time's logit (just above t_min)."""
    spacing = default_spacing(solver, sde) if start is None else start
    try:
        s = base.times(steps, spacing=spacing, dtype=D64)
    except (TypeError, ValueError) as exc:
        if start is None:
            raise
        raise ValueError(
            f"start must be a spacing name or a grid of {steps} steps (forward times from "
            f"t_max to t_min, or a TunedGrid): {exc}"
        ) from None
    t = (base.t_max - s).clamp_min(base.t_min).numpy()
    t[-1] = base.t_min
    increments = np.diff(np.log(t)) / (math.log(base.t_min) - math.log(base.t_max))
    z = np.log(np.clip(increments, 1e-12, None))
    stop = math.log(1e-3 / (1.0 - 1e-3)) if tune_t_min else 0.0
    return np.concatenate([z, [stop]])
