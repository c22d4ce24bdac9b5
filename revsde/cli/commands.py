"""The ``revsde`` command line: ``revsde compare`` (also ``python -m revsde compare``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..evaluation.checkpoint_study import run_checkpoint_study
from ..evaluation.compare import DEFAULT_STEPS, METRICS, StudyConfig, run_study
from ..evaluation.monte_carlo import MORE_DRAWS_STEPS, SDE_SAMPLES_FACTOR
from ..evaluation.problems import EXACT_ONLY, GAUSSIAN_TARGETS, SDES, TARGETS
from ..evaluation.report import print_budgets, print_table, write_outputs
from ..processes.reverse import SPACINGS, parse_spacing
from ..solvers import SOLVERS


def _spacing(value: str) -> str:
    try:
        parse_spacing(value)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _rtol_list(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None
    if not values or any(not 0 < v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"every rtol must lie in (0, 1), got {text!r}")
    return values


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(
            f"every step count must be a positive integer, got {text!r}"
        )
    return values


def _methods(text: str) -> list[str]:
    methods = [m for m in text.split(",") if m]
    unknown = sorted(set(methods) - set(SOLVERS))
    if unknown or not methods:
        raise argparse.ArgumentTypeError(
            f"unknown method(s) {unknown}; valid methods are {sorted(SOLVERS)}"
        )
    return methods


def _at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        return value

    return parse


_positive = _at_least(1)
#: a Monte Carlo study's sample needs two draws for its spread
_two_or_more = _at_least(2)


class _Parser(argparse.ArgumentParser):
    """One line and exit status 2 for every error, the fix in the message: no usage block,
    no traceback."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="revsde", description="Score-based diffusion models as numerical SDEs.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    defaults = {"formatter_class": argparse.ArgumentDefaultsHelpFormatter}
    p = sub.add_parser(
        "compare",
        **defaults,
        help="solver accuracy against step count on a closed-form problem",
        description=(
            "Sample the exact law of a closed-form target through its reverse SDE "
            "(ODE-only methods: the probability-flow ODE) with each method at each step count, "
            "from the same draws at t_max and one Brownian path, and report the error at t_min: "
            "by default against a fine solve from the same draws and path (the coupled error, "
            "with its own Monte Carlo noise), also the sliced W2 to the exact law beside its "
            "noise floor."
        ),
    )
    p.add_argument("--sde", choices=sorted(SDES), default="vp", help="the forward process")
    p.add_argument(
        "--target", choices=sorted(TARGETS), default="mixture2d", help="the closed-form data law"
    )
    p.add_argument(
        "--methods",
        type=_methods,
        default=None,
        help=f"comma-separated, from {sorted(SOLVERS)} (default: all)",
    )
    p.add_argument(
        "--steps", type=_int_list, default=DEFAULT_STEPS, help="comma-separated step counts"
    )
    p.add_argument(
        "--spacing",
        type=_spacing,
        default=None,
        help=f"time grid for every method, one of {list(SPACINGS)} ('power:P' and "
        "'karras:RHO' set the parameter; default: each method's preferred grid)",
    )
    p.add_argument(
        "--adaptive",
        type=_rtol_list,
        nargs="?",
        const=(1e-1, 1e-2, 1e-3, 1e-4),
        default=(),
        help="also run the adaptive methods (those with an error estimate: "
        f"{', '.join(sorted(n for n, c in SOLVERS.items() if c.error_exponent is not None))}) "
        "with adaptive=True at these comma-separated rtol (= atol); alone: 1e-1,1e-2,1e-3,1e-4",
    )
    p.add_argument(
        "--exact",
        action="store_true",
        help="Gaussian targets: the exact output law of each method (no samples, no noise "
        "floor), its exact W2 and KL to the true law; methods without one are listed",
    )
    p.add_argument(
        "--samples", type=_two_or_more, default=4000, help="draws per run of the Monte Carlo study"
    )
    p.add_argument(
        "--sde-samples",
        type=_positive,
        default=None,
        help="draws for the runs of methods that read noise at up to "
        f"{MORE_DRAWS_STEPS} steps, whose coupled error is noisier at equal size (default: "
        f"{SDE_SAMPLES_FACTOR} x --samples, which resolves every method at 20 evaluations, "
        "fewer where their stored Brownian path would pass 1 GiB; at least --samples)",
    )
    p.add_argument(
        "--metric",
        choices=METRICS,
        default="coupled",
        help="the headline error of a Monte Carlo study: 'coupled' (default), the moment "
        "error against a fine solve from the same draws and Brownian path, whose noise falls "
        "with the run's pathwise error; 'sliced', the sliced W2 to an exact sample, whose noise "
        "floor does not",
    )
    p.add_argument(
        "--seeds",
        type=_positive,
        default=1,
        help="repeat the Monte Carlo study with this many seeds; errors get 95%% confidence "
        "intervals (table and plot)",
    )
    p.add_argument(
        "--target-error",
        type=float,
        default=None,
        help="mark, per method, the fewest evaluations that reach this error (plot and table)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the draws and the noise")
    p.add_argument("--device", default="cpu", help="torch device of the solves")
    p.add_argument(
        "--dtype", choices=["float32", "float64"], default="float64", help="the solves' dtype"
    )
    p.add_argument(
        "--out", type=Path, default=Path("compare-out"), help="directory for compare.json/.csv/.png"
    )
    p.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="compare on a learned model (a `revsde train` checkpoint) instead of a closed "
        "form: errors against a very fine solve of the same model, plus sliced W2 of the "
        "denoised samples to held-out data",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    d = sub.add_parser(
        "sample",
        **defaults,
        help="draw N samples of a model, across processes under torchrun",
        description=(
            "Draw N samples of a trained model with revsde.sample, in chunks of --batch-size "
            "written to OUT (chunk-*.pt, manifest.json) and merged into OUT/samples.pt; under "
            "`torchrun --nproc_per_node=K -m revsde sample ...` the chunks are shared among "
            "the K processes (gloo on CPU, NCCL with one GPU per rank) and the result is "
            "bitwise the one-process result. A rerun resumes: finished chunks are kept."
        ),
    )
    source = d.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="a `revsde train` checkpoint file")
    source.add_argument(
        "--model",
        help="an import path module:callable; the callable returns (sde, score) or "
        "(sde, score, event_shape)",
    )
    d.add_argument("--samples", type=_positive, required=True, help="number of samples")
    d.add_argument(
        "--shape",
        type=_int_list,
        default=None,
        help="event shape, e.g. 3,32,32 (default: the model's own)",
    )
    d.add_argument(
        "--method",
        choices=sorted(SOLVERS),
        default="unipc",
        metavar="METHOD",
        help=f"the sampler, one of {', '.join(sorted(SOLVERS))}",
    )
    d.add_argument(
        "--steps", type=_positive, default=None, help="solver steps (default: revsde.sample's)"
    )
    d.add_argument(
        "--spacing", type=_spacing, default=None, help="time grid (default: the method's own)"
    )
    d.add_argument("--batch-size", type=_positive, default=256, help="samples per chunk")
    d.add_argument("--seed", type=int, default=0, help="the job's seed; sample i's is (seed, i)")
    d.add_argument(
        "--out", type=Path, default=Path("samples-out"), help="folder of the chunks and samples.pt"
    )
    d.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    t = sub.add_parser(
        "train",
        **defaults,
        help="train a small score network on a real data set, sample it, report its likelihood",
        description=(
            "Fit an MLP score network (eps prediction, VP process, DSM loss, EMA weights) to "
            "two moons, the swiss roll or the 8x8 digits (scikit-learn: pip install "
            "'revsde[examples]'), write OUT/model.pt and OUT/samples.png, and print each "
            "sampler's sliced W2 to held-out data and the held-out likelihood."
        ),
    )
    t.add_argument(
        "--data", choices=["moons", "swissroll", "digits"], default="moons", help="the data set"
    )
    t.add_argument("--iterations", type=_positive, default=4000, help="Adam steps")
    t.add_argument("--hidden", type=_positive, default=256, help="width of the MLP")
    t.add_argument("--batch-size", type=_positive, default=512, help="training batch")
    t.add_argument("--lr", type=float, default=2e-3, help="Adam's learning rate")
    t.add_argument("--seed", type=int, default=0, help="seed of the data split and training")
    t.add_argument(
        "--out", type=Path, default=Path("train-out"), help="folder of model.pt and samples.png"
    )
    t.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return parser


def _check_device(parser: argparse.ArgumentParser, device: str) -> None:
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        parser.error(f"--device {device!r} is not a torch device: {exc}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        parser.error(
            f"--device {device!r}: this torch build sees no CUDA device "
            "(torch.cuda.is_available() is False); use --device cpu"
        )


def _check_out(parser: argparse.ArgumentParser, out: Path) -> None:
    """Fail before the study, not after it, when the results cannot be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".revsde-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        parser.error(f"--out {str(out)!r} is not a writable directory: {exc}")


def train_main(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from .example import train_example

    _check_out(parser, args.out)
    if not args.lr > 0:
        parser.error(f"--lr must be > 0, got {args.lr}")
    try:
        report = train_example(
            args.data,
            iterations=args.iterations,
            hidden=args.hidden,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            out=args.out,
            progress=not args.no_progress,
        )
    except ImportError as exc:
        parser.error(str(exc))
    for key, value in report.items():
        print(f"{key:>28}: {value:.4g}" if isinstance(value, float) else f"{key:>28}: {value}")
    return 0


def _load_model(parser: argparse.ArgumentParser, args: argparse.Namespace):
    """(sde, score, event_shape) of ``--checkpoint`` or ``--model module:callable``."""
    if args.checkpoint is not None:
        from ..models.checkpoint import load_checkpoint

        try:
            score, sde, _ = load_checkpoint(args.checkpoint)
        except (OSError, ValueError) as exc:
            parser.error(f"--checkpoint: {exc}")
        return sde, score, (score.model.config["dim"],)
    import importlib

    module, _, name = args.model.partition(":")
    if not module or not name:
        parser.error(f"--model must be an import path module:callable, got {args.model!r}")
    try:
        made = getattr(importlib.import_module(module), name)()
    except (ImportError, AttributeError) as exc:
        parser.error(f"--model {args.model!r} cannot be loaded: {exc}")
    if not isinstance(made, tuple) or len(made) not in (2, 3):
        parser.error(f"--model {args.model!r} must return (sde, score) or (sde, score, shape)")
    own = tuple(made[2]) if len(made) == 3 else None
    if args.shape and own is not None and tuple(args.shape) != own:
        parser.error(f"--shape {tuple(args.shape)} differs from the model's event shape {own}")
    shape = tuple(args.shape) if args.shape else own
    if shape is None:
        parser.error("--shape is needed: the model does not give its event shape")
    _probe(parser, made[0], made[1], shape)
    return made[0], made[1], shape


def _probe(parser: argparse.ArgumentParser, sde, score, shape: tuple[int, ...]) -> None:
    """Call the model once on one sample of ``shape`` before any work, so that a shape it
    cannot take is a one-line error, not a traceback from the middle of the job."""
    import torch

    try:
        with torch.no_grad():
            out = score(torch.zeros(1, *shape), torch.full((1,), 0.5 * sde.T))
    except Exception as exc:
        parser.error(
            f"--shape {shape}: the model fails on a sample of that shape "
            f"({type(exc).__name__}: {exc})"
        )
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (1, *shape):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        parser.error(f"--shape {shape}: the model returns {got} for one sample of that shape")


def sample_main(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from ..distributed import JobFolderError, init, sample_job

    sde, score, shape = _load_model(parser, args)
    if args.shape and args.checkpoint is not None and tuple(args.shape) != shape:
        parser.error(f"--shape {tuple(args.shape)} differs from the checkpoint's {shape}")
    _check_out(parser, args.out)
    rank, world = init()
    try:
        samples = sample_job(
            sde,
            score,
            args.samples,
            shape,
            args.out,
            batch_size=args.batch_size,
            seed=args.seed,
            method=args.method,
            steps=args.steps,
            spacing=args.spacing,
            progress=not args.no_progress,
        )
    except JobFolderError as exc:
        parser.error(f"--out: {exc}")
    if rank == 0:
        import torch

        path = args.out / "samples.pt"
        tmp = path.with_name(path.name + ".tmp")  # written whole, then renamed into place
        torch.save(samples, tmp)
        tmp.replace(path)
        print(f"wrote {path}: {tuple(samples.shape)} from {world} process(es)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train":
        return train_main(parser, args)
    if args.command == "sample":
        return sample_main(parser, args)
    _check_device(parser, args.device)
    _check_out(parser, args.out)
    if args.exact and args.target not in GAUSSIAN_TARGETS:
        parser.error(
            f"--exact needs a Gaussian target {list(GAUSSIAN_TARGETS)}, got {args.target!r} "
            "(a mixture's sampler output has no closed-form law)"
        )
    if args.target in EXACT_ONLY and not args.exact:
        parser.error(f"--target {args.target} is for --exact only")
    if args.sde_samples is not None and args.sde_samples < args.samples:
        parser.error(f"--sde-samples must be >= --samples ({args.samples}), got {args.sde_samples}")
    if args.checkpoint is not None:
        from ..models.checkpoint import load_checkpoint

        try:
            load_checkpoint(args.checkpoint)  # a clear error before the study
        except (OSError, ValueError) as exc:
            parser.error(f"--checkpoint: {exc}")
        study = run_checkpoint_study(
            str(args.checkpoint),
            methods=args.methods,
            steps=args.steps,
            samples=args.samples,
            seed=args.seed,
            spacing=args.spacing,
            progress=not args.no_progress,
        )
    else:
        config = StudyConfig(
            sde=args.sde,
            target=args.target,
            methods=args.methods,
            steps=args.steps,
            samples=args.samples,
            seed=args.seed,
            device=args.device,
            dtype=args.dtype,
            adaptive_rtols=args.adaptive,
            spacing=args.spacing,
            exact=args.exact,
            seeds=args.seeds,
            metric=args.metric,
            sde_samples=args.sde_samples,
        )
        study = run_study(config, progress=not args.no_progress)
    print_table(study)
    if study.checkpoint:
        print(
            "('vs fine': sliced W2 against a fine solve of the same model from the same draws, "
            "dopri5 at 1e-6 for ODE methods, 2000 Euler-Maruyama steps on the run's Brownian "
            "path for SDE methods; 'coupled': the kernel (MMD) error against that solve, sample "
            "by sample, with its Monte Carlo noise (below twice it: not resolved); 'to data': "
            "sliced W2 of the denoised samples to held-out data, the error used below)"
        )
    print_budgets(study, tuple(args.steps), args.target_error)
    for path in write_outputs(study, args.out, args.target_error):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
