"""The ``gnnbench report`` command, registered through the ``gnnbench.commands`` entry-point group
like any plugin's command (pandas and matplotlib load inside it)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gnnbench.commands._common import Backbone, Dataset, Db, Method, Since, Until

__all__ = ["report"]


def report(
    dataset: Dataset = None,
    method: Method = None,
    backbone: Backbone = None,
    since: Since = None,
    until: Until = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", show_default="none: print the Markdown tables only",
        help="folder for report.md, report.html, figures/ (PNG, SVG) and csv/")] = None,
    db: Db = None,
) -> None:
    """Compare methods from the results store: performance and resources tables, convergence,
    scaling and trade-off plots. Prints the Markdown tables; --out DIR writes everything."""
    import sys

    from gnnbench.commands._common import console, require_existing_db
    from gnnbench.filters import Filters, check_against
    from gnnbench.store import Store, resolve_url

    from .markdown import render_report
    from .report import build_report, write_report

    filters = Filters(dataset=dataset or [], method=method or [], backbone=backbone or [], since=since, until=until)
    url = resolve_url(db)
    require_existing_db(url)
    from gnnbench.trials import repair

    store = Store(url)
    repair(store)  # rows left running by a dead process are interrupted, as sweep does
    check_against(store, filters)
    rep = build_report(store, filters, out)
    sys.stdout.write(render_report(rep))
    if out is not None:
        written = write_report(rep, out)
        console.print(f"wrote {len(written)} files to {out}: " + ", ".join(p.relative_to(out).as_posix() for p in written),
                      highlight=False, markup=False)
