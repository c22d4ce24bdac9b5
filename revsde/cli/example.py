"""The trained example behind ``revsde train``: fit a ``ScoreMLP`` to a small real data set,
save it, sample it with several solvers and report the held-out likelihood."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch

from ..evaluation.likelihood import bits_per_dim, log_likelihood
from ..evaluation.metrics import sliced_w2
from ..models.checkpoint import load_checkpoint, save_checkpoint
from ..models.nets import ScoreMLP
from ..processes import VPSDE
from ..sampling.sample import sample
from ..training import datasets, fit

SAMPLERS = (("euler", 50), ("heun", 25), ("dpmpp_2m", 50), ("unipc", 50))


def train_example(
    data: str = "moons",
    *,
    iterations: int = 4000,
    hidden: int = 256,
    batch_size: int = 512,
    lr: float = 2e-3,
    seed: int = 0,
    out: str | Path = "train-out",
    progress: bool = True,
    n_eval: int = 2000,
) -> dict[str, Any]:
    """Train on ``data`` (``revsde.training.datasets``), write ``out/model.pt`` and
    ``out/samples.png``, and return the report: training time, the loss, each sampler's sliced
    W2 to held-out data (``n_eval`` samples), the held-out negative log-likelihood per dimension
    (and bits/dim for the digits; for the 2-D sets, a 16-component Gaussian mixture fitted to
    the training data for scale)."""
    out = Path(out)
    train, test, info = datasets.load(data, seed=seed)
    info["seed"] = seed
    dim = train.shape[1]
    sde = VPSDE()
    gen = torch.Generator().manual_seed(seed)
    net = ScoreMLP(dim, hidden=hidden)
    start = time.perf_counter()
    ema, losses = fit(
        net,
        sde,
        train,
        prediction="eps",
        iterations=iterations,
        batch_size=batch_size,
        lr=lr,
        generator=gen,
        progress=progress,
    )
    seconds = time.perf_counter() - start
    path = save_checkpoint(out / "model.pt", ema, sde, prediction="eps", **info)
    score, sde, _ = load_checkpoint(path)
    report: dict[str, Any] = {
        "data": data,
        "train_seconds": seconds,
        "loss_first_100": sum(losses[:100]) / 100,
        "loss_last_100": sum(losses[-100:]) / 100,
        "checkpoint": str(path),
    }
    n = min(n_eval, test.shape[0])
    held_out = test[:n].double()
    report["train_vs_test_sliced_w2"] = sliced_w2(train[:n].double(), held_out)
    samples = {}
    evaluations = SAMPLERS
    if progress:  # one bar over the samplers, not one per sampler
        from tqdm.auto import tqdm

        evaluations = tqdm(SAMPLERS, desc="evaluate", unit="sampler")
    for method, steps in evaluations:
        x = sample(
            sde,
            score,
            (n, dim),
            method=method,
            steps=steps,
            generator=torch.Generator().manual_seed(seed + 1),
        )
        samples[method] = x
        report[f"sliced_w2_{method}_{steps}"] = sliced_w2(x.double(), held_out)
    divergence = "exact" if dim <= 8 else "hutchinson"
    log_p = log_likelihood(
        sde,
        score,
        test,
        method="rk4",
        steps=100,
        divergence=divergence,
        n_probes=8,
        generator=torch.Generator().manual_seed(seed + 2),
    )
    report["test_nll_per_dim"] = float(-log_p.mean()) / dim
    report["likelihood"] = f"rk4, 100 steps, {divergence} divergence, t_min = {sde.default_t_min}"
    if "n_bins" in info:
        report["test_bits_per_dim"] = float(
            bits_per_dim(log_p, dim, n_bins=info["n_bins"], data_range=info["data_range"]).mean()
        )
    else:
        from sklearn.mixture import GaussianMixture

        gmm = GaussianMixture(16, random_state=seed).fit(train.numpy())
        report["gmm16_test_nll_per_dim"] = float(-gmm.score(test.numpy())) / dim
    _figure(train[:n], samples, info, out / "samples.png")
    report["figure"] = str(out / "samples.png")
    return report


def _figure(data, samples, info, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("data", data), *samples.items()]
    fig, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels), 3))
    for ax, (title, x) in zip(axes, panels, strict=True):
        if x.shape[1] == 2:
            ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.5)
            ax.set_xlim(-3, 3)
            ax.set_ylim(-3, 3)
        else:
            side = math.isqrt(x.shape[1])
            grid = x[:36].reshape(6, 6, side, side).permute(0, 2, 1, 3).reshape(6 * side, -1)
            ax.imshow(grid.clamp(-1, 1), cmap="gray_r")
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
