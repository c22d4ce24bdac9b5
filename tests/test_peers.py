"""Parity with the peers where they define the same scheme: given the same grid, the same
start and the same noise, revsde's samplers reproduce k-diffusion's to float64 rounding. The
peers are in the ``peers`` extra; without it these tests skip (CI requires them)."""

from __future__ import annotations

import math

import peers
import pytest
import torch

import revsde
from revsde import solvers
from revsde.evaluation.targets import Gaussian

D64 = torch.float64
MU = torch.tensor([1.0, -0.5], dtype=D64)
C = torch.tensor([0.3, 2.0], dtype=D64)


def load_peer(loader):
    """The peer module, or a skip with the install command; under REVSDE_REQUIRE_PEERS=1 (CI)
    a missing peer is an error."""
    try:
        return loader()
    except peers.PeerMissing as exc:
        if peers.required():
            raise
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def k_sampling():
    return load_peer(peers.k_diffusion_sampling)


def ve_denoiser(x, sigma):
    """k-diffusion's D(x; sigma) of N(MU, diag C) data: E[x_0 | x_0 + sigma n = x]."""
    s2 = sigma.reshape(-1, 1) ** 2
    return MU + (x - MU) * C / (C + s2)


def problem(kind):
    """The probability-flow ODE of the target, the start, and the grid as k-diffusion sees it:
    noise levels sigma/alpha, states x/alpha (the VE coordinates of any process)."""
    sde = revsde.VPSDE() if kind == "vp" else revsde.VESDE(0.01, 20.0)
    target = Gaussian(MU, torch.diag(C))
    rode = sde.reverse(target.score(sde), probability_flow=True)
    ts = rode.times(10, spacing="quadratic", dtype=D64)
    t = rode.forward_time(ts)
    alpha, sigma = sde.alpha(t), sde.sigma(t)
    x_T = torch.randn(64, 2, dtype=D64, generator=torch.Generator().manual_seed(0))
    return rode, ts, x_T, alpha, sigma / alpha


@pytest.mark.parametrize("kind", ["vp", "ve"])
def test_dpmpp_2m_equals_k_diffusions(k_sampling, kind):
    rode, ts, x_T, alpha, k_sigmas = problem(kind)
    ours = solvers.solve(
        rode, x_T, ts, method="dpmpp_2m", lower_order_final=False, final_only=True
    ).ys
    theirs = k_sampling.sample_dpmpp_2m(ve_denoiser, x_T / alpha[0], k_sigmas, disable=True)
    torch.testing.assert_close(ours, alpha[-1] * theirs, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", ["vp", "ve"])
@pytest.mark.parametrize("eta", [1.0, 0.5])
def test_dpmpp_2m_sde_equals_k_diffusions_with_the_same_noise(k_sampling, kind, eta):
    rode, ts, x_T, alpha, k_sigmas = problem(kind)
    ours = solvers.solve(
        rode,
        x_T,
        ts,
        method="dpmpp_2m_sde",
        eta=eta,
        final_only=True,
        generator=torch.Generator().manual_seed(1),
    ).ys
    # the same standard normals as revsde's loop: dW ~ N(0, h) per step, z = dW / sqrt(h)
    gen, steps = torch.Generator().manual_seed(1), iter(ts.diff().tolist())

    def noise_sampler(sigma, sigma_next):
        h = next(steps)
        return torch.empty(x_T.shape, dtype=D64).normal_(0.0, math.sqrt(h), generator=gen) / (
            math.sqrt(h)
        )

    theirs = k_sampling.sample_dpmpp_2m_sde(
        ve_denoiser, x_T / alpha[0], k_sigmas, eta=eta, noise_sampler=noise_sampler, disable=True
    )
    torch.testing.assert_close(ours, alpha[-1] * theirs, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("kind", ["vp", "ve"])
@pytest.mark.parametrize("s_churn", [0.0, 2.0])
def test_edm_equals_k_diffusions_heun_sampler(k_sampling, kind, s_churn):
    """EDM's Algorithm 1 (s_churn = 0) and 2 in k-diffusion's ``sample_heun`` on its own grid,
    which ends at sigma = 0: revsde's solve and Tweedie's step against k-diffusion's steps and
    its last, Euler step to 0 (so the same s_churn gives the same gamma, counting that step).
    With churn both draw one standard normal per step from the global generator; s_tmax keeps
    the first step (where revsde caps the churned level at the process's start) unchurned, and
    s_tmin the last (Tweedie's step does not churn)."""
    rode, ts, x_T, alpha, k_sigmas = problem(kind)
    churn = {
        "s_churn": s_churn,
        "s_tmax": float(k_sigmas[1]) * 1.0001,
        "s_tmin": float(k_sigmas[-1]) * 1.0001,
    }
    torch.manual_seed(5)
    ours = solvers.solve(rode, x_T, ts, method="edm", final_only=True, **churn).ys
    ours = rode.predict_x0(ts[-1], ours)
    torch.manual_seed(5)
    theirs = k_sampling.sample_heun(
        ve_denoiser,
        x_T / alpha[0],
        torch.cat([k_sigmas, k_sigmas.new_zeros(1)]),
        disable=True,
        **churn,
    )
    torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-9)


@pytest.fixture(scope="module")
def diffusers():
    return load_peer(peers.diffusers)


def eps_model(x, timestep):
    """Any smooth noise predictor: parity holds for the model the scheduler is given."""
    return torch.tanh(0.4 * x + 1e-3 * float(timestep)) - 0.1 * x


class SchedulerGrid(torch.nn.Module):
    """A scheduler's grid as a semi-linear problem for revsde's solvers: the integration time
    is the step index k, the marginals are the scheduler's alpha_k, sigma_k, and the data
    prediction comes from the same noise predictor at the scheduler's timestep k."""

    noise_type, sde_type, is_ode = "diagonal", "ito", True

    def __init__(self, alphas, sigmas, timesteps):
        super().__init__()
        self.alphas, self.sigmas, self.timesteps = alphas, sigmas, timesteps

    def f(self, t, y):
        raise NotImplementedError("semi-linear solvers do not call f")

    g = f

    def marginal_coefficients(self, t, like):
        k = int(t)
        return self.alphas[k], self.sigmas[k]

    def predict_x0(self, t, y):
        k = int(t)
        return (y - self.sigmas[k] * eps_model(y, self.timesteps[k])) / self.alphas[k]


def run_ours(grid, x_T, method, **options):
    ts = torch.arange(len(grid.alphas), dtype=D64)
    return solvers.solve(grid, x_T, ts, method=method, final_only=True, **options).ys


def test_dpmpp_2m_equals_diffusers_multistep_scheduler(diffusers):
    sched = diffusers.DPMSolverMultistepScheduler(
        num_train_timesteps=1000,
        algorithm_type="dpmsolver++",
        solver_order=2,
        lower_order_final=False,
        final_sigmas_type="sigma_min",
    )
    sched.set_timesteps(12)
    sched.sigmas = sched.sigmas.double()  # the scheduler's arithmetic in float64, as ours
    vp_sigmas = sched.sigmas  # VE noise levels; alpha = 1/sqrt(1 + s^2)
    alphas = 1.0 / torch.sqrt(1.0 + vp_sigmas**2)
    timesteps = [*sched.timesteps.tolist(), 0]
    x_T = torch.randn(16, 3, dtype=D64, generator=torch.Generator().manual_seed(0))
    x = x_T.clone()
    for t in sched.timesteps:
        x = sched.step(eps_model(x, t), t, x).prev_sample
    grid = SchedulerGrid(alphas, vp_sigmas * alphas, timesteps)
    ours = run_ours(grid, x_T, "dpmpp_2m", lower_order_final=False)
    # diffusers upcasts the update to float32 whatever the state (its step(): "upcast to
    # avoid precision issues"), so agreement is to float32 rounding over 12 steps
    torch.testing.assert_close(ours, x, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("eta", [0.0, 1.0, 0.3])
def test_ddim_equals_diffusers_ddim_scheduler(diffusers, eta):
    sched = diffusers.DDIMScheduler(
        num_train_timesteps=1000, set_alpha_to_one=False, clip_sample=False
    )
    sched.set_timesteps(10)
    sched.alphas_cumprod = sched.alphas_cumprod.double()
    sched.final_alpha_cumprod = sched.alphas_cumprod[0]
    ac = sched.alphas_cumprod
    timesteps = sched.timesteps.tolist()
    step = sched.config.num_train_timesteps // sched.num_inference_steps
    ends = [*timesteps, timesteps[-1] - step]  # the last step goes to alphas_cumprod[0]
    abar = torch.stack([ac[t] if t >= 0 else ac[0] for t in ends])
    x_T = torch.randn(16, 3, dtype=D64, generator=torch.Generator().manual_seed(0))
    gen, deltas = torch.Generator().manual_seed(1), iter([1.0] * len(timesteps))
    x = x_T.clone()
    for t in timesteps:
        h = next(deltas)  # revsde's integration steps are 1 here: dW = z exactly
        z = torch.empty(x.shape, dtype=D64).normal_(0.0, math.sqrt(h), generator=gen)
        x = sched.step(eps_model(x, t), t, x, eta=eta, variance_noise=z).prev_sample
    grid = SchedulerGrid(abar.sqrt(), (1.0 - abar).sqrt(), [*timesteps, 0])
    grid.is_ode = eta == 0.0
    ours = run_ours(grid, x_T, "ddim", eta=eta, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(ours, x, rtol=1e-9, atol=1e-9)


FEW_STEP = sorted(
    name for name, cls in solvers.SOLVERS.items() if solvers.SemiLinearSDE in cls.requires
)


@pytest.mark.parametrize("method", FEW_STEP)
def test_few_step_methods_stay_stable_on_near_point_data(k_sampling, method):
    """Image-like data: variances 1e-4 and 1e-6. At 5, 10 and 20 evaluations on its default
    grid, every few-step method stays at the level of k-diffusion's DPM-Solver++(2M) on its
    Karras grid (within 1.5x; both are then dominated by the prior's mismatch), where Heun's
    method on a Karras grid blows up (W2 ~ 0.65 at 5 evaluations in k-diffusion). EDM's
    sampler is that Heun method: it is held to k-diffusion's ``sample_heun`` on the same
    budget (Karras grid with the same steps, then its Euler step to sigma = 0)."""
    from revsde.evaluation.metrics import moment_w2

    mu = torch.tensor([0.5, -0.3], dtype=D64)
    cov = torch.diag(torch.tensor([1e-4, 1e-6], dtype=D64))
    law, sde = Gaussian(mu, cov), revsde.VPSDE()
    n = 4000
    x_T = torch.randn(n, 2, dtype=D64, generator=torch.Generator().manual_seed(0))
    one, t_min = torch.tensor(1.0, dtype=D64), torch.tensor(1e-3, dtype=D64)
    alpha_T = sde.alpha(one)
    sigma_max = float(sde.sigma(one) / alpha_T)
    sigma_min = float(sde.sigma(t_min) / sde.alpha(t_min))

    def denoiser(x, sigma):
        s = sigma.reshape(-1)
        return x + (s**2).reshape(-1, 1) * law.score_at(x, torch.ones((), dtype=D64), s)

    solver = solvers.resolve(method)
    for nfe in (5, 10, 20):
        steps = (nfe - 1 - solver.nfe_startup) // solver.nfe
        if steps < 1:
            continue
        x = revsde.sample(
            sde,
            law.score(sde),
            (n, 2),
            method=method,
            steps=steps,
            dtype=D64,
            generator=torch.Generator().manual_seed(0),
        )
        sigmas = k_sampling.get_sigmas_karras(nfe, sigma_min, sigma_max).to(D64)
        if method == "edm":  # Heun in sigma against k-diffusion's own Heun sampler
            sigmas = k_sampling.get_sigmas_karras(steps + 1, sigma_min, sigma_max).to(D64)
            peer = k_sampling.sample_heun(denoiser, x_T / alpha_T, sigmas, disable=True)
        else:
            peer = k_sampling.sample_dpmpp_2m(denoiser, x_T / alpha_T, sigmas, disable=True)
        ours_err, peer_err = moment_w2(x, mu, cov), moment_w2(peer, mu, cov)
        assert ours_err < 1.5 * peer_err, (nfe, ours_err, peer_err)


@pytest.mark.parametrize("variant", ["bh2", "bh1"])
@pytest.mark.parametrize("order", [2, 3])
def test_unipc_equals_diffusers_unipc_scheduler(diffusers, order, variant):
    sched = diffusers.UniPCMultistepScheduler(
        num_train_timesteps=1000,
        solver_order=order,
        solver_type=variant,
        lower_order_final=False,
        final_sigmas_type="sigma_min",
    )
    sched.set_timesteps(12)
    sched.sigmas = sched.sigmas.double()
    alphas = 1.0 / torch.sqrt(1.0 + sched.sigmas**2)
    timesteps = [*sched.timesteps.tolist(), 0]
    x_T = torch.randn(16, 3, dtype=D64, generator=torch.Generator().manual_seed(0))
    x = x_T.clone()
    for t in sched.timesteps:
        x = sched.step(eps_model(x, t), t, x).prev_sample
    grid = SchedulerGrid(alphas, sched.sigmas * alphas, timesteps)
    ours = run_ours(grid, x_T, "unipc", order=order, variant=variant, lower_order_final=False)
    torch.testing.assert_close(ours, x, rtol=1e-9, atol=1e-9)
