"""The denoising score-matching loss (Vincent 2011; Song et al. 2021, eq. 7):

    L(theta) = E_t E_{x_0} E_{eps} [ lambda(t) || s_theta(x_t, t) - grad log p(x_t | x_0) ||^2 ],
    x_t = alpha(t) x_0 + sigma(t) eps,   grad log p(x_t | x_0) = -eps / sigma(t),

for a network of any prediction type: its output becomes a score through ``ScoreAdapter``
(the one place that converts), so with lambda = sigma^2 an eps-network's loss is exactly
DDPM's || eps_hat - eps ||^2. Weightings: ``"sigma2"`` (lambda = sigma^2, Song et al.'s
choice, equal weight on eps) and ``"likelihood"`` (lambda = g^2, Song, Durkan et al. 2021,
whose time integral bounds the negative log-likelihood), optionally with t drawn by
importance sampling from p(t) proportional to g(t)^2 / sigma(t)^2 and the weight lambda / p.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._checks import check_finite, check_real, per_sample
from ..models.adapter import ScoreAdapter
from ..predictions import TO_SCORE, canonical
from ..processes.sde import DiffusionSDE

WEIGHTINGS = ("sigma2", "likelihood")
T_SAMPLERS = ("uniform", "importance")
REDUCTIONS = ("mean", "sum", "none")


class ImportanceSampler:
    """Draws t in [t_min, T] with density p(t) = g(t)^2 / sigma(t)^2 / Z by inverting its
    cumulative integral, tabulated once on ``n_grid`` points uniform in log(t) (trapezoids)."""

    def __init__(self, sde: DiffusionSDE, t_min: float, n_grid: int = 20_000) -> None:
        t = torch.logspace(
            torch.log10(torch.tensor(t_min)),
            torch.log10(torch.tensor(sde.T)),
            n_grid,
            dtype=torch.float64,
        )
        density = sde._diffusion(t) ** 2 / sde._sigma(t) ** 2
        cells = 0.5 * (density[1:] + density[:-1]) * torch.diff(t)
        cdf = torch.cat([cells.new_zeros(1), torch.cumsum(cells, 0)])
        self.t, self.cdf, self.Z = t, cdf / cdf[-1], float(cdf[-1])
        self.sde = sde

    def sample(self, n: int, generator=None, device=None, dtype=None) -> Tensor:
        u = torch.rand(n, generator=generator, dtype=torch.float64)
        k = torch.searchsorted(self.cdf, u).clamp(1, len(self.t) - 1)
        c0, c1 = self.cdf[k - 1], self.cdf[k]
        w = (u - c0) / (c1 - c0).clamp_min(1e-300)
        t = self.t[k - 1] + w * (self.t[k] - self.t[k - 1])
        return t.to(device=device, dtype=dtype)

    def density(self, t: Tensor) -> Tensor:
        """p(t) = g(t)^2 / sigma(t)^2 / Z."""
        return self.sde._diffusion(t) ** 2 / self.sde._sigma(t) ** 2 / self.Z


def dsm_loss(
    model: Callable[..., Any],
    sde: DiffusionSDE,
    x0: Tensor,
    *,
    prediction: str | None = None,
    time_input: str | Callable = "t",
    weighting: str | Callable[[DiffusionSDE, Tensor], Tensor] = "sigma2",
    t_sampler: str | Callable[..., Tensor] = "uniform",
    t_min: float = 1e-5,
    generator: torch.Generator | None = None,
    reduction: str = "mean",
    event_reduction: str = "mean",
    model_kwargs: dict[str, Any] | None = None,
) -> Tensor:
    """The denoising score-matching loss of ``model`` on a batch of clean data ``x0``.

    Args:
        model: a network ``model(x, time, **model_kwargs)`` predicting ``prediction`` with
            time convention ``time_input`` (as for ``ScoreAdapter``), or a ``ScoreAdapter``
            (whose own prediction and time input are used).
        prediction: what the network predicts ("eps", "x0", "v", "score", "velocity" or
            diffusers' names), required for a network as for ``ScoreAdapter``: the same
            words wrap the trained network for sampling.
        weighting: ``"sigma2"``, ``"likelihood"`` or a callable ``(sde, t) -> lambda(t)``.
        t_sampler: ``"uniform"`` on [t_min, T]; ``"importance"``: p(t) proportional to
            g^2/sigma^2 (use with ``weighting="likelihood"``: the weight g^2/p(t) is then
            Z sigma^2, the variance-reduced estimator of Song, Durkan et al.); or a callable
            ``(n, generator) -> t`` of per-sample times (then weighted as drawn, uniform
            density assumed).
        t_min: the smallest time drawn (Song et al. train from 1e-5).
        reduction: over the batch, ``"mean"``, ``"sum"`` or ``"none"`` (per-sample losses).
        event_reduction: over each sample's dimensions, ``"mean"`` (DDPM's MSE) or ``"sum"``
            (Song et al.; with the likelihood weighting, the bound on the NLL).

    Every sample draws its own t and noise (from ``generator``). The loss is differentiable
    in the model's parameters.
    """
    check_finite("x0", x0)
    if x0.dim() < 2 or x0.shape[0] == 0:
        raise ValueError(
            f"x0 must be a non-empty (batch, *event_shape) tensor, got shape {tuple(x0.shape)}"
        )
    if not x0.dtype.is_floating_point:
        raise ValueError(
            f"x0 must be a floating-point tensor, got dtype {x0.dtype} (convert data with "
            "x0.float())"
        )
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {list(REDUCTIONS)}, got {reduction!r}")
    if event_reduction not in ("mean", "sum"):
        raise ValueError(f"event_reduction must be 'mean' or 'sum', got {event_reduction!r}")
    if not callable(weighting) and weighting not in WEIGHTINGS:
        raise ValueError(
            f"weighting must be one of {list(WEIGHTINGS)} or a callable, got {weighting!r}"
        )
    if not callable(t_sampler) and t_sampler not in T_SAMPLERS:
        raise ValueError(
            f"t_sampler must be one of {list(T_SAMPLERS)} or a callable, got {t_sampler!r}"
        )
    t_min = check_real("t_min", t_min, low=0.0, strict=True)
    if t_min >= sde.T:
        raise ValueError(f"t_min must be < T = {sde.T}, got {t_min}")
    if isinstance(model, ScoreAdapter):
        if prediction is not None and canonical(prediction) != model.prediction:
            raise ValueError(
                f"prediction={prediction!r} but the ScoreAdapter reads {model.prediction!r}"
            )
        adapter = model
    elif prediction is None:
        raise TypeError(
            "dsm_loss needs prediction= for a network: what it predicts, one of "
            f"{sorted(TO_SCORE)} (or diffusers' names); wrap it for sampling with the same"
        )
    else:
        adapter = ScoreAdapter(model, sde, prediction, time_input=time_input)
    n = x0.shape[0]
    tdtype = torch.float64 if x0.dtype == torch.float64 else torch.float32
    density = None
    if callable(t_sampler):
        t = torch.as_tensor(t_sampler(n, generator)).to(device=x0.device, dtype=tdtype)
    elif t_sampler == "uniform":
        u = torch.rand(n, generator=generator, dtype=tdtype).to(x0.device)
        t = t_min + (sde.T - t_min) * u
    else:
        sampler = ImportanceSampler(sde, t_min)
        t = sampler.sample(n, generator, device=x0.device, dtype=tdtype)
        density = sampler.density(t.double()).to(tdtype)
    noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype).to(x0.device)
    x_t, _ = sde.perturb(x0, t, noise)
    sigma = sde._sigma(t)
    if weighting == "sigma2":
        lam = sigma**2
    elif weighting == "likelihood":
        lam = sde._diffusion(t) ** 2
    else:
        lam = torch.as_tensor(weighting(sde, t)).to(t)
    if density is not None:
        lam = lam / density
    # lambda ||s_theta - s*||^2 with s* = -eps/sigma, written as || sqrt(lambda) s_theta +
    # sqrt(lambda)/sigma eps ||^2 so that no 1/sigma^2 is formed on its own
    score = adapter(x_t, t, **(model_kwargs or {}))
    root = per_sample(lam.sqrt(), x_t)
    residual = root * score + (root / per_sample(sigma, x_t)) * noise
    per_dim = residual.reshape(n, -1).square()
    losses = per_dim.mean(1) if event_reduction == "mean" else per_dim.sum(1)
    if reduction == "none":
        return losses
    return losses.mean() if reduction == "mean" else losses.sum()
