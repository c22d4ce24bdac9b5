"""Adaptive steps against fixed grids: error per evaluation on the 2-D mixture of
``revsde compare`` (exact score, VP, float64, x_T from the N(0, I) prior, Tweedie's step at
t_min counted as an evaluation), scored by the responsibility-weighted moment error
(``revsde.metrics.mixture_moment_error``; its Monte Carlo floor is printed).

- reverse SDE: Euler–Maruyama at fixed step counts against ``ggf`` (Gotta Go Fast) over an
  rtol sweep (atol = rtol);
- probability-flow ODE: Heun at fixed step counts on the uniform and quadratic grids against
  ``bosh3``, ``dopri5`` and ``dpmpp_2s`` (DPM-Solver-12) over an rtol sweep (atol = rtol).

    python benchmarks/adaptive.py --markdown docs/benchmarks/adaptive.md
"""

from __future__ import annotations

import argparse
import platform

import torch

import revsde
import solvers
from revsde.compare import mixture_2d
from revsde.metrics import mixture_moment_error

D64 = torch.float64


def run(rsde, x_T, method, law, seed, ts=None, **options):
    ts = [0.0, rsde.s_max] if ts is None else ts
    with torch.no_grad():
        y, stats = solvers.sdeint(
            rsde,
            x_T,
            ts,
            method=method,
            final_only=True,
            return_stats=True,
            generator=torch.Generator().manual_seed(seed),
            **options,
        )
        x0 = rsde.data_prediction(rsde.s_max, y)
    return mixture_moment_error(x0, law), stats.nfe + 1, stats.rejected_steps


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--markdown")
    args = parser.parse_args(argv)
    sde, law = revsde.VPSDE(), mixture_2d()
    law = revsde.targets.GaussianMixture(
        law.weights.double(), law.means.double(), law.covs.double()
    )
    score = law.score(sde)
    rsde = sde.reverse(score)
    rode = sde.reverse(score, probability_flow=True)
    x_T = torch.randn(args.samples, 2, dtype=D64, generator=torch.Generator().manual_seed(0))
    floor = mixture_moment_error(
        law.sample(args.samples, generator=torch.Generator().manual_seed(1)), law
    )
    rows = []

    def add(problem, method, setting, result):
        err, nfe, rejected = result
        rows.append((problem, method, setting, nfe, rejected, err))
        print(
            f"{problem:8} {method:8} {setting:22} nfe {nfe:6d} rejected {rejected:4d} err {err:.4f}"
        )

    for n in (100, 200, 500, 1000):
        add("SDE", "euler", f"{n} steps", run(rsde, x_T, "euler", law, 2, rsde.times(n)))
    for tol in (0.5, 0.2, 0.1, 0.05, 0.02):
        add(
            "SDE",
            "ggf",
            f"rtol {tol}",
            run(rsde, x_T, "ggf", law, 2, adaptive=True, rtol=tol, atol=tol),
        )
    for spacing in ("uniform", "quadratic"):
        for n in (10, 20, 50, 100):
            ts = rode.times(n, spacing=spacing)
            add("ODE", "heun", f"{n} steps, {spacing}", run(rode, x_T, "heun", law, 0, ts))
    for method in ("bosh3", "dopri5", "dpmpp_2s"):
        for tol in (1e-2, 1e-3, 1e-4, 1e-5):
            add(
                "ODE",
                method,
                f"rtol {tol}",
                run(rode, x_T, method, law, 0, adaptive=True, rtol=tol, atol=tol),
            )

    header = (
        f"machine: {platform.machine()}, torch {torch.__version__}, {args.samples} samples, "
        f"float64; Monte Carlo floor of the metric {floor:.4f}"
    )
    table = "| problem | method | setting | NFE | rejected steps | moment error |\n"
    table += "|---|---|---|---|---|---|\n"
    table += "\n".join(f"| {p} | {m} | {s} | {n} | {r} | {e:.4f} |" for p, m, s, n, r, e in rows)
    print(header)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(header + "\n\n" + table + "\n")


if __name__ == "__main__":
    main()
