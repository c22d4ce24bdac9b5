"""``python -m revsde`` end to end on a tiny setting."""

from __future__ import annotations

import pytest

from revsde.__main__ import main


def test_main_runs_and_prints_a_table(capsys):
    assert main(["--samples", "64", "--steps", "4,8", "--methods", "euler,pc"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("euler", "pc"))]
    assert len(rows) == 4
    assert all(float(r[3]) >= 0 and float(r[4]) >= 0 for r in rows)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--methods", "bogus"], "valid methods are"),
        (["--steps", "a,b"], "comma-separated"),
        (["--steps", "-3"], "--steps"),
    ],
)
def test_main_rejects_bad_options(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
