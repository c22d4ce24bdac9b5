"""DDIM (Song, Meng & Ermon, "Denoising Diffusion Implicit Models", ICLR 2021, eq. 12),
written for any (alpha, sigma) process."""

from __future__ import annotations

import torch

from .base import Noise, Solver, check_real
from .semilinear import ends, standard_normal


class DDIM(Solver):
    """DDIM with stochasticity ``eta``: from the data prediction x0_hat = D(y0, t0) and the
    noise it implies, eps_hat = (y0 - alpha_0 x0_hat) / sigma_0,

        sigma_eta = eta sigma_1 sqrt(1 - e^{-2h}),   h = lambda_1 - lambda_0,
        y1 = alpha_1 x0_hat + sqrt(sigma_1^2 - sigma_eta^2) eps_hat + sigma_eta z.

    (Song et al.'s sigma_t(eta) written with lambda = log(alpha/sigma), so that it holds for
    VE, VP and any other process.) ``eta = 0`` is the deterministic DDIM, which equals
    DPM-Solver++ of order 1 and is exact whenever x0_hat is constant; ``eta = 1`` draws from the
    Gaussian posterior q(x_1 | x_0, x_t), DDPM's ancestral step with beta~. Global order 1
    (eta = 0, on the probability-flow ODE), weak order 1 otherwise; one model evaluation per
    step. It uses the SDE's marginals and data prediction, not its drift, diffusion or lam.
    """

    name = "ddim"
    strong_order = 0.5
    weak_order = 1.0
    noise_types = frozenset({"diagonal"})
    nfe_per_step = 1
    requires = ("data_prediction", "marginal_coefficients")
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
        x0 = sde.data_prediction(t0, y0)
        eps = (y0 - e.alpha0 * x0) / e.sigma0
        if self.eta == 0.0:
            return e.alpha1 * x0 + e.sigma1 * eps, state
        sigma_eta = self.eta * e.sigma1 * torch.sqrt(-torch.expm1(-2.0 * e.h))
        keep = torch.sqrt((e.sigma1**2 - sigma_eta**2).clamp_min(0.0))
        return e.alpha1 * x0 + keep * eps + sigma_eta * standard_normal(noise), state
