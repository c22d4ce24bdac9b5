"""The API reference page is generated from the packages' ``__all__``: every public name is
on it, and every module of the package is either reachable from a documented ``__all__`` or
named internal by the page's hook."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from pathlib import Path

import revsde

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "docs" / "hooks"))
import api  # the mkdocs hook that writes the page

PAGE = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def _documented() -> tuple[set[str], set[int]]:
    paths = {path for _, entries in api.entries() for path in entries}
    objects = set()
    for path in paths:
        module, _, name = path.rpartition(".")
        try:
            obj = importlib.import_module(path)
        except ImportError:
            obj = getattr(importlib.import_module(module), name)
        objects.add(id(obj))
    return paths, objects


def test_the_page_is_the_generated_one():
    assert api.MARKER in PAGE.read_text()


def test_every_name_of_every_documented_all_is_on_the_page():
    """A name added to any ``__all__`` of a documented package, and not on the page, fails
    this (say, a section left out of the hook)."""
    paths, objects = _documented()
    missing = []
    for _, package in api.SECTIONS:
        module = importlib.import_module(package)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if name != "__version__" and id(obj) not in objects:
                missing.append(f"{package}.{name}")
            if inspect.ismodule(obj):  # a documented module's own public names
                for inner in getattr(obj, "__all__", ()):
                    if id(getattr(obj, inner)) not in objects and obj.__name__ not in paths:
                        missing.append(f"{obj.__name__}.{inner}")
    assert not missing


def test_every_module_is_documented_or_named_internal():
    """A new module whose names reach no ``__all__`` (and that is not named internal) fails
    this: it would be public and undocumented."""
    paths, objects = _documented()
    modules = [m.name for m in pkgutil.walk_packages(revsde.__path__, "revsde.")]
    undocumented = []
    for name in modules:
        if name in api.INTERNAL or name in paths or name in dict(api.SECTIONS).values():
            continue
        module = importlib.import_module(name)
        own = [
            obj
            for obj in vars(module).values()
            if getattr(obj, "__module__", None) == name and not inspect.ismodule(obj)
        ]
        if id(module) not in objects and not any(id(obj) in objects for obj in own):
            undocumented.append(name)
    assert not undocumented
