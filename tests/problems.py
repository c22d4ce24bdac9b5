"""SDEs with known solutions for the solver tests (Rackauckas & Nie 2017, Kloeden & Platen)."""

from __future__ import annotations

import math

import torch


class GBM(torch.nn.Module):
    """Diagonal geometric Brownian motion dy = mu y dt + sigma y dW;
    y_t = y_0 exp((mu - sigma^2/2) t + sigma W_t)."""

    noise_type, sde_type = "diagonal", "ito"

    def __init__(self, mu=1.5, sigma=0.5):
        super().__init__()
        self.mu, self.sigma = mu, sigma

    def f(self, t, y):
        return self.mu * y

    def g(self, t, y):
        return self.sigma * y

    def exact(self, y0, t, W):
        return y0 * torch.exp((self.mu - 0.5 * self.sigma**2) * t + self.sigma * W)


class AdditiveTimeDependent(torch.nn.Module):
    """Additive noise with linear drift (Kloeden & Platen 4.4.(4.39); Rackauckas & Nie 2017):
    dy = (b / sqrt(1 + t) - y / (2 (1 + t))) dt + a b / sqrt(1 + t) dW,
    y_t = y_0 / sqrt(1 + t) + b (t + a W_t) / sqrt(1 + t)."""

    noise_type, sde_type = "diagonal", "ito"
    additive_noise = True

    def __init__(self, a=0.5, b=1.0):
        super().__init__()
        self.a, self.b = a, b

    def f(self, t, y):
        return self.b / torch.sqrt(1 + t) - y / (2 * (1 + t))

    def g(self, t, y):
        return (self.a * self.b / torch.sqrt(1 + t)).expand_as(y)

    def exact(self, y0, t, W):
        return y0 / math.sqrt(1 + t) + self.b * (t + self.a * W) / math.sqrt(1 + t)


class OU(torch.nn.Module):
    """Diagonal Ornstein–Uhlenbeck dy = theta (mu - y) dt + sigma dW (the speed benchmark's SDE)."""

    noise_type, sde_type = "diagonal", "ito"
    additive_noise = True

    def __init__(self, theta=1.0, mu=0.5, sigma=0.3):
        super().__init__()
        self.theta, self.mu, self.sigma = theta, mu, sigma

    def f(self, t, y):
        return self.theta * (self.mu - y)

    def g(self, t, y):
        return torch.full_like(y, self.sigma)


class GeneralNoise(torch.nn.Module):
    """dy = -y dt + B dW with a (d, m) noise matrix: general noise."""

    noise_type, sde_type = "general", "ito"

    def __init__(self, d=3, m=2):
        super().__init__()
        self.B = torch.linspace(0.1, 1.0, d * m, dtype=torch.float64).reshape(d, m)

    def f(self, t, y):
        return -y

    def g(self, t, y):
        return self.B.to(y).expand(y.shape[0], *self.B.shape)


class ScalarNoise(torch.nn.Module):
    """dy = -y dt + 0.5 y dW with one Brownian motion for all d components."""

    noise_type, sde_type = "scalar", "ito"

    def f(self, t, y):
        return -y

    def g(self, t, y):
        return (0.5 * y).unsqueeze(-1)


def gaussian_probability_flow(sde, t_min=0.05, n_paths=64, seed=4):
    """The probability-flow ODE of N(mu, diag c) data and its exact end points.

    (x_t - alpha_t mu) / sqrt(alpha_t^2 c + sigma_t^2) is constant along every path (DESIGN
    §4), so from x_T the exact x_{t_min} is known. Returns ``(rode, x_T, exact)``."""
    from revsde.targets import Gaussian

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
