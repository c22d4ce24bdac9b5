"""Exact output laws of samplers on Gaussian targets: errors with no Monte Carlo noise.

For Gaussian data N(mu, C) the score of every marginal is affine,
grad log p_t(x) = -(x - alpha mu) / (alpha^2 C + sigma^2 I), so one step of every method whose
step is a linear combination of evaluations (``Solver.nonlinear_reason is None``) is an affine
map of the state and of that step's Gaussian noise, and the sampler's output is exactly
Gaussian (Pierret & Galerne, "Diffusion models for Gaussian distributions: exact solutions and
Wasserstein errors", ICML 2025).

How the law is obtained: through revsde's own solver code, by linear response. In the
eigenbasis of C (x = U y) the score is diagonal and every solver acts coordinatewise, so each
coordinate is an independent 1-D affine system, and one batched solve gives all of them:

    row 0:            start at the start law's mean, no noise        -> output mean m
    row 1:            start at mean + 1, no noise                   -> M = row 1 - row 0
    row 2 + k:        dW_k = 1 on step k (k = 0..K-1)               -> N_k = row - row 0
    row 2 + K + k:    space-time Levy area H_k = 1 (methods using it) -> L_k

and the output variance is M^2 P_T + sum_k N_k^2 h_k + sum_k L_k^2 h_k / 12 (Var dW = h,
Var H = h/12, independent). The noise is handed to the loop as a Brownian object that returns
these unit increments, so no method is re-derived here.

The continuous reference comes in closed form: along an eigen-direction with variance c, with
v(t) = alpha^2 c + sigma^2, the reverse process of any lam (``ReverseSDE``) started from
N(m_T, P_T) has, at time t,

    mean - alpha mu = R (m_T - alpha_T mu),   var = v + R^2 (P_T - v_T),
    R = (alpha^{-lam^2} v^{(1 + lam^2)/2})(t) / (alpha^{-lam^2} v^{(1 + lam^2)/2})(T),

(R solves the linear mean equation; v solves the variance equation, so P - v decays like R^2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .._checks import check_int, per_sample
from ..processes.sde import DiffusionSDE
from ..sampling.sample import default_spacing
from ..solvers import Solver, resolve, solve
from .targets import Gaussian

D64 = torch.float64


@dataclass(frozen=True)
class DiagonalGaussian:
    """N(U mean, U diag(var) U^T): a Gaussian diagonal in the orthonormal basis ``basis`` = U
    (``None``: the standard basis); ``mean`` and ``var`` are its coordinates in that basis."""

    mean: Tensor
    var: Tensor
    basis: Tensor | None = None

    def w2(self, other: DiagonalGaussian) -> float:
        """The 2-Wasserstein distance to ``other``, diagonal in the same basis:
        W2^2 = |m - m'|^2 + sum (sqrt(v) - sqrt(v'))^2 (Dowson & Landau 1982; the Bures term
        of commuting covariances)."""
        d_mean = (self.mean - other.mean).square().sum()
        d_std = (self.var.clamp_min(0).sqrt() - other.var.clamp_min(0).sqrt()).square().sum()
        return float((d_mean + d_std).sqrt())

    def kl(self, other: DiagonalGaussian) -> float:
        """KL(self || other) = 1/2 sum [v/v' + (m - m')^2/v' - 1 - log(v/v')]."""
        r = self.var / other.var
        return float(0.5 * (r + (self.mean - other.mean).square() / other.var - 1 - r.log()).sum())

    @property
    def mean_vector(self) -> Tensor:
        """The mean in the original coordinates."""
        return self.mean if self.basis is None else self.basis @ self.mean

    @property
    def covariance(self) -> Tensor:
        """The covariance matrix in the original coordinates (d x d)."""
        if self.basis is None:
            return torch.diag(self.var)
        return self.basis @ torch.diag(self.var) @ self.basis.T


@dataclass(frozen=True)
class ExactSolve:
    """What ``exact_solve`` returns. Laws are in the target's eigenbasis.

    ``output``: the sampler's law at t_min; ``denoised``: after Tweedie's last step;
    ``continuous``: the exact reverse process from the same start at t_min; ``marginal``:
    the true law of x_{t_min}; ``data``: the target itself."""

    method: str
    steps: int
    nfe: int
    output: DiagonalGaussian
    denoised: DiagonalGaussian
    continuous: DiagonalGaussian
    marginal: DiagonalGaussian
    data: DiagonalGaussian
    tweedie_marginal: DiagonalGaussian

    @property
    def w2(self) -> float:
        """W2 of the output to the true law at t_min (what ``revsde compare`` measures)."""
        return self.output.w2(self.marginal)

    @property
    def w2_data(self) -> float:
        """W2 of the denoised output to the data law: the error a user of the sample sees."""
        return self.denoised.w2(self.data)

    @property
    def kl(self) -> float:
        """KL(output || true law at t_min)."""
        return self.output.kl(self.marginal)

    def split(self) -> dict[str, float]:
        """The error split of Pierret & Galerne: ``initialization`` (the exact reverse process
        from the start law instead of p_T, at t_min), ``discretization`` (the sampler against
        that exact process), ``truncation`` (stopping at t_min > 0: Tweedie's estimate of the
        true x_{t_min} against the data) and ``total`` (the denoised output against the
        data); total <= the sum of the three by the triangle inequality."""
        return {
            "initialization": self.continuous.w2(self.marginal),
            "discretization": self.output.w2(self.continuous),
            "truncation": self.tweedie_marginal.w2(self.data),
            "total": self.w2_data,
        }


class NotExact(ValueError):
    """The method's step is not affine in the state and the noise (see its reason)."""


def eigenbasis(target: Gaussian) -> tuple[Tensor, Tensor, Tensor | None]:
    """(mean, variances) of ``target`` in its eigenbasis U, and U (``None`` for a diagonal
    covariance, kept in the standard basis)."""
    cov = target.cov.to(D64)
    mean = target.mean.to(D64)
    if bool((cov - torch.diag(torch.diagonal(cov))).abs().max() == 0):
        return mean, torch.diagonal(cov).clone(), None
    c, u = torch.linalg.eigh(cov)
    return u.T @ mean, c, u


class _DiagonalScore:
    """The exact score of N(alpha mu, diag(alpha^2 c + sigma^2)) at time t."""

    def __init__(self, sde: DiffusionSDE, mu: Tensor, c: Tensor) -> None:
        self.sde, self.mu, self.c = sde, mu, c

    def __call__(self, x: Tensor, t: Tensor) -> Tensor:
        a = per_sample(self.sde._alpha(t), x)
        s2 = per_sample(self.sde._sigma(t), x) ** 2
        return -(x - a * self.mu) / (a**2 * self.c + s2)


class _UnitIncrements:
    """A Brownian object (torchsde's call protocol) whose increments are the unit responses
    of the module docstring: on step k (of K), dW = 1 on row 2 + k and H = 1 on row 2 + K + k."""

    levy_area_approximation = "space-time"

    def __init__(self, ts: Tensor, rows: int, d: int, levy: bool) -> None:
        self.shape = (rows, d)
        self.dtype, self.device = ts.dtype, ts.device
        self._step = {float(t): k for k, t in enumerate(ts[:-1].tolist())}
        self._k = len(ts) - 1
        self._levy = levy

    def __call__(self, ta: Tensor, tb: Tensor, return_U: bool = False):
        k = self._step[float(ta)]
        h = float(tb) - float(ta)
        dW = torch.zeros(self.shape, dtype=self.dtype, device=self.device)
        dW[2 + k] = 1.0
        if not return_U:
            return dW
        H = torch.zeros_like(dW)
        if self._levy:
            H[2 + self._k + k] = 1.0
        return dW, h * (0.5 * dW + H)


def _continuous(sde, lam, mu, c, t0, t1, m0, p0) -> DiagonalGaussian:
    """The exact reverse process of noise scale lam from N(m0, diag p0) at t0 down to t1."""
    t = torch.tensor([t0, t1], dtype=D64)
    alpha, sigma = sde._alpha(t), sde._sigma(t)
    v0, v1 = alpha[0] ** 2 * c + sigma[0] ** 2, alpha[1] ** 2 * c + sigma[1] ** 2
    k = 0.5 * (1 + lam**2)
    log_r = -(lam**2) * (alpha[1].log() - alpha[0].log()) + k * (v1.log() - v0.log())
    r = log_r.exp()
    return DiagonalGaussian(alpha[1] * mu + r * (m0 - alpha[0] * mu), v1 + r**2 * (p0 - v0))


def exact_solve(
    sde: DiffusionSDE,
    target: Gaussian,
    method: str | type[Solver] | Solver,
    steps: int,
    *,
    spacing: str | Tensor | None = None,
    t_min: float | None = None,
    start: str | tuple[Tensor, Tensor] = "prior",
    probability_flow: bool | None = None,
    **options: Any,
) -> ExactSolve:
    """The exact law of ``steps`` steps of ``method`` on the reverse SDE of ``sde`` (on the
    probability-flow ODE for ODE-only methods, as ``revsde.sample`` runs it) for Gaussian data
    ``target``, with no sampling: see the module docstring.

    Args:
        spacing: the grid (default: ``revsde.sample``'s for this method and process).
        t_min: where the solve stops (default: the process's).
        start: ``"prior"``: x_T from the prior N(0, prior_std^2 I), as a sampler starts;
            ``"exact"``: from the true law of x_{t_max}, isolating the solver's own error (as
            ``revsde compare`` does); or ``(mean, var)``, a start law diagonal in the target's
            eigenbasis (coordinates as ``eigenbasis(target)`` gives them).
        probability_flow: ``True`` runs an SDE method on the probability-flow ODE; default:
            the ODE for ODE-only methods, the reverse SDE otherwise.
        **options: solver options.

    Raises ``NotExact`` (a ``ValueError``) for a method whose step is not affine, with the
    reason.
    """
    check_int("steps", steps, low=1)
    if not isinstance(start, tuple) and start not in ("prior", "exact"):
        raise ValueError(f"start must be 'prior', 'exact' or a (mean, var) pair, got {start!r}")
    if not isinstance(target, Gaussian):
        raise TypeError(
            f"target must be a revsde.evaluation.targets.Gaussian, got {type(target).__name__}"
        )
    solver = resolve(method, **options)
    name = method if isinstance(method, str) else type(solver).__name__
    if solver.nonlinear_reason is not None:
        raise NotExact(f"{name} has no exact Gaussian law: {solver.nonlinear_reason}")
    mu, c, basis = eigenbasis(target)
    d = mu.numel()
    score = _DiagonalScore(sde, mu, c)
    ode = solver.ode_only if probability_flow is None else bool(probability_flow)
    if solver.ode_only and not ode:
        raise ValueError(f"{name} integrates the probability-flow ODE only")
    rsde = sde.reverse(score, probability_flow=ode, t_min=t_min)
    grid = default_spacing(solver, sde) if spacing is None else spacing
    ts = rsde.times(steps, spacing=grid, dtype=D64)
    t_ends = torch.tensor([rsde.t_max, rsde.t_min], dtype=D64)
    alpha, sigma = sde._alpha(t_ends), sde._sigma(t_ends)
    if isinstance(start, tuple):
        m_T, p_T = (torch.as_tensor(v, dtype=D64).expand(d).clone() for v in start)
    elif start == "prior":
        m_T, p_T = torch.zeros_like(mu), torch.full_like(c, sde.prior_std**2)
    else:
        m_T, p_T = alpha[0] * mu, alpha[0] ** 2 * c + sigma[0] ** 2

    k = len(ts) - 1
    # ODE-only methods may draw noise too (EDM's churn): every method gets the noise rows
    rows = 2 + k + (k if solver.needs_levy_area else 0)
    y0 = m_T.expand(rows, d).clone()
    y0[1] += 1.0
    bm = _UnitIncrements(ts, rows, d, solver.needs_levy_area)
    with torch.no_grad():
        out, stats = solve(rsde, y0, ts, bm=bm, method=solver, final_only=True)
        denoised = rsde.predict_x0(rsde.s_max, out)

    h = torch.diff(ts)

    def law(o: Tensor) -> DiagonalGaussian:
        base = o[0]
        resp = o - base
        var = resp[1] ** 2 * p_T + (resp[2 : 2 + k] ** 2 * h[:, None]).sum(0)
        if solver.needs_levy_area:
            var = var + (resp[2 + k :] ** 2 * h[:, None] / 12.0).sum(0)
        return DiagonalGaussian(base, var, basis)

    v_min = alpha[1] ** 2 * c + sigma[1] ** 2
    cont = _continuous(sde, rsde.lam, mu, c, rsde.t_max, rsde.t_min, m_T, p_T)
    return ExactSolve(
        method=name,
        steps=k,
        nfe=stats.nfe + 1,
        output=law(out),
        denoised=law(denoised),
        continuous=DiagonalGaussian(cont.mean, cont.var, basis),
        marginal=DiagonalGaussian(alpha[1] * mu, v_min, basis),
        data=DiagonalGaussian(mu, c, basis),
        # Tweedie of the true x_{t_min}: x0_hat - mu = (alpha c / v)(x - alpha mu)
        tweedie_marginal=DiagonalGaussian(mu, alpha[1] ** 2 * c**2 / v_min, basis),
    )


def exact_support(method: str | type[Solver] | Solver, **options: Any) -> str | None:
    """``None`` if ``exact_solve`` supports ``method``, else the reason it does not."""
    return resolve(method, **options).nonlinear_reason
