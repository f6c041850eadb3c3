"""Profile leaderboard runs per component and project their wall time to another sample count.

Reads each run directory's ``config.json`` (``phase_seconds``, written by every finished run)
and prints, per component (all method calls, each metric summed over methods, set-up, writing),
the measured seconds and share, and the projection to ``--target`` images
(:func:`attrbench.leaderboard_cost.project`: metrics capped by ``max_samples``, e.g. the
leaderboard's randomisation on 8 samples, are not scaled past their cap), then the slowest
methods per image (attribution plus the metrics on its maps).

    # measure (n = 2, one model; runs alone on an idle 2-core machine), then profile:
    attrbench leaderboard --n-samples 2 --datasets synthbirds --gallery 0 --ceiling-samples 0 --out /tmp/lbprof
    python scripts/profile_leaderboard.py /tmp/lbprof/runs/synthbirds/* --target 200
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _report(run_dir: Path, target: int, top: int) -> list[str]:
    from attrbench.leaderboard_cost import project

    config = json.loads((run_dir / "config.json").read_text())
    record = config.get("phase_seconds")
    if record is None:
        return [f"{run_dir}: no phase_seconds in config.json (unfinished run, or written before phase timing)"]
    measured = len(config.get("sample_ids") or []) or int(config["n_samples"])
    rows = project(record, measured=measured, target=target)
    total_m = sum(m for m, _ in rows.values()) or 1.0
    total_p = sum(p for _, p in rows.values()) or 1.0
    lines = [f"{config['model']}: {measured} images measured, projected to {target}",
             f"  {'component':<52s} {'measured s':>10s} {'share':>6s} {'projected s':>12s} {'share':>6s}"]  # fmt: skip
    for name, (m, p) in sorted(rows.items(), key=lambda kv: -kv[1][1]):
        lines.append(f"  {name:<52s} {m:10.1f} {100 * m / total_m:5.1f}% {p:12.0f} {100 * p / total_p:5.1f}%")
    lines.append(f"  {'total':<52s} {total_m:10.1f} {'':6s} {total_p:12.0f}  ({total_p / 3600:.2f} h)")
    per_image = sorted(record.get("per_image", {}).items(), key=lambda kv: -kv[1])[:top]
    lines += [f"  slowest methods (s per image, attribution + metrics): "
              + ", ".join(f"{m} {s:.1f}" for m, s in per_image)]  # fmt: skip
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="run directories (each with config.json)")
    parser.add_argument("--target", type=int, default=200, help="images to project to (default 200)")
    parser.add_argument("--top", type=int, default=6, help="slowest methods to list (default 6)")
    args = parser.parse_args()
    for run_dir in args.runs:
        print("\n".join(_report(run_dir, args.target, args.top)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
