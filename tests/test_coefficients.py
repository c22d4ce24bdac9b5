"""Coefficients against their defining identities (docs/math.md) and the closed-form table."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import PROCESSES, processes
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate
from torch import Tensor

import revsde

times = st.floats(0.01, 0.99)


def _t(t: float) -> Tensor:
    return torch.tensor(t, dtype=torch.float64)


def _derivative(fn, t: float) -> float:
    tt = _t(t).requires_grad_(True)
    (d,) = torch.autograd.grad(fn(tt) + 0.0 * tt, tt)  # + 0 t: constant fns have a graph
    return float(d)


@pytest.mark.parametrize("kind", sorted(PROCESSES))
@given(data=st.data(), t=times)
def test_drift_is_dlogalpha_dt(kind, data, t):
    """f(t) = d log alpha / dt."""
    sde = data.draw(processes(kind))
    expected = _derivative(lambda s: torch.log(sde.alpha(s)), t)
    assert float(sde.drift_coeff(_t(t))) == pytest.approx(expected, rel=1e-8, abs=1e-10)


@pytest.mark.parametrize("kind", sorted(PROCESSES))
@given(data=st.data(), t=times)
def test_diffusion_squared_is_dvar_dt_minus_2f_var(kind, data, t):
    """g(t)^2 = d sigma^2/dt - 2 f(t) sigma(t)^2."""
    sde = data.draw(processes(kind))
    dvar = _derivative(lambda s: sde.sigma(s) ** 2, t)
    var = float(sde.sigma(_t(t))) ** 2
    expected = dvar - 2.0 * float(sde.drift_coeff(_t(t))) * var
    assert float(sde.diffusion_coeff(_t(t))) ** 2 == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize("kind", sorted(PROCESSES))
@given(data=st.data(), t=times)
def test_variance_is_the_integral_of_g2_over_alpha2(kind, data, t):
    """sigma(t)^2 = alpha(t)^2 int_0^t g(s)^2 / alpha(s)^2 ds, by scipy quadrature."""
    sde = data.draw(processes(kind))

    def integrand(s: float) -> float:
        return float(sde.diffusion_coeff(_t(s)) ** 2 / sde.alpha(_t(s)) ** 2)

    integral, _ = integrate.quad(integrand, 0.0, t, epsabs=0.0, epsrel=1e-11, limit=200)
    expected = float(sde.alpha(_t(t))) ** 2 * integral
    assert float(sde.sigma(_t(t))) ** 2 == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize("kind", sorted(PROCESSES))
@given(data=st.data(), t=times)
def test_alpha_is_exp_of_int_f(kind, data, t):
    """alpha(t) = exp(int_0^t f)."""
    sde = data.draw(processes(kind))
    integral, _ = integrate.quad(lambda s: float(sde.drift_coeff(_t(s))), 0.0, t, epsrel=1e-11)
    assert float(sde.alpha(_t(t))) == pytest.approx(math.exp(integral), rel=1e-8)


# ----- the table of docs/math.md, written out independently in plain math -----


@given(smin=st.floats(1e-3, 1.0), ratio=st.floats(2.0, 1e4), t=st.floats(0.0, 1.0))
def test_ve_table(smin, ratio, t):
    sde = revsde.VESDE(smin, smin * ratio)
    sv = smin * ratio**t
    assert float(sde.noise_level(_t(t))) == pytest.approx(sv, rel=1e-12)
    assert float(sde.alpha(_t(t))) == 1.0
    assert float(sde.drift_coeff(_t(t))) == 0.0
    assert float(sde.sigma(_t(t))) ** 2 == pytest.approx(sv**2 - smin**2, rel=1e-9, abs=1e-15)
    g2 = 2 * sv**2 * math.log(ratio)
    assert float(sde.diffusion_coeff(_t(t))) ** 2 == pytest.approx(g2, rel=1e-12)


@given(bmin=st.floats(0.0, 1.0), width=st.floats(0.5, 30.0), t=st.floats(0.0, 1.0))
def test_vp_and_subvp_table(bmin, width, t):
    bmax = bmin + width
    vp, sub = revsde.VPSDE(bmin, bmax), revsde.SubVPSDE(bmin, bmax)
    beta = bmin + t * (bmax - bmin)
    alpha = math.exp(-0.25 * t**2 * (bmax - bmin) - 0.5 * t * bmin)
    int_beta = bmin * t + 0.5 * t**2 * (bmax - bmin)
    for sde in (vp, sub):
        assert float(sde.beta(_t(t))) == pytest.approx(beta, rel=1e-12)
        assert float(sde.drift_coeff(_t(t))) == pytest.approx(-beta / 2, rel=1e-12)
        assert float(sde.alpha(_t(t))) == pytest.approx(alpha, rel=1e-12)
    assert float(vp.diffusion_coeff(_t(t))) ** 2 == pytest.approx(beta, rel=1e-12)
    assert float(vp.sigma(_t(t))) ** 2 == pytest.approx(1 - alpha**2, rel=1e-9, abs=1e-15)
    g2_sub = beta * (1 - math.exp(-2 * int_beta))
    assert float(sub.diffusion_coeff(_t(t))) ** 2 == pytest.approx(g2_sub, rel=1e-9, abs=1e-15)
    assert float(sub.sigma(_t(t))) ** 2 == pytest.approx((1 - alpha**2) ** 2, rel=1e-9, abs=1e-15)


@given(s=st.floats(0.0, 0.05), t=st.floats(0.0, 0.99))
def test_cosine_table(s, t):
    sde = revsde.CosineVPSDE(s=s)
    abar = math.cos((t + s) / (1 + s) * math.pi / 2) ** 2 / math.cos(s / (1 + s) * math.pi / 2) ** 2
    assert float(sde.alpha(_t(t))) ** 2 == pytest.approx(abar, rel=1e-10)
    assert float(sde.sigma(_t(t))) ** 2 == pytest.approx(1 - abar, rel=1e-8, abs=1e-14)
    beta = math.pi / (1 + s) * math.tan((t + s) / (1 + s) * math.pi / 2)
    assert float(sde.diffusion_coeff(_t(t))) ** 2 == pytest.approx(beta, rel=1e-10)


# ----- the base class alone: f and g derived by autograd from (alpha, sigma) -----


class _VPFromAlphaSigma(revsde.DiffusionSDE):
    """A VP process given only by alpha and sigma: f and g come from the base class."""

    def __init__(self, inner: revsde.VPSDE):
        super().__init__()
        self.inner = inner

    def _alpha(self, t):
        return self.inner._alpha(t)

    def _sigma(self, t):
        return self.inner._sigma(t)


class _VEFromAlphaSigma(_VPFromAlphaSigma):
    pass


@pytest.mark.parametrize(
    "closed", [revsde.VPSDE(0.1, 20.0), revsde.SubVPSDE(0.3, 12.0), revsde.VESDE(0.05, 20.0)]
)
def test_base_class_derives_f_and_g_from_alpha_and_sigma(closed):
    generic = _VPFromAlphaSigma(closed)
    t = torch.linspace(0.02, 1.0, 50, dtype=torch.float64)
    torch.testing.assert_close(generic.drift_coeff(t), closed.drift_coeff(t), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(
        generic.diffusion_coeff(t), closed.diffusion_coeff(t), rtol=1e-8, atol=1e-12
    )


def test_coefficients_follow_dtype_and_accept_every_time_form(process):
    for dtype in (torch.float32, torch.float64):
        t = torch.tensor([0.1, 0.5, 0.9], dtype=dtype)
        for fn in (process.alpha, process.sigma, process.drift_coeff, process.diffusion_coeff):
            per_sample = fn(t)
            assert per_sample.dtype == dtype and per_sample.shape == (3,)
            scalar = fn(t[1])
            assert scalar.shape == () and scalar.dtype == dtype
            torch.testing.assert_close(scalar, per_sample[1])
            # a Python float computes in the default dtype (float32)
            torch.testing.assert_close(fn(0.5).to(dtype), per_sample[1], rtol=1e-6, atol=1e-6)


def test_snr_decreases(process):
    snr = process.snr(torch.linspace(0.05, 0.95, 20, dtype=torch.float64))
    assert bool((snr[1:] < snr[:-1]).all())
