"""Markdown rendering of report tables (GitHub-flavoured pipe tables), for terminals and READMEs."""
from __future__ import annotations

import html
import re

from .tables import Table

__all__ = ["md_escape", "render_table", "render_report"]

_MD_SPECIAL = re.compile(r"([\\`*\[\]|#~])")
#: ``_`` between two letters or digits never starts emphasis in GFM, so ``full_graph`` stays readable
_MD_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


def md_escape(text: object) -> str:
    """Text safe inside a Markdown table cell: shown as typed, never as markup or HTML.

    ``<``, ``>`` and ``&`` become HTML entities (so ``<script>`` renders as text on GitHub),
    Markdown punctuation and ``|`` are backslash-escaped, and newlines become spaces.
    """
    value = " ".join(str(text).splitlines())
    value = _MD_SPECIAL.sub(r"\\\1", value)
    value = _MD_UNDERSCORE.sub(r"\\_", value)
    return html.escape(value, quote=False)


def render_table(table: Table) -> str:
    """``table`` as a pipe table with a ``### title`` heading and its notes; best cells in bold."""
    lines = [f"### {md_escape(table.title)}", ""]
    if table.settings:
        lines += ["All rows: " + " · ".join(f"{md_escape(k)}={md_escape(v)}" for k, v in table.settings), ""]
    lines.append("| " + " | ".join(md_escape(h) for h in table.header) + " |")
    lines.append("|" + "|".join(":---" if i == 0 or table.rows and table.rows[0][i].kind in ("label", "setting", "settings") else "---:"
                                for i in range(len(table.header))) + "|")
    for row in table.rows:
        cells = [f"**{md_escape(c.text)}**" if c.best else md_escape(c.text) for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    if not table.rows:
        lines.append("| " + " | ".join(["—"] * len(table.header)) + " |")
    lines.append("")
    lines.extend(f"{md_escape(n)}  " for n in table.notes)
    return "\n".join(lines).rstrip() + "\n"


def render_report(report) -> str:
    """The whole report (a :class:`gnnbench.reports.report.Report`) as one Markdown document."""
    parts = ["# gnnbench report", ""]
    parts.append(f"{report.num_trials} trial(s) from `{md_escape(report.source)}`, generated {report.generated_at}.")
    for key, value in report.filters:
        parts.append(f"- {md_escape(key)}: {md_escape(value)}")
    parts.append("")
    if report.environment:
        parts += ["## environment", ""] + [f"- {md_escape(k)}: {md_escape(v)}" for k, v in report.environment] + [""]
    for section in report.sections:
        parts.append(f"## {md_escape(section.title)}")
        parts.append("")
        for table in section.tables:
            parts.append(render_table(table))
        for fig in section.figures:
            if fig.files:
                png = next((f for f in fig.files if f.endswith(".png")), fig.files[0])
                parts.append(f"![{md_escape(fig.caption)}]({png})")
                parts.append("")
        for note in section.notes:
            parts.append(f"{md_escape(note)}")
            parts.append("")
    return "\n".join(parts).rstrip() + "\n"
