"""The user guide and the "which sampler" page run as written: every python block of a page,
in order, in one namespace (the "Bring your model" page has its own test, with the peers)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.parametrize("page", ["guide.md", "choosing.md"])
def test_every_python_block_of_the_page_runs(page):
    blocks = re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), re.S)
    assert blocks
    namespace: dict = {}
    torch.manual_seed(0)
    for i, code in enumerate(blocks):
        exec(compile(code, f"{DOCS / page}:block{i}", "exec"), namespace)
    assert torch.isfinite(namespace["x"]).all()
