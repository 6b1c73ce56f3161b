"""The runner's measuring instruments: a device-synchronised clock, GPU memory and the environment.

Plugins never import this module: the runner alone measures (STYLE.md, principle 4).
"""
from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["Clock", "NvmlMonitor", "environment", "git_commit"]


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


def git_commit() -> str | None:
    """The git commit of the gnnbench source tree, or ``None`` when it is not a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                           capture_output=True, text=True, timeout=5).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


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
