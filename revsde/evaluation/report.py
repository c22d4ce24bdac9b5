"""A study's report: the table and budgets printed, the JSON, CSV and plot written."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from .monte_carlo import (
    MORE_DRAWS_STEPS,
    REFERENCE_COARSE_STRIDE,
    REFERENCE_ODE_TOL,
    REFERENCE_SDE_METHOD,
    REFERENCE_SDE_STEPS,
)
from .results import Study, best_per_budget, fewest_evaluations


def _fmt(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.3g}"


def _sizes(study: Study) -> str:
    extra = study.sde_samples not in (None, study.samples)
    more = f" ({study.sde_samples} for SDE methods at up to {MORE_DRAWS_STEPS} steps)"
    return f"{study.samples} samples" + (more if extra else "")


def print_table(study: Study) -> None:
    coupled = study.metric == "coupled" and not (study.exact or study.checkpoint)
    if study.exact:
        print(f"{study.target} via the {study.sde} reverse SDE, exact laws, error at t_min")
        header = f"{'exact W2':>10} {'KL':>10}"
    else:
        print(f"{study.target} via the {study.sde} reverse SDE, {_sizes(study)}, error at t_min")
        header = f"{'sliced W2':>10} {'moment W2':>10}"
        if coupled:
            header = f"{'coupled':>10} {'± noise':>9} {'sliced W2':>10}"
    if study.checkpoint:
        header = f"{'vs fine':>10} {'coupled':>10} {'± noise':>9} {'to data':>10}"
    w = max([18, *(len(r.method) for r in study.runs)])
    print(f"{'method':>{w}} {'grid':>10} {'steps':>6} {'NFE':>6} {header} {'seconds':>8}")
    for r in study.runs:
        first = study.error(r)
        second = r.kl if study.exact else r.moment_w2
        errors = f"{first:10.4g} {second:10.4g}"
        ci = f"  ±{r.sliced_w2_ci:.2g} ±{r.moment_w2_ci:.2g}" if r.sliced_w2_ci is not None else ""
        if study.checkpoint:
            errors = f"{r.sliced_w2:10.4g} {r.coupled:10.4g} {r.coupled_noise:9.2g} {second:10.4g}"
        if coupled:
            errors = f"{r.coupled:10.4g} {r.coupled_noise:9.2g} {r.sliced_w2:10.4g}"
            ci = f"  ±{r.coupled_ci:.2g} ±{r.sliced_w2_ci:.2g}" if r.coupled_ci is not None else ""
        print(
            f"{r.method:>{w}} {r.spacing:>10} {r.steps:6d} {r.nfe:6d} {errors} {r.seconds:8.2f}{ci}"
        )
    if study.seeds > 1:
        print(f"mean over {study.seeds} seeds, ± the 95% confidence half-widths")
    if study.exact:
        for method, reason in study.not_exact.items():
            print(f"no exact law for {method}: {reason}")
        print("slope of log(exact W2) vs log(NFE):")
    elif coupled:
        sde, ode = study.reference_check["sde"], study.reference_check["ode"]
        print(
            "coupled: moment error against a fine solve from the same draws and Brownian path "
            f"({REFERENCE_SDE_STEPS} {REFERENCE_SDE_METHOD} steps, SDE methods; dopri5 at "
            f"{REFERENCE_ODE_TOL:g}, ODE methods); errors below twice the noise are not resolved"
        )
        print(
            f"the fine solves against ones half as fine: SDE {sde[0]:.2g} (noise {sde[1]:.2g}), "
            f"ODE {ode[0]:.2g} (noise {ode[1]:.2g})"
        )
        if "sde coarse" in study.reference_check:
            coarse = study.reference_check["sde coarse"]
            print(
                f"the extra SDE draws' reference ({REFERENCE_SDE_STEPS // REFERENCE_COARSE_STRIDE} "
                f"{REFERENCE_SDE_METHOD} steps) against the fine one: {coarse[0]:.2g} (noise "
                f"{coarse[1]:.2g}), corrected for on the first draws"
            )
        print(f"sliced W2 noise floor: {study.noise_floor_sliced_w2:.4f}")
        print("slope of log(coupled error) vs log(NFE), over points above twice their noise:")
    elif study.checkpoint:
        print(f"noise floor of 'vs fine': sliced W2 {study.noise_floor_sliced_w2:.4f}")
        print("slope of log(coupled) vs log(NFE), over points above twice their noise:")
    else:
        floors = study.noise_floor_sliced_w2, study.noise_floor_moment_w2
        print(f"noise floor: sliced W2 {floors[0]:.4f}, moment W2 {floors[1]:.4f}")
        print("slope of log(sliced W2) vs log(NFE), over points above twice the floor:")
    for method, slope in study.slopes.items():
        print(f"{method:>{w}} {_fmt(slope)}")


def print_budgets(study: Study, budgets: tuple[int, ...], target_error: float | None) -> None:
    """Which method wins within each evaluation budget, and (with ``target_error``) the
    fewest evaluations each method needs to reach that error."""
    print("most accurate within each budget of evaluations:")
    for b, (method, err) in best_per_budget(study, budgets).items():
        print(f"{'<= ' + str(b):>10} NFE: {method} ({err:.3g})")
    if target_error is not None:
        print(f"fewest evaluations to reach error {target_error:g}:")
        reach = fewest_evaluations(study, target_error)
        w = max([18, *map(len, reach)])
        for method, nfe in sorted(reach.items(), key=lambda kv: (kv[1] is None, kv[1] or 0)):
            print(f"{method:>{w}} {'not reached' if nfe is None else nfe}")


def _strict_json(value):
    """``value`` with every NaN and infinity as ``None`` (JSON's null): strict JSON readers
    refuse the bare ``NaN`` that Python's json writes."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict_json(v) for v in value]
    return value


def write_outputs(study: Study, out: Path, target_error: float | None = None) -> list[Path]:
    """``out``/compare.json (strict JSON: a missing number is null), compare.csv and
    compare.png."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "compare.json", out / "compare.csv", out / "compare.png"]
    paths[0].write_text(json.dumps(_strict_json(study.to_dict()), indent=2, allow_nan=False))
    with paths[1].open("w", newline="") as fh:
        writer = csv.writer(fh)
        second = "exact_w2" if study.exact else "moment_w2"
        columns = ["method", "spacing", "steps", "nfe", "sliced_w2", second, "kl"]
        writer.writerow([*columns, "coupled", "coupled_noise", "seconds"])
        for r in study.runs:
            errors = [r.sliced_w2, r.moment_w2, r.kl, r.coupled, r.coupled_noise]
            writer.writerow([r.method, r.spacing, r.steps, r.nfe, *errors, r.seconds])
    plot(study, paths[2], target_error)
    return paths


def identical_curves(study: Study) -> list[list[str]]:
    """The methods grouped by their error curve: methods whose (NFE, error) points are
    bit-identical form one group."""
    groups: dict[tuple, list[str]] = {}
    for method in study.slopes:
        key = tuple((r.nfe, study.error(r), r.moment_w2) for r in study.runs if r.method == method)
        groups.setdefault(key, []).append(method)
    return list(groups.values())


def plot(study: Study, path: Path, target_error: float | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = identical_curves(study)
    fig, ax = plt.subplots(figsize=(7 if len(groups) <= 8 else 10, 5))
    if len(groups) > 10:  # the default cycle repeats after 10 colours
        ax.set_prop_cycle(color=plt.get_cmap("tab20").colors)
    for methods in groups:
        rows = [r for r in study.runs if r.method == methods[0]]
        # bit-identical methods (euler and milstein on additive noise) share one curve
        label = " = ".join(methods)
        nfe, err = [r.nfe for r in rows], [study.error(r) for r in rows]
        (line,) = ax.loglog(nfe, err, marker="o", label=label)
        if study.metric == "coupled" and not (study.exact or study.checkpoint):
            # hollow: not resolved (below twice the run's Monte Carlo noise)
            low = [(n, e) for n, e, r in zip(nfe, err, rows, strict=True) if e < 2 * study.floor(r)]
            if low:
                ax.plot(*zip(*low, strict=True), "o", color="white", mec=line.get_color(), ms=5)
        cis = [r.coupled_ci if study.metric == "coupled" else r.sliced_w2_ci for r in rows]
        if cis[0] is not None and not study.exact and not study.checkpoint:
            low = [max(e - c, e * 1e-3) for e, c in zip(err, cis, strict=True)]
            high = [e + c for e, c in zip(err, cis, strict=True)]
            ax.fill_between(nfe, low, high, color=line.get_color(), alpha=0.2)
        reached = fewest_evaluations(study, target_error).get(methods[0]) if target_error else None
        if reached is not None:
            hit = next(r for r in rows if r.nfe == reached)
            ax.plot([reached], [study.error(hit)], marker="*", ms=14, color=line.get_color())
    if target_error is not None:
        ax.axhline(target_error, color="black", linewidth=0.8, label=f"target {target_error:g}")
    ax.set_xlabel("score evaluations (NFE)")
    if study.checkpoint:
        ax.set_ylabel("sliced W2 of the denoised samples to held-out data")
        ax.set_title(f"{study.target}: learned model, {study.samples} samples")
    elif study.exact:
        ax.set_ylabel("exact W2 to the true law at t_min")
        ax.set_title(f"{study.target}, {study.sde} SDE, exact laws (no Monte Carlo)")
    elif study.metric == "coupled":
        ax.set_ylabel("coupled moment error (vs a fine solve)")
        ax.set_title(f"{study.target}, {study.sde} SDE, {_sizes(study)} (hollow: within noise)")
    else:
        ax.axhline(
            study.noise_floor_sliced_w2,
            color="gray",
            linestyle="--",
            label="Monte Carlo noise floor",
        )
        ax.set_ylabel("sliced W2 to the exact law at t_min")
        ax.set_title(f"{study.target}, {study.sde} SDE, {study.samples} samples")
    ax.grid(True, which="both", alpha=0.3)
    if len(groups) <= 8:
        ax.legend(fontsize=8)
    else:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
