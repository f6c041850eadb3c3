"""Issue 12, case 1: one process owns a run directory; shards carry the method label and the config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from attrbench.errors import OptionError
from attrbench.results import load_run
from attrbench.runner import RunConfig, run
from attrbench.testing import toys


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_second_owner_is_refused_and_release_frees_the_folder(tmp_path) -> None:
    from attrbench.runlock import LOCK_NAME, RunLock

    with RunLock(tmp_path / "r") as lock:
        owner = json.loads(lock.path.read_text())
        assert owner["pid"] == os.getpid() and owner["host"] and owner["started"]
        with pytest.raises(OptionError, match=rf"in use by process {os.getpid()} on .*choose another --out"):
            RunLock(tmp_path / "r").acquire()
    assert not (tmp_path / "r" / LOCK_NAME).exists()
    with RunLock(tmp_path / "r"):  # free again
        pass


def test_lock_is_released_on_an_exception(tmp_path) -> None:
    from attrbench.runlock import LOCK_NAME, RunLock

    with pytest.raises(RuntimeError), RunLock(tmp_path / "r"):
        raise RuntimeError("boom")
    assert not (tmp_path / "r" / LOCK_NAME).exists()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path, capsys) -> None:
    import socket

    from attrbench.runlock import LOCK_NAME, RunLock, pid_alive

    folder = tmp_path / "r"
    folder.mkdir()
    dead = _dead_pid()
    assert not pid_alive(dead)
    (folder / LOCK_NAME).write_text(json.dumps({"pid": dead, "host": socket.gethostname(), "started": "x"}))
    with RunLock(folder):
        assert json.loads((folder / LOCK_NAME).read_text())["pid"] == os.getpid()
    err = capsys.readouterr().err
    assert f"process {dead}" in err and "stale" in err


def test_lock_of_another_host_or_a_live_pid_is_respected(tmp_path) -> None:
    from attrbench.runlock import LOCK_NAME, RunLock

    folder = tmp_path / "r"
    folder.mkdir()
    (folder / LOCK_NAME).write_text(json.dumps({"pid": _dead_pid(), "host": "elsewhere.invalid", "started": "x"}))
    with pytest.raises(OptionError, match="elsewhere.invalid"):
        RunLock(folder).acquire()
    import socket

    (folder / LOCK_NAME).write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(), "started": "x"}))
    with pytest.raises(OptionError, match="in use"):
        RunLock(folder).acquire()


def test_shard_names_carry_label_and_config_and_merge_ignores_foreign_shards(tmp_path) -> None:
    from attrbench.results import unit_name

    out = tmp_path / "run"
    config = RunConfig(methods=["saliency"], model=toys.MODEL, dataset=toys.DATASET, metrics=["gt"], n_samples=4,
                       batch_size=2, out=str(out), device="cpu", progress=False)  # fmt: skip
    run(config)
    names = sorted(p.name for p in (out / "shards").glob("*.records.parquet"))
    assert len(names) == 2 and all("-saliency-" in n and "-c" in n for n in names)
    # a shard of another config (another process, another method at index 0) left in the folder
    foreign = out / "shards" / (unit_name(0, 0, "ig", "deadbeef") + ".records.parquet")
    foreign.write_bytes((out / "shards" / names[0]).read_bytes())
    (out / "records.parquet").unlink()
    run(RunConfig(**{**vars(config), "resume": True}))
    rec = load_run(out).records
    assert set(rec["method"]) == {"saliency"} and rec["sample_id"].nunique() == 4
    assert len(rec) == 4 * rec["metric"].nunique()  # the foreign copy was not merged


_CHILD = textwrap.dedent(
    """
    import contextlib, io, json, os, sys, time
    from attrbench.cli import main

    me, base, trials, method = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    for t in range(trials):
        open(os.path.join(base, f"ready-{t}-{me}"), "w").close()
        while len([n for n in os.listdir(base) if n.startswith(f"ready-{t}-")]) < 2:
            time.sleep(0.0005)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = main(["run", "--quiet", "--method", method, "--model", "attrbench.testing.toys:tiny_model",
                       "--dataset", "attrbench.testing.toys:ToyImages", "--metrics", "gt", "--n-samples", "6",
                       "--batch-size", "2", "--device", "cpu", "--out", os.path.join(base, f"out-{t}")])
        print(json.dumps({"trial": t, "rc": rc, "err": err.getvalue()}), flush=True)
    """
)


@pytest.mark.parametrize("trials", [3, pytest.param(20, marks=pytest.mark.slow)])
def test_two_runs_started_together_on_one_out(tmp_path, trials) -> None:
    """One run refused with one line (exit 2), the other's records intact, in every trial (20 in the slow run)."""
    methods = {"a": "saliency", "b": "attrbench.testing.toys:ToyInputXGradient"}
    procs = {me: subprocess.Popen([sys.executable, "-c", _CHILD, me, str(tmp_path), str(trials), method],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for me, method in methods.items()}  # fmt: skip
    results = {}
    for me, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr[-2000:]
        results[me] = [json.loads(line) for line in stdout.splitlines()]
    for t in range(trials):
        a, b = results["a"][t], results["b"][t]
        assert sorted([a["rc"], b["rc"]]) == [0, 2], (t, a, b)
        loser = a if a["rc"] == 2 else b
        lines = loser["err"].strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("attrbench: error: run directory"), lines
        winner = methods["a"] if a["rc"] == 0 else methods["b"]
        data = load_run(tmp_path / f"out-{t}")
        assert data.config["methods"] == [winner] and set(data.records["method"]) == {winner}
        assert len(data.records) == 6 * len(set(data.records["metric"]))
        assert not (tmp_path / f"out-{t}" / ".lock").exists()
