"""Soak test of resume: a small run killed by SIGKILL at random points many times ends with exactly
the records of an uninterrupted run (issue 12).

    python scripts/soak_resume.py --kills 50 --seed 0 --work /tmp/soak | tee results/benchmarks/soak.txt

1. An uninterrupted reference run (``attrbench run`` in a subprocess) is timed.
2. Rounds: a fresh run directory; ``attrbench run ... --resume`` is started and, after a delay
   drawn (seeded) uniformly from [0.05, 0.6] x the reference duration, killed with SIGKILL if still
   running; repeated until the run finishes. Kills land anywhere: during start-up, scoring,
   part-file writes, the merge, config writes. Each restart finds the killed process's stale lock
   and takes it over. Rounds continue until ``--kills`` kills have been made.
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


def _round(out: Path, rng: random.Random, reference_seconds: float, kills_left: int) -> tuple[int, int]:
    """Kill and resume until the run finishes; returns (kills made, restarts)."""
    kills = restarts = 0
    while True:
        proc = _attrbench(out, "--resume")
        delay = rng.uniform(0.05, 0.6) * reference_seconds
        try:
            proc.wait(timeout=delay if kills < kills_left else None)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            shards = len(list((out / "shards").glob("*.records.parquet"))) if (out / "shards").is_dir() else 0
            print(f"  kill {kills:3d} after {delay:5.2f} s: {shards} unit(s) stored", flush=True)
            restarts += 1
            continue
        err = proc.stderr.read() if proc.stderr else ""
        if proc.returncode != 0:
            raise SystemExit(f"run failed with exit {proc.returncode}: {err.strip()}")
        return kills, restarts


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
        kills, _ = _round(out, rng, seconds, args.kills - total)
        total += kills
        same = _identical(work / "reference", out)
        ok &= same
        print(f"round {rounds}: {kills} kill(s), finished; records and curves identical to the reference: {same}")
    print(f"total: {total} SIGKILLs in {rounds} round(s); every round identical: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
