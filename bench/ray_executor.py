"""Run sweep trials as Ray tasks on an existing Ray cluster (the optional extra ``gnnbench[ray]``).

Each trial is one Ray task asking for one GPU where the cluster has GPUs (else one CPU); inside
the task the trial still runs in a child process of its own (:func:`gnnbench.worker.run_in_child`:
``RLIMIT_AS``, timeout, peak RSS from ``wait4``).  The driver claims each trial in the results
store before submitting it and writes its record when the task returns, so the worker nodes never
open the database.  Every node must have gnnbench installed and see the data root and the cache
folder at the same paths (a shared file system).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .executor import Executor

if TYPE_CHECKING:  # pragma: no cover
    from .types import TrialRecord

__all__ = ["RayContext", "RayExecutor", "connect", "run_ray"]


@dataclass(frozen=True)
class RayContext:
    """A connected Ray cluster: its address and the resources one trial asks for."""

    address: str
    num_gpus: int
    num_cpus: int

    @property
    def capacity(self) -> int:
        """How many trials the cluster runs at once (one per GPU, else one per CPU)."""
        return max(1, self.num_gpus or self.num_cpus)

    @property
    def resources(self) -> dict[str, float]:
        """The resources of one trial's task."""
        return {"num_gpus": 1, "num_cpus": 0} if self.num_gpus else {"num_cpus": 1}


def connect(address: str) -> RayContext:
    """Connect this driver to the Ray cluster at ``address`` (``auto``: the one started on this machine).

    Raises:
        ConfigError: Ray is not installed, or no cluster answers at ``address``.
    """
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("--executor ray needs Ray: pip install 'gnnbench[ray]'") from exc
    _check_reachable(address)
    try:
        ray.init(address=address, log_to_driver=False, logging_level="ERROR", configure_logging=True,
                 ignore_reinit_error=True)
        resources = ray.cluster_resources()
    except Exception as exc:  # noqa: BLE001 - ConnectionError, RuntimeError, ValueError from ray.init
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"cannot connect to a Ray cluster at --ray-address '{address}': {text}; start one with "
                          f"`ray start --head` or pass the address it printed") from exc
    return RayContext(address, int(resources.get("GPU", 0)), int(resources.get("CPU", 0)))


def _check_reachable(address: str) -> None:
    """Fail fast on a ``host:port`` where nothing listens (``ray.init`` would retry for minutes).

    Raises:
        ConfigError: nothing accepts a TCP connection at ``address``.
    """
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        if address != "auto":
            raise ConfigError(f"--ray-address '{address}' is not 'auto' or HOST:PORT (e.g. 127.0.0.1:6379)")
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except OSError as exc:
        raise ConfigError(f"cannot connect to a Ray cluster at --ray-address '{address}': {exc}; start one with "
                          f"`ray start --head` or pass the address it printed") from exc


def _trial_task(config: dict[str, Any], data_root: str | None, cache_root: str, memory_limit_bytes: int | None,
                timeout_s: float | None) -> "TrialRecord":
    """The body of one Ray task: run the trial in a child process on this node; return its record."""
    import socket

    import ray

    from gnnbench.config import TrialConfig
    from gnnbench.worker import run_in_child

    record = run_in_child(TrialConfig(**config), Path(data_root) if data_root else None, Path(cache_root),
                          memory_limit_bytes=memory_limit_bytes, timeout_s=timeout_s)
    record.extra = {**(record.extra or {}), "ray_host": socket.gethostname(),
                    "ray_node_id": ray.get_runtime_context().get_node_id()}
    return record


class RayExecutor(Executor):
    """Trials as Ray tasks, at most ``max_in_flight`` at once (default: the cluster's capacity, so
    a trial is claimed — its ``running`` row inserted — only when it can start).  A task that dies
    (a lost node, a crashed worker) is stored ``failed`` with Ray's error.

    Args:
        ctx: the connected cluster (:func:`connect`).
        max_in_flight: tasks at once.
        (the rest: :class:`~gnnbench.executor.Executor`)
    """

    def __init__(self, *args, ctx: RayContext, max_in_flight: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.ctx, self.limit = ctx, max(1, max_in_flight or ctx.capacity)

    def run(self, trials: list) -> None:
        import ray

        remote = ray.remote(max_retries=0, **self.ctx.resources)(_trial_task)
        pending = list(trials)
        running: dict[Any, tuple[Any, str]] = {}
        root = str(self.data_root) if self.data_root else None
        try:
            while pending or running:
                while pending and len(running) < self.limit:
                    t = pending.pop(0)
                    run_id = self.claim(t)
                    if run_id is not None:
                        ref = remote.remote(t.plan.config.model_dump(mode="json"), root, str(self.cache_root),
                                            self.memory_limit_bytes, self.timeout_s)
                        running[ref] = (t, run_id)
                if not running:
                    continue
                done, _ = ray.wait(list(running), num_returns=1)
                for ref in done:
                    t, run_id = running.pop(ref)
                    try:
                        record = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - the task's death is the trial's result
                        from .types import Status, TrialRecord

                        record = TrialRecord(status=Status.FAILED,
                                             error=f"the Ray task failed: {type(exc).__name__}: {exc}")
                    self.finish(t, run_id, record)
        except KeyboardInterrupt:
            for ref, (t, run_id) in running.items():
                ray.cancel(ref, force=True)
                self.interrupted(t, run_id)
            raise


def run_ray(trials, store, data_root: Path | None, cache_root: Path, on_result, *, ctx: RayContext,
            max_in_flight: int | None = None, timeout_s: float | None = None,
            memory_limit_bytes: int | None = None, sweep_id: str | None = None) -> None:
    """``RayExecutor(...).run(trials)``, for scripts."""
    RayExecutor(store, data_root, cache_root, on_result, ctx=ctx, max_in_flight=max_in_flight, timeout_s=timeout_s,
                memory_limit_bytes=memory_limit_bytes, sweep_id=sweep_id).run(trials)
