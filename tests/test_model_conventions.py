"""Conventions of trained networks: conditioning inputs, guidance, learned variances, time
maps and VE-coordinate denoisers (k-diffusion, EDM), each against an exact answer."""

from __future__ import annotations

import math

import pytest
import torch

import revsde
from revsde.evaluation.targets import Gaussian
from revsde.models.denoisers import EDMPreconditioner, as_denoiser
from revsde.models.guidance import cfg

D64 = torch.float64
MU = torch.tensor([1.0, -0.5], dtype=D64)
C = torch.tensor([0.3, 2.0], dtype=D64)
TARGET = Gaussian(MU, torch.diag(C))


class Labelled(torch.nn.Module):
    """An eps 'network' whose output depends on a per-sample class label: the exact eps of
    N(MU + label, diag C) data, so each class is its own Gaussian. Counts its calls."""

    def __init__(self, sde):
        super().__init__()
        self.sde, self.calls, self.rows = sde, 0, 0

    def forward(self, x, t, class_labels):
        self.calls += 1
        self.rows += x.shape[0]
        a, s = self.sde.alpha(t)[:, None], self.sde.sigma(t)[:, None]
        mu = MU + class_labels.to(x.dtype)[:, None]
        return -s * -(x - a * mu) / (a**2 * C + s**2)


def class_score(sde, x, t, labels):
    return Gaussian(MU + labels, torch.diag(C)).score(sde)(x, t)


def test_model_kwargs_reach_the_model_from_sample_reverse_and_the_adapter():
    sde = revsde.VPSDE()
    net = Labelled(sde)
    labels = torch.tensor([0.0, 3.0, -2.0, 3.0], dtype=D64)
    x = torch.randn(4, 2, dtype=D64, generator=torch.Generator().manual_seed(0))
    t = torch.tensor(0.4, dtype=D64)
    expected = torch.cat([class_score(sde, x[i : i + 1], t, labels[i]) for i in range(4)])
    adapter = revsde.ScoreAdapter(net, sde, prediction="eps")
    torch.testing.assert_close(adapter(x, t, class_labels=labels), expected)
    # through the reverse SDE
    rsde = sde.reverse(adapter, model_kwargs={"class_labels": labels})
    torch.testing.assert_close(rsde.predict_score(rsde.t_max - t, x), expected)
    # and through revsde.sample: each class lands on its own mean
    big = labels.repeat_interleave(3000)
    y = revsde.sample(
        sde,
        adapter,
        (big.shape[0], 2),
        steps=30,
        dtype=D64,
        model_kwargs={"class_labels": big},
        generator=torch.Generator().manual_seed(1),
    )
    for lab in (0.0, 3.0, -2.0):
        rows = y[big == lab]
        se = (C.sqrt() / math.sqrt(rows.shape[0])).max()
        assert float((rows.mean(0) - (MU + lab)).abs().max()) < 5 * se


def test_unknown_keywords_point_at_model_kwargs():
    sde = revsde.VPSDE()
    with pytest.raises(TypeError, match=r"class_labels.*model_kwargs="):
        revsde.sample(sde, lambda x, t: -x, (2, 2), steps=2, class_labels=torch.zeros(2))
    with pytest.raises(TypeError, match=r"class_labels.*model_kwargs="):
        sde.reverse(lambda x, t: -x, class_labels=torch.zeros(2))
    rsde = sde.reverse(lambda x, t: -x)
    with pytest.raises(TypeError, match=r"class_labels.*belong to the SDE object"):
        revsde.solvers.solve(
            rsde, torch.zeros(2, 2), rsde.times(3), class_labels=torch.zeros(2), method="euler"
        )


def test_max_batch_size_slices_per_sample_inputs_with_the_state():
    sde = revsde.VPSDE()
    net = Labelled(sde)
    labels = torch.arange(7, dtype=D64)
    kwargs = {"class_labels": labels}
    x = torch.randn(7, 2, dtype=D64, generator=torch.Generator().manual_seed(0))
    t = torch.linspace(0.1, 0.9, 7, dtype=D64)
    whole = revsde.ScoreAdapter(net, sde, prediction="eps", model_kwargs=kwargs)(x, t)
    net.calls = 0
    chunked = revsde.ScoreAdapter(
        net, sde, prediction="eps", model_kwargs=kwargs, max_batch_size=3
    )(x, t)
    assert net.calls == 3  # 3 + 3 + 1 rows
    torch.testing.assert_close(chunked, whole, rtol=0, atol=0)


def test_learned_variance_outputs_are_split():
    sde = revsde.VPSDE()
    x = torch.randn(3, 2, 4, 4, dtype=D64)

    def model(x, t):  # eps = x/2 followed by a "variance" channel block
        return torch.cat([0.5 * x, torch.full_like(x, 7.0)], dim=1)

    with pytest.raises(ValueError, match="learned_variance=True"):
        revsde.ScoreAdapter(model, sde, prediction="eps")(x, 0.5)
    score = revsde.ScoreAdapter(model, sde, prediction="eps", learned_variance=True)(x, 0.5)
    torch.testing.assert_close(score, -0.5 * x / sde.sigma(torch.tensor(0.5, dtype=D64)))


def test_callable_time_input_and_diffusers_prediction_names():
    sde = revsde.VPSDE()
    seen = {}

    def model(x, time):
        seen["time"] = time
        return x

    t = torch.tensor([0.2, 0.7], dtype=D64)
    x = torch.ones(2, 2, dtype=D64)
    revsde.ScoreAdapter(model, sde, "score", time_input=lambda sde, t: 1000 * t)(x, t)
    torch.testing.assert_close(seen["time"], 1000 * t)
    for alias, name in (("epsilon", "eps"), ("sample", "x0"), ("v_prediction", "v")):
        a = revsde.ScoreAdapter(model, sde, prediction=alias)
        b = revsde.ScoreAdapter(model, sde, prediction=name)
        torch.testing.assert_close(a(x, t), b(x, t))
    with pytest.raises(ValueError, match="time_input must be one of"):
        revsde.ScoreAdapter(model, sde, "score", time_input="step")


def test_classifier_free_guidance_is_one_batched_call_in_prediction_space():
    sde = revsde.VPSDE()
    net = Labelled(sde)
    x = torch.randn(5, 2, dtype=D64, generator=torch.Generator().manual_seed(0))
    t = torch.full((5,), 0.3, dtype=D64)
    cond = {"class_labels": torch.full((5,), 2.0, dtype=D64)}
    uncond = {"class_labels": torch.zeros(1, dtype=D64)}  # one row, broadcast
    eps_c, eps_u = net(x, t, **cond), net(x, t, class_labels=torch.zeros(5, dtype=D64))
    for scale in (0.0, 1.0, 4.0):
        guided = cfg(net, scale, cond, uncond)
        net.calls = net.rows = 0
        out = guided(x, t)
        assert (net.calls, net.rows) == (1, 10)
        torch.testing.assert_close(out, eps_u + scale * (eps_c - eps_u))
    # a guided sampler counts one evaluation per guided call
    rsde = sde.reverse(revsde.ScoreAdapter(cfg(net, 3.0, cond, uncond), sde, prediction="eps"))
    net.calls = 0
    _, stats = revsde.solvers.solve(
        rsde, x, rsde.times(6, dtype=D64), method="euler", final_only=True
    )
    assert stats.nfe == net.calls == 6
    with pytest.raises(ValueError, match="same model inputs"):
        cfg(net, 2.0, cond, {"labels": torch.zeros(5)})
    with pytest.raises(ValueError, match=r"cond\['class_labels'\] has 3 rows"):
        cfg(net, 2.0, {"class_labels": torch.zeros(3)}, uncond)(x, t)


@pytest.mark.parametrize("kind", ["vp", "ve", "edm", "flow", "subvp"])
def test_a_ve_denoiser_plugs_into_any_process(kind):
    """k-diffusion's D(x; sigma) of Gaussian data (in closed form) through ``from_denoiser``
    is the exact score of every process; and ``as_denoiser`` gives D back from that score."""
    sde = {
        "vp": revsde.VPSDE(),
        "ve": revsde.VESDE(0.01, 20.0),
        "edm": revsde.EDMSDE(),
        "flow": revsde.FlowMatchingSDE(),
        "subvp": revsde.SubVPSDE(),
    }[kind]

    def denoiser(x, sigma):
        s2 = sigma.reshape(-1, 1) ** 2
        return MU + (x - MU) * C / (C + s2)

    score = revsde.ScoreAdapter.from_denoiser(denoiser, sde)
    x = torch.randn(16, 2, dtype=D64, generator=torch.Generator().manual_seed(0))
    t = torch.linspace(0.05, 0.95, 16, dtype=D64) * sde.T
    torch.testing.assert_close(score(x, t), TARGET.score(sde)(x, t), rtol=1e-9, atol=1e-9)
    back = as_denoiser(TARGET.score(sde), sde)
    sigma = torch.tensor([0.02, 0.5, 3.0, 0.5, 0.1] * 3 + [1.0], dtype=D64)
    torch.testing.assert_close(back(x, sigma), denoiser(x, sigma), rtol=1e-8, atol=1e-8)


def test_edm_preconditioner_is_table_1_of_karras_et_al():
    """D = c_skip x + c_out F(c_in x, c_noise) with EDM's scalings: a raw network that is the
    exact F of Gaussian data (solved from D) gives back D."""
    sd = 0.5

    def exact_d(x, sigma):
        s2 = sigma.reshape(-1, 1) ** 2
        return MU + (x - MU) * C / (C + s2)

    def raw_net(x_in, c_noise):
        sigma = torch.exp(4 * c_noise).reshape(-1, 1)
        x = x_in * (sigma**2 + sd**2).sqrt()
        c_skip = sd**2 / (sigma**2 + sd**2)
        c_out = sigma * sd / (sigma**2 + sd**2).sqrt()
        return (exact_d(x, sigma.flatten()) - c_skip * x) / c_out

    d = EDMPreconditioner(raw_net, sigma_data=sd)
    x = torch.randn(8, 2, dtype=D64, generator=torch.Generator().manual_seed(0))
    sigma = torch.logspace(-2, 1.5, 8, dtype=D64)
    torch.testing.assert_close(d(x, sigma), exact_d(x, sigma), rtol=1e-10, atol=1e-10)
    score = revsde.ScoreAdapter.from_denoiser(d, revsde.EDMSDE())
    torch.testing.assert_close(score(x, sigma), TARGET.score(revsde.EDMSDE())(x, sigma))
