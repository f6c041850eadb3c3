"""Largest absolute difference per metric family between the records of two run directories.

    python scripts/compare_runs.py /tmp/before_ig results/runs/<run-id>

Rows are matched on (method, sample_id, metric); ``runtime_s`` is wall time and always differs.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before")
    parser.add_argument("after")
    args = parser.parse_args()
    a = pd.read_parquet(f"{args.before}/records.parquet")
    b = pd.read_parquet(f"{args.after}/records.parquet")
    keys = ["method", "sample_id", "metric"]
    m = a.merge(b, on=keys, suffixes=("_a", "_b"), how="outer", indicator=True)
    unmatched = int((m["_merge"] != "both").sum())
    m = m[m["_merge"] == "both"]
    m = m.assign(diff=(m.value_a - m.value_b).abs(), family=m.metric.str.split("@").str[0])
    print(f"{len(a)} vs {len(b)} records, {unmatched} unmatched")
    print(m.groupby("family")["diff"].max().to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
