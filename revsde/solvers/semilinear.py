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


def taylor_terms(points: list, lam0: Tensor, d0: Tensor, h: Tensor):
    """h D' and h^2 D''/2 at ``lam0`` of the polynomial in lambda through (lam0, d0) and
    ``points``, a list of (lambda, D): one point gives the line (D'' term ``None``), two the
    parabola; none gives ``(None, None)``."""
    if not points:
        return None, None
    xs = [(lam - lam0) / h for lam, _ in points]
    ds = [d - d0 for _, d in points]
    if len(points) == 1:
        return ds[0] / xs[0], None
    (xa, xb), (da, db) = xs, ds
    # d0 + a x + b x^2 through (xa, d0 + da) and (xb, d0 + db), x in units of h
    b = (da / xa - db / xb) / (xa - xb)
    return da / xa - b * xa, b


def sde_exponential_step(e: Ends, eta: float, y0: Tensor, d0: Tensor, hd1=None, hd2=None):
    """The mean of one step of the SDE whose noise is ``eta`` times the probability-flow rate,
    exact in its linear part, with the data prediction D_0 + u D' + u^2 D''/2 (u = lambda -
    lambda_0; ``hd1`` = h D', ``hd2`` = h^2 D''/2, either may be ``None``) and H = (1 + eta) h:

        (sigma_1/sigma_0) e^{-eta h} y0 + alpha_1 [(1 - e^{-H}) D_0 + (1 - (1 - e^{-H})/H) h D'
        + (1 - 2 (H - 1 + e^{-H})/H^2) h^2 D''/2],

    the weights being the exact integrals of (1 + eta) e^{-(1 + eta)(lambda_1 - lambda)}
    against 1, u and u^2/2 (SDE-DPM-Solver++, SA-Solver; eta = 0 is DPM-Solver++)."""
    eta_h = eta * e.h
    big_h = e.h + eta_h
    phi = -torch.expm1(-big_h)  # 1 - e^{-H}
    y1 = (e.sigma1 / e.sigma0 * torch.exp(-eta_h)) * y0 + (e.alpha1 * phi) * d0
    if hd1 is not None:
        y1 = y1 + (e.alpha1 * (1.0 - phi / big_h)) * hd1
    if hd2 is not None:
        y1 = y1 + (e.alpha1 * (1.0 - 2.0 * (big_h - phi) / big_h**2)) * hd2
    return y1


def ou_noise(e: Ends, eta: float, noise) -> Tensor:
    """That step's Ornstein-Uhlenbeck noise, sigma_1 sqrt(1 - e^{-2 eta h}) z, z the step's
    normal."""
    return (e.sigma1 * torch.sqrt(-torch.expm1(-2.0 * eta * e.h))) * standard_normal(noise)
