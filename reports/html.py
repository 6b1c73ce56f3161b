"""One self-contained HTML file: inline CSS, figures embedded as base64 PNG, no script, every string escaped.

A Content-Security-Policy in the page forbids scripts and every external resource, so even a
string that escaped escaping could not run or fetch anything.
"""
from __future__ import annotations

import base64
from html import escape

from .tables import Table

__all__ = ["render_table", "render_report", "CSP"]

#: no scripts, no fetches: images only from data: URLs, styles only inline
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem auto; max-width: 1680px;
       color: #1b1f23; background: #ffffff; padding: 0 1.25rem; }
h1 { border-bottom: 2px solid #2c6fbb; padding-bottom: .3rem; }
h2 { margin-top: 2.5rem; border-bottom: 1px solid #d0d7de; }
div.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: .4rem 0 1rem; font-size: .85rem; }
table.nowrap { font-size: .8rem; }
table.wrap td.value, table.wrap td.ns, table.wrap td.label { white-space: nowrap; }
table.nowrap td, table.nowrap th { white-space: nowrap; padding: .3rem .45rem; }
td.setting, td.settings { text-align: left; color: #24292f; font-size: .8rem; }
td.settings { min-width: 14rem; }
td.ns { text-align: right; color: #6e7781; font-style: italic; }
p.settings { font-size: .85rem; margin: .8rem 0 0; }
p.settings code { background: #f6f8fa; padding: 0 .2rem; }
caption { text-align: left; font-weight: 600; padding: .3rem 0; }
th, td { border: 1px solid #d0d7de; padding: .35rem .6rem; }
th { background: #eef3fa; }
td.value, td.empty { text-align: right; font-variant-numeric: tabular-nums; }
td.label { text-align: left; font-weight: 500; }
td.best { font-weight: 700; background: #dff3e3; }
td.oom { background: #fde2e1; color: #8a1c1c; text-align: center; }
td.failed, td.interrupted, td.running { background: #fff4d6; color: #7a5300; text-align: center; }
td.empty { color: #8b949e; }
p.note { font-size: .85rem; color: #57606a; margin: .2rem 0; }
figure { margin: 1rem 0; }
figure img { width: 100%; max-width: 1400px; height: auto; border: 1px solid #d0d7de; }
figcaption { font-size: .85rem; color: #57606a; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
p.note, p.settings, figcaption, h1, h2 { overflow-wrap: anywhere; }
"""


def render_table(table: Table) -> str:
    """``table`` as an HTML ``<table>`` (cells classed by kind, the best marked) plus its notes."""
    out = []
    if table.settings:
        out.append('<p class="settings"><strong>all rows:</strong> '
                   + " · ".join(f"<code>{escape(k)}={escape(v)}</code>" for k, v in table.settings) + "</p>")
    out += ['<div class="scroll">', f'<table class="{"nowrap" if table.nowrap else "wrap"}">',
            f"<caption>{escape(table.title)}</caption>", "<thead><tr>"]
    out.extend(f'<th scope="col">{escape(h)}</th>' for h in table.header)
    out.append("</tr></thead><tbody>")
    for row in table.rows:
        out.append("<tr>")
        for c in row:
            cls = c.kind + (" best" if c.best else "")
            text = f"<strong>{escape(c.text)}</strong>" if c.best else escape(c.text)
            out.append(f'<td class="{escape(cls)}">{text}</td>')
        out.append("</tr>")
    out.append("</tbody></table></div>")
    out.extend(f'<p class="note">{escape(n)}</p>' for n in table.notes)
    return "\n".join(out)


def render_report(report) -> str:
    """The whole report (a :class:`gnnbench.reports.report.Report`) as one HTML document."""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',  # a constant without " or <
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>gnnbench report</title>", f"<style>{_CSS}</style>", "</head><body>",
           "<h1>gnnbench report</h1>", '<dl class="meta">',
           f"<dt>trials</dt><dd>{report.num_trials}</dd>",
           f"<dt>source</dt><dd>{escape(report.source)}</dd>",
           f"<dt>generated</dt><dd>{escape(report.generated_at)}</dd>"]
    out.extend(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in report.filters)
    out.append("</dl>")
    if report.environment:
        out.append('<h2>environment</h2><dl class="meta">')
        out.extend(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in report.environment)
        out.append("</dl>")
    for section in report.sections:
        out.append(f"<section><h2>{escape(section.title)}</h2>")
        out.extend(render_table(t) for t in section.tables)
        for fig in section.figures:
            if fig.png is None:
                continue
            data = base64.b64encode(fig.png).decode("ascii")
            out.append(f'<figure><img alt="{escape(fig.caption)}" src="data:image/png;base64,{data}">'
                       f"<figcaption>{escape(fig.caption)}</figcaption></figure>")
        out.extend(f'<p class="note">{escape(n)}</p>' for n in section.notes)
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
