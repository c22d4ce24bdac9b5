"""Tuned time grids: ``revsde.tune_grid`` lowers a few-step sampler's error for the model it is
tuned on, measured with no Monte Carlo noise on a Gaussian target (exact laws)."""

from __future__ import annotations

import pytest
import torch

import revsde
from revsde.evaluation.exact import exact_solve
from revsde.evaluation.problems import gaussian_2d
from revsde.sampling.coupling import fourier_features

D64 = torch.float64


def gaussian():
    return gaussian_2d()


@pytest.mark.parametrize(("method", "steps"), [("unipc", 4), ("dpmpp_2m", 4), ("heun", 3)])
def test_a_tuned_grid_lowers_the_exact_discretization_error(method, steps):
    """The search minimises a pathwise error on a batch of 256 prior draws; the exact law of
    the sampler on the tuned grid (no sampling) must be much closer to the exact
    probability-flow ODE's than on the method's default grid."""
    sde, law = revsde.VPSDE(), gaussian()
    tuned = revsde.tune_grid(sde, law.score(sde), method, steps, samples=256, max_evals=200)
    assert tuned.loss < 0.3 * tuned.initial_loss

    def error(spacing, t_min):
        result = exact_solve(
            sde, law, method, steps, spacing=spacing, t_min=t_min, probability_flow=True
        )
        return result.split()["discretization"]

    before, after = error(None, None), error(tuned.times, tuned.t_min)
    assert after < 0.3 * before, (before, after)


def test_the_tuned_grid_is_a_valid_schedule_that_sample_takes_as_it_is():
    sde, law = revsde.VPSDE(), gaussian()
    tuned = revsde.tune_grid(sde, law.score(sde), "unipc", 5, samples=64, max_evals=50)
    t = tuned.times
    assert t.shape == (6,) and float(t[0]) == sde.T and float(t[-1]) == tuned.t_min
    assert bool((t[1:] < t[:-1]).all())
    # stops between the process's t_min and where signal and noise are equal
    assert 1e-3 <= tuned.t_min <= float(sde.time_of_log_snr(torch.zeros((), dtype=D64)))
    assert tuned.nfe == 6 and tuned.method == "unipc"
    # revsde.sample reads t_min off the explicit grid
    gen = torch.Generator().manual_seed(0)
    x = revsde.sample(sde, law.score(sde), (4, 2), "unipc", spacing=t, generator=gen)
    assert x.shape == (4, 2) and bool(torch.isfinite(x).all())


def test_a_method_that_reads_noise_is_tuned_by_the_law_objective():
    """DDIM with eta > 0 reads noise: its grid is tuned by the coupled distance between output
    laws (a Monte Carlo noise is reported); with eta = 0 it is deterministic and tuned by the
    pathwise distance (no noise)."""
    sde, law = revsde.VPSDE(), gaussian()
    kw = {"samples": 256, "max_evals": 5, "reference_steps": 20}
    noisy = revsde.tune_grid(sde, law.score(sde), "ddim", 4, eta=0.5, **kw)
    assert noisy.noise is not None and noisy.noise > 0
    plain = revsde.tune_grid(sde, law.score(sde), "ddim", 4, eta=0.0, **kw)
    assert plain.noise is None


def test_a_tuned_grid_lowers_the_exact_error_of_a_stochastic_sampler():
    """SA-Solver on the reverse SDE, 4 steps: the search sees only coupled samples (an MMD
    between the output and a fine SDE solve's on one Brownian path); the exact law of the
    sampler on the tuned grid (no sampling) must be much closer to the data's than on the
    default grid, and the objective must be resolved (its noise well below its value at the
    start: the coupling keeps the candidates close to the reference)."""
    sde, law = revsde.VPSDE(), gaussian()
    tuned = revsde.tune_grid(
        sde, law.score(sde), "sa_solver", 4, samples=4000, reference_steps=100, max_evals=100
    )
    assert tuned.loss < 0.3 * tuned.initial_loss
    assert tuned.noise < 0.05 * tuned.initial_loss

    def error(spacing, t_min):
        result = exact_solve(sde, law, "sa_solver", 4, spacing=spacing, t_min=t_min)
        return result.split()["discretization"]

    before, after = error(None, None), error(tuned.times, tuned.t_min)
    assert after < 0.3 * before, (before, after)


def test_the_candidates_share_the_reference_brownian_path():
    """The stochastic objective's noise is the candidates' pathwise distance to the reference
    over sqrt(samples): with features phi(x) = x, Euler with 50 steps on the reference's path
    must have far less noise than two independent samples' means would
    (sqrt(2 tr Cov / n)); a candidate drawing its own noise has about that much."""
    sde, law = revsde.VPSDE(), gaussian()
    n = 2000
    tuned = revsde.tune_grid(
        sde, law.score(sde), "euler", 50, samples=n, features=lambda x: x, max_evals=1
    )
    uncoupled = (2 * torch.trace(law.covariance) / n).sqrt()
    assert tuned.noise < 0.2 * float(uncoupled), (tuned.noise, float(uncoupled))


def test_features_are_checked():
    sde, law = revsde.VPSDE(), gaussian()
    for name, bad in (("samples", 0), ("reference_steps", 0)):
        with pytest.raises(ValueError, match=name):
            revsde.tune_grid(sde, law.score(sde), "euler", 4, max_evals=3, **{name: bad})
    # image-sized samples at the default batch: a clear error before any allocation
    with pytest.raises(ValueError, match=r"would take 1\.5e\+03 GiB.*pass fewer samples"):
        revsde.tune_grid(sde, lambda x, t: -x, "sa_solver", 9, event_shape=(3, 32, 32))
    kw = {"samples": 64, "max_evals": 3, "reference_steps": 10}
    with pytest.raises(ValueError, match=r"features are for methods that read noise.*'unipc'"):
        revsde.tune_grid(sde, law.score(sde), "unipc", 4, features=lambda x: x, **kw)
    with pytest.raises(ValueError, match=r"features must map a batch of 64 samples to shape"):
        revsde.tune_grid(sde, law.score(sde), "euler", 4, features=lambda x: x.sum(), **kw)
    # any per-sample map is accepted: here the first two moments
    moments = revsde.tune_grid(
        sde, law.score(sde), "euler", 4, features=lambda x: torch.cat([x, x * x], 1), **kw
    )
    assert moments.noise is not None


def test_fourier_features_estimate_the_gaussian_kernel():
    """phi(x) . phi(y) = exp(-|x - y|^2 / (2 l^2)) up to the Monte Carlo error of the random
    features (about 1 / sqrt(count)), l the median distance of the reference's rows."""
    gen = torch.Generator().manual_seed(0)
    reference = torch.randn(500, 3, generator=gen, dtype=D64)
    phi = fourier_features(reference, count=40_000, seed=1)
    width = float(torch.cdist(reference, reference).median())
    x, y = (
        torch.randn(20, 3, generator=gen, dtype=D64),
        torch.randn(20, 3, generator=gen, dtype=D64),
    )
    estimate = (phi(x) * phi(y)).sum(1)
    exact = torch.exp(-(x - y).square().sum(1) / (2 * width**2))
    assert torch.allclose(estimate, exact, atol=5 / 40_000**0.5), (estimate - exact).abs().max()
    assert torch.allclose((phi(x) * phi(x)).sum(1), torch.ones(20, dtype=D64), atol=0.03)


@pytest.mark.parametrize(
    "sde",
    [revsde.VESDE(), revsde.SubVPSDE(), revsde.EDMSDE(), revsde.FlowMatchingSDE()],
    ids=lambda s: type(s).__name__,
)
def test_tuning_works_on_every_process(sde):
    """The grid is parametrised in log t between the process's own t_max and t_min (EDM's
    t = sigma runs to 80, flow matching stops short of 1): a short search must still cut the
    pathwise error several-fold."""
    tuned = revsde.tune_grid(sde, gaussian().score(sde), "unipc", 4, samples=64, max_evals=60)
    assert tuned.loss < 0.2 * tuned.initial_loss
    assert float(tuned.times[0]) == pytest.approx(sde.reverse(lambda x, t: x).t_max)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_stochastic_sampler_is_tuned_on_cuda():
    sde, law = revsde.VPSDE(), gaussian()
    kw = {"samples": 256, "max_evals": 5, "reference_steps": 20, "device": "cuda"}
    tuned = revsde.tune_grid(sde, law.score(sde), "sa_solver", 4, **kw)
    assert tuned.noise is not None and tuned.times.device.type == "cpu"
