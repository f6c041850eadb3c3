"""Property-based tests (hypothesis): hostile images, masks, bracket options, baselines and checkpoints.

The property everywhere: an input is either read correctly (values checked against an independent
rule where one exists) or refused with the project's error type; never another exception, never a
silently wrong value. Bounded and deterministic: few examples, derandomized, no example database.
"""

from __future__ import annotations

import copy
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from attrbench.baseline_schema import BaselineError, validate_baseline
from attrbench.check import compare, make_baseline
from attrbench.datasets.base import load_image, load_mask
from attrbench.errors import CheckpointError, DataError
from attrbench.metrics import get_metric
from attrbench.models.zoo import load_checkpoint, save_checkpoint
from attrbench.options import canonical_label, validate_options
from attrbench.registry import UnknownNameError
from attrbench.runspec import parse_spec
from attrbench.testing.models import tiny_bagnet
from attrbench.testing.runs import write_run

FUZZ = settings(
    max_examples=25, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)  # fmt: skip


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


GOOD_PNG = _png_bytes(Image.fromarray(np.arange(48, dtype=np.uint8).reshape(4, 4, 3)))


# -- images and masks -------------------------------------------------------------------------------
def _check_read(path: Path, read, channels: int) -> torch.Tensor | None:  # noqa: ANN001 - load_image/load_mask
    try:
        t = read(path)
    except DataError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return None
    assert t.dtype == torch.float32 and t.ndim == 3 and t.shape[0] == channels
    assert bool(torch.isfinite(t).all()) and float(t.min()) >= 0.0 and float(t.max()) <= 1.0
    return t


@FUZZ
@given(data=st.binary(max_size=200))
def test_random_bytes_are_read_or_refused(scratch: Path, data: bytes) -> None:
    path = scratch / "random.png"
    path.write_bytes(data)
    _check_read(path, load_image, 3)
    _check_read(path, load_mask, 1)


@FUZZ
@given(
    cut=st.integers(0, len(GOOD_PNG)),
    flips=st.lists(st.tuples(st.integers(0, len(GOOD_PNG) - 1), st.integers(0, 255)), max_size=4),
)
def test_damaged_png_is_read_or_refused(scratch: Path, cut: int, flips: list[tuple[int, int]]) -> None:
    data = bytearray(GOOD_PNG)
    for at, value in flips:
        data[at] = value
    path = scratch / "damaged.png"
    path.write_bytes(bytes(data[:cut]) if cut < len(data) else bytes(data))
    _check_read(path, load_image, 3)


SIZES = st.tuples(st.integers(1, 4), st.integers(1, 4))


@FUZZ
@given(size=SIZES, seed=st.integers(0, 2**16), bits=st.sampled_from([1, 8, 16]))
def test_grey_images_follow_the_rule_exactly(scratch: Path, size: tuple[int, int], seed: int, bits: int) -> None:
    rng = np.random.default_rng(seed)
    top = {1: 1, 8: 255, 16: 65535}[bits]
    values = rng.integers(0, top + 1, size=size)
    dtype = {1: bool, 8: np.uint8, 16: np.uint16}[bits]
    path = scratch / "grey.png"
    Image.fromarray(values.astype(dtype)).save(path)
    t = _check_read(path, load_image, 3)
    assert t is not None
    expected = torch.from_numpy(values.astype(np.float64) / top).float().expand(3, -1, -1)
    torch.testing.assert_close(t, expected, rtol=0, atol=0)


@FUZZ
@given(size=SIZES, seed=st.integers(0, 2**16), levels=st.sampled_from([(0, 1), (0, 255), (0, 64, 255), tuple(range(256))]))
def test_grey_masks_binary_or_soft(scratch: Path, size: tuple[int, int], seed: int, levels: tuple[int, ...]) -> None:
    values = np.random.default_rng(seed).choice(np.array(levels, dtype=np.uint8), size=size)
    path = scratch / "mask.png"
    Image.fromarray(values, "L").save(path)
    t = _check_read(path, load_mask, 1)
    assert t is not None
    binary = int(values.max()) <= 1
    expected = values.astype(np.float64) / (1 if binary else 255)
    torch.testing.assert_close(t[0].double(), torch.from_numpy(expected), rtol=0, atol=1e-7)


@FUZZ
@given(size=SIZES, seed=st.integers(0, 2**16), mode=st.sampled_from(["RGB", "RGBA", "LA", "P", "CMYK", "YCbCr", "I", "F"]))
def test_every_mode_reads_in_range_or_is_refused(scratch: Path, size: tuple[int, int], seed: int, mode: str) -> None:
    rng = np.random.default_rng(seed)
    h, w = size
    if mode == "I":
        img = Image.fromarray(rng.integers(-10, 70000, size=size, dtype=np.int32), "I")
    elif mode == "F":
        img = Image.fromarray(rng.uniform(-0.5, 1.5, size=size).astype(np.float32), "F")
    else:
        bands = len(Image.new(mode, (1, 1)).getbands())
        img = Image.frombytes(mode, (w, h), rng.integers(0, 256, size=h * w * bands, dtype=np.uint8).tobytes())
    path = scratch / f"any-{mode}.tif"
    img.save(path)
    _check_read(path, load_image, 3)
    _check_read(path, load_mask, 1)


# -- bracket options --------------------------------------------------------------------------------
SPEC_TEXT = st.text(alphabet="deltionsp[]=,;._ 0123456789-abcfru", max_size=30)


@FUZZ
@given(text=SPEC_TEXT)
def test_metric_specs_validate_or_refuse_and_labels_are_stable(text: str) -> None:
    try:
        name, options = parse_spec(text)
        cls = get_metric(name)
        validate_options(cls, options, spec=text)
        cls(**options)
    except (ValueError, UnknownNameError):  # DataError / OptionError are ValueErrors
        return
    label = canonical_label(text)
    assert canonical_label(label) == label
    assert parse_spec(label) == (name, options)


@FUZZ
@given(key=st.sampled_from(["steps", "unit", "fill", "score", "blur_sigma"]),
       value=st.one_of(st.integers(-3, 40), st.floats(allow_nan=True), st.booleans(), st.text(max_size=5), st.none()))
def test_typed_deletion_options_never_leak_a_type_error(key: str, value: object) -> None:
    cls = get_metric("deletion")
    try:
        validate_options(cls, {key: value}, spec=f"deletion[{key}={value}]")
        cls(**{key: value})
    except ValueError:
        return


# -- baseline files ---------------------------------------------------------------------------------
DIRECTIONS = {"gt_spearman": True, "deletion_auc": False}
CATEGORIES = {"gt_spearman": "ground_truth", "deletion_auc": "faithfulness"}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, object]:
    values = {"ig": {"gt_spearman": [0.5, 0.7, 0.6], "deletion_auc": [1.0, 1.2, 1.1]}}
    run = write_run(tmp_path_factory.mktemp("run") / "r", values=values, directions=DIRECTIONS, categories=CATEGORIES,
                    config={"model": "tiny", "dataset": "toy", "n_samples": 3, "seed": 0})
    from attrbench.results import load_run

    return make_baseline([run]), load_run(run).records


JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=6),
                      st.just([]), st.just({}))


def _leaves(data: object, at: tuple = ()) -> list[tuple]:
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in _leaves(v, (*at, k))] or [at]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in _leaves(v, (*at, i))] or [at]
    return [at]


@FUZZ
@given(choice=st.integers(0, 10_000), leaf=JSON_LEAF, drop=st.booleans())
def test_mutated_baselines_are_refused_or_gate_soundly(baseline, choice: int, leaf: object, drop: bool) -> None:
    good, records = baseline
    data = copy.deepcopy(good)
    paths = _leaves(data)
    at = paths[choice % len(paths)]
    target = data
    for key in at[:-1]:
        target = target[key]
    if at:
        if drop and isinstance(target, dict):
            del target[at[-1]]
        else:
            target[at[-1]] = leaf
    try:
        validate_baseline(json.loads(json.dumps(data)), path="b.json")
    except BaselineError as exc:
        assert str(exc).startswith("b.json: $") and "\n" not in str(exc)
        return
    for e in data["entries"]:  # accepted: every gating value is sound
        assert math.isfinite(e["mean"]) and math.isfinite(e["tolerance"]) and e["tolerance"] >= 0
        assert e["higher_is_better"] is DIRECTIONS[e["metric"]]
    try:
        compare(data, records)
    except DataError:
        pass


@FUZZ
@given(doc=st.recursive(
    JSON_LEAF, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3), max_leaves=8
))
def test_arbitrary_json_is_refused_with_one_line(doc: object) -> None:
    with pytest.raises(BaselineError):
        validate_baseline(doc, path="b.json")


# -- checkpoints ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    model = tiny_bagnet(9, num_classes=3, dtype=torch.float32, input_size=(24, 24))
    kwargs = {"num_classes": 3, "width": 4, "layers": (1, 1, 1, 1)}
    path = save_checkpoint(tmp_path_factory.mktemp("ckpt") / "good.pt", model=model, arch="bagnet9", arch_kwargs=kwargs)
    return path, torch.load(path, weights_only=True)


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes_are_not_a_checkpoint(scratch: Path, data: bytes) -> None:
    path = scratch / "random.pt"
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match="random.pt"):
        load_checkpoint(path)


@FUZZ
@given(fraction=st.floats(0.0, 0.999))
def test_truncated_checkpoint_is_refused(scratch: Path, checkpoint, fraction: float) -> None:
    good, _ = checkpoint
    raw = good.read_bytes()
    path = scratch / "truncated.pt"
    path.write_bytes(raw[: int(len(raw) * fraction)])
    with pytest.raises(CheckpointError, match="truncated.pt"):
        load_checkpoint(path)


CKPT_VALUE = st.one_of(JSON_LEAF, st.just(torch.zeros(2)), st.just(torch.tensor([float("nan")])),
                       st.just([1, 2]), st.just({"x": torch.ones(1)}))


@settings(FUZZ, max_examples=15)
@given(section=st.sampled_from(["arch", "arch_kwargs", "spec", "state_dict", "meta", "format"]),
       choice=st.integers(0, 10_000), value=CKPT_VALUE, drop=st.booleans())
def test_edited_checkpoints_are_refused_or_load_exactly(scratch: Path, checkpoint, section: str, choice: int,
                                                        value: object, drop: bool) -> None:
    _, payload = checkpoint
    edited = copy.deepcopy(payload)
    if isinstance(edited[section], dict) and edited[section]:
        key = sorted(edited[section])[choice % len(edited[section])]
        if drop:
            del edited[section][key]
        else:
            edited[section][key] = value
    elif drop:
        del edited[section]
    else:
        edited[section] = value
    path = scratch / "edited.pt"
    torch.save(edited, path)
    try:
        model = load_checkpoint(path)
    except CheckpointError as exc:
        assert "edited.pt" in str(exc) and "\n" not in str(exc).strip()
        return
    state = model.net.state_dict()  # accepted: the model is exactly what the file holds
    for key, tensor in edited["state_dict"].items():
        torch.testing.assert_close(state[key], tensor.to(state[key].dtype), rtol=0, atol=0)
    spec = {k: tuple(v) if isinstance(v, list) else v for k, v in edited["spec"].items()}
    assert {k: getattr(model.spec, k) for k in spec} == spec
