"""Classifier-free guidance (Ho & Salimans 2022): a guided network from a conditional one.

    out = out_uncond + scale (out_cond - out_uncond)

in the network's own prediction space (eps, x0, v, velocity or score: the combination is
affine, so it commutes with the adapter's conversions, which are affine in the prediction
at fixed x and t). scale = 1 is the conditional model, 0 the unconditional one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from .._checks import check_real
from .outputs import unwrap


class ClassifierFreeGuidance(torch.nn.Module):
    """The guided network of ``cfg``; called as ``model(x, time, **extra)``."""

    def __init__(
        self,
        model: Callable[..., object],
        scale: float,
        cond: Mapping[str, Any],
        uncond: Mapping[str, Any],
    ) -> None:
        super().__init__()
        if not callable(model):
            raise TypeError(f"model must be callable, got {type(model).__name__}")
        for name, kw in (("cond", cond), ("uncond", uncond)):
            if not isinstance(kw, Mapping):
                raise TypeError(f"{name} must be a dict of model inputs, got {type(kw).__name__}")
        if set(cond) != set(uncond):
            raise ValueError(
                f"cond and uncond must name the same model inputs, got {sorted(cond)} and "
                f"{sorted(uncond)}"
            )
        self.model = model
        self.scale = check_real("scale", scale)
        self.cond, self.uncond = dict(cond), dict(uncond)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, inputs={sorted(self.cond)}"

    def forward(self, x: Tensor, time: Tensor, **extra: Any) -> Tensor:
        batch = x.shape[0]
        kwargs = dict(extra)
        for key in self.cond:
            kwargs[key] = _stack(key, self.cond[key], self.uncond[key], batch)
        time = time.expand(batch) if time.dim() == 0 else time
        out = unwrap(self.model(torch.cat([x, x]), torch.cat([time, time]), **kwargs))
        if out.shape[0] != 2 * batch:
            raise ValueError(
                f"the model returned {out.shape[0]} rows for a doubled batch of {2 * batch}"
            )
        out_cond, out_uncond = out[:batch], out[batch:]
        return torch.lerp(out_uncond, out_cond, self.scale)


def _stack(key: str, cond: Any, uncond: Any, batch: int) -> Tensor:
    """The conditional and unconditional inputs of one keyword, stacked for one call: each
    is per-sample (leading dimension ``batch``) or one row, broadcast to the batch."""
    parts = []
    for name, value in (("cond", cond), ("uncond", uncond)):
        if not isinstance(value, Tensor):
            raise TypeError(f"{name}[{key!r}] must be a tensor, got {type(value).__name__}")
        if value.dim() == 0:
            value = value.expand(batch)
        elif value.shape[0] == 1:
            value = value.expand(batch, *value.shape[1:])
        elif value.shape[0] != batch:
            raise ValueError(
                f"{name}[{key!r}] has {value.shape[0]} rows; expected the batch ({batch}) or 1"
            )
        parts.append(value)
    return torch.cat(parts)


def cfg(
    model: Callable[..., object],
    scale: float,
    cond: Mapping[str, Any],
    uncond: Mapping[str, Any],
) -> ClassifierFreeGuidance:
    """Classifier-free guidance of ``model(x, time, **inputs)``: one batched call on the
    doubled batch ``[x, x]`` with the inputs ``cond`` then ``uncond`` (dicts of tensors, each
    per-sample or a single row), combined as ``uncond + scale (cond - uncond)``.

    Wrap the network before the adapter: ``ScoreAdapter(cfg(unet, 3.0, {"class_labels": y},
    {"class_labels": null}), sde, prediction="eps")``. One evaluation of the guided model is
    one network call (on twice the batch), and that is what ``SolveStats.nfe`` counts.
    """
    return ClassifierFreeGuidance(model, scale, cond, uncond)
