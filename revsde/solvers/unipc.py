"""UniPC (Zhao, Bai, Rao, Zhou & Lu, "UniPC: A Unified Predictor-Corrector Framework for Fast
Sampling of Diffusion Models", NeurIPS 2023) in data prediction with the B(h) = e^{-h} - 1
("bh2") variant, for the probability-flow ODE.

Each step evaluates the model once, at the state the last predictor reached, and uses that
evaluation twice: the corrector UniC first improves the previous step's result with it (no
extra evaluation), then the predictor UniP of order p steps on from the corrected state. With
h = lambda_1 - lambda_0, hh = -h, r_k = (lambda_k - lambda_0)/h for earlier points and
D_k = (m_k - m_0)/r_k,

    y1 = (sigma_1/sigma_0) y0 - alpha_1 (e^{-h} - 1) m_0 - alpha_1 B(h) sum_k rho_k D_k,

where rho solves R rho = b with R_{ik} = r_k^{i-1} and b_i = (i-1)! h phi_{i+1}(hh) / B(h)
(UniP: the first p - 1 equations, rho = 1/2 at p = 2; UniC: all p, with the new evaluation at
r = 1). The final state is the last predictor's (no evaluation follows to correct it).
Order ``order`` + 1 from the corrector in theory; measured orders are in the tests.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .base import Noise, Solver
from .semilinear import ends


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


def _coefficients(rks: list, hh: torch.Tensor, order: int):
    """R (order x order) and b of UniPC's linear system, with B(h) = e^{hh} - 1."""
    phi1 = torch.expm1(hh)
    b_h = phi1
    h_phi_k, factorial = phi1 / hh - 1.0, 1
    rows, b = [], []
    r = torch.stack(rks)
    for i in range(1, order + 1):
        rows.append(r ** (i - 1))
        b.append(h_phi_k * factorial / b_h)
        factorial *= i + 1
        h_phi_k = h_phi_k / hh - 1.0 / factorial
    return torch.stack(rows), torch.stack(b), phi1, b_h


def _update(x, start: _Point, alpha1, sigma1, lam1, history, m_new, order, corrector):
    """One UniP (``corrector=False``) or UniC update from ``x`` at ``start``, using the
    ``order - 1`` latest earlier evaluations and, for UniC, the new one ``m_new``."""
    h = lam1 - start.lam
    hh = -h
    rks, d1s = [], []
    for i in range(1, order):
        p = history[-i]
        rk = (p.lam - start.lam) / h
        rks.append(rk)
        d1s.append((p.x0 - start.x0) / rk)
    rks.append(torch.ones_like(h))
    big_r, b, phi1, b_h = _coefficients(rks, hh, order)
    y = (sigma1 / start.sigma) * x - (alpha1 * phi1) * start.x0
    if corrector:
        rho = torch.full_like(h, 0.5).reshape(1) if order == 1 else torch.linalg.solve(big_r, b)
        res = sum(rho[k] * d for k, d in enumerate(d1s)) + rho[-1] * (m_new - start.x0)
        return y - (alpha1 * b_h) * res
    if order == 1:
        return y
    rho = (
        torch.full_like(h, 0.5).reshape(1)
        if order == 2
        else torch.linalg.solve(big_r[:-1, :-1], b[:-1])
    )
    return y - (alpha1 * b_h) * sum(rho[k] * d for k, d in enumerate(d1s))


class UniPC(Solver):
    """UniPC-``order`` (bh2, data prediction): predictor UniP plus corrector UniC that reuses
    the next evaluation, one model evaluation per step; ``order`` 1, 2 or 3. The first steps
    use the orders the history allows; ``lower_order_final`` (default: on below 15 steps, as
    diffusers) lowers the last ones. Needs ``marginal_coefficients`` and ``data_prediction``.
    """

    name = "unipc"
    strong_order = 3.0
    weak_order = 3.0
    noise_types = frozenset({"diagonal"})
    nfe_per_step = 1
    ode_only = True
    requires = ("data_prediction", "marginal_coefficients")
    preferred_spacing = "quadratic"

    def __init__(self, order: int = 2, lower_order_final: bool | None = None) -> None:
        if isinstance(order, bool) or order not in (1, 2, 3):
            raise ValueError(f"order must be one of [1, 2, 3], got {order!r}")
        self.order = order
        # UniC raises the predictor's order by one
        self.strong_order = self.weak_order = float(order + 1)
        self.lower_order_final = lower_order_final

    def __repr__(self) -> str:
        return f"UniPC(order={self.order})"

    def init(self, sde, t0, y0, n_steps):
        lower = n_steps < 15 if self.lower_order_final is None else bool(self.lower_order_final)
        return _State((), None, 0, n_steps if lower else n_steps + self.order)

    def step(self, sde, t0, t1, y0, noise: Noise, state: _State):
        e = ends(sde, t0, t1, y0)
        m = sde.data_prediction(t0, y0)
        history, x = state.history, y0
        if state.last is not None:  # UniC: correct the last step with this evaluation
            start = history[-1]
            lam_t = e.lam0
            x = _update(
                state.last,
                start,
                e.alpha0,
                e.sigma0,
                lam_t,
                history[:-1],
                m,
                state.last_order,
                corrector=True,
            )
        point = _Point(e.lam0, m, e.alpha0, e.sigma0)
        history = (*history, point)[-self.order :]
        order = min(self.order, len(history), state.steps_left)
        y1 = _update(
            x,
            point,
            e.alpha1,
            e.sigma1,
            e.lam0 + e.h,
            history[:-1],
            None,
            order,
            corrector=False,
        )
        return y1, _State(history, x, order, state.steps_left - 1)
