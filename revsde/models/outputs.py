"""What a network returns, as a tensor: the one place that reads the output conventions of
other libraries (a tuple led by the tensor, diffusers' ``.sample``)."""

from __future__ import annotations

from torch import Tensor


def unwrap(out: object) -> Tensor:
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
