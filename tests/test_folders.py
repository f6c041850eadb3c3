"""Image-folder and masks-folder datasets (trees written by the tests) and the CIFAR-10 copy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attrbench.api import collate
from attrbench.datasets import get_dataset, list_datasets
from attrbench.datasets.imagefolder import ImageFolder
from attrbench.datasets.isolation import SampleError
from attrbench.datasets.masksfolder import MasksFolder
from attrbench.errors import DataError

CIFAR10 = Path(__file__).resolve().parents[2] / "shared/data/cifar10"


def _png(path: Path, value: int | tuple[int, int, int], size: tuple[int, int] = (6, 4), mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value).save(path)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for split, n in (("train", 3), ("test", 2)):
        for c, name in enumerate(("cat", "ant", "bee")):
            for k in range(n):
                _png(tmp_path / split / name / f"{k:04d}.png", (10 * c, 5 * k, 200))
    (tmp_path / "train" / "ant" / "notes.txt").write_text("not an image")
    return tmp_path


def test_registry_names() -> None:
    assert {"synthbirds", "cub200", "imagefolder", "cifar10", "masksfolder"} <= set(list_datasets())
    assert get_dataset("cifar10") is ImageFolder and get_dataset("imagefolder") is ImageFolder
    assert get_dataset("masksfolder") is MasksFolder


def test_imagefolder_split_layout(folder: Path) -> None:
    ds = ImageFolder(root=folder, split="train")
    assert ds.class_names == ("ant", "bee", "cat")  # sorted
    assert len(ds) == 9 and ds.labels == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert ds.ids[:3] == ["train/ant/0000.png", "train/ant/0001.png", "train/ant/0002.png"]
    s = ds[4]  # bee (drawn as c=2), k=1
    assert s.id == "train/bee/0001.png" and s.label == 1
    torch.testing.assert_close(s.image[:, 0, 0], torch.tensor([20.0, 5.0, 200.0]) / 255, rtol=0, atol=0)
    assert s.mask is None and s.bbox is None and s.parts is None
    assert not ds.has_masks and not ds.has_bboxes
    test = ImageFolder(root=folder, split="test", image_size=8)
    assert len(test) == 6 and test[0].image.shape == (3, 8, 8)


def test_imagefolder_limit_and_flat_layout(folder: Path, tmp_path: Path) -> None:
    ds = ImageFolder(root=folder, split="train", limit_per_class=2)
    assert ds.ids == [f"train/{c}/{k:04d}.png" for c in ("ant", "bee", "cat") for k in (0, 1)]
    flat = ImageFolder(root=folder / "test", split="train")  # class folders directly under root
    assert flat.ids[0] == "ant/0000.png" and len(flat) == 6


def test_imagefolder_errors(folder: Path) -> None:
    with pytest.raises(DataError, match="nope: image folder root not found"):
        ImageFolder(root=folder / "nope", split="train")
    with pytest.raises(DataError, match="--data-root"):
        ImageFolder(root=None, split="train")
    with pytest.raises(ValueError, match="split"):
        ImageFolder(root=folder, split="val")
    for f in (folder / "test" / "bee").iterdir():
        f.unlink()
    with pytest.raises(DataError, match=r"test/bee: class folder has no images"):
        ImageFolder(root=folder, split="test")
    bad = folder / "train" / "cat" / "0001.png"
    bad.write_bytes(b"\x89PNG broken")
    ds = ImageFolder(root=folder, split="train")
    with pytest.raises(DataError, match=r"cat/0001\.png.*cannot read image"):
        ds[ds.ids.index("train/cat/0001.png")]


@pytest.fixture
def masks(tmp_path: Path) -> Path:
    levels = np.array([[0, 64, 128], [191, 255, 0]], dtype=np.uint8)
    for stem, colour in (("b", (1, 2, 3)), ("a", (4, 5, 6)), ("c", (7, 8, 9))):
        _png(tmp_path / "images" / f"{stem}.png", colour, size=(3, 2))
        (tmp_path / "masks").mkdir(exist_ok=True)
        Image.fromarray(levels, "L").save(tmp_path / "masks" / f"{stem}.png")
    (tmp_path / "labels.csv").write_text("stem,label\na,2\nc,0\n")
    return tmp_path


def test_masksfolder_reads_masks_and_labels(masks: Path) -> None:
    ds = MasksFolder(root=masks)
    assert ds.ids == ["a", "b", "c"] and ds.labels == [2, -1, 0]
    assert ds.num_classes == 3 and ds.has_masks and not ds.has_bboxes
    s = ds[0]
    torch.testing.assert_close(s.mask, torch.tensor([[[0, 64, 128], [191, 255, 0]]]) / 255.0, rtol=0, atol=0)
    torch.testing.assert_close(s.image[:, 0, 0], torch.tensor([4.0, 5.0, 6.0]) / 255, rtol=0, atol=0)
    batch = collate([ds[i] for i in range(3)])
    assert batch.masks.shape == (3, 1, 2, 3) and batch.labels.tolist() == [2, -1, 0]
    assert MasksFolder(root=masks, num_classes=10).num_classes == 10


def test_masksfolder_missing_mask_fails_that_sample_only(masks: Path) -> None:
    (masks / "masks" / "b.png").unlink()
    ds = MasksFolder(root=masks)  # lazy: the listing alone does not fail the dataset
    with pytest.raises(SampleError) as info:
        ds[1]
    message = str(info.value)
    assert str(masks / "images" / "b.png") in message and str(masks / "masks" / "b") in message
    assert info.value.sample_id == "b" and info.value.index == 1
    assert ds[0].id == "a" and ds[2].id == "c"


def test_masksfolder_without_any_matching_mask_fails_up_front(masks: Path) -> None:
    for f in (masks / "masks").iterdir():
        f.rename(f.with_name("x" + f.name))
    with pytest.raises(DataError, match="no mask matches any image"):
        MasksFolder(root=masks)


def test_masksfolder_size_mismatch_names_both_files(masks: Path) -> None:
    Image.new("L", (4, 4)).save(masks / "masks" / "c.png")
    ds = MasksFolder(root=masks)
    with pytest.raises(SampleError, match="mask is 4x4 but its image") as info:
        ds[2]
    assert str(masks / "masks" / "c.png") in str(info.value) and str(masks / "images" / "c.png") in str(info.value)


def test_masksfolder_mixed_sizes_need_image_size(masks: Path) -> None:
    _png(masks / "images" / "d.png", (0, 0, 0), size=(5, 5))
    Image.new("L", (5, 5), 255).save(masks / "masks" / "d.png")
    ds = MasksFolder(root=masks)
    assert ds[0].image.shape == (3, 2, 3)
    with pytest.raises(SampleError, match=r"d\.png: image is 5x5 but a\.png is 3x2.*image_size"):
        ds[3]
    ds = MasksFolder(root=masks, image_size=4)
    assert ds[3].image.shape == (3, 4, 4)
    torch.testing.assert_close(ds[3].mask, torch.ones(1, 4, 4))


def test_masksfolder_corrupt_files_beyond_the_samples_read_are_not_opened(masks: Path) -> None:
    (masks / "images" / "c.png").write_bytes(b"")  # 0-byte image
    (masks / "masks" / "b.png").write_bytes(b"\x89PNG broken")
    ds = MasksFolder(root=masks)
    assert ds[0].id == "a"
    with pytest.raises(SampleError, match=r"masks/b\.png: cannot read mask"):
        ds[1]
    with pytest.raises(SampleError, match=r"images/c\.png: cannot read image"):
        ds[2]


def test_masksfolder_bad_labels(masks: Path) -> None:
    (masks / "labels.csv").write_text("a,2\nb,x\n")
    with pytest.raises(DataError, match=r"labels\.csv:2: label 'x'"):
        MasksFolder(root=masks)


@pytest.mark.data
@pytest.mark.skipif(not CIFAR10.is_dir(), reason="needs ../shared/data/cifar10")
def test_cifar10_copy() -> None:
    ds = get_dataset("cifar10")(root=CIFAR10, split="test", limit_per_class=3)
    assert len(ds) == 30 and ds.num_classes == 10
    assert ds.class_names[:3] == ("airplane", "automobile", "bird")
    assert ds.ids[:2] == ["test/airplane/0000.jpg", "test/airplane/0001.jpg"]
    s = ds[29]
    assert s.label == 9 and s.image.shape == (3, 32, 32)
    full = ImageFolder(root=CIFAR10, split="train")
    assert len(full) == 50_000 and full.labels.count(3) == 5000
