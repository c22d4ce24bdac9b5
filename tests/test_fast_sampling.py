"""Mixed precision for the network and CUDA-graph capture of the fixed-step loop
(revsde.sample's autocast= and cuda_graph=)."""

from __future__ import annotations

import pytest
import torch

import revsde
from revsde import solvers
from revsde.sampling import capture

CUDA = torch.cuda.is_available()


class StandardNormalEps(torch.nn.Module):
    """The exact noise prediction of N(0, I) data under the VP process, eps = sigma(t) x,
    through a linear layer (the identity), which records the dtype it computed in."""

    def __init__(self, sde):
        super().__init__()
        self.sde = sde
        self.layer = torch.nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            self.layer.weight.copy_(torch.eye(2))
        self.seen = set()

    def forward(self, x, t):
        h = self.layer(x)
        self.seen.add(h.dtype)
        return self.sde.sigma(t)[:, None] * h


@pytest.mark.parametrize("method", sorted(solvers.SOLVERS))
def test_autocast_runs_the_network_in_bfloat16_and_the_solver_in_float32(method):
    """Every method: the network's layer computes in bfloat16 under autocast, the samples
    come back in float32, near the float32 run (bfloat16 keeps 8 significant bits, 0.4 %:
    within 0.05 for samples of unit scale); without autocast it stays float32."""
    sde = revsde.VPSDE()
    net = StandardNormalEps(sde)
    adapter = revsde.ScoreAdapter(net, sde, "eps")
    kw = {"steps": 10, "generator": list(range(64))}
    full = revsde.sample(sde, adapter, (64, 2), method, **kw)
    assert net.seen == {torch.float32}
    net.seen.clear()
    half = revsde.sample(sde, adapter, (64, 2), method, autocast=torch.bfloat16, **kw)
    assert net.seen == {torch.bfloat16}
    assert half.dtype == torch.float32 and bool(torch.isfinite(half).all())
    assert float((half - full).abs().max()) < 0.05


def test_autocast_takes_half_precisions_only():
    sde = revsde.VPSDE()
    with pytest.raises(ValueError, match=r"autocast must be torch\.bfloat16 or torch\.float16"):
        revsde.sample(sde, lambda x, t: -x, (4, 2), autocast=torch.float64)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({}, "needs device= a CUDA device"),
        ({"device": "cuda", "adaptive": True, "method": "bosh3"}, "adaptive=True"),
        ({"device": "cuda", "callback": print}, "a callback"),
        ({"device": "cuda", "progress": True}, "progress=True"),
        ({"device": "cuda", "grad": True}, "grad=True"),
        ({"device": "cuda", "generator": torch.Generator()}, "generator=None or one integer"),
    ],
)
def test_what_a_graph_cannot_hold_is_refused_before_any_work(options, match):
    with pytest.raises(ValueError, match=match):
        revsde.sample(revsde.VPSDE(), lambda x, t: -x, (4, 2), cuda_graph=True, **options)


def test_the_capturable_solve_is_the_solve():
    """FixedStepSolve.run (what the graph captures: one device tensor of times, no host
    reads) equals solve's result bitwise, for a deterministic and a seeded stochastic method."""
    sde = revsde.VPSDE()
    rsde = sde.reverse(lambda x, t: -x / (1 + x.square()))
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(1))
    seeds = torch.arange(5)
    for method in ("unipc", "sa_solver", "euler"):
        problem = sde.reverse(rsde.score_fn, probability_flow=solvers.resolve(method).ode_only)
        ts = problem.times(300)  # more than one chunk of 256 step times
        run = solvers.FixedStepSolve(problem, ts, method, like=x).run(x, seeds)
        ref = solvers.solve(problem, x, ts, method, generator=seeds, final_only=True).ys
        assert torch.equal(run, ref), method


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("method", ["unipc", "dpmpp_2m", "sa_solver", "euler", "heun"])
def test_a_captured_sampler_equals_the_eager_one_and_replays_new_inputs(method):
    """Seeded, so that the noise is the same both ways: the captured run equals the eager
    one to float32 rounding, the second call (new seeds: new prior draw and noise, replayed
    without a new capture) too; per-sample class labels are refilled at every call."""
    capture.clear_cache()
    sde = revsde.VPSDE()
    weight = torch.linspace(0.5, 1.5, 10, device="cuda")

    def score(x, t, labels):
        return -x * weight[labels][:, None] / (1 + x.square())

    for seeds in (list(range(16)), list(range(100, 116))):
        labels = torch.tensor(seeds, device="cuda") % 10
        kw = {"steps": 12, "device": "cuda", "generator": seeds, "model_kwargs": {"labels": labels}}
        eager = revsde.sample(sde, score, (16, 2), method, **kw)
        graph = revsde.sample(sde, score, (16, 2), method, cuda_graph=True, **kw)
        torch.testing.assert_close(graph, eager, rtol=1e-5, atol=1e-5)
    assert len(capture._CACHE) == 1  # the second call replayed the first capture


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_a_solve_that_reads_the_host_fails_its_capture_with_a_clear_error():
    capture.clear_cache()
    with pytest.raises(RuntimeError, match="reads a value back to the host"):
        revsde.sample(
            revsde.VPSDE(),
            lambda x, t: -x,
            (4, 2),
            "edm",
            s_churn=10.0,
            device="cuda",
            cuda_graph=True,
        )
