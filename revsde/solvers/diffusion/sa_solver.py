"""SA-Solver (Xue, Yi, Zhong, Li, Zhou & Xu, "SA-Solver: Stochastic Adams Solver for Fast
Sampling of Diffusion Models", NeurIPS 2023): a stochastic Adams predictor-corrector in the
log-SNR lambda on the data prediction, one model evaluation per step.

It integrates the family of reverse SDEs whose noise is ``eta`` times the probability-flow
ODE's rate (SA-Solver's tau^2; eta = 1 is the reverse SDE, eta = 0 the probability-flow ODE)
exactly in its linear part and its Ornstein-Uhlenbeck noise, as SDE-DPM-Solver++ does: with
h = lambda_1 - lambda_0, H = (1 + eta) h, z ~ N(0, I) and the data prediction interpolated by a
polynomial D(lambda) = D_0 + u D' + u^2 D''/2 (u = lambda - lambda_0),

    y1 = (sigma_1/sigma_0) e^{-eta h} y0 + alpha_1 (1 - e^{-H}) D_0
         + alpha_1 (1 - (1 - e^{-H})/H) h D' + alpha_1 (1 - 2 (H - 1 + e^{-H})/H^2) h^2 D''/2
         + sigma_1 sqrt(1 - e^{-2 eta h}) z,

the weights being the exact integrals of (1 + eta) e^{-(1 + eta)(lambda_1 - lambda)} against
1, u and u^2/2. The predictor (order p) takes the polynomial through D_0 and the p - 1 latest
earlier predictions (Adams-Bashforth); once the next step has evaluated the model at the
predicted state, the corrector (order c) redoes the step with the polynomial through D_0, that
new prediction at lambda_1 and the c - 2 latest earlier ones (Adams-Moulton), with the same z,
and the next step starts from the corrected state. The corrector reuses the evaluation the
next predictor needs (as UniPC's UniC does), so it costs none; the last step is not corrected.
The first steps use the orders the history allows.

``s_tmin``, ``s_tmax``: the noise (eta) acts only on steps whose start has a noise level
sigma/alpha within [s_tmin, s_tmax] (EDM's names for its churn window; SA-Solver's ``tau``
function); elsewhere the step is the deterministic one (eta = 0).

Weak order 2 for eta > 0 (the SDE's noise enters through one normal per step); with eta = 0 an
exponential multistep method for the probability-flow ODE of order c, or, with the corrector
off (c = 1), of order min(p, 2): the first step, with D_0 alone, has a local error O(h^2) that
only the corrector removes (measured: the tests).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ..._checks import check_real
from ..base import Noise, Solver
from ..protocols import SemiLinearSDE
from .exponential import Ends, ends, exponential_step, ou_noise, taylor_terms


class _Last(NamedTuple):
    """The previous step, for the corrector: its start state, ends, eta and noise term."""

    y0: torch.Tensor
    ends: Ends
    eta: float
    noise: torch.Tensor | float


class _State(NamedTuple):
    history: tuple  # (lambda, D) of the evaluated points, oldest first
    last: _Last | None


class SASolver(Solver):
    """SA-Solver with predictor order ``predictor_order`` and corrector order
    ``corrector_order`` (1-3 each; corrector order 1 turns the corrector off), noise ``eta``
    (1: the reverse SDE) within the window ``[s_tmin, s_tmax]`` of sigma/alpha; see the module
    docstring. One model evaluation per step."""

    name = "sa_solver"
    strong_order = 0.5
    weak_order = 2.0
    noise_types = frozenset({"diagonal"})
    nfe_per_step = 1
    requires = (SemiLinearSDE,)
    preferred_spacing = "quadratic"  # measured: benchmarks/few_step.py

    def __init__(
        self,
        predictor_order: int = 3,
        corrector_order: int = 3,
        eta: float = 1.0,
        s_tmin: float = 0.0,
        s_tmax: float = math.inf,
    ) -> None:
        orders = {"predictor_order": predictor_order, "corrector_order": corrector_order}
        for label, order in orders.items():
            if isinstance(order, bool) or order not in (1, 2, 3):
                raise ValueError(f"{label} must be one of [1, 2, 3], got {order!r}")
        self.predictor_order, self.corrector_order = predictor_order, corrector_order
        self.eta = check_real("eta", eta, low=0.0)
        self.s_tmin = check_real("s_tmin", s_tmin, low=0.0)
        self.s_tmax = check_real("s_tmax", s_tmax, low=0.0, finite=False)
        if self.s_tmax < self.s_tmin:
            raise ValueError(f"s_tmax must be >= s_tmin, got {s_tmax} < {s_tmin}")
        if self.eta == 0.0:
            # the first step has only D_0 (local error O(h^2)) unless the corrector redoes it
            self.weak_order = float(
                corrector_order if corrector_order > 1 else min(predictor_order, 2)
            )

    def __repr__(self) -> str:
        return (
            f"SASolver(predictor_order={self.predictor_order}, "
            f"corrector_order={self.corrector_order}, eta={self.eta})"
        )

    def init(self, sde, t0, y0, n_steps):
        return _State((), None)

    def _eta_at(self, e: Ends) -> float:
        if self.eta == 0.0 or (self.s_tmin == 0.0 and math.isinf(self.s_tmax)):
            return self.eta
        level = float(torch.exp(-e.lam0).reshape(-1)[0])  # sigma / alpha at the step's start
        return self.eta if self.s_tmin <= level <= self.s_tmax else 0.0

    def step(self, sde, t0, t1, y0, noise: Noise, state: _State):
        e = ends(sde, t0, t1, y0)
        d0 = sde.predict_x0(t0, y0)
        history, y = state.history, y0
        last = state.last
        if last is not None and self.corrector_order > 1:
            # Adams-Moulton: the previous step again, with this evaluation at its end
            lam_s, d_s = history[-1]
            points = [(lam_s + last.ends.h, d0), *reversed(history[:-1])]
            hd1, hd2 = taylor_terms(points[: self.corrector_order - 1], lam_s, d_s, last.ends.h)
            y = exponential_step(last.ends, last.y0, d_s, hd1, hd2, eta=last.eta) + last.noise
        keep = max(self.predictor_order, self.corrector_order)
        history = (*history, (e.lam0, d0))[-keep:]
        earlier = list(reversed(history[:-1]))[: self.predictor_order - 1]
        hd1, hd2 = taylor_terms(earlier, e.lam0, d0, e.h)
        eta = self._eta_at(e)
        y1 = exponential_step(e, y, d0, hd1, hd2, eta=eta)
        term = 0.0
        if eta:
            term = ou_noise(e, eta, noise)
            y1 = y1 + term
        return y1, _State(history, _Last(y, e, eta, term))
