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
    parser.add_argument("--json", help="write the results as JSON here")
    parser.add_argument("--markdown", help="write the table as Markdown here")
    args = parser.parse_args(argv)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    header = (
        f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
        f"torch {torch.__version__} (threads {torch.get_num_threads()}), "
        f"torchsde {torchsde.__version__}, python {platform.python_version()}, "
        f"device {device}, {args.dtype}, {args.steps} steps "
        f"({args.torchsde_steps} for torchsde), fastest of {args.repeats}"
    )
    print(header)
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
