"""Solver accuracy against step count on closed-form problems: the study behind
``revsde compare`` (its settings, `StudyConfig`, and ``run_study``).

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
from dataclasses import dataclass

import numpy as np
import torch

from .._checks import check_int
from ..processes.reverse import parse_spacing
from ..sampling.sample import default_spacing
from ..solvers import SOLVERS, resolve
from .exact import exact_solve, exact_support
from .monte_carlo import default_sde_samples, monte_carlo_pass
from .problems import EXACT_ONLY, GAUSSIAN_TARGETS, SDES, TARGETS
from .results import ADAPTIVE_VARIANTS, Run, Study, default_methods, fit_slope, run_name

DEFAULT_STEPS = (10, 20, 50, 100, 200, 500)
METRICS = ("coupled", "sliced")


@dataclass(frozen=True)
class StudyConfig:
    """The settings of a study, checked when made (an error names the setting).

    Attributes:
        sde: the process, a key of ``problems.SDES``.
        target: the data law, a key of ``problems.TARGETS``.
        methods: registered method names (default: every one; SDE methods on the reverse
            SDE, ODE-only ones on the probability-flow ODE).
        steps: the step counts of every method.
        samples: draws per run (Monte Carlo studies).
        seed: the seed of the draws, references and noise.
        device, dtype: where and in which precision ("float32" or "float64") runs solve.
        spacing: one time grid for every method (default: each method's own).
        adaptive_rtols: also run each method with an embedded error estimate adaptively at
            each of these rtol (= atol), and each variant of ``results.ADAPTIVE_VARIANTS``
            at these atol.
        exact: Gaussian targets: the exact output laws instead of samples (``samples``,
            ``sde_samples``, ``device`` and ``dtype`` unused).
        seeds: repeats with seeds ``seed + 1000 j``; errors get 95 % confidence half-widths.
        metric: the headline error of a Monte Carlo study, one of ``METRICS``.
        sde_samples: draws for the runs of methods that read noise at up to
            ``monte_carlo.MORE_DRAWS_STEPS`` steps (default ``default_sde_samples``).
    """

    sde: str = "vp"
    target: str = "mixture2d"
    methods: tuple[str, ...] | None = None
    steps: tuple[int, ...] = DEFAULT_STEPS
    samples: int = 4000
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float64"
    spacing: str | None = None
    adaptive_rtols: tuple[float, ...] = ()
    exact: bool = False
    seeds: int = 1
    metric: str = "coupled"
    sde_samples: int | None = None

    def __post_init__(self) -> None:
        if self.sde not in SDES:
            raise ValueError(f"sde must be one of {sorted(SDES)}, got {self.sde!r}")
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {sorted(TARGETS)}, got {self.target!r}")
        if self.exact and self.target not in GAUSSIAN_TARGETS:
            raise ValueError(
                f"exact=True needs a Gaussian target {list(GAUSSIAN_TARGETS)}, got "
                f"{self.target!r}: a mixture's sampler output has no closed-form law"
            )
        if not self.exact and self.target in EXACT_ONLY:
            raise ValueError(f"target {self.target!r} is for exact=True (--exact) only")
        if self.methods is not None:
            object.__setattr__(self, "methods", tuple(self.methods))
            unknown = sorted(set(self.methods) - set(SOLVERS))
            if unknown:
                raise ValueError(
                    f"unknown method(s) {unknown}; valid methods are {sorted(SOLVERS)}"
                )
        object.__setattr__(self, "steps", tuple(self.steps))
        if not self.steps or min(self.steps) < 1:
            raise ValueError(f"steps must be positive integers, got {list(self.steps)}")
        if self.spacing is not None:
            parse_spacing(self.spacing)  # a clear error before any work
        check_int("samples", self.samples, low=2)
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        if self.sde_samples is not None and (
            isinstance(self.sde_samples, bool)
            or not isinstance(self.sde_samples, int)
            or self.sde_samples < self.samples
        ):
            raise ValueError(
                f"sde_samples must be an integer >= samples ({self.samples}), got "
                f"{self.sde_samples!r}"
            )
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {list(METRICS)}, got {self.metric!r}")
        check_int("seeds", self.seeds, low=1)
        object.__setattr__(self, "adaptive_rtols", tuple(self.adaptive_rtols))
        if any(not (isinstance(r, float) and 0 < r < 1) for r in self.adaptive_rtols):
            raise ValueError(
                f"adaptive_rtols must be floats in (0, 1), got {list(self.adaptive_rtols)}"
            )


def run_study(
    config: StudyConfig | None = None, /, *, progress: bool = False, **settings: object
) -> Study:
    """Run every method at every step count; see the module docstring for the metrics
    (every run records all of them). Pass a `StudyConfig`, or its fields as keywords;
    ``progress`` shows a progress bar from the first reference solve on.

    Repeats (``seeds``) draw fresh start draws, references and noise, common to all methods
    within each repetition, and report each error's mean with its 95 % confidence
    half-width. The SDE runs at up to ``monte_carlo.MORE_DRAWS_STEPS`` steps solve from
    ``sde_samples`` draws: their coupled error's noise is their pathwise distance to the fine
    SDE solve over the square root of the draws, several times an ODE method's distance at
    few steps (the Brownian path's detail between coarse steps, which no coarse method
    sees), so they need more draws to resolve the same error; they are compared through a
    two-level reference (``metrics.two_level_feature_error``) that costs a quarter of the
    fine solve per draw. Their first ``samples`` draws are the other runs' draws, and give the
    sliced and moment W2 (same size as the floors')."""
    if config is None:
        config = StudyConfig(**settings)
    elif settings:
        raise TypeError("pass a StudyConfig or its settings as keywords, not both")
    methods = list(default_methods() if config.methods is None else config.methods)
    process, law0 = SDES[config.sde](), TARGETS[config.target]()
    if config.exact:
        return _exact_study(config, process, law0, methods, progress)
    torch_dtype = getattr(torch, config.dtype)
    sde_samples = config.sde_samples
    if sde_samples is None:
        sde_samples = default_sde_samples(config.samples, law0.dim, torch_dtype)
    study = Study(
        config.sde,
        config.target,
        config.samples,
        config.seed,
        config.dtype,
        str(config.device),
        0.0,
        0.0,
        seeds=config.seeds,
        metric=config.metric,
        sde_samples=sde_samples,
    )
    passes = [
        monte_carlo_pass(
            process,
            law0,
            methods,
            config.steps,
            config.samples,
            sde_samples,
            config.seed + 1000 * j,
            config.device,
            torch_dtype,
            config.spacing,
            config.adaptive_rtols,
            progress=progress,
            desc="compare" if config.seeds == 1 else f"compare, seed {j + 1} of {config.seeds}",
        )
        for j in range(config.seeds)
    ]
    study.noise_floor_sliced_w2 = float(np.mean([p.floor_sliced for p in passes]))
    study.noise_floor_moment_w2 = float(np.mean([p.floor_moment for p in passes]))
    study.reference_check = passes[0].reference_check
    for rows in zip(*(p.runs for p in passes), strict=True):
        run = rows[0]
        if config.seeds > 1:
            sliced = [r.sliced_w2 for r in rows]
            moment = [r.moment_w2 for r in rows]
            coupled = [r.coupled for r in rows]
            run.sliced_w2, run.sliced_w2_ci = float(np.mean(sliced)), _half_width(sliced)
            run.moment_w2, run.moment_w2_ci = float(np.mean(moment)), _half_width(moment)
            run.coupled, run.coupled_ci = float(np.mean(coupled)), _half_width(coupled)
            # the noise of the mean of independent repetitions
            run.coupled_noise = float(
                np.mean([r.coupled_noise for r in rows]) / math.sqrt(config.seeds)
            )
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


def _exact_study(config: StudyConfig, process, law0, methods: list[str], progress: bool) -> Study:
    """``run_study(exact=True)``: every method from the true law at t_max, as in the Monte
    Carlo study, with its exact output law at t_min."""
    study = Study(config.sde, config.target, 0, config.seed, "float64", "cpu", 0.0, 0.0, exact=True)
    for method in methods:
        reason = exact_support(method)
        if reason is not None:
            study.not_exact[method] = reason
    for method in methods:
        if SOLVERS[method].error_exponent is not None and config.adaptive_rtols:
            for variant in ("", *ADAPTIVE_VARIANTS.get(method, {})):
                study.not_exact[run_name(method, 0.0, variant)] = (
                    "adaptive step sizes depend on the error norm of the whole batch, so the "
                    "output is not an affine map of the start and the noise"
                )
    jobs = [(m, n) for m in methods if m not in study.not_exact for n in config.steps]
    from tqdm.auto import tqdm

    for method, n in tqdm(jobs, desc="compare --exact", unit="run", disable=not progress):
        grid = config.spacing or default_spacing(resolve(method), process)
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
