"""CUB-200-2011 loader on a miniature fixture written by the test (exact expected values)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attrbench.api import Sample, collate
from attrbench.datasets import get_dataset
from attrbench.datasets.base import crop_sample, load_image, load_mask, resize_sample
from attrbench.datasets.cub200 import CUB200
from attrbench.errors import DataError
from attrbench.testing.cub_fixture import CubFixture, write_cub_fixture


@pytest.fixture
def cub(tmp_path: Path) -> CubFixture:
    return write_cub_fixture(tmp_path)


def test_registry_name() -> None:
    assert get_dataset("cub200") is CUB200


def test_all_split_joins_every_file_by_id(cub: CubFixture) -> None:
    ds = CUB200(root=cub.root, split="all", segmentation_root=cub.segmentation_root)
    assert len(ds) == 6
    assert ds.class_names == cub.class_names
    assert ds.num_classes == 2 and ds.has_masks and ds.has_bboxes
    assert ds.image_ids == [3, 7, 12, 20, 21, 40]
    assert ds.part_names[6] == "left eye" and ds.part_names[11] == "right leg"
    for i, expected in enumerate(cub.images):
        s = ds[i]
        assert isinstance(s, Sample)
        w, h = expected.size
        assert s.id == expected.path
        assert s.label == expected.class_id - 1
        assert s.image.shape == (3, h, w) and s.image.dtype == torch.float32
        assert 0.0 <= float(s.image.min()) and float(s.image.max()) <= 1.0
        assert s.bbox == pytest.approx(expected.bbox, abs=1e-6)
        torch.testing.assert_close(s.parts, torch.from_numpy(expected.parts), rtol=0, atol=1e-6)
        torch.testing.assert_close(s.mask, torch.from_numpy(expected.mask).float().unsqueeze(0) / 255, rtol=0, atol=0)
    levels = torch.unique(ds[0].mask)
    torch.testing.assert_close(levels, torch.tensor([0, 64, 128, 191, 255]) / 255.0, rtol=0, atol=0)


def test_grayscale_jpeg_becomes_rgb_and_la_mask_uses_channel_0(cub: CubFixture) -> None:
    ds = CUB200(root=cub.root, split="all", segmentation_root=cub.segmentation_root)
    gray = ds[ds.image_ids.index(12)]
    assert gray.image.shape[0] == 3
    torch.testing.assert_close(gray.image[0], gray.image[1], rtol=0, atol=0)
    torch.testing.assert_close(gray.image[0], gray.image[2], rtol=0, atol=0)
    la = cub.by_path()[ds.ids[ds.image_ids.index(21)]]
    assert la.la_mask
    # alpha is 255 everywhere: a loader taking the wrong channel would return all ones
    torch.testing.assert_close(
        ds[ds.image_ids.index(21)].mask[0], torch.from_numpy(la.mask).float() / 255, rtol=0, atol=0
    )


def test_train_test_split(cub: CubFixture) -> None:
    train = CUB200(root=cub.root, split="train", segmentation_root=cub.segmentation_root)
    test = CUB200(root=cub.root, split="test", segmentation_root=cub.segmentation_root)
    assert train.image_ids == [3, 12, 21]
    assert test.image_ids == [7, 20, 40]
    assert train.labels == [0, 0, 1] and test.labels == [0, 1, 1]


def test_class_halves_are_disjoint_and_reindexed(cub: CubFixture) -> None:
    first = CUB200(root=cub.root, split="all", classes="first_half", masks=False)
    second = CUB200(root=cub.root, split="all", classes="second_half", masks=False)
    assert first.class_names == ("001.Black_footed_Albatross",)
    assert second.class_names == ("002.Laysan_Albatross",)
    assert first.image_ids == [3, 7, 12] and second.image_ids == [20, 21, 40]
    assert set(first.labels) == {0} and set(second.labels) == {0}
    assert not set(first.ids) & set(second.ids)


def test_segmentation_root_defaults(cub: CubFixture) -> None:
    # <root>/../segmentations (the fixture's layout)
    ds = CUB200(root=cub.root, split="all")
    assert ds.segmentation_root == cub.segmentation_root
    # <root>/segmentations takes precedence
    shutil.move(str(cub.segmentation_root), str(cub.root / "segmentations"))
    ds = CUB200(root=cub.root, split="all")
    assert ds.segmentation_root == cub.root / "segmentations"
    assert ds[0].mask is not None


def test_masks_false_needs_no_segmentations(cub: CubFixture) -> None:
    shutil.rmtree(cub.segmentation_root)
    with pytest.raises(DataError, match="segmentations"):
        CUB200(root=cub.root, split="all")
    ds = CUB200(root=cub.root, split="all", masks=False, parts=False)
    s = ds[0]
    assert s.mask is None and s.parts is None and s.bbox is not None
    assert not ds.has_masks
    batch = collate([ds[0]])
    assert batch.masks is None and batch.bboxes is not None


def test_resize_scales_geometry(cub: CubFixture) -> None:
    ds = CUB200(root=cub.root, split="all", image_size=32, resize="squash")  # other modes: test_transforms.py
    raw = CUB200(root=cub.root, split="all")
    for i in (0, 3):
        s, r = ds[i], raw[i]
        _, h, w = r.image.shape
        sx, sy = 32 / w, 32 / h
        assert s.image.shape == (3, 32, 32) and s.mask.shape == (1, 32, 32)
        x, y, bw, bh = r.bbox
        assert s.bbox == pytest.approx((x * sx, y * sy, bw * sx, bh * sy))
        expected = r.parts * torch.tensor([sx, sy, 1.0])
        torch.testing.assert_close(s.parts, expected, rtol=0, atol=1e-6)
        assert torch.equal(s.parts[:, 2] == 0, r.parts[:, 2] == 0)
        # bilinear masks stay soft: values strictly between the levels appear
        assert float(s.mask.min()) >= 0.0 and float(s.mask.max()) <= 1.0
        levels = torch.tensor([0, 64, 128, 191, 255]) / 255.0
        off_level = (s.mask.flatten()[:, None] - levels[None]).abs().min(1).values > 1e-3
        assert bool(off_level.any())
    batch = collate([ds[i] for i in range(len(ds))])
    assert batch.images.shape == (6, 3, 32, 32) and batch.parts.shape == (6, 15, 3)
    # a square (H, W) pair such as ModelSpec.input_size is accepted as its side; others as (H, W)
    assert CUB200(root=cub.root, split="all", image_size=(32, 32)).image_size == 32
    assert CUB200(root=cub.root, split="all", image_size=(32, 24))[0].image.shape == (3, 32, 24)
    with pytest.raises(ValueError, match="image_size"):
        CUB200(root=cub.root, split="all", image_size=(32, 0))


def test_crop_to_bbox(cub: CubFixture) -> None:
    raw = CUB200(root=cub.root, split="all")
    ds = CUB200(root=cub.root, split="all", crop="bbox")
    r, s = raw[0], ds[0]
    x, y, bw, bh = r.bbox  # (1.5, 2.25, 15.5, 10.25) on a 20x16 image
    assert (x, y, bw, bh) == pytest.approx((1.5, 2.25, 15.5, 10.25))
    # columns floor(1.5)=1 .. ceil(17.0)-1=16, rows floor(2.25)=2 .. ceil(12.5)-1=12
    assert s.image.shape == (3, 11, 16)
    torch.testing.assert_close(s.image, r.image[:, 2:13, 1:17], rtol=0, atol=0)
    torch.testing.assert_close(s.mask, r.mask[:, 2:13, 1:17], rtol=0, atol=0)
    assert s.bbox == pytest.approx((0.5, 0.25, 15.5, 10.25))
    for p in range(15):
        px, py, v = r.parts[p].tolist()
        inside = v > 0 and 1 <= px < 17 and 2 <= py < 13
        expected = [px - 1, py - 2, 1.0] if inside else [0.0, 0.0, 0.0]
        assert s.parts[p].tolist() == pytest.approx(expected)
    sized = CUB200(root=cub.root, split="all", crop="bbox", image_size=24, resize="squash")[0]
    assert sized.image.shape == (3, 24, 24)
    assert sized.bbox == pytest.approx((0.5 * 24 / 16, 0.25 * 24 / 11, 15.5 * 24 / 16, 10.25 * 24 / 11))


@pytest.mark.parametrize(
    "name",
    ["images.txt", "image_class_labels.txt", "classes.txt", "train_test_split.txt", "bounding_boxes.txt",
     "parts/parts.txt", "parts/part_locs.txt"],
)  # fmt: skip
def test_missing_index_file(cub: CubFixture, name: str) -> None:
    (cub.root / name).unlink()
    with pytest.raises(DataError, match=name.replace(".", r"\.")):
        CUB200(root=cub.root, split="all")


def test_inconsistent_ids(cub: CubFixture) -> None:
    path = cub.root / "image_class_labels.txt"
    lines = [line for line in path.read_text().splitlines() if not line.startswith("12 ")]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"image_class_labels\.txt.*\[12\]"):
        CUB200(root=cub.root, split="all")


def test_unknown_class_and_malformed_rows(cub: CubFixture) -> None:
    path = cub.root / "image_class_labels.txt"
    path.write_text(path.read_text().replace("40 2", "40 9"))
    with pytest.raises(DataError, match=r"image id 40 has class id 9"):
        CUB200(root=cub.root, split="all")
    boxes = cub.root / "bounding_boxes.txt"
    boxes.write_text(boxes.read_text() + "41 1.0 2.0\n")
    with pytest.raises(DataError, match=r"bounding_boxes\.txt:7: expected 5 fields"):
        CUB200(root=cub.root, split="all")


def test_malformed_part_locations(cub: CubFixture) -> None:
    locs = cub.root / "parts" / "part_locs.txt"
    lines = locs.read_text().splitlines()
    lines[4] = "3 5 1.0 two 1"
    locs.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"part_locs\.txt:5: expected 5 numbers"):
        CUB200(root=cub.root, split="all")
    lines[4] = "3 16 1.0 2.0 1"
    locs.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"part id 16 is not in .*parts\.txt"):
        CUB200(root=cub.root, split="all")
    assert CUB200(root=cub.root, split="all", parts=False)[0].parts is None


def test_missing_and_corrupt_image(cub: CubFixture) -> None:
    ds = CUB200(root=cub.root, split="all")
    first = cub.root / "images" / cub.images[0].path
    first.unlink()
    with pytest.raises(DataError, match=f"{first.name}.*not found"):
        ds[0]
    second = cub.root / "images" / cub.images[1].path
    second.write_bytes(second.read_bytes()[:40])  # truncated JPEG
    with pytest.raises(DataError, match=f"{second.name}.*cannot read image"):
        ds[1]


def test_missing_segmentation(cub: CubFixture) -> None:
    ds = CUB200(root=cub.root, split="all")
    mask = cub.segmentation_root / Path(cub.images[2].path).with_suffix(".png")
    mask.unlink()
    with pytest.raises(DataError, match=f"{mask.name}.*mask file not found"):
        ds[2]
    assert CUB200(root=cub.root, split="all", masks=False)[2].mask is None


def test_mask_size_mismatch_names_both_files(cub: CubFixture) -> None:
    ds = CUB200(root=cub.root, split="all")
    mask = cub.segmentation_root / Path(cub.images[0].path).with_suffix(".png")
    Image.new("L", (5, 5)).save(mask)
    with pytest.raises(DataError, match="mask is 5x5") as info:
        ds[0]
    assert str(mask) in str(info.value)
    assert str(cub.root / "images" / cub.images[0].path) in str(info.value)


def test_bad_options(cub: CubFixture) -> None:
    with pytest.raises(ValueError, match="split"):
        CUB200(root=cub.root, split="val")
    with pytest.raises(ValueError, match="classes"):
        CUB200(root=cub.root, classes="odd")
    with pytest.raises(ValueError, match="crop"):
        CUB200(root=cub.root, crop="center")
    with pytest.raises(DataError, match="root folder not found"):
        CUB200(root=cub.root / "nope")
    with pytest.raises(IndexError):
        CUB200(root=cub.root, split="all")[6]


def test_load_image_modes_exact(tmp_path: Path) -> None:
    rgba = np.zeros((2, 3, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 10, 20, 30, 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    torch.testing.assert_close(load_image(tmp_path / "a.png")[:, 0, 0], torch.tensor([10.0, 20.0, 30.0]) / 255)
    Image.fromarray(np.full((2, 3), 51, dtype=np.uint8), "L").save(tmp_path / "g.png")
    torch.testing.assert_close(load_image(tmp_path / "g.png"), torch.full((3, 2, 3), 0.2), rtol=0, atol=1e-7)
    Image.fromarray(np.full((2, 3), 51, dtype=np.uint8), "L").convert("RGB").convert("L").save(tmp_path / "m.png")
    torch.testing.assert_close(load_mask(tmp_path / "m.png"), torch.full((1, 2, 3), 0.2), rtol=0, atol=1e-7)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match=r"bad\.png"):
        load_image(tmp_path / "bad.png")


def test_resize_and_crop_helpers_by_hand() -> None:
    image = torch.arange(2 * 4, dtype=torch.float32).view(1, 2, 4).expand(3, 2, 4) / 8
    parts = torch.tensor([[1.5, 0.5, 1.0], [0.0, 0.0, 0.0], [3.5, 0.5, 1.0]])
    s = Sample(image=image, label=0, id="x", mask=torch.ones(1, 2, 4), bbox=(1.0, 0.0, 2.0, 1.0), parts=parts)
    r = resize_sample(s, 8)  # sx = 2, sy = 4
    assert r.bbox == (2.0, 0.0, 4.0, 4.0)
    torch.testing.assert_close(r.parts, torch.tensor([[3.0, 2.0, 1.0], [0.0, 0.0, 0.0], [7.0, 2.0, 1.0]]))
    torch.testing.assert_close(r.mask, torch.ones(1, 8, 8))
    c = crop_sample(s, (1.0, 0.0, 2.0, 1.0))  # columns 1..2, row 0
    torch.testing.assert_close(c.image, image[:, 0:1, 1:3])
    # (3.5, 0.5) lies in column 3, outside the crop: invisible
    torch.testing.assert_close(c.parts, torch.tensor([[0.5, 0.5, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    assert c.bbox == (0.0, 0.0, 2.0, 1.0)


def test_id_missing_from_images_txt_is_named_not_dropped(cub: CubFixture) -> None:
    path = cub.root / "images.txt"
    lines = [line for line in path.read_text().splitlines() if not line.startswith("20 ")]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"image_class_labels\.txt: image id\(s\) \[20\] are missing from .*images\.txt"):
        CUB200(root=cub.root, split="all", parts=False)


@pytest.mark.parametrize("bad", ["/etc/passwd", "../../outside.jpg", "001.Black/../../x.jpg", "C:/x.jpg", "\\\\srv\\x.jpg"])
def test_images_txt_paths_cannot_leave_the_images_folder(cub: CubFixture, bad: str) -> None:
    path = cub.root / "images.txt"
    path.write_text(path.read_text().replace(cub.images[1].path, bad))
    with pytest.raises(DataError, match=r"images\.txt: image id 7: path .* leaves the images folder") as info:
        CUB200(root=cub.root, split="all")
    assert "\n" not in str(info.value)


def test_corrupt_image_fails_only_its_sample(cub: CubFixture) -> None:
    from attrbench.datasets.isolation import SampleError

    ds = CUB200(root=cub.root, split="all")
    (cub.root / "images" / cub.images[1].path).write_bytes(b"")
    with pytest.raises(SampleError, match="cannot read image") as info:
        ds[1]
    assert info.value.sample_id == cub.images[1].path and info.value.index == 1
    assert ds[2].id == cub.images[2].path
