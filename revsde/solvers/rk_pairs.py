"""Embedded explicit Runge–Kutta pairs for ODEs (g = 0), such as the probability-flow ODE:
each step gives a solution and, from the same stages, one of lower order whose difference is
the error estimate that adaptive solves control (Hairer, Nørsett & Wanner, "Solving Ordinary
Differential Equations I", sec. II.4-II.5).

With stages k_i = f(t0 + c_i h, y0 + h sum_j a_ij k_j), the step is y1 = y0 + h sum b_i k_i and
the estimate err = h sum (b_i - b*_i) k_i. Both pairs are "first same as last": the last stage
is f(t1, y1), the next step's first, which the solver keeps in its state, so a step costs one
evaluation fewer than its stages after the first (and a rejected step reuses its first stage).

- ``bosh3``: Bogacki & Shampine (1989), order 3 with an embedded order-2 solution; 4 stages.
- ``dopri5``: Dormand & Prince (1980), order 5 with an embedded order-4 solution; 7 stages.
"""

from __future__ import annotations

from typing import ClassVar

from .base import Noise, Solver


class _EmbeddedPair(Solver):
    """An explicit FSAL Runge–Kutta pair given by its tableau (c, a, b, b*)."""

    c: ClassVar[tuple[float, ...]]
    a: ClassVar[tuple[tuple[float, ...], ...]]  # row i: a_{i+1, 1..i}
    b: ClassVar[tuple[float, ...]]
    b_low: ClassVar[tuple[float, ...]]
    ode_only = True
    nfe_startup = 1

    def init(self, sde, t0, y0, n_steps):
        return None  # (t0, y0, f(t0, y0)) once a step has run

    def step(self, sde, t0, t1, y0, noise: Noise, state):
        y1, _, state = self.step_with_error(sde, t0, t1, y0, noise, state)
        return y1, state

    def step_with_error(self, sde, t0, t1, y0, noise: Noise, state):
        h = noise.h
        if state is not None and state[0] is t0 and state[1] is y0:
            k = [state[2]]
        else:
            k = [sde.f(t0, y0)]
        for c_i, row in zip(self.c[1:], self.a, strict=True):
            # sum the stages before adding to y0: in half precision an increment added to
            # y0 one stage at a time is rounded away
            y_i = y0 + h * _combine(row, k)
            t_i = t1 if c_i == 1.0 else t0 + c_i * h
            k.append(sde.f(t_i, y_i))
        y1 = y_i  # FSAL: the last stage is evaluated at (t1, y1)
        err = h * _combine([b_i - bl_i for b_i, bl_i in zip(self.b, self.b_low, strict=True)], k)
        return y1, err, (t1, y1, k[-1])


def _combine(weights, stages):
    """sum_j w_j k_j over the nonzero weights."""
    out = None
    for w, k in zip(weights, stages, strict=False):
        if w:
            out = w * k if out is None else out.add(k, alpha=w)
    return out


class BogackiShampine(_EmbeddedPair):
    """Bogacki–Shampine 3(2): order 3, embedded order 2; 3 evaluations per step (FSAL)."""

    name = "bosh3"
    strong_order = 3.0
    weak_order = 3.0
    nfe_per_step = 3
    error_exponent = 1.0 / 3.0
    c = (0.0, 0.5, 0.75, 1.0)
    a = ((0.5,), (0.0, 0.75), (2 / 9, 1 / 3, 4 / 9))
    b = (2 / 9, 1 / 3, 4 / 9, 0.0)
    b_low = (7 / 24, 1 / 4, 1 / 3, 1 / 8)


class DormandPrince(_EmbeddedPair):
    """Dormand–Prince 5(4): order 5, embedded order 4; 6 evaluations per step (FSAL)."""

    name = "dopri5"
    strong_order = 5.0
    weak_order = 5.0
    nfe_per_step = 6
    error_exponent = 1.0 / 5.0
    c = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
    a = (
        (1 / 5,),
        (3 / 40, 9 / 40),
        (44 / 45, -56 / 15, 32 / 9),
        (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
        (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
        (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
    )
    b = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0)
    b_low = (5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40)
