"""``gnnbench results``: the stored trials as a table, JSON or CSV."""
from __future__ import annotations

import csv
import io
import json
import sys
from typing import Annotated, Any, List, Optional

import typer

from ..errors import ConfigError
from ._common import Backbone, Dataset, Db, Method, Since, Until, out, require_existing_db

__all__ = ["results", "select_trials"]

_FORMATS = ("table", "json", "csv")
from ..types import TABLE_FIELDS  # noqa: E402 - torch-free

_TABLE_COLUMNS = ["run_id", "method", "backbone", "dataset", "seed", *TABLE_FIELDS]


def results(
    format_: Annotated[str, typer.Option("--format", "-f", help="table, json or csv")] = "table",
    method: Method = None,
    backbone: Backbone = None,
    dataset: Dataset = None,
    status: Annotated[Optional[List[str]], typer.Option(
        "--status", help="only these statuses: completed, failed, oom, interrupted, running")] = None,
    since: Since = None,
    until: Until = None,
    curves: Annotated[bool, typer.Option("--curves", help="include per-epoch curves (--format json only)")] = False,
    db: Db = None,
) -> None:
    """Print the stored trials as a table, a JSON array (one object per trial) or CSV."""
    from ..filters import Filters
    from ..store import RESULT_KEYS, Store, dumps, resolve_url

    if format_ not in _FORMATS:
        raise ConfigError(f"unknown format '{format_}'; choices: {', '.join(_FORMATS)}")
    if curves and format_ != "json":
        raise ConfigError(f"--curves is only shown with --format json (not {format_}); add --format json or drop it")
    filters = Filters(dataset=dataset or [], method=method or [], backbone=backbone or [], status=status or [],
                      since=since, until=until)
    url = resolve_url(db)
    require_existing_db(url)
    rows = select_trials(Store(url), filters, with_curves=curves)
    if format_ == "json":
        out.print_json(dumps(rows)) if sys.stdout.isatty() else print(dumps(rows))
    elif format_ == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=RESULT_KEYS, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v
                             for k, v in r.items()})
        sys.stdout.write(buf.getvalue())
    else:
        _print_table(rows)


def select_trials(store, filters, with_curves: bool = False) -> list[dict[str, Any]]:
    """The trials matching ``filters``; a name neither registered nor stored is refused.

    Raises:
        ConfigError: see :func:`gnnbench.filters.check_names`.
    """
    from ..filters import check_against

    from ..trials import repair

    repair(store)  # rows left running by a dead process are interrupted, as sweep does
    check_against(store, filters)
    return store.trials(**filters.query(), with_curves=with_curves)


def _print_table(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(show_lines=False)
    for col in _TABLE_COLUMNS:
        table.add_column(col.replace("peak_cpu_rss_bytes", "peak_rss_MiB"), overflow="fold")
    for r in rows:
        cells = []
        for col in _TABLE_COLUMNS:
            v = r.get(col)
            if col == "run_id":
                v = v[:8]
            elif col == "peak_cpu_rss_bytes" and v is not None:
                v = f"{v / 2**20:.0f}"
            elif isinstance(v, float):
                v = f"{v:.4f}"
            cells.append("" if v is None else str(v))
        table.add_row(*cells)
    out.print(table)
    out.print(f"{len(rows)} trial(s)")
