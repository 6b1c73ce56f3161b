"""The runner's measuring instruments: a device-synchronised clock, GPU memory and the environment.

Plugins never import this module: the runner alone measures (STYLE.md, principle 4).
"""
from __future__ import annotations

import contextlib
import functools
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from dataclasses import asdict
from typing import Any

from .types import PluginSource

__all__ = ["Clock", "NvmlMonitor", "PhaseMemory", "PHASES", "MMAP_THRESHOLD_BYTES", "environment", "git_commit", "plugin_source", "plugin_sources"]


class Clock:
    """``now()`` in seconds (``time.perf_counter``), after ``torch.cuda.synchronize`` on CUDA.

    Synchronising before reading the clock makes a span include the GPU work queued inside it,
    so that sampling and compute are not credited with each other's kernels.
    """

    def __init__(self, device) -> None:
        import torch

        self._sync = torch.cuda.synchronize if getattr(device, "type", str(device)) == "cuda" else None
        self._device = device

    def now(self) -> float:
        if self._sync is not None:
            self._sync(self._device)
        return time.perf_counter()


class NvmlMonitor:
    """Peak GPU memory (bytes) used by this process as NVML reports it, polled in a thread.

    NVML sees what the driver allocated for the process (CUDA context and the caching allocator's
    reserve included), which is more than ``torch.cuda.max_memory_allocated``. ``peak`` stays
    ``None`` without CUDA or without NVML.

    Args:
        device_index: CUDA device index.
        interval_s: polling interval in seconds (default 0.005).
    """

    def __init__(self, device_index: int = 0, interval_s: float = 0.005) -> None:
        self.peak: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._index, self._interval = device_index, interval_s

    def _used(self, nvml, handle) -> int | None:
        pid = os.getpid()
        for getter in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
            try:
                for proc in getattr(nvml, getter)(handle):
                    if proc.pid == pid and proc.usedGpuMemory is not None:
                        return int(proc.usedGpuMemory)
            except Exception:  # pragma: no cover - driver dependent
                continue
        return None

    def start(self) -> "NvmlMonitor":
        try:
            import pynvml as nvml

            nvml.nvmlInit()
            handle = nvml.nvmlDeviceGetHandleByIndex(self._index)
        except Exception:
            return self

        def poll() -> None:
            while not self._stop.is_set():
                used = self._used(nvml, handle)
                if used is not None:
                    self.peak = max(self.peak or 0, used)
                self._stop.wait(self._interval)

        self.peak = 0
        self._thread = threading.Thread(target=poll, name="gnnbench-nvml", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> int | None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
        return self.peak


#: the phases whose working memory the runner measures, in the order a trial passes them
PHASES = ("load", "preprocess", "train", "inference")
#: glibc's mmap threshold the worker sets in the trial process (``MALLOC_MMAP_THRESHOLD_``): blocks
#: above it are mmapped and go back to the operating system when freed, so that RSS follows live
#: memory and one phase's freed tensors do not hide in the next phase's peak.
MMAP_THRESHOLD_BYTES = 64 * 1024

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def _status_kib(*keys: str) -> dict[str, int]:
    """``{key: value in KiB}`` of ``/proc/self/status`` lines such as ``VmHWM:  123 kB``."""
    out: dict[str, int] = {}
    for line in _STATUS.read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in keys:
            out[key] = int(rest.split()[0])
    return out


def _cpu_unavailable() -> str | None:
    """Why the kernel's peak-RSS mark cannot be reset and read here, or ``None`` when it can."""
    if not _STATUS.exists():
        return "no /proc/self/status (not Linux): CPU working memory per phase is not measured"
    try:
        if set(_status_kib("VmHWM", "VmRSS")) != {"VmHWM", "VmRSS"}:
            return "/proc/self/status has no VmHWM/VmRSS: CPU working memory per phase is not measured"
        with _CLEAR_REFS.open("w") as f:
            f.write("5")
    except OSError as exc:
        return f"cannot reset the peak-RSS mark ({_CLEAR_REFS}: {exc.strerror}): CPU working memory " \
               "per phase is not measured"
    return None


class PhaseMemory:
    """Peak working memory of each phase of a trial, on the host and on a CUDA device (bytes).

    A phase's CPU figure is the peak resident set size during the phase minus the RSS at its
    start: at the start the kernel's peak mark is reset (``5`` written to ``/proc/self/clear_refs``
    resets ``VmHWM`` to the current RSS), at the end ``VmHWM`` is read from ``/proc/self/status``.
    The interpreter, torch and whatever earlier phases left alive (the loaded graph, the model)
    are thus not counted, only what the phase itself allocated on top of them.  RSS follows live
    memory only where freed blocks go back to the operating system: the worker sets glibc's mmap
    threshold (:data:`MMAP_THRESHOLD_BYTES`) in the trial process for that.

    A phase's CUDA figure is ``torch.cuda.max_memory_allocated`` during the phase (the peak is
    reset at its start) minus ``memory_allocated`` at its start; ``*_gpu_reserved_bytes`` is the
    same for the caching allocator's ``memory_reserved``.

    Where a figure cannot be measured (not Linux, no CUDA device) it stays ``None`` and
    :attr:`note` says why.

    Args:
        device: the trial's ``torch.device``.
    """

    def __init__(self, device) -> None:
        self._cuda = getattr(device, "type", str(device)) == "cuda"
        self._device = device
        self.note: str | None = _cpu_unavailable()
        self.cpu_ok = self.note is None
        self.figures: dict[str, int | None] = {}
        self.gpu_peak: int | None = None
        #: the process's own peak RSS (bytes) since it started, over every reset of the mark
        self.peak_rss: int | None = None
        self._open: dict | None = None

    @contextlib.contextmanager
    def phase(self, name: str):
        """Measure the phase ``name`` (one of :data:`PHASES`) while the ``with`` block runs.

        The figures are recorded also when the block raises (an out-of-memory phase keeps the
        peak it reached).  Inside the block, :meth:`excluded` leaves a part out of the figure.

        Raises:
            ValueError: ``name`` is not one of :data:`PHASES`.
        """
        if name not in PHASES:
            raise ValueError(f"unknown phase {name!r}; the phases are {', '.join(PHASES)}")
        self._open = {"name": name, "rss0": self._reset_cpu()}
        if self._cuda:
            import torch

            torch.cuda.synchronize(self._device)
            torch.cuda.reset_peak_memory_stats(self._device)
            self._open["alloc0"] = torch.cuda.memory_allocated(self._device)
            self._open["reserved0"] = torch.cuda.memory_reserved(self._device)
        try:
            yield self
        finally:
            self._fold()
            self._open = None

    def _fold(self) -> None:
        """Fold the open phase's peaks since the last reset into its figures (the maximum over
        the parts of the phase that :meth:`excluded` separates)."""
        o, name = self._open, self._open["name"]

        def keep(key: str, value: int) -> None:
            self.figures[key] = max(self.figures.get(key) or 0, int(value))

        if o["rss0"] is not None:
            keep(f"{name}_cpu_bytes", max(0, self._hwm() - o["rss0"]))
        if self._cuda:
            import torch

            torch.cuda.synchronize(self._device)
            peak = torch.cuda.max_memory_allocated(self._device)
            self.gpu_peak = max(self.gpu_peak or 0, int(peak))
            keep(f"{name}_gpu_bytes", peak - o["alloc0"])
            keep(f"{name}_gpu_reserved_bytes", torch.cuda.max_memory_reserved(self._device) - o["reserved0"])

    @contextlib.contextmanager
    def excluded(self):
        """Leave what the ``with`` block allocates out of the open phase's figure.

        The training phase's validation passes are a full inference each (layer-wise over the
        whole graph for the sampling methods): counted, they would be the training figure of
        every mini-batch method on a large graph, and the figure would no longer say what a
        training batch needs (Ding et al. 2021, Table 3).  At the block's start the phase's peak
        so far is folded into its figure; at its end the peak marks are reset, so the phase's
        figure is the largest of its parts outside such blocks, each still measured against the
        RSS (CUDA allocation) at the phase's start.  Outside a phase it does nothing.
        """
        if getattr(self, "_open", None) is None:
            yield self
            return
        self._fold()
        try:
            yield self
        finally:
            if self._open["rss0"] is not None:
                self._reset_cpu()
            if self._cuda:
                import torch

                torch.cuda.synchronize(self._device)
                self.gpu_peak = max(self.gpu_peak or 0, int(torch.cuda.max_memory_allocated(self._device)))
                torch.cuda.reset_peak_memory_stats(self._device)

    def _reset_cpu(self) -> int | None:
        if not self.cpu_ok:
            return None
        try:
            self._hwm()  # the peak so far, before the mark is reset
            with _CLEAR_REFS.open("w") as f:
                f.write("5")
            return _status_kib("VmRSS")["VmRSS"] * 1024
        except (OSError, KeyError) as exc:  # pragma: no cover - /proc vanished mid-trial
            self.cpu_ok, self.note = False, f"the peak-RSS mark could not be reset: {exc}"
            return None

    def _hwm(self) -> int:
        """``VmHWM`` in bytes, folded into :attr:`peak_rss`."""
        hwm = _status_kib("VmHWM")["VmHWM"] * 1024
        self.peak_rss = max(self.peak_rss or 0, hwm)
        return hwm

    def store(self, rec) -> None:
        """Copy the figures, the note and the process's own peak RSS (``peak_cpu_rss_bytes``) into
        the :class:`~gnnbench.types.TrialRecord` ``rec``."""
        if self.cpu_ok:
            self._hwm()
            rec.peak_cpu_rss_bytes = self.peak_rss
        for key, value in self.figures.items():
            setattr(rec, key, value)
        notes = [self.note] if self.note else []
        if not self._cuda:
            notes.append("no CUDA device: GPU working memory is not measured")
        rec.memory_note = "; ".join(notes) or None


def git_commit(where: Path | None = None) -> str | None:
    """The git commit (``-dirty`` with uncommitted changes) of the checkout holding ``where`` (default:
    the gnnbench source tree), or ``None`` when it is not a git checkout."""
    path = Path(where or __file__).resolve()
    return _git_commit(str(path if path.is_dir() else path.parent))


@functools.lru_cache(maxsize=None)
def _git_commit(folder: str) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() + ("-dirty" if dirty else "")


def plugin_source(kind: str, name: str, cls: type) -> PluginSource:
    """The distribution, version and git commit of the plugin ``cls`` registered as ``kind`` ``name``.

    The distribution is the one whose ``gnnbench.<kind>s`` entry point ``name`` names; the commit is
    that of the git checkout holding the plugin's module (an editable install), else ``None``.
    """
    import importlib.metadata as md
    import inspect

    dist = version = None
    for ep in md.entry_points(group=f"gnnbench.{kind}s", name=name):
        if getattr(ep, "dist", None) is not None:
            dist, version = ep.dist.metadata["Name"], ep.dist.version
            break
    try:
        path = inspect.getsourcefile(cls)
    except (TypeError, OSError):  # a built-in, or a class defined where there is no source file
        path = None
    return PluginSource(name=name, distribution=dist, version=version, commit=git_commit(Path(path)) if path else None)


def plugin_sources(plugins: dict[str, tuple[str, type]]) -> dict[str, dict[str, Any]]:
    """``{kind: PluginSource fields}`` for ``{kind: (name, class)}`` (the record's ``plugins``)."""
    return {kind: asdict(plugin_source(kind, name, cls)) for kind, (name, cls) in plugins.items()}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device) -> dict[str, Any]:
    """What the trial ran on: versions, device and CPU names, host, cores, git commit."""
    import torch
    import torch_geometric

    from . import __version__

    if getattr(device, "type", "cpu") == "cuda":
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = "cpu"
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "gnnbench": __version__,
        "cuda": torch.version.cuda,
        "device": str(device),
        "device_name": device_name,
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "git_commit": git_commit(),
    }
