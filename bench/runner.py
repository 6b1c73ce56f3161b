"""The common runner: it resolves a trial, drives the method, and owns every measurement.

:func:`plan` validates a :class:`~gnnbench.config.TrialConfig` against the registered plugins
before any data is loaded; :func:`execute_trial` runs one trial in the current process and
returns its measurements; :mod:`gnnbench.worker` wraps it in a child process of its own, so that
the peak memory figures belong to one trial and a crash or out-of-memory stays contained.
"""
from __future__ import annotations

import copy
import math
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from pydantic import ValidationError

from . import registry
from .config import TrialConfig, config_hash, format_validation_error
from .capabilities import check_capabilities
from .errors import ConfigError, UnsupportedError
from .types import DatasetInfo, Task

if TYPE_CHECKING:  # pragma: no cover
    from .measure import Clock

__all__ = ["TrialPlan", "plan", "preflight", "execute_trial", "pick_device", "is_oom"]

Emit = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class TrialPlan:
    """A validated trial: the plugin classes, their validated configs and the resolved config."""

    config: TrialConfig
    method_cls: type
    backbone_cls: type
    dataset_cls: type
    method_config: Any
    backbone_config: Any
    dataset_config: Any
    info: DatasetInfo

    @property
    def config_hash(self) -> str:
        return config_hash(self.config)


def _validate(cls: type, data: dict, where: str):
    try:
        return cls.Config(**data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, where)) from exc
    except TypeError as exc:
        raise ConfigError(f"invalid {where}: {exc}") from exc


def plan(config: TrialConfig) -> TrialPlan:
    """Resolve and validate ``config`` without loading any data.

    Returns a :class:`TrialPlan` whose ``config`` has every plugin section filled with defaults
    (so that its hash identifies the full configuration).

    Raises:
        UnknownNameError: a method, backbone or dataset name is not registered.
        PluginError: a plugin is broken.
        ConfigError: a plugin section has an unknown key or a bad value.
        UnsupportedError: the method does not support the backbone or the dataset's task.
    """
    method_cls = registry.load("methods", config.method)
    backbone_cls = registry.load("backbones", config.backbone)
    dataset_cls = registry.load("datasets", config.dataset)
    supported = method_cls.supported_backbones
    if supported is not None and config.backbone not in supported:
        reason = getattr(method_cls, "unsupported_reasons", {}).get(config.backbone, "")
        raise UnsupportedError(
            f"method '{config.method}' does not support backbone '{config.backbone}'"
            f"{': ' + reason if reason else ''}; supported backbones: {', '.join(sorted(supported))}")
    check_capabilities(config.method, method_cls, config.backbone, backbone_cls)
    method_config = _validate(method_cls, config.method_config, f"method_config for '{config.method}'")
    backbone_config = _validate(backbone_cls, config.backbone_config, f"backbone_config for '{config.backbone}'")
    dataset_config = _validate(dataset_cls, config.dataset_config, f"dataset_config for '{config.dataset}'")
    info = dataset_cls(dataset_config).info()
    if info.task not in method_cls.supported_tasks:
        raise UnsupportedError(
            f"method '{config.method}' does not support the task of dataset '{config.dataset}' ({info.task}); "
            f"it supports: {', '.join(sorted(str(t) for t in method_cls.supported_tasks))}")
    resolved = config.model_copy(update={
        "method_config": method_config.model_dump(mode="json"),
        "backbone_config": backbone_config.model_dump(mode="json"),
        "dataset_config": dataset_config.model_dump(mode="json"),
    })
    return TrialPlan(resolved, method_cls, backbone_cls, dataset_cls, method_config, backbone_config,
                     dataset_config, info)


def preflight(p: TrialPlan, data_root: Path | None) -> None:
    """Check, before any trial starts, that the dataset's files are where its loader looks.

    Calls the dataset plugin's optional ``check(root)``; generated datasets have none.

    Raises:
        DatasetMissingError: files are missing (the message says which, and where to place them).
    """
    check = getattr(p.dataset_cls(p.dataset_config), "check", None)
    if callable(check):
        check(Path(data_root) if data_root else None)


def pick_device(name: str):
    """``torch.device`` for ``"auto"`` (CUDA when available, else CPU), ``"cpu"`` or ``"cuda"``.

    Raises:
        ConfigError: ``"cuda"`` asked for where CUDA is not available.
    """
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but CUDA is not available here; use --device cpu or auto")
    return torch.device(name)


def is_oom(exc: BaseException) -> bool:
    """Whether ``exc`` is an out-of-memory error (CUDA's, the host's MemoryError, or torch's CPU
    allocator failing, e.g. under the ``RLIMIT_AS`` of ``--memory-limit``: "DefaultCPUAllocator:
    can't allocate memory")."""
    import torch

    text = str(exc).lower()
    return (isinstance(exc, (MemoryError, torch.cuda.OutOfMemoryError)) or "out of memory" in text
            or "can't allocate memory" in text)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _method_cache(cache_root: Path, dataset: str, dataset_config: dict) -> Path:
    """Where a method may cache preprocessing of this dataset (partitions, …), one folder per
    dataset name and dataset configuration; set as ``method.cache_dir`` before ``setup``."""
    import hashlib
    import json

    key = hashlib.sha256(json.dumps(dataset_config, sort_keys=True).encode()).hexdigest()[:12]
    return cache_root / dataset / "methods" / key


def _labels(dataset, split: str):
    return dataset.graph_for(split).y[dataset.split[split]] if dataset.info.task != Task.LINK else None


def execute_trial(config: TrialConfig, data_root: Path | None, cache_root: Path,
                  emit: Emit = lambda event: None) -> dict[str, Any]:
    """Run one trial in this process and return its record (the columns of the results store).

    The runner seeds every RNG with ``config.seed``, loads the dataset (``load_time_s``), calls
    ``method.setup`` (``preprocess_time_s``), trains for ``train.epochs`` epochs timing each
    ``next()`` of ``method.batches`` as sampling and each ``train_step`` as compute, validates
    every ``train.eval_every`` epochs (not counted as training time), keeps the model state of the
    best validation epoch, and finally restores it and times one ``predict(["valid", "test"])``
    pass (``inference_time_s``) whose test value is reported: OGB's convention.

    Exceptions are recorded, not raised: status ``failed`` (traceback in ``error``) or ``oom``.
    ``emit`` receives progress events (``{"type": "epoch", ...}``).
    """
    record: dict[str, Any] = {"started_at": _now(), "status": "running", "error": None}
    try:
        _run(config, data_root, cache_root, emit, record)
        record["status"] = "completed"
    except BaseException as exc:  # noqa: BLE001 - the trial's failure is its result
        if isinstance(exc, KeyboardInterrupt):
            record["status"] = "interrupted"
        else:
            record["status"] = "oom" if is_oom(exc) else "failed"
        record["error"] = "".join(traceback.format_exception(exc))
    finally:
        record["finished_at"] = _now()
    return record


def _run(config: TrialConfig, data_root, cache_root, emit: Emit, rec: dict[str, Any]) -> None:
    import torch
    from torch_geometric import seed_everything

    from .measure import Clock, NvmlMonitor, environment
    from .metrics import evaluate

    p = plan(config)
    rec.update(metric=p.info.metric, config=p.config.model_dump(mode="json"), config_hash=p.config_hash)
    device = pick_device(config.device)
    rec["environment"] = environment(device)
    rec["device"] = str(device)
    nvml = NvmlMonitor(device.index or 0).start() if device.type == "cuda" else None
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    clock = Clock(device)
    try:
        seed_everything(config.seed)
        t = clock.now()
        dataset = p.dataset_cls(p.dataset_config).load(
            Path(data_root) if data_root else None, Path(cache_root) / config.dataset)
        rec["load_time_s"] = clock.now() - t
        backbone = p.backbone_cls(p.backbone_config)
        method = p.method_cls(p.method_config, backbone, config.train, config.budget)
        method.cache_dir = _method_cache(Path(cache_root), config.dataset, p.config.dataset_config)
        t = clock.now()
        method.setup(dataset, device)
        rec["preprocess_time_s"] = clock.now() - t
        rec["num_parameters"] = int(sum(q.numel() for q in method.model.parameters()))
        _train(config, p, dataset, method, clock, emit, rec, evaluate)
        extra = getattr(method, "report", None)
        rec["extra"] = dict(extra()) if callable(extra) else {}
    finally:
        if device.type == "cuda":
            rec["peak_gpu_allocated_bytes"] = int(torch.cuda.max_memory_allocated(device))
        if nvml is not None:
            rec["peak_gpu_nvml_bytes"] = nvml.stop()


def _train(config, p: TrialPlan, dataset, method, clock: "Clock", emit: Emit, rec: dict, evaluate) -> None:
    tc = config.train
    curve: list[dict[str, Any]] = []
    nodes, messages = [], []
    cum = sample_total = compute_total = 0.0
    best, best_epoch, best_state, stale = -math.inf, None, None, 0
    rec["curve"] = curve
    for epoch in range(1, tc.epochs + 1):
        sample_t = compute_t = 0.0
        losses = []
        it = iter(method.batches(epoch))
        while True:
            t = clock.now()
            try:
                batch = next(it)
            except StopIteration:
                sample_t += clock.now() - t
                break
            sample_t += clock.now() - t
            nodes.append(int(batch.num_nodes))
            messages.append(int(batch.num_messages))
            t = clock.now()
            losses.append(float(method.train_step(batch)))
            compute_t += clock.now() - t
        if not losses:
            raise RuntimeError(f"method '{config.method}' yielded no batch in epoch {epoch}")
        cum += sample_t + compute_t
        sample_total += sample_t
        compute_total += compute_t
        point = {"epoch": epoch, "train_time_s": cum, "epoch_time_s": sample_t + compute_t,
                 "sample_time_s": sample_t, "compute_time_s": compute_t,
                 "loss": sum(losses) / len(losses), "val_metric": None}
        if epoch % tc.eval_every == 0 or epoch == tc.epochs:
            val = evaluate(p.info, method.predict(["valid"])["valid"], _labels(dataset, "valid"))
            point["val_metric"] = val
            if val > best:
                best, best_epoch, stale = val, epoch, 0
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in method.model.state_dict().items()}
            else:
                stale += 1
        curve.append(point)
        emit({"type": "epoch", **point, "epochs": tc.epochs})
        if not math.isfinite(point["loss"]):
            raise FloatingPointError(f"training loss became {point['loss']} in epoch {epoch}")
        if tc.patience is not None and stale >= tc.patience:
            break
    rec.update(epochs=len(curve), best_epoch=best_epoch, train_time_s=cum,
               epoch_time_s=cum / len(curve), sample_time_s=sample_total, compute_time_s=compute_total,
               num_batches=len(nodes),
               nodes_per_batch_mean=sum(nodes) / len(nodes), nodes_per_batch_max=max(nodes),
               messages_per_batch_mean=sum(messages) / len(messages), messages_per_batch_max=max(messages))
    if best_state is not None:
        method.model.load_state_dict(copy.deepcopy(best_state))
    t = clock.now()
    preds = method.predict(["valid", "test"])
    rec["inference_time_s"] = clock.now() - t
    rec["val_metric"] = evaluate(p.info, preds["valid"], _labels(dataset, "valid"))
    rec["test_metric"] = evaluate(p.info, preds["test"], _labels(dataset, "test"))
