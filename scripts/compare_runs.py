"""Compare the records and curves of two run directories, ignoring what may differ between runs.

    python scripts/compare_runs.py /tmp/before_ig /tmp/after_ig [--atol 1e-6]

Ignored: the ``run_id`` column (the directory's name) and the values of cost metrics (category
``cost``, e.g. ``runtime_s``: wall time) and the order of the rows (rows are matched by every
other column, so runs that score the same samples in another order compare equal). Everything
else must be equal exactly, or with ``--atol`` its numbers (record values, curve scores) within
that absolute tolerance and everything else exactly (exit status 1 if not). Printed per table: the
largest absolute difference of the numbers over the matched rows, the rows without a partner, and
the metrics (curves: curve names) that differ.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: the number column of each table; every other column must match exactly.
NUMBERS = {"records": "value", "curves": "score"}


@dataclass(frozen=True)
class TableDiff:
    """How one table of two runs differs.

    Attributes:
        table: "records" or "curves"; rows: row counts (before, after).
        same_keys: every row has a partner with identical other columns (in any order).
        max_abs: largest |before - after| of the numbers over the matched rows (NaN where both are
            NaN counts as equal; inf where one is NaN and the other is not, or the columns differ).
        unmatched: rows of either run without a partner; differing: the metrics (records) or
            curves (curves) with an unmatched row or a difference above 0.
    """

    table: str
    rows: tuple[int, int]
    same_keys: bool
    max_abs: float
    unmatched: int = 0
    differing: tuple[str, ...] = ()

    def ok(self, atol: float) -> bool:
        """Equal within ``atol`` (0: exactly)."""
        return self.same_keys and self.max_abs <= atol


def _comparable(records: pd.DataFrame) -> pd.DataFrame:
    out = records.drop(columns=["run_id"]).reset_index(drop=True)
    out.loc[out["category"] == "cost", "value"] = float("nan")
    return out


def table_diff(before: str, after: str, table: str) -> TableDiff:
    """Compare ``table`` ("records" or "curves") of the run directories ``before`` and ``after``."""
    a = pd.read_parquet(f"{before}/{table}.parquet")
    b = pd.read_parquet(f"{after}/{table}.parquet")
    prep = _comparable if table == "records" else (lambda t: t.drop(columns=["run_id"]).reset_index(drop=True))
    a, b = prep(a), prep(b)
    number = NUMBERS[table]
    if list(a.columns) != list(b.columns):
        return TableDiff(table, (len(a), len(b)), False, float("inf"))
    keys = [c for c in a.columns if c != number]
    both = a.merge(b, on=keys, how="outer", suffixes=("_a", "_b"), indicator=True)
    matched = both[both["_merge"] == "both"]
    x, y = matched[f"{number}_a"].to_numpy(np.float64), matched[f"{number}_b"].to_numpy(np.float64)
    both_nan = np.isnan(x) & np.isnan(y)
    diff = np.where(both_nan, 0.0, np.abs(x - y))
    diff = np.where(np.isnan(diff), np.inf, diff)
    label = "metric" if table == "records" else "curve"
    names = both[label].astype(str) if label in both.columns else pd.Series(table, index=both.index)
    bad = names[both["_merge"] != "both"].tolist() + names[matched.index][diff > 0].tolist()
    unmatched = int((both["_merge"] != "both").sum())
    return TableDiff(table, (len(a), len(b)), unmatched == 0, float(diff.max()) if diff.size else 0.0, unmatched,
                     tuple(sorted(set(map(str, bad)))))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--atol", type=float, default=0.0, help="absolute tolerance of values and scores (default 0: exact)")
    args = p.parse_args(argv)
    ok = True
    for table in NUMBERS:
        d = table_diff(args.before, args.after, table)
        ok &= d.ok(args.atol)
        print(f"{table}: {d.rows[0]} vs {d.rows[1]} rows, {d.unmatched} without a partner, "
              f"max |diff| {d.max_abs:.3g}, within {args.atol:g}: {d.ok(args.atol)}; "
              f"differing: {', '.join(d.differing) or 'none'}")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
