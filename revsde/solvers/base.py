"""The solver contract, written once.

A solver is a small object with a pure step:

    state = solver.init(sde, t0, y0, n_steps)
    y1, state = solver.step(sde, t0, t1, y0, noise, state)

``sde`` follows torchsde's protocol (``f(t, y)``, ``g(t, y)``, ``noise_type``, ``sde_type``).
A step draws no randomness of its own: the integration loop hands it ``noise``, a
`Noise` holding the Brownian increment dW = W(t1) - W(t0) and, where the solver declares
it needs them, the space-time integral U = int_{t0}^{t1} (W_s - W_{t0}) ds and extra standard
normals (for Langevin correctors). The loop may reuse the noise buffers between steps, so a
step must not keep references to them.

Each solver class declares what the loop checks before it starts:

- ``strong_order`` and ``weak_order``: the orders the tests hold it to (for SDEs whose noise
  is not additive where that matters; see each docstring);
- ``sde_type``: ``"ito"`` or ``"stratonovich"``;
- ``noise_types``: the torchsde noise types it supports;
- ``nfe_per_step``: drift (or score) evaluations per step (``nfe_startup`` more on the
  first step of a multistep method that starts with a costlier single-step one);
- ``needs_levy_area``: it uses ``noise.U``; ``n_extra_normals``: how many extra N(0, I) draws;
  ``uses_noise``: whether a step reads ``noise`` at all (default: not for ODE-only methods,
  for which the loop then draws nothing);
- ``requires_additive``: only for SDEs that declare ``additive_noise = True`` (g independent
  of the state); ``ode_only``: only for g = 0;
- ``requires``: the ``typing.Protocol`` classes of ``revsde.solvers.protocols`` that the SDE
  must follow beyond f and g (a diffusion sampler's structure: ``SemiLinearSDE``,
  ``DiscreteReverseSDE``, ``LogSNRClock``); the loop names what is missing;
- ``error_exponent``: set by methods with an embedded error estimate
  (``step_with_error(sde, t0, t1, y0, noise, state) -> (y1, err, state)``), which
  ``sdeint(adaptive=True)`` controls; the controller's exponent, 1/(q + 1) for a local error
  of order q + 1; ``None`` otherwise. The loop holds the RMS of err / ``tolerance(...)`` (by
  default max(atol, rtol max(|y0|, |y1|))) at or below 1; a method may scale it otherwise;
- ``preferred_spacing``: the name of the time grid the method measured best on, for callers
  that build grids, or ``None``;
- ``nonlinear_reason``: ``None`` when a step is an affine map of the state and the noise
  whenever the drift is affine in the state and g depends on time only (every method built
  from linear combinations of evaluations); otherwise why not (a step size that depends on
  the state, as the Langevin corrector's). Callers that propagate Gaussian laws exactly
  through steps rely on it.

Optional parts of the SDE protocol that the loop uses where an SDE provides them:
``is_ode = True`` declares g = 0 (ODE-only methods refuse anything else);
``solve_scope(t0, t1)``, a context manager entered once per solve, in which the SDE checks
the time range once and may skip its per-call argument checks; ``forward_time(t)`` maps the
integration clock to the diffusion's time for messages; ``last_denoised()`` returns the data
prediction of the last model evaluation, for callbacks; ``prepare_times(ts)`` is called with
the start and end times of the next (up to 256) steps, as a 1-d tensor in the loop's time
dtype on the state's device, before those steps run, so that the SDE can compute their
coefficients in one vectorized pass; the loop then passes each step's times as 0-d views of
that tensor (an SDE may find its precomputed row by the view's position).

A step must not modify ``y0`` or the tensors in ``state`` in place: the loop keeps the state
before each step to diagnose a non-finite one, and autograd may hold them.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor

NOISE_TYPES = ("diagonal", "scalar", "additive", "general")


class NonFiniteError(FloatingPointError, ValueError):
    """The state of a solve became NaN or inf; the message names the step and the cause."""


class Noise(NamedTuple):
    """The randomness of one step from t0 to t1, and the step size h = t1 - t0 as a float
    (computed once by the loop in float64, so that steps need no device sync)."""

    h: float
    dW: Tensor
    """Brownian increment, N(0, h) per channel: the state's shape for diagonal noise,
    ``(batch, m)`` otherwise."""
    U: Tensor | None = None
    """Space-time integral int_{t0}^{t1} (W_s - W_{t0}) ds, the shape of dW."""
    z: Tensor | None = None
    """``(n_extra_normals, *state_shape)`` independent standard normals."""


def g_prod(sde: Any, t: Tensor, y: Tensor, v: Tensor) -> Tensor:
    """The diffusion applied to a noise vector: g(t, y) v (elementwise for diagonal noise,
    a matrix-vector product ``(batch, d, m) @ (batch, m)`` otherwise)."""
    g = sde.g(t, y)
    if sde.noise_type == "diagonal":
        return g * v
    return torch.einsum("bdm,bm->bd", g, v)


class Solver:
    """Base class of every integrator; see the module docstring for the contract."""

    name: ClassVar[str] = ""
    strong_order: ClassVar[float] = 0.0
    weak_order: ClassVar[float] = 0.0
    sde_type: ClassVar[str] = "ito"
    noise_types: ClassVar[frozenset[str]] = frozenset(NOISE_TYPES)
    nfe_per_step: ClassVar[int] = 1
    needs_levy_area: ClassVar[bool] = False
    requires_additive: ClassVar[bool] = False
    ode_only: ClassVar[bool] = False
    requires: ClassVar[tuple[type, ...]] = ()
    preferred_spacing: ClassVar[str | None] = None
    nonlinear_reason: ClassVar[str | None] = None
    error_exponent: ClassVar[float | None] = None
    #: constructor options that name another registered method (the predictor of ``pc``):
    #: ``resolve`` turns a name given there into that method's instance first
    method_options: ClassVar[tuple[str, ...]] = ()

    @property
    def n_extra_normals(self) -> int:
        return 0

    @property
    def uses_noise(self) -> bool:
        """Whether a step reads its ``noise``: SDE methods and any method with extra normals
        do; ODE methods do not, and the loop then draws none for them (a method that adds
        noise of its own, as EDM's churn, says so)."""
        return not self.ode_only or self.n_extra_normals > 0

    @property
    def nfe(self) -> int:
        """Drift or score evaluations per step of this configured instance."""
        return self.nfe_per_step

    @property
    def nfe_startup(self) -> int:
        """Evaluations the first step costs beyond ``nfe`` (a multistep method that starts
        with a single-step method of higher cost); a solve costs steps * nfe + nfe_startup."""
        return 0

    def init(self, sde: Any, t0: Tensor, y0: Tensor, n_steps: int) -> Any:
        """Set up the solver's state (history for multistep methods) for a solve of
        ``n_steps`` steps; ``None`` by default."""
        return None

    def step(
        self, sde: Any, t0: Tensor, t1: Tensor, y0: Tensor, noise: Noise, state: Any
    ) -> tuple[Tensor, Any]:
        raise NotImplementedError

    def tolerance(
        self, sde: Any, t0: Tensor, y0: Tensor, y1: Tensor, rtol: float, atol: float
    ) -> Tensor:
        """The per-element scale the error estimate of the step from ``y0`` to ``y1`` is
        measured against (the loop accepts when the RMS of err / scale is <= 1): by default
        max(atol, rtol max(|y0|, |y1|)), the mixed tolerance of Hairer, Nørsett & Wanner
        (1993, II.4)."""
        return torch.maximum(y0.abs(), y1.abs()).mul_(rtol).clamp_min_(atol)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
