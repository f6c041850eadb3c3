"""Compare the records and curves of two run directories, ignoring what may differ between runs.

    python scripts/compare_runs.py /tmp/before_ig /tmp/after_ig

Ignored: the ``run_id`` column (the directory's name) and the values of cost metrics (category
``cost``, e.g. ``runtime_s``: wall time). Everything else must be equal exactly (exit status 1 if not).
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd


def _comparable(records: pd.DataFrame) -> pd.DataFrame:
    out = records.drop(columns=["run_id"]).reset_index(drop=True)
    out.loc[out["category"] == "cost", "value"] = float("nan")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before")
    p.add_argument("after")
    args = p.parse_args(argv)
    ok = True
    for table in ("records", "curves"):
        a = pd.read_parquet(f"{args.before}/{table}.parquet")
        b = pd.read_parquet(f"{args.after}/{table}.parquet")
        if table == "records":
            a, b = _comparable(a), _comparable(b)
        else:
            a, b = a.drop(columns=["run_id"]), b.drop(columns=["run_id"])
        same = a.equals(b)
        ok &= same
        print(f"{table}: {len(a)} vs {len(b)} rows, identical: {same}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
