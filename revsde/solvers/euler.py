"""Euler–Maruyama (Kloeden & Platen 1992, sec. 10.2)."""

from __future__ import annotations

import torch

from .base import Noise, Solver, g_prod


class EulerMaruyama(Solver):
    """Itô Euler–Maruyama: y1 = y0 + f(t0, y0) h + g(t0, y0) dW.

    Strong order 0.5 (1.0 when the noise is additive), weak order 1; one drift evaluation per
    step; every noise type. On an ODE (g = 0) it is the explicit Euler method, order 1.
    """

    name = "euler"
    strong_order = 0.5
    weak_order = 1.0
    nfe_per_step = 1

    def step(self, sde, t0, t1, y0, noise: Noise, state):
        h = noise.h
        y1 = torch.add(y0, sde.f(t0, y0), alpha=h)
        if sde.noise_type == "diagonal":  # in place: no temporary for g dW
            return y1.addcmul_(sde.g(t0, y0), noise.dW), state
        return y1.add_(g_prod(sde, t0, y0, noise.dW)), state
