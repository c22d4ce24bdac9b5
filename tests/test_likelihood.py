"""Probability-flow log-likelihoods against the exact log-densities of the targets."""

from __future__ import annotations

import math

import pytest
import torch

import revsde
from revsde.evaluation.likelihood import bits_per_dim, log_likelihood
from revsde.evaluation.problems import gaussian_2d
from revsde.evaluation.targets import Gaussian, GaussianMixture

D64 = torch.float64
GAUSS = gaussian_2d(D64)
MIXTURE = GaussianMixture(
    torch.tensor([0.6, 0.4], dtype=D64),
    torch.tensor([[-2.0, 0.0], [2.0, 1.0]], dtype=D64),
    torch.stack([torch.eye(2, dtype=D64), 0.3 * torch.eye(2, dtype=D64)]),
)
PROCESSES = {"vp": revsde.VPSDE, "ve": lambda: revsde.VESDE(0.01, 20.0), "subvp": revsde.SubVPSDE}


@pytest.mark.parametrize("kind", sorted(PROCESSES))
@pytest.mark.parametrize("target", [GAUSS, MIXTURE], ids=["gaussian", "mixture"])
def test_log_likelihood_is_the_exact_log_density(kind, target):
    """With the exact score and the exact law at T as the prior, the ODE's log-likelihood of
    points at t_min is log p_{t_min}(x) to the solver's tolerance (dopri5, 1e-8)."""
    sde = PROCESSES[kind]()
    t_min = 1e-3
    x = target.marginal(sde, t_min).sample(40, generator=torch.Generator().manual_seed(0))
    log_p = log_likelihood(
        sde,
        target.score(sde),
        x,
        t_min=t_min,
        rtol=1e-8,
        atol=1e-8,
        prior_log_prob=target.marginal(sde, sde.T).log_prob,
    )
    exact = target.marginal(sde, t_min).log_prob(x)
    torch.testing.assert_close(log_p, exact, rtol=0, atol=1e-5)


def test_fixed_steps_converge_at_the_methods_order():
    sde = revsde.VPSDE()
    x = GAUSS.marginal(sde, 1e-3).sample(20, generator=torch.Generator().manual_seed(0))
    exact = GAUSS.marginal(sde, 1e-3).log_prob(x)
    prior = GAUSS.marginal(sde, 1.0).log_prob
    errs = [
        float(
            (
                log_likelihood(
                    sde,
                    GAUSS.score(sde),
                    x,
                    t_min=1e-3,
                    method="rk4",
                    steps=n,
                    prior_log_prob=prior,
                )
                - exact
            )
            .abs()
            .max()
        )
        for n in (40, 80)
    ]
    assert errs[0] / errs[1] > 8  # rk4: ~16 per halving


def test_hutchinson_is_an_unbiased_estimate_of_the_exact_divergence():
    """Many independent Rademacher (and Gaussian) probes, one per copy of each point: the mean
    of the estimates is the exact-divergence log-likelihood within 4.5 standard errors."""
    sde = revsde.VPSDE()
    x = MIXTURE.marginal(sde, 1e-3).sample(4, generator=torch.Generator().manual_seed(0))
    kw = {"t_min": 1e-3, "method": "rk4", "steps": 30}
    exact = log_likelihood(sde, MIXTURE.score(sde), x, **kw)
    copies = 2000
    rep = x.repeat_interleave(copies, 0)
    for probe in ("rademacher", "gaussian"):
        est = log_likelihood(
            sde,
            MIXTURE.score(sde),
            rep,
            divergence="hutchinson",
            probe=probe,
            generator=torch.Generator().manual_seed(1),
            **kw,
        ).reshape(4, copies)
        se = est.std(1) / math.sqrt(copies)
        assert bool(((est.mean(1) - exact).abs() < 4.5 * se).all()), (est.mean(1), exact, se)
        assert bool((se > 0).all())


@pytest.mark.parametrize("probe", ["rademacher", "gaussian"])
def test_hutchinson_probes_the_whole_drift(probe):
    """For data N(0, I) under VP the probability-flow drift is zero (the score is -x), so its
    Jacobian is 0 and a probe of the whole drift, f z^T z - g^2/2 z^T J z, is exact for any z;
    a probe of the score's Jacobian alone is not, for Gaussian z (it has variance
    2 (g^2/2)^2 d)."""
    sde = revsde.VPSDE()
    data = Gaussian(torch.zeros(3, dtype=D64), torch.eye(3, dtype=D64))
    x = torch.randn(16, 3, dtype=D64, generator=torch.Generator().manual_seed(0))
    kw = {"t_min": 1e-3, "method": "rk4", "steps": 10}
    exact = log_likelihood(sde, data.score(sde), x, **kw)
    est = log_likelihood(
        sde,
        data.score(sde),
        x,
        divergence="hutchinson",
        probe=probe,
        generator=torch.Generator().manual_seed(1),
        **kw,
    )
    torch.testing.assert_close(est, exact, rtol=0.0, atol=1e-9)


def test_bits_per_dim_offsets():
    log_p = torch.tensor([-100.0])
    d = 10
    base = 100.0 / (d * math.log(2))
    torch.testing.assert_close(
        bits_per_dim(log_p, d, data_range=(0.0, 1.0)), base + 8.0 + 0 * log_p
    )
    torch.testing.assert_close(bits_per_dim(log_p, d), base + 7.0 + 0 * log_p)


def test_bad_likelihood_arguments():
    sde = revsde.VPSDE()
    x = torch.zeros(3, 2, dtype=D64)
    with pytest.raises(ValueError, match="divergence must be one of"):
        log_likelihood(sde, GAUSS.score(sde), x, divergence="trace")
    with pytest.raises(ValueError, match=r"needs an SDE of protocol SemiLinearSDE"):
        log_likelihood(sde, GAUSS.score(sde), x, method="dpmpp_2m", steps=4)
    with pytest.raises(ValueError, match="give steps="):
        log_likelihood(sde, GAUSS.score(sde), x, adaptive=False)
