"""Reliability: exact gradients through every solver, NaNs traced to the step and the part
that produced them, a stated precision policy, and errors that name the real problem."""

from __future__ import annotations

import math
import tracemalloc

import pytest
import torch
import torchsde
from test_targets import mixture_2d

import revsde
from revsde import solvers
from revsde.evaluation.problems import gaussian_2d
from revsde.evaluation.targets import Gaussian
from revsde.solvers import SOLVERS
from revsde.solvers.problems import OU

D64 = torch.float64


# ----- gradients: every method, parameters in f, in g and in the score -----


class LearnableGaussianScore(torch.nn.Module):
    """The exact score of N(mu, diag(exp(log_c))) diffused by ``sde``, with mu and log_c
    learnable: -(x - alpha mu) / (alpha^2 c + sigma^2)."""

    def __init__(self, sde):
        super().__init__()
        self.sde = sde
        self.mu = torch.nn.Parameter(torch.tensor([0.5, -0.3], dtype=D64))
        self.log_c = torch.nn.Parameter(torch.tensor([0.2, -0.4], dtype=D64))

    def forward(self, x, t):
        a = self.sde.alpha(t).reshape(-1, 1)
        s = self.sde.sigma(t).reshape(-1, 1)
        return -(x - a * self.mu) / (a**2 * self.log_c.exp() + s**2)


class LearnableSDE(torch.nn.Module):
    """dy = (-theta_f y + 0.1 sin y) dt + g dW with g = theta_g y (multiplicative) or
    g = theta_g (additive)."""

    noise_type, sde_type = "diagonal", "ito"

    def __init__(self, additive):
        super().__init__()
        self.additive_noise = additive
        self.theta_f = torch.nn.Parameter(torch.tensor(0.7, dtype=D64))
        self.theta_g = torch.nn.Parameter(torch.tensor(0.4, dtype=D64))

    def f(self, t, y):
        return -self.theta_f * y + 0.1 * torch.sin(y)

    def g(self, t, y):
        return self.theta_g.expand_as(y) if self.additive_noise else self.theta_g * y


def gradient_problem(method):
    """The SDE a method can integrate, with learnable parameters where the method uses them."""
    solver = solvers.resolve(method)
    if solver.requires or solver.ode_only:
        sde = revsde.VPSDE()
        score = LearnableGaussianScore(sde)
        rsde = sde.reverse(score, probability_flow=solver.ode_only, t_min=0.05)
        return rsde, [score.mu, score.log_c], rsde.times(12, dtype=D64)
    sde = LearnableSDE(additive=solver.requires_additive)
    return sde, [sde.theta_f, sde.theta_g], torch.linspace(0, 1, 13, dtype=D64)


@pytest.mark.parametrize("method", sorted(SOLVERS))
def test_gradients_equal_finite_differences(method):
    sde, params, ts = gradient_problem(method)
    y0 = torch.tensor([[0.3, -1.2], [1.1, 0.4], [-0.5, 0.9]], dtype=D64, requires_grad=True)

    def loss():
        y = solvers.solve(
            sde, y0, ts, method=method, final_only=True, generator=torch.Generator().manual_seed(5)
        ).ys
        return (y * torch.tensor([1.0, -2.0], dtype=D64)).sum()

    grads = torch.autograd.grad(loss(), [*params, y0])
    for p, g in zip([*params, y0], grads, strict=True):
        assert g is not None
        fd = torch.zeros_like(p)
        with torch.no_grad():
            for i in range(p.numel()):
                flat = p.view(-1)
                h = 1e-6
                flat[i] += h
                up = float(loss())
                flat[i] -= 2 * h
                down = float(loss())
                flat[i] += h
                fd.view(-1)[i] = (up - down) / (2 * h)
        torch.testing.assert_close(g, fd, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method", ["euler", "milstein"])
def test_gradients_equal_torchsdes_with_a_learnable_multiplicative_diffusion(method):
    """(torchsde's derivative-free Milstein takes another support value than ours, so
    milstein_df is held to finite differences above instead.)"""
    sde = LearnableSDE(additive=False)
    y0 = torch.full((6, 2), 0.7, dtype=D64)
    ts = torch.linspace(0, 1, 17, dtype=D64)

    def grads(fn):
        sde.zero_grad()
        bm = torchsde.BrownianInterval(0.0, 1.0, size=y0.shape, dtype=D64, entropy=11)
        fn(sde, y0, ts, bm)[-1].sum().backward()
        return sde.theta_f.grad.clone(), sde.theta_g.grad.clone()

    ours = grads(lambda *a: solvers.sdeint(*a, method=method, dt=1 / 16))
    theirs = grads(lambda *a: torchsde.sdeint(*a, method=method, dt=1 / 16))
    assert float(ours[1].abs()) > 0  # the diffusion's parameter does get a gradient
    torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-9)


# ----- NaN and silent garbage -----


def nan_below_half():
    """The reverse VP SDE of the 2-D mixture with a score that turns NaN below t = 0.5."""
    sde = revsde.VPSDE()
    exact = mixture_2d().score(sde)

    def score(x, t):
        out = exact(x, t)
        return out * math.nan if float(t.max()) < 0.5 else out

    return sde.reverse(score)


def test_a_score_that_turns_nan_halfway_is_named_at_its_step():
    rsde = nan_below_half()
    calls = []
    ts = rsde.times(10, dtype=D64)
    with pytest.raises(solvers.NonFiniteError) as info:
        solvers.solve(rsde, torch.randn(4, 2, dtype=D64), ts, callback=calls.append, method="euler")
    message = str(info.value)
    # steps of 0.0999 in t from t = 1: the first to start below t = 0.5 is the seventh
    assert "at step 7 of 10" in message
    assert "s = 0.5994" in message and "forward time t = 0.4006" in message
    assert "the score" in message and "the diffusion" not in message
    assert len(calls) == 6  # no step ran after the bad one


def test_without_a_callback_the_check_is_deferred_but_names_the_same_step():
    """The loop reads the finite flag back once per window of steps (no host sync per step
    on a GPU); the error must still name the first bad step and the score, not a later one
    of the window, nor the end of the solve."""
    rsde = nan_below_half()
    ts = rsde.times(40, dtype=D64, spacing="uniform")
    with pytest.raises(solvers.NonFiniteError) as info:
        solvers.solve(rsde, torch.randn(4, 2, dtype=D64), ts, final_only=True, method="euler")
    # steps of 0.0249975 in t from t = 1: the first to start below t = 0.5 is the 22nd
    assert "at step 22 of 40" in str(info.value) and "the score" in str(info.value)


@pytest.mark.parametrize("method", ["bosh3", "dopri5"])
def test_fsal_pairs_reuse_their_last_stage_across_the_loops_time_chunks(method):
    """The loop makes its step times 256 at a time; a step must start at the very tensor the
    previous one ended at, or a first-same-as-last pair, which recognises its reusable stage by
    the time's identity, pays one more evaluation per chunk."""
    rode = revsde.VPSDE().reverse(lambda x, t: -x, probability_flow=True)
    with torch.no_grad():
        _, stats = solvers.solve(rode, torch.randn(4, 2), rode.times(600), method=method)
    assert stats.nfe == 600 * solvers.resolve(method).nfe + 1


def test_a_finite_state_whose_sum_overflows_is_not_called_non_finite():
    """The cheap check sums the state; two entries near float32's maximum overflow that sum
    though both are finite, and the state must then be checked entry by entry."""
    big = torch.full((2, 2), 3e38)
    out = solvers.sdeint(
        OU(theta=0.0, sigma=0.0), big, [0.0, 1.0], dt=0.1, final_only=True, method="euler"
    )
    torch.testing.assert_close(out, big)


def test_the_cosine_process_refuses_to_start_where_its_drift_diverges():
    sde = revsde.CosineVPSDE()
    with pytest.raises(ValueError, match=r"t_max must be < T = 1.0 for CosineVPSDE"):
        sde.reverse(mixture_2d().score(sde), t_max=1.0)
    sde.reverse(mixture_2d().score(sde), t_max=0.999)  # below T is allowed


@pytest.mark.parametrize("kind", ["ve", "vp", "subvp", "cosine"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_coefficients_are_float32_for_lower_precisions(kind, dtype):
    sde = {"ve": revsde.VESDE, "vp": revsde.VPSDE, "subvp": revsde.SubVPSDE}.get(
        kind, revsde.CosineVPSDE
    )()
    t = torch.tensor([0.05, 0.7, 0.95], dtype=dtype)
    ref = torch.tensor([0.05, 0.7, 0.95], dtype=D64).to(dtype).double()
    for name in ("alpha", "sigma", "drift_coeff", "diffusion_coeff"):
        out = getattr(sde, name)(t)
        assert out.dtype == torch.float32 and bool(torch.isfinite(out).all()), name
        torch.testing.assert_close(out.double(), getattr(sde, name)(ref), rtol=1e-5, atol=1e-7)
    y = torch.randn(3, 2, dtype=dtype)
    assert sde.f(t, y).dtype == dtype and sde.g(t, y).dtype == dtype


def test_a_float64_score_does_not_promote_a_float32_run():
    sde, target = revsde.VPSDE(), Gaussian(torch.zeros(2, dtype=D64), torch.eye(2, dtype=D64))
    exact = target.score(sde)
    rsde = sde.reverse(lambda x, t: exact(x.double(), t.double()))
    y = solvers.solve(rsde, torch.randn(4, 2), rsde.times(5), method="euler").ys
    assert y.dtype == torch.float32


def test_the_adapter_refuses_t_zero_and_sdeint_refuses_times_past_the_end():
    sde = revsde.VESDE()
    adapter = revsde.ScoreAdapter(lambda x, t: x, sde, prediction="eps")
    with pytest.raises(ValueError, match=r"t must be > 0: the score is undefined where sigma"):
        adapter(torch.ones(2, 2), 0.0)
    rsde = sde.reverse(mixture_2d().score(sde))
    with pytest.raises(ValueError, match=r"ts \(reverse clock s\) must lie in \[0.0, 0.99999\]"):
        solvers.solve(rsde, torch.zeros(2, 2), [0.0, 0.5, 1.5], method="euler")
    with pytest.raises(ValueError, match=r"ts must lie in \[0.0, 1.0\]"):
        solvers.sdeint(sde, torch.zeros(2, 2), [0.0, 1.5], dt=0.1, method="euler")


@pytest.mark.parametrize("problem", ["ou", "reverse_vp"])
def test_final_only_memory_does_not_grow_with_the_number_of_steps(problem):
    # the reverse SDE under no_grad takes the announced-times path (coefficient tables)
    sde = OU() if problem == "ou" else revsde.VPSDE().reverse(lambda x, t: -x)
    y0, s_end = torch.zeros(2, 2), 1.0 if problem == "ou" else 0.9

    def peak(n):
        tracemalloc.start()
        with torch.no_grad():
            solvers.sdeint(sde, y0, [0.0, s_end], dt=s_end / n, final_only=True, method="euler")
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(1_000), peak(20_000)
    # a grid of 20 000 time tensors built up front held > 1 MB of Python objects alone
    assert large - small < 100_000, (small, large)


@pytest.mark.parametrize("floats", [True, False])
@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("process", ["ve", "vp", "subvp", "cosine"])
def test_announced_times_give_the_coefficients_computed_per_call(process, lam, floats, monkeypatch):
    """``prepare_times`` tabulates (t, f, lam g, (1 + lam^2)/2 g^2) for the loop's grid (floats
    on the CPU, 0-d tensors on other devices), found by the position of a view of the
    announced times; each row must equal what ``_coefficients`` computes on a 0-d tensor."""
    sde = {
        "ve": revsde.VESDE(),
        "vp": revsde.VPSDE(),
        "subvp": revsde.SubVPSDE(),
        "cosine": revsde.CosineVPSDE(),
    }[process]
    rsde = sde.reverse(lambda x, t: -x, lam=lam)
    y = torch.zeros(3, 2)
    grid = rsde.times(7, spacing="quadratic")
    expected = [[float(c) for c in rsde._coefficients(s, y)] for s in grid]
    monkeypatch.setattr(revsde.ReverseSDE, "_float_table", floats)
    with torch.no_grad():
        rsde.prepare_times(grid)
        got = [list(rsde._coefficients(s, y)) for s in grid.unbind()]  # views, as the loop's
        assert rsde._table_row(grid[2].clone(), y) is None  # a copy is not an announced time
    kind = float if floats else torch.Tensor  # 0-d tensors are what a GPU's table holds
    assert all(isinstance(c, kind) for row in got for c in row[1:])
    assert torch.tensor([[float(c) for c in row] for row in got]) == pytest.approx(
        torch.tensor(expected), rel=1e-6, abs=1e-7
    )


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.mark.parametrize(
    ("device", "floats"), [("cpu", True), ("cpu", False), pytest.param("cuda", False, marks=CUDA)]
)
@pytest.mark.parametrize("method", ["euler", "unipc"])
def test_a_solve_with_and_without_coefficient_tables_agrees(device, floats, method, monkeypatch):
    """No grad: the loop announces its times and the reverse SDE reads a table (floats on the
    CPU, 0-d device tensors elsewhere, run on the CPU too with ``floats`` off); grad enabled:
    it computes tensors per call. Same path, same numbers; over 300 steps, so that the grid
    spans two announced chunks."""
    monkeypatch.setattr(revsde.ReverseSDE, "_float_table", floats)
    rsde = revsde.VPSDE().reverse(lambda x, t: -x, probability_flow=method == "unipc")
    y0 = torch.randn(4, 2, dtype=torch.float64, device=device)
    ts = rsde.times(300, dtype=torch.float64, device=device)

    def solve():
        gen = torch.Generator(device).manual_seed(1)
        return solvers.solve(rsde, y0, ts, method=method, generator=gen, final_only=True).ys

    with torch.no_grad():
        fast = solve()
    slow = solve()
    assert rsde._memo.table is None  # cleared when the solve ends
    torch.testing.assert_close(fast, slow, rtol=1e-12, atol=1e-12)


# ----- errors that name the argument, checked before any work -----


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"steps": 0}, ValueError, r"steps must be an integer >= 1, got 0"),
        ({"shape": 64}, ValueError, r"shape must be a tuple \(batch, \*event_shape\)"),
        ({"dtype": torch.int64}, TypeError, r"dtype must be a floating-point torch.dtype"),
        ({"final_onyl": True}, TypeError, r"unexpected keyword argument\(s\) \['final_onyl'\]"),
        ({"method": "bogus"}, ValueError, r"unknown method 'bogus'; valid methods are"),
    ],
)
def test_sample_errors_name_the_argument(kwargs, error, match):
    sde = revsde.VPSDE()
    args = {"shape": (4, 2), **kwargs}
    with pytest.raises(error, match=match):
        revsde.sample(sde, mixture_2d().score(sde), **args)


def test_dt_may_be_a_zero_dim_tensor():
    ys = solvers.sdeint(OU(), torch.zeros(2, 2), [0.0, 1.0], dt=torch.tensor(0.25), method="euler")
    assert ys.shape == (2, 2, 2)


@pytest.mark.parametrize("spacing", ["uniform", "quadratic", "power:3", "karras", "logsnr"])
@pytest.mark.parametrize("n", [10, 1000, 20_000, 100_000])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_every_grid_is_valid_in_its_dtype_or_refused_naming_steps_and_dtype(spacing, n, dtype):
    """A grid that comes back is strictly increasing within the clock's range, so the solve
    that the same object runs accepts it; one that cannot be (its shortest steps below the
    dtype's resolution; any half-precision grid) is refused with the step count and the
    dtype in the message (float32 quadratic grids stopped increasing from 10 000 steps and
    went on to fail inside the solve, bfloat16 grids past the clock's end)."""
    rsde = revsde.VPSDE().reverse(lambda x, t: -x)
    try:
        ts = rsde.times(n, spacing=spacing, dtype=dtype)
    except ValueError as exc:
        assert str(dtype) in str(exc)
        assert str(n) in str(exc) or dtype == torch.bfloat16
        return
    assert bool((ts[1:] > ts[:-1]).all())
    with rsde.solve_scope(float(ts[0]), float(ts[-1])):
        rsde.forward_time(ts)  # the object's own range check


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda sde, r: solvers.solve(r, torch.zeros(0, 2), r.times(4), "euler"),
            r"y0 has an empty batch",
        ),
        (
            lambda sde, r: revsde.log_likelihood(sde, lambda x, t: -x, torch.zeros(0, 2)),
            r"x must be a non-empty",
        ),
        (
            lambda sde, r: revsde.dsm_loss(
                lambda x, t: x, sde, torch.zeros(0, 2), prediction="eps"
            ),
            r"x0 must be a non-empty",
        ),
        (
            lambda sde, r: revsde.dsm_loss(
                lambda x, t: x, sde, torch.zeros(3, 2, dtype=torch.long), prediction="eps"
            ),
            r"x0 must be a floating-point tensor",
        ),
        (
            lambda sde, r: revsde.tune_grid(sde, lambda x, t: -x, "unipc", 4, dtype=torch.long),
            r"dtype must be a floating-point torch.dtype",
        ),
        (
            lambda sde, r: revsde.tune_grid(sde, lambda x, t: -x, "unipc", 4, reference_steps=1),
            r"reference_steps must exceed steps",
        ),
        (
            lambda sde, r: revsde.tune_grid(sde, lambda x, t: -x, "unipc", 4, start="banana"),
            r"^start must be a spacing name or a grid of 4 steps",
        ),
    ],
)
def test_empty_batches_integer_data_and_bad_tuning_settings_are_named(call, match):
    """Each was torch's own error from deep inside (a reshape of 0 elements, a normal kernel
    'not implemented for Long') or, for a reference coarser than the grid, no error at all."""
    sde = revsde.VPSDE()
    with pytest.raises(ValueError, match=match):
        call(sde, sde.reverse(lambda x, t: -x))


def test_a_tuned_grid_is_accepted_wherever_a_grid_is():
    """TunedGrid itself, not only its .times, as spacing= of sample and of times."""
    sde = revsde.VPSDE()
    score = gaussian_2d(torch.float64).score(sde)
    tuned = revsde.tune_grid(sde, score, "unipc", 4, samples=64, max_evals=20, dtype=D64)
    rsde = sde.reverse(score, probability_flow=True, t_min=tuned.t_min)
    torch.testing.assert_close(rsde.times(spacing=tuned), rsde.times(spacing=tuned.times))
    gen = list(range(8))
    a = revsde.sample(sde, score, (8, 2), "unipc", spacing=tuned, generator=gen, dtype=D64)
    b = revsde.sample(sde, score, (8, 2), "unipc", spacing=tuned.times, generator=gen, dtype=D64)
    assert torch.equal(a, b)
