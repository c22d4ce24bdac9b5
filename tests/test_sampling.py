"""Sampling as practitioners run it: no autograd graph unless asked, per-sample seeds,
callbacks and thresholding, low precision, torch.compile, torchsde's calling convention, and
the correctness slips found against the paper's and torchsde's code."""

from __future__ import annotations

import inspect
import math
import warnings

import pytest
import torch
import torchsde
from test_targets import mixture_2d

import revsde
from revsde import solvers
from revsde.evaluation.problems import gaussian_2d
from revsde.evaluation.targets import Gaussian
from revsde.solvers import SOLVERS
from revsde.solvers.problems import GBM, OU, GeneralNoise

D64 = torch.float64


class TinyScoreNet(torch.nn.Module):
    """A small network score with parameters that require grad."""

    def __init__(self, d=2, width=64):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(d + 1, width), torch.nn.SiLU(), torch.nn.Linear(width, d)
        )

    def forward(self, x, t):
        t = t.expand(x.shape[0]) if t.dim() == 0 else t
        return self.net(torch.cat([x, t[:, None].to(x.dtype)], dim=1))


def saved_bytes(fn):
    """Bytes that autograd saves for backward while ``fn`` runs: the memory a graph holds."""
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return total, out


# ----- memory and defaults -----


def test_sample_builds_no_graph_and_its_memory_does_not_grow_with_steps():
    sde, net = revsde.VPSDE(), TinyScoreNet()
    score = revsde.ScoreAdapter(net, sde, prediction="eps")
    for method in ("euler", "heun", "pc"):
        held = []
        for steps in (5, 40):
            nbytes, x = saved_bytes(
                lambda m=method, n=steps: revsde.sample(sde, score, (16, 2), method=m, steps=n)
            )
            assert not x.requires_grad
            held.append(nbytes)
        assert held == [0, 0], (method, held)
    # the measure can fail: sdeint with grad on keeps a graph that grows with the steps
    x_T = torch.randn(16, 2)
    rsde = sde.reverse(score)
    grown = [
        saved_bytes(lambda n=n: solvers.solve(rsde, x_T, rsde.times(n), method="euler").ys)[0]
        for n in (5, 40)
    ]
    assert 0 < grown[0] < grown[1]
    # and sample(grad=True) builds one on purpose
    x = revsde.sample(sde, score, (4, 2), method="euler", steps=3, grad=True)
    assert x.requires_grad


def test_default_sampler_is_the_measured_one_and_samples_the_mixture():
    sde, target = revsde.VPSDE(), mixture_2d()
    x = revsde.sample(
        sde, target.score(sde), (20000, 2), dtype=D64, generator=torch.Generator().manual_seed(0)
    )
    law = target.marginal(sde, 1e-3)
    # 31 evaluations: the prior mismatch and 30 UniPC steps leave a bias below
    # 0.05 in the moments (20 000 samples: the standard error of the mean is about 0.014)
    assert float((x.mean(0) - law.mean).abs().max()) < 0.05
    assert float((torch.cov(x.T) - law.covariance).abs().max()) < 0.1
    defaults = inspect.signature(revsde.sample).parameters
    assert defaults["method"].default == "unipc"
    assert defaults["steps"].default is None
    assert revsde.sample.__module__ == "revsde.sampling.sample"
    from revsde.sampling.sample import DEFAULT_STEPS

    assert DEFAULT_STEPS == 30


def test_per_sample_seeds_make_samples_independent_of_the_batch():
    sde, target = revsde.VPSDE(), mixture_2d()
    for method in ("euler", "heun", "pc"):
        opts = {"norms": "sample"} if method == "pc" else {}

        def run(n, m=method, o=opts):
            return revsde.sample(
                sde, target.score(sde), (n, 2), method=m, steps=6, generator=list(range(n)), **o
            )

        torch.testing.assert_close(run(3), run(5)[:3])
    gens = [torch.Generator().manual_seed(i) for i in range(4)]
    a = revsde.sample(sde, target.score(sde), (4, 2), method="euler", steps=4, generator=gens)
    gens = [torch.Generator().manual_seed(i) for i in range(4)]
    b = revsde.sample(sde, target.score(sde), (4, 2), method="euler", steps=4, generator=gens)
    torch.testing.assert_close(a, b)
    with pytest.raises(TypeError, match=r"one integer seed per sample \(4 for this batch\)"):
        revsde.sample(sde, target.score(sde), (4, 2), generator=[1, 2])


# ----- per-step control -----


def test_callback_sees_every_step_with_the_data_prediction_and_can_stop():
    sde, target = revsde.VPSDE(), mixture_2d()
    seen = []
    revsde.sample(sde, target.score(sde), (8, 2), method="euler", steps=7, callback=seen.append)
    assert [i.step for i in seen] == list(range(7)) and seen[0].n_steps == 7
    assert all(i.denoised is not None and i.denoised.shape == (8, 2) for i in seen)
    # the data prediction is Tweedie's formula at the last evaluation
    rsde = sde.reverse(target.score(sde))
    last = seen[-1]
    assert last.time == pytest.approx(rsde.t_max - last.t1)
    assert seen[0].time == pytest.approx(rsde.t_max - seen[0].t1)
    # stop early: the solve ends after step 3
    x_T = torch.randn(8, 2)
    steps = []

    def stop(info):
        steps.append(info.step)
        return info.step == 2

    _, stats = solvers.solve(
        rsde, x_T, rsde.times(10), callback=stop, final_only=True, method="euler"
    )
    assert steps == [0, 1, 2] and stats.steps == 3 and stats.nfe == 3


def test_thresholding_clips_the_data_prediction():
    sde = revsde.VPSDE()
    far = Gaussian(torch.tensor([3.0, -3.0]), 0.01 * torch.eye(2))  # data outside [-1, 1]
    x = revsde.sample(
        sde,
        far.score(sde),
        (64, 2),
        method="euler",
        steps=50,
        denoised_transform=revsde.models.thresholding.clip(1.0),
    )
    assert float(x.abs().max()) <= 1.0  # the final data prediction is clipped too
    assert float(x.abs().mean()) > 0.8  # the sampler was pulled towards the box's edge
    free = revsde.sample(sde, far.score(sde), (64, 2), method="euler", steps=50)
    assert float(free.abs().min()) > 2.5


def test_dynamic_thresholding_follows_saharia_et_al():
    x0 = torch.tensor([[0.5, -0.2, 0.1, 0.3], [4.0, -2.0, 1.0, 0.5]])
    out = revsde.models.thresholding.dynamic(ratio=1.0)(x0)
    torch.testing.assert_close(out[0], x0[0])  # s = max(quantile, 1) = 1: unchanged
    torch.testing.assert_close(out[1], x0[1] / 4.0)  # s = 4: rescaled into [-1, 1]
    capped = revsde.models.thresholding.dynamic(ratio=1.0, max_value=2.0)(x0)
    torch.testing.assert_close(capped[1], x0[1].clamp(-2, 2) / 2.0)


# ----- precision and compilation -----


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("method", sorted(SOLVERS))
def test_every_method_runs_in_half_precision(method, dtype):
    sde = revsde.VPSDE()
    target = gaussian_2d()
    solver = solvers.resolve(method)
    rsde = sde.reverse(target.score(sde), probability_flow=solver.ode_only, t_min=0.01)
    n = 4000
    x_T = target.marginal(sde, rsde.t_max).sample(n, generator=torch.Generator().manual_seed(3))
    ts = rsde.times(100)
    with torch.no_grad():
        y = solvers.solve(
            rsde,
            x_T.to(dtype),
            ts,
            method=method,
            final_only=True,
            generator=torch.Generator().manual_seed(4),
        ).ys
    assert y.dtype == dtype and bool(torch.isfinite(y).all())
    law = target.marginal(sde, rsde.t_min)
    # precision-appropriate: Monte Carlo error (~0.016 for the mean at n = 4000) plus the
    # rounding of ~100 updates at the format's unit roundoff
    tol = 0.07 if dtype == torch.bfloat16 else 0.05
    y = y.double()
    assert float((y.mean(0) - law.mean).abs().max()) < tol
    assert float((torch.cov(y.T) - law.covariance).abs().max()) < 2 * tol


def test_a_half_precision_state_keeps_its_grid_in_float32():
    sde, target = revsde.VPSDE(), mixture_2d()
    exact, seen = target.score(sde), []

    def score(x, t):
        seen.append(float(t.min()))
        return exact(x, t)

    revsde.sample(sde, score, (8, 2), method="pc", steps=1000, dtype=torch.bfloat16)
    # the corrector's last evaluation is at t_min = 1e-3, which float32 resolves; bfloat16
    # (8 bits) would round s_max = 0.999 to 1.0, i.e. t to 0, where the score is undefined
    assert min(seen) == pytest.approx(1e-3, abs=1e-6)
    assert float(torch.tensor(0.999, dtype=torch.bfloat16)) == 1.0


def test_the_drift_compiles_without_graph_breaks():
    explain = pytest.importorskip("torch._dynamo").explain
    sde, target = revsde.VPSDE(), Gaussian(torch.zeros(2), torch.eye(2))
    rsde = sde.reverse(target.score(sde))
    report = explain(rsde.f)(torch.tensor(0.1), torch.ones(4, 2))
    assert report.graph_break_count == 0, report.break_reasons
    # the switch through revsde.sample: the same samples with a compiled score
    kw = {"method": "euler", "steps": 5, "shape": (4, 2)}
    a = revsde.sample(sde, target.score(sde), generator=torch.Generator().manual_seed(0), **kw)
    b = revsde.sample(
        sde,
        target.score(sde),
        generator=torch.Generator().manual_seed(0),
        compile={"backend": "eager"},
        **kw,
    )
    torch.testing.assert_close(a, b)


# ----- torchsde's calling convention -----


def test_the_positional_order_is_torchsdes():
    sde = GBM()
    y0 = torch.full((4, 2), 0.5, dtype=D64)
    ts = torch.linspace(0, 1, 9, dtype=D64)

    def bm():
        return torchsde.BrownianInterval(0.0, 1.0, size=y0.shape, dtype=D64, entropy=3)

    ours = solvers.sdeint(sde, y0, ts, bm(), "milstein", 1 / 64)
    theirs = torchsde.sdeint(sde, y0, ts, bm(), "milstein", 1 / 64)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)
    # torchsde's options dict reaches the solver
    a = solvers.sdeint(
        OU(), y0, ts, method="pc", options={"predictor": "euler", "n_corrector_steps": 0}
    )
    assert a.shape == (9, 4, 2)


def test_a_call_shaped_as_torchsdes_gives_its_discretisation_or_is_refused():
    """Called as torchsde is called, sdeint either takes torchsde's steps or refuses: no
    method (torchsde's default srk is not revsde's), a name both libraries take without dt
    (torchsde would step at 1e-3), a torchsde method revsde lacks. With dt=None the grid is
    the steps; a two-point grid without dt warns that it is a single step."""
    sde, y0 = OU(), torch.zeros(2, 2)
    ts3 = [0.0, 0.5, 1.0]
    with pytest.raises(ValueError, match="needs a method"):
        solvers.sdeint(sde, y0, ts3, dt=0.1)
    with pytest.raises(ValueError, match=r"without dt: torchsde would take steps .* dt=None"):
        solvers.sdeint(sde, y0, ts3, method="euler")
    with pytest.raises(ValueError, match="method='sra1'"):
        solvers.sdeint(sde, y0, ts3, method="srk", dt=0.1)
    with pytest.raises(ValueError, match="Stratonovich"):
        solvers.sdeint(sde, y0, ts3, method="midpoint", dt=0.1)
    with pytest.warns(solvers.TorchsdeConventionWarning, match="single step"):
        solvers.sdeint(sde, y0, [0.0, 1.0], method="sra1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        solvers.sdeint(sde, y0, [0.0, 1.0], method="euler", dt=0.01)
        solvers.sdeint(sde, y0, [0.0, 1.0], method="euler", dt=None)
        solvers.sdeint(sde, y0, [0.0, 1.0], method="euler", dt=0.1, adaptive=False)
    with pytest.raises(NotImplementedError, match="logqp"):
        solvers.sdeint(sde, y0, [0.0, 1.0], method="euler", dt=0.1, logqp=True)


@pytest.mark.parametrize("method", ["euler", "milstein"])
def test_steps_of_dt_that_miss_the_output_times_are_interpolated_as_torchsde_does(method):
    """ts = (0, 0.3, 0.55, 1) with dt = 0.2: torchsde steps at 0, 0.2, 0.4, ... (the last
    cut short at 1) and interpolates the states at 0.3 and 0.55 linearly; revsde's sdeint with
    the same Brownian path gives the same states (a planted output at the next step point
    instead of the interpolation fails this by ~0.05)."""
    sde = GBM()
    y0 = torch.full((4, 2), 0.5, dtype=D64)
    ts = torch.tensor([0.0, 0.3, 0.55, 1.0], dtype=D64)

    def bm():
        return torchsde.BrownianInterval(0.0, 1.0, size=y0.shape, dtype=D64, entropy=5)

    ours = solvers.sdeint(sde, y0, ts, bm(), method, 0.2)
    theirs = torchsde.sdeint(sde, y0, ts, bm(), method, 0.2)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    stats = solvers.solve(sde, y0, ts, method, bm=bm(), dt=0.2).stats
    assert stats.steps == 5


# ----- correctness slips found against the reference code -----


class ParameterOnlyDiffusion(torch.nn.Module):
    """torchsde's BasicSDE2: g depends on a learnable parameter, not on the state."""

    noise_type, sde_type = "diagonal", "ito"

    def __init__(self, d=3):
        super().__init__()
        self.shared_param = torch.nn.Parameter(torch.randn(1, d, dtype=D64), requires_grad=True)
        self.no_grad_param = torch.nn.Parameter(torch.randn(1, d, dtype=D64), requires_grad=False)

    def f(self, t, y):
        return self.shared_param * torch.sin(y) * 0.2 + torch.cos(y) * 0.6

    def g(self, t, y):
        return torch.sigmoid(self.shared_param * self.no_grad_param).expand_as(y)


@pytest.mark.parametrize("method", ["milstein", "milstein_df"])
def test_milstein_on_a_diffusion_with_parameters_only(method):
    sde = ParameterOnlyDiffusion()
    y0 = torch.full((5, 3), 0.3, dtype=D64)
    ts = torch.linspace(0, 1, 33, dtype=D64)

    def run(fn):
        sde.zero_grad()
        bm = torchsde.BrownianInterval(0.0, 1.0, size=y0.shape, dtype=D64, entropy=2)
        ys = fn(sde, y0, ts, bm)
        ys.sum().backward()
        return ys.detach(), sde.shared_param.grad.clone()

    ours = run(lambda *a: solvers.sdeint(*a, method=method, dt=1 / 32))
    options = {"method": "derivative_free"} if method == "milstein_df" else None
    theirs = run(lambda *a: torchsde.sdeint(*a, method="milstein", dt=1 / 32, options=options))
    torch.testing.assert_close(ours[0], theirs[0], rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(ours[1], theirs[1], rtol=1e-9, atol=1e-9)


def test_milstein_accepts_torchsdes_additive_noise_type():
    sde = GeneralNoise(d=2, m=3)
    sde.noise_type = "additive"
    y0 = torch.ones(4, 2, dtype=D64)
    gen = torch.Generator
    a = solvers.sdeint(
        sde, y0, [0.0, 1.0], dt=0.1, method="milstein", generator=gen().manual_seed(0)
    )
    b = solvers.sdeint(sde, y0, [0.0, 1.0], dt=0.1, method="euler", generator=gen().manual_seed(0))
    torch.testing.assert_close(a, b)  # the Milstein term of additive noise is zero


@pytest.mark.parametrize("method", ["heun", "rk4"])
def test_ode_methods_refuse_an_sde_whose_noise_vanishes_only_at_the_start(method):
    sde = revsde.SubVPSDE()  # g(0) = 0, g(t) > 0 after: a one-point probe would say "ODE"
    assert float(sde.diffusion_coeff(0.0)) == 0.0
    with pytest.raises(ValueError, match="is_ode = True"):
        solvers.solve(sde, torch.randn(4, 2), torch.linspace(0, 1, 11), method=method)


def test_ancestral_offers_both_variances_and_beta_measures_better_on_vp():
    """DDPM's two reverse variances; on a Gaussian target through the VP SDE at 100 steps,
    the paper's beta is far closer to the exact law than the posterior variance, which
    under-disperses (measured table in the solvers guide)."""
    sde = revsde.VPSDE()
    target = gaussian_2d(D64)
    rsde = sde.reverse(target.score(sde))
    law = target.marginal(sde, rsde.t_min)
    x_T = target.marginal(sde, rsde.t_max).sample(
        100_000, generator=torch.Generator().manual_seed(0)
    )
    errs = {}
    for variance in ("beta", "posterior"):
        with torch.no_grad():
            y = solvers.solve(
                rsde,
                x_T,
                rsde.times(100, dtype=D64),
                method="ancestral",
                variance=variance,
                final_only=True,
                generator=torch.Generator().manual_seed(1),
            ).ys
        errs[variance] = float(torch.diag(torch.cov(y.T) - law.covariance).min())
    # the covariance's standard error at n = 1e5 is about 0.005: posterior under-disperses by
    # more than 10 of them, beta's bias is within 4
    assert errs["posterior"] < -0.05, errs
    assert errs["beta"] > -0.02, errs
    assert solvers.resolve("ancestral").variance == "auto"
    with pytest.raises(ValueError, match="variance must be one of"):
        solvers.resolve("ancestral", variance="bogus")


ANCESTRAL_PROCESSES = {
    "vp": (revsde.VPSDE, "beta"),
    "subvp": (revsde.SubVPSDE, "beta"),
    "cosine": (revsde.CosineVPSDE, "beta"),
    "flow": (revsde.FlowMatchingSDE, "beta"),
    "ve": (lambda: revsde.VESDE(0.01, 20.0), "posterior"),
    "edm": (revsde.EDMSDE, "posterior"),
}


@pytest.mark.parametrize("kind", sorted(ANCESTRAL_PROCESSES))
def test_ancestral_default_variance_is_the_closer_one_for_each_process(kind):
    """The default takes, per process, the variance whose exact output law is closer to the
    true one (at 20 steps, a 2-D and an anisotropic 64-D Gaussian); its law is exactly that
    variance's."""
    from revsde.evaluation.exact import exact_solve
    from revsde.evaluation.problems import gaussian_64

    make, expected = ANCESTRAL_PROCESSES[kind]
    sde = make()
    for target in (gaussian_2d(D64), gaussian_64()):
        laws = {
            v: exact_solve(sde, target, "ancestral", 20, start="exact", variance=v)
            for v in ("auto", "beta", "posterior")
        }
        other = "beta" if expected == "posterior" else "posterior"
        assert laws[expected].w2 < laws[other].w2, (kind, laws[expected].w2, laws[other].w2)
        assert torch.equal(laws["auto"].output.var, laws[expected].output.var), kind
        assert torch.equal(laws["auto"].output.mean, laws[expected].output.mean), kind


def test_a_score_sde_trained_ve_network_denoises_to_its_own_noise_level():
    """A network trained by score_sde's code learned the marginals x_0 + sigma_v(t) eps. With
    the matching convention the final Tweedie step removes that noise; read with the exact
    convention, it leaves noise of std ~sigma_min = 1e-2 on a 1e-3-std target."""
    target = Gaussian(torch.zeros(2, dtype=D64), 1e-6 * torch.eye(2, dtype=D64))
    trained = revsde.VESDE(convention="score_sde")
    network = target.score(trained)  # exact for score_sde's marginals
    stds = {}
    for convention in ("score_sde", "exact"):
        sde = revsde.VESDE(convention=convention)
        x = revsde.sample(
            sde,
            network,
            (4000, 2),
            method="euler",
            steps=500,
            dtype=D64,
            generator=torch.Generator().manual_seed(0),
        )
        stds[convention] = float(x.std())
    assert stds["score_sde"] < 3e-3  # the 1e-3 target, up to discretisation
    assert stds["exact"] > 5e-3


def test_conventions_of_ve_sigma():
    exact, paper = revsde.VESDE(), revsde.VESDE(convention="score_sde")
    t = torch.tensor([0.0, 0.3, 1.0], dtype=D64)
    torch.testing.assert_close(paper.sigma(t), paper.noise_level(t))
    torch.testing.assert_close(exact.sigma(t) ** 2, paper.sigma(t) ** 2 - 0.01**2)
    torch.testing.assert_close(exact.diffusion_coeff(t), paper.diffusion_coeff(t))
    with pytest.raises(ValueError, match="convention must be one of"):
        revsde.VESDE(convention="ncsn")
    assert math.isfinite(float(paper.sigma(0.0)))


def test_ode_methods_draw_no_noise_and_churn_does():
    """The loop draws nothing for methods that read no noise (per-sample generators on a GPU
    paid a kernel launch per sample and step for it); EDM's churn reads it, so it draws."""
    sde = revsde.VPSDE()
    rode = sde.reverse(lambda x, t: -x, probability_flow=True)
    y0 = torch.randn(4, 2)
    for method, options, draws in (("unipc", {}, False), ("edm", {"s_churn": 5.0}, True)):
        gens = [torch.Generator().manual_seed(i) for i in range(4)]
        before = [g.get_state() for g in gens]
        solvers.solve(rode, y0, rode.times(5), method=method, generator=gens, **options)
        changed = any(not torch.equal(b, g.get_state()) for b, g in zip(before, gens, strict=True))
        assert changed == draws, method


@pytest.mark.parametrize("method", sorted(solvers.SOLVERS))
def test_a_method_that_declares_no_noise_reads_none(method):
    """Every registered method: where it declares ``uses_noise`` false (the loop then hands
    it zeros), its result is the one it gives with a real Brownian path, so it reads no noise.
    A method that read noise while declaring none would differ here."""
    solver = solvers.resolve(method)
    if solver.uses_noise:
        pytest.skip(f"{method} reads its noise")
    sde = revsde.VPSDE()
    rsde = sde.reverse(lambda x, t: -x, probability_flow=solver.ode_only)
    y0 = torch.randn(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ts = rsde.times(6, dtype=torch.float64)
    bm = torchsde.BrownianInterval(
        t0=0.0,
        t1=float(ts[-1]),
        size=(6, 2),
        dtype=torch.float64,
        entropy=1,
        levy_area_approximation="space-time",
    )
    quiet = solvers.solve(rsde, y0, ts, method=method, final_only=True).ys
    noisy = solvers.solve(rsde, y0, ts, method=method, bm=bm, final_only=True).ys
    assert torch.equal(quiet, noisy)


def test_adaptive_sampling_is_the_adaptive_solve_from_the_prior():
    """sample(adaptive=True) = prior draw, an adaptive sdeint from t_max to t_min under the
    given tolerances (the Brownian path seeded from the same generator), Tweedie's step."""
    sde, target = revsde.VPSDE(), mixture_2d()
    score = target.score(sde)
    options = {"atol": 0.05, "error_scale": "noise"}
    x = revsde.sample(
        sde,
        score,
        (64, 2),
        "ggf",
        adaptive=True,
        dtype=D64,
        generator=torch.Generator().manual_seed(0),
        **options,
    )
    gen = torch.Generator().manual_seed(0)
    rsde = sde.reverse(score, event_shape=(2,))
    x_T = sde.prior_sample((64, 2), generator=gen, dtype=D64)
    y = solvers.solve(
        rsde,
        x_T,
        [0.0, rsde.s_max],
        method="ggf",
        adaptive=True,
        generator=gen,
        final_only=True,
        **options,
    ).ys
    torch.testing.assert_close(x, rsde.predict_x0(rsde.s_max, y), rtol=0, atol=0)


def test_adaptive_ode_sampling_reaches_the_target():
    """dopri5 with adaptive=True on the probability-flow ODE of a 2-D Gaussian: the sample's
    mean and covariance match the exact law at t_min within a few standard errors (20 000
    samples: about 0.007 for the mean)."""
    sde = revsde.VPSDE()
    target = gaussian_2d(D64)
    x = revsde.sample(
        sde,
        target.score(sde),
        (20000, 2),
        "dopri5",
        adaptive=True,
        rtol=1e-4,
        atol=1e-4,
        dtype=D64,
        generator=torch.Generator().manual_seed(1),
    )
    law = target.marginal(sde, 1e-3)
    assert float((x.mean(0) - law.mean).abs().max()) < 0.03
    assert float((torch.cov(x.T) - law.covariance).abs().max()) < 0.05


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"adaptive": True, "steps": 10}, ValueError, "adaptive=True chooses its own steps"),
        ({"adaptive": True, "spacing": "karras"}, ValueError, "leave steps and spacing out"),
        ({"rtol": 1e-3}, ValueError, "rtol and atol are for adaptive=True"),
        ({"adaptive": True, "method": "unipc"}, ValueError, "embedded error estimate"),
    ],
)
def test_adaptive_sampling_errors_name_the_problem(kwargs, error, match):
    sde = revsde.VPSDE()
    kwargs = {"method": "ggf", **kwargs}
    with pytest.raises(error, match=match):
        revsde.sample(sde, lambda x, t: -x, (4, 2), **kwargs)
