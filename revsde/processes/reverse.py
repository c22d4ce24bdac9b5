"""Reverse-time SDE and probability-flow ODE of a forward diffusion, in torchsde's clock.

For a forward process dx = f(t) x dt + g(t) dw and any lam >= 0, the process

    dx = [f(t) x - (1 + lam^2)/2 g(t)^2 grad_x log p_t(x)] dt + lam g(t) dw_bar,   t: T -> t_min,

has the marginals p_t of the forward process (Anderson 1982; Song et al. 2021, eqs. 6 and 13;
Zhang & Chen 2022 for the lam family). lam = 1 is the reverse-time SDE, lam = 0 the
probability-flow ODE. torchsde integrates forward in time only, so `ReverseSDE` runs in
the clock s = t_max - t in [0, t_max - t_min], where

    dx = -[f(t) x - (1 + lam^2)/2 g(t)^2 grad_x log p_t(x)] ds + lam g(t) dW_s,   t = t_max - s.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from .._checks import (
    TimeLike,
    as_time,
    check_int,
    check_real,
    check_time_range,
    coefficient_dtype,
    per_sample,
    trusted_calls,
)
from ..predictions import score_from_x0, x0_from_score
from ..solvers.protocols import Transition

ScoreFn = Callable[[Tensor, Tensor], Tensor]


@runtime_checkable
class ForwardProcess(Protocol):
    """What a reverse-time SDE reads of its forward process: ``revsde.DiffusionSDE`` provides
    it (this module does not import that class: the process builds its reverse, so the arrow
    runs from the process to this module only). The underscored coefficients are the
    process's unchecked tensor-in/tensor-out functions of the forward time."""

    T: float
    validate_args: bool
    default_t_min: float
    default_t_max: float
    drift_diverges_at_T: bool

    def _alpha(self, t: Tensor) -> Tensor: ...
    def _sigma(self, t: Tensor) -> Tensor: ...
    def _drift(self, t: Tensor) -> Tensor: ...
    def _diffusion(self, t: Tensor) -> Tensor: ...
    def _noise_level(self, t: Tensor) -> Tensor: ...
    def time_of_noise_level(self, level: Tensor | float) -> Tensor: ...
    def time_of_log_snr(self, lam: Tensor | float) -> Tensor: ...
    def prior_sample(self, shape: tuple[int, ...], **kwargs: Any) -> Tensor: ...


DenoisedTransform = Callable[[Tensor], Tensor]


SPACINGS = ("uniform", "quadratic", "power", "karras", "logsnr")


def parse_spacing(
    spacing: str, *, rho: float = 7.0, power: float = 2.0
) -> tuple[str, float, float]:
    """(name, rho, power) of a grid name, with ``"power:P"`` and ``"karras:RHO"`` setting the
    parameter; an unknown name is an error that lists the valid ones."""
    if not isinstance(spacing, str):
        raise TypeError(
            f"spacing must be one of {list(SPACINGS)} or a tensor of times, got "
            f"{type(spacing).__name__}"
        )
    name, _, value = spacing.partition(":")
    if name not in SPACINGS or (value and name not in ("power", "karras")):
        raise ValueError(
            f"spacing must be one of {list(SPACINGS)} (optionally 'power:P' or 'karras:RHO'), "
            f"got {spacing!r}"
        )
    if value:
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"spacing {spacing!r}: {value!r} is not a number") from None
        rho, power = (number, power) if name == "karras" else (rho, number)
    if name == "quadratic":
        power = 2.0
    rho = check_real("rho", rho, low=0.0, strict=True)
    power = check_real("power", power, low=0.0, strict=True)
    return name, rho, power


def explicit_grid(spacing: Any) -> Any:
    """A grid object's forward times (``.times``, as a ``TunedGrid`` carries them), else
    ``spacing`` as it is."""
    if not isinstance(spacing, (str, Tensor)) and isinstance(
        getattr(spacing, "times", None), Tensor
    ):
        return spacing.times
    return spacing


def _in_dtype(s: Tensor, dtype, device, name: str, n: int) -> Tensor:
    """The float64 grid ``s`` in ``dtype`` on ``device``, after checking that it stays a grid
    there: strictly increasing. A half-precision dtype is refused (bfloat16 rounds the last
    reverse time 0.999 to 1.0, outside the clock's range; a half-precision state runs on a
    float32 grid), and so is a grid whose shortest steps are below the dtype's resolution."""
    dtype = dtype or torch.get_default_dtype()
    if dtype in (torch.float16, torch.bfloat16):
        raise ValueError(
            f"a time grid in {dtype} cannot resolve the steps near the data: ask for float32 "
            "or float64 (a half-precision state runs on a float32 grid)"
        )
    out = s.to(dtype=dtype)
    if not bool((out[1:] > out[:-1]).all()):
        shortest = float((s[1:] - s[:-1]).min())
        raise ValueError(
            f"the {name} grid of {n} steps is not strictly increasing in {dtype}: its shortest "
            f"step, {shortest:.2g}, is below that dtype's resolution near the end of the clock "
            f"({torch.finfo(dtype).eps * float(s[-1]):.2g}); take fewer steps, another spacing, "
            "or dtype=torch.float64"
        )
    return out.to(device=device)


class _Memo:
    """What a reverse SDE remembers between calls of one solve."""

    __slots__ = ("coefficients", "last_eval", "table")

    def __init__(self) -> None:
        self.coefficients: tuple | None = None
        self.last_eval: tuple[Tensor, Tensor, Tensor] | None = None
        # announced times: (their base tensor, offset, stride, rows of (t, f(t), lam g(t),
        # (1 + lam^2)/2 g(t)^2)), t a 0-d tensor, the rest floats on the CPU, else 0-d tensors
        self.table: tuple[Tensor, int, int, list[tuple]] | None = None


class ReverseSDE(torch.nn.Module):
    """The reverse-time SDE (or probability-flow ODE) of ``sde`` with score ``score(x, t)``.

    Args:
        sde: the forward process.
        score: a callable ``score(x, t)`` returning grad_x log p_t(x) in the shape of ``x``,
            with ``t`` a 0-d or per-sample ``(batch,)`` forward time: a
            [`ScoreAdapter`][revsde.ScoreAdapter] around a network, or a target's exact
            ``score(sde)``.
        probability_flow: the ODE (lam = 0) instead of the SDE (lam = 1).
        lam: the noise scale lam >= 0 of the family above; overrides ``probability_flow``.
        t_min: where integration stops, in (0, t_max); default ``sde.default_t_min``
            (1e-3 for VP types, 1e-5 for VE, after Song et al.).
        t_max: where integration starts, in (t_min, T]; default ``sde.default_t_max``
            (T, or 0.9946 for the cosine schedule whose drift blows up at T).
        event_shape: the per-sample shape the score expects. States may then be passed
            flattened, ``(batch, prod(event_shape))`` as torchsde needs, or as
            ``(batch, *event_shape)``; the score always sees the latter.
        denoised_transform: applied to the data prediction x0_hat = (x + sigma^2 s)/alpha
            of every score evaluation before the score is formed again from it, e.g.
            ``revsde.models.thresholding.clip()`` or ``revsde.models.thresholding.dynamic()``
            (Saharia et al. 2022) for image models; ``None`` (the default) leaves the score as
            it is.
        model_kwargs: keyword inputs passed to every call ``score(x, t, **model_kwargs)``
            (class labels, text embeddings for a ``ScoreAdapter``); tensors are per-sample
            when their leading dimension is the batch.

    The state is ``(batch, *shape)``; ``f`` and ``g`` return that shape and the state's dtype
    (times and coefficients are float32, or float64 for a float64 state; the score is cast to
    the state's dtype). ``g`` does not depend on the state (``additive_noise = True``), and is
    a zero tensor for the ODE, which declares ``is_ode = True``.
    """

    noise_type: str = "diagonal"
    sde_type: str = "ito"
    additive_noise: bool = True

    # prepare_times keeps CPU coefficients as Python floats (tests turn this off to run the
    # 0-d tensor rows that other devices use)
    _float_table = True

    def __init__(
        self,
        sde: ForwardProcess,
        score: ScoreFn,
        *,
        probability_flow: bool = False,
        lam: float | None = None,
        t_min: float | None = None,
        t_max: float | None = None,
        event_shape: tuple[int, ...] | torch.Size | None = None,
        denoised_transform: DenoisedTransform | None = None,
        model_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(sde, ForwardProcess):
            raise TypeError(
                f"sde must be a forward diffusion process (a revsde.DiffusionSDE), got "
                f"{type(sde).__name__}"
            )
        if not callable(score):
            raise TypeError(f"score must be callable as score(x, t), got {type(score).__name__}")
        self.sde = sde
        self.score_fn = score
        if lam is None:
            lam = 0.0 if probability_flow else 1.0
        self.lam = check_real("lam", lam, low=0.0)
        self.probability_flow = self.lam == 0.0
        t_max = sde.default_t_max if t_max is None else t_max
        t_min = sde.default_t_min if t_min is None else t_min
        self.t_max = check_real("t_max", t_max, low=0.0, strict=True)
        self.t_min = check_real("t_min", t_min, low=0.0, strict=True)
        if self.t_max > sde.T:
            raise ValueError(f"t_max must be <= T = {sde.T}, got {t_max}")
        if sde.drift_diverges_at_T and self.t_max >= sde.T:
            raise ValueError(
                f"t_max must be < T = {sde.T} for {type(sde).__name__}: its drift diverges at T "
                f"(the default t_max is {sde.default_t_max})"
            )
        if denoised_transform is not None and not callable(denoised_transform):
            raise TypeError(
                "denoised_transform must be callable as transform(x0_hat), got "
                f"{type(denoised_transform).__name__}"
            )
        self.denoised_transform = denoised_transform
        if model_kwargs is not None and not isinstance(model_kwargs, dict):
            raise TypeError(f"model_kwargs must be a dict, got {type(model_kwargs).__name__}")
        self.model_kwargs = dict(model_kwargs or {})
        # per-solve memos, in a plain object: nn.Module.__setattr__ costs ~7 µs a call
        self._memo = _Memo()
        if self.t_min >= self.t_max:
            raise ValueError(f"t_min must lie in (0, t_max) = (0, {self.t_max}), got {t_min}")
        self.s_max = self.t_max - self.t_min
        self.event_shape = None if event_shape is None else torch.Size(event_shape)
        self._drift_weight = 0.5 * (1.0 + self.lam**2)

    def extra_repr(self) -> str:
        return f"lam={self.lam}, t_min={self.t_min}, t_max={self.t_max}"

    @property
    def is_ode(self) -> bool:
        """``True`` for the probability-flow ODE (lam = 0): g is zero everywhere."""
        return self.probability_flow

    @contextlib.contextmanager
    def solve_scope(self, s0: float, s1: float) -> Iterator[None]:
        """Entered once by ``sdeint``: checks that [s0, s1] lies in [0, t_max - t_min], then
        skips the per-call checks of this object, its process and its score for the solve."""
        if self.sde.validate_args:
            check_time_range("ts (reverse clock s)", s0, s1, 0.0, self.s_max)
        try:
            with trusted_calls():
                yield
        finally:
            self._memo.last_eval = self._memo.coefficients = self._memo.table = None

    def prepare_times(self, s: Tensor) -> None:
        """Called by ``sdeint`` with the next grid times (reverse clock, 1-d) before the steps
        that start at them; the loop then passes each step's time as a view of ``s``. The
        coefficients of ``_coefficients`` are computed for all of them in one vectorized pass
        and looked up by the view's position, so that a step costs no tensor arithmetic on 0-d
        times and no read of a time back to the host (which would stall a GPU). On the CPU the
        coefficients are kept as Python floats, the cheapest operands for the update.

        Skipped with gradients on (the table carries no graph to a learnable schedule)."""
        self._memo.table = None
        if s.dim() != 1 or torch.is_grad_enabled():
            return
        t = self.t_max - s
        g = self.sde._diffusion(t)
        coefficients = (self.sde._drift(t), self.lam * g, self._drift_weight * g**2)
        columns = [c.expand_as(t) for c in coefficients]
        if s.is_cpu and self._float_table:
            columns = [c.tolist() for c in columns]
        else:
            columns = [c.unbind() for c in columns]
        rows = list(zip(t.unbind(), *columns, strict=True))
        root = s if s._base is None else s._base
        self._memo.table = (root, s.storage_offset(), s.stride(0), rows)

    # ----- clocks -----
    def forward_time(self, s: TimeLike, like: Tensor | None = None) -> Tensor:
        """The forward time t = t_max - s of the reverse clock s in [0, t_max - t_min]."""
        s = as_time(s, self.s_max, like=like, name="s", validate=self.sde.validate_args)
        return self.t_max - s

    def times(
        self,
        n: int | None = None,
        *,
        spacing: str | Tensor = "uniform",
        rho: float = 7.0,
        power: float = 2.0,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """An increasing grid of ``n + 1`` reverse times s from 0 to t_max - t_min (``n`` steps).

        ``spacing``: ``"uniform"`` in t; ``"power"``: t = t_min + (t_max - t_min)(1 - i/n)^p
        with p = ``power``, fine near the data for p > 1; ``"quadratic"``: power with p = 2;
        ``"karras"``: noise levels sigma_i = (sigma_hi^(1/rho) + i/n (sigma_lo^(1/rho) -
        sigma_hi^(1/rho)))^rho (Karras et al. 2022, eq. 5) in the process's ``noise_level``,
        mapped back to t; ``"logsnr"``: uniform in lambda = log(alpha/sigma), the grid
        DPM-Solver recommends (Lu et al. 2022a), mapped back to t. A name may carry its
        parameter after a colon: ``"power:3"``, ``"karras:5"``.

        ``spacing`` may also be an explicit 1-d tensor of forward times, strictly decreasing
        from t_max to t_min, or an object that carries one as ``.times`` (a
        ``revsde.TunedGrid``); ``n``, if given, must be its number of steps.
        """
        spacing = explicit_grid(spacing)
        if isinstance(spacing, Tensor):
            grid = self._explicit_times(n, spacing)
            return _in_dtype(grid, dtype, device, "explicit", len(grid) - 1)
        n = check_int("n", n, low=1)
        name, rho, power = parse_spacing(spacing, rho=rho, power=power)
        u = torch.linspace(0.0, 1.0, n + 1, dtype=torch.float64)
        if name == "uniform":
            s = u * self.s_max
        elif name in ("quadratic", "power"):
            s = self.s_max * (1.0 - (1.0 - u) ** power)
        elif name == "karras":
            t_ends = torch.tensor([self.t_max, self.t_min], dtype=torch.float64)
            hi, lo = (self.sde._noise_level(t_ends) ** (1.0 / rho)).tolist()
            levels = (hi + u * (lo - hi)) ** rho
            s = self.t_max - self.sde.time_of_noise_level(levels[1:-1])
            s = torch.cat([s.new_zeros(1), s, s.new_full((1,), self.s_max)])
        else:  # logsnr
            t_ends = torch.tensor([self.t_max, self.t_min], dtype=torch.float64)
            hi, lo = (
                torch.log(self.sde._alpha(t_ends)) - torch.log(self.sde._sigma(t_ends))
            ).tolist()
            s = self.t_max - self.sde.time_of_log_snr(hi + u[1:-1] * (lo - hi))
            s = torch.cat([s.new_zeros(1), s, s.new_full((1,), self.s_max)])
        return _in_dtype(s, dtype, device, spacing, n)

    def _explicit_times(self, n: int | None, t: Tensor) -> Tensor:
        if t.dim() != 1 or t.numel() < 2 or not t.dtype.is_floating_point:
            raise ValueError(
                "spacing as a tensor must be a 1-d floating tensor of at least two forward "
                f"times, got shape {tuple(t.shape)} and dtype {t.dtype}"
            )
        if n is not None and check_int("n", n, low=1) != t.numel() - 1:
            raise ValueError(f"n = {n} steps but the explicit grid has {t.numel() - 1}")
        t = t.detach().to(device="cpu", dtype=torch.float64)
        if not bool(torch.isfinite(t).all()) or not bool((t[1:] < t[:-1]).all()):
            raise ValueError("spacing as a tensor must hold finite, strictly decreasing times")
        slack = 1e-6 * max(self.t_max, 1.0)
        if abs(float(t[0]) - self.t_max) > slack or abs(float(t[-1]) - self.t_min) > slack:
            raise ValueError(
                f"an explicit grid must run from t_max = {self.t_max} to t_min = {self.t_min}, "
                f"got {float(t[0])} to {float(t[-1])}"
            )
        s = (self.t_max - t).clamp(0.0, self.s_max)
        s[0], s[-1] = 0.0, self.s_max
        return s

    # ----- shapes -----
    def _to_event(self, y: Tensor) -> Tensor:
        if self.event_shape is None or y.shape[1:] == self.event_shape:
            return y
        numel = math.prod(self.event_shape)
        if y.dim() == 2 and y.shape[1] == numel:
            return y.reshape(y.shape[0], *self.event_shape)
        raise ValueError(
            f"state of shape {tuple(y.shape)} matches neither event_shape "
            f"{tuple(self.event_shape)} nor its flattened form (batch, {numel})"
        )

    # ----- the score at reverse time s, and the torchsde protocol -----
    def _coefficients(self, s: TimeLike, y: Tensor) -> tuple[Tensor, Any, Any, Any]:
        """(t, f(t), lam g(t), (1 + lam^2)/2 g(t)^2) at reverse time s, shaped per sample
        against ``y``: Python floats for a time announced by ``prepare_times``, else tensors.
        A solver asks for the drift and the diffusion at the same time tensor, so the last one
        is remembered (keyed by the tensor itself and its version counter: an in-place change
        misses the memo)."""
        key = (s, s._version, y.dtype, y.dim()) if isinstance(s, Tensor) else None
        cached = self._memo.coefficients
        if (
            key is not None
            and cached is not None
            and cached[0][0] is s
            and cached[0][1:] == key[1:]
            and not torch.compiler.is_compiling()
        ):
            return cached[1]
        row = self._table_row(s, y) if key is not None else None
        if row is not None:
            self._memo.coefficients = (key, row)
            return row
        t = self.forward_time(s, like=y)
        g_t = per_sample(self.sde._diffusion(t), y)
        # (t, f(t), lam g(t), (1 + lam^2)/2 g(t)^2): each computed once per time
        coefs = (t, per_sample(self.sde._drift(t), y), self.lam * g_t, self._drift_weight * g_t**2)
        if key is not None:
            self._memo.coefficients = (key, coefs)
        return coefs

    def _table_row(self, s: Tensor, y: Tensor) -> tuple | None:
        """The ``prepare_times`` row of the 0-d time ``s`` (a view of the announced times),
        or ``None`` if it has none."""
        table = self._memo.table
        if table is None or s.dim() != 0 or s._base is not table[0]:
            return None
        if s.dtype != coefficient_dtype(y.dtype) or s.device != y.device:
            return None
        i, rest = divmod(s.storage_offset() - table[1], table[2])
        rows = table[3]
        return rows[i] if rest == 0 and 0 <= i < len(rows) else None

    def _score_at(self, t: Tensor, y: Tensor) -> Tensor:
        """The score at forward time ``t`` (already checked), in the shape and dtype of y."""
        x = self._to_event(y)
        out = self.score_fn(x, t, **self.model_kwargs) if self.model_kwargs else self.score_fn(x, t)
        if not isinstance(out, Tensor) or out.shape != x.shape:
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"score returned {shape}, expected the state's shape {tuple(x.shape)}")
        if self.denoised_transform is not None:
            alpha, sigma = per_sample(self.sde._alpha(t), x), per_sample(self.sde._sigma(t), x)
            x0 = self.denoised_transform(x0_from_score(out, x, alpha, sigma))
            out = score_from_x0(x0, x, alpha, sigma)
        if out.dtype != y.dtype:
            out = out.to(y.dtype)
        if out.shape != y.shape:
            out = out.reshape(y.shape)
        self._memo.last_eval = (t, y, out)
        return out

    def predict_score(self, s: TimeLike, y: Tensor) -> Tensor:
        """The score grad_x log p_t(y) at the reverse time ``s`` (forward time t = t_max - s),
        in the shape and dtype of ``y`` (after ``denoised_transform``, if one is set): the
        solvers' view of the model, in their clock and argument order (a user's score is
        ``score(x, t)`` in forward time)."""
        return self._score_at(self.forward_time(s, like=y), y)

    def predict_x0(self, s: TimeLike, y: Tensor) -> Tensor:
        """Tweedie's x0_hat = (y + sigma(t)^2 score) / alpha(t) at the reverse time ``s``
        (forward time t = t_max - s), after ``denoised_transform`` (one score evaluation)."""
        self.predict_score(s, y)
        return self.last_denoised()

    def last_denoised(self) -> Tensor | None:
        """The data prediction x0_hat = (y + sigma^2 s) / alpha of the last score evaluation
        (for previews in callbacks), or ``None`` before the first."""
        if self._memo.last_eval is None:
            return None
        t, y, out = self._memo.last_eval
        alpha, sigma = per_sample(self.sde._alpha(t), y), per_sample(self.sde._sigma(t), y)
        return x0_from_score(out, y, alpha, sigma).to(y.dtype)

    def f(self, s: TimeLike, y: Tensor) -> Tensor:
        """Drift in the s clock: -[f(t) y - (1 + lam^2)/2 g(t)^2 score(y, t)]."""
        t, f_t, _, weighted_g2 = self._coefficients(s, y)
        score = self._score_at(t, y)
        if not isinstance(f_t, Tensor):  # floats of an announced time: two fused ops
            return torch.mul(score, weighted_g2).sub_(y, alpha=f_t)
        return (weighted_g2 * score).sub_(f_t * y).to(y.dtype)

    def g(self, s: TimeLike, y: Tensor) -> Tensor:
        """Diagonal diffusion lam g(t), broadcast to ``y``; a zero tensor for the ODE."""
        if self.probability_flow:
            return torch.zeros_like(y)
        lam_g = self._coefficients(s, y)[2]
        if not isinstance(lam_g, Tensor):
            return torch.full_like(y, lam_g)
        return lam_g.to(y.dtype).expand_as(y)

    def marginal_coefficients(self, s: TimeLike, like: Tensor) -> tuple[Tensor, Tensor]:
        """(alpha(t), sigma(t)) of the forward process at t = t_max - s, shaped per sample
        against ``like``: the exactly known linear part that the exponential integrators (DDIM,
        DPM-Solver++, UniPC, SA-Solver) integrate in closed form, with log-SNR
        lambda = log(alpha / sigma) (``revsde.solvers.protocols.SemiLinearSDE``)."""
        t = self.forward_time(s, like=like)
        return per_sample(self.sde._alpha(t), like), per_sample(self.sde._sigma(t), like)

    def time_of_log_snr(self, lam: Tensor | float) -> Tensor:
        """The reverse time s at which the forward process's log-SNR log(alpha/sigma) equals
        ``lam``, clamped to [0, t_max - t_min] (by bisection; EDM's churn needs it)."""
        lam = torch.as_tensor(lam)
        t = self.sde.time_of_log_snr(lam.detach().to(torch.float64).cpu())
        s = (self.t_max - t).clamp(0.0, self.s_max)
        return s.to(dtype=lam.dtype if lam.is_floating_point() else None, device=lam.device)

    def transition(self, s0: TimeLike, s1: TimeLike, like: Tensor | None = None) -> Transition:
        """The forward step that this reverse step undoes, for the discrete predictors.

        From reverse time s0 to s1 > s0 the forward time falls from t_hi = t_max - s0 to
        t_lo = t_max - s1, and the forward process moves x_lo to x_hi = a x_lo + b eps with
        a = alpha(t_hi)/alpha(t_lo), b^2 = sigma(t_hi)^2 - a^2 sigma(t_lo)^2. Returns
        ``(a, b2, sigma(t_hi)^2, sigma(t_lo)^2, lam)``.
        """
        t_hi, t_lo = self.forward_time(s0, like=like), self.forward_time(s1, like=like)
        a = self.sde._alpha(t_hi) / self.sde._alpha(t_lo)
        var_hi, var_lo = self.sde._sigma(t_hi) ** 2, self.sde._sigma(t_lo) ** 2
        return Transition(a, (var_hi - a**2 * var_lo).clamp_min(0.0), var_hi, var_lo, self.lam)

    def prior_sample(
        self,
        shape: tuple[int, ...] | torch.Size,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """Draws of the forward process's prior, the signature of
        `DiffusionSDE.prior_sample`: ``shape`` is ``(batch, *event_shape)``, or
        ``(batch, prod(event_shape))`` for the flattened states torchsde takes; with
        ``event_shape`` set, any other shape is an error."""
        shape = tuple(shape)
        if self.event_shape is not None and len(shape) >= 1:
            events = {tuple(self.event_shape), (math.prod(self.event_shape),)}
            if shape[1:] not in events:
                raise ValueError(
                    f"shape {shape} is neither (batch, *event_shape) = (batch, "
                    f"{', '.join(map(str, self.event_shape))}) nor its flattened form (batch, "
                    f"{math.prod(self.event_shape)})"
                )
        return self.sde.prior_sample(shape, generator=generator, dtype=dtype, device=device)
