"""One Brownian path shared by many solves, so that their outputs can be compared sample by
sample: the coupling behind ``revsde compare``'s low-noise error
(``revsde.evaluation.metrics.coupled_moment_error``) and ``tune_grid``'s stochastic objective.

A coarse solve and a fine reference solve that start from the same x_T and read their
increments off the same Brownian path end close to each other, sample by sample; the difference
of their moment features then carries little Monte Carlo noise, while its mean is still the
difference of the two laws' moments (a coupling changes the variance of an estimate, never its
mean).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor


class GridBrownianPath:
    """A Brownian path W fixed at the points of a time grid and queried anywhere, with the
    query interface of torchsde's Brownian objects (``bm(ta, tb)`` = W(tb) - W(ta), ``bm(t)`` =
    W(t) - W(t_0), ``bm(ta, tb, return_U=True)`` also the space-time integral
    U = int_ta^tb (W_s - W_ta) ds); the solvers read it through ``sdeint(..., bm=path)``.

    At a grid point the stored value is returned. Between two known points t_l < t < t_r (grid
    points, or points this path has already answered) W(t) is drawn from the Brownian bridge,

        W(t) = W(t_l) + a (W(t_r) - W(t_l)) + sqrt(a (1 - a) (t_r - t_l)) Z,
        a = (t - t_l) / (t_r - t_l),

    Z ~ N(0, I), and remembered: whatever times a solve queries, in whatever order (an adaptive
    solve's rejected steps included), it sees one Brownian path that passes through the grid
    values. With ``integrals`` (the running integral I(t) = int_{t_0}^t W_s ds at the grid
    points; ``sample(..., levy_area=True)``) the path also answers U, from I: the pair (W, I) is
    a Gaussian Markov process, so (W(t), I(t)) is drawn from its law given the pairs at t_l
    and t_r (``_bridge``), and methods that need space-time Lévy area (``sra1``) read one
    consistent path as well.

    ``fork()`` gives a path with the same grid values and no remembered points, and a bridge
    generator restarted from the same seed: each solve on its own fork sees the same path
    wherever it queries the grid, and the numbers of one solve do not depend on which other
    solves ran before it.

    Written for ``revsde compare`` rather than taken from torchsde: torchsde's
    ``BrownianInterval`` with ``halfway_tree=True`` also gives query-independent paths, but
    cost 12 ms per step at 4000 samples in 2-D on a 2-core CPU (a 2.3 ms Euler step
    otherwise), and its default tree cannot be copied per solve (it deepens with every query).
    Memory: the grid values, ``len(times) * prod(shape)`` numbers, twice that with integrals.
    U is a difference of running integrals: in float32 it carries a rounding error of about
    eps |I| (relative 1e-3 for a 1e-3 step of a path on [0, 1]), harmless to a coupling, which
    only needs the two solves close, but a reason to keep a study that needs exact Lévy areas
    in float64.
    """

    def __init__(
        self,
        times: Sequence[float] | Tensor,
        values: Tensor,
        integrals: Tensor | None = None,
        *,
        seed: int = 0,
    ) -> None:
        grid = [float(t) for t in times]
        if len(grid) < 2 or any(b <= a for a, b in itertools.pairwise(grid)):
            raise ValueError("times must be at least two strictly increasing values")
        if values.shape[0] != len(grid):
            raise ValueError(
                f"values must have one row per time ({len(grid)}), got shape {tuple(values.shape)}"
            )
        if integrals is not None and integrals.shape != values.shape:
            raise ValueError(
                f"integrals must have the shape of values {tuple(values.shape)}, got "
                f"{tuple(integrals.shape)}"
            )
        self._grid, self._values, self._integrals = grid, values, integrals
        self._seed = int(seed)
        # points are snapped to the grid within this; queries may overrun the ends by it (float32
        # loop times round past the float64 ends)
        self._tol = 1e-9 * (grid[-1] - grid[0])
        self._end_tol = 1e-6 * (grid[-1] - grid[0])
        self._extra: dict[int, tuple[list[float], list[_Point]]] = {}
        self._generator = torch.Generator(device=values.device).manual_seed(self._seed)

    @classmethod
    def sample(
        cls,
        times: Sequence[float] | Tensor,
        shape: Sequence[int],
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        seed: int = 0,
        levy_area: bool = False,
    ) -> GridBrownianPath:
        """A path with W(times[0]) = 0 and independent N(0, h_k I) increments B_k between grid
        points (h_k = t_{k+1} - t_k), drawn from ``seed`` (the bridges use ``seed + 1``); with
        ``levy_area`` also the running integral, from each cell's
        J_k = int_{t_k}^{t_{k+1}} (W_s - W_{t_k}) ds = h_k B_k / 2 + sqrt(h_k^3 / 12) Z'_k."""
        grid = torch.as_tensor(times, dtype=torch.float64)
        gen = torch.Generator(device=device or "cpu").manual_seed(int(seed))
        dtype = dtype or torch.get_default_dtype()
        rows = (2 if levy_area else 1, grid.numel() - 1, *shape)
        z = torch.randn(rows, generator=gen, dtype=dtype, device=device)
        h = grid.diff().to(z).reshape(-1, *([1] * len(shape)))
        increments = z[0] * h.sqrt()
        values = torch.cat([torch.zeros_like(z[0, :1]), torch.cumsum(increments, dim=0)])
        integrals = None
        if levy_area:
            cell = h * values[:-1] + h * increments / 2 + (h**3 / 12).sqrt() * z[1]
            integrals = torch.cat([torch.zeros_like(cell[:1]), torch.cumsum(cell, dim=0)])
        return cls(grid, values, integrals, seed=int(seed) + 1)

    def fork(self) -> GridBrownianPath:
        """The same grid values (shared, not copied), no remembered points, bridges from the
        seed again."""
        return GridBrownianPath(self._grid, self._values, self._integrals, seed=self._seed)

    @property
    def levy_area_approximation(self) -> str:
        return "none" if self._integrals is None else "space-time"

    @property
    def shape(self) -> torch.Size:
        return self._values.shape[1:]

    @property
    def dtype(self) -> torch.dtype:
        return self._values.dtype

    @property
    def device(self) -> torch.device:
        return self._values.device

    def __call__(
        self, ta: float | Tensor, tb: float | Tensor | None = None, return_U: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        if return_U and self._integrals is None:
            raise ValueError("this path has no space-time Lévy area: sample it with levy_area=True")
        if tb is None:
            if return_U:
                raise ValueError("return_U needs an interval (ta, tb)")
            return self.value(ta)
        a, b = self._point(ta), self._point(tb)
        dw = b.w - a.w
        if not return_U:
            return dw
        return dw, b.i - a.i - (float(tb) - float(ta)) * a.w

    def value(self, t: float | Tensor) -> Tensor:
        """W(t) - W(times[0])."""
        return self._point(t).w

    def _point(self, t: float | Tensor) -> _Point:
        t = float(t)
        grid = self._grid
        if not grid[0] - self._end_tol <= t <= grid[-1] + self._end_tol:
            raise ValueError(f"time {t} is outside the path's range [{grid[0]}, {grid[-1]}]")
        t = min(max(t, grid[0]), grid[-1])
        k = bisect.bisect_left(grid, t)
        if k < len(grid) and grid[k] - t <= self._tol:
            return self._grid_point(k)
        if t - grid[k - 1] <= self._tol:
            return self._grid_point(k - 1)
        cell = k - 1  # grid[cell] < t < grid[cell + 1]
        times, points = self._extra.setdefault(cell, ([], []))
        i = bisect.bisect_left(times, t)
        if i < len(times) and times[i] - t <= self._tol:
            return points[i]
        if i > 0 and t - times[i - 1] <= self._tol:
            return points[i - 1]
        t_l, left = (times[i - 1], points[i - 1]) if i > 0 else (grid[cell], self._grid_point(cell))
        if i < len(times):
            t_r, right = times[i], points[i]
        else:
            t_r, right = grid[cell + 1], self._grid_point(cell + 1)
        point = self._bridge(t_l, left, t, t_r, right)
        times.insert(i, t)
        points.insert(i, point)
        return point

    def _grid_point(self, k: int) -> _Point:
        return _Point(self._values[k], None if self._integrals is None else self._integrals[k])

    def _bridge(self, t_l: float, left: _Point, t: float, t_r: float, right: _Point) -> _Point:
        h = t_r - t_l
        a = (t - t_l) / h
        z = torch.randn(
            (2 if left.i is not None else 1, *left.w.shape),
            generator=self._generator,
            dtype=left.w.dtype,
            device=left.w.device,
        )
        if left.i is None:
            w = left.w + a * (right.w - left.w) + math.sqrt(a * (1 - a) * h) * z[0]
            return _Point(w, None)
        # (B, J) = (W - W_l, int (W - W_l) ds) from t_l, in units sqrt(h) and h^{3/2}: over a
        # fraction x of the interval Cov = [[x, x^2/2], [x^2/2, x^3/3]]. Condition the pair at
        # t on the pair at t_r (Gaussian regression on the 2 x 2 blocks).
        b = 1.0 - a
        c12 = ((a, a * a / 2 + b * a), (a * a / 2, a**3 / 3 + b * a * a / 2))
        inv = ((4.0, -6.0), (-6.0, 12.0))  # of [[1, 1/2], [1/2, 1/3]]
        m = [[sum(c12[r][k] * inv[k][c] for k in range(2)) for c in range(2)] for r in range(2)]
        sigma = ((a, a * a / 2), (a * a / 2, a**3 / 3))
        cov = [
            [sigma[r][c] - sum(m[r][k] * c12[c][k] for k in range(2)) for c in range(2)]
            for r in range(2)
        ]
        l00 = math.sqrt(max(cov[0][0], 0.0))
        l10 = cov[1][0] / l00 if l00 > 0 else 0.0
        l11 = math.sqrt(max(cov[1][1] - l10 * l10, 0.0))
        root_h = math.sqrt(h)
        db = (right.w - left.w) / root_h
        dj = (right.i - left.i - h * left.w) / (h * root_h)
        b_t = m[0][0] * db + m[0][1] * dj + l00 * z[0]
        j_t = m[1][0] * db + m[1][1] * dj + l10 * z[0] + l11 * z[1]
        s = t - t_l
        return _Point(left.w + root_h * b_t, left.i + s * left.w + h * root_h * j_t)


class _Point(NamedTuple):
    """W and (with Lévy area) the running integral I at one time."""

    w: Tensor
    i: Tensor | None


class StackedBrownianPath:
    """Independent Brownian paths side by side along the batch (first) dimension, queried as
    one: ``bm(ta, tb)`` concatenates each path's answer. Each block of rows keeps its own
    grid, so rows that need a fine stored path and rows for which a coarse one is enough share
    one solve (``revsde compare``'s extra draws for the SDE runs at few steps).

    Args:
        paths: ``GridBrownianPath`` objects (or any with its query interface and ``fork``)
            with one dtype, device and event shape, and one Lévy area approximation.
    """

    def __init__(self, paths: Sequence[GridBrownianPath]) -> None:
        paths = list(paths)
        if not paths:
            raise ValueError("paths must hold at least one path")
        first = paths[0]
        for p in paths[1:]:
            same = (p.shape[1:], p.dtype, p.device, p.levy_area_approximation) == (
                first.shape[1:],
                first.dtype,
                first.device,
                first.levy_area_approximation,
            )
            if not same:
                raise ValueError(
                    "paths must share event shape, dtype, device and Lévy area approximation, "
                    f"got {tuple(first.shape)} {first.dtype} {first.device} "
                    f"{first.levy_area_approximation} and {tuple(p.shape)} {p.dtype} {p.device} "
                    f"{p.levy_area_approximation}"
                )
        self._paths = paths

    def fork(self) -> StackedBrownianPath:
        """Each path forked (``GridBrownianPath.fork``)."""
        return StackedBrownianPath([p.fork() for p in self._paths])

    @property
    def paths(self) -> tuple[GridBrownianPath, ...]:
        """The paths, in row order."""
        return tuple(self._paths)

    @property
    def levy_area_approximation(self) -> str:
        return self._paths[0].levy_area_approximation

    @property
    def shape(self) -> torch.Size:
        rows = sum(p.shape[0] for p in self._paths)
        return torch.Size((rows, *self._paths[0].shape[1:]))

    @property
    def dtype(self) -> torch.dtype:
        return self._paths[0].dtype

    @property
    def device(self) -> torch.device:
        return self._paths[0].device

    def __call__(
        self, ta: float | Tensor, tb: float | Tensor | None = None, return_U: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        answers = [p(ta, tb, return_U) for p in self._paths]
        if return_U:
            return torch.cat([a[0] for a in answers]), torch.cat([a[1] for a in answers])
        return torch.cat(answers)
