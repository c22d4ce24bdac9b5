"""The closed-form problems of ``revsde compare`` and the benchmarks: forward processes by
name and data laws whose every diffusion marginal is known (``targets``)."""

from __future__ import annotations

import math

import torch

from ..processes import VESDE, VPSDE, CosineVPSDE, SubVPSDE
from .targets import Gaussian, GaussianMixture

SDES = {"vp": VPSDE, "subvp": SubVPSDE, "ve": VESDE, "cosine": CosineVPSDE}


def mixture_2d(dtype: torch.dtype | None = None) -> GaussianMixture:
    """Three modes, unequal weights, correlated covariances (in ``dtype``, default torch's)."""
    return GaussianMixture(
        torch.tensor([0.5, 0.3, 0.2], dtype=dtype),
        torch.tensor([[-2.0, 0.0], [2.0, 1.0], [0.0, -3.0]], dtype=dtype),
        torch.tensor(
            [[[1.0, 0.6], [0.6, 0.8]], [[0.3, -0.1], [-0.1, 0.5]], [[0.6, 0.0], [0.0, 0.05]]],
            dtype=dtype,
        ),
    )


def gaussian_2d(dtype: torch.dtype | None = None) -> Gaussian:
    """A correlated 2-D Gaussian (in ``dtype``, default torch's)."""
    return Gaussian(
        torch.tensor([1.0, -1.0], dtype=dtype), torch.tensor([[1.0, 0.5], [0.5, 0.8]], dtype=dtype)
    )


def gaussian_64() -> Gaussian:
    """An anisotropic Gaussian in d = 64: variances from 0.01 to 3 along a fixed random basis."""
    gen = torch.Generator().manual_seed(64)
    q, _ = torch.linalg.qr(torch.randn(64, 64, generator=gen, dtype=torch.float64))
    variances = torch.logspace(-2, math.log10(3.0), 64, dtype=torch.float64)
    return Gaussian(
        torch.linspace(-1.0, 1.0, 64, dtype=torch.float64), q @ torch.diag(variances) @ q.T
    )


def gaussian_3072() -> Gaussian:
    """d = 3072 (a 3x32x32 image's size) with a power-law spectrum like natural images':
    variances k^-1, k = 1..3072 (from 1 down to 3e-4), mean zero, in the standard basis.
    For ``exact=True`` only: a Monte Carlo study in this dimension is out of reach here."""
    variances = 1.0 / torch.arange(1, 3073, dtype=torch.float64)
    return Gaussian(torch.zeros(3072, dtype=torch.float64), torch.diag(variances))


TARGETS = {
    "mixture2d": mixture_2d,
    "gaussian2d": gaussian_2d,
    "gaussian64": gaussian_64,
    "gaussian3072": gaussian_3072,
}
GAUSSIAN_TARGETS = ("gaussian2d", "gaussian64", "gaussian3072")
EXACT_ONLY = ("gaussian3072",)
