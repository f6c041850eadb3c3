"""Checks of a run's output folder (``--out``) before anything is written (issue 12, cases 8 and 11).

:func:`check_out_target` runs before the model loads: ``--out`` must not name a file, and the
folder (or, when it does not exist yet, its nearest existing parent; without ``--out`` the working
directory, where ``results/runs/`` goes) must be writable. :func:`check_out_folder` runs once the
config's fingerprint is known: an existing, non-empty folder is accepted only if it is a run
directory (it holds ``config.json``, ``shards/`` or a run lock); its config is then compared by
the runner (resume or refuse). Any other non-empty folder is refused, so a user's own
``summary.csv`` there is never overwritten, unless ``--force`` is given.
"""

from __future__ import annotations

import os
from pathlib import Path

from attrbench.errors import OptionError

__all__ = ["RUN_MARKERS", "check_out_folder", "check_out_target"]

#: entries that make a folder a run directory.
RUN_MARKERS: tuple[str, ...] = ("config.json", "shards", ".lock")


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path.cwd()


def check_out_target(out: str | None) -> None:
    """``--out`` (None: the working directory's ``results/runs``) can hold a run folder.

    Raises:
        OptionError: ``--out`` names a file, or the place is not writable (one line naming it).
    """
    if out is None:
        base = Path("results") / "runs"
        where = _nearest_existing(base.resolve())
        if not os.access(where, os.W_OK | os.X_OK):
            raise OptionError(f"cannot create {base} in {where}: permission denied; run from a writable folder "
                              "or pass --out DIR")  # fmt: skip
        return
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise OptionError(f"--out {out!r} is a file, not a folder; give a folder for the run directory")
    where = _nearest_existing(path.resolve())
    if not where.is_dir():
        raise OptionError(f"--out {out!r}: {where} is a file, so the folder cannot be created")
    if not os.access(where, os.W_OK | os.X_OK):
        raise OptionError(f"--out {out!r}: {where} is not writable (permission denied)")


def check_out_folder(path: str | Path, *, force: bool = False) -> None:
    """Refuse a non-empty folder that is not a run directory (module docstring).

    Args:
        path: the run directory about to be used.
        force: accept any folder (files of the run's own names are replaced).

    Raises:
        OptionError: the folder holds other files and ``force`` is False.
    """
    folder = Path(path)
    if force or not folder.is_dir():
        return
    entries = sorted(p.name for p in folder.iterdir())
    if not entries or any(name in RUN_MARKERS for name in entries):
        return
    shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
    raise OptionError(f"--out {folder} is a non-empty folder that is not an attrbench run directory ({shown}); "
                      "choose an empty or new folder, or pass --force to write the run into it anyway")  # fmt: skip
