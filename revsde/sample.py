"""prior -> solver -> result: the whole sampler in one call (DESIGN §3)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from solvers import Solver, resolve, sdeint

from .denoise import denoise as tweedie
from .sde import DiffusionSDE


def sample(
    sde: DiffusionSDE,
    score: Callable[[Tensor, Tensor], Tensor],
    shape: tuple[int, ...],
    method: str | type[Solver] | Solver = "pc",
    steps: int = 1000,
    *,
    spacing: str = "uniform",
    t_min: float | None = None,
    denoise: bool = True,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    progress: bool = False,
    **options,
) -> Tensor:
    """Draw ``shape = (batch, *event_shape)`` samples: x_T from the prior, ``steps`` steps of
    ``method`` on the reverse SDE (on the probability-flow ODE for ODE-only methods such as
    ``heun`` and ``rk4``) down to t_min, then, with ``denoise``, Tweedie's posterior mean
    E[x_0 | x_{t_min}] (Song et al. 2021 end their samplers with this step)."""
    solver = resolve(method, **options)
    rsde = sde.reverse(
        score, probability_flow=solver.ode_only, t_min=t_min, event_shape=tuple(shape[1:])
    )
    x_T = sde.prior_sample(tuple(shape), generator=generator, dtype=dtype, device=device)
    ts = rsde.times(steps, spacing=spacing, dtype=x_T.dtype, device=x_T.device)
    x = sdeint(
        rsde, x_T, ts, method=solver, final_only=True, generator=generator, progress=progress
    )
    return tweedie(sde, score, x, rsde.t_min) if denoise else x
