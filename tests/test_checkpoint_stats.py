"""Derived checkpoint numbers on toy checkpoints trained in seconds: truth mass inside the bird mask
(against a brute-force loop over patch windows), coverage (closed form), the cache, the re-checks and
the checkpoint table's new columns."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from attrbench import checkpoint_stats as cs
from attrbench.checkpoint_table import write_table
from attrbench.datasets.synthbirds import SynthBirds
from attrbench.models.zoo import load_checkpoint
from attrbench.train import train

DATA = {"num_classes": 2, "train_per_class": 4, "test_per_class": 3}
SIZE = 40  # not 9 + 8k: a BagNet-9 sees 9 + 8 * 3 = 33 of 40 pixels per side


@pytest.fixture(scope="module")
def toys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A BagNet-9 and a small ResNet trained for one epoch on a 2-class SynthBirds (own cache)."""
    root = tmp_path_factory.mktemp("toys")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ATTRBENCH_CACHE", str(root / "cache"))
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for arch in ("bagnet9", "resnet"):
                train(arch=arch, dataset="synthbirds", image_size=SIZE, width=4, epochs=1, batch_size=4, lr=1e-2,
                      weight_decay=0.0, seed=0, device=torch.device("cpu"), out=root / "ckpt" / f"{arch}-toy.pt",
                      dataset_args=DATA, command=f"attrbench train --arch {arch} (test)", progress=False)  # fmt: skip
            yield root / "ckpt"
        finally:
            torch.set_num_threads(before)


def _brute_force_share(model, image: torch.Tensor, label: int, mask: torch.Tensor, *, uniform: bool = False) -> float:  # noqa: ANN001
    """sum_p g_p+ * mean(mask over RF(p)) / sum_p g_p+, with an explicit loop over the windows
    (``uniform``: g_p = 1 for every patch, the chance level)."""
    q, stride = model.spec.receptive_field, model.spec.rf_stride
    with torch.no_grad():
        logits = model.patch_logits(image[None].to(torch.float32))[0, :, :, label].double()
    bias = float(model.net.fc.bias[label].detach())
    num = den = 0.0
    for i in range(logits.shape[0]):
        for j in range(logits.shape[1]):
            g = 1.0 if uniform else max(float(logits[i, j]) - bias, 0.0)
            num += g * float(mask[0, i * stride : i * stride + q, j * stride : j * stride + q].double().mean())
            den += g
    return num / den


def test_truth_mass_equals_brute_force_and_coverage_closed_form(toys: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTRBENCH_CACHE", str(toys.parent / "cache"))
    model = load_checkpoint(toys / "bagnet9-toy.pt")
    got = cs.truth_mass_in_mask(model, batch_size=4)
    data = SynthBirds(split="test", image_size=SIZE, **DATA)
    shares = [_brute_force_share(model, s.image, int(s.label), s.mask) for s in (data[i] for i in range(len(data)))]
    assert got["n_images"] == 6 and got["n_without_positive_mass"] == 0
    assert got["value"] == pytest.approx(sum(shares) / len(shares), abs=1e-6)
    samples = [data[i] for i in range(len(data))]
    chance = [_brute_force_share(model, s.image, int(s.label), s.mask, uniform=True) for s in samples]
    assert got["chance"] == pytest.approx(sum(chance) / len(chance), abs=1e-9)
    assert 0 < got["chance"] < 1 and got["chance"] != pytest.approx(got["value"])
    # ceiling: the most-bird window of each image, by the same explicit loop (a one-hot map on it reaches it)
    q, stride = model.spec.receptive_field, model.spec.rf_stride
    best = [max(float(s.mask[0, i * stride : i * stride + q, j * stride : j * stride + q].double().mean())
                for i in range(4) for j in range(4)) for s in samples]  # fmt: skip
    assert got["ceiling"] == pytest.approx(sum(best) / len(best), abs=1e-9)
    assert got["value"] <= got["ceiling"] <= 1
    assert all(share <= b + 1e-12 for share, b in zip(shares, best))
    assert got["normalised"] == pytest.approx((got["value"] - got["chance"]) / (got["ceiling"] - got["chance"]))
    assert cs.coverage(model) == pytest.approx((33 / 40) ** 2, abs=1e-12)
    resnet = load_checkpoint(toys / "resnet-toy.pt")
    assert cs.coverage(resnet) is None and cs.truth_mass_in_mask(resnet) is None


def test_cache_recheck_table_and_machine(toys: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ATTRBENCH_CACHE", str(toys.parent / "cache"))
    path = toys / "bagnet9-toy.pt"
    first = cs.derived(path)
    assert cs.derived_path(path).is_file() and cs.derived(path) == first
    stale = {**first, "truth_mass_in_mask": {"value": 0.123}, "sha256": "0" * 64}
    cs.derived_path(path).write_text(json.dumps(stale))
    assert cs.derived(path) == first  # a cache of another file is recomputed
    check = cs.recheck(path)
    meta = load_checkpoint(path).checkpoint_meta
    assert check["recomputed"]["test_accuracy"] == meta["metrics"]["test_accuracy"] == check["stored"]["test_accuracy"]
    assert check["recomputed"]["no_bird_accuracy"] == meta["metrics"]["no_bird_accuracy"]
    assert check["recomputed"]["max_logit_error"] < 1e-4 and check["n_test"] == 6
    assert check["recomputed"]["derived"]["truth_mass_in_mask"] == check["stored"]["derived"]["truth_mass_in_mask"]
    machine = meta["machine"]
    assert machine["cpu"] and machine["logical_cpus"] >= 1 and machine["torch_threads"] == 1
    csv_path, md_path = write_table(directory=toys, out_dir=tmp_path)
    rows = {r["model"]: r for r in csv.DictReader(csv_path.read_text().splitlines())}
    assert float(rows["bagnet9-toy"]["truth_mass_in_mask"]) == first["truth_mass_in_mask"]["value"]
    assert float(rows["bagnet9-toy"]["coverage"]) == pytest.approx((33 / 40) ** 2)
    assert rows["resnet-toy"]["truth_mass_in_mask"] == rows["resnet-toy"]["coverage"] == ""
    assert rows["resnet-toy"]["seed"] == "0" and "num_classes=2" in rows["resnet-toy"]["data_args"]
    assert "logical CPUs" in rows["resnet-toy"]["machine"]
    md = md_path.read_text()
    assert "| resnet-toy | synthbirds | 40x40 |" in md and "truth mass over 6 test images" in md
    (line,) = [line for line in md.splitlines() if line.startswith("| resnet-toy")]
    assert line.split(" | ")[11:13] == ["-", "-"]  # truth mass and coverage: not a BagNet


def test_embedding_recall_is_rechecked(tmp_path: Path) -> None:
    from attrbench.cli import main as cli_main
    from attrbench.datasets.synthbirds import generate

    root = generate(tmp_path / "cub", num_classes=4, train_per_class=3, test_per_class=1, image_size=32)
    out = tmp_path / "embed.pt"
    argv = ["train-embedding", "--dataset", "cub200", "--data-root", str(root), "--image-size", "32", "--width", "2",
            "--dim", "8", "--epochs", "1", "--classes-per-batch", "2", "--images-per-class", "2", "--out", str(out)]  # fmt: skip
    assert cli_main(argv) == 0
    check = cs.recheck_embedding(out)
    assert check["n_test"] == 8  # the unseen half: 2 classes x (3 + 1) images
    assert set(check["stored"]) == {"test_recall@1", "test_recall@5"}
    assert check["recomputed"] == check["stored"]
