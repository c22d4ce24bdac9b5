"""The peers that revsde is compared with, loaded for tests and benchmarks.

diffusers installs cleanly (the ``peers`` extra). k-diffusion's PyPI package pulls in its
training stack (wandb, clip, clean-fid, kornia, torchvision, ...), so it is installed with
``pip install --no-deps k-diffusion`` and only its ``sampling`` module is loaded: the package's
``__init__`` (which imports that stack) is skipped, and torchvision, which ``k_diffusion.utils``
imports for image helpers that sampling never calls, is stubbed while it loads if absent.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types

INSTALL = "pip install '.[peers]' && pip install --no-deps k-diffusion==0.1.1.post1"


class PeerMissing(ImportError):
    pass


def _missing(name: str) -> PeerMissing:
    return PeerMissing(f"{name} is not installed ({INSTALL})")


def required() -> bool:
    """CI sets REVSDE_REQUIRE_PEERS=1 so that a missing peer fails instead of skipping."""
    return os.environ.get("REVSDE_REQUIRE_PEERS") == "1"


def k_diffusion_sampling() -> types.ModuleType:
    """k-diffusion's samplers (``k_diffusion.sampling``)."""
    return _k_diffusion("sampling")


def k_diffusion_external() -> types.ModuleType:
    """k-diffusion's model wrappers (``k_diffusion.external``: ``DiscreteEpsDDPMDenoiser``...)."""
    return _k_diffusion("external")


def _k_diffusion(module: str) -> types.ModuleType:
    if f"k_diffusion.{module}" in sys.modules:
        return sys.modules[f"k_diffusion.{module}"]
    if "k_diffusion" not in sys.modules:
        spec = importlib.util.find_spec("k_diffusion")
        if spec is None or spec.submodule_search_locations is None:
            raise _missing("k-diffusion")
        # the package without its __init__ (which imports the training stack)
        package = types.ModuleType("k_diffusion")
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec
        sys.modules["k_diffusion"] = package
    stubs = {}
    if importlib.util.find_spec("torchvision") is None:
        functional = types.ModuleType("torchvision.transforms.functional")
        transforms = types.ModuleType("torchvision.transforms")
        transforms.functional = functional
        torchvision = types.ModuleType("torchvision")
        torchvision.transforms = transforms
        stubs = {
            "torchvision": torchvision,
            "torchvision.transforms": transforms,
            "torchvision.transforms.functional": functional,
        }
    sys.modules.update(stubs)
    try:
        return importlib.import_module(f"k_diffusion.{module}")
    finally:
        for name in stubs:  # other libraries must not see the stub
            sys.modules.pop(name, None)


def diffusers() -> types.ModuleType:
    try:
        return importlib.import_module("diffusers")
    except ImportError:
        raise _missing("diffusers") from None
