"""Doc test: the README's "Bring your own model" code and commands run as written, in a fresh directory.

The python block is written to the file its first line names (``# mymodel.py``); the bash lines
run in that directory with no PYTHONPATH, through the installed ``attrbench`` command, on a small
folder of rectangular photos with object masks (the README's ``photos/``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

README = Path(__file__).resolve().parents[1] / "README.md"


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Bring your own model")
    end = text.index("\n## ", start + 3)
    return text[start:end]


def _blocks(section: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", section, flags=re.S)


def _photos(root: Path) -> None:
    """Four 80 x 60 photos (rectangular) with a bright object and its mask."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        img = (rng.random((60, 80, 3)) * 80).astype(np.uint8)
        mask = np.zeros((60, 80), dtype=np.uint8)
        mask[15 + i : 40 + i, 20 : 50 + 2 * i] = 255
        img[mask > 0] = 220
        Image.fromarray(img).save(root / "images" / f"photo{i}.png")
        Image.fromarray(mask).save(root / "masks" / f"photo{i}.png")


def _argv(line: str) -> list[str]:
    words = shlex.split(line)
    if words[0] == "python":
        return [sys.executable, *words[1:]]
    assert words[0] == "attrbench", line
    script = shutil.which("attrbench", path=str(Path(sys.executable).parent)) or shutil.which("attrbench")
    assert script, "the attrbench command is not installed"
    return [script, *words[1:]]


def test_readme_bring_your_own_model_runs_as_written(tmp_path) -> None:
    section = _section()
    (code,) = _blocks(section, "python")
    name = code.splitlines()[0].removeprefix("# ").strip()
    assert name == "mymodel.py"
    (tmp_path / name).write_text(code, encoding="utf-8")
    _photos(tmp_path / "photos")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["ATTRBENCH_CACHE"] = str(tmp_path / "cache")
    (commands,) = _blocks(section, "bash")
    lines = [line for line in commands.splitlines() if line.strip()]
    assert any("--weights" in line and "--model-arg" in line for line in lines)
    for line in lines:
        proc = subprocess.run(_argv(line), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{line}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    run_dir = tmp_path / "runs" / "smallnet"
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["model"] == "smallnet" and cfg["model_source"] == "mymodel:make"
    assert cfg["weights"] == "smallnet.pt" and cfg["model_args"] == {"width": "8"}
    import pandas as pd

    records = pd.read_parquet(run_dir / "records.parquet")
    assert (records["status"] == "ok").all() and records["sample_id"].nunique() == 4
    assert {"saliency", "gradcam", "ig[internal_batch_size=16]"} == set(records["method"])
    _gallery_as_documented(section, tmp_path)


def _gallery_as_documented(section: str, tmp_path: Path) -> None:
    """The README's gallery command rebuilds the factory model; without --model the run refuses to import code."""
    import pytest as _pytest

    from attrbench.cli import main

    (command,) = re.findall(r"`(attrbench report runs/smallnet[^`]*)`", section)
    argv = shlex.split(command)[1:]
    assert "--model" in argv
    with _pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        mp.setattr(sys, "path", list(sys.path))  # the working directory is added for mymodel; restored after
        assert main([*argv, "--out", "figs", "--format", "png"]) == 0
        assert (tmp_path / "figs" / "gallery.png").is_file()
        without = [a for i, a in enumerate(argv) if a != "--model" and (i == 0 or argv[i - 1] != "--model")]
        from attrbench.errors import DataError
        from attrbench.gallery import compute_gallery

        with _pytest.raises(DataError, match="pass --model mymodel:make"):
            compute_gallery("runs/smallnet", samples=["photo0"], device="cpu")
        assert "--gallery" in without
    sys.modules.pop("mymodel", None)


def test_python_dash_m_attrbench_help() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-m", "attrbench", "--help"], capture_output=True, text=True, env=env,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 0 and "usage: attrbench" in proc.stdout


@pytest.mark.parametrize("needle", ["cam_layer", "normalis", "functional", "class_names", "--model-arg", "--weights"])
def test_readme_section_covers(needle) -> None:
    assert needle in _section()
