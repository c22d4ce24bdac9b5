"""Transforms of the data prediction x0_hat for image models, applied by the reverse SDE
(``denoised_transform=``) before the score is formed again from the transformed x0_hat:

    x0_hat = (x + sigma^2 s) / alpha,  x0_hat' = transform(x0_hat),
    s' = (alpha x0_hat' - x) / sigma^2.

Off by default: they change the sampled law, and only suit data known to lie in a box.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .._checks import check_real


def clip(value: float = 1.0) -> Callable[[Tensor], Tensor]:
    """Static thresholding: x0_hat clamped to [-value, value] (Ho et al. 2020's sampler
    clips to [-1, 1])."""
    value = check_real("value", value, low=0.0, strict=True)

    def transform(x0: Tensor) -> Tensor:
        return x0.clamp(-value, value)

    return transform


def dynamic(ratio: float = 0.995, max_value: float | None = None) -> Callable[[Tensor], Tensor]:
    """Dynamic thresholding (Saharia et al. 2022, "Imagen", sec. 2.3): per sample, s is the
    ``ratio`` quantile of |x0_hat| over its elements, raised to at least 1 (and capped at
    ``max_value``, as diffusers' ``sample_max_value``, if given); then x0_hat' = clamp(x0_hat,
    -s, s) / s."""
    ratio = check_real("ratio", ratio, low=0.0, strict=True)
    if ratio > 1.0:
        raise ValueError(f"ratio must lie in (0, 1], got {ratio}")
    cap = None if max_value is None else check_real("max_value", max_value, low=1.0)

    def transform(x0: Tensor) -> Tensor:
        flat = x0.reshape(x0.shape[0], -1)
        s = torch.quantile(flat.abs().float(), ratio, dim=1).clamp_min(1.0)
        if cap is not None:
            s = s.clamp_max(cap)
        s = s.to(x0.dtype).reshape((-1,) + (1,) * (x0.dim() - 1))
        return torch.maximum(torch.minimum(x0, s), -s) / s

    return transform
