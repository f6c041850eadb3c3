"""Issue 12, cases 8 and 11 and the minor ones: output places, devices, external names, disk full,
corrupt config.json, broken pipes and CUB errors end as one line with exit 2 (or cleanly)."""

from __future__ import annotations

import errno
import subprocess
import sys

import pytest

from attrbench.cli import main
from attrbench.testing import toys
from attrbench.testing.cub_fixture import write_cub_fixture

TOY = ["--model", toys.MODEL, "--dataset", toys.DATASET, "--metrics", "gt", "--n-samples", "2", "--quiet"]


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("attrbench: error: ")
    return err[0]


def test_out_naming_a_file_is_one_line(tmp_path, capsys) -> None:
    target = tmp_path / "file.txt"
    target.write_text("mine")
    assert main(["run", "--method", "saliency", *TOY, "--out", str(target)]) == 2
    assert "is a file, not a folder" in _error_line(capsys) and target.read_text() == "mine"


def test_out_in_an_unwritable_folder_is_one_line(tmp_path, capsys, monkeypatch) -> None:
    import attrbench.outdir

    locked = tmp_path / "locked"
    locked.mkdir()
    # permissions as the OS reports them (root ignores chmod, so ask os.access through a stand-in)
    monkeypatch.setattr(attrbench.outdir.os, "access", lambda p, mode: str(p) != str(locked))
    assert main(["run", "--method", "saliency", *TOY, "--out", str(locked / "run")]) == 2
    assert f"{locked} is not writable" in _error_line(capsys)
    monkeypatch.chdir(locked)
    assert main(["run", "--method", "saliency", *TOY]) == 2
    line = _error_line(capsys)
    assert "cannot create results/runs" in line and "--out" in line


def test_out_into_a_users_folder_is_refused_unless_forced(tmp_path, capsys) -> None:
    """Case 11: a folder with the user's own summary.csv is not a run directory."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "summary.csv").write_text("precious\n")
    assert main(["run", "--method", "saliency", *TOY, "--out", str(folder)]) == 2
    assert "not an attrbench run directory (summary.csv)" in _error_line(capsys)
    assert (folder / "summary.csv").read_text() == "precious\n"
    assert main(["run", "--method", "saliency", *TOY, "--out", str(folder), "--force"]) == 0
    assert (folder / "records.parquet").is_file()


def test_disk_full_is_one_line_and_leaves_no_partial_file(tmp_path, capsys, monkeypatch) -> None:
    import attrbench.results

    def full(*args, **kwargs):  # noqa: ANN002, ANN003
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(attrbench.results.pq, "write_table", full)
    out = tmp_path / "run"
    assert main(["run", "--method", "saliency", *TOY, "--out", str(out)]) == 2
    line = _error_line(capsys)
    assert "No space left on device" in line and "cannot write" in line and str(out) in line
    assert not list(out.rglob("*.tmp")) and not (out / ".lock").exists()


def test_export_and_baseline_out_naming_a_folder(tmp_path, capsys) -> None:
    run_dir = tmp_path / "run"
    assert main(["run", "--method", "saliency", *TOY, "--out", str(run_dir)]) == 0
    capsys.readouterr()
    folder = tmp_path / "folder"
    folder.mkdir()
    assert main(["export", str(run_dir), "--out", str(folder)]) == 2
    assert f"--out {folder} is a folder" in _error_line(capsys)
    assert main(["baseline", str(run_dir), "--out", str(folder)]) == 2
    assert f"--out {folder} is a folder" in _error_line(capsys)
    assert main(["export", str(run_dir), "--digits", "-2"]) == 2
    assert "--digits must be an integer >= 0, got -2" in _error_line(capsys)


@pytest.mark.parametrize(("device", "expected"), [("gpu", "did you mean 'cuda'"), ("mps", "MPS (Apple GPU) is not available")])
def test_unusable_devices_are_one_line(device, expected, tmp_path, capsys) -> None:
    assert main(["run", "--method", "saliency", *TOY, "--device", device, "--out", str(tmp_path / "r")]) == 2
    assert expected in _error_line(capsys)


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [("--model", "no_such_module_x:make", "cannot import module 'no_such_module_x'"),
     ("--model", "attrbench.testing.toys:nope", "has no attribute 'nope'"),
     ("--method", "no_such_module_x:Method", "cannot import module 'no_such_module_x'"),
     ("--method", "attrbench.testing.toys:Nope", "has no attribute 'Nope'")],
)
def test_missing_external_code_is_one_line(option, value, expected, tmp_path, capsys) -> None:
    args = ["run", "--quiet", "--dataset", toys.DATASET, "--out", str(tmp_path / "r")]
    args += [option, value] + (["--method", "saliency"] if option == "--model" else ["--model", toys.MODEL])
    assert main(args) == 2
    assert expected in _error_line(capsys)


def test_corrupt_config_json_on_resume_names_the_file(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["run", "--method", "saliency", *TOY, "--out", str(out)]) == 0
    capsys.readouterr()
    (out / "config.json").write_text('{"run_id": ')
    assert main(["run", "--method", "saliency", *TOY, "--out", str(out), "--resume"]) == 2
    assert f"{out / 'config.json'} is not valid JSON" in _error_line(capsys)


def test_list_into_a_closed_pipe_ends_cleanly() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "attrbench", "list", "methods"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)  # fmt: skip
    proc.stdout.close()  # the reader is gone before anything is written, as after `| head`
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 0 and err == ""


def test_cub_errors_reach_the_user_as_one_line(tmp_path, capsys) -> None:
    cub = write_cub_fixture(tmp_path / "cub")
    path = cub.root / "images.txt"
    path.write_text(path.read_text().replace(cub.images[1].path, "../../outside.jpg"))
    rc = main(["run", "--method", "saliency", "--model", toys.MODEL, "--dataset", "cub200", "--data-root",
               str(cub.root), "--metrics", "gt", "--quiet", "--out", str(tmp_path / "r")])  # fmt: skip
    assert rc == 2 and "leaves the images folder" in _error_line(capsys)

