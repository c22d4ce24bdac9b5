"""Adaptive steps against fixed grids, on two problems (VP process, float64, x_T from the N(0, I)
prior, exact scores, Tweedie's step at t_min counted as an evaluation):

1. the 2-D mixture of ``revsde compare``, scored by the responsibility-weighted moment error
   (``revsde.evaluation.metrics.mixture_moment_error``; its Monte Carlo floor is printed), and
   for the reverse SDE also by a coupled weak error (``coupled_rows``: each run on the same x_T and
   Brownian path as a 4000-step Euler reference, the Monte Carlo noise largely cancelling);
2. the d = 64 anisotropic Gaussian of ``revsde compare --exact`` (variances 0.01 to 3 along a
   random basis), scored with no Monte Carlo noise: the exact W2 distance of the output law at
   t_min to the law of the exact reverse process (or probability-flow ODE) from the same start
   (the discretization part of ``revsde.evaluation.exact``'s split: the prior's initialization
   error, 0.024 for the ODE here, is the same for every method and is left out). A fixed-step
   method's law is exact for its grid; an adaptive run first chooses its grid on a batch of
   4000 samples (``SolveStats.accepted_times``), and the law reported is the method's on that
   grid (for the ODE the benchmark checks that the run's output is that fixed-step solve).

Methods: on the reverse SDE, Euler–Maruyama at fixed step counts against ``ggf`` (Gotta Go
Fast) over an rtol sweep with atol = rtol and atol = rtol / 10, and with revsde's
``error_scale="noise"`` and ``"data"`` over an atol sweep; on the probability-flow ODE,
Heun at fixed step counts on the uniform and quadratic grids against ``bosh3``, ``dopri5``,
``dpmpp_2s`` (DPM-Solver-12) and ``dpmpp_3s`` (DPM-Solver-23) over an rtol sweep (atol =
rtol), and, on the mixture, k-diffusion's ``sample_dpm_adaptive`` (DPM-Solver-23 in noise
prediction, its defaults but rtol = atol swept) from the same x_T, ending at the same t_min
with the same Tweedie step.

    python benchmarks/adaptive.py --markdown docs/benchmarks/adaptive.md
    python benchmarks/adaptive.py --samples 10000000 --device cuda --sections mixture
"""

from __future__ import annotations

import argparse
import platform

import peers
import torch

import revsde
from revsde import solvers
from revsde.evaluation.exact import exact_solve
from revsde.evaluation.metrics import coupled_moment_error, mixture_moment_error
from revsde.evaluation.problems import gaussian_64, mixture_2d

D64 = torch.float64
SDE_TOLS = (0.2, 0.1, 0.05, 0.02)
# ggf with error_scale="noise" (the error in units of the step's noise scale) and "data" (in
# units of its effect on the denoised sample): atol alone, swept
SCALED_TOLS = {
    "noise": (0.2, 0.1, 0.05, 0.02, 0.01, 0.005),
    "data": (0.04, 0.02, 0.015, 0.01, 0.0075, 0.005),
}
ODE_TOLS = (1e-2, 1e-3, 1e-4, 1e-5)
ODE_ADAPTIVE = ("bosh3", "dopri5", "dpmpp_2s", "dpmpp_3s")


def solve(rsde, x_T, method, seed, ts=None, **options):
    """(final state, evaluations with Tweedie's step, rejected steps, accepted grid)."""
    generator = torch.Generator(x_T.device).manual_seed(seed)
    ts = [0.0, rsde.s_max] if ts is None else ts
    with torch.no_grad():
        y, stats = solvers.solve(
            rsde,
            x_T,
            ts,
            method=method,
            final_only=True,
            generator=generator,
            **options,
        )
    return y, stats.nfe + 1, stats.rejected_steps, stats.accepted_times


def mixture_error(rsde, law, y):
    with torch.no_grad():
        return mixture_moment_error(rsde.predict_x0(rsde.s_max, y), law)


def k_diffusion_adaptive(sde, law, x_T, t_min, tol):
    """k-diffusion's DPM-Solver-23 in its VE coordinates x / alpha, sigma = sigma_t / alpha_t,
    from t = T to t_min, then the denoiser there (Tweedie's step)."""
    k = peers.k_diffusion_sampling()
    ends = torch.tensor([sde.T, t_min], dtype=D64)
    alpha, sigma = sde.alpha(ends), sde.sigma(ends)
    sigma_max, sigma_min = (sigma / alpha).tolist()

    def denoiser(x, s):
        return x + s.reshape(-1, 1) ** 2 * law.score_at(x, torch.ones((), dtype=D64), s)

    with torch.no_grad():
        x, info = k.sample_dpm_adaptive(
            denoiser,
            x_T / alpha[0],
            sigma_min,
            sigma_max,
            rtol=tol,
            atol=tol,
            return_info=True,
            disable=True,
        )
        x0 = denoiser(x, torch.full((x.shape[0],), sigma_min, dtype=D64, device=x.device))
    return mixture_moment_error(x0, law), info["nfe"] + 1, info["n_reject"]


def mixture_rows(samples, add, device):
    sde, law = revsde.VPSDE(), mixture_2d(D64)
    score = law.score(sde)
    rsde, rode = sde.reverse(score), sde.reverse(score, probability_flow=True)
    x_T = torch.randn(samples, 2, dtype=D64, generator=torch.Generator().manual_seed(0))
    x_T = x_T.to(device)
    floor = mixture_moment_error(
        law.sample(samples, generator=torch.Generator().manual_seed(1)), law
    )

    def run(problem, method, setting, rsde, method_label=None, **kw):
        y, nfe, rejected, _ = solve(rsde, x_T, method, 2, **kw)
        error = mixture_error(rsde, law, y)
        add("mixture", problem, method_label or method, setting, nfe, rejected, error)

    for n in (100, 200, 500, 1000):
        run("SDE", "euler", f"{n} steps", rsde, ts=rsde.times(n, device=device))
    for ratio in (1.0, 0.1):
        for tol in SDE_TOLS:
            kw = {"adaptive": True, "rtol": tol, "atol": tol * ratio}
            run("SDE", "ggf", f"rtol {tol}, atol {tol * ratio:.3g}", rsde, **kw)
    for scale, tols in SCALED_TOLS.items():
        for tol in tols:
            kw = {"adaptive": True, "atol": tol, "error_scale": scale}
            run("SDE", "ggf", f"atol {tol}", rsde, method_label=f"ggf, error_scale={scale}", **kw)
    for spacing in ("uniform", "quadratic"):
        for n in (10, 20, 50, 100):
            run(
                "ODE",
                "heun",
                f"{n} steps, {spacing}",
                rode,
                ts=rode.times(n, spacing=spacing, device=device),
            )
    for method in ODE_ADAPTIVE:
        for tol in ODE_TOLS:
            run("ODE", method, f"rtol {tol}", rode, adaptive=True, rtol=tol, atol=tol)
    for tol in (0.05, *ODE_TOLS):
        err, nfe, rejected = k_diffusion_adaptive(sde, law, x_T, rsde.t_min, tol)
        add("mixture", "ODE", "k-diffusion dpm_adaptive", f"rtol {tol}", nfe, rejected, err)
    return floor


def coupled_rows(samples, add, device):
    """The reverse SDE on the mixture, each run coupled to a 4000-step Euler–Maruyama
    reference through the same x_T and the same Brownian path (a torchsde BrownianInterval
    with ``halfway_tree=True``, whose path does not depend on where it is queried): the error
    is the norm of the difference of the two denoised samples' moment deviations, a weak error
    from which the Monte Carlo noise of the samples partly cancels. What is left is reported as
    ``noise``: the norm that a difference of pure noise with the rows' per-sample variances
    would have (its expectation for a zero error); an error below it is not resolved. The
    cancellation is only as good as the coupling: a coarse run's path strays from the fine
    reference's, so coarse runs carry more noise."""
    import torchsde

    sde, law = revsde.VPSDE(), mixture_2d(D64)
    rsde = sde.reverse(law.score(sde))
    x_T = torch.randn(samples, 2, dtype=D64, generator=torch.Generator().manual_seed(0))
    x_T = x_T.to(device)

    def run(method, ts=None, **options):
        bm = torchsde.BrownianInterval(
            t0=0.0,
            t1=rsde.s_max,
            size=x_T.shape,
            dtype=D64,
            device=device,
            entropy=11,
            tol=1e-6,
            halfway_tree=True,
        )
        ts = [0.0, rsde.s_max] if ts is None else ts
        with torch.no_grad():
            y, stats = solvers.solve(
                rsde, x_T, ts, bm=bm, method=method, final_only=True, **options
            )
            x0 = rsde.predict_x0(rsde.s_max, y)
        return x0, stats.nfe + 1, stats.rejected_steps

    reference, _, _ = run("euler", rsde.times(4000, dtype=D64, device=device))

    def add_run(method, setting, result):
        x0, nfe, rejected = result
        # per sample: the coupling cancels their common noise; errors below `noise` are noise
        error, noise = coupled_moment_error(x0, reference, law)
        add("mixture, coupled", "SDE", method, setting, nfe, rejected, error, noise)

    for n in (250, 500, 1000):
        add_run("euler", f"{n} steps", run("euler", rsde.times(n, dtype=D64, device=device)))
    for n in (62, 125, 250):  # the adaptive pair's own method on a fixed uniform grid
        add_run("ggf", f"{n} steps, uniform", run("ggf", rsde.times(n, dtype=D64, device=device)))
    for ratio in (1.0, 0.1):
        for tol in (*SDE_TOLS, 0.01):
            options = {"adaptive": True, "rtol": tol, "atol": tol * ratio}
            add_run("ggf", f"rtol {tol}, atol {tol * ratio:.3g}", run("ggf", **options))
    for scale, tols in SCALED_TOLS.items():
        for tol in tols:
            options = {"adaptive": True, "atol": tol, "error_scale": scale}
            add_run(f"ggf, error_scale={scale}", f"atol {tol}", run("ggf", **options))


def gaussian_rows(add):
    sde, law = revsde.VPSDE(), gaussian_64()
    score = law.score(sde)
    rsde, rode = sde.reverse(score), sde.reverse(score, probability_flow=True)
    x_T = torch.randn(4000, 64, dtype=D64, generator=torch.Generator().manual_seed(0))

    def exact(method, ts, ode):
        grid = rsde.t_max - torch.as_tensor(ts, dtype=D64)  # forward times, t_max first
        return exact_solve(sde, law, method, len(grid) - 1, spacing=grid, probability_flow=ode)

    def adaptive(problem, method, setting, r, label=None, **kw):
        y, nfe, rejected, grid = solve(r, x_T, method, 2, adaptive=True, **kw)
        if problem == "ODE":  # the adaptive run is the fixed-step solve on its accepted grid
            again, *_ = solve(r, x_T, method, 2, ts=torch.tensor(grid, dtype=D64))
            torch.testing.assert_close(y, again, rtol=1e-9, atol=1e-9)
        law_error = exact(method, grid, problem == "ODE").split()["discretization"]
        add("gaussian64", problem, label or method, setting, nfe, rejected, law_error)

    for n in (100, 200, 500, 1000):
        result = exact_solve(sde, law, "euler", n, spacing="uniform")
        error = result.split()["discretization"]
        add("gaussian64", "SDE", "euler", f"{n} steps", result.nfe, 0, error)
    for ratio in (1.0, 0.1):
        for tol in SDE_TOLS:
            setting = f"rtol {tol}, atol {tol * ratio:.3g}"
            adaptive("SDE", "ggf", setting, rsde, rtol=tol, atol=tol * ratio)
    for scale, tols in SCALED_TOLS.items():
        label = f"ggf, error_scale={scale}"
        for tol in tols:
            adaptive("SDE", "ggf", f"atol {tol}", rsde, label=label, atol=tol, error_scale=scale)
    for spacing in ("uniform", "quadratic"):
        for n in (10, 20, 50, 100):
            result = exact_solve(sde, law, "heun", n, spacing=spacing, probability_flow=True)
            error = result.split()["discretization"]
            add("gaussian64", "ODE", "heun", f"{n} steps, {spacing}", result.nfe, 0, error)
    for method in ODE_ADAPTIVE:
        for tol in ODE_TOLS:
            adaptive("ODE", method, f"rtol {tol}", rode, rtol=tol, atol=tol)
    gaussian_ve_rows(add)


def gaussian_ve_rows(add):
    """The reverse VE SDE (sigma from 0.01 to 50) of the same d = 64 Gaussian, from its N(0,
    sigma_max^2 I) prior, scored exactly as ``gaussian_rows`` does: Euler–Maruyama on the
    uniform grid against ``ggf`` with the paper's rule (atol = rtol / 10) and with
    ``error_scale="noise"`` and ``"data"``."""
    sde, law = revsde.VESDE(), gaussian_64()
    rsde = sde.reverse(law.score(sde))
    scale = float(sde.sigma(torch.tensor(rsde.t_max, dtype=D64)))
    x_T = scale * torch.randn(4000, 64, dtype=D64, generator=torch.Generator().manual_seed(0))

    def adaptive(label, setting, **kw):
        _, nfe, rejected, grid = solve(rsde, x_T, "ggf", 2, adaptive=True, **kw)
        forward = rsde.t_max - torch.as_tensor(grid, dtype=D64)
        result = exact_solve(sde, law, "ggf", len(forward) - 1, spacing=forward)
        error = result.split()["discretization"]
        add("gaussian64, VE", "SDE", label, setting, nfe, rejected, error)

    for n in (100, 200, 500, 1000):
        result = exact_solve(sde, law, "euler", n, spacing="uniform")
        error = result.split()["discretization"]
        add("gaussian64, VE", "SDE", "euler", f"{n} steps", result.nfe, 0, error)
    for tol in (*SDE_TOLS, 0.01):
        adaptive("ggf", f"rtol {tol}, atol {tol / 10:.3g}", rtol=tol, atol=tol / 10)
    for scale, tols in SCALED_TOLS.items():
        for tol in tols:
            adaptive(f"ggf, error_scale={scale}", f"atol {tol}", atol=tol, error_scale=scale)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--device", default="cpu", help="for the mixture's samples (both parts)")
    parser.add_argument("--coupled-samples", type=int, default=20_000)
    parser.add_argument(
        "--sections",
        default="gaussian64,coupled,mixture",
        help="which parts to run, comma-separated (e.g. only 'mixture' on a GPU)",
    )
    parser.add_argument("--markdown")
    args = parser.parse_args(argv)
    sections = set(args.sections.split(","))
    unknown = sections - {"gaussian64", "coupled", "mixture"}
    if unknown:
        parser.error(f"--sections: unknown {sorted(unknown)}; valid: gaussian64, coupled, mixture")
    rows = []

    def add(target, problem, method, setting, nfe, rejected, err, noise=None):
        rows.append((target, problem, method, setting, nfe, rejected, err, noise))
        print(
            f"{target:10} {problem:4} {method:26} {setting:24} nfe {nfe:5d} rej {rejected:3d} "
            f"err {err:.5f}" + ("" if noise is None else f" noise {noise:.5f}"),
            flush=True,
        )

    if "gaussian64" in sections:
        gaussian_rows(add)
    if "coupled" in sections:
        coupled_rows(args.coupled_samples, add, torch.device(args.device))
    floor = float("nan")
    if "mixture" in sections:
        floor = mixture_rows(args.samples, add, torch.device(args.device))
    described = {
        "mixture": f"mixture: {args.samples} samples, moment error (Monte Carlo floor {floor:.4f})",
        "coupled": f"mixture, coupled: {args.coupled_samples} samples, weak error against a "
        "4000-step Euler reference on the same x_T and Brownian path",
        "gaussian64": "gaussian64: exact W2 of the output law to the exact process's (no Monte "
        "Carlo noise)",
    }
    header = f"machine: {platform.machine()}, torch {torch.__version__}, {args.device}, float64; "
    header += "; ".join(text for name, text in described.items() if name in sections)
    table = "| target | problem | method | setting | NFE | rejected steps | error | noise |\n"
    table += "|---|---|---|---|---|---|---|---|\n"
    table += "\n".join(
        f"| {t} | {p} | {m} | {s} | {n} | {r} | {e:.5f} | {'' if z is None else f'{z:.5f}'} |"
        for t, p, m, s, n, r, e, z in rows
    )
    print(header)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(header + "\n\n" + table + "\n")


if __name__ == "__main__":
    main()
