"""EDM's sampler (Karras, Aittala, Aila & Laine, "Elucidating the Design Space of
Diffusion-Based Generative Models", NeurIPS 2022, Algorithms 1 and 2).

Any process x_t = alpha_t x_0 + sigma_t eps is, in the coordinates x~ = x / alpha, the VE
process x~ = x_0 + sigma~ eps with noise level sigma~ = sigma / alpha = e^{-lambda}, whose
probability-flow ODE is dx~/dsigma~ = (x~ - D(x~; sigma~)) / sigma~ with D the data
prediction. EDM integrates that ODE with Heun's method in sigma~; its stochastic version
first "churns": it raises the noise level of the current state from sigma~_i to
sigma^_i = (1 + gamma_i) sigma~_i by adding fresh noise of variance sigma^_i^2 - sigma~_i^2
(scaled by ``s_noise``), with gamma_i = min(s_churn / N, sqrt(2) - 1) on the steps whose
sigma~_i lies in [s_tmin, s_tmax], and 0 elsewhere. N counts the steps as EDM (and
k-diffusion, whose grids end at sigma = 0) do: the grid's steps plus the final step to
sigma = 0, which revsde takes as Tweedie's step, so a given ``s_churn`` churns as much as in
EDM's code. A step from sigma^ to sigma~_1:

    d   = (x^ - D(x^; sigma^)) / sigma^,          x~_1 = x^ + (sigma~_1 - sigma^) d,
    d'  = (x~_1 - D(x~_1; sigma~_1)) / sigma~_1,  x~_1 = x^ + (sigma~_1 - sigma^) (d + d') / 2.

Two model evaluations per step (EDM skips the corrector on a last step to sigma = 0; revsde's
grids end at t_min > 0, where revsde.sample takes Tweedie's step instead, which is that same
Euler step to sigma = 0). Global order 2 with s_churn = 0.

The churned level sigma^ needs the integration time at which the process has that noise
level: the SDE's ``time_of_log_snr(lam)`` provides it (``protocols.LogSNRClock``). revsde's
choice where EDM is silent: sigma^ is capped at the noise level where the solve started, since
the process (unlike EDM's VE model) is not defined beyond it.
"""

from __future__ import annotations

import math

import torch

from ..._checks import check_real
from ..base import Noise, Solver
from ..protocols import LogSNRClock, SemiLinearSDE
from .exponential import standard_normal


class EDMHeun(Solver):
    """EDM's Heun sampler in the noise level sigma~ = sigma / alpha, with churn (see the module
    docstring). ``s_churn = 0`` (the default) is Algorithm 1, deterministic, order 2;
    ``s_churn > 0`` is Algorithm 2 (``s_tmin``, ``s_tmax`` bound the noise levels that churn,
    ``s_noise`` scales the added noise). Two model evaluations per step.
    """

    name = "edm"
    strong_order = 2.0
    weak_order = 2.0
    noise_types = frozenset({"diagonal"})
    nfe_per_step = 2
    ode_only = True
    requires = (SemiLinearSDE, LogSNRClock)
    preferred_spacing = "karras"

    def __init__(
        self,
        s_churn: float = 0.0,
        s_tmin: float = 0.0,
        s_tmax: float = math.inf,
        s_noise: float = 1.0,
    ) -> None:
        self.s_churn = check_real("s_churn", s_churn, low=0.0)
        self.s_tmin = check_real("s_tmin", s_tmin, low=0.0)
        self.s_tmax = check_real("s_tmax", s_tmax, low=0.0, finite=False)
        self.s_noise = check_real("s_noise", s_noise, low=0.0)
        if self.s_tmax < self.s_tmin:
            raise ValueError(f"s_tmax must be >= s_tmin, got {s_tmin} and {s_tmax}")
        if self.s_churn:
            self.strong_order, self.weak_order = 0.5, 1.0

    @property
    def uses_noise(self) -> bool:
        """Churn adds fresh noise; without it the method is deterministic."""
        return self.s_churn > 0

    def __repr__(self) -> str:
        return (
            f"EDMHeun(s_churn={self.s_churn}, s_tmin={self.s_tmin}, s_tmax={self.s_tmax}, "
            f"s_noise={self.s_noise})"
        )

    def init(self, sde, t0, y0, n_steps):
        if not self.s_churn:
            return 0.0, math.inf  # no churn: nothing read back from the device
        alpha, sigma = sde.marginal_coefficients(t0, y0)
        # gamma and the cap on the churned level (the level where the solve starts)
        # EDM's N counts the final step to sigma = 0 (Tweedie's step here) besides the grid's
        gamma = min(self.s_churn / (n_steps + 1), math.sqrt(2.0) - 1.0)
        return gamma, float((sigma / alpha).max())

    def step(self, sde, t0, t1, y0, noise: Noise, state):
        gamma, level_cap = state
        alpha0, sigma0 = sde.marginal_coefficients(t0, y0)
        alpha1, sigma1 = sde.marginal_coefficients(t1, y0)
        level0, level1 = sigma0 / alpha0, sigma1 / alpha1
        x = y0 / alpha0
        t_hat, alpha_hat, level_hat = t0, alpha0, level0
        if gamma and self.s_tmin <= float(level0.max()) and float(level0.min()) <= self.s_tmax:
            level_hat = torch.clamp(level0 * (1.0 + gamma), max=level_cap)
            added = torch.sqrt((level_hat**2 - level0**2).clamp_min(0.0))
            x = x + (self.s_noise * added) * standard_normal(noise)
            t_hat = sde.time_of_log_snr(-torch.log(level_hat))
            alpha_hat = sde.marginal_coefficients(t_hat, y0)[0]
        d = (x - sde.predict_x0(t_hat, alpha_hat * x)) / level_hat
        x1 = x + (level1 - level_hat) * d
        d1 = (x1 - sde.predict_x0(t1, alpha1 * x1)) / level1
        x1 = x + (level1 - level_hat) * (0.5 * (d + d1))
        return alpha1 * x1, state
