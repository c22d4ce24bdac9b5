"""Plugging a trained network into the reverse SDE: whatever it predicts, a score comes out.

The conversions themselves (score, eps, x0, v) live in ``revsde.predictions``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ._checks import TimeLike, check_int, checking, per_sample
from .predictions import TO_SCORE
from .sde import DiffusionSDE

PREDICTIONS = TO_SCORE

# What the network is told about the time, from the forward time t (a (batch,) tensor).
TIME_INPUTS: dict[str, Callable[[DiffusionSDE, Tensor, int], Tensor]] = {
    "t": lambda sde, t, n: t,
    # the paper code's DDPM convention: a continuous index t (N - 1) into the N-step table
    "index": lambda sde, t, n: t * (n - 1),
    "sigma": lambda sde, t, n: sde._noise_level(t),
    "log_sigma": lambda sde, t, n: torch.log(sde._noise_level(t)),
}


def _unwrap(out: object) -> Tensor:
    """A tensor from a model output: a tensor, a tuple/list led by one, or an object with a
    ``sample`` tensor (diffusers' ``UNet2DOutput``)."""
    if isinstance(out, Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], Tensor):
        return out[0]
    sample = getattr(out, "sample", None)
    if isinstance(sample, Tensor):
        return sample
    raise TypeError(
        "model must return a tensor, a tuple led by a tensor, or an object with a tensor "
        f"`.sample`; got {type(out).__name__}"
    )


class ScoreAdapter(torch.nn.Module):
    """grad_x log p_t(x) from a network ``model(x, time, **extra)``.

    Args:
        model: the network; called as ``model(x, time, **extra)`` with ``time`` a ``(batch,)``
            tensor in the convention of ``time_input``.
        sde: the forward process the network was trained on.
        prediction: what the network predicts: one of ``PREDICTIONS`` ("score", "eps", "x0",
            "v").
        time_input: what the network is given as time: one of ``TIME_INPUTS``: "t" (the
            continuous time), "index" (t (N - 1), a DDPM network's step index), "sigma" (the
            process's ``noise_level(t)``, as NCSN and EDM networks take) or "log_sigma".
        num_timesteps: N for ``time_input="index"``.

    Calling the adapter, ``adapter(x, t, **extra)``, returns the score in the shape of ``x``;
    ``extra`` (class labels, other conditioning) goes to the model unchanged.
    """

    def __init__(
        self,
        model: Callable[..., object],
        sde: DiffusionSDE,
        prediction: str = "score",
        time_input: str = "t",
        num_timesteps: int = 1000,
    ) -> None:
        super().__init__()
        if not callable(model):
            raise TypeError(f"model must be callable, got {type(model).__name__}")
        if not isinstance(sde, DiffusionSDE):
            raise TypeError(f"sde must be a revsde.DiffusionSDE, got {type(sde).__name__}")
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {sorted(PREDICTIONS)}, got {prediction!r}")
        if time_input not in TIME_INPUTS:
            raise ValueError(f"time_input must be one of {sorted(TIME_INPUTS)}, got {time_input!r}")
        check_int("num_timesteps", num_timesteps, low=2)
        self.model = model
        self.sde = sde
        self.prediction = prediction
        self.time_input = time_input
        self.num_timesteps = num_timesteps
        self._convert = PREDICTIONS[prediction]
        self._time_map = TIME_INPUTS[time_input]

    def extra_repr(self) -> str:
        return f"prediction={self.prediction!r}, time_input={self.time_input!r}"

    def model_time(self, t: TimeLike, batch_size: int, like: Tensor) -> Tensor:
        """The ``(batch,)`` time input the network receives for forward time ``t``."""
        t = self.sde._time(t, like=like)
        t = t.expand(batch_size) if t.dim() == 0 else t
        return self._time_map(self.sde, t, self.num_timesteps)

    def forward(self, x: Tensor, t: TimeLike, **extra: object) -> Tensor:
        """grad_x log p_t(x), converted from the network's prediction."""
        t = self.sde._time(t, like=x)
        per_sample(t, x)  # a per-sample t must match the batch before the model runs
        out = _unwrap(self.model(x, self.model_time(t, x.shape[0], x), **extra))
        if out.shape != x.shape:
            raise ValueError(
                f"model output has shape {tuple(out.shape)}, expected the input's {tuple(x.shape)}"
            )
        sigma_t = self.sde._sigma(t)
        if checking(self.sde.validate_args) and bool((sigma_t <= 0).any()):
            raise ValueError(
                "t must be > 0: the score is undefined where sigma(t) = 0 (no noise), and the "
                f"process has sigma(t) = 0 at t = {float(t.min())}"
            )
        alpha = per_sample(self.sde._alpha(t), x)
        sigma = per_sample(sigma_t, x)
        return self._convert(out, x, alpha, sigma).to(x.dtype)
