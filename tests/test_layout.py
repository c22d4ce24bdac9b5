"""The architecture's one rule: the dependency arrow runs from revsde to solvers, never back."""

import ast
import pathlib

import pytest

SOLVERS = pathlib.Path(__file__).resolve().parents[1] / "revsde" / "solvers"


def _imported_modules(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_solvers_never_imports_revsde():
    """Every module of solvers/, imports inside functions included (ast, not a runtime trace):
    none names revsde outside revsde.solvers. A planted `from revsde import VPSDE` in any of
    them fails this."""
    files = sorted(SOLVERS.glob("*.py"))
    assert len(files) > 10
    offenders = {
        f.name: sorted(
            m
            for m in _imported_modules(f)
            if m.split(".")[0] == "revsde" and not m.startswith("revsde.solvers")
        )
        for f in files
    }
    assert not {name: mods for name, mods in offenders.items() if mods}


def test_import_revsde_beside_a_users_own_solvers_module(tmp_path):
    """A user's ``solvers.py`` in the working directory shadows any top-level ``solvers``:
    revsde must not depend on one. Run in a fresh interpreter from that directory."""
    import subprocess
    import sys

    (tmp_path / "solvers.py").write_text("raise ImportError('the user module was imported')\n")
    code = "import revsde; from revsde.solvers import sdeint; print(revsde.sdeint is sdeint)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


def test_the_distribution_installs_one_top_level_package():
    """The build configuration lists ``revsde`` (and its sub-packages) only: no generic
    top-level import name such as ``solvers`` is installed."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    root = pathlib.Path(__file__).resolve().parents[1]
    config = tomllib.loads((root / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    assert include == ["revsde*"]
    tops = {p.name for p in root.iterdir() if (p / "__init__.py").is_file()}
    assert tops == {"revsde"}
