"""Predictor–corrector sampling as composition (Song et al. 2021, Alg. 1-5).

``PredictorCorrector(predictor, corrector, n_corrector_steps)`` runs any registered predictor
from t0 to t1, then ``n_corrector_steps`` of the corrector at t1. "No corrector" and "no
predictor" are null objects, so corrector-only and predictor-only runs are configurations.
A predictor given by name (``method="pc", predictor="euler"``) is resolved by the registry
(``Solver.method_options``), which imports this module, not the other way round.
"""

from __future__ import annotations

import math

import torch

from ..base import Noise, Solver
from ..protocols import DiscreteReverseSDE
from .discrete import ReverseDiffusion


class NullPredictor(Solver):
    """Leaves the state where it is (a corrector-only sampler)."""

    name = "none"
    strong_order = 0.0
    weak_order = 0.0
    nfe_per_step = 0

    def step(self, sde, t0, t1, y0, noise, state):
        return y0, state


class LangevinCorrector:
    """Langevin MCMC at fixed time t with the signal-to-noise step size (Song et al. 2021,
    Alg. 4 and 5): for each corrector step, with z ~ N(0, I) and the score s = s(x, t),

        eps = 2 a^2 (snr ||z|| / ||s||)^2,   x <- x + eps s + sqrt(2 eps) z,

    where a^2 is the step's forward signal factor (1 for VE, 1 - beta_i for VP, as in the
    paper). With ``norms="batch"`` (the default, as in the paper's code) ||z|| and ||s|| are
    batch means of the per-sample norms, so one step size serves the batch; with
    ``norms="sample"`` each sample gets its own step size and does not depend on its batch,
    but in low dimension a sample near a mode (||s|| ~ 0) then gets a huge step.
    """

    name = "langevin"
    requires = (DiscreteReverseSDE,)

    def __init__(self, snr: float = 0.16, norms: str = "batch") -> None:
        if not (isinstance(snr, (int, float)) and math.isfinite(snr) and snr > 0):
            raise ValueError(f"snr must be a positive number, got {snr!r}")
        if norms not in ("batch", "sample"):
            raise ValueError(f"norms must be 'batch' or 'sample', got {norms!r}")
        self.snr = float(snr)
        self.norms = norms

    def correct(self, sde, t0, t1, y, z):
        a = sde.transition(t0, t1, y)[0]
        batch = y.shape[0]
        view = (batch,) + (1,) * (y.dim() - 1)
        for zk in z:
            score = sde.predict_score(t1, y)
            score_norm = score.reshape(batch, -1).norm(dim=1)
            noise_norm = zk.reshape(batch, -1).norm(dim=1)
            if self.norms == "batch":
                score_norm, noise_norm = score_norm.mean(), noise_norm.mean()
            ratio = noise_norm / score_norm.clamp_min(torch.finfo(score.dtype).tiny)
            eps = (2.0 * a**2 * (self.snr * ratio) ** 2).reshape(view if ratio.dim() else ())
            y = y + eps * score + torch.sqrt(2.0 * eps) * zk
        return y


class NullCorrector:
    """No correction (a predictor-only sampler)."""

    name = "none"
    requires = ()

    def correct(self, sde, t0, t1, y, z):
        return y


CORRECTORS = {"langevin": LangevinCorrector, "none": NullCorrector}


class PredictorCorrector(Solver):
    """A predictor step t0 -> t1 followed by ``n_corrector_steps`` corrector steps at t1.

    Args:
        predictor: a solver instance or class, or ``None`` for no predictor (a
            corrector-only sampler); through ``sdeint``/``resolve``, also a registered
            method name.
        corrector: ``"langevin"``, ``"none"``, or a corrector instance.
        n_corrector_steps: corrector steps per predictor step (0 = predictor only).
        snr: the Langevin corrector's signal-to-noise ratio (Song et al. use 0.16 on VE
            CIFAR-10; 0.01-0.17 elsewhere).
        norms: "batch" or "sample" norms in the corrector's step size (see LangevinCorrector).

    Orders and noise types are the predictor's; evaluations per step are the predictor's plus
    one score evaluation per corrector step.
    """

    name = "pc"
    method_options = ("predictor",)

    def __init__(
        self,
        predictor: type[Solver] | Solver | None = ReverseDiffusion,
        corrector: str | object = "langevin",
        n_corrector_steps: int = 1,
        snr: float = 0.16,
        norms: str = "batch",
    ) -> None:
        if isinstance(predictor, type) and issubclass(predictor, Solver):
            predictor = predictor()
        if predictor is None:
            predictor = NullPredictor()
        if not isinstance(predictor, Solver):
            raise TypeError(
                "predictor must be a Solver instance or class, or None for no predictor (a "
                f"method name is resolved by sdeint and resolve), got {predictor!r}"
            )
        self.predictor = predictor
        if isinstance(self.predictor, PredictorCorrector):
            raise ValueError("predictor must be a single-step method, not another 'pc'")
        if (
            isinstance(n_corrector_steps, bool)
            or not isinstance(n_corrector_steps, int)
            or n_corrector_steps < 0
        ):
            raise ValueError(
                f"n_corrector_steps must be a non-negative integer, got {n_corrector_steps!r}"
            )
        if isinstance(corrector, str):
            if corrector not in CORRECTORS:
                raise ValueError(
                    f"corrector must be one of {sorted(CORRECTORS)}, got {corrector!r}"
                )
            corrector = (
                LangevinCorrector(snr, norms) if corrector == "langevin" else NullCorrector()
            )
        if n_corrector_steps == 0:
            corrector = NullCorrector()
        self.corrector = corrector
        self.n_corrector_steps = 0 if isinstance(corrector, NullCorrector) else n_corrector_steps
        p = self.predictor
        self.strong_order, self.weak_order = p.strong_order, p.weak_order
        self.sde_type, self.noise_types = p.sde_type, p.noise_types
        if self.n_corrector_steps:
            self.noise_types = self.noise_types & {"diagonal"}
        self.needs_levy_area, self.requires_additive, self.ode_only = (
            p.needs_levy_area,
            p.requires_additive,
            p.ode_only,
        )
        self.requires = tuple(dict.fromkeys(p.requires + tuple(self.corrector.requires)))

    @property
    def n_extra_normals(self) -> int:
        return self.predictor.n_extra_normals + self.n_corrector_steps

    @property
    def nonlinear_reason(self) -> str | None:
        if not self.n_corrector_steps:
            return self.predictor.nonlinear_reason
        return (
            "the Langevin corrector's step size 2 (snr |z| / |score|)^2 depends on the state "
            "and the noise, so a step is not an affine map of them"
        )

    @property
    def nfe(self) -> int:
        return self.predictor.nfe + self.n_corrector_steps

    def __repr__(self) -> str:
        return (
            f"PredictorCorrector(predictor={self.predictor!r}, "
            f"corrector={type(self.corrector).__name__}, "
            f"n_corrector_steps={self.n_corrector_steps})"
        )

    def init(self, sde, t0, y0, n_steps):
        return self.predictor.init(sde, t0, y0, n_steps)

    def step(self, sde, t0, t1, y0, noise: Noise, state):
        k = self.predictor.n_extra_normals
        z = noise.z
        inner = Noise(noise.h, noise.dW, noise.U, z[:k] if k else None)
        y1, state = self.predictor.step(sde, t0, t1, y0, inner, state)
        if self.n_corrector_steps:
            y1 = self.corrector.correct(sde, t0, t1, y1, z[k:])
        return y1, state
