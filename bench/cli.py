"""The ``gnnbench`` command line (typer).

Every error that is the user's to fix prints one message naming the value, the choices and the
fix, and exits with code 2 before anything is written.
"""
from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.console import Console

from .errors import ConfigError, GnnbenchError

__all__ = ["app", "main"]

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Benchmark strategies for scaling graph neural networks.")
console = Console(stderr=True)
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 250)

#: options that take several values after one flag (``--seeds 0 1 2``)
_MULTI = ("--seeds", "--set")


def _expand_multi(argv: list[str]) -> list[str]:
    """``--seeds 0 1 2`` → ``--seeds 0 --seeds 1 --seeds 2`` (click options take one value each)."""
    result: list[str] = []
    current = None
    for tok in argv:
        if tok in _MULTI:
            current = tok
        elif tok.startswith("-"):
            current = None
        elif current is not None and result[-1] != current:
            result.append(current)
        result.append(tok)
    return result


def data_root_option(value: Optional[Path]) -> Optional[Path]:
    """``--data-root`` or ``GNNBENCH_DATA_ROOT``, checked to be a folder."""
    root = value or (Path(os.environ["GNNBENCH_DATA_ROOT"]) if os.environ.get("GNNBENCH_DATA_ROOT") else None)
    if root is not None and not root.is_dir():
        raise ConfigError(f"data root '{root}' is not a folder; pass --data-root DIR or set GNNBENCH_DATA_ROOT")
    return root


def cache_root_option(value: Optional[Path]) -> Path:
    """``--cache-dir``, ``GNNBENCH_CACHE`` or ``~/.cache/gnnbench``."""
    return (value or Path(os.environ.get("GNNBENCH_CACHE", Path.home() / ".cache" / "gnnbench"))).expanduser()


DB_HELP = "results database: a file path or SQLAlchemy URL [env GNNBENCH_DB; default ./gnnbench.db]"


# --------------------------------------------------------------------------------------------- run
@app.command()
def run(
    method: Optional[str] = typer.Option(None, "--method", "-m", help="method name (gnnbench list methods)"),
    backbone: Optional[str] = typer.Option(None, "--backbone", "-b", help="backbone name (gnnbench list backbones)"),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="dataset name [default: synthetic]"),
    seeds: Optional[List[int]] = typer.Option(None, "--seeds", help="seeds, e.g. --seeds 0 1 2 [default: 0]"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="training epochs (train.epochs)"),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file with the trial configuration"),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="override key=value, e.g. --set train.lr=0.005"),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu or cuda [default: auto]"),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="data root [env GNNBENCH_DATA_ROOT]"),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="cache [env GNNBENCH_CACHE]"),
    rerun: bool = typer.Option(False, "--rerun", help="run trials again that the store holds as completed"),
) -> None:
    """Run trials of METHOD with BACKBONE on DATASET, one child process per seed, and store them.

    A (configuration, seed, device) already completed in the store is skipped (--rerun runs it again)."""
    from .config import apply_sets, load_toml
    from .store import Store, resolve_url

    raw: dict[str, Any] = load_toml(config) if config else {}
    for key, value in (("method", method), ("backbone", backbone), ("dataset", dataset), ("device", device)):
        if value is not None:
            raw[key] = value
    if epochs is not None:
        raw.setdefault("train", {})
        if not isinstance(raw["train"], dict):
            raise ConfigError("'train' in the config file must be a table ([train])")
        raw["train"]["epochs"] = epochs
    raw = apply_sets(raw, list(set_ or []))
    seed_list = list(seeds) if seeds else raw.pop("seeds", None) or [raw.pop("seed", 0)]
    raw.pop("seeds", None)
    for key in ("method", "backbone"):
        if key not in raw:
            raise ConfigError(f"no {key} given; pass --{key} NAME (see `gnnbench list {key}s`)")
    from .trials import check_seeds, pending_plans, repair, verify_datasets

    plans = [_plan(raw, s) for s in check_seeds(seed_list)]
    root = data_root_option(data_root)
    cache = cache_root_option(cache_dir)
    from .runner import preflight

    preflight(plans[0], root)
    verify_datasets(plans[:1], root, cache)
    store = Store(resolve_url(db))
    repair(store)
    failures = 0
    for p in pending_plans(store, plans, rerun, lambda text: console.print(text, highlight=False, markup=False)):
        record = _run_one(p, store, root, cache)
        failures += record.status != "completed"
    raise typer.Exit(1 if failures else 0)


def _plan(raw: dict[str, Any], seed: int):
    from pydantic import ValidationError

    from .config import TrialConfig, format_validation_error
    from .runner import plan

    try:
        cfg = TrialConfig(**{**raw, "seed": seed})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, "configuration")) from exc
    except TypeError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from exc
    return plan(cfg)


def _run_one(p, store, root, cache) -> dict[str, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .trials import run_and_store

    c = p.config
    label = f"{c.method}/{c.backbone}/{c.dataset} seed {c.seed}"
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=console,
                  transient=True) as bar:
        task = bar.add_task(label, total=c.train.epochs, status="loading")

        def on_event(event: dict[str, Any]) -> None:
            val = event.get("val_metric")
            status = f"loss {event['loss']:.4f}" + (f"  val {val:.4f}" if val is not None else "")
            bar.update(task, completed=event["epoch"], status=status)

        run_id, rec = run_and_store(p, store, root, cache, on_event)
    console.print(_summary(label, run_id, rec), highlight=False)
    return rec


def _summary(label: str, run_id: str, record) -> str:
    from rich.markup import escape

    rec = record.to_dict()
    label = escape(f"{label} [{run_id[:8]}]")
    status = rec["status"]
    if status != "completed":
        last = (rec.get("error") or "").strip().splitlines()
        return f"[red]✗ {status}[/red] {label}: {escape(last[-1]) if last else 'no error text'}"
    gb = (rec.get("peak_cpu_rss_bytes") or 0) / 2**30
    gpu = rec.get("peak_gpu_allocated_bytes")
    gpu_txt = f", peak GPU {gpu / 2**30:.2f} GiB" if gpu else ""
    return (f"[green]✓ completed[/green] {label}: test {rec['metric']} {rec['test_metric']:.4f} "
            f"(val {rec['val_metric']:.4f} at epoch {rec['best_epoch']}), train {rec['train_time_s']:.2f} s "
            f"({rec['sample_time_s']:.2f} s sampling), inference {rec['inference_time_s']:.3f} s, "
            f"peak RSS {gb:.2f} GiB{gpu_txt}")


# -------------------------------------------------------------------------------------------- list
@app.command("list")
def list_(kind: Optional[str] = typer.Argument(None, help="methods, backbones or datasets [default: all]")) -> None:
    """List the registered plugins with a one-line description; broken ones are shown as such."""
    from rich.table import Table

    from .errors import closest
    from .registry import KINDS, describe

    kinds = list(KINDS)
    if kind is not None and kind not in KINDS:
        hint = closest(kind, kinds)
        raise ConfigError(f"unknown plugin kind '{kind}'{'; did you mean ' + repr(hint) + '?' if hint else ''} "
                          f"choices: {', '.join(kinds)}")
    for k in [kind] if kind else kinds:
        if not sys.stdout.isatty():  # one plugin per line, tab-separated, for scripts and pipes
            for name, desc, dist, error in describe(k):
                print(f"{k}\t{name}\t{'BROKEN: ' + error if error else desc}\t{dist}")
            continue
        table = Table(title=k, title_justify="left", show_lines=False)
        table.add_column("name", style="bold")
        table.add_column("description")
        table.add_column("distribution")
        for name, desc, dist, error in describe(k):
            table.add_row(name, f"[red]BROKEN: {error}[/red]" if error else desc, dist)
        out.print(table)


# ----------------------------------------------------------------------------------------- results
from .types import TABLE_FIELDS  # noqa: E402 - torch-free

_TABLE_COLUMNS = ["run_id", "method", "backbone", "dataset", "seed", *TABLE_FIELDS]


@app.command()
def results(
    format_: str = typer.Option("table", "--format", "-f", help="table, json or csv"),
    method: Optional[List[str]] = typer.Option(None, "--method", help="only these methods (repeatable)"),
    backbone: Optional[List[str]] = typer.Option(None, "--backbone", help="only these backbones"),
    dataset: Optional[List[str]] = typer.Option(None, "--dataset", help="only these datasets"),
    status: Optional[List[str]] = typer.Option(None, "--status", help="completed, failed, oom, interrupted, running"),
    since: Optional[str] = typer.Option(None, "--since", help="started at or after (ISO date)"),
    curves: bool = typer.Option(False, "--curves", help="include per-epoch curves (json)"),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Print the stored trials as a table, a JSON array (one object per trial) or CSV."""
    from .store import RESULT_KEYS, Store, dumps, resolve_url

    formats = ("table", "json", "csv")
    if format_ not in formats:
        raise ConfigError(f"unknown format '{format_}'; choices: {', '.join(formats)}")
    statuses = ("completed", "failed", "oom", "interrupted", "running")
    for s in status or []:
        if s not in statuses:
            raise ConfigError(f"unknown status '{s}'; choices: {', '.join(statuses)}")
    url = resolve_url(db)
    _require_existing(url)
    from .trials import repair

    store = Store(url)
    repair(store)
    rows = store.trials(method=method or [], backbone=backbone or [], dataset=dataset or [],
                             status=status or [], since=since, with_curves=curves)
    if format_ == "json":
        out.print_json(dumps(rows)) if sys.stdout.isatty() else print(dumps(rows))
    elif format_ == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=RESULT_KEYS, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in r.items()})
        sys.stdout.write(buf.getvalue())
    else:
        _print_table(rows)


def _require_existing(url: str) -> None:
    """Reading commands do not create a database: a missing SQLite file is an error."""
    from sqlalchemy.engine import make_url

    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:" and not Path(path).exists():
            raise ConfigError(f"no results database at '{path}'; run `gnnbench run` first or pass --db")


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


# -------------------------------------------------------------------------------------------- main
def _terminate_as_interrupt() -> None:
    """SIGTERM (``kill``, a batch scheduler's time limit) takes the Ctrl-C path: the running
    trial's child is killed and its row is stored as ``interrupted`` instead of staying ``running``."""
    import signal

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (e.g. called from a test's worker thread)
        pass


def main(argv: list[str] | None = None) -> None:
    """Console entry point: bad input → one message on stderr and exit code 2.

    Usage errors are typer's own exceptions (``typer.TyperException``, typer ≥ 0.28, which
    vendors click): ``click`` itself is not a dependency of gnnbench and is never imported.
    """
    args = _expand_multi(list(sys.argv[1:] if argv is None else argv))
    _terminate_as_interrupt()
    try:
        code = app(args=args, prog_name="gnnbench", standalone_mode=False)
    except GnnbenchError as exc:
        from rich.text import Text

        console.print(Text("error: ", style="red") + Text(str(exc)), highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:
        show = getattr(exc, "show", None)  # usage errors print the usage line before the message
        if show is not None:
            show()
        else:
            console.print(f"error: {exc.format_message()}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        console.print("interrupted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


# ------------------------------------------------------ commands that live in their own modules
# (one line each: ``from <module> import <command>; app.command("<name>")(<command>)``;
#  those modules import heavy libraries inside the command function, not at module level)
from gnnbench.reports.cli import report; app.command("report")(report)
from .sweep_cli import sweep; app.command("sweep")(sweep)  # noqa: E402
