"""Provenance of a result: the attrbench commit and the versions of the packages it depends on
(written into every run's config.json)."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

__all__ = ["git_hash", "package_versions"]


def git_hash() -> str:
    """The commit of the attrbench checkout, or "unknown" (installed wheel, no git)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
            capture_output=True, text=True, timeout=5, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages a result depends on."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("attrbench", "torch", "captum", "numpy", "scipy", "pandas", "pyarrow"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out
