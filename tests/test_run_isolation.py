"""Issue 12 in the run loop: a bad sample, map or method fails only itself (cases 6, 7; SystemExit,
labels, option validation, exit status)."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
import torch
from PIL import Image

from attrbench.cli import main
from attrbench.postprocess import PostProcess
from attrbench.results import load_run
from attrbench.runner import RunConfig, run
from attrbench.testing import faulty, toys

MODEL = toys.MODEL  # 32 x 32 tiny BagNet addressable by name
IXG = "attrbench.testing.toys:ToyInputXGradient"


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("attrbench: error: ")
    return err[0]


def _masks_folder(root, n: int = 4, *, corrupt: tuple[int, ...] = (), empty: tuple[int, ...] = ()) -> None:
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        image = root / "images" / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(image)
        mask = np.zeros((32, 32), dtype=np.uint8)
        mask[8:24, 8:24] = 255
        Image.fromarray(mask).save(root / "masks" / f"img{i}.png")
        if i in corrupt:
            image.write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
        if i in empty:
            image.write_bytes(b"")


def test_corrupt_and_empty_images_fail_only_their_samples(tmp_path, capsys) -> None:
    """Case 7: a corrupt image (the first one: applicability uses the first that loads) and a 0-byte one."""
    _masks_folder(tmp_path / "data", n=5, corrupt=(0,), empty=(3,))
    out = tmp_path / "run"
    rc = main(["run", "--quiet", "--method", "saliency", "--method", IXG, "--model", MODEL, "--dataset", "masksfolder",
               "--data-root", str(tmp_path / "data"), "--metrics", "gt,localisation", "--batch-size", "2",
               "--out", str(out)])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    rec = load_run(out).records
    names = set(rec["metric"])
    assert {"gt_spearman", "loc_energy_mask"} <= names
    for method in ("saliency", IXG):
        mine = rec[rec["method"] == method]
        for sid, failed in (("img0", True), ("img1", False), ("img2", False), ("img3", True), ("img4", False)):
            rows = mine[mine["sample_id"].str.contains(sid)]
            assert set(rows["metric"]) == names  # every value name, failed or not
            # a chance-corrected value is undefined (NaN) where every patch of the truth is positive
            corrected = rows["metric"].str.endswith("_corrected") & rows["error"].str.contains("chance level is 1")
            rows = rows[~corrected] if not failed else rows
            assert (rows["status"] == "failed").all() == failed and (rows["status"] == "ok").all() != failed
        bad = mine[mine["sample_id"].str.contains("img0")]
        assert bad["error"].str.contains("img0.png").all() and bad["error"].str.contains("could not be loaded").all()


def test_wrong_resolution_map_fails_its_method_only(tmp_path) -> None:
    """Case 6: one method's maps have the wrong resolution; the other method's results are kept."""
    out = tmp_path / "run"
    run(RunConfig(methods=["saliency", "attrbench.testing.faulty:WrongResolution"], model=MODEL,
                  dataset=toys.DATASET, metrics=["gt"], n_samples=4, sampling="first", batch_size=2, out=str(out), device="cpu",
                  progress=False))  # fmt: skip
    rec = load_run(out).records
    bad = rec[rec["method"] == "attrbench.testing.faulty:WrongResolution"]
    assert len(bad) and (bad["status"] == "failed").all()
    assert bad["error"].str.contains("post-processing").all() and bad["error"].str.contains("resolution").all()
    good = rec[rec["method"] == "saliency"].reset_index(drop=True)
    alone = tmp_path / "alone"
    run(RunConfig(methods=["saliency"], model=MODEL, dataset=toys.DATASET, metrics=["gt"], n_samples=4, sampling="first", batch_size=2,
                  out=str(alone), device="cpu", progress=False))  # fmt: skip
    ref = load_run(alone).records
    assert len(good) == len(bad) == len(ref) and (good["status"] == "ok").sum() > len(good) // 2
    cols = ["sample_id", "metric", "value", "status"]
    assert good[cols].equals(ref[cols])  # the other method's results are those of a run without the bad one


@dataclasses.dataclass(frozen=True)
class _FailOnMark(PostProcess):
    """Post-processing whose step raises on a map carrying faulty.MARK."""

    def __call__(self, raw, **kwargs):  # noqa: ANN001, ANN003, ANN204 - PostProcess.__call__
        if bool((raw[:, 0, 0, 0] == faulty.MARK).any()):
            raise ValueError("step failed on a marked map")
        return super().__call__(raw, **kwargs)


def test_failing_post_processing_fails_that_sample_only(tmp_path) -> None:
    out = tmp_path / "run"
    run(RunConfig(methods=["attrbench.testing.faulty:MarkFirst"], model=MODEL, dataset=toys.DATASET, metrics=["gt"],
                  n_samples=4, sampling="first", batch_size=2, out=str(out), device="cpu", progress=False, postprocess=_FailOnMark()))  # fmt: skip
    rec = load_run(out).records
    failed = sorted(set(rec.loc[rec["status"] == "failed", "sample_id"]))
    assert failed == ["toy0", "toy2"]  # the first sample of each batch of 2
    assert rec.loc[rec["status"] == "failed", "error"].str.contains("step failed on a marked map").all()
    assert (rec.loc[~rec["sample_id"].isin(failed), "status"] == "ok").all()


def test_system_exit_in_a_method_is_a_recorded_failure(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    rc = main(["run", "--quiet", "--method", "saliency", "--method", "attrbench.testing.faulty:ExitingMethod",
               "--model", MODEL, "--dataset", toys.DATASET, "--metrics", "gt", "--n-samples", "2", "--out", str(out)])  # fmt: skip
    assert rc == 0
    rec = load_run(out).records
    bad = rec[rec["method"] == "attrbench.testing.faulty:ExitingMethod"]
    assert len(bad) and (bad["status"] == "failed").all() and bad["error"].str.contains("SystemExit").all()
    assert (rec.loc[rec["method"] == "saliency", "status"] == "ok").all()


def test_keyboard_interrupt_still_stops_the_run(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    rc = main(["run", "--quiet", "--method", "attrbench.testing.faulty:InterruptingMethod", "--model", MODEL,
               "--dataset", toys.DATASET, "--metrics", "gt", "--n-samples", "2", "--out", str(out)])  # fmt: skip
    assert rc == 130 and "interrupted" in capsys.readouterr().err
    assert not (out / "records.parquet").exists() and not (out / ".lock").exists()  # resumable, not owned


def test_exit_status_is_one_only_when_nothing_succeeded(tmp_path, capsys) -> None:
    args = ["--model", MODEL, "--dataset", toys.DATASET, "--metrics", "gt", "--n-samples", "2", "--quiet"]
    assert main(["run", "--method", "attrbench.testing.faulty:AlwaysFailing", "--out", str(tmp_path / "a"), *args]) == 1
    assert "no record succeeded" in capsys.readouterr().err
    assert main(["run", "--method", "attrbench.testing.faulty:AlwaysFailing", "--method", "saliency",
                 "--out", str(tmp_path / "b"), *args]) == 0  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("deletion[steps=abc]", "deletion[steps=abc]: option 'steps' expects int"),
     ("gt[rule=]", "gt[rule=]: option 'rule' has an empty value")],
)
def test_bad_metric_options_are_one_line_before_the_model_loads(spec, expected, tmp_path, capsys) -> None:
    rc = main(["run", "--quiet", "--method", "saliency", "--metrics", spec, "--model", "no.such.module:make",
               "--out", str(tmp_path / "r")])  # fmt: skip
    assert rc == 2 and expected in _error_line(capsys)  # the (missing) model was never loaded


def test_empty_method_option_is_refused_up_front(tmp_path, capsys) -> None:
    rc = main(["run", "--quiet", "--method", "gradcam[layer=]", "--model", MODEL, "--dataset", toys.DATASET,
               "--out", str(tmp_path / "r")])  # fmt: skip
    assert rc == 2 and "option 'layer' has an empty value" in _error_line(capsys)
    assert not (tmp_path / "r").exists()


def test_equivalent_specs_share_one_label(tmp_path) -> None:
    out = tmp_path / "run"
    run(RunConfig(methods=["saliency[]", " ig [ n_steps = 4 ] "], model=MODEL, dataset=toys.DATASET, metrics=["gt"],
                  n_samples=2, sampling="first", out=str(out), device="cpu", progress=False))  # fmt: skip
    data = load_run(out)
    assert list(dict.fromkeys(data.records["method"])) == ["saliency", "ig[n_steps=4]"]
    assert data.config["methods"] == ["saliency", "ig[n_steps=4]"]


def test_max_forward_batch_zero_is_refused(tmp_path, capsys) -> None:
    rc = main(["run", "--quiet", "--method", "saliency", "--max-forward-batch", "0", "--model", MODEL,
               "--dataset", toys.DATASET, "--out", str(tmp_path / "r")])  # fmt: skip
    assert rc == 2 and "--max-forward-batch must be an integer >= 1, got 0" in _error_line(capsys)


def test_run_files_honour_the_umask_and_record_the_thread_count(tmp_path) -> None:
    old = os.umask(0o022)
    try:
        out = tmp_path / "run"
        run(RunConfig(methods=["saliency"], model=MODEL, dataset=toys.DATASET, metrics=["gt"], n_samples=2, sampling="first",
                      out=str(out), device="cpu", progress=False))  # fmt: skip
    finally:
        os.umask(old)
    for name in ("config.json", "records.parquet", "curves.parquet", "summary.csv"):
        assert (out / name).stat().st_mode & 0o777 == 0o644, name
    assert load_run(out).config["torch_threads"] == torch.get_num_threads()
