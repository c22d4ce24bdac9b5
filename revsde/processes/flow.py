"""The rectified-flow / flow-matching interpolant (Liu et al. 2023; Lipman et al. 2023; the
convention of Stable Diffusion 3 and diffusers' flow-matching schedulers),

    x_t = (1 - t) x_0 + t eps,   alpha(t) = 1 - t,   sigma(t) = t,   t in [0, 1],

written as the diffusion with the same marginals: f(t) = d log(alpha)/dt = -1/(1 - t) and
g(t)^2 = d sigma^2/dt - 2 f sigma^2 = 2 t/(1 - t). Its probability-flow ODE is the flow
dx/dt = u(x, t) with the velocity u = E[eps - x_0 | x_t] a flow-matching network learns.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .sde import DiffusionSDE


class FlowMatchingSDE(DiffusionSDE):
    """alpha(t) = 1 - t, sigma(t) = t: the linear interpolant between data (t = 0) and
    N(0, I) noise (t = 1).

    Plug a velocity network in with ``ScoreAdapter(model, sde, prediction="velocity")``
    (u = d x_t/dt = eps - x_0). f and g diverge at t = 1, where alpha = 0 and the prior N(0, I)
    is exact, so reverse-time integration starts at ``default_t_max`` = 1 - 1e-3 by default
    (alpha = 1e-3 there: the prior's mismatch is that fraction of the data); the semi-linear
    methods (DDIM, DPM-Solver++, UniPC) step in alpha and sigma directly and are the natural
    samplers here.
    """

    drift_diverges_at_T = True
    default_t_max = 1.0 - 1e-3
    default_t_min = 1e-3

    def _alpha(self, t: Tensor) -> Tensor:
        return 1.0 - t

    def _log_alpha(self, t: Tensor) -> Tensor:
        return torch.log1p(-t)

    def _sigma(self, t: Tensor) -> Tensor:
        return t.clone()

    def _drift(self, t: Tensor) -> Tensor:
        return -1.0 / (1.0 - t)

    def _diffusion(self, t: Tensor) -> Tensor:
        return (2.0 * t / (1.0 - t)).sqrt()

    def _rates(self, t: Tensor) -> tuple[Tensor, Tensor]:
        return -torch.ones_like(t), torch.ones_like(t)
