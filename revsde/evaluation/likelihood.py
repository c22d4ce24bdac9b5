"""Exact likelihoods through the probability-flow ODE (Song et al. 2021, sec. 4.3 and App. D.2).

The probability-flow ODE dx/dt = v(x, t) = f(t) x - 1/2 g(t)^2 score(x, t) carries p_t to
p_T, so by the instantaneous change of variables (Chen et al. 2018)

    log p_{t_min}(x) = log p_T(x_T) + int_{t_min}^{T} div_x v(x_t, t) dt,
    div_x v = f(t) d - 1/2 g(t)^2 div_x score,

with x_t the ODE's solution from x at t_min. ``log_likelihood`` integrates (x, the integral)
together with any ODE method of the registry that needs only the drift (``euler``, ``heun``,
``rk4``; ``bosh3``/``dopri5`` with ``adaptive=True``), with the divergence exact (d
vector-Jacobian products) or Hutchinson's estimate z^T (dv/dx) z of the whole drift's
Jacobian, f(t) z^T z - 1/2 g(t)^2 z^T (d score/dx) z (Rademacher or Gaussian z, held fixed
along the path as in FFJORD, Grathwohl et al. 2019, and as Song et al.'s code probes the
drift), and adds the prior's log-density.

Probing the whole drift rather than the score's Jacobian alone matters for Gaussian probes:
the estimate's variance is 2 ||dv/dx||_F^2, and f(t) I cancels most of -1/2 g^2 d score/dx's
diagonal where the data are near Gaussian (for VP and data N(0, I) dv/dx = 0: the estimate
is exact). For Rademacher probes z^T z = d, so the two coincide.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._checks import check_finite, check_int, check_real, per_sample
from ..processes.sde import DiffusionSDE
from ..solvers import DEFAULT_ATOL, DEFAULT_RTOL, resolve, solve

DIVERGENCES = ("exact", "hutchinson")
PROBES = ("rademacher", "gaussian")


class _AugmentedFlow:
    """The probability-flow ODE in forward time with its divergence integral appended: the
    state is ``(batch, d + 1)``, x flattened then the running integral of div v."""

    noise_type = "diagonal"
    sde_type = "ito"
    is_ode = True
    additive_noise = True

    def __init__(self, sde, score, shape, divergence, probes, model_kwargs) -> None:
        self.sde, self.score_fn, self.shape = sde, score, shape
        self.divergence, self.probes, self.model_kwargs = divergence, probes, model_kwargs
        self.d = math.prod(shape)

    def f(self, t: Tensor, y: Tensor) -> Tensor:
        t = t.to(torch.float64 if y.dtype == torch.float64 else torch.float32)
        x = y[:, : self.d].reshape(y.shape[0], *self.shape)
        f_t, g_t = self.sde._drift(t), self.sde._diffusion(t)
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            score = self.score_fn(x, t, **self.model_kwargs)
            div_v = self._div_drift(score, x, f_t, g_t)
        drift = per_sample(f_t, x) * x - 0.5 * per_sample(g_t, x) ** 2 * score.detach()
        return torch.cat([drift.reshape(y.shape[0], -1), div_v.reshape(-1, 1)], dim=1).to(y)

    def _div_drift(self, score: Tensor, x: Tensor, f_t: Tensor, g_t: Tensor) -> Tensor:
        """div_x v = f d - 1/2 g^2 div score, exactly or by Hutchinson's z^T (dv/dx) z."""
        flat = score.reshape(score.shape[0], -1)
        total = torch.zeros(score.shape[0], dtype=score.dtype, device=score.device)
        if self.divergence == "exact":
            for i in range(self.d):
                (grad,) = torch.autograd.grad(flat[:, i].sum(), x, retain_graph=True)
                total = total + grad.reshape(grad.shape[0], -1)[:, i]
            return (f_t * self.d - 0.5 * g_t**2 * total).detach()
        for z in self.probes:
            (vjp,) = torch.autograd.grad(flat, x, grad_outputs=z, retain_graph=True)
            z_jz = (vjp.reshape(z.shape) * z).sum(1)
            total = total + f_t * z.square().sum(1) - 0.5 * g_t**2 * z_jz
        return (total / len(self.probes)).detach()

    def g(self, t: Tensor, y: Tensor) -> Tensor:
        return torch.zeros_like(y)


def log_likelihood(
    sde: DiffusionSDE,
    score: Callable[..., Tensor],
    x: Tensor,
    *,
    method: str = "dopri5",
    steps: int | None = None,
    adaptive: bool | None = None,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    t_min: float | None = None,
    divergence: str = "exact",
    n_probes: int = 1,
    probe: str = "rademacher",
    generator: torch.Generator | None = None,
    prior_log_prob: Callable[[Tensor], Tensor] | None = None,
    model_kwargs: dict[str, Any] | None = None,
) -> Tensor:
    """log p_{t_min}(x) in nats, per sample, by the probability-flow ODE (module docstring).

    Args:
        score: ``score(x, t, **model_kwargs)``, e.g. a ``ScoreAdapter`` or a target's exact
            ``score(sde)``.
        x: ``(batch, *event_shape)`` data points, read as samples of p at ``t_min``.
        method: an ODE method that needs only the drift; default ``dopri5`` with
            ``adaptive=True`` and the package's tolerances ``rtol = atol = 1e-5``
            (``revsde.solvers.DEFAULT_RTOL``, ``DEFAULT_ATOL``; Song et al. used RK45 at
            1e-5).
        steps: fixed steps on a uniform grid from t_min to T instead (``adaptive`` then
            defaults to off).
        t_min: where the data sit (default: the process's ``default_t_min``).
        divergence: ``"exact"`` (d vector-Jacobian products per evaluation: small d) or
            ``"hutchinson"`` (``n_probes`` probes of kind ``probe``, drawn once from
            ``generator`` and held along the path, of the whole drift's Jacobian; an
            unbiased estimate of the same number).
        prior_log_prob: log p_T at the end of the path (default: ``sde.prior_log_prob``).

    Gradients are not propagated (the state is detached at every evaluation).
    """
    check_finite("x", x)
    if x.dim() < 2 or x.shape[0] == 0:
        raise ValueError(
            f"x must be a non-empty (batch, *event_shape) tensor, got shape {tuple(x.shape)}"
        )
    if not x.dtype.is_floating_point:
        raise ValueError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    if divergence not in DIVERGENCES:
        raise ValueError(f"divergence must be one of {list(DIVERGENCES)}, got {divergence!r}")
    if probe not in PROBES:
        raise ValueError(f"probe must be one of {list(PROBES)}, got {probe!r}")
    check_int("n_probes", n_probes, low=1)
    t_min = sde.default_t_min if t_min is None else check_real("t_min", t_min, low=0.0, strict=True)
    t_max = sde.default_t_max
    if t_min >= t_max:
        raise ValueError(f"t_min must be < {t_max}, got {t_min}")
    if adaptive is None:
        adaptive = steps is None
    if not adaptive and steps is None:
        raise ValueError("give steps= for a fixed-step solve (or adaptive=True)")
    solver = resolve(method)
    if solver.requires:
        raise ValueError(
            f"method {method!r} needs an SDE of protocol "
            f"{', '.join(p.__name__ for p in solver.requires)}; the likelihood "
            "ODE offers its drift only: use euler, heun, rk4, or bosh3/dopri5 with adaptive=True"
        )
    batch, shape = x.shape[0], tuple(x.shape[1:])
    d = math.prod(shape)
    probes = []
    if divergence == "hutchinson":
        for _ in range(n_probes):
            z = torch.randn(batch, d, generator=generator, dtype=x.dtype, device=x.device)
            probes.append(z.sign() if probe == "rademacher" else z)
    flow = _AugmentedFlow(sde, score, shape, divergence, probes, dict(model_kwargs or {}))
    y0 = torch.cat([x.reshape(batch, d), x.new_zeros(batch, 1)], dim=1)
    tdtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    if adaptive:
        ts = torch.tensor([t_min, t_max], dtype=tdtype, device=x.device)
        options = {"adaptive": True, "rtol": rtol, "atol": atol}
    else:
        check_int("steps", steps, low=1)
        ts = torch.linspace(t_min, t_max, steps + 1, dtype=tdtype, device=x.device)
        options = {}
    with torch.no_grad():
        y = solve(flow, y0, ts, solver, final_only=True, **options).ys
    x_T = y[:, :d].reshape(batch, *shape)
    prior = sde.prior_log_prob if prior_log_prob is None else prior_log_prob
    log_p = prior(x_T) + y[:, d]
    return log_p


def bits_per_dim(
    log_p: Tensor,
    dims: int,
    *,
    n_bins: int = 256,
    data_range: tuple[float, float] = (-1.0, 1.0),
) -> Tensor:
    """Bits per dimension of discrete data from the continuous log-density ``log_p`` (nats)
    of uniformly dequantized points, as Song et al. (2021) and Ho et al. (2020) report it:
    data with ``n_bins`` levels per dimension, dequantized as u = (k + U)/n_bins and mapped
    linearly onto ``data_range``, have

        bpd = -log_p / (d ln 2) + log2(n_bins) - log2(hi - lo),

    i.e. +8 for 8-bit data on [0, 1] and +7 on [-1, 1] (a bound on the discrete model's
    bits/dim)."""
    check_int("dims", dims, low=1)
    lo, hi = data_range
    if not hi > lo:
        raise ValueError(f"data_range must be (lo, hi) with hi > lo, got {data_range}")
    return -log_p / (dims * math.log(2.0)) + math.log2(n_bins) - math.log2(hi - lo)
