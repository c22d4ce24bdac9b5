"""Distances between a sample and a known law, for solver comparisons."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..sampling.coupling import coupled_feature_error

if TYPE_CHECKING:
    from .targets import GaussianMixture


def _sqrtm_psd(c: Tensor) -> Tensor:
    evals, evecs = torch.linalg.eigh(c)
    return (evecs * evals.clamp_min(0.0).sqrt().unsqueeze(-2)) @ evecs.transpose(-1, -2)


def gaussian_w2(mean1: Tensor, cov1: Tensor, mean2: Tensor, cov2: Tensor) -> float:
    """2-Wasserstein distance between N(m1, C1) and N(m2, C2) (Dowson & Landau 1982):
    W2^2 = |m1 - m2|^2 + tr(C1 + C2 - 2 (C2^{1/2} C1 C2^{1/2})^{1/2})."""
    root2 = _sqrtm_psd(cov2)
    cross = _sqrtm_psd(root2 @ cov1 @ root2)
    w2sq = (mean1 - mean2).square().sum() + torch.trace(cov1 + cov2 - 2.0 * cross)
    return float(w2sq.clamp_min(0.0).sqrt())


def moment_w2(x: Tensor, mean: Tensor, cov: Tensor) -> float:
    """W2 between the Gaussian with the sample's mean and covariance and N(mean, cov): zero
    for any sample whose first two moments are exact."""
    x = x.double()
    return gaussian_w2(x.mean(0), torch.cov(x.T).reshape(cov.shape), mean.double(), cov.double())


def sliced_w2(x: Tensor, y: Tensor, n_projections: int = 64, *, seed: int = 0) -> float:
    """Sliced 2-Wasserstein distance between two equal-size samples (Rabin et al. 2011):
    the root mean over random unit directions of the 1-D W2^2 of the sorted projections."""
    if x.shape != y.shape:
        raise ValueError(f"x and y must have one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    gen = torch.Generator().manual_seed(seed)
    dirs = torch.randn(x.shape[1], n_projections, generator=gen, dtype=torch.float64)
    dirs = dirs / dirs.norm(dim=0, keepdim=True)
    px = (x.double().cpu() @ dirs).sort(dim=0).values
    py = (y.double().cpu() @ dirs).sort(dim=0).values
    return float((px - py).square().mean().sqrt())


def mixture_moment_features(x: Tensor, law: GaussianMixture) -> Tensor:
    """Per-sample responsibility-weighted moments of a Gaussian mixture, ``(n, F)`` in float64:
    r_k(x), then r_k(x) x, then r_k(x) x x^T (flattened), with r_k(x) = p(k | x). Their means
    are what ``mixture_moment_deviations`` compares with the exact values; the difference of
    two coupled samples' features, row by row, gives that comparison's standard error."""
    x = x.double().cpu()
    r = law.responsibilities(x)  # (n, K)
    rx = r.unsqueeze(-1) * x.unsqueeze(1)  # (n, K, d)
    rxx = rx.unsqueeze(-1) * x.unsqueeze(1).unsqueeze(-2)  # (n, K, d, d)
    return torch.cat([r, rx.flatten(1), rxx.flatten(1)], dim=1)


def mixture_moment_deviations(x: Tensor, law: GaussianMixture) -> Tensor:
    """The sample's deviations from the responsibility-weighted moments of a Gaussian mixture
    (see ``mixture_moment_error``), as one float64 vector: r_k means minus w_k, then the r_k x
    means minus w_k mu_k, then the r_k x x^T means minus w_k (C_k + mu_k mu_k^T). The difference
    of two samples' vectors estimates the difference of their laws' moments; for two samples
    coupled through one x_T and one Brownian path it does so with little Monte Carlo noise."""
    w, mu, cov = law.weights.double(), law.means.double(), law.covs.double()
    second = cov + mu.unsqueeze(-1) * mu.unsqueeze(-2)
    exact = torch.cat(
        [w, (w.unsqueeze(-1) * mu).flatten(), (w.reshape(-1, 1, 1) * second).flatten()]
    )
    return mixture_moment_features(x, law).mean(0) - exact


def mixture_moment_error(x: Tensor, law: GaussianMixture) -> float:
    """How far a sample is from a Gaussian mixture, by responsibility-weighted moments: for
    x ~ sum_k w_k N(mu_k, C_k) and r_k(x) = p(k | x), E[r_k] = w_k, E[r_k x] = w_k mu_k and
    E[r_k x x^T] = w_k (C_k + mu_k mu_k^T) hold exactly. Returns the root sum of squares of the
    sample's deviations from these, over every k and entry: zero for an exact sample up to
    Monte Carlo error, which is small (no sorting or binning), so small biases resolve."""
    return float(mixture_moment_deviations(x, law).norm())


def coupled_moment_error(x: Tensor, reference: Tensor, law: GaussianMixture) -> tuple[float, float]:
    """How far a sample's law is from a reference sample's, by the responsibility-weighted
    moments of ``law`` (``mixture_moment_features``), for two samples coupled row by row (the
    same start and the same Brownian path): the norm of the mean of the per-row feature
    differences, which estimates the norm of the difference of the two laws' moments whatever
    the coupling, and its Monte Carlo noise, sqrt(sum_j Var(difference_j) / n), the norm a
    difference of pure noise of that size would have. The closer the coupling, the smaller the
    noise: a solve and a fine solve from the same start differ by the solve's pathwise error."""
    if x.shape != reference.shape:
        raise ValueError(
            f"x and reference must have one shape (coupled rows), got {tuple(x.shape)} and "
            f"{tuple(reference.shape)}"
        )
    return coupled_feature_error(
        mixture_moment_features(x, law), mixture_moment_features(reference, law)
    )


def two_level_feature_error(
    features: Tensor, reference: Tensor, coarse: Tensor
) -> tuple[float, float]:
    """``coupled_feature_error`` of a run on N rows against a fine reference known on its first
    n rows only, through a cheaper reference on all N (a two-level, multilevel Monte Carlo
    estimate; Giles 2008): with f, r, c the run's, the fine and the coarse reference's
    per-sample features (``(N, F)``, ``(n, F)``, ``(N, F)``), all coupled row by row,

        E[f] - E[r] = E[f - c] + E[c - r],

    the first term over all N rows, the second over the first n. Grouped by row, the estimate
    is the mean over N of A_i = f_i - r_i + ((N - n) / n) (c_i - r_i) for i < n and
    B_i = f_i - c_i for i >= n, independent terms, so its noise is
    sqrt(sum_j (n Var(A_j) + (N - n) Var(B_j)) / N^2). With N = n it is
    ``coupled_feature_error(features, reference)``. Returns the norm of the estimate and its
    noise, as ``coupled_feature_error`` does."""
    n, total = reference.shape[0], features.shape[0]
    if coarse.shape != features.shape or reference.shape[1:] != features.shape[1:] or n > total:
        raise ValueError(
            "features and coarse must have one shape (N, F) and reference (n, F) with n <= N, "
            f"got {tuple(features.shape)}, {tuple(coarse.shape)} and {tuple(reference.shape)}"
        )
    if n == total:
        return coupled_feature_error(features, reference)
    a = features[:n] - reference + (total - n) / n * (coarse[:n] - reference)
    b = features[n:] - coarse[n:]
    estimate = (a.sum(0) + b.sum(0)) / total
    variance = (n * a.var(0) + (total - n) * b.var(0)) / total**2
    return float(estimate.norm()), float(variance.sum().sqrt())
