"""DPM-Solver++ (Lu, Zhou, Bao, Chen, Li & Zhu, "DPM-Solver++: Fast Solver for Guided Sampling
of Diffusion Probabilistic Models", 2022): exponential integrators in the log-SNR lambda on
the data prediction, single-step (2S, 3S) and multistep (2M, 3M), and the multistep ones'
stochastic (SDE) variants. Every step is ``exponential.exponential_step`` with a polynomial
data prediction; the schemes differ in where its terms come from.

Multistep methods keep the last data predictions and their lambdas in the solver state, so
every step costs one model evaluation; the first steps, which lack history, use the orders
that the history allows (1, then 2, ...). With h = lambda_1 - lambda_0, D_k the data prediction
k steps back and r = (lambda_0 - lambda_{-1}) / h, the second-order step (2M) takes the
constant D = (1 + 1/(2r)) D_0 - 1/(2r) D_1 (Lu et al.'s "midpoint" form), the third (3M) the
parabola through the last three predictions (its divided differences h D' and h^2 D''/2).

Third order: the D'' weight is the exact integral 2 H phi_3(-H). Lu et al.'s code, diffusers
and k-diffusion use -((e^{-h} - 1 + h)/h^2 - 1/2) there, half of it (h/6 instead of h/3 for
small h): their 3M integrates a quadratic data prediction inexactly and is second order; this
one is third order (measured 2.98 against their 2.13 on the exact probability-flow path of a
Gaussian, VP). Its first step is the single-step 2S, so that no step's local error exceeds
O(h^3) and the global order is 3 (an order-1 first step, as is common, leaves a global
O(h^2)); that step costs one more evaluation.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

from ..._checks import check_real
from ..base import Noise, Solver
from ..protocols import LogSNRClock, SemiLinearSDE
from .exponential import (
    Ends,
    check_lower_order_final,
    ends,
    exponential_step,
    lower_order_final,
    ou_noise,
    taylor_terms,
)

STAGES = ("time", "logsnr")


def _stage_time(sde, e: Ends, t0, t1, fraction: float, stages: str):
    """The integration time a ``fraction`` of the way through the step: in the integration
    clock (``stages="time"``) or in lambda (``"logsnr"``, through the SDE's
    ``time_of_log_snr``)."""
    if stages == "time":
        return t0 + fraction * (t1 - t0)
    return sde.time_of_log_snr(e.lam0 + fraction * e.h).to(t0)


def _single_step_2s(sde, e: Ends, t0, t1, y0, d0, *, stages="time", with_error=False):
    """DPM-Solver++(2S) (Lu et al. Alg. 1) from y0 with the data prediction d0 at its start
    (one more evaluation, at the middle of the step in the integration clock, or in lambda
    with ``stages="logsnr"`` as in Lu et al.'s r1 = 1/2): with r = (lambda_mid - lambda_0) / h,

        u = exponential_step to the midpoint from D_0,
        y1 = exponential_step from (1 - 1/(2r)) D_0 + 1/(2r) D(u).

    ``with_error`` also returns its difference from the first-order (DDIM) step from d0."""
    t_mid = _stage_time(sde, e, t0, t1, 0.5, stages)
    mid = e.to(sde, t_mid, y0)
    r = mid.h / e.h
    d_mid = sde.predict_x0(t_mid, exponential_step(mid, y0, d0))
    y1 = exponential_step(e, y0, (1.0 - 0.5 / r) * d0 + (0.5 / r) * d_mid)
    if not with_error:
        return y1
    # y1 - y_ddim = alpha_1 (1 - e^{-h}) (d_mid - d0) / (2r)
    return y1, exponential_step(e, None, (0.5 / r) * (d_mid - d0))


def _single_step_3s(sde, e: Ends, t0, t1, y0, d0, *, stages="time", with_error=False):
    """Single-step third-order DPM-Solver++ in its Taylor form (the data-prediction version
    of Lu et al.'s ``singlestep_dpm_solver_third_update`` with ``solver_type="taylor"``; the
    stages of DPM-Solver-3, Lu et al. 2022a, sec. 3.3 and Alg. 2, r1 = 1/3, r2 = 2/3):
    D(lambda) = D_0 + u D' + u^2 D''/2 fitted through D_0 and the stages' predictions,

        u_a = exponential_step to stage a from D_0,
        u_b = exponential_step to stage b from D_0 and r2 h D' ~ (r2/r1) (D(u_a) - D_0),
        y1 = exponential_step from D_0, h D' and h^2 D''/2 of the parabola through the three,

    with r1, r2 the stages' fractions of h. The stages sit at a third and two thirds of the
    step in the integration clock (``stages="time"``) or in lambda (``"logsnr"``, as
    DPM-Solver-3 puts them).

    ``with_error`` also returns its difference from the embedded second-order solution (h D'
    from D_0 and the first stage alone)."""
    t_a = _stage_time(sde, e, t0, t1, 1.0 / 3.0, stages)
    t_b = _stage_time(sde, e, t0, t1, 2.0 / 3.0, stages)
    stage_a, stage_b = e.to(sde, t_a, y0), e.to(sde, t_b, y0)
    r1, r2 = stage_a.h / e.h, stage_b.h / e.h
    slope_a = (sde.predict_x0(t_a, exponential_step(stage_a, y0, d0)) - d0) / r1  # ~ h D'
    u_b = exponential_step(stage_b, y0, d0, r2 * slope_a)
    slope_b = (sde.predict_x0(t_b, u_b) - d0) / r2
    curvature = (slope_b - slope_a) / (r2 - r1)  # ~ h^2 D''/2
    y1 = exponential_step(e, y0, d0, slope_a - r1 * curvature, curvature)
    if not with_error:
        return y1
    # the embedded solution takes h D' = slope_a and no D'' term
    return y1, exponential_step(e, None, None, -r1 * curvature, curvature)


class _SingleStep(Solver):
    """A single-step DPM-Solver++ step, adaptive with its embedded lower-order solution.

    ``stages="time"`` (the default) places the inner stages at fixed fractions of the step in
    the integration clock; ``stages="logsnr"`` at those fractions of h in lambda, as Lu et
    al. do, which needs the SDE's ``time_of_log_snr`` (``protocols.LogSNRClock``; revsde's
    inverts lambda by bisection, reading it back to the host, so a solve with it cannot be
    captured as a CUDA graph)."""

    noise_types = frozenset({"diagonal"})
    ode_only = True
    requires = (SemiLinearSDE,)
    preferred_spacing = "quadratic"  # measured: benchmarks/few_step.py
    _update: ClassVar = None

    def __init__(self, stages: str = "time") -> None:
        if stages not in STAGES:
            raise ValueError(f"stages must be one of {list(STAGES)}, got {stages!r}")
        self.stages = stages
        if stages == "logsnr":
            self.requires = (SemiLinearSDE, LogSNRClock)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(stages={self.stages!r})"

    def step(self, sde, t0, t1, y0, noise: Noise, state):
        e = ends(sde, t0, t1, y0)
        d0 = sde.predict_x0(t0, y0)
        return self._update(sde, e, t0, t1, y0, d0, stages=self.stages), state

    def step_with_error(self, sde, t0, t1, y0, noise: Noise, state):
        e = ends(sde, t0, t1, y0)
        d0 = sde.predict_x0(t0, y0)
        y1, err = self._update(sde, e, t0, t1, y0, d0, stages=self.stages, with_error=True)
        return y1, err, state


class DPMSolverPP2S(_SingleStep):
    """Single-step DPM-Solver++(2S): global order 2, two model evaluations per step, no
    history. Adaptive: the first-order (DDIM) step from the same D_0 is the embedded solution,
    local error O(h^2) (DPM-Solver-12 of Lu et al. 2022a, sec. 4.3, in data prediction)."""

    name = "dpmpp_2s"
    strong_order = 2.0
    weak_order = 2.0
    nfe_per_step = 2
    error_exponent = 0.5
    _update = staticmethod(_single_step_2s)


class DPMSolverPP3S(_SingleStep):
    """Single-step third-order DPM-Solver++: global order 3, three model evaluations per step,
    no history. Adaptive: the embedded second-order solution has local error O(h^3)
    (DPM-Solver-23 of Lu et al. 2022a, sec. 4.3, in data prediction). Its stages sit at
    thirds of the step in the integration clock; ``stages="logsnr"`` puts them at thirds in
    lambda, as DPM-Solver-3 does."""

    name = "dpmpp_3s"
    strong_order = 3.0
    weak_order = 3.0
    nfe_per_step = 3
    error_exponent = 1.0 / 3.0
    _update = staticmethod(_single_step_3s)


class _History(NamedTuple):
    """A multistep method's state: the last (lambda, D) pairs, oldest first, and the steps
    left after this one."""

    points: tuple
    steps_left: int


class _Multistep(Solver):
    """Multistep DPM-Solver++ of order ``order`` on the family of equations with noise
    parameter ``eta`` (0: the probability-flow ODE; ``exponential_step``)."""

    order: ClassVar[int] = 2
    #: the second-order step: Lu et al.'s "midpoint" constant or the Taylor line
    second_order: ClassVar[str] = "midpoint"
    #: a first step of order 2 by the single-step 2S (third-order ODE method)
    starts_with_2s: ClassVar[bool] = False
    noise_types = frozenset({"diagonal"})
    nfe_per_step = 1
    requires = (SemiLinearSDE,)
    preferred_spacing = "quadratic"  # measured: benchmarks/few_step.py
    eta: float = 0.0
    lower_order_final: bool | None = None

    @property
    def nfe_startup(self) -> int:
        return 1 if self.starts_with_2s else 0

    def init(self, sde, t0, y0, n_steps):
        lower = lower_order_final(self.lower_order_final, n_steps)
        return _History((), n_steps if lower else n_steps + self.order)

    def step(self, sde, t0, t1, y0, noise: Noise, state: _History):
        points, left = state
        e = ends(sde, t0, t1, y0)
        d0 = sde.predict_x0(t0, y0)
        k = min(self.order, len(points) + 1, left)
        if self.starts_with_2s and not points:
            y1 = _single_step_2s(sde, e, t0, t1, y0, d0)
        elif k == 2 and self.second_order == "midpoint":
            lam_1, d_1 = points[-1]
            r = (e.lam0 - lam_1) / e.h
            y1 = exponential_step(e, y0, d0 + (0.5 / r) * (d0 - d_1), eta=self.eta)
        else:
            hd1, hd2 = taylor_terms(list(reversed(points))[: k - 1], e.lam0, d0, e.h)
            y1 = exponential_step(e, y0, d0, hd1, hd2, eta=self.eta)
        if self.eta:
            y1 = y1 + ou_noise(e, self.eta, noise)
        return y1, _History((*points, (e.lam0, d0))[-(self.order - 1) :], left - 1)


class DPMSolverPP2M(_Multistep):
    """Multistep DPM-Solver++(2M) for the probability-flow ODE: global order 2, one model
    evaluation per step.

    ``lower_order_final``: the last step uses order 1, as diffusers does; ``None`` (the
    default) turns it on for solves of fewer than 15 steps."""

    name = "dpmpp_2m"
    strong_order = 2.0
    weak_order = 2.0
    ode_only = True

    def __init__(self, lower_order_final: bool | None = None) -> None:
        self.lower_order_final = check_lower_order_final(lower_order_final)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lower_order_final={self.lower_order_final})"


class DPMSolverPP3M(DPMSolverPP2M):
    """Multistep DPM-Solver++(3M) for the probability-flow ODE, with the exact third-order
    weight (see the module docstring): global order 3, one model evaluation per step after a
    first 2S step of two. ``lower_order_final`` as for 2M (order 1 on the last step, 2 on the
    one before)."""

    name = "dpmpp_3m"
    strong_order = 3.0
    weak_order = 3.0
    order = 3
    starts_with_2s = True


class DPMSolverPP2MSDE(_Multistep):
    """SDE-DPM-Solver++(2M) (Lu et al. 2022b, sec. 5, with the ``eta`` of k-diffusion's
    ``sample_dpmpp_2m_sde``): the step of ``exponential_step`` with noise parameter ``eta``
    and its Ornstein-Uhlenbeck noise, the second-order term in the midpoint form
    alpha_1 (1 - e^{-H}) / (2 r) (D_0 - D_1). eta = 1 is the reverse SDE, eta = 0 the
    probability-flow ODE (DPM-Solver++(2M)). Weak order 2 (measured 1.9 on a Gaussian target);
    one model evaluation per step. ``lower_order_final`` is off by default, as k-diffusion."""

    name = "dpmpp_2m_sde"
    strong_order = 0.5
    weak_order = 2.0

    def __init__(self, eta: float = 1.0, lower_order_final: bool | None = False) -> None:
        self.eta = check_real("eta", eta, low=0.0)
        self.lower_order_final = check_lower_order_final(lower_order_final)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(eta={self.eta})"


class DPMSolverPP3MSDE(DPMSolverPP2MSDE):
    """SDE-DPM-Solver++(3M) (k-diffusion's ``sample_dpmpp_3m_sde``, with the exact D'' weight
    of the module docstring): h D' and h^2 D''/2 from the last three data predictions, the
    Taylor line on its second step. Weak order 2; one model evaluation per step."""

    name = "dpmpp_3m_sde"
    order = 3
    second_order = "taylor"
