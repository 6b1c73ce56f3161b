"""``gnnbench run``: trials of one configuration, one child process per seed, stored."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, List, Optional

import typer

from ..errors import ConfigError
from ..capabilities import NO_BACKBONE
from ._common import CacheDir, DataRoot, Db, cache_root, check_writable_db, console, data_root, sigterm_as_interrupt

if TYPE_CHECKING:  # pragma: no cover
    from ..types import TrialRecord

__all__ = ["run", "summary", "build_raw"]


def run(
    method: Annotated[Optional[str], typer.Option("--method", "-m", help="method name (gnnbench list methods)")] = None,
    backbone: Annotated[Optional[str], typer.Option("--backbone", "-b",
                                                    help="backbone name (gnnbench list backbones)")] = None,
    dataset: Annotated[Optional[str], typer.Option("--dataset", "-d", show_default="synthetic",
                                                   help="dataset name (gnnbench list datasets)")] = None,
    seeds: Annotated[Optional[List[int]], typer.Option("--seeds", show_default="0",
                                                       help="seeds, e.g. --seeds 0 1 2")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", show_default="200",
                                                  help="training epochs (train.epochs)")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML file with the trial configuration "
                                                                    "(see `gnnbench schema`)")] = None,
    set_: Annotated[Optional[List[str]], typer.Option("--set", help="override key=value, e.g. --set train.lr=0.005 "
                                                                    "method.num_codewords=64")] = None,
    device: Annotated[Optional[str], typer.Option("--device", show_default="auto", help="auto, cpu or cuda")] = None,
    db: Db = None,
    data_root_: DataRoot = None,
    cache_dir: CacheDir = None,
    rerun: Annotated[bool, typer.Option("--rerun", help="run trials again that the store holds as "
                                                        "completed")] = False,
) -> None:
    """Run trials of METHOD with BACKBONE on DATASET, one child process per seed, and store them.

    A (configuration, seed, device) already completed in the store is skipped (--rerun runs it again)."""
    from ..store import Store, resolve_url
    from ..preflight import check_before_running

    raw = build_raw(config, method, backbone, dataset, device, epochs, seeds, set_)
    plans = plans_of(raw)
    url = resolve_url(db)
    check_writable_db(url)
    root, cache = data_root(data_root_), cache_root(cache_dir)
    check_before_running(plans, root, cache)
    store = Store(url)
    from ..trials import pending_plans, repair

    repair(store)
    failures = 0
    with sigterm_as_interrupt():
        for p in pending_plans(store, plans, rerun, lambda text: console.print(text, highlight=False, markup=False)):
            record = _run_one(p, store, root, cache, rerun)
            failures += record is not None and record.status != "completed"
    raise typer.Exit(1 if failures else 0)


def build_raw(config: Optional[Path], method, backbone, dataset, device, epochs, seeds, sets) -> dict[str, Any]:
    """The trial's raw configuration: the TOML file, then the flags and ``--set`` items (a setting
    given twice on the command line is refused, see :func:`gnnbench.config.merge_sources`).

    Raises:
        ConfigError: a bad file, a conflict, or a sweep file given to ``run``.
    """
    from ..config import load_toml, merge_sources

    base: dict[str, Any] = load_toml(config) if config else {}
    if config and ({"methods", "backbones", "datasets", "grid"} & set(base)):
        raise ConfigError(f"'{config}' is a sweep file (it has methods/backbones/datasets/grid); run it with "
                          f"`gnnbench sweep {config}`, or give `method = ...` and `backbone = ...` for one trial")
    if "seed" in base and "seeds" in base:
        raise ConfigError(f"'{config}' gives both seed and seeds; give seeds = [...] only")
    if "seed" in base:
        base["seeds"] = [base.pop("seed")]
    flags = [(("method",), method, f"--method {method}"), (("backbone",), backbone, f"--backbone {backbone}"),
             (("dataset",), dataset, f"--dataset {dataset}"), (("device",), device, f"--device {device}"),
             (("train", "epochs"), epochs, f"--epochs {epochs}"),
             (("seeds",), list(seeds) if seeds else None, f"--seeds {' '.join(map(str, seeds or []))}")]
    raw = merge_sources(base, flags, list(sets or []))
    if "seed" in raw:
        raw["seeds"] = [raw.pop("seed")]
    if "method" not in raw:
        raise ConfigError("no method given; pass --method NAME (see `gnnbench list methods`)")
    return raw  # a missing backbone is refused by plan() unless the method needs none


def plans_of(raw: dict[str, Any]) -> list:
    """One validated :class:`~gnnbench.runner.TrialPlan` per seed (strict values, plugin checks).

    Raises:
        ConfigError, UnknownNameError, PluginError, UnsupportedError: see :func:`gnnbench.runner.plan`.
    """
    from ..config import TrialConfig, check_seeds, validate
    from ..runner import plan

    raw = dict(raw)
    seeds = check_seeds(raw.pop("seeds", [0]))
    base = validate(TrialConfig, {**raw, "seed": seeds[0]}, "configuration")
    return [plan(base.model_copy(update={"seed": s})) for s in seeds]


def _run_one(p, store, root, cache, rerun: bool) -> "TrialRecord | None":
    """Claim, run and store one trial with the local executor (one child process), showing its
    progress; ``None`` when another process is running it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..sweep import LocalExecutor, SweepTrial

    c = p.config
    label = f"{c.method}/{c.backbone or NO_BACKBONE}/{c.dataset} seed {c.seed}"
    done: list = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=console,
                  transient=True) as bar:
        task = bar.add_task(label, total=c.train.epochs, status="loading")

        def on_event(trial, event: dict[str, Any]) -> None:
            if event.get("type") != "epoch":
                return
            val = event.get("val_metric")
            status = f"loss {event['loss']:.4f}" + (f"  val {val:.4f}" if val is not None else "")
            bar.update(task, completed=event["epoch"], status=status)

        LocalExecutor(store, root, cache, lambda trial, run_id, record: done.append((run_id, record)),
                      on_event=on_event, rerun=rerun).run([SweepTrial(p)])
    run_id, rec = done[0]
    if rec is None:
        console.print(f"skip {label}: another process is running it (see `gnnbench results`)",
                      highlight=False, markup=False)
        return None
    console.print(summary(label, run_id, rec), highlight=False)
    return rec


def summary(label: str, run_id: str, record: "TrialRecord") -> str:
    """One line (rich markup) for a finished trial: its status, metric, times and peak memory."""
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
