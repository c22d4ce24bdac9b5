"""DPM-Solver++ (Lu, Zhou, Bao, Chen, Li & Zhu, "DPM-Solver++: Fast Solver for Guided Sampling
of Diffusion Probabilistic Models", 2022): multistep exponential integrators in the log-SNR
lambda on the data prediction, and their stochastic (SDE) variant.

Multistep methods keep the last data predictions and their lambdas in the solver state, so
every step costs one model evaluation; the first steps, which lack history, use the orders
that the history allows (1, then 2, ...). With h = lambda_1 - lambda_0 and D_k the data
prediction k steps back, the step from the start state y0 is

    y1 = (sigma_1 / sigma_0) y0 - alpha_1 (e^{-h} - 1) D

with D = D_0 at order 1 (DDIM), and at order 2 (2M, r = h_prev / h)

    D = (1 + 1/(2r)) D_0 - 1/(2r) D_1.

Order 3 (3M) adds the divided differences D1 ~ h D' and D2 ~ h^2 D''/2 of the data
prediction in lambda (Lu et al.'s multistep third-order update):

    y1 = (sigma_1/sigma_0) y0 - alpha_1 (e^{-h} - 1) D_0 + alpha_1 ((e^{-h} - 1)/h + 1) D1
         + alpha_1 (1 - 2 (e^{-h} - 1 + h) / h^2) D2.

The last coefficient is the exact integral sigma_1 int e^lambda (lambda - lambda_0)^2/2 dlambda
divided by h^2/2. Lu et al.'s code, diffusers and k-diffusion use -((e^{-h} - 1 + h)/h^2 - 1/2)
there, half of it (h/6 instead of h/3 for small h): their 3M integrates a quadratic data
prediction inexactly and is second order; this one is third order (measured 2.98 against
their 2.13 on the exact probability-flow path of a Gaussian, VP). Its first step is the
single-step 2S, so that no step's local error exceeds O(h^3) and the global order is 3 (an
order-1 first step, as is common, leaves a global O(h^2)); that step costs one more
evaluation.

The single-step DPM-Solver++(2S) (Lu et al. Alg. 1) takes an intermediate point at the middle
of the step in the integration clock, with r = (lambda_mid - lambda_0) / h:

    u = (sigma_mid / sigma_0) y0 - alpha_mid (e^{-r h} - 1) D_0,
    y1 = (sigma_1 / sigma_0) y0 - alpha_1 (e^{-h} - 1) [(1 - 1/(2r)) D_0 + 1/(2r) D(u)].
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .base import Noise, Solver, check_real
from .semilinear import ends, ou_noise, sde_exponential_step


def _check_order(order: object, allowed: tuple[int, ...]) -> int:
    if isinstance(order, bool) or order not in allowed:
        raise ValueError(f"order must be one of {list(allowed)}, got {order!r}")
    return int(order)


def _single_step_2s(sde, e, t0, t1, y0, d0, *, with_error: bool = False):
    """DPM-Solver++(2S) from y0 with the data prediction d0 at its start (one more evaluation);
    ``with_error`` also returns its difference from the first-order (DDIM) step from d0."""
    t_mid = t0 + 0.5 * (t1 - t0)
    a_m, s_m = sde.marginal_coefficients(t_mid, y0)
    r = (torch.log(a_m) - torch.log(s_m) - e.lam0) / e.h
    u = (s_m / e.sigma0) * y0 - (a_m * torch.expm1(-r * e.h)) * d0
    d_mid = sde.data_prediction(t_mid, u)
    d = (1.0 - 0.5 / r) * d0 + (0.5 / r) * d_mid
    weight = e.alpha1 * torch.expm1(-e.h)
    y1 = (e.sigma1 / e.sigma0) * y0 - weight * d
    if not with_error:
        return y1
    # y1 - y_ddim = -alpha_1 (e^{-h} - 1)(d - d0) = -alpha_1 (e^{-h} - 1) (d_mid - d0) / (2r)
    return y1, -(weight * (0.5 / r)) * (d_mid - d0)


class _SingleStep(Solver):
    """A single-step DPM-Solver++ step from y0 and its start's data prediction, given by
    ``_update(sde, ends, t0, t1, y0, d0, with_error=...)``; adaptive with its embedded
    lower-order solution."""

    _update = None

    def step(self, sde, t0, t1, y0, noise: Noise, state):
        e = ends(sde, t0, t1, y0)
        return self._update(sde, e, t0, t1, y0, sde.data_prediction(t0, y0)), state

    def step_with_error(self, sde, t0, t1, y0, noise: Noise, state):
        e = ends(sde, t0, t1, y0)
        d0 = sde.data_prediction(t0, y0)
        y1, err = self._update(sde, e, t0, t1, y0, d0, with_error=True)
        return y1, err, state


class DPMSolverPP2S(_SingleStep):
    """Single-step DPM-Solver++(2S) (see the module docstring): global order 2, two model
    evaluations per step, no history."""

    name = "dpmpp_2s"
    strong_order = 2.0
    weak_order = 2.0
    noise_types = frozenset({"diagonal"})
    nfe_per_step = 2
    ode_only = True
    requires = ("data_prediction", "marginal_coefficients")
    preferred_spacing = "quadratic"  # measured: benchmarks/few_step.py
    # adaptive: the first-order (DDIM) step from the same D_0 is the embedded solution, whose
    # local error is O(h^2) (DPM-Solver-12 of Lu et al. 2022a, sec. 4.3, in data prediction)
    error_exponent = 0.5

    _update = staticmethod(_single_step_2s)


def _single_step_3s(sde, e, t0, t1, y0, d0, *, with_error: bool = False):
    """Single-step third-order DPM-Solver++ from y0 with the data prediction d0 at its start
    (two more evaluations, at a third and two thirds of the step in the integration clock);
    ``with_error`` also returns its difference from the embedded second-order solution."""
    a_a, s_a = sde.marginal_coefficients(t0 + (t1 - t0) / 3.0, y0)
    a_b, s_b = sde.marginal_coefficients(t0 + (t1 - t0) * (2.0 / 3.0), y0)
    r1 = (torch.log(a_a) - torch.log(s_a) - e.lam0) / e.h
    r2 = (torch.log(a_b) - torch.log(s_b) - e.lam0) / e.h
    h_a, h_b = r1 * e.h, r2 * e.h
    u_a = (s_a / e.sigma0) * y0 - (a_a * torch.expm1(-h_a)) * d0
    slope_a = (sde.data_prediction(t0 + (t1 - t0) / 3.0, u_a) - d0) / r1  # ~ h D'
    phi_b = -torch.expm1(-h_b)
    u_b = (s_b / e.sigma0) * y0 + a_b * (phi_b * d0 + ((h_b - phi_b) / e.h) * slope_a)
    slope_b = (sde.data_prediction(t0 + (t1 - t0) * (2.0 / 3.0), u_b) - d0) / r2
    curvature = (slope_b - slope_a) / (r2 - r1)  # ~ h^2 D''/2
    derivative = slope_a - r1 * curvature  # ~ h D'
    phi = -torch.expm1(-e.h)  # 1 - e^{-h}
    w1 = 1.0 - phi / e.h
    w2 = 1.0 - 2.0 * (e.h - phi) / e.h**2
    y1 = (e.sigma1 / e.sigma0) * y0 + e.alpha1 * (phi * d0 + w1 * derivative + w2 * curvature)
    if not with_error:
        return y1
    # the embedded solution takes D' from d0 and the first stage only: w1 * slope_a
    return y1, (e.alpha1 * (w2 - r1 * w1)) * curvature


class DPMSolverPP3S(_SingleStep):
    """Single-step third-order DPM-Solver++ (the data-prediction form of DPM-Solver-3, Lu et
    al. 2022a, sec. 3.3 and Alg. 2 with r1 = 1/3, r2 = 2/3): global order 3, three model
    evaluations per step, no history. With D(lambda) = D_0 + u D' + u^2 D''/2 (u = lambda -
    lambda_0) fitted through D_0 and the stages' predictions at u = r1 h and r2 h, and
    phi = 1 - e^{-h},

        u_a = (sigma_a/sigma_0) y0 + alpha_a (1 - e^{-r1 h}) D_0,
        u_b = (sigma_b/sigma_0) y0 + alpha_b [(1 - e^{-r2 h}) D_0
              + (r2 h - 1 + e^{-r2 h}) (D(u_a) - D_0) / (r1 h)],
        y1 = (sigma_1/sigma_0) y0 + alpha_1 [phi D_0 + (1 - phi/h) h D'
              + (1 - 2 (h - phi)/h^2) h^2 D''/2],

    the weights being the exact integrals of e^{-(h - u)} against 1, u and u^2/2. The stages
    sit at a third and two thirds of the step in the integration clock (as 2S takes its
    midpoint there), and r1, r2 are read off their log-SNRs, so no inverse of lambda is
    needed. Adaptive: the second-order solution from D_0 and the first stage alone (D' from
    that pair) is the embedded one, local error O(h^3) (DPM-Solver-23 of Lu et al. 2022a,
    sec. 4.3, in data prediction).
    """

    name = "dpmpp_3s"
    strong_order = 3.0
    weak_order = 3.0
    noise_types = frozenset({"diagonal"})
    nfe_per_step = 3
    ode_only = True
    requires = ("data_prediction", "marginal_coefficients")
    preferred_spacing = "quadratic"
    error_exponent = 1.0 / 3.0

    _update = staticmethod(_single_step_3s)


class _Multistep(NamedTuple):
    """A multistep method's state: the last (lambda, D) pairs, oldest first, and the steps
    left after this one."""

    history: tuple
    steps_left: int


def _lower_order_final(option: bool | None, n_steps: int) -> bool:
    # diffusers' rule: on by default for fewer than 15 steps, where the large last steps of
    # a high-order multistep method are the least stable
    return n_steps < 15 if option is None else bool(option)


class DPMSolverPP(Solver):
    """Multistep DPM-Solver++ of ``order`` 1, 2 (``dpmpp_2m``) or 3 (``dpmpp_3m``) for the
    probability-flow ODE, in data prediction. Global order ``order``; one model evaluation
    per step. Needs the SDE's ``marginal_coefficients`` and ``data_prediction``.

    ``lower_order_final``: the last steps use at most the order of the steps left (order 1 on
    the last, 2 on the one before), as diffusers does; ``None`` (the default) turns it on for
    solves of fewer than 15 steps.
    """

    name = "dpmpp_2m"
    strong_order = 2.0
    weak_order = 2.0
    noise_types = frozenset({"diagonal"})
    nfe_per_step = 1
    ode_only = True
    requires = ("data_prediction", "marginal_coefficients")
    preferred_spacing = "quadratic"  # measured: benchmarks/few_step.py

    def __init__(self, order: int = 2, lower_order_final: bool | None = None) -> None:
        self.order = _check_order(order, (1, 2, 3))
        self.strong_order = self.weak_order = float(self.order)
        self.lower_order_final = lower_order_final

    def __repr__(self) -> str:
        return f"{type(self).__name__}(order={self.order})"

    @property
    def nfe_startup(self) -> int:
        # a 3M solve starts with one 2S step
        return 1 if self.order == 3 else 0

    def init(self, sde, t0, y0, n_steps):
        lower = _lower_order_final(self.lower_order_final, n_steps)
        return _Multistep((), n_steps if lower else n_steps + self.order)

    def step(self, sde, t0, t1, y0, noise: Noise, state):
        history, left = state
        e = ends(sde, t0, t1, y0)
        d0 = sde.data_prediction(t0, y0)
        k = min(self.order, len(history) + 1, left)
        phi = torch.expm1(-e.h)  # e^{-h} - 1
        if self.order == 3 and not history:
            y1 = _single_step_2s(sde, e, t0, t1, y0, d0)
        else:
            y1 = (e.sigma1 / e.sigma0) * y0 - (e.alpha1 * phi) * d0
        if k == 2:
            lam_1, d_1 = history[-1]
            r0 = (e.lam0 - lam_1) / e.h
            y1 = y1 - (e.alpha1 * phi / (2.0 * r0)) * (d0 - d_1)
        elif k == 3:
            (lam_2, d_2), (lam_1, d_1) = history[-2], history[-1]
            r0, r1 = (e.lam0 - lam_1) / e.h, (lam_1 - lam_2) / e.h
            d1_0, d1_1 = (d0 - d_1) / r0, (d_1 - d_2) / r1
            d1 = d1_0 + (r0 / (r0 + r1)) * (d1_0 - d1_1)
            d2 = (d1_0 - d1_1) / (r0 + r1)  # ~ h^2 D''/2
            y1 = (
                y1
                + (e.alpha1 * (phi / e.h + 1.0)) * d1
                + (e.alpha1 * (1.0 - 2.0 * (phi + e.h) / e.h**2)) * d2
            )
        history = (*history, (e.lam0, d0))[-(self.order - 1) :] if self.order > 1 else ()
        return y1, _Multistep(history, left - 1)


class DPMSolverPP3M(DPMSolverPP):
    """DPM-Solver++(3M): the multistep method of order 3 (see ``DPMSolverPP``)."""

    name = "dpmpp_3m"

    def __init__(self, order: int = 3, lower_order_final: bool | None = None) -> None:
        super().__init__(order, lower_order_final)


class SDEDPMSolverPP(Solver):
    """SDE-DPM-Solver++ of ``order`` 1, 2 (``dpmpp_2m_sde``) or 3 (``dpmpp_3m_sde``) (Lu et
    al. 2022b, sec. 5, with the ``eta`` of k-diffusion's ``sample_dpmpp_2m_sde`` and
    ``sample_dpmpp_3m_sde``). It integrates, from lambda_0 to lambda_1 = lambda_0 + h, the
    family of reverse SDEs whose noise is eta times the probability-flow ODE's rate, exactly in
    its linear part and its Ornstein-Uhlenbeck noise: with H = (1 + eta) h, z ~ N(0, I) and
    the data prediction D(lambda) = D_0 + (lambda - lambda_0) D' + (lambda - lambda_0)^2 D''/2,

        y1 = (sigma_1/sigma_0) e^{-eta h} y0 + alpha_1 (1 - e^{-H}) D_0
             + alpha_1 (1 - (1 - e^{-H})/H) h D'
             + alpha_1 (1 - 2 (H - 1 + e^{-H})/H^2) h^2 D''/2
             + sigma_1 sqrt(1 - e^{-2 eta h}) z,

    the weights being the exact integrals of (1 + eta) e^{-(1 + eta)(lambda_1 - lambda)}
    against 1, (lambda - lambda_0) and (lambda - lambda_0)^2 / 2. Order 1 keeps D_0; order 3
    estimates h D' and h^2 D''/2 from the last three data predictions (as DPM-Solver++(3M);
    order 2 on its second step); order 2 uses k-diffusion's "midpoint" form
    alpha_1 (1 - e^{-H}) / (2 r) (D_0 - D_1), r = (lambda_0 - lambda_prev) / h. (k-diffusion's
    3M weights D''-term by half of the exact integral, as its ODE 3M does; see the module
    docstring.) eta = 1 is the reverse SDE; eta = 0 the probability-flow ODE. Weak order 2 at
    orders 2 and 3 (measured 1.9 for 2M on a Gaussian target), 1 at order 1; one model
    evaluation per step.
    """

    name = "dpmpp_2m_sde"
    strong_order = 0.5
    weak_order = 2.0
    noise_types = frozenset({"diagonal"})
    nfe_per_step = 1
    requires = ("data_prediction", "marginal_coefficients")
    preferred_spacing = "quadratic"  # measured: benchmarks/few_step.py

    def __init__(self, order: int = 2, eta: float = 1.0) -> None:
        self.order = _check_order(order, (1, 2, 3))
        self.eta = check_real("eta", eta, low=0.0)
        self.weak_order = min(float(self.order), 2.0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(order={self.order}, eta={self.eta})"

    def init(self, sde, t0, y0, n_steps):
        return ()

    def step(self, sde, t0, t1, y0, noise: Noise, state):
        e = ends(sde, t0, t1, y0)
        d0 = sde.data_prediction(t0, y0)
        k = min(self.order, len(state) + 1)
        hd1 = hd2 = None
        if k == 3:
            (lam_2, d_2), (lam_1, d_1) = state
            r0, r1 = (e.lam0 - lam_1) / e.h, (lam_1 - lam_2) / e.h
            d1_0, d1_1 = (d0 - d_1) / r0, (d_1 - d_2) / r1
            hd1 = d1_0 + (r0 / (r0 + r1)) * (d1_0 - d1_1)  # ~ h D'
            hd2 = (d1_0 - d1_1) / (r0 + r1)  # ~ h^2 D''/2
        elif k == 2 and self.order == 3:
            lam_1, d_1 = state[-1]
            hd1 = (d0 - d_1) / ((e.lam0 - lam_1) / e.h)
        y1 = sde_exponential_step(e, self.eta, y0, d0, hd1, hd2)
        if k == 2 and self.order == 2:  # k-diffusion's midpoint form
            lam_1, d_1 = state[-1]
            r = (e.lam0 - lam_1) / e.h
            y1 = y1 + (e.alpha1 * -torch.expm1(-(1.0 + self.eta) * e.h) / (2.0 * r)) * (d0 - d_1)
        if self.eta:
            y1 = y1 + ou_noise(e, self.eta, noise)
        return y1, (*state, (e.lam0, d0))[-(self.order - 1) :] if self.order > 1 else ()


class SDEDPMSolverPP3M(SDEDPMSolverPP):
    """SDE-DPM-Solver++(3M): ``SDEDPMSolverPP`` of order 3."""

    name = "dpmpp_3m_sde"

    def __init__(self, order: int = 3, eta: float = 1.0) -> None:
        super().__init__(order, eta)
