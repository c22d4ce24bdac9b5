"""The forward diffusion process, defined by its transition coefficients (alpha, sigma).

A linear forward SDE with scalar coefficients, dx = f(t) x dt + g(t) dw, has the transition
x_t | x_0 ~ N(alpha(t) x_0, sigma(t)^2 I) with

    alpha(t) = exp(int_0^t f),   sigma(t)^2 = alpha(t)^2 int_0^t g(s)^2 / alpha(s)^2 ds,

and conversely f = d log(alpha)/dt and g^2 = d(sigma^2)/dt - 2 f sigma^2
(Song et al., ICLR 2021, eqs. 5 and 29; Kingma et al., "Variational Diffusion Models", 2021).
`DiffusionSDE` holds that relation once: a subclass gives alpha and sigma, and f, g
follow by automatic differentiation unless the subclass overrides them with closed forms.
"""

from __future__ import annotations

import abc
import contextlib
import inspect
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor

from .._checks import TimeLike, as_time, check_finite, check_time_range, per_sample, trusted_calls
from .reverse import ReverseSDE


class DiffusionSDE(torch.nn.Module, abc.ABC):
    """A forward diffusion dx = f(t) x dt + g(t) dw on [0, T], torchsde compatible.

    Subclasses implement ``_alpha`` and ``_sigma`` (tensor in, tensor out, no validation);
    they may override ``_log_alpha``, ``_drift`` and ``_diffusion`` with closed forms.

    Attributes:
        noise_type: ``"diagonal"`` (torchsde protocol).
        sde_type: ``"ito"`` (torchsde protocol).
        T: the final time, 1.
        additive_noise: ``True``: g depends on t only, never on the state, so solvers may
            treat the noise as additive (for example skip Milstein's derivative term).
        validate_args: check times and states on every public call. Inside ``sdeint`` (and
            under torch.compile) the per-call checks are skipped: the solve checks its time
            range once (``solve_scope``) and the state after every step.
        is_ode: ``False``: a forward process always has noise (g may vanish at one time,
            as sub-VP's does at t = 0, but not everywhere).

    Precision: times and coefficients are float64 for float64 states and float32 otherwise;
    ``f`` and ``g`` return the state's dtype.
    """

    noise_type: str = "diagonal"
    sde_type: str = "ito"
    T: float = 1.0
    additive_noise: bool = True
    is_ode: bool = False
    #: the drift f(t) is infinite at t = T (cosine); reverse integration must start below T
    drift_diverges_at_T: bool = False
    prior_std: float = 1.0
    #: where reverse-time integration stops by default (Song et al. 2021 use 1e-3 for VP types)
    default_t_min: float = 1e-3
    #: where reverse-time integration starts by default
    default_t_max: float = 1.0
    #: the grid ``revsde.sample`` uses unless told (``None``: the method's preference)
    default_spacing: str | None = None

    def __init__(self, *, validate_args: bool = True) -> None:
        super().__init__()
        self.validate_args = validate_args

    # ----- what a subclass defines (tensors in, tensors out, no checks) -----
    @abc.abstractmethod
    def _alpha(self, t: Tensor) -> Tensor: ...

    @abc.abstractmethod
    def _sigma(self, t: Tensor) -> Tensor: ...

    def _log_alpha(self, t: Tensor) -> Tensor:
        return torch.log(self._alpha(t))

    def _drift(self, t: Tensor) -> Tensor:
        """f(t) = d log(alpha)/dt, by automatic differentiation."""
        return _time_derivative(self._log_alpha, t)

    def _diffusion(self, t: Tensor) -> Tensor:
        """g(t) = sqrt(d sigma^2/dt - 2 f(t) sigma^2), by automatic differentiation."""
        var = self._sigma(t) ** 2
        dvar = _time_derivative(lambda s: self._sigma(s) ** 2, t)
        g2 = dvar - 2.0 * self._drift(t) * var
        return g2.clamp_min(0.0).sqrt()

    # ----- public coefficients: plain tensor-in/tensor-out functions -----
    def _time(self, t: TimeLike, like: Tensor | None = None) -> Tensor:
        return as_time(t, self.T, like=like, validate=self.validate_args)

    def alpha(self, t: TimeLike) -> Tensor:
        """Mean scale alpha(t) = exp(int_0^t f) of x_t given a clean x_0."""
        return self._alpha(self._time(t))

    def log_alpha(self, t: TimeLike) -> Tensor:
        """log alpha(t) = int_0^t f(s) ds."""
        return self._log_alpha(self._time(t))

    def sigma(self, t: TimeLike) -> Tensor:
        """Exact standard deviation sigma(t) of x_t given a clean x_0."""
        return self._sigma(self._time(t))

    def drift_coeff(self, t: TimeLike) -> Tensor:
        """Scalar drift f(t), with f(x, t) = f(t) x; equals d log(alpha)/dt."""
        return self._drift(self._time(t))

    def diffusion_coeff(self, t: TimeLike) -> Tensor:
        """Scalar diffusion g(t); g(t)^2 = d sigma^2/dt - 2 f(t) sigma(t)^2."""
        return self._diffusion(self._time(t))

    def noise_level(self, t: TimeLike) -> Tensor:
        """The VE-equivalent noise level sigma(t)/alpha(t) (Karras et al. 2022's sigma).

        x_t / alpha(t) is x_0 plus Gaussian noise of this std. ``VESDE`` returns its schedule
        sigma_v(t) instead, which also counts the sigma_min that its data are assumed to carry."""
        return self._noise_level(self._time(t))

    def _noise_level(self, t: Tensor) -> Tensor:
        return self._sigma(t) / self._alpha(t)

    def time_of_noise_level(self, level: Tensor | float) -> Tensor:
        """The t in [0, T] with ``noise_level(t) == level`` (the level increases with t),
        by bisection in float64 to full precision."""
        return self._invert_increasing(self._noise_level, level, "level", "noise_level")

    def time_of_log_snr(self, lam: Tensor | float) -> Tensor:
        """The t in (0, T] with log(alpha(t) / sigma(t)) == lam (the log-SNR falls with t), by
        bisection in float64."""
        return self._invert_increasing(
            lambda t: torch.log(self._sigma(t)) - torch.log(self._alpha(t)),
            -torch.as_tensor(lam),
            "-lam",
            "log(sigma/alpha)",
        )

    def _invert_increasing(self, fn, value, name: str, fn_name: str) -> Tensor:
        """The t in [0, T] with fn(t) == value for an increasing fn, by bisection in float64
        to full precision."""
        value = torch.as_tensor(value)
        out_dtype = value.dtype if value.dtype.is_floating_point else torch.get_default_dtype()
        v = value.to(torch.float64)
        lo = torch.zeros_like(v)
        hi = torch.full_like(v, self.T)
        lo_v, hi_v = fn(lo), fn(hi)
        # values a rounding away from the ends (a float32 level at t_max) are the ends
        slack = 1e-5 * torch.maximum(hi_v.abs().nan_to_num(0.0, 0.0, 0.0), torch.ones_like(v))
        v = torch.where((v > hi_v) & (v <= hi_v + slack), hi_v, v)
        v = torch.where((v < lo_v) & (v >= lo_v - slack), lo_v, v)
        if bool(((v < lo_v) | (v > hi_v) | ~torch.isfinite(v)).any()):
            raise ValueError(
                f"{name} must lie in [{fn_name}(0), {fn_name}(T)] = "
                f"[{float(lo_v.min())}, {float(hi_v.max())}]"
            )
        for _ in range(80):  # 80 halvings of [0, 1] reach below float64 resolution
            mid = 0.5 * (lo + hi)
            above = fn(mid) > v
            hi = torch.where(above, mid, hi)
            lo = torch.where(above, lo, mid)
        return (0.5 * (lo + hi)).to(device=value.device, dtype=out_dtype)

    def rates(self, t: TimeLike) -> tuple[Tensor, Tensor]:
        """(d alpha/dt, d sigma/dt): the velocity of x_t = alpha x_0 + sigma eps is
        d alpha/dt x_0 + d sigma/dt eps. From the coefficients, d alpha/dt = f alpha and
        d sigma/dt = (g^2 + 2 f sigma^2) / (2 sigma) (for t > 0)."""
        return self._rates(self._time(t))

    def _rates(self, t: Tensor) -> tuple[Tensor, Tensor]:
        f, sigma = self._drift(t), self._sigma(t)
        return f * self._alpha(t), (self._diffusion(t) ** 2 + 2.0 * f * sigma**2) / (2.0 * sigma)

    def snr(self, t: TimeLike) -> Tensor:
        """Signal-to-noise ratio alpha(t)^2 / sigma(t)^2 (Kingma et al. 2021)."""
        t = self._time(t)
        return self._alpha(t) ** 2 / self._sigma(t) ** 2

    # ----- torchsde protocol -----
    def f(self, t: TimeLike, y: Tensor) -> Tensor:
        """Drift f(t) y, the shape and dtype of ``y`` for any ``(batch, *event_shape)``."""
        return (per_sample(self._drift(self._time(t, like=y)), y) * y).to(y.dtype)

    def g(self, t: TimeLike, y: Tensor) -> Tensor:
        """Diagonal diffusion g(t), broadcast to the shape of ``y`` in its dtype."""
        return per_sample(self._diffusion(self._time(t, like=y)), y).to(y.dtype).expand_as(y)

    @contextlib.contextmanager
    def solve_scope(self, t0: float, t1: float) -> Iterator[None]:
        """Entered once by ``sdeint``: checks that [t0, t1] lies in [0, T], then skips the
        per-call checks for the solve."""
        if self.validate_args:
            check_time_range("ts", t0, t1, 0.0, self.T)
        with trusted_calls():
            yield

    # ----- transition and prior -----
    def perturbation_kernel(self, x0: Tensor, t: TimeLike) -> tuple[Tensor, Tensor]:
        """Mean alpha(t) x_0 and std sigma(t) (expanded to x_0's shape) of the perturbation
        kernel p_0t(x_t | x_0) = N(alpha(t) x_0, sigma(t)^2 I) (Song et al. 2021, sec. 3.3).
        The law of x_t itself, for data of a known law, is that law's ``marginal(sde, t)``
        (``revsde.evaluation.targets``)."""
        check_finite("x0", x0, self.validate_args)
        t = self._time(t, like=x0)
        mean = per_sample(self._alpha(t), x0) * x0
        std = per_sample(self._sigma(t), x0).expand_as(mean)
        return mean, std

    def perturb(
        self,
        x0: Tensor,
        t: TimeLike,
        noise: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Draw x_t = alpha(t) x_0 + sigma(t) eps, eps ~ N(0, I); returns ``(x_t, eps)``."""
        mean, std = self.perturbation_kernel(x0, t)
        if noise is None:
            noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        elif noise.shape != x0.shape:
            raise ValueError(
                f"noise must have the shape of x0 {tuple(x0.shape)}, got {tuple(noise.shape)}"
            )
        return mean + std * noise, noise

    def prior_sample(
        self,
        shape: tuple[int, ...] | torch.Size,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """Draw from the prior N(0, prior_std^2 I) that stands in for the law of x_T."""
        z = torch.randn(tuple(shape), generator=generator, dtype=dtype, device=device)
        return self.prior_std * z

    def reverse(
        self,
        score: Callable[[Tensor, Tensor], Tensor],
        probability_flow: bool = False,
        **kwargs: Any,
    ) -> ReverseSDE:
        """The reverse-time SDE of this process with score ``score(x, t)``, or with
        ``probability_flow=True`` the probability-flow ODE; keyword arguments (``lam``,
        ``t_min``, ``t_max``, ``event_shape``, ``denoised_transform``, ``model_kwargs``) go to
        [`ReverseSDE`][revsde.ReverseSDE]."""
        accepted = list(inspect.signature(ReverseSDE.__init__).parameters)[4:]
        unknown = sorted(set(kwargs) - set(accepted))
        if unknown:
            raise TypeError(
                f"reverse() got unexpected keyword argument(s) {unknown}; it takes {accepted}. "
                "Inputs for the model (class labels, conditioning) go in model_kwargs={...}"
            )
        return ReverseSDE(self, score, probability_flow=probability_flow, **kwargs)

    def prior_log_prob(self, x: Tensor) -> Tensor:
        """log N(x; 0, prior_std^2 I), summed over all but the batch dimension."""
        check_finite("x", x, self.validate_args)
        if x.dim() == 0:
            raise ValueError("x must have a batch dimension, got a 0-d tensor")
        d = x[0].numel()
        s = self.prior_std
        sq = x.reshape(x.shape[0], -1).square().sum(dim=1)
        return -0.5 * sq / s**2 - 0.5 * d * math.log(2 * math.pi * s**2)


def _time_derivative(fn, t: Tensor) -> Tensor:
    """d fn(t) / dt elementwise, by reverse-mode autograd (fn acts elementwise on t)."""
    with torch.enable_grad():
        t = t.detach().requires_grad_(True)
        out = fn(t)
        if not out.requires_grad:  # fn does not depend on t
            return torch.zeros_like(t)
        (d,) = torch.autograd.grad(out.sum(), t)
    return d
