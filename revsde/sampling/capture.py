"""A fixed-step sampler captured as one CUDA graph and replayed: ``revsde.sample(...,
cuda_graph=True)``.

At a few samples per call a small or medium network leaves the GPU idle between the kernels
that Python launches one by one, step after step. A CUDA graph records every launch of one
whole solve — the network's, the solver's, the noise's and Tweedie's last step — once, and
replays them as one launch (NVIDIA's CUDA graphs; ``torch.cuda.CUDAGraph``). The replay reads
its inputs from fixed buffers: the prior draw x_T, the per-sample seeds of the noise when
they are given (the counter-based noise is a function of the seeds held in a buffer), and the
tensors of ``model_kwargs``; each call copies its own values into them, replays, and returns
a copy of the output. Without seeds the noise comes from the device's default generator,
which advances at every replay (PyTorch keeps graphs and that generator in step).

What a graph cannot hold is refused before the capture with an error that says why:
adaptive steps (their number depends on the state), callbacks and progress bars (they run on
the host every step), an autograd graph, a torch.Generator (the default generator or
per-sample seeds only). A method or model that reads a value back to the host or copies one
to the device while it runs (EDM's churn, a model with data-dependent control flow) fails
the capture; the error names the method and says so.

Captured graphs are kept for the last ``CACHE_SIZE`` settings (process, score, method, grid,
shape, dtype, device, ...), so that repeated calls with the same settings capture once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._checks import trusted_calls
from ..solvers import FixedStepSolve

#: captured graphs kept at a time (each holds its buffers and the memory of one solve)
CACHE_SIZE = 4
_CACHE: OrderedDict[tuple, tuple[CapturedSampler, tuple]] = OrderedDict()


class CapturedSampler:
    """One fixed-step solve of ``rsde`` (and Tweedie's step at its end with ``denoise``)
    captured as a CUDA graph; call it with a prior draw shaped as ``like``, and per-sample
    seeds if it was captured with them."""

    def __init__(
        self,
        rsde: Any,
        ts: Tensor,
        solver: Any,
        *,
        like: Tensor,
        seeded: bool,
        denoise: bool,
        model_kwargs: dict[str, Any],
    ) -> None:
        if like.device.type != "cuda":
            raise ValueError(f"cuda_graph=True needs a CUDA device, got {like.device}")
        self.rsde, self.denoise = rsde, denoise
        self.solve = FixedStepSolve(rsde, ts, solver, like=like)
        self.x = torch.zeros_like(like)
        self.seeds = torch.zeros(like.shape[0], dtype=torch.int64, device=like.device)
        self.seeded = seeded
        # the model's tensor inputs live in buffers that every call refills
        self.kwargs = {
            k: v.clone() if isinstance(v, Tensor) else v for k, v in model_kwargs.items()
        }
        rsde.model_kwargs = self.kwargs
        self.graph = torch.cuda.CUDAGraph()
        stream = torch.cuda.Stream(device=like.device)
        stream.wait_stream(torch.cuda.current_stream(like.device))
        with torch.cuda.stream(stream):  # warm-up runs off the capture (lazy initialisation)
            self._run()
            # the second run must not synchronise with the host: one that does fails here,
            # with torch's message, instead of in the middle of the capture
            previous = torch.cuda.get_sync_debug_mode()
            torch.cuda.set_sync_debug_mode("error")
            try:
                self._run()
            except RuntimeError as exc:
                raise RuntimeError(
                    f"cuda_graph=True: the solve with {self.solve.method_name!r} reads a value "
                    "back to the host while it runs, so no CUDA graph can hold it (EDM's churn "
                    "does; so does a model with data-dependent control flow). Run it without "
                    f"cuda_graph. ({exc})"
                ) from exc
            finally:
                torch.cuda.set_sync_debug_mode(previous)
        torch.cuda.current_stream(like.device).wait_stream(stream)
        try:
            with torch.cuda.graph(self.graph):
                self.out = self._run()
        except RuntimeError as exc:
            raise RuntimeError(
                f"cuda_graph=True: the solve with {self.solve.method_name!r} could not be "
                "captured: it reads a value back to the host or copies one to the device "
                "while it runs (EDM's churn does; so does a model with data-dependent control "
                f"flow). Run it without cuda_graph. ({exc})"
            ) from exc

    def _run(self) -> Tensor:
        y = self.solve.run(self.x, self.seeds if self.seeded else None)
        if not self.denoise:
            return y
        with trusted_calls():  # no per-call checks: they read values back to the host
            # the end time as the grid's device tensor: a Python float would be copied in
            return self.rsde.predict_x0(self.solve.time_tensor[-1], y)

    def __call__(
        self, x_T: Tensor, seeds: Tensor | None = None, model_kwargs: dict | None = None
    ) -> Tensor:
        self.x.copy_(x_T)
        if self.seeded:
            self.seeds.copy_(seeds)
        for k, v in (model_kwargs or {}).items():
            if isinstance(v, Tensor):
                self.kwargs[k].copy_(v)
        self.graph.replay()
        out = self.out.clone()
        if not bool(torch.isfinite(out).all()):
            raise FloatingPointError(
                "the captured solve returned NaN or inf; run it without cuda_graph to find "
                "the step where it appeared"
            )
        return out


def captured(key: tuple, build: Callable[[], CapturedSampler], keep: tuple = ()) -> CapturedSampler:
    """The cached graph for ``key`` (settings that decide the captured work), built by
    ``build`` when there is none; ``keep`` holds objects whose identity is in the key (the
    process, the score), so that a freed object's reused id cannot match."""
    full = (*key, *map(id, keep))
    if full in _CACHE:
        _CACHE.move_to_end(full)
        return _CACHE[full][0]
    graph = build()
    _CACHE[full] = (graph, keep)
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return graph


def clear_cache() -> None:
    """Free every captured graph (their buffers and memory pools)."""
    _CACHE.clear()
