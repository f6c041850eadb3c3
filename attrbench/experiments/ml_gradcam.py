"""Reproduce the structure of Chen et al.'s CUB table ("Adapting Grad-CAM for Embedding Networks",
WACV 2020, arXiv 2001.06538) on SynthBirds' unseen test classes, over several checkpoints.

Rows (:data:`VARIANTS`): {Grad-CAM, Grad-CAM++} x {1 triplet, N triplets, N triplets + top-k by
signed weight, by magnitude, explaining +L instead of -L, weight transfer (signed, magnitude)},
Faster-Grad-CAM (signed, magnitude), EmbeddingCAM on the class proxy, plain Grad-CAM of the
track's similarity target and a random map. Columns: energy in mask and in box, pointing game,
deletion AUC on the similarity, runtime per image; mean with 95 % interval. Maps are ReLU'd,
min-max normalised and placed on the image by the CAM layer's receptive-field geometry
(:mod:`attrbench.geometry`), as the scored maps of every layer method are. Everything runs through
the harness (``attrbench.evaluate``, track "embedding"); tables are derived from stored records.

    attrbench experiment ml-gradcam --models embed-synthbirds,embed-synthbirds-ep5,embed-synthbirds-ep2

The first model is the one of the paper-structure table, comparisons (paired Wilcoxon + Holm,
:mod:`.ml_gradcam_tables`) and maps; every model adds a point to the quality-vs-Recall@1 figure
(:mod:`.ml_gradcam_figures`). Outputs (``--out``, default ``results/embedding``): table.md,
table.csv, comparisons.csv, quality_vs_recall.csv/.png, qualitative.png, databases.json,
command.txt, records.parquet (all models), runs/<model>/ (the run directories) and README.md
(:mod:`.ml_gradcam_readme`: setup from the checkpoints' meta, the tables, the paper's four claims
decided by :mod:`.ml_gradcam_claims`, the speed benchmark's JSON). ``--tables-only`` rebuilds the
tables, the figure and README.md from the stored runs. ``--dataset cub200 --data-root DIR`` runs on
CUB-200-2011 (or its test fixture) instead of the generated SynthBirds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["VARIANTS", "add_arguments", "main"]

_N = "n_triplets=50"


def _family(rule: str, label: str) -> tuple[tuple[str, str, str], ...]:
    bp = f"{rule}[{_N},top_k=50"
    return (
        (label, "1 triplet", f"{rule}[n_triplets=1,top_k=none]"),
        (label, "N triplets", f"{rule}[{_N},top_k=none]"),
        (label, "N + top-k (signed)", f"{bp}]"),
        (label, "N + top-k (magnitude)", f"{bp},top_k_by=magnitude]"),
        (label, "N + top-k (signed), explain +L", f"{bp},explain=loss]"),
        (label, "weight transfer (signed)", f"{rule}-transfer"),
        (label, "weight transfer (magnitude)", f"{rule}-transfer[top_k_by=magnitude]"),
    )


#: (row label, variant, method spec) in table order; N = 50 triplets, k = 50 channels, K = 50 clusters.
VARIANTS: tuple[tuple[str, str, str], ...] = (
    *_family("mlgradcam", "Grad-CAM"),
    *_family("mlgradcampp", "Grad-CAM++"),
    ("Faster-Grad-CAM", "transfer K=10 (signed)", "fastergradcam"),
    ("Faster-Grad-CAM", "transfer K=10 (magnitude)", "fastergradcam[top_k_by=magnitude]"),
    ("EmbeddingCAM", "class proxy (normalised mean)", "embeddingcam"),
    ("Grad-CAM (plain)", "cosine similarity to class mean", "gradcam"),
    ("Reference", "random map", "random"),
)
METRICS: tuple[str, ...] = ("localisation", "deletion", "runtime")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``attrbench experiment ml-gradcam``."""
    p.add_argument("--models", default="embed-synthbirds",
                   help="comma-separated embedding checkpoints (names, paths or module:factory); the first is the "
                        "table's model, all of them make the quality-vs-Recall@1 figure")
    p.add_argument("--dataset", default="synthbirds", help="synthbirds or cub200 (any CUB-format dataset name)")
    p.add_argument("--data-root", default=None, help="SynthBirds/CUB-format folder (default: the generated cache)")
    p.add_argument("--split", default="test", help="split of the unseen classes to explain (test|train|all)")
    p.add_argument("--n-samples", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--figure-images", type=int, default=4)
    p.add_argument("--out", default="results/embedding")
    p.add_argument("--benchmark", default="results/benchmarks/weight_transfer.json",
                   help="JSON of scripts/bench_weight_transfer.py deciding the speed claim (skipped if absent)")
    p.add_argument("--tables-only", action="store_true",
                   help="only rebuild the tables and the quality figure from the stored runs in OUT/runs")


def _run_dir(out: Path, name: str) -> Path:
    return out / "runs" / name.replace("/", "_").replace(":", "_")


def _recall(model) -> float:  # noqa: ANN001
    return float(model.checkpoint_meta.get("metrics", {}).get("test_recall@1", float("nan")))


def _dataset(args: argparse.Namespace, *, image_size: int):  # noqa: ANN202
    """The unseen classes ("second_half") of ``--dataset`` in ``--split``."""
    from attrbench.datasets import get_dataset

    return get_dataset(args.dataset)(root=args.data_root, split=args.split, classes="second_half",
                                     image_size=image_size)


def _write_tables(args: argparse.Namespace, *, out: Path, runs: list[dict], model, command: str,  # noqa: ANN001
                  databases: dict | None) -> str:
    """table, comparisons (with claim 4's cross-model rows), quality figure, README; returns table.md."""
    import pandas as pd

    from attrbench.experiments.ml_gradcam_claims import claims_markdown, cross_model_records, decide_claims, speed_rows
    from attrbench.experiments.ml_gradcam_figures import plot_quality_vs_recall, quality_vs_recall
    from attrbench.experiments.ml_gradcam_readme import read_json, readme_markdown
    from attrbench.experiments.ml_gradcam_tables import (
        COMPARISONS,
        comparisons_from_records,
        comparisons_markdown,
        table_from_records,
        table_markdown,
    )

    main_run = runs[0]
    table = table_from_records(main_run["records"], VARIANTS)
    table.to_csv(out / "table.csv", index=False)
    cross, cross_comparisons = cross_model_records(runs)
    records = main_run["records"] if cross is None else pd.concat([main_run["records"], cross], ignore_index=True)
    comp = comparisons_from_records(records, comparisons=COMPARISONS + cross_comparisons)
    comp.to_csv(out / "comparisons.csv", index=False)
    header = (
        f"ML Grad-CAM on {args.dataset} unseen classes ({main_run['records']['sample_id'].nunique()} images of split "
        f"{args.split!r}, classes 'second_half'), model {model.spec.name} (test Recall@1 "
        f"{main_run['recall@1']:.3f}); N = 50 triplets, k = 50 channels, K = 50 clusters; maps ReLU'd, min-max "
        f"normalised, placed by the CAM layer's receptive-field geometry.\nMean [95 % interval]. Command: `{command}`"
    )
    table_md = table_markdown(table, header=header) + comparisons_markdown(comp)
    (out / "table.md").write_text(table_md, encoding="utf-8")
    quality = quality_vs_recall(runs, VARIANTS)
    quality.to_csv(out / "quality_vs_recall.csv", index=False)
    plot_quality_vs_recall(quality, path=out / "quality_vs_recall.png")
    bench = read_json(Path(args.benchmark))
    speed = speed_rows(bench, model=model.spec.name)
    claims = decide_claims(comp, speed=speed)
    readme = readme_markdown(
        command=command, header=header, model=model, recalls=[(r["model"], r["recall@1"]) for r in runs],
        table=table, comp=comp, quality=quality, claims_table=claims_markdown(claims), speed=speed, bench=bench,
        databases=databases,
    )  # fmt: skip
    (out / "README.md").write_text(readme, encoding="utf-8")
    return table_md


def main(args: argparse.Namespace) -> int:
    """Run the experiment (or rebuild its tables) as ``attrbench experiment ml-gradcam`` does.

    Long: over 60 lines because it is the experiment's script end to end (one run per checkpoint,
    tables, comparisons, figures, database report), each step a few lines that read best in order.
    """
    import shutil

    import pandas as pd

    from attrbench.commands import command_line
    from attrbench.context import RunContext
    from attrbench.device import resolve_device
    from attrbench.errors import OptionError
    from attrbench.experiments.ml_gradcam_figures import qualitative_figure
    from attrbench.models.zoo import load_model
    from attrbench.results import load_run
    from attrbench.runner import evaluate
    from attrbench.runspec import RunConfig

    names = [m.strip() for m in args.models.split(",") if m.strip()]
    if not names:
        raise OptionError("--models needs at least one checkpoint")
    device = resolve_device(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    specs = [spec for _, _, spec in VARIANTS]
    runs, models = [], {}
    for name in names:
        model = load_model(name, device=device)
        models[name] = model
        run_dir = _run_dir(out, name)
        if not args.tables_only:
            dataset = _dataset(args, image_size=model.spec.input_size[0])
            if run_dir.exists():
                shutil.rmtree(run_dir)
            evaluate(methods=specs, model=model, dataset=dataset, track="embedding", metrics=list(METRICS),
                     n_samples=args.n_samples, batch_size=args.batch_size, device=str(device), seed=args.seed,
                     out=run_dir, postprocess="pytorch-grad-cam")
        records = load_run(run_dir).records
        runs.append({"model": model.spec.name, "recall@1": _recall(model), "records": records})
    pd.concat([r["records"] for r in runs]).to_parquet(out / "records.parquet", index=False)
    command_file = out / "command.txt"
    command = command_line(args)
    if args.tables_only and command_file.is_file():  # the command that made the runs
        command = command_file.read_text(encoding="utf-8").strip()
    else:
        command_file.write_text(command + "\n", encoding="utf-8")
    main_model = models[names[0]]
    databases = None
    if not args.tables_only:
        dataset = _dataset(args, image_size=main_model.spec.input_size[0])
        ctx = RunContext.open(RunConfig(methods=specs[:-1], track="embedding", metrics=[], n_samples=args.n_samples,
                                        seed=args.seed, device=str(device), postprocess="pytorch-grad-cam"),
                              model=main_model, dataset=dataset)  # fmt: skip
        qualitative_figure(ctx, VARIANTS[:-1], path=out / "qualitative.png", n_images=args.figure_images)
        (out / "databases.json").write_text(json.dumps(ctx.track.database_info, indent=2) + "\n", encoding="utf-8")
    if (out / "databases.json").is_file():
        databases = json.loads((out / "databases.json").read_text(encoding="utf-8"))
    print(_write_tables(args, out=out, runs=runs, model=main_model, command=command, databases=databases))
    return 0


if __name__ == "__main__":  # python -m attrbench.experiments.ml_gradcam is attrbench experiment ml-gradcam
    from attrbench.cli import forward

    sys.exit(forward("experiment ml-gradcam"))
