"""Data laws whose every diffusion marginal is known in closed form.

If x_0 ~ sum_k w_k N(mu_k, C_k) and x_t = alpha(t) x_0 + sigma(t) eps, then

    x_t ~ sum_k w_k N(alpha mu_k, alpha^2 C_k + sigma^2 I)

(the docs' mathematics page), so the log-density and the score of every marginal are exact,
and a target's ``score(sde)`` is a drop-in replacement for a trained score network.

Each component covariance is diagonalized once, C_k = U_k diag(lambda_k) U_k^T. Then
alpha^2 C_k + sigma^2 I = U_k diag(alpha^2 lambda_k + sigma^2) U_k^T for every t, so a per-sample
time costs one orthogonal change of coordinates instead of one Cholesky factorization per
sample, and solves never form an inverse. Responsibilities use log-sum-exp.

Batch independence: in up to ``ELEMENTWISE_MAX_DIM`` dimensions every sum over coordinates
and components is a sequence of elementwise operations in a fixed order, so a sample's score
and log-density are bitwise the same whatever batch it is computed in (a matrix product is
not: BLAS chooses its kernel and blocking by shape, which changes the last bits with the
batch size). Above it the products are BLAS's, for speed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from .._checks import TimeLike, check_finite, check_int, coefficient_dtype, per_sample
from ..processes.sde import DiffusionSDE

ArrayLike = Tensor | Sequence

# Up to this dimension the products are elementwise sums (bitwise batch independent); the
# cost is one elementwise operation per coordinate, cheaper than BLAS's call at d = 2.
ELEMENTWISE_MAX_DIM = 8


def _matmul(a: Tensor, b: Tensor, elementwise: bool) -> Tensor:
    """``a @ b`` for ``(p, q) @ (q, n)``; with ``elementwise``, as sum_j a[:, j] b[j] in the
    order j = 0..q-1, so each column of the result depends on that column of ``b`` alone."""
    if not elementwise:
        return a @ b
    out = a[:, :1] * b[:1]
    for j in range(1, a.shape[1]):
        out = out + a[:, j : j + 1] * b[j : j + 1]
    return out


def _sum_blocks(a: Tensor, blocks: Tensor, elementwise: bool) -> Tensor:
    """``blocks @ a``: the sums of each component's d consecutive rows of ``(K d, n)``; with
    ``elementwise``, in order within each component."""
    if not elementwise:
        return blocks @ a
    k = blocks.shape[0]
    return _sum0(a.reshape(k, -1, a.shape[-1]).transpose(0, 1), True).squeeze(0)


def _sum0(a: Tensor, elementwise: bool) -> Tensor:
    """``a.sum(0, keepdim=True)``; with ``elementwise``, row by row in order."""
    if not elementwise:
        return a.sum(0, keepdim=True)
    out = a[:1]
    for j in range(1, a.shape[0]):
        out = out + a[j : j + 1]
    return out


def _float_tensor(name: str, value: ArrayLike) -> Tensor:
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, Tensor) for v in value):
        x = torch.stack(list(value))
    else:
        x = torch.as_tensor(value)
    if not x.dtype.is_floating_point:
        x = x.to(torch.get_default_dtype())
    return check_finite(name, x)


class GaussianMixture:
    """A mixture sum_k w_k N(mu_k, C_k) in R^d with full covariances.

    Args:
        weights: ``(K,)`` positive weights; normalized to sum to one.
        means: ``(K, d)`` component means.
        covs: ``(K, d, d)`` symmetric positive-definite component covariances.
    """

    def __init__(self, weights: ArrayLike, means: ArrayLike, covs: ArrayLike) -> None:
        weights = _float_tensor("weights", weights)
        means = _float_tensor("means", means)
        covs = _float_tensor("covs", covs)
        if weights.dim() != 1 or weights.numel() == 0:
            raise ValueError(f"weights must have shape (K,), got {tuple(weights.shape)}")
        k = weights.shape[0]
        if means.dim() != 2 or means.shape[0] != k:
            raise ValueError(f"means must have shape (K, d) = ({k}, d), got {tuple(means.shape)}")
        d = means.shape[1]
        if covs.shape != (k, d, d):
            raise ValueError(
                f"covs must have shape (K, d, d) = {(k, d, d)}, got {tuple(covs.shape)}"
            )
        if bool((weights <= 0).any()):
            raise ValueError("weights must be positive")
        if not torch.allclose(covs, covs.transpose(-1, -2), rtol=1e-6, atol=1e-8):
            raise ValueError("covs must be symmetric")
        dtype = torch.promote_types(torch.promote_types(weights.dtype, means.dtype), covs.dtype)
        self.weights = (weights / weights.sum()).to(dtype)
        self.means = means.to(dtype)
        self.covs = (0.5 * (covs + covs.transpose(-1, -2))).to(dtype)
        # eigh in float64 whatever the storage dtype: the eigenvectors feed every later solve.
        evals, evecs = torch.linalg.eigh(self.covs.double())
        if bool((evals <= 0).any()):
            raise ValueError("covs must be positive definite (an eigenvalue is <= 0)")
        self._evals, self._evecs = evals, evecs
        self._cast_cache: dict[tuple[torch.dtype, torch.device], tuple[Tensor, ...]] = {}

    # ----- summary -----
    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def n_components(self) -> int:
        return self.weights.shape[0]

    @property
    def mean(self) -> Tensor:
        """Overall mean sum_k w_k mu_k."""
        return self.weights @ self.means

    @property
    def covariance(self) -> Tensor:
        """Overall covariance sum_k w_k (C_k + mu_k mu_k^T) - mean mean^T."""
        second = torch.einsum("k,kij->ij", self.weights, self.covs)
        second = second + torch.einsum("k,ki,kj->ij", self.weights, self.means, self.means)
        m = self.mean
        return second - torch.outer(m, m)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim}, n_components={self.n_components})"

    # ----- sampling and density -----
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` samples, shape ``(n, d)``."""
        n = check_int("n", n, low=0)
        idx = torch.multinomial(self.weights.double(), n, replacement=True, generator=generator)
        z = torch.randn((n, self.dim), generator=generator, dtype=torch.float64)
        scale = self._evecs * self._evals.sqrt().unsqueeze(-2)  # U diag(sqrt(lambda))
        x = self.means.double()[idx] + torch.einsum("nij,nj->ni", scale[idx], z)
        return x.to(self.means.dtype)

    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x) for ``x`` of shape ``(n, d)``; returns ``(n,)``."""
        x = self._check_x(x)
        one = torch.ones((), dtype=x.dtype, device=x.device)
        log_joint, _ = self._components(x, one, torch.zeros_like(one))
        top = log_joint.amax(0, keepdim=True)
        top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
        small = self.dim <= ELEMENTWISE_MAX_DIM
        return (top + _sum0(torch.exp(log_joint - top), small).log()).squeeze(0)

    def marginal(self, sde: DiffusionSDE, t: TimeLike) -> GaussianMixture:
        """The exact law of x_t = alpha(t) x_0 + sigma(t) eps at one time ``t``."""
        alpha, sigma = self._coefficients(sde, t, self.means)
        if alpha.dim() != 0:
            raise ValueError("t must be a single time for marginal(), got a per-sample tensor")
        eye = torch.eye(self.dim, dtype=self.covs.dtype)
        covs = alpha**2 * self.covs + sigma**2 * eye
        return type(self)._from_parts(self.weights, alpha * self.means, covs)

    def score_at(self, x: Tensor, alpha: Tensor | float, sigma: Tensor | float) -> Tensor:
        """The exact score of the law of alpha x_0 + sigma eps at ``x`` of shape ``(n, d)``,
        for coefficients given directly (0-d or per-sample ``(n,)``): what a discrete
        scheduler's table or another library's noise levels need, without a process."""
        alpha = torch.as_tensor(alpha, dtype=x.dtype, device=x.device)
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
        log_joint, w = self._components(x, alpha, sigma**2)
        small = self.dim <= ELEMENTWISE_MAX_DIM
        resp = _softmax_rows(log_joint, small)  # (K, n)
        # sum_k resp_k score_k, score_k = -U_k w_k: spread resp over each component's d rows
        *_, stacked = self._params_like(x)
        spread = resp.repeat_interleave(self.dim, dim=0)
        return -_matmul(stacked, spread * w, small).T

    def responsibilities(self, x: Tensor) -> Tensor:
        """p(component k | x) under this law, shape ``(n, K)``."""
        x = self._check_x(x)
        one = torch.ones((), dtype=x.dtype, device=x.device)
        log_joint, _ = self._components(x, one, torch.zeros_like(one))
        return _softmax_rows(log_joint, self.dim <= ELEMENTWISE_MAX_DIM).T

    def score(self, sde: DiffusionSDE) -> TargetScore:
        """The exact score grad_x log p_t(x) of every marginal, as a callable ``score(x, t)``."""
        return TargetScore(self, sde)

    # ----- internals -----
    @classmethod
    def _from_parts(cls, weights: Tensor, means: Tensor, covs: Tensor) -> GaussianMixture:
        return GaussianMixture(weights, means, covs)

    def _check_x(self, x: Tensor) -> Tensor:
        check_finite("x", x)
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape (n, {self.dim}), got {tuple(x.shape)}")
        return x

    @staticmethod
    def _coefficients(sde: DiffusionSDE, t: TimeLike, like: Tensor) -> tuple[Tensor, Tensor]:
        if not isinstance(sde, DiffusionSDE):
            raise TypeError(f"sde must be a revsde.DiffusionSDE, got {type(sde).__name__}")
        t = sde._time(t, like=like)
        return sde._alpha(t), sde._sigma(t)

    def _params_like(self, x: Tensor) -> tuple[Tensor, ...]:
        """The parameters in ``x``'s dtype and device, laid out for ``_components``: the
        eigenvectors stacked by component, ``(K d, d)`` with rows U_k^T; the projected means
        U_k^T mu_k and the eigenvalues as ``(K d, 1)`` columns; the ``(K, K d)`` indicator of
        each component's rows; and the eigenvectors side by side, ``(d, K d)``."""
        key = (x.dtype, x.device)
        if key not in self._cast_cache:
            k, d = self.means.shape
            evecs = self._evecs
            rows = evecs.transpose(-1, -2).reshape(k * d, d)
            means = torch.einsum("ki,kij->kj", self.means.double(), evecs).reshape(k * d, 1)
            blocks = torch.repeat_interleave(torch.eye(k, dtype=torch.float64), d, dim=1)
            stacked = evecs.permute(1, 0, 2).reshape(d, k * d)
            log_w = self.weights.double().log().unsqueeze(1) - 0.5 * d * math.log(2 * math.pi)
            self._cast_cache[key] = tuple(
                p.to(dtype=x.dtype, device=x.device)
                for p in (log_w, rows, means, self._evals.reshape(k * d, 1), blocks, stacked)
            )
        return self._cast_cache[key]

    def _components(self, x: Tensor, alpha: Tensor, var: Tensor) -> tuple[Tensor, Tensor]:
        """Per-component log w_k N(x; alpha mu_k, alpha^2 C_k + var I), and
        (alpha^2 C_k + var I)^{-1} (x - alpha mu_k) in component k's eigen-coordinates.

        ``x`` is ``(n, d)``; ``alpha`` and ``var`` are 0-d or ``(n,)``. Returns ``(K, n)`` and
        ``(K d, n)``: laid out with the samples last, the products with the small ``(K d, d)``
        matrices run 2-3x faster on the CPU than with the samples first (2-D mixture, 4000
        samples), and the sums over each component's d coordinates are products with an
        indicator matrix instead of reductions over a short dimension."""
        log_w, rows, means, evals, blocks, _ = self._params_like(x)
        small = self.dim <= ELEMENTWISE_MAX_DIM
        a = alpha if alpha.dim() == 0 else per_sample(alpha, x).reshape(1, -1)  # 0-d or (1, n)
        v = var if var.dim() == 0 else per_sample(var, x).reshape(1, -1)
        z = _matmul(rows, x.T, small) - a * means  # U_k^T (x - alpha mu_k), (K d, n)
        d = a * a * evals + v  # variances along the eigenvectors
        w = z / d
        log_det = _sum_blocks(d.log(), blocks, small)
        log_joint = log_w - 0.5 * (_sum_blocks(z * w, blocks, small) + log_det)
        return log_joint, w


def _softmax_rows(log_joint: Tensor, elementwise: bool) -> Tensor:
    """Softmax over the first (component) dimension of ``(K, n)``."""
    e = torch.exp(log_joint - log_joint.amax(0, keepdim=True))
    return e / _sum0(e, elementwise)


class Gaussian(GaussianMixture):
    """A single Gaussian N(mean, cov) in R^d; its marginals are Gaussians too."""

    def __init__(self, mean: ArrayLike, cov: ArrayLike) -> None:
        mean = _float_tensor("mean", mean)
        cov = _float_tensor("cov", cov)
        if mean.dim() != 1:
            raise ValueError(f"mean must have shape (d,), got {tuple(mean.shape)}")
        d = mean.shape[0]
        if cov.shape != (d, d):
            raise ValueError(f"cov must have shape (d, d) = {(d, d)}, got {tuple(cov.shape)}")
        super().__init__(torch.ones(1, dtype=mean.dtype), mean.unsqueeze(0), cov.unsqueeze(0))

    @property
    def cov(self) -> Tensor:
        return self.covs[0]

    @classmethod
    def _from_parts(cls, weights: Tensor, means: Tensor, covs: Tensor) -> Gaussian:
        return Gaussian(means[0], covs[0])


class TargetScore:
    """The exact score grad_x log p_t(x) of a `GaussianMixture` diffused by ``sde``.

    ``score(x, t)`` takes ``x`` of shape ``(n, d)`` or ``(n, *event_shape)`` with d elements per
    sample, and ``t`` a float, a 0-d tensor or a per-sample ``(n,)`` tensor; it returns the
    shape of ``x``. The score is the responsibility-weighted sum of the component scores
    -(alpha^2 C_k + sigma^2 I)^{-1} (x - alpha mu_k).
    """

    def __init__(self, target: GaussianMixture, sde: DiffusionSDE) -> None:
        self.target = target
        self.sde = sde

    def __repr__(self) -> str:
        return f"TargetScore({self.target!r}, {self.sde!r})"

    def __call__(self, x: Tensor, t: TimeLike) -> Tensor:
        flat = x.reshape(x.shape[0], -1) if x.dim() >= 1 else x
        check_finite("x", flat, self.sde.validate_args)
        if flat.dim() != 2 or flat.shape[1] != self.target.dim:
            raise ValueError(
                f"x must hold {self.target.dim} elements per sample, got shape {tuple(x.shape)}"
            )
        flat = flat.to(coefficient_dtype(flat.dtype))  # half states: computed in float32
        alpha, sigma = self.target._coefficients(self.sde, t, flat)
        return self.target.score_at(flat, alpha, sigma).reshape(x.shape).to(x.dtype)
