"""The table of shipped checkpoints, derived only from the meta stored inside them.

``attrbench checkpoints`` writes ``results/checkpoints.csv``
and ``results/checkpoints.md``: model, dataset, input size, parameters, file size, test accuracy,
no-bird accuracy (SynthBirds), chance, the share of positive truth mass inside the bird mask and the
coverage (BagNets; :mod:`attrbench.checkpoint_stats`, cached beside each checkpoint), seed, data
options, train time, machine and the exact command of every checkpoint in ``attrbench/checkpoints/``.
Nothing in these files is typed by hand.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from attrbench.checkpoint_stats import derived
from attrbench.models.zoo import load_checkpoint, shipped_dir

__all__ = ["TABLE_COLUMNS", "recorded_commands", "table_rows", "write_table"]

TABLE_COLUMNS = (
    "model", "dataset", "input_size", "n_train", "n_test", "epochs", "params", "file_mb", "test_accuracy",
    "no_bird_accuracy", "chance", "truth_mass_in_mask", "truth_mass_chance", "truth_mass_ceiling",
    "truth_mass_normalised", "coverage", "seed", "train_seconds", "data_args", "machine",
    "command",
)
#: columns of the markdown table (the others are in the per-model notes below it).
_MD_COLUMNS = tuple(c for c in TABLE_COLUMNS if c not in ("command", "data_args", "machine"))
_FLOATS = ("test_accuracy", "no_bird_accuracy", "chance", "truth_mass_in_mask", "truth_mass_chance", "truth_mass_ceiling",
           "truth_mass_normalised", "coverage")  # fmt: skip


def _section(meta: dict[str, Any], key: str) -> dict[str, Any]:
    """``meta[key]`` if it is a dict, else {} (checkpoints of other trainers store other shapes)."""
    value = meta.get(key)
    return value if isinstance(value, dict) else {}


def _recipe(meta: dict[str, Any]) -> str:
    """One line describing how a checkpoint was trained (markdown only)."""
    r = _section(meta, "recipe")
    if not r:
        return "recipe not recorded in attrbench.train's format; see the command"
    aug = _section(r, "augment")
    versions = _section(meta, "versions")
    return (
        f"{r.get('optimizer', '?')} lr={r.get('lr')} weight_decay={r.get('weight_decay')}, {r.get('schedule', '')}; "
        f"{r.get('epochs')} epochs, batch {r.get('batch_size')}; augmentation: translate up to "
        f"{aug.get('translate_px')} px, hflip={aug.get('hflip')}; BN statistics recalibrated on "
        f"{r.get('bn_recalibration_images')} training images; seed {meta.get('seed')}; device {meta.get('device')}, "
        f"torch {versions.get('torch')}, {versions.get('torch_threads')} thread(s)"
    )


def _data_args(meta: dict[str, Any]) -> str:
    """The data options a checkpoint was trained with, as one line."""
    data = _section(meta, "dataset")
    if not data:
        return ""
    args = {**(data.get("args") or {}), "train_limit_per_class": data.get("train_limit_per_class"),
            "test_limit_per_class": data.get("test_limit_per_class"), "root": data.get("root")}  # fmt: skip
    return ", ".join(f"{k}={v}" for k, v in args.items() if v is not None) or "defaults"


def _machine(meta: dict[str, Any]) -> str:
    """CPU model, threads and load average at the start and end of training (if recorded)."""
    m = _section(meta, "machine")
    if not m:
        threads = _section(meta, "versions").get("torch_threads", meta.get("threads"))
        return f"not recorded (torch threads {threads})" if threads is not None else "not recorded"
    load = lambda v: "/".join(str(x) for x in v) if isinstance(v, list) else "?"  # noqa: E731
    return (f"{m.get('cpu')}, {m.get('logical_cpus')} logical CPUs, {m.get('torch_threads')} torch thread(s), "
            f"load {load(m.get('load_average'))} at start, {load(m.get('load_average_end'))} at end")  # fmt: skip


def table_rows(directory: str | Path | None = None, *, recompute: bool = False) -> list[dict[str, Any]]:
    """One row per checkpoint in ``directory`` (default: the shipped ones), from stored meta and the
    derived numbers (:func:`attrbench.checkpoint_stats.derived`, cached beside each checkpoint)."""
    rows = []
    for path in sorted(Path(directory or shipped_dir()).glob("*.pt")):
        model = load_checkpoint(path)
        meta = model.checkpoint_meta
        m = _section(meta, "metrics")
        dataset = meta.get("dataset")
        extra = derived(path, recompute=recompute)
        mass = extra.get("truth_mass_in_mask") or {}
        h, w = model.spec.input_size
        rows.append({
            "model": path.stem,
            "dataset": dataset.get("name", "") if isinstance(dataset, dict) else str(dataset or ""),
            "input_size": f"{h}x{w}",
            "n_train": m.get("n_train"),
            "n_test": m.get("n_test"),
            "epochs": _section(meta, "recipe").get("epochs", m.get("epochs")),
            "params": sum(p.numel() for p in model.parameters()),
            "file_mb": round(path.stat().st_size / 1e6, 2),
            "test_accuracy": m.get("test_accuracy"),
            "no_bird_accuracy": m.get("no_bird_accuracy"),
            "chance": m.get("chance"),
            "truth_mass_in_mask": mass.get("value"),
            "truth_mass_chance": mass.get("chance"),
            "truth_mass_ceiling": mass.get("ceiling"),
            "truth_mass_normalised": mass.get("normalised"),
            "truth_mass_images": mass.get("n_images"),
            "coverage": extra.get("coverage"),
            "seed": meta.get("seed"),
            "train_seconds": m.get("train_seconds", meta.get("train_seconds")),
            "data_args": _data_args(meta),
            "machine": _machine(meta),
            "command": meta.get("command", ""),
            "recipe": _recipe(meta),
        })
    return rows


def write_table(*, directory: str | Path | None = None, out_dir: str | Path = "results",
                recompute: bool = False) -> tuple[Path, Path]:  # fmt: skip
    """Write ``checkpoints.csv`` and ``checkpoints.md`` into ``out_dir`` (``recompute``: ignore the caches)."""
    rows = table_rows(directory, recompute=recompute)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out_dir / "checkpoints.csv", out_dir / "checkpoints.md"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=TABLE_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)

    def fmt(value: Any, column: str) -> str:
        if value is None:
            return "-"
        if column in _FLOATS:
            return f"{value:.3f}"
        return str(value)

    lines = [
        "# Shipped checkpoints",
        "",
        "Generated by `attrbench checkpoints` from the meta stored in",
        "`attrbench/checkpoints/*.pt`; do not edit by hand. Accuracies are top-1 on the test split;",
        "`no_bird_accuracy` is the accuracy on the same SynthBirds test scenes rendered without the",
        "bird (near `chance` when the model uses the bird). `train_seconds` is wall-clock time including",
        "data loading and evaluation, on the machine named below each command.",
        "`truth_mass_in_mask` (BagNets on SynthBirds): mean over the images of the test split of the share",
        "of the true class's positive patch truth (no baseline, spread over each patch's pixels) inside the",
        "bird mask; `truth_mass_chance`: the same share for a map giving every patch equal mass (the level",
        "of a model that ignores the bird; it falls with the patch size, since a large patch on the bird",
        "also covers background); `truth_mass_ceiling`: the largest share any patch map can reach (a patch's mass",
        "lands in the mask in proportion to the bird's share of its window, so an image's share is at most that of",
        "its most-bird window; mean over the same images); `truth_mass_normalised` = (value - chance) / (ceiling -",
        "chance), 0 at chance and 1 at the ceiling; `coverage`: share of pixels seen by at least one patch (`-`: not",
        "a BagNet). All are",
        "computed by `attrbench.checkpoint_stats` and cached in `<checkpoint>.derived.json`",
        "(`attrbench checkpoints --recompute` recomputes them; the slow tests re-check them).",
        "`scripts/train_all.sh` re-trains the models with the recorded commands.",
        "",
        "| " + " | ".join(_MD_COLUMNS) + " |",
        "|" + "---|" * len(_MD_COLUMNS),
    ]
    for row in rows:
        lines.append("| " + " | ".join(fmt(row[c], c) for c in _MD_COLUMNS) + " |")
    lines += ["", "## Commands", ""]
    for row in rows:
        mass = f"; truth mass over {row['truth_mass_images']} test images" if row["truth_mass_images"] else ""
        lines += [f"`{row['model']}`: {row['recipe']}", "", f"Data: {row['data_args'] or '-'}{mass}. "
                  f"Machine: {row['machine']}.", "", "```sh", row["command"], "```", ""]  # fmt: skip
    md_path.write_text("\n".join(lines))
    return csv_path, md_path


def recorded_commands(directory: str | Path | None = None, *, patterns: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(checkpoint names, command) of every distinct command recorded in the checkpoints, in name order.

    Checkpoints written by one run (for example an embedding and its early-epoch snapshots) share a
    command, which is listed once with all their names (comma-separated). ``patterns`` keeps the
    checkpoints whose name contains one of them (none: all). Checkpoints without a command are
    left out. ``scripts/train_all.sh`` re-trains from this list.
    """
    by_command: dict[str, list[str]] = {}
    for path in sorted(Path(directory or shipped_dir()).glob("*.pt"), key=lambda p: p.stem):
        if patterns and not any(p in path.stem for p in patterns):
            continue
        command = load_checkpoint(path).checkpoint_meta.get("command")
        if isinstance(command, str) and command.strip():
            by_command.setdefault(command.strip(), []).append(path.stem)
    return [(",".join(names), command) for command, names in by_command.items()]
