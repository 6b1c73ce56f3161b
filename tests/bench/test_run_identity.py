"""`run` behaves like `sweep`: a trial is (configuration, seed, resolved device), stored once."""
from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest


SMALL = ["--set", "dataset.num_nodes=150", "--set", "dataset.num_features=4"]



def _rows(cli, db):
    code, out, err = cli("results", "--format", "json", "--db", str(db))
    assert code == 0, err
    return json.loads(out)


def test_run_twice_stores_one_trial_per_seed_and_rerun_counts_distinct_seeds(cli, tmp_path):
    db = tmp_path / "r.db"
    args = ["run", "-m", "full_graph", "-b", "gcn", "--epochs", "2", "--seeds", "0", "1", "--db", str(db), *SMALL]
    assert cli(*args)[0] == 0
    code, _, err = cli(*args)
    assert code == 0 and err.count("already completed") == 2 and "--rerun" in err
    rows = _rows(cli, db)
    assert sorted(r["seed"] for r in rows) == [0, 1] and {r["status"] for r in rows} == {"completed"}
    assert {r["device"] for r in rows} == {"cpu"} and rows[0]["device_name"]
    assert rows[0]["num_nodes"] == 150 and rows[0]["plugins"]["backbone"]["name"] == "gcn"
    code, _, _ = cli("run", "-m", "full_graph", "-b", "gcn", "--epochs", "2", "--seeds", "0", "--rerun",
                      "--db", str(db), *SMALL)
    assert code == 0 and len(_rows(cli, db)) == 3
    code, out, _ = cli("report", "--db", str(db))
    assert code == 0 and "(n=2)" in out and "(n=3)" not in out  # distinct seeds, the latest of seed 0


def test_duplicate_seeds_are_refused_before_anything_is_written(cli, tmp_path):
    db = tmp_path / "r.db"
    code, _, err = cli("run", "-m", "full_graph", "-b", "gcn", "--seeds", "0", "0", "--db", str(db), *SMALL)
    assert code == 2 and "repeats a seed (0)" in " ".join(err.split()) and not db.exists()


def test_cpu_and_cuda_trials_of_one_config_are_separate_report_rows(cli, tmp_path):
    from gnnbench.config import TrialConfig, config_hash
    from gnnbench.reports.aggregate import Filters, aggregate, load_trials
    from gnnbench.store import Store

    db = tmp_path / "r.db"
    assert cli("run", "-m", "full_graph", "-b", "gcn", "--epochs", "2", "--db", str(db), *SMALL)[0] == 0
    store = Store(f"sqlite:///{db}")
    (cpu,) = store.trials()
    cfg = TrialConfig(**cpu["config"])
    assert cfg.device == "auto" and cpu["config_hash"] == config_hash(cfg, "cpu") != config_hash(cfg, "cuda")
    run_id = store.start_trial(cfg, config_hash(cfg, "cuda"), device="cuda")  # a fake CUDA trial
    store.finish_trial(run_id, {"status": "completed", "metric": "acc", "test_metric": 0.99, "val_metric": 0.99,
                                "epochs": 2, "device": "cuda", "device_name": "NVIDIA H200"})
    agg = aggregate(load_trials(store, Filters()))
    assert sorted(agg["device"]) == ["cpu", "cuda"] and sorted(agg["n_completed"]) == [1, 1]
    assert sorted(agg["variant"]) == ['full_graph · device="cpu"', 'full_graph · device="cuda"']


def _stored_epochs(db) -> int:
    """Curve points in the store ``db``; 0 while the run has created the file but not yet its
    tables (polling then raced the schema's creation: "no such table: epochs")."""
    try:
        return sqlite3.connect(db).execute("SELECT count(*) FROM epochs").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_sigkilled_run_leaves_an_interrupted_row_after_results(cli, tmp_path):
    import psutil

    db = tmp_path / "r.db"
    env = {**os.environ, "GNNBENCH_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-c", "from gnnbench.cli import main; main()", "run", "-m", "full_graph",
                             "-b", "gcn", "--epochs", "100000", "--db", str(db), *SMALL], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children: list = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until the first curve points are stored
            time.sleep(1)
            children = psutil.Process(proc.pid).children() or children
            if db.exists() and _stored_epochs(db) > 0:
                break
        else:
            pytest.fail("the run stored no epoch within 120 s")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for child in children:  # the trial's own process, orphaned by the kill
            child.kill()
    (row,) = _rows(cli, db)
    assert row["status"] == "interrupted" and "ended while the trial was running" in row["error"]
    assert row["epochs"] > 0 and row["train_time_s"] > 0


def test_truncated_raw_file_is_named_with_exit_2_warm_cache_or_cold(cli, tmp_path, data_root):
    copy = tmp_path / "data"
    shutil.copytree(data_root / "Cora", copy / "Cora")
    db, cache = tmp_path / "r.db", tmp_path / "cache"
    args = ["run", "-m", "full_graph", "-b", "gcn", "-d", "cora", "--epochs", "1", "--data-root", str(copy)]
    assert cli(*args, "--db", str(db), "--cache-dir", str(cache))[0] == 0  # warms the cache
    x = copy / "Cora" / "raw" / "ind.cora.x"
    x.write_bytes(x.read_bytes()[: x.stat().st_size // 2])
    before = sorted(p for p in cache.rglob("*"))
    for where in (cache, tmp_path / "cold"):
        bad = tmp_path / f"bad-{where.name}.db"
        code, _, err = cli(*args, "--db", str(bad), "--cache-dir", str(where))
        assert code == 2 and f"raw file '{x}'" in " ".join(err.split()).replace("' ", "'")
        assert "truncated" in err and not bad.exists()
    assert sorted(p for p in cache.rglob("*")) == before  # nothing written to the warm cache
    assert not (tmp_path / "cold").exists() or not any((tmp_path / "cold").rglob("*.pt"))


def test_scaling_plot_uses_the_stored_graph_size_of_any_dataset(db_url):
    from gnnbench.config import TrialConfig, config_hash
    from gnnbench.reports.aggregate import Filters, aggregate, load_trials
    from gnnbench.reports.figures import scaling_figure
    from gnnbench.store import Store

    store = Store(db_url)
    for dataset, n in (("cora", 2708), ("citeseer", 3327), ("facebook", 22470)):
        cfg = TrialConfig(method="full_graph", backbone="gcn", dataset=dataset)
        run_id = store.start_trial(cfg, config_hash(cfg, "cpu"))
        store.finish_trial(run_id, {"status": "completed", "metric": "acc", "test_metric": 0.8, "epochs": 10,
                                    "epoch_time_s": n / 1e4, "peak_cpu_rss_bytes": n * 1000, "num_nodes": n,
                                    "num_edges": 4 * n, "device": "cpu"})
    _, frame = scaling_figure(aggregate(load_trials(store, Filters())))
    assert frame["num_nodes"].tolist() == [2708, 3327, 22470]
    assert frame["dataset"].tolist() == ["cora", "citeseer", "facebook"]
