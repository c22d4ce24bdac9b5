"""Sampled marginals against N(alpha(t) x0, sigma(t)^2): perturb, and the forward SDE integrated
by torchsde. Tolerances are N_SE Monte Carlo standard errors at fixed seeds."""

from __future__ import annotations

import pytest
import torch
import torchsde
from conftest import PROCESSES, assert_mean, standard_normal_pvalue

X0 = torch.tensor([1.5, -0.5], dtype=torch.float64)


@pytest.mark.parametrize("t", [0.05, 0.3, 0.7, 1.0])
def test_perturb_moments_and_ks(process, t):
    gen = torch.Generator().manual_seed(1)
    n = 100_000
    x0 = X0.expand(n, 2).clone()
    xt, noise = process.perturb(x0, t, generator=gen)
    tt = torch.tensor(t, dtype=torch.float64)
    alpha, sigma = float(process.alpha(tt)), float(process.sigma(tt))
    assert_mean(xt, alpha * X0)
    z = (xt - alpha * x0) / sigma
    torch.testing.assert_close(z, noise)  # x_t is built from the noise it returns
    # variance: the sample variance of z is 1 within its standard error sqrt(2/(n-1))
    var_err = (z.var(0) - 1).abs().max()
    assert var_err < 4.5 * (2 / (n - 1)) ** 0.5
    assert standard_normal_pvalue(z) > 1e-3


def test_perturb_with_per_sample_times(process):
    """Each sample uses its own t: (x_t - alpha(t_i) x0) / sigma(t_i) is standard normal."""
    gen = torch.Generator().manual_seed(2)
    n = 50_000
    t = torch.rand(n, generator=gen, dtype=torch.float64) * 0.95 + 0.05
    x0 = torch.randn(n, 3, 2, generator=gen, dtype=torch.float64)  # a non-vector event shape
    xt, _ = process.perturb(x0, t, generator=gen)
    shape = (n, 1, 1)
    z = (xt - process.alpha(t).reshape(shape) * x0) / process.sigma(t).reshape(shape)
    assert standard_normal_pvalue(z) > 1e-3
    assert abs(float(z.var()) - 1) < 4.5 * (2 / z.numel()) ** 0.5


# Step sizes chosen so that Euler's O(dt) weak bias is well under one standard error: for VE the
# variance is a left Riemann sum of g^2, relative bias ~ log(smax/smin) dt = 0.4% against a
# standard error of sqrt(2/n) = 1.4%.
FORWARD_CASES = {"ve": (1.0, 5e-4), "vp": (1.0, 2e-3), "subvp": (1.0, 2e-3), "cosine": (0.9, 2e-3)}


@pytest.mark.parametrize("kind", sorted(PROCESSES))
def test_forward_sde_with_torchsde_lands_on_the_closed_form(kind):
    sde = PROCESSES[kind]()
    t_end, dt = FORWARD_CASES[kind]
    n = 10_000
    ts = torch.tensor([0.0, 0.1, 0.4, t_end], dtype=torch.float64)
    # torchsde seeds its default BrownianInterval from Python's `random`, not from torch:
    # a fixed entropy makes the run reproducible whatever ran before
    bm = torchsde.BrownianInterval(t0=0.0, t1=t_end, size=(n, 2), dtype=torch.float64, entropy=3)
    ys = torchsde.sdeint(sde, X0.expand(n, 2).clone(), ts, bm=bm, method="euler", dt=dt)
    for i in range(1, len(ts)):
        t = ts[i]
        mean, std = float(sde.alpha(t)), float(sde.sigma(t))
        assert_mean(ys[i], mean * X0)
        z = (ys[i] - mean * X0) / std
        var_err = float((z.var(0) - 1).abs().max())
        assert var_err < 4.5 * (2 / (n - 1)) ** 0.5, (
            f"t={float(t)}: variance ratio off by {var_err}"
        )
