"""The shared Brownian path of ``revsde compare`` and the coupled error it makes possible."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from revsde import solvers
from revsde.evaluation.compare import run_study
from revsde.evaluation.metrics import (
    coupled_moment_error,
    mixture_moment_deviations,
    mixture_moment_error,
)
from revsde.evaluation.monte_carlo import (
    EXTRA_PATH_BYTES,
    MORE_DRAWS_STEPS,
    REFERENCE_COARSE_STRIDE,
    REFERENCE_SDE_STEPS,
    SDE_SAMPLES_FACTOR,
    default_sde_samples,
)
from revsde.evaluation.problems import mixture_2d
from revsde.sampling.brownian import GridBrownianPath, StackedBrownianPath

D64 = torch.float64


def test_grid_values_are_returned_and_increments_telescope():
    times = torch.linspace(0.0, 2.0, 9, dtype=D64)
    path = GridBrownianPath.sample(times, (5, 2), dtype=D64, seed=3)
    w = torch.stack([path(t) for t in times])
    assert torch.equal(w[0], torch.zeros(5, 2, dtype=D64))
    assert torch.equal(path(times[2], times[6]), w[6] - w[2])
    # off-grid points, queried out of order, make one path: increments over any partition
    # add up to the grid difference, and a repeated query returns the remembered value
    cuts = [0.25, 0.1, 0.3, 0.2, 0.26]
    first = {c: path(c).clone() for c in cuts}
    points = [0.0, 0.1, 0.2, 0.25, 0.26, 0.3, 0.5]
    total = sum(path(a, b) for a, b in itertools.pairwise(points))
    assert torch.allclose(total, w[2] - w[0], rtol=0, atol=1e-14)
    assert all(torch.equal(path(c), first[c]) for c in cuts)
    # a fork sees the same grid and, for the same queries, the same bridges
    fork = path.fork()
    assert torch.equal(fork(times[5]), w[5])
    assert torch.equal(fork(0.25), first[0.25])
    assert torch.equal(fork(0.1), first[0.1])  # the same query order: the same bridges


def test_off_grid_increments_are_independent_with_variance_their_length():
    """Queries at 0.3, then 0.1, then 0.2 inside the single grid cell [0, 1]: the four
    increments must be independent N(0, h). A wrong bridge (e.g. a variance without the
    square root, or the interpolation weight from the wrong end) fails this."""
    n = 400_000
    path = GridBrownianPath.sample([0.0, 1.0], (n,), dtype=D64, seed=0)
    for t in (0.3, 0.1, 0.2):
        path(t)
    points = [0.0, 0.1, 0.2, 0.3, 1.0]
    inc = torch.stack([path(a, b) for a, b in itertools.pairwise(points)])
    h = torch.tensor(points, dtype=D64).diff()
    var = inc.var(dim=1)
    se = h * math.sqrt(2.0 / n)  # standard error of a variance estimate of N(0, h)
    assert torch.all((var - h).abs() < 4.5 * se), (var, h)
    corr = torch.corrcoef(inc)
    off = corr[~torch.eye(4, dtype=torch.bool)]
    assert off.abs().max() < 4.5 / math.sqrt(n)


def test_the_levy_area_of_every_piece_has_the_joint_law_of_brownian_motion():
    """With levy_area=True: over any interval of length h, (W(b) - W(a), U) with
    U = int_a^b (W_s - W_a) ds has Var h, h^3/3 and covariance h^2/2, independently across
    disjoint intervals, whether the interval is a grid cell's piece bridged out of order or
    straddles a grid point. A wrong entry in the bridge's regression (or the cell's J) fails
    this."""
    n = 400_000
    path = GridBrownianPath.sample([0.0, 0.5, 1.0], (n,), dtype=D64, seed=0, levy_area=True)
    assert path.levy_area_approximation == "space-time"
    for t in (0.3, 0.1, 0.7, 0.2):
        path(t)
    points = [0.0, 0.1, 0.2, 0.3, 0.7, 1.0]
    pieces = [path(a, b, return_U=True) for a, b in itertools.pairwise(points)]
    for (dw, u), h in zip(pieces, torch.tensor(points, dtype=D64).diff().tolist(), strict=True):
        var_w, var_u, cov = dw.var(), u.var(), ((dw - dw.mean()) * (u - u.mean())).mean()
        assert abs(var_w - h) < 4.5 * h * math.sqrt(2 / n)
        assert abs(var_u - h**3 / 3) < 4.5 * h**3 / 3 * math.sqrt(2 / n)
        cov_se = math.sqrt((h * h**3 / 3 + h**4 / 4) / n)
        assert abs(cov - h**2 / 2) < 4.5 * cov_se, (h, float(cov), h**2 / 2)
    flat = torch.stack([x for pair in pieces for x in pair])
    corr = torch.corrcoef(flat)
    for i in range(len(pieces)):  # pieces of different intervals are uncorrelated
        corr[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = 0.0
    assert corr.abs().max() < 4.5 / math.sqrt(n)
    # U adds up over a partition: U[a, c] = U[a, b] + U[b, c] + (c - b)(W_b - W_a)
    whole = path(0.1, 0.7, return_U=True)[1]
    parts = pieces[1][1] + pieces[2][1] + pieces[3][1] + 0.1 * pieces[1][0]
    parts = parts + 0.4 * (pieces[1][0] + pieces[2][0])
    assert torch.allclose(whole, parts, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="no space-time Lévy area"):
        GridBrownianPath.sample([0.0, 1.0], (2,))(0.0, 1.0, return_U=True)


def test_bad_queries_and_grids_are_refused():
    path = GridBrownianPath.sample([0.0, 1.0], (3,), dtype=D64)
    with pytest.raises(ValueError, match=r"time 1.5 is outside the path's range \[0.0, 1.0\]"):
        path(0.5, 1.5)
    with pytest.raises(ValueError, match="strictly increasing"):
        GridBrownianPath([0.0, 0.0], torch.zeros(2, 3))
    with pytest.raises(ValueError, match="one row per time"):
        GridBrownianPath([0.0, 1.0], torch.zeros(3, 3))


def test_sdeint_reads_its_increments_off_the_path():
    """Euler–Maruyama on the path's own grid uses exactly the stored increments; an adaptive
    ggf solve on a fork (rejections, off-grid queries) runs and sees the same grid."""
    import revsde

    sde = revsde.VPSDE()
    rsde = sde.reverse(mixture_2d(D64).score(sde))
    y0 = torch.randn(64, 2, dtype=D64, generator=torch.Generator().manual_seed(0))
    ts = rsde.times(20, dtype=D64)
    path = GridBrownianPath.sample(ts, y0.shape, dtype=D64, seed=1)
    y = solvers.solve(rsde, y0, ts, method="euler", bm=path.fork(), final_only=True).ys
    by_hand = y0
    for a, b in itertools.pairwise(ts):
        by_hand = by_hand + rsde.f(a, by_hand) * (b - a) + rsde.g(a, by_hand) * path(a, b)
    assert torch.allclose(y, by_hand, rtol=1e-12, atol=1e-12)
    _, stats = solvers.solve(
        rsde, y0, [0.0, rsde.s_max], method="ggf", bm=path.fork(), adaptive=True,
        rtol=0.05, atol=0.05, final_only=True, )  # fmt: skip
    assert stats.rejected_steps >= 0 and stats.nfe > 0


def test_stacked_paths_answer_as_one_batch_each_block_on_its_own_grid():
    """Two paths on different grids side by side: every answer (W, increments, Lévy areas,
    off-grid bridges) is the blocks' answers concatenated; a fork repeats them; paths that
    do not fit together are refused by what differs."""
    fine = GridBrownianPath.sample(
        torch.linspace(0, 1, 9), (3, 2), dtype=D64, seed=1, levy_area=True
    )
    coarse = GridBrownianPath.sample([0.0, 0.5, 1.0], (5, 2), dtype=D64, seed=2, levy_area=True)
    both = StackedBrownianPath([fine, coarse])
    assert both.shape == (8, 2) and both.levy_area_approximation == "space-time"
    dw, u = both(0.25, 0.8, return_U=True)
    dw_f, u_f = fine.fork()(0.25, 0.8, return_U=True)
    dw_c, u_c = coarse.fork()(0.25, 0.8, return_U=True)
    assert torch.equal(dw, torch.cat([dw_f, dw_c])) and torch.equal(u, torch.cat([u_f, u_c]))
    assert torch.equal(both.fork()(0.25, 0.8), dw)
    assert torch.equal(both(0.5)[3:], coarse(0.5))
    with pytest.raises(ValueError, match="share event shape"):
        StackedBrownianPath([fine, GridBrownianPath.sample([0.0, 1.0], (2, 3), dtype=D64)])
    with pytest.raises(ValueError, match="share event shape, dtype, device and Lévy area"):
        StackedBrownianPath([fine, GridBrownianPath.sample([0.0, 1.0], (2, 2), dtype=D64)])


def test_coupled_error_is_the_difference_of_the_two_moment_deviations():
    law = mixture_2d(D64)
    gen = torch.Generator().manual_seed(0)
    ref = law.sample(3000, generator=gen)
    x = ref + 0.1 * torch.randn(ref.shape, generator=gen, dtype=D64)
    error, _ = coupled_moment_error(x, ref, law)
    difference = mixture_moment_deviations(x, law) - mixture_moment_deviations(ref, law)
    assert error == pytest.approx(float(difference.norm()), rel=1e-10)
    assert coupled_moment_error(ref, ref, law) == (0.0, 0.0)
    with pytest.raises(ValueError, match="one shape"):
        coupled_moment_error(x[:10], ref, law)


def test_coupled_noise_is_the_spread_of_the_error_between_independent_samples():
    """For two independent exact samples (no difference between their laws) the squared
    error averages to the squared noise (E|mean d|^2 = sum_j Var(d_j) / n): a noise without
    the 1/n, or with the standard deviation in place of the variance, fails this."""
    law = mixture_2d(D64)
    gen = torch.Generator().manual_seed(1)
    errors, noises = [], []
    for _ in range(300):
        e, s = coupled_moment_error(
            law.sample(1000, generator=gen), law.sample(1000, generator=gen), law
        )
        errors.append(e**2)
        noises.append(s**2)
    ratio = sum(errors) / sum(noises)
    # the mean of 300 squared norms of a ~30-dimensional noise vector: a few per cent spread
    assert 0.8 < ratio < 1.25, ratio


@pytest.fixture(scope="module")
def study():
    methods = ["euler", "heun", "unipc", "sra1"]
    return run_study(methods=methods, steps=(5, 10, 20, 50), samples=4000)


def test_the_coupled_study_reads_each_methods_order_off_4000_samples(study):
    """The coupled error resolves what the sliced W2 at this size cannot: the log-log slopes of
    the coupled error are the methods' orders (Euler–Maruyama's weak order 1, Heun 2, UniPC
    3), and the ODE methods' errors sit far above their own noise."""
    assert study.metric == "coupled"
    assert study.slopes["euler"] == pytest.approx(-1.0, abs=0.3)
    assert study.slopes["heun"] == pytest.approx(-2.0, abs=0.3)
    assert study.slopes["unipc"] == pytest.approx(-3.0, abs=0.4)
    for r in study.runs:
        assert study.error(r) == r.coupled
        if r.method in ("heun", "unipc"):
            assert r.coupled > 4 * r.coupled_noise
    unipc20 = next(r for r in study.runs if r.method == "unipc" and r.steps == 20)
    assert unipc20.coupled < study.noise_floor_sliced_w2 / 4  # far below the sliced floor
    # the SDE runs read the fine solve's Brownian path: their noise is a fraction of that of
    # two independent samples (a run on its own noise, still unbiased, fails this)
    law = mixture_2d(D64)
    gen = torch.Generator().manual_seed(5)
    independent = coupled_moment_error(
        law.sample(4000, generator=gen), law.sample(4000, generator=gen), law
    )[1]
    for method in ("euler", "sra1"):  # sra1 reads the path's space-time Lévy area too
        run50 = next(r for r in study.runs if r.method == method and r.steps == 50)
        assert run50.coupled_noise < independent / 3, method
    sde, ode = study.reference_check["sde"], study.reference_check["ode"]
    assert sde[0] < 2e-3 and ode[0] < 1e-4  # the fine solves' own error is small


@pytest.mark.parametrize(("method", "steps"), [("heun", 5), ("euler", 5)])
def test_the_coupled_error_is_the_weak_error_against_the_exact_law(study, method, steps):
    """The coupled error estimates the distance of the run's moments from the exact law's (the
    fine solves are exact up to their small error); an independent uncoupled estimate from
    400 000 samples agrees within the two noises. A fine SDE solve of too few steps (a biased
    reference) fails the Euler case."""
    import revsde
    from revsde.sampling.sample import default_spacing

    run = next(r for r in study.runs if r.method == method and r.steps == steps)
    sde, law0 = revsde.VPSDE(), mixture_2d(D64)
    problem = sde.reverse(law0.score(sde), probability_flow=method == "heun")
    n = 400_000
    x_T = law0.marginal(sde, problem.t_max).sample(n, generator=torch.Generator().manual_seed(9))
    ts = problem.times(steps, spacing=default_spacing(solvers.resolve(method), sde), dtype=D64)
    with torch.no_grad():
        y = solvers.solve(
            problem, x_T, ts, method=method, final_only=True,
            generator=torch.Generator().manual_seed(10),
        ).ys  # fmt: skip
    law = law0.marginal(sde, problem.t_min)
    uncoupled = mixture_moment_error(y, law)
    # the uncoupled estimate's own noise: that of an exact sample of this size
    exact = law.sample(n, generator=torch.Generator().manual_seed(11))
    floor = coupled_moment_error(  # conservative: the noise of a difference of two samples
        exact, law.sample(n, generator=torch.Generator().manual_seed(12)), law
    )[1]
    assert abs(run.coupled - uncoupled) < 4 * math.hypot(run.coupled_noise, floor)
    assert run.coupled > 4 * math.hypot(run.coupled_noise, floor)  # a real error, resolved


def test_the_budget_table_ranks_coupled_errors_by_their_upper_bound():
    from revsde.evaluation.results import Run, Study, best_per_budget, fewest_evaluations

    study = Study("vp", "mixture2d", 10, 0, "float64", "cpu", 0.1, 0.1, metric="coupled")
    study.runs = [
        Run("noisy", 10, 10, 0.1, 0.1, 0.0, coupled=0.01, coupled_noise=0.2),
        Run("sharp", 10, 10, 0.1, 0.1, 0.0, coupled=0.03, coupled_noise=0.001),
    ]
    assert best_per_budget(study, (10,)) == {10: ("sharp", 0.03)}
    assert fewest_evaluations(study, 0.05) == {"noisy": None, "sharp": 10}
    study.metric = "sliced"
    assert study.error(study.runs[0]) == 0.1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_path_and_the_coupled_study_run_on_cuda():
    path = GridBrownianPath.sample([0.0, 0.5, 1.0], (8, 2), dtype=D64, device="cuda", seed=0)
    assert path(0.2, 0.7).device.type == "cuda" and path.fork()(0.5).device.type == "cuda"
    study = run_study(methods=["euler", "heun"], steps=(10,), samples=500, device="cuda")
    assert all(math.isfinite(r.coupled) and r.coupled_noise > 0 for r in study.runs)


def test_an_unknown_metric_is_named():
    with pytest.raises(ValueError, match=r"metric must be one of \['coupled', 'sliced'\]"):
        run_study(methods=["euler"], steps=(2,), samples=10, metric="w2")


def test_the_sde_runs_at_few_steps_draw_more_samples_and_the_others_do_not_change():
    """``sde_samples`` (default: ``SDE_SAMPLES_FACTOR`` x ``samples``, 16) draws more for the
    runs of methods that read noise at up to ``MORE_DRAWS_STEPS`` steps, compared through the
    two-level reference: 16 times as many cut their coupled noise by about 4 and keep their
    error within the noise; the SDE runs at more steps and the deterministic runs see the same
    first draws and do not change."""
    kw = {"methods": ["euler", "heun"], "steps": (20, MORE_DRAWS_STEPS + 10), "samples": 400}
    small = run_study(sde_samples=400, **kw)
    large = run_study(**kw)
    assert (small.sde_samples, large.sde_samples) == (400, SDE_SAMPLES_FACTOR * 400)
    assert "sde coarse" in large.reference_check and "sde coarse" not in small.reference_check
    runs = {
        (s, r.method, r.steps): r for s, st in (("small", small), ("large", large)) for r in st.runs
    }
    for method, steps in (("heun", 20), ("euler", MORE_DRAWS_STEPS + 10)):
        assert runs["small", method, steps].coupled == runs["large", method, steps].coupled
        assert runs["large", method, steps].draws == 400
    few, many = runs["small", "euler", 20], runs["large", "euler", 20]
    assert many.draws == 6400
    assert 3.0 < few.coupled_noise / many.coupled_noise < 5.5, (
        few.coupled_noise / many.coupled_noise
    )
    assert abs(few.coupled - many.coupled) < 3 * math.hypot(few.coupled_noise, many.coupled_noise)
    with pytest.raises(ValueError, match=r"sde_samples must be an integer >= samples \(400\)"):
        run_study(sde_samples=100, **kw)


def test_the_default_extra_draws_keep_their_stored_path_within_budget():
    """16 x the draws where their coarse stored path fits ``EXTRA_PATH_BYTES`` (the 2-D
    mixture: 64 000 at the default 4000), fewer in high dimension (the d = 64 Gaussian: 16 x
    would store 15 GB); a bad dtype is named."""
    assert default_sde_samples(4000, 2) == 64_000
    per_draw = 2 * (REFERENCE_SDE_STEPS // REFERENCE_COARSE_STRIDE + 1) * 64 * 8
    assert default_sde_samples(4000, 64) == 4000 + EXTRA_PATH_BYTES // per_draw < 16 * 4000
    assert default_sde_samples(4000, 64, torch.float32) == 4000 + EXTRA_PATH_BYTES // (
        per_draw // 2
    )
    study = run_study(target="gaussian64", methods=["euler"], steps=(2,), samples=50)
    assert study.sde_samples == default_sde_samples(50, 64) == 800
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64', got 'half'"):
        run_study(methods=["euler"], steps=(2,), samples=50, dtype="half")
