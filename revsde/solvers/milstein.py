"""Itô Milstein methods for diagonal and scalar noise (Kloeden & Platen 1992, sec. 10.3;
the derivative-free form after Kloeden & Platen sec. 11.1)."""

from __future__ import annotations

import math

import torch

from .base import Noise, Solver, g_prod


def _column(g, noise_type):
    """The diffusion as a state-shaped tensor: g itself (diagonal) or its only column (scalar)."""
    return g if noise_type == "diagonal" else g[..., 0]


def _g_and_gdg(sde, t, y):
    """g and the Milstein product L^1 g = (g . grad_y) g, by automatic differentiation.

    Diagonal noise: g_i depends on y_i alone, so L^1 g_i = g_i dg_i/dy_i = [J^T g]_i, one
    vector-Jacobian product. Scalar noise: L^1 g = J g, a Jacobian-vector product, taken as the
    vjp of a vjp (no forward-mode support needed from the model).

    With grad mode on, both keep their graph (to y and to parameters of g), so that gradients
    through the solve are exact; otherwise they are detached. A g that does not depend on y
    (parameters only, as torchsde's BasicSDE2) has no correction.
    """
    differentiable = torch.is_grad_enabled()
    if differentiable and not y.requires_grad:
        # Keep a graph only where one is wanted: g depends on parameters that require grad.
        differentiable = _column(sde.g(t, y), sde.noise_type).requires_grad
    with torch.enable_grad():
        y = y if differentiable and y.requires_grad else y.detach().requires_grad_(True)
        g = _column(sde.g(t, y), sde.noise_type)
        gdg = None
        if g.requires_grad:
            weight = g if differentiable else g.detach()
            if sde.noise_type == "diagonal":
                (gdg,) = torch.autograd.grad(
                    g, y, grad_outputs=weight, create_graph=differentiable, allow_unused=True
                )
            else:
                u = torch.zeros_like(g, requires_grad=True)
                (vjp,) = torch.autograd.grad(
                    g, y, grad_outputs=u, create_graph=True, allow_unused=True
                )
                if vjp is not None:
                    (gdg,) = torch.autograd.grad(
                        vjp, u, grad_outputs=weight, create_graph=differentiable
                    )
    if gdg is None:  # g does not depend on y
        gdg = torch.zeros_like(g)
    if not differentiable:
        g, gdg = g.detach(), gdg.detach()
    return g, gdg


class Milstein(Solver):
    """Itô Milstein: y1 = y0 + f h + g dW + 1/2 (g . grad) g (dW^2 - h).

    The derivative term comes from autograd. Strong order 1.0, weak order 1.0, one drift
    evaluation per step; diagonal, scalar and additive noise. For additive noise (torchsde's
    noise type, or an SDE that declares ``additive_noise = True``) the term vanishes and the
    step is Euler–Maruyama's.
    """

    name = "milstein"
    strong_order = 1.0
    weak_order = 1.0
    noise_types = frozenset({"diagonal", "scalar", "additive"})
    nfe_per_step = 1

    def step(self, sde, t0, t1, y0, noise: Noise, state):
        h = noise.h
        dW = noise.dW
        y1 = torch.add(y0, sde.f(t0, y0), alpha=h)
        if sde.noise_type == "additive":
            return y1.add_(g_prod(sde, t0, y0, dW)), state
        if getattr(sde, "additive_noise", False):
            g, gdg = _column(sde.g(t0, y0), sde.noise_type), None
        else:
            g, gdg = _g_and_gdg(sde, t0, y0)
        y1 = y1.addcmul_(g, dW)
        if gdg is not None:
            y1 = y1.addcmul_(gdg, dW * dW - h, value=0.5)
        return y1, state


class MilsteinDerivativeFree(Solver):
    """Derivative-free Itô Milstein: with the support value y_hat = y0 + f h + g sqrt(h),

        y1 = y0 + f h + g dW + (g(y_hat) - g(y0)) / (2 sqrt(h)) (dW^2 - h).

    Strong order 1.0, weak order 1.0; one drift and two diffusion evaluations per step;
    diagonal, scalar and additive noise (for additive noise the term vanishes).
    """

    name = "milstein_df"
    strong_order = 1.0
    weak_order = 1.0
    noise_types = frozenset({"diagonal", "scalar", "additive"})
    nfe_per_step = 1

    def step(self, sde, t0, t1, y0, noise: Noise, state):
        h = noise.h
        sqrt_h = math.sqrt(h)
        dW = noise.dW
        f = sde.f(t0, y0)
        if sde.noise_type == "additive":
            return torch.add(y0, f, alpha=h).add_(g_prod(sde, t0, y0, dW)), state
        g = _column(sde.g(t0, y0), sde.noise_type)
        y1 = torch.add(y0, f, alpha=h).addcmul_(g, dW)
        if getattr(sde, "additive_noise", False):
            return y1, state
        y_hat = torch.add(y0, f, alpha=h).add_(g, alpha=sqrt_h)
        dg = _column(sde.g(t0, y_hat), sde.noise_type) - g
        return y1.addcmul_(dg, dW * dW - h, value=0.5 / sqrt_h), state
