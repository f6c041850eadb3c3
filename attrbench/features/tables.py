"""The location-instability table as CSV and Markdown, with the command that made it."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["instability_markdown", "interval", "write_csv", "write_instability_table"]


def _fmt(v: float) -> str:
    return "n/a" if not math.isfinite(v) else f"{v:.4f}"


def interval(value: float, low: float, high: float) -> str:
    """``value [low, high]`` with 4 decimals, n/a for non-finite numbers."""
    return f"{_fmt(value)} [{_fmt(low)}, {_fmt(high)}]"


def instability_markdown(rows: Sequence[dict[str, Any]], *, command: str) -> str:
    """Markdown table: model, positions, instability [95 % half-sampling interval over images], images."""
    lines = [
        "# Location instability (lower is better)",
        "",
        "Std over each pattern's top images of its distance to a landmark / image diagonal, mean over",
        "landmarks, over the strongest patterns of a layer and (layer all) over layers (docs/features.md);",
        "95 % half-sampling interval over images (random halves without replacement, centred on the value).",
        "",
        f"Command: `{command}`",
        "",
        "| model | layer | positions | instability [95 % CI] | images | landmarks |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        value = interval(r["instability"], r["ci_low"], r["ci_high"])
        lines.append(f"| {r['model']} | {r['layer']} | {r['positions']} | {value} | {r['images']} | {r['landmarks']} |")
    return "\n".join(lines) + "\n"


def write_instability_table(rows: Sequence[dict[str, Any]], out_dir: str | Path, *, command: str,
                            stem: str = "location_instability") -> tuple[Path, Path]:  # fmt: skip
    """Write ``<stem>.csv`` and ``<stem>.md`` into ``out_dir``; returns both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = write_csv(rows, out / f"{stem}.csv"), out / f"{stem}.md"
    md_path.write_text(instability_markdown(rows, command=command), encoding="utf-8")
    return csv_path, md_path


def write_csv(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write ``rows`` (dicts with the same keys, in column order) as a CSV file; returns the path."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path
