"""Regenerate results/features/: location instability of explanatory-graph nodes vs raw filter
peaks vs random positions on SynthBirds' part landmarks, with deconvnet grids, pattern figures and
occlusion maps, for the comparison networks and BagNets.

    attrbench experiment features [MODEL ...] [--out results/features]

Default models: vgg-synthbirds resnet-synthbirds bagnet17-synthbirds bagnet33-synthbirds. Per model:
mine a graph on ``--mine-images`` training images (its cam_layers, low to high), measure location
instability on ``--test-images`` test images (landmarks back, forehead, tail; top 20 images per
pattern; the strongest third of the patterns per layer; 95 % half-sampling intervals over images,
200 resamples) per layer and over all layers, with the paired difference graph minus raw peaks
and its verdict; draw the strongest patterns, the deconvnet top-9 grids of its cam_layers and the
occlusion maps of two test images, and summarise the occlusion maps of ``--occlusion-images``
test images against the bird's box. The test images' layer outputs are recorded in one pass and
serve every layer's positions, peaks and top-9 search. Writes README.md (generated from the
tables), location_instability.csv/.md/.png, location_instability_difference.csv,
occlusion_sensitivity.csv, command.txt, timings.json, graphs/<model>.pt and one folder of figures
per model. Run time per model: timings.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_MODELS", "add_arguments", "main"]

DEFAULT_MODELS: tuple[str, ...] = ("vgg-synthbirds", "resnet-synthbirds", "bagnet17-synthbirds", "bagnet33-synthbirds")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", nargs="*", default=list(DEFAULT_MODELS),
                   help=f"models (names, checkpoint paths or module:factory; default {' '.join(DEFAULT_MODELS)})")  # fmt: skip
    p.add_argument("--out", default="results/features", help="output folder (default results/features)")
    p.add_argument("--dataset", default="synthbirds", help="dataset with part landmarks (default synthbirds)")
    p.add_argument("--data-root", default=None, help="dataset folder (default: the dataset's own default)")
    p.add_argument("--crop", default="none", choices=["none", "bbox"],
                   help="bbox: crop every image to its box and squash it to the input size, as the paper's CUB "
                        "protocol (default none: whole scenes, as the models were trained)")  # fmt: skip
    p.add_argument("--mine-images", type=int, default=200, help="training images to mine on (default 200)")
    p.add_argument("--test-images", type=int, default=400, help="test images to measure on (default 400)")
    p.add_argument("--patterns", type=int, default=4, help="patterns per filter (default 4)")
    p.add_argument("--parents", type=int, default=5, help="parents per node (default 5)")
    p.add_argument("--iterations", type=int, default=10, help="EM iterations per layer (default 10)")
    p.add_argument("--landmarks", default="back,forehead,tail", help="part names or 'all' (default: the paper's three)")
    p.add_argument("--resamples", type=int, default=200, help="half-sample resamples for the intervals (default 200)")
    p.add_argument("--seed", type=int, default=0, help="seed of image draws, mining and resampling (default 0)")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward (default 32)")
    p.add_argument("--occlusion-images", type=int, default=8,
                   help="test images whose occlusion maps are summarised against the bird's box (default 8; "
                        "figures of the first two)")  # fmt: skip
    p.add_argument("--device", default="auto", help="cpu, cuda, mps or auto (default)")


def _label(name: str) -> str:
    return Path(name).stem if name.endswith((".pt", ".pth")) else name.replace(":", "-")


def _occlusion(
    model: Any, test: Any, *, layer: str, args: argparse.Namespace, figs: Path, device: Any
) -> dict[str, Any]:
    """Occlusion maps of the first ``--occlusion-images`` test images (figures of the first two) and
    their summary against the bird's box (:func:`on_object_summary`), one row for the model."""
    import numpy as np

    from attrbench.features.figures import occlusion_figure
    from attrbench.features.occlusion_sensitivity import occlusion_sensitivity, on_object_summary
    from attrbench.stats import wilson_ci

    size, per_image = 16, []
    for k in range(min(args.occlusion_images, len(test))):
        sample = test.dataset[test.indices[k]]
        maps = occlusion_sensitivity(model, sample.image.to(device), label=sample.label, layer=layer, size=size,
                                     stride=6, batch_size=args.batch_size)  # fmt: skip
        if k < 2:
            occlusion_figure(sample.image, maps, size=size, class_names=model.spec.class_names,
                             path=figs / f"occlusion-{k}.png")  # fmt: skip
        if sample.bbox is not None and args.crop == "none":
            per_image.append(on_object_summary(maps, bbox=sample.bbox, size=size))
    worst = [int(r["worst_on"]) for r in per_image]
    share, low, high = wilson_ci(successes=sum(worst), n=len(worst)) if worst else (np.nan, np.nan, np.nan)

    def mean(key: str) -> float:
        values = [r[key] for r in per_image if np.isfinite(r[key])]
        return float(np.mean(values)) if values else float("nan")

    return {"images": len(per_image), "worst_on": share, "ci_low": low, "ci_high": high,
            "on_share": mean("on_share"), "drop_on": mean("drop_on"), "drop_off": mean("drop_off"),
            "layer": layer, "square": size, "stride": 6}  # fmt: skip


def _one_model(name: str, args: argparse.Namespace, out: Path) -> dict[str, list[dict[str, Any]]]:
    """Mine, measure and draw one model; returns its table rows ("instability", "difference", "occlusion").

    Long: the study's steps in order, each a call; the test images' layer outputs are recorded once
    and serve the positions, the peaks and the deconvnet top-9 search of every layer.
    """
    import torch

    from attrbench.features.cli_args import load_model_and_device, parse_list
    from attrbench.features.data import open_images
    from attrbench.features.deconvnet_study import deconvnet_figure
    from attrbench.features.explanatory_graph import dataset_outputs, save_graph
    from attrbench.features.graph_mining import MiningOptions, mine_graph
    from attrbench.features.graph_study import (
        collect_from_outputs,
        comparison_tables,
        draw_patterns,
        position_sources,
    )
    from attrbench.features.topk import top_of_maps

    model, device = load_model_and_device(name, args.device)
    size, label = tuple(model.spec.input_size), _label(name)
    layers = list(model.spec.cam_layers)
    crop = None if args.crop == "none" else args.crop
    draw = dict(dataset=args.dataset, data_root=args.data_root, image_size=size, seed=args.seed, crop=crop,
                resize="squash" if crop else None)  # fmt: skip
    train = open_images(split="train", n_images=args.mine_images, **draw)  # type: ignore[arg-type]
    test = open_images(split="test", n_images=args.test_images, **draw).preload()  # type: ignore[arg-type]
    options = MiningOptions(patterns=args.patterns, parents=args.parents, iterations=args.iterations, seed=args.seed)
    graph = mine_graph(model, (b for _, b in train.batches(batch_size=args.batch_size, device=device)), layers=layers,
                       model_name=name, input_size=size, options=options)  # type: ignore[arg-type]  # fmt: skip
    save_graph(graph, out / "graphs" / f"{label}.pt")
    outputs = dataset_outputs(model, (b for _, b in test.batches(batch_size=args.batch_size, device=device)), layers)
    nodes, peaks = collect_from_outputs(graph, outputs)
    sources = position_sources(nodes, peaks, image_size=size, seed=args.seed)  # type: ignore[arg-type]
    study = dict(model=label, image_size=size, resamples=args.resamples, seed=args.seed)
    landmarks = test.landmarks(parse_list(args.landmarks) or ["all"])
    figs = out / label
    draw_patterns(graph, model, test, nodes, out_dir=figs, device=device)
    for layer in layers:
        top = top_of_maps([(torch.arange(len(test)), outputs[layer])], layer=layer, k=9)
        deconvnet_figure(model, test, layer=layer, channels=None, n_channels=6, k=9, out_dir=figs, device=device,
                         batch_size=args.batch_size, geometry=graph.layer(layer).geometry, top=top)  # fmt: skip
    occlusion = {"model": label, **_occlusion(model, test, layer=layers[-1], args=args, figs=figs, device=device)}
    rows, diffs = comparison_tables(sources, landmarks, **study)  # type: ignore[arg-type]
    return {"instability": rows, "difference": diffs, "occlusion": [occlusion]}


def main(args: argparse.Namespace) -> int:
    import json

    from attrbench.commands import command_line
    from attrbench.errors import OptionError
    from attrbench.features.figures import instability_figure
    from attrbench.features.study_readme import write_readme
    from attrbench.features.tables import write_csv, write_instability_table

    if args.occlusion_images < 0:
        raise OptionError(f"--occlusion-images must be >= 0, got {args.occlusion_images}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tables: dict[str, list[dict[str, Any]]] = {"instability": [], "difference": [], "occlusion": []}
    timings = {}
    for name in args.models:
        start = time.perf_counter()
        for key, rows in _one_model(name, args, out).items():
            tables[key] += rows
        timings[_label(name)] = round(time.perf_counter() - start, 1)
        print(f"{name}: {timings[_label(name)]} s", flush=True)
    command = command_line(args)
    for path in write_instability_table(tables["instability"], out, command=command):
        print(path)
    write_csv(tables["difference"], out / "location_instability_difference.csv")
    write_csv(tables["occlusion"], out / "occlusion_sensitivity.csv")
    instability_figure(tables["instability"], path=out / "location_instability.png")
    (out / "command.txt").write_text(command + "\n", encoding="utf-8")
    (out / "timings.json").write_text(json.dumps({"seconds": timings}, indent=1) + "\n", encoding="utf-8")
    print(write_readme(out, tables=tables, command=command, timings=timings, options=vars(args)))
    return 0
