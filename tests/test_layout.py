"""The package's layers: every import runs down a layer or stays in its own package, and no
modules import each other (imports inside functions included: read with ast, not traced)."""

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: lowest first; a module may import from a lower layer or from its own package only
LAYERS = [
    ("revsde._checks", "revsde.predictions"),
    ("revsde.solvers",),
    ("revsde.processes",),
    ("revsde.models",),
    ("revsde.sampling", "revsde.training"),
    ("revsde.conditional", "revsde.integrations"),
    ("revsde.evaluation",),
    ("revsde.distributed",),
    ("revsde.cli",),
    ("revsde", "revsde.__main__"),
]
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for path in sorted((ROOT / "revsde").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _imports(name: str, path: pathlib.Path) -> set[str]:
    """The revsde modules ``name`` imports, anywhere in the file."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _package(module: str) -> str:
    """The layer entry a module belongs to: its longest prefix in ``RANK``."""
    parts = module.split(".")
    for k in range(len(parts), 0, -1):
        if ".".join(parts[:k]) in RANK:
            return ".".join(parts[:k])
    raise AssertionError(f"{module} is in no layer: add its package to LAYERS")


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_import_runs_down_a_layer(name):
    """A planted ``from ..sampling import sample`` in a module of processes fails this, as
    does an import between two packages of one layer (sampling and training)."""
    own = _package(name)
    upward = sorted(
        target
        for target in GRAPH[name]
        if _package(target) != own
        and RANK[_package(target)] >= RANK[own]
        and not name.startswith(target + ".")  # a package's own __init__ is not upward
    )
    assert not upward, f"{name} imports {upward}, which are not below its layer"


def test_no_two_modules_import_each_other():
    """No circle of imports between modules (Tarjan's strongly connected components), a
    package's own ``__init__`` left out as the thing that re-exports it."""
    graph = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in GRAPH.items()}
    index, low, stack, on, circles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert not circles


def test_import_revsde_beside_a_users_own_solvers_module(tmp_path):
    """A user's ``solvers.py`` in the working directory shadows any top-level ``solvers``:
    revsde must not depend on one. Run in a fresh interpreter from that directory."""
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
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    assert include == ["revsde*"]
    tops = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    assert tops == {"revsde"}
