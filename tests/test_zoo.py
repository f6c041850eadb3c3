"""Model zoo: official-format BagNet weights (file and hash-verified URL), bad checkpoints, and
the checkpoints shipped in attrbench/checkpoints/."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from attrbench.errors import UnknownNameError
from attrbench.ground_truth import patch_truth
from attrbench.models.bagnet import BagNet
from attrbench.models.zoo import (
    CheckpointError,
    download_verified,
    load_checkpoint,
    load_model,
    load_official_bagnet,
    save_checkpoint,
    shipped_dir,
)
from attrbench.testing.models import tiny_bagnet
from attrbench.train import probe_inputs

SHIPPED = [f"bagnet{q}-{data}" for data in ("synthbirds", "cifar10") for q in (9, 17, 33)]
NUM_CLASSES = {"synthbirds": 20, "cifar10": 10}
MAX_BYTES = 10 * 1024 * 1024


# --------------------------------------------------------------------------------------------
# Official weights: plain state_dict of the full-size BagNet
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def official_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    net = BagNet(9)
    gen = torch.Generator().manual_seed(1)
    for m in net.modules():  # distinct BN statistics, so a mix-up of keys would show
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen))
    return net.state_dict()


def _assert_same_state(model, state: dict[str, torch.Tensor]) -> None:
    own = model.net.state_dict()
    for key, value in state.items():
        assert torch.equal(own[key.removeprefix("module.")], value), key


@pytest.mark.parametrize("variant", ["plain", "dataparallel"])
def test_official_format_loads(tmp_path: Path, official_state, variant: str) -> None:
    state = dict(official_state)
    payload: dict = state
    if variant == "dataparallel":  # nn.DataParallel prefix, {'state_dict': ...} wrapper, no BN counters
        state = {f"module.{k}": v for k, v in state.items() if not k.endswith("num_batches_tracked")}
        payload = {"state_dict": state}
    path = tmp_path / "bagnet8.pth.tar"
    torch.save(payload, path)
    model = load_official_bagnet(9, weights=path)
    assert not model.training
    assert model.spec.name == "bagnet9-imagenet" and model.spec.num_outputs == 1000
    assert model.spec.receptive_field == 9 and model.spec.cam_layer == "net.layer4"
    _assert_same_state(model, state)


def test_official_with_wrong_shapes_names_file_and_key(tmp_path: Path, official_state) -> None:
    state = dict(official_state)
    state["fc.weight"] = torch.zeros(10, 2048)
    path = tmp_path / "wrong.pth.tar"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"wrong\.pth\.tar.*wrong shapes.*fc\.weight"):
        load_official_bagnet(9, weights=path)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep test output clean
        pass


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """(base URL, folder): an HTTP server on 127.0.0.1 serving the folder, run by the test."""
    folder = tmp_path / "www"
    folder.mkdir()
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", folder
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_url_with_matching_hash_prefix_downloads_once_and_loads(tmp_path: Path, official_state, served) -> None:
    base, folder = served
    raw = folder / "raw.pth.tar"
    torch.save(official_state, raw)
    digest = hashlib.sha256(raw.read_bytes()).hexdigest()
    name = f"bagnet8-{digest[:8]}.pth.tar"
    raw.rename(folder / name)
    cache = tmp_path / "cache"
    model = load_official_bagnet(9, weights=base + name, cache_dir=cache)
    _assert_same_state(model, official_state)
    assert (cache / name).is_file()
    # a second call uses the cache (the server no longer has the file) and re-verifies it
    (folder / name).unlink()
    assert download_verified(base + name, cache_dir=cache) == cache / name


def test_url_with_wrong_hash_is_refused_and_removed(tmp_path: Path, served) -> None:
    base, folder = served
    (folder / "bagnet8-deadbeef.pth.tar").write_bytes(b"not the weights you are looking for")
    cache = tmp_path / "cache"
    with pytest.raises(CheckpointError, match=r"does not start with 'deadbeef'.*removed"):
        load_official_bagnet(9, weights=base + "bagnet8-deadbeef.pth.tar", cache_dir=cache)
    assert not (cache / "bagnet8-deadbeef.pth.tar").exists()


def test_tampered_cache_file_is_refused(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "bagnet8-00ff.pth.tar").write_bytes(b"tampered")  # SHA-256 starts with '5b'
    with pytest.raises(CheckpointError, match="does not start with '00ff'"):
        download_verified("http://127.0.0.1:9/bagnet8-00ff.pth.tar", cache_dir=cache)
    assert not (cache / "bagnet8-00ff.pth.tar").exists()


def test_url_without_hash_and_unreachable_url(tmp_path: Path, served) -> None:
    base, _ = served
    with pytest.raises(CheckpointError, match="no '-<sha256 prefix>.' part"):
        download_verified(base + "bagnet8.pth.tar", cache_dir=tmp_path)
    with pytest.raises(CheckpointError, match="cannot download"):
        download_verified(base + "missing-abcd.pth.tar", cache_dir=tmp_path)


# --------------------------------------------------------------------------------------------
# attrbench checkpoints: bad files are refused with the file named
# --------------------------------------------------------------------------------------------
@pytest.fixture
def good_checkpoint(tmp_path: Path) -> Path:
    model = tiny_bagnet(9, num_classes=3, dtype=torch.float32)
    kwargs = {"num_classes": 3, "width": 4, "layers": (1, 1, 1, 1)}
    return save_checkpoint(tmp_path / "good.pt", model=model, arch="bagnet9", arch_kwargs=kwargs, meta={"a": 1})


def _rewrite(src: Path, dst: Path, edit) -> Path:
    payload = torch.load(src, weights_only=True)
    edit(payload)
    torch.save(payload, dst)
    return dst


def test_good_checkpoint_round_trips(good_checkpoint: Path) -> None:
    model = load_checkpoint(good_checkpoint)
    reference = tiny_bagnet(9, num_classes=3, dtype=torch.float32)
    x = torch.rand(2, 3, 33, 33, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)
    assert model.spec == reference.spec and model.checkpoint_meta == {"a": 1} and not model.training


def _wrong_width(p: dict) -> None:
    p["arch_kwargs"]["width"] = 8


def _missing_key(p: dict) -> None:
    del p["state_dict"]["layer2.0.conv2.weight"]


def _no_state(p: dict) -> None:
    del p["state_dict"]


def _unknown_arch(p: dict) -> None:
    p["arch"] = "resnet50"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_wrong_width, "wrong shapes"),
        (_missing_key, r"missing keys .*layer2\.0\.conv2\.weight"),
        (_no_state, "lacks the entry 'state_dict'"),
        (_unknown_arch, "unknown architecture 'resnet50'"),
    ],
)
def test_broken_checkpoint_is_refused(tmp_path: Path, good_checkpoint: Path, edit, message: str) -> None:
    bad = _rewrite(good_checkpoint, tmp_path / "bad.pt", edit)
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(bad)
    if edit is not _unknown_arch:
        assert "bad.pt" in str(info.value)


def test_files_that_are_not_checkpoints(tmp_path: Path, good_checkpoint: Path) -> None:
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(3)}, plain)
    with pytest.raises(CheckpointError, match=r"plain\.pt is not an attrbench checkpoint"):
        load_checkpoint(plain)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(CheckpointError, match=r"cannot read checkpoint .*corrupt\.pt"):
        load_checkpoint(corrupt)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good_checkpoint.read_bytes()[:2000])
    with pytest.raises(CheckpointError, match=r"cannot read checkpoint .*truncated\.pt"):
        load_checkpoint(truncated)
    with pytest.raises(CheckpointError, match=r"not found: .*missing\.pt"):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match=r"not found: .*missing\.pth"):
        load_official_bagnet(9, weights=tmp_path / "missing.pth")


def test_unknown_and_weightless_model_names() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'bagnet17-imagenet'"):
        load_model("bagnet17-imagenett")
    with pytest.raises(CheckpointError, match="needs its official weights"):
        load_model("bagnet33-imagenet")


# --------------------------------------------------------------------------------------------
# Shipped checkpoints
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_checkpoint_loads_and_reproduces_its_probe(name: str) -> None:
    path = shipped_dir() / f"{name}.pt"
    assert path.is_file(), f"shipped checkpoint {path} is missing (scripts/train_all.sh makes it)"
    assert path.stat().st_size <= MAX_BYTES
    model = load_model(name)
    q = int(name.split("-")[0].removeprefix("bagnet"))
    classes = NUM_CLASSES[name.split("-")[1]]
    assert not model.training and model.spec.name == name
    assert model.spec.num_outputs == classes == len(model.spec.class_names) == model.net.fc.out_features
    assert model.spec.receptive_field == q and model.spec.cam_layer == "net.layer4"
    assert model.spec.cam_layers == ("net.layer2", "net.layer3", "net.layer4")
    meta = model.checkpoint_meta
    assert meta["command"].startswith("attrbench train ") and f"--arch bagnet{q}" in meta["command"]
    assert meta["metrics"]["test_accuracy"] > 1.5 / classes
    if "synthbirds" in name:
        assert meta["metrics"]["no_bird_accuracy"] < meta["metrics"]["test_accuracy"]
    # the trained model's logits on seeded random images were stored at training time
    with torch.no_grad():
        logits = model(probe_inputs(model.spec.input_size))
    expected = torch.tensor(meta["probe"]["logits"])
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", [None, *SHIPPED])
def test_truth_sums_to_logit_difference_for_random_and_trained_weights(name: str | None) -> None:
    if name is None:
        model = tiny_bagnet(17, num_classes=5, dtype=torch.float64)
    else:
        path = shipped_dir() / f"{name}.pt"
        if not path.is_file():
            pytest.fail(f"shipped checkpoint {path} is missing")
        model = load_checkpoint(path).double()
    h, w = model.spec.input_size
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, h, w, generator=gen, dtype=torch.float64)
    labels = torch.tensor([0, model.spec.num_outputs - 1])
    # a random image as baseline (constant baselines are covered in tests/test_ground_truth.py)
    baseline = torch.rand(2, 3, h, w, generator=gen, dtype=torch.float64)
    g = patch_truth(model, x, labels=labels, baseline=baseline)
    with torch.no_grad():
        expected = (model(x) - model(baseline)).gather(1, labels[:, None])[:, 0]
    torch.testing.assert_close(g.sum((1, 2)), expected, rtol=0, atol=1e-8)


CIFAR10_ROOT = Path(__file__).resolve().parents[2] / "shared/data/cifar10"


def _test_probe_check(name: str, dataset) -> None:  # noqa: ANN001
    """The stored logits of evenly spaced test samples are reproduced from the dataset's files."""
    model = load_model(name)
    probe = model.checkpoint_meta["test_probe"]
    assert len(probe["ids"]) == len(probe["logits"]) > 0
    index = {sample_id: i for i, sample_id in enumerate(dataset.ids)}
    samples = [dataset[index[i]] for i in probe["ids"]]
    assert [s.label for s in samples] == probe["labels"]
    with torch.no_grad():
        logits = model(torch.stack([s.image for s in samples]))
    torch.testing.assert_close(logits, torch.tensor(probe["logits"]), rtol=1e-4, atol=1e-4)


@pytest.mark.data
@pytest.mark.skipif(not CIFAR10_ROOT.is_dir(), reason=f"needs the CIFAR-10 copy at {CIFAR10_ROOT}")
@pytest.mark.parametrize("name", [n for n in SHIPPED if n.endswith("cifar10")])
def test_shipped_cifar10_reproduces_stored_test_logits(name: str) -> None:
    from attrbench.datasets.imagefolder import ImageFolder

    size = load_model(name).spec.input_size[0]
    _test_probe_check(name, ImageFolder(root=CIFAR10_ROOT, split="test", image_size=size))

