"""Few-step samplers: DDIM, DPM-Solver++ (2S, 2M, 3M) and SDE-DPM-Solver++, held to their
orders on the exact probability-flow path, to exactness facts, and to each other."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import log_log_slope, moment_error
from problems import gaussian_reverse_sde, probability_flow_order

import revsde
from revsde import solvers
from revsde.evaluation.targets import Gaussian
from revsde.solvers.base import Noise
from revsde.solvers.diffusion.dpm_solver import _History

D64 = torch.float64
BAND = 0.2

# (method, options) -> (order, grids for VP, grids for VE): the finest grids where each is
# asymptotic on the exact path of a 2-D Gaussian (3M needs finer ones on VE)
ODE_ORDERS = {
    "ddim": (1.0, [16, 32, 64, 128], [16, 32, 64, 128]),
    "dpmpp_2s": (2.0, [16, 32, 64, 128], [16, 32, 64, 128]),
    "dpmpp_3s": (3.0, [16, 32, 64, 128], [16, 32, 64, 128]),
    "dpmpp_2m": (2.0, [16, 32, 64, 128], [32, 64, 128, 256]),
    "dpmpp_3m": (3.0, [32, 64, 128, 256], [128, 256, 512, 1024]),
    "unipc": (3.0, [64, 128, 256, 512], [32, 64, 128, 256]),  # UniP-2 + UniC: order 3
    "edm": (2.0, [16, 32, 64, 128], [16, 32, 64, 128]),
}


@pytest.mark.parametrize("kind", ["vp", "ve"])
@pytest.mark.parametrize("method", [*sorted(ODE_ORDERS), "dpmpp_3s(stages=logsnr)"])
def test_orders_on_the_exact_probability_flow(method, kind):
    options = {"stages": "logsnr"} if method.endswith("(stages=logsnr)") else {}
    method = method.split("(")[0]
    order, ns_vp, ns_ve = ODE_ORDERS[method]
    sde = revsde.VPSDE() if kind == "vp" else revsde.VESDE(0.01, 10.0)
    ns = ns_vp if kind == "vp" else ns_ve
    slope, errs = probability_flow_order(sde, method, ns, **options)
    assert abs(slope - order) < BAND, (slope, errs)
    assert solvers.resolve(method).strong_order == order


class QuadraticDataPrediction:
    """An SDE-like object whose data prediction is a fixed quadratic in lambda, for a VP
    process: every step of an exponential integrator can be compared with the exact
    integral sigma_1 int e^lambda x0_hat(lambda) dlambda."""

    def __init__(self):
        self.sde = revsde.VPSDE()
        self.coef = torch.tensor([0.3, -1.2, 0.7], dtype=D64)

    def lam(self, t):
        a, s = self.marginal_coefficients(t, None)
        return torch.log(a) - torch.log(s)

    def marginal_coefficients(self, t, like):
        return self.sde.alpha(1.0 - t), self.sde.sigma(1.0 - t)

    def x0(self, lam):
        return self.coef[0] + self.coef[1] * lam + self.coef[2] * lam**2

    def predict_x0(self, t, y):
        return self.x0(self.lam(t)).expand_as(y)

    def time_of_log_snr(self, lam):
        return 1.0 - self.sde.time_of_log_snr(lam)


@pytest.mark.parametrize(
    ("method", "eta", "stages"),
    [
        ("dpmpp_3m", 0.0, None),
        ("dpmpp_3m_sde", 0.0, None),
        ("dpmpp_3m_sde", 0.7, None),
        ("dpmpp_3s", 0.0, "time"),
        ("dpmpp_3s", 0.0, "logsnr"),
    ],
)
def test_third_order_steps_integrate_a_quadratic_data_prediction_exactly(method, eta, stages):
    """One 3M step with a history of two earlier predictions (one 3S step from its own
    stages) against the exact integral (for the SDE variant, of its mean: dW = 0), with weight
    (1 + eta) e^{-(1 + eta)(lambda_1 - lambda)}: the coefficient of the second difference must
    be the Taylor-exact one (the reference codes' half of it misses by ~6 % of the step's
    increment here)."""
    from scipy.integrate import quad

    prob = QuadraticDataPrediction()
    ts = [torch.tensor(v, dtype=D64) for v in (0.30, 0.42, 0.55, 0.70)]  # reverse clock
    lams = [prob.lam(t) for t in ts]
    history = ((lams[0], prob.x0(lams[0])), (lams[1], prob.x0(lams[1])))
    y0 = torch.full((1, 1), 0.4, dtype=D64)
    noise = Noise(float(ts[3] - ts[2]), torch.zeros_like(y0))
    if method == "dpmpp_3s":
        solver, state = solvers.resolve(method, stages=stages), None
    else:
        options = {"eta": eta} if method == "dpmpp_3m_sde" else {}
        solver, state = solvers.resolve(method, **options), _History(history, steps_left=10)
    y1, _ = solver.step(prob, ts[2], ts[3], y0, noise, state)
    a1 = prob.marginal_coefficients(ts[3], None)[0]
    s0 = prob.marginal_coefficients(ts[2], None)[1]
    s1 = prob.marginal_coefficients(ts[3], None)[1]
    lam0, lam1 = float(lams[2]), float(lams[3])
    c = 1.0 + eta

    def weight(lam):
        return c * math.exp(-c * (lam1 - lam)) * float(prob.x0(torch.tensor(lam, dtype=D64)))

    integral = quad(weight, lam0, lam1, epsabs=1e-14, epsrel=1e-13)[0]
    exact = float(s1 / s0) * math.exp(-eta * (lam1 - lam0)) * 0.4 + float(a1) * integral
    assert float(y1) == pytest.approx(exact, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("method", ["dpmpp_2s", "dpmpp_3s"])
def test_single_step_stages_sit_at_fractions_of_the_step_in_the_chosen_clock(method):
    """The inner stages are evaluated at 1/2 (2S) or 1/3 and 2/3 (3S) of the step: of the
    integration clock with ``stages="time"``, of lambda with ``stages="logsnr"`` (as Lu et
    al.'s DPM-Solver-2 and -3)."""
    prob = QuadraticDataPrediction()
    seen = []
    predict = prob.predict_x0
    prob.predict_x0 = lambda t, y: seen.append(t) or predict(t, y)
    t0, t1 = torch.tensor(0.3, dtype=D64), torch.tensor(0.7, dtype=D64)
    y0 = torch.full((1, 1), 0.4, dtype=D64)
    fractions = [0.5] if method == "dpmpp_2s" else [1 / 3, 2 / 3]
    lam0, h = prob.lam(t0), prob.lam(t1) - prob.lam(t0)
    for stages in ("time", "logsnr"):
        seen.clear()
        solvers.resolve(method, stages=stages).step(prob, t0, t1, y0, Noise(0.4, y0 * 0), None)
        assert len(seen) == 1 + len(fractions)
        for t, r in zip(seen[1:], fractions, strict=True):
            if stages == "time":
                assert float(t) == pytest.approx(float(t0 + r * (t1 - t0)), abs=1e-15)
            else:
                assert float(prob.lam(t)) == pytest.approx(float(lam0 + r * h), abs=1e-10)
                assert abs(float(t) - float(t0 + r * (t1 - t0))) > 1e-3  # the clocks differ


def test_dpmpp_3s_with_logsnr_stages_is_the_more_accurate_on_a_grid_uniform_in_time():
    """DPM-Solver-3's stages (thirds in lambda) against thirds in the integration clock, exact
    laws on a 2-D and the anisotropic 64-D Gaussian, VP, uniform grid, 4 and 8 steps
    (measured: 1.6-5x)."""
    from revsde.evaluation.exact import exact_solve
    from revsde.evaluation.problems import gaussian_2d, gaussian_64

    for target in (gaussian_2d(D64), gaussian_64()):
        for n in (4, 8):
            w = {
                stages: exact_solve(
                    revsde.VPSDE(),
                    target,
                    "dpmpp_3s",
                    n,
                    start="exact",
                    spacing="uniform",
                    stages=stages,
                ).w2
                for stages in ("time", "logsnr")
            }
            assert w["logsnr"] < 0.75 * w["time"], (n, w)


def test_logsnr_stages_need_the_sdes_log_snr_clock():
    class NoClock:
        """A semi-linear problem without ``time_of_log_snr``."""

        noise_type, sde_type, is_ode = "diagonal", "ito", True

        def __init__(self):
            self.inner = QuadraticDataPrediction()

        def f(self, t, y):
            raise NotImplementedError("semi-linear solvers do not call f")

        g = f

        def marginal_coefficients(self, t, like):
            return self.inner.marginal_coefficients(t, like)

        def predict_x0(self, t, y):
            return self.inner.predict_x0(t, y)

    with pytest.raises(ValueError, match="stages must be one of"):
        solvers.resolve("dpmpp_3s", stages="lambda")
    assert solvers.resolve("dpmpp_3s").stages == "time"
    ts = torch.linspace(0.3, 0.7, 3, dtype=D64)
    y0 = torch.zeros(2, 1, dtype=D64)
    assert solvers.solve(NoClock(), y0, ts, method="dpmpp_3s").ys.isfinite().all()
    with pytest.raises(ValueError, match="time_of_log_snr"):
        solvers.solve(NoClock(), y0, ts, method="dpmpp_3s", stages="logsnr")


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("ddim", {}),
        ("dpmpp_2s", {}),
        ("dpmpp_3s", {}),
        ("dpmpp_3s", {"stages": "logsnr"}),
        ("dpmpp_2m", {}),
        ("dpmpp_3m", {}),
        ("dpmpp_2m_sde", {"eta": 0.0}),
        ("dpmpp_3m_sde", {"eta": 0.0}),
        ("edm", {}),
    ],
)
def test_exact_for_point_mass_data_at_any_step_count(method, options):
    """For data at one point mu the data prediction is mu everywhere, and the flow is
    x_t = alpha_t mu + sigma_t (x_T - alpha_T mu) / sigma_T: exponential integrators are exact."""
    sde = revsde.VPSDE()
    mu = torch.tensor([1.5, -0.5], dtype=D64)

    def score(x, t):
        a, s = sde.alpha(t), sde.sigma(t)
        return -(x - a * mu) / s**2

    rode = sde.reverse(score, probability_flow=True)
    x_T = torch.randn(8, 2, dtype=D64, generator=torch.Generator().manual_seed(0))
    t_max, t_min = torch.tensor(rode.t_max, dtype=D64), torch.tensor(rode.t_min, dtype=D64)
    a_T, s_T = sde.alpha(t_max), sde.sigma(t_max)
    a_0, s_0 = sde.alpha(t_min), sde.sigma(t_min)
    exact = a_0 * mu + s_0 * (x_T - a_T * mu) / s_T
    for n in (2, 3, 10):
        y = solvers.solve(
            rode, x_T, rode.times(n, dtype=D64), method=method, final_only=True, **options
        ).ys
        torch.testing.assert_close(y, exact, rtol=1e-10, atol=1e-12)


def test_the_sde_variants_reduce_to_their_deterministic_and_ancestral_counterparts():
    sde, target = revsde.VPSDE(), Gaussian(torch.zeros(2, dtype=D64), torch.eye(2, dtype=D64))
    # these samplers use the marginals and the data prediction only, not the object's lam
    rode = sde.reverse(target.score(sde), probability_flow=True)
    x_T = torch.randn(16, 2, dtype=D64, generator=torch.Generator().manual_seed(1))
    ts = rode.times(12, spacing="quadratic", dtype=D64)

    def run(method, **kw):
        gen = torch.Generator().manual_seed(3)
        return solvers.solve(rode, x_T, ts, method=method, generator=gen, final_only=True, **kw).ys

    # eta = 0: SDE-DPM-Solver++(2M) is DPM-Solver++(2M)
    torch.testing.assert_close(
        run("dpmpp_2m_sde", eta=0.0), run("dpmpp_2m", lower_order_final=False)
    )
    # with a single step (no history), SDE-DPM-Solver++ is DDIM with eta = 1 (same noise)
    one = ts[:2]
    torch.testing.assert_close(
        solvers.sdeint(
            rode,
            x_T,
            one,
            method="dpmpp_2m_sde",
            dt=1.0,
            final_only=True,
            generator=torch.Generator().manual_seed(3),
        ),
        solvers.sdeint(
            rode,
            x_T,
            one,
            method="ddim",
            eta=1.0,
            dt=1.0,
            final_only=True,
            generator=torch.Generator().manual_seed(3),
        ),
    )


@pytest.mark.parametrize(
    ("method", "options", "order", "ns"),
    [
        ("dpmpp_2m_sde", {}, 2.0, [32, 64, 128]),
        ("edm", {"s_churn": 40.0}, 1.0, [32, 64, 128]),
        ("ddim", {"eta": 1.0}, 1.0, [32, 64, 128]),
    ],
)
def test_weak_order_of_the_stochastic_variants(method, options, order, ns):
    """Mean and covariance at t_min against the exact law of a Gaussian target: the bias
    falls at the declared weak order, and at the finest grid it is still well above the
    Monte Carlo error."""
    # EDM's churn is a stochastic sampler of the probability-flow ODE
    ode = solvers.resolve(method, **options).ode_only
    rsde, x_T, law = gaussian_reverse_sde(400_000, probability_flow=ode)
    errs, ses = [], []
    for n in ns:
        with torch.no_grad():
            y = solvers.solve(
                rsde,
                x_T,
                rsde.times(n, dtype=D64),
                method=method,
                final_only=True,
                generator=torch.Generator().manual_seed(n),
                **options,
            ).ys
        err, se = moment_error(y, law)
        errs.append(err)
        ses.append(se)
    slope = log_log_slope([1 / n for n in ns], errs)
    assert abs(slope - order) < BAND, (slope, errs)
    assert errs[-1] > 3 * ses[-1], (errs, ses)
    assert solvers.resolve(method, **options).weak_order == order


def test_3m_sde_converges_weakly_to_the_exact_law():
    """SDE-DPM-Solver++(3M) on the reverse SDE of a Gaussian target: on the uniform grid it is
    far off at 32 steps (its extrapolated differences of noisy data predictions) and within
    Monte Carlo error at 256; its coefficients are checked exactly by
    test_third_order_steps_integrate_a_quadratic_data_prediction_exactly."""
    n_samples = 200_000
    rsde, x_T, law = gaussian_reverse_sde(n_samples)
    errs = []
    for n in (32, 256):
        with torch.no_grad():
            y = solvers.solve(
                rsde,
                x_T,
                rsde.times(n, dtype=D64),
                method="dpmpp_3m_sde",
                final_only=True,
                generator=torch.Generator().manual_seed(n),
            ).ys
        errs.append(moment_error(y, law)[0])
    se = 1.0 / n_samples**0.5  # the order of the Monte Carlo error of these moments
    assert errs[1] < 4 * se < errs[0] / 10, errs


@pytest.mark.parametrize(
    ("method", "options", "match"),
    [
        ("ddim", {"eta": 1.5}, "eta must lie in"),
        ("dpmpp_2m", {"lower_order_final": "yes"}, "lower_order_final must be"),
        ("unipc", {"variant": "bh3"}, "variant must be one of"),
        ("edm", {"s_churn": -1.0}, "s_churn must be >= 0"),
        ("edm", {"s_tmin": 2.0, "s_tmax": 1.0}, "s_tmax must be >= s_tmin"),
        ("dpmpp_2m_sde", {"eta": -1.0}, "eta must be >= 0"),
    ],
)
def test_bad_options(method, options, match):
    with pytest.raises(ValueError, match=match):
        solvers.resolve(method, **options)


@pytest.mark.parametrize("method", ["dpmpp_2m", "dpmpp_2m_sde", "dpmpp_3m_sde"])
def test_one_name_per_scheme_no_order_option(method):
    """The order is in the name (dpmpp_2m, dpmpp_3m, ddim for order 1): no option selects
    another scheme under the same name."""
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        solvers.resolve(method, order=3)


def test_few_step_methods_need_the_semi_linear_protocol():
    from revsde.solvers.problems import OU

    match = r"protocol SemiLinearSDE .*lacks \['marginal_coefficients', 'predict_x0'\]"
    with pytest.raises(ValueError, match=match):
        solvers.sdeint(OU(), torch.zeros(2, 2), [0.0, 1.0], dt=0.5, method="dpmpp_2m_sde")


def test_lower_order_final_on_few_steps_as_diffusers_does():
    """With fewer than 15 steps the last step of 2M is first order (diffusers' default rule):
    only the last step differs from the full-order run; from 15 steps on it is off."""
    sde, target = revsde.VPSDE(), Gaussian(torch.zeros(2, dtype=D64), torch.eye(2, dtype=D64))
    rode = sde.reverse(target.score(sde), probability_flow=True)
    x_T = torch.randn(8, 2, dtype=D64, generator=torch.Generator().manual_seed(0))
    ts = rode.times(6, spacing="quadratic", dtype=D64)
    default = solvers.solve(rode, x_T, ts, method="dpmpp_2m").ys
    full = solvers.solve(rode, x_T, ts, method="dpmpp_2m", lower_order_final=False).ys
    torch.testing.assert_close(default[:-1], full[:-1])
    assert not torch.allclose(default[-1], full[-1])
    forced = solvers.solve(rode, x_T, ts, method="dpmpp_2m", lower_order_final=True).ys
    torch.testing.assert_close(forced, default)
    long = rode.times(20, dtype=D64)  # 20 steps: off by default
    torch.testing.assert_close(
        solvers.solve(rode, x_T, long, method="dpmpp_2m", final_only=True).ys,
        solvers.solve(
            rode, x_T, long, method="dpmpp_2m", lower_order_final=False, final_only=True
        ).ys,
    )


def test_logsnr_grid_is_uniform_in_log_snr():
    for sde in (revsde.VPSDE(), revsde.VESDE(), revsde.CosineVPSDE()):
        rsde = sde.reverse(lambda x, t: x)
        t = rsde.t_max - rsde.times(7, spacing="logsnr", dtype=D64)
        lam = torch.log(sde.alpha(t)) - torch.log(sde.sigma(t))
        steps = lam.diff()
        torch.testing.assert_close(steps, steps.mean().expand(7), rtol=1e-9, atol=1e-12)
        assert float(t[0]) == pytest.approx(rsde.t_max) and float(t[-1]) == pytest.approx(
            rsde.t_min
        )


def test_power_grids_and_their_parameter_in_the_name():
    rsde = revsde.VPSDE().reverse(lambda x, t: x)
    u = torch.linspace(0.0, 1.0, 9, dtype=D64)
    for p in (1.0, 2.0, 3.5):
        expected = rsde.s_max * (1.0 - (1.0 - u) ** p)
        torch.testing.assert_close(rsde.times(8, spacing="power", power=p, dtype=D64), expected)
        torch.testing.assert_close(rsde.times(8, spacing=f"power:{p}", dtype=D64), expected)
    torch.testing.assert_close(
        rsde.times(8, spacing="quadratic", dtype=D64), rsde.times(8, spacing="power:2", dtype=D64)
    )
    torch.testing.assert_close(
        rsde.times(8, spacing="karras:5", dtype=D64),
        rsde.times(8, spacing="karras", rho=5.0, dtype=D64),
    )


def test_an_explicit_grid_of_forward_times_is_sampled_as_given():
    sde, target = revsde.VPSDE(), Gaussian(torch.zeros(2, dtype=D64), torch.eye(2, dtype=D64))
    rsde = sde.reverse(target.score(sde))
    named = rsde.times(7, spacing="power:3", dtype=D64)
    forward = rsde.forward_time(named)  # t_max ... t_min, decreasing
    torch.testing.assert_close(rsde.times(spacing=forward, dtype=D64), named)

    def draw(**kw):
        seeds = list(range(16))
        return revsde.sample(
            sde, target.score(sde), (16, 2), method="dpmpp_2m", dtype=D64, generator=seeds, **kw
        )

    torch.testing.assert_close(draw(spacing=forward), draw(steps=7, spacing="power:3"))


@pytest.mark.parametrize(
    ("spacing", "match"),
    [
        ("powr", r"spacing must be one of \['uniform', 'quadratic', 'power', 'karras'"),
        ("uniform:2", "spacing must be one of"),
        ("power:x", "'x' is not a number"),
        ("power:-1", "power must be > 0"),
        (torch.tensor([0.1, 0.5, 1.0]), "strictly decreasing"),
        (torch.tensor([1.0, 0.5, 0.1]), "must run from t_max = 1.0 to t_min = 0.001"),
        (torch.tensor([[1.0, 0.001]]), "1-d floating tensor"),
    ],
)
def test_bad_spacings_are_named(spacing, match):
    rsde = revsde.VPSDE().reverse(lambda x, t: x)
    n = None if isinstance(spacing, torch.Tensor) else 4
    with pytest.raises(ValueError, match=match):
        rsde.times(n, spacing=spacing)
