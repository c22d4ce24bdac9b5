"""Convergence orders, measured: log-log slopes of error against step size, float64, nested
grids on one Brownian path (torchsde's BrownianInterval), 1000 paths. Each method is held to
the order it declares (diffrax's convention), on problems with known solutions."""

from __future__ import annotations

import pytest
import torch
import torchsde
from conftest import assert_cov, assert_mean, log_log_slope, moment_error
from problems import (
    GBM,
    AdditiveTimeDependent,
    ScalarNoise,
    gaussian_reverse_sde,
    probability_flow_order,
)
from test_targets import mixture_2d

import revsde
from revsde import solvers
from revsde.evaluation.problems import gaussian_2d

D64 = torch.float64
BAND = 0.2


def _bm(shape, seed, levy):
    return torchsde.BrownianInterval(
        0.0,
        1.0,
        size=shape,
        dtype=D64,
        entropy=seed,
        levy_area_approximation="space-time" if levy else "none",
    )


def strong_errors(sde, method, ns, y0, reference, levy, noise_shape=None):
    """Mean |y_N - reference| at t = 1 on grids of n steps, all on one Brownian path."""
    bm = _bm(noise_shape or y0.shape, 0, levy)
    ref = reference(bm)
    errs = []
    for n in ns:
        y = solvers.solve(
            sde, y0, torch.linspace(0, 1, n + 1, dtype=D64), method=method, bm=bm, final_only=True
        ).ys
        errs.append(float((y - ref).abs().mean()))
    return log_log_slope([1 / n for n in ns], errs), errs


# (problem, method) -> the strong order theory predicts on that problem. GBM has
# multiplicative noise. The additive problem has t-dependent noise and a linear drift: there
# Euler reaches order 1, and SRA1's order-1.5 error terms (which carry f'') vanish, so it
# shows order 2.
STRONG_CASES = {
    ("gbm", "euler"): 0.5,
    ("gbm", "milstein"): 1.0,
    ("gbm", "milstein_df"): 1.0,
    # scalar noise: Milstein's (g . grad) g is a Jacobian-vector product, Euler's g dW a matvec
    ("scalar_gbm", "euler"): 0.5,
    ("scalar_gbm", "milstein"): 1.0,
    ("scalar_gbm", "milstein_df"): 1.0,
    ("additive", "euler"): 1.0,
    ("additive", "milstein"): 1.0,
    ("additive", "sra1"): 2.0,
}


@pytest.mark.parametrize(("problem", "method"), sorted(STRONG_CASES))
def test_strong_order_on_analytic_problems(problem, method):
    y0, noise_shape = torch.full((1000, 1), 0.5, dtype=D64), None
    if problem == "gbm":
        sde, ns = GBM(mu=0.1, sigma=0.5), [32, 64, 128, 256, 512, 1024]
    elif problem == "scalar_gbm":
        sde, ns = ScalarNoise(), [32, 64, 128, 256, 512, 1024]
        y0 = torch.tensor([0.5, 1.0], dtype=D64).expand(1000, 2).clone()
        noise_shape = (1000, 1)
    else:
        sde, ns = AdditiveTimeDependent(), [16, 32, 64, 128, 256]
    solver = solvers.resolve(method)

    def exact(bm):
        return sde.exact(y0, 1.0, bm(0.0, 1.0))

    slope, errs = strong_errors(sde, method, ns, y0, exact, solver.needs_levy_area, noise_shape)
    assert abs(slope - STRONG_CASES[problem, method]) < BAND, (slope, errs)
    assert slope > solver.strong_order - BAND  # never below its own claim


def test_strong_order_of_euler_on_the_reverse_vp_sde():
    """Reverse VP SDE of a 2-D Gaussian against an SRA1 reference on a 1024-step grid of the
    same path: Euler is strong order 1 here (the noise is additive)."""
    sde = revsde.VPSDE()
    target = gaussian_2d(D64)
    rsde = sde.reverse(target.score(sde), t_min=0.01)
    # rescale the reverse clock onto [0, 1] so that the grids are exact binary fractions
    x_T = target.marginal(sde, rsde.t_max).sample(1000, generator=torch.Generator().manual_seed(1))

    class Rescaled(torch.nn.Module):
        noise_type, sde_type, additive_noise = "diagonal", "ito", True

        def f(self, u, y):
            return rsde.s_max * rsde.f(u * rsde.s_max, y)

        def g(self, u, y):
            return rsde.s_max**0.5 * rsde.g(u * rsde.s_max, y)

    prob = Rescaled()

    def reference(bm):
        ts = torch.linspace(0, 1, 1025, dtype=D64)
        return solvers.solve(prob, x_T, ts, method="sra1", bm=bm, final_only=True).ys

    slope, errs = strong_errors(prob, "euler", [8, 16, 32, 64, 128], x_T, reference, levy=True)
    assert abs(slope - 1.0) < BAND, (slope, errs)


def test_weak_order_of_euler_on_the_reverse_vp_sde():
    """Mean and covariance at t_min against the exact law: the bias falls at order 1, and
    at the finest grid it is still several Monte Carlo standard errors wide."""
    rsde, x_T, law = gaussian_reverse_sde(400_000)
    ns, errs, ses = [8, 16, 32, 64], [], []
    for n in ns:
        y = solvers.solve(
            rsde,
            x_T,
            rsde.times(n, dtype=D64),
            method="euler",
            final_only=True,
            generator=torch.Generator().manual_seed(n),
        ).ys
        err, se = moment_error(y, law)
        errs.append(err)
        ses.append(se)
    slope = log_log_slope([1 / n for n in ns], errs)
    assert abs(slope - 1.0) < BAND, (slope, errs)
    assert errs[-1] > 5 * ses[-1], (errs, ses)


@pytest.mark.parametrize(
    ("method", "order", "ns"),
    [
        ("euler", 1.0, [32, 64, 128, 256]),
        ("heun", 2.0, [16, 32, 64, 128]),
        ("rk4", 4.0, [8, 16, 32, 64]),
        ("bosh3", 3.0, [16, 32, 64, 128]),
    ],
)
@pytest.mark.parametrize("kind", ["vp", "ve"])
def test_ode_methods_on_the_exact_probability_flow(kind, method, order, ns):
    """(x_t - alpha mu) / sqrt(alpha^2 c + sigma^2) is constant on every probability-flow path
    of N(mu, diag c) data: the pathwise error falls at each method's order."""
    sde = revsde.VPSDE() if kind == "vp" else revsde.VESDE(0.01, 10.0)
    slope, errs = probability_flow_order(sde, method, ns)
    assert abs(slope - order) < BAND, (slope, errs)


@pytest.mark.parametrize("n_corrector_steps", [0, 1])
def test_pc_samples_a_gaussian_mixture(n_corrector_steps):
    """Predictor-corrector with the exact score, 500 steps: the mixture's moments at t_min."""
    sde, target = revsde.VPSDE(), mixture_2d()
    rsde = sde.reverse(target.score(sde))
    x_T = sde.prior_sample((4000, 2), generator=torch.Generator().manual_seed(5), dtype=D64)
    y = solvers.solve(
        rsde,
        x_T,
        rsde.times(500, dtype=D64),
        method="pc",
        n_corrector_steps=n_corrector_steps,
        final_only=True,
        generator=torch.Generator().manual_seed(6),
    ).ys
    law = target.marginal(sde, rsde.t_min)
    assert_mean(y, law.mean)
    assert_cov(y, law.covariance)


@pytest.mark.parametrize("method", sorted(solvers.SOLVERS))
def test_every_method_samples_the_data_law(method):
    """Every registered method (on the ODE if it is ODE-only) takes the exact law at t_max to
    the exact law at t_min: mean and covariance within Monte Carlo error at 400 steps."""
    sde = revsde.VPSDE()
    target = gaussian_2d(D64)
    solver = solvers.resolve(method)
    rsde = sde.reverse(target.score(sde), probability_flow=solver.ode_only, t_min=0.01)
    x_T = target.marginal(sde, rsde.t_max).sample(4000, generator=torch.Generator().manual_seed(7))
    y = solvers.solve(
        rsde,
        x_T,
        rsde.times(400, dtype=D64),
        method=method,
        final_only=True,
        generator=torch.Generator().manual_seed(8),
    ).ys
    law = target.marginal(sde, rsde.t_min)
    assert_mean(y, law.mean)
    assert_cov(y, law.covariance)
