"""Tweedie's denoiser: the posterior mean of the clean data given a noisy state."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from .._checks import TimeLike, per_sample
from ..predictions import x0_from_score
from ..processes.sde import DiffusionSDE


def denoise(
    sde: DiffusionSDE, score: Callable[[Tensor, Tensor], Tensor], x: Tensor, t: TimeLike
) -> Tensor:
    """Tweedie's estimate E[x_0 | x_t = x] = (x + sigma(t)^2 score(x, t)) / alpha(t)
    (Efron 2011), the usual last step of a sampler."""
    t = sde._time(t, like=x)
    s = score(x, t)
    alpha, sigma = per_sample(sde._alpha(t), x), per_sample(sde._sigma(t), x)
    return x0_from_score(s, x, alpha, sigma).to(x.dtype)
