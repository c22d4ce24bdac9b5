"""What a method needs of an SDE beyond torchsde's protocol, as ``typing.Protocol`` classes.

The generic methods (Euler–Maruyama, Milstein, SRA1, the Runge–Kutta methods and pairs, GGF
with its state and noise error scales) need ``f``, ``g``, ``noise_type`` and ``sde_type`` only.
A diffusion sampler reads more of the equation's structure and says so: its class lists these
protocols in ``requires``, and the integration loop checks, before the first step, that the
SDE provides every member of each, with an error that names the protocol and the members
that are missing (`missing`). revsde's reverse SDEs and probability-flow ODEs provide all of
them; any other object that does can be sampled by the same methods.

Every member takes the integration clock t first, as ``f(t, y)`` and ``g(t, y)`` do. Members
listed in a protocol's ``__evaluations__`` (with what they return, for messages) evaluate the
model once per call; the loop counts them with the drift's evaluations, and a non-finite
state's diagnosis looks at them.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, NamedTuple, Protocol

from torch import Tensor


class MarginalCoefficients(Protocol):
    """The transition coefficients of the diffusion behind the equation: at integration time
    t, x_t = alpha x_0 + sigma eps, with log-SNR lambda = log(alpha / sigma)."""

    __evaluations__: ClassVar[dict[str, str]] = {}

    def marginal_coefficients(self, t: Tensor, like: Tensor) -> tuple[Tensor, Tensor]:
        """(alpha, sigma) at integration time ``t``, shaped to broadcast against ``like``."""
        ...


class SemiLinearSDE(MarginalCoefficients, Protocol):
    """An equation dx = [a(t) x + b(t) D(x, t)] dt + c(t) dW whose linear part is known
    exactly, as the reverse SDEs and probability-flow ODEs of x_t = alpha_t x_0 + sigma_t eps
    are (Lu et al. 2022, "DPM-Solver++", eq. 9): exponential integrators (DDIM, DPM-Solver++,
    UniPC, SA-Solver) integrate the linear part in closed form and approximate only the data
    prediction D."""

    __evaluations__: ClassVar[dict[str, str]] = {"predict_x0": "the data prediction"}

    def predict_x0(self, t: Tensor, y: Tensor) -> Tensor:
        """The model's estimate of the clean data x_0 from the state ``y`` at integration time
        ``t`` (one model evaluation)."""
        ...


class LogSNRClock(Protocol):
    """The integration time of a log-SNR: EDM's churn raises the noise level of a state and
    needs the time at which the process has it."""

    __evaluations__: ClassVar[dict[str, str]] = {}

    def time_of_log_snr(self, lam: Tensor) -> Tensor:
        """The integration time at which log(alpha / sigma) equals ``lam``."""
        ...


class Transition(NamedTuple):
    """The forward step x_hi = a x_lo + sqrt(b2) eps between two grid times, the variances
    sigma^2 at its two ends, and the equation's noise scale lam (1: the reverse SDE, 0: the
    probability-flow ODE)."""

    a: Tensor
    b2: Tensor
    var_hi: Tensor
    var_lo: Tensor
    lam: float


class DiscreteReverseSDE(Protocol):
    """The reverse of a discrete forward chain, for the predictors of Song et al. (2021, App.
    E) and Ho et al. (2020) and the Langevin corrector: the forward step that a reverse step
    from t0 to t1 undoes, and the score."""

    __evaluations__: ClassVar[dict[str, str]] = {"predict_score": "the score"}

    def transition(self, t0: Tensor, t1: Tensor, like: Tensor) -> Transition:
        """The forward step from the later integration time ``t1`` (nearer the data) to
        ``t0``."""
        ...

    def predict_score(self, t: Tensor, y: Tensor) -> Tensor:
        """The score grad log p at the state ``y``, integration time ``t`` (one model
        evaluation)."""
        ...


def members(protocol: type) -> tuple[str, ...]:
    """The methods a protocol asks for, its bases' included."""
    names = []
    for cls in reversed(protocol.__mro__):
        if cls in (object, Protocol) or not getattr(cls, "_is_protocol", False):
            continue
        names += [
            name
            for name, value in vars(cls).items()
            if not name.startswith("_") and inspect.isfunction(value)
        ]
    return tuple(dict.fromkeys(names))


def evaluations(protocol: type) -> tuple[str, ...]:
    """The members of ``protocol`` that evaluate the model."""
    return tuple(
        dict.fromkeys(
            name
            for cls in protocol.__mro__
            for name in getattr(cls, "__evaluations__", ())
            if getattr(cls, "_is_protocol", False)
        )
    )


#: every model-evaluating member of the protocols above, with what it returns
MODEL_EVALUATIONS: dict[str, str] = {
    **DiscreteReverseSDE.__evaluations__,
    **SemiLinearSDE.__evaluations__,
}


def missing(sde: Any, protocol: type) -> list[str]:
    """The members of ``protocol`` that ``sde`` does not provide as callables."""
    return [name for name in members(protocol) if not callable(getattr(sde, name, None))]
