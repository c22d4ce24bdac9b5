"""One Brownian path shared by many solves, so that their outputs can be compared sample by
sample: the coupling behind ``revsde compare``'s low-noise error (``metrics.coupled_moment_error``).

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

import torch
from torch import Tensor


class GridBrownianPath:
    """A Brownian path W fixed at the points of a time grid and queried anywhere, with the
    query interface of torchsde's Brownian objects (``bm(ta, tb)`` = W(tb) - W(ta), ``bm(t)`` =
    W(t) - W(t_0)); the solvers read it through ``sdeint(..., bm=path)``.

    At a grid point the stored value is returned. Between two known points t_l < t < t_r (grid
    points, or points this path has already answered) W(t) is drawn from the Brownian bridge,

        W(t) = W(t_l) + a (W(t_r) - W(t_l)) + sqrt(a (1 - a) (t_r - t_l)) Z,
        a = (t - t_l) / (t_r - t_l),

    Z ~ N(0, I), and remembered: whatever times a solve queries, in whatever order (an adaptive
    solve's rejected steps included), it sees one Brownian path that passes through the grid
    values. ``fork()`` gives a path with the same grid values and no remembered points, and a
    bridge generator restarted from the same seed: each solve on its own fork sees the same
    path wherever it queries the grid, and the numbers of one solve do not depend on which other
    solves ran before it.

    Written for ``revsde compare`` rather than taken from torchsde: torchsde's
    ``BrownianInterval`` with ``halfway_tree=True`` also gives query-independent paths, but
    cost 12 ms per step at 4000 samples in 2-D on a 2-core CPU (a 2.3 ms Euler step
    otherwise), and its default tree cannot be copied per solve (it deepens with every query).
    Memory: the grid values, ``len(times) * prod(shape)`` numbers.
    """

    levy_area_approximation = "none"

    def __init__(self, times: Sequence[float] | Tensor, values: Tensor, *, seed: int = 0) -> None:
        grid = [float(t) for t in times]
        if len(grid) < 2 or any(b <= a for a, b in itertools.pairwise(grid)):
            raise ValueError("times must be at least two strictly increasing values")
        if values.shape[0] != len(grid):
            raise ValueError(
                f"values must have one row per time ({len(grid)}), got shape {tuple(values.shape)}"
            )
        self._grid, self._values, self._seed = grid, values, int(seed)
        # points are snapped to the grid within this; queries may overrun the ends by it (float32
        # loop times round past the float64 ends)
        self._tol = 1e-9 * (grid[-1] - grid[0])
        self._end_tol = 1e-6 * (grid[-1] - grid[0])
        self._extra: dict[int, tuple[list[float], list[Tensor]]] = {}
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
    ) -> GridBrownianPath:
        """A path with W(times[0]) = 0 and independent N(0, (t_{k+1} - t_k) I) increments
        between grid points, drawn from ``seed`` (the bridges use ``seed + 1``)."""
        grid = torch.as_tensor(times, dtype=torch.float64)
        gen = torch.Generator(device=device or "cpu").manual_seed(int(seed))
        z = torch.randn(
            (grid.numel() - 1, *shape),
            generator=gen,
            dtype=dtype or torch.get_default_dtype(),
            device=device,
        )
        steps = grid.diff().sqrt().to(z).reshape(-1, *([1] * len(shape)))
        values = torch.cat([torch.zeros_like(z[:1]), torch.cumsum(z * steps, dim=0)])
        return cls(grid, values, seed=int(seed) + 1)

    def fork(self) -> GridBrownianPath:
        """The same grid values (shared, not copied), no remembered points, bridges from the
        seed again."""
        return GridBrownianPath(self._grid, self._values, seed=self._seed)

    @property
    def shape(self) -> torch.Size:
        return self._values.shape[1:]

    @property
    def dtype(self) -> torch.dtype:
        return self._values.dtype

    @property
    def device(self) -> torch.device:
        return self._values.device

    def __call__(self, ta: float | Tensor, tb: float | Tensor | None = None) -> Tensor:
        if tb is None:
            return self.value(ta)
        return self.value(tb) - self.value(ta)

    def value(self, t: float | Tensor) -> Tensor:
        """W(t) - W(times[0])."""
        t = float(t)
        grid = self._grid
        if not grid[0] - self._end_tol <= t <= grid[-1] + self._end_tol:
            raise ValueError(f"time {t} is outside the path's range [{grid[0]}, {grid[-1]}]")
        t = min(max(t, grid[0]), grid[-1])
        k = bisect.bisect_left(grid, t)
        if k < len(grid) and grid[k] - t <= self._tol:
            return self._values[k]
        if t - grid[k - 1] <= self._tol:
            return self._values[k - 1]
        cell = k - 1  # grid[cell] < t < grid[cell + 1]
        times, values = self._extra.setdefault(cell, ([], []))
        i = bisect.bisect_left(times, t)
        if i < len(times) and times[i] - t <= self._tol:
            return values[i]
        if i > 0 and t - times[i - 1] <= self._tol:
            return values[i - 1]
        t_l, w_l = (times[i - 1], values[i - 1]) if i > 0 else (grid[cell], self._values[cell])
        if i < len(times):
            t_r, w_r = times[i], values[i]
        else:
            t_r, w_r = grid[cell + 1], self._values[cell + 1]
        frac = (t - t_l) / (t_r - t_l)
        spread = math.sqrt((t - t_l) * (t_r - t) / (t_r - t_l))
        z = torch.randn(w_l.shape, generator=self._generator, dtype=w_l.dtype, device=w_l.device)
        w = w_l + frac * (w_r - w_l) + spread * z
        times.insert(i, t)
        values.insert(i, w)
        return w
