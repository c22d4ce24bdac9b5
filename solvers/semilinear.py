"""What the semi-linear (exponential-integrator) families share: the step's coefficients.

On the probability-flow ODE of x_t = alpha_t x_0 + sigma_t eps, written in the log-SNR
lambda = log(alpha / sigma), the exact solution from lambda_0 to lambda_1 > lambda_0 is
(Lu et al. 2022b, "DPM-Solver++", eq. 9)

    x_1 = (sigma_1/sigma_0) x_0 + sigma_1 int_{lambda_0}^{lambda_1} e^lambda x0_hat(lambda) dlambda,

so only the data prediction x0_hat needs approximating. The SDE provides
``marginal_coefficients`` and ``data_prediction`` (see ``solvers.base``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor


class Ends(NamedTuple):
    """alpha and sigma at a step's two ends, lambda_0 at its start, and h = lambda_1 - lambda_0."""

    alpha0: Tensor
    sigma0: Tensor
    alpha1: Tensor
    sigma1: Tensor
    lam0: Tensor
    h: Tensor


def ends(sde: Any, t0: Tensor, t1: Tensor, y: Tensor) -> Ends:
    a0, s0 = sde.marginal_coefficients(t0, y)
    a1, s1 = sde.marginal_coefficients(t1, y)
    lam0 = torch.log(a0) - torch.log(s0)
    return Ends(a0, s0, a1, s1, lam0, torch.log(a1) - torch.log(s1) - lam0)


def standard_normal(noise) -> Tensor:
    """z = dW / sqrt(h) ~ N(0, I): the loop's Brownian increment as the step's fresh normal."""
    return noise.dW / noise.h**0.5
