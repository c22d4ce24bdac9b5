"""Shared fixtures: hypothesis profile, process factories and Monte Carlo assertions."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import revsde

# benchmarks/peers.py loads diffusers and k-diffusion for the parity tests too
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

# The tests' tensors are small: one intra-op thread avoids oversubscribing a loaded machine
# (the suite took 2.4x longer with torch's default threads on 2 busy cores).
torch.set_num_threads(1)

# Deterministic examples: a statistical test must not flip between runs.
settings.register_profile(
    "revsde",
    deadline=None,
    max_examples=25,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("revsde")

PROCESSES = {
    "ve": revsde.VESDE,
    "vp": revsde.VPSDE,
    "subvp": revsde.SubVPSDE,
    "cosine": revsde.CosineVPSDE,
}


@pytest.fixture(params=sorted(PROCESSES))
def process(request) -> revsde.DiffusionSDE:
    """Each process with its default parameters."""
    return PROCESSES[request.param]()


@st.composite
def processes(draw, kind: str) -> revsde.DiffusionSDE:
    """A process of the given kind with hypothesis-drawn parameters. Tests parametrize over
    the kind so that every process gets its full share of examples."""
    if kind == "ve":
        smin = draw(st.floats(1e-3, 1.0))
        ratio = draw(st.floats(2.0, 1e4))
        return revsde.VESDE(sigma_min=smin, sigma_max=smin * ratio)
    if kind in ("vp", "subvp"):
        bmin = draw(st.floats(0.0, 1.0))
        bmax = bmin + draw(st.floats(0.5, 30.0))
        return PROCESSES[kind](beta_min=bmin, beta_max=bmax)
    return revsde.CosineVPSDE(s=draw(st.floats(0.0, 0.05)))


N_SE = 4.5  # a two-sided 4.5-sigma band: about 7e-6 false alarms per check at a fixed seed


def assert_mean(samples: torch.Tensor, expected, *, n_se: float = N_SE) -> None:
    """Sample mean of ``samples`` (n, ...) against ``expected``, within n_se standard errors."""
    x = samples.double()
    n = x.shape[0]
    se = x.std(0) / math.sqrt(n)
    err = (x.mean(0) - torch.as_tensor(expected, dtype=torch.float64)).abs()
    bad = err > n_se * se
    assert not bool(bad.any()), f"mean off by {err.max():.3g}, {n_se} SE = {(n_se * se).max():.3g}"


def assert_cov(samples: torch.Tensor, expected, *, n_se: float = N_SE) -> None:
    """Sample covariance of (n, d) samples against ``expected`` (d, d); each entry's standard
    error is estimated from the samples' own fourth moments, so it holds for non-Gaussians."""
    x = samples.double()
    n = x.shape[0]
    c = x - x.mean(0)
    prods = c.unsqueeze(2) * c.unsqueeze(1)  # (n, d, d)
    se = prods.std(0) / math.sqrt(n)
    err = (prods.mean(0) * n / (n - 1) - torch.as_tensor(expected, dtype=torch.float64)).abs()
    assert not bool((err > n_se * se).any()), (
        f"covariance off by {err.max():.3g}; largest allowed {(n_se * se).max():.3g}"
    )


def standard_normal_pvalue(z: torch.Tensor) -> float:
    from scipy import stats

    return float(stats.kstest(z.double().flatten().numpy(), "norm").pvalue)


def moment_error(y: torch.Tensor, law) -> tuple[float, float]:
    """Weak error of samples ``y`` against a Gaussian ``law``: max |mean error| + max
    |covariance error|, and the largest Monte Carlo standard error of the covariance entries
    (the error's noise level)."""
    n = y.shape[0]
    c = y - y.mean(0)
    cov = c.T @ c / (n - 1)
    se = (c.unsqueeze(2) * c.unsqueeze(1)).reshape(n, -1).std(0).max() / n**0.5
    err = (cov - law.covariance).abs().max() + (y.mean(0) - law.mean).abs().max()
    return float(err), float(se)


def log_log_slope(h, err) -> float:
    """Least-squares slope of log(err) against log(h)."""
    return float(np.polyfit(np.log(np.asarray(h)), np.log(np.asarray(err)), 1)[0])


def projection_ks_pvalue(samples, law, direction) -> float:
    """KS p-value of samples projected on ``direction`` against the mixture's exact 1-D law."""
    a = torch.as_tensor(direction, dtype=torch.float64)
    sd = torch.einsum("i,kij,j->k", a, law.covs, a).sqrt()
    mu, w = law.means @ a, law.weights

    from scipy import stats

    def cdf(y):
        return sum(
            float(wk) * stats.norm.cdf(y, float(m), float(s))
            for wk, m, s in zip(w, mu, sd, strict=True)
        )

    return float(stats.kstest((samples @ a).numpy(), cdf).pvalue)
