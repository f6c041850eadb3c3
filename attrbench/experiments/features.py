"""Regenerate results/features/: location instability of explanatory-graph nodes vs raw filter
peaks vs random positions on SynthBirds' part landmarks, with deconvnet grids, pattern figures and
occlusion maps, for the comparison networks and BagNets.

    attrbench experiment features [MODEL ...] [--out results/features]

Default models: vgg-synthbirds resnet-synthbirds bagnet17-synthbirds bagnet33-synthbirds. Per model:
mine a graph on ``--mine-images`` training images (its cam_layers, low to high), measure location
instability on ``--test-images`` test images (landmarks back, forehead, tail; top 20 images per
pattern; the strongest third of the patterns per layer; 95 % bootstrap intervals over images,
200 resamples), draw
the strongest patterns, the deconvnet top-9 grids of its cam_layers and occlusion maps of two
test images. Writes location_instability.csv/.md/.png, command.txt, timings.json, graphs/<model>.pt
and one folder of figures per model. Run time per model: timings.json.
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
    p.add_argument("--resamples", type=int, default=200, help="bootstrap resamples (default 200)")
    p.add_argument("--seed", type=int, default=0, help="seed of image draws, mining and bootstrap (default 0)")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward (default 32)")
    p.add_argument("--device", default="auto", help="cpu, cuda, mps or auto (default)")


def _label(name: str) -> str:
    return Path(name).stem if name.endswith((".pt", ".pth")) else name.replace(":", "-")


def _one_model(name: str, args: argparse.Namespace, out: Path) -> list[dict[str, Any]]:
    """Mine, measure and draw one model; returns its table rows."""
    from attrbench.features.cli_args import load_model_and_device, parse_list
    from attrbench.features.data import open_images
    from attrbench.features.deconvnet_study import deconvnet_figure
    from attrbench.features.explanatory_graph import save_graph
    from attrbench.features.figures import occlusion_figure
    from attrbench.features.graph_mining import MiningOptions, mine_graph
    from attrbench.features.graph_study import collect, draw_patterns, instability_rows
    from attrbench.features.occlusion_sensitivity import occlusion_sensitivity

    model, device = load_model_and_device(name, args.device)
    size, label = tuple(model.spec.input_size), _label(name)
    layers = list(model.spec.cam_layers)
    crop = None if args.crop == "none" else args.crop
    draw = dict(dataset=args.dataset, data_root=args.data_root, image_size=size, seed=args.seed, crop=crop,
                resize="squash" if crop else None)  # fmt: skip
    train = open_images(split="train", n_images=args.mine_images, **draw)  # type: ignore[arg-type]
    test = open_images(split="test", n_images=args.test_images, **draw)  # type: ignore[arg-type]
    options = MiningOptions(patterns=args.patterns, parents=args.parents, iterations=args.iterations, seed=args.seed)
    graph = mine_graph(model, (b for _, b in train.batches(batch_size=args.batch_size, device=device)), layers=layers,
                       model_name=name, input_size=size, options=options)  # type: ignore[arg-type]  # fmt: skip
    save_graph(graph, out / "graphs" / f"{label}.pt")
    rows = instability_rows(graph, model, test, landmarks=parse_list(args.landmarks) or ["all"], device=device,
                            resamples=args.resamples, seed=args.seed, batch_size=args.batch_size)  # fmt: skip
    for row in rows:
        row["model"] = label
    nodes, _ = collect(graph, model, test, device=device, batch_size=args.batch_size)
    figs = out / label
    draw_patterns(graph, model, test, nodes, out_dir=figs, device=device)
    for layer in layers:
        deconvnet_figure(model, test, layer=layer, channels=None, n_channels=6, k=9, out_dir=figs, device=device,
                         batch_size=args.batch_size, geometry=graph.layer(layer).geometry)  # fmt: skip
    for k in range(2):
        sample = test.dataset[test.indices[k]]
        maps = occlusion_sensitivity(model, sample.image.to(device), label=sample.label, layer=layers[-1], size=16,
                                     stride=6, batch_size=args.batch_size)  # fmt: skip
        occlusion_figure(sample.image, maps, size=16, class_names=model.spec.class_names, path=figs / f"occlusion-{k}.png")
    return rows


def main(args: argparse.Namespace) -> int:
    import json

    from attrbench.commands import command_line
    from attrbench.features.figures import instability_figure
    from attrbench.features.tables import write_instability_table

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, timings = [], {}
    for name in args.models:
        start = time.perf_counter()
        rows += _one_model(name, args, out)
        timings[_label(name)] = round(time.perf_counter() - start, 1)
        print(f"{name}: {timings[_label(name)]} s", flush=True)
    command = command_line(args)
    for path in write_instability_table(rows, out, command=command):
        print(path)
    instability_figure(rows, path=out / "location_instability.png")
    (out / "command.txt").write_text(command + "\n", encoding="utf-8")
    (out / "timings.json").write_text(json.dumps({"seconds": timings}, indent=1) + "\n", encoding="utf-8")
    return 0
