"""The trained example: the training loop, checkpoints, `revsde train` and
`revsde compare --checkpoint`, end to end on tiny settings (no timings)."""

from __future__ import annotations

import json
import os

import pytest
import torch

import revsde
from revsde import solvers
from revsde.cli import main
from revsde.models.checkpoint import load_checkpoint, save_checkpoint
from revsde.models.nets import ScoreMLP
from revsde.training import fit


def sklearn_or_skip():
    if os.environ.get("REVSDE_REQUIRE_PEERS") == "1":
        import sklearn  # CI installs the examples extra: a missing one is an error

        return sklearn
    return pytest.importorskip("sklearn", reason="pip install 'revsde[examples]'")


def test_training_lowers_the_loss_and_the_checkpoint_round_trips(tmp_path):
    sklearn_or_skip()
    from revsde.training import datasets

    train, test, info = datasets.load("moons", n=500)
    assert train.shape == (400, 2) and test.shape == (100, 2)
    sde = revsde.VPSDE()
    net = ScoreMLP(2, hidden=32)
    gen = torch.Generator().manual_seed(0)
    ema, losses = fit(
        net, sde, train, prediction="eps", iterations=300, batch_size=128, lr=3e-3, generator=gen
    )
    first, last = sum(losses[:50]) / 50, sum(losses[-50:]) / 50
    assert last < 0.85 * first, (first, last)
    path = save_checkpoint(tmp_path / "m.pt", ema, sde, prediction="eps", **info)
    score, sde2, info2 = load_checkpoint(path)
    assert isinstance(sde2, revsde.VPSDE) and sde2.beta_max == sde.beta_max
    assert info2["name"] == "moons"
    x = torch.randn(5, 2)
    t = torch.full((5,), 0.4)
    torch.testing.assert_close(score.model(x, t), ema(x, t))
    with pytest.raises(TypeError, match="checkpoints hold"):
        save_checkpoint(tmp_path / "bad.pt", ema, revsde.CosineVPSDE(), prediction="eps")


def test_digits_are_dequantized_onto_minus_one_one():
    sklearn_or_skip()
    from revsde.training import datasets

    train, test, info = datasets.load("digits")
    assert train.shape[1] == 64 and train.shape[0] + test.shape[0] == 1797
    assert float(train.min()) >= -1.0 and float(train.max()) <= 1.0
    assert info["n_bins"] == 17 and tuple(info["data_range"]) == (-1.0, 1.0)


def test_train_and_compare_checkpoint_commands_run_end_to_end(tmp_path, capsys):
    sklearn_or_skip()
    out = tmp_path / "run"
    argv = ["train", "--iterations", "60", "--hidden", "16", "--batch-size", "64"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "test_nll_per_dim" in printed and "gmm16_test_nll_per_dim" in printed
    assert (out / "model.pt").is_file() and (out / "samples.png").stat().st_size > 0
    argv = ["compare", "--checkpoint", str(out / "model.pt"), "--methods", "euler,unipc"]
    argv += ["--steps", "4,8", "--samples", "300", "--no-progress", "--out", str(tmp_path / "c")]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "fine solve of the same model" in printed
    study = json.loads((tmp_path / "c" / "compare.json").read_text())
    assert study["checkpoint"] and len(study["runs"]) == 4
    assert all(r["moment_w2"] > 0 and r["sliced_w2"] >= 0 for r in study["runs"])


def test_the_checkpoint_study_couples_sde_runs_to_their_reference(tmp_path):
    """An SDE run of `revsde compare --checkpoint` reads the Brownian path of its 2000-step
    reference, so the coupled kernel error's noise is far below that of the same run on
    independent noise (17x at 200 Euler steps measured; planting independent noise in the
    study makes the two equal). No torchsde warning: the path's ends hold the float32 times."""
    import warnings

    import torchsde

    from revsde.evaluation.checkpoint_study import run_checkpoint_study
    from revsde.sampling.coupling import coupled_feature_error, fourier_features

    sklearn_or_skip()
    out = tmp_path / "run"
    argv = ["train", "--iterations", "60", "--hidden", "16", "--batch-size", "64"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        study = run_checkpoint_study(str(out / "model.pt"), ["euler"], steps=(200,), samples=400)
    (run,) = study.runs
    assert run.coupled > 0 and run.coupled_noise > 0

    score, process, _ = load_checkpoint(out / "model.pt")
    rsde = process.reverse(score)
    x_T = process.prior_sample((400, 2), generator=torch.Generator().manual_seed(0))

    def solve(entropy, ts):
        bm = torchsde.BrownianInterval(
            t0=0.0,
            t1=rsde.s_max + 1e-6,  # as the study's path
            size=x_T.shape,
            dtype=x_T.dtype,
            entropy=entropy,
            tol=1e-6,
            halfway_tree=True,
            levy_area_approximation="space-time",
        )
        with torch.no_grad():
            return solvers.solve(rsde, x_T, ts, bm=bm, method="euler", final_only=True).ys

    reference = solve(1, rsde.times(2000))
    phi = fourier_features(reference)
    _, independent = coupled_feature_error(phi(solve(99, rsde.times(200))), phi(reference))
    assert run.coupled_noise < 0.3 * independent, (run.coupled_noise, independent)
