"""Counter-based per-sample noise (revsde.solvers.counter): standard normal, independent,
a pure function of (seed, step, draw, element), and so sample i's result is bitwise the same
in any batch, for every method."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

import revsde
from revsde import solvers
from revsde.evaluation.problems import mixture_2d
from revsde.solvers import counter

D64 = torch.float64
N_SE = 4.5


def test_counter_normals_are_standard_normal_and_independent():
    """10^6 normals of 1000 consecutive seeds: mean, variance and the Kolmogorov-Smirnov
    distance within their Monte Carlo error; no correlation between neighbouring samples,
    neighbouring counters, or the two normals of one Box-Muller pair (their squares too, which
    a radius drawn from the angle's uniform would correlate)."""
    z = counter.normals(counter.keys(list(range(1000))), 0, 1000).double()
    n = z.numel()
    assert abs(float(z.mean())) < N_SE / math.sqrt(n)
    assert abs(float(z.var()) - 1.0) < N_SE * math.sqrt(2.0 / n)
    assert stats.kstest(z.flatten().numpy(), "norm").pvalue > 1e-4

    def corr(a, b):
        return float(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1])

    bound = N_SE / math.sqrt(n / 2)
    assert abs(corr(z[:-1], z[1:])) < bound  # neighbouring seeds
    assert abs(corr(z[:, :-1], z[:, 1:])) < bound  # neighbouring counters
    assert abs(corr(z[:, 0::2], z[:, 1::2])) < bound  # a Box-Muller pair
    assert abs(corr(z[:, 0::2] ** 2, z[:, 1::2] ** 2)) < bound


def test_the_normals_are_a_pure_function_of_their_number():
    """Any window of a stream gives the same normals for the same numbers, and a solve's
    noise does not depend on how many steps it computes at a time."""
    key = counter.keys([3, 1 << 40, -7])
    assert torch.equal(counter.normals(key, 5, 11), counter.normals(key, 0, 32)[:, 5:16])
    one = counter.CounterNormals(key, (2, 3), 2, device="cpu", window=1)
    many = counter.CounterNormals(key, (2, 3), 2, device="cpu", window=7, steps=20)
    for _ in range(20):
        assert torch.equal(one.next_step(), many.next_step())


def test_seeds_must_be_integers_one_per_sample():
    sde = revsde.VPSDE()
    rsde = sde.reverse(lambda x, t: -x)
    with pytest.raises(ValueError, match="one seed per sample"):
        solvers.solve(rsde, torch.zeros(3, 2), rsde.times(4), "euler", generator=[1, 2])
    with pytest.raises(ValueError, match="per-sample seeds must be 1-d"):
        counter.keys(torch.zeros(2, 2, dtype=torch.int64))


def _score(x, t):
    # elementwise in the batch: its arithmetic cannot depend on the batch it is evaluated in
    return -x / (1.0 + 0.5 * x.square())


@pytest.mark.parametrize("method", sorted(solvers.SOLVERS))
def test_per_sample_seeds_make_every_method_bitwise_batch_independent(method):
    """Samples 2-4 solved in a batch of 7 and alone in a batch of 3, with their own seeds:
    bitwise equal (torch.equal), for every registered method (pc with per-sample corrector
    norms: its batch norms make a sample depend on its batch by design)."""
    options = {"norms": "sample"} if method == "pc" else {}
    solver = solvers.resolve(method, **options)
    sde = revsde.VPSDE()
    problem = sde.reverse(_score, probability_flow=solver.ode_only)
    x = torch.randn(7, 2, dtype=D64, generator=torch.Generator().manual_seed(0))
    seeds = [(11 << 32) | i for i in range(7)]
    ts = problem.times(12, dtype=D64)
    whole = solvers.solve(problem, x, ts, solver, generator=seeds, final_only=True).ys
    part = solvers.solve(problem, x[2:5], ts, solver, generator=seeds[2:5], final_only=True).ys
    assert torch.equal(whole[2:5], part)


@pytest.mark.parametrize("method", sorted(solvers.SOLVERS))
def test_seeds_are_bitwise_batch_independent_with_the_librarys_own_targets(method):
    """As above with the exact score of the library's 2-D mixture (per-sample times, float32
    and float64): its arithmetic is elementwise in the batch, so sample 2-4 are bitwise the
    same in a batch of 7 and of 3."""
    options = {"norms": "sample"} if method == "pc" else {}
    solver = solvers.resolve(method, **options)
    sde = revsde.VPSDE()
    for dtype in (torch.float32, D64):
        problem = sde.reverse(mixture_2d(dtype).score(sde), probability_flow=solver.ode_only)
        x = torch.randn(7, 2, dtype=dtype, generator=torch.Generator().manual_seed(0))
        seeds = [(12 << 32) | i for i in range(7)]
        ts = problem.times(8, dtype=dtype)
        whole = solvers.solve(problem, x, ts, solver, generator=seeds, final_only=True).ys
        part = solvers.solve(problem, x[2:5], ts, solver, generator=seeds[2:5], final_only=True)
        assert torch.equal(whole[2:5], part.ys), (method, dtype)


@pytest.mark.parametrize("dim", [1, 2, 5, 8, 9])
@pytest.mark.parametrize("dtype", [torch.float32, D64])
def test_target_scores_and_densities_do_not_depend_on_the_batch(dim, dtype):
    """The exact score (per-sample times) and log-density of a 3-component mixture: a
    sample's value is bitwise the same in batches of 1, 3 and 4000 up to
    ELEMENTWISE_MAX_DIM dimensions (a matrix product differs in the last bits)."""
    from revsde.evaluation.targets import ELEMENTWISE_MAX_DIM, GaussianMixture

    gen = torch.Generator().manual_seed(dim)
    a = torch.randn(3, dim, dim, dtype=D64, generator=gen)
    covs = a @ a.transpose(-1, -2) + 0.1 * torch.eye(dim, dtype=D64)
    target = GaussianMixture(
        torch.tensor([0.2, 0.3, 0.5]), torch.randn(3, dim, dtype=D64, generator=gen), covs
    )
    sde = revsde.VPSDE()
    x = 3 * torch.randn(4000, dim, dtype=dtype, generator=gen)
    t = torch.rand(4000, dtype=dtype, generator=gen).clamp_min(1e-3)
    score, density = target.score(sde), target.marginal(sde, 0.3)
    whole, whole_p = score(x, t), density.log_prob(x)
    same = [
        torch.equal(score(x[i : i + k], t[i : i + k]), whole[i : i + k])
        and torch.equal(density.log_prob(x[i : i + k]), whole_p[i : i + k])
        for i, k in ((0, 1), (5, 1), (2, 3), (1000, 3))
    ]
    if dim <= ELEMENTWISE_MAX_DIM:
        assert all(same), same
    torch.testing.assert_close(score(x[2:5], t[2:5]), whole[2:5])


def test_sample_with_seeds_is_bitwise_batch_independent_prior_included():
    sde = revsde.VPSDE()
    seeds = [100 + i for i in range(6)]
    whole = revsde.sample(sde, _score, (6, 3), "sa_solver", steps=8, generator=seeds)
    part = revsde.sample(sde, _score, (2, 3), "sa_solver", steps=8, generator=seeds[3:5])
    assert torch.equal(whole[3:5], part)
    other = revsde.sample(sde, _score, (2, 3), "sa_solver", steps=8, generator=[7, 8])
    assert not torch.equal(other, part)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_seeded_noise_on_cuda_is_the_cpus_and_batch_independent():
    """The same integer arithmetic on the device: the normals equal the CPU's to float32
    rounding of log, sqrt, cos and sin; a solve is bitwise batch independent there too."""
    key = counter.keys(list(range(64)))
    cpu = counter.normals(key, 0, 256)
    cuda = counter.normals(key.cuda(), 0, 256, device="cuda").cpu()
    torch.testing.assert_close(cuda, cpu, rtol=1e-5, atol=1e-5)
    sde = revsde.VPSDE()
    rsde = sde.reverse(_score)
    x = torch.randn(7, 2, device="cuda")
    seeds = torch.arange(7, device="cuda")
    ts = rsde.times(12, device="cuda")
    whole = solvers.solve(rsde, x, ts, "sa_solver", generator=seeds, final_only=True).ys
    part = solvers.solve(rsde, x[2:5], ts, "sa_solver", generator=seeds[2:5], final_only=True).ys
    assert torch.equal(whole[2:5], part)
