"""`attrbench run` / `attrbench list`: user errors are one line with exit code 2; a user model
(module:factory) and an images+masks folder run end to end."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from attrbench.cli import main
from attrbench.results import load_run

FACTORY = textwrap.dedent(
    """
    import torch
    from attrbench.testing.models import tiny_bagnet

    def make():
        return tiny_bagnet(9, num_classes=3, width=4, seed=1, dtype=torch.float32, input_size=(48, 48))
    """
)


@pytest.fixture
def user_model(tmp_path, monkeypatch) -> str:
    (tmp_path / "usermodels_cli.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "usermodels_cli:make"


def _write_masks_folder(root, n: int = 3) -> None:
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(root / "images" / f"img{i}.png")
        mask = np.zeros((48, 48), dtype=np.uint8)
        mask[8:32, 8 + 4 * i : 32 + 4 * i] = 255
        Image.fromarray(mask).save(root / "masks" / f"img{i}.png")


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("attrbench: error: ")
    return err[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--method", "igg"], "Unknown method 'igg'. Did you mean 'ig'"),
        (["--method", "ig", "--metrics", "deletoin"], "Unknown metric 'deletoin'. Did you mean 'deletion'"),
        (["--method", "ig", "--dataset", "synthbird"], "Unknown dataset 'synthbird'. Did you mean 'synthbirds'"),
    ],
)
def test_unknown_names_suggest(args, expected, capsys, tmp_path) -> None:
    assert main(["run", "--quiet", "--out", str(tmp_path / "r"), *args]) == 2
    assert expected in _error_line(capsys)


def test_unknown_model(capsys, tmp_path) -> None:
    assert main(["run", "--quiet", "--method", "ig", "--model", "bagnet17-imagenett", "--out", str(tmp_path / "r")]) == 2
    assert "Unknown model 'bagnet17-imagenett'. Did you mean 'bagnet17-imagenet'" in _error_line(capsys)


def test_empty_dataset_and_missing_masks(capsys, tmp_path, user_model) -> None:
    empty = tmp_path / "empty"
    (empty / "images").mkdir(parents=True)
    (empty / "masks").mkdir()
    rc = main(["run", "--quiet", "--method", "saliency", "--model", user_model, "--dataset", "masksfolder",
               "--data-root", str(empty), "--out", str(tmp_path / "r1")])  # fmt: skip
    assert rc == 2 and "no images" in _error_line(capsys)
    folder = tmp_path / "plain" / "test" / "cls0"
    folder.mkdir(parents=True)
    Image.fromarray(np.zeros((48, 48, 3), dtype=np.uint8)).save(folder / "a.png")
    rc = main(["run", "--quiet", "--method", "saliency", "--model", user_model, "--dataset", "imagefolder",
               "--data-root", str(tmp_path / "plain"), "--metrics", "localisation", "--out", str(tmp_path / "r2")])  # fmt: skip
    assert rc == 2
    assert "metric 'localisation' needs object masks; dataset 'imagefolder' has none" in _error_line(capsys)
    assert not (tmp_path / "r2" / "shards").exists()


def test_user_model_and_masks_folder_end_to_end(capsys, tmp_path, user_model) -> None:
    root = tmp_path / "data"
    _write_masks_folder(root)
    out = tmp_path / "run"
    rc = main(["run", "--quiet", "--method", "saliency", "--method", "attrbench.testing.toys:ToyInputXGradient",
               "--model", user_model, "--dataset", "masksfolder", "--data-root", str(root),
               "--metrics", "gt[topk=20],deletion[steps=2],localisation", "--batch-size", "2", "--out", str(out)])  # fmt: skip
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert f"run directory: {out}" in printed and "loc_energy_mask" in printed
    data = load_run(out)
    assert set(data.records["method"]) == {"saliency", "attrbench.testing.toys:ToyInputXGradient"}
    assert (data.records["status"] == "ok").all()
    assert set(data.records["sample_id"]) == {"img0", "img1", "img2"}
    assert data.config["model"] == "tiny-bagnet9" and data.config["dataset"] == "masksfolder"
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["n"]) == {3}


def test_list(capsys) -> None:
    assert main(["list", "metrics"]) == 0
    out = capsys.readouterr().out
    assert "deletion_auc (lower is better)" in out and out.splitlines()[0].startswith("deletion")
    assert main(["list", "tracks"]) == 0
    assert capsys.readouterr().out.split() == ["classification", "embedding"]
