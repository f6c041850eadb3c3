"""scripts/train_all.sh re-trains from the commands recorded in the checkpoints (toy checkpoints)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attrbench.checkpoint_table import recorded_commands
from attrbench.cli import main as cli_main
from attrbench.models.zoo import load_checkpoint

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train_all.sh"


@pytest.fixture(scope="module")
def toys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two tiny BagNet-9 checkpoints trained by the CLI on a 2-class image folder, and a copy of one."""
    root = tmp_path_factory.mktemp("trainall")
    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("test", 2)):
        for channel, name in ((0, "red"), (2, "blue")):
            (root / "data" / split / name).mkdir(parents=True)
            for k in range(n):
                arr = rng.integers(0, 120, size=(24, 24, 3), dtype=np.uint8)
                arr[..., channel] += 120
                Image.fromarray(arr).save(root / "data" / split / name / f"{k}.png")
    for name, seed in (("alpha-toy", "0"), ("beta-toy", "1")):
        argv = ["train", "--arch", "bagnet9", "--dataset", "imagefolder", "--data-root", str(root / "data"),
                "--image-size", "24", "--width", "4", "--epochs", "1", "--batch-size", "4", "--seed", seed,
                "--threads", "1", "--no-progress", "--out", str(root / "ckpt" / f"{name}.pt")]  # fmt: skip
        assert cli_main(argv) == 0
    shutil.copy(root / "ckpt" / "beta-toy.pt", root / "ckpt" / "beta-toy-copy.pt")
    return root


def test_recorded_commands_one_per_run(toys: Path) -> None:
    listed = recorded_commands(toys / "ckpt")
    assert [names for names, _ in listed] == ["alpha-toy", "beta-toy,beta-toy-copy"]
    assert all(cmd.startswith("attrbench train --arch bagnet9") for _, cmd in listed)
    assert recorded_commands(toys / "ckpt", patterns=("alpha", "nothing")) == listed[:1]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_script_retrains_selected_models_bit_identically(toys: Path) -> None:
    before = {n: load_checkpoint(toys / "ckpt" / f"{n}.pt").net.state_dict() for n in ("alpha-toy", "beta-toy")}
    (toys / "ckpt" / "beta-toy.pt").unlink()  # must be re-created from beta-toy-copy's recorded command
    env = {**os.environ, "CHECKPOINTS": str(toys / "ckpt"), "LOG_DIR": str(toys / "logs"),
           "TABLE_DIR": str(toys / "tables"), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # fmt: skip
    done = subprocess.run(["bash", str(SCRIPT), "beta"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = (toys / "logs" / "train_all.log").read_text().splitlines()
    assert len(lines) == 1 and lines[0].split()[1:3] == ["beta-toy-copy", "ok"] and lines[0].endswith(" s")
    again = load_checkpoint(toys / "ckpt" / "beta-toy.pt").net.state_dict()
    assert all(torch.equal(again[k], before["beta-toy"][k]) for k in again)  # same seed, same threads
    assert (toys / "tables" / "checkpoints.md").is_file()
    missing = subprocess.run(["bash", str(SCRIPT), "gamma"], env=env, capture_output=True, text=True, timeout=600)
    assert missing.returncode == 2 and "no shipped checkpoint matches: gamma" in missing.stderr
