"""Output files honour the umask (mkstemp's 0600 is not kept after the atomic rename)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from attrbench.export import write_table
from attrbench.fileio import current_umask, honour_umask
from attrbench.models.zoo import load_checkpoint, save_checkpoint
from attrbench.testing.models import tiny_bagnet


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_current_umask_reads_without_changing(umask: int) -> None:
    assert current_umask() == umask
    assert current_umask() == umask


def test_tables_and_baselines_get_0666_minus_umask(tmp_path: Path, umask: int) -> None:
    """Case 12: run files, baselines and exported tables were created 0600 whatever the umask."""
    out = write_table("a,b\n", tmp_path / "t.csv")
    assert _mode(out) == 0o666 & ~umask
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # what an ordinary create gives, side by side
    assert _mode(out) == _mode(plain)


def test_checkpoints_get_0666_minus_umask(tmp_path: Path, umask: int) -> None:
    model = tiny_bagnet(9, num_classes=3, dtype=torch.float32)
    kwargs = {"num_classes": 3, "width": 4, "layers": (1, 1, 1, 1)}
    path = save_checkpoint(tmp_path / "m.pt", model=model, arch="bagnet9", arch_kwargs=kwargs)
    assert _mode(path) == 0o666 & ~umask
    assert load_checkpoint(path).spec.name == model.spec.name


def test_folders_get_0777_minus_umask(tmp_path: Path, umask: int) -> None:
    import tempfile

    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    assert _mode(folder) == 0o700
    honour_umask(folder)
    assert _mode(folder) == 0o777 & ~umask
