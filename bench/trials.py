"""Run a validated trial in its own process and store it: the unit that ``run`` and sweeps repeat."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from .runner import TrialPlan
from .store import Store
from .worker import run_in_child

__all__ = ["run_and_store"]


def run_and_store(plan: TrialPlan, store: Store, data_root: Path | None, cache_root: Path,
                  on_event: Callable[[dict[str, Any]], None] = lambda e: None, *,
                  memory_limit_bytes: int | None = None, timeout_s: float | None = None,
                  sweep_id: str | None = None, run_id: str | None = None) -> tuple[str, dict[str, Any]]:
    """Insert a ``running`` row, run the trial in a child process, write its record; ``(run_id, record)``.

    ``run_id``: a ``running`` row already inserted (e.g. by :meth:`Store.claim_trial`) to fill
    instead of inserting one.  An interrupt (Ctrl-C) kills the child, records the trial as
    ``interrupted`` and re-raises.
    """
    if run_id is None:
        run_id = store.start_trial(plan.config, plan.config_hash, sweep_id=sweep_id)
    curve: list[dict[str, Any]] = []

    def relay(event: dict[str, Any]) -> None:
        if event.get("type") == "epoch":
            curve.append({k: v for k, v in event.items() if k not in ("type", "epochs")})
        on_event(event)

    try:
        record = run_in_child(plan.config, data_root, cache_root, relay,
                              memory_limit_bytes=memory_limit_bytes, timeout_s=timeout_s)
    except KeyboardInterrupt:
        store.finish_trial(run_id, {"status": "interrupted", "error": "interrupted (Ctrl-C or SIGTERM)",
                                    "metric": plan.info.metric, "curve": curve})
        raise
    record.setdefault("metric", plan.info.metric)
    store.finish_trial(run_id, record)
    return run_id, record
