"""Sweeps: grid expansion, resume after kill -9, out-of-memory, timeout and failure, with real
processes and the real SQLite file (tiny synthetic graphs, a few epochs)."""
from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from gnnbench.errors import ConfigError
from gnnbench.store import Store
from gnnbench.sweep import expand, is_live, parse_memory, run_local

TINY = {"num_nodes": 200, "avg_degree": 4, "num_features": 8, "num_classes": 3}


def _raw(**over):
    raw = {"methods": ["full_graph"], "backbones": ["gcn"], "datasets": ["synthetic"], "seeds": [0],
           "train": {"epochs": 2}, "dataset_config": {"synthetic": dict(TINY)}}
    raw.update(over)
    return raw


# ------------------------------------------------------------------------------------- expansion
def test_grid_multiplies_only_the_trials_of_its_plugin():
    sweep = expand(_raw(backbones=["gcn", "gat"], seeds=[0, 1],
                        grid={"train.lr": [0.01, 0.005], "backbone.gat.heads": [2, 4]}), "s")
    labels = [t.label for t in sweep.trials]
    # gcn: 2 lr × 2 seeds; gat: 2 lr × 2 heads × 2 seeds
    assert len(labels) == 4 + 8
    assert sum("/gat/" in x for x in labels) == 8
    assert all("heads" not in x for x in labels if "/gcn/" in x)
    assert {t.plan.config.backbone_config["heads"] for t in sweep.trials if t.plan.config.backbone == "gat"} == {2, 4}
    assert sweep.sweep_id == "s"


def test_nested_grid_tables_equal_dotted_keys_and_duplicates_run_once():
    a = expand(_raw(grid={"train": {"lr": [0.01, 0.02]}}), "a")
    b = expand(_raw(grid={"train.lr": [0.01, 0.02, 0.01]}), "b")
    assert [t.key for t in a.trials] == [t.key for t in b.trials]
    assert len(b.trials) == 2


def test_base_sections_reach_each_trial_and_seed_shares_the_hash():
    sweep = expand(_raw(seeds=[3, 4], train={"epochs": 7}, backbone_config={"gcn": {"hidden_channels": 24}}), "x")
    c = [t.plan.config for t in sweep.trials]
    assert [x.seed for x in c] == [3, 4]
    assert all(x.train.epochs == 7 and x.backbone_config["hidden_channels"] == 24 for x in c)
    assert sweep.trials[0].plan.config_hash == sweep.trials[1].plan.config_hash


def test_unsupported_combination_is_skipped_with_its_reason(monkeypatch):
    from gnnbench.methods.full_graph import FullGraph

    monkeypatch.setattr(FullGraph, "supported_backbones", frozenset({"gcn"}))
    sweep = expand(_raw(backbones=["gcn", "sage"]), "s")
    assert [t.plan.config.backbone for t in sweep.trials] == ["gcn"]
    assert len(sweep.skipped) == 1 and "does not support backbone 'sage'" in sweep.skipped[0].reason


@pytest.mark.parametrize("text,expected", [("4GiB", 4 * 2**30), ("512MiB", 512 * 2**20), ("2.5GB", 2_500_000_000),
                                           ("1G", 2**30), ("1073741824", 2**30)])
def test_parse_memory(text, expected):
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["4XB", "", "-1G", "1MiB", "GiB"])
def test_parse_memory_rejects(text):
    with pytest.raises(ConfigError, match="--memory-limit"):
        parse_memory(text)


def test_is_live_checks_pid_host_and_pid_reuse():
    now = datetime.now(timezone.utc).isoformat()
    host = socket.gethostname()
    assert is_live(host, os.getpid(), now)
    assert is_live("another-host", 1, now)  # cannot be checked from here: assumed live
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not is_live(host, proc.pid, now)
    # this process started long before 2001: a row that old cannot be ours (the pid was reused)
    assert not is_live(host, os.getpid(), "2001-01-01T00:00:00+00:00")


# ----------------------------------------------------------------------------- real processes
def _write_sweep(path: Path, **over) -> Path:
    import tomli_w

    path.write_text(tomli_w.dumps(_raw(**over)))
    return path


def _counts(db: Path) -> dict[str, int]:
    if not db.exists():
        return {}
    with sqlite3.connect(db, timeout=30) as con:
        try:
            return dict(con.execute("SELECT status, COUNT(*) FROM trials GROUP BY status").fetchall())
        except sqlite3.OperationalError:
            return {}


def test_kill_9_midway_then_resume_completes_every_trial_exactly_once(tmp_path):
    sweep_file = _write_sweep(tmp_path / "kill.toml", seeds=[0, 1, 2])
    db = tmp_path / "kill.db"
    cmd = [sys.executable, "-c", "from gnnbench.cli import main; main()", "sweep", str(sweep_file), "--workers", "2",
           "--db", str(db), "--cache-dir", str(tmp_path / "cache")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    try:
        while True:  # midway: something completed and something still running
            c = _counts(db)
            if c.get("completed", 0) >= 1 and c.get("running", 0) >= 1:
                break
            assert proc.poll() is None, f"the sweep ended before it could be killed: {c}"
            assert time.monotonic() < deadline, f"no midway state reached: {c}"
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    killed = _counts(db)
    assert killed.get("running", 0) >= 1

    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"marked {killed['running']} trial(s) left running" in resumed.stderr
    with sqlite3.connect(db) as con:
        pairs = con.execute("SELECT config_hash, seed, COUNT(*) FROM trials WHERE status = 'completed' "
                            "GROUP BY config_hash, seed").fetchall()
        statuses = dict(con.execute("SELECT status, COUNT(*) FROM trials GROUP BY status").fetchall())
        errors = [r[0] for r in con.execute("SELECT error FROM trials WHERE status = 'interrupted'")]
    assert len(pairs) == 3 and all(n == 1 for _, _, n in pairs)
    assert statuses == {"completed": 3, "interrupted": killed["running"]}
    assert all("found on resume" in e for e in errors)

    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "3 already completed, 0 to run" in again.stderr.replace("\n", " ")
    assert _counts(db) == statuses


def test_over_memory_limit_is_oom_and_a_failing_trial_does_not_stop_the_sweep(tmp_path, cache_dir):
    big = {"num_nodes": 100_000, "avg_degree": 2, "num_features": 4096, "num_classes": 3}
    sweep = expand(_raw(datasets=["synthetic", "cora"], dataset_config={"synthetic": big}), "faults")
    store = Store(f"sqlite:///{tmp_path / 'faults.db'}")
    seen = []
    # no data root: cora's loader raises inside the trial's process (the CLI would refuse earlier)
    run_local(sweep.trials, store, None, cache_dir, lambda t, run_id, rec: seen.append(rec.status),
              workers=2, memory_limit_bytes=1 * 2**30, sweep_id="faults")
    rows = {r["dataset"]: r for r in store.trials()}
    assert sorted(seen) == ["failed", "oom"]
    assert rows["synthetic"]["status"] == "oom"
    assert "can't allocate memory" in rows["synthetic"]["error"] or "MemoryError" in rows["synthetic"]["error"]
    assert rows["cora"]["status"] == "failed" and "Traceback" in rows["cora"]["error"]
    assert all(r["sweep_id"] == "faults" and r["peak_cpu_rss_bytes"] > 0 for r in rows.values())


def test_trial_over_its_timeout_is_interrupted(tmp_path, cache_dir):
    sweep = expand(_raw(), "t")
    store = Store(f"sqlite:///{tmp_path / 't.db'}")
    run_local(sweep.trials, store, None, cache_dir, lambda *a: None, timeout_s=0.3)
    (row,) = store.trials()
    assert row["status"] == "interrupted" and "timed out after 0.3 s" in row["error"]
