"""Noise sources for the integration loop: what draws the Brownian increments.

- `RandnNoise`: plain ``torch.randn`` into buffers reused across steps (the default,
  fastest).
- `NoNoise`: nothing drawn, for methods that read no noise (ODE methods): with per-sample
  generators on a GPU the draws they would waste cost a kernel launch per sample and step.
- `SeedNoise`: per-sample integer seeds; each sample's normals a pure function of (its seed,
  the step, the draw, the element) (``revsde.solvers.counter``), computed for the whole batch
  in a few vectorized operations, so that sample i's path does not depend on the batch it is
  in, at the cost of about one generator call.
- `PerSampleNoise`: one ``torch.Generator`` per sample, the same independence at one
  generator call per sample and step.
- `BrownianNoise`: a torchsde Brownian object (``BrownianInterval``, ``BrownianPath``),
  so that one path can be queried on nested grids for strong-convergence studies, and so that
  results agree with ``torchsde.sdeint`` given the same object.

Every source returns a [`Noise`][revsde.solvers.Noise] for a step [t0, t1]: dW ~ N(0, h), and on
request U = int (W_s - W_t0) ds (drawn as U = h (dW/2 + H), H ~ N(0, h/12) independent of dW)
and extra standard normals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from . import counter
from .base import Noise


def same_device(a: torch.device | str, b: torch.device | str) -> bool:
    """Whether two device specs name one device: ``"cuda"`` (no index) is the current CUDA
    device, so it equals ``"cuda:0"`` when that is current (a torchsde Brownian object keeps the
    device as it was given)."""
    a, b = torch.device(a), torch.device(b)
    if a.type != b.type:
        return False
    if a.index is None or b.index is None:
        current = torch.cuda.current_device() if a.type == "cuda" else 0
        a_index = current if a.index is None else a.index
        return a_index == (current if b.index is None else b.index)
    return a.index == b.index


class _Buffer:
    """A tensor to draw normals into: one reused buffer (``reuse``, the fast path for sampling)
    or a fresh tensor per draw (when autograd may keep a step's noise for backward)."""

    def __init__(self, shape, *, dtype, device, reuse: bool) -> None:
        self.shape, self.dtype, self.device, self.reuse = tuple(shape), dtype, device, reuse
        self._buf = torch.empty(self.shape, dtype=dtype, device=device) if reuse else None

    def normal_(self, std: float = 1.0, generator=None) -> Tensor:
        buf = (
            self._buf
            if self.reuse
            else torch.empty(self.shape, dtype=self.dtype, device=self.device)
        )
        return buf.normal_(0.0, std, generator=generator)


class NoNoise:
    """For methods that read no noise (``Solver.uses_noise`` is false): nothing is drawn;
    every step gets the same zero increment, allocated once."""

    def __init__(self, shape, *, dtype, device) -> None:
        self._zero = torch.zeros(tuple(shape), dtype=dtype, device=device)

    def __call__(self, t0: Tensor, t1: Tensor, h: float) -> Noise:
        return Noise(h, self._zero)


class RandnNoise:
    """Fresh normals each step (into reused buffers when ``reuse``); ``generator`` makes a run
    reproducible."""

    def __init__(
        self,
        shape,
        state_shape,
        *,
        dtype,
        device,
        levy: bool,
        n_extra: int,
        reuse: bool = True,
        generator=None,
    ):
        self.generator = generator
        kw = {"dtype": dtype, "device": device, "reuse": reuse}
        self._dW = _Buffer(shape, **kw)
        self._H = _Buffer(shape, **kw) if levy else None
        self._z = _Buffer((n_extra, *state_shape), **kw) if n_extra else None

    def __call__(self, t0: Tensor, t1: Tensor, h: float) -> Noise:
        dW = self._dW.normal_(math.sqrt(h), generator=self.generator)
        U = None
        if self._H is not None:
            H = self._H.normal_(math.sqrt(h / 12.0), generator=self.generator)
            U = (0.5 * dW + H).mul_(h)
        z = self._z.normal_(generator=self.generator) if self._z is not None else None
        return Noise(h, dW, U, z)


def is_seeds(generator: object) -> bool:
    """Whether ``generator`` gives per-sample integer seeds: a 1-d integer tensor or a list
    of Python ints."""
    if isinstance(generator, Tensor):
        return generator.dim() == 1 and not generator.dtype.is_floating_point
    return (
        isinstance(generator, Sequence)
        and len(generator) > 0
        and all(isinstance(g, int) and not isinstance(g, bool) for g in generator)
    )


class SeedNoise:
    """Counter-based normals keyed by per-sample seeds (``revsde.solvers.counter``): the
    increments and Lévy areas from one stream, extra normals from another, numbered by the
    step, so that sample i's noise is the same in any batch."""

    def __init__(
        self,
        seeds: Tensor | Sequence[int],
        shape,
        state_shape,
        *,
        dtype,
        device,
        levy,
        n_extra,
        reuse: bool = True,
        steps: int | None = None,
    ):
        seeds = torch.as_tensor(seeds, dtype=torch.int64)
        if len(seeds) != shape[0]:
            raise ValueError(
                f"generator must hold one seed per sample: got {len(seeds)} for a batch of "
                f"{shape[0]}"
            )
        self.shape, self.dtype, self.levy, self.n_extra = tuple(shape), dtype, levy, n_extra
        draws = 2 if levy else 1
        event = self.shape[1:]
        self._increments = counter.CounterNormals(
            counter.keys(seeds, stream=0),
            event,
            draws,
            device=device,
            window=counter.window_for(len(seeds), event, draws),
            steps=steps,
        )
        self._extra = None
        if n_extra:
            extra_event = (n_extra, *tuple(state_shape)[1:])
            self._extra = counter.CounterNormals(
                counter.keys(seeds, stream=1),
                extra_event,
                1,
                device=device,
                window=counter.window_for(len(seeds), extra_event, 1),
                steps=steps,
            )

    def __call__(self, t0: Tensor, t1: Tensor, h: float) -> Noise:
        draws = self._increments.next_step()
        dW = torch.mul(draws[0], math.sqrt(h)).to(self.dtype)
        U = None
        if self.levy:
            H = torch.mul(draws[1], math.sqrt(h / 12.0)).to(self.dtype)
            U = (0.5 * dW + H).mul_(h)
        z = None
        if self._extra is not None:
            z = self._extra.next_step()[0].transpose(0, 1).to(self.dtype).contiguous()
        return Noise(h, dW, U, z)


class PerSampleNoise:
    """Each sample draws from its own generator: results for sample i are the same whatever
    the batch size, as long as sample i keeps its generator."""

    def __init__(
        self,
        generators: Sequence[torch.Generator],
        shape,
        state_shape,
        *,
        dtype,
        device,
        levy,
        n_extra,
        reuse: bool = True,
    ):
        if len(generators) != shape[0]:
            raise ValueError(
                f"generator must be one torch.Generator per sample: got {len(generators)} for a "
                f"batch of {shape[0]}"
            )
        self.generators = list(generators)
        self.shape, self.state_shape = tuple(shape), tuple(state_shape)
        self.dtype, self.device, self.levy, self.n_extra = dtype, device, levy, n_extra

    def _draw(self, per_sample_shape):
        # draw on the generator's device, then move: a CPU generator cannot fill a CUDA tensor
        return torch.stack(
            [
                torch.randn(per_sample_shape, generator=g, dtype=self.dtype, device=g.device)
                for g in self.generators
            ]
        ).to(self.device)

    def __call__(self, t0: Tensor, t1: Tensor, h: float) -> Noise:
        dW = self._draw(self.shape[1:]).mul_(math.sqrt(h))
        U = None
        if self.levy:
            H = self._draw(self.shape[1:]).mul_(math.sqrt(h / 12.0))
            U = (0.5 * dW + H).mul_(h)
        z = None
        if self.n_extra:
            z = self._draw((self.n_extra, *self.state_shape[1:])).transpose(0, 1).contiguous()
        return Noise(h, dW, U, z)


class BrownianNoise:
    """Increments read off a torchsde Brownian object ``bm(t0, t1)``; U where the object
    carries space-time Lévy area. Extra normals (correctors) come from ``generator``."""

    def __init__(
        self,
        bm,
        shape,
        state_shape,
        *,
        dtype,
        device,
        levy,
        n_extra,
        reuse: bool = True,
        generator=None,
    ):
        if tuple(bm.shape) != tuple(shape):
            raise ValueError(f"bm must have shape {tuple(shape)}, got {tuple(bm.shape)}")
        if bm.dtype != dtype or not same_device(bm.device, device):
            raise ValueError(
                f"bm must have the state's dtype and device ({dtype}, {device}), "
                f"got ({bm.dtype}, {bm.device})"
            )
        if levy and getattr(bm, "levy_area_approximation", "none") == "none":
            raise ValueError(
                "this method needs space-time Lévy area: create the Brownian object with "
                'levy_area_approximation="space-time"'
            )
        self.bm, self.levy, self.generator = bm, levy, generator
        kw = {"dtype": dtype, "device": device, "reuse": reuse}
        self._z = _Buffer((n_extra, *state_shape), **kw) if n_extra else None

    def __call__(self, t0: Tensor, t1: Tensor, h: float) -> Noise:
        if self.levy:
            dW, U = self.bm(t0, t1, return_U=True)
        else:
            dW, U = self.bm(t0, t1), None
        z = self._z.normal_(generator=self.generator) if self._z is not None else None
        return Noise(h, dW, U, z)
