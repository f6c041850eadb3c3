"""The results store: one directory per run, long-format records, atomic writes.

Layout of ``results/runs/<run-id>/`` (or ``--out``)::

    config.json        full config, seed, git hash, date, package versions, device,
                       post-processing, method hyperparameters, metric info (directions)
    shards/            one records (+ curves) part file per finished (method, batch) unit, named
                       by batch, method index, method label and config key (unit_name);
                       a unit is done iff its records part exists (written last, atomically)
    .lock              while a process owns the run (attrbench.runlock)
    records.parquet    merged records, columns RECORD_COLUMNS (one row per sample x value)
    curves.parquet     merged deletion/insertion curves, columns CURVE_COLUMNS
    summary.csv        mean and 95 % interval (column ci_method) per method x metric, SUMMARY_COLUMNS

Every file is written to a temporary name in the same directory and renamed into place, so a
killed run leaves only complete files. Tables and plots derive only from these files
(:func:`load_run`), never from in-memory state.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from attrbench.errors import DataError
from attrbench.fileio import honour_umask
from attrbench.stats import ValueRange, ci_method_name, mean_ci

__all__ = [
    "CURVE_COLUMNS",
    "RECORD_COLUMNS",
    "SUMMARY_COLUMNS",
    "SUMMARY_KEYS",
    "RunData",
    "RunDir",
    "UnitRecords",
    "atomic_write_text",
    "config_key",
    "load_run",
    "load_runs",
    "summarise",
    "unit_name",
]

RECORD_COLUMNS: tuple[str, ...] = (
    "run_id", "dataset", "model", "method", "metric", "sample_id",
    "value", "status", "error", "higher_is_better", "category", "metric_spec",
)  # fmt: skip
#: ``metric_spec``: the canonical metric specification that produced the value (attrbench.metric_specs);
#: runs written before it existed read back with "" in it.
CURVE_COLUMNS: tuple[str, ...] = (
    "run_id", "dataset", "model", "method", "curve", "sample_id", "step", "fraction", "score",
)  # fmt: skip
SUMMARY_COLUMNS: tuple[str, ...] = (
    "model", "method", "metric", "n", "n_failed", "mean", "ci_low", "ci_high", "higher_is_better", "category", "ci_method",
)  # fmt: skip
#: the keys one summary row describes.
SUMMARY_KEYS: tuple[str, ...] = ("model", "method", "metric")

RECORD_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()), ("dataset", pa.string()), ("model", pa.string()), ("method", pa.string()),
        ("metric", pa.string()), ("sample_id", pa.string()), ("value", pa.float64()), ("status", pa.string()),
        ("error", pa.string()), ("higher_is_better", pa.bool_()), ("category", pa.string()),
        ("metric_spec", pa.string()),
    ]
)  # fmt: skip
CURVE_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()), ("dataset", pa.string()), ("model", pa.string()), ("method", pa.string()),
        ("curve", pa.string()), ("sample_id", pa.string()), ("step", pa.int64()), ("fraction", pa.float64()),
        ("score", pa.float64()),
    ]
)  # fmt: skip


def _atomic(path: Path, write) -> None:  # noqa: ANN001 - write(tmp_path) callback
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        honour_umask(tmp)  # mkstemp creates 0600; outputs get 0666 & ~umask like a plain open()
        os.replace(tmp, path)
    except OSError as exc:  # disk full, permissions: one line naming the file (the temp file is removed)
        raise OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    _atomic(Path(path), write)


def _table(df: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    if "metric_spec" in schema.names and "metric_spec" not in df.columns:  # records built without specifications
        df = df.assign(metric_spec="")
    return pa.Table.from_pandas(df[list(schema.names)], schema=schema, preserve_index=False)


def _write_table(path: Path, table: pa.Table) -> None:
    _atomic(Path(path), lambda tmp: pq.write_table(table, tmp))


class UnitRecords:
    """Collects the records and curves of one (method, batch) unit in the store's columns.

    Args:
        run_id, dataset, model, method: the constant columns of every row.
    """

    def __init__(self, *, run_id: str, dataset: str, model: str, method: str) -> None:
        self.meta = {"run_id": run_id, "dataset": dataset, "model": model, "method": method}
        self._records: list[pd.DataFrame] = []
        self._curves: list[pd.DataFrame] = []

    def add(
        self, *, metric: str, ids: list[str], values: np.ndarray, errors: list[str], higher_is_better: bool, category: str,
        spec: str = "",
    ) -> None:
        """Rows for one value name; a row is "failed" iff its value is not finite (then ``errors[i]`` says why).

        ``spec`` is the metric specification that produced the values (the ``metric_spec`` column).
        """
        n = len(ids)
        if n == 0:
            return
        values = np.asarray(values, dtype=np.float64)
        bad = ~np.isfinite(values)
        self._records.append(pd.DataFrame({
            **{k: [v] * n for k, v in self.meta.items()}, "metric": [metric] * n, "sample_id": list(ids),
            "value": np.where(bad, np.nan, values), "status": np.where(bad, "failed", "ok"),
            "error": [e if b else "" for e, b in zip(errors, bad)],
            "higher_is_better": [bool(higher_is_better)] * n, "category": [category] * n, "metric_spec": [spec] * n,
        }))  # fmt: skip

    def add_curve(self, *, curve: str, ids: list[str], fractions: np.ndarray, scores: np.ndarray) -> None:
        """Curve rows: ``fractions`` (K,), ``scores`` (len(ids), K)."""
        n, k = len(ids), fractions.shape[-1]
        if n == 0:
            return
        self._curves.append(pd.DataFrame({
            **{key: [v] * (n * k) for key, v in self.meta.items()}, "curve": [curve] * (n * k),
            "sample_id": np.repeat(np.asarray(ids, dtype=object), k), "step": np.tile(np.arange(k), n),
            "fraction": np.tile(fractions, n), "score": np.asarray(scores, dtype=np.float64).reshape(-1),
        }))  # fmt: skip

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(records, curves) with exactly :data:`RECORD_COLUMNS` and :data:`CURVE_COLUMNS`."""

        def cat(parts: list[pd.DataFrame], cols: tuple[str, ...]) -> pd.DataFrame:
            if not parts:
                return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
            return pd.concat(parts, ignore_index=True)[list(cols)]

        return cat(self._records, RECORD_COLUMNS), cat(self._curves, CURVE_COLUMNS)


def unit_name(method_index: int, batch_index: int, label: str | None = None, config_key: str = "") -> str:
    """The part-file stem of one unit: ``b<batch>-m<method>[-<label slug>-<label hash>][-c<config key>]``.

    The label part names the method itself (sanitised to ``[A-Za-z0-9_.-]``, at most 40 characters,
    plus 8 hex digits of its sha256, so two labels never share a name), not only its position;
    the config key (:func:`config_key`) ties the part to the run's config. Names sort by (batch, method index).
    """
    name = f"b{batch_index:06d}-m{method_index:03d}"
    if label is not None:
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", label)[:40]
        name += f"-{slug}-{hashlib.sha256(label.encode()).hexdigest()[:8]}"
    return name + (f"-c{config_key}" if config_key else "")


def config_key(fingerprint: dict[str, Any]) -> str:
    """8 hex digits of the sha256 of a config fingerprint (:meth:`attrbench.runspec.RunConfig.fingerprint`)."""
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:8]


class RunDir:
    """A run directory (see the module docstring for its files)."""

    def __init__(self, path: str | Path, *, config_key: str = "") -> None:
        self.path = Path(path)
        self.config_key = config_key  # see unit_name: shards of another config are never merged

    config_path = property(lambda self: self.path / "config.json")
    records_path = property(lambda self: self.path / "records.parquet")
    curves_path = property(lambda self: self.path / "curves.parquet")
    summary_path = property(lambda self: self.path / "summary.csv")
    shards = property(lambda self: self.path / "shards")

    def _shard(self, method_index: int, batch_index: int, kind: str, label: str | None = None) -> Path:
        return self.shards / f"{unit_name(method_index, batch_index, label, self.config_key)}.{kind}.parquet"

    def read_config(self) -> dict[str, Any] | None:
        """The stored ``config.json`` (None if there is none).

        Raises:
            DataError: it is not valid JSON or not an object (the message names the file).
        """
        if not self.config_path.is_file():
            return None
        try:
            data = json.loads(self.config_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{self.config_path} is not valid JSON ({exc}); remove the folder or choose another --out") from None
        if not isinstance(data, dict):
            raise DataError(f"{self.config_path} is not an attrbench run config (a JSON object)")
        return data

    def write_config(self, config: dict[str, Any]) -> None:
        atomic_write_text(self.config_path, json.dumps(config, indent=2, sort_keys=False, default=str) + "\n")

    def has_shards(self) -> bool:
        return self.shards.is_dir() and any(self.shards.glob("*.records.parquet"))

    def unit_done(self, method_index: int, batch_index: int, *, label: str | None = None) -> bool:
        return self._shard(method_index, batch_index, "records", label).is_file()

    def write_unit(self, method_index: int, batch_index: int, records: pd.DataFrame, curves: pd.DataFrame, *,
                   label: str | None = None) -> None:  # fmt: skip
        """Store one (method, batch) unit: curves part first, then the records part (the done marker)."""
        self.shards.mkdir(parents=True, exist_ok=True)
        _write_table(self._shard(method_index, batch_index, "curves", label), _table(curves, CURVE_SCHEMA))
        _write_table(self._shard(method_index, batch_index, "records", label), _table(records, RECORD_SCHEMA))

    def _parts(self, kind: str) -> list[Path]:
        if self.units is not None:  # exactly the run's units, in (batch, method) order
            return [self._shard(mi, bi, kind, label) for bi, mi, label in sorted(self.units)]
        return sorted(self.shards.glob(f"*.{kind}.parquet"))  # names sort by (batch, method)

    #: (batch index, method index, label) of the units :meth:`merge` takes; None = every part file.
    units: list[tuple[int, int, str | None]] | None = None

    def merge(self) -> None:
        """Concatenate the parts into records.parquet and curves.parquet, streaming part by part.

        With :attr:`units` set (the runner sets the run's units) only those parts are taken, so a
        shard another config or another process left in the folder is never merged.
        """
        for kind, schema, target in (
            ("records", RECORD_SCHEMA, self.records_path),
            ("curves", CURVE_SCHEMA, self.curves_path),
        ):

            def write(tmp: str, kind: str = kind, schema: pa.Schema = schema) -> None:
                with pq.ParquetWriter(tmp, schema) as writer:
                    for part in self._parts(kind):
                        writer.write_table(pq.read_table(part, schema=schema))

            _atomic(target, write)

    def write_summary(self, summary: pd.DataFrame) -> None:
        atomic_write_text(self.summary_path, summary.to_csv(index=False))


def summarise(records: pd.DataFrame, *, method_order: Iterable[str] | None = None, ci: str = "range",
              ranges: Mapping[str, ValueRange] | None = None, curves: pd.DataFrame | None = None) -> pd.DataFrame:  # fmt: skip
    """The one summary of records: per (model, method, metric) the mean and 95 % CI of the ok values.

    Used by the runner (``summary.csv``), the tables of :mod:`attrbench.export`, the CI gate
    (:mod:`attrbench.check`), the figures and the leaderboard, so they all agree.

    Args:
        records: long-format records (columns :data:`RECORD_COLUMNS`; at least the keys, ``value``,
            ``status``, ``higher_is_better`` and ``category``).
        method_order: order of the methods (default: first appearance).
        ci: "range" (Wilson if binary, else seeded bootstrap in range), "t" or "bootstrap" (``ci_method``).
        ranges: value-name prefix -> declared range (:func:`attrbench.runsets.declared_ranges`); the
            interval of a value with a bounded range stays inside it (t: clipped; "range":
            :func:`attrbench.stats.interval`). The prefix of ``"loc_auroc[fill=x]"`` or
            ``"mprt_ssim@layer"`` is ``loc_auroc`` / ``mprt_ssim``.
        curves: the runs' stored curves. When given, a normalised curve AUC (``deletion_auc[...]``,
            ``insertion_auc``, ``patch_deletion_auc``) is summarised by the normalised AUC of its
            mean curve with a bootstrap interval over images (:func:`attrbench.raw_ranking.ratio_of_means`,
            ``ci_method`` "bootstrap, ratio of means"), not by the mean of per-image values, which
            explodes on images whose fill scores like the image.

    Returns:
        One row per key in order of first appearance, columns :data:`SUMMARY_COLUMNS`: ``n``
        counts ok, finite values; ``n_failed`` the other records (failed samples are not averaged).

    Raises:
        DataError: ``records`` lacks a needed column.
    """
    missing = {*SUMMARY_KEYS, "value", "status", "higher_is_better", "category"} - set(records.columns)
    if missing:
        raise DataError(f"records lack the columns {sorted(missing)}")
    rows = []
    for key, group in records.groupby(list(SUMMARY_KEYS), sort=False):
        ok = group.loc[group["status"] == "ok", "value"].to_numpy(dtype="float64")
        ok = ok[pd.notna(ok)]
        prefix = str(key[2]).split("[", 1)[0].split("@", 1)[0]
        vr = (ranges or {}).get(prefix)
        mean, low, high = mean_ci(ok, method=ci, value_range=vr) if ok.size else (math.nan, math.nan, math.nan)
        rows.append({
            **dict(zip(SUMMARY_KEYS, key)), "n": int(ok.size), "n_failed": int(len(group) - ok.size),
            "mean": float(mean), "ci_low": float(low), "ci_high": float(high),
            "higher_is_better": bool(group["higher_is_better"].iloc[0]), "category": str(group["category"].iloc[0]),
            "ci_method": ci_method_name(ci, vr),
        })  # fmt: skip
    out = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    if curves is not None and not curves.empty and not out.empty:
        out = _with_ratio_of_means(out, records, curves)
    if method_order is not None and not out.empty:
        order = {m: i for i, m in enumerate(method_order)}
        out = out.sort_values("method", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
    return out


def _with_ratio_of_means(summary: pd.DataFrame, records: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """``summary`` whose normalised-AUC rows carry the ratio of means (:func:`summarise`, ``curves``)."""
    from attrbench.raw_ranking import RATIO_OF_MEANS, ratio_of_means

    rom = ratio_of_means(records, curves).set_index(list(SUMMARY_KEYS))
    out = summary.set_index(list(SUMMARY_KEYS))
    keys = out.index.intersection(rom.index)
    if len(keys):
        total = out.loc[keys, "n"] + out.loc[keys, "n_failed"]
        out.loc[keys, ["n", "mean", "ci_low", "ci_high"]] = rom.loc[keys, ["n", "mean", "ci_low", "ci_high"]]
        out.loc[keys, "n_failed"] = total - out.loc[keys, "n"]
        out.loc[keys, "ci_method"] = RATIO_OF_MEANS
    return out.reset_index()[list(SUMMARY_COLUMNS)]


@dataclass
class RunData:
    """A stored run: its config and tables (as written, in the documented columns)."""

    path: Path
    config: dict[str, Any]
    records: pd.DataFrame
    curves: pd.DataFrame

    @property
    def run_id(self) -> str:
        return str(self.config.get("run_id", self.path.name))


def load_run(path: str | Path) -> RunData:
    """Read a finished run directory.

    Raises:
        DataError: the directory or one of its files is missing or unreadable.
    """
    run = RunDir(path)
    if not run.path.is_dir():
        raise DataError(f"run directory not found: {run.path}")
    try:
        config = run.read_config()
    except json.JSONDecodeError as exc:
        raise DataError(f"{run.config_path} is not valid JSON: {exc}") from exc
    if config is None:
        raise DataError(f"{run.path} is not an attrbench run directory (no config.json)")
    if not run.records_path.is_file():
        hint = " (unfinished run: finish it with `attrbench run ... --resume --out " + str(run.path) + "`)"
        raise DataError(f"{run.records_path} is missing{hint if run.has_shards() else ''}")
    try:
        records = pq.read_table(run.records_path).to_pandas()
        curves = (
            pq.read_table(run.curves_path).to_pandas()
            if run.curves_path.is_file()
            else pd.DataFrame(columns=list(CURVE_COLUMNS))
        )
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"cannot read the tables of run {run.path}: {exc}") from exc
    if "metric_spec" not in records.columns:  # written before specifications were recorded
        records["metric_spec"] = ""
    missing = [c for c in RECORD_COLUMNS if c not in records.columns]
    if missing:
        raise DataError(f"{run.records_path} lacks the columns {missing}")
    return RunData(path=run.path, config=config, records=records, curves=curves)


def load_runs(paths: Iterable[str | Path]) -> list[RunData]:
    """:func:`load_run` for several directories (concatenate ``.records`` to compare runs)."""
    return [load_run(p) for p in paths]
