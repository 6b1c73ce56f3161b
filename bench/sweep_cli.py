"""The ``gnnbench sweep FILE.toml`` command (the sweep file format is in :mod:`gnnbench.sweep`)."""
from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any, List, Optional

import typer

from .errors import ConfigError

__all__ = ["sweep"]

_EXECUTORS = ("local", "ray")


def sweep(
    file: Path = typer.Argument(..., help="sweep TOML file (format: see `gnnbench.sweep`, README: Sweeps)"),
    workers: Optional[int] = typer.Option(None, "--workers", "-w",
                                          help="trials at once [default: 1 locally; Ray: the cluster's GPUs or CPUs]"),
    dry_run: bool = typer.Option(False, "--dry-run", help="list the trials (and which are done) without running"),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="per-trial wall-clock limit in seconds (interrupted)"),
    memory_limit: Optional[str] = typer.Option(None, "--memory-limit",
                                               help="per-trial address-space limit (RLIMIT_AS), e.g. 4GiB (oom)"),
    executor: str = typer.Option("local", "--executor", help="local or ray"),
    ray_address: Optional[str] = typer.Option(None, "--ray-address",
                                              help="Ray cluster address [env RAY_ADDRESS; default: auto]"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="training epochs of every trial (train.epochs)"),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="override key=value in the sweep file, "
                                                                 "e.g. --set train.epochs=20 method.vqgnn.num_codewords=64"),
    db: Optional[str] = typer.Option(None, "--db", help="results database: a file path or SQLAlchemy URL "
                                                        "[env GNNBENCH_DB; default ./gnnbench.db]"),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="data root [env GNNBENCH_DATA_ROOT]"),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="cache [env GNNBENCH_CACHE]"),
) -> None:
    """Run a grid of trials from FILE.toml, each in its own process; completed trials are skipped (resume)."""
    from .cli import cache_root_option, console, data_root_option
    from .config import apply_sets, load_toml
    from .store import resolve_url
    from .sweep import check_datasets, expand, parse_memory

    if executor not in _EXECUTORS:
        raise ConfigError(f"unknown executor '{executor}'; choices: {', '.join(_EXECUTORS)}")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers {workers}: expected at least 1")
    if timeout is not None and not timeout > 0:
        raise ConfigError(f"--timeout {timeout:g}: expected a positive number of seconds")
    if epochs is not None and epochs < 1:
        raise ConfigError(f"--epochs {epochs}: expected at least 1")
    if ray_address is not None and executor != "ray":
        raise ConfigError("--ray-address is only used with --executor ray; add --executor ray or drop it")
    limit = parse_memory(memory_limit) if memory_limit is not None else None
    url = resolve_url(db)
    _check_url(url)
    raw: dict[str, Any] = load_toml(file)
    if epochs is not None:
        train = raw.setdefault("train", {})
        if not isinstance(train, dict):
            raise ConfigError(f"'train' in the sweep file must be a table ([train]), got {train!r}")
        train["epochs"] = epochs
    raw = apply_sets(raw, list(set_ or []))
    plan = expand(raw, default_name=Path(file).stem)
    root = data_root_option(data_root)
    cache = cache_root_option(cache_dir)
    for s in plan.skipped:
        console.print(f"[yellow]skip[/yellow] {s.label}: {s.reason}", highlight=False, markup=True)
    if dry_run:
        _dry_run(plan, url)
        return
    if not plan.trials:
        raise ConfigError("the sweep has no supported trial; every combination was skipped (see above)")
    ray_ctx = None
    if executor == "ray":
        from .ray_executor import connect

        ray_ctx = connect(ray_address or os.environ.get("RAY_ADDRESS") or "auto")
    from .store import Store

    done = _completed_if_exists(url)
    unchecked = [t for t in plan.trials if t.key not in done]
    if unchecked:  # before the database is created: a bad dataset must leave nothing behind
        console.print(f"checking {len({t.plan.config.dataset for t in unchecked})} dataset(s) ...", highlight=False)
        check_datasets(unchecked, root, cache, memory_limit_bytes=limit)

    store = Store(url)
    from .sweep import is_live

    dead = store.interrupt_dead(is_live)
    if dead:
        console.print(f"marked {len(dead)} trial(s) left running by a process that died as interrupted",
                      highlight=False)
    done = store.completed_pairs()
    todo = [t for t in plan.trials if t.key not in done]
    console.print(f"sweep '{plan.sweep_id}': {len(plan.trials)} trial(s), {len(plan.trials) - len(todo)} already "
                  f"completed, {len(todo)} to run, {len(plan.skipped)} unsupported combination(s) skipped",
                  highlight=False)
    counts = _run(todo, store, root, cache, plan.sweep_id, executor, ray_ctx, workers, timeout, limit)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing run"
    console.print(f"sweep '{plan.sweep_id}' done: {summary}", highlight=False)
    raise typer.Exit(0 if set(counts) <= {"completed", "taken"} else 1)


def _check_url(url: str) -> None:
    """Fail before anything runs when ``--db`` cannot be opened: a missing folder or an unknown driver."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.drivername.startswith("sqlite"):
        path = u.database
        if path and path != ":memory:":
            parent = Path(path).expanduser().resolve().parent
            if not parent.is_dir():
                raise ConfigError(f"cannot create the results database '{path}': folder '{parent}' does not exist; "
                                  f"create it or pass another --db")
            if Path(path).expanduser().is_dir():
                raise ConfigError(f"--db '{path}' is a folder; pass a file path such as {Path(path) / 'gnnbench.db'}")
        return
    try:
        u.get_dialect()
    except Exception as exc:  # noqa: BLE001 - NoSuchModuleError, ImportError of the driver
        raise ConfigError(f"--db '{url}': database driver '{u.drivername}' is not available ({exc}); "
                          f"install it or use a SQLite file path") from exc


def _completed_if_exists(url: str) -> set:
    """The completed ``(config_hash, seed)`` pairs of an existing database; a missing SQLite file is not created."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.drivername.startswith("sqlite") and not (u.database and Path(u.database).expanduser().is_file()):
        return set()
    from .store import Store

    return Store(url).completed_pairs()


def _dry_run(plan, url: str) -> None:
    from .cli import out

    done = _completed_if_exists(url)
    for t in plan.trials:
        state = "done" if t.key in done else "run "
        out.print(f"{state}  {t.label}  [{t.plan.config_hash}]", highlight=False, markup=False)
    n_done = sum(t.key in done for t in plan.trials)
    out.print(f"{len(plan.trials)} trial(s): {n_done} done, {len(plan.trials) - n_done} to run; "
              f"{len(plan.skipped)} unsupported combination(s) skipped", highlight=False)


def _run(todo, store, root, cache, sweep_id, executor, ray_ctx, workers, timeout, limit) -> dict[str, int]:
    from .cli import _summary, console

    counts: dict[str, int] = {}
    lock = threading.Lock()
    total = len(todo)

    def on_result(t, run_id, record) -> None:
        with lock:
            key = "taken" if record is None else str(record.status)
            counts[key] = counts.get(key, 0) + 1
            n = sum(counts.values())
            if record is None:
                console.print(f"[{n}/{total}] skip {t.label}: completed or running in another process", highlight=False,
                              markup=False)
            else:
                console.print(f"\\[{n}/{total}] " + _summary(t.label, run_id, record), highlight=False)

    if not todo:
        return counts
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        if executor == "ray":
            from .ray_executor import run_ray

            run_ray(todo, store, root, cache, on_result, ctx=ray_ctx, max_in_flight=workers, timeout_s=timeout,
                    memory_limit_bytes=limit, sweep_id=sweep_id)
        else:
            from .sweep import run_local

            n = workers or 1
            if n > 1 and "OMP_NUM_THREADS" not in os.environ:
                # parallel trials share the cores: one thread pool each would oversubscribe them
                os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // n))
            run_local(todo, store, root, cache, on_result, workers=n, timeout_s=timeout, memory_limit_bytes=limit,
                      sweep_id=sweep_id)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return counts


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
