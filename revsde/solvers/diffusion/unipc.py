"""UniPC (Zhao, Bai, Rao, Zhou & Lu, "UniPC: A Unified Predictor-Corrector Framework for Fast
Sampling of Diffusion Models", NeurIPS 2023) in data prediction, for the probability-flow ODE.

Each step evaluates the model once, at the state the last predictor reached, and uses that
evaluation twice: the corrector UniC first improves the previous step's result with it (no
extra evaluation), then the predictor UniP of order p steps on from the corrected state. With
h = lambda_1 - lambda_0, hh = -h, r_k = (lambda_k - lambda_0)/h for earlier points and
D_k = (m_k - m_0)/r_k,

    y1 = (sigma_1/sigma_0) y0 + alpha_1 (1 - e^{-h}) m_0 - alpha_1 B(h) sum_k rho_k D_k,

where rho solves R rho = b with R_{ik} = r_k^{i-1} and b_i = i! hh phi_{i+1}(hh) / B(h)
(``exponential.phi_functions``; UniP: the first p - 1 equations, rho = 1/2 at p = 2; UniC:
all p, with the new evaluation at r = 1). B(h) is e^{hh} - 1 in the variant "bh2" (the
default, UniPC's recommendation for guided sampling and diffusers' default) and hh in "bh1"
(the paper's choice for unconditional sampling at few steps). The final state is the last
predictor's (no evaluation follows to correct it). Order ``order`` + 1 from the corrector in
theory; measured orders are in the tests.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ..base import Noise, Solver
from ..protocols import SemiLinearSDE
from .exponential import (
    check_lower_order_final,
    ends,
    exponential_step,
    lower_order_final,
    phi_functions,
)

VARIANTS = ("bh1", "bh2")


class _Point(NamedTuple):
    lam: torch.Tensor
    x0: torch.Tensor
    alpha: torch.Tensor
    sigma: torch.Tensor


class _State(NamedTuple):
    history: tuple  # _Point of earlier evaluations, oldest first
    last: torch.Tensor | None  # the corrected state at the start of the previous step
    last_order: int
    steps_left: int


def _coefficients(rks: list, hh: torch.Tensor, order: int, variant: str):
    """The rows of UniPC's linear system R rho = b (R_{ik} = r_k^{i-1}), b, and B(h)."""
    b_h = hh if variant == "bh1" else torch.expm1(hh)
    phis = phi_functions(hh, order + 1)
    rows = [[r ** (i - 1) for r in rks] for i in range(1, order + 1)]
    b = [math.factorial(i) * hh * phis[i] / b_h for i in range(1, order + 1)]
    return rows, b, b_h


def _solve(rows: list, rhs: list) -> list:
    """The solution of UniPC's small Vandermonde system (at most 3 x 3), by Gaussian
    elimination on 0-d tensors: no linear-algebra library call, which on a GPU may read a
    flag back to the host (a stall per step, and no CUDA graph can capture it). No pivoting:
    the leading minors are Vandermonde determinants of distinct nodes, nonzero."""
    a = [[*row, v] for row, v in zip(rows, rhs, strict=True)]
    n = len(a)
    for i in range(n):
        for j in range(i + 1, n):
            factor = a[j][i] / a[i][i]
            a[j] = [x - factor * y for x, y in zip(a[j], a[i], strict=True)]
    out = [None] * n
    for i in reversed(range(n)):
        total = a[i][n]
        for k in range(i + 1, n):
            total = total - a[i][k] * out[k]
        out[i] = total / a[i][i]
    return out


def _update(x, start: _Point, e, history, m_new, order, variant, corrector):
    """One UniP (``corrector=False``) or UniC update from ``x`` at ``start`` over the step
    ``e``, using the ``order - 1`` latest earlier evaluations and, for UniC, the new one
    ``m_new``."""
    hh = -e.h
    rks, d1s = [], []
    for i in range(1, order):
        p = history[-i]
        rk = (p.lam - start.lam) / e.h
        rks.append(rk)
        d1s.append((p.x0 - start.x0) / rk)
    rks.append(torch.ones_like(e.h))
    rows, b, b_h = _coefficients(rks, hh, order, variant)
    y = exponential_step(e, x, start.x0)
    if corrector:
        rho = [0.5] if order == 1 else _solve(rows, b)
        res = sum(rho[k] * d for k, d in enumerate(d1s)) + rho[-1] * (m_new - start.x0)
        return y - (e.alpha1 * b_h) * res
    if order == 1:
        return y
    rho = [0.5] if order == 2 else _solve([row[:-1] for row in rows[:-1]], b[:-1])
    return y - (e.alpha1 * b_h) * sum(rho[k] * d for k, d in enumerate(d1s))


class UniPC(Solver):
    """UniPC-``order`` in data prediction: predictor UniP plus corrector UniC that reuses the
    next evaluation, one model evaluation per step; ``order`` 1, 2 or 3, ``variant`` "bh2"
    (default) or "bh1" (see the module docstring). The first steps use the orders the
    history allows; ``lower_order_final`` (default: on below 15 steps, as diffusers) lowers
    the last ones.
    """

    name = "unipc"
    strong_order = 3.0
    weak_order = 3.0
    noise_types = frozenset({"diagonal"})
    nfe_per_step = 1
    ode_only = True
    requires = (SemiLinearSDE,)
    preferred_spacing = "quadratic"

    def __init__(
        self, order: int = 2, lower_order_final: bool | None = None, variant: str = "bh2"
    ) -> None:
        if isinstance(order, bool) or order not in (1, 2, 3):
            raise ValueError(f"order must be one of [1, 2, 3], got {order!r}")
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {list(VARIANTS)}, got {variant!r}")
        self.order = order
        self.variant = variant
        # UniC raises the predictor's order by one
        self.strong_order = self.weak_order = float(order + 1)
        self.lower_order_final = check_lower_order_final(lower_order_final)

    def __repr__(self) -> str:
        return f"UniPC(order={self.order}, variant={self.variant!r})"

    def init(self, sde, t0, y0, n_steps):
        lower = lower_order_final(self.lower_order_final, n_steps)
        return _State((), None, 0, n_steps if lower else n_steps + self.order)

    def step(self, sde, t0, t1, y0, noise: Noise, state: _State):
        e = ends(sde, t0, t1, y0)
        m = sde.predict_x0(t0, y0)
        history, x = state.history, y0
        if state.last is not None:  # UniC: correct the last step with this evaluation
            start = history[-1]
            last = e._replace(alpha0=start.alpha, sigma0=start.sigma, lam0=start.lam)
            last = last._replace(alpha1=e.alpha0, sigma1=e.sigma0, h=e.lam0 - start.lam)
            x = _update(
                state.last, start, last, history[:-1], m, state.last_order, self.variant, True
            )
        point = _Point(e.lam0, m, e.alpha0, e.sigma0)
        history = (*history, point)[-self.order :]
        order = min(self.order, len(history), state.steps_left)
        y1 = _update(x, point, e, history[:-1], None, order, self.variant, False)
        return y1, _State(history, x, order, state.steps_left - 1)
