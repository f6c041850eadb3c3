"""Time the default run, ``attrbench run --method ig``, side by side with another source tree.

Usage:
    python scripts/bench_default_run.py [--rounds N] [--before SRC_DIR] [--after SRC_DIR] [--after-args ARGS]
                                        [--out FILE] [-- extra run args]

Each round runs the default command once per variant, in interleaved order ("before" first in even
rounds, "after" first in odd ones), as a child process that imports attrbench from the variant's
source tree (``scripts/run_from_tree.py``: ``attrbench/``, ``methods/`` and ``datasets/`` of that
tree, whatever is installed), e.g. ``--before`` from ``git archive main | tar -x -C /tmp/main_src``
and ``--after`` (default: this checkout); ``--after-args`` adds run options to the "after" variant
only (``--after-args=--channels-last`` times a flag against the same tree's default). It prints per run the wall seconds, the user+sys CPU
seconds of the child (``resource.getrusage``), the run time (the total of the run's
``phase_seconds`` in config.json: model and data loading, methods, metrics, writing; no interpreter
start-up or imports) and the 1-minute load average before the run; then per variant the median and
range of each, the median seconds per phase, and the ratios after/before of the medians (on a
shared machine user+sys is the steadier figure). Last, whether the two variants' values are
identical: ``scripts/compare_runs.py`` on the first run of each (records and curves; the cost
metric ``runtime_s`` ignored), with the largest absolute difference. With ``--out`` the same text
is also written to that file. The run directories are written under a temporary folder and
deleted; ``ATTRBENCH_CACHE`` is passed through.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from compare_runs import NUMBERS, table_diff

HERE = Path(__file__).resolve().parents[1]
LAUNCHER = Path(__file__).resolve().parent / "run_from_tree.py"


def _one(src: Path, out: Path, extra: list[str]) -> dict[str, float]:
    """Wall s, user+sys s, run time s, load average and seconds per phase of one default run from ``src``."""
    cmd = [sys.executable, str(LAUNCHER), str(src), "run", "--method", "ig", "--quiet", "--out", str(out), *extra]
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    phases = json.loads((out / "config.json").read_text()).get("phase_seconds", {})
    return {"wall": wall, "user+sys": cpu, "run time": float(phases.get("total", float("nan"))), "load": load,
            **{f"phase {k}": float(v) for k, v in phases.get("phases", {}).items()}}  # fmt: skip


def _stats(values: list[float]) -> str:
    return f"median {statistics.median(values):7.2f}  range {min(values):7.2f} - {max(values):7.2f}"


def _summary(results: dict[str, list[dict[str, float]]]) -> list[str]:
    """Median and range per variant and figure, median seconds per phase, ratios after/before."""
    lines = []
    for name, rows in results.items():
        for what in ("wall", "user+sys", "run time"):
            lines.append(f"{name:<6s} {what:<9s} {_stats([r[what] for r in rows])}")
        phases = [k for k in rows[0] if k.startswith("phase ")]
        lines.append(f"{name:<6s} median seconds per phase: " + ", ".join(
            f"{k.removeprefix('phase ')} {statistics.median(r.get(k, 0.0) for r in rows):.2f}" for k in phases))  # fmt: skip
    if "before" in results:
        for what in ("wall", "user+sys", "run time"):
            ratio = statistics.median(r[what] for r in results["after"]) / statistics.median(r[what] for r in results["before"])
            lines.append(f"after/before {what}: {ratio:.3f}")
    return lines


def _values_line(before: Path, after: Path) -> str:
    """Whether the first runs of both variants have identical values (and the largest difference)."""
    diffs = [table_diff(str(before), str(after), table) for table in NUMBERS]
    same = all(d.ok(0.0) for d in diffs)
    detail = "; ".join(f"{d.table}: rows {d.rows[0]}/{d.rows[1]}, {d.unmatched} without a partner, "
                       f"max |diff| {d.max_abs:.3g}, differing: {', '.join(d.differing) or 'none'}"
                       for d in diffs)  # fmt: skip
    return f"values identical (records and curves, runtime_s ignored): {'yes' if same else 'no'} ({detail})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, default=None, help="source tree of the 'before' variant")
    parser.add_argument("--after", type=Path, default=HERE, help="source tree of the 'after' variant")
    parser.add_argument("--after-args", default="", help="run options of the 'after' variant only (one string)")
    parser.add_argument("--out", type=Path, default=None, help="also write the report here")
    parser.add_argument("extra", nargs="*", help="extra arguments of attrbench run (after --)")
    args = parser.parse_args()
    variants = {"after": args.after.resolve()}
    if args.before is not None:
        variants = {"before": args.before.resolve(), **variants}
    lines = [f"# default run 'attrbench run --method ig {' '.join(args.extra)}', {args.rounds} interleaved rounds, "
             f"{os.cpu_count()} CPUs, torch threads default; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"]  # fmt: skip
    own = {"before": [], "after": shlex.split(args.after_args)}
    lines += [f"# {name}: scripts/run_from_tree.py {path} {' '.join(own[name])}" for name, path in variants.items()]
    results: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = list(variants) if r % 2 == 0 else list(reversed(variants))
            for name in order:
                row = _one(variants[name], Path(tmp) / f"{name}{r}", [*args.extra, *own[name]])
                results[name].append(row)
                line = (f"round {r} {name:<6s} wall {row['wall']:7.2f} s  user+sys {row['user+sys']:7.2f} s  "
                        f"run time {row['run time']:7.2f} s  load average {row['load']:5.2f}")  # fmt: skip
                print(line, flush=True)
                lines.append(line)
        summary = _summary(results)
        if "before" in results:
            summary.append(_values_line(Path(tmp) / "before0", Path(tmp) / "after0"))
    lines += summary
    print("\n".join(summary))
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
