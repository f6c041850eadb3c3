"""A CI gate for attribution methods: store a baseline, then check new results against it.

``make_baseline`` summarises the records of one or more run directories per (model, method,
metric) — mean, 95 % CI (:func:`attrbench.stats.mean_ci`), n, direction — and stores the
configuration needed to re-run them (model, dataset, data root, n_samples, batch size, seed,
metrics, post-processing, track). A normalised curve AUC is the normalised AUC of the mean curve
(:func:`attrbench.raw_ranking.ratio_of_means`; the per-image mean explodes where the fill scores
like the image, and its wide interval would hide regressions), or the per-image mean where that
ratio is undefined. Entries record the rule (``ci_method``; older ones are per-image means) and
``compare`` summarises the new results by the same rule.

``compare`` is direction-aware. For a metric with direction d (+1 higher is better, -1 lower is
better) the signed change is ``delta = new - old`` and the *gain* ``d * delta``. A row is a
regression when ``gain < -tolerance`` with

    tolerance = max(scale * (ci_high - ci_low) / 2, margin[metric])

i.e. a drop larger than the half-width of the baseline's 95 % CI (the statistical noise of the
stored mean), but never smaller than an absolute margin (default 0.01; a deterministic method
re-run on the same seed and samples reproduces its values, so the margin only absorbs
floating-point and platform noise). Metrics of category ``cost`` (runtime) depend on the
machine; they are reported but never gate (verdict ``info``). A baseline metric missing from the
new results is a failure (``missing``): a method that silently stops producing a metric must not
pass.

Samples gate too: a row whose count of ok samples fell below the baseline's ``n`` by more than
``max_lost_samples`` (default 0: any sample ok in the baseline but failed or missing now) is a
failure (``LOST SAMPLES``), whatever its mean; a method that returns NaN on half its samples does
not pass on the other half. ``check --run`` first compares the run's config with the baseline's
(:func:`config_differences`): a run made with another model, dataset, split, seed, sample count,
post-processing, ... is refused, listing the differences.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from attrbench.baseline_schema import validate_baseline
from attrbench.errors import DataError, OptionError
from attrbench.raw_ranking import RATIO_OF_MEANS
from attrbench.results import summarise
from attrbench.runspec import RunConfig

__all__ = [
    "BASELINE_FORMAT",
    "CONFIG_KEYS",
    "DEFAULT_MARGIN",
    "UNGATED_CATEGORIES",
    "CheckResult",
    "FAILING_VERDICTS",
    "check_run_configs",
    "config_differences",
    "compare",
    "format_diff",
    "load_baseline",
    "make_baseline",
    "parse_method_arg",
    "rerun",
    "save_baseline",
]

BASELINE_FORMAT = "attrbench-baseline/1"
#: verdicts that fail the check.
FAILING_VERDICTS: tuple[str, ...] = ("REGRESSION", "LOST SAMPLES", "missing")
#: config keys that do not change a run's numbers (where the data lie; metrics are gated per row).
_UNCOMPARED: tuple[str, ...] = ("data_root", "metrics", "postprocess")
DEFAULT_MARGIN = 0.01
UNGATED_CATEGORIES: tuple[str, ...] = ("cost",)
#: run-config entries a baseline keeps so that ``check --method`` can re-run the same evaluation:
#: the RunConfig's stored fields but the methods, and the resolved post-processing.
CONFIG_KEYS: tuple[str, ...] = (
    *(k for k in RunConfig.stored_fields() if k != "methods"), "postprocess_config",
)


def make_baseline(
    runs: Sequence[str | Path],
    *,
    scale: float = 1.0,
    margins: Mapping[str, float] | None = None,
    default_margin: float = DEFAULT_MARGIN,
) -> dict[str, Any]:
    """The baseline dict (JSON-serialisable) for the records of ``runs``.

    Long: one pass (read the runs, check they share a config, summarise, build the entries); split
    up, its steps would only hand the same values around.

    Args:
        runs: run directories that share one configuration (model, dataset, seed, ...); they may
            hold different methods.
        scale: multiplies the CI half-width in the tolerance.
        margins: per-metric absolute margins (record metric names), overriding ``default_margin``.
        default_margin: absolute margin for metrics not in ``margins``.

    Raises:
        DataError: the runs disagree on their configuration, or hold no successful records.
    """
    from attrbench.results import load_run

    if scale < 0 or default_margin < 0 or any(v < 0 for v in (margins or {}).values()):
        raise OptionError("scale and margins must be >= 0")
    margins = dict(margins or {})
    configs, frames, curves = [], [], []
    for run in runs:
        data = load_run(run)
        configs.append((str(run), data.config))
        frames.append(data.records)
        curves.append(data.curves)
    if not frames:
        raise DataError("make_baseline needs at least one run directory")
    config = {k: configs[0][1].get(k) for k in CONFIG_KEYS}
    for where, cfg in configs[1:]:
        differ = [k for k in CONFIG_KEYS if k != "metrics" and cfg.get(k) != config[k]]
        if differ:
            raise DataError(
                f"run {where} differs from {configs[0][0]} in {differ}; a baseline describes one configuration"
            )
    config["metrics"] = sorted({m for _, cfg in configs for m in (cfg.get("metrics") or [])})
    plain, by_curves = _summaries(pd.concat(frames, ignore_index=True), pd.concat(curves, ignore_index=True))
    summary = plain if by_curves is None else _prefer(by_curves, plain)
    summary = summary[summary["n"] > 0]
    if summary.empty:
        raise DataError(f"the runs {', '.join(map(str, runs))} hold no successful records")
    entries = []
    for r in summary.itertuples(index=False):
        half = (r.ci_high - r.ci_low) / 2 if math.isfinite(r.ci_high - r.ci_low) else 0.0
        margin = margins.get(r.metric, default_margin)
        entries.append({
            "model": r.model, "method": r.method, "metric": r.metric, "n": int(r.n),
            # an undefined CI (n = 1) is stored as null: the file stays strict JSON
            "mean": float(r.mean), "ci_low": _finite_or_none(r.ci_low), "ci_high": _finite_or_none(r.ci_high),
            "higher_is_better": bool(r.higher_is_better), "category": r.category, "ci_method": r.ci_method,
            "tolerance": float(max(scale * half, margin)),
            "gated": r.category not in UNGATED_CATEGORIES,
        })
    import attrbench

    return {
        "format": BASELINE_FORMAT,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "attrbench_version": attrbench.__version__,
        "runs": [cfg.get("run_id", where) for where, cfg in configs],
        "config": config,
        "tolerance_rule": {
            "formula": "max(scale * (ci_high - ci_low) / 2, margin[metric])",
            "scale": scale, "default_margin": default_margin, "margins": margins,
            "ungated_categories": list(UNGATED_CATEGORIES),
        },
        "entries": entries,
    }


def _summaries(records: pd.DataFrame, curves: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(per-image summary, summary with normalised AUCs from the curves or None without curves)."""
    plain = summarise(records)
    return plain, (summarise(records, curves=curves) if curves is not None and not curves.empty else None)


def _prefer(by_curves: pd.DataFrame, plain: pd.DataFrame) -> pd.DataFrame:
    """``by_curves`` where its ratio of means is defined, else the per-image row (module docstring)."""
    undefined = (by_curves["ci_method"] == RATIO_OF_MEANS) & ~by_curves["mean"].map(math.isfinite)
    return pd.concat([by_curves[~undefined], plain[undefined.to_numpy()]]).sort_index(kind="stable")


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def save_baseline(baseline: Mapping[str, Any], path: str | Path) -> Path:
    from attrbench.export import write_table

    return write_table(json.dumps(baseline, indent=2, allow_nan=False) + "\n", path)


def load_baseline(path: str | Path) -> dict[str, Any]:
    """Read and validate a baseline file written by :func:`save_baseline`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"baseline file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON: {exc}") from exc
    validate_baseline(data, path=path)  # schema: types, finite numbers, known metrics, directions
    if not isinstance(data, dict) or data.get("format") != BASELINE_FORMAT:
        raise DataError(f"{path} is not an attrbench baseline (expected format {BASELINE_FORMAT!r})")
    for key in ("config", "entries"):
        if key not in data:
            raise DataError(f"baseline {path} lacks the entry {key!r}")
    needed = {"model", "method", "metric", "mean", "tolerance", "higher_is_better"}
    for i, e in enumerate(data["entries"]):
        if not needed <= set(e):
            raise DataError(f"baseline {path}: entry {i} lacks {sorted(needed - set(e))}")
    return data


@dataclass(frozen=True)
class CheckResult:
    """Outcome of :func:`compare`.

    Attributes:
        table: one row per (model, method, metric): old, new, delta, tolerance, verdict.
        failed: True if any row is a ``REGRESSION`` or ``missing``.
    """

    table: pd.DataFrame
    failed: bool


def compare(baseline: Mapping[str, Any], records: pd.DataFrame, *, curves: pd.DataFrame | None = None,
            methods: Iterable[str] | None = None, max_lost_samples: int = 0) -> CheckResult:  # fmt: skip
    """Compare new ``records`` with ``baseline`` (module docstring gives the rule).

    Args:
        baseline: as returned by :func:`load_baseline`.
        records: new records (run-directory schema); method names must match the baseline's.
        curves: the new run's curves; needed for entries summarised as a ratio of means.
        methods: restrict to these methods (default: every baseline method present in ``records``).
        max_lost_samples: ok samples a gated row may lose against the baseline's ``n`` (default 0).

    Raises:
        DataError: no method of ``records`` is in the baseline, or an entry needs curves that are not given.
    """
    entries = pd.DataFrame(baseline["entries"])
    new, by_curves = _summaries(records, curves)
    rules = entries["ci_method"] if "ci_method" in entries.columns else pd.Series(None, index=entries.index)
    if by_curves is None and (rules == RATIO_OF_MEANS).any():
        raise DataError("the baseline summarises normalised AUCs as the normalised AUC of the mean curve, which "
                        "needs the new run's curves: compare a run directory (curves.parquet)")
    present = list(dict.fromkeys(new["method"]))
    known = set(entries["method"])
    if methods is not None:  # methods asked for by name must all be in the baseline
        wanted = list(methods)
        unknown = [m for m in wanted if m not in known]
    else:  # a run's extra methods are not gated, but some method must be comparable
        wanted = [m for m in present if m in known]
        unknown = [] if wanted else present
    if unknown:
        raise DataError(
            f"methods {unknown} are not in the baseline (it has {sorted(known)}); "
            "compare an external class under a baseline name with NAME=module:Class"
        )
    rows = []
    kept = entries[entries["method"].isin(wanted)]
    for rule, e in zip(rules[kept.index], kept.itertuples(index=False)):
        source = by_curves if rule == RATIO_OF_MEANS else new
        hit = source[(source["model"] == e.model) & (source["method"] == e.method) & (source["metric"] == e.metric)]
        gated = bool(e.gated) if "gated" in entries.columns else True
        old = float(e.mean)
        value = float(hit["mean"].iloc[0]) if len(hit) else math.nan
        n_new = int(hit["n"].iloc[0]) if len(hit) else 0
        n_old = int(e.n) if "n" in entries.columns and pd.notna(e.n) else None
        rows.append({
            "model": e.model, "method": e.method, "metric": e.metric,
            "direction": "↑" if e.higher_is_better else "↓",
            "old": old, "new": value, "delta": value - old, "tolerance": float(e.tolerance),
            "n_old": n_old or 0, "n_new": n_new,
            "verdict": _verdict(value - old if e.higher_is_better else old - value, value=value,
                                tolerance=float(e.tolerance), gated=gated,
                                lost=n_old is not None and n_old - n_new > max_lost_samples),
        })  # fmt: skip
    table = pd.DataFrame(rows)
    failed = bool(len(table)) and bool(table["verdict"].isin(FAILING_VERDICTS).any())
    return CheckResult(table=table, failed=failed)


def _verdict(gain: float, *, value: float, tolerance: float, gated: bool, lost: bool) -> str:
    """One row's verdict from its direction-aware gain (module docstring)."""
    if not math.isfinite(value):
        return "missing" if gated else "info"
    if not gated:
        return "info"
    if lost:
        return "LOST SAMPLES"
    if gain < -tolerance:
        return "REGRESSION"
    return "improved" if gain > tolerance else "ok"


def format_diff(result: CheckResult, *, digits: int = 4) -> str:
    """A fixed-width text table: method, metric, old, new, delta, tolerance, verdict."""
    t = result.table
    if t.empty:
        return "nothing to compare\n"
    several = t["model"].nunique() > 1
    head = (["model"] if several else []) + ["method", "metric", "old", "new", "delta", "tolerance", "verdict"]
    body = []
    for r in t.itertuples(index=False):
        num = [f"{x:+.{digits}f}" if k == "delta" else f"{x:.{digits}f}"
               for k, x in (("old", r.old), ("new", r.new), ("delta", r.delta), ("tol", r.tolerance))]
        num = [s if "nan" not in s else "–" for s in num]
        body.append(([r.model] if several else []) + [r.method, f"{r.metric} {r.direction}", *num, r.verdict])
    widths = [max(len(h), *(len(row[i]) for row in body)) for i, h in enumerate(head)]
    numeric = {"old", "new", "delta", "tolerance"}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if h in numeric else c.ljust(w) for c, w, h in zip(cells, widths, head)).rstrip()

    out = [line(head), line(["-" * w for w in widths])] + [line(row) for row in body]
    counts = t["verdict"].value_counts()
    verdicts = ", ".join(f"{counts[v]} {v}" for v in (*FAILING_VERDICTS, "improved", "ok", "info") if v in counts)
    out.append("")
    if result.failed:  # the rule is explained only when something failed: a pass reads as a pass
        out.append(f"check FAILED: {verdicts} (REGRESSION: a direction-aware drop larger than the tolerance; "
                   "LOST SAMPLES: fewer ok samples than the baseline; missing: no value)")  # fmt: skip
    else:
        out.append(f"check passed: {verdicts}")
    return "\n".join(out) + "\n"


def config_differences(baseline_config: Mapping[str, Any], run_config: Mapping[str, Any]) -> list[str]:
    """The config entries in which a run differs from a baseline, as ``"key: baseline X, run Y"``.

    Every :data:`CONFIG_KEYS` entry is compared except where the data lie and the metric list
    (a metric the run lacks is ``missing`` row by row); post-processing is compared as resolved
    (``postprocess_config``), so two preset names with the same steps are equal.
    """
    out = []
    for key in CONFIG_KEYS:
        if key in _UNCOMPARED:
            continue
        old, new = baseline_config.get(key), run_config.get(key)
        if old != new:
            out.append(f"{key}: baseline {json.dumps(old, default=str)}, run {json.dumps(new, default=str)}")
    return out


def check_run_configs(baseline: Mapping[str, Any], runs: Sequence[str | Path]) -> None:
    """Refuse runs made with another config than ``baseline`` (:func:`config_differences`).

    Raises:
        DataError: one line naming the run and listing the differences.
    """
    from attrbench.results import RunDir

    for run in runs:
        stored = RunDir(run).read_config()
        if stored is None:
            raise DataError(f"{run} is not an attrbench run directory (no config.json)")
        differ = config_differences(baseline["config"], stored)
        if differ:
            raise DataError(f"run {run} was made with another config than the baseline, so their numbers do not "
                            f"compare: {'; '.join(differ)}")  # fmt: skip


def parse_method_arg(arg: str) -> tuple[str, str]:
    """``"ig"`` -> ("ig", "ig"); ``"ig=pkg.mod:NoisyIG"`` -> ("ig", "pkg.mod:NoisyIG").

    Returns:
        (name compared with the baseline, method spec given to the runner).
    """
    name, sep, spec = arg.partition("=")
    name, spec = name.strip(), spec.strip()
    if sep and (not name or not spec):
        raise OptionError(f"expected NAME or NAME=module:Class, got {arg!r}")
    return (name, spec) if sep else (name, name)


def rerun(
    baseline: Mapping[str, Any],
    methods: Sequence[tuple[str, str]],
    *,
    out: str | Path,
    device: str | None = None,
    data_root: str | None = None,
    model: str | None = None,
    dataset: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Re-run ``methods`` (pairs from :func:`parse_method_arg`) with the baseline's configuration.

    The run is written to ``out`` and its *stored* records and curves are returned, with each method's
    spec renamed to the baseline name it is compared with. ``data_root``, ``model`` and ``dataset`` override
    the stored ones (the stored model is the model's spec name, which resolves for shipped
    checkpoints and ``module:factory`` models; a run given a checkpoint path needs ``model``).
    """
    from attrbench.results import load_run
    from attrbench.runner import run

    cfg = baseline["config"]
    for key in ("model", "dataset", "n_samples"):
        if cfg.get(key) is None:
            raise DataError(f"the baseline's config lacks {key!r}; it cannot be re-run (compare a run with --run)")
    overrides = {k: v for k, v in (("data_root", data_root), ("model", model), ("dataset", dataset)) if v is not None}
    config = RunConfig.from_dict(cfg, methods=[spec for _, spec in methods], device=device, out=str(out),
                                 progress=False, **overrides)  # fmt: skip
    run(config)
    data = load_run(out)
    rename = {spec: name for name, spec in methods if spec != name}
    records, curves = data.records, data.curves
    if rename:
        records, curves = (f.assign(method=f["method"].replace(rename)) for f in (records, curves))
    return records, curves
