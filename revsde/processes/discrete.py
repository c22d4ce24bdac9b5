"""The discrete Markov chains that the VE and VP SDEs generalize (Song et al. 2021, sec. 3.4).

SMLD (VE):  x_i = x_{i-1} + sqrt(sigma_i^2 - sigma_{i-1}^2) z_i        (x_{i-1} is kept whole)
DDPM (VP):  x_i = sqrt(1 - beta_i) x_{i-1} + sqrt(beta_i) z_i,          abar_i = prod_j (1 - beta_j)

As N -> infinity with beta_i ~ beta(t_i)/N and sigma_i = sigma_v(t_i), the chains become the VP
and VE SDEs; ``alphas_cumprod`` then approaches alpha(t_i)^2 with an O(1/N) error.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._checks import check_int
from .song import VESDE, VPSDE


def ddpm_betas(sde: VPSDE, n: int, *, dtype: torch.dtype | None = None) -> Tensor:
    """DDPM's linear table beta_i = beta((i-1)/(N-1)) / N, i = 1..N.

    This is ``linspace(beta_min/N, beta_max/N, N)`` as in Ho et al. (2020) and the reference
    code of Song et al.; with the defaults and N = 1000 it is DDPM's 1e-4 ... 0.02.
    """
    if not isinstance(sde, VPSDE):
        raise TypeError(f"sde must be a VPSDE, got {type(sde).__name__}")
    n = check_int("n", n, low=2)
    return torch.linspace(sde.beta_min / n, sde.beta_max / n, n, dtype=dtype)


def alphas_cumprod(betas: Tensor) -> Tensor:
    """abar_i = prod_{j <= i} (1 - beta_j), the DDPM signal fraction after i steps."""
    if bool(((betas <= 0) | (betas >= 1)).any()):
        raise ValueError("betas must lie in (0, 1)")
    return torch.cumprod(1.0 - betas, dim=0)


def smld_sigmas(sde: VESDE, n: int, *, dtype: torch.dtype | None = None) -> Tensor:
    """SMLD's geometric noise levels sigma_i = sigma_v((i-1)/(N-1)), ascending from
    sigma_min to sigma_max (the forward order; samplers walk it backwards)."""
    if not isinstance(sde, VESDE):
        raise TypeError(f"sde must be a VESDE, got {type(sde).__name__}")
    n = check_int("n", n, low=2)
    return sde.noise_level(torch.linspace(0.0, 1.0, n, dtype=dtype))


def ddpm_step(x: Tensor, beta: Tensor | float, noise: Tensor) -> Tensor:
    """One DDPM forward step x_i = sqrt(1 - beta_i) x_{i-1} + sqrt(beta_i) z."""
    beta = torch.as_tensor(beta, dtype=x.dtype, device=x.device)
    return (1.0 - beta).sqrt() * x + beta.sqrt() * noise


def smld_step(
    x: Tensor, sigma_prev: Tensor | float, sigma_next: Tensor | float, noise: Tensor
) -> Tensor:
    """One SMLD forward step x_i = x_{i-1} + sqrt(sigma_i^2 - sigma_{i-1}^2) z."""
    sigma_prev = torch.as_tensor(sigma_prev, dtype=x.dtype, device=x.device)
    sigma_next = torch.as_tensor(sigma_next, dtype=x.dtype, device=x.device)
    if bool((sigma_next < sigma_prev).any()):
        raise ValueError("sigma_next must be >= sigma_prev in a forward SMLD step")
    return x + (sigma_next**2 - sigma_prev**2).sqrt() * noise
