"""Checks run before any trial starts, so that bad input is one message and nothing is stored.

:func:`gnnbench.runner.plan` checks names, values and the plugins' own cross-field checks without
data.  What needs more than the configuration is checked here, before the results store is
opened: the device, the dataset files and — in one child process, so that the parent neither
imports torch nor keeps a dataset's memory — loading the datasets and setting the budgeted
methods up (a budget a method cannot meet raises :class:`~gnnbench.errors.BudgetError` there).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable

from .capabilities import NO_BACKBONE
from .errors import ConfigError, GnnbenchError

__all__ = ["check_before_running", "check_device", "check_in_child"]


def check_device(plans: Iterable[Any]) -> None:
    """Refuse ``device = "cuda"`` where CUDA is not available (torch is imported only then).

    Raises:
        ConfigError: CUDA was asked for and is not available.
    """
    if any(p.config.device == "cuda" for p in plans):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("device 'cuda' was asked for but CUDA is not available here; "
                              "use --device cpu or --device auto")


def check_before_running(plans: list, data_root: Path | None, cache_root: Path, *,
                         memory_limit_bytes: int | None = None, load_datasets: bool = False) -> None:
    """Everything a trial would otherwise fail on that is the user's to fix.

    Args:
        plans: the :class:`~gnnbench.runner.TrialPlan` s about to run.
        load_datasets: load every distinct dataset (sweeps: a corrupt file stops the sweep);
            otherwise the on-disk datasets (those with a ``check``) and the datasets of budgeted
            trials are loaded, so that a corrupt raw file is one message with nothing written.

    Raises:
        ConfigError, DatasetMissingError, BudgetError: the first problem found.
    """
    from .runner import preflight

    check_device(plans)
    seen = set()
    for p in plans:
        key = (p.config.dataset, json.dumps(p.config.dataset_config, sort_keys=True))
        if key not in seen:
            seen.add(key)
            preflight(p, data_root)
    check_in_child(plans, data_root, cache_root, memory_limit_bytes=memory_limit_bytes, load_datasets=load_datasets)


def _setup_key(c) -> str:
    data = c.model_dump(mode="json")
    data.pop("seed")
    data.pop("train")
    return json.dumps(data, sort_keys=True)


def check_in_child(plans: list, data_root: Path | None, cache_root: Path, *, memory_limit_bytes: int | None = None,
                   load_datasets: bool = True) -> None:
    """Load datasets and set up every budgeted configuration once, in a child process.

    The child fills the cache the trials then read and runs under the trials' ``RLIMIT_AS``; a
    dataset that does not fit is left for the trials to record as ``oom``.

    Raises:
        DatasetMissingError / BudgetError / ConfigError: the message names the dataset or the
            configuration and why.
    """
    datasets, setups, seen = [], [], set()
    for p in plans:
        c = p.config
        budgeted = c.budget.nodes_per_batch is not None or c.budget.messages_per_batch is not None
        key = (c.dataset, json.dumps(c.dataset_config, sort_keys=True))
        on_disk = callable(getattr(p.dataset_cls, "check", None))
        if (load_datasets or budgeted or on_disk) and key not in seen:
            seen.add(key)
            datasets.append({"dataset": c.dataset, "dataset_config": c.dataset_config})
        if budgeted and _setup_key(c) not in seen:
            seen.add(_setup_key(c))
            setups.append(c.model_dump(mode="json"))
    if not datasets:
        return
    spec = {"datasets": datasets, "setups": setups, "data_root": str(data_root) if data_root else None,
            "cache_root": str(cache_root), "memory_limit_bytes": memory_limit_bytes}
    proc = subprocess.run([sys.executable, "-c", "from gnnbench.preflight import _child; _child()"],
                          input=json.dumps(spec), capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ConfigError(f"checking the datasets failed in a child process (exit code {proc.returncode}): {tail}")
    result = json.loads(lines[-1])
    if result.get("error"):
        from .errors import BudgetError, DatasetMissingError

        kind = {"missing": DatasetMissingError, "budget": BudgetError}.get(result.get("kind"), ConfigError)
        raise kind(result["error"])


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or "can't allocate memory" in str(exc) or "out of memory" in str(exc).lower()


def _child() -> None:
    """Child of :func:`check_in_child`: spec on stdin, one JSON line on stdout."""
    spec = json.loads(sys.stdin.read())
    if spec.get("memory_limit_bytes"):
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (spec["memory_limit_bytes"],) * 2)
    error = _load_all(spec) or _setup_all(spec)
    print(json.dumps(error or {"error": None}))


def _load(name: str, dataset_config: dict, spec: dict):
    from . import registry

    root = Path(spec["data_root"]) if spec["data_root"] else None
    cls = registry.load("datasets", name)
    return cls(cls.Config(**dataset_config)).load(root, Path(spec["cache_root"]) / name)


def _load_all(spec: dict) -> dict | None:
    from .errors import DatasetMissingError

    root = spec["data_root"]
    for item in spec["datasets"]:
        name = item["dataset"]
        try:
            _load(name, item["dataset_config"], spec)
        except DatasetMissingError as exc:
            return {"error": str(exc), "kind": "missing"}
        except GnnbenchError as exc:
            return {"error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - a corrupt file raises anything; it becomes one message
            if _is_oom(exc):
                continue  # over the memory limit: each trial will be recorded ``oom``
            text = (str(exc).strip().splitlines() or [""])[-1][:300]
            where = f" under {root}" if root else ""
            return {"error": f"dataset '{name}' cannot be loaded{where}: {type(exc).__name__}: {text}; "
                             f"check or replace its raw files (and clear its cache folder "
                             f"{Path(spec['cache_root']) / name} if they were replaced)"}
    return None


def _setup_all(spec: dict) -> dict | None:
    """Set every budgeted configuration up on the CPU: the budget solver refuses what it cannot meet."""
    if not spec["setups"]:
        return None
    import torch
    from torch_geometric import seed_everything

    from .config import TrialConfig
    from .errors import BudgetError
    from .runner import _method_cache, plan

    for data in spec["setups"]:
        config = TrialConfig(**data)
        p = plan(config)
        label = f"{config.method}/{config.backbone or NO_BACKBONE}/{config.dataset}"
        try:
            seed_everything(config.seed)
            dataset = _load(config.dataset, p.config.dataset_config, spec)
            backbone = p.backbone_cls(p.backbone_config) if p.backbone_cls is not None else None
            method = p.method_cls(p.method_config, backbone, config.train, config.budget)
            method.preflight = True  # setup need only check the budget and options
            method.cache_dir = _method_cache(Path(spec["cache_root"]), config.dataset, p.config.dataset_config,
                                             getattr(dataset, "source_key", None))
            method.setup(dataset, torch.device("cpu"))
        except BudgetError as exc:
            return {"error": f"{label}: {exc}", "kind": "budget"}
        except GnnbenchError as exc:
            return {"error": f"{label}: {exc}"}
        except Exception:  # noqa: BLE001 - not the user's input: the trial itself will record it
            continue
    return None
