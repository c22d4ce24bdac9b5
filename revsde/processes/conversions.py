"""Moving a state between the VE and VP coordinates of one diffusion (see the docs' mathematics
page).

If x_VE = x_0 + sigma eps, then

    x_VP = x_VE / sqrt(1 + sigma^2) = sqrt(abar) x_0 + sqrt(1 - abar) eps

with abar = 1 / (1 + sigma^2) (not 1 / sqrt(1 + sigma^2)); conversely sigma^2 = (1 - abar) / abar.
Scores follow by the chain rule: s_VP(x) = sqrt(1 + sigma^2) s_VE(sqrt(1 + sigma^2) x).
"""

from __future__ import annotations

import torch
from torch import Tensor


def ve_to_vp(x_ve: Tensor, sigma: Tensor | float) -> tuple[Tensor, Tensor]:
    """Map x_VE at noise level ``sigma`` to x_VP; returns ``(x_vp, alpha_bar)``."""
    sigma = torch.as_tensor(sigma, dtype=x_ve.dtype, device=x_ve.device)
    if bool((sigma < 0).any()):
        raise ValueError("sigma must be >= 0")
    alpha_bar = 1.0 / (1.0 + sigma**2)
    return x_ve * alpha_bar.sqrt(), alpha_bar


def vp_to_ve(x_vp: Tensor, alpha_bar: Tensor | float) -> tuple[Tensor, Tensor]:
    """Map x_VP at signal fraction ``alpha_bar`` to x_VE; returns ``(x_ve, sigma)``."""
    alpha_bar = torch.as_tensor(alpha_bar, dtype=x_vp.dtype, device=x_vp.device)
    if bool(((alpha_bar <= 0) | (alpha_bar > 1)).any()):
        raise ValueError("alpha_bar must lie in (0, 1]")
    return x_vp / alpha_bar.sqrt(), ((1.0 - alpha_bar) / alpha_bar).sqrt()
