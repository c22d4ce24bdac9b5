"""Denoisers in VE coordinates, the convention of k-diffusion and EDM (Karras et al. 2022):
D(x_ve; sigma_ve) estimates x_0 from x_ve = x_0 + sigma_ve n.

Any process x_t = alpha x_0 + sigma eps is that one in disguise: x_t / alpha = x_0 +
(sigma / alpha) eps, so x_ve = x / alpha and sigma_ve = sigma / alpha (the VE ≡ VP
correspondence of the mathematics page). This module puts it to work both ways:

- ``VECoordinates`` (used by ``ScoreAdapter.from_denoiser``) lets a k-diffusion or EDM
  denoiser drive every revsde process and solver;
- ``as_denoiser`` exposes a revsde score as a k-diffusion denoiser, so that k-diffusion's
  samplers can drive revsde processes;
- ``EDMPreconditioner`` is EDM's preconditioning of a raw network F (Karras et al. 2022,
  Table 1): D(x; sigma) = c_skip x + c_out F(c_in x; c_noise).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._checks import check_real, per_sample
from ..predictions import x0_from_score
from ..processes.sde import DiffusionSDE
from .outputs import unwrap


class VECoordinates(torch.nn.Module):
    """``model(x, t) = D(x / alpha(t), sigma(t) / alpha(t))``: a VE-coordinate denoiser as an
    x0-predicting network of ``sde`` at forward time t (a ``(batch,)`` tensor)."""

    def __init__(self, denoiser: Callable[..., object], sde: DiffusionSDE) -> None:
        super().__init__()
        if not callable(denoiser):
            raise TypeError(f"denoiser must be callable, got {type(denoiser).__name__}")
        self.denoiser = denoiser
        self.sde = sde

    def forward(self, x: Tensor, t: Tensor, **kwargs: Any) -> Tensor:
        alpha, sigma = self.sde._alpha(t), self.sde._sigma(t)
        x_ve = x / per_sample(alpha, x)
        return unwrap(self.denoiser(x_ve.to(x.dtype), (sigma / alpha).to(x.dtype), **kwargs))


class EDMPreconditioner(torch.nn.Module):
    """EDM's denoiser from a raw network ``net(x_in, c_noise, **kwargs)`` (Karras et al. 2022,
    Table 1, "Ours"):

        D(x; sigma) = c_skip x + c_out net(c_in x, c_noise),
        c_skip = s_d^2 / (sigma^2 + s_d^2),   c_out = sigma s_d / sqrt(sigma^2 + s_d^2),
        c_in = 1 / sqrt(sigma^2 + s_d^2),      c_noise = log(sigma) / 4,

    with s_d = ``sigma_data`` (0.5 for images scaled to [-1, 1]). Plug it in with
    ``ScoreAdapter.from_denoiser(EDMPreconditioner(net), sde)``.
    """

    def __init__(self, net: Callable[..., object], sigma_data: float = 0.5) -> None:
        super().__init__()
        if not callable(net):
            raise TypeError(f"net must be callable, got {type(net).__name__}")
        self.net = net
        self.sigma_data = check_real("sigma_data", sigma_data, low=0.0, strict=True)

    def extra_repr(self) -> str:
        return f"sigma_data={self.sigma_data}"

    def forward(self, x: Tensor, sigma: Tensor, **kwargs: Any) -> Tensor:
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
        sigma = sigma.expand(x.shape[0]) if sigma.dim() == 0 else sigma
        sd2 = self.sigma_data**2
        s = per_sample(sigma, x)
        c_skip = sd2 / (s**2 + sd2)
        c_out = s * self.sigma_data / (s**2 + sd2).sqrt()
        c_in = 1.0 / (s**2 + sd2).sqrt()
        f = unwrap(self.net(c_in * x, sigma.log() / 4.0, **kwargs))
        return c_skip * x + c_out * f.to(x.dtype)


class KDiffusionDenoiser(torch.nn.Module):
    """A revsde score as k-diffusion's ``model(x_ve, sigma, **extra_args)``; see
    ``as_denoiser``."""

    def __init__(self, score: Callable[..., Tensor], sde: DiffusionSDE) -> None:
        super().__init__()
        if not callable(score):
            raise TypeError(f"score must be callable, got {type(score).__name__}")
        self.score = score
        self.sde = sde

    def time_of_sigma(self, sigma: Tensor) -> Tensor:
        """The forward time t with sigma(t) / alpha(t) = sigma (by bisection in float64)."""
        return self.sde._invert_increasing(
            lambda t: self.sde._sigma(t) / self.sde._alpha(t), sigma, "sigma", "sigma/alpha"
        )

    def forward(self, x_ve: Tensor, sigma: Tensor | float, **kwargs: Any) -> Tensor:
        sigma = torch.as_tensor(sigma, dtype=x_ve.dtype, device=x_ve.device)
        sigma = sigma.expand(x_ve.shape[0]) if sigma.dim() == 0 else sigma
        t = self.time_of_sigma(sigma.detach().cpu()).to(device=x_ve.device)
        t = t.to(torch.float64 if x_ve.dtype == torch.float64 else torch.float32)
        alpha = per_sample(self.sde._alpha(t), x_ve)
        s = per_sample(self.sde._sigma(t), x_ve)
        x = (alpha * x_ve).to(x_ve.dtype)
        return x0_from_score(self.score(x, t, **kwargs), x, alpha, s).to(x_ve.dtype)


def as_denoiser(score: Callable[..., Tensor], sde: DiffusionSDE) -> KDiffusionDenoiser:
    """k-diffusion's denoiser D(x_ve; sigma) from a revsde score of ``sde``: at noise level
    sigma the time t solves sigma(t)/alpha(t) = sigma, the state is x = alpha(t) x_ve, and
    D = Tweedie's x0_hat = (x + sigma(t)^2 score(x, t)) / alpha(t). k-diffusion's samplers
    (``sample_heun``, ``sample_dpmpp_2m``...) then sample ``sde`` with noise levels in
    (sigma(0)/alpha(0), sigma(T)/alpha(T)]."""
    return KDiffusionDenoiser(score, sde)
