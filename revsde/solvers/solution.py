"""What a solve returns and what a callback sees: `Solution`, `SolveStats`, `StepInfo`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from torch import Tensor


@dataclass
class SolveStats:
    """What a solve cost. ``nfe`` counts evaluations of the model: drift calls plus the
    direct model evaluations that a method's protocols name (``predict_x0``,
    ``predict_score``; a reverse SDE's drift evaluates the model once too)."""

    steps: int
    nfe: int
    drift_evals: int
    model_evals: int
    diffusion_evals: int
    rejected_steps: int = 0
    accepted_times: tuple[float, ...] | None = None  # the grid an adaptive solve chose


class Solution(NamedTuple):
    """What ``solve`` returns: the states (at ``ts``, or the final state with ``final_only``)
    and what the solve cost; ``ys, stats = solve(...)`` unpacks it."""

    ys: Tensor
    stats: SolveStats


@dataclass(frozen=True)
class StepInfo:
    """What a ``callback`` sees after each accepted step.

    Attributes:
        step: index of the step just taken, from 0.
        n_steps: the number of steps in the solve.
        t0, t1: the step's start and end in the integration clock (for a revsde reverse SDE,
            the reverse clock s; ``time`` gives the forward time).
        y: the state at ``t1``. Do not modify it in place.
        denoised: the data prediction x0_hat of the last model evaluation, where the SDE
            provides one (revsde's reverse SDEs do), else ``None``.
        time: the forward diffusion time at ``t1`` where the SDE maps its clock to one
            (``sde.forward_time``), else ``t1``.
    """

    step: int
    n_steps: int
    t0: float
    t1: float
    y: Tensor
    denoised: Tensor | None
    time: float
