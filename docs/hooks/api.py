"""mkdocs hook: the API reference page, generated from the packages' ``__all__`` at build time,
so that every public name is on it and none is listed by hand.

``docs/api.md`` holds the page's introduction and the marker ``<!-- api -->``; each section
below becomes a heading with one mkdocstrings entry per name of that package's ``__all__``
(a module in ``__all__`` is documented whole, an object once, where it is first met).
"""

from __future__ import annotations

import importlib
import inspect

MARKER = "<!-- api -->"

#: (heading, package) in the page's order
SECTIONS = [
    ("The package", "revsde"),
    ("Integrators", "revsde.solvers"),
    ("Processes", "revsde.processes"),
    ("Predictions", "revsde.predictions"),
    ("Models", "revsde.models"),
    ("Sampling", "revsde.sampling"),
    ("Training", "revsde.training"),
    ("Evaluation", "revsde.evaluation"),
    ("Scaling out", "revsde.distributed"),
]

#: modules documented by none of the sections: the machinery behind a documented name
#: (the loop behind sdeint, the command line behind ``revsde``)
INTERNAL = {
    "revsde.__main__",
    "revsde._checks",
    "revsde.cli",
    "revsde.cli.commands",
    "revsde.cli.example",
    "revsde.solvers.adaptive",
    "revsde.solvers.finite",
    "revsde.solvers.grid",
    "revsde.solvers.noise",
    "revsde.solvers.diffusion",
}


def entries() -> list[tuple[str, list[str]]]:
    """For each section, its heading and the dotted paths it documents."""
    seen: set[int] = set()
    out = []
    for heading, name in SECTIONS:
        module = importlib.import_module(name)
        paths = []
        names = getattr(module, "__all__", None)
        if names is None:  # a module without __all__ is documented whole
            paths.append(name)
        for member in names or ():
            obj = getattr(module, member)
            if id(obj) in seen or member == "__version__":
                continue
            seen.add(id(obj))
            paths.append(obj.__name__ if inspect.ismodule(obj) else f"{name}.{member}")
        out.append((heading, paths))
    return out


def markdown() -> str:
    parts = []
    for heading, paths in entries():
        parts.append(f"## {heading}\n")
        parts.extend(f"::: {path}\n" for path in paths)
    return "\n".join(parts)


def on_page_markdown(text: str, page, **kwargs) -> str:
    if MARKER in text:
        return text.replace(MARKER, markdown())
    return text
