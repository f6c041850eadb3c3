"""File permissions of attrbench's outputs: created files honour the user's umask (issue 12, case 12).

Atomic writes go through ``tempfile.mkstemp`` / ``mkdtemp``, which create 0600 files and 0700
folders whatever the umask; after the rename they would stay private. Every atomic writer calls
:func:`honour_umask` on its temporary file (or folder) before the rename, so outputs get the
permissions an ordinary ``open(path, "w")`` / ``mkdir`` would give: ``0o666 & ~umask`` for files,
``0o777 & ~umask`` for folders.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

__all__ = ["FILE_MODE", "DIR_MODE", "current_umask", "honour_umask"]

#: permissions before the umask, as ``open()`` and ``os.mkdir()`` use them.
FILE_MODE = 0o666
DIR_MODE = 0o777

_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where the OS allows (``/proc/self/status``).

    Elsewhere it is read by setting and restoring it under a lock (the only portable way).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def honour_umask(path: str | Path, *, mode: int | None = None) -> None:
    """Give ``path`` the permissions a plain create would: ``mode & ~umask``.

    Args:
        path: a file or folder just created by ``mkstemp`` / ``mkdtemp``.
        mode: permissions before the umask (default :data:`FILE_MODE` for files,
            :data:`DIR_MODE` for folders).
    """
    if mode is None:
        mode = DIR_MODE if os.path.isdir(path) else FILE_MODE
    os.chmod(path, mode & ~current_umask())
