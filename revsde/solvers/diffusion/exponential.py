"""The exponential-integrator core that DDIM, DPM-Solver++ (2S, 3S, 2M, 3M and their SDE
variants), SA-Solver and UniPC share: the step's ends in the log-SNR, the phi-functions,
divided differences of the data prediction, the exact step of the linear part and its
Ornstein-Uhlenbeck noise. Each formula stands here once.

On an equation of `revsde.solvers.protocols.SemiLinearSDE` (a diffusion x_t = alpha_t x_0 +
sigma_t eps), written in the log-SNR lambda = log(alpha / sigma), the family of reverse SDEs
whose noise is eta times the probability-flow ODE's rate (eta = 0: the ODE; eta = 1: the
reverse SDE) has the exact solution from lambda_0 to lambda_1 = lambda_0 + h (Lu et al. 2022b,
"DPM-Solver++", eq. 9 and sec. 5; Xue et al. 2023, "SA-Solver", eq. 14)

    x_1 = (sigma_1/sigma_0) e^{-eta h} x_0 + alpha_1 int_0^h (1 + eta) e^{-(1 + eta)(h - u)}
          D(lambda_0 + u) du + sigma_1 sqrt(1 - e^{-2 eta h}) z,

so only the data prediction D needs approximating.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor


class Ends(NamedTuple):
    """alpha and sigma at a step's two ends, lambda_0 at its start, and h = lambda_1 -
    lambda_0."""

    alpha0: Tensor
    sigma0: Tensor
    alpha1: Tensor
    sigma1: Tensor
    lam0: Tensor
    h: Tensor

    def to(self, sde: Any, t: Tensor, like: Tensor) -> Ends:
        """The ends from this step's start to the integration time ``t`` instead (a stage
        inside the step)."""
        alpha, sigma = sde.marginal_coefficients(t, like)
        h = torch.log(alpha) - torch.log(sigma) - self.lam0
        return Ends(self.alpha0, self.sigma0, alpha, sigma, self.lam0, h)


def ends(sde: Any, t0: Tensor, t1: Tensor, like: Tensor) -> Ends:
    """The `Ends` of the step from integration time ``t0`` to ``t1``."""
    alpha0, sigma0 = sde.marginal_coefficients(t0, like)
    alpha1, sigma1 = sde.marginal_coefficients(t1, like)
    lam0 = torch.log(alpha0) - torch.log(sigma0)
    return Ends(alpha0, sigma0, alpha1, sigma1, lam0, torch.log(alpha1) - torch.log(sigma1) - lam0)


def phi_functions(z: Tensor, k: int) -> list[Tensor]:
    """[phi_1(z), ..., phi_k(z)] with phi_1(z) = (e^z - 1)/z and phi_{j+1}(z) = (phi_j(z) -
    1/j!)/z (Hochbruck & Ostermann 2010, "Exponential integrators", eq. 2.10), by that
    recursion, as the papers' code computes them."""
    out = [torch.expm1(z) / z]
    for j in range(1, k):
        out.append((out[-1] - 1.0 / math.factorial(j)) / z)
    return out


def exponential_step(
    e: Ends,
    y0: Tensor | None,
    d0: Tensor | None,
    hd1: Tensor | None = None,
    hd2: Tensor | None = None,
    *,
    eta: float | Tensor = 0.0,
) -> Tensor:
    """The mean of one step of the module docstring's solution with the data prediction
    D(lambda_0 + u) = D_0 + u D' + u^2 D''/2 (``hd1`` = h D', ``hd2`` = h^2 D''/2) and
    H = (1 + eta) h:

        (sigma_1/sigma_0) e^{-eta h} y0 + alpha_1 [(1 - e^{-H}) D_0 + H phi_2(-H) h D'
        + 2 H phi_3(-H) h^2 D''/2],

    the weights being the exact integrals of (1 + eta) e^{-(1 + eta)(h - u)} against 1, u/h and
    u^2/h^2 (H phi_2(-H) = 1 - (1 - e^{-H})/H, 2 H phi_3(-H) = 1 - 2 (H - 1 + e^{-H})/H^2).
    A term whose argument is ``None`` is left out (at least one must be given): eta = 0 with
    y0 and D_0 alone is DDIM; the D terms alone are the difference of two such steps from
    one state (an embedded error estimate)."""
    eta_h = eta * e.h
    big_h = e.h + eta_h
    terms = []
    if y0 is not None:
        keep = e.sigma1 / e.sigma0
        if isinstance(eta, Tensor) or eta != 0.0:
            keep = keep * torch.exp(-eta_h)
        terms.append(keep * y0)
    if d0 is not None:
        terms.append((e.alpha1 * -torch.expm1(-big_h)) * d0)
    if hd1 is not None or hd2 is not None:
        phis = phi_functions(-big_h, 3 if hd2 is not None else 2)
        if hd1 is not None:
            terms.append((e.alpha1 * big_h * phis[1]) * hd1)
        if hd2 is not None:
            terms.append((e.alpha1 * 2.0 * big_h * phis[2]) * hd2)
    if not terms:
        raise ValueError("exponential_step needs at least one of y0, d0, hd1, hd2")
    out = terms[0]
    for term in terms[1:]:
        out = out + term
    return out


def standard_normal(noise: Any) -> Tensor:
    """z = dW / sqrt(h) ~ N(0, I): the loop's Brownian increment as the step's fresh normal."""
    return noise.dW / noise.h**0.5


def ou_std(e: Ends, eta: float | Tensor) -> Tensor:
    """The standard deviation sigma_1 sqrt(1 - e^{-2 eta h}) of the step's
    Ornstein-Uhlenbeck noise."""
    return e.sigma1 * torch.sqrt(-torch.expm1(-2.0 * eta * e.h))


def ou_noise(e: Ends, eta: float | Tensor, noise: Any) -> Tensor:
    """The step's Ornstein-Uhlenbeck noise ``ou_std(e, eta)`` z, z the step's normal."""
    return ou_std(e, eta) * standard_normal(noise)


def taylor_terms(
    points: list[tuple[Tensor, Tensor]], lam0: Tensor, d0: Tensor, h: Tensor
) -> tuple[Tensor | None, Tensor | None]:
    """h D' and h^2 D''/2 at ``lam0`` of the polynomial in lambda through (lam0, d0) and
    ``points``, a list of (lambda, D): one point gives the line (D'' term ``None``), two the
    parabola (divided differences); none gives ``(None, None)``."""
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


def check_lower_order_final(option: object) -> bool | None:
    """``option`` after checking that it is ``True``, ``False`` or ``None`` (the default
    rule)."""
    if option is not None and not isinstance(option, bool):
        raise ValueError(f"lower_order_final must be True, False or None, got {option!r}")
    return option


def lower_order_final(option: bool | None, n_steps: int) -> bool:
    """Whether a multistep method lowers its order on the last steps: ``option``, or by
    default diffusers' rule, on for solves of fewer than 15 steps, where the large last steps
    of a high-order multistep method are the least stable."""
    return n_steps < 15 if option is None else bool(option)
