"""The forward processes of Song et al. (ICLR 2021) and the cosine schedule, in closed form.

    process  f(t)   g(t)^2                        alpha(t)                       sigma(t)^2
    VE       0      2 sv(t)^2 log(smax/smin)      1                              sv^2 - sv(0)^2
    VP       -b/2   b(t)                          exp(-t^2 (bmax-bmin)/4 - t bmin/2)  1 - alpha^2
    sub-VP   -b/2   b(t) (1 - exp(-2 int_0^t b))  as VP                          (1 - alpha^2)^2
    cosine   -b/2   b(t) = pi tan(phi(t)) / (1+s) cos(phi(t)) / cos(phi(0))      1 - alpha^2

with b(t) = beta(t), sv(t) = sigma_v(t) = smin (smax/smin)^t and phi(t) = (t+s)/(1+s) pi/2.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .._checks import TimeLike, check_real
from .sde import DiffusionSDE


class VESDE(DiffusionSDE):
    """Variance-exploding SDE (SMLD/NCSN): dx = sqrt(d sigma_v^2/dt) dw.

    The noise schedule is ``noise_level(t)`` = sigma_v(t) = sigma_min (sigma_max/sigma_min)^t and
    g(t) = sigma_v(t) sqrt(2 log(sigma_max/sigma_min)) (Song et al. 2021, eq. 30; note g is the
    square root of d sigma_v^2/dt, not d sigma_v^2/dt itself).

    Two conventions for ``sigma(t)``, the std of x_t given x_0 (``convention=``):

    - ``"exact"`` (default): x_0 is clean data, so sigma(t) = sqrt(sigma_v(t)^2 - sigma_min^2),
      0 at t = 0: the exact transition of this SDE from a clean start.
    - ``"score_sde"``: sigma(t) = sigma_v(t), the perturbation std of Song et al.'s code, which
      takes the data at t = 0 to carry noise of std sigma_min already. A network trained by
      that code learned the score of these marginals: plug it in with this convention, so
      that the adapter's conversions and the final Tweedie step use the noise level the
      network was trained at (with "exact", a denoised sample keeps noise of std ~sigma_min).

    f and g are the same in both. ``noise_level`` is sigma_v(t) in both. The prior is
    N(0, sigma_max^2 I), as in the paper.
    """

    CONVENTIONS = ("exact", "score_sde")

    def __init__(
        self,
        sigma_min: float = 0.01,
        sigma_max: float = 50.0,
        *,
        convention: str = "exact",
        validate_args: bool = True,
    ) -> None:
        super().__init__(validate_args=validate_args)
        if convention not in self.CONVENTIONS:
            raise ValueError(
                f"convention must be one of {list(self.CONVENTIONS)}, got {convention!r}"
            )
        self.convention = convention
        self.sigma_min = check_real("sigma_min", sigma_min, low=0.0, strict=True)
        self.sigma_max = check_real("sigma_max", sigma_max, low=0.0, strict=True)
        if self.sigma_min >= self.sigma_max:
            raise ValueError(
                f"sigma_min must be < sigma_max, got sigma_min={sigma_min}, sigma_max={sigma_max}"
            )
        self._log_ratio = math.log(self.sigma_max / self.sigma_min)
        self.prior_std = self.sigma_max

    def extra_repr(self) -> str:
        return (
            f"sigma_min={self.sigma_min}, sigma_max={self.sigma_max}, "
            f"convention={self.convention!r}"
        )

    default_t_min = 1e-5  # Song et al. 2021 stop VE sampling at 1e-5

    def noise_level(self, t: TimeLike) -> Tensor:
        """The SMLD noise schedule sigma_v(t) = sigma_min (sigma_max/sigma_min)^t."""
        return self._noise_level(self._time(t))

    def _noise_level(self, t: Tensor) -> Tensor:
        return self.sigma_min * torch.exp(t * self._log_ratio)

    def time_of_noise_level(self, level: Tensor | float) -> Tensor:
        """t = log(level / sigma_min) / log(sigma_max / sigma_min), the inverse schedule."""
        level = torch.as_tensor(level)
        if not level.dtype.is_floating_point:
            level = level.to(torch.get_default_dtype())
        if bool(
            ((level < self.sigma_min) | (level > self.sigma_max) | ~torch.isfinite(level)).any()
        ):
            raise ValueError(
                f"level must lie in [sigma_min, sigma_max] = [{self.sigma_min}, {self.sigma_max}]"
            )
        return (torch.log(level / self.sigma_min) / self._log_ratio).clamp(0.0, self.T)

    def _alpha(self, t: Tensor) -> Tensor:
        return torch.ones_like(t)

    def _log_alpha(self, t: Tensor) -> Tensor:
        return torch.zeros_like(t)

    def _sigma(self, t: Tensor) -> Tensor:
        if self.convention == "score_sde":
            return self._noise_level(t)
        # sigma_min sqrt((smax/smin)^(2t) - 1), with expm1 for accuracy near t = 0.
        return self.sigma_min * torch.expm1(2.0 * self._log_ratio * t).sqrt()

    def _drift(self, t: Tensor) -> Tensor:
        return torch.zeros_like(t)

    def _diffusion(self, t: Tensor) -> Tensor:
        return self._noise_level(t) * math.sqrt(2.0 * self._log_ratio)


class _BetaSchedule(DiffusionSDE):
    """VP-type processes: f(t) = -beta(t)/2, so alpha(t) = exp(-int_0^t beta / 2)."""

    def beta(self, t: TimeLike) -> Tensor:
        """The noise rate beta(t) = -2 f(t)."""
        return self._beta(self._time(t))

    def _beta(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def _drift(self, t: Tensor) -> Tensor:
        return -0.5 * self._beta(t)

    def _alpha(self, t: Tensor) -> Tensor:
        return torch.exp(self._log_alpha(t))

    def _one_minus_alpha2(self, t: Tensor) -> Tensor:
        return -torch.expm1(2.0 * self._log_alpha(t))


class _LinearBeta(_BetaSchedule):
    """beta(t) = beta_min + t (beta_max - beta_min)."""

    def __init__(
        self, beta_min: float = 0.1, beta_max: float = 20.0, *, validate_args: bool = True
    ) -> None:
        super().__init__(validate_args=validate_args)
        self.beta_min = check_real("beta_min", beta_min, low=0.0)
        self.beta_max = check_real("beta_max", beta_max)
        if self.beta_max < self.beta_min:
            raise ValueError(
                f"beta_max must be >= beta_min, got beta_min={beta_min}, beta_max={beta_max}"
            )
        if self.beta_max == 0.0:
            raise ValueError("beta_max must be > 0 (beta_min = beta_max = 0 is no diffusion)")

    def extra_repr(self) -> str:
        return f"beta_min={self.beta_min}, beta_max={self.beta_max}"

    def _beta(self, t: Tensor) -> Tensor:
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def _log_alpha(self, t: Tensor) -> Tensor:
        # -1/2 int_0^t beta = -t^2 (beta_max - beta_min)/4 - t beta_min/2
        return -0.25 * t**2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min


class VPSDE(_LinearBeta):
    """Variance-preserving SDE (DDPM): dx = -beta(t)/2 x dt + sqrt(beta(t)) dw.

    alpha(t) = exp(-t^2 (beta_max - beta_min)/4 - t beta_min/2), sigma(t)^2 = 1 - alpha(t)^2
    (Song et al. 2021, eqs. 11 and 33). Prior N(0, I).
    """

    def _sigma(self, t: Tensor) -> Tensor:
        return self._one_minus_alpha2(t).sqrt()

    def _diffusion(self, t: Tensor) -> Tensor:
        return self._beta(t).sqrt()


class SubVPSDE(_LinearBeta):
    """Sub-VP SDE: dx = -beta(t)/2 x dt + sqrt(beta(t) (1 - exp(-2 int_0^t beta))) dw.

    alpha(t) as for VP, sigma(t)^2 = (1 - alpha(t)^2)^2, always below the VP variance
    (Song et al. 2021, eq. 12). Since exp(-2 int beta) = alpha^4, g^2 = beta (1 - alpha^4).
    Prior N(0, I).
    """

    def _sigma(self, t: Tensor) -> Tensor:
        return self._one_minus_alpha2(t)

    def _diffusion(self, t: Tensor) -> Tensor:
        return (self._beta(t) * -torch.expm1(4.0 * self._log_alpha(t))).sqrt()


class CosineVPSDE(_BetaSchedule):
    """Continuous-time VP process of the cosine schedule (Nichol & Dhariwal 2021, eq. 17).

    alpha(t)^2 = abar(t) = cos^2(phi(t)) / cos^2(phi(0)), phi(t) = (t + s)/(1 + s) pi/2,
    sigma(t)^2 = 1 - alpha(t)^2, beta(t) = -d log abar/dt = pi tan(phi(t)) / (1 + s), g^2 = beta.

    beta(t) grows without bound as t -> 1 (alpha(1) = 0 and the prior N(0, I) is exact there);
    the coefficients are finite but very large at t = 1, so reverse-time integration starts at
    ``default_t_max`` = 0.9946 by default, the choice of Lu et al. (DPM-Solver, 2022), where
    alpha is about 0.008.
    """

    default_t_max = 0.9946
    drift_diverges_at_T = True

    def __init__(self, s: float = 0.008, *, validate_args: bool = True) -> None:
        super().__init__(validate_args=validate_args)
        self.s = check_real("s", s, low=0.0)
        self._log_cos_phi0 = math.log(math.cos(self.s / (1 + self.s) * math.pi / 2))

    def extra_repr(self) -> str:
        return f"s={self.s}"

    def _phi(self, t: Tensor) -> Tensor:
        return (t + self.s) / (1 + self.s) * (math.pi / 2)

    def _cos_phi(self, t: Tensor) -> Tensor:
        # In float32, phi(1) rounds above pi/2 and cos turns negative: clamp at the tiniest
        # positive number so that alpha(1) is ~0 rather than NaN.
        return torch.cos(self._phi(t)).clamp_min(torch.finfo(t.dtype).tiny)

    def _beta(self, t: Tensor) -> Tensor:
        return math.pi / (1 + self.s) * torch.sin(self._phi(t)) / self._cos_phi(t)

    def _log_alpha(self, t: Tensor) -> Tensor:
        # alpha is decreasing from alpha(0) = 1; the clamp removes rounding above 1 at t = 0.
        return (torch.log(self._cos_phi(t)) - self._log_cos_phi0).clamp_max(0.0)

    def _sigma(self, t: Tensor) -> Tensor:
        return self._one_minus_alpha2(t).sqrt()

    def _diffusion(self, t: Tensor) -> Tensor:
        return self._beta(t).sqrt()
