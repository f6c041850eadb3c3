"""Visualise what a network's features respond to (Zeiler-Fergus deconvnet top-k grids).

    attrbench visualize deconvnet --model vgg-synthbirds --layer net.features.19 [--layer ...]
        [--channels 0,3,7 | --n-channels 8] [--k 9] --dataset synthbirds --out results/features/deconvnet

Per layer: the top-k activations of each channel over the images (each image's strongest
activation of the channel), projected to pixels with the deconvnet (switch unpooling, ReLU on the
backward signal, transposed filters; strided convolutions by transposed strided convolutions), beside
the image patch cropped to the unit's receptive field. Writes deconvnet-<layer>.png and
top<k>-<layer>.csv. docs/features.md explains the projection.
"""

from __future__ import annotations

import argparse

from attrbench.features.cli_args import add_data_arguments, add_model_argument, load_images, load_model_and_device, parse_list

__all__ = ["VISUALIZATIONS", "add_arguments", "main"]

#: the visualisations (sub-subcommands of `attrbench visualize`).
VISUALIZATIONS: tuple[str, ...] = ("deconvnet",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="visualization", metavar="VISUALIZATION")
    sub.required = True
    p = sub.add_parser("deconvnet", help="top-k activations per channel with deconvnet projections (Zeiler & Fergus)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    add_model_argument(p)
    p.add_argument("--layer", action="append", default=None,
                   help="layer (module name, e.g. net.features.19); repeat for several (default: the model's cam_layers)")  # fmt: skip
    p.add_argument("--channels", default=None, help="comma-separated channels (default: the --n-channels strongest)")
    p.add_argument("--n-channels", type=int, default=8, help="channels shown when --channels is not given (default 8)")
    p.add_argument("--k", type=int, default=9, help="activations per channel (default 9)")
    p.add_argument("--out", default="deconvnet", help="output folder (default ./deconvnet)")
    add_data_arguments(p, split="test", n_images=200)


def main(args: argparse.Namespace) -> int:
    from attrbench.errors import OptionError
    from attrbench.features.deconvnet_study import deconvnet_figure

    model, device = load_model_and_device(args.model, args.device)
    layers = args.layer or list(model.spec.cam_layers) or ([model.spec.cam_layer] if model.spec.cam_layer else [])
    if not layers:
        raise OptionError(f"model {args.model!r} declares no cam_layers; give --layer")
    try:
        channels = [int(c) for c in parse_list(args.channels) or []] or None
    except ValueError:
        raise OptionError(f"--channels must be comma-separated integers, got {args.channels!r}") from None
    if args.k < 1 or args.n_channels < 1:
        raise OptionError("--k and --n-channels must be at least 1")
    images = load_images(args, model)
    for layer in layers:
        fig, table = deconvnet_figure(model, images, layer=layer, channels=channels, n_channels=args.n_channels,
                                      k=args.k, out_dir=args.out, device=device, batch_size=args.batch_size)  # fmt: skip
        print(f"{layer}: {fig} {table}")
    return 0
