"""The ``gnnbench report`` command (registered in :mod:`gnnbench.cli`; pandas and matplotlib load inside it)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

__all__ = ["report"]

_DB_HELP = "results database: a file path or SQLAlchemy URL [env GNNBENCH_DB; default ./gnnbench.db]"


def report(
    dataset: Optional[List[str]] = typer.Option(None, "--dataset", "-d", help="only these datasets (repeatable or a,b)"),
    method: Optional[List[str]] = typer.Option(None, "--method", "-m", help="only these methods (repeatable or a,b)"),
    backbone: Optional[List[str]] = typer.Option(None, "--backbone", "-b", help="only these backbones"),
    since: Optional[str] = typer.Option(None, "--since", help="trials started at or after (ISO date, e.g. 2026-11-21)"),
    until: Optional[str] = typer.Option(None, "--until", help="trials started before (ISO date)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="folder for report.md, report.html, figures/ (PNG, SVG) and csv/"),
    db: Optional[str] = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Compare methods from the results store: performance and resources tables, convergence,
    scaling and trade-off plots. Prints the Markdown tables; --out DIR writes everything."""
    import sys

    from gnnbench.cli import _require_existing, console
    from gnnbench.store import Store, resolve_url

    from .aggregate import Filters
    from .markdown import render_report
    from .report import build_report, write_report

    filters = Filters(dataset=dataset or [], method=method or [], backbone=backbone or [], since=since, until=until)
    url = resolve_url(db)
    _require_existing(url)
    from gnnbench.trials import repair

    store = Store(url)
    repair(store)  # rows left running by a dead process are interrupted, as sweep does
    rep = build_report(store, filters, out)
    sys.stdout.write(render_report(rep))
    if out is not None:
        written = write_report(rep, out)
        console.print(f"wrote {len(written)} files to {out}: " + ", ".join(p.relative_to(out).as_posix() for p in written),
                      highlight=False, markup=False)
