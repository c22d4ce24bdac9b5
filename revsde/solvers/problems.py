"""Test problems with known solutions, for convergence studies of any solver (Kloeden &
Platen 1992; Rackauckas & Nie 2017). Each is a torchsde-style module; ``exact(y0, t, W_t)``
gives the solution driven by the Brownian value W_t where one exists in closed form."""

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
    """Linear scalar-noise SDE dy = mu y dt + B y dW in R^2, one Brownian motion W, with
    B = [[a, -b], [b, a]] (not symmetric, and commuting with mu I), so that
    y_t = expm((mu I - B^2/2) t + B W_t) y_0. Milstein's term is (g . grad) g = B^2 y, which
    a transposed Jacobian (B^T B y) would get wrong."""

    noise_type, sde_type = "scalar", "ito"

    def __init__(self, mu=0.1, a=0.3, b=0.4):
        super().__init__()
        self.mu = mu
        self.B = torch.tensor([[a, -b], [b, a]], dtype=torch.float64)

    def f(self, t, y):
        return self.mu * y

    def g(self, t, y):
        return (y @ self.B.to(y).T).unsqueeze(-1)

    def exact(self, y0, t, W):
        B = self.B.to(y0)
        A = self.mu * torch.eye(2, dtype=y0.dtype) - 0.5 * B @ B
        gen = A * t + B * W.reshape(-1, 1, 1)  # W: (batch, 1)
        return torch.einsum("bij,bj->bi", torch.linalg.matrix_exp(gen), y0)
