"""Per-sample features and the coupled estimate of a difference of laws: the measure shared by
``tune_grid``'s stochastic objective and ``revsde compare``'s studies, for two samples coupled
row by row (the same start and one Brownian path, ``revsde.sampling.brownian``)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor


def fourier_features(
    reference: Tensor, count: int = 512, *, seed: int = 0
) -> Callable[[Tensor], Tensor]:
    """Random Fourier features of the Gaussian kernel k(x, y) = exp(-|x - y|^2 / (2 l^2))
    (Rahimi & Recht 2007): phi(x) = sqrt(2 / count) cos(W x + b), W ~ N(0, I / l^2),
    b ~ U[0, 2 pi), so that phi(x) . phi(y) estimates k(x, y) and |mean phi(X) - mean phi(Y)|
    the maximum mean discrepancy between the laws of X and Y. The width l is the median
    distance between the first 2048 rows of ``reference`` (the median heuristic)."""
    flat = reference.flatten(1).double()
    sub = flat[:2048]
    width = float(torch.cdist(sub, sub).median())
    if not width > 0:
        raise ValueError("the reference's rows coincide: no kernel width can be read off them")
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(flat.shape[1], count, generator=gen, dtype=torch.float64) / width
    b = 2 * math.pi * torch.rand(count, generator=gen, dtype=torch.float64)
    w, b = w.to(flat.device), b.to(flat.device)
    scale = math.sqrt(2.0 / count)

    def phi(x: Tensor) -> Tensor:
        return torch.addmm(b, x.flatten(1).double(), w).cos_().mul_(scale)

    return phi


def checked_features(phi: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """``phi(x)``, checked to be ``(batch, F)``."""
    out = phi(x)
    if out.ndim != 2 or out.shape[0] != x.shape[0]:
        raise ValueError(
            f"features must map a batch of {x.shape[0]} samples to shape ({x.shape[0]}, F), "
            f"got {tuple(out.shape)}"
        )
    return out


def coupled_feature_error(features: Tensor, reference: Tensor) -> tuple[float, float]:
    """For per-sample features ``(n, F)`` of two samples coupled row by row: the norm of the
    mean of the row differences d, |mean_i d_i|, which estimates the norm of the difference of
    the two laws' feature means, and its Monte Carlo noise sqrt(sum_j Var(d_j) / n)."""
    difference = features - reference
    noise = (difference.var(0) / difference.shape[0]).sum().sqrt()
    return float(difference.mean(0).norm()), float(noise)
