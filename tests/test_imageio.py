"""Image and mask files of every PIL mode: exact values by the documented rules, or one-line refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attrbench.datasets.base import image_size_of, load_image, load_mask
from attrbench.errors import DataError
from attrbench.metrics.localisation import Localisation
from attrbench.testing.files import png_header_only
from attrbench.testing.toys import make_context


def _save(tmp_path: Path, img: Image.Image, name: str) -> Path:
    path = tmp_path / name
    img.save(path)
    return path


def _grey(t: torch.Tensor, expected: np.ndarray) -> None:
    """``t`` is (3, H, W) with every channel equal to ``expected`` (H, W), exactly."""
    want = torch.from_numpy(np.asarray(expected, dtype=np.float32)).expand(3, -1, -1)
    torch.testing.assert_close(t, want, rtol=0, atol=0)


# -- images ---------------------------------------------------------------------------------------
def test_16bit_grayscale_png_is_scaled_by_its_range_not_white(tmp_path: Path) -> None:
    values = np.array([[0, 1000, 32768], [65535, 257, 12345]], dtype=np.uint16)
    path = _save(tmp_path, Image.fromarray(values), "g16.png")
    with Image.open(path) as img:
        assert img.mode == "I;16"
    _grey(load_image(path), values.astype(np.float32) / np.float32(65535))


@pytest.mark.parametrize("mode", ["I;16B", "I;16L"])
def test_16bit_byte_orders(tmp_path: Path, mode: str) -> None:
    img = Image.new(mode, (3, 1))
    for x, v in enumerate((0, 40000, 65535)):
        img.putpixel((x, 0), v)
    path = _save(tmp_path, img, "g16.tif")
    _grey(load_image(path), np.array([[0, 40000, 65535]], dtype=np.float32) / np.float32(65535))


def test_32bit_integer_within_16_bits_is_scaled_else_refused(tmp_path: Path) -> None:
    values = np.array([[0, 65535, 300]], dtype=np.int32)
    path = _save(tmp_path, Image.fromarray(values, "I"), "i32.tif")
    _grey(load_image(path), values.astype(np.float32) / np.float32(65535))
    bad = _save(tmp_path, Image.fromarray(np.array([[0, 70000]], dtype=np.int32), "I"), "i32big.tif")
    with pytest.raises(DataError, match=r"i32big\.tif: 32-bit integer image .* 0\.\.70000") as info:
        load_image(bad)
    assert "\n" not in str(info.value)


def test_float_image_in_unit_range_kept_else_refused(tmp_path: Path) -> None:
    values = np.array([[0.0, 0.25, 1.0]], dtype=np.float32)
    _grey(load_image(_save(tmp_path, Image.fromarray(values, "F"), "f.tif")), values)
    wide = _save(tmp_path, Image.fromarray(values * 255, "F"), "f255.tif")
    with pytest.raises(DataError, match=r"f255\.tif: float image .* \[0, 255\], expected \[0, 1\]"):
        load_image(wide)
    nan = _save(tmp_path, Image.fromarray(np.array([[0.5, np.nan]], dtype=np.float32), "F"), "fnan.tif")
    with pytest.raises(DataError, match=r"fnan\.tif: float image .*NaN"):
        load_image(nan)


def test_bilevel_grey_and_alpha_modes(tmp_path: Path) -> None:
    bits = np.array([[0, 1, 1], [1, 0, 0]], dtype=bool)
    _grey(load_image(_save(tmp_path, Image.fromarray(bits), "b.png")), bits.astype(np.float32))
    la = np.stack([np.full((2, 3), 51, np.uint8), np.zeros((2, 3), np.uint8)], axis=-1)
    _grey(load_image(_save(tmp_path, Image.fromarray(la, "LA"), "la.png")), np.full((2, 3), np.float32(51) / 255))
    rgba = Image.new("RGBA", (2, 2), (10, 20, 30, 0))
    torch.testing.assert_close(
        load_image(_save(tmp_path, rgba, "rgba.png"))[:, 1, 1], torch.tensor([10.0, 20.0, 30.0]) / 255, rtol=0, atol=0
    )


def test_palette_images_through_their_palette_with_and_without_transparency(tmp_path: Path) -> None:
    img = Image.new("P", (2, 1))
    img.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    img.putpixel((1, 0), 1)
    expected = torch.tensor([[0.0, 200.0], [0.0, 100.0], [0.0, 50.0]]).unsqueeze(1) / 255
    torch.testing.assert_close(load_image(_save(tmp_path, img, "p.png")), expected, rtol=0, atol=0)
    img.info["transparency"] = 0
    torch.testing.assert_close(load_image(_save(tmp_path, img, "pt.png")), expected, rtol=0, atol=0)
    pa = Image.new("PA", (2, 1))
    pa.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    pa.putpixel((1, 0), (1, 0))
    torch.testing.assert_close(load_image(_save(tmp_path, pa, "pa.tif")), expected, rtol=0, atol=0)


def test_cmyk_by_the_subtractive_formula(tmp_path: Path) -> None:
    cmyk = np.array([[[0, 0, 0, 0], [0, 0, 0, 255], [100, 50, 0, 100], [255, 0, 30, 0]]], dtype=np.uint8)
    path = _save(tmp_path, Image.fromarray(cmyk, "CMYK"), "c.tif")
    c, m, y, k = (cmyk[..., i].astype(np.float64) / 255 for i in range(4))
    expected = np.stack([(1 - c) * (1 - k), (1 - m) * (1 - k), (1 - y) * (1 - k)])
    torch.testing.assert_close(load_image(path).double(), torch.from_numpy(expected), rtol=0, atol=1e-6)


def test_ycbcr_by_the_jfif_formula(tmp_path: Path) -> None:
    ycc = np.array([[[128, 128, 128], [200, 100, 150], [50, 180, 90]]], dtype=np.uint8)
    path = _save(tmp_path, Image.fromarray(ycc, "YCbCr"), "y.tif")
    y, cb, cr = (ycc[..., i].astype(np.float64) for i in range(3))
    rgb = np.stack([y + 1.402 * (cr - 128), y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128), y + 1.772 * (cb - 128)])
    expected = np.clip(rgb, 0, 255) / 255
    torch.testing.assert_close(load_image(path).double(), torch.from_numpy(expected), rtol=0, atol=1.01 / 255)


def test_unsupported_mode_refused_naming_file_and_mode(tmp_path: Path) -> None:
    path = _save(tmp_path, Image.new("LAB", (2, 2)), "lab.tif")
    with pytest.raises(DataError, match=r"lab\.tif: image mode 'LAB' is not supported") as info:
        load_image(path)
    assert "\n" not in str(info.value)


def test_empty_and_corrupt_files_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "zero.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"zero\.png: cannot read image"):
        load_image(tmp_path / "zero.png")
    (tmp_path / "m.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(DataError, match=r"m\.png: cannot read mask"):
        load_mask(tmp_path / "m.png")
    with pytest.raises(DataError, match=r"image path is a folder"):
        load_image(tmp_path)


def test_decompression_bomb_refused_from_the_header(tmp_path: Path) -> None:
    side = int((2 * Image.MAX_IMAGE_PIXELS) ** 0.5) + 1  # beyond PIL's error threshold
    path = png_header_only(tmp_path / "bomb.png", width=side, height=side)
    assert path.stat().st_size < 100
    for read in (load_image, load_mask, image_size_of):
        with pytest.raises(DataError, match=r"bomb\.png: .* decompression bomb") as info:
            read(path)
        assert "\n" not in str(info.value)


def test_decompression_bomb_warning_level_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save(tmp_path, Image.new("RGB", (4, 4)), "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # 16 pixels: above the warning, below the error
    with pytest.raises(DataError, match=r"big\.png: image refused as a possible decompression bomb \(more than 10"):
        load_image(path)


# -- masks ----------------------------------------------------------------------------------------
def _mask(t: torch.Tensor, expected: np.ndarray) -> None:
    torch.testing.assert_close(t, torch.from_numpy(np.asarray(expected, dtype=np.float32))[None], rtol=0, atol=0)


def test_binary_masks_01_and_0255_read_alike(tmp_path: Path) -> None:
    binary = np.array([[0, 1, 1], [0, 0, 1]], dtype=np.uint8)
    _mask(load_mask(_save(tmp_path, Image.fromarray(binary, "L"), "m01.png")), binary)
    _mask(load_mask(_save(tmp_path, Image.fromarray(binary * 255, "L"), "m255.png")), binary)
    _mask(load_mask(_save(tmp_path, Image.fromarray(binary.astype(bool)), "m1.png")), binary)
    _mask(load_mask(_save(tmp_path, Image.fromarray(binary.astype(np.uint16) * 65535), "m16.png")), binary)


def test_soft_masks_8_16_bit_and_float(tmp_path: Path) -> None:
    soft = np.array([[0, 64, 128], [191, 255, 2]], dtype=np.uint8)
    _mask(load_mask(_save(tmp_path, Image.fromarray(soft, "L"), "s.png")), soft.astype(np.float32) / 255)
    soft16 = np.array([[0, 1000, 65535]], dtype=np.uint16)
    _mask(load_mask(_save(tmp_path, Image.fromarray(soft16), "s16.png")), soft16.astype(np.float32) / 65535)
    f = np.array([[0.0, 0.3, 1.0]], dtype=np.float32)
    _mask(load_mask(_save(tmp_path, Image.fromarray(f, "F"), "f.tif")), f)
    with pytest.raises(DataError, match=r"f2\.tif: float mask"):
        load_mask(_save(tmp_path, Image.fromarray(f * 2, "F"), "f2.tif"))


def test_colour_coded_rgb_and_palette_masks_any_non_black_is_object(tmp_path: Path) -> None:
    rgb = np.zeros((1, 4, 3), dtype=np.uint8)
    rgb[0, 1] = (128, 0, 0)
    rgb[0, 2] = (0, 0, 1)
    rgb[0, 3] = (192, 224, 224)
    _mask(load_mask(_save(tmp_path, Image.fromarray(rgb, "RGB"), "c.png")), [[0, 1, 1, 1]])
    pal = Image.new("P", (3, 1))
    pal.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * 759)
    pal.putpixel((1, 0), 1)
    pal.putpixel((2, 0), 2)
    _mask(load_mask(_save(tmp_path, pal, "p.png")), [[0, 1, 1]])


def test_grey_rgb_and_grey_palette_masks_keep_their_grey_values(tmp_path: Path) -> None:
    grey = np.array([[0, 51, 255]], dtype=np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    _mask(load_mask(_save(tmp_path, Image.fromarray(rgb, "RGB"), "g.png")), grey.astype(np.float32) / 255)
    pal = Image.new("P", (2, 1))
    pal.putpalette([0, 0, 0, 1, 1, 1] + [0] * 762)  # a 0/1 mask stored as a palette image
    pal.putpixel((1, 0), 1)
    _mask(load_mask(_save(tmp_path, pal, "p01.png")), [[0, 1]])


def test_cmyk_mask_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"cm\.tif: mask mode 'CMYK' is not supported"):
        load_mask(_save(tmp_path, Image.new("CMYK", (2, 2)), "cm.tif"))


def test_01_mask_scores_its_energy_and_all_zero_mask_is_nan_with_reason(tmp_path: Path) -> None:
    """Case 5: a 0/1 mask file was read as 1/255 and scored loc_energy_mask = 0.0 as ok."""
    binary = np.array([[1, 1, 0, 0]] * 4, dtype=np.uint8)
    good = load_mask(_save(tmp_path, Image.fromarray(binary, "L"), "m01.png"))
    empty = load_mask(_save(tmp_path, Image.fromarray(np.zeros((4, 4), np.uint8), "L"), "m0.png"))
    maps = torch.tensor([[3.0, 1.0, 0.0, 0.0]] * 4).expand(2, 1, 4, 4).double()
    ctx = make_context(
        model=torch.nn.Identity(), images=torch.zeros(2, 3, 4, 4, dtype=torch.float64),
        labels=torch.zeros(2, dtype=torch.long), maps=maps, masks=torch.stack([good, empty]).double(),
    )  # fmt: skip
    result = Localisation().compute(ctx)
    energy = result.values["loc_energy_mask"]
    assert energy[0].item() == 1.0
    assert torch.isnan(energy[1])
    assert "empty object mask" in result.reasons["loc_energy_mask"]
