"""The ``attrbench`` command line.

Each subcommand lives in its own module under ``attrbench/commands/`` and provides
``add_arguments(parser)`` and ``main(args) -> int``; the module docstring's first line is its
help. Command modules import heavy libraries (torch, pandas, captum) inside ``main`` only, so
``attrbench --help`` and listing commands stay fast.

User errors (:data:`attrbench.errors.USER_ERRORS`: bad options, unknown names, bad data, bad
checkpoints, missing files) print one line ``attrbench: error: ...`` and exit 2; set
ATTRBENCH_TRACEBACK=1 to see the traceback. Any other exception is a bug and shows its traceback.

Former ``python -m attrbench.<module>`` entry points forward here (:func:`forward`), so
``python -m attrbench.leaderboard`` is ``attrbench leaderboard``; ``python -m attrbench`` is
``attrbench``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

__all__ = ["COMMANDS", "forward", "main"]

#: subcommand -> module (the single list of commands).
COMMANDS: dict[str, str] = {
    "run": "attrbench.commands.run",
    "list": "attrbench.commands.list_",
    "methods": "attrbench.commands.methods",
    "data": "attrbench.commands.data",
    "train": "attrbench.commands.train",
    "report": "attrbench.commands.report",
    "export": "attrbench.commands.export",
    "baseline": "attrbench.commands.baseline",
    "check": "attrbench.commands.check",
    "leaderboard": "attrbench.commands.leaderboard",
    "checkpoints": "attrbench.commands.checkpoints",
    "train-embedding": "attrbench.commands.train_embedding",
    "experiment": "attrbench.commands.experiment",
    "references": "attrbench.commands.references",
    # feature visualisation and the explanatory graph (issue 15)
    "visualize": "attrbench.commands.visualize",
    "explanatory-graph": "attrbench.commands.explanatory_graph",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attrbench",
        description="Benchmark image attribution methods against ground truth (BagNet patch logits), "
        "faithfulness curves, object masks and sanity checks.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # command not built in this installation
                continue
            raise
        doc = (module.__doc__ or "").strip().splitlines()
        help_text = (doc[0] if doc else name).replace("%", "%%")  # argparse %-formats help
        p = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv  # the command as typed (see attrbench.commands.command_line)
    from attrbench.errors import USER_ERRORS

    try:
        code = int(args._module.main(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at interpreter exit
        return code
    except BrokenPipeError:  # `attrbench list methods | head`: the reader left; not an error
        _silence_stdout()
        return 0
    except USER_ERRORS as exc:
        if os.environ.get("ATTRBENCH_TRACEBACK"):
            raise
        print(f"attrbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("attrbench: interrupted; finished records are kept (use --resume)", file=sys.stderr)
        return 130


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (captured in tests)
        pass


def forward(command: str) -> int:
    """Run ``attrbench <command> <this process's arguments>``: the ``python -m`` form of a command.

    Args:
        command: the subcommand, with its sub-subcommand if any (``"experiment ml-gradcam"``).
    """
    return main([*command.split(), *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
