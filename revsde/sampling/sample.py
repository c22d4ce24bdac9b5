"""prior -> solver -> result: the whole sampler in one call."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from .._checks import check_int, coefficient_dtype
from ..processes.reverse import DenoisedTransform, explicit_grid
from ..processes.sde import DiffusionSDE
from ..solvers import Solver, StepInfo, counter, resolve, solve
from ..solvers.noise import is_seeds
from .capture import CapturedSampler, captured

Generators = torch.Generator | Sequence[torch.Generator] | Sequence[int] | None

DEFAULT_METHOD = "unipc"
DEFAULT_STEPS = 30
DEFAULT_SPACING = "quadratic"
#: the counter-based stream of a sample's prior draw (its solve's noise uses streams 0 and 1)
PRIOR_STREAM = 2


def sample(
    sde: DiffusionSDE,
    score: Callable[[Tensor, Tensor], Tensor],
    shape: tuple[int, ...],
    method: str | type[Solver] | Solver = DEFAULT_METHOD,
    steps: int | None = None,
    *,
    spacing: str | Tensor | None = None,
    t_min: float | None = None,
    denoise: bool = True,
    generator: Generators = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    progress: bool = False,
    callback: Callable[[StepInfo], bool | None] | None = None,
    denoised_transform: DenoisedTransform | None = None,
    model_kwargs: dict[str, Any] | None = None,
    grad: bool = False,
    compile: bool | dict[str, Any] = False,
    adaptive: bool = False,
    rtol: float | None = None,
    atol: float | None = None,
    autocast: torch.dtype | None = None,
    cuda_graph: bool = False,
    **options: Any,
) -> Tensor:
    """Draw ``shape = (batch, *event_shape)`` samples: x_T from the prior, ``steps`` steps of
    ``method`` on the reverse SDE (on the probability-flow ODE for ODE-only methods) down to
    t_min, then, with ``denoise``, Tweedie's posterior mean E[x_0 | x_{t_min}] (Song et al.
    2021 end their samplers with this step).

    The defaults (UniPC-2 on the probability-flow ODE, 30 steps on the quadratic grid, 31 model
    evaluations with the final denoising step) were chosen by measurement on a 2-D mixture
    with the exact score (benchmarks/few_step.py): the most accurate sampler there, revsde's
    or a peer's, at 15, 20 and 50 evaluations (``pc``, the first default, was the least
    accurate per evaluation); the solvers guide gives the tables.

    Args:
        steps: the number of steps (default 30); with an explicit grid, its number of steps.
        spacing: the grid of ``ReverseSDE.times`` (a name such as "quadratic" or "power:3",
            or a tensor of forward times from t_max down to t_min, or a ``revsde.TunedGrid``;
            its last time is then the default t_min); default: the method's
            declared ``preferred_spacing``, else "quadratic" for ODE-only and "uniform" for
            SDE methods.
        generator: a ``torch.Generator``; or, so that sample i is the same whatever the batch
            it is drawn in, one integer seed per sample (counter-based normals for its prior
            draw and its noise, ``revsde.solvers.counter``: about the cost of one generator)
            or one ``torch.Generator`` per sample (a generator call per sample and step).
            revsde's own arithmetic is elementwise in the batch, so the sample is bitwise the
            same when the model's output for a sample does not depend on its batch either:
            elementwise models and revsde's targets of up to 8 dimensions do; a network's
            matrix products may differ in the last bits with the batch size (BLAS chooses
            its kernels by shape), and so may the samples.
        callback: called after each step with a ``solvers.StepInfo`` (step index, times,
            state, the data prediction x0_hat); returning ``True`` stops the solve.
        denoised_transform: e.g. ``revsde.models.thresholding.dynamic()``; see ``ReverseSDE``.
        model_kwargs: keyword inputs for every model call (class labels, text embeddings),
            per-sample tensors with the batch as leading dimension; see ``ReverseSDE``.
        grad: build the autograd graph (off by default: sampling runs under
            ``torch.no_grad()``, so memory does not grow with the number of steps).
        compile: ``True`` (or a dict of ``torch.compile`` arguments) compiles the score
            function; the sampling path has no graph breaks.
        autocast: ``torch.bfloat16`` or ``torch.float16``: the network runs under
            ``torch.autocast`` in that precision, while the solver's state, its coefficients
            and its noise stay in ``dtype`` (float32 by default), diffusers' policy; every
            prediction is cast back to ``dtype`` before the solver reads it.
        cuda_graph: capture the whole fixed-step solve, the network and Tweedie's step
            included, as one CUDA graph and replay it (``revsde.sampling.capture``; the graph
            is kept for the next call with the same settings). Takes the device's default
            generator or per-sample seeds; not adaptive steps, callbacks, progress bars or
            ``grad``. The result equals the uncaptured one's to rounding.
        adaptive: let a method with an embedded error estimate (``ggf`` on the reverse SDE;
            ``bosh3``, ``dopri5``, ``dpmpp_2s``, ``dpmpp_3s`` on the probability-flow ODE)
            choose its own steps from t_max to t_min under ``rtol``/``atol`` (``sdeint``'s
            defaults where not given); ``steps`` and ``spacing`` are then not taken. Step sizes
            are shared by the batch, so per-sample generators are refused; e.g.
            ``sample(sde, score, shape, "ggf", adaptive=True, atol=0.01,
            error_scale="data")``.
        **options: solver options (``n_corrector_steps``, ``snr``...).
    """
    spacing = explicit_grid(spacing)
    if not isinstance(shape, (tuple, list, torch.Size)) or len(shape) < 2:
        raise ValueError(
            f"shape must be a tuple (batch, *event_shape) with at least two entries, got {shape!r}"
        )
    for n in shape:
        check_int("every entry of shape", n, low=1)
    if adaptive and (steps is not None or spacing is not None):
        raise ValueError(
            "adaptive=True chooses its own steps: leave steps and spacing out (got "
            f"steps={steps!r}, spacing={'a tensor' if isinstance(spacing, Tensor) else spacing!r})"
        )
    if not adaptive and (rtol is not None or atol is not None):
        raise ValueError("rtol and atol are for adaptive=True; a fixed grid takes steps=")
    if steps is not None:
        steps = check_int("steps", steps, low=1)
    elif not isinstance(spacing, Tensor):
        steps = DEFAULT_STEPS
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    try:
        solver = resolve(method, **options)
    except TypeError as exc:
        raise TypeError(
            f"{exc}. Inputs for the model (class labels, conditioning) go in model_kwargs={{...}}"
        ) from None
    if isinstance(spacing, Tensor) and t_min is None and spacing.numel() > 1:
        t_min = float(spacing[-1])  # an explicit grid says where it stops (a tuned one may not
        # stop at the process's default t_min)
    generators = _generators(generator, shape[0], device)
    if cuda_graph:
        _check_capturable(adaptive, callback, progress, grad, generators, device)
    user_score = score
    if autocast is not None:
        score = _under_autocast(score, autocast)
    if compile:
        score = torch.compile(score, **(compile if isinstance(compile, dict) else {}))
    rsde = sde.reverse(
        score,
        probability_flow=solver.ode_only,
        t_min=t_min,
        event_shape=tuple(shape[1:]),
        denoised_transform=denoised_transform,
        model_kwargs=model_kwargs,
    )
    if spacing is None:
        spacing = default_spacing(solver, sde)
    tolerances = {k: v for k, v in (("rtol", rtol), ("atol", atol)) if v is not None}
    with torch.set_grad_enabled(grad):
        x_T = _prior(sde, tuple(shape), generators, dtype, device)
        if adaptive:
            ts = [0.0, rsde.s_max]
        else:
            ts = rsde.times(
                steps, spacing=spacing, dtype=coefficient_dtype(x_T.dtype), device=x_T.device
            )
        if cuda_graph:
            settings = (
                repr(solver),
                tuple(ts.tolist()),
                tuple(shape),
                x_T.dtype,
                x_T.device,
                denoise,
                isinstance(generators, Tensor),
                rsde.t_min,
                autocast,
                repr(compile),
                _kwargs_key(model_kwargs),
            )
            graph = captured(
                settings,
                lambda: CapturedSampler(
                    rsde,
                    ts,
                    solver,
                    like=x_T,
                    seeded=isinstance(generators, Tensor),
                    denoise=denoise,
                    model_kwargs=dict(model_kwargs or {}),
                ),
                keep=(sde, user_score, denoised_transform),
            )
            seeds = generators.to(x_T.device) if isinstance(generators, Tensor) else None
            return graph(x_T, seeds, model_kwargs)
        x = solve(
            rsde,
            x_T,
            ts,
            solver,
            adaptive=adaptive,
            final_only=True,
            generator=generators,
            progress=progress,
            callback=callback,
            **tolerances,
        ).ys
        return rsde.predict_x0(rsde.s_max, x) if denoise else x


def default_spacing(solver: Solver, sde: DiffusionSDE | None = None) -> str:
    """The grid a method runs on unless told: the process's own where it has one (EDM's time
    is its noise level, so grids in t are poor there: it asks for Karras's), else the one the
    method declares it measured best on, else quadratic for ODE methods and uniform for SDE
    methods (the solvers guide's tables)."""
    own = getattr(sde, "default_spacing", None)
    if own is not None:
        return own
    return solver.preferred_spacing or (DEFAULT_SPACING if solver.ode_only else "uniform")


def _check_capturable(adaptive, callback, progress, grad, generators, device) -> None:
    """Refuse what a CUDA graph cannot hold, before any work (``revsde.sampling.capture``)."""
    where = torch.device(device) if device is not None else torch.device("cpu")
    if where.type != "cuda":
        raise ValueError(f"cuda_graph=True needs device= a CUDA device, got {where}")
    refused = {
        "adaptive=True (the number of steps depends on the state)": adaptive,
        "a callback (it runs on the host after every step)": callback is not None,
        "progress=True (it runs on the host after every step)": progress,
        "grad=True (an autograd graph)": grad,
    }
    for what, given in refused.items():
        if given:
            raise ValueError(f"cuda_graph=True captures a fixed-step solve: not with {what}")
    if isinstance(generators, (torch.Generator, list)):
        raise ValueError(
            "cuda_graph=True draws its noise from the device's default generator or from "
            "per-sample seeds: pass generator=None or one integer seed per sample"
        )


def _under_autocast(score: Callable[..., Tensor], dtype: torch.dtype) -> Callable[..., Tensor]:
    """``score`` run under ``torch.autocast`` in ``dtype`` on its input's device."""
    if dtype not in (torch.bfloat16, torch.float16):
        raise ValueError(f"autocast must be torch.bfloat16 or torch.float16, got {dtype!r}")

    def autocast_score(x: Tensor, t: Tensor, **kwargs: Any) -> Tensor:
        with torch.autocast(device_type=x.device.type, dtype=dtype):
            return score(x, t, **kwargs)

    return autocast_score


def _kwargs_key(model_kwargs: dict[str, Any] | None) -> tuple:
    """What of ``model_kwargs`` a captured graph is specific to: the tensors' shapes, dtypes
    and devices (their values are copied in at every call) and the other values."""
    return tuple(
        (k, (tuple(v.shape), v.dtype, v.device) if isinstance(v, Tensor) else repr(v))
        for k, v in sorted((model_kwargs or {}).items())
    )


def _generators(generator: Generators, batch: int, device) -> Any:
    """The solve's ``generator``: one ``torch.Generator``, a list of one per sample, or the
    per-sample integer seeds as a 1-d int64 tensor (counter-based noise)."""
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if is_seeds(generator) and len(generator) == batch:
        return torch.as_tensor(generator, dtype=torch.int64)
    if isinstance(generator, Sequence) and len(generator) == batch:
        if all(isinstance(g, torch.Generator) for g in generator):
            return list(generator)
    raise TypeError(
        "generator must be a torch.Generator, or one generator or one integer seed per sample "
        f"({batch} for this batch), got {type(generator).__name__}"
        + (f" of length {len(generator)}" if isinstance(generator, Sequence) else "")
    )


def _prior(sde: DiffusionSDE, shape, generators, dtype, device) -> Tensor:
    if isinstance(generators, Tensor):
        # sample i's prior from its own seed's stream: independent of the batch
        keys = counter.keys(generators, stream=PRIOR_STREAM)
        z = counter.normals(keys, 0, math.prod(shape[1:]), device=device)
        dtype = dtype or torch.get_default_dtype()
        return (sde.prior_std * z.to(dtype)).reshape(shape)
    if not isinstance(generators, list):
        return sde.prior_sample(shape, generator=generators, dtype=dtype, device=device)
    # sample i's prior comes from its own generator: independent of the batch
    return torch.cat(
        [
            sde.prior_sample((1, *shape[1:]), generator=g, dtype=dtype, device=g.device).to(
                device or g.device
            )
            for g in generators
        ]
    )
