"""Zeiler-Fergus occlusion sensitivity (ECCV 2014, Fig. 7): a grey square slides over chosen images;
maps of the true class's probability, of the strongest feature map's total activation and of the
predicted class.

    attrbench experiment occlusion-sensitivity --model vgg-synthbirds [--layer net.features.26]
        [--n-images 3] [--size 16] [--stride 4] [--out results/features/occlusion]

Images are drawn by --seed from the dataset split; the layer defaults to the model's cam_layer.
Writes occlusion-<k>.png per image and occlusion.csv (image, label, channel, unoccluded and
minimum probability, and the share of square positions that change the prediction).
"""

from __future__ import annotations

import argparse

from attrbench.features.cli_args import add_data_arguments, add_model_argument, load_images, load_model_and_device

__all__ = ["add_arguments", "main"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_argument(p)
    p.add_argument("--layer", default=None, help="layer of the strongest feature map (default: the model's cam_layer)")
    p.add_argument("--size", type=int, default=16, help="side of the grey square in pixels (default 16)")
    p.add_argument("--stride", type=int, default=4, help="step of the square in pixels (default 4)")
    p.add_argument("--fill", type=float, default=0.5, help="grey value of the square in [0, 1] (default 0.5)")
    p.add_argument("--out", default="occlusion", help="output folder (default ./occlusion)")
    add_data_arguments(p, split="test", n_images=3)


def main(args: argparse.Namespace) -> int:
    import csv
    from pathlib import Path

    from attrbench.errors import OptionError
    from attrbench.features.figures import occlusion_figure
    from attrbench.features.occlusion_sensitivity import occlusion_sensitivity

    model, device = load_model_and_device(args.model, args.device)
    layer = args.layer or model.spec.cam_layer
    if layer is None:
        raise OptionError(f"model {args.model!r} declares no cam_layer; give --layer")
    images = load_images(args, model)
    out = Path(args.out)
    rows = []
    for k, index in enumerate(images.indices):
        sample = images.dataset[index]
        maps = occlusion_sensitivity(model, sample.image.to(device), label=sample.label, layer=layer, size=args.size,
                                     stride=args.stride, fill=args.fill, batch_size=args.batch_size)  # fmt: skip
        occlusion_figure(sample.image, maps, size=args.size, class_names=model.spec.class_names,
                         path=out / f"occlusion-{k}.png")  # fmt: skip
        rows.append({"image": sample.id, "label": sample.label, "layer": layer, "channel": maps.channel,
                     "p_unoccluded": round(maps.base_probability, 6),
                     "p_min": round(float(maps.probability.min()), 6),
                     "changed_prediction_share": round(float((maps.predicted != maps.base_predicted).double().mean()), 6)})  # fmt: skip
    with (out / "occlusion.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} images -> {out}")
    return 0
