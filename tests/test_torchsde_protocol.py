"""The torchsde protocol: attributes, shapes for any event shape, and torchsde.sdeint runs."""

from __future__ import annotations

import pytest
import torch
import torchsde


@pytest.mark.parametrize("shape", [(5,), (5, 3), (5, 2, 4, 4)])
def test_f_and_g_keep_the_state_shape(process, shape):
    y = torch.randn(shape)
    assert process.noise_type == "diagonal" and process.sde_type == "ito"
    for t in (torch.tensor(0.3), 0.3, torch.full((shape[0],), 0.3)):
        f, g = process.f(t, y), process.g(t, y)
        assert f.shape == y.shape and g.shape == y.shape
        torch.testing.assert_close(f, process.drift_coeff(0.3) * y)
        torch.testing.assert_close(g, process.diffusion_coeff(0.3).expand_as(y))


def test_per_sample_times_reach_each_sample(process):
    y = torch.ones(3, 2, 2, dtype=torch.float64)
    t = torch.tensor([0.2, 0.5, 0.8], dtype=torch.float64)
    f = process.f(t, y)
    for i in range(3):
        torch.testing.assert_close(f[i], process.drift_coeff(t[i]).expand(2, 2))


@pytest.mark.parametrize("method", ["euler", "milstein", "srk"])
def test_torchsde_sdeint_runs(process, method):
    torch.manual_seed(0)
    y0 = torch.randn(16, 2, dtype=torch.float64)
    t_end = 0.9 if type(process).__name__ == "CosineVPSDE" else 1.0
    ts = torch.linspace(0.0, t_end, 5, dtype=torch.float64)
    ys = torchsde.sdeint(process, y0, ts, method=method, dt=1e-2)
    assert ys.shape == (5, 16, 2)
    assert bool(torch.isfinite(ys).all())
