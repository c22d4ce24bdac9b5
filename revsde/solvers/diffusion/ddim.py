"""DDIM (Song, Meng & Ermon, "Denoising Diffusion Implicit Models", ICLR 2021, eq. 12),
written for any (alpha, sigma) process."""

from __future__ import annotations

import torch

from ..._checks import check_real
from ..base import Noise, Solver
from ..protocols import SemiLinearSDE
from .exponential import ends, exponential_step, ou_std, standard_normal


class DDIM(Solver):
    """DDIM with stochasticity ``eta``: from the data prediction x0_hat = D(y0, t0) and the
    noise it implies, eps_hat = (y0 - alpha_0 x0_hat) / sigma_0,

        sigma_eta = eta sigma_1 sqrt(1 - e^{-2h}),   h = lambda_1 - lambda_0,
        y1 = alpha_1 x0_hat + sqrt(sigma_1^2 - sigma_eta^2) eps_hat + sigma_eta z.

    (Song et al.'s sigma_t(eta) written with lambda = log(alpha/sigma), so that it holds for
    VE, VP and any other process: sigma_eta is eta times the exponential family's
    Ornstein-Uhlenbeck standard deviation at noise parameter 1, ``exponential.ou_std``.)
    ``eta = 0`` is the deterministic DDIM, ``exponential.exponential_step`` from the data
    prediction alone (DPM-Solver++ of order 1), exact whenever x0_hat is constant; ``eta = 1``
    draws from the Gaussian posterior q(x_1 | x_0, x_t), DDPM's ancestral step with beta~, the
    first step of SDE-DPM-Solver++ with eta = 1. The step keeps DDIM's own form, which stays
    finite on a last step to sigma_1 = 0 (diffusers' grids end there). Global order 1
    (eta = 0, on the probability-flow ODE), weak order 1 otherwise; one model evaluation per
    step.
    """

    name = "ddim"
    strong_order = 0.5
    weak_order = 1.0
    noise_types = frozenset({"diagonal"})
    nfe_per_step = 1
    requires = (SemiLinearSDE,)
    preferred_spacing = "quadratic"  # measured: benchmarks/few_step.py

    def __init__(self, eta: float = 0.0) -> None:
        self.eta = check_real("eta", eta, low=0.0, high=1.0)
        # deterministic DDIM integrates the probability-flow ODE
        self.ode_only = self.eta == 0.0
        self.strong_order = 1.0 if self.ode_only else 0.5

    def __repr__(self) -> str:
        return f"DDIM(eta={self.eta})"

    def step(self, sde, t0, t1, y0, noise: Noise, state):
        e = ends(sde, t0, t1, y0)
        x0 = sde.predict_x0(t0, y0)
        if self.eta == 0.0:
            return exponential_step(e, y0, x0), state
        eps = (y0 - e.alpha0 * x0) / e.sigma0
        sigma_eta = self.eta * ou_std(e, 1.0)
        keep = torch.sqrt((e.sigma1**2 - sigma_eta**2).clamp_min(0.0))
        return e.alpha1 * x0 + keep * eps + sigma_eta * standard_normal(noise), state
