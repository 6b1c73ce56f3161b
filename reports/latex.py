"""LaTeX tables for a paper: booktabs rules through pandas' ``Styler.to_latex`` (needs jinja2).

Each :class:`~gnnbench.reports.tables.Table` becomes a ``table`` float with a caption, a label,
``\\toprule`` / ``\\midrule`` / ``\\bottomrule``, the best cells in ``\\bfseries`` and every cell's
text escaped for LaTeX (``_``, ``&``, ``%``, ``$``, ``#``, ``{``, ``}``, ``~``, ``^``, ``\\``).  Non-ASCII
text is written so that pdfLaTeX reads it: the report's symbols (``±``, ``×``, ``Δ``, ``≥``, dashes) as
LaTeX commands, accented letters (``Zürich``) as UTF-8, which :func:`render_document` declares
(``inputenc`` utf8, ``fontenc`` T1).
"""
from __future__ import annotations

import re

from .tables import Table

__all__ = ["render_table", "render_document", "latex_label"]

_PREAMBLE = r"""\documentclass{article}
\usepackage[utf8]{inputenc}
\usepackage[T1]{fontenc}
\usepackage{textcomp}
\usepackage{booktabs}
\usepackage[margin=1cm,landscape]{geometry}
\usepackage{caption}
\begin{document}
\small
"""


def latex_label(name: str) -> str:
    """A ``\\label`` key from a table's name (``tab:performance-cora``)."""
    return "tab:" + (re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-") or "table")


_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


#: symbols of the report that pdfLaTeX's utf8 input encoding does not define, as LaTeX
_SYMBOLS = {"±": r"$\pm$", "×": r"$\times$", "·": r"$\cdot$", "Δ": r"$\Delta$", "≥": r"$\geq$", "≤": r"$\leq$",
            "−": r"$-$", "–": "--", "—": "---", "≈": r"$\approx$"}


def _escape(text: str) -> str:
    """``text`` shown literally in LaTeX: the characters Styler's ``escape="latex"`` escapes, and the
    report's symbols (``±``, ``×``, ``Δ``, ``≥``, dashes) as LaTeX; accented letters stay UTF-8."""
    return "".join(_SPECIAL.get(ch) or _SYMBOLS.get(ch, ch) for ch in str(text))


def render_table(table: Table) -> str:
    """``table`` as a LaTeX ``table`` float (booktabs), the shared settings and notes in its caption.

    Raises:
        ImportError: jinja2 is not installed (pandas' Styler needs it; it is a gnnbench dependency).
    """
    import pandas as pd

    header = [_escape(h) for h in table.header]
    frame = pd.DataFrame([[_escape(c.text) for c in row] for row in table.rows], columns=header)
    best = pd.DataFrame([[c.best for c in row] for row in table.rows], columns=header)
    styler = frame.style.hide(axis="index")
    styler = styler.apply(lambda _: best.map(lambda b: "font-weight: bold" if b else ""), axis=None)
    kinds = [table.rows[0][i].kind if table.rows else "value" for i in range(len(table.header))]
    column_format = "".join({"label": "l", "setting": "l", "settings": r"p{6.5cm}"}.get(k, "r") for k in kinds)
    caption = _escape(table.title)
    if table.settings:
        caption += ". Shared by all rows: " + _escape("; ".join(f"{k}={v}" for k, v in table.settings))
    caption += ". " + " ".join(_escape(n) for n in table.notes)
    return styler.to_latex(hrules=True, column_format=column_format, caption=caption,
                           label=latex_label(table.name), position="htbp", convert_css=True)


def render_document(tables: list[Table], title: str = "gnnbench report") -> str:
    """A standalone LaTeX document holding ``tables`` (compiles with pdfLaTeX)."""
    body = [_PREAMBLE, f"\\section*{{{_escape(title)}}}\n"]
    body += [render_table(t) + "\n" for t in tables]
    body.append("\\end{document}\n")
    return "".join(body)
