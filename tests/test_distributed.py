"""Sampling across processes (gloo on the loopback address): the merged samples are bitwise
those of one process, for world sizes 1, 2 and 3; resumed jobs redo only missing chunks; a
failing rank fails the run with its message instead of hanging it."""

from __future__ import annotations

import datetime
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import revsde
from revsde.distributed import likelihood_job, merge, sample_job
from revsde.evaluation.problems import gaussian_2d

TARGET = gaussian_2d(torch.float64)
N, BATCH = 10, 3  # four chunks: 3, 3, 3, 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def job(out, method):
    sde = revsde.VPSDE()
    return sample_job(
        sde,
        TARGET.score(sde),
        N,
        (2,),
        out,
        batch_size=BATCH,
        seed=7,
        method=method,
        steps=8,
        dtype=torch.float64,
    )


def _worker(rank, world, port, out, method, fail_rank):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=60)
    )
    try:
        if rank == fail_rank:
            raise RuntimeError(f"rank {rank} fails on purpose")
        job(out, method)
    finally:
        dist.destroy_process_group()


def run_world(world, out, method, fail_rank=-1):
    mp.spawn(_worker, args=(world, _free_port(), str(out), method, fail_rank), nprocs=world)


@pytest.mark.parametrize("method", ["euler", "unipc"])
def test_merged_samples_are_bitwise_those_of_one_process(tmp_path, method):
    single = job(tmp_path / "one", method)
    assert single.shape == (N, 2)
    for world in (2, 3):
        run_world(world, tmp_path / f"w{world}", method)
        assert torch.equal(merge(tmp_path / f"w{world}"), single), world
    # and sample i is revsde.sample's with the seed of (seed, i)
    sde = revsde.VPSDE()
    seeds = [(7 << 32) | i for i in range(3)]
    first = revsde.sample(
        sde, TARGET.score(sde), (3, 2), method=method, steps=8, generator=seeds, dtype=torch.float64
    )
    assert torch.equal(first, single[:3])


def test_a_resumed_job_recomputes_only_the_missing_chunk(tmp_path):
    full = job(tmp_path, "euler")
    (tmp_path / "chunk-000002.pt").unlink()
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("chunk-*.pt")}
    again = job(tmp_path, "euler")
    assert torch.equal(again, full)
    after = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("chunk-*.pt")}
    assert all(after[name] == t for name, t in before.items())  # untouched
    assert "chunk-000002.pt" in after
    with pytest.raises(ValueError, match=r"holds the chunks of another job \(its method differ"):
        job(tmp_path, "unipc")


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda path: torch.save(torch.zeros(2, 2, dtype=torch.float64), path), "expected 3 rows"),
        (lambda path: path.write_bytes(path.read_bytes()[:40]), "cannot be loaded"),
        (
            lambda path: torch.save(torch.load(path, weights_only=True) + 1.0, path),
            "differs from the SHA-256 recorded",
        ),
        (lambda path: path.with_suffix(".json").unlink(), "missing or not JSON"),
    ],
)
def test_a_damaged_chunk_is_named_and_recomputed_never_merged(tmp_path, capsys, damage, why):
    """A chunk replaced by a tensor of the wrong shape (3757 rows of 4000 came out before,
    exit 0), truncated (torch's 'checkpoint file is corrupted' on every rerun before),
    altered, or without its record: merge names it and refuses a short result, and a rerun
    says which chunk it recomputes and why, then gives the one-process result."""
    full = job(tmp_path, "euler")
    damage(tmp_path / "chunk-000001.pt")
    with pytest.raises(ValueError, match=f"chunk 1: .*{why}"):
        merge(tmp_path)
    capsys.readouterr()
    again = job(tmp_path, "euler")
    assert f"recomputing chunk 1 of {tmp_path}" in capsys.readouterr().out
    assert torch.equal(again, full)


def test_a_manifest_that_is_not_json_is_named(tmp_path):
    job(tmp_path, "euler")
    (tmp_path / "manifest.json").write_text("{ not json")
    with pytest.raises(ValueError, match=r"manifest.json is not JSON"):
        job(tmp_path, "euler")
    with pytest.raises(ValueError, match=r"manifest.json is not JSON"):
        merge(tmp_path)


def test_a_failing_rank_fails_the_run_with_its_message(tmp_path):
    """Whichever rank the launcher reports first: the failing one with its own error, or the
    one left waiting, which says that another rank failed (seen on a 16-core machine)."""
    with pytest.raises(Exception, match=r"rank 1 fails on purpose|another rank of this job"):
        run_world(2, tmp_path, "euler", fail_rank=1)


def test_likelihood_job_matches_one_call(tmp_path):
    sde = revsde.VPSDE()
    x = TARGET.sample(7, generator=torch.Generator().manual_seed(0))
    kw = {"method": "rk4", "steps": 20}
    sharded = likelihood_job(sde, TARGET.score(sde), x, tmp_path, batch_size=7, **kw)
    whole = revsde.log_likelihood(sde, TARGET.score(sde), x, **kw)
    assert torch.equal(sharded, whole)


def test_sample_command_under_torchrun_equals_one_process(tmp_path):
    """`revsde sample` alone and `torchrun --nproc_per_node=2 -m revsde sample` (standalone
    rendezvous on the loopback address, bounded in time) write the same samples.pt."""
    import subprocess
    import sys
    from pathlib import Path

    from revsde.cli import main

    tests = str(Path(__file__).resolve().parent)
    args = [
        "sample",
        "--model",
        "cli_models:gaussian",
        "--samples",
        "9",
        "--batch-size",
        "4",
        "--steps",
        "6",
        "--method",
        "euler",
        "--no-progress",
    ]
    sys.path.insert(0, tests)
    try:
        assert main([*args, "--out", str(tmp_path / "one")]) == 0
    finally:
        sys.path.remove(tests)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "revsde",
        *args,
        "--out",
        str(tmp_path / "two"),
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "from 2 process(es)" in done.stdout
    one = torch.load(tmp_path / "one" / "samples.pt")
    two = torch.load(tmp_path / "two" / "samples.pt")
    assert one.shape == (9, 2) and torch.equal(one, two)


def _nccl_worker(rank, world, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.cuda.set_device(rank)
    dist.init_process_group(
        "nccl", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=120)
    )
    try:
        job(out, "euler")
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_nccl_across_two_gpus_equals_one_gpu(tmp_path):
    for world in (1, 2):  # each rank samples on its own GPU
        mp.spawn(
            _nccl_worker, args=(world, _free_port(), str(tmp_path / f"w{world}")), nprocs=world
        )
    assert torch.equal(merge(tmp_path / "w2"), merge(tmp_path / "w1"))
