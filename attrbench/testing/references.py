"""Reference outputs of every registered method, compared by the contract test.

Written ONLY by an explicit command (never by a test):

    attrbench references --write            # all methods
    attrbench references --write ig gradcam # some methods

Each file ``tests/reference/<name>.pt`` holds ``{"output": float32 tensor, "config": dict,
"torch": version}``: the method's output on its contract case (:mod:`attrbench.testing.contract`)
with batch 2, stored as float32 to keep the files small (compare with rtol ~1e-5).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import Tensor

__all__ = ["REFERENCE_BATCH", "compute_reference", "reference_dir", "reference_path", "write_references"]

REFERENCE_BATCH = 2


def reference_dir() -> Path:
    """``tests/reference`` of the source tree this package is installed from (editable install)."""
    return Path(__file__).resolve().parents[2] / "tests" / "reference"


def reference_path(name: str, directory: Path | None = None) -> Path:
    return (directory or reference_dir()) / f"{name}.pt"


def compute_reference(name: str) -> tuple[Tensor, dict]:
    """Output (float64) and config of method ``name`` on its contract case with batch 2."""
    from attrbench.methods import get_method
    from attrbench.testing.contract import contract_case

    cls = get_method(name)
    case = contract_case(name, cls, batch=REFERENCE_BATCH)
    method = case.build(cls)
    return method(case.inputs, target=case.target).detach(), method.config


def write_references(*, names: list[str] | None = None, directory: Path | None = None) -> list[tuple[Path, tuple]]:
    """Write ``<directory>/<name>.pt`` for ``names`` (default: every registered method).

    Returns:
        (path, output shape) per written file.
    """
    from attrbench.methods import list_methods

    directory = directory or reference_dir()
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names or list_methods():
        output, config = compute_reference(name)
        path = reference_path(name, directory)
        torch.save({"output": output.to(torch.float32).cpu(), "config": config, "torch": str(torch.__version__)}, path)
        written.append((path, tuple(output.shape)))
    return written


if __name__ == "__main__":  # python -m attrbench.testing.references is attrbench references
    from attrbench.cli import forward

    sys.exit(forward("references"))
