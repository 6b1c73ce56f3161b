"""The ``gnnbench report`` command, registered through the ``gnnbench.commands`` entry-point group
like any plugin's command (pandas and matplotlib load inside it)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gnnbench.commands._common import Backbone, Dataset, Db, Method, Since, Until

__all__ = ["report", "FORMATS"]

#: ``--format`` choices: what the command prints
FORMATS = ("markdown", "latex")


def report(
    dataset: Dataset = None,
    method: Method = None,
    backbone: Backbone = None,
    since: Since = None,
    until: Until = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", show_default="none: print the Markdown tables only",
        help="folder for report.md, report.html, report.tex, figures/ (PNG at 300 dpi, SVG, PDF) and csv/")] = None,
    view: Annotated[str, typer.Option(
        "--view", help="full: every section; table3 / table4: the VQ-GNN paper's Table 3 (memory at a fixed "
        "per-batch budget) or Table 4 (metric by dataset and backbone) layout")] = "full",
    memory: Annotated[str, typer.Option(
        "--memory", help="working: each phase's working memory (peak minus what was in use at its start); "
        "rss: also the trial process's peak RSS, used by the figures")] = "working",
    format_: Annotated[str, typer.Option(
        "--format", "-f", help="what is printed: markdown, or latex (booktabs tables)")] = "markdown",
    db: Db = None,
) -> None:
    """Compare methods from the results store: settings and environment, performance (with Welch tests
    against full_graph), time and memory tables, convergence, scaling and trade-off plots. Prints the
    tables; --out DIR writes everything (Markdown, HTML, LaTeX, CSV, PNG/SVG/PDF figures)."""
    import sys

    from gnnbench.commands._common import console, require_existing_db
    from gnnbench.filters import Filters, check_against
    from gnnbench.store import Store, resolve_url

    from gnnbench.errors import ConfigError

    from .markdown import render_report
    from .report import build_report, write_report
    from .views import VIEWS

    for flag, value, choices in (("--view", view, VIEWS), ("--memory", memory, ("working", "rss")),
                                 ("--format", format_, FORMATS)):
        if value not in choices:
            raise ConfigError(f"{flag} '{value}' is not a choice; choices: {', '.join(choices)}")
    filters = Filters(dataset=dataset or [], method=method or [], backbone=backbone or [], since=since, until=until)
    url = resolve_url(db)
    require_existing_db(url)
    from gnnbench.trials import repair

    store = Store(url)
    repair(store)  # rows left running by a dead process are interrupted, as sweep does
    check_against(store, filters)
    rep = build_report(store, filters, out, view=view, memory=memory)
    if format_ == "latex":
        from .latex import render_table

        sys.stdout.write("\n".join(render_table(t) for t in rep.tables))
    else:
        sys.stdout.write(render_report(rep))
    if out is not None:
        written = write_report(rep, out)
        console.print(f"wrote {len(written)} files to {out}: " + ", ".join(p.relative_to(out).as_posix() for p in written),
                      highlight=False, markup=False)
