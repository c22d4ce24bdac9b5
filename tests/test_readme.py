"""The README's "A taste" block runs as written and its samplers land near the exact law."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_taste_runs_and_its_errors_are_small(capsys):
    text = README.read_text()
    section = text[text.index("## A taste") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    printed = capsys.readouterr().out
    errors = [float(e) for e in re.findall(r"mean error(?: at t = 0.5)? ([0-9.]+)", printed)]
    assert len(errors) == 4, printed
    # 10 000 samples: the standard error of a mean is ~0.02; every sampler within a few
    assert max(errors) < 0.1, printed
    assert float(namespace["err"]) < 0.1


def test_the_readme_figures_are_the_ones_the_benchmarks_wrote():
    """The README's few-step and speed figures, read off the JSON that benchmarks/few_step.py
    and benchmarks/speed.py wrote into docs/benchmarks: a rerun that changes them, or a
    README edited by hand, fails this until the two agree."""
    import json

    bench = README.parent / "docs" / "benchmarks"
    text = README.read_text()
    rows = json.loads((bench / "few-step.json").read_text())["rows"]

    def error(library, sampler, grid, budget):
        (row,) = [
            r
            for r in rows
            if (r["library"], r["sampler"], r["grid"], r["nfe_budget"])
            == (library, sampler, grid, budget)
        ]
        return f"{row['moment_error']:.4f}"

    for figure in (
        error("revsde", "unipc", "quadratic", 20),
        error("diffusers", "UniPCMultistep", "its default", 20),
        error("diffusers", "DPMSolverMultistep 2M", "its default", 20),
        error("revsde", "dpmpp_2m", "quadratic", 10),
        error("diffusers", "DPMSolverMultistep 2M", "its default", 10),
    ):
        assert figure in text, figure

    def ratios(device, kind, who):
        results = json.loads((bench / f"speed-{device}.json").read_text())["results"]
        values = [v[who]["ratio"] for k, v in results.items() if k.startswith(kind)]
        return min(values), max(values)

    def span(low, high, digits=2):
        return f"{low:.{digits}f}–{high:.{digits}f}×"

    assert span(*ratios("cpu", "reverse", "revsde sdeint")) in text
    assert span(*ratios("cpu", "ou", "revsde sdeint")) in text
    low, high = ratios("cpu", "ou", "torchsde sdeint")
    assert f"{low:.0f}–{high:.0f}×" in text
    assert span(*ratios("cuda", "reverse", "revsde sdeint")) in text
    unet = json.loads((bench / "unet-cuda.json").read_text())["results"]["results"]
    for batch in ("batch 1", "batch 16"):
        for who in ("revsde cuda_graph", "revsde eager"):
            assert f"{unet[batch][who]['vs diffusers']:.2f}×" in text, (batch, who)
    low, high = ratios("cuda", "ou", "torchsde sdeint")
    assert f"{low:.0f}–{high:.0f}×" in text
