"""The coupled Monte Carlo pass of ``revsde compare`` on a closed-form target: every method
from the same draws of the exact law at t_max, reading its noise off one Brownian path, its
error measured against fine solves of the same equation from the same draws and path (see
``revsde.evaluation.compare``)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ..sampling.brownian import GridBrownianPath, StackedBrownianPath
from ..sampling.sample import default_spacing
from ..solvers import SOLVERS, resolve, solve
from .metrics import (
    coupled_moment_error,
    mixture_moment_features,
    moment_w2,
    sliced_w2,
    two_level_feature_error,
)
from .results import ADAPTIVE_VARIANTS, Run, run_name

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


def monte_carlo_pass(
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
    *,
    progress: bool = False,
    desc: str = "compare",
) -> MonteCarloPass:
    """One Monte Carlo study at one seed: its runs, its two noise floors and the check of its
    fine solves. ``progress`` shows one bar over the reference solves and the runs, from the
    first reference solve on (they take the first minutes of a study on a CPU)."""

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
    jobs = [(m, n, None, "") for m in methods for n in steps]
    jobs += [
        (m, None, tol, variant)
        for m in methods
        if SOLVERS[m].error_exponent is not None
        for variant in ("", *ADAPTIVE_VARIANTS.get(m, {}))
        for tol in adaptive_rtols
    ]
    from tqdm.auto import tqdm

    extra = x_T.shape[0] > samples
    bar = tqdm(total=len(jobs) + 4 + extra, desc=desc, unit="solve", disable=not progress)
    path, fine, check = _fine_solves(rsde, rode, x_T, samples, law, seed, bar)
    # the two-level estimate's references, as features once for all runs (extra draws only)
    features = {}
    if "sde coarse" in fine:
        features = {k: mixture_moment_features(fine[k], law) for k in ("sde", "sde coarse")}
    runs: list[Run] = []
    for method, n, tol, variant in jobs:
        bar.set_postfix_str(f"{method} at {n if tol is None else f'tol {tol:g}'}")
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
                run_name(method, tol, variant),
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
        bar.update()
    bar.close()
    return MonteCarloPass(
        runs,
        sliced_w2(second, reference, seed=seed),
        moment_w2(second, law.mean, law.covariance),
        check,
    )


@dataclass
class MonteCarloPass:
    """One Monte Carlo study at one seed: its runs, its two noise floors and the check of its
    fine solves."""

    runs: list[Run]
    floor_sliced: float
    floor_moment: float
    reference_check: dict[str, tuple[float, float]]


def _fine_solves(rsde, rode, x_T, samples, law, seed, bar):
    """The coupled error's references: ``REFERENCE_SDE_METHOD`` from the first ``samples`` rows
    of ``x_T`` on a uniform grid of ``REFERENCE_SDE_STEPS`` steps, reading its increments and
    space-time Lévy areas off a Brownian path stored on that grid, and dopri5 at
    ``REFERENCE_ODE_TOL`` from the same rows; each one's check against a solve half as fine
    (100 x the tolerance). Where ``x_T`` has more rows (the SDE runs' extra draws), a path on
    every ``REFERENCE_COARSE_STRIDE``-th point of that grid for them, and the coarse reference
    (the same method on that coarse grid) from every row, the fine path's rows reading the fine
    path at the coarse points. Returns the path the SDE runs fork (the fine one, or both side
    by side), the references and the checks; ``bar`` (a tqdm bar) advances after each."""
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
        bar.set_postfix_str(f"reference: {REFERENCE_SDE_METHOD}, {len(grid) - 1} steps")
        bm = path.fork() if rows > samples else _fine_rows(path).fork()
        y = solve(rsde, x_T[:rows], grid, REFERENCE_SDE_METHOD, bm=bm, final_only=True).ys
        bar.update()
        return y.double().cpu()

    def ode(tol: float) -> torch.Tensor:
        bar.set_postfix_str(f"reference: dopri5 at {tol:g}")
        kw = {"adaptive": True, "rtol": tol, "atol": tol}
        y = solve(rode, x_T[:samples], span, "dopri5", final_only=True, **kw).ys
        bar.update()
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
