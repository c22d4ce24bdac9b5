"""Trained models plug in unchanged: a diffusers UNet2DModel (unconditional and
class-conditional) on its discrete table reproduces diffusers' own DDPM and DDIM schedulers
step for step; k-diffusion's denoiser wrapper and revsde's adapter give one score; k-diffusion's
samplers drive revsde processes. The peers are in the ``peers`` extra (CI requires them)."""

from __future__ import annotations

import peers
import pytest
import torch
from test_peers import load_peer

import revsde
from revsde import solvers

D64 = torch.float64
N_TRAIN = 1000


@pytest.fixture(scope="module")
def diffusers():
    return load_peer(peers.diffusers)


@pytest.fixture(scope="module")
def k_external():
    return load_peer(peers.k_diffusion_external)


@pytest.fixture(scope="module")
def k_sampling():
    return load_peer(peers.k_diffusion_sampling)


def tiny_unet(diffusers, num_classes=None):
    """A randomly initialised diffusers UNet2DModel (8x8, 2 channels), float64."""
    torch.manual_seed(0)
    unet = diffusers.UNet2DModel(
        sample_size=8,
        in_channels=2,
        out_channels=2,
        layers_per_block=1,
        block_out_channels=(8, 16),
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
        norm_num_groups=4,
        num_class_embeds=num_classes,
    )
    return unet.double().eval()


def table_grid(sde, timesteps):
    """revsde's forward times of diffusers' timesteps k: t_k = (k + 1)/N (index k)."""
    return sde.time_of_index(torch.tensor([float(k) for k in timesteps], dtype=D64))


def parity(unet, sched, kwargs, seed, method, step_options, probability_flow=False, **options):
    """diffusers' scheduler loop and revsde's solve of the same table from the same start and
    noise: (theirs, ours). Both draw x_T first, then one normal per step, from one seed; the
    scheduler's last step (index 0 to the clean data) is Tweedie's x0_hat, revsde's final
    ``predict_x0``."""
    sched.alphas_cumprod = sched.alphas_cumprod.double()
    sde = revsde.DiscreteVPSDE.from_scheduler(sched)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 2, 8, 8, generator=gen, dtype=D64)
    x_T = x.clone()
    with torch.no_grad():
        for k in sched.timesteps:
            eps = unet(x, k, **kwargs).sample
            x = sched.step(eps, k, x, generator=gen, **step_options).prev_sample

    score = revsde.ScoreAdapter(unet, sde, prediction="epsilon", time_input="index")
    times = table_grid(sde, sched.timesteps.tolist())
    rsde = sde.reverse(
        score,
        probability_flow=probability_flow,
        t_max=float(times[0]),
        t_min=float(times[-1]),
        model_kwargs=kwargs,
    )
    ours_gen = torch.Generator().manual_seed(seed)
    torch.randn(2, 2, 8, 8, generator=ours_gen, dtype=D64)  # the draw of x_T
    with torch.no_grad():
        y = solvers.solve(
            rsde,
            x_T,
            rsde.times(spacing=times, dtype=D64),
            method=method,
            generator=ours_gen,
            final_only=True,
            **options,
        ).ys
        return x, rsde.predict_x0(rsde.s_max, y)


@pytest.mark.parametrize("conditional", [False, True], ids=["uncond", "class-cond"])
def test_ancestral_sampler_reproduces_diffusers_ddpm_scheduler(diffusers, conditional):
    unet = tiny_unet(diffusers, num_classes=10 if conditional else None)
    kwargs = {"class_labels": torch.tensor([3, 7])} if conditional else {}
    sched = diffusers.DDPMScheduler(num_train_timesteps=N_TRAIN, clip_sample=False)
    sched.set_timesteps(20)
    # diffusers' fixed_small variance is the posterior's
    theirs, ours = parity(unet, sched, kwargs, 5, "ancestral", {}, variance="posterior")
    torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("eta", [0.0, 0.5])
@pytest.mark.parametrize("conditional", [False, True], ids=["uncond", "class-cond"])
def test_ddim_reproduces_diffusers_ddim_scheduler_on_a_unet(diffusers, conditional, eta):
    unet = tiny_unet(diffusers, num_classes=10 if conditional else None)
    kwargs = {"class_labels": torch.tensor([1, 9])} if conditional else {}
    sched = diffusers.DDIMScheduler(num_train_timesteps=N_TRAIN, clip_sample=False)
    sched.set_timesteps(10)
    theirs, ours = parity(
        unet, sched, kwargs, 2, "ddim", {"eta": eta}, probability_flow=eta == 0.0, eta=eta
    )
    torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-9)


def test_k_diffusion_ddpm_denoiser_gives_revsdes_score(diffusers, k_external):
    """k-diffusion's DiscreteEpsDDPMDenoiser around the UNet, plugged in with
    ``ScoreAdapter.from_denoiser``, gives the score of revsde's own eps adapter at the
    table's times (between them the two interpolate the table differently: k-diffusion in
    log sigma, revsde in log alpha)."""
    unet = tiny_unet(diffusers, num_classes=10)
    labels = {"class_labels": torch.tensor([0, 4, 4])}
    sched = diffusers.DDPMScheduler(num_train_timesteps=N_TRAIN)
    sde = revsde.DiscreteVPSDE.from_scheduler(sched)

    def eps_model(x, t, **kw):
        return unet(x, t, **kw).sample

    wrapped = k_external.DiscreteEpsDDPMDenoiser(eps_model, sched.alphas_cumprod.double(), False)
    theirs = revsde.ScoreAdapter.from_denoiser(wrapped, sde, model_kwargs=labels)
    ours = revsde.ScoreAdapter(unet, sde, prediction="eps", time_input="index", model_kwargs=labels)
    x = torch.randn(3, 2, 8, 8, dtype=D64, generator=torch.Generator().manual_seed(0))
    t = table_grid(sde, [3, 500, 998])
    with torch.no_grad():
        torch.testing.assert_close(theirs(x, t), ours(x, t), rtol=1e-7, atol=1e-7)


def test_from_config_builds_diffusers_tables(diffusers):
    for schedule in ("linear", "scaled_linear", "squaredcos_cap_v2"):
        config = {
            "num_train_timesteps": 1000,
            "beta_start": 8.5e-4,
            "beta_end": 0.012,
            "beta_schedule": schedule,
        }
        sched = diffusers.DDPMScheduler(**config)
        sde = revsde.DiscreteVPSDE.from_config(sched.config)
        # diffusers accumulates the product in float32
        torch.testing.assert_close(
            sde.alphas_cumprod, sched.alphas_cumprod.double(), rtol=1e-6, atol=1e-10
        )


@pytest.mark.parametrize("kind", ["vp", "subvp", "flow"])
def test_k_diffusion_samplers_drive_revsde_processes(k_sampling, kind):
    """k-diffusion's DPM-Solver++(2M) on ``as_denoiser(score, sde)`` equals revsde's
    ``dpmpp_2m`` on the same process and grid (the states in VE coordinates x / alpha)."""
    from revsde.evaluation.targets import Gaussian
    from revsde.models.denoisers import as_denoiser

    sde = {"vp": revsde.VPSDE(), "subvp": revsde.SubVPSDE(), "flow": revsde.FlowMatchingSDE()}[kind]
    target = Gaussian(torch.tensor([1.0, -0.5], dtype=D64), torch.diag(torch.tensor([0.3, 2.0])))
    rode = sde.reverse(target.score(sde), probability_flow=True)
    ts = rode.times(10, spacing="logsnr", dtype=D64)
    t = rode.forward_time(ts)
    alpha, sigma = sde.alpha(t), sde.sigma(t)
    x_T = torch.randn(64, 2, dtype=D64, generator=torch.Generator().manual_seed(0))
    ours = solvers.solve(
        rode, x_T, ts, method="dpmpp_2m", final_only=True, lower_order_final=False
    ).ys
    denoiser = as_denoiser(target.score(sde), sde)
    theirs = k_sampling.sample_dpmpp_2m(denoiser, x_T / alpha[0], sigma / alpha, disable=True)
    torch.testing.assert_close(ours / alpha[-1], theirs, rtol=1e-8, atol=1e-8)
