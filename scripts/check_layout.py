"""Print modules over 400 lines, functions over 60 lines without a "Long:" reason, and import cycles.

    python scripts/check_layout.py      # exit status 1 if anything is found

The rules and the reading of the source are :mod:`attrbench.testing.layout`.
"""

from __future__ import annotations

import sys

from attrbench.testing.layout import (
    MAX_FILE_LINES,
    MAX_FUNCTION_LINES,
    find_cycle,
    import_graph,
    long_files,
    long_functions,
    modules,
)


def main() -> int:
    files, functions, cycle = long_files(), long_functions(), find_cycle(import_graph())
    print(f"{len(modules())} modules checked")
    for name, n in sorted(files.items()):
        print(f"file over {MAX_FILE_LINES} lines: {name} ({n})")
    for name, n in sorted(functions.items()):
        print(f"function over {MAX_FUNCTION_LINES} lines without a 'Long:' reason: {name} ({n})")
    print("import cycle: " + (" -> ".join(cycle) if cycle else "none"))
    return 1 if files or functions or cycle else 0


if __name__ == "__main__":
    sys.exit(main())
