"""The DDPM and SMLD chains, and their continuum limits (docs/math.md)."""

from __future__ import annotations

import pytest
import torch
from conftest import assert_mean, log_log_slope

import revsde
from revsde.processes import discrete

D64 = torch.float64


def test_ddpm_table_is_hos_linear_schedule():
    betas = discrete.ddpm_betas(revsde.VPSDE(0.1, 20.0), 1000, dtype=D64)
    assert betas.shape == (1000,)
    # Ho et al. (2020): beta_1 = 1e-4, beta_T = 0.02, linear in between
    torch.testing.assert_close(betas[[0, -1]], torch.tensor([1e-4, 0.02], dtype=D64))
    torch.testing.assert_close(betas.diff(), torch.full((999,), (0.02 - 1e-4) / 999, dtype=D64))


def test_ddpm_alphas_cumprod_converge_to_the_vp_alpha_at_order_one():
    sde = revsde.VPSDE(0.1, 20.0)
    ns, errs = [100, 200, 400, 800, 1600], []
    for n in ns:
        abar = discrete.alphas_cumprod(discrete.ddpm_betas(sde, n, dtype=D64))
        t = torch.arange(1, n + 1, dtype=D64) / n
        errs.append(float((abar - sde.alpha(t) ** 2).abs().max()))
    slope = log_log_slope([1 / n for n in ns], errs)
    assert abs(slope - 1.0) < 0.2, (slope, errs)
    assert errs[-1] < 1e-2


def _run_chain(step, x0, n_steps):
    x, out = x0.clone(), [x0.clone()]
    gen = torch.Generator().manual_seed(0)
    for i in range(n_steps):
        x = step(i, x, torch.randn(x.shape, generator=gen, dtype=x.dtype))
        out.append(x)
    return out


def test_smld_chain_keeps_the_state_and_adds_the_variance_increment():
    """x_i = x_{i-1} + sqrt(sigma_i^2 - sigma_{i-1}^2) z: mean x0, variance sigma_i^2 - sigma_1^2
    = sigma(t_i)^2 of the VE SDE at t_i = (i-1)/(N-1)."""
    sde = revsde.VESDE(0.01, 5.0)
    sigmas = discrete.smld_sigmas(sde, 20, dtype=D64)
    x0 = torch.full((50_000, 1), 2.0, dtype=D64)
    xs = _run_chain(lambda i, x, z: discrete.smld_step(x, sigmas[i], sigmas[i + 1], z), x0, 19)
    for i in (1, 10, 19):
        assert_mean(xs[i], [2.0])
        t = torch.tensor(i / 19, dtype=D64)
        n = xs[i].shape[0]
        rel = float(xs[i].var() / sde.sigma(t) ** 2 - 1)
        assert abs(rel) < 4.5 * (2 / (n - 1)) ** 0.5


def test_ddpm_chain_marginals():
    """x_i = sqrt(1 - beta_i) x_{i-1} + sqrt(beta_i) z: mean sqrt(abar_i) x0, var 1 - abar_i."""
    betas = discrete.ddpm_betas(revsde.VPSDE(0.1, 20.0), 50, dtype=D64)
    abar = discrete.alphas_cumprod(betas)
    x0 = torch.full((50_000, 1), 2.0, dtype=D64)
    xs = _run_chain(lambda i, x, z: discrete.ddpm_step(x, betas[i], z), x0, 50)
    for i in (1, 25, 50):
        assert_mean(xs[i], [2.0 * float(abar[i - 1].sqrt())])
        n = xs[i].shape[0]
        rel = float(xs[i].var() / (1 - abar[i - 1]) - 1)
        assert abs(rel) < 4.5 * (2 / (n - 1)) ** 0.5


@pytest.mark.parametrize(
    "call",
    [
        lambda: discrete.ddpm_betas(revsde.VPSDE(), 1),
        lambda: discrete.ddpm_betas(revsde.VESDE(), 10),
        lambda: discrete.smld_sigmas(revsde.VPSDE(), 10),
        lambda: discrete.alphas_cumprod(torch.tensor([0.5, 1.0])),
        lambda: discrete.smld_step(torch.zeros(2), 2.0, 1.0, torch.zeros(2)),
    ],
)
def test_discrete_bad_input(call):
    with pytest.raises((ValueError, TypeError)):
        call()
