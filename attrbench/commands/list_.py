"""List what attrbench knows: models, datasets, metrics, methods, tracks.

Examples:
    attrbench list methods
    attrbench list metrics
"""

from __future__ import annotations

import argparse

KINDS = ("models", "datasets", "metrics", "methods", "tracks", "postprocess")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=KINDS, help="what to list")
    parser.add_argument("pattern", nargs="?", default=None, help="optional glob filter, e.g. 'grad*'")


def main(args: argparse.Namespace) -> int:
    import fnmatch

    if args.kind == "models":
        from attrbench.models.zoo import list_models

        names = list_models()
    elif args.kind == "datasets":
        from attrbench.datasets import list_datasets

        names = list_datasets()
    elif args.kind == "metrics":
        from attrbench.metrics import get_metric, list_metrics

        for name in list_metrics(args.pattern):
            cls = get_metric(name)
            outs = ", ".join(f"{k} ({'higher' if v else 'lower'} is better)" for k, v in cls.outputs.items())
            print(f"{name:<14} {cls.info.category.value:<14} {outs}")
        return 0
    elif args.kind == "methods":
        from attrbench.methods import list_methods

        names = list_methods()
    elif args.kind == "tracks":
        from attrbench.tracks import TRACKS

        names = sorted(TRACKS)
    else:
        from attrbench.postprocess import DEFAULT_PRESET, PRESETS

        for name in PRESETS:
            if not args.pattern or fnmatch.fnmatch(name, args.pattern):
                pp = PRESETS[name]
                note = "  (default of methods that declare none)" if name == DEFAULT_PRESET else ""
                print(f"{name:<17} reduce={pp.reduce} relu={pp.relu} normalise={pp.normalise}{note}")
        return 0
    if args.pattern:
        names = [n for n in names if fnmatch.fnmatch(n, args.pattern)]
    for name in names:
        print(name)
    return 0
