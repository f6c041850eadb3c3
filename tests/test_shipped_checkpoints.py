"""Slow re-checks of every shipped checkpoint from the shipped files (``pytest -m slow``).

Classifiers (BagNets and the comparison networks): the stored test accuracy and no-bird accuracy
are recomputed on the checkpoint's own test split (one flipped near-tie allowed: float summation
order may differ from training time), the stored logits on probe images and test samples
reproduced to 1e-4, and for BagNets on SynthBirds the truth mass inside the bird mask and the
coverage recomputed against the cache beside the checkpoint (which the table reads). Embeddings:
the stored Recall@K on the unseen classes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from attrbench import checkpoint_stats as cs
from attrbench.models.zoo import load_checkpoint, shipped_dir

SHIPPED = sorted(p.stem for p in shipped_dir().glob("*.pt"))
CIFAR10_ROOT = Path(__file__).resolve().parents[2] / "shared/data/cifar10"


def _data_root(meta: dict) -> Path | None:
    """CIFAR-10 commands record a folder relative to the repository; look for it, else skip."""
    data = meta.get("dataset")
    if not isinstance(data, dict) or data.get("name") == "synthbirds" or data.get("root") is None:
        return None
    for candidate in (Path(data["root"]), Path(__file__).resolve().parents[1] / data["root"], CIFAR10_ROOT):
        if candidate.is_dir():
            return candidate
    pytest.skip(f"needs the {data['name']} folder recorded in the checkpoint ({data['root']})")


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_checkpoint_reproduces_its_stored_numbers(name: str) -> None:
    path = shipped_dir() / f"{name}.pt"
    model = load_checkpoint(path)
    if model.spec.kind == "embedding":
        check = cs.recheck_embedding(path)
        for key, value in check["stored"].items():
            assert value is not None, f"{name}: {key} not stored"
            assert abs(check["recomputed"][key] - value) <= 1 / check["n_test"] + 1e-12, key
        return
    check = cs.recheck(path, data_root=_data_root(model.checkpoint_meta))
    stored, got, n = check["stored"], check["recomputed"], check["n_test"]
    assert abs(got["test_accuracy"] - stored["test_accuracy"]) <= 1 / n + 1e-12
    if stored["no_bird_accuracy"] is not None:
        assert abs(got["no_bird_accuracy"] - stored["no_bird_accuracy"]) <= 1 / n + 1e-12
    assert got["max_logit_error"] <= 1e-4
    new = got["derived"]
    if new["coverage"] is None and new["truth_mass_in_mask"] is None:
        return  # not a BagNet: the table shows "-"
    assert "derived" in stored, f"{cs.derived_path(path)} missing: run `attrbench checkpoints`"
    old = stored["derived"]
    assert old["sha256"] == new["sha256"]
    assert old["coverage"] == pytest.approx(new["coverage"], abs=1e-12)
    if new["truth_mass_in_mask"] is not None:
        assert old["truth_mass_in_mask"]["n_images"] == new["truth_mass_in_mask"]["n_images"]
        assert old["truth_mass_in_mask"]["value"] == pytest.approx(new["truth_mass_in_mask"]["value"], abs=1e-6)
