"""Image geometry (issue 13, item 2): one transform for images, masks, boxes and parts.

Closed forms (datasets/transforms.py): a W x H image to a square side S
* shorter-crop: box side m = min(W, H) at ((W - m) // 2, (H - m) // 2), scale S / m;
* pad: box side M = max(W, H) at (-(M - W) // 2, -(M - H) // 2) (offsets <= 0), scale S / M;
* squash: the whole image, scales (S / W, S / H).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attrbench.api import Sample
from attrbench.datasets.transforms import geometry, transform_sample
from attrbench.errors import OptionError


def _sample(w: int = 60, h: int = 40) -> Sample:
    image = torch.rand(3, h, w, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(1, h, w)
    mask[:, 10:30, 20:50] = 1.0
    parts = torch.tensor([[25.0, 15.0, 1.0], [2.0, 20.0, 1.0], [0.0, 0.0, 0.0]])
    return Sample(image=image, label=0, id="a", mask=mask, bbox=(20.0, 10.0, 30.0, 20.0), parts=parts)


@pytest.mark.parametrize(
    ("mode", "left", "top", "side_w", "side_h"),
    [("shorter-crop", 10, 0, 40, 40), ("pad", 0, -10, 60, 60), ("squash", 0, 0, 60, 40)],
)
def test_boxes_and_parts_map_in_closed_form(mode: str, left: int, top: int, side_w: int, side_h: int) -> None:
    s = transform_sample(_sample(), size=20, mode=mode)
    geo = geometry(source=(40, 60), out=20, mode=mode)
    assert (geo.left, geo.top, geo.width, geo.height) == (left, top, side_w, side_h)
    sx, sy = 20 / side_w, 20 / side_h
    x0, y0 = (20 - left) * sx, (10 - top) * sy
    x1, y1 = min(x0 + 30 * sx, 20.0), min(y0 + 20 * sy, 20.0)
    assert s.bbox == pytest.approx((x0, y0, x1 - x0, y1 - y0), abs=1e-12)
    assert s.image.shape == (3, 20, 20) and s.mask.shape == (1, 20, 20)
    assert s.parts is not None
    assert s.parts[0].tolist() == pytest.approx([(25 - left) * sx, (15 - top) * sy, 1.0])
    outside = (2 - left) * sx < 0  # part 1 at x = 2 leaves the centre crop
    expected = [0.0, 0.0, 0.0] if outside else [(2 - left) * sx, (20 - top) * sy, 1.0]
    assert s.parts[1].tolist() == pytest.approx(expected)
    assert s.parts[2].tolist() == [0.0, 0.0, 0.0]  # invisible stays invisible


def test_shorter_crop_values_are_the_centre_crop() -> None:
    """At scale 1 the transform is the crop itself, image and mask alike."""
    sample = _sample(w=60, h=40)
    s = transform_sample(sample, size=40, mode="shorter-crop")
    assert torch.equal(s.image, sample.image[:, :, 10:50])
    assert torch.equal(s.mask, sample.mask[:, :, 10:50])


def test_pad_fills_the_border_with_zero_and_keeps_the_image() -> None:
    sample = _sample(w=60, h=40)
    s = transform_sample(sample, size=60, mode="pad")
    assert torch.equal(s.image[:, 10:50], sample.image)
    assert float(s.image[:, :10].abs().sum()) == 0.0 and float(s.image[:, 50:].abs().sum()) == 0.0
    assert float(s.mask[:, :10].sum()) == 0.0


def test_mask_follows_the_image_under_every_mode() -> None:
    """A mask equal to one image channel stays equal to it after the transform."""
    sample = _sample()
    sample = Sample(image=sample.image, label=0, id="a", mask=sample.image[:1].clone())
    for mode in ("shorter-crop", "squash", "pad"):
        s = transform_sample(sample, size=(16, 24), mode=mode)
        assert torch.equal(s.mask, s.image[:1]), mode


def test_unknown_mode_and_bad_size_are_option_errors() -> None:
    with pytest.raises(OptionError, match="--resize"):
        geometry(source=(4, 4), out=2, mode="stretch")
    with pytest.raises(OptionError, match="--image-size"):
        geometry(source=(4, 4), out=0)


def _write_folder(root: Path, images: list[np.ndarray], masks: list[np.ndarray]) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i, (img, mask) in enumerate(zip(images, masks)):
        Image.fromarray(img).save(root / "images" / f"p{i}.png")
        Image.fromarray(mask).save(root / "masks" / f"p{i}.png")
    return root


def test_mask_metric_with_shorter_crop_equals_metric_on_hand_cropped_images(tmp_path: Path) -> None:
    """Rectangular 64 x 40 photos with --resize shorter-crop score exactly as their centre 40 x 40
    crops, cut by hand beforehand (the issue's acceptance test)."""
    from attrbench import evaluate
    from attrbench.testing.toys import toy_model

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, size=(40, 64, 3), dtype=np.uint8) for _ in range(3)]
    masks = []
    for i in range(3):
        m = np.zeros((40, 64), dtype=np.uint8)
        m[8 + i : 30, 14 + 4 * i : 44 + 2 * i] = 255
        masks.append(m)
    rect = _write_folder(tmp_path / "rect", images, masks)
    hand = _write_folder(tmp_path / "hand", [a[:, 12:52] for a in images], [m[:, 12:52] for m in masks])
    common = dict(methods=["sobel", "saliency"], dataset="masksfolder", metrics=["localisation"], split="all",
                  image_size=32, n_samples=3, batch_size=3)  # fmt: skip
    a = evaluate(model=toy_model(), data_root=str(rect), resize="shorter-crop", out=str(tmp_path / "r1"), **common)
    b = evaluate(model=toy_model(), data_root=str(hand), resize="squash", out=str(tmp_path / "r2"), **common)
    assert (a["status"] == "ok").all() and len(a) == len(b) > 0
    key = ["method", "sample_id", "metric"]
    va = a.sort_values(key)["value"].to_numpy()
    vb = b.sort_values(key)["value"].to_numpy()
    assert np.array_equal(va, vb)
    import json

    config = json.loads((tmp_path / "r1" / "config.json").read_text())
    assert (config["image_size"], config["resize"]) == (32, "shorter-crop")
    assert config["model_spec"]["input_size"] == [32, 32]  # --image-size reaches the model (48 px) too
    squashed = evaluate(model=toy_model(), data_root=str(rect), resize="squash", out=str(tmp_path / "r3"), **common)
    assert not np.array_equal(squashed.sort_values(key)["value"].to_numpy(), va)  # the mode matters here


def test_run_cli_knows_the_flag_the_dataset_error_suggests(tmp_path: Path) -> None:
    """The size-mismatch message of masksfolder names `attrbench run --image-size`, which exists."""
    import argparse

    from attrbench.commands.run import add_arguments
    from attrbench.datasets.masksfolder import MasksFolder
    from attrbench.errors import DataError

    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8), rng.integers(0, 256, size=(8, 12, 3), dtype=np.uint8)]
    root = _write_folder(tmp_path / "mixed", imgs, [np.zeros(a.shape[:2], dtype=np.uint8) for a in imgs])
    ds = MasksFolder(root=root)
    ds[0]
    with pytest.raises(DataError, match="--image-size") as err:
        ds[1]
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    flags = [w for w in str(err.value).replace(",", " ").split() if w.startswith("--")]
    assert flags
    args = parser.parse_args(["--method", "ig", *(x for f in flags for x in (f, "pad" if f == "--resize" else "8"))])
    assert args.image_size == 8 and args.resize == "pad"
    assert MasksFolder(root=root, image_size=8)[1].image.shape == (3, 8, 8)
