"""Runge–Kutta methods for ODEs (g = 0), such as the probability-flow ODE (Hairer, Nørsett &
Wanner, "Solving Ordinary Differential Equations I", sec. II.1)."""

from __future__ import annotations

from .base import Noise, Solver


class Heun(Solver):
    """Heun's method (explicit trapezoidal rule), order 2, two drift evaluations per step:

    k1 = f(t0, y0),  k2 = f(t1, y0 + h k1),  y1 = y0 + h/2 (k1 + k2).
    """

    name = "heun"
    strong_order = 2.0
    weak_order = 2.0
    nfe_per_step = 2
    ode_only = True

    def step(self, sde, t0, t1, y0, noise: Noise, state):
        h = noise.h
        k1 = sde.f(t0, y0)
        k2 = sde.f(t1, y0 + h * k1)
        return y0 + (0.5 * h) * (k1 + k2), state


class RK4(Solver):
    """The classical fourth-order Runge–Kutta method, four drift evaluations per step:

    k1 = f(t0, y0), k2 = f(t0 + h/2, y0 + h/2 k1), k3 = f(t0 + h/2, y0 + h/2 k2),
    k4 = f(t1, y0 + h k3),  y1 = y0 + h/6 (k1 + 2 k2 + 2 k3 + k4).
    """

    name = "rk4"
    strong_order = 4.0
    weak_order = 4.0
    nfe_per_step = 4
    ode_only = True

    def step(self, sde, t0, t1, y0, noise: Noise, state):
        hf = noise.h
        t_mid = t0 + 0.5 * hf
        k1 = sde.f(t0, y0)
        k2 = sde.f(t_mid, y0 + (0.5 * hf) * k1)
        k3 = sde.f(t_mid, y0 + (0.5 * hf) * k2)
        k4 = sde.f(t1, y0 + hf * k3)
        return y0 + (hf / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4), state
