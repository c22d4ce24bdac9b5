"""Sampling and likelihood jobs across processes and GPUs on ``torch.distributed``.

A thin layer, no new engine. A job of N items (samples to draw, or data points to evaluate) is
cut into chunks of ``batch_size`` consecutive items, chunk j holding items
[j B, (j + 1) B); rank r of a world of W processes computes the chunks j with j mod W = r and
writes each to ``out/chunk-<j>.pt`` (atomically: a temporary file renamed). Sample i draws its
prior and its noise from its own counter-based stream keyed by (seed, i) (``sample_seed``;
``revsde.solvers.counter``), and a chunk's
computation does not depend on which rank runs it, so the merged result is bitwise the same
for every world size, one process included. A rerun skips the chunks already on disk (resume).
``out/manifest.json`` records the job (seed, method, steps, grid, process, shapes, versions),
and each chunk's record ``out/chunk-<j>.json``, written after it, its shape, dtype and SHA-256:
a chunk is read back only if it matches its record and the rows the manifest expects, and a
run recomputes (and says so) any chunk that does not; ``merge(out)`` concatenates the chunks
in order, refusing a missing or damaged one, so no result is ever short.

Launch with ``torchrun --nproc_per_node=K -m revsde sample ...``; ``init()`` joins the process
group that torchrun describes in the environment: NCCL with one GPU per rank (``LOCAL_RANK``)
when CUDA is available, gloo otherwise, with a timeout so that a failed rank stops the job
instead of hanging it.
"""

from __future__ import annotations

import datetime
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from ._checks import check_int
from .processes.sde import DiffusionSDE
from .sampling.sample import sample

MANIFEST = "manifest.json"


class JobFolderError(ValueError):
    """An output folder that holds another job, or a damaged manifest."""


#: how sample i's noise is drawn from its seed (``revsde.solvers.counter``)
NOISE_SCHEME = "counter: splitmix64, box-muller (1)"


def sample_seed(seed: int, index: int) -> int:
    """The seed of sample ``index`` in a job seeded by ``seed``: (seed, index) packed into one
    64-bit integer, so that every sample has its own stream."""
    check_int("index", index, low=0)
    if not 0 <= seed < 2**31:
        raise ValueError(f"seed must lie in [0, 2^31), got {seed}")
    return (seed << 32) | index


def init(backend: str | None = None, timeout_s: float = 600.0) -> tuple[int, int]:
    """Join the process group described by torchrun's environment (``RANK``,
    ``WORLD_SIZE``, ``MASTER_ADDR``...) if it is not joined yet; returns ``(rank, world)``,
    ``(0, 1)`` outside a distributed launch. ``backend`` defaults to NCCL when the node has a
    GPU for each of its processes (and then selects GPU ``LOCAL_RANK``), gloo otherwise."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    if "WORLD_SIZE" not in os.environ:
        return 0, 1
    if backend is None:
        # NCCL when every process on this node has a GPU of its own, gloo otherwise
        local = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
        backend = "nccl" if torch.cuda.device_count() >= local > 0 else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    return dist.get_rank(), dist.get_world_size()


def _rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _chunk_path(out: Path, j: int) -> Path:
    return out / f"chunk-{j:06d}.pt"


def _record_path(out: Path, j: int) -> Path:
    return out / f"chunk-{j:06d}.json"


def _digest(tensor: Tensor) -> str:
    import hashlib

    return hashlib.sha256(tensor.contiguous().view(torch.uint8).numpy().tobytes()).hexdigest()


def _write_chunk(out: Path, j: int, result: Tensor, rank: int) -> None:
    """The chunk, then its record, each written to a temporary file and renamed into place:
    a chunk without a record (a run killed between the two) is recomputed."""
    tmp = _chunk_path(out, j).with_suffix(f".tmp{rank}")
    torch.save(result, tmp)
    tmp.replace(_chunk_path(out, j))
    record = {"shape": list(result.shape), "dtype": str(result.dtype), "sha256": _digest(result)}
    tmp = _record_path(out, j).with_suffix(f".tmp{rank}")
    tmp.write_text(json.dumps(record))
    tmp.replace(_record_path(out, j))


def _read_chunk(out: Path, j: int, rows: int) -> tuple[Tensor | None, str]:
    """Chunk ``j`` if it is sound (its record present, its tensor loadable, of ``rows`` rows and
    of the recorded shape, dtype and SHA-256), else ``None`` and why not."""
    path, record_path = _chunk_path(out, j), _record_path(out, j)
    if not path.is_file():
        return None, "missing"
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError):
        return None, f"{record_path.name} is missing or not JSON"
    try:
        tensor = torch.load(path, weights_only=True)
    except Exception as exc:  # a truncated or overwritten file: any loading error
        return None, f"{path.name} cannot be loaded ({type(exc).__name__}: {exc})"
    if not isinstance(tensor, Tensor):
        return None, f"{path.name} holds a {type(tensor).__name__}, not a tensor"
    if tensor.dim() == 0 or tensor.shape[0] != rows:
        return None, f"{path.name} holds {tuple(tensor.shape)}, expected {rows} rows"
    if [list(tensor.shape), str(tensor.dtype)] != [record.get("shape"), record.get("dtype")]:
        return None, f"{path.name} is not the chunk its record describes"
    if _digest(tensor) != record.get("sha256"):
        return None, f"{path.name} differs from the SHA-256 recorded when it was written"
    return tensor, ""


def run_chunks(
    compute: Callable[[int, int], Tensor],
    n: int,
    batch_size: int,
    out: str | Path,
    manifest: dict[str, Any],
    *,
    progress: bool = False,
) -> Tensor | None:
    """Run ``compute(start, stop)`` for this rank's chunks of ``n`` items (module docstring),
    skipping chunks already written, then wait for every rank; rank 0 returns the merged
    result, other ranks ``None``. The manifest is written (or checked, on a resumed run)
    before any chunk. A chunk's file holds its tensor.
    A job that finds a manifest of a different job in ``out`` is refused."""
    check_int("n", n, low=1)
    check_int("batch_size", batch_size, low=1)
    out = Path(out)
    rank, world = _rank_world()
    manifest = {**manifest, "n": n, "batch_size": batch_size, "versions": _versions()}
    if rank == 0:
        _claim(out, manifest)
    _barrier(rank, world)
    if rank != 0:
        _claim(out, manifest)
    mine = [j for j in range(math.ceil(n / batch_size)) if j % world == rank]
    todo = []
    for j in mine:
        chunk, why = _read_chunk(out, j, _rows(j, n, batch_size))
        if chunk is None:
            if why != "missing":
                print(f"revsde: recomputing chunk {j} of {out}: {why}", flush=True)
            todo.append(j)
    chunks = todo
    if progress and rank == 0:
        from tqdm.auto import tqdm

        chunks = tqdm(todo, desc=f"chunks (rank 0 of {world})", unit="chunk")
    for j in chunks:
        start, stop = j * batch_size, min(n, (j + 1) * batch_size)
        result = compute(start, stop).detach().cpu()
        _write_chunk(out, j, result, rank)
    _barrier(rank, world)
    return merge(out) if rank == 0 else None


def _barrier(rank: int, world: int) -> None:
    """Wait for every rank; a rank that died makes the others fail with that said."""
    if world == 1:
        return
    try:
        dist.barrier()
    except RuntimeError as exc:
        raise RuntimeError(
            f"rank {rank}: another rank of this job failed or stopped (its own error is "
            f"reported by the launcher); the finished chunks are kept for a resumed run: {exc}"
        ) from exc


def _claim(out: Path, manifest: dict[str, Any]) -> None:
    """Write the job's manifest into ``out``, or check that the one there is this job's (a
    resumed run); chunks of another job are never mixed in."""
    path = out / MANIFEST
    if path.is_file():
        previous = _load_manifest(path)
        differs = sorted(
            k
            for k in set(previous) | set(manifest)
            if k != "versions" and previous.get(k) != manifest.get(k)
        )
        if differs:
            raise JobFolderError(
                f"{out} holds the chunks of another job (its {', '.join(differs)} differ from "
                "this one's): use a new output folder, or delete it to start again"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2))
    tmp.replace(path)


def merge(out: str | Path) -> Tensor:
    """The job's result: every chunk of ``out`` concatenated in order (it must be complete)."""
    out = Path(out)
    path = out / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{out} has no {MANIFEST}: not a finished revsde job")
    manifest = _load_manifest(path)
    n, batch_size = manifest["n"], manifest["batch_size"]
    chunks, bad = [], []
    for j in range(math.ceil(n / batch_size)):
        chunk, why = _read_chunk(out, j, _rows(j, n, batch_size))
        if chunk is None:
            bad.append(f"chunk {j}: {why}")
        chunks.append(chunk)
    if bad:
        raise ValueError(
            f"{out} is not a complete job ({'; '.join(bad[:5])}): rerun the job to compute "
            "the missing and damaged chunks"
        )
    result = torch.cat(chunks)
    if result.shape[0] != n:  # the records say so already; a result is never short
        raise ValueError(f"{out}: the chunks hold {result.shape[0]} rows, the job {n}")
    return result


def _rows(j: int, n: int, batch_size: int) -> int:
    """The rows of chunk ``j`` of a job of ``n`` rows in chunks of ``batch_size``."""
    return min(n, (j + 1) * batch_size) - j * batch_size


def _load_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text())
    except ValueError as exc:
        raise JobFolderError(
            f"{path} is not JSON ({exc}): not a revsde job folder, or a damaged one; use a new "
            "output folder, or delete it to start again"
        ) from None
    if not isinstance(manifest, dict) or not {"n", "batch_size"} <= set(manifest):
        raise JobFolderError(f"{path} is not the manifest of a revsde job")
    return manifest


def sample_job(
    sde: DiffusionSDE,
    score: Callable[..., Tensor],
    n: int,
    event_shape: tuple[int, ...],
    out: str | Path,
    *,
    batch_size: int = 256,
    seed: int = 0,
    method: str = "unipc",
    steps: int | None = None,
    spacing: str | None = None,
    progress: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    **sample_options: Any,
) -> Tensor | None:
    """Draw ``n`` samples of ``revsde.sample`` across the process group (module docstring):
    sample i from the counter-based stream keyed by ``sample_seed(seed, i)``. Returns the ``(n,
    *event_shape)`` samples on rank 0 (``None`` elsewhere) and leaves the chunks and the
    manifest in ``out``."""
    if device is None and dist.is_initialized() and dist.get_backend() == "nccl":
        # NCCL ranks own a GPU each (init() selected it); under gloo the work stays on the CPU
        device = torch.device("cuda", torch.cuda.current_device())

    def compute(start: int, stop: int) -> Tensor:
        seeds = [sample_seed(seed, i) for i in range(start, stop)]
        return sample(
            sde,
            score,
            (stop - start, *event_shape),
            method=method,
            steps=steps,
            spacing=spacing,
            generator=seeds,
            device=device,
            dtype=dtype,
            **sample_options,
        )

    manifest = {
        "job": "sample",
        "seed": seed,
        "method": method,
        "steps": steps,
        "spacing": spacing,
        "process": repr(sde),
        "event_shape": list(event_shape),
        "options": {k: repr(v) for k, v in sample_options.items()},
        # the per-sample noise scheme: a folder of chunks drawn by another is another job
        "noise": NOISE_SCHEME,
    }
    return run_chunks(compute, n, batch_size, out, manifest, progress=progress)


def likelihood_job(
    sde: DiffusionSDE,
    score: Callable[..., Tensor],
    data: Tensor,
    out: str | Path,
    *,
    batch_size: int = 256,
    seed: int = 0,
    progress: bool = False,
    **likelihood_options: Any,
) -> Tensor | None:
    """``revsde.log_likelihood`` of every row of ``data`` across the process group, one chunk
    of ``batch_size`` rows at a time (Hutchinson probes from a generator seeded by
    ``sample_seed(seed, first row of the chunk)``); the per-row log-likelihoods on rank 0.
    (Adaptive solves control the error over a chunk, so results depend on the chunk size, not
    on the world size.)"""
    from .evaluation.likelihood import log_likelihood

    def compute(start: int, stop: int) -> Tensor:
        gen = torch.Generator().manual_seed(sample_seed(seed, start))
        return log_likelihood(sde, score, data[start:stop], generator=gen, **likelihood_options)

    manifest = {
        "job": "likelihood",
        "seed": seed,
        "process": repr(sde),
        "data_shape": list(data.shape),
        "options": {k: repr(v) for k, v in likelihood_options.items()},
    }
    return run_chunks(compute, data.shape[0], batch_size, out, manifest, progress=progress)


def _versions() -> dict[str, str]:
    from . import __version__

    return {"revsde": __version__, "torch": torch.__version__}
