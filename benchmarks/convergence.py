"""Strong and weak convergence orders of every registered method, measured.

Strong: mean |y_N - y(1)| over many paths on nested grids of one torchsde BrownianInterval
(float64), on geometric Brownian motion (multiplicative noise) and an additive-noise problem
with a closed-form solution. Weak: error of the mean and covariance at t_min of the reverse
VP SDE of a 2-D Gaussian against its exact law. Every method that fits a problem runs on it.

    python benchmarks/convergence.py --paths 10000 --markdown docs/benchmarks/convergence.md
"""

from __future__ import annotations

import argparse
import platform

import numpy as np
import torch
import torchsde

import revsde
from revsde import solvers
from revsde.solvers.problems import GBM, AdditiveTimeDependent

D64 = torch.float64


def fits(solver, sde) -> bool:
    additive = getattr(sde, "additive_noise", False)
    return (
        sde.noise_type in solver.noise_types
        and not solver.ode_only
        and not solver.requires
        and (additive or not solver.requires_additive)
    )


def slope(ns, errs) -> float:
    return float(np.polyfit(np.log([1 / n for n in ns]), np.log(errs), 1)[0])


def strong(sde, method, ns, paths, seed=0):
    solver = solvers.resolve(method)
    y0 = torch.full((paths, 1), 0.5, dtype=D64)
    levy = "space-time" if solver.needs_levy_area else "none"
    bm = torchsde.BrownianInterval(
        0.0, 1.0, size=y0.shape, dtype=D64, entropy=seed, levy_area_approximation=levy
    )
    exact = sde.exact(y0, 1.0, bm(0.0, 1.0))
    errs = []
    for n in ns:
        y = solvers.solve(
            sde, y0, torch.linspace(0, 1, n + 1, dtype=D64), method=method, bm=bm, final_only=True
        ).ys
        errs.append(float((y - exact).abs().mean()))
    return slope(ns, errs), errs


def weak(method, ns, paths, seed=0):
    sde = revsde.VPSDE()
    target = revsde.evaluation.targets.Gaussian([1.0, -1.0], [[1.0, 0.5], [0.5, 0.8]])
    rsde = sde.reverse(target.score(sde), t_min=0.01)
    law = target.marginal(sde, rsde.t_min)
    x_T = target.marginal(sde, rsde.t_max).sample(
        paths, generator=torch.Generator().manual_seed(seed)
    )
    errs = []
    for n in ns:
        y = solvers.solve(
            rsde,
            x_T,
            rsde.times(n, dtype=D64),
            method=method,
            final_only=True,
            generator=torch.Generator().manual_seed(seed + n),
        ).ys
        err = (y.mean(0) - law.mean).abs().max() + (torch.cov(y.T) - law.covariance).abs().max()
        errs.append(float(err))
    return slope(ns, errs), errs


def _row(problem, method, declared, measured, errs) -> str:
    errors = ", ".join(f"{e:.1e}" for e in errs)
    return f"| {problem} | {method} | {declared} | {measured:.2f} | {errors} |"


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--paths", type=int, default=10_000, help="paths for the strong orders")
    parser.add_argument("--samples", type=int, default=400_000, help="samples for the weak orders")
    parser.add_argument("--markdown", help="write the tables as Markdown here")
    args = parser.parse_args(argv)
    header = (
        f"machine: {platform.machine()}, torch {torch.__version__}, "
        f"torchsde {torchsde.__version__}; "
        f"{args.paths} paths (strong), {args.samples} samples (weak), float64"
    )
    lines = [
        header,
        "",
        "| problem | method | declared strong order | measured slope | errors |",
        "|---|---|---|---|---|",
    ]
    problems = {
        "GBM dy = 0.1 y dt + 0.5 y dW": (GBM(mu=0.1, sigma=0.5), [32, 64, 128, 256, 512, 1024]),
        "additive, linear drift": (AdditiveTimeDependent(), [16, 32, 64, 128, 256]),
    }
    for label, (sde, ns) in problems.items():
        for method in sorted(solvers.SOLVERS):
            solver = solvers.resolve(method)
            if not fits(solver, sde):
                continue
            s, errs = strong(sde, method, ns, args.paths)
            lines.append(_row(label, method, solver.strong_order, s, errs))
            print(lines[-1], flush=True)
    lines += [
        "",
        "| problem | method | declared weak order | measured slope | errors |",
        "|---|---|---|---|---|",
    ]
    for method in sorted(solvers.SOLVERS):
        solver = solvers.resolve(method)
        if solver.ode_only:
            continue
        s, errs = weak(method, [8, 16, 32, 64], args.samples)
        lines.append(_row("reverse VP SDE, 2-D Gaussian", method, solver.weak_order, s, errs))
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
