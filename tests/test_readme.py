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
