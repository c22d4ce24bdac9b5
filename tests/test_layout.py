"""The architecture's one rule: the dependency arrow runs from revsde to solvers, never back."""

import ast
import pathlib

SOLVERS = pathlib.Path(__file__).resolve().parents[1] / "solvers"


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
    none names revsde. A planted `from revsde import VPSDE` in any of them fails this."""
    files = sorted(SOLVERS.glob("*.py"))
    assert len(files) > 10
    offenders = {
        f.name: sorted(m for m in _imported_modules(f) if m.split(".")[0] == "revsde")
        for f in files
    }
    assert not {name: mods for name, mods in offenders.items() if mods}
