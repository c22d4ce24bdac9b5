"""Checkpoints of trained score networks: the weights with what is needed to use them again
(the network's constructor arguments, the process, the prediction type, the data's info)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..processes import VESDE, VPSDE, SubVPSDE
from ..processes.sde import DiffusionSDE
from .adapter import ScoreAdapter
from .nets import ScoreMLP

#: process name -> (class, the attributes that rebuild it)
PROCESSES = {
    "vp": (VPSDE, ("beta_min", "beta_max")),
    "subvp": (SubVPSDE, ("beta_min", "beta_max")),
    "ve": (VESDE, ("sigma_min", "sigma_max")),
}


def save_checkpoint(
    path: str | Path, net: ScoreMLP, sde: DiffusionSDE, *, prediction: str, **info: Any
) -> Path:
    """Write ``net`` (a ``ScoreMLP``), its process and ``info`` (data set, metrics...)."""
    name = next((k for k, (cls, _) in PROCESSES.items() if type(sde) is cls), None)
    if name is None:
        raise TypeError(f"checkpoints hold {sorted(PROCESSES)} processes, got {type(sde).__name__}")
    if not isinstance(net, ScoreMLP):
        raise TypeError(f"net must be a revsde.models.nets.ScoreMLP, got {type(net).__name__}")
    params = {a: getattr(sde, a) for a in PROCESSES[name][1]}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")  # written whole, then renamed into place
    torch.save(
        {
            "net": net.config,
            "state_dict": net.state_dict(),
            "sde": {"name": name, "params": params},
            "prediction": prediction,
            "info": info,
        },
        tmp,
    )
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path) -> tuple[ScoreAdapter, DiffusionSDE, dict[str, Any]]:
    """``(score, sde, info)`` from ``save_checkpoint``'s file: the network in a
    ``ScoreAdapter`` (evaluation mode), its process, and the stored info. A file that is not
    one (text, other bytes, a saved tensor, another program's checkpoint) is a ``ValueError``
    that names it; the file is read with ``weights_only=True`` (no code runs from it)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is not a file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable file: pickle, zip and torch errors alike
        raise ValueError(
            f"{path} is not a revsde checkpoint: torch cannot read it ({type(exc).__name__})"
        ) from None
    if not isinstance(ckpt, dict):
        raise ValueError(
            f"{path} is not a revsde checkpoint: it holds a {type(ckpt).__name__}, not the "
            "dictionary `revsde train` writes"
        )
    for key in ("net", "state_dict", "sde", "prediction"):
        if key not in ckpt:
            raise ValueError(f"{path} is not a revsde checkpoint (no {key!r})")
    net = ScoreMLP(**ckpt["net"])
    net.load_state_dict(ckpt["state_dict"])
    net.eval().requires_grad_(False)
    cls, _ = PROCESSES[ckpt["sde"]["name"]]
    sde = cls(**ckpt["sde"]["params"])
    return ScoreAdapter(net, sde, prediction=ckpt["prediction"]), sde, ckpt.get("info", {})
