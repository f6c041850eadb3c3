"""Run a named experiment (a study that goes beyond one run: tables, figures, comparisons).

Each experiment is one module under ``attrbench/experiments/`` with ``add_arguments(parser)`` and
``main(args) -> int``, listed in :data:`EXPERIMENTS`.

Examples:
    attrbench experiment ml-gradcam --n-samples 100 --batch-size 25
    attrbench experiment ml-gradcam --tables-only
"""

from __future__ import annotations

import argparse
import importlib

from attrbench.experiments.bagnet import EXPERIMENT_MODULES

__all__ = ["EXPERIMENTS", "add_arguments", "main"]

#: experiment -> module (the single list of experiments).
EXPERIMENTS: dict[str, str] = {
    "ml-gradcam": "attrbench.experiments.ml_gradcam",
    # the BagNet paper's experiments (issue 14): their one list is attrbench.experiments.bagnet
    **EXPERIMENT_MODULES,
    "bagnet-all": "attrbench.experiments.bagnet.run_all",
    # issue 15: Zeiler-Fergus occlusion maps; the results/features/ study
    "occlusion-sensitivity": "attrbench.experiments.occlusion_sensitivity",
    "features": "attrbench.experiments.features",
    "synthbirds-ceiling": "attrbench.experiments.synthbirds_ceiling",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="experiment", metavar="EXPERIMENT")
    sub.required = True
    for name, module_name in EXPERIMENTS.items():
        module = importlib.import_module(module_name)
        doc = (module.__doc__ or name).strip()
        summary = " ".join(doc.split("\n\n")[0].split())
        p = sub.add_parser(name, help=summary.replace("%", "%%"), description=doc,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_experiment=module)


def main(args: argparse.Namespace) -> int:
    return int(args._experiment.main(args) or 0)
