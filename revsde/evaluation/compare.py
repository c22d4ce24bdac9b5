"""Solver accuracy against step count on closed-form problems: the study behind
``revsde compare``.

Every method starts from the same draws of the exact law at t_max and reads its noise off one
Brownian path (``revsde.sampling.brownian.GridBrownianPath``). Its error at t_min is measured
three ways:

- **coupled** (the default headline, ``metric="coupled"``): against a fine solve of the same
  equation from the same draws and the same Brownian path (``REFERENCE_SDE_STEPS`` steps of
  ``REFERENCE_SDE_METHOD`` for the reverse SDE, dopri5 at ``REFERENCE_ODE_TOL`` for the
  probability-flow ODE), by the responsibility-weighted moments of the target
  (``metrics.coupled_moment_error``), with the run's own Monte Carlo noise. Started from the
  exact law at t_max, the fine solves are exact samples of the law at t_min up to their own
  small error (``Study.reference_check``), so this is the run's weak error, estimated with
  little noise where the run stays close to the fine path (every ODE method, SDE methods as
  their steps shrink). SDE runs at up to ``MORE_DRAWS_STEPS`` steps, which stray furthest,
  solve from ``sde_samples`` draws (16 x as many by default) and are compared through a
  two-level reference (``metrics.two_level_feature_error``);
- the sliced 2-Wasserstein distance to an equally large exact sample (``metric="sliced"``);
- the Gaussian W2 of the sample's first two moments.

The last two computed for a second exact sample of that size are the Monte Carlo noise floor
of the uncoupled errors.

With ``exact=True`` (Gaussian targets) no sample is drawn: each method's output law at t_min
is computed exactly (``revsde.evaluation.exact``) and the error is its exact W2 (and KL) to the
true law, with no floor; methods whose step is not affine are listed with the reason.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from ..processes import VESDE, VPSDE, CosineVPSDE, SubVPSDE
from ..processes.reverse import parse_spacing
from ..sampling.brownian import GridBrownianPath, StackedBrownianPath
from ..sampling.coupling import coupled_feature_error, fourier_features
from ..sampling.sample import default_spacing
from ..solvers import SOLVERS, resolve, solve
from .exact import exact_solve, exact_support
from .metrics import (
    coupled_moment_error,
    mixture_moment_features,
    moment_w2,
    sliced_w2,
    two_level_feature_error,
)
from .targets import Gaussian, GaussianMixture

SDES = {"vp": VPSDE, "subvp": SubVPSDE, "ve": VESDE, "cosine": CosineVPSDE}


def mixture_2d(dtype: torch.dtype | None = None) -> GaussianMixture:
    """Three modes, unequal weights, correlated covariances (in ``dtype``, default torch's)."""
    return GaussianMixture(
        torch.tensor([0.5, 0.3, 0.2], dtype=dtype),
        torch.tensor([[-2.0, 0.0], [2.0, 1.0], [0.0, -3.0]], dtype=dtype),
        torch.tensor(
            [[[1.0, 0.6], [0.6, 0.8]], [[0.3, -0.1], [-0.1, 0.5]], [[0.6, 0.0], [0.0, 0.05]]],
            dtype=dtype,
        ),
    )


def gaussian_2d() -> Gaussian:
    return Gaussian([1.0, -1.0], [[1.0, 0.5], [0.5, 0.8]])


def gaussian_64() -> Gaussian:
    """An anisotropic Gaussian in d = 64: variances from 0.01 to 3 along a fixed random basis."""
    gen = torch.Generator().manual_seed(64)
    q, _ = torch.linalg.qr(torch.randn(64, 64, generator=gen, dtype=torch.float64))
    variances = torch.logspace(-2, math.log10(3.0), 64, dtype=torch.float64)
    return Gaussian(
        torch.linspace(-1.0, 1.0, 64, dtype=torch.float64), q @ torch.diag(variances) @ q.T
    )


def gaussian_3072() -> Gaussian:
    """d = 3072 (a 3x32x32 image's size) with a power-law spectrum like natural images':
    variances k^-1, k = 1..3072 (from 1 down to 3e-4), mean zero, in the standard basis.
    For ``exact=True`` only: a Monte Carlo study in this dimension is out of reach here."""
    variances = 1.0 / torch.arange(1, 3073, dtype=torch.float64)
    return Gaussian(torch.zeros(3072, dtype=torch.float64), torch.diag(variances))


TARGETS = {
    "mixture2d": mixture_2d,
    "gaussian2d": gaussian_2d,
    "gaussian64": gaussian_64,
    "gaussian3072": gaussian_3072,
}
GAUSSIAN_TARGETS = ("gaussian2d", "gaussian64", "gaussian3072")
EXACT_ONLY = ("gaussian3072",)
DEFAULT_STEPS = (10, 20, 50, 100, 200, 500)
METRICS = ("coupled", "sliced")
#: the coupled error's fine solves: uniform steps of SRA1 on the reverse SDE (strong order 1.5
#: and weak order 2 for the additive noise of every revsde process: pathwise close, so the runs'
#: noise is theirs, not the reference's; measured on the default study against 2000 SRA1
#: steps: 1000 SRA1 steps differ by 2e-4, 2000 Euler–Maruyama steps by 2.4e-3), whose grid is also
#: the stored grid of the shared Brownian path, and dopri5's rtol = atol on the ODE
REFERENCE_SDE_METHOD = "sra1"
REFERENCE_SDE_STEPS = 1000
REFERENCE_ODE_TOL = 1e-8
#: SDE runs of at most this many steps solve from all ``sde_samples`` draws, the others from
#: the first ``samples``: at few steps an SDE run strays furthest from the fine solve, so its
#: coupled error is noisiest, while its runs cost least (the extra draws at 500 steps would
#: cost most and resolve least)
MORE_DRAWS_STEPS = 50
#: the extra draws' reference: ``REFERENCE_SDE_METHOD`` on every this-th point of the fine
#: grid (250 steps), corrected by its difference from the fine solve on the first draws
#: (``metrics.two_level_feature_error``): measured at 16 000 draws, it differs from the fine
#: solve by 5.6e-4 +- 4.5e-4 with a pathwise RMS distance of 0.0097, so the correction adds
#: almost no noise, at a quarter of the fine solve's cost per draw
REFERENCE_COARSE_STRIDE = 4
#: the default ``sde_samples`` per ``samples``: 64 000 draws at the default 4000 put every
#: SDE method's noise at 20 evaluations below a third of its error, for 5 s more on 2 cores
SDE_SAMPLES_FACTOR = 16
#: by default the extra draws' stored Brownian path (W and its running integral on the coarse
#: grid) is kept within this many bytes: 480 MB for the 2-D default, while 16 x the draws of
#: the d = 64 Gaussian would take 15 GB
EXTRA_PATH_BYTES = 2**30


def default_sde_samples(samples: int, dim: int, dtype: torch.dtype = torch.float64) -> int:
    """``SDE_SAMPLES_FACTOR * samples``, fewer where the extra draws' stored path would
    exceed ``EXTRA_PATH_BYTES`` (2 x (REFERENCE_SDE_STEPS / REFERENCE_COARSE_STRIDE + 1) x dim
    numbers of ``dtype`` per draw)."""
    per_draw = 2 * (REFERENCE_SDE_STEPS // REFERENCE_COARSE_STRIDE + 1) * dim * dtype.itemsize
    return samples + min((SDE_SAMPLES_FACTOR - 1) * samples, EXTRA_PATH_BYTES // per_draw)


@dataclass
class Run:
    method: str
    steps: int
    nfe: int
    sliced_w2: float
    moment_w2: float
    seconds: float
    spacing: str = "uniform"
    kl: float | None = None
    #: 95 % confidence half-widths over repeated seeds (``seeds > 1``)
    sliced_w2_ci: float | None = None
    moment_w2_ci: float | None = None
    #: the coupled error (Monte Carlo studies), its Monte Carlo noise (the mean over seeds'
    #: noise divided by sqrt(seeds) when ``seeds > 1``) and its 95 % half-width over seeds
    coupled: float | None = None
    coupled_noise: float | None = None
    coupled_ci: float | None = None
    #: the draws the run solved from (Monte Carlo studies)
    draws: int | None = None


@dataclass
class Study:
    sde: str
    target: str
    samples: int
    seed: int
    dtype: str
    device: str
    noise_floor_sliced_w2: float
    noise_floor_moment_w2: float
    runs: list[Run] = field(default_factory=list)
    slopes: dict[str, float | None] = field(default_factory=dict)
    exact: bool = False
    seeds: int = 1
    #: a learned model's study (``run_checkpoint_study``)
    checkpoint: bool = False
    #: methods without an exact law (exact mode), with the reason
    not_exact: dict[str, str] = field(default_factory=dict)
    #: the headline error of a Monte Carlo study on a closed-form target (``METRICS``)
    metric: str = "sliced"
    #: the fine solves' own error, as coupled error and noise: each against a solve twice as
    #: fine or tight ("sde": REFERENCE_SDE_STEPS // 2 steps against REFERENCE_SDE_STEPS;
    #: "ode": dopri5 at 100 x the tolerance): the coarser solve's error, larger than theirs;
    #: with extra SDE draws, "sde coarse": the two-level reference's coarse solve against the
    #: fine one on the first draws (the correction it gets)
    reference_check: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: draws for the runs of methods that read noise at up to ``MORE_DRAWS_STEPS`` steps (Monte
    #: Carlo studies; ``None``: as ``samples``)
    sde_samples: int | None = None

    def error(self, run: Run) -> float:
        """The run's headline error: the exact W2 in exact mode, the sliced W2 to held-out
        data for a learned model, else the coupled error or the sliced W2 to the exact law
        (``metric``)."""
        if self.exact or self.checkpoint:
            return run.moment_w2
        return run.coupled if self.metric == "coupled" else run.sliced_w2

    def bound(self, run: Run) -> float:
        """The headline error as the budget table ranks it: for the coupled error, its upper
        bound (error + 2 noise), so that a run within its noise wins nothing; else the
        error."""
        if self.metric == "coupled" and not (self.exact or self.checkpoint):
            return run.coupled + 2.0 * run.coupled_noise
        return self.error(run)

    def floor(self, run: Run) -> float:
        """The Monte Carlo noise of the run's headline error (0 in exact mode): the coupled
        error's own noise, or the sliced W2's noise floor; errors below about twice it are
        not resolved."""
        if self.exact:
            return 0.0
        if self.metric == "coupled" and not self.checkpoint:
            return run.coupled_noise
        return self.noise_floor_sliced_w2

    def to_dict(self) -> dict:
        return asdict(self)


#: adaptive runs beside the default one, per method: name -> solver options; these sweep atol
#: (rtol unused): ggf's tolerance in units of the diffusion and of the denoised sample
#: (``solvers.ggf``)
ADAPTIVE_VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    "ggf": {"noise scale": {"error_scale": "noise"}, "data scale": {"error_scale": "data"}}
}


def _run_name(method: str, tol: float | None, variant: str) -> str:
    if tol is None:
        return method
    return f"{method} (adaptive, {variant})" if variant else f"{method} (adaptive)"


def default_methods() -> list[str]:
    """Every registered method: SDE methods on the reverse SDE, ODE-only ones on the
    probability-flow ODE."""
    return sorted(SOLVERS)


def fit_slope(nfe: list[int], err: list[float], floor: float | list[float]) -> float | None:
    """Slope of log(error) against log(NFE) over the points well above the noise floor
    (error > 2 floor; ``floor`` one value or one per point); ``None`` with fewer than two such
    points."""
    floors = floor if isinstance(floor, list) else [floor] * len(err)
    pts = [(n, e) for n, e, f in zip(nfe, err, floors, strict=True) if e > 2.0 * f and e > 0]
    if len(pts) < 2:
        return None
    x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(x, y, 1)[0])


def run_study(
    sde: str = "vp",
    target: str = "mixture2d",
    methods: list[str] | None = None,
    steps: tuple[int, ...] = DEFAULT_STEPS,
    samples: int = 4000,
    seed: int = 0,
    device: str = "cpu",
    dtype: str = "float64",
    progress: bool = False,
    spacing: str | None = None,
    adaptive_rtols: tuple[float, ...] = (),
    exact: bool = False,
    seeds: int = 1,
    metric: str = "coupled",
    sde_samples: int | None = None,
) -> Study:
    """Run every method at every step count; see the module docstring for the metrics
    (``metric``: the headline error of a Monte Carlo study, one of ``METRICS``; every run
    records all of them).

    ``adaptive_rtols``: also run each method with an embedded error estimate (``bosh3``,
    ``dopri5``, ``dpmpp_2s``, ``dpmpp_3s``, ``ggf``) with ``adaptive=True`` at each of these
    rtol (= atol), recorded as method ``"<name> (adaptive)"``, and each variant of
    ``ADAPTIVE_VARIANTS`` at these atol (``"ggf (adaptive, noise scale)"``, ``"ggf (adaptive,
    data scale)"``), with its accepted steps and every evaluation, so that it lands on the same
    error-against-evaluations plot.

    ``seeds``: repeat the Monte Carlo study with seeds ``seed + 1000 j``, j < seeds (fresh
    start draws, references and noise; common to all methods within each repetition) and
    report each error's mean with its 95 % confidence half-width.

    ``sde_samples``: draws for the runs of methods that read noise at up to
    ``MORE_DRAWS_STEPS`` steps (default ``default_sde_samples``: ``SDE_SAMPLES_FACTOR *
    samples`` within a memory budget for their stored path; at least ``samples``). Their
    coupled error's noise is their pathwise distance to the fine SDE solve over the square
    root of the draws; at 20 evaluations every SDE method strays from
    the fine path by about the same (RMS 0.56 on the default study, Euler–Maruyama as much as
    ``sa_solver``: the Brownian path's detail between coarse steps, which no coarse method
    sees), several times an ODE method's distance, so they need more draws to resolve the same
    error (docs/compare.md: 64 000 resolve every method at 20 evaluations). They are compared
    through a two-level reference (``REFERENCE_COARSE_STRIDE``,
    ``metrics.two_level_feature_error``) that costs a quarter of the fine solve per draw.
    Their first ``samples`` draws are the other runs' draws, and give the sliced and moment W2
    (same size as the floors').

    ``exact``: for Gaussian targets, the exact output laws instead of samples (``samples``,
    ``sde_samples``, ``device`` and ``dtype`` are then unused: the propagation runs in float64
    on the CPU)."""
    if sde not in SDES:
        raise ValueError(f"sde must be one of {sorted(SDES)}, got {sde!r}")
    if target not in TARGETS:
        raise ValueError(f"target must be one of {sorted(TARGETS)}, got {target!r}")
    if exact and target not in GAUSSIAN_TARGETS:
        raise ValueError(
            f"exact=True needs a Gaussian target {list(GAUSSIAN_TARGETS)}, got {target!r}: a "
            "mixture's sampler output has no closed-form law"
        )
    if not exact and target in EXACT_ONLY:
        raise ValueError(f"target {target!r} is for exact=True (--exact) only")
    methods = default_methods() if methods is None else list(methods)
    unknown = sorted(set(methods) - set(SOLVERS))
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; valid methods are {sorted(SOLVERS)}")
    if not steps or min(steps) < 1:
        raise ValueError(f"steps must be positive integers, got {list(steps)}")
    if spacing is not None:
        parse_spacing(spacing)  # a clear error before any work
    if samples < 2:
        raise ValueError(f"samples must be >= 2, got {samples}")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    torch_dtype = getattr(torch, dtype)
    if sde_samples is None:
        sde_samples = default_sde_samples(samples, TARGETS[target]().dim, torch_dtype)
    if isinstance(sde_samples, bool) or not isinstance(sde_samples, int) or sde_samples < samples:
        raise ValueError(
            f"sde_samples must be an integer >= samples ({samples}), got {sde_samples!r}"
        )
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {list(METRICS)}, got {metric!r}")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be an integer >= 1, got {seeds!r}")
    if any(not (isinstance(r, float) and 0 < r < 1) for r in adaptive_rtols):
        raise ValueError(f"adaptive_rtols must be floats in (0, 1), got {list(adaptive_rtols)}")

    process, law0 = SDES[sde](), TARGETS[target]()
    if exact:
        return _exact_study(
            process, law0, sde, target, methods, steps, seed, spacing, adaptive_rtols, progress
        )
    study = Study(
        sde,
        target,
        samples,
        seed,
        dtype,
        str(device),
        0.0,
        0.0,
        seeds=seeds,
        metric=metric,
        sde_samples=sde_samples,
    )
    passes = [
        _monte_carlo_pass(
            process,
            law0,
            methods,
            steps,
            samples,
            sde_samples,
            seed + 1000 * j,
            device,
            torch_dtype,
            spacing,
            adaptive_rtols,
            progress,
        )
        for j in range(seeds)
    ]
    study.noise_floor_sliced_w2 = float(np.mean([p.floor_sliced for p in passes]))
    study.noise_floor_moment_w2 = float(np.mean([p.floor_moment for p in passes]))
    study.reference_check = passes[0].reference_check
    for rows in zip(*(p.runs for p in passes), strict=True):
        run = rows[0]
        if seeds > 1:
            sliced = [r.sliced_w2 for r in rows]
            moment = [r.moment_w2 for r in rows]
            coupled = [r.coupled for r in rows]
            run.sliced_w2, run.sliced_w2_ci = float(np.mean(sliced)), _half_width(sliced)
            run.moment_w2, run.moment_w2_ci = float(np.mean(moment)), _half_width(moment)
            run.coupled, run.coupled_ci = float(np.mean(coupled)), _half_width(coupled)
            # the noise of the mean of independent repetitions
            run.coupled_noise = float(np.mean([r.coupled_noise for r in rows]) / math.sqrt(seeds))
            run.seconds = float(np.mean([r.seconds for r in rows]))
        study.runs.append(run)
    for method in dict.fromkeys(r.method for r in study.runs):
        rows = [r for r in study.runs if r.method == method]
        study.slopes[method] = fit_slope(
            [r.nfe for r in rows], [study.error(r) for r in rows], [study.floor(r) for r in rows]
        )
    return study


def _half_width(values: list[float]) -> float:
    """Half-width of the 95 % Student-t confidence interval of the mean of ``values``."""
    from scipy import stats

    n = len(values)
    return float(stats.t.ppf(0.975, n - 1) * np.std(values, ddof=1) / math.sqrt(n))


def _monte_carlo_pass(
    process,
    law0,
    methods,
    steps,
    samples,
    sde_samples,
    seed,
    device,
    torch_dtype,
    spacing,
    adaptive_rtols,
    progress,
) -> _Pass:
    """One Monte Carlo study at one seed: its runs, its two noise floors and the check of its
    fine solves."""

    score = law0.score(process)
    rsde, rode = process.reverse(score), process.reverse(score, probability_flow=True)
    law = law0.marginal(process, rsde.t_min)
    # x_T from the exact law at t_max rather than the N(0, I) prior that approximates it: the
    # prior's small mismatch would otherwise put a floor under every method (the probability-
    # flow ODE carries it to t_min undamped), and the study is of the solvers' own error.
    law_T = law0.marginal(process, rsde.t_max)
    x_T = law_T.sample(samples, generator=torch.Generator().manual_seed(seed))
    if sde_samples > samples:  # more draws for the SDE runs; the first ones do not change
        more = law_T.sample(
            sde_samples - samples, generator=torch.Generator().manual_seed(seed + 6)
        )
        x_T = torch.cat([x_T, more])
    x_T = x_T.to(device=device, dtype=torch_dtype)
    reference = law.sample(samples, generator=torch.Generator().manual_seed(seed + 1))
    second = law.sample(samples, generator=torch.Generator().manual_seed(seed + 2))
    path, fine, check = _fine_solves(rsde, rode, x_T, samples, law, seed)
    # the two-level estimate's references, as features once for all runs (extra draws only)
    features = {}
    if "sde coarse" in fine:
        features = {k: mixture_moment_features(fine[k], law) for k in ("sde", "sde coarse")}
    runs: list[Run] = []
    jobs = [(m, n, None, "") for m in methods for n in steps]
    jobs += [
        (m, None, tol, variant)
        for m in methods
        if SOLVERS[m].error_exponent is not None
        for variant in ("", *ADAPTIVE_VARIANTS.get(m, {}))
        for tol in adaptive_rtols
    ]
    if progress:
        from tqdm.auto import tqdm

        jobs = tqdm(jobs, desc="compare", unit="run")
    for method, n, tol, variant in jobs:
        solver = resolve(method)
        problem = rode if solver.ode_only else rsde
        grid = spacing or default_spacing(solver, process)
        start = time.perf_counter()
        if tol is None:
            ts, options = problem.times(n, spacing=grid, dtype=torch_dtype, device=device), {}
        elif variant:
            ts, options = [0.0, problem.s_max], {"adaptive": True, "atol": tol}
            options.update(ADAPTIVE_VARIANTS[method][variant])
            grid = f"atol={tol:g}"
        else:
            ts, options = [0.0, problem.s_max], {"adaptive": True, "rtol": tol, "atol": tol}
            grid = f"rtol={tol:g}"
        # a method that reads noise reads the fine SDE solve's Brownian path, on the first
        # draws, or at few steps on all of them (both paths side by side); a deterministic one
        # is compared with the fine ODE solve from the first draws
        key, y0 = "ode", x_T[:samples]
        if solver.uses_noise:
            more = tol is None and n <= MORE_DRAWS_STEPS and x_T.shape[0] > samples
            key, y0 = ("sde coarse", x_T) if more else ("sde", x_T[:samples])
            options["bm"] = path.fork() if more else _fine_rows(path).fork()
        with torch.no_grad():
            y, stats = solve(
                problem,
                y0,
                ts,
                method=method,
                final_only=True,
                generator=torch.Generator(device=device).manual_seed(seed + 3),
                **options,
            )
        if y.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        y = y.double().cpu()
        if key == "sde coarse":
            coupled, noise = two_level_feature_error(
                mixture_moment_features(y, law), features["sde"], features["sde coarse"]
            )
        else:
            coupled, noise = coupled_moment_error(y, fine[key], law)
        runs.append(
            Run(
                _run_name(method, tol, variant),
                stats.steps,
                stats.nfe,
                sliced_w2(y[:samples], reference, seed=seed),
                moment_w2(y[:samples], law.mean, law.covariance),
                seconds,
                grid,
                coupled=coupled,
                coupled_noise=noise,
                draws=y.shape[0],
            )
        )
    return _Pass(
        runs,
        sliced_w2(second, reference, seed=seed),
        moment_w2(second, law.mean, law.covariance),
        check,
    )


@dataclass
class _Pass:
    runs: list[Run]
    floor_sliced: float
    floor_moment: float
    reference_check: dict[str, tuple[float, float]]


def _fine_solves(rsde, rode, x_T, samples, law, seed):
    """The coupled error's references: ``REFERENCE_SDE_METHOD`` from the first ``samples`` rows
    of ``x_T`` on a uniform grid of ``REFERENCE_SDE_STEPS`` steps, reading its increments and
    space-time Lévy areas off a Brownian path stored on that grid, and dopri5 at
    ``REFERENCE_ODE_TOL`` from the same rows; each one's check against a solve half as fine
    (100 x the tolerance). Where ``x_T`` has more rows (the SDE runs' extra draws), a path on
    every ``REFERENCE_COARSE_STRIDE``-th point of that grid for them, and the coarse reference
    (the same method on that coarse grid) from every row, the fine path's rows reading the fine
    path at the coarse points. Returns the path the SDE runs fork (the fine one, or both side
    by side), the references and the checks."""
    ts = rsde.times(REFERENCE_SDE_STEPS, spacing="uniform", dtype=x_T.dtype, device=x_T.device)
    kw = {"dtype": x_T.dtype, "device": x_T.device, "levy_area": True}
    shape = (samples, *x_T.shape[1:])
    path = GridBrownianPath.sample(ts, shape, seed=seed + 4, **kw)
    coarse_ts = ts[::REFERENCE_COARSE_STRIDE]
    if x_T.shape[0] > samples:
        extra = (x_T.shape[0] - samples, *x_T.shape[1:])
        more = GridBrownianPath.sample(coarse_ts, extra, seed=seed + 7, **kw)
        path = StackedBrownianPath([path, more])
    span = [0.0, rode.s_max]

    def sde(grid: torch.Tensor, rows: int = samples) -> torch.Tensor:
        bm = path.fork() if rows > samples else _fine_rows(path).fork()
        y = solve(rsde, x_T[:rows], grid, method=REFERENCE_SDE_METHOD, bm=bm, final_only=True).ys
        return y.double().cpu()

    def ode(tol: float) -> torch.Tensor:
        kw = {"adaptive": True, "rtol": tol, "atol": tol}
        y = solve(rode, x_T[:samples], span, method="dopri5", final_only=True, **kw).ys
        return y.double().cpu()

    with torch.no_grad():
        fine = {"sde": sde(ts), "ode": ode(REFERENCE_ODE_TOL)}
        check = {
            "sde": coupled_moment_error(sde(ts[::2]), fine["sde"], law),
            "ode": coupled_moment_error(ode(100 * REFERENCE_ODE_TOL), fine["ode"], law),
        }
        if x_T.shape[0] > samples:
            fine["sde coarse"] = sde(coarse_ts, x_T.shape[0])
            check["sde coarse"] = coupled_moment_error(
                fine["sde coarse"][:samples], fine["sde"], law
            )
    return path, fine, check


def _fine_rows(path: GridBrownianPath | StackedBrownianPath) -> GridBrownianPath:
    """The fine stored path of ``_fine_solves`` (the first block where there are two)."""
    return path.paths[0] if isinstance(path, StackedBrownianPath) else path


def _exact_study(
    process, law0, sde, target, methods, steps, seed, spacing, adaptive_rtols, progress
) -> Study:
    """``run_study(exact=True)``: every method from the true law at t_max, as in the Monte
    Carlo study, with its exact output law at t_min."""
    study = Study(sde, target, 0, seed, "float64", "cpu", 0.0, 0.0, exact=True)
    for method in methods:
        reason = exact_support(method)
        if reason is not None:
            study.not_exact[method] = reason
    for method in methods:
        if SOLVERS[method].error_exponent is not None and adaptive_rtols:
            for variant in ("", *ADAPTIVE_VARIANTS.get(method, {})):
                study.not_exact[_run_name(method, 0.0, variant)] = (
                    "adaptive step sizes depend on the error norm of the whole batch, so the "
                    "output is not an affine map of the start and the noise"
                )
    jobs = [(m, n) for m in methods if m not in study.not_exact for n in steps]
    if progress:
        from tqdm.auto import tqdm

        jobs = tqdm(jobs, desc="compare --exact", unit="run")
    for method, n in jobs:
        grid = spacing or default_spacing(resolve(method), process)
        start = time.perf_counter()
        ex = exact_solve(process, law0, method, n, spacing=grid, start="exact")
        seconds = time.perf_counter() - start
        # ex.nfe counts the final denoising evaluation, which the comparison at t_min does not
        run = Run(method, ex.steps, ex.nfe - 1, math.nan, ex.w2, seconds, grid, ex.kl)
        study.runs.append(run)
    for method in dict.fromkeys(r.method for r in study.runs):
        rows = [r for r in study.runs if r.method == method]
        study.slopes[method] = fit_slope([r.nfe for r in rows], [r.moment_w2 for r in rows], 0.0)
    return study


def fewest_evaluations(study: Study, error: float) -> dict[str, int | None]:
    """For each method, the fewest evaluations among its runs whose error is at most
    ``error`` (``None`` where no run reaches it); for the coupled error, whose error plus twice
    its noise is (``Study.bound``)."""
    out: dict[str, int | None] = {}
    for r in study.runs:
        best = out.get(r.method)
        if study.bound(r) <= error and (best is None or r.nfe < best):
            out[r.method] = r.nfe
        else:
            out.setdefault(r.method, None)
    return out


def best_per_budget(study: Study, budgets: tuple[int, ...]) -> dict[int, tuple[str, float]]:
    """For each evaluation budget, the method with the smallest error among runs within it
    (for the coupled error, the smallest error plus twice its noise: ``Study.bound``)."""
    out: dict[int, tuple[str, float]] = {}
    for b in budgets:
        fits = [r for r in study.runs if r.nfe <= b]
        if fits:
            best = min(fits, key=study.bound)
            out[b] = (best.method, study.error(best))
    return out


def run_checkpoint_study(
    checkpoint: str,
    methods: list[str] | None = None,
    steps: tuple[int, ...] = (10, 20, 50, 100),
    samples: int = 4000,
    seed: int = 0,
    spacing: str | None = None,
    progress: bool = False,
) -> Study:
    """Solver accuracy on a learned model (a ``revsde train`` checkpoint), where no closed
    form exists: every method starts from the same prior draws, and its samples at t_min are
    compared with a reference from a very fine solve of the same model from the same draws:
    for ODE methods the probability-flow ODE by ``dopri5`` with rtol = atol = 1e-6, for SDE
    methods the reverse SDE by 2000 Euler–Maruyama steps on the same Brownian path as the run
    (a torchsde ``BrownianInterval`` with ``halfway_tree=True``, whose path does not depend on
    where it is queried; a learned score's ODE and SDE do not share their marginals, so each
    is measured against its own).

    Two comparisons with the reference per run: the sliced W2 (``Run.sliced_w2``; its noise
    floor is that of two fine SDE solves on independent noise) and the coupled kernel error
    (``Run.coupled``, ``Run.coupled_noise``): the norm of the mean over samples of the
    difference of 512 random Fourier features (``revsde.sampling.coupling.fourier_features``,
    width from the reference: an MMD estimate) between each sample and its own reference
    sample, with its Monte Carlo noise, which shrinks with the run's pathwise error instead of
    staying at a floor. ``moment_w2`` holds the sliced W2 of the denoised samples to the
    held-out data, the study's headline error (``Study.error``): what a user of the samples
    sees."""
    import torchsde

    from ..models.checkpoint import load_checkpoint
    from ..training import datasets

    score, process, info = load_checkpoint(checkpoint)
    methods = default_methods() if methods is None else list(methods)
    unknown = sorted(set(methods) - set(SOLVERS))
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; valid methods are {sorted(SOLVERS)}")
    _, test, _ = datasets.load(info["name"], seed=info.get("seed", 0))
    dim = test.shape[1]
    rsde, rode = process.reverse(score), process.reverse(score, probability_flow=True)
    x_T = process.prior_sample((samples, dim), generator=torch.Generator().manual_seed(seed))

    # torchsde's interval rather than a GridBrownianPath: a stored 2000-step path of the 64-D
    # digits at 4000 samples would take 2 GB (4 GB with its Lévy areas). It rounds its ends to
    # tol, so the path ends one tol past s_max: float32 grid times round past the float s_max
    # (0.999 -> 0.99900001), which it would warn about on every query there.
    tol = 1e-6

    def path() -> Any:
        # the same entropy, hence the same path, for the reference and every SDE run
        return torchsde.BrownianInterval(
            t0=0.0,
            t1=rsde.s_max + tol,
            size=x_T.shape,
            dtype=x_T.dtype,
            entropy=seed + 1,
            tol=tol,
            halfway_tree=True,
            levy_area_approximation="space-time",  # for sra1; the others ignore it
        )

    with torch.no_grad():
        ref_ode = solve(
            rode,
            x_T,
            [0.0, rode.s_max],
            method="dopri5",
            adaptive=True,
            rtol=1e-6,
            atol=1e-6,
            final_only=True,
        ).ys
        fine = rsde.times(2000)
        ref_sde = solve(rsde, x_T, fine, bm=path(), method="euler", final_only=True).ys
        gen = torch.Generator().manual_seed(seed + 2)
        second = solve(rsde, x_T, fine, method="euler", final_only=True, generator=gen).ys
    features = {"ode": fourier_features(ref_ode), "sde": fourier_features(ref_sde)}
    n = min(samples, test.shape[0])
    held_out = test[:n].double()
    study = Study(
        type(process).__name__,
        f"checkpoint:{info['name']}",
        samples,
        seed,
        "float32",
        "cpu",
        noise_floor_sliced_w2=sliced_w2(second.double(), ref_sde.double(), seed=seed),
        noise_floor_moment_w2=math.nan,
        checkpoint=True,
    )
    jobs = [(m, k) for m in methods for k in steps]
    if progress:
        from tqdm.auto import tqdm

        jobs = tqdm(jobs, desc="compare", unit="run")
    for method, k in jobs:
        solver = resolve(method)
        kind = "ode" if solver.ode_only else "sde"
        problem, reference = (rode, ref_ode) if solver.ode_only else (rsde, ref_sde)
        grid = spacing or default_spacing(solver, process)
        start = time.perf_counter()
        with torch.no_grad():
            y, stats = solve(
                problem,
                x_T,
                problem.times(k, spacing=grid),
                bm=None if solver.ode_only else path(),
                method=method,
                final_only=True,
                generator=torch.Generator().manual_seed(seed + 3),
            )
            denoised = problem.predict_x0(problem.s_max, y)
        seconds = time.perf_counter() - start
        phi = features[kind]
        coupled, noise = coupled_feature_error(phi(y), phi(reference))
        study.runs.append(
            Run(
                method,
                stats.steps,
                stats.nfe,
                sliced_w2(y.double(), reference.double(), seed=seed),
                sliced_w2(denoised[:n].double(), held_out, seed=seed),
                seconds,
                grid,
                coupled=coupled,
                coupled_noise=noise,
            )
        )
    for method in dict.fromkeys(r.method for r in study.runs):
        rows = [r for r in study.runs if r.method == method]
        # the coupled error resolves far below the sliced W2's floor: slopes over its points
        # above twice their own noise
        study.slopes[method] = fit_slope(
            [r.nfe for r in rows], [r.coupled for r in rows], [r.coupled_noise for r in rows]
        )
    return study
