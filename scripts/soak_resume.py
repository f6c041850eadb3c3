"""Soak test of resume: a small run killed by SIGKILL at random points many times ends with exactly
the records of an uninterrupted run (issue 12).

    python scripts/soak_resume.py --kills 50 --seed 0 --work /tmp/soak | tee results/benchmarks/soak.txt

1. An uninterrupted reference run (``attrbench run`` in a subprocess) is timed.
2. Rounds: a fresh run directory; ``attrbench run ... --resume`` is started and killed with
   SIGKILL at a random (seeded) point, :func:`_kill_point`: during start-up, or shortly before or
   after a part file is stored, or in the merge and final writes; repeated until the run
   finishes. Each restart finds the killed process's stale lock and takes it over. Rounds
   continue until ``--kills`` kills have been made.
3. Each round's final records and curves are compared with the reference by the logic of
   ``scripts/compare_runs.py`` (run_id and cost values ignored, everything else exactly equal).

Exit status 0 iff every round matched.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

RUN_ARGS = [
    "--model", "attrbench.testing.toys:tiny_model", "--dataset", "attrbench.testing.toys:ToyImages",
    "--method", "saliency", "--method", "attrbench.testing.toys:ToyInputXGradient",
    "--metrics", "gt,deletion[steps=2]", "--n-samples", "4", "--batch-size", "1", "--device", "cpu", "--quiet",
]  # fmt: skip


def _compare_module():
    spec = importlib.util.spec_from_file_location("compare_runs", Path(__file__).with_name("compare_runs.py"))
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _attrbench(out: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "attrbench", "run", *RUN_ARGS, "--out", str(out), *extra]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _identical(before: Path, after: Path) -> bool:
    comparable = _compare_module()._comparable
    same = True
    for table in ("records", "curves"):
        a = pd.read_parquet(before / f"{table}.parquet").drop(columns=["run_id"]).reset_index(drop=True)
        b = pd.read_parquet(after / f"{table}.parquet").drop(columns=["run_id"]).reset_index(drop=True)
        if table == "records":
            a, b = comparable(a.assign(run_id="")), comparable(b.assign(run_id=""))
        same &= a.equals(b)
    return same


def _units(out: Path) -> int:
    return len(list((out / "shards").glob("*.records.parquet"))) if (out / "shards").is_dir() else 0


def _kill_point(proc: subprocess.Popen, out: Path, rng: random.Random) -> str | None:
    """Wait for a random kill point and SIGKILL ``proc`` there; None if it finished first.

    With probability 0.15 the point is a time in start-up (0.1 to 3 s after the start: imports,
    model and data loading, lock); otherwise it is 0 to 0.3 s after the run has stored 0, 1 or
    2 more units than it had (so kills fall before, between and after part-file writes, and,
    once every unit is stored, in the merge and the final config write).
    """
    if rng.random() < 0.15:
        delay = rng.uniform(0.1, 3.0)
        return f"{delay:4.2f} s after start" if _killed_after(proc, delay) else None
    target, extra = _units(out) + rng.randint(0, 2), rng.uniform(0.0, 0.3)
    while proc.poll() is None and _units(out) < target:
        time.sleep(0.01)
    return f"{extra:4.2f} s after unit {target}" if _killed_after(proc, extra) else None


def _killed_after(proc: subprocess.Popen, seconds: float) -> bool:
    """SIGKILL ``proc`` if it is still running after ``seconds``; True if it was killed."""
    try:
        proc.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True


def _round(out: Path, rng: random.Random, kills_left: int) -> int:
    """Kill and resume until the run finishes (at most ``kills_left`` kills); returns the kills made."""
    kills = 0
    while True:
        proc = _attrbench(out, "--resume")
        point = _kill_point(proc, out, rng) if kills < kills_left else None
        if point is not None:
            kills += 1
            print(f"  kill {kills:3d} at {point}: {_units(out)} unit(s) stored", flush=True)
            continue
        proc.wait()
        err = proc.stderr.read() if proc.stderr else ""
        if proc.returncode != 0:
            raise SystemExit(f"run failed with exit {proc.returncode}: {err.strip()}")
        return kills


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=50, help="SIGKILLs in total (default 50)")
    p.add_argument("--seed", type=int, default=0, help="seed of the kill delays (default 0)")
    p.add_argument("--work", default="/tmp/attrbench-soak", help="scratch folder (emptied first)")
    args = p.parse_args(argv)
    print("$ python scripts/soak_resume.py " + shlex.join(sys.argv[1:] if argv is None else argv))
    print("run: attrbench run " + shlex.join(RUN_ARGS) + " --out DIR --resume")
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    t0 = time.perf_counter()
    ref = _attrbench(work / "reference")
    if ref.wait() != 0:
        raise SystemExit(f"reference run failed: {ref.stderr.read() if ref.stderr else ''}")
    seconds = time.perf_counter() - t0
    n_ref = len(pd.read_parquet(work / "reference" / "records.parquet"))
    print(f"reference: uninterrupted run, {seconds:.2f} s, {n_ref} records")
    rng, total, rounds, ok = random.Random(args.seed), 0, 0, True
    while total < args.kills:
        rounds += 1
        out = work / f"round{rounds:02d}"
        print(f"round {rounds}:", flush=True)
        kills = _round(out, rng, args.kills - total)
        total += kills
        same = _identical(work / "reference", out)
        ok &= same
        print(f"round {rounds}: {kills} kill(s), finished; records and curves identical to the reference: {same}")
    print(f"total: {total} SIGKILLs in {rounds} round(s); every round identical: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
