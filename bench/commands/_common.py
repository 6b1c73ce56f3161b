"""What every command shares, written once: the consoles, the ``--db`` / ``--data-root`` /
``--cache-dir`` options, the checks of those paths, and SIGTERM taken as an interrupt."""
from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Iterator, List, Optional

import typer
from rich.console import Console

from ..errors import ConfigError

__all__ = ["console", "out", "Db", "DataRoot", "CacheDir", "Method", "Backbone", "Dataset", "Since", "Until",
           "check_writable_db", "require_existing_db", "data_root", "cache_root", "sigterm_as_interrupt",
           "DEFAULT_DB"]

#: messages, progress and summaries (stderr); tables and data go to ``out`` (stdout)
console = Console(stderr=True)
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 250)

DEFAULT_DB = "./gnnbench.db"

Db = Annotated[Optional[str], typer.Option(
    "--db", envvar="GNNBENCH_DB", show_envvar=True, show_default=DEFAULT_DB,
    help="results database: a file path or SQLAlchemy URL")]
DataRoot = Annotated[Optional[Path], typer.Option(
    "--data-root", envvar="GNNBENCH_DATA_ROOT", show_envvar=True, show_default="none: generated datasets only",
    help="folder holding the raw datasets (read-only)")]
CacheDir = Annotated[Optional[Path], typer.Option(
    "--cache-dir", envvar="GNNBENCH_CACHE", show_envvar=True, show_default="~/.cache/gnnbench",
    help="folder for processed datasets and METIS partitions")]
Method = Annotated[Optional[List[str]], typer.Option("--method", "-m", help="only these methods (repeatable or a,b)")]
Backbone = Annotated[Optional[List[str]], typer.Option("--backbone", "-b", help="only these backbones (repeatable or a,b)")]
Dataset = Annotated[Optional[List[str]], typer.Option("--dataset", "-d", help="only these datasets (repeatable or a,b)")]
Since = Annotated[Optional[str], typer.Option("--since", help="trials started at or after this ISO date, e.g. 2026-11-21")]
Until = Annotated[Optional[str], typer.Option("--until", help="trials started before this ISO date")]


def _sqlite_path(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.drivername.startswith("sqlite") and u.database and u.database != ":memory:":
        return Path(u.database).expanduser()
    return None


def check_writable_db(url: str) -> None:
    """Fail before anything runs when ``--db`` cannot be opened for writing.

    Raises:
        ConfigError: the SQLite file's folder is missing, the path is a folder, or the URL's
            database driver is not installed.
    """
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.drivername.startswith("sqlite"):
        path = _sqlite_path(url)
        if path is not None:
            parent = path.resolve().parent
            if path.is_dir():
                raise ConfigError(f"--db '{path}' is a folder; pass a file path such as {path / 'gnnbench.db'}")
            if not parent.is_dir():
                raise ConfigError(f"cannot create the results database '{path}': folder '{parent}' does not "
                                  f"exist; create it or pass another --db")
        return
    try:
        u.get_dialect()
    except Exception as exc:  # noqa: BLE001 - NoSuchModuleError, ImportError of the driver
        raise ConfigError(f"--db '{url}': database driver '{u.drivername}' is not available ({exc}); "
                          f"install it or use a SQLite file path") from exc


def require_existing_db(url: str) -> None:
    """Reading commands never create a database.

    Raises:
        ConfigError: the SQLite file does not exist or is a folder.
    """
    path = _sqlite_path(url)
    if path is not None and not path.is_file():
        what = "is a folder, not a results database" if path.is_dir() else "does not exist"
        raise ConfigError(f"no results database at '{path}' ({what}); run `gnnbench run` first or pass --db")


def data_root(value: Optional[Path]) -> Optional[Path]:
    """``--data-root`` (or ``GNNBENCH_DATA_ROOT``, read by typer), checked to be a folder.

    Raises:
        ConfigError: it is not a folder.
    """
    if value is not None and not Path(value).expanduser().is_dir():
        raise ConfigError(f"data root '{value}' is not a folder; pass --data-root DIR or set GNNBENCH_DATA_ROOT")
    return Path(value).expanduser() if value is not None else None


def cache_root(value: Optional[Path]) -> Path:
    """``--cache-dir`` (or ``GNNBENCH_CACHE``) or ``~/.cache/gnnbench``, checked to be usable.

    Nothing is created here: the first trial creates it.

    Raises:
        ConfigError: the path, or the nearest existing folder above it, is a file or not writable.
    """
    path = Path(value or Path.home() / ".cache" / "gnnbench").expanduser()
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"--cache-dir '{path}': '{probe}' is a file, not a folder; pass a folder "
                          f"(or set GNNBENCH_CACHE)")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"--cache-dir '{path}': folder '{probe}' is not writable; pass another --cache-dir")
    return path


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, a batch scheduler's time limit) takes the Ctrl-C path while inside: the
    running trials' children are killed and their rows stored as ``interrupted``."""

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (a test's worker thread): nothing to install
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
