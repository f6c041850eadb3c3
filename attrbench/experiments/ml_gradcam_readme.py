"""``results/embedding/README.md`` of the ``ml-gradcam`` experiment, generated from the run.

Written by the experiment's tables step (also with ``--tables-only``), so every number in it comes
from the stored records, the checkpoints' ``meta`` (how each model was trained, its Recall@K),
the model itself (CAM layer shape) and the weight-transfer benchmark's JSON. Nothing is typed in.
Sections: setup, the paper-structure table of the table's model (both top-k rules, both signs,
the class-proxy method EmbeddingCAM), quality vs Recall@1 over the checkpoints, the paired
comparisons (Holm, equivalence margins), the paper's four claims decided by
:mod:`.ml_gradcam_claims`, and the speed benchmark.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from attrbench.experiments.ml_gradcam_tables import EQUIVALENCE_MARGINS, comparisons_markdown, table_markdown
from attrbench.hooks import capture_output
from attrbench.models.common import ImageModel

__all__ = ["read_json", "readme_markdown", "setup_lines"]

_TRAINING_KEYS = ("dataset", "image_size", "train_classes", "test_classes", "loss", "margin", "epoch", "seed",
                  "train_seconds")


def _cam_shape(model: ImageModel) -> tuple[int, ...]:
    """(channels, h, w) of the model's CAM layer for one zero image of its input size."""
    layer = model.get_submodule(model.spec.cam_layer)  # type: ignore[arg-type]
    param = next(model.parameters())
    x = torch.zeros(1, 3, *model.spec.input_size, dtype=param.dtype, device=param.device)
    with torch.no_grad(), capture_output(layer) as outputs:
        model(x)
    return tuple(outputs[0].shape[1:])


def setup_lines(model: ImageModel, *, recalls: list[tuple[str, float]]) -> list[str]:
    """The "Setup" bullets: architecture, training and Recall@K of the table's model, all read from it."""
    meta, spec = model.checkpoint_meta, model.spec
    net = model.net
    arch = f"{type(net).__name__}(backbone={getattr(net, 'backbone_name', '?')!r}, dim={spec.num_outputs})"
    n_params = sum(p.numel() for p in model.parameters())
    training = ", ".join(f"{k} {meta[k]}" for k in _TRAINING_KEYS if k in meta)
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in meta.get("metrics", {}).items())
    return [
        f"- **Model** `{spec.name}`: {arch}, {n_params} parameters, input {spec.input_size[0]} x "
        f"{spec.input_size[1]} px; CAM layer `{spec.cam_layer}` of shape (channels, h, w) = {_cam_shape(model)}.",
        f"- **Training** (checkpoint meta): {training or 'not recorded'}; command `{meta.get('command', 'not recorded')}`.",
        f"- **Retrieval quality** (checkpoint meta): {metrics or 'not recorded'}.",
        "- **Checkpoints of the quality figure** (test Recall@1 from each checkpoint's meta): "
        + ", ".join(f"`{name}` {r:.3f}" for name, r in recalls) + ".",
    ]


def _quality_table(quality, specs: tuple[str, ...]) -> str:  # noqa: ANN001
    """Means of a few variants per checkpoint, sorted by Recall@1 (the numbers behind the figure)."""
    from attrbench.experiments.ml_gradcam_figures import QUALITY_METRICS

    cols = [(spec, metric) for spec in specs for metric, _ in QUALITY_METRICS]
    means = {(r.model, r.spec, r.metric): r.mean for r in quality.itertuples()}
    models = quality[["model", "recall@1"]].drop_duplicates().sort_values("recall@1", na_position="first")
    lines = ["| Recall@1 | model | " + " | ".join(f"`{s}` {m}" for s, m in cols) + " |", "|" + "---|" * (2 + len(cols))]
    for name, recall in models.itertuples(index=False):
        cells = [f"{means.get((name, s, m), float('nan')):.3f}" for s, m in cols]
        lines.append(f"| {recall:.3f} | `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _speed_section(bench: dict[str, Any] | None, speed: list[dict[str, Any]], *, model: str) -> list[str]:
    if not bench:
        return ["No benchmark JSON was found: run `python scripts/bench_weight_transfer.py` (it writes "
                "`results/benchmarks/weight_transfer.txt` and `.json`) and rebuild with `--tables-only`."]
    if bench.get("model") != model:
        return [f"The benchmark JSON times `{bench.get('model')}`, not `{model}`; claim 3 is not decided."]
    machine = bench.get("machine", {})
    lines = [f"`{bench['command']}` ({bench.get('when', '')}; {machine.get('cpu')}, {machine.get('logical_cpus')} CPUs, "
             f"load average at start {machine.get('load_average')}). Per round every path is "
             "timed side by side; median over rounds of (path / one forward of the same round), quartiles in brackets:",
             "", "| batch | path | ms / image (median) | / one forward |", "|---|---|---|---|"]
    for batch, summary in bench["summary"].items():
        for path, s in summary.items():
            lines.append(f"| {batch} | {path} | {s['ms_per_image']:.2f} | {s['per_forward']:.2f}x "
                         f"[{s['per_forward_q1']:.2f}, {s['per_forward_q3']:.2f}] |")
    lines += ["", "Transfer against the back-propagated default (paired over rounds, Wilcoxon, Holm over batch sizes): "
              + "; ".join(f"batch {r['batch']}: {r['ratio']:.2f}x, p (Holm) {r['p_holm']:.2g}, {r['status']}"
                          for r in speed) + "."]
    return lines


def readme_markdown(*, command: str, header: str, model: ImageModel, recalls: list[tuple[str, float]], table,  # noqa: ANN001
                    comp, quality, claims_table: str, speed: list[dict[str, Any]],
                    bench: dict[str, Any] | None, databases: dict[str, Any] | None) -> str:
    """The whole README (module docstring).

    Long: one section after the other, each a few lines of text around a generated table; splitting
    it would only scatter the page's order over several functions.
    """
    margins = ", ".join(f"{k} +-{v:g}" for k, v in EQUIVALENCE_MARGINS.items())
    lines = [
        "# results/embedding — Grad-CAM for embedding networks (metric-learning track)", "",
        "Generated by the experiment's tables step from the stored runs; do not edit by hand. Rebuild with "
        "`attrbench experiment ml-gradcam --models ... --tables-only` (same `--models` and `--out`).", "",
        "Reproduces the *structure* of Chen, Chen, Hajimirsadeghi, Mori, \"Adapting Grad-CAM for Embedding "
        "Networks\" (WACV 2020, arXiv 2001.06538) on SynthBirds' unseen classes; no number of the paper is quoted "
        "(its table was not readable, docs/methods.md), only its claims.", "",
        f"Command: `{command}`", "", "## Setup", "", *setup_lines(model, recalls=recalls), "",
        "## Paper-structure table", "", table_markdown(table, header=header),
        "Both top-k rules (`top_k_by=signed|magnitude`), both signs (`explain=negative_loss|loss`) and the "
        "class-proxy method (`embeddingcam`, ClassProxy target: the normalised mean embedding of the class) are "
        "rows of this table.", "",
        "## Explanation quality vs Recall@1", "", "![quality vs Recall@1](quality_vs_recall.png)", "",
        "All variants: `quality_vs_recall.csv`. ML Grad-CAM (N + top-k), its transfer and the random map:", "",
        _quality_table(quality, ("mlgradcam[n_triplets=50,top_k=50]", "mlgradcam-transfer", "random")),
        "## Comparisons", "", f"Equivalence margins: {margins}.",
        comparisons_markdown(comp),
        "## The paper's four claims", "",
        "Each status is decided by the rows above (claim 3: by the speed benchmark), not written by hand: "
        "\"holds\" when every row supports the claim, \"does not hold\" when a row refutes it significantly, "
        "\"inconclusive\" otherwise (rules: attrbench/experiments/ml_gradcam_claims.py).", "",
        claims_table,
        "## Speed of weight transfer", "", *_speed_section(bench, speed, model=model.spec.name), "",
        "## Weight-transfer databases", "",
    ]
    if databases:
        lines += [f"- `{k}`: " + ", ".join(f"{kk} {vv}" for kk, vv in v.items()) for k, v in databases.items()]
    else:
        lines.append("Not recorded (the tables were rebuilt without a run).")
    return "\n".join(lines) + "\n"


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when the file does not exist."""
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
