"""Solver accuracy on a learned model (a ``revsde train`` checkpoint), where no closed form
exists: ``revsde compare --checkpoint``."""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from ..models.checkpoint import load_checkpoint
from ..sampling.coupling import coupled_feature_error, fourier_features
from ..sampling.sample import default_spacing
from ..solvers import SOLVERS, resolve, solve
from ..training import datasets
from .metrics import sliced_w2
from .results import Run, Study, default_methods, fit_slope


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
