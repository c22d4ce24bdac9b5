"""Counter-based per-sample normals: sample i's noise as a pure function of (its seed, the
step, the draw, the element), computed for the whole batch in a few vectorized operations.

A per-sample ``torch.Generator`` makes sample i independent of its batch, at the cost of one
generator call per sample and step (a kernel launch each on a GPU). Here each normal is
instead read off SplitMix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number
generators", OOPSLA 2014), a counter-based generator whose output at counter c of a stream
with key k is mix(k + c gamma), mix being Stafford's 64-bit finalizer "Mix13" and gamma the
odd golden-ratio constant 0x9e3779b97f4a7c15: the sequence passes BigCrush. A sample's key is
mix(seed), so neighbouring seeds give unrelated streams. Normal number m of a sample's stream
comes from output floor(m / 2): its bits 40-63 and 8-31 give two uniforms u1, u2 in (0, 1)
(24 bits each, offset by half a unit, so never 0 or 1), and the Box-Muller transform
(Box & Muller 1958) gives the normals sqrt(-2 log u1) cos(2 pi u2) (m even) and
sqrt(-2 log u1) sin(2 pi u2) (m odd), in float32 whatever the state's dtype, so a sample's
noise is the same in float32 and float64 (tails reach 5.9 standard deviations, as float32
normals drawn from 24-bit uniforms do). Normal number m of the normals of step k, draw r,
element e is (k R + r) n + e, for R draws per step of n elements each.

64-bit arithmetic runs on int64 tensors: products wrap modulo 2^64 (two's complement, as
torch's integer multiplication does on CPU and GPU), and the logical right shifts the
finalizer needs are arithmetic shifts masked to their low bits.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

_GAMMA = 0x9E3779B97F4A7C15 - (1 << 64)  # as a signed 64-bit number
_MIX1 = 0xBF58476D1CE4E5B9 - (1 << 64)
_MIX2 = 0x94D049BB133111EB - (1 << 64)
_LOW24 = (1 << 24) - 1


def _wrap(x: int) -> int:
    """A Python integer as the signed 64-bit word with the same low 64 bits."""
    return (x + (1 << 63)) % (1 << 64) - (1 << 63)


def _shift_right(z: Tensor, s: int) -> Tensor:
    """The logical right shift of 64-bit words held in int64."""
    return (z >> s) & ((1 << (64 - s)) - 1)


def mix64(z: Tensor) -> Tensor:
    """Stafford's Mix13 finalizer of SplitMix64, on int64 words (bit patterns of uint64)."""
    z = (z ^ _shift_right(z, 30)) * _MIX1
    z = (z ^ _shift_right(z, 27)) * _MIX2
    return z ^ _shift_right(z, 31)


def keys(seeds: Tensor | list[int], stream: int = 0) -> Tensor:
    """The per-sample keys of integer ``seeds`` (a 1-d int64 tensor or a list of ints in
    [-2^63, 2^63)) for an independent ``stream`` (0: a solve's noise; others for other uses of
    the same seeds, such as the prior draw)."""
    seeds = torch.as_tensor(seeds, dtype=torch.int64)
    if seeds.dim() != 1:
        raise ValueError(f"per-sample seeds must be 1-d, got shape {tuple(seeds.shape)}")
    return mix64(mix64(seeds) + _wrap((stream + 1) * _GAMMA))


def normals(key: Tensor, start: int, count: int, *, device=None) -> Tensor:
    """``(batch, count)`` float32 standard normals: for each sample, the normals number
    ``start`` to ``start + count - 1`` of the stream with its key (``key``, ``(batch,)``)."""
    first, stop = start // 2, (start + count + 1) // 2
    counters = torch.arange(first, stop, dtype=torch.int64, device=device)
    z = mix64(key.to(device).unsqueeze(1) + counters * _GAMMA)
    u1 = _shift_right(z, 40).to(torch.float32).add_(0.5).mul_(2.0**-24)
    u2 = ((z >> 8) & _LOW24).to(torch.float32).add_(0.5).mul_(2.0**-24)
    radius = u1.log_().mul_(-2.0).sqrt_()
    angle = u2.mul_(2.0 * math.pi)
    pairs = torch.stack([radius * torch.cos(angle), radius.mul_(torch.sin(angle))], dim=-1)
    offset = start - 2 * first
    return pairs.flatten(1)[:, offset : offset + count]


class CounterNormals:
    """The normals a solve draws, step by step, for a batch of per-sample ``key`` s: at each
    step ``draws`` arrays of ``event`` shape per sample (the Brownian increment, its Lévy area,
    extra normals), numbered by the step. Normals are computed for ``window`` steps at a time
    (the values do not depend on it; no more than the ``steps`` of the solve), so that a small
    state costs a few vectorized operations per window rather than per step."""

    def __init__(
        self,
        key: Tensor,
        event: tuple[int, ...],
        draws: int,
        *,
        device,
        window: int,
        steps: int | None = None,
    ):
        self.key = key.to(device)
        self.event, self.draws, self.device = tuple(event), int(draws), device
        self.n = math.prod(self.event)
        self.window, self.steps = max(1, int(window)), steps
        self.step = 0
        self._block: Tensor | None = None
        self._first = 0

    def next_step(self) -> Tensor:
        """The ``(draws, batch, *event)`` float32 normals of the next step (contiguous per
        draw)."""
        k = self.step
        if self._block is None or not self._first <= k < self._first + self._block.shape[0]:
            width = self.window
            if self.steps is not None:
                width = max(1, min(width, self.steps - k))
            per_step = self.draws * self.n
            block = normals(self.key, k * per_step, width * per_step, device=self.device)
            block = block.view(len(self.key), width, self.draws, self.n)
            # one copy per window, so that each step reads contiguous rows
            self._block = block.permute(1, 2, 0, 3).contiguous()
            self._first = k
        self.step += 1
        return self._block[k - self._first].view(self.draws, len(self.key), *self.event)


def window_for(batch: int, event: tuple[int, ...], draws: int, budget: int = 1 << 21) -> int:
    """Steps per window for a batch whose normals per step number ``batch * draws *
    prod(event)``: as many as fit in ``budget`` numbers, at most 64 (a large state computes its
    normals step by step, where the operations' cost is in the elements, not the calls)."""
    per_step = max(1, batch * draws * math.prod(event))
    return max(1, min(64, budget // per_step))
