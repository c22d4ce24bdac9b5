"""Problems for the tests: the analytic SDEs of ``solvers.problems`` and the exact
probability-flow ODE of Gaussian data."""

from __future__ import annotations

import numpy as np
import torch

from revsde import solvers
from revsde.solvers.problems import GBM, OU, AdditiveTimeDependent, GeneralNoise, ScalarNoise

__all__ = [
    "GBM",
    "OU",
    "AdditiveTimeDependent",
    "GeneralNoise",
    "ScalarNoise",
    "gaussian_probability_flow",
    "gaussian_reverse_sde",
    "probability_flow_order",
]


def gaussian_probability_flow(sde, t_min=0.05, n_paths=64, seed=4):
    """The probability-flow ODE of N(mu, diag c) data and its exact end points.

    (x_t - alpha_t mu) / sqrt(alpha_t^2 c + sigma_t^2) is constant along every path (docs/math.md),
    so from x_T the exact x_{t_min} is known. Returns ``(rode, x_T, exact)``."""
    from revsde.evaluation.targets import Gaussian

    d64 = torch.float64
    mu, c = torch.tensor([1.0, -0.5], dtype=d64), torch.tensor([0.3, 2.0], dtype=d64)
    target = Gaussian(mu, torch.diag(c))
    rode = sde.reverse(target.score(sde), probability_flow=True, t_min=t_min)

    def scale(t):
        t = torch.tensor(t, dtype=d64)
        return sde.alpha(t), (sde.alpha(t) ** 2 * c + sde.sigma(t) ** 2).sqrt()

    gen = torch.Generator().manual_seed(seed)
    x_T = target.marginal(sde, rode.t_max).sample(n_paths, generator=gen)
    (a_T, s_T), (a_0, s_0) = scale(rode.t_max), scale(rode.t_min)
    return rode, x_T, a_0 * mu + s_0 * (x_T - a_T * mu) / s_T


def gaussian_reverse_sde(n_samples, *, probability_flow=False, seed=2):
    """The reverse VP SDE (or its probability-flow ODE) of a correlated 2-D Gaussian target
    with t_min = 0.01, for weak-error tests. Returns ``(rsde, x_T, law)``: ``n_samples`` draws
    of the exact law at t_max and the exact law at t_min."""
    import revsde
    from revsde.evaluation.problems import gaussian_2d

    sde = revsde.VPSDE()
    target = gaussian_2d(torch.float64)
    rsde = sde.reverse(target.score(sde), t_min=0.01, probability_flow=probability_flow)
    gen = torch.Generator().manual_seed(seed)
    x_T = target.marginal(sde, rsde.t_max).sample(n_samples, generator=gen)
    return rsde, x_T, target.marginal(sde, rsde.t_min)


def probability_flow_order(sde, method, ns, **options):
    """Log-log slope of the pathwise error at t_min against the step size on the exact
    probability-flow path of ``gaussian_probability_flow``; returns ``(slope, errors)``."""
    rode, x_T, exact = gaussian_probability_flow(sde)
    errs = []
    for n in ns:
        ts = rode.times(n, dtype=torch.float64)
        y = solvers.solve(rode, x_T, ts, method=method, final_only=True, **options).ys
        errs.append(float((y - exact).abs().max()))
    slope = float(np.polyfit(np.log([1 / n for n in ns]), np.log(errs), 1)[0])
    return slope, errs
