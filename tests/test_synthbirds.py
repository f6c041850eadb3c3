"""SynthBirds generator: determinism, CUB layout, annotations consistent with the drawn bird."""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attrbench.cli import main as cli_main
from attrbench.datasets import get_dataset
from attrbench.datasets import synthbirds as sb
from attrbench.datasets.cub200 import CUB200
from attrbench.errors import DataError

SMALL = dict(num_classes=4, train_per_class=3, test_per_class=2)


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sb.generate(tmp_path_factory.mktemp("sb") / "birds", seed=0, **SMALL)


def test_same_seed_byte_identical_different_seed_differs(small: Path, tmp_path: Path) -> None:
    again = sb.generate(tmp_path / "again", seed=0, **SMALL)
    other = sb.generate(tmp_path / "other", seed=1, **SMALL)
    a, b, c = _tree_digest(small), _tree_digest(again), _tree_digest(other)
    assert len(a) == 20 * 2 + 8  # jpg + png per image, 7 txt files + synthbirds.json
    assert a == b
    assert a.keys() == c.keys()
    differing = [k for k in a if a[k] != c[k]]
    assert sum(k.endswith(".jpg") for k in differing) == 20
    assert a["classes.txt"] == c["classes.txt"]  # the class design does not depend on the seed
    assert not list(tmp_path.glob(".*tmp*"))  # temporary folders are gone


def test_cub_layout_and_loader(small: Path) -> None:
    assert (small / "parts" / "parts.txt").read_text().splitlines()[6] == "7 left eye"
    ds = CUB200(root=small, split="all")
    assert len(ds) == 20 and ds.num_classes == 4
    assert ds.class_names[0].startswith("001.") and ds.has_masks
    lines = (small / "bounding_boxes.txt").read_text().splitlines()
    assert all(len(line.split()) == 5 and "." in line.split()[1] for line in lines)
    s = ds[0]
    assert s.image.shape == (3, 97, 97) and s.mask.shape == (1, 97, 97) and s.parts.shape == (15, 3)
    with Image.open(small / "segmentations" / Path(s.id).with_suffix(".png")) as m:
        assert m.mode == "L"
    # anti-aliased edge: soft values exist
    assert bool(((s.mask > 0) & (s.mask < 1)).any())


def test_masks_boxes_parts_agree_with_the_drawn_bird(small: Path) -> None:
    ds = CUB200(root=small, split="all")
    visible_counts = Counter()
    for i in range(len(ds)):
        s = ds[i]
        m = s.mask[0]
        x, y, w, h = (int(v) for v in s.bbox)
        assert s.bbox == (x, y, w, h)  # whole-pixel box of the mask's support
        inside = torch.zeros_like(m, dtype=torch.bool)
        inside[y : y + h, x : x + w] = True
        assert float(m[~inside].abs().max()) == 0.0  # nothing of the bird outside its box
        assert bool((m[y, x : x + w] > 0).any()) and bool((m[y + h - 1, x : x + w] > 0).any())  # tight
        assert float((m[inside] > 0.5).float().mean()) > 0.2  # the bird fills a good part of its box
        for name, (px, py, v) in zip(ds.part_names, s.parts.tolist()):
            if v == 0:
                assert (px, py) == (0.0, 0.0)
                continue
            visible_counts[name] += 1
            assert x <= px < x + w and y <= py < y + h, name
            assert float(m[int(py), int(px)]) > 0.5, (s.id, name)
    # one side of the bird is hidden: exactly one eye and one wing per image
    assert visible_counts["left eye"] + visible_counts["right eye"] == len(ds)
    assert visible_counts["left wing"] + visible_counts["right wing"] == len(ds)
    for name in ("back", "beak", "belly", "breast", "crown", "forehead", "nape", "throat"):
        assert visible_counts[name] >= len(ds) - 2, name


def test_classes_balanced_and_split_disjoint(small: Path) -> None:
    train = CUB200(root=small, split="train")
    test = CUB200(root=small, split="test")
    assert Counter(train.labels) == {c: 3 for c in range(4)}
    assert Counter(test.labels) == {c: 2 for c in range(4)}
    assert not set(train.ids) & set(test.ids)
    first = CUB200(root=small, split="all", classes="first_half")
    second = CUB200(root=small, split="all", classes="second_half")
    assert first.class_names + second.class_names == CUB200(root=small, split="all").class_names
    assert not set(first.ids) & set(second.ids) and len(first) == len(second) == 10


def test_class_design_is_a_distance_two_code() -> None:
    designs = sb.class_attributes(54)
    codes = [tuple(vars(d).values()) for d in designs]
    assert len(set(codes)) == 54
    assert min(sum(a != b for a, b in zip(p, q)) for p, q in itertools.combinations(codes, 2)) == 2
    assert sb.class_attributes(20) == designs[:20]
    with pytest.raises(ValueError, match="at most 54 classes"):
        sb.class_attributes(55)


def test_without_bird_changes_only_the_bird(small: Path, tmp_path: Path) -> None:
    nobird = sb.generate(tmp_path / "nobird", seed=0, without_bird=True, **SMALL)
    a, b = _tree_digest(small), _tree_digest(nobird)
    same_annotations = ["bounding_boxes.txt", "parts/part_locs.txt", "images.txt", "image_class_labels.txt"]
    assert all(a[k] == b[k] for k in same_annotations)
    assert all(a[k] == b[k] for k in a if k.endswith(".png"))
    with_bird, without = CUB200(root=small, split="all"), CUB200(root=nobird, split="all")
    for i in (0, 7, 19):
        s, n = with_bird[i], without[i]
        # JPEG codes 8x8 blocks independently (no chroma subsampling): blocks the bird never
        # touches decode to the very same pixels
        h, w = s.mask.shape[1:]  # 97 px: the last, partial block counts as a block (ceil mode)
        touched = torch.nn.functional.max_pool2d(s.mask, 8, ceil_mode=True) > 0
        untouched = ~touched.repeat_interleave(8, 1).repeat_interleave(8, 2)[:, :h, :w].expand(3, -1, -1)
        assert torch.equal(s.image[untouched], n.image[untouched])
        core = (s.mask > 0.99).expand(3, -1, -1)
        assert float((s.image[core] - n.image[core]).abs().mean()) > 0.05


def test_dataset_class_generates_once_into_the_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ATTRBENCH_CACHE", str(tmp_path / "cache"))
    assert get_dataset("synthbirds") is sb.SynthBirds
    ds = sb.SynthBirds(split="train", image_size=48, **SMALL)
    expected = tmp_path / "cache" / f"synthbirds-v{sb.VERSION}-seed0-c4-n3x2-s{sb.DEFAULT_SCENE_SIZE}"
    assert ds.root == expected and len(ds) == 12
    assert ds[0].image.shape == (3, 48, 48)

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("regenerated a cached dataset")

    monkeypatch.setattr(sb, "generate", fail)
    assert len(sb.SynthBirds(split="test", classes="second_half", **SMALL)) == 4
    assert sb.cache_name(seed=3, num_classes=20, train_per_class=60, test_per_class=20, image_size=sb.DEFAULT_SCENE_SIZE,
                         without_bird=True) == f"synthbirds-v{sb.VERSION}-seed3-nobird"  # fmt: skip


def test_generate_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty"):
        sb.generate(tmp_path / "x", **SMALL)
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"


def test_cli_generate_and_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    args = ["data", "synthbirds", "--out", str(out), "--seed", "2", "--classes", "2",
            "--train-per-class", "2", "--test-per-class", "1", "--image-size", "64"]  # fmt: skip
    assert cli_main(args) == 0
    assert "wrote 6 images" in capsys.readouterr().out
    with Image.open(next((out / "images").rglob("*.jpg"))) as im:
        assert im.size == (64, 64)
    assert cli_main(["data", "info", str(out), "--dataset", "synthbirds"]) == 0
    text = capsys.readouterr().out
    assert "train: 4 images, 2 classes (per class min 2, max 2), masks: yes" in text
    assert "test: 2 images" in text
    assert cli_main(["data", "info", str(tmp_path / "missing"), "--dataset", "synthbirds"]) == 2
    assert "dataset folder not found" in capsys.readouterr().err


def test_scene_rng_stream_is_independent_of_compositing() -> None:
    from attrbench.datasets._birddraw import render_scene

    attrs = sb.class_attributes(1)[0]
    a = render_scene(np.random.default_rng(5), attrs, size=64)
    b = render_scene(np.random.default_rng(5), attrs, size=64, with_bird=False)
    assert a.parts == b.parts and a.bbox == b.bbox
    assert np.array_equal(np.asarray(a.mask), np.asarray(b.mask))
    outside = np.asarray(a.mask) == 0
    assert np.array_equal(np.asarray(a.image)[outside], np.asarray(b.image)[outside])
    assert not np.array_equal(np.asarray(a.image), np.asarray(b.image))


def test_test_split_does_not_depend_on_the_training_split(tmp_path: Path) -> None:
    """v3: test scene j is drawn from its own stream, so more training scenes never move the test split."""
    small = sb.generate(tmp_path / "a", num_classes=2, train_per_class=1, test_per_class=2, image_size=40)
    large = sb.generate(tmp_path / "b", num_classes=2, train_per_class=3, test_per_class=2, image_size=40)

    def split_files(root: Path, flag: str) -> list[bytes]:
        names = dict(line.split() for line in (root / "images.txt").read_text().splitlines())
        ids = [i for i, f in (line.split() for line in (root / "train_test_split.txt").read_text().splitlines()) if f == flag]
        return [(root / "images" / names[i]).read_bytes() for i in ids]

    assert split_files(small, "0") == split_files(large, "0")
    assert split_files(small, "1") == split_files(large, "1")[::3]  # the first training scene of each class
    assert not set(split_files(large, "1")) & set(split_files(large, "0"))
