"""The one integration loop behind ``sdeint`` and ``solve``: validation, the step grid, noise,
output recording, evaluation counts, per-step callbacks, non-finite detection and the progress
bar live here and nowhere else.

``sdeint`` takes torchsde's arguments in torchsde's order and returns the states at ``ts``;
``solve`` is the loop's own entry point, which also returns what the solve cost. They differ
in one default only: ``solve`` steps on the grid ``ts`` unless given ``dt``; ``sdeint``, where
torchsde would take its default dt = 1e-3 steps, asks to be told (see ``sdeint``).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

from .adaptive import check_tolerances, solve_adaptive
from .base import NOISE_TYPES, NonFiniteError, Solver
from .controller import PIController
from .finite import FiniteWatch, forward_time, where_non_finite, window_for
from .grid import check_dt, check_times, fixed_steps, interpolate, timed
from .noise import BrownianNoise, NoNoise, PerSampleNoise, RandnNoise, SeedNoise, is_seeds
from .protocols import evaluations, missing
from .registry import resolve
from .solution import Solution, SolveStats, StepInfo
from .torchsde_compat import (
    UNSET,
    TorchsdeConventionWarning,
    check_torchsde_call,
    check_torchsde_only,
)

#: the tolerances of adaptive solves, wherever one is run (``sdeint``, ``solve``,
#: ``revsde.sample``, ``revsde.log_likelihood``): Song et al.'s likelihood setting
DEFAULT_RTOL = 1e-5
DEFAULT_ATOL = 1e-5


class _Counted:
    """Forwards the SDE's attributes to ``sde`` and counts the calls of ``f``, ``g`` and of
    the model evaluations that the solver's protocols name (``evaluations``); checks the first
    drift's shape."""

    def __init__(self, sde: Any, evaluations: Sequence[str] = ()) -> None:
        self._sde = sde
        self.noise_type = sde.noise_type
        self.sde_type = sde.sde_type
        self.additive_noise = getattr(sde, "additive_noise", False)
        self.n_f = self.n_g = self.n_model = 0
        self._f_checked = False
        for name in evaluations:
            setattr(self, name, self._counting(getattr(sde, name)))

    def _counting(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.n_model += 1
            return method(*args, **kwargs)

        return counted

    def __getattr__(self, name: str) -> Any:
        # the rest of a protocol (marginal_coefficients, transition, ...) and optional hooks
        if name == "_sde":
            raise AttributeError(name)
        return getattr(self._sde, name)

    def f(self, t: Tensor, y: Tensor) -> Tensor:
        self.n_f += 1
        out = self._sde.f(t, y)
        if not self._f_checked:
            if not isinstance(out, Tensor) or out.shape != y.shape:
                got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
                raise ValueError(
                    f"sde.f returned {got}, expected the state's shape {tuple(y.shape)}"
                )
            self._f_checked = True
        return out

    def g(self, t: Tensor, y: Tensor) -> Tensor:
        self.n_g += 1
        return self._sde.g(t, y)


# The keywords sdeint itself takes, for the message on a misspelt one.
_SDEINT_KEYWORDS = (
    "bm",
    "method",
    "dt",
    "adaptive",
    "rtol",
    "atol",
    "dt_min",
    "options",
    "names",
    "logqp",
    "extra",
    "extra_solver_state",
    "generator",
    "final_only",
    "progress",
    "callback",
    "check_finite",
    "max_steps",
    "controller",
)


def _check_state(y0: Any, noise_type: str) -> Tensor:
    if not isinstance(y0, Tensor):
        raise TypeError(f"y0 must be a torch.Tensor, got {type(y0).__name__}")
    if not y0.dtype.is_floating_point:
        raise TypeError(f"y0 must be a floating-point tensor, got dtype {y0.dtype}")
    if y0.dim() >= 1 and y0.shape[0] == 0:
        raise ValueError(f"y0 has an empty batch (shape {tuple(y0.shape)}): nothing to solve")
    if noise_type == "diagonal" and y0.dim() < 2:
        raise ValueError(f"y0 must have shape (batch, *event_shape), got {tuple(y0.shape)}")
    if noise_type != "diagonal" and y0.dim() != 2:
        raise ValueError(
            f"y0 must have shape (batch, d) for {noise_type} noise, got {tuple(y0.shape)}"
        )
    if not bool(torch.isfinite(y0).all()):
        raise ValueError("y0 contains NaN or inf")
    return y0


def _check_fit(solver: Solver, sde: Any, method_name: str) -> None:
    if sde.noise_type not in NOISE_TYPES:
        raise ValueError(
            f"sde.noise_type must be one of {list(NOISE_TYPES)}, got {sde.noise_type!r}"
        )
    if sde.noise_type not in solver.noise_types:
        raise ValueError(
            f"method {method_name!r} supports noise types {sorted(solver.noise_types)}; "
            f"the SDE's noise_type is {sde.noise_type!r}"
        )
    if sde.sde_type != solver.sde_type:
        raise ValueError(
            f"method {method_name!r} integrates {solver.sde_type} SDEs; "
            f"the SDE's sde_type is {sde.sde_type!r}"
        )
    additive = sde.noise_type == "additive" or getattr(sde, "additive_noise", False)
    if solver.requires_additive and not additive:
        raise ValueError(
            f"method {method_name!r} needs additive noise: the SDE must declare "
            "additive_noise = True (its g must not depend on the state)"
        )
    # g = 0 must be declared, not probed: a probe at one point misses g(t0) = 0 < g(t).
    if solver.ode_only and getattr(sde, "is_ode", False) is not True:
        raise ValueError(
            f"method {method_name!r} is for ODEs: the SDE must declare is_ode = True (g = 0), "
            "as a diffusion's probability-flow ODE does"
        )
    for protocol in solver.requires:
        absent = missing(sde, protocol)
        if absent:
            raise ValueError(
                f"method {method_name!r} needs an SDE of protocol {protocol.__name__} "
                f"(revsde.solvers.protocols); this SDE lacks {absent}"
            )


def _noise_shape(sde: Any, t0: Tensor, y0: Tensor) -> tuple[int, ...]:
    if sde.noise_type == "diagonal":
        return tuple(y0.shape)
    if sde.noise_type == "scalar":
        return (y0.shape[0], 1)
    g = sde.g(t0, y0)
    if g.dim() != 3 or g.shape[:2] != y0.shape:
        raise ValueError(
            f"sde.g must return (batch, d, m) = ({y0.shape[0]}, {y0.shape[1]}, m) for "
            f"{sde.noise_type} noise, got {tuple(g.shape)}"
        )
    return (y0.shape[0], g.shape[2])


def sdeint(
    sde: Any,
    y0: Tensor,
    ts: Tensor | Sequence[float],
    bm: Any = None,
    method: str | type[Solver] | Solver | None = None,
    dt: float | None = UNSET,
    adaptive: bool = False,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    dt_min: float = 1e-5,
    options: dict[str, Any] | None = None,
    names: dict[str, str] | None = None,
    logqp: bool = False,
    extra: bool = False,
    extra_solver_state: Any = None,
    *,
    generator: torch.Generator | Sequence[torch.Generator] | Sequence[int] | Tensor | None = None,
    final_only: bool = False,
    progress: bool = False,
    callback: Callable[[StepInfo], bool | None] | None = None,
    check_finite: bool = True,
    max_steps: int = 100_000,
    controller: PIController | None = None,
    **solver_options: Any,
) -> Tensor:
    """Integrate ``sde`` from ``y0`` at ``ts[0]`` and return the states at ``ts``, shape
    ``(len(ts), *y0.shape)`` (``y0.shape`` with ``final_only``).

    The positional order and names of ``torchsde.sdeint(sde, y0, ts, bm, method, dt, adaptive,
    rtol, atol, dt_min, options, names, logqp, extra, extra_solver_state)``; revsde's own
    arguments are keyword-only. ``sde`` has ``f(t, y)``, ``g(t, y)``, ``noise_type`` (diagonal,
    scalar, additive or general) and ``sde_type``; ``ts`` increases strictly. Any
    ``(batch, *event_shape)`` state works for diagonal noise, ``(batch, d)`` otherwise.

    Called as torchsde is called, it gives torchsde's discretisation or refuses:

    - ``dt=<number>``: torchsde's steps, t0 + k dt from ts[0], the last cut short at ts[-1],
      and the states at ``ts`` between step points interpolated linearly, as torchsde does.
    - ``dt=None``: one step per interval of ``ts``, the way diffusion samplers run on a grid
      (``rsde.times(n)``).
    - ``dt`` not given: the steps are the grid ``ts`` as with ``dt=None``, except for the
      method names torchsde also takes (``euler``, ``milstein``, ``heun``), with which
      torchsde would step at its default dt = 1e-3: those calls are refused, asking for
      ``dt``. A ``ts`` of two times without ``dt`` warns that it is a single step.
    - ``method`` must be given (torchsde's default, ``srk``, is not a revsde method), and a
      torchsde method that revsde lacks (``srk``, ``midpoint``, ``euler_heun``,
      ``reversible_heun``, ``log_ode``) is refused with the one to use instead.

    ``solve`` is the same loop with ``dt=None`` as its default and the cost of the solve
    (`SolveStats`) returned beside the states.

    sdeint is differentiable: with grad mode on, gradients flow to y0 and to parameters of
    ``sde`` (and the noise is drawn into fresh tensors so that the graph stays valid). For
    sampling, call it under ``torch.no_grad()`` or ``torch.inference_mode()``, or use
    ``revsde.sample``, which does.

    Times are kept in float64 for a float64 state and float32 otherwise, whatever the state's
    precision (a bfloat16 grid cannot resolve the steps near the data).

    ``adaptive=True`` takes error-controlled steps (methods with an embedded error estimate:
    ``bosh3``, ``dopri5``, ``dpmpp_2s``, ``dpmpp_3s`` for ODEs, ``ggf`` for additive-noise
    SDEs; torchsde's step doubling is not implemented) with the tolerances ``rtol``/``atol``
    (scaled by the method's ``tolerance``), a first step ``dt`` (default 1 % of the span), at
    least ``dt_min``, at most ``max_steps`` tries, and the step-size ``controller`` (a
    `revsde.solvers.PIController`); outputs land exactly on ``ts``; a stochastic method draws
    its noise from ``bm`` or from a ``torchsde.BrownianInterval`` seeded from ``generator``,
    so that rejected steps are retried on the same Brownian path.

    torchsde's ``names``, ``logqp``, ``extra`` and ``extra_solver_state`` are accepted at their
    defaults only: anything else is a clear ``NotImplementedError``, never silently ignored.

    Args:
        bm: a torchsde Brownian object (``BrownianInterval``...) to draw increments from,
            for refinable paths and agreement with torchsde.
        method: a name in ``revsde.solvers.SOLVERS``, a [`Solver`][revsde.solvers.Solver]
            class, or an instance.
        dt: see above.
        options: solver options as a dict (torchsde's way); the same as ``**solver_options``.
        generator: a ``torch.Generator`` for the default noise; or, so that sample i does not
            depend on the batch it is solved in, per-sample integer seeds (a list of ints or a
            1-d integer tensor: counter-based normals, ``revsde.solvers.counter``, at about
            the cost of one generator) or a list of one ``torch.Generator`` per sample (one
            generator call per sample and step).
        final_only: return only the final state, shape ``y0.shape``, storing no path.
        progress: show a tqdm progress bar over the steps.
        callback: called as ``callback(info)`` with a `StepInfo` after each step; if
            it returns ``True`` the solve stops there and returns the states recorded so far
            (with ``final_only``, the current state).
        check_finite: check the state for NaN and inf (once per window of steps, searching
            a bad window for its first bad step; every step with a ``callback``) and stop with
            an error that names that step, its times and what produced the NaN or inf.
        **solver_options: passed to the solver's constructor (e.g. ``n_corrector_steps``).
    """
    check_torchsde_only(
        names=names,
        logqp=logqp,
        extra=extra,
        extra_solver_state=extra_solver_state,
    )
    if options:
        overlap = sorted(set(options) & set(solver_options))
        if overlap:
            raise TypeError(f"solver options {overlap} given both in options= and as keywords")
        solver_options = {**options, **solver_options}
    check_torchsde_call(method, dt, adaptive)
    if dt is UNSET and not adaptive and isinstance(ts, (Tensor, Sequence)) and len(ts) == 2:
        warnings.warn(
            "sdeint: ts holds two times and dt is not given, so this is a single step from "
            "ts[0] to ts[1] (torchsde would take steps of dt = 1e-3); pass dt= or a finer ts",
            TorchsdeConventionWarning,
            stacklevel=2,
        )
    return _integrate(
        sde,
        y0,
        ts,
        method,
        bm=bm,
        dt=None if dt is UNSET else dt,
        adaptive=adaptive,
        rtol=rtol,
        atol=atol,
        dt_min=dt_min,
        generator=generator,
        final_only=final_only,
        progress=progress,
        callback=callback,
        check_finite=check_finite,
        max_steps=max_steps,
        controller=controller,
        solver_options=solver_options,
    ).ys


def solve(
    sde: Any,
    y0: Tensor,
    ts: Tensor | Sequence[float],
    method: str | type[Solver] | Solver,
    *,
    bm: Any = None,
    dt: float | None = None,
    adaptive: bool = False,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    dt_min: float = 1e-5,
    generator: torch.Generator | Sequence[torch.Generator] | Sequence[int] | Tensor | None = None,
    final_only: bool = False,
    progress: bool = False,
    callback: Callable[[StepInfo], bool | None] | None = None,
    check_finite: bool = True,
    max_steps: int = 100_000,
    controller: PIController | None = None,
    **solver_options: Any,
) -> Solution:
    """Integrate ``sde`` from ``y0`` at ``ts[0]`` with ``method`` and return a `Solution`:
    the states at ``ts`` (or the final state with ``final_only``) and the solve's `SolveStats`
    (steps, model evaluations, rejected steps, the grid an adaptive solve chose).

    The loop of ``sdeint``, with one step per interval of ``ts`` unless ``dt`` is given
    (then torchsde's steps of ``dt``, states at ``ts`` interpolated); every other argument
    means what it does there."""
    return _integrate(
        sde,
        y0,
        ts,
        method,
        bm=bm,
        dt=dt,
        adaptive=adaptive,
        rtol=rtol,
        atol=atol,
        dt_min=dt_min,
        generator=generator,
        final_only=final_only,
        progress=progress,
        callback=callback,
        check_finite=check_finite,
        max_steps=max_steps,
        controller=controller,
        solver_options=solver_options,
    )


def _integrate(
    sde: Any,
    y0: Tensor,
    ts: Tensor | Sequence[float],
    method: str | type[Solver] | Solver,
    *,
    bm: Any,
    dt: float | None,
    adaptive: bool,
    rtol: float,
    atol: float,
    dt_min: float,
    generator: Any,
    final_only: bool,
    progress: bool,
    callback: Callable[[StepInfo], bool | None] | None,
    check_finite: bool,
    max_steps: int,
    controller: PIController | None,
    solver_options: dict[str, Any],
) -> Solution:
    solver, method_name = _checked_solver(sde, method, solver_options)
    y0 = _check_state(y0, sde.noise_type)
    times = check_times(ts, y0)
    dt = check_dt(dt)
    if adaptive:
        _check_adaptive(solver, method_name, generator, callback, progress)
        check_tolerances(rtol, atol, dt_min, max_steps, times[-1] - times[0])
    # Times and coefficients stay in float32/float64 whatever the state's precision.
    tdtype = torch.float64 if y0.dtype == torch.float64 else torch.float32

    def as_t(value: float) -> Tensor:
        return torch.full((), value, dtype=tdtype, device=y0.device)

    with _scope(sde, times):
        counted = _Counted(sde, [n for p in solver.requires for n in evaluations(p)])
        shape = _noise_shape(sde, as_t(times[0]), y0)
        if adaptive:
            if bm is None and not solver.ode_only:
                bm = _brownian_interval(times, shape, y0, generator, tdtype, solver.needs_levy_area)
            noise = noise_source(bm, generator, shape, y0, solver)
            out, n_steps, n_rejected, accepted = solve_adaptive(
                counted,
                solver,
                y0,
                times,
                noise,
                as_t,
                rtol=float(rtol),
                atol=float(atol),
                dt0=dt,
                dt_min=float(dt_min),
                max_steps=max_steps,
                final_only=final_only,
                check_finite=check_finite,
                controller=controller or PIController(),
            )
            result = out if final_only else torch.stack(out)
            return Solution(result, _stats(counted, n_steps, n_rejected, tuple(accepted)))
        n_steps, points = fixed_steps(times, dt)
        noise = noise_source(bm, generator, shape, y0, solver, n_steps)
        result, n_steps = fixed_step_loop(
            counted,
            solver,
            y0,
            times,
            points,
            n_steps,
            noise,
            tdtype,
            final_only=final_only,
            callback=callback,
            check_finite=check_finite,
            progress=progress,
            method_name=method_name,
        )
    if not check_finite and not bool(torch.isfinite(result).all()):
        raise NonFiniteError(where_non_finite(result, times, final_only))
    return Solution(result, _stats(counted, n_steps, 0))


class FixedStepSolve:
    """A fixed-step solve of ``sde`` over the grid ``ts`` with ``method``, settled on the host
    when made (the method and its fit, the grid as floats and as one tensor on ``like``'s
    device), and run from any state ``y0`` shaped as ``like`` by ``run``, which neither reads
    anything back to the host nor copies anything to the device: a CUDA graph can capture it
    (``revsde.sampling.capture``). It checks no state for NaN or inf: check the result."""

    def __init__(
        self,
        sde: Any,
        ts: Tensor | Sequence[float],
        method: str | type[Solver] | Solver,
        *,
        like: Tensor,
        **solver_options: Any,
    ) -> None:
        self.solver, self.method_name = _checked_solver(sde, method, solver_options)
        self.sde = sde
        like = _check_state(like, sde.noise_type)
        self.times = check_times(ts, like)
        self.tdtype = torch.float64 if like.dtype == torch.float64 else torch.float32
        self.n_steps, points = fixed_steps(self.times, None)
        self.points = list(points)
        self.time_tensor = torch.tensor(self.points, dtype=self.tdtype, device=like.device)
        self._evaluations = [n for p in self.solver.requires for n in evaluations(p)]

    def run(self, y0: Tensor, generator: Any = None) -> Tensor:
        """The final state from ``y0``; ``generator`` as for ``solve`` (``None``: the default
        generator of ``y0``'s device; per-sample seeds as a tensor on that device)."""
        with _scope(self.sde, self.times):
            counted = _Counted(self.sde, self._evaluations)
            shape = _noise_shape(self.sde, self.time_tensor[0], y0)
            noise = noise_source(None, generator, shape, y0, self.solver, self.n_steps)
            y, _ = fixed_step_loop(
                counted,
                self.solver,
                y0,
                self.times,
                iter(self.points),
                self.n_steps,
                noise,
                self.tdtype,
                final_only=True,
                callback=None,
                check_finite=False,
                progress=False,
                method_name=self.method_name,
                time_tensor=self.time_tensor,
            )
        return y


def _checked_solver(
    sde: Any, method: str | type[Solver] | Solver, solver_options: dict[str, Any]
) -> tuple[Solver, str]:
    """The configured solver and its name for messages, after checking that ``sde`` follows
    torchsde's protocol and fits the method."""
    solver = resolve(method, _caller_keywords=_SDEINT_KEYWORDS, **solver_options)
    method_name = method if isinstance(method, str) else type(solver).__name__
    for attr in ("noise_type", "sde_type", "f", "g"):
        if getattr(sde, attr, None) is None:
            raise TypeError(f"sde must follow the torchsde protocol: it has no {attr!r}")
    _check_fit(solver, sde, method_name)
    return solver, method_name


def _scope(sde: Any, times: list[float]):
    scope = getattr(sde, "solve_scope", None)
    return scope(times[0], times[-1]) if callable(scope) else contextlib.nullcontext()


def fixed_step_loop(
    counted: _Counted,
    solver: Solver,
    y0: Tensor,
    times: list[float],
    points: Iterator[float],
    n_steps: int,
    noise: Any,
    tdtype: torch.dtype,
    *,
    final_only: bool,
    callback: Callable[[StepInfo], bool | None] | None,
    check_finite: bool,
    progress: bool,
    method_name: str,
    time_tensor: Tensor | None = None,
) -> tuple[Tensor, int]:
    """The fixed-step loop over the step ``points`` (inside the SDE's ``solve_scope``):
    returns the states at ``times`` (the final state with ``final_only``) and the steps taken.
    With ``time_tensor`` (every point, on the state's device) and no ``check_finite``,
    ``callback`` or ``progress``, it reads nothing back to the host and copies nothing to the
    device, so that a CUDA graph can capture it (``revsde.sampling.capture``)."""
    sde = counted._sde
    y, state = y0, solver.init(counted, _first_time(times, tdtype, y0, time_tensor), y0, n_steps)
    outputs = [y0] if not final_only else []
    pending = 1  # the next output time's index in ``times``
    prepare = getattr(sde, "prepare_times", None)
    grid = timed(points, prepare if callable(prepare) else None, tdtype, y0.device, time_tensor)
    # with a callback, no step may show it a state that has not been checked
    watch = FiniteWatch(counted, n_steps, 1 if callback is not None else window_for(y0))
    if progress:
        from tqdm.auto import tqdm

        grid = tqdm(grid, total=n_steps, desc=method_name, unit="step")
    step, draw = solver.step, noise
    for k, (a, b, t0, t1) in enumerate(grid):
        y_prev = y
        y, state = step(counted, t0, t1, y, draw(t0, t1, b - a), state)
        if y.dtype != y0.dtype:  # coefficients are float32/64: the update takes y's dtype
            y = y.to(y0.dtype)
        if check_finite:
            watch.after_step(k, a, b, t0, y_prev, y)
        while pending < len(times) and times[pending] <= b:
            if not final_only:
                outputs.append(interpolate(a, b, y_prev, y, times[pending]))
            pending += 1
        if callback is not None:
            info = StepInfo(k, n_steps, a, b, y, _last_denoised(sde), forward_time(sde, b))
            if callback(info) is True:
                n_steps = k + 1
                break
    watch.flush()
    return (y if final_only else torch.stack(outputs)), n_steps


def _first_time(times, tdtype, y0: Tensor, time_tensor: Tensor | None) -> Tensor:
    if time_tensor is not None:
        return time_tensor[0]
    return torch.full((), times[0], dtype=tdtype, device=y0.device)


def _stats(
    counted: _Counted, n_steps: int, n_rejected: int, accepted: tuple[float, ...] | None = None
) -> SolveStats:
    return SolveStats(
        n_steps,
        counted.n_f + counted.n_model,
        counted.n_f,
        counted.n_model,
        counted.n_g,
        n_rejected,
        accepted,
    )


def _check_adaptive(solver: Solver, method_name: str, generator, callback, progress) -> None:
    if solver.error_exponent is None:
        from .registry import SOLVERS

        adaptive = sorted(n for n, c in SOLVERS.items() if c.error_exponent is not None)
        raise ValueError(
            f"adaptive=True needs a method with an embedded error estimate; {method_name!r} "
            f"has none (adaptive methods: {adaptive})"
        )
    if isinstance(generator, Sequence) or is_seeds(generator):
        raise ValueError(
            "adaptive=True: the step sizes are shared by the batch, so per-sample generators "
            "cannot make samples batch-independent; pass one torch.Generator"
        )
    if callback is not None or progress:
        raise ValueError("adaptive=True does not support callback or progress yet")


def _brownian_interval(
    times: list[float], shape, y0: Tensor, generator, tdtype: torch.dtype, levy: bool
) -> Any:
    """A torchsde BrownianInterval over the solve, seeded from ``generator`` (or torch's global
    generator), so that retried steps query one Brownian path. Its ends are the loop's time
    values in their own dtype: float32 times may round past the float ends (0.999 -> 0.99900001),
    which torchsde warns about on every query there. A method that reads the space-time Lévy
    area gets an interval that keeps it."""
    import torchsde

    device = generator.device if generator is not None else None  # a CUDA generator draws there
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=device))
    t0, t1 = (float(torch.tensor(t, dtype=tdtype)) for t in (times[0], times[-1]))
    return torchsde.BrownianInterval(
        t0=t0,
        t1=t1,
        size=shape,
        dtype=y0.dtype,
        device=y0.device,
        entropy=seed,
        levy_area_approximation="space-time" if levy else "none",
    )


def noise_source(bm, generator, shape, y0: Tensor, solver: Solver, steps: int | None = None):
    kw = {
        "dtype": y0.dtype,
        "device": y0.device,
        "levy": solver.needs_levy_area,
        "n_extra": solver.n_extra_normals,
        # With grad mode on, autograd may save a step's noise for backward: refilling a
        # reused buffer would corrupt the graph, so each step then gets fresh tensors.
        "reuse": not torch.is_grad_enabled(),
    }
    if bm is not None:
        if isinstance(generator, Sequence) or is_seeds(generator):
            raise ValueError("give either bm or per-sample generators, not both")
        return BrownianNoise(bm, shape, y0.shape, generator=generator, **kw)
    if is_seeds(generator):
        if not solver.uses_noise:
            return NoNoise(shape, dtype=y0.dtype, device=y0.device)
        return SeedNoise(generator, shape, y0.shape, steps=steps, **kw)
    if isinstance(generator, Sequence):
        if not solver.uses_noise and len(generator) == shape[0]:
            return NoNoise(shape, dtype=y0.dtype, device=y0.device)
        return PerSampleNoise(generator, shape, y0.shape, **kw)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            "generator must be a torch.Generator, a list of one per sample, or per-sample "
            f"integer seeds (a list of ints or a 1-d integer tensor), got "
            f"{type(generator).__name__}"
        )
    if not solver.uses_noise:
        return NoNoise(shape, dtype=y0.dtype, device=y0.device)
    return RandnNoise(shape, y0.shape, generator=generator, **kw)


def _last_denoised(sde: Any) -> Tensor | None:
    last = getattr(sde, "last_denoised", None)
    return last() if callable(last) else None
