"""Adaptive steps: error proportional to the tolerance, evaluations growing as it shrinks,
retries on one Brownian path, and errors that name the problem."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchsde
from conftest import moment_error
from problems import gaussian_probability_flow, gaussian_reverse_sde

import revsde
from revsde import solvers
from revsde.evaluation.problems import gaussian_2d
from revsde.solvers.adaptive import error_ratio
from revsde.solvers.controller import PIController

D64 = torch.float64
ADAPTIVE = sorted(n for n, c in solvers.SOLVERS.items() if c.error_exponent is not None)


def test_the_adaptive_methods_are_registered():
    assert ADAPTIVE == ["bosh3", "dopri5", "dpmpp_2s", "dpmpp_3s", "ggf"]


@pytest.mark.parametrize("kind", ["vp", "ve"])
@pytest.mark.parametrize("method", ["bosh3", "dopri5", "dpmpp_2s", "dpmpp_3s"])
def test_ode_error_falls_in_proportion_to_the_tolerance(method, kind):
    """On the exact probability-flow path of a Gaussian target (docs/math.md) the global error
    follows rtol (= atol) with a log-log slope near 1, and the evaluations grow as it falls."""
    sde = revsde.VPSDE() if kind == "vp" else revsde.VESDE(0.01, 10.0)
    rode, x_T, exact = gaussian_probability_flow(sde)
    # dpmpp_2s (DPM-Solver-12: 2S with its DDIM step as the estimate) is of low order: fewer
    # tolerances keep its evaluation count small
    tols = [1e-2, 1e-3, 1e-4, 1e-5] if method == "dpmpp_2s" else [1e-3, 1e-4, 1e-5, 1e-6, 1e-7]
    errs, nfes = [], []
    for tol in tols:
        y, stats = solvers.solve(
            rode,
            x_T,
            [0.0, rode.s_max],
            method=method,
            adaptive=True,
            rtol=tol,
            atol=tol,
            final_only=True,
        )
        errs.append(float((y - exact).abs().max()))
        nfes.append(stats.nfe)
    slope = float(np.polyfit(np.log(tols), np.log(errs), 1)[0])
    assert 0.6 < slope < 1.4, (slope, errs)
    assert all(e < 30 * tol for e, tol in zip(errs, tols, strict=True)), errs
    assert nfes == sorted(nfes) and nfes[-1] > 2 * nfes[0], nfes


@pytest.mark.parametrize("kind", ["vp", "ve"])
def test_dopri5_fixed_steps_are_at_least_fifth_order(kind):
    """Its pre-asymptotic slope on this path is 5.4-5.8 (measured), above the asymptotic 5."""
    from problems import probability_flow_order

    sde = revsde.VPSDE() if kind == "vp" else revsde.VESDE(0.01, 10.0)
    slope, errs = probability_flow_order(sde, "dopri5", [6, 8, 12, 16])
    assert 4.8 < slope < 6.5, (slope, errs)


def test_ggf_weak_error_falls_with_the_tolerance():
    """Gotta Go Fast on the reverse SDE of a Gaussian target, started from the exact law:
    the error of the mean and covariance at t_min falls with rtol (slope ~0.8 measured) while
    well above the Monte Carlo error, and the evaluations grow."""
    n = 200_000
    rsde, x_T, law = gaussian_reverse_sde(n)
    tols, errs, nfes = [0.4, 0.2, 0.1], [], []
    for tol in tols:
        with torch.no_grad():
            y, stats = solvers.solve(
                rsde,
                x_T,
                [0.0, rsde.s_max],
                method="ggf",
                adaptive=True,
                rtol=tol,
                atol=tol,
                final_only=True,
                generator=torch.Generator().manual_seed(3),
            )
        errs.append(moment_error(y, law)[0])
        nfes.append(stats.nfe)
    slope = float(np.polyfit(np.log(tols), np.log(errs), 1)[0])
    assert 0.5 < slope < 1.3, (slope, errs)
    assert errs[-1] > 3 / n**0.5, errs  # still a bias, not noise
    assert nfes == sorted(nfes) and nfes[-1] > 1.5 * nfes[0], nfes


def test_a_run_with_rejections_equals_a_fixed_step_run_on_its_grid():
    """A rejected step is retried on the same Brownian path: the adaptive result equals a
    fixed-step run over the accepted grid with the same BrownianInterval."""
    rsde, _, _ = gaussian_reverse_sde(1)
    y0 = torch.randn(32, 2, dtype=D64, generator=torch.Generator().manual_seed(0))
    bm = torchsde.BrownianInterval(
        t0=0.0, t1=rsde.s_max, size=(32, 2), dtype=D64, entropy=11, tol=1e-12
    )
    adaptive, stats = solvers.solve(
        rsde,
        y0,
        [0.0, rsde.s_max],
        bm=bm,
        method="ggf",
        adaptive=True,
        dt=0.5,  # too large: the first tries are rejected
        rtol=0.02,
        atol=0.02,
        final_only=True,
    )
    assert stats.rejected_steps > 0 and stats.steps == len(stats.accepted_times) - 1
    fixed = solvers.solve(
        rsde, y0, torch.tensor(stats.accepted_times, dtype=D64), bm=bm, method="ggf"
    ).ys[-1]
    torch.testing.assert_close(adaptive, fixed, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "device",
    [
        "cpu",
        pytest.param(
            "cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
        ),
    ],
)
def test_the_default_brownian_path_is_seeded_from_a_generator_on_any_device(device):
    """The loop seeds its BrownianInterval from ``generator``: a generator on the state's
    device must work (a CUDA generator cannot draw a CPU seed) and give one path per seed."""
    rsde, _, _ = gaussian_reverse_sde(1)
    y0 = torch.randn(8, 2, dtype=D64, device=device)

    def run(seed):
        gen = torch.Generator(device).manual_seed(seed)
        return solvers.solve(
            rsde,
            y0,
            [0.0, rsde.s_max],
            method="ggf",
            adaptive=True,
            rtol=0.1,
            atol=0.1,
            generator=gen,
            final_only=True,
        ).ys

    torch.testing.assert_close(run(3), run(3))
    assert not torch.allclose(run(3), run(4))


class _LevyPair(solvers.SRA1):
    """A user's adaptive method that reads the space-time Lévy area: SRA1 with its distance
    from the Euler–Maruyama step as the error estimate."""

    error_exponent = 0.5

    def step_with_error(self, sde, t0, t1, y0, noise, state):
        y1, state = self.step(sde, t0, t1, y0, noise, state)
        euler = y0 + noise.h * sde.f(t0, y0) + sde.g(t0, y0) * noise.dW
        return y1, y1 - euler, state


def test_the_default_brownian_path_keeps_the_levy_area_a_method_reads():
    """The loop's own BrownianInterval keeps the space-time Lévy area when the method reads it
    (it was created without, and such a method failed with "needs space-time Lévy area")."""
    rsde, _, _ = gaussian_reverse_sde(1)
    y0 = torch.randn(8, 2, dtype=D64, generator=torch.Generator().manual_seed(0))
    y, stats = solvers.solve(
        rsde,
        y0,
        [0.0, rsde.s_max],
        method=_LevyPair(),
        adaptive=True,
        atol=0.05,
        generator=torch.Generator().manual_seed(1),
        final_only=True,
    )
    assert bool(torch.isfinite(y).all()) and stats.steps > 1


def test_outputs_land_on_every_requested_time():
    rode, x_T, exact = gaussian_probability_flow(revsde.VPSDE())
    ts = torch.tensor([0.0, 0.3, 0.6, rode.s_max], dtype=D64)
    ys, stats = solvers.solve(rode, x_T, ts, method="dopri5", adaptive=True, rtol=1e-8, atol=1e-8)
    assert ys.shape == (4, *x_T.shape) and torch.equal(ys[0], x_T)
    assert set(ts.tolist()) <= set(stats.accepted_times)
    torch.testing.assert_close(ys[-1], exact, rtol=1e-6, atol=1e-6)
    # the state at 0.3 equals a solve that stops there
    part = solvers.solve(rode, x_T, ts[:2], method="dopri5", adaptive=True, rtol=1e-8, atol=1e-8).ys
    torch.testing.assert_close(ys[1], part[-1], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"method": "euler"},
            ValueError,
            r"embedded error estimate.*\['bosh3', 'dopri5', 'dpmpp_2s', 'dpmpp_3s', 'ggf'\]",
        ),
        ({"rtol": 0.0}, ValueError, "rtol must be > 0.0, got 0.0"),
        ({"atol": -1.0}, ValueError, "atol must be > 0.0, got -1.0"),
        ({"rtol": float("nan")}, ValueError, "rtol must be a finite number, got nan"),
        ({"max_steps": 3}, RuntimeError, r"max_steps = 3 reached at s = .* \(forward time t = "),
        ({"rtol": 1e-10, "atol": 1e-10, "dt_min": 0.1}, RuntimeError, "dt_min"),
        ({"generator": [torch.Generator() for _ in range(8)]}, ValueError, "per-sample"),
    ],
)
def test_adaptive_errors_name_the_problem(kwargs, error, match):
    rode, _, _ = gaussian_probability_flow(revsde.VPSDE())
    options = {"method": "dopri5", "rtol": 1e-6, "atol": 1e-6, **kwargs}
    with pytest.raises(error, match=match):
        solvers.solve(
            rode,
            torch.zeros(8, 2, dtype=D64),
            [0.0, rode.s_max],
            adaptive=True,
            **options,
        )


def test_a_non_finite_error_estimate_names_the_step():
    def score(x, t):
        return torch.full_like(x, float("nan")) if float(t) < 0.5 else -x

    rode = revsde.VPSDE().reverse(score, probability_flow=True)
    with pytest.raises(solvers.NonFiniteError, match="error estimate is nan"):
        solvers.solve(rode, torch.zeros(4, 2), [0.0, rode.s_max], method="bosh3", adaptive=True)


def test_controller_rules():
    c = PIController()
    ok, h = c.propose(0.1, 4.0, 0.5)  # rejected: shrink by safety * e^-k, at most 5x
    assert not ok and h == pytest.approx(0.1 * 0.9 * 4.0**-0.5)
    ok, h = c.propose(0.1, 1e-12, 0.5)  # tiny error: growth capped at ifactor
    assert ok and h == pytest.approx(1.0)
    with pytest.raises(ValueError, match="safety must be"):
        PIController(safety=0.0)


class _Diagonal:
    """dy = 0 dt + diag(g) dW with a chosen g, for the error-ratio formula."""

    noise_type, sde_type, additive_noise = "diagonal", "ito", True

    def __init__(self, g):
        self._g = g

    def f(self, t, y):
        return torch.zeros_like(y)

    def g(self, t, y):
        return self._g.expand_as(y)


def test_ggf_noise_scale_measures_the_error_in_units_of_the_diffusion():
    """error_scale="noise": the ratio is the RMS of err_d / (atol sigma_d) with sigma_d the
    noise scale |g_d| (rtol unused); doubling g halves it. The paper's rule ("state") does not
    see g. A planted sigma_d^2 or a missing atol fails the first assertion."""
    err = torch.tensor([[0.3, -0.1], [0.2, 0.4]], dtype=D64)
    y0, y1 = torch.ones(2, 2, dtype=D64), torch.ones(2, 2, dtype=D64)
    g = torch.tensor([0.5, 2.0], dtype=D64)
    t = torch.tensor(0.0, dtype=D64)
    noise = solvers.resolve("ggf", error_scale="noise")
    ratio = error_ratio(noise, _Diagonal(g), t, y0, y1, err, 1e-3, 0.1)
    expected = float((err / (0.1 * g)).pow(2).mean().sqrt())
    assert ratio == pytest.approx(expected, rel=1e-12)
    assert error_ratio(noise, _Diagonal(2 * g), t, y0, y1, err, 0.5, 0.1) == pytest.approx(
        expected / 2, rel=1e-12
    )
    state = solvers.resolve("ggf")
    assert error_ratio(state, _Diagonal(g), t, y0, y1, err, 0.1, 0.1) == pytest.approx(
        float((err / 0.1).pow(2).mean().sqrt()), rel=1e-12
    )
    scales = r"\['state', 'noise', 'data'\]"
    with pytest.raises(ValueError, match=rf"error_scale must be one of {scales}"):
        solvers.resolve("ggf", error_scale="bogus")
    with pytest.raises(ValueError, match="nonzero diffusion in every component"):
        error_ratio(noise, _Diagonal(torch.tensor([0.5, 0.0], dtype=D64)), t, y0, y1, err, 0.1, 0.1)


class _Marginal(_Diagonal):
    """A diffusion with the marginal coefficients (alpha, sigma) of revsde's reverse SDEs."""

    def __init__(self, g, alpha, sigma):
        super().__init__(g)
        self._alpha, self._sigma = alpha, sigma

    def marginal_coefficients(self, t, like):
        return self._alpha.reshape(-1, 1), self._sigma.reshape(-1, 1)


def test_ggf_data_scale_measures_the_error_by_its_effect_on_the_denoised_sample():
    """error_scale="data": the ratio is the RMS of err alpha / (atol (alpha^2 + sigma^2)), per
    sample (rtol and g unused), the error's effect on Tweedie's posterior mean of unit-variance
    data. A planted alpha / sigma^2 or a missing alpha fails the first assertion. An SDE
    without marginal coefficients is refused by name."""
    err = torch.tensor([[0.3, -0.1], [0.2, 0.4]], dtype=D64)
    y0, y1 = torch.ones(2, 2, dtype=D64), torch.ones(2, 2, dtype=D64)
    g = torch.tensor([0.5, 2.0], dtype=D64)
    alpha, sigma = torch.tensor([0.9, 0.05], dtype=D64), torch.tensor([0.3, 2.0], dtype=D64)
    t = torch.tensor(0.0, dtype=D64)
    data = solvers.resolve("ggf", error_scale="data")
    assert data.requires == (solvers.MarginalCoefficients,) and "data" in repr(data)
    ratio = error_ratio(data, _Marginal(g, alpha, sigma), t, y0, y1, err, 0.5, 0.1)
    effect = err * (alpha / (alpha**2 + sigma**2)).reshape(-1, 1)
    assert ratio == pytest.approx(float((effect / 0.1).pow(2).mean().sqrt()), rel=1e-12)
    assert error_ratio(data, _Marginal(2 * g, alpha, sigma), t, y0, y1, err, 0.1, 0.1) == ratio
    with pytest.raises(
        ValueError, match=r"MarginalCoefficients .*lacks \['marginal_coefficients'\]"
    ):
        solvers.solve(_Diagonal(g), y0, [0.0, 1.0], method=data, adaptive=True, atol=0.1)


@pytest.mark.parametrize("scale", ["noise", "data"])
@pytest.mark.parametrize("kind", ["vp", "ve"])
def test_ggf_scaled_tolerance_weak_error_falls_with_atol(kind, scale):
    """error_scale="noise" and "data" on the reverse SDE of a 2-D Gaussian (VP and VE), scored
    by the exact law of ggf on the accepted grid (no Monte Carlo noise,
    revsde.evaluation.exact): the discretization error falls with atol (slopes: noise 1.27 VP,
    1.30 VE; data 1.17 VP, 1.18 VE) and the evaluations grow."""
    from revsde.evaluation.exact import exact_solve

    sde = revsde.VPSDE() if kind == "vp" else revsde.VESDE(0.01, 10.0)
    target = gaussian_2d()
    rsde = sde.reverse(target.score(sde))
    x_T = torch.randn(2000, 2, dtype=D64, generator=torch.Generator().manual_seed(0))
    x_T = x_T * float(sde.sigma(torch.tensor(rsde.t_max, dtype=D64)))
    tols, errs, nfes = [0.1, 0.05, 0.025], [], []
    for tol in tols:
        with torch.no_grad():
            _, stats = solvers.solve(
                rsde,
                x_T,
                [0.0, rsde.s_max],
                method="ggf",
                adaptive=True,
                atol=tol,
                error_scale=scale,
                final_only=True,
                generator=torch.Generator().manual_seed(1),
            )
        grid = rsde.t_max - torch.tensor(stats.accepted_times, dtype=D64)
        law = exact_solve(sde, target, "ggf", len(grid) - 1, spacing=grid)
        errs.append(law.split()["discretization"])
        nfes.append(stats.nfe)
    slope = float(np.polyfit(np.log(tols), np.log(errs), 1)[0])
    assert 0.7 < slope < 1.6, (slope, errs)
    assert nfes == sorted(nfes) and nfes[-1] > 1.5 * nfes[0], nfes


def test_device_specs_with_and_without_an_index_name_one_device():
    """A Brownian object made with device="cuda" must serve a state on "cuda:0" (the current
    device): comparing the specs literally refused it (found on a GPU)."""
    from revsde.solvers.noise import same_device

    assert same_device("cpu", torch.device("cpu"))
    assert not same_device("cpu", "meta")
    if torch.cuda.is_available():
        current = torch.cuda.current_device()
        assert same_device("cuda", f"cuda:{current}")
        assert same_device(f"cuda:{current}", "cuda")
        assert not same_device("cuda", "cpu")
    if torch.cuda.device_count() > 1:
        assert not same_device("cuda:0", "cuda:1")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_a_brownian_object_on_an_unindexed_cuda_device_is_accepted():
    rsde, _, _ = gaussian_reverse_sde(1)
    y0 = torch.randn(8, 2, dtype=D64, device="cuda")
    bm = torchsde.BrownianInterval(
        t0=0.0, t1=rsde.s_max, size=y0.shape, dtype=D64, device="cuda", entropy=1
    )
    y = solvers.solve(rsde, y0, rsde.times(10, dtype=D64, device="cuda"), bm=bm, method="euler").ys
    assert bool(torch.isfinite(y).all())


def test_a_float32_adaptive_sde_solve_queries_its_brownian_path_inside_its_ends():
    """In float32 the loop's time 0.999 is 0.99900001: a Brownian interval ending at the float
    0.999 warned on every query there (torchsde's "Should have tb<=t1"). Its ends are now the
    loop's own time values; any warning fails this test."""
    import warnings

    rsde, _, _ = gaussian_reverse_sde(1)
    y0 = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = solvers.solve(
            rsde,
            y0,
            [0.0, rsde.s_max],
            method="ggf",
            adaptive=True,
            atol=0.05,
            error_scale="noise",
            generator=torch.Generator().manual_seed(1),
            final_only=True,
        ).ys
    assert y.dtype == torch.float32 and bool(torch.isfinite(y).all())


def test_adaptive_corners():
    """ggf in float16 (its error estimate, squared in float16, overflowed and blamed the
    model); a non-finite estimate named with both clocks; dt_min longer than the whole solve
    refused before any step; the gradient through adaptive steps, without the UserWarning
    of a scalar read off a tensor that requires grad."""
    import warnings

    sde = revsde.VPSDE()
    y = revsde.sample(
        sde,
        lambda x, t: -x,
        (16, 2),
        "ggf",
        adaptive=True,
        atol=0.05,
        error_scale="data",
        dtype=torch.float16,
    )
    assert y.dtype == torch.float16 and bool(torch.isfinite(y).all())
    # a float16 error 1000 times its tolerance: its square, 1e6, is no float16 number
    half = torch.full((4, 2), 1.0, dtype=torch.float16)
    ratio = error_ratio(solvers.resolve("ggf"), None, None, half, half, half * 1e-2, 1e-5, 1e-5)
    assert ratio == pytest.approx(1e3, rel=1e-2)

    def score(x, t):
        return torch.full_like(x, float("nan")) if float(t) < 0.5 else -x

    rode = sde.reverse(score, probability_flow=True)
    with pytest.raises(
        solvers.NonFiniteError,
        match=r"error estimate is nan at step .* from s = "
        r".* in the integration clock \(forward time t = ",
    ):
        solvers.solve(rode, torch.zeros(4, 2), [0.0, rode.s_max], "bosh3", adaptive=True)
    rsde = sde.reverse(lambda x, t: -x)
    with pytest.raises(ValueError, match=r"dt_min = 1.0 exceeds the span of ts \(0.5\)"):
        solvers.solve(rsde, torch.zeros(4, 2), [0.0, 0.5], "ggf", adaptive=True, dt_min=1.0)
    x = torch.zeros(4, 2, requires_grad=True)
    flow = sde.reverse(lambda x, t: -x, probability_flow=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = solvers.solve(flow, x, [0.0, 0.9], "bosh3", adaptive=True, rtol=1e-3, atol=1e-3)
        out.ys.sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())
