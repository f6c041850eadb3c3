"""Session-wide test settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> Iterator[None]:
    """The tests use tiny (mostly float64) networks: intra-op threads gain nothing there, and on
    a shared 2-core machine oversubscribed threads mostly wait (measured: 112 s vs 21 s for the
    method contract test under load)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
