"""Per-step cost of ``solvers.sdeint(method="euler")`` beside a minimal in-place torch loop and
``torchsde.sdeint`` with the same method, on two problems:

- ``ou``: a diagonal Ornstein–Uhlenbeck SDE (the loop's own overhead);
- ``reverse``: the reverse VP SDE of a diffusion, with revsde's default argument checks, against
  a hand-written loop that calls the same score (built on a process with its checks off) with
  float coefficients: the exact 2-D mixture score at batch 8 and 1000x2, and a small
  convolutional noise-prediction network through ``ScoreAdapter`` at 64x3x32x32.

Everything runs under ``torch.no_grad()``, as sampling does. The implementations run
interleaved (A, B, C, A, B, C, ...) so that machine noise hits them alike; the table gives the
fastest of the repeats per step (the least disturbed by other load, as ``timeit`` advises) and
the ratio to the minimal (or hand) loop as the median, over repeats, of the ratio of the two
back-to-back runs of that repeat (robust to load that drifts between repeats).

    python benchmarks/speed.py                       # CPU, both problems
    python benchmarks/speed.py --device cuda --markdown docs/benchmarks/speed-cuda.md

Two more suites (``--suite``):

- ``seeds``: the cost of per-sample seeds (``generator=`` one integer seed per sample:
  counter-based noise) and of per-sample ``torch.Generator`` s against one generator, for the
  stochastic samplers at batch 512, 50 steps, with three models: a trivial linear score (the
  loop alone, the worst case), the exact 2-D mixture score, and a small MLP noise network.
- ``unet``: wall time per image of a 35.7 M-parameter diffusers ``UNet2DModel`` (the DDPM
  CIFAR-10 configuration, random weights, 3x32x32) at 20 model evaluations: revsde eager
  (``unipc``, 19 steps and Tweedie's step), captured as a CUDA graph (``cuda_graph=True``) and
  with the score compiled (``compile=True``), against diffusers' own loop with its
  ``UniPCMultistepScheduler`` (20 steps: ``set_timesteps``, the network, ``step``), and a
  hand-written DDIM loop over the same network (the floor: the network and one fused update).
  Batches 1, 16 and 256; needs diffusers (the ``peers`` extra).

    python benchmarks/speed.py --suite seeds --device cuda --json seeds-cuda.json
    python benchmarks/speed.py --suite unet --device cuda --json unet-cuda.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time

import torch
import torchsde

import revsde
from revsde import solvers
from revsde.evaluation.problems import mixture_2d
from revsde.solvers.problems import OU


def minimal_loop(sde, y0, n_steps, T=1.0):
    """The floor: the same f and g calls, one reused noise buffer, in-place updates."""
    dt = T / n_steps
    sqrt_dt = math.sqrt(dt)
    y = y0.clone()
    noise = torch.empty_like(y)
    t = torch.zeros((), dtype=y.dtype, device=y.device)
    for _ in range(n_steps):
        f, g = sde.f(t, y), sde.g(t, y)
        y.add_(f, alpha=dt).addcmul_(g, noise.normal_(0.0, sqrt_dt))
        t = t + dt
    return y


def ours(sde, y0, n_steps, T=1.0):
    return solvers.sdeint(sde, y0, [0.0, T], method="euler", dt=T / n_steps, final_only=True)


def theirs(sde, y0, n_steps, T=1.0):
    ts = torch.tensor([0.0, T], dtype=y0.dtype, device=y0.device)
    # dt a hair above T/n so that rounding never leaves torchsde a ~1e-16 last step
    return torchsde.sdeint(sde, y0, ts, method="euler", dt=T / n_steps * (1 + 1e-10))[-1]


class TinyEpsNet(torch.nn.Module):
    """A small convolutional noise predictor for the image-shaped reverse SDE."""

    def __init__(self, channels=3, width=32):
        super().__init__()
        self.inp = torch.nn.Conv2d(channels, width, 3, padding=1)
        self.out = torch.nn.Conv2d(width, channels, 3, padding=1)

    def forward(self, x, t):
        h = torch.nn.functional.silu(self.inp(x) + t.reshape(-1, 1, 1, 1).to(x.dtype))
        return self.out(h)


def reverse_problem(shape, device, dtype):
    """(checked reverse SDE, unchecked score for the hand loop) for a state of ``shape``."""
    checked, unchecked = revsde.VPSDE(), revsde.VPSDE(validate_args=False)
    if len(shape) == 2:
        target = mixture_2d()
        score, raw = target.score(checked), target.score(unchecked)
    else:
        net = TinyEpsNet(shape[1]).to(device=device, dtype=dtype)
        score = revsde.ScoreAdapter(net, checked, prediction="eps")
        raw = revsde.ScoreAdapter(net, unchecked, prediction="eps")
    return checked.reverse(score), raw


def hand_reverse_loop(rsde, score, y0, n_steps):
    """Euler–Maruyama on the reverse VP SDE written by hand: float coefficients, one reused
    noise buffer, in-place updates, no checks."""
    sde = rsde.sde
    h = rsde.s_max / n_steps
    y = y0.clone()
    noise = torch.empty_like(y)
    for i in range(n_steps):
        t = rsde.t_max - i * h
        beta = sde.beta_min + t * (sde.beta_max - sde.beta_min)
        s = score(y, torch.full((), t, dtype=y.dtype, device=y.device))
        y.add_(y, alpha=0.5 * beta * h).add_(s, alpha=beta * h)
        y.add_(noise.normal_(0.0, math.sqrt(beta * h)))
    return y


def ours_reverse(rsde, y0, n_steps):
    ts = rsde.times(n_steps, dtype=y0.dtype, device=y0.device)
    return solvers.sdeint(rsde, y0, ts, method="euler", dt=None, final_only=True)


def bench_reverse(shape, args, device, dtype):
    rsde, raw = reverse_problem(shape, device, dtype)
    y = torch.randn(shape, dtype=dtype, device=device)
    impls = {
        "hand-written loop": (lambda n: hand_reverse_loop(rsde, raw, y, n), args.steps),
        "revsde sdeint": (lambda n: ours_reverse(rsde, y, n), args.steps),
    }
    return _time(impls, args, device)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench(shape, args, device, dtype):
    """Fastest seconds per step of each implementation on a zero state of ``shape``. Our loop
    and the minimal loop take the state as it is; torchsde needs (batch, d), so an
    image-shaped state reaches it flattened."""
    sde = OU()
    y = torch.zeros(shape, dtype=dtype, device=device)
    y_flat = y.reshape(shape[0], -1)
    impls = {
        "minimal loop": (lambda n: minimal_loop(sde, y, n), args.steps),
        "revsde sdeint": (lambda n: ours(sde, y, n), args.steps),
        "torchsde sdeint": (lambda n: theirs(sde, y_flat, n), args.torchsde_steps),
    }
    return _time(impls, args, device)


def _time(impls, args, device):
    times = {name: [] for name in impls}
    for fn, n in impls.values():  # warm-up
        fn(min(n, 20))
    for _ in range(args.repeats):
        for name, (fn, n) in impls.items():
            sync(device)
            start = time.perf_counter()
            fn(n)
            sync(device)
            times[name].append((time.perf_counter() - start) / n)
    base = next(iter(times.values()))
    # the ratio of each repeat's back-to-back runs, median over repeats: load that drifts
    # between repeats cancels in it, as it does not in a ratio of two separate minima
    ratios = {
        name: statistics.median(a / b for a, b in zip(v, base, strict=True))
        for name, v in times.items()
    }
    return {name: {"seconds_per_step": min(v), "ratio": ratios[name]} for name, v in times.items()}


# ----- per-sample noise -----


def bench_seeds(args, device):
    """Seconds per solve (fastest of ``args.repeats``) with one generator, per-sample seeds
    and per-sample generators, per (model, method)."""
    from revsde.models.nets import ScoreMLP

    sde = revsde.VPSDE()
    torch.manual_seed(0)
    models = {
        "linear score": lambda x, t: -x,
        "mixture score": mixture_2d().score(sde),
        "MLP(64)": revsde.ScoreAdapter(ScoreMLP(2, hidden=64).to(device), sde, "eps"),
    }
    batch, steps = 512, 50
    x = torch.randn(batch, 2, device=device)
    seeds = torch.arange(batch, device=device)
    gens = [torch.Generator(device=device).manual_seed(i) for i in range(batch)]
    results = {}
    for model, score in models.items():
        for method in ("euler", "sra1", "ancestral", "ddim", "dpmpp_2m_sde", "sa_solver"):
            options = {"eta": 1.0} if method == "ddim" else {}
            problem = sde.reverse(score)
            ts = problem.times(steps, device=device)

            def run(generator, problem=problem, ts=ts, method=method, options=options):
                solvers.solve(
                    problem, x, ts, method, generator=generator, final_only=True, **options
                )
                if device.type == "cuda":
                    torch.cuda.synchronize()

            one = torch.Generator(device=device).manual_seed(0)
            for gen in (one, seeds, gens):  # warm-up
                run(gen)
            times = {"one generator": [], "per-sample seeds": [], "per-sample generators": []}
            for _ in range(args.repeats):
                for name, gen in (
                    ("one generator", one),
                    ("per-sample seeds", seeds),
                    ("per-sample generators", gens),
                ):
                    start = time.perf_counter()
                    run(gen)
                    times[name].append(time.perf_counter() - start)
            base = min(times["one generator"])
            results[f"{model}, {method}"] = {
                name: {"seconds": min(v), "ratio": min(v) / base} for name, v in times.items()
            }
            r = results[f"{model}, {method}"]
            print(
                f"{model:14s} {method:13s} one {base * 1e3:8.2f} ms  seeds "
                f"{r['per-sample seeds']['ratio']:.2f}x  generators "
                f"{r['per-sample generators']['ratio']:.1f}x",
                flush=True,
            )
    return results


# ----- a 35 M-parameter UNet: revsde eager, captured and compiled, diffusers, a hand loop -----


def cifar_unet(device):
    """diffusers' UNet2DModel in the DDPM CIFAR-10 configuration (35.7 M parameters), random
    weights."""
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    return (
        UNet2DModel(
            sample_size=32,
            in_channels=3,
            out_channels=3,
            layers_per_block=2,
            block_out_channels=(128, 256, 256, 256),
            down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
        )
        .to(device)
        .eval()
    )


def bench_unet(args, device):
    from diffusers import DDPMScheduler, UniPCMultistepScheduler

    unet = cifar_unet(device)
    params = sum(p.numel() for p in unet.parameters())
    scheduler = UniPCMultistepScheduler.from_config(DDPMScheduler().config)
    sde = revsde.DiscreteVPSDE.from_scheduler(scheduler)
    adapter = revsde.ScoreAdapter(unet, sde, "epsilon", time_input="index")
    nfe = 20
    abar = scheduler.alphas_cumprod.to(device)

    def diffusers_loop(batch):
        scheduler.set_timesteps(nfe, device=device)
        x = torch.randn(batch, 3, 32, 32, device=device)
        for t in scheduler.timesteps:
            x = scheduler.step(unet(x, t).sample, t, x).prev_sample
        return x

    steps = torch.linspace(999, 0, nfe, device=device).round().long()

    def hand_loop(batch):
        """DDIM (eta = 0) over the same network: the network and one fused update per step."""
        x = torch.randn(batch, 3, 32, 32, device=device)
        for i, t in enumerate(steps):
            a = abar[t]
            a_next = abar[steps[i + 1]] if i + 1 < nfe else torch.ones((), device=device)
            eps = unet(x, t).sample
            x0 = (x - (1 - a).sqrt() * eps) / a.sqrt()
            x = a_next.sqrt() * x0 + (1 - a_next).sqrt() * eps
        return x

    def revsde_run(batch, **kw):
        return revsde.sample(
            sde,
            adapter,
            (batch, 3, 32, 32),
            "unipc",
            steps=nfe - 1,
            device=device,
            generator=list(range(batch)),
            **kw,
        )

    runs = {
        "hand-written DDIM loop": hand_loop,
        "diffusers UniPC loop": diffusers_loop,
        "revsde eager": revsde_run,
    }
    if device.type == "cuda":
        runs["revsde cuda_graph"] = lambda b: revsde_run(b, cuda_graph=True)
    compile_batches = {int(b) for b in args.compile_batches.split(",") if b}
    results = {}
    for batch in [int(b) for b in args.unet_batches.split(",")]:
        todo = dict(runs)
        if batch in compile_batches:  # last: its compilation takes the longest
            todo["revsde compiled"] = lambda b: revsde_run(b, compile=True)
        row = {}
        for name, fn in todo.items():
            start = time.perf_counter()
            try:
                fn(batch)  # warm-up: capture, compilation, lazy initialisation
            except Exception as exc:  # report the row's failure, measure the others
                print(f"batch {batch:4d} {name:24s} failed: {exc}", flush=True)
                row[name] = {"error": str(exc)[:500]}
                continue
            if device.type == "cuda":
                torch.cuda.synchronize()
            first = time.perf_counter() - start
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                fn(batch)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - start)
            best = statistics.median(times)
            row[name] = {"seconds_per_image": best / batch, "first_call_seconds": first}
            print(
                f"batch {batch:4d} {name:24s} {best / batch * 1e3:9.3f} ms/image "
                f"(first call {first:.2f} s)",
                flush=True,
            )
        base = row["diffusers UniPC loop"]["seconds_per_image"]
        for v in row.values():
            if "seconds_per_image" in v:
                v["vs diffusers"] = v["seconds_per_image"] / base
        results[f"batch {batch}"] = row
        if args.json:  # after every batch, so that a run cut short keeps what it measured
            with open(args.json, "w") as fh:
                json.dump({"partial": True, "parameters": params, "results": results}, fh)
    return {"parameters": params, "evaluations": nfe, "results": results}


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="1000x2,10000x64,64x3x32x32", help="OU batch shapes, comma-separated"
    )
    parser.add_argument(
        "--reverse-sizes",
        default="8x2,1000x2,64x3x32x32",
        help="reverse-SDE batch shapes, comma-separated",
    )
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument(
        "--torchsde-steps",
        type=int,
        default=200,
        help="torchsde is slow; fewer steps, per-step cost reported",
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--suite", default="loop", choices=["loop", "seeds", "unet"])
    parser.add_argument("--unet-batches", default="1,16,256")
    parser.add_argument(
        "--compile-batches", default="16", help="batches of the unet suite that compile"
    )
    parser.add_argument("--json", help="write the results as JSON here")
    parser.add_argument("--markdown", help="write the table as Markdown here")
    args = parser.parse_args(argv)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    header = (
        f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
        f"torch {torch.__version__} (threads {torch.get_num_threads()}), "
        f"torchsde {torchsde.__version__}, python {platform.python_version()}, "
        f"device {device}, {args.dtype}"
    )
    if args.suite == "loop":
        header += (
            f", {args.steps} steps ({args.torchsde_steps} for torchsde), fastest of {args.repeats}"
        )
    else:
        header += f", suite {args.suite}, {args.repeats} repeats"
    print(header)
    if args.suite != "loop":
        with torch.no_grad():
            found = (bench_seeds if args.suite == "seeds" else bench_unet)(args, device)
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(
                    {"machine": header, "suite": args.suite, **{"results": found}}, fh, indent=2
                )
        return
    rows, results = [], {}
    jobs = [("ou", size, bench) for size in args.sizes.split(",") if size]
    jobs += [("reverse", size, bench_reverse) for size in args.reverse_sizes.split(",") if size]
    with torch.no_grad():
        for problem, size, fn in jobs:
            shape = tuple(int(s) for s in size.split("x"))
            r = results[f"{problem} {size}"] = fn(shape, args, device, dtype)
            for name, v in r.items():
                rows.append(
                    f"| {problem} | {size} | {name} | {v['seconds_per_step'] * 1e6:.1f} | "
                    f"{v['ratio']:.2f}x |"
                )
    table = (
        "| problem | batch | implementation | µs / step (fastest) | vs minimal or hand loop "
        "(median of paired ratios) |\n"
        "|---|---|---|---|---|\n" + "\n".join(rows)
    )
    print(table)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"machine": header, "results": results}, fh, indent=2)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(f"{header}\n\n{table}\n")


if __name__ == "__main__":
    main()
