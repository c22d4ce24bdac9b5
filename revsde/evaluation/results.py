"""What a solver-accuracy study found: its runs (`Run`), the study with its noise floors and
fitted slopes (`Study`), and what to read off it: the slope of error against evaluations,
the fewest evaluations that reach an error and the best method within a budget."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..solvers import SOLVERS


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


def run_name(method: str, tol: float | None, variant: str) -> str:
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
