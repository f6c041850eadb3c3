"""Peak RSS of a run with N samples vs 10 N samples (streaming records: target ratio <= 1.2).

Each run is a fresh subprocess that calls :func:`attrbench.evaluate` and reports its own peak
resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``).

    python scripts/bench_memory.py                       # N = 16 (batch 8), saliency, gt + deletion
    python scripts/bench_memory.py --n 8 --model path/to/ckpt.pt --metrics gt,deletion[steps=4]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

CHILD = """
import json, resource, sys
from attrbench.runner import evaluate, split_specs
args = json.loads(sys.argv[1])
evaluate(methods=[args["method"]], model=args["model"], dataset=args["dataset"], metrics=split_specs(args["metrics"]),
         n_samples=args["n"], batch_size=args["batch"], out=args["out"], progress=False)
print(json.dumps({"maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _run(n: int, args: argparse.Namespace, out: str) -> tuple[float, float]:
    payload = {"method": args.method, "model": args.model, "dataset": args.dataset, "metrics": args.metrics,
               "n": n, "batch": args.batch, "out": out}  # fmt: skip
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(payload)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child run with n={n} failed:\n{done.stderr}")
    rss = json.loads(done.stdout.strip().splitlines()[-1])["maxrss_kb"] / 1024
    return rss, time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--method", default="saliency")
    parser.add_argument("--model", default="bagnet17-synthbirds")
    parser.add_argument("--dataset", default="synthbirds")
    parser.add_argument("--metrics", default="gt,deletion[steps=4]")
    parser.add_argument("--batch", type=int, default=8, help="samples per batch; keep N a multiple of it so both runs see full batches")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small, t_small = _run(args.n, args, f"{tmp}/small")
        large, t_large = _run(10 * args.n, args, f"{tmp}/large")
    print(f"N = {args.n}: peak RSS {small:.1f} MiB ({t_small:.1f} s); 10 N = {10 * args.n}: {large:.1f} MiB ({t_large:.1f} s)")
    print(f"ratio (10 N / N): {large / small:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
