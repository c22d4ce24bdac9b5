"""The step-size controller of adaptive solves: one object, shared by every adaptive method.

A method with an embedded error estimate returns, with each step, an estimate ``err`` of its
local error. The loop scales it per element by ``max(atol, rtol * max(|y0|, |y1|))`` (the
mixed tolerance of Jolicoeur-Martineau et al. 2021, "Gotta Go Fast", eq. 5) and takes the
root-mean-square over every element of the batch (as torchdiffeq and diffrax do over the
whole state; the largest per-sample norm made the step count grow with the batch size): the
step is accepted when that norm ``e`` is <= 1.

The next step is a PI controller (Söderlind 2002; Hairer, Nørsett & Wanner, "Solving ODEs I",
sec. II.4, and Hairer & Wanner II, sec. IV.2):

    h_new = h * clip(safety * e^(-beta1 * k) * e_prev^(beta2 * k), dfactor, ifactor),

with ``k`` the method's ``error_exponent`` (1 / (q + 1) for an error of order q + 1), e_prev
the norm of the last accepted step, and after a rejection the plain h * max(dfactor, safety *
e^(-k)) (no growth, no memory). Defaults: safety 0.9, beta1 0.7, beta2 0.4, ifactor 10,
dfactor 0.2 (Hairer's values for PI control).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class PIController:
    """Accepts or rejects a step from its scaled error norm and proposes the next step size."""

    safety: float = 0.9
    beta1: float = 0.7
    beta2: float = 0.4
    ifactor: float = 10.0
    dfactor: float = 0.2

    def __post_init__(self) -> None:
        for name in ("safety", "beta1", "ifactor", "dfactor"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if not (isinstance(self.beta2, (int, float)) and 0 <= self.beta2 < self.beta1):
            raise ValueError(f"beta2 must lie in [0, beta1), got {self.beta2!r}")
        if self.dfactor >= 1 or self.ifactor <= 1:
            raise ValueError("dfactor must be < 1 and ifactor > 1")
        self._e_prev = 1.0

    def reset(self) -> None:
        self._e_prev = 1.0

    def propose(self, h: float, e: float, exponent: float) -> tuple[bool, float]:
        """(accepted, next step size) for a step of size ``h`` with error norm ``e``."""
        if e <= 1.0:
            e = max(e, 1e-10)  # a zero error allows the largest growth
            factor = (
                self.safety
                * e ** (-self.beta1 * exponent)
                * self._e_prev ** (self.beta2 * exponent)
            )
            self._e_prev = e
            return True, h * min(self.ifactor, max(self.dfactor, factor))
        return False, h * max(self.dfactor, self.safety * e ** (-exponent))
