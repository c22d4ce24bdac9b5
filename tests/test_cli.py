"""``revsde compare`` end to end on a tiny setting."""

from __future__ import annotations

import csv
import json
import math

import pytest

from revsde.cli import main
from revsde.cli.commands import build_parser
from revsde.evaluation.metrics import gaussian_w2, sliced_w2


def test_compare_writes_its_files_and_the_error_falls_with_steps(tmp_path, capsys):
    argv = ["compare", "--samples", "3000", "--steps", "2,8,32", "--methods", "euler,heun"]
    assert main([*argv, "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "noise floor" in out
    for name in ("compare.json", "compare.csv", "compare.png"):
        assert (tmp_path / name).stat().st_size > 0
    study = json.loads((tmp_path / "compare.json").read_text())
    with (tmp_path / "compare.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(study["runs"]) == 6
    assert all(
        math.isfinite(float(r[k])) for r in rows for k in ("sliced_w2", "moment_w2", "seconds")
    )
    euler = [r for r in study["runs"] if r["method"] == "euler"]
    assert [r["nfe"] for r in euler] == [2, 8, 32]
    assert euler[0]["moment_w2"] > euler[-1]["moment_w2"]
    assert euler[0]["sliced_w2"] > 2 * study["noise_floor_sliced_w2"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compare", "--methods", "bogus"], "valid methods are"),
        (["compare", "--steps", "10,-5"], "positive integer"),
        (["compare", "--steps", "a"], "comma-separated"),
        (["compare", "--target", "moons"], "invalid choice"),
        (["compare", "--sde", "bridge"], "invalid choice"),
        (["compare", "--metric", "w2"], "invalid choice"),
        (["compare", "--samples", "1"], ">= 2"),
        (["compare", "--samples", "100", "--sde-samples", "50"], "--sde-samples must be >= "),
        (["compare", "--adaptive", "0.1,2"], "every rtol must lie in (0, 1)"),
        (["compare", "--spacing", "powr"], "spacing must be one of"),
        (["compare", "--exact"], "--exact needs a Gaussian target"),
        (["compare", "--target", "gaussian3072"], "is for --exact only"),
        ([], "command"),
    ],
)
def test_bad_options_exit_2_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_metrics():
    import torch

    eye = torch.eye(2, dtype=torch.float64)
    zero = torch.zeros(2, dtype=torch.float64)
    # W2 between N(0, I) and N(m, 4 I) is sqrt(|m|^2 + 2 (2 - 1)^2)
    m = torch.tensor([3.0, 4.0], dtype=torch.float64)
    assert gaussian_w2(zero, eye, m, 4 * eye) == pytest.approx(math.sqrt(25 + 2), rel=1e-12)
    x = torch.randn(500, 2, dtype=torch.float64)
    assert sliced_w2(x, x) == 0.0
    assert sliced_w2(x, x + torch.tensor([1.0, 0.0], dtype=torch.float64)) > 0.3


def test_device_and_out_are_checked_before_the_study(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as exc:
        main(["compare", "--device", "cuda", "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "sees no CUDA device" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SystemExit) as exc:
        main(["compare", "--out", str(blocker / "sub")])  # a path under a file
    assert exc.value.code == 2
    assert "is not a writable directory" in capsys.readouterr().err


def test_bit_identical_methods_share_one_curve():
    from revsde.evaluation.report import identical_curves
    from revsde.evaluation.results import Run, Study

    study = Study("vp", "mixture2d", 10, 0, "float64", "cpu", 0.1, 0.1)
    for method, err in (("euler", 0.5), ("milstein", 0.5), ("heun", 0.2)):
        study.runs.append(Run(method, 10, 10, err, err, 0.0))
        study.slopes[method] = None
    assert identical_curves(study) == [["euler", "milstein"], ["heun"]]


def test_compare_json_is_strict_json_with_null_for_a_missing_number(tmp_path):
    """An exact study has no sliced W2 (NaN in the run): the JSON says null, which strict
    readers accept, where Python's json wrote a bare NaN."""
    import json
    import math

    from revsde.evaluation.report import write_outputs
    from revsde.evaluation.results import Run, Study

    study = Study("vp", "gaussian2d", 0, 0, "float64", "cpu", 0.0, 0.0, exact=True)
    study.runs.append(Run("euler", 10, 10, math.nan, 0.1, 0.0, kl=math.inf))
    study.slopes["euler"] = None
    path = write_outputs(study, tmp_path)[0]

    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    data = json.loads(path.read_text(), parse_constant=refuse)
    assert data["runs"][0]["sliced_w2"] is None and data["runs"][0]["kl"] is None
    assert data["runs"][0]["moment_w2"] == 0.1


def test_each_method_runs_on_its_preferred_grid_unless_one_is_given(tmp_path):
    argv = ["compare", "--samples", "200", "--steps", "4", "--methods", "dpmpp_2m,euler"]
    assert main([*argv, "--out", str(tmp_path), "--no-progress"]) == 0
    with (tmp_path / "compare.csv").open() as fh:
        grids = {r["method"]: r["spacing"] for r in csv.DictReader(fh)}
    assert grids == {"dpmpp_2m": "quadratic", "euler": "uniform"}
    assert main([*argv, "--spacing", "logsnr", "--out", str(tmp_path), "--no-progress"]) == 0
    with (tmp_path / "compare.csv").open() as fh:
        assert {r["spacing"] for r in csv.DictReader(fh)} == {"logsnr"}


def test_adaptive_runs_join_the_study_with_every_evaluation(tmp_path):
    argv = ["compare", "--samples", "500", "--steps", "8", "--methods", "bosh3,euler"]
    assert main([*argv, "--adaptive", "1e-2,1e-4", "--out", str(tmp_path), "--no-progress"]) == 0
    study = json.loads((tmp_path / "compare.json").read_text())
    runs = [r for r in study["runs"] if r["method"] == "bosh3 (adaptive)"]
    assert [r["spacing"] for r in runs] == ["rtol=0.01", "rtol=0.0001"]
    # a tighter tolerance costs more evaluations (3 per step plus the first, FSAL)
    assert runs[0]["nfe"] < runs[1]["nfe"] and runs[1]["nfe"] >= 3 * runs[1]["steps"]
    assert not any("euler (adaptive)" == r["method"] for r in study["runs"])


def test_ggf_joins_the_study_with_the_paper_rule_and_the_noise_and_data_scales(tmp_path):
    """--adaptive runs ggf three times per tolerance: the paper's rule (rtol = atol = tol),
    error_scale="noise" and "data" (atol = tol); different runs with different step counts."""
    argv = ["compare", "--samples", "300", "--steps", "8", "--methods", "ggf"]
    assert main([*argv, "--adaptive", "0.05", "--out", str(tmp_path), "--no-progress"]) == 0
    study = json.loads((tmp_path / "compare.json").read_text())
    by_name = {r["method"]: r for r in study["runs"]}
    assert by_name["ggf (adaptive)"]["spacing"] == "rtol=0.05"
    steps = {by_name["ggf (adaptive)"]["steps"]}
    for variant in ("noise scale", "data scale"):
        assert by_name[f"ggf (adaptive, {variant})"]["spacing"] == "atol=0.05"
        steps.add(by_name[f"ggf (adaptive, {variant})"]["steps"])
    assert len(steps) == 3, steps


def test_compare_exact_has_no_floor_and_lists_the_methods_without_a_law(tmp_path, capsys):
    argv = ["compare", "--exact", "--target", "gaussian2d", "--steps", "16,64,256"]
    argv += ["--methods", "euler,heun,pc", "--adaptive", "0.01"]
    assert main([*argv, "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "exact laws" in out and "noise floor" not in out
    assert "no exact law for pc: the Langevin corrector" in out
    assert "no exact law for heun (adaptive)" not in out  # heun has no error estimate
    study = json.loads((tmp_path / "compare.json").read_text())
    assert study["exact"] and sorted(study["not_exact"]) == ["pc"]
    heun = [r for r in study["runs"] if r["method"] == "heun"]
    w2 = [r["moment_w2"] for r in heun]
    # heun's exact error falls at its order 2 (no floor to stop it): 4x steps, ~16x less
    assert w2[0] > 8 * w2[1] > 64 * w2[2] > 0
    assert study["slopes"]["heun"] == pytest.approx(-2.0, abs=0.3)


def test_repeated_seeds_give_confidence_intervals_and_budgets_name_the_winners(tmp_path, capsys):
    argv = ["compare", "--samples", "1000", "--steps", "4,16", "--methods", "euler,heun"]
    argv += ["--seeds", "3", "--target-error", "0.3"]
    assert main([*argv, "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "mean over 3 seeds" in out
    study = json.loads((tmp_path / "compare.json").read_text())
    assert study["seeds"] == 3
    for r in study["runs"]:
        assert r["sliced_w2_ci"] > 0 and r["moment_w2_ci"] > 0
    # the mean and the Student-t half-width over the three single-seed studies
    from scipy import stats

    from revsde.evaluation.compare import run_study

    singles = [
        run_study(methods=["euler"], steps=(4,), samples=1000, seed=1000 * j).runs[0].sliced_w2
        for j in range(3)
    ]
    first = study["runs"][0]
    assert first["sliced_w2"] == pytest.approx(sum(singles) / 3, rel=1e-12)
    half = stats.t.ppf(0.975, 2) * stats.tstd(singles) / math.sqrt(3)
    assert first["sliced_w2_ci"] == pytest.approx(half, rel=1e-9)
    assert "most accurate within each budget of evaluations:" in out
    assert "fewest evaluations to reach error 0.3:" in out


def test_budget_and_target_summaries():
    from revsde.evaluation.results import Run, Study, best_per_budget, fewest_evaluations

    study = Study("vp", "gaussian2d", 10, 0, "float64", "cpu", 0.01, 0.01)
    study.runs = [
        Run("a", 10, 10, 0.5, 0.5, 0.0),
        Run("a", 20, 20, 0.2, 0.2, 0.0),
        Run("b", 5, 10, 0.3, 0.3, 0.0),
        Run("b", 10, 20, 0.25, 0.25, 0.0),
    ]
    assert fewest_evaluations(study, 0.26) == {"a": 20, "b": 20}
    assert fewest_evaluations(study, 0.1) == {"a": None, "b": None}
    assert best_per_budget(study, (10, 20)) == {10: ("b", 0.3), 20: ("a", 0.2)}


def _one_line_error(argv, capsys, *parts):
    """The command exits with status 2 and one line on stderr holding every part."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for part in parts:
        assert part in err, (part, err)


def test_bad_files_folders_and_shapes_are_one_line_errors(tmp_path, capsys):
    """A checkpoint that is text, random bytes or a saved tensor (in sample and compare); an
    output path that is a file or holds another job; a --shape the model cannot take: each a
    one-line error with exit status 2 before any work (raw unpickling errors and tracebacks
    before)."""
    import torch

    text, noise, tensor = tmp_path / "a.txt", tmp_path / "b.bin", tmp_path / "c.pt"
    text.write_text("not a checkpoint")
    noise.write_bytes(bytes(range(256)) * 8)
    torch.save(torch.zeros(3), tensor)
    for bad in (text, noise, tensor):
        for command in ("sample", "compare"):
            argv = [command, "--checkpoint", str(bad), "--out", str(tmp_path / "o")]
            if command == "sample":
                argv += ["--samples", "4"]
            _one_line_error(argv, capsys, "--checkpoint", str(bad), "not a revsde checkpoint")
    model = ["sample", "--model", "cli_models:gaussian", "--samples", "4", "--steps", "2"]
    blocker = tmp_path / "file"
    blocker.write_text("")
    _one_line_error([*model, "--out", str(blocker)], capsys, "--out", "not a writable directory")
    folder = str(tmp_path / "job")
    assert main([*model, "--out", folder, "--no-progress"]) == 0
    capsys.readouterr()
    _one_line_error([*model, "--out", folder, "--method", "euler"], capsys, "another job", "method")
    _one_line_error(
        [*model, "--shape", "3", "--out", str(tmp_path / "s")], capsys, "--shape (3,) differs"
    )
    unshaped = ["sample", "--model", "cli_models:unshaped", "--samples", "2"]
    _one_line_error(
        [*unshaped, "--shape", "5", "--out", str(tmp_path / "u")], capsys, "--shape (5,)"
    )


def test_one_sample_one_step_one_per_chunk_runs(tmp_path, capsys):
    argv = ["sample", "--model", "cli_models:gaussian", "--samples", "1", "--steps", "1"]
    assert main([*argv, "--batch-size", "1", "--out", str(tmp_path), "--no-progress"]) == 0
    assert "(1, 2)" in capsys.readouterr().out


def test_every_option_has_help_and_the_help_shows_its_default():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, command in commands.items():
        for action in command._actions:
            if action.dest != "help":
                assert action.help, (name, action.dest)
        text = command.format_help()
        assert "(default:" in text, name
    assert "(default: 256)" in commands["sample"].format_help()
