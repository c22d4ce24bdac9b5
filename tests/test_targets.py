"""Closed-form targets: density against scipy, score against autograd, moments against samples."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import assert_cov, assert_mean, projection_ks_pvalue
from scipy import stats
from scipy.special import logsumexp

from revsde.evaluation import problems
from revsde.evaluation.targets import Gaussian, GaussianMixture

D64 = torch.float64


def mixture_2d() -> GaussianMixture:
    return problems.mixture_2d(D64)


def gaussian_5d() -> Gaussian:
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(5, 5, generator=gen, dtype=D64)
    return Gaussian(
        torch.linspace(-1, 1, 5, dtype=D64), a @ a.T / 5 + 0.1 * torch.eye(5, dtype=D64)
    )


TARGETS = {"mixture2d": mixture_2d, "gaussian5d": gaussian_5d}


@pytest.fixture(params=sorted(TARGETS))
def target(request):
    return TARGETS[request.param]()


def test_log_prob_matches_scipy(target):
    x = target.sample(200, generator=torch.Generator().manual_seed(1))
    comps = [
        stats.multivariate_normal(m.numpy(), c.numpy()).logpdf(x.numpy())
        for m, c in zip(target.means, target.covs, strict=True)
    ]
    expected = logsumexp(np.stack(comps) + np.log(target.weights.numpy())[:, None], axis=0)
    np.testing.assert_allclose(target.log_prob(x).numpy(), expected, rtol=1e-10)


@pytest.mark.parametrize("t", [0.0, 0.01, 0.3, 0.9])
def test_score_is_the_gradient_of_the_marginal_log_prob(process, target, t):
    law = target.marginal(process, t)
    x = law.sample(64, generator=torch.Generator().manual_seed(2)).requires_grad_(True)
    (grad,) = torch.autograd.grad(law.log_prob(x).sum(), x)
    score = target.score(process)(x.detach(), torch.tensor(t, dtype=D64))
    torch.testing.assert_close(score, grad, rtol=1e-9, atol=1e-9)


def test_per_sample_times_match_scalar_times(process, target):
    score = target.score(process)
    t = torch.linspace(0.05, 0.95, 7, dtype=D64)
    x = target.sample(7, generator=torch.Generator().manual_seed(3))
    batched = score(x, t)
    for i in range(7):
        torch.testing.assert_close(
            batched[i : i + 1], score(x[i : i + 1], t[i]), rtol=1e-12, atol=0
        )


def test_score_accepts_any_event_shape(process):
    target = Gaussian(torch.zeros(8, dtype=D64), torch.eye(8, dtype=D64) * 0.5)
    x = torch.randn(4, 2, 2, 2, dtype=D64)
    s = target.score(process)(x, 0.5)
    assert s.shape == x.shape
    torch.testing.assert_close(s.reshape(4, 8), target.score(process)(x.reshape(4, 8), 0.5))


def test_sample_moments(target):
    x = target.sample(100_000, generator=torch.Generator().manual_seed(4))
    assert_mean(x, target.mean)
    assert_cov(x, target.covariance)


def test_sample_law_along_a_projection():
    """KS test of the mixture along a fixed direction against its exact 1-D mixture law."""
    target = mixture_2d()
    x = target.sample(20_000, generator=torch.Generator().manual_seed(5))
    assert projection_ks_pvalue(x, target, [0.6, -0.8]) > 1e-3


@pytest.mark.parametrize("t", [0.1, 0.5])
def test_marginal_moments_match_perturbed_samples(process, target, t):
    gen = torch.Generator().manual_seed(6)
    x0 = target.sample(100_000, generator=gen)
    xt, _ = process.perturb(x0, torch.tensor(t, dtype=D64), generator=gen)
    law = target.marginal(process, t)
    assert isinstance(law, GaussianMixture)
    assert_mean(xt, law.mean)
    assert_cov(xt, law.covariance)


def test_marginal_of_a_gaussian_is_a_gaussian(process):
    law = gaussian_5d().marginal(process, 0.4)
    assert isinstance(law, Gaussian) and law.cov.shape == (5, 5)


def test_score_is_finite_far_from_every_mode(process):
    """Log-sum-exp responsibilities: no 0/0 where every component density underflows."""
    x = torch.tensor([[1e3, -1e3], [-40.0, 60.0]], dtype=D64)
    s = mixture_2d().score(process)(x, 0.01)
    assert bool(torch.isfinite(s).all())
