"""The sample metrics of revsde.evaluation.metrics against their defining identities."""

import pytest
import torch

from revsde.evaluation.metrics import (
    mixture_moment_deviations,
    mixture_moment_error,
    mixture_moment_features,
    two_level_feature_error,
)
from revsde.evaluation.problems import mixture_2d
from revsde.sampling.coupling import coupled_feature_error

D64 = torch.float64


def _sample(n, seed):
    return mixture_2d(D64).sample(n, generator=torch.Generator().manual_seed(seed))


def test_exact_samples_match_the_responsibility_weighted_moments_within_their_standard_errors():
    """E[r_k] = w_k, E[r_k x] = w_k mu_k, E[r_k x x^T] = w_k (C_k + mu_k mu_k^T) for x from the
    mixture: each deviation of 200 000 exact samples lies within 4.5 of its own standard errors
    (27 features). A wrong target (e.g. C_k in place of C_k + mu_k mu_k^T) fails by hundreds."""
    law, n = mixture_2d(D64), 200_000
    x = _sample(n, 0)
    features = mixture_moment_features(x, law)
    assert features.shape == (n, 3 + 3 * 2 + 3 * 4)
    z = mixture_moment_deviations(x, law) / (features.std(0) / n**0.5)
    assert float(z.abs().max()) < 4.5


def test_a_small_bias_in_the_sample_is_resolved():
    """A 0.05 shift of every sample (a sampler's bias of that size) moves the error far above
    the Monte Carlo level of exact samples of the same size."""
    law, n = mixture_2d(D64), 200_000
    x = _sample(n, 1)
    exact = mixture_moment_error(x, law)
    shifted = mixture_moment_error(x + 0.05, law)
    assert exact < 0.03 and shifted > 4 * exact


def test_coupled_features_cancel_their_noise():
    """Two samples that differ by a small perturbation: the difference of their deviations is
    the mean of their per-sample feature differences, whose standard error is far below that
    of either sample's own deviations (the reason coupled comparisons resolve small errors)."""
    law, n = mixture_2d(D64), 20_000
    x = _sample(n, 2)
    y = x + 1e-3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(3), dtype=D64)
    fx, fy = mixture_moment_features(x, law), mixture_moment_features(y, law)
    torch.testing.assert_close(
        mixture_moment_deviations(y, law) - mixture_moment_deviations(x, law),
        (fy - fx).mean(0),
    )
    assert float((fy - fx).std(0).max()) < 0.01 * float(fx.std(0).max())


def _two_level_draws(gen, total, n):
    """Synthetic coupled features in one coordinate: the fine reference r is exact (mean 0),
    the coarse one c = r + 0.3 + noise is biased, the run f = r + 0.5 + noise."""
    r = torch.randn(total, 1, generator=gen, dtype=D64)
    c = r + 0.3 + 0.15 * torch.randn(total, 1, generator=gen, dtype=D64)
    f = r + 0.5 + 0.4 * torch.randn(total, 1, generator=gen, dtype=D64)
    return f, r[:n], c


def test_two_level_error_corrects_the_coarse_reference_and_states_its_noise():
    """The run's error against the fine reference (0.5), not against the coarse one (0.2),
    from 4000 rows with the fine reference on the first 500: over 400 repetitions the
    estimates average to 0.5 within 4 standard errors and spread as the stated noise says
    (ratio of variances within 25 %). Dropping the correction term (the run against the
    coarse reference alone) makes it 0.2; a noise without the (N - n) / n weight on the
    correction's spread makes the ratio ~1.8."""
    gen = torch.Generator().manual_seed(0)
    estimates, noises = [], []
    for _ in range(400):
        est, noise = two_level_feature_error(*_two_level_draws(gen, 4000, 500))
        estimates.append(est)
        noises.append(noise)
    est, noise = torch.tensor(estimates, dtype=D64), torch.tensor(noises, dtype=D64)
    se = float(est.std() / len(estimates) ** 0.5)
    assert abs(float(est.mean()) - 0.5) < 4 * se, (float(est.mean()), se)
    ratio = float(est.var() / noise.square().mean())
    assert 0.75 < ratio < 1.25, ratio


def test_two_level_error_with_the_fine_reference_everywhere_is_the_coupled_error():
    gen = torch.Generator().manual_seed(1)
    f, r, c = _two_level_draws(gen, 300, 300)
    assert two_level_feature_error(f, r, c) == coupled_feature_error(f, r)
    with pytest.raises(ValueError, match=r"reference \(n, F\) with n <= N"):
        two_level_feature_error(f[:100], r, c[:100])
