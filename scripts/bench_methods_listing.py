"""Wall time of ``attrbench methods`` (issue 17: under 1 s on the 2-core development machines).

Usage:
    python scripts/bench_methods_listing.py [--rounds N] [--out FILE]

Runs ``python -m attrbench methods`` N times as a child process and prints each wall time, the
median and range, and the 1-minute load average before each run; ``--out`` also writes the text.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    lines = [f"# 'attrbench methods' wall time, {args.rounds} runs, {os.cpu_count()} CPUs, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"]  # fmt: skip
    walls = []
    for r in range(args.rounds):
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "attrbench", "methods"], check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t0)
        lines.append(f"run {r}: wall {walls[-1]:.3f} s  load average {load:.2f}")
    lines.append(f"median {statistics.median(walls):.3f} s  range {min(walls):.3f} - {max(walls):.3f} s")
    print("\n".join(lines))
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
