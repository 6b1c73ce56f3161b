"""One trial in a child process of its own.

Peak memory must belong to one trial, so every trial runs in a fresh Python process
(``python -m gnnbench.worker``): its peak resident set size is the kernel's high-water mark for
that process, read by the parent with ``os.wait4`` (so it is known even when the child is
killed), and a crash or an out-of-memory error ends the child, not the sweep.

The parent sends the trial spec as JSON on the child's standard input; the child sends progress
events and, last, its record as JSON lines on a dedicated pipe. The child's own stdout and stderr
(library chatter, warnings, a traceback on a hard crash) go to a log whose tail is kept as the
error text when the child dies without a record.
"""
from __future__ import annotations

import json
import os
import resource
import select
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from .types import EpochPoint, Status, TrialRecord

__all__ = ["run_in_child", "main", "epoch_point"]

_TAIL = 4000


def run_in_child(config, data_root: Path | None, cache_root: Path,
                 on_event: Callable[[dict[str, Any]], None] = lambda e: None,
                 memory_limit_bytes: int | None = None, timeout_s: float | None = None) -> TrialRecord:
    """Run ``config`` (a :class:`~gnnbench.config.TrialConfig`) in a child process; return its record.

    The :class:`~gnnbench.types.TrialRecord` always has ``status`` (completed, failed, oom or
    interrupted) and ``peak_cpu_rss_bytes``: the child's own peak RSS in bytes, as it measured it
    (``VmHWM`` over all phases), else ``ru_maxrss`` from ``wait4`` (a killed child), which on Linux
    also counts the resident pages it shared with this process when it was forked.
    A child that dies without a record leaves one with the curve it sent and, when it was
    killed (interrupted), the epochs and training time it reached.

    Args:
        memory_limit_bytes: address-space limit (``RLIMIT_AS``) of the child; exceeding it is ``oom``.
        timeout_s: wall-clock limit in seconds; a child still running then is killed (``interrupted``).

    Raises:
        KeyboardInterrupt: after killing the child, when the parent is interrupted.
    """
    spec = {"config": config.model_dump(mode="json"), "data_root": str(data_root) if data_root else None,
            "cache_root": str(cache_root), "memory_limit_bytes": memory_limit_bytes}
    read_fd, write_fd = os.pipe()
    log = tempfile.TemporaryFile()
    started = datetime.now(timezone.utc).isoformat()
    proc = subprocess.Popen([sys.executable, "-m", "gnnbench.worker", str(write_fd)], stdin=subprocess.PIPE,
                            stdout=log, stderr=log, pass_fds=(write_fd,), close_fds=True, env=child_environment())
    os.close(write_fd)
    proc.stdin.write(json.dumps(spec).encode())
    proc.stdin.close()
    record: TrialRecord | None = None
    curve: list[EpochPoint] = []
    reason = None
    deadline = time.monotonic() + timeout_s if timeout_s else None
    buf = b""
    try:
        with os.fdopen(read_fd, "rb", buffering=0) as pipe:
            while True:
                wait = None if deadline is None else max(0.0, deadline - time.monotonic())
                ready, _, _ = select.select([pipe], [], [], wait)
                if not ready:
                    reason = f"timed out after {timeout_s:g} s"
                    proc.kill()
                    break
                chunk = pipe.read(65536)
                if not chunk:
                    break
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    event = json.loads(line)
                    if event.get("type") == "result":
                        record = TrialRecord.from_dict(event["record"])
                    else:
                        if event.get("type") == "epoch":
                            curve.append(epoch_point(event))
                        on_event(event)
    except KeyboardInterrupt:
        proc.kill()
        _reap(proc)
        raise
    _, status, usage = _reap(proc)
    if record is None:
        log.seek(0, os.SEEK_END)
        log.seek(max(0, log.tell() - _TAIL))
        tail = log.read().decode(errors="replace")
        if os.WIFSIGNALED(status):
            sig = signal.Signals(os.WTERMSIG(status)).name
            why = reason or f"the trial process was killed by {sig}"
            state = "interrupted" if os.WTERMSIG(status) in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT) else "failed"
        else:
            why = reason or f"the trial process exited with code {os.WEXITSTATUS(status)} without a result"
            state = "failed"
        record = TrialRecord(status=Status(state), started_at=started, error=f"{why}\n{tail}".strip(), curve=curve)
        if record.status == Status.INTERRUPTED:
            record.keep_progress()
    record.finished_at = record.finished_at or datetime.now(timezone.utc).isoformat()
    if record.peak_cpu_rss_bytes is None:  # no peak of its own (killed, or not Linux): the kernel's
        # ru_maxrss, which on Linux also counts the parent's resident pages at the fork
        record.peak_cpu_rss_bytes = int(usage.ru_maxrss) * 1024  # Linux reports KiB
    log.close()
    return record


def child_environment() -> dict[str, str]:
    """The trial process's environment: this one's, with glibc's mmap threshold set to
    :data:`gnnbench.measure.MMAP_THRESHOLD_BYTES` (``MALLOC_MMAP_THRESHOLD_``) unless the user set
    it, so that freed tensors go back to the operating system and the per-phase working memory
    (measured from RSS) follows live memory.  Other C libraries ignore the variable."""
    from .measure import MMAP_THRESHOLD_BYTES

    env = dict(os.environ)
    env.setdefault("MALLOC_MMAP_THRESHOLD_", str(MMAP_THRESHOLD_BYTES))
    return env


def epoch_point(event: dict[str, Any]) -> EpochPoint:
    """The :class:`~gnnbench.types.EpochPoint` of an ``{"type": "epoch", ...}`` progress event."""
    return EpochPoint.from_dict({k: v for k, v in event.items() if k not in ("type", "epochs")})


def _reap(proc: subprocess.Popen):
    """``os.wait4`` the child (its rusage holds the peak RSS) and mark the Popen as done."""
    while True:
        try:
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        except InterruptedError:  # pragma: no cover
            continue
    proc.returncode = os.waitstatus_to_exitcode(status)
    return pid, status, usage


def main(argv: list[str] | None = None) -> int:
    """Child entry point: ``python -m gnnbench.worker EVENT_FD`` with the spec on stdin."""
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what an interrupt does
    spec = json.loads(sys.stdin.read())
    limit = spec.get("memory_limit_bytes")
    if limit:
        resource.setrlimit(resource.RLIMIT_AS, (int(limit), int(limit)))
    events = os.fdopen(int(argv[0]), "w", buffering=1)

    def emit(event: dict[str, Any]) -> None:
        events.write(json.dumps(event) + "\n")

    from .config import TrialConfig
    from .runner import execute_trial

    config = TrialConfig(**spec["config"])
    root = Path(spec["data_root"]) if spec["data_root"] else None
    record = execute_trial(config, root, Path(spec["cache_root"]), emit)
    emit({"type": "result", "record": record.to_dict()})
    events.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
