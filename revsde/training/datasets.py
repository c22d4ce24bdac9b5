"""Small real data sets for the training example, from scikit-learn (no download): two moons
and the swiss roll (2-D) and the 8x8 handwritten digits (64-D). Needs the ``examples`` extra
(``pip install 'revsde[examples]'``)."""

from __future__ import annotations

import torch
from torch import Tensor

DATASETS = ("moons", "swissroll", "digits")
#: the digits' pixel levels (0..16): dequantized and mapped onto [-1, 1]
DIGIT_LEVELS = 17


def load(name: str, *, n: int = 10_000, seed: int = 0) -> tuple[Tensor, Tensor, dict]:
    """``(train, test, info)`` float32 tensors of data set ``name``, 80/20 split.

    moons / swissroll: ``n`` noisy points, standardised to mean 0, std 1 per coordinate
    (``info["mean"]``, ``info["std"]``). digits: the 1797 images as 64-vectors, uniformly
    dequantized, (k + U)/17 mapped onto [-1, 1] (``info["n_bins"] = 17``,
    ``info["data_range"] = (-1, 1)``, for ``revsde.bits_per_dim``)."""
    try:
        from sklearn import datasets
    except ImportError:
        raise ImportError(
            "revsde.training.datasets needs scikit-learn: pip install 'revsde[examples]'"
        ) from None
    if name not in DATASETS:
        raise ValueError(f"name must be one of {list(DATASETS)}, got {name!r}")
    gen = torch.Generator().manual_seed(seed)
    info: dict = {"name": name}
    if name == "digits":
        pixels = torch.as_tensor(datasets.load_digits().data, dtype=torch.float32)
        u = (pixels + torch.rand(pixels.shape, generator=gen)) / DIGIT_LEVELS
        x = 2.0 * u - 1.0
        info.update(n_bins=DIGIT_LEVELS, data_range=(-1.0, 1.0))
    else:
        if name == "moons":
            raw, _ = datasets.make_moons(n, noise=0.05, random_state=seed)
        else:
            raw3, _ = datasets.make_swiss_roll(n, noise=0.5, random_state=seed)
            raw = raw3[:, [0, 2]]
        x = torch.as_tensor(raw, dtype=torch.float32)
        mean, std = x.mean(0), x.std(0)
        x = (x - mean) / std
        info.update(mean=mean.tolist(), std=std.tolist())
    order = torch.randperm(x.shape[0], generator=gen)
    cut = int(0.8 * x.shape[0])
    return x[order[:cut]], x[order[cut:]], info
