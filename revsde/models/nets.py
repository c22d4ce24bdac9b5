"""A small score network for tabular and small-image data: an MLP with a Fourier time
embedding (Tancik et al. 2020; the Gaussian Fourier features of Song et al. 2021's NCSN++),
predicting eps by default. For examples and tests, not a state-of-the-art model."""

from __future__ import annotations

import math

import torch
from torch import Tensor


class ScoreMLP(torch.nn.Module):
    """``net(x, t)`` for x of shape ``(batch, dim)`` (or any shape flattening to ``dim``) and
    per-sample times t: [x, sin(2 pi W t), cos(2 pi W t)] through ``depth`` SiLU layers of
    width ``hidden``. Its constructor arguments are ``config`` (for checkpoints)."""

    def __init__(self, dim: int, hidden: int = 128, depth: int = 3, embed: int = 16) -> None:
        super().__init__()
        self.config = {"dim": dim, "hidden": hidden, "depth": depth, "embed": embed}
        # fixed random frequencies, log-spaced scales so that t in [0, 1] and sigma-like
        # inputs are both resolved
        freqs = torch.logspace(-1, 1.5, embed) * (1 + torch.arange(embed) % 3) / 2
        self.register_buffer("freqs", freqs)
        layers: list[torch.nn.Module] = []
        width = dim + 2 * embed
        for _ in range(depth):
            layers += [torch.nn.Linear(width, hidden), torch.nn.SiLU()]
            width = hidden
        layers.append(torch.nn.Linear(width, dim))
        self.body = torch.nn.Sequential(*layers)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        shape = x.shape
        flat = x.reshape(shape[0], -1)
        t = t.expand(shape[0]) if t.dim() == 0 else t
        angles = 2 * math.pi * t.to(flat.dtype)[:, None] * self.freqs.to(flat.dtype)
        h = torch.cat([flat, angles.sin(), angles.cos()], dim=1)
        return self.body(h).reshape(shape)
