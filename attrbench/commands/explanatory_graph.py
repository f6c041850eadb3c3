"""Mine, apply and evaluate an Explanatory Graph of a CNN (Zhang et al., AAAI 2018).

    attrbench explanatory-graph mine --model vgg-synthbirds [--layers a,b,c] --out graph.pt
    attrbench explanatory-graph infer --graph graph.pt --split test --out positions.pt
    attrbench explanatory-graph draw --graph graph.pt --out figures/
    attrbench explanatory-graph instability --graph graph.pt [--landmarks back,forehead,tail] --out tables/

``mine`` splits every filter of the chosen conv layers into part patterns linked across layers by
stable spatial relationships (EM, top-down; docs/features.md gives the equations and where they
simplify the paper) and saves the graph. ``infer`` places the nodes on new images, ``draw`` shows
the strongest patterns (top-ranked patches and heat maps), ``instability`` measures location
instability over part landmarks (SynthBirds' 15 parts, CUB's parts/part_locs.txt) against raw
filter peaks and random positions, with 95 % half-sampling intervals over images.
"""

from __future__ import annotations

import argparse

from attrbench.features.cli_args import add_data_arguments, add_model_argument, load_images, load_model_and_device, parse_list

__all__ = ["add_arguments", "main"]


def _sub(sub, name: str, help_text: str) -> argparse.ArgumentParser:  # noqa: ANN001
    return sub.add_parser(name, help=help_text, description=help_text, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    p = _sub(sub, "mine", "mine a graph from a model's conv layers on a dataset and save it")
    add_model_argument(p)
    p.add_argument("--layers", default=None, help="comma-separated layers, low to high (default: the model's cam_layers)")
    p.add_argument("--patterns", type=int, default=4, help="patterns (nodes) per filter (default 4)")
    p.add_argument("--parents", type=int, default=5, help="parents per node (default 5)")
    p.add_argument("--iterations", type=int, default=10, help="EM iterations per layer (default 10)")
    p.add_argument("--warmup", type=int, default=3, help="absolute-anchor iterations of a lower layer (default 3)")
    p.add_argument("--tau", type=float, default=0.1, help="background term of the E-step (default 0.1)")
    p.add_argument("--out", default="graph.pt", help="graph file (default graph.pt)")
    add_data_arguments(p, split="train", n_images=200)
    for name, help_text in (("infer", "infer node positions on images (saves positions and scores)"),
                            ("draw", "draw the strongest patterns: top-ranked patches and heat maps"),
                            ("instability", "location instability vs raw filter peaks and random positions")):  # fmt: skip
        q = _sub(sub, name, help_text)
        q.add_argument("--graph", required=True, help="a graph written by 'explanatory-graph mine'")
        q.add_argument("--model", default=None, help="load this model instead of the one recorded in the graph")
        add_data_arguments(q, split="test", n_images=200)
        q.add_argument("--out", default=None, help="output file (infer) or folder (draw, instability)")
    sub.choices["draw"].add_argument("--n-patterns", type=int, default=6, help="patterns per layer (default 6)")
    sub.choices["draw"].add_argument("--n-patches", type=int, default=6, help="patches per pattern (default 6)")
    ins = sub.choices["instability"]
    ins.add_argument("--landmarks", default="back,forehead,tail", help="part names, or 'all' (default: the paper's three)")
    ins.add_argument("--top-images", type=int, default=20, help="images per pattern (default 20)")
    ins.add_argument("--pattern-fraction", type=float, default=1 / 3, help="strongest patterns kept per layer (default 1/3)")
    ins.add_argument("--resamples", type=int, default=1000, help="half-samples of the images for the intervals (default 1000)")


def _mine(args: argparse.Namespace) -> int:
    from attrbench.errors import OptionError
    from attrbench.features.explanatory_graph import save_graph
    from attrbench.features.graph_mining import MiningOptions, mine_graph

    options = MiningOptions(patterns=args.patterns, parents=args.parents, iterations=args.iterations,
                            warmup=args.warmup, tau=args.tau, seed=args.seed)  # fmt: skip
    model, device = load_model_and_device(args.model, args.device)
    layers = parse_list(args.layers) or list(model.spec.cam_layers)
    if not layers:
        raise OptionError(f"model {args.model!r} declares no cam_layers; give --layers")
    images = load_images(args, model)
    graph = mine_graph(model, (b for _, b in images.batches(batch_size=args.batch_size, device=device)), layers=layers,
                       model_name=args.model, input_size=tuple(model.spec.input_size), options=options)  # fmt: skip
    path = save_graph(graph, args.out)
    sizes = ", ".join(f"{lay.name}: {lay.num_nodes}" for lay in graph.layers)
    print(f"mined {sum(lay.num_nodes for lay in graph.layers)} nodes on {len(images)} images ({sizes}) -> {path}")
    return 0


def _load(args: argparse.Namespace):  # noqa: ANN202
    from attrbench.features.explanatory_graph import load_graph

    graph = load_graph(args.graph)
    model, device = load_model_and_device(args.model or graph.model, args.device)
    return graph, model, device, load_images(args, model)


def _infer(args: argparse.Namespace) -> int:
    import torch

    from attrbench.features.graph_study import collect

    graph, model, device, images = _load(args)
    nodes, _ = collect(graph, model, images, device=device, batch_size=args.batch_size)
    out = args.out or "positions.pt"
    torch.save({"ids": images.ids(), "layers": {n.layer: {"positions": n.positions, "scores": n.scores} for n in nodes}}, out)
    print(f"positions of {sum(n.scores.shape[0] for n in nodes)} nodes on {len(images)} images -> {out}")
    return 0


def _draw(args: argparse.Namespace) -> int:
    from attrbench.features.graph_study import collect, draw_patterns

    graph, model, device, images = _load(args)
    nodes, _ = collect(graph, model, images, device=device, batch_size=args.batch_size)
    for path in draw_patterns(graph, model, images, nodes, out_dir=args.out or "graph-figures", device=device,
                              n_patterns=args.n_patterns, n_patches=args.n_patches):  # fmt: skip
        print(path)
    return 0


def _instability(args: argparse.Namespace) -> int:
    from attrbench.commands import command_line
    from attrbench.errors import OptionError
    from attrbench.features.graph_study import collect, comparison_tables, position_sources
    from attrbench.features.tables import instability_markdown, write_instability_table

    if not 0 < args.pattern_fraction <= 1 or args.top_images < 2 or args.resamples < 1:
        raise OptionError("--pattern-fraction must lie in (0, 1], --top-images be >= 2 and --resamples >= 1")
    graph, model, device, images = _load(args)
    landmarks = images.landmarks(parse_list(args.landmarks) or ["all"])
    sources = position_sources(*collect(graph, model, images, device=device, batch_size=args.batch_size),
                               image_size=graph.input_size, seed=args.seed)  # fmt: skip
    rows, _ = comparison_tables(sources, landmarks, model=graph.model, image_size=graph.input_size,
                                top_images=args.top_images, pattern_fraction=args.pattern_fraction,
                                resamples=args.resamples, seed=args.seed)  # fmt: skip
    print(instability_markdown(rows, command=command_line(args)))
    if args.out:
        for path in write_instability_table(rows, args.out, command=command_line(args)):
            print(path)
    return 0


def main(args: argparse.Namespace) -> int:
    return {"mine": _mine, "infer": _infer, "draw": _draw, "instability": _instability}[args.action](args)
