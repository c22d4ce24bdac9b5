"""Plugging a trained network into the reverse SDE: whatever it predicts, a score comes out.

The conversions themselves (score, eps, x0, v, velocity) live in ``revsde.predictions``;
denoisers in VE coordinates (k-diffusion, EDM) in ``revsde.models.denoisers``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from .._checks import TimeLike, check_int, checking, per_sample
from ..predictions import NEEDS_RATES, TO_SCORE, canonical
from ..processes.sde import DiffusionSDE
from .denoisers import VECoordinates
from .outputs import unwrap

PREDICTIONS = TO_SCORE

TimeMap = Callable[[DiffusionSDE, Tensor], Tensor]


def _index(sde: DiffusionSDE, t: Tensor, n: int) -> Tensor:
    # a process built from a training table knows its exact index; otherwise the paper code's
    # DDPM convention, a continuous index t (N - 1) into the N-step table
    own = getattr(sde, "_index", None)
    return own(t) if own is not None else t * (n - 1)


# What the network is told about the time, from the forward time t (a (batch,) tensor).
TIME_INPUTS: dict[str, Callable[[DiffusionSDE, Tensor, int], Tensor]] = {
    "t": lambda sde, t, n: t,
    "index": _index,
    "sigma": lambda sde, t, n: sde._noise_level(t),
    "log_sigma": lambda sde, t, n: torch.log(sde._noise_level(t)),
}


def split_batch(kwargs: Mapping[str, Any], batch: int, rows: slice) -> dict[str, Any]:
    """``kwargs`` for the samples ``rows`` of a batch of ``batch``: tensors whose leading
    dimension is the batch are per-sample and sliced, everything else is shared."""
    return {
        k: v[rows] if isinstance(v, Tensor) and v.dim() > 0 and v.shape[0] == batch else v
        for k, v in kwargs.items()
    }


class ScoreAdapter(torch.nn.Module):
    """grad_x log p_t(x) from a network ``model(x, time, **model_kwargs)``.

    Args:
        model: the network; called as ``model(x, time, **model_kwargs)`` with ``time`` a
            ``(batch,)`` tensor in the convention of ``time_input``. It may return a tensor,
            a tuple led by one or an object with a ``.sample`` tensor (diffusers).
        sde: the forward process the network was trained on.
        prediction: what the network predicts, required (a default would silently misread a
            network trained on another): "score", "eps", "x0", "v" (Salimans & Ho's
            v = alpha eps - sigma x0) or "velocity" (flow matching's u = d x_t/dt), or
            diffusers' names "epsilon", "sample", "v_prediction", "flow_prediction".
        time_input: what the network is given as time: "t" (the continuous time), "index"
            (the training index: ``sde.index(t)`` for a ``DiscreteVPSDE``, else t (N - 1)),
            "sigma" (the process's ``noise_level(t)``, as NCSN networks take) or "log_sigma";
            or a callable ``(sde, t) -> time`` for any other convention (e.g. EDM's
            c_noise = log(sigma)/4, or 1000 t).
        num_timesteps: N for ``time_input="index"`` on a continuous process (default 1000);
            a ``DiscreteVPSDE`` knows its own.
        learned_variance: the network outputs twice the state's channels (dim 1), the
            prediction followed by a variance (improved DDPM, DiT, DeepFloyd); the first half
            is used.
        model_kwargs: keyword inputs for every model call (class labels, text embeddings);
            tensors whose leading dimension is the batch are per-sample.
        max_batch_size: evaluate the model on at most this many samples at a time (memory);
            per-sample ``model_kwargs`` are sliced with the state.

    Calling the adapter, ``adapter(x, t, **extra)``, returns the score in the shape of ``x``;
    ``extra`` is merged over ``model_kwargs``.
    """

    def __init__(
        self,
        model: Callable[..., object],
        sde: DiffusionSDE,
        prediction: str,
        time_input: str | TimeMap = "t",
        num_timesteps: int | None = None,
        *,
        learned_variance: bool = False,
        model_kwargs: Mapping[str, Any] | None = None,
        max_batch_size: int | None = None,
    ) -> None:
        super().__init__()
        if not callable(model):
            raise TypeError(f"model must be callable, got {type(model).__name__}")
        if not isinstance(sde, DiffusionSDE):
            raise TypeError(f"sde must be a revsde.DiffusionSDE, got {type(sde).__name__}")
        prediction = canonical(prediction)
        table_n = getattr(sde, "num_timesteps", None)
        if callable(time_input):
            self._time_map = lambda sde, t, n: time_input(sde, t)
        elif time_input in TIME_INPUTS:
            self._time_map = TIME_INPUTS[time_input]
        else:
            raise ValueError(
                f"time_input must be one of {sorted(TIME_INPUTS)} or a callable (sde, t) -> "
                f"time, got {time_input!r}"
            )
        if num_timesteps is not None:
            check_int("num_timesteps", num_timesteps, low=2)
            if table_n is not None and num_timesteps != table_n:
                raise ValueError(
                    f"num_timesteps = {num_timesteps} but the process's table has {table_n}"
                )
        if model_kwargs is not None and not isinstance(model_kwargs, Mapping):
            raise TypeError(f"model_kwargs must be a dict, got {type(model_kwargs).__name__}")
        if max_batch_size is not None:
            check_int("max_batch_size", max_batch_size, low=1)
        self.model = model
        self.sde = sde
        self.prediction = prediction
        self.time_input = time_input
        self.num_timesteps = num_timesteps or table_n or 1000
        self.learned_variance = bool(learned_variance)
        self.model_kwargs = dict(model_kwargs or {})
        self.max_batch_size = max_batch_size
        self._convert = PREDICTIONS[prediction]

    def extra_repr(self) -> str:
        time_input = getattr(self.time_input, "__name__", self.time_input)
        return f"prediction={self.prediction!r}, time_input={time_input!r}"

    def model_time(self, t: TimeLike, batch_size: int, like: Tensor) -> Tensor:
        """The ``(batch,)`` time input the network receives for forward time ``t``."""
        t = self.sde._time(t, like=like)
        t = t.expand(batch_size) if t.dim() == 0 else t
        return self._time_map(self.sde, t, self.num_timesteps)

    def prediction_of(self, x: Tensor, t: TimeLike, **extra: Any) -> Tensor:
        """The network's own prediction (eps, x0, ...) at ``x``, forward time ``t``."""
        t = self.sde._time(t, like=x)
        per_sample(t, x)  # a per-sample t must match the batch before the model runs
        kwargs = {**self.model_kwargs, **extra}
        batch = x.shape[0]
        step = self.max_batch_size or batch
        if step >= batch:
            return self._call(x, t, kwargs)
        outs = []
        for start in range(0, batch, step):
            rows = slice(start, start + step)
            t_rows = t[rows] if t.dim() else t
            outs.append(self._call(x[rows], t_rows, split_batch(kwargs, batch, rows)))
        return torch.cat(outs)

    def _call(self, x: Tensor, t: Tensor, kwargs: dict[str, Any]) -> Tensor:
        out = unwrap(self.model(x, self.model_time(t, x.shape[0], x), **kwargs))
        if self.learned_variance:
            if out.dim() < 2 or out.shape[1] != 2 * x.shape[1]:
                raise ValueError(
                    f"learned_variance=True expects twice the state's {x.shape[1]} channels "
                    f"(dim 1), got a model output of shape {tuple(out.shape)}"
                )
            out = out[:, : x.shape[1]]
        if out.shape != x.shape:
            hint = ""
            if out.dim() >= 2 and out.shape[1] == 2 * x.shape[1] and out.shape[2:] == x.shape[2:]:
                hint = " (twice the channels: a learned-variance model? pass learned_variance=True)"
            raise ValueError(
                f"model output has shape {tuple(out.shape)}, expected the input's "
                f"{tuple(x.shape)}{hint}"
            )
        return out

    def forward(self, x: Tensor, t: TimeLike, **extra: Any) -> Tensor:
        """grad_x log p_t(x), converted from the network's prediction."""
        t = self.sde._time(t, like=x)
        out = self.prediction_of(x, t, **extra)
        sigma_t = self.sde._sigma(t)
        if checking(self.sde.validate_args) and bool((sigma_t <= 0).any()):
            raise ValueError(
                "t must be > 0: the score is undefined where sigma(t) = 0 (no noise), and the "
                f"process has sigma(t) = 0 at t = {float(t.min())}"
            )
        alpha = per_sample(self.sde._alpha(t), x)
        sigma = per_sample(sigma_t, x)
        if self.prediction in NEEDS_RATES:
            dalpha, dsigma = (per_sample(r, x) for r in self.sde._rates(t))
            return self._convert(out, x, alpha, sigma, dalpha, dsigma).to(x.dtype)
        return self._convert(out, x, alpha, sigma).to(x.dtype)

    @classmethod
    def from_denoiser(
        cls, denoiser: Callable[..., object], sde: DiffusionSDE, **kwargs: Any
    ) -> ScoreAdapter:
        """The score of a denoiser D(x_ve, sigma_ve) in VE coordinates (k-diffusion, EDM:
        x_ve = x_0 + sigma_ve n, D estimates x_0) on any process: at time t the state x is
        handed over as x_ve = x / alpha(t) with sigma_ve = sigma(t) / alpha(t) (the VE ≡ VP
        correspondence of the mathematics page). Keyword arguments go to ``ScoreAdapter``."""
        fixed = sorted({"prediction", "time_input", "num_timesteps"} & set(kwargs))
        if fixed:
            raise TypeError(f"from_denoiser sets {fixed} itself (x0 prediction at time t)")
        return cls(VECoordinates(denoiser, sde), sde, prediction="x0", **kwargs)
