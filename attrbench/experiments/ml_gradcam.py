"""Reproduce the structure of Chen et al.'s CUB table ("Adapting Grad-CAM for Embedding Networks",
WACV 2020, arXiv 2001.06538) on SynthBirds' unseen test classes.

Rows: {Grad-CAM, Grad-CAM++} x {1 triplet, N triplets, N triplets + top-k, weight transfer}, plus
Faster-Grad-CAM, plain Grad-CAM of the track's similarity target and a random map; columns: energy inside the object mask and inside the box (share of the
ReLU'd, bilinearly upsampled map), mean with 95 % t-interval, plus the pointing game and the
runtime per image. Everything runs through the harness (``attrbench.evaluate``, track
"embedding"); the table is derived from the stored records only. Also writes a qualitative
figure (maps of the eight variants on a few test images) and the database build times.

    attrbench experiment ml-gradcam [--model embed-synthbirds] [--n-samples 200]

Outputs (``--out``, default ``results/embedding``): table.md, table.csv, comparisons.csv (paired
per-image differences for the paper's claims), records.parquet (copy of the run's records),
databases.json, qualitative.png, command.txt, run/ (the run directory). ``--tables-only``
rebuilds the tables from the stored run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from attrbench.context import RunContext

__all__ = ["VARIANTS", "add_arguments", "main", "table_from_records"]

#: (row label, method spec) in table order; N = 50 triplets, k = 50 channels.
VARIANTS: tuple[tuple[str, str, str], ...] = (
    ("Grad-CAM", "1 triplet", "mlgradcam[n_triplets=1,top_k=none]"),
    ("Grad-CAM", "N triplets", "mlgradcam[n_triplets=50,top_k=none]"),
    ("Grad-CAM", "N triplets + top-k", "mlgradcam[n_triplets=50,top_k=50]"),
    ("Grad-CAM", "weight transfer", "mlgradcam-transfer"),
    ("Grad-CAM++", "1 triplet", "mlgradcampp[n_triplets=1,top_k=none]"),
    ("Grad-CAM++", "N triplets", "mlgradcampp[n_triplets=50,top_k=none]"),
    ("Grad-CAM++", "N triplets + top-k", "mlgradcampp[n_triplets=50,top_k=50]"),
    ("Grad-CAM++", "weight transfer", "mlgradcampp-transfer"),
    ("Faster-Grad-CAM", "weight transfer (K=10, per-image)", "fastergradcam"),
    ("Grad-CAM (plain)", "cosine similarity to class mean", "gradcam"),
    ("Reference", "random map", "random"),
)

COLUMNS: tuple[tuple[str, str], ...] = (
    ("loc_energy_mask", "energy in mask"),
    ("loc_energy_box", "energy in box"),
    ("loc_pointing_game", "pointing game"),
    ("runtime_s", "runtime / image (ms)"),
)


def table_from_records(records):  # noqa: ANN001, ANN201  (pandas DataFrame -> DataFrame)
    """One row per variant: mean and 95 % CI of each column's metric (from stored records)."""
    import pandas as pd

    from attrbench.results import summarise

    summary = summarise(records)
    rows = []
    for family, variant, spec in VARIANTS:
        row = {"method": family, "variant": variant, "spec": spec}
        for metric, label in COLUMNS:
            hit = summary[(summary["method"] == spec) & (summary["metric"] == metric)]
            if hit.empty:
                row[label] = float("nan")
                row[label + " ci95"] = ""
                continue
            scale = 1000.0 if metric == "runtime_s" else 1.0
            mean, low, high = (float(hit[c].iloc[0]) * scale for c in ("mean", "ci_low", "ci_high"))
            row[label] = mean
            row[label + " ci95"] = f"[{low:.3f}, {high:.3f}]" if scale == 1.0 else f"[{low:.1f}, {high:.1f}]"
            row["n"] = int(hit["n"].iloc[0])
        rows.append(row)
    return pd.DataFrame(rows)


#: (claim, better spec, worse spec): paired per-image differences tested by the README.
COMPARISONS: tuple[tuple[str, str, str], ...] = (
    ("averaging helps (Grad-CAM)", "mlgradcam[n_triplets=50,top_k=none]", "mlgradcam[n_triplets=1,top_k=none]"),
    ("averaging helps (Grad-CAM++)", "mlgradcampp[n_triplets=50,top_k=none]", "mlgradcampp[n_triplets=1,top_k=none]"),
    ("top-k helps (Grad-CAM)", "mlgradcam[n_triplets=50,top_k=50]", "mlgradcam[n_triplets=50,top_k=none]"),
    ("top-k helps (Grad-CAM++)", "mlgradcampp[n_triplets=50,top_k=50]", "mlgradcampp[n_triplets=50,top_k=none]"),
    ("transfer keeps quality (Grad-CAM)", "mlgradcam-transfer", "mlgradcam[n_triplets=50,top_k=50]"),
    ("transfer keeps quality (Grad-CAM++)", "mlgradcampp-transfer", "mlgradcampp[n_triplets=50,top_k=50]"),
    ("Grad-CAM vs Grad-CAM++, 1 triplet", "mlgradcam[n_triplets=1,top_k=none]", "mlgradcampp[n_triplets=1,top_k=none]"),
    ("Grad-CAM vs Grad-CAM++, N + top-k", "mlgradcam[n_triplets=50,top_k=50]", "mlgradcampp[n_triplets=50,top_k=50]"),
)


def comparisons_from_records(records, *, metric: str = "loc_energy_mask"):  # noqa: ANN001, ANN201
    """Paired differences (first - second) per image with a 95 % t-interval, from stored records."""
    import numpy as np
    import pandas as pd

    from attrbench.stats import mean_ci

    ok = records[(records["metric"] == metric) & (records["status"] == "ok")]
    wide = ok.pivot_table(index="sample_id", columns="method", values="value", aggfunc="first")
    rows = []
    for claim, a, b in COMPARISONS:
        if a not in wide or b not in wide:
            continue
        diff = (wide[a] - wide[b]).to_numpy(dtype="float64")
        diff = diff[np.isfinite(diff)]
        mean, low, high = mean_ci(diff)
        rows.append({"comparison": claim, "first": a, "second": b, "metric": metric, "n": int(diff.size),
                     "mean_diff": mean, "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows)


def _comparisons_markdown(comp) -> str:  # noqa: ANN001
    lines = ["", "Paired differences of energy in mask (first - second, same images), mean [95 % t-interval]:", "",
             "| comparison | first | second | difference |", "|---|---|---|---|"]
    for _, r in comp.iterrows():
        lines.append(f"| {r['comparison']} | `{r['first']}` | `{r['second']}` | "
                     f"{r['mean_diff']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}] |")
    return "\n".join(lines) + "\n"


def _markdown(table, *, header: str) -> str:  # noqa: ANN001
    cols = ["method", "variant"] + [label for _, label in COLUMNS] + ["n"]
    lines = [header, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in table.iterrows():
        cells = [row["method"], row["variant"]]
        for metric, label in COLUMNS:
            value = row[label]
            fmt = "{:.1f}" if metric == "runtime_s" else "{:.3f}"
            cells.append(f"{fmt.format(value)} {row[label + ' ci95']}" if value == value else "n/a")
        cells.append(str(row.get("n", "")))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _figure(ctx: RunContext, *, path: Path, n_images: int) -> None:
    """Image, mask outline and the maps of the context's methods (the eight ML Grad-CAM variants)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from attrbench.api import collate

    dataset = ctx.dataset
    picks = [dataset[i] for i in range(0, len(dataset), max(1, len(dataset) // n_images))][:n_images]
    batch = collate(picks).to(ctx.device)
    target = ctx.track.make_target(model=ctx.model, batch=batch)
    maps = []
    for (family, variant, _), method in zip(VARIANTS, ctx.methods):
        raw = method.instance(batch.images, target=target)
        maps.append((f"{family}\n{variant}",
                     ctx.postprocess(raw, size=tuple(batch.images.shape[-2:]), info=method.cls.info).detach().cpu()))
    fig, axes = plt.subplots(len(batch), 1 + len(maps), figsize=(1.6 * (1 + len(maps)), 1.7 * len(batch)))
    for r in range(len(batch)):
        img = batch.images[r].permute(1, 2, 0).cpu().numpy()
        axes[r, 0].imshow(img)
        if batch.masks is not None:
            axes[r, 0].contour(batch.masks[r, 0].cpu().numpy(), levels=[0.5], colors="w", linewidths=0.6)
        for c, (title, m) in enumerate(maps, 1):
            axes[r, c].imshow(img)
            axes[r, c].imshow(m[r, 0].numpy(), cmap="jet", alpha=0.5, vmin=0, vmax=1)
            if r == 0:
                axes[r, c].set_title(title, fontsize=6)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``attrbench experiment ml-gradcam``."""
    p.add_argument("--model", default="embed-synthbirds")
    p.add_argument("--data-root", default=None, help="SynthBirds folder (default: the generated cache)")
    p.add_argument("--split", default="test", help="split of the unseen classes to explain (test|train|all)")
    p.add_argument("--n-samples", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--figure-images", type=int, default=5)
    p.add_argument("--out", default="results/embedding")
    p.add_argument("--tables-only", action="store_true",
                   help="only rebuild table.md/csv and comparisons.csv from the stored run in OUT/run")


def main(args: argparse.Namespace) -> int:
    """Run the experiment (or rebuild its tables) as ``attrbench experiment ml-gradcam`` does.

    Long: over 60 lines because it is the experiment's script end to end (run, tables, figure,
    database report), each step a few lines that read best in order.
    """
    import shutil

    from attrbench.commands import command_line

    from attrbench.datasets.synthbirds import SynthBirds
    from attrbench.device import resolve_device
    from attrbench.models.zoo import load_model
    from attrbench.context import RunContext
    from attrbench.results import load_run
    from attrbench.runner import evaluate
    from attrbench.runspec import RunConfig

    device = resolve_device(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = load_model(args.model, device=device)
    size = model.spec.input_size[0]
    dataset = SynthBirds(root=args.data_root, split=args.split, classes="second_half", image_size=size)
    run_dir = out / "run"
    if not args.tables_only:
        if run_dir.exists():
            shutil.rmtree(run_dir)
        specs = [spec for _, _, spec in VARIANTS]
        evaluate(methods=specs, model=model, dataset=dataset, track="embedding",
                 metrics=["localisation", "runtime"], n_samples=args.n_samples, batch_size=args.batch_size,
                 device=str(device), seed=args.seed, out=run_dir, postprocess="pytorch-grad-cam")
    run = load_run(run_dir)
    records = run.records
    records.to_parquet(out / "records.parquet", index=False)
    table = table_from_records(records)
    table.to_csv(out / "table.csv", index=False)
    meta = model.checkpoint_meta
    command = command_line(args)
    command_file = out / "command.txt"
    if args.tables_only and command_file.is_file():  # the command that made the run
        command = command_file.read_text(encoding="utf-8").strip()
    else:
        command_file.write_text(command + "\n", encoding="utf-8")
    header = (
        f"ML Grad-CAM on SynthBirds unseen classes ({len(records['sample_id'].unique())} images of split "
        f"{args.split!r}, classes 'second_half'), model {model.spec.name} "
        f"(test Recall@1 {meta.get('metrics', {}).get('test_recall@1', float('nan')):.3f}); N = 50 triplets, "
        f"k = 50 channels, K = 50 clusters; maps ReLU'd, min-max normalised, bilinear to the image.\n"
        f"Mean [95 % t-interval]. Command: `{command}`"
    )
    comp = comparisons_from_records(records)
    comp.to_csv(out / "comparisons.csv", index=False)
    (out / "table.md").write_text(_markdown(table, header=header) + _comparisons_markdown(comp), encoding="utf-8")
    if args.tables_only:
        print((out / "table.md").read_text(encoding="utf-8"))
        return 0
    # databases and the figure: the run's set-up (same seed, pool and cache), eight variants, no metrics
    ctx = RunContext.open(RunConfig(methods=[spec for _, _, spec in VARIANTS[:8]], track="embedding", metrics=[],
                                    n_samples=args.n_samples, seed=args.seed, device=str(device),
                                    postprocess="pytorch-grad-cam"), model=model, dataset=dataset)  # fmt: skip
    _figure(ctx, path=out / "qualitative.png", n_images=args.figure_images)
    (out / "databases.json").write_text(json.dumps(ctx.track.database_info, indent=2) + "\n", encoding="utf-8")
    print((out / "table.md").read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":  # python -m attrbench.experiments.ml_gradcam is attrbench experiment ml-gradcam
    from attrbench.cli import forward

    sys.exit(forward("experiment ml-gradcam"))
