"""Rößler's SRA1: a strong order 1.5 stochastic Runge–Kutta method for additive noise
(A. Rößler, "Runge–Kutta methods for the strong approximation of solutions of stochastic
differential equations", SIAM J. Numer. Anal. 48(3), 2010, Table 5.1)."""

from __future__ import annotations

from .base import Noise, Solver, g_prod

# Butcher-type tableau of SRA1
C0 = (0.0, 0.75)
C1 = (1.0, 0.0)
A0_10 = 0.75
B0_10 = 1.5
ALPHA = (1.0 / 3.0, 2.0 / 3.0)
BETA1 = (1.0, 0.0)
BETA2 = (-1.0, 1.0)


class SRA1(Solver):
    """SRA1 for additive noise (g independent of the state), with I = dW and
    I_10 = U = int_{t0}^{t1} (W_s - W_{t0}) ds:

        H1 = y0 + 3/4 f(t0, y0) h + 3/2 g(t0 + h) U / h
        y1 = y0 + h (1/3 f(t0, y0) + 2/3 f(t0 + 3/4 h, H1))
                + g(t0 + h) (dW - U/h) + g(t0) U/h

    Strong order 1.5 (order 2 on ODEs), weak order 2; two drift evaluations per step. It needs
    the space-time integral U, which the loop draws (or takes from a torchsde
    ``BrownianInterval`` with ``levy_area_approximation="space-time"``). The SDE must declare
    ``additive_noise = True``, as revsde's diffusion processes do.
    """

    name = "sra1"
    strong_order = 1.5
    weak_order = 2.0
    nfe_per_step = 2
    needs_levy_area = True
    requires_additive = True

    def step(self, sde, t0, t1, y0, noise: Noise, state):
        hf = noise.h
        dW, U = noise.dW, noise.U
        u_h = U / hf
        t_a = t0 + C0[1] * hf
        t_end = t1  # t0 + C1[0] h with C1[0] = 1
        f0 = sde.f(t0, y0)
        # g does not depend on the state: its value at y0 serves every stage
        H1 = y0 + (A0_10 * hf) * f0 + g_prod(sde, t_end, y0, B0_10 * u_h)
        f1 = sde.f(t_a, H1)
        drift = (ALPHA[0] * hf) * f0 + (ALPHA[1] * hf) * f1
        diffusion = g_prod(sde, t_end, y0, BETA1[0] * dW + BETA2[0] * u_h) + g_prod(
            sde, t0, y0, BETA1[1] * dW + BETA2[1] * u_h
        )
        return y0 + drift + diffusion, state
