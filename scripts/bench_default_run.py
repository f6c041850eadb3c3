"""Time the default run, ``attrbench run --method ig``, side by side with another source tree.

Usage:
    python scripts/bench_default_run.py [--rounds N] [--before SRC_DIR] [--after SRC_DIR] [--out FILE] [-- extra run args]

Each round runs the default command once per variant, in interleaved order ("before" first in even
rounds, "after" first in odd ones), as a child process with ``PYTHONPATH=SRC_DIR`` for the "before"
variant (e.g. ``git archive main | tar -x -C /tmp/main_src``) and ``--after`` (default: this checkout)
for "after". It prints
per run the wall seconds, the user+sys CPU seconds of the child (``resource.getrusage``) and the
1-minute load average before the run, then per variant the median and range, and the ratio
after/before of the medians (wall and user+sys: on a shared machine user+sys is the steadier
figure). With ``--out`` the same text is also written to that file. The run directories are
written under a temporary folder and deleted; ``ATTRBENCH_CACHE`` is passed through.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def _one(src: Path, out: Path, extra: list[str]) -> tuple[float, float, float]:
    """(wall s, user+sys s, load average) of one default run with ``src`` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, "-m", "attrbench", "run", "--method", "ig", "--quiet", "--out", str(out), *extra]
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, load


def _stats(values: list[float]) -> str:
    return f"median {statistics.median(values):7.2f}  range {min(values):7.2f} - {max(values):7.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, default=None, help="source tree of the 'before' variant")
    parser.add_argument("--after", type=Path, default=HERE, help="source tree of the 'after' variant")
    parser.add_argument("--out", type=Path, default=None, help="also write the report here")
    parser.add_argument("extra", nargs="*", help="extra arguments of attrbench run (after --)")
    args = parser.parse_args()
    variants = {"after": args.after.resolve()}
    if args.before is not None:
        variants = {"before": args.before.resolve(), **variants}
    lines = [f"# default run 'attrbench run --method ig {' '.join(args.extra)}', {args.rounds} interleaved rounds, "
             f"{os.cpu_count()} CPUs, torch threads default; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"]  # fmt: skip
    lines += [f"# {name}: PYTHONPATH={path}" for name, path in variants.items()]
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = list(variants) if r % 2 == 0 else list(reversed(variants))
            for name in order:
                wall, cpu, load = _one(variants[name], Path(tmp) / f"{name}{r}", args.extra)
                results[name].append((wall, cpu, load))
                line = f"round {r} {name:<6s} wall {wall:7.2f} s  user+sys {cpu:7.2f} s  load average {load:5.2f}"
                print(line, flush=True)
                lines.append(line)
    for name, rows in results.items():
        lines.append(f"{name:<6s} wall     {_stats([w for w, _, _ in rows])}")
        lines.append(f"{name:<6s} user+sys {_stats([c for _, c, _ in rows])}")
    if "before" in results:
        for i, what in ((0, "wall"), (1, "user+sys")):
            ratio = statistics.median(x[i] for x in results["after"]) / statistics.median(x[i] for x in results["before"])
            lines.append(f"after/before {what}: {ratio:.3f}")
    text = "\n".join(lines)
    print("\n".join(lines[-6:]))
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
