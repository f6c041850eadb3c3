"""Per-sample isolation of data errors: a bad file fails its sample, the batch keeps the others."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, Subset

from attrbench.api import Sample
from attrbench.datasets.isolation import (
    FailedSample,
    IsolatingDataset,
    SampleError,
    collate_isolated,
    sample_id_of,
)
from attrbench.datasets.masksfolder import MasksFolder


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for k in range(5):
        (tmp_path / "images").mkdir(exist_ok=True)
        (tmp_path / "masks").mkdir(exist_ok=True)
        Image.new("RGB", (4, 3), (k, k, k)).save(tmp_path / "images" / f"s{k}.png")
        Image.fromarray(np.eye(3, 4, dtype=np.uint8)).save(tmp_path / "masks" / f"s{k}.png")
    return tmp_path


def test_loader_yields_good_samples_and_failures_with_reasons(folder: Path) -> None:
    (folder / "images" / "s1.png").write_bytes(b"")
    (folder / "masks" / "s4.png").unlink()
    ds = MasksFolder(root=folder)
    loader = DataLoader(IsolatingDataset(Subset(ds, range(5))), batch_size=3, collate_fn=collate_isolated)
    (b0, f0), (b1, f1) = list(loader)
    assert b0.ids == ["s0", "s2"] and b1.ids == ["s3"]
    torch.testing.assert_close(b0.images[1, :, 0, 0], torch.full((3,), 2 / 255))
    torch.testing.assert_close(b0.masks[0, 0], torch.eye(3, 4))
    assert [(f.index, f.sample_id) for f in f0 + f1] == [(1, "s1"), (4, "s4")]
    assert str(folder / "images" / "s1.png") in f0[0].reason and "cannot read image" in f0[0].reason
    assert "no mask for this image" in f1[0].reason


def test_all_failed_batch_is_none(folder: Path) -> None:
    (folder / "images" / "s0.png").write_bytes(b"junk")
    ds = MasksFolder(root=folder)
    batch, failed = collate_isolated([IsolatingDataset(ds)[0]])
    assert batch is None and failed == [FailedSample(0, "s0", failed[0].reason)]


def test_plain_sequences_get_index_ids_and_bugs_propagate() -> None:
    class Broken:
        def __len__(self) -> int:
            return 2

        def __getitem__(self, i: int) -> Sample:
            if i == 0:
                raise SampleError("x.png: corrupt", index=0, sample_id="x")
            raise KeyError("a bug, not bad data")

    wrapped = IsolatingDataset(Broken())
    assert wrapped[0] == FailedSample(0, "x", "x.png: corrupt")
    with pytest.raises(KeyError):
        wrapped[1]
    assert sample_id_of([1, 2, 3], 2) == "#2"
