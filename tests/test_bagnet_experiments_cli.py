"""``attrbench experiment bagnet-*`` end to end on toy models and a tiny image folder: outputs, byte-equal
reproduction by seed, the generated README."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from attrbench.cli import main as cli

BAG = "attrbench.testing.bagnet_toys:toy_bagnet9,attrbench.testing.bagnet_toys:toy_bagnet17"
CMP = "attrbench.testing.bagnet_toys:toy_resnet,attrbench.testing.bagnet_toys:toy_resnet_40px"  # two input sizes

#: experiment -> (folder, extra options kept small for the test)
RUNS: dict[str, tuple[str, list[str]]] = {
    "bagnet-interaction": ("interaction", ["--squares", "16"]),
    "bagnet-logit-correlation": ("logit_correlation", []),
    "bagnet-scrambling": ("scrambling", ["--tiles", "16"]),
    "bagnet-errors": ("errors", []),
    "bagnet-spatial-sensitivity": ("spatial_sensitivity", ["--methods", "saliency,gradcam", "--max-patches", "4"]),
    "bagnet-predictive-patches": ("predictive_patches", ["--per-class", "2", "--wrong", "2"]),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """root/test/<class>/<k>.png: 5 classes x 2 random 48 px images."""
    root = tmp_path_factory.mktemp("folder")
    rng = np.random.default_rng(0)
    for c in range(5):
        (root / "test" / f"c{c}").mkdir(parents=True)
        for k in range(2):
            Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(root / "test" / f"c{c}" / f"{k}.png")
    return root


def _run(name: str, folder: Path, out: Path, seed: int = 0) -> None:
    sub, extra = RUNS[name]
    assert cli(["experiment", name, "--dataset", "imagefolder", "--data-root", str(folder), "--bagnets", BAG,
                "--comparison", CMP, "--n-images", "10", "--seed", str(seed), "--device", "cpu",
                "--out", str(out / sub), *extra]) == 0  # fmt: skip


def _files(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.suffix in (".csv", ".md", ".tex", ".png", ".pdf")}


@pytest.mark.parametrize("name", list(RUNS))
def test_experiment_writes_tables_and_figures_reproducibly(name: str, folder: Path, tmp_path: Path) -> None:
    _run(name, folder, tmp_path / "a")
    _run(name, folder, tmp_path / "b")
    sub = RUNS[name][0]
    a, b = _files(tmp_path / "a" / sub), _files(tmp_path / "b" / sub)
    assert {Path(n).suffix for n in a} >= {".csv", ".md", ".tex", ".png", ".pdf"}
    assert a == b  # tables and figures byte-equal for the same seed
    assert (tmp_path / "a" / sub / "command.txt").read_text().startswith(f"attrbench experiment {name} ")


def test_readme_lists_every_claim_from_the_tables(folder: Path, tmp_path: Path) -> None:
    for name in ("bagnet-interaction", "bagnet-logit-correlation", "bagnet-scrambling"):
        _run(name, folder, tmp_path)
    assert cli(["experiment", "bagnet-all", "--readme-only", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "README.md").read_text()
    from attrbench.experiments.bagnet.paper import CLAIMS

    for claim in CLAIMS:
        assert claim.text in text
    row = next(line for line in text.splitlines() if "add up exactly" in line)
    assert "| holds |" in row  # toy BagNet-9 and -17 at q = 16 >= r - 1; the toy ResNets lower
    assert "| not run |" in next(line for line in text.splitlines() if "Fig. 8: BagNet order" in line)
    assert "`interaction`: `attrbench experiment bagnet-interaction" in text


def test_absent_default_comparison_networks_are_skipped_with_a_note(folder: Path, tmp_path: Path) -> None:
    # no resnet-imagefolder / vgg-imagefolder is shipped: the default comparison list is empty
    for name in ("bagnet-interaction", "bagnet-logit-correlation", "bagnet-spatial-sensitivity"):
        sub, extra = RUNS[name]
        assert cli(["experiment", name, "--dataset", "imagefolder", "--data-root", str(folder), "--bagnets", BAG,
                    "--n-images", "5", "--device", "cpu", "--out", str(tmp_path / sub), *extra]) == 0  # fmt: skip
    assert "resnet-imagefolder, vgg-imagefolder not shipped" in (tmp_path / "interaction" / "notes.txt").read_text()
    assert (tmp_path / "interaction" / "interaction.csv").is_file()  # the BagNets alone
    assert not (tmp_path / "logit_correlation" / "logit_correlation.csv").exists()
    assert "skipped" in (tmp_path / "spatial_sensitivity" / "notes.txt").read_text()
    assert cli(["experiment", "bagnet-all", "--readme-only", "--out", str(tmp_path)]) == 0
    lines = (tmp_path / "README.md").read_text().splitlines()
    assert "| not run |" in next(line for line in lines if "more strongly for larger q" in line)
    assert "| inconclusive |" in next(line for line in lines if "add up exactly" in line)
    assert "## Notes" in lines


def _scrambling_readme_row(tmp_path: Path, scrambled_top1: float) -> str:
    import pandas as pd

    from attrbench.experiments.bagnet.readme import build_readme

    (tmp_path / "scrambling").mkdir(exist_ok=True)
    rows = [{"model": "b9", "tile (px)": "none", "top-1": 0.5, "top-1 ci low": 0.4, "top-1 ci high": 0.6,
             "bagnet interior share": float("nan"), "aligned t >= q": False},
            {"model": "b9", "tile (px)": "16", "top-1": scrambled_top1, "top-1 ci low": scrambled_top1 - 0.1,
             "top-1 ci high": scrambled_top1 + 0.1, "bagnet interior share": 0.36, "aligned t >= q": True}]  # fmt: skip
    pd.DataFrame(rows).to_csv(tmp_path / "scrambling" / "scrambling.csv", index=False)
    return next(line for line in build_readme(tmp_path).splitlines() if "shuffling tiles aligned" in line)


def test_readme_bagnet_scrambling_rule_uses_the_unscrambled_interval(tmp_path: Path) -> None:
    assert "| holds |" in _scrambling_readme_row(tmp_path, 0.45)  # inside [0.4, 0.6]
    row = _scrambling_readme_row(tmp_path, 0.3)  # below it
    assert "| does not hold |" in row and "border effects" in row and "36%" in row
