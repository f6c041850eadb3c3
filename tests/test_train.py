"""The trainer: tiny seeded runs on an image folder written by the test, the CLI, the table."""

from __future__ import annotations

import csv
import json
import shlex
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attrbench.cli import build_parser
from attrbench.cli import main as cli_main
from attrbench.models.zoo import load_checkpoint
from attrbench.checkpoint_table import write_table
from attrbench.train import _augment, probe_inputs, recalibrate_batchnorm, train


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny convolutions run fastest on one thread; on a busy machine extra threads mostly wait."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """root/{train,test}/{red,blue}/k.png: 24x24 noisy images, red- or blue-dominated."""
    root = tmp_path_factory.mktemp("imagefolder")
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("test", 3)):
        for channel, name in ((0, "red"), (2, "blue")):
            (root / split / name).mkdir(parents=True)
            for k in range(n):
                arr = rng.integers(0, 120, size=(24, 24, 3), dtype=np.uint8)
                arr[..., channel] += 120
                Image.fromarray(arr).save(root / split / name / f"{k:02d}.png")
    return root


def _run(folder: Path, out: Path, *, seed: int = 0) -> dict:
    return train(
        arch="bagnet9", dataset="imagefolder", data_root=folder, image_size=24, width=4,
        layers=(1, 1, 1, 1), epochs=1, batch_size=4, lr=1e-2, weight_decay=0.0, seed=seed,
        device=torch.device("cpu"), out=out, command="attrbench train (test)", progress=False,
    )  # fmt: skip


def test_same_seed_gives_identical_weights_and_a_loadable_checkpoint(folder: Path, tmp_path: Path) -> None:
    m1 = _run(folder, tmp_path / "a.pt")
    m2 = _run(folder, tmp_path / "b.pt")
    m3 = _run(folder, tmp_path / "c.pt", seed=1)
    a, b, c = (load_checkpoint(tmp_path / f"{n}.pt") for n in "abc")
    sa, sb, sc = a.net.state_dict(), b.net.state_dict(), c.net.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)  # the seed matters
    for key in ("test_accuracy", "train_loss_last_epoch", "n_train", "n_test", "params"):
        assert m1[key] == m2[key]
    assert (m1["n_train"], m1["n_test"], m1["chance"]) == (12, 6, 0.5)
    assert m3["n_train"] == 12
    spec = a.spec
    assert spec.name == "a" and spec.input_size == (24, 24) and spec.num_outputs == 2
    assert spec.class_names == ("blue", "red") and spec.receptive_field == 9
    assert spec.cam_layer == "net.layer4" and spec.cam_layers == ("net.layer2", "net.layer3", "net.layer4")
    meta = a.checkpoint_meta
    assert meta["command"] == "attrbench train (test)" and meta["seed"] == 0
    assert meta["metrics"] == m1 and meta["dataset"]["name"] == "imagefolder"
    assert set(meta["versions"]) >= {"torch", "python", "attrbench"}
    # mean/std are the training images' statistics
    pixels = torch.stack(
        [torch.from_numpy(np.array(Image.open(p), dtype=np.float32) / 255) for p in sorted(folder.glob("train/*/*.png"))]
    )
    torch.testing.assert_close(torch.tensor(spec.mean), pixels.mean((0, 1, 2)), rtol=0, atol=1e-4)
    # the stored probe logits are the loaded model's logits
    with torch.no_grad():
        torch.testing.assert_close(a(probe_inputs((24, 24))), torch.tensor(meta["probe"]["logits"]), rtol=1e-5, atol=1e-5)
    side = json.loads((tmp_path / "a.json").read_text())
    assert side["checkpoint"] == "a.pt" and side["metrics"] == m1


def test_limit_per_class_and_table(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "ckpt" / "bagnet9-tiny.pt"
    metrics = train(
        arch="bagnet9", dataset="imagefolder", data_root=folder, image_size=24, width=4,
        layers=(1, 1, 1, 1), epochs=1, batch_size=3, lr=1e-2, weight_decay=0.0, seed=0,
        device=torch.device("cpu"), out=out, train_limit_per_class=2, test_limit_per_class=1,
        command="attrbench train --arch bagnet9", progress=False,
    )  # fmt: skip
    assert (metrics["n_train"], metrics["n_test"]) == (4, 2)
    csv_path, md_path = write_table(directory=out.parent, out_dir=tmp_path / "results")
    rows = list(csv.DictReader(csv_path.read_text().splitlines()))
    assert len(rows) == 1
    row = rows[0]
    assert row["model"] == "bagnet9-tiny" and row["dataset"] == "imagefolder" and row["input_size"] == "24x24"
    assert float(row["test_accuracy"]) == metrics["test_accuracy"]
    assert int(row["params"]) == metrics["params"]
    assert float(row["file_mb"]) == round(out.stat().st_size / 1e6, 2)
    assert row["command"] == "attrbench train --arch bagnet9"
    assert "| bagnet9-tiny | imagefolder | 24x24 |" in md_path.read_text()


def test_cli_unknown_dataset_exits_2_with_suggestion(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = cli_main(["train", "--dataset", "cifar1O", "--out", str(tmp_path / "x.pt")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("attrbench: error: Unknown dataset 'cifar1O'.") and "'cifar10'" in err
    assert not (tmp_path / "x.pt").exists()


def test_cli_missing_data_root_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    code = cli_main(["train", "--dataset", "imagefolder", "--data-root", str(missing), "--out", str(tmp_path / "x.pt")])
    assert code == 2
    assert "nowhere" in capsys.readouterr().err


def test_cli_records_a_command_that_parses_back(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli.pt"
    argv = ["train", "--arch", "bagnet9", "--dataset", "imagefolder", "--data-root", str(folder),
            "--image-size", "24", "--width", "4", "--epochs", "1", "--batch-size", "4", "--lr", "0.01",
            "--limit-per-class", "2", "--threads", str(torch.get_num_threads()), "--no-progress",
            "--out", str(out)]  # fmt: skip
    assert cli_main(argv) == 0
    command = load_checkpoint(out).checkpoint_meta["command"]
    words = shlex.split(command)
    assert words[:2] == ["attrbench", "train"]
    again = build_parser().parse_args(words[1:])
    given = build_parser().parse_args(argv)
    for key in ("arch", "dataset", "data_root", "image_size", "width", "layers", "epochs", "batch_size",
                "lr", "weight_decay", "seed", "limit_per_class", "out", "threads"):  # fmt: skip
        assert getattr(again, key) == getattr(given, key), key
    assert "--layers 1,1,1,1" in command and "--weight-decay 0.0005" in command


def test_cli_refuses_bad_layers(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli_main(["train", "--layers", "1,1,1"])
    assert info.value.code == 2
    assert "four positive integers" in capsys.readouterr().err


def test_augment_translates_within_zero_padding_and_flips() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 3 * 6 * 5, dtype=torch.float32).view(2, 3, 6, 5) + 1
    assert torch.equal(_augment(x, shift=0, flip=False, generator=gen), x)
    shift = 2
    padded = torch.nn.functional.pad(x, (shift,) * 4)
    out = _augment(x, shift=shift, flip=False, generator=gen)
    for b in range(2):
        windows = [
            (r, c) for r in range(2 * shift + 1) for c in range(2 * shift + 1)
            if torch.equal(out[b], padded[b, :, r : r + 6, c : c + 5])
        ]  # fmt: skip
        assert len(windows) == 1
    flipped = [_augment(x, shift=0, flip=True, generator=gen) for _ in range(8)]
    for f in flipped:
        for b in range(2):
            assert torch.equal(f[b], x[b]) or torch.equal(f[b], x[b].flip(-1))
    assert any(not torch.equal(f, x) for f in flipped)


def test_recalibrated_batchnorm_holds_exact_statistics() -> None:
    bn = torch.nn.BatchNorm2d(3, momentum=0.001)
    model = torch.nn.Sequential(bn)
    x = torch.rand(8, 3, 5, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 4 + 1
    model.double()
    recalibrate_batchnorm(model, x, batch_size=4, device=torch.device("cpu"))  # type: ignore[arg-type]
    torch.testing.assert_close(bn.running_mean, x.mean((0, 2, 3)), rtol=0, atol=1e-12)
    # cumulative average of the two batches' unbiased variances
    var = torch.stack([x[:4].var((0, 2, 3)), x[4:].var((0, 2, 3))]).mean(0)
    torch.testing.assert_close(bn.running_var, var, rtol=0, atol=1e-12)
    assert bn.momentum == 0.001 and not model.training


def test_bf16_training_is_recorded_reproducible_and_evaluated_in_float32(folder: Path, tmp_path: Path) -> None:
    from attrbench.commands.train import PRECISIONS as CLI_PRECISIONS
    from attrbench.train import PRECISIONS

    assert CLI_PRECISIONS == PRECISIONS
    outs = []
    for name in ("a", "b"):
        argv = ["train", "--arch", "bagnet9", "--dataset", "imagefolder", "--data-root", str(folder),
                "--image-size", "24", "--width", "4", "--epochs", "1", "--batch-size", "4",
                "--limit-per-class", "2", "--threads", "1", "--precision", "bf16", "--no-progress",
                "--out", str(tmp_path / f"{name}.pt")]  # fmt: skip
        assert cli_main(argv) == 0
        outs.append(load_checkpoint(tmp_path / f"{name}.pt"))
    meta = outs[0].checkpoint_meta
    assert meta["recipe"]["precision"] == "bf16" and "--precision bf16" in meta["command"]
    a, b = (dict(o.state_dict()) for o in outs)
    assert all(v.dtype != torch.bfloat16 for v in a.values())  # weights stay float32
    assert all(torch.equal(a[k], b[k]) for k in a)  # same seed, same threads -> same weights
    fp32 = tmp_path / "fp32.pt"
    argv = [*argv[:-5], "--no-progress", "--out", str(fp32)]
    assert "--precision" not in argv and cli_main(argv) == 0
    c = dict(load_checkpoint(fp32).state_dict())
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())  # bf16 did change training
