"""SynthBirds: the embedded dataset. Procedurally drawn birds whose class is set by local parts.

Design (why a classifier must look at the bird's parts):

* Five part attributes (:data:`attrbench.datasets._birddraw.ATTRIBUTES`): cap colour (crown and
  forehead: red/yellow/blue), beak shape (cone/needle/hook), wing pattern (plain/barred/spotted),
  tail shape (fan/fork/pointed) and crest (none/crest): 3*3*3*3*2 = 162 combinations.
* A class is one combination. The classes form a code of minimum Hamming distance 2 (the cap
  colour is a check symbol of the other four; see :func:`class_attributes`; independent of the
  data seed): any four parts identify the class, while no single part does (each attribute value
  is shared by 6-10 of the 20 default classes). The evidence is spread over several local parts,
  which suits BagNets (logit = mean of patch logits) and makes part-level ground truth meaningful.
* Class-irrelevant variation: body, beak and leg colours; pose (position, scale 0.8-1.1, rotation
  +-15 degrees, mirror); background colour field, clutter (leaves, twigs, stones) and 2-4 loose
  look-alike parts (beaks, patterned wing patches, tails, caps with crests) whose attributes are
  drawn independently of the class, so the background alone predicts nothing. All attributes are
  mirror-invariant, so horizontal flips are a valid augmentation.
* ``without_bird=True`` renders the same scenes (same random stream) without the bird, to show
  that a model which ignores the bird is at chance (1 / num_classes).

The generator writes the CUB-200-2011 layout (see :mod:`attrbench.datasets.cub200`), plus
``synthbirds.json`` (generator parameters and each class's attributes). The same parameters give
byte-identical files (fixed JPEG/PNG settings, no timestamps, per-image seeded generators).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from attrbench.datasets._birddraw import ATTRIBUTES, PART_NAMES, BirdAttributes, render_scene
from attrbench.datasets.cub200 import CUB200
from attrbench.datasets.transforms import DEFAULT_RESIZE
from attrbench.errors import DataError, OptionError
from attrbench.fileio import honour_umask

__all__ = [
    "VERSION", "SynthBirds", "cache_name", "class_attributes", "default_cache_dir", "generate", "scene_seed",
]  # fmt: skip

#: bump when the drawing, the class design or the scene seeding changes, so cached copies are
#: regenerated (v1: a development draft with another class design; v2: test scenes continued the
#: training stream, so a larger training split moved the test split; default scenes 96 px).
VERSION = 3
#: test scene j of class c is drawn from ``default_rng([seed, c, TEST_STREAM + j])``: the test split
#: does not depend on how many training scenes are drawn, so a model trained on 500 scenes per class
#: is tested on exactly the scenes of the default 60/20 dataset's test split.
TEST_STREAM = 1_000_000
#: default scene side: 97 = 9 + 8*11 = 17 + 8*10 = 33 + 8*8, so the patches of BagNet-9, -17 and
#: -33 (stride 8) tile the image exactly and every pixel is seen (see docs/bagnet.md).
DEFAULT_SCENE_SIZE = 97
#: seed of the class design (fixed: the data seed changes scenes, not what the classes are).
_DESIGN_SEED = 2011
JPEG_QUALITY = 92


def class_attributes(num_classes: int) -> list[BirdAttributes]:
    """The attribute combination of each class: a code with minimum Hamming distance 2.

    Beak, wing, tail and crest are free (3 * 3 * 3 * 2 = 54 combinations) and the cap colour is
    their check symbol, ``cap = (beak + wing + tail + crest) mod 3`` over value indices: two
    combinations differing in one free attribute then also differ in the cap, so every pair of
    classes differs in at least two parts (54 is the largest such code for these attributes). The
    classes are ``num_classes`` codewords taken in a fixed order that keeps every attribute's values
    about equally frequent; the first k classes of a larger design are the k-class design.

    Raises:
        ValueError: more than 54 classes.
    """
    caps, *free = ATTRIBUTES.values()
    if not 1 <= num_classes <= 54:
        raise OptionError(f"SynthBirds supports 1 to at most 54 classes, got num_classes={num_classes}")
    codes = []
    for idx in itertools.product(*(range(len(v)) for v in free)):
        codes.append((caps[sum(idx) % len(caps)], *(v[i] for v, i in zip(free, idx))))
    # Fixed pseudo-random order, then greedily keep attribute values balanced: each next class is
    # the codeword whose values have been used least so far (ties: the pseudo-random order).
    remaining = [codes[int(k)] for k in np.random.default_rng(_DESIGN_SEED).permutation(len(codes))]
    used: Counter[tuple[int, str]] = Counter()
    chosen = []
    for _ in range(num_classes):
        best = min(remaining, key=lambda code: sum(used[(j, v)] for j, v in enumerate(code)))
        remaining.remove(best)
        used.update(enumerate(best))
        chosen.append(BirdAttributes(*best))
    return chosen


def scene_seed(*, seed: int, class_index: int, index: int, split: str) -> list[int]:
    """Seed of a scene's generator: training scene k of class c is ``[seed, c, k]``, test scene j
    is ``[seed, c, TEST_STREAM + j]`` (``split`` is "train" or "test")."""
    if split not in ("train", "test"):
        raise OptionError(f"split must be 'train' or 'test', got {split!r}")
    return [seed, class_index, index if split == "train" else TEST_STREAM + index]


def _class_name(attrs: BirdAttributes) -> str:
    crest = "_Crested" if attrs.crest == "crest" else ""
    return f"{attrs.cap.title()}cap_{attrs.beak.title()}bill_{attrs.wing.title()}wing_{attrs.tail.title()}tail{crest}"


def default_cache_dir() -> Path:
    """``$ATTRBENCH_CACHE`` or ``~/.cache/attrbench``."""
    env = os.environ.get("ATTRBENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "attrbench"


def _fmt(v: float) -> str:
    return f"{v:.1f}"


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _scenes(*, num_classes: int, per_class: int) -> Iterator[tuple[int, int]]:
    for c in range(num_classes):
        for k in range(per_class):
            yield c, k


def generate(
    out: str | Path,
    *,
    seed: int = 0,
    num_classes: int = 20,
    train_per_class: int = 60,
    test_per_class: int = 20,
    image_size: int = DEFAULT_SCENE_SIZE,
    without_bird: bool = False,
    progress: bool = False,
) -> Path:
    """Write a SynthBirds dataset in the CUB-200-2011 layout to ``out`` (atomically).

    Training scene k of class c is drawn from ``numpy.random.default_rng([seed, c, k])`` and test
    scene j from ``default_rng([seed, c, TEST_STREAM + j])``, so the test split is the same
    whatever ``train_per_class`` is (a larger training set never contains a test scene). Files are written to a temporary sibling folder that is renamed to
    ``out`` at the end, so a crash never leaves a half-written dataset behind.

    Args:
        out: target folder; must not exist or be empty.
        seed: data seed (scenes); the class design is fixed.
        num_classes: number of classes (1..54).
        train_per_class, test_per_class: images per class in each split.
        image_size: side of the square images in pixels (geometry scales with it).
        without_bird: render the scenes without the bird (annotations unchanged).
        progress: show a tqdm progress bar.

    Returns:
        ``out`` as a Path.
    """
    from tqdm import tqdm

    for name, value in (("train_per_class", train_per_class), ("test_per_class", test_per_class)):
        if value < 0:
            raise OptionError(f"{name} must be >= 0, got {value}")
    if image_size < 32:
        raise OptionError(f"image_size must be >= 32 for the birds to be drawable, got {image_size}")
    designs = class_attributes(num_classes)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"{out}: already exists and is not empty; choose another --out or remove it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        _generate_into(
            tmp, designs=designs, seed=seed, per_class=(train_per_class, test_per_class),
            image_size=image_size, without_bird=without_bird, progress=progress, tqdm=tqdm,
        )  # fmt: skip
        honour_umask(tmp)  # mkdtemp creates 0o700
        if out.exists():
            out.rmdir()  # empty (checked above); rename cannot replace a directory otherwise
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _generate_into(
    tmp: Path,
    *,
    designs: list[BirdAttributes],
    seed: int,
    per_class: tuple[int, int],
    image_size: int,
    without_bird: bool,
    progress: bool,
    tqdm,  # noqa: ANN001  (tqdm.tqdm, imported lazily by the caller)
) -> None:
    train_n, test_n = per_class
    names = [f"{c + 1:03d}.{_class_name(a)}" for c, a in enumerate(designs)]
    (tmp / "parts").mkdir()
    images, labels, split, boxes, part_rows = [], [], [], [], []
    scenes = list(_scenes(num_classes=len(designs), per_class=train_n + test_n))
    for image_id, (c, k) in enumerate(tqdm(scenes, desc="SynthBirds", unit="img", disable=not progress), 1):
        folder = names[c]
        base = folder.split(".", 1)[1]
        stem = f"{base}_{k + 1:04d}" if k < train_n else f"{base}_t{k - train_n + 1:04d}"
        where = dict(index=k, split="train") if k < train_n else dict(index=k - train_n, split="test")
        rng = np.random.default_rng(scene_seed(seed=seed, class_index=c, **where))
        scene = render_scene(rng, designs[c], size=image_size, with_bird=not without_bird)
        if scene.bbox is None:  # cannot happen with the pose ranges used; fail loudly if it does
            raise RuntimeError(f"SynthBirds scene ({c}, {k}) has its bird entirely out of view")
        if k == 0:
            for sub in ("images", "segmentations"):
                (tmp / sub / folder).mkdir(parents=True)
        # Fixed encoder settings and no metadata: the same scene gives the same bytes.
        scene.image.save(tmp / "images" / folder / f"{stem}.jpg", format="JPEG", quality=JPEG_QUALITY, subsampling=0)
        scene.mask.save(tmp / "segmentations" / folder / f"{stem}.png", format="PNG", compress_level=6)
        images.append(f"{image_id} {folder}/{stem}.jpg")
        labels.append(f"{image_id} {c + 1}")
        split.append(f"{image_id} {1 if k < train_n else 0}")
        boxes.append(f"{image_id} " + " ".join(_fmt(v) for v in scene.bbox))
        for part_id, (x, y, visible) in enumerate(scene.parts, 1):
            part_rows.append(f"{image_id} {part_id} {_fmt(x)} {_fmt(y)} {visible}")
    _write(tmp / "images.txt", images)
    _write(tmp / "image_class_labels.txt", labels)
    _write(tmp / "train_test_split.txt", split)
    _write(tmp / "bounding_boxes.txt", boxes)
    _write(tmp / "classes.txt", [f"{c + 1} {name}" for c, name in enumerate(names)])
    _write(tmp / "parts" / "parts.txt", [f"{i} {name}" for i, name in enumerate(PART_NAMES, 1)])
    _write(tmp / "parts" / "part_locs.txt", part_rows)
    meta = {
        "dataset": "SynthBirds",
        "version": VERSION,
        "seed": seed,
        "num_classes": len(designs),
        "train_per_class": train_n,
        "test_per_class": test_n,
        "image_size": image_size,
        "without_bird": without_bird,
        "attributes": {k: list(v) for k, v in ATTRIBUTES.items()},
        "classes": {name: vars(a) for name, a in zip(names, designs)},
    }
    (tmp / "synthbirds.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def cache_name(*, seed: int, num_classes: int, train_per_class: int, test_per_class: int, image_size: int,
               without_bird: bool) -> str:  # fmt: skip
    """Cache folder name, e.g. ``synthbirds-v3-seed0`` for the defaults."""
    name = f"synthbirds-v{VERSION}-seed{seed}"
    if (num_classes, train_per_class, test_per_class, image_size) != (20, 60, 20, DEFAULT_SCENE_SIZE):
        name += f"-c{num_classes}-n{train_per_class}x{test_per_class}-s{image_size}"
    return name + ("-nobird" if without_bird else "")


class SynthBirds(CUB200):
    """The embedded dataset, generated on first use, loaded through :class:`CUB200`.

    Args:
        root: a generated SynthBirds folder. None: ``$ATTRBENCH_CACHE/synthbirds-v<VERSION>-seed<seed>``
            (default cache ``~/.cache/attrbench``), generated once. A missing or empty folder
            is generated in place.
        split, image_size, classes, crop, masks, parts, resize: as :class:`CUB200`.
        seed, num_classes, train_per_class, test_per_class, scene_size, without_bird: generator
            parameters (see :func:`generate`), used only when generating.

    Samples carry masks, boxes and the 15 CUB parts (the hidden-side eye and wing are invisible).
    """

    def __init__(
        self,
        *,
        root: str | Path | None = None,
        split: str = "test",
        image_size: int | tuple[int, int] | None = None,
        classes: str = "all",
        crop: str | None = None,
        masks: bool = True,
        parts: bool = True,
        resize: str = DEFAULT_RESIZE,
        seed: int = 0,
        num_classes: int = 20,
        train_per_class: int = 60,
        test_per_class: int = 20,
        scene_size: int = DEFAULT_SCENE_SIZE,
        without_bird: bool = False,
    ) -> None:
        params = dict(seed=seed, num_classes=num_classes, train_per_class=train_per_class,
                      test_per_class=test_per_class, image_size=scene_size, without_bird=without_bird)  # fmt: skip
        path = Path(root) if root is not None else default_cache_dir() / cache_name(**params)
        if not path.exists() or (path.is_dir() and not any(path.iterdir())):
            try:
                generate(path, progress=sys.stderr.isatty(), **params)
            except (DataError, OSError):
                # another process finished generating the same folder first
                if not (path / "images.txt").is_file():
                    raise
        super().__init__(
            root=path, split=split, image_size=image_size, classes=classes, crop=crop, masks=masks, parts=parts,
            resize=resize,
        )
