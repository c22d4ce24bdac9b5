"""Reverse-time SDE, probability-flow ODE and the lam family, integrated by torchsde."""

from __future__ import annotations

import pytest
import torch
import torchsde
from conftest import PROCESSES, assert_cov, assert_mean, log_log_slope, projection_ks_pvalue
from problems import gaussian_probability_flow
from test_targets import mixture_2d

import revsde
from revsde.evaluation.targets import Gaussian

D64 = torch.float64


def correlated_gaussian() -> Gaussian:
    return Gaussian(
        torch.tensor([1.0, -2.0], dtype=D64), torch.tensor([[1.0, 0.8], [0.8, 1.5]], dtype=D64)
    )


TARGETS = {"gaussian": correlated_gaussian, "mixture": mixture_2d}


def integrate(rsde, x_start, n_steps, seed=0):
    """torchsde Euler from s = 0 to s_max in n_steps equal steps; returns the final state."""
    ts = torch.tensor([0.0, rsde.s_max], dtype=x_start.dtype)
    bm = torchsde.BrownianInterval(
        t0=0.0, t1=rsde.s_max, size=x_start.shape, dtype=x_start.dtype, entropy=seed
    )
    # dt a hair above s_max/n: accumulated rounding must not leave torchsde a last step of
    # ~1e-16, on which its BrownianInterval recurses without end.
    dt = rsde.s_max / n_steps * (1 + 1e-10)
    return torchsde.sdeint(rsde, x_start, ts, method="euler", dt=dt, bm=bm)[-1]


@pytest.mark.parametrize("target_name", sorted(TARGETS))
@pytest.mark.parametrize("kind", ["vp", "subvp", "ve"])
def test_reverse_sde_recovers_the_data_law(kind, target_name):
    """From the prior, the reverse SDE lands on the exact law at t_min: moments within Monte
    Carlo error, and KS along two directions."""
    sde, target = PROCESSES[kind](), TARGETS[target_name]()
    rsde = sde.reverse(target.score(sde))
    gen = torch.Generator().manual_seed(1)
    x_T = sde.prior_sample((4000, 2), generator=gen, dtype=D64)
    x = integrate(rsde, x_T, 500)
    law = target.marginal(sde, rsde.t_min)
    assert_mean(x, law.mean)
    assert_cov(x, law.covariance)
    for direction in ([1.0, 0.0], [0.6, 0.8]):
        assert projection_ks_pvalue(x, law, direction) > 1e-3


@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0, 2.0])
def test_lambda_family_shares_the_marginals(lam):
    sde, target = revsde.VPSDE(), mixture_2d()
    rsde = sde.reverse(target.score(sde), lam=lam, t_min=0.3)
    x_T = target.marginal(sde, 1.0).sample(4000, generator=torch.Generator().manual_seed(2))
    x = integrate(rsde, x_T, 400)
    law = target.marginal(sde, 0.3)
    assert_mean(x, law.mean)
    assert_cov(x, law.covariance)
    assert projection_ks_pvalue(x, law, [0.6, 0.8]) > 1e-3


def test_a_wrong_reverse_drift_is_caught():
    """The recovery test can fail: with g^2 score instead of (1 + lam^2)/2 g^2 score on the
    ODE (lam = 0), the law at t_min is wrong."""
    sde, target = revsde.VPSDE(), correlated_gaussian()
    rsde = sde.reverse(target.score(sde), probability_flow=True, t_min=0.3)
    rsde._drift_weight = 1.0  # the reverse SDE's drift with no noise
    x_T = target.marginal(sde, 1.0).sample(4000, generator=torch.Generator().manual_seed(3))
    x = integrate(rsde, x_T, 200)
    with pytest.raises(AssertionError):
        assert_cov(x, target.marginal(sde, 0.3).covariance)


@pytest.mark.parametrize("kind", ["vp", "subvp", "ve", "cosine"])
def test_probability_flow_matches_its_exact_solution_at_order_one(kind):
    """For N(mu, diag c) data, (x_t - alpha_t mu) / sqrt(alpha_t^2 c + sigma_t^2) is constant along
    every ODE path (docs/math.md). torchsde's Euler error against it falls at order 1 in dt."""
    rode, x_T, exact = gaussian_probability_flow(PROCESSES[kind]())
    steps = [25, 50, 100, 200, 400]
    errors = [float((integrate(rode, x_T, n) - exact).abs().max()) for n in steps]
    slope = log_log_slope([1 / n for n in steps], errors)
    assert abs(slope - 1.0) < 0.2, (slope, errors)


@pytest.mark.parametrize("method", ["euler", "milstein", "srk"])
def test_torchsde_runs_the_reverse_sde_unchanged(process, method):
    target = mixture_2d()
    rsde = process.reverse(target.score(process))
    x_T = process.prior_sample((32, 2), dtype=D64)
    ys = torchsde.sdeint(rsde, x_T, rsde.times(20, dtype=D64), method=method, dt=rsde.s_max / 19)
    assert ys.shape == (21, 32, 2) and bool(torch.isfinite(ys).all())


def test_probability_flow_diffusion_is_a_zero_tensor(process):
    rode = process.reverse(mixture_2d().score(process), probability_flow=True)
    y = torch.randn(5, 2, dtype=D64)
    g = rode.g(torch.tensor(0.2, dtype=D64), y)
    assert isinstance(g, torch.Tensor) and g.shape == y.shape and not bool(g.any())
    assert rode.lam == 0.0


def test_drift_in_the_reverse_clock(process):
    """f_rev(s, y) = -[f(t) y - g(t)^2 score(y, t)] and g_rev(s) = g(t) at t = t_max - s."""
    target = mixture_2d()
    score = target.score(process)
    rsde = process.reverse(score)
    y, s = torch.randn(6, 2, dtype=D64), torch.tensor(0.25, dtype=D64)
    t = rsde.t_max - s
    expected = -(process.drift_coeff(t) * y - process.diffusion_coeff(t) ** 2 * score(y, t))
    torch.testing.assert_close(rsde.f(s, y), expected)
    torch.testing.assert_close(rsde.g(s, y), process.diffusion_coeff(t).expand_as(y))
    torch.testing.assert_close(rsde.predict_score(s, y), score(y, t))


@pytest.mark.parametrize("spacing", ["uniform", "quadratic", "karras"])
def test_time_grids(process, spacing):
    rsde = process.reverse(mixture_2d().score(process))
    s = rsde.times(50, spacing=spacing, dtype=D64)
    assert s.shape == (51,)
    assert float(s[0]) == 0.0 and float(s[-1]) == pytest.approx(rsde.s_max, rel=1e-12)
    assert bool((s.diff() > 0).all())
    if spacing == "karras":  # equal steps in noise_level^(1/7)
        levels = process.noise_level(rsde.t_max - s) ** (1 / 7)
        torch.testing.assert_close(
            levels.diff(), levels.diff()[:1].expand(50), rtol=1e-6, atol=1e-9
        )
    if spacing == "quadratic":  # t - t_min falls as (1 - i/n)^2
        u = torch.linspace(0, 1, 51, dtype=D64)
        torch.testing.assert_close(
            rsde.t_max - s - rsde.t_min, (rsde.t_max - rsde.t_min) * (1 - u) ** 2
        )


def test_default_time_window():
    assert revsde.VPSDE().reverse(lambda x, t: x).t_min == 1e-3
    assert revsde.SubVPSDE().reverse(lambda x, t: x).t_min == 1e-3
    assert revsde.VESDE().reverse(lambda x, t: x).t_min == 1e-5
    r = revsde.CosineVPSDE().reverse(lambda x, t: x)
    assert r.t_max < 1.0 and r.s_max == pytest.approx(r.t_max - r.t_min)


def test_time_of_noise_level_inverts_noise_level(process):
    t = torch.linspace(0.01, 0.99, 30, dtype=D64)
    torch.testing.assert_close(
        process.time_of_noise_level(process.noise_level(t)), t, rtol=1e-9, atol=1e-12
    )


def test_tweedie_denoiser_is_the_posterior_mean(process):
    target = correlated_gaussian()
    t = torch.tensor(0.4, dtype=D64)
    a, s = process.alpha(t), process.sigma(t)
    x = target.marginal(process, t).sample(8, generator=torch.Generator().manual_seed(5))
    c, mu = target.cov, target.mean
    post = (
        mu + (x - a * mu) @ (a * c @ torch.linalg.inv(a**2 * c + s**2 * torch.eye(2, dtype=D64))).T
    )
    torch.testing.assert_close(revsde.denoise(process, target.score(process), x, t), post)
    per_sample = revsde.denoise(process, target.score(process), x, t.expand(8))
    torch.testing.assert_close(per_sample, post)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"t_min": 0.0}, "t_min"),
        ({"t_min": 1.0}, "t_min"),
        ({"t_min": -1e-3}, "t_min"),
        ({"t_max": 1.5}, "t_max"),
        ({"lam": -1.0}, "lam"),
    ],
)
def test_bad_reverse_arguments(process, kwargs, name):
    with pytest.raises(ValueError, match=name):
        process.reverse(lambda x, t: x, **kwargs)


def test_bad_grid_and_state(process):
    rsde = process.reverse(lambda x, t: x, event_shape=(1, 2, 2))
    with pytest.raises(ValueError, match="spacing"):
        rsde.times(10, spacing="cubic")
    with pytest.raises(ValueError, match=r"\bn\b"):
        rsde.times(0)
    with pytest.raises(ValueError, match="event_shape"):
        rsde.f(0.1, torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"\bs\b"):
        rsde.f(rsde.s_max + 0.5, torch.zeros(3, 4))
    bad = process.reverse(lambda x, t: x[:, :1])
    with pytest.raises(ValueError, match="score returned"):
        bad.f(0.1, torch.zeros(3, 4))


@pytest.mark.parametrize(("method", "steps"), [("euler", 300), ("rk4", 50)])
def test_sample_runs_prior_to_solver_to_denoised_result(method, steps):
    """revsde.sample: prior, solver (the ODE for ODE-only methods), Tweedie's last step; the
    result has the data law's moments (t_min is 1e-3, so x_0's law within Monte Carlo error)."""
    sde, target = revsde.VPSDE(), correlated_gaussian()
    x = revsde.sample(
        sde,
        target.score(sde),
        (4000, 2),
        method=method,
        steps=steps,
        generator=torch.Generator().manual_seed(9),
        dtype=D64,
    )
    assert x.shape == (4000, 2)
    assert_mean(x, target.mean)
    # Tweedie's mean shrinks the spread by O(sigma(t_min)^2) = O(1e-4): far below the error bars
    assert_cov(x, target.covariance)
