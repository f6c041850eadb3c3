"""Writers of the bagnet-* experiments: a table as CSV + Markdown + LaTeX, a figure as PNG + PDF.

Tables are written from a pandas DataFrame with fixed float formats (``digits``), so the same
numbers give the same bytes. Figures use matplotlib's Agg backend with the time stamps and
software versions removed from the files' metadata (PNG ``Software``; PDF ``CreationDate``,
``Producer``, ``Creator``), so the same content gives the same bytes on the same matplotlib.
Every file is written atomically through :func:`attrbench.export.write_table`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from attrbench.export import write_table

__all__ = ["figure", "finish", "latex_escape", "save_figure", "table_markdown", "table_latex", "write_command",
           "write_tables"]  # fmt: skip


def _cell(value: Any, digits: int) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "–" if not math.isfinite(value) else f"{value:.{digits}f}"
    return str(value)


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped."""
    out = str(text)
    for a, b in (("\\", "\\textbackslash{}"), ("&", "\\&"), ("%", "\\%"), ("$", "\\$"), ("#", "\\#"),
                 ("_", "\\_"), ("{", "\\{"), ("}", "\\}"), ("~", "\\textasciitilde{}"), ("^", "\\^{}")):  # fmt: skip
        out = out.replace(a, b)
    return out.replace("\\textbackslash\\{\\}", "\\textbackslash{}").replace("–", "--")


def table_markdown(table: pd.DataFrame, *, digits: int = 3, caption: str = "") -> str:
    """GitHub Markdown: one header row, numbers right-aligned with ``digits`` decimals."""
    cols = [str(c) for c in table.columns]
    numeric = [pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c]) for c in table]
    lines = ([caption, ""] if caption else []) + ["| " + " | ".join(cols) + " |",
                                                    "|" + "|".join("---:" if n else ":---" for n in numeric) + "|"]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v, digits) for v in row) + " |")
    return "\n".join(lines) + "\n"


def table_latex(table: pd.DataFrame, *, digits: int = 3, caption: str = "", label: str = "") -> str:
    """A booktabs ``table`` (needs ``\\usepackage{booktabs}``)."""
    numeric = [pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c]) for c in table]
    out = ["\\begin{table}[t]", "\\centering", "\\small"]
    if caption:
        out.append(f"\\caption{{{latex_escape(caption)}}}")
    if label:
        out.append(f"\\label{{{label}}}")
    out += [f"\\begin{{tabular}}{{{''.join('r' if n else 'l' for n in numeric)}}}", "\\toprule",
            " & ".join(latex_escape(str(c)) for c in table.columns) + " \\\\", "\\midrule"]
    for row in table.itertuples(index=False):
        out.append(" & ".join(latex_escape(_cell(v, digits)) for v in row) + " \\\\")
    out += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(out) + "\n"


def write_tables(table: pd.DataFrame, *, out: Path, name: str, caption: str, digits: int = 3) -> list[Path]:
    """Write ``name``.csv (all digits: ``%.6g``), ``name``.md and ``name``.tex into ``out``."""
    label = "tab:" + name.replace("_", "-")
    return [
        write_table(table.to_csv(index=False, float_format="%.6g", lineterminator="\n"), out / f"{name}.csv"),
        write_table(table_markdown(table, digits=digits, caption=caption), out / f"{name}.md"),
        write_table(table_latex(table, digits=digits, caption=caption, label=label), out / f"{name}.tex"),
    ]


def write_command(command: str, *, out: Path) -> Path:
    """``command.txt``: the command that regenerates the folder."""
    return write_table(command + "\n", out / "command.txt")


def finish(table: pd.DataFrame, *, args: Any, out: Path, name: str, caption: str, digits: int = 3,
           notes: list[str] | tuple[str, ...] = (), draw: Callable[[pd.DataFrame], None] | None = None) -> int:  # fmt: skip
    """The common end of an experiment: its main table (:func:`write_tables`), ``draw(table)`` (its
    figure), ``notes.txt`` when there are ``notes`` (e.g. skipped models), ``command.txt``; prints the
    table and returns 0 (the command's exit code)."""
    from attrbench.commands import command_line

    write_tables(table, out=out, name=name, caption=caption, digits=digits)
    if draw is not None:
        draw(table)
    if notes:
        write_table("\n".join(notes) + "\n", out / "notes.txt")
    else:
        (out / "notes.txt").unlink(missing_ok=True)
    write_command(command_line(args), out=out)
    print(table.to_string(index=False))
    return 0


def figure(*, nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (5.0, 3.5)):  # -> (Figure, Axes)
    """A new Agg figure and its axes (``squeeze=False``: always a 2-D array of axes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, figsize=size, squeeze=False)


def save_figure(fig: Any, *, out: Path, name: str, dpi: int = 120) -> list[Path]:
    """Write ``name``.png and ``name``.pdf without time stamps or versions, then close the figure."""
    import io

    import matplotlib.pyplot as plt

    paths = []
    for ext, meta in (("png", {"Software": None}),
                      ("pdf", {"CreationDate": None, "Producer": None, "Creator": None})):  # fmt: skip
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, dpi=dpi, metadata=meta)
        path = out / f"{name}.{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(buf.getvalue())
        paths.append(path)
    plt.close(fig)
    return paths
