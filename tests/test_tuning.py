"""Tuned time grids: ``revsde.tune_grid`` lowers a few-step sampler's error for the model it is
tuned on, measured with no Monte Carlo noise on a Gaussian target (exact laws)."""

from __future__ import annotations

import pytest
import torch

import revsde
from revsde.evaluation.exact import exact_solve
from revsde.evaluation.targets import Gaussian

D64 = torch.float64


def gaussian():
    return Gaussian([1.0, -1.0], [[1.0, 0.5], [0.5, 0.8]])


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


def test_a_method_that_reads_noise_on_the_ode_is_refused():
    sde, law = revsde.VPSDE(), gaussian()
    with pytest.raises(ValueError, match=r"tunes deterministic methods.*'ddim' reads noise"):
        revsde.tune_grid(sde, law.score(sde), "ddim", 4, samples=16, max_evals=5, eta=0.5)
    # eta = 0 is deterministic, and allowed
    revsde.tune_grid(sde, law.score(sde), "ddim", 4, samples=16, max_evals=5, eta=0.0)


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
