"""Sampling throughput across processes on one machine: ``revsde.distributed.sample_job``
with 1 and 2 processes (gloo on the loopback address, one intra-op thread each), a small
network (a ``ScoreMLP`` on 64-D data, untrained: the cost is the same), UniPC with 20 steps.

    python benchmarks/distributed.py --samples 8192 --batch-size 512

On a multi-GPU node: ``torchrun --nproc_per_node=8 -m revsde sample --checkpoint m.pt
--samples 50000 --out run`` (NCCL, one GPU per rank via LOCAL_RANK); on several nodes add
``--nnodes=N --node-rank=R --rdzv-endpoint=HOST:PORT`` (or ``--master-addr``) as for any
torchrun job. The merged samples do not depend on the number of processes.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import socket
import tempfile
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import revsde
from revsde.distributed import sample_job
from revsde.models.nets import ScoreMLP


def _model():
    torch.manual_seed(0)
    net = ScoreMLP(64, hidden=256).eval().requires_grad_(False)
    sde = revsde.VPSDE()
    return sde, revsde.ScoreAdapter(net, sde, prediction="eps")


def _run(rank, world, port, out, samples, batch, times):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=600)
    )
    sde, score = _model()
    revsde.sample(sde, score, (batch, 64), steps=20)  # warm-up: first-call costs untimed
    dist.barrier()
    start = time.perf_counter()
    sample_job(sde, score, samples, (64,), out, batch_size=batch, method="unipc", steps=20)
    if rank == 0:
        times[world] = time.perf_counter() - start
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=8192)
    parser.add_argument("--batch-size", type=int, default=512)
    args = parser.parse_args()
    times = mp.Manager().dict()
    for world in (1, 2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with tempfile.TemporaryDirectory() as out:
            mp.spawn(
                _run, args=(world, port, out, args.samples, args.batch_size, times), nprocs=world
            )
    print(
        f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}; "
        f"{args.samples} samples, batch {args.batch_size}, UniPC 20 steps, ScoreMLP(64, 256)"
    )
    print("| processes | seconds | samples/s | parallel efficiency |")
    print("|---|---|---|---|")
    for world in (1, 2):
        rate = args.samples / times[world]
        eff = times[1] / (world * times[world])
        print(f"| {world} | {times[world]:.2f} | {rate:.0f} | {eff:.0%} |")


if __name__ == "__main__":
    main()
