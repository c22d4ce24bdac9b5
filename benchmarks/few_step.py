"""Few-step sampling accuracy: revsde's samplers beside diffusers' and k-diffusion's, in one
run, on the 2-D three-mode mixture of ``revsde compare`` with its exact score.

Every sampler starts from the same N(0, I) prior draws at t = T of the VP process (beta 0.1 to
20; k-diffusion sees them in its VE coordinates, x / alpha_T) and ends on a clean sample: revsde
at t_min = 1e-3 followed by Tweedie's denoising step (counted as an evaluation), diffusers and
k-diffusion with their own last step to sigma = 0. The model every sampler calls is the exact
score, in the peer's own parametrisation: diffusers' schedulers get the exact noise prediction
for their own discrete table, k-diffusion the exact denoiser D(x; sigma).

The error is ``revsde.evaluation.metrics.mixture_moment_error`` against the data law
(responsibility-weighted moments; its Monte Carlo floor, the same number for exact samples of
the same size, is printed) and the sliced W2 (16 directions) to an exact sample of the same size.

    python benchmarks/few_step.py --markdown docs/benchmarks/few-step.md \
        --json docs/benchmarks/few-step.json --plot docs/benchmarks/few-step.png
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time

import peers
import torch

import revsde
from revsde import solvers
from revsde.evaluation.metrics import mixture_moment_error, sliced_w2
from revsde.evaluation.problems import mixture_2d

D64 = torch.float64
NFES = (5, 10, 15, 20, 50)

# revsde: (method, options, grid)
OURS = [
    ("unipc", {}, "quadratic"),
    ("unipc", {"order": 3}, "quadratic"),
    ("dpmpp_3m", {}, "uniform"),
    ("dpmpp_2m", {}, "uniform"),
    ("dpmpp_3m", {}, "quadratic"),
    ("dpmpp_3m", {}, "logsnr"),
    ("dpmpp_2m", {}, "quadratic"),
    ("dpmpp_2m", {}, "logsnr"),
    ("dpmpp_2s", {}, "quadratic"),
    ("ddim", {}, "quadratic"),
    ("heun", {}, "quadratic"),
    ("dpmpp_2m_sde", {}, "quadratic"),
    ("dpmpp_2m_sde", {}, "logsnr"),
    ("dpmpp_2m_sde", {}, "power:3"),
    ("dpmpp_3m_sde", {}, "quadratic"),
    ("sa_solver", {}, "quadratic"),
    ("sa_solver", {"s_tmin": 1.5}, "quadratic"),
    ("edm", {}, "karras"),
    ("ddim", {"eta": 1.0}, "quadratic"),
    ("euler", {}, "uniform"),
]


def exact_samples(law, n):
    """Three exact samples of ``n`` (seeds 100-102): the mean of their moment errors is the
    Monte Carlo floor this benchmark and ``tuned_grid.py`` print."""
    return [law.sample(n, generator=torch.Generator().manual_seed(100 + i)) for i in range(3)]


def ours(sde, score, x_T, method, options, grid, nfe, seed):
    solver = solvers.resolve(method, **options)
    steps = (nfe - 1 - solver.nfe_startup) // solver.nfe  # one evaluation for Tweedie's step
    if steps < 1:
        return None
    rsde = sde.reverse(score, probability_flow=solver.ode_only)
    ts = rsde.times(steps, spacing=grid, dtype=D64)
    y, stats = solvers.solve(
        rsde,
        x_T,
        ts,
        method=solver,
        final_only=True,
        generator=torch.Generator().manual_seed(seed),
    )
    return rsde.predict_x0(rsde.s_max, y), stats.nfe + 1


def diffusers_run(name, law, x_T, nfe, seed):
    d = peers.diffusers()
    common = {"num_train_timesteps": 1000, "beta_schedule": "linear"}
    scheduler = {
        "DPMSolverMultistep 2M": lambda: d.DPMSolverMultistepScheduler(
            algorithm_type="dpmsolver++", solver_order=2, **common
        ),
        "DPMSolverMultistep SDE-2M": lambda: d.DPMSolverMultistepScheduler(
            algorithm_type="sde-dpmsolver++", solver_order=2, **common
        ),
        "UniPCMultistep": lambda: d.UniPCMultistepScheduler(**common),
        "DDIM": lambda: d.DDIMScheduler(clip_sample=False, **common),
        # SA-Solver with its defaults: predictor and corrector of order 2, noise (tau = 1)
        # on the timesteps 200-800 only
        "SASolver": lambda: d.SASolverScheduler(**common),
    }[name]()
    scheduler.set_timesteps(nfe)
    ac = scheduler.alphas_cumprod.double()
    torch.manual_seed(seed)  # the SDE scheduler's noise
    x = x_T.clone()
    for t in scheduler.timesteps:
        a, s = ac[int(t)].sqrt(), (1.0 - ac[int(t)]).sqrt()
        eps = -s * law.score_at(x, a, s)  # the exact noise prediction for this table
        x = scheduler.step(eps, t, x).prev_sample
    return x, len(scheduler.timesteps)


def k_diffusion_run(name, law, x_T, alpha_T, sigma_max, sigma_min, nfe, seed):
    k = peers.k_diffusion_sampling()

    def denoiser(x, sigma):
        s = sigma.reshape(-1, 1)
        return x + s**2 * law.score_at(x, torch.ones((), dtype=D64), sigma.reshape(-1))

    per_step = 2 if name == "heun" else 1
    n = (nfe + 1) // 2 if name == "heun" else nfe  # heun: 2 per step, 1 on the last
    sigmas = k.get_sigmas_karras(n, sigma_min, sigma_max, rho=7.0).to(D64)
    torch.manual_seed(seed)  # the SDE samplers' Brownian tree
    fn = {
        "dpmpp_2m": k.sample_dpmpp_2m,
        "dpmpp_2m_sde": k.sample_dpmpp_2m_sde,
        "dpmpp_3m_sde": k.sample_dpmpp_3m_sde,
        "heun": k.sample_heun,
    }[name]
    x = fn(denoiser, x_T / alpha_T, sigmas, disable=True)
    return x, per_step * n - (1 if per_step == 2 else 0)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=400_000)
    parser.add_argument("--nfe", default=",".join(map(str, NFES)))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json")
    parser.add_argument("--markdown")
    parser.add_argument("--plot")
    args = parser.parse_args(argv)
    nfes = [int(v) for v in args.nfe.split(",")]

    sde, law = revsde.VPSDE(), mixture_2d(D64)
    score = law.score(sde)
    x_T = torch.randn(
        args.samples, 2, dtype=D64, generator=torch.Generator().manual_seed(args.seed)
    )
    exact = exact_samples(law, args.samples)
    floor = sum(mixture_moment_error(e, law) for e in exact) / 3
    floor_sw2 = sliced_w2(exact[1], exact[0], n_projections=16)
    one = torch.tensor(1.0, dtype=D64)
    alpha_T, sigma_T = sde.alpha(one), sde.sigma(one)
    t_min = torch.tensor(1e-3, dtype=D64)
    sigma_max = float(sigma_T / alpha_T)
    sigma_min = float(sde.sigma(t_min) / sde.alpha(t_min))

    def label(method, options):
        return method + "".join(f"({k}={v})" for k, v in options.items())

    jobs = [("revsde", label(m, o), g, (m, o, g)) for m, o, g in OURS]
    jobs += [
        ("diffusers", n, "its default", n)
        for n in (
            "DPMSolverMultistep 2M",
            "DPMSolverMultistep SDE-2M",
            "UniPCMultistep",
            "DDIM",
            "SASolver",
        )
    ]
    jobs += [
        ("k-diffusion", n, "karras", n)
        for n in ("dpmpp_2m", "dpmpp_2m_sde", "dpmpp_3m_sde", "heun")
    ]
    rows = []
    for library, label, grid, spec in jobs:
        for nfe in nfes:
            start = time.perf_counter()
            with torch.no_grad():
                if library == "revsde":
                    out = ours(sde, score, x_T, *spec, nfe, args.seed + 1)
                elif library == "diffusers":
                    out = diffusers_run(spec, law, x_T, nfe, args.seed + 1)
                else:
                    out = k_diffusion_run(
                        spec, law, x_T, alpha_T, sigma_max, sigma_min, nfe, args.seed + 1
                    )
            if out is None:
                continue
            x, used = out
            finite = bool(torch.isfinite(x).all())
            err = mixture_moment_error(x, law) if finite else math.inf
            sw2 = sliced_w2(x, exact[0], n_projections=16) if finite else math.inf
            rows.append(
                {
                    "library": library,
                    "sampler": label,
                    "grid": grid,
                    "nfe_budget": nfe,
                    "nfe": used,
                    "moment_error": err,
                    "sliced_w2": sw2,
                    "seconds": time.perf_counter() - start,
                }
            )
            print(
                f"{library:>11} {label:>26} {grid:>11} NFE {used:3d}  {err:.4f}  {sw2:.4f}",
                flush=True,
            )

    header = (
        f"machine: {platform.machine()}, torch {torch.__version__}, diffusers "
        f"{peers.diffusers().__version__}, k-diffusion 0.1.1.post1, python "
        f"{platform.python_version()}; {args.samples} samples, float64, seed {args.seed}; "
        f"Monte Carlo floor: moment error {floor:.4f}, sliced W2 {floor_sw2:.4f}"
    )
    print(header)
    table = _table(rows, nfes)
    print(table)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {"header": header, "floor": floor, "floor_sliced_w2": floor_sw2, "rows": rows},
                fh,
                indent=2,
            )
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(f"{header}\n\n{table}\n")
    if args.plot:
        _plot(rows, floor, args.plot)


def _table(rows, nfes) -> str:
    keys = list(dict.fromkeys((r["library"], r["sampler"], r["grid"]) for r in rows))
    head = "| library | sampler | grid | " + " | ".join(f"~{n} NFE" for n in nfes) + " |"
    lines = [head, "|" + "---|" * (3 + len(nfes))]
    for key in keys:
        cells = []
        for n in nfes:
            hit = [
                r
                for r in rows
                if (r["library"], r["sampler"], r["grid"]) == key and r["nfe_budget"] == n
            ]
            cells.append(f"{hit[0]['moment_error']:.4f} ({hit[0]['nfe']})" if hit else "–")
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _plot(rows, floor, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    keys = list(dict.fromkeys((r["library"], r["sampler"], r["grid"]) for r in rows))
    styles = {"revsde": "-", "diffusers": "--", "k-diffusion": ":"}
    for key in keys:
        pts = [
            (r["nfe"], r["moment_error"])
            for r in rows
            if (r["library"], r["sampler"], r["grid"]) == key
        ]
        ax.loglog(*zip(*pts, strict=True), styles[key[0]], marker="o", ms=3, label=" ".join(key))
    ax.axhline(floor, color="gray", linestyle="--", label="Monte Carlo floor")
    ax.set_xlabel("model evaluations (NFE)")
    ax.set_ylabel("moment error to the data law")
    ax.set_title("2-D mixture, VP, exact score, from the N(0, I) prior")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
