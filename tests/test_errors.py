"""Bad input fails with a clear error that names the argument."""

from __future__ import annotations

import math

import pytest
import torch

import revsde
from revsde.evaluation.targets import Gaussian, GaussianMixture


@pytest.mark.parametrize(
    ("build", "name"),
    [
        (lambda: revsde.VESDE(sigma_min=0.0), "sigma_min"),
        (lambda: revsde.VESDE(sigma_min=-1.0), "sigma_min"),
        (lambda: revsde.VESDE(sigma_min=5.0, sigma_max=5.0), "sigma_min"),
        (lambda: revsde.VESDE(sigma_min=5.0, sigma_max=1.0), "sigma_max"),
        (lambda: revsde.VESDE(sigma_max=math.inf), "sigma_max"),
        (lambda: revsde.VPSDE(beta_min=-0.1), "beta_min"),
        (lambda: revsde.VPSDE(beta_min=2.0, beta_max=1.0), "beta_max"),
        (lambda: revsde.SubVPSDE(beta_min=-1.0), "beta_min"),
        (lambda: revsde.SubVPSDE(beta_max=math.nan), "beta_max"),
        (lambda: revsde.CosineVPSDE(s=-0.1), "s"),
        (lambda: revsde.VPSDE(beta_min="a"), "beta_min"),
    ],
)
def test_bad_parameters(build, name):
    with pytest.raises((ValueError, TypeError), match=name):
        build()


@pytest.mark.parametrize("t", [-0.1, 1.5, math.nan, math.inf, torch.tensor([0.5, 2.0])])
def test_time_outside_zero_to_T(process, t):
    for fn in (process.alpha, process.sigma, process.drift_coeff, process.diffusion_coeff):
        with pytest.raises(ValueError, match=r"\bt\b"):
            fn(t)
    with pytest.raises(ValueError, match=r"\bt\b"):
        process.f(t, torch.zeros(2, 3))


def test_time_must_be_a_number_or_tensor(process):
    with pytest.raises(TypeError, match=r"\bt\b"):
        process.alpha("0.5")
    with pytest.raises(ValueError, match=r"\bt\b"):
        process.alpha(torch.zeros(2, 2))


def test_per_sample_time_must_match_the_batch(process):
    x = torch.zeros(4, 3)
    t = torch.full((3,), 0.5)
    calls = (lambda: process.perturbation_kernel(x, t), lambda: process.f(t, x))
    for call in (*calls, lambda: process.g(t, x)):
        with pytest.raises(ValueError, match="batch size"):
            call()


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_states(process, bad):
    x = torch.zeros(4, 3)
    x[1, 2] = bad
    with pytest.raises(ValueError, match="x0"):
        process.perturbation_kernel(x, 0.5)
    with pytest.raises(ValueError, match="x0"):
        process.perturb(x, 0.5)
    with pytest.raises(ValueError, match=r"\bx\b"):
        process.prior_log_prob(x)


def test_noise_shape(process):
    with pytest.raises(ValueError, match="noise"):
        process.perturb(torch.zeros(4, 3), 0.5, noise=torch.zeros(4, 2))


def test_integer_state_is_rejected(process):
    with pytest.raises(TypeError, match="floating"):
        process.perturbation_kernel(torch.zeros(4, 3, dtype=torch.long), 0.5)


def test_validation_can_be_switched_off():
    sde = revsde.VPSDE(validate_args=False)
    assert torch.isnan(sde.perturbation_kernel(torch.full((2, 2), math.nan), 0.5)[0]).all()


@pytest.mark.parametrize(
    ("build", "name"),
    [
        (lambda: GaussianMixture([1.0], [[0.0, 0.0]], [[[1.0, 0.0], [0.0, -1.0]]]), "covs"),
        (lambda: GaussianMixture([1.0], [[0.0, 0.0]], [[[1.0, 0.5], [0.0, 1.0]]]), "covs"),
        (lambda: GaussianMixture([1.0, 1.0], [[0.0, 0.0]], [[[1.0, 0.0], [0.0, 1.0]]]), "means"),
        (lambda: GaussianMixture([1.0], [[0.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]), "covs"),
        (lambda: GaussianMixture([-1.0], [[0.0, 0.0]], [[[1.0, 0.0], [0.0, 1.0]]]), "weights"),
        (lambda: GaussianMixture([math.nan], [[0.0, 0.0]], [[[1.0, 0.0], [0.0, 1.0]]]), "weights"),
        (lambda: Gaussian([0.0, 0.0], [[1.0, 0.0, 0.0]]), "cov"),
        (lambda: Gaussian([[0.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]), "mean"),
    ],
)
def test_bad_targets(build, name):
    with pytest.raises(ValueError, match=name):
        build()


def test_target_shape_mismatch(process):
    target = Gaussian(torch.zeros(2), torch.eye(2))
    with pytest.raises(ValueError, match="x"):
        target.log_prob(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="x"):
        target.score(process)(torch.zeros(3, 4), 0.5)
    with pytest.raises(ValueError, match="single time"):
        target.marginal(process, torch.tensor([0.1, 0.2]))
