"""CLI subcommands: one module each, with ``add_arguments(parser)`` and ``main(args) -> int``.

Command modules import heavy libraries (torch, pandas, captum) inside ``main`` only.
"""

from __future__ import annotations

import argparse
import shlex

__all__ = ["command_line"]


def command_line(args: argparse.Namespace) -> str:
    """The command as typed, ``attrbench <subcommand> ...``, for the records a command writes."""
    return shlex.join(["attrbench", *args.argv])
