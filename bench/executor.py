"""One interface for running a sweep's trials: claim → run → finish, written once.

An :class:`Executor` decides *where* a trial's child process runs (threads of this machine:
:class:`gnnbench.sweep.LocalExecutor`; Ray tasks on a cluster:
:class:`gnnbench.ray_executor.RayExecutor`).  What happens around it is the same for both and
lives here: a trial is claimed in the results store (its ``running`` row inserted in the
transaction that checks it is neither completed nor running elsewhere), run, and its record
written; a trial that is stopped is stored as ``interrupted``.
"""
from __future__ import annotations

import abc
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    from .types import TrialRecord

__all__ = ["Executor", "OnResult", "OnEvent"]

#: ``on_result(trial, run_id, record)``; ``run_id`` and ``record`` are ``None`` when another
#: process completed or is running the trial (it was not claimed)
OnResult = Callable[[Any, "str | None", "TrialRecord | None"], None]
#: ``on_event(trial, event)``: a running trial's progress events (``{"type": "epoch", …}``)
OnEvent = Callable[[Any, dict], None]


class Executor(abc.ABC):
    """Runs :class:`~gnnbench.sweep.SweepTrial` s and stores each one's record.

    Args:
        store: the :class:`~gnnbench.store.Store` (only the driver process opens it).
        data_root: the raw datasets' folder, or ``None``.
        cache_root: the cache folder (seen at the same path by every worker).
        on_result: called once per trial, from any thread.
        timeout_s: per-trial wall-clock limit in seconds (then ``interrupted``).
        memory_limit_bytes: per-trial ``RLIMIT_AS`` in bytes (exceeding it is ``oom``).
        sweep_id: stored on every trial.
        on_event: optional; receives the progress events of trials run on this machine.
        rerun: claim trials also when the store holds them as completed (``gnnbench run --rerun``).
    """

    def __init__(self, store, data_root: Path | None, cache_root: Path, on_result: OnResult, *,
                 timeout_s: float | None = None, memory_limit_bytes: int | None = None,
                 sweep_id: str | None = None, on_event: OnEvent | None = None, rerun: bool = False):
        self.store, self.data_root, self.cache_root, self.on_result = store, data_root, cache_root, on_result
        self.timeout_s, self.memory_limit_bytes, self.sweep_id = timeout_s, memory_limit_bytes, sweep_id
        self.on_event, self.rerun = on_event, rerun
        #: set when the run is being stopped (Ctrl-C, SIGTERM, a failing worker): no new trial starts
        self.stopping = threading.Event()

    @abc.abstractmethod
    def run(self, trials: list) -> None:
        """Run ``trials``; each is claimed, run and finished.

        Raises:
            KeyboardInterrupt: after stopping the running trials (stored ``interrupted``).
        """

    def claim(self, trial) -> str | None:
        """Insert the trial's ``running`` row; its ``run_id``, or ``None`` (reported) when it is taken."""
        from .sweep import is_live

        run_id = self.store.claim_trial(trial.plan.config, trial.plan.config_hash, is_live, sweep_id=self.sweep_id,
                                        device=trial.plan.device, rerun=self.rerun)
        if run_id is None:
            self.on_result(trial, None, None)
        return run_id

    def execute(self, trial, run_id: str) -> "TrialRecord":
        """Run the claimed ``trial`` in a child process of this machine and finish it: its curve is
        written as it grows and its record stored (:func:`gnnbench.trials.run_and_store`)."""
        from .trials import run_and_store

        relay = (lambda event: self.on_event(trial, event)) if self.on_event else (lambda event: None)

        def amend(record: "TrialRecord") -> None:  # a child killed because the run is stopping
            if self.stopping.is_set() and record.status == "interrupted":
                record.error = f"interrupted: the run was stopped (Ctrl-C or SIGTERM); {record.error}"

        _, record = run_and_store(trial.plan, self.store, self.data_root, self.cache_root, relay,
                                  memory_limit_bytes=self.memory_limit_bytes, timeout_s=self.timeout_s,
                                  run_id=run_id, amend=amend)
        self.on_result(trial, run_id, record)
        return record

    def finish(self, trial, run_id: str, record: "TrialRecord") -> None:
        """Write the record of a trial run elsewhere (a Ray worker) into its row and report it."""
        record.metric = record.metric or trial.plan.info.metric
        self.store.finish_trial(run_id, record)
        self.on_result(trial, run_id, record)

    def interrupted(self, trial, run_id: str, curve: list | None = None) -> None:
        """Store a stopped trial as ``interrupted`` (not reported: the sweep is stopping)."""
        from .types import Status, TrialRecord

        self.store.finish_trial(run_id, TrialRecord(status=Status.INTERRUPTED, metric=trial.plan.info.metric,
                                                    error="interrupted: the sweep was stopped", curve=curve or []))
