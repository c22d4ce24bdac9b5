"""The training loop: Adam with cosine decay on ``dsm_loss``, returning the EMA weights."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._checks import check_real
from ..processes.sde import DiffusionSDE
from .dsm import dsm_loss


def fit(
    net: torch.nn.Module,
    sde: DiffusionSDE,
    data: Tensor,
    *,
    prediction: str,
    iterations: int = 4000,
    batch_size: int = 512,
    lr: float = 2e-3,
    ema: float = 0.999,
    generator: torch.Generator | None = None,
    progress: bool = False,
    **loss_options: Any,
) -> tuple[torch.nn.Module, list[float]]:
    """Train ``net`` (a ``net(x, t)`` predicting ``prediction``) on ``data`` by ``dsm_loss``
    with Adam and a cosine learning-rate decay; returns the exponential moving average of its
    weights (the usual choice for sampling, Song et al. 2021) as a copy, and the loss of every
    iteration. Batches are drawn with replacement from ``generator``.

    The average warms up: after iteration k (from 0) its decay is min(ema, (1 + k)/(10 + k))
    (as in TensorFlow's ExponentialMovingAverage with num_updates, and common diffusion
    training code), so that it forgets the random initial weights within the first
    iterations; with a constant 0.999 a run of 1500 iterations still kept 22 % of them."""
    import copy

    check_real("lr", lr, low=0.0, strict=True)
    if not 0.0 <= ema < 1.0:
        raise ValueError(f"ema must lie in [0, 1), got {ema}")
    averaged = copy.deepcopy(net).requires_grad_(False)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, iterations)
    losses: list[float] = []
    steps = range(iterations)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc="train", unit="it")
    for k in steps:
        idx = torch.randint(0, data.shape[0], (batch_size,), generator=generator)
        loss = dsm_loss(
            net,
            sde,
            data[idx].to(next(net.parameters()).device),
            prediction=prediction,
            generator=generator,
            **loss_options,
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        decay = min(ema, (1.0 + k) / (10.0 + k))
        with torch.no_grad():
            for p_avg, p in zip(averaged.parameters(), net.parameters(), strict=True):
                p_avg.lerp_(p, 1.0 - decay)
        losses.append(float(loss.detach()))
        if progress:
            steps.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
    return averaged, losses
