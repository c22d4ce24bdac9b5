"""The adaptive pair of Jolicoeur-Martineau, Li, Piché-Taillefer, Kachman & Mitliagkas, "Gotta
Go Fast When Generating Data with Score-Based Models" (2021, Algorithm 1), for SDEs with
additive noise such as revsde's reverse SDEs.

With one Brownian increment dW for both stages,

    K1 = h f(t0, y0) + g(t0) dW            (Euler–Maruyama: y' = y0 + K1)
    K2 = h f(t1, y0 + K1) + g(t1) dW
    y1 = y0 + (K1 + K2) / 2                (stochastic improved Euler, the extrapolation)
    err = (K2 - K1) / 2 = y1 - y'.

Two drift evaluations per step. The improved Euler step with the same increment converges to
the Stratonovich solution, which equals the Itô one only for additive noise: the method needs
``additive_noise``. What revsde chose against the paper's code: the error is controlled on the
whole batch (the RMS over all its elements, where the paper adapts each sample's own time), a
rejected step is retried on the same Brownian path (the paper draws fresh noise), and the
controller is revsde's PI controller with the paper's exponent 0.9 as its ``error_exponent``
(the paper uses h_new = 0.9 h e^-0.9, pure integral control). The tolerance's scale is the
paper's max(atol, rtol max(|y0|, |y1|)) with y1 the accepted solution (the paper uses the
Euler solutions y').

``error_scale="noise"`` (not the paper's; revsde's option) measures the error in units of the
step's noise scale sigma_d(t0) = sqrt((g g^T)_dd) instead: the RMS of err_d / (atol
sigma_d(t0)) is held at or below 1, and rtol is not used. Where the diffusion is strong, the
noise each step injects swamps a local error of the same size and the reverse dynamics mix it
away; where it is weak, an error persists to the end. On the reverse VP SDE this moves steps
from the start (g = 4.5) to the end (g = 0.3), where the weak error arises; on the reverse VE
SDE, whose g grows with sigma(t), it acts as a tolerance relative to sigma(t).

``error_scale="data"`` (revsde's option, for its reverse diffusion processes) measures the
error by what it does to the denoised sample: for data of unit variance, Tweedie's posterior
mean is E[x_0 | x_t] = alpha(t) x_t / (alpha(t)^2 + sigma(t)^2), so an error err in x_t moves
it by err alpha / (alpha^2 + sigma^2), and the RMS of err_d alpha / (atol (alpha^2 + sigma^2))
is held at or below 1 (rtol unused; alpha, sigma at the step's start, from the SDE's
``marginal_coefficients``). That factor is also how much of an error made at time t the
reverse dynamics carry to t = 0 on such data: on the VP SDE (alpha^2 + sigma^2 = 1) the
tolerance is atol / alpha(t), loose while the signal is drowned (alpha(T) = 0.0067) and tight
at the end. Measured (docs/benchmarks.md, "Adaptive steps"), evaluations for Euler–Maruyama's
500-step weak error: on the 2-D mixture (VP) about 82 against ~131 for "noise" and ~186 for the
paper's rule; on the d = 64 Gaussian (VP) about 69 against 82 and 84; under VE, where alpha =
1 and sigma reaches 50, "data" needs about 1.3 times the evaluations of "noise".
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .base import Noise, Solver, g_prod
from .protocols import MarginalCoefficients


class GottaGoFast(Solver):
    """Euler–Maruyama and stochastic improved Euler on one increment (see the module docstring):
    strong order 1 and weak order 1 for additive noise; 2 evaluations per step."""

    name = "ggf"
    strong_order = 1.0
    weak_order = 1.0
    noise_types = frozenset({"diagonal", "additive"})
    nfe_per_step = 2
    requires_additive = True
    error_exponent = 0.9
    ERROR_SCALES = ("state", "noise", "data")

    def __init__(self, error_scale: str = "state") -> None:
        if error_scale not in self.ERROR_SCALES:
            raise ValueError(
                f"error_scale must be one of {list(self.ERROR_SCALES)}, got {error_scale!r}"
            )
        self.error_scale = error_scale
        if error_scale == "data":
            self.requires = (MarginalCoefficients,)

    def step(self, sde, t0, t1, y0, noise: Noise, state):
        y1, _, state = self.step_with_error(sde, t0, t1, y0, noise, state)
        return y1, state

    def step_with_error(self, sde, t0, t1, y0, noise: Noise, state):
        h, dW = noise.h, noise.dW
        k1 = g_prod(sde, t0, y0, dW).add_(sde.f(t0, y0), alpha=h)
        y_euler = y0 + k1
        k2 = g_prod(sde, t1, y_euler, dW).add_(sde.f(t1, y_euler), alpha=h)
        err = 0.5 * (k2 - k1)
        return y_euler + err, err, state

    def tolerance(self, sde, t0, y0, y1, rtol, atol):
        if self.error_scale == "state":
            return super().tolerance(sde, t0, y0, y1, rtol, atol)
        if self.error_scale == "noise":
            return noise_scale(sde, t0, y0).mul_(atol)
        return data_scale(sde, t0, y0).mul_(atol)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(error_scale={self.error_scale!r})"


def noise_scale(sde: Any, t: Tensor, y: Tensor) -> Tensor:
    """sigma_d(t) = sqrt((g g^T)_dd), the standard deviation per unit time of the noise in each
    component of y (|g_d| for diagonal noise); an error if it vanishes anywhere."""
    g = sde.g(t, y)
    scale = g.abs() if sde.noise_type == "diagonal" else g.square().sum(-1).sqrt()
    if not bool((scale > 0).all()):
        raise ValueError(
            'error_scale="noise" needs a nonzero diffusion in every component, but g(t, y) has '
            f"a zero row at t = {float(t):g}"
        )
    return scale


def data_scale(sde: Any, t: Tensor, y: Tensor) -> Tensor:
    """(alpha^2 + sigma^2) / alpha at t, per sample: the state error that moves Tweedie's
    posterior mean alpha x / (alpha^2 + sigma^2) of unit-variance data by one unit."""
    alpha, sigma = sde.marginal_coefficients(t, y)
    return (alpha.square() + sigma.square()) / alpha
