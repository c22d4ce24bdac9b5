"""Few-step sampling on tuned grids (``revsde.tune_grid``) beside the peers, in one run: the
2-D mixture of the few-step benchmark (VP, exact score, the same 400 000 prior draws, the same
moment error and Monte Carlo floor; see ``few_step.py``).

For each budget of evaluations, ``unipc`` and ``dpmpp_2m`` are run on their default
(quadratic) grid and on a grid tuned for this model at that budget: the tuning batch is 2048
other prior draws, its objective the RMS distance of the denoised output to a 200-step UniPC
solve of the probability-flow ODE from the same draws (not the benchmark's metric, and not its
samples). The peers run their default schedules from the same x_T: diffusers'
DPMSolverMultistep (2M), UniPCMultistep and DDIM, k-diffusion's DPM-Solver++(2M) on the Karras
grid. The tuning cost is reported in model evaluations on single samples.

Stochastic: ``sa_solver`` on its quadratic grid and on a grid tuned at ``--sde-nfe``
evaluations by the law objective of ``tune_grid`` for methods that read noise (an MMD of
random Fourier features between its output and a 500-step ``sra1`` solve of the reverse SDE on
one Brownian path, over ``--sde-tuning-samples`` other prior draws; not the benchmark's metric),
beside the stochastic peers at the same budget: diffusers' DPMSolverMultistep SDE-2M and
SASolver, k-diffusion's DPM-Solver++(2M) SDE and (3M) SDE.

    python benchmarks/tuned_grid.py --markdown docs/benchmarks/tuned-grid.md
"""

from __future__ import annotations

import argparse
import platform
import time

import few_step
import torch

import revsde
from revsde.evaluation.metrics import mixture_moment_error
from revsde.evaluation.problems import mixture_2d

D64 = torch.float64


def tuned_run(sde, score, x_T, method, nfe, samples, max_evals):
    """``method`` from the benchmark's ``x_T`` on a grid that ``revsde.tune_grid`` tuned for
    ``nfe`` evaluations on ``samples`` other prior draws (seed 7), with the tuning's cost as a
    table note: (denoised output, evaluations, note)."""
    steps = nfe - 1
    start = time.perf_counter()
    tuned = revsde.tune_grid(
        sde, score, method, steps, samples=samples, max_evals=max_evals, seed=7
    )
    seconds = time.perf_counter() - start
    # the public path accepts the grid as it is (t_min read off its end)
    revsde.sample(sde, score, (1, 2), method, spacing=tuned.times)
    stochastic = tuned.noise is not None  # tuned by the law objective, on the reverse SDE
    problem = sde.reverse(score, probability_flow=not stochastic, t_min=tuned.t_min)
    ts = problem.times(steps, spacing=tuned.times, dtype=D64)
    gen = torch.Generator().manual_seed(1)
    y = revsde.solvers.solve(problem, x_T, ts, method, final_only=True, generator=gen).ys
    objective = (
        f"MMD {tuned.initial_loss:.2g} -> {tuned.loss:.2g} (noise {tuned.noise:.1g})"
        if stochastic
        else f"pathwise {tuned.initial_loss:.3f} -> {tuned.loss:.3f}"
    )
    note = (
        f"tuning: {tuned.evaluations} searches, {tuned.evaluations * samples * tuned.nfe:.2g} "
        f"single-sample evaluations, {seconds:.0f} s; t_min {tuned.t_min:.3g}; {objective}"
    )
    return problem.predict_x0(problem.s_max, y), tuned.nfe, note


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=400_000)
    parser.add_argument("--nfe", default="10,15,20")
    parser.add_argument("--tuning-samples", type=int, default=2048)
    parser.add_argument("--max-evals", type=int, default=2000)
    parser.add_argument("--sde-nfe", default="20")
    parser.add_argument("--sde-tuning-samples", type=int, default=100_000)
    parser.add_argument("--sde-max-evals", type=int, default=500)
    parser.add_argument("--markdown")
    args = parser.parse_args(argv)
    nfes = [int(v) for v in args.nfe.split(",") if v]

    sde, law = revsde.VPSDE(), mixture_2d(D64)
    score = law.score(sde)
    x_T = torch.randn(args.samples, 2, dtype=D64, generator=torch.Generator().manual_seed(0))
    floor = sum(mixture_moment_error(e, law) for e in few_step.exact_samples(law, args.samples)) / 3
    one, t_min = torch.tensor(1.0, dtype=D64), torch.tensor(1e-3, dtype=D64)
    alpha_T = sde.alpha(one)
    sigma_max = float(sde.sigma(one) / alpha_T)
    sigma_min = float(sde.sigma(t_min) / sde.alpha(t_min))

    rows = []

    def add(library, sampler, grid, nfe, x, note=""):
        err = mixture_moment_error(x, law)
        rows.append((library, sampler, grid, nfe, err, note))
        print(f"{library:11} {sampler:26} {grid:10} NFE {nfe:3d} {err:.4f} {note}", flush=True)

    with torch.no_grad():
        for nfe in nfes:
            for method in ("unipc", "dpmpp_2m"):
                x, used = few_step.ours(sde, score, x_T, method, {}, "quadratic", nfe, 1)
                add("revsde", method, "quadratic", used, x)
                x, used, note = tuned_run(
                    sde, score, x_T, method, nfe, args.tuning_samples, args.max_evals
                )
                add("revsde", method, "tuned", used, x, note)
            for name in ("DPMSolverMultistep 2M", "UniPCMultistep", "DDIM"):
                x, used = few_step.diffusers_run(name, law, x_T, nfe, 1)
                add("diffusers", name, "default", used, x)
            x, used = few_step.k_diffusion_run(
                "dpmpp_2m", law, x_T, alpha_T, sigma_max, sigma_min, nfe, 1
            )
            add("k-diffusion", "dpmpp_2m", "karras", used, x)
        for nfe in [int(v) for v in args.sde_nfe.split(",") if v]:
            method = "sa_solver"
            x, used = few_step.ours(sde, score, x_T, method, {}, "quadratic", nfe, 1)
            add("revsde", method, "quadratic", used, x)
            x, used, note = tuned_run(
                sde, score, x_T, method, nfe, args.sde_tuning_samples, args.sde_max_evals
            )
            add("revsde", method, "tuned", used, x, note)
            for name in ("DPMSolverMultistep SDE-2M", "SASolver"):
                x, used = few_step.diffusers_run(name, law, x_T, nfe, 1)
                add("diffusers", name, "default", used, x)
            for name in ("dpmpp_2m_sde", "dpmpp_3m_sde"):
                x, used = few_step.k_diffusion_run(
                    name, law, x_T, alpha_T, sigma_max, sigma_min, nfe, 1
                )
                add("k-diffusion", name, "karras", used, x)

    header = (
        f"machine: {platform.machine()}, torch {torch.__version__}, python "
        f"{platform.python_version()}; {args.samples} samples, float64; Monte Carlo floor of "
        f"the moment error {floor:.4f}; tuning batch {args.tuning_samples}, at most "
        f"{args.max_evals} objective evaluations; stochastic: tuning batch "
        f"{args.sde_tuning_samples}, at most {args.sde_max_evals} objective evaluations"
    )
    table = (
        "| library | sampler | grid | NFE | moment error | tuning |\n|---|---|---|---|---|---|\n"
    )
    table += "\n".join(
        f"| {lib} | {s} | {g} | {n} | {e:.4f} | {note} |" for lib, s, g, n, e, note in rows
    )
    print(header)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(f"{header}\n\n{table}\n")


if __name__ == "__main__":
    main()
