"""The denoising score-matching loss against closed forms on Gaussian data."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import integrate

import revsde
from revsde.evaluation.problems import gaussian_2d
from revsde.training import ImportanceSampler, dsm_loss

D64 = torch.float64
TARGET = gaussian_2d(D64)
MU, COV = TARGET.mean, TARGET.covariance
N = 200_000


def optimal(sde, prediction):
    """The network that minimises the loss: the exact prediction of each type."""
    score = TARGET.score(sde)

    def model(x, t):
        a, s = sde.alpha(t)[:, None], sde.sigma(t)[:, None]
        sc = score(x, t)
        eps = -s * sc
        x0 = (x - s * eps) / a
        return {"eps": eps, "score": sc, "x0": x0, "v": a * eps - s * x0}[prediction]

    return model


def expected_minimum(sde, t_min=1e-5):
    """E_t (1/d) tr Cov(eps | x_t) = E_t (1/d) sum_i alpha^2 c_i / (alpha^2 c_i + sigma^2) for
    t uniform on [t_min, 1]: the loss of the optimal eps-network (sigma^2 weighting)."""
    c = torch.linalg.eigvalsh(COV)

    def integrand(t):
        tt = torch.tensor(t, dtype=D64)
        a2, s2 = sde.alpha(tt) ** 2, sde.sigma(tt) ** 2
        return float((a2 * c / (a2 * c + s2)).mean())

    value, _ = integrate.quad(integrand, t_min, 1.0, limit=200)
    return value / (1.0 - t_min)


@pytest.mark.parametrize("kind", ["vp", "ve"])
@pytest.mark.parametrize("prediction", ["eps", "score", "x0", "v"])
def test_the_optimal_network_attains_the_closed_form_minimum(kind, prediction):
    """With lambda = sigma^2, every prediction type's optimal network has the same loss (the
    loss is taken in score space), equal to the closed-form expectation within 4.5 standard
    errors; a perturbed network is worse by many standard errors (same t and noise)."""
    sde = revsde.VPSDE() if kind == "vp" else revsde.VESDE(0.01, 20.0)
    x0 = TARGET.sample(N, generator=torch.Generator().manual_seed(0))
    model = optimal(sde, prediction)
    losses = dsm_loss(
        model,
        sde,
        x0,
        prediction=prediction,
        reduction="none",
        generator=torch.Generator().manual_seed(1),
    )
    se = float(losses.std()) / math.sqrt(N)
    assert float(losses.mean()) == pytest.approx(expected_minimum(sde), abs=4.5 * se)

    def perturbed(x, t):
        return model(x, t) + 0.1 * torch.tanh(x)

    worse = dsm_loss(
        perturbed,
        sde,
        x0,
        prediction=prediction,
        reduction="none",
        generator=torch.Generator().manual_seed(1),
    )
    diff = worse - losses
    assert float(diff.mean()) > 10 * float(diff.std()) / math.sqrt(N)


def test_eps_loss_is_ddpms_mse_and_reductions():
    """sigma^2 weighting of an eps-network: exactly || eps_hat - eps ||^2, mean over dims."""
    sde = revsde.VPSDE()
    x0 = torch.randn(64, 3, 4, 4, dtype=D64)

    def net(x, t):
        return 0.3 * x + t[:, None, None, None]

    gen = torch.Generator().manual_seed(3)
    loss = dsm_loss(net, sde, x0, prediction="eps", reduction="none", generator=gen)
    gen = torch.Generator().manual_seed(3)
    t = 1e-5 + (1 - 1e-5) * torch.rand(64, generator=gen, dtype=D64)
    eps = torch.randn(x0.shape, generator=gen, dtype=D64)
    x_t, _ = sde.perturb(x0, t, eps)
    expected = (net(x_t, t) - eps).square().flatten(1).mean(1)
    torch.testing.assert_close(loss, expected)
    gen = torch.Generator().manual_seed(3)
    total = dsm_loss(
        net, sde, x0, prediction="eps", reduction="sum", event_reduction="sum", generator=gen
    )
    torch.testing.assert_close(total, expected.sum() * 48)


def test_likelihood_weighting_with_importance_sampling_is_unbiased():
    """E_{t ~ p}[g^2/p(t) ||.||^2] = E_{t ~ U}[g^2 ||.||^2] (T - t_min): the importance-
    sampled likelihood-weighted loss agrees with the uniform one, with a smaller variance."""
    sde = revsde.VPSDE()
    x0 = TARGET.sample(N, generator=torch.Generator().manual_seed(0))

    def net(x, t):
        return 0.5 * x

    uni = dsm_loss(
        net,
        sde,
        x0,
        prediction="eps",
        weighting="likelihood",
        reduction="none",
        generator=torch.Generator().manual_seed(1),
    )
    imp = dsm_loss(
        net,
        sde,
        x0,
        prediction="eps",
        weighting="likelihood",
        t_sampler="importance",
        reduction="none",
        generator=torch.Generator().manual_seed(2),
    )
    se = math.sqrt(float(uni.var()) / N + float(imp.var()) / N)
    assert float(imp.mean()) == pytest.approx(float(uni.mean()), abs=4.5 * se)
    assert float(imp.var()) < float(uni.var())


def test_importance_sampler_draws_its_density():
    sde = revsde.VPSDE()
    sampler = ImportanceSampler(sde, 1e-3)
    t = sampler.sample(200_000, torch.Generator().manual_seed(0), dtype=D64)
    # the fraction below t = 0.01 against the integral of the density
    frac, _ = integrate.quad(
        lambda s: float(sampler.density(torch.tensor(s, dtype=D64))), 1e-3, 0.01
    )
    se = math.sqrt(frac * (1 - frac) / t.numel())
    assert float((t < 0.01).double().mean()) == pytest.approx(frac, abs=4.5 * se)


def test_bad_loss_arguments():
    sde = revsde.VPSDE()
    x0 = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="weighting must be one of"):
        dsm_loss(lambda x, t: x, sde, x0, prediction="eps", weighting="snr")
    with pytest.raises(ValueError, match="t_sampler must be one of"):
        dsm_loss(lambda x, t: x, sde, x0, prediction="eps", t_sampler="beta")
    with pytest.raises(ValueError, match="reduction must be one of"):
        dsm_loss(lambda x, t: x, sde, x0, prediction="eps", reduction="max")
    with pytest.raises(ValueError, match="prediction must be one of"):
        dsm_loss(lambda x, t: x, sde, x0, prediction="noise")


def test_a_network_is_trained_and_wrapped_with_one_stated_prediction():
    """No default prediction: a network trained with dsm_loss's default and wrapped with
    ScoreAdapter's would be silently misread when the two differ; both refuse to guess."""
    sde = revsde.VPSDE()
    x0 = torch.randn(8, 2, dtype=D64)
    with pytest.raises(TypeError, match="needs prediction="):
        dsm_loss(lambda x, t: x, sde, x0)
    with pytest.raises(TypeError, match="prediction"):
        revsde.ScoreAdapter(lambda x, t: x, sde)
    adapter = revsde.ScoreAdapter(lambda x, t: x, sde, "eps")
    torch.testing.assert_close(
        dsm_loss(adapter, sde, x0, generator=torch.Generator().manual_seed(0)),
        dsm_loss(
            lambda x, t: x,
            sde,
            x0,
            prediction="epsilon",
            generator=torch.Generator().manual_seed(0),
        ),
    )
    with pytest.raises(ValueError, match="reads 'eps'"):
        dsm_loss(adapter, sde, x0, prediction="x0")


def test_a_short_runs_averaged_weights_are_as_good_as_its_raw_weights():
    """300 iterations: the moving average (decay 0.999, warmed up) has the raw weights' loss
    within 10 % on held-out data (same t and noise); an average that starts at 0.999 from the
    initial weights keeps 0.999^300 = 74 % of them and fails this by far."""
    from revsde.models.nets import ScoreMLP
    from revsde.training import fit

    torch.manual_seed(0)
    sde = revsde.VPSDE()
    data = TARGET.sample(4096, generator=torch.Generator().manual_seed(1)).float()
    held_out = TARGET.sample(8192, generator=torch.Generator().manual_seed(2)).float()
    net = ScoreMLP(2, hidden=64)
    averaged, _ = fit(
        net,
        sde,
        data,
        prediction="eps",
        iterations=300,
        batch_size=256,
        lr=3e-3,
        generator=torch.Generator().manual_seed(3),
    )

    def loss(model):
        gen = torch.Generator().manual_seed(4)
        with torch.no_grad():
            return float(dsm_loss(model, sde, held_out, prediction="eps", generator=gen))

    assert loss(averaged) < 1.1 * loss(net)
