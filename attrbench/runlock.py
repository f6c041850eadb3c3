"""One process owns a run directory at a time: an exclusive lock file (issue 12, case 1).

:class:`RunLock` creates ``<run>/.lock`` with ``os.open(O_CREAT | O_EXCL)``, which succeeds in
exactly one of several processes racing for it, and writes the owner into it as JSON
(``{"pid", "host", "started"}``). The runner takes the lock *before* it looks at the folder's
``config.json`` and shards, so "already holds a run" and "write the config" cannot interleave
with another process. The lock is released (the file removed) when the ``with`` block ends,
also on an exception or Ctrl-C.

A process killed with SIGKILL leaves its lock behind. Such a lock is *stale* when it names this
host and a pid that is no longer alive (:func:`pid_alive`); the next run takes it over and says
so on stderr. A lock of another host, a live pid, or a lock file still being written (empty or
unreadable for less than :data:`FRESH_SECONDS`) is respected: the second process is refused
with one line (:class:`~attrbench.errors.OptionError`, exit 2).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from attrbench.errors import OptionError

__all__ = ["FRESH_SECONDS", "LOCK_NAME", "RunLock", "pid_alive", "read_lock"]

LOCK_NAME = ".lock"
#: an empty or unreadable lock younger than this is being written by its owner, not stale.
FRESH_SECONDS = 10.0


def pid_alive(pid: int) -> bool:
    """Is process ``pid`` alive on this host (a zombie counts as dead)?"""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    try:  # a killed child not yet reaped by its parent is a zombie: dead for our purpose
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def read_lock(path: Path) -> dict[str, Any] | None:
    """The owner recorded in a lock file, or None if it is missing, empty or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class RunLock:
    """Exclusive ownership of a run directory (module docstring); use as a context manager.

    Args:
        folder: the run directory (created if missing).
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.held = False

    def acquire(self) -> None:
        """Create the lock file, taking over a stale one.

        Raises:
            OptionError: another live process owns the folder (the message names it and the folder).
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # a takeover may race with another process's takeover: retry a few times
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            owner = {"pid": os.getpid(), "host": socket.gethostname(),
                     "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}  # fmt: skip
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(owner) + "\n")
            self.held = True
            return
        raise self._busy(read_lock(self.path))

    def _busy(self, owner: dict[str, Any] | None) -> OptionError:
        who = (f"process {owner.get('pid')} on {owner.get('host')} since {owner.get('started')}"
               if owner else "another process")  # fmt: skip
        return OptionError(f"run directory {self.folder} is in use by {who} ({self.path}); "
                           "wait for it to finish or choose another --out")  # fmt: skip

    def _take_over_if_stale(self) -> None:
        owner = read_lock(self.path)
        if owner is None:
            try:
                age = time.time() - self.path.stat().st_mtime
            except FileNotFoundError:
                return  # released meanwhile: try again
            if age < FRESH_SECONDS:
                raise self._busy(None)
        elif owner.get("host") != socket.gethostname() or pid_alive(int(owner.get("pid", 0))):
            raise self._busy(owner)
        stale = self.path.with_name(f"{LOCK_NAME}.stale-{os.getpid()}")
        try:
            os.replace(self.path, stale)  # atomic: of two processes taking over, one moves the file
        except FileNotFoundError:
            return
        moved = read_lock(stale)
        if moved is not None and moved != owner:  # we moved a fresh lock another process just took: put it back
            try:
                os.link(stale, self.path)
            except FileExistsError:
                pass
            os.unlink(stale)
            raise self._busy(moved)
        os.unlink(stale)
        what = f"process {owner.get('pid')} on {owner.get('host')}" if owner else "an unreadable lock"
        print(f"attrbench: taking over {self.folder}: its lock ({what}) is stale", file=sys.stderr)

    def release(self) -> None:
        """Remove the lock file if this object holds it."""
        if self.held:
            self.held = False
            try:
                if (read_lock(self.path) or {}).get("pid") == os.getpid():
                    os.unlink(self.path)
            except FileNotFoundError:
                pass

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.release()
