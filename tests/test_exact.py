"""Exact output laws on Gaussian targets (revsde.evaluation.exact) against Monte Carlo, closed
forms and torch.distributions."""

from __future__ import annotations

import math

import pytest
import torch

import revsde
from revsde import solvers
from revsde.evaluation.exact import NotExact, eigenbasis, exact_solve, exact_support
from revsde.evaluation.problems import gaussian_2d
from revsde.sampling.sample import default_spacing

D64 = torch.float64
TARGET = gaussian_2d(D64)
PROCESSES = {"vp": revsde.VPSDE, "ve": lambda: revsde.VESDE(0.01, 20.0)}
EXACT = sorted(m for m in solvers.SOLVERS if exact_support(m) is None)
VARIANTS = [(m, {}) for m in EXACT] + [
    ("ddim", {"eta": 0.5}),
    ("edm", {"s_churn": 20.0}),
    ("dpmpp_2m_sde", {"eta": 0.5}),
    ("ancestral", {"variance": "posterior"}),
    ("ancestral", {"variance": "beta"}),
]


def monte_carlo(sde, method, steps, n, options):
    """The same solve on n samples from the prior, in the target's eigenbasis (where
    exact_solve reports its laws)."""
    u = eigenbasis(TARGET)[2]
    solver = solvers.resolve(method, **options)
    rsde = sde.reverse(TARGET.score(sde), probability_flow=solver.ode_only)
    ts = rsde.times(steps, spacing=default_spacing(solver, sde), dtype=D64)
    gen = torch.Generator().manual_seed(1)
    x_T = sde.prior_std * torch.randn(n, 2, dtype=D64, generator=gen)
    with torch.no_grad():
        y = solvers.solve(rsde, x_T, ts, method=solver, final_only=True, generator=gen).ys
    return y @ u  # eigen coordinates


@pytest.mark.parametrize("kind", sorted(PROCESSES))
@pytest.mark.parametrize(("method", "options"), VARIANTS, ids=lambda v: str(v) if v else "")
def test_exact_law_agrees_with_monte_carlo(kind, method, options):
    """10^6 samples of 5 steps land on the exact law: means and variances within 4.5
    standard errors in every eigen-direction, and no correlation between them."""
    sde = PROCESSES[kind]()
    ex = exact_solve(sde, TARGET, method, 5, **options)
    n = 1_000_000
    y = monte_carlo(sde, method, 5, n, options)
    m, v = ex.output.mean, ex.output.var
    z_mean = (y.mean(0) - m) / (v / n).sqrt()
    z_var = (y.var(0) - v) / (v * math.sqrt(2 / n))
    yc = y - y.mean(0)
    z_cov = (yc[:, 0] * yc[:, 1]).mean() / (v.prod() / n).sqrt()
    assert float(z_mean.abs().max()) < 4.5, (method, z_mean)
    assert float(z_var.abs().max()) < 4.5, (method, z_var)
    assert abs(float(z_cov)) < 4.5, (method, z_cov)


def test_probability_flow_euler_exact_w2_is_the_pathwise_error():
    """On the probability-flow ODE from the true law of x_T, Euler's output and the exact flow
    are both affine in x_T with positive slopes, so the exact W2 equals the pathwise RMS error,
    computed here from the exact flow map of Gaussian data (docs/math.md: along each eigen-
    direction (x - alpha mu)/sqrt(v(t)) is constant) on 10^5 paths."""
    sde = revsde.VPSDE()
    ex = exact_solve(
        sde, TARGET, "euler", 20, start="exact", spacing="uniform", probability_flow=True
    )
    mu, c, u = eigenbasis(TARGET)
    rode = sde.reverse(TARGET.score(sde), probability_flow=True)
    gen = torch.Generator().manual_seed(0)
    x_T = TARGET.marginal(sde, rode.t_max).sample(100_000, generator=gen)
    with torch.no_grad():
        y = solvers.solve(rode, x_T, rode.times(20, dtype=D64), method="euler", final_only=True).ys
    t = torch.tensor([rode.t_max, rode.t_min], dtype=D64)
    a, s = sde.alpha(t), sde.sigma(t)
    v = a[:, None] ** 2 * c + s[:, None] ** 2
    exact = a[1] * mu + (x_T @ u - a[0] * mu) * (v[1] / v[0]).sqrt()
    pathwise = float((y @ u - exact).square().sum(1).mean().sqrt())
    assert ex.w2 == pytest.approx(pathwise, rel=0.01)
    assert ex.split()["initialization"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(("method", "steps"), [("heun", 2000), ("euler", 8000)])
def test_the_continuous_reference_is_the_limit_of_fine_solves(method, steps):
    """The closed-form reverse process (lam = 0 for heun's ODE, lam = 1 for the SDE) from a
    start law far from p_T is what fine exact solves converge to."""
    sde = revsde.VPSDE()
    start = (torch.tensor([3.0, -2.0], dtype=D64), torch.tensor([4.0, 0.25], dtype=D64))
    ex = exact_solve(sde, TARGET, method, steps, spacing="quadratic", start=start)
    init, disc = ex.continuous.w2(ex.marginal), ex.output.w2(ex.continuous)
    assert init > 0.01 and disc < init / 20, (init, disc)


def test_kl_and_w2_against_torch_distributions():
    sde = revsde.VPSDE()
    ex = exact_solve(sde, TARGET, "ddim", 10)
    p = torch.distributions.MultivariateNormal(ex.output.mean_vector, ex.output.covariance)
    q = torch.distributions.MultivariateNormal(ex.marginal.mean_vector, ex.marginal.covariance)
    assert ex.kl == pytest.approx(float(torch.distributions.kl_divergence(p, q)), rel=1e-9)
    w2 = revsde.evaluation.metrics.gaussian_w2(
        p.mean, p.covariance_matrix, q.mean, q.covariance_matrix
    )
    assert ex.w2 == pytest.approx(float(w2), rel=1e-6)
    split = ex.split()
    assert (
        split["total"]
        <= split["initialization"] + split["discretization"] + split["truncation"] + 1e-12
    )


def test_methods_without_an_exact_law_are_refused_with_the_reason():
    assert "Langevin" in exact_support("pc")
    with pytest.raises(NotExact, match="pc has no exact Gaussian law: the Langevin corrector"):
        exact_solve(revsde.VPSDE(), TARGET, "pc", 5)
    assert exact_support("pc", n_corrector_steps=0) is None
    with pytest.raises(ValueError, match="start must be 'prior', 'exact' or a"):
        exact_solve(revsde.VPSDE(), TARGET, "euler", 5, start="data")
