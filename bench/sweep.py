"""Sweeps: a grid of trials, each in a process of its own, resumable and safe to run concurrently.

A sweep file is TOML::

    name = "cora-scaling"            # the sweep id stored on every trial [default: the file's stem]
    methods = ["full_graph", "ns_sage", "vqgnn"]
    backbones = ["gcn", "sage", "gat"]
    datasets = ["cora"]              # [default: ["synthetic"]]
    seeds = [0, 1, 2]                # [default: [0]]
    device = "auto"

    [train]                          # base TrainConfig of every trial
    epochs = 100
    [budget]                         # base BudgetConfig
    nodes_per_batch = 512
    [method_config.vqgnn]            # base options of one plugin, under its name
    num_codewords = 256
    [backbone_config.gat]
    heads = 8
    [dataset_config.synthetic]
    num_nodes = 500

    [grid]                           # axes: every key holds a list of values
    "train.lr" = [0.01, 0.005]
    "method.vqgnn.num_codewords" = [64, 256]    # only multiplies the trials of vqgnn
    [grid.backbone_config.gat]                  # nested tables are the same as dotted keys
    heads = [4, 8]

The trials are ``datasets × methods × backbones × (the grid axes that apply) × seeds``; an axis of
a plugin's options (``method_config.<name>.<key>``, ``backbone_config.<name>.<key>``,
``dataset_config.<name>.<key>``; ``method.``, ``backbone.``, ``dataset.`` are short forms) only
applies to trials of that plugin.  ``train.<key>``, ``budget.<key>`` and ``device`` apply to all.
A method that needs no backbone (SGC, SIGN: :func:`gnnbench.capabilities.needs_backbone`) gets
one trial per dataset and grid point, with no backbone, whatever the ``backbones`` list.

Every trial is validated (:func:`gnnbench.runner.plan`) before anything runs or is written: an
unknown name or a bad value stops the sweep with one message; a combination the method does not
support (``UnsupportedError``) is skipped with its reason.  Trials that resolve to the same
``(config_hash, seed)`` are run once.

Resume: running a sweep again skips every ``(config_hash, seed)`` with a ``completed`` row in the
results store, whoever ran it, and first marks ``interrupted`` the rows left ``running`` by a
process of this host that has died (a sweep killed with ``kill -9``).  A trial is claimed (its
``running`` row inserted) in the same transaction that checks it is neither completed nor running
in a live process, so a pair is completed at most once even when two sweeps share a database.
"""
from __future__ import annotations

import itertools
import json
import os
import re
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .capabilities import NO_BACKBONE, needs_backbone
from .config import SECTION_ALIASES, TrialConfig, check_seeds, set_path, validate
from .errors import ConfigError, UnsupportedError
from .executor import Executor, OnResult

__all__ = ["SweepTrial", "Skipped", "Sweep", "expand", "parse_memory", "is_live", "LocalExecutor", "run_local"]

_PLUGIN_SECTIONS = ("method_config", "backbone_config", "dataset_config")
_LISTS = {"methods": "method", "backbones": "backbone", "datasets": "dataset"}
_TOP_KEYS = {"name", "methods", "backbones", "datasets", "seeds", "device", "train", "budget", "grid",
             *_PLUGIN_SECTIONS}


@dataclass(frozen=True)
class SweepTrial:
    """One trial of a sweep: its validated plan and the grid values that distinguish it."""

    plan: Any  # gnnbench.runner.TrialPlan
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def key(self) -> tuple[str, int]:
        """``(config_hash, seed)``: what resume and exactly-once are about."""
        return self.plan.config_hash, self.plan.config.seed

    @property
    def label(self) -> str:
        c = self.plan.config
        extra = " ".join(f"{k}={v}" for k, v in self.params)
        return f"{c.method}/{c.backbone or NO_BACKBONE}/{c.dataset} seed {c.seed}" + (f" {extra}" if extra else "")


@dataclass(frozen=True)
class Skipped:
    """A grid combination the method does not support, with the reason."""

    label: str
    reason: str


@dataclass
class Sweep:
    """An expanded sweep: its id, its trials (deduplicated, in order) and the skipped combinations."""

    sweep_id: str
    trials: list[SweepTrial] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


# --------------------------------------------------------------------------------- grid expansion
def _names(raw: dict[str, Any], key: str, default: list[str] | None) -> list[str]:
    single = _LISTS[key]
    if single in raw and key in raw:
        raise ConfigError(f"give either '{single}' or '{key}' in the sweep file, not both")
    value = [raw[single]] if single in raw else raw.get(key, default)
    if value is None:
        raise ConfigError(f"the sweep file has no '{key}'; add e.g. {key} = [\"{'full_graph' if key == 'methods' else 'gcn'}\"]"
                          f" (see `gnnbench list {key}`)")
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{key} = {value!r}: expected a non-empty list of names, e.g. {key} = [\"a\", \"b\"]")
    if len(set(value)) != len(value):
        raise ConfigError(f"{key} = {value!r} names a plugin twice; list each once")
    return value


def _seeds(raw: dict[str, Any]) -> list[int]:
    return check_seeds(raw.get("seeds", [0]))


def _table(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"'{key}' in the sweep file must be a table ([{key}]), got {value!r}")
    return value


def _plugin_tables(raw: dict[str, Any], section: str, allowed: list[str]) -> dict[str, dict[str, Any]]:
    """``[method_config.<name>]`` tables, keyed by plugin name (each name must be in the sweep)."""
    tables = _table(raw, section)
    kind = section.removesuffix("_config")
    for name, value in tables.items():
        if not isinstance(value, dict):
            raise ConfigError(f"{section}.{name} = {value!r}: in a sweep, {kind} options go under the {kind}'s "
                              f"name, e.g. [{section}.{allowed[0]}] {name} = {value!r}")
        if name not in allowed:
            raise ConfigError(f"[{section}.{name}]: '{name}' is not one of the sweep's {kind}s "
                              f"({', '.join(allowed)}); add it to {kind}s or remove the table")
    return tables


def _flatten_grid(grid: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], list[Any]]]:
    if not isinstance(grid, dict):
        raise ConfigError(f"'grid' in the sweep file must be a table ([grid]), got {grid!r}")
    axes = []
    for key, value in grid.items():
        path = prefix + tuple(p.strip() for p in str(key).split("."))
        if isinstance(value, dict):
            axes.extend(_flatten_grid(value, path))
        elif isinstance(value, list):
            if not value:
                raise ConfigError(f"grid '{'.'.join(path)}' is an empty list; give at least one value")
            axes.append((path, value))
        else:
            raise ConfigError(f"grid '{'.'.join(path)}' = {value!r} must be a list of values, e.g. "
                              f"[{value!r}]; put a single value in its section instead")
    return axes


def _check_axis(path: tuple[str, ...], names: dict[str, list[str]]) -> tuple[str, ...]:
    """Normalise an axis path (aliases) and check it names a real section; returns the path."""
    where = ".".join(path)
    if not all(path):
        raise ConfigError(f"grid key '{where}' has an empty part")
    root = path[0]
    if root in SECTION_ALIASES and len(path) > 1:
        path = (SECTION_ALIASES[root],) + path[1:]
        root = path[0]
    if root == "device" and len(path) == 1:
        return path
    if root in ("train", "budget") and len(path) == 2:
        return path
    if root in _PLUGIN_SECTIONS and len(path) >= 3:
        kind = root.removesuffix("_config")
        if path[1] not in names[kind]:
            raise ConfigError(f"grid key '{where}': '{path[1]}' is not one of the sweep's {kind}s "
                              f"({', '.join(names[kind])})")
        return path
    raise ConfigError(f"grid key '{where}' names no option; use train.<key>, budget.<key>, device, "
                      f"method.<method>.<key>, backbone.<backbone>.<key> or dataset.<dataset>.<key> "
                      f"(e.g. \"train.lr\" = [0.01, 0.005])")


def _applies(path: tuple[str, ...], method: str, backbone: str, dataset: str) -> bool:
    if path[0] in _PLUGIN_SECTIONS:
        return path[1] == {"method_config": method, "backbone_config": backbone, "dataset_config": dataset}[path[0]]
    return True


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    if path[0] in _PLUGIN_SECTIONS:
        path = (path[0],) + path[2:]  # drop the plugin name: the trial's section is the plugin's own
    set_path(data, path, value, f"grid key '{'.'.join(path)}'", noun="table")


def expand(raw: dict[str, Any], default_name: str) -> Sweep:
    """Expand sweep-file data (see the module docstring) into validated trials.

    Args:
        raw: the parsed TOML (``--set`` overrides already applied).
        default_name: the sweep id when the file gives no ``name`` (the file's stem).

    Raises:
        ConfigError: a malformed key, a bad value, an empty grid; UnknownNameError / PluginError
            from :func:`gnnbench.runner.plan` for an unknown name or a broken plugin.
    """
    from . import registry
    from .runner import plan

    if not isinstance(raw, dict):
        raise ConfigError("the sweep file must be a TOML table")
    unknown = sorted(set(raw) - _TOP_KEYS - set(_LISTS.values()))
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(repr(k) for k in unknown)} in the sweep file; allowed: "
                          f"{', '.join(sorted(_TOP_KEYS))}")
    name = raw.get("name", default_name)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
        raise ConfigError(f"name = {name!r}: expected 1 to 64 letters, digits, '_', '.' or '-'")
    names = {_LISTS[k]: _names(raw, k, ["synthetic"] if k == "datasets" else None) for k in _LISTS}
    for kind, listed in names.items():  # unknown names and broken plugins first: the likeliest typo
        for n in listed:
            registry.load(f"{kind}s", n)
    seeds = _seeds(raw)
    base = {"train": _table(raw, "train"), "budget": _table(raw, "budget")}
    if "device" in raw:
        base["device"] = raw["device"]
    plugin = {s: _plugin_tables(raw, s, names[s.removesuffix("_config")]) for s in _PLUGIN_SECTIONS}
    axes = [(_check_axis(p, names), v) for p, v in _flatten_grid(raw.get("grid", {}))]
    sweep = Sweep(sweep_id=name)
    seen: set[tuple[str, int]] = set()
    def backbones_of(method: str) -> list[str | None]:  # a method that needs no backbone: one trial, none
        return names["backbone"] if needs_backbone(registry.load("methods", method)) else [None]

    combos = [(d, m, b) for d, m in itertools.product(names["dataset"], names["method"]) for b in backbones_of(m)]
    for dataset, method, backbone in combos:
        mine = [(p, v) for p, v in axes if _applies(p, method, backbone, dataset)]
        for combo in itertools.product(*(v for _, v in mine)):
            data = json.loads(json.dumps({**base, "method": method, "backbone": backbone, "dataset": dataset,
                                          "method_config": plugin["method_config"].get(method, {}),
                                          "backbone_config": plugin["backbone_config"].get(backbone, {}),
                                          "dataset_config": plugin["dataset_config"].get(dataset, {})}))
            params = []
            for (path, _), value in zip(mine, combo):
                _set(data, path, value)
                params.append((".".join(path[1:] if path[0] in _PLUGIN_SECTIONS else path), value))
            for seed in seeds:
                cfg = validate(TrialConfig, {**data, "seed": seed}, f"configuration of {method}/{backbone}/{dataset}")
                try:
                    p = plan(cfg)
                except UnsupportedError as exc:
                    extra = " ".join(f"{k}={v}" for k, v in params)
                    sweep.skipped.append(Skipped(f"{method}/{backbone}/{dataset}" + (f" {extra}" if extra else ""),
                                                 str(exc)))
                    break
                trial = SweepTrial(p, tuple(params))
                if trial.key not in seen:
                    seen.add(trial.key)
                    sweep.trials.append(trial)
    return sweep


# ------------------------------------------------------------------------------------ small parsers
_UNITS = {"": 1, "b": 1, "k": 2**10, "kib": 2**10, "kb": 10**3, "m": 2**20, "mib": 2**20, "mb": 10**6,
          "g": 2**30, "gib": 2**30, "gb": 10**9, "t": 2**40, "tib": 2**40, "tb": 10**12}
#: below this, importing torch in the trial's process already fails (address space, not RSS)
MIN_MEMORY_LIMIT = 512 * 2**20


def parse_memory(text: str) -> int:
    """Bytes from ``4GiB``, ``512MiB``, ``2.5GB``, ``4G`` (binary) or a plain number of bytes.

    Raises:
        ConfigError: not a size, or below :data:`MIN_MEMORY_LIMIT` (the address space torch needs to import).
    """
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", str(text))
    unit = m.group(2).lower() if m else None
    if not m or unit not in _UNITS:
        raise ConfigError(f"--memory-limit '{text}' is not a size; use e.g. 4GiB, 512MiB, 2.5GB or a number of bytes")
    value = int(float(m.group(1)) * _UNITS[unit])
    if value < MIN_MEMORY_LIMIT:
        raise ConfigError(f"--memory-limit '{text}' ({value} bytes) is below {MIN_MEMORY_LIMIT // 2**20} MiB, the "
                          f"address space a trial's process needs to import torch; give a larger limit")
    return value


# ------------------------------------------------------------------------------------ liveness
def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        pass
    return None


def is_live(host: str | None, pid: int | None, started_at: str | None) -> bool:
    """Whether the process that wrote a ``running`` row can still be running it.

    Rows of another host are assumed live (their process cannot be checked from here).  On this
    host the pid must exist, not be a zombie and (on Linux) have started before the row did, so
    that a pid reused by an unrelated process does not keep a dead sweep's row ``running``.
    """
    if host != socket.gethostname():
        return True
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no procfs: existence only
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return False
    boot = _boot_time()
    if boot is None or not started_at:
        return True
    began = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    try:
        row = datetime.fromisoformat(started_at).timestamp()
    except ValueError:
        return True
    return began <= row + 2.0


# ------------------------------------------------------------------------------------ local executor
class LocalExecutor(Executor):
    """Trials on this machine, ``workers`` at a time, each in a child process of its own.

    Each worker thread claims a trial and runs and finishes it with
    :meth:`~gnnbench.executor.Executor.execute` (a child process with an ``RLIMIT_AS`` of
    ``memory_limit_bytes`` and ``timeout_s`` seconds of wall clock; the curve written as it grows);
    ``on_result`` and ``on_event`` are called from the worker threads.  ``gnnbench run`` runs its
    seeds through it too, one at a time.
    """

    def __init__(self, *args, workers: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.workers = workers

    def _one(self, t: SweepTrial) -> None:
        run_id = self.claim(t)
        if run_id is None:
            return
        if self.stopping.is_set():  # claimed just as the sweep was stopped: not started
            self.interrupted(t, run_id)
            return
        self.execute(t, run_id)

    def run(self, trials: list[SweepTrial]) -> None:
        pending = deque(trials)
        lock = threading.Lock()
        errors: list[BaseException] = []

        n = max(1, min(self.workers, len(trials)))
        # one flag per worker thread, set when it has stored its last trial.  Not Thread.is_alive():
        # a KeyboardInterrupt inside Thread.join marks a running thread as stopped on CPython 3.11
        # (the bpo-45274 fix releases the lock the thread still holds), so the stopped run would
        # exit while a trial's record is still being written.
        finished = [threading.Event() for _ in range(n)]

        def work(i: int) -> None:
            try:
                while not self.stopping.is_set():
                    with lock:
                        if not pending:
                            return
                        t = pending.popleft()
                    try:
                        self._one(t)
                    except BaseException as exc:  # noqa: BLE001 - re-raised by the main thread
                        errors.append(exc)
                        self.stopping.set()
                        return
            finally:
                finished[i].set()

        def wait_all(between=lambda: None) -> None:
            while not all(f.is_set() for f in finished):
                between()
                for f in finished:
                    f.wait(0.2)

        try:
            for i in range(n):
                threading.Thread(target=work, args=(i,), name=f"sweep-worker-{i}", daemon=True).start()
            wait_all()
        except KeyboardInterrupt:
            self.stopping.set()
            # until every worker has stored its trial: a child started after a kill (its thread was
            # between claiming and starting it) is killed on the next pass
            wait_all(between=_kill_trial_processes)  # their records come back ``interrupted``
            raise
        if errors:
            raise errors[0]


def run_local(trials: list[SweepTrial], store, data_root: Path | None, cache_root: Path, on_result: OnResult, *,
              workers: int = 1, timeout_s: float | None = None, memory_limit_bytes: int | None = None,
              sweep_id: str | None = None) -> None:
    """``LocalExecutor(...).run(trials)``, for scripts."""
    LocalExecutor(store, data_root, cache_root, on_result, timeout_s=timeout_s, memory_limit_bytes=memory_limit_bytes,
                  sweep_id=sweep_id, workers=workers).run(trials)


def _kill_trial_processes() -> None:
    """SIGKILL this process's trial children (``python -m gnnbench.worker``); their rows become ``interrupted``."""
    import psutil

    for child in psutil.Process().children():
        try:
            if "gnnbench.worker" in " ".join(child.cmdline()):
                child.kill()
        except psutil.Error:
            pass
