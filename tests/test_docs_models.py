"""The "Bring your model" guide (docs/models.md) runs as written: every python block, in
order, in one namespace. Its diffusers and k-diffusion blocks need the peers."""

from __future__ import annotations

import re
from pathlib import Path

import peers
import torch
from test_peers import load_peer

PAGE = Path(__file__).resolve().parent.parent / "docs" / "models.md"


def test_the_bring_your_model_page_runs():
    load_peer(peers.diffusers)
    load_peer(peers.k_diffusion_sampling)  # makes `from k_diffusion import sampling` work
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)
    assert len(blocks) >= 5
    namespace: dict = {}
    torch.manual_seed(0)
    for i, code in enumerate(blocks):
        exec(compile(code, f"{PAGE}:block{i}", "exec"), namespace)
    assert namespace["images"].shape == (4, 3, 8, 8)
    assert bool(torch.isfinite(namespace["images"]).all())
    assert namespace["x"].shape == (16, 2) and bool(torch.isfinite(namespace["x_sde"]).all())
