"""The common runner: it resolves a trial, drives the method, and owns every measurement.

:func:`plan` validates a :class:`~gnnbench.config.TrialConfig` against the registered plugins
before any data is loaded; :func:`execute_trial` runs one trial in the current process and
returns its measurements; :mod:`gnnbench.worker` wraps it in a child process of its own, so that
the memory figures (peak RSS and the working memory of each phase) belong to one trial and a crash or out-of-memory stays contained.
"""
from __future__ import annotations

import contextlib
import copy
import math
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from . import registry
from .capabilities import check_backbone_choice, check_capabilities
from .config import TrialConfig, config_hash, validate
from .errors import ConfigError, PredictionError, UnsupportedError
from .types import Batch, DatasetInfo, EpochPoint, Status, Task, TrialRecord

if TYPE_CHECKING:  # pragma: no cover
    from .measure import Clock, PhaseMemory

__all__ = ["TrialPlan", "plan", "preflight", "execute_trial", "pick_device", "is_oom"]

Emit = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class TrialPlan:
    """A validated trial: the plugin classes, their validated configs and the resolved config."""

    config: TrialConfig
    method_cls: type
    backbone_cls: type | None
    """``None`` for a method that needs no backbone (as ``backbone_config``)."""
    dataset_cls: type
    method_config: Any
    backbone_config: Any
    dataset_config: Any
    info: DatasetInfo
    device: str = "cpu"
    """The resolved device type (``"cpu"`` or ``"cuda"``): ``config.device`` with ``"auto"`` decided here."""

    @property
    def config_hash(self) -> str:
        """The identity hash of the trial's configuration with the resolved device (seed excluded)."""
        return config_hash(self.config, self.device)


def _validate(cls: type, data: dict, where: str):
    return validate(cls.Config, data, where)  # strict: no string-to-number coercion


def _check(method_cls: type, config: TrialConfig, method_config, backbone_config, info: DatasetInfo) -> None:
    """The method's optional ``check(method_config, backbone_config, dataset_info)`` hook: its
    cross-field checks, before any data is loaded (a ``ValueError`` becomes a ConfigError)."""
    check = getattr(method_cls, "check", None)
    if callable(check):
        try:
            check(method_config, backbone_config, info)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"method_config for '{config.method}' with backbone '{config.backbone}' on "
                              f"dataset '{config.dataset}': {exc}") from exc


def _check_budget(config: TrialConfig) -> None:
    """Refuse a budget the method does not size its batches by (its ``meets_budget`` is not set).

    Raises:
        UnsupportedError: a budget is set and the method ignores budgets.
    """
    budget = {k: v for k, v in config.budget.model_dump().items() if v is not None}
    method_cls = registry.load("methods", config.method)
    if not budget or getattr(method_cls, "meets_budget", False):
        return
    given = ", ".join(f"budget.{k}={v}" for k, v in budget.items())
    able = [n for n in registry.names("methods") if getattr(_load_quietly(n), "meets_budget", False)]
    raise UnsupportedError(
        f"method '{config.method}' does not size its batches by a budget, so {given} cannot be met; "
        f"drop the budget, or use a method that meets one: {', '.join(able) or '(none registered)'}")


def _load_quietly(name: str) -> type | None:
    try:
        return registry.load("methods", name)
    except Exception:  # noqa: BLE001 - a broken plugin is reported where it is used, not here
        return None


def plan(config: TrialConfig) -> TrialPlan:
    """Resolve and validate ``config`` without loading any data.

    Returns a :class:`TrialPlan` whose ``config`` has every plugin section filled with defaults
    and whose ``device`` is the device the trial will run on (``"auto"`` resolved on this machine),
    so that its hash identifies the full configuration and where it ran.

    Raises:
        UnknownNameError: a method, backbone or dataset name is not registered.
        PluginError: a plugin is broken.
        ConfigError: a plugin section has an unknown key or a bad value.
        UnsupportedError: the method does not support the backbone or the dataset's task, a
            backbone is named for a method that needs none, or a budget is set and the method
            does not size its batches by one.
        ConfigError: no backbone named for a method that needs one.
        ConfigError: ``device = "cuda"`` where CUDA is not available.
        ConfigError: the method's ``check`` hook refuses the combination of options.
    """
    method_cls = registry.load("methods", config.method)
    backbone_cls = registry.load("backbones", config.backbone) if config.backbone is not None else None
    dataset_cls = registry.load("datasets", config.dataset)
    check_backbone_choice(config.method, method_cls, config.backbone, config.backbone_config)
    supported = method_cls.supported_backbones
    if backbone_cls is not None and supported is not None and config.backbone not in supported:
        reason = getattr(method_cls, "unsupported_reasons", {}).get(config.backbone, "")
        raise UnsupportedError(
            f"method '{config.method}' does not support backbone '{config.backbone}'"
            f"{': ' + reason if reason else ''}; supported backbones: {', '.join(sorted(supported))}")
    backbone_config = None
    if backbone_cls is not None:
        check_capabilities(config.method, method_cls, config.backbone, backbone_cls)
    _check_budget(config)
    method_config = _validate(method_cls, config.method_config, f"method_config for '{config.method}'")
    if backbone_cls is not None:
        backbone_config = _validate(backbone_cls, config.backbone_config, f"backbone_config for '{config.backbone}'")
    dataset_config = _validate(dataset_cls, config.dataset_config, f"dataset_config for '{config.dataset}'")
    info = dataset_cls(dataset_config).info()
    if info.task not in method_cls.supported_tasks:
        raise UnsupportedError(
            f"method '{config.method}' does not support the task of dataset '{config.dataset}' ({info.task}); "
            f"it supports: {', '.join(sorted(str(t) for t in method_cls.supported_tasks))}")
    _check(method_cls, config, method_config, backbone_config, info)
    resolved = config.model_copy(update={
        "method_config": method_config.model_dump(mode="json"),
        "backbone_config": backbone_config.model_dump(mode="json") if backbone_config is not None else {},
        "dataset_config": dataset_config.model_dump(mode="json"),
    })
    return TrialPlan(resolved, method_cls, backbone_cls, dataset_cls, method_config, backbone_config,
                     dataset_config, info, pick_device(config.device).type)


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


def _method_cache(cache_root: Path, dataset: str, dataset_config: dict, source_key: str | None = None) -> Path:
    """Where a method may cache preprocessing of this dataset (partitions, …), one folder per
    dataset name, dataset configuration and raw files read (``GraphDataset.source_key``); set as
    ``method.cache_dir`` before ``setup``."""
    import hashlib
    import json

    blob = json.dumps(dataset_config, sort_keys=True) + (f"|{source_key}" if source_key else "")
    key = hashlib.sha256(blob.encode()).hexdigest()[:12]
    return cache_root / dataset / "methods" / key


def _labels(dataset, split: str):
    return dataset.graph_for(split).y[dataset.split[split]] if dataset.info.task != Task.LINK else None


def execute_trial(config: TrialConfig, data_root: Path | None, cache_root: Path,
                  emit: Emit = lambda event: None) -> TrialRecord:
    """Run one trial in this process and return its :class:`~gnnbench.types.TrialRecord`.

    The runner seeds every RNG with ``config.seed``, loads the dataset (``load_time_s``), calls
    ``method.setup`` (``preprocess_time_s``), trains for ``train.epochs`` epochs timing each
    ``next()`` of ``method.batches`` as sampling, its own ``Batch.to(device)`` as transfer and each
    ``train_step`` as compute, validates every ``train.eval_every`` epochs (not counted as training
    time), keeps the model state of the best validation epoch, and finally restores it and times
    one ``predict(["valid", "test"])`` pass (``inference_time_s``) whose test value is reported:
    OGB's convention.  With ``train.epochs = 1`` that final pass is also the epoch's validation.
    Every prediction is checked (:func:`gnnbench.metrics.check_prediction`) before it is scored.

    Exceptions are recorded, not raised: status ``failed`` (traceback in ``error``) or ``oom``.
    ``emit`` receives progress events (``{"type": "epoch", **EpochPoint fields, "epochs": N}``).
    """
    record = TrialRecord(started_at=_now())
    try:
        _run(config, data_root, cache_root, emit, record)
        record.status = Status.COMPLETED
    except BaseException as exc:  # noqa: BLE001 - the trial's failure is its result
        if isinstance(exc, KeyboardInterrupt):
            record.status = Status.INTERRUPTED
        else:
            record.status = Status.OOM if is_oom(exc) else Status.FAILED
        if record.epochs is None:
            record.keep_progress()  # the epochs and training time it reached
        record.error = "".join(traceback.format_exception(exc))
    finally:
        record.finished_at = _now()
    return record


def _run(config: TrialConfig, data_root, cache_root, emit: Emit, rec: TrialRecord) -> None:
    import torch
    from torch_geometric import seed_everything

    from .measure import Clock, NvmlMonitor, PhaseMemory, environment, plugin_sources

    p = plan(config)
    rec.metric, rec.config, rec.config_hash = p.info.metric, p.config.model_dump(mode="json"), p.config_hash
    device = pick_device(p.device)
    rec.environment = environment(device)
    rec.device, rec.device_name = device.type, rec.environment["device_name"]
    used = {"method": (config.method, p.method_cls), "backbone": (config.backbone, p.backbone_cls),
            "dataset": (config.dataset, p.dataset_cls)}
    rec.plugins = plugin_sources({k: v for k, v in used.items() if v[1] is not None})
    nvml = NvmlMonitor(device.index or 0).start() if device.type == "cuda" else None
    memory = PhaseMemory(device)
    clock = Clock(device)
    try:
        seed_everything(config.seed)
        with memory.phase("load"):
            t = clock.now()
            dataset = p.dataset_cls(p.dataset_config).load(
                Path(data_root) if data_root else None, Path(cache_root) / config.dataset)
            rec.load_time_s = clock.now() - t
        rec.num_nodes, rec.num_edges = int(dataset.graph.num_nodes), int(dataset.graph.edge_index.size(1))
        with memory.phase("preprocess"):
            backbone = p.backbone_cls(p.backbone_config) if p.backbone_cls is not None else None
            method = p.method_cls(p.method_config, backbone, config.train, config.budget)
            method.cache_dir = _method_cache(Path(cache_root), config.dataset, p.config.dataset_config,
                                             getattr(dataset, "source_key", None))
            t = clock.now()
            method.setup(dataset, device)
            rec.preprocess_time_s = clock.now() - t
        rec.num_parameters = int(sum(q.numel() for q in method.model.parameters()))
        _train(config, p, dataset, method, device, clock, emit, rec, memory)
        extra = getattr(method, "report", None)
        rec.extra = dict(extra()) if callable(extra) else {}
    finally:
        memory.store(rec)
        if device.type == "cuda":
            rec.peak_gpu_allocated_bytes = memory.gpu_peak
        if nvml is not None:
            rec.peak_gpu_nvml_bytes = nvml.stop()


def recount(batch: Batch) -> tuple[int, int] | None:
    """``(nodes, messages)`` of a batch whose payload the runner understands (a PyG ``Data`` or
    ``HeteroData``: its nodes and its ``edge_index`` columns, summed over types), else ``None``."""
    try:
        from torch_geometric.data.data import BaseData
    except ImportError:  # pragma: no cover
        return None
    data = batch.data
    if isinstance(data, BaseData) and data.num_nodes is not None:
        return int(data.num_nodes), int(data.num_edges)
    return None


class _Sizes:
    """Batch sizes as counted (where the runner can) and as reported by the method."""

    def __init__(self) -> None:
        self.nodes: list[int] = []
        self.messages: list[int] = []
        self.reported_nodes: list[int] = []
        self.reported_messages: list[int] = []

    def add(self, batch: Batch) -> None:
        reported = (int(batch.num_nodes), int(batch.num_messages))
        counted = recount(batch) or reported
        self.nodes.append(counted[0])
        self.messages.append(counted[1])
        self.reported_nodes.append(reported[0])
        self.reported_messages.append(reported[1])

    def store(self, rec: TrialRecord) -> None:
        rec.num_batches = len(self.nodes)
        rec.nodes_per_batch_mean, rec.nodes_per_batch_max = _mean(self.nodes), max(self.nodes)
        rec.messages_per_batch_mean, rec.messages_per_batch_max = _mean(self.messages), max(self.messages)
        if self.reported_nodes != self.nodes:
            rec.reported_nodes_per_batch_mean = _mean(self.reported_nodes)
            rec.reported_nodes_per_batch_max = max(self.reported_nodes)
        if self.reported_messages != self.messages:
            rec.reported_messages_per_batch_mean = _mean(self.reported_messages)
            rec.reported_messages_per_batch_max = max(self.reported_messages)


def _mean(values: list[int]) -> float:
    return sum(values) / len(values)


def _predict(method, dataset, splits: list[str], method_name: str) -> dict:
    """``method.predict(splits)``, each split's prediction checked before it is scored."""
    from .metrics import check_prediction

    preds = method.predict(splits)
    for split in splits:
        if split not in preds:
            raise PredictionError(f"method '{method_name}' returned no prediction for split '{split}' "
                                  f"(got {sorted(preds)})")
        check_prediction(dataset, split, preds[split], method_name)
    return preds


def _train(config, p: TrialPlan, dataset, method, device, clock: "Clock", emit: Emit, rec: TrialRecord,
           memory: "PhaseMemory") -> None:
    """The epochs (the ``train`` phase of ``memory``), then the final inference (``inference``)."""
    with memory.phase("train"):
        best_state = _epochs(config, p, dataset, method, device, clock, emit, rec, memory)
    if best_state is not None:
        method.model.load_state_dict(copy.deepcopy(best_state))
    from .metrics import evaluate

    with memory.phase("inference"):
        t = clock.now()
        preds = _predict(method, dataset, ["valid", "test"], config.method)
        rec.inference_time_s = clock.now() - t
    rec.val_metric = evaluate(p.info, preds["valid"], _labels(dataset, "valid"))
    rec.test_metric = evaluate(p.info, preds["test"], _labels(dataset, "test"))
    if rec.best_epoch is None and rec.curve:  # one epoch, not validated: this pass is its validation
        rec.best_epoch, rec.curve[-1].val_metric = rec.curve[-1].epoch, rec.val_metric


def _epochs(config, p: TrialPlan, dataset, method, device, clock: "Clock", emit: Emit, rec: TrialRecord,
            memory: "PhaseMemory | None" = None):
    """Train ``train.epochs`` epochs (or until ``patience``); returns the best validation epoch's
    model state (on the CPU), ``None`` if no epoch was validated.  The validation passes are
    left out of ``memory``'s training figure (:meth:`PhaseMemory.excluded`).  A one-epoch trial
    is not validated here: there is no epoch to choose, and its validation would repeat the final
    inference pass (on a large graph a full layer-wise pass), which :func:`_train` uses instead."""
    from .metrics import evaluate

    tc = config.train
    sizes = _Sizes()
    cum = 0.0
    best, best_epoch, best_state, stale = -math.inf, None, None, 0
    rec.curve = []
    for epoch in range(1, tc.epochs + 1):
        sample_t = transfer_t = compute_t = 0.0
        losses = []
        it = iter(method.batches(epoch))
        while True:
            t = clock.now()
            try:
                batch = next(it)
            except StopIteration:
                sample_t += clock.now() - t
                break
            t1 = clock.now()
            sample_t += t1 - t
            batch = batch.to(device)
            t2 = clock.now()
            transfer_t += t2 - t1
            sizes.add(batch)
            losses.append(float(method.train_step(batch)))
            compute_t += clock.now() - t2
        if not losses:
            raise RuntimeError(f"method '{config.method}' yielded no batch in epoch {epoch}")
        cum += sample_t + transfer_t + compute_t
        point = EpochPoint(epoch=epoch, train_time_s=cum, epoch_time_s=sample_t + transfer_t + compute_t,
                           sample_time_s=sample_t, transfer_time_s=transfer_t, compute_time_s=compute_t,
                           loss=sum(losses) / len(losses))
        if not math.isfinite(point.loss):  # before validating: a diverged model predicts NaN
            rec.curve.append(point)
            emit({"type": "epoch", **point.to_dict(), "epochs": tc.epochs})
            raise FloatingPointError(f"training loss became {point.loss} in epoch {epoch}")
        if tc.epochs > 1 and (epoch % tc.eval_every == 0 or epoch == tc.epochs):
            with memory.excluded() if memory is not None else contextlib.nullcontext():
                pred = _predict(method, dataset, ["valid"], config.method)["valid"]
            val = point.val_metric = evaluate(p.info, pred, _labels(dataset, "valid"))
            if val > best:
                best, best_epoch, stale = val, epoch, 0
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in method.model.state_dict().items()}
            else:
                stale += 1
        rec.curve.append(point)
        emit({"type": "epoch", **point.to_dict(), "epochs": tc.epochs})
        if tc.patience is not None and stale >= tc.patience:
            break
    rec.keep_progress()
    rec.best_epoch = best_epoch
    sizes.store(rec)
    return best_state
