"""Run a validated trial in its own process and store it: the unit that ``run`` and sweeps repeat.

Also the rules ``run`` shares with ``sweep`` about what a store already holds: a trial is
``(config_hash, seed)`` with the resolved device inside the hash; a completed one is not run again
unless asked (``--rerun``); a seed is listed once; a row left ``running`` by a dead process is
marked ``interrupted`` by every command that opens the store.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Sequence

from .capabilities import NO_BACKBONE
from .errors import ConfigError
from .runner import TrialPlan
from .store import Store
from .types import EpochPoint, Status, TrialRecord
from .worker import epoch_point, run_in_child

__all__ = ["run_and_store", "pending_plans", "repair", "CURVE_FLUSH_S"]

#: a running trial's curve points are written to the store at most this often (seconds)
CURVE_FLUSH_S = 1.0


def run_and_store(plan: TrialPlan, store: Store, data_root: Path | None, cache_root: Path,
                  on_event: Callable[[dict[str, Any]], None] = lambda e: None, *,
                  memory_limit_bytes: int | None = None, timeout_s: float | None = None,
                  sweep_id: str | None = None, run_id: str | None = None,
                  amend: Callable[[TrialRecord], None] | None = None) -> tuple[str, TrialRecord]:
    """Insert a ``running`` row, run the trial in a child process, write its record; ``(run_id, record)``.

    ``run_id``: a ``running`` row already inserted (e.g. by :meth:`Store.claim_trial`) to fill
    instead of inserting one.  The curve is written as it grows (every :data:`CURVE_FLUSH_S`
    seconds), so a trial whose parent is killed keeps its epochs.  An interrupt (Ctrl-C) kills
    the child, records the trial as ``interrupted`` with its epochs and training time so far, and
    re-raises.  ``amend``: called with the child's record just before it is stored (once).
    """
    if run_id is None:
        run_id = store.start_trial(plan.config, plan.config_hash, sweep_id=sweep_id, device=plan.device)
    curve: list[EpochPoint] = []
    unsent: list[EpochPoint] = []
    last = [time.monotonic()]

    def relay(event: dict[str, Any]) -> None:
        if event.get("type") == "epoch":
            point = epoch_point(event)
            curve.append(point)
            unsent.append(point)
            if time.monotonic() - last[0] >= CURVE_FLUSH_S:
                store.add_epochs(run_id, unsent)
                unsent.clear()
                last[0] = time.monotonic()
        on_event(event)

    try:
        record = run_in_child(plan.config, data_root, cache_root, relay,
                              memory_limit_bytes=memory_limit_bytes, timeout_s=timeout_s)
    except KeyboardInterrupt:
        record = TrialRecord(status=Status.INTERRUPTED, error="interrupted (Ctrl-C or SIGTERM)",
                             metric=plan.info.metric, curve=curve)
        record.keep_progress()
        store.finish_trial(run_id, record)
        raise
    record.metric = record.metric or plan.info.metric
    if amend is not None:
        amend(record)
    store.finish_trial(run_id, record)
    return run_id, record


def pending_plans(store: Store, plans: Sequence[TrialPlan], rerun: bool = False,
                  say: Callable[[str], None] = lambda text: None) -> list[TrialPlan]:
    """The plans to run: without ``rerun``, those whose ``(config_hash, seed)`` has no completed row.

    ``say`` is told of each skipped trial (its label, run_id and how to run it again).
    """
    if rerun:
        return list(plans)
    done = store.completed_pairs()
    todo = []
    for p in plans:
        if (p.config_hash, p.config.seed) in done:
            c = p.config
            say(f"skipped {c.method}/{c.backbone or NO_BACKBONE}/{c.dataset} seed {c.seed} on {p.device}: already completed "
                f"(config {p.config_hash}); pass --rerun to run it again")
        else:
            todo.append(p)
    return todo


def repair(store: Store) -> list[str]:
    """Mark the rows left ``running`` by a dead process of this host ``interrupted``; their run_ids.

    ``run``, ``sweep``, ``results`` and ``report`` call it when they open the store.
    """
    from .sweep import is_live

    return store.interrupt_dead(is_live)
