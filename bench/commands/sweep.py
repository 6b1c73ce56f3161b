"""``gnnbench sweep FILE.toml``: a grid of trials (the file format is in :mod:`gnnbench.sweep`)."""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Annotated, Any, List, Optional

import typer

from ..errors import ConfigError
from ._common import (CacheDir, DataRoot, Db, cache_root, check_writable_db, console, data_root, out,
                      sigterm_as_interrupt)

__all__ = ["sweep"]

_EXECUTORS = ("local", "ray")


def sweep(
    file: Annotated[Path, typer.Argument(help="sweep TOML file (format: `gnnbench.sweep`, README: Sweeps)")],
    workers: Annotated[Optional[int], typer.Option(
        "--workers", "-w", show_default="1 locally; Ray: the cluster's GPUs or CPUs", help="trials at once")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list the trials (and which are done) without running")] = False,
    timeout: Annotated[Optional[float], typer.Option(
        "--timeout", show_default="none", help="per-trial wall-clock limit in seconds (then interrupted)")] = None,
    memory_limit: Annotated[Optional[str], typer.Option(
        "--memory-limit", show_default="none", help="per-trial address-space limit (RLIMIT_AS), e.g. 4GiB (oom)")] = None,
    executor: Annotated[str, typer.Option("--executor", help="local or ray")] = "local",
    ray_address: Annotated[Optional[str], typer.Option(
        "--ray-address", envvar="RAY_ADDRESS", show_envvar=True, show_default="auto",
        help="Ray cluster address (with --executor ray)")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="training epochs of every trial (train.epochs)")] = None,
    set_: Annotated[Optional[List[str]], typer.Option(
        "--set", help="override key=value in the sweep file, e.g. --set train.epochs=20 method.vqgnn.num_codewords=64")] = None,
    db: Db = None,
    data_root_: DataRoot = None,
    cache_dir: CacheDir = None,
) -> None:
    """Run a grid of trials from FILE.toml, each in its own process; completed trials are skipped (resume)."""
    from ..config import load_toml, merge_sources
    from ..preflight import check_before_running
    from ..store import Store, resolve_url
    from ..sweep import expand, is_live, parse_memory

    if executor not in _EXECUTORS:
        raise ConfigError(f"unknown executor '{executor}'; choices: {', '.join(_EXECUTORS)}")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers {workers}: expected at least 1")
    if timeout is not None and not timeout > 0:
        raise ConfigError(f"--timeout {timeout:g}: expected a positive number of seconds")
    if epochs is not None and epochs < 1:
        raise ConfigError(f"--epochs {epochs}: expected at least 1")
    if ray_address is not None and executor != "ray" and "RAY_ADDRESS" not in os.environ:
        raise ConfigError("--ray-address is only used with --executor ray; add --executor ray or drop it")
    limit = parse_memory(memory_limit) if memory_limit is not None else None
    url = resolve_url(db)
    check_writable_db(url)
    base = load_toml(file)
    if "method" in base and "backbone" in base and not ({"methods", "backbones", "grid"} & set(base)):
        raise ConfigError(f"'{file}' is a trial file (method = ..., backbone = ...); run it with "
                          f"`gnnbench run --config {file}`")
    raw = merge_sources(base, [(("train", "epochs"), epochs, f"--epochs {epochs}")], list(set_ or []))
    plan = expand(raw, default_name=Path(file).stem)
    root, cache = data_root(data_root_), cache_root(cache_dir)
    for s in plan.skipped:
        console.print(f"[yellow]skip[/yellow] {s.label}: {s.reason}", highlight=False, markup=True)
    if dry_run:
        _dry_run(plan, url)
        return
    if not plan.trials:
        raise ConfigError("the sweep has no supported trial; every combination was skipped (see above)")
    ray_ctx = None
    if executor == "ray":
        from ..ray_executor import connect

        ray_ctx = connect(ray_address or "auto")
    done = _completed_if_exists(url)
    unchecked = [t.plan for t in plan.trials if t.key not in done]
    if unchecked:  # before the database is created: a bad dataset or budget must leave nothing behind
        console.print(f"checking {len({p.config.dataset for p in unchecked})} dataset(s) ...", highlight=False)
        check_before_running(unchecked, root, cache, memory_limit_bytes=limit, load_datasets=True)

    store = Store(url)
    dead = store.interrupt_dead(is_live)
    if dead:
        console.print(f"marked {len(dead)} trial(s) left running by a process that died as interrupted",
                      highlight=False)
    done = store.completed_pairs()
    todo = [t for t in plan.trials if t.key not in done]
    console.print(f"sweep '{plan.sweep_id}': {len(plan.trials)} trial(s), {len(plan.trials) - len(todo)} already "
                  f"completed, {len(todo)} to run, {len(plan.skipped)} unsupported combination(s) skipped",
                  highlight=False)
    counts = _run(todo, store, root, cache, plan.sweep_id, ray_ctx, workers, timeout, limit)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing run"
    console.print(f"sweep '{plan.sweep_id}' done: {summary}", highlight=False)
    raise typer.Exit(0 if set(counts) <= {"completed", "taken"} else 1)


def _completed_if_exists(url: str) -> set:
    """The completed ``(config_hash, seed)`` pairs of an existing database; a missing SQLite file is not created."""
    from sqlalchemy.engine import make_url

    from ..store import Store

    u = make_url(url)
    if u.drivername.startswith("sqlite") and not (u.database and Path(u.database).expanduser().is_file()):
        return set()
    return Store(url).completed_pairs()


def _dry_run(plan, url: str) -> None:
    done = _completed_if_exists(url)
    for t in plan.trials:
        state = "done" if t.key in done else "run "
        out.print(f"{state}  {t.label}  [{t.plan.config_hash}]", highlight=False, markup=False)
    n_done = sum(t.key in done for t in plan.trials)
    out.print(f"{len(plan.trials)} trial(s): {n_done} done, {len(plan.trials) - n_done} to run; "
              f"{len(plan.skipped)} unsupported combination(s) skipped", highlight=False)


def _run(todo, store, root, cache, sweep_id, ray_ctx, workers, timeout, limit) -> dict[str, int]:
    from .run import summary

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
                console.print(f"\\[{n}/{total}] " + summary(t.label, run_id, record), highlight=False)

    if not todo:
        return counts
    common: dict[str, Any] = dict(timeout_s=timeout, memory_limit_bytes=limit, sweep_id=sweep_id)
    if ray_ctx is not None:
        from ..ray_executor import RayExecutor

        runner = RayExecutor(store, root, cache, on_result, ctx=ray_ctx, max_in_flight=workers, **common)
    else:
        from ..sweep import LocalExecutor

        n = workers or 1
        if n > 1 and "OMP_NUM_THREADS" not in os.environ:
            # parallel trials share the cores: one thread pool each would oversubscribe them
            os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // n))
        runner = LocalExecutor(store, root, cache, on_result, workers=n, **common)
    with sigterm_as_interrupt():
        runner.run(todo)
    return counts
