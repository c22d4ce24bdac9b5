"""The score <-> noise relation and the VE == VP correspondence of docs/math.md."""

from __future__ import annotations

import pytest
import torch
from conftest import N_SE
from test_targets import gaussian_5d, mixture_2d

import revsde

D64 = torch.float64


def test_conditional_score_is_minus_noise_over_sigma(process):
    """grad_x log N(x_t; alpha x0, sigma^2 I) at x_t = alpha x0 + sigma eps equals -eps/sigma."""
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(32, 3, dtype=D64, generator=gen)
    t = torch.tensor(0.4, dtype=D64)
    xt, eps = process.perturb(x0, t, generator=gen)
    xt.requires_grad_(True)
    mean, std = process.perturbation_kernel(x0, t)
    log_p = torch.distributions.Normal(mean, std).log_prob(xt).sum()
    (grad,) = torch.autograd.grad(log_p, xt)
    torch.testing.assert_close(grad, -eps / process.sigma(t))


def test_score_is_tweedies_posterior_mean(process):
    """For Gaussian data, s(x_t) = (alpha E[x0 | x_t] - x_t) / sigma^2 with the closed-form
    posterior mean E[x0 | x_t] = mu + alpha C (alpha^2 C + sigma^2 I)^{-1} (x_t - alpha mu)."""
    target = gaussian_5d()
    t = torch.tensor(0.3, dtype=D64)
    a, s = process.alpha(t), process.sigma(t)
    x = target.marginal(process, t).sample(16, generator=torch.Generator().manual_seed(1))
    c, mu = target.cov, target.mean
    gain = a * c @ torch.linalg.inv(a**2 * c + s**2 * torch.eye(5, dtype=D64))
    post_mean = mu + (x - a * mu) @ gain.T
    torch.testing.assert_close(target.score(process)(x, t), (a * post_mean - x) / s**2)


def test_denoising_score_matching_identity(process):
    """E[(s(x_t) + eps/sigma) h(x_t)] = 0 for h = 1 and h = x_t: the exact score is the
    conditional expectation of -eps/sigma given x_t (Vincent 2011). Monte Carlo, N_SE bands."""
    target = mixture_2d()
    gen = torch.Generator().manual_seed(2)
    n = 100_000
    t = torch.tensor(0.3, dtype=D64)
    xt, eps = process.perturb(target.sample(n, generator=gen), t, generator=gen)
    resid = target.score(process)(xt, t) + eps / process.sigma(t)  # (n, 2)
    for h in (torch.ones(n, 1, dtype=D64), xt):
        prods = (resid.unsqueeze(2) * h.unsqueeze(1)).reshape(n, -1)
        se = prods.std(0) / n**0.5
        assert bool((prods.mean(0).abs() < N_SE * se).all()), prods.mean(0) / se


def _vp_time_with_alpha2(vp: revsde.VPSDE, alpha2: float) -> torch.Tensor:
    """Solve alpha(t)^2 = alpha2 for t: the quadratic -t^2 (bmax-bmin)/2 - t bmin = log alpha2."""
    a, b, c = (
        0.5 * (vp.beta_max - vp.beta_min),
        vp.beta_min,
        torch.log(torch.tensor(alpha2, dtype=D64)),
    )
    return (-b + torch.sqrt(b**2 - 4 * a * c)) / (2 * a)


@pytest.mark.parametrize("t_ve", [0.2, 0.5, 0.8])
def test_ve_and_vp_are_one_process_in_two_coordinates(t_ve):
    """x_VP = x_VE / sqrt(1 + sigma^2) carries the VP marginal at abar = 1/(1 + sigma^2):
    the laws agree and the scores obey s_VP(x) = sqrt(1 + sigma^2) s_VE(sqrt(1 + sigma^2) x)."""
    ve, vp = revsde.VESDE(0.01, 50.0), revsde.VPSDE(0.1, 20.0)
    target = mixture_2d()
    sigma = ve.sigma(torch.tensor(t_ve, dtype=D64))
    x_ve = target.marginal(ve, t_ve).sample(64, generator=torch.Generator().manual_seed(3))
    x_vp, abar = revsde.ve_to_vp(x_ve, sigma)
    t_vp = _vp_time_with_alpha2(vp, float(abar))
    torch.testing.assert_close(vp.alpha(t_vp) ** 2, abar)
    law_vp = target.marginal(vp, t_vp)
    # densities: p_VP(x_vp) = p_VE(x_ve) * (1 + sigma^2)^(d/2)
    scale = (1 + sigma**2).sqrt()
    torch.testing.assert_close(
        law_vp.log_prob(x_vp),
        target.marginal(ve, t_ve).log_prob(x_ve) + target.dim * torch.log(scale),
    )
    torch.testing.assert_close(
        target.score(vp)(x_vp, t_vp), scale * target.score(ve)(x_ve, t_ve), rtol=1e-8, atol=1e-10
    )
    back, sigma_back = revsde.vp_to_ve(x_vp, abar)
    torch.testing.assert_close(back, x_ve)
    torch.testing.assert_close(sigma_back, sigma)
