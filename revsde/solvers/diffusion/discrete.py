"""The discrete predictors of score-based diffusion (Song et al. 2021, App. E and G; Ho et al.
2020, Alg. 2), written for any SDE that exposes its forward transition and score.

Over a step from reverse time s0 to s1, i.e. forward time t_hi = t_max - s0 down to
t_lo = t_max - s1, the forward process moves x_lo to x_hi = a x_lo + b eps with
a = alpha(t_hi)/alpha(t_lo) and b^2 = sigma(t_hi)^2 - a^2 sigma(t_lo)^2: the discrete chain
step of the mathematics page (VE: a = 1, b^2 = sigma_i^2 - sigma_{i-1}^2; VP: a = sqrt(1 - beta_i),
b^2 = beta_i). The SDE object provides it as ``sde.transition(s0, s1, like)``, returning
``(a, b2, var_hi, var_lo, lam)`` (0-d tensors and the float lam), and the score as
``sde.predict_score(s, y)``; revsde's ReverseSDE does.
"""

from __future__ import annotations

import math

import torch

from ..base import Noise, Solver
from ..protocols import DiscreteReverseSDE


class ReverseDiffusion(Solver):
    """Reverse-diffusion predictor (Song et al. 2021, eq. 46 / App. E): discretize the
    forward chain as x_hi = x_lo + (a - 1) x_lo + b eps and reverse it like the SDE,

        y1 = y0 - [(a - 1) y0 - (1 + lam^2)/2 b^2 s(y0)] + lam b z,   z = dW / sqrt(h),

    one score evaluation per step; weak order 1. With lam = 1 this is the paper's predictor
    for SMLD (a = 1) and DDPM; lam = 0 gives its probability-flow variant.
    """

    name = "reverse_diffusion"
    strong_order = 0.5
    weak_order = 1.0
    noise_types = frozenset({"diagonal"})
    nfe_per_step = 1
    requires = (DiscreteReverseSDE,)

    def step(self, sde, t0, t1, y0, noise: Noise, state):
        a, b2, _, _, lam = sde.transition(t0, t1, y0)
        score = sde.predict_score(t0, y0)
        y1 = (2.0 - a) * y0 + (0.5 * (1.0 + lam**2) * b2) * score
        if lam:
            y1 = y1.addcmul_(noise.dW, lam * b2.sqrt() / math.sqrt(noise.h))
        return y1, state


VARIANCES = ("auto", "beta", "posterior")


class Ancestral(Solver):
    """Ancestral sampling (Ho et al. 2020, Alg. 2; Song et al. 2021, App. F): undo the forward
    step x_hi = a x_lo + b eps with the Tweedie mean and a Gaussian draw,

        y1 = (y0 + b^2 s(y0)) / a + std z,   z = dW / sqrt(h),

    with ``variance="beta"``: std^2 = b^2 (DDPM's sigma_i^2 = beta_i, the choice of Song et al.'s
    VP code), or ``variance="posterior"``: std^2 = b^2 var_lo / var_hi, the variance of the
    posterior q(x_lo | x_hi, x_0) (DDPM's beta~_i; Song et al.'s VE code): DDPM's two bounds on
    the reverse variance. The default, ``variance="auto"``, takes each step's from its forward
    step: "posterior" where the step keeps the signal (a = 1: VE, EDM) and "beta" where it
    shrinks it (a < 1: VP, sub-VP, cosine, flow matching), the closer one to the exact output
    law on Gaussian targets in each case (see the solvers guide's table).
    One score evaluation per step; weak order 1. Samples the reverse SDE (lam = 1) only.
    """

    name = "ancestral"
    strong_order = 0.5
    weak_order = 1.0
    noise_types = frozenset({"diagonal"})
    nfe_per_step = 1
    requires = (DiscreteReverseSDE,)

    def __init__(self, variance: str = "auto") -> None:
        if variance not in VARIANCES:
            raise ValueError(f"variance must be one of {list(VARIANCES)}, got {variance!r}")
        self.variance = variance

    def __repr__(self) -> str:
        return f"Ancestral(variance={self.variance!r})"

    def step(self, sde, t0, t1, y0, noise: Noise, state):
        a, b2, var_hi, var_lo, lam = sde.transition(t0, t1, y0)
        if lam != 1.0:
            raise ValueError(
                f"ancestral samples the reverse SDE (lam = 1), got lam = {lam}; for the "
                "probability-flow ODE use reverse_diffusion, heun or rk4"
            )
        score = sde.predict_score(t0, y0)
        y1 = (y0 + b2 * score) / a
        if self.variance == "beta":
            var = b2
        elif self.variance == "posterior":
            var = b2 * var_lo / var_hi
        else:  # a tensor choice, not a branch on its value: no host read inside a captured loop
            var = torch.where(a == 1.0, b2 * var_lo / var_hi, b2)
        std = var.sqrt()
        return y1.addcmul_(noise.dW, std / math.sqrt(noise.h)), state
