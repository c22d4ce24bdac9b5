"""ScoreAdapter: every prediction and time convention gives the exact score back."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torchsde
from test_targets import mixture_2d

import revsde
from revsde.models.adapter import PREDICTIONS, TIME_INPUTS

D64 = torch.float64
N_STEPS = 1000


def time_from_input(sde, time_input, time):
    """Invert the adapter's time convention, as a network trained on it implicitly does."""
    inverse = {
        "t": lambda x: x,
        "index": lambda x: x / (N_STEPS - 1),
        "sigma": sde.time_of_noise_level,
        "log_sigma": lambda x: sde.time_of_noise_level(torch.exp(x)),
    }
    return inverse[time_input](time)


def _d_dt(fn, t):
    with torch.enable_grad():
        t = t.detach().requires_grad_(True)
        (d,) = torch.autograd.grad((fn(t) + 0.0 * t).sum(), t)  # + 0 t: constant alpha
    return d


def make_model(sde, score, prediction, time_input):
    """A 'network' that predicts ``prediction`` exactly, built from the exact score."""

    def model(x, time):
        assert time.shape == (x.shape[0],)
        t = time_from_input(sde, time_input, time)
        a, s = sde.alpha(t)[:, None], sde.sigma(t)[:, None]
        sc = score(x, t)
        eps = -s * sc
        x0 = (x - s * eps) / a
        if prediction == "velocity":  # d/dt of alpha x0 + sigma eps, rates by autograd
            da, ds = (_d_dt(fn, t)[:, None] for fn in (sde.alpha, sde.sigma))
            return da * x0 + ds * eps
        return {"score": sc, "eps": eps, "x0": x0, "v": a * eps - s * x0}[prediction]

    return model


@pytest.mark.parametrize("time_input", sorted(TIME_INPUTS))
@pytest.mark.parametrize("prediction", sorted(PREDICTIONS))
def test_round_trip_to_float64_precision(process, prediction, time_input):
    score = mixture_2d().score(process)
    adapter = revsde.ScoreAdapter(
        make_model(process, score, prediction, time_input),
        process,
        prediction=prediction,
        time_input=time_input,
        num_timesteps=N_STEPS,
    )
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(16, 2, generator=gen, dtype=D64) * 2
    for t in (torch.tensor(0.3, dtype=D64), torch.linspace(0.05, 0.95, 16, dtype=D64)):
        torch.testing.assert_close(adapter(x, t), score(x, t), rtol=1e-9, atol=1e-9)


def test_time_inputs_follow_their_conventions():
    ve, vp = revsde.VESDE(), revsde.VPSDE()
    x = torch.zeros(3, 2, dtype=D64)
    t = torch.tensor([0.1, 0.5, 0.9], dtype=D64)
    seen = {}

    def model(x, time):
        seen["time"] = time
        return x

    revsde.ScoreAdapter(model, vp, "score", time_input="index", num_timesteps=1000)(x, t)
    torch.testing.assert_close(seen["time"], t * 999)
    revsde.ScoreAdapter(model, ve, "score", time_input="sigma")(x, t)
    torch.testing.assert_close(seen["time"], ve.noise_level(t))  # NCSN's sigma_min (smax/smin)^t
    revsde.ScoreAdapter(model, vp, "score", time_input="log_sigma")(x, 0.5)
    torch.testing.assert_close(seen["time"], torch.log(vp.sigma(t[1]) / vp.alpha(t[1])).expand(3))


def test_output_wrappers_and_conditioning_pass_through():
    sde = revsde.VPSDE()
    x = torch.randn(4, 3, dtype=D64)
    labels = torch.tensor([0, 1, 2, 3])

    def tuple_model(x, time, class_labels):
        assert torch.equal(class_labels, labels)
        return (x * 2.0, "ignored")

    def diffusers_like(x, time, class_labels=None):
        return SimpleNamespace(sample=x * 2.0)

    for model in (tuple_model, diffusers_like):
        out = revsde.ScoreAdapter(model, sde, prediction="score")(x, 0.5, class_labels=labels)
        torch.testing.assert_close(out, x * 2.0)


class TinyConvNet(torch.nn.Module):
    """A two-layer conv net with a time input, on (batch, 1, 8, 8) states."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(2, 4, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(4, 1, 3, padding=1)

    def forward(self, x, time):
        t_map = time.reshape(-1, 1, 1, 1).expand(-1, 1, *x.shape[2:])
        return self.conv2(torch.tanh(self.conv1(torch.cat([x, t_map], dim=1))))


def test_conv_net_through_the_reverse_sde_flattened_and_not():
    torch.manual_seed(0)
    sde = revsde.VPSDE()
    net = TinyConvNet().double()
    adapter = revsde.ScoreAdapter(net, sde, prediction="eps")
    rsde = sde.reverse(adapter, event_shape=(1, 8, 8))
    x_img = rsde.prior_sample((5, 1, 8, 8), dtype=D64)
    x_flat = x_img.reshape(5, 64)
    assert rsde.prior_sample((5, 64)).shape == (5, 64)
    with pytest.raises(ValueError, match="neither"):
        rsde.prior_sample((5, 8, 8))
    s = torch.tensor(0.3, dtype=D64)
    torch.testing.assert_close(rsde.f(s, x_flat), rsde.f(s, x_img).reshape(5, 64))
    torch.testing.assert_close(rsde.f(torch.full((5,), 0.3, dtype=D64), x_img), rsde.f(s, x_img))
    with torch.no_grad():
        ys = torchsde.sdeint(rsde, x_flat, rsde.times(10, dtype=D64), method="euler")
    assert ys.shape == (11, 5, 64) and bool(torch.isfinite(ys).all())
    # the adapter is a module: the network's parameters are reachable from the reverse SDE
    assert sum(p.numel() for p in rsde.parameters()) == sum(p.numel() for p in net.parameters())


def test_bad_adapter_input():
    sde = revsde.VPSDE()
    with pytest.raises(
        ValueError, match=r"prediction must be one of \['eps', 'score', 'v', 'velocity', 'x0'\]"
    ):
        revsde.ScoreAdapter(lambda x, t: x, sde, prediction="noise")
    with pytest.raises(
        ValueError, match=r"time_input must be one of \['index', 'log_sigma', 'sigma', 't'\]"
    ):
        revsde.ScoreAdapter(lambda x, t: x, sde, "score", time_input="step")
    with pytest.raises(ValueError, match="num_timesteps"):
        revsde.ScoreAdapter(lambda x, t: x, sde, "score", num_timesteps=1)
    with pytest.raises(TypeError, match="sde"):
        revsde.ScoreAdapter(lambda x, t: x, object(), "score")
    with pytest.raises(ValueError, match="model output has shape"):
        revsde.ScoreAdapter(lambda x, t: x[:, :1], sde, "score")(torch.zeros(3, 2), 0.5)
    with pytest.raises(TypeError, match="model must return"):
        revsde.ScoreAdapter(lambda x, t: "nope", sde, "score")(torch.zeros(3, 2), 0.5)
    with pytest.raises(ValueError, match="batch size"):
        revsde.ScoreAdapter(lambda x, t: x, sde, "score")(torch.zeros(3, 2), torch.full((2,), 0.5))
