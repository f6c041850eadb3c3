"""``python -m attrbench ...`` is the ``attrbench`` command line."""

from __future__ import annotations

import sys

from attrbench.cli import main

if __name__ == "__main__":
    sys.exit(main())
