"""Exact error curves of every affine method on the Gaussian targets (revsde.evaluation.exact): no
sampling, no noise floor.

For each process (VP, VE) and Gaussian target (gaussian2d, gaussian64, gaussian3072 of
``revsde compare``) every method runs from the true law at t_max (as ``revsde compare``) on its
default grid, and its exact W2 to the true law at t_min is recorded. Observed orders are the
slopes of log W2 against log NFE over the runs with at least 50 evaluations. The error split
(initialization / discretization / truncation / total, Pierret & Galerne 2025) is tabulated
for samplers as users run them: from the N(0, I) (VE: N(0, sigma_max^2 I)) prior, ending with
Tweedie's denoising step, on gaussian64.

    python benchmarks/exact.py --markdown docs/benchmarks/exact.md --plots docs/benchmarks
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

import revsde
from revsde.evaluation.compare import run_study
from revsde.evaluation.exact import exact_solve
from revsde.evaluation.problems import TARGETS
from revsde.evaluation.results import fit_slope

STEPS = (5, 10, 20, 50, 100, 200, 500)
BUDGETS = (10, 20, 50)
SPLIT_METHODS = ("euler", "ancestral", "ddim", "dpmpp_2m", "unipc", "dpmpp_2m_sde", "edm")
PROCESSES = {"vp": revsde.VPSDE, "ve": revsde.VESDE}


def at_budget(runs, budget):
    """The run with the most evaluations not above ``budget`` (None if every run costs more)."""
    fits = [r for r in runs if r.nfe <= budget]
    return max(fits, key=lambda r: r.nfe) if fits else None


def curves_table(study) -> list[str]:
    methods = list(dict.fromkeys(r.method for r in study.runs))
    head = " | ".join(f"W2 at ≤{b} NFE" for b in BUDGETS)
    lines = [f"| method | grid | {head} | order (NFE ≥ 50) |", "|---" * (3 + len(BUDGETS)) + "|"]
    for m in methods:
        runs = [r for r in study.runs if r.method == m]
        cells = []
        for b in BUDGETS:
            r = at_budget(runs, b)
            cells.append("—" if r is None else f"{r.moment_w2:.2e} ({r.nfe})")
        fine = [r for r in runs if r.nfe >= 50]
        slope = fit_slope([r.nfe for r in fine], [r.moment_w2 for r in fine], 0.0)
        order = "—" if slope is None else f"{-slope:.2f}"
        lines.append(f"| {m} | {runs[0].spacing} | {' | '.join(cells)} | {order} |")
    return lines


def winners(study) -> str:
    out = []
    for b in BUDGETS:
        best = None
        for m in dict.fromkeys(r.method for r in study.runs):
            r = at_budget([x for x in study.runs if x.method == m], b)
            if r is not None and (best is None or r.moment_w2 < best.moment_w2):
                best = r
        out.append(f"≤{b} NFE: **{best.method}** ({best.moment_w2:.2e})")
    return "; ".join(out)


def plot(study, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5))
    for m in dict.fromkeys(r.method for r in study.runs):
        runs = [r for r in study.runs if r.method == m]
        ax.loglog([r.nfe for r in runs], [r.moment_w2 for r in runs], marker="o", ms=3, label=m)
    ax.set_xlabel("score evaluations (NFE)")
    ax.set_ylabel("exact W2 to the true law at t_min")
    ax.set_title(f"{study.target}, {study.sde}: exact laws (no Monte Carlo)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def split_table(sde_name: str, target_name: str, steps: tuple[int, ...]) -> list[str]:
    sde, target = PROCESSES[sde_name](), TARGETS[target_name]()
    lines = [
        "| method | steps | initialization | discretization | truncation | total (denoised) |",
        "|---|---|---|---|---|---|",
    ]
    for m in SPLIT_METHODS:
        for n in steps:
            parts = exact_solve(sde, target, m, n).split()
            cells = " | ".join(
                f"{parts[k]:.2e}"
                for k in ("initialization", "discretization", "truncation", "total")
            )
            lines.append(f"| {m} | {n} | {cells} |")
    return lines


ANCESTRAL_PROCESSES = {
    "vp": revsde.VPSDE,
    "sub-vp": revsde.SubVPSDE,
    "cosine vp": revsde.CosineVPSDE,
    "flow matching": revsde.FlowMatchingSDE,
    "ve": revsde.VESDE,
    "edm": revsde.EDMSDE,
}


def ancestral_table(target_name: str, steps: tuple[int, ...]) -> list[str]:
    """Exact W2 of ``ancestral`` with each of DDPM's two reverse variances, per process, from
    the true law at t_max: what the per-process default ``variance="auto"`` is chosen from."""
    target = TARGETS[target_name]()
    lines = [
        "| process | "
        + " | ".join(f"{n} steps: beta / posterior" for n in steps)
        + " | auto takes |",
        "|---" * (len(steps) + 2) + "|",
    ]
    for name, make in ANCESTRAL_PROCESSES.items():
        sde, cells = make(), []
        for n in steps:
            w = {
                v: exact_solve(sde, target, "ancestral", n, start="exact", variance=v)
                for v in ("beta", "posterior", "auto")
            }
            b, p = w["beta"].w2, w["posterior"].w2
            cells.append(f"**{b:.3f}** / {p:.3f}" if b < p else f"{b:.3f} / **{p:.3f}**")
        auto = "beta" if torch.equal(w["auto"].output.var, w["beta"].output.var) else "posterior"
        lines.append(f"| {name} | {' | '.join(cells)} | {auto} |")
    return lines


STAGE_PROBLEMS = (
    ("gaussian2d", "vp", "uniform"),
    ("gaussian2d", "vp", "quadratic"),
    ("gaussian64", "vp", "quadratic"),
    ("gaussian64", "ve", "quadratic"),
    ("gaussian64", "edm", "karras"),
)


def stages_table(method: str, steps: tuple[int, ...]) -> list[str]:
    """Exact W2 of a single-step DPM-Solver++ with its stages at fractions of the step in the
    integration clock (``stages="time"``) and in lambda (``"logsnr"``), from the true law at
    t_max."""
    makers = {**PROCESSES, "edm": revsde.EDMSDE}
    lines = [
        "| problem, grid | " + " | ".join(f"{n} steps: time / logsnr" for n in steps) + " |",
        "|---" * (len(steps) + 1) + "|",
    ]
    for target, sde_name, spacing in STAGE_PROBLEMS:
        cells = []
        for n in steps:
            w = {
                st: exact_solve(
                    makers[sde_name](),
                    TARGETS[target](),
                    method,
                    n,
                    start="exact",
                    spacing=spacing,
                    stages=st,
                ).w2
                for st in ("time", "logsnr")
            }
            a, b = w["time"], w["logsnr"]
            cells.append(f"**{a:.2g}** / {b:.2g}" if a < b else f"{a:.2g} / **{b:.2g}**")
        lines.append(f"| {target}, {sde_name}, {spacing} | {' | '.join(cells)} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--plots", type=Path, help="directory for exact-<target>-<sde>.png")
    parser.add_argument("--targets", default="gaussian2d,gaussian64,gaussian3072")
    args = parser.parse_args()
    start = time.perf_counter()
    md = [
        "# Exact error curves on Gaussian targets",
        "",
        "Produced by `python benchmarks/exact.py --markdown docs/benchmarks/exact.md --plots "
        "docs/benchmarks` "
        f"on {platform.machine()} ({platform.processor() or 'cpu'}), torch {torch.__version__}.",
        "",
        "Every number is the exact W2 distance between a method's output law at t_min and the "
        "true law there (`revsde.evaluation.exact`): no sampling, so no noise floor. Each method "
        "starts from the true law at t_max on its default grid; the cell shows the W2 at the "
        "largest step count within the budget and its NFE in brackets.",
        "",
    ]
    for target in args.targets.split(","):
        for sde in ("vp", "ve"):
            t0 = time.perf_counter()
            study = run_study(sde=sde, target=target, steps=STEPS, exact=True)
            seconds = time.perf_counter() - t0
            md += [f"## {target}, {sde} ({seconds:.0f} s)", "", *curves_table(study), ""]
            md += [f"Most accurate: {winners(study)}.", ""]
            if study.not_exact:
                md += [
                    "No exact law: "
                    + "; ".join(f"`{m}` ({why})" for m, why in study.not_exact.items()),
                    "",
                ]
            if args.plots:
                args.plots.mkdir(parents=True, exist_ok=True)
                path = args.plots / f"exact-{target}-{sde}.png"
                plot(study, path)
                md += [f"![exact W2, {target}, {sde}](exact-{target}-{sde}.png)", ""]
            print(f"{target}/{sde}: {len(study.runs)} runs in {seconds:.1f} s", flush=True)
    for sde in ("vp", "ve"):
        md += [
            f"## Error split, gaussian64, {sde}, from the prior, denoised",
            "",
            "Pierret & Galerne's decomposition: initialization (the exact reverse process from "
            "the prior instead of p_T), discretization (the sampler against that process), "
            "truncation (Tweedie's estimate of the true x at t_min against the data), and the "
            "total W2 of the denoised output to the data law (at most their sum).",
            "",
            *split_table(sde, "gaussian64", (10, 20, 50)),
            "",
        ]
    for target in ("gaussian2d", "gaussian64"):
        md += [
            f"## Ancestral sampling's variance per process, {target}",
            "",
            'Exact W2 at t_min of `ancestral` with std² = b² (`variance="beta"`) and with the '
            'posterior\'s b² σ²_lo/σ²_hi (`"posterior"`), from the true law at t_max, uniform '
            "grid; the smaller in bold. The last column is the variance the default "
            '`variance="auto"` uses on that process.',
            "",
            *ancestral_table(target, (10, 20, 50, 100, 200)),
            "",
        ]
    for method in ("dpmpp_3s", "dpmpp_2s"):
        md += [
            f"## `{method}`: stages in the integration clock or in λ",
            "",
            "Exact W2 at t_min from the true law at t_max with the stages at fractions of the "
            'step in the integration clock (`stages="time"`, the default) and of h in λ '
            '(`stages="logsnr"`, as DPM-Solver places them); the smaller in bold.',
            "",
            *stages_table(method, (4, 8, 16)),
            "",
        ]
    md.append(f"Total time {time.perf_counter() - start:.0f} s.")
    text = "\n".join(md) + "\n"
    if args.markdown:
        args.markdown.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
