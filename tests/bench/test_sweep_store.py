"""Eight processes writing into one SQLite file at once: no row lost, never 'database is locked',
and a contested (config_hash, seed) is claimed by exactly one of them."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

_WRITER = r"""
import sys, time
from pathlib import Path
from gnnbench.config import TrialConfig
from gnnbench.store import Store
from gnnbench.sweep import is_live

url, idx, go = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
while not go.exists():
    time.sleep(0.005)
store = Store(url)  # eight processes create / open the same new file at once
claimed = 0
for i in range(20):
    own = TrialConfig(method="full_graph", backbone="gcn", seed=i)
    run_id = store.start_trial(own, f"writer{idx:02d}")
    store.finish_trial(run_id, {"status": "completed", "test_metric": 0.5,
                                "curve": [{"epoch": e, "train_time_s": 0.1 * e, "loss": 1.0} for e in range(1, 11)]})
    shared = TrialConfig(method="full_graph", backbone="sage", seed=i)
    run_id = store.claim_trial(shared, "shared", is_live)
    if run_id is not None:
        store.finish_trial(run_id, {"status": "completed", "curve": []})
        claimed += 1
print(claimed)
"""


def test_eight_writers_lose_no_row_and_claim_each_pair_once(tmp_path):
    db = tmp_path / "concurrent.db"
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, f"sqlite:///{db}", str(i), str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(8)]
    time.sleep(1.0)  # let every writer import and wait at the barrier
    go.touch()
    outs = [p.communicate(timeout=180) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert "locked" not in err
    assert sum(int(out) for out, _ in outs) == 20
    with sqlite3.connect(db) as con:
        own = con.execute("SELECT config_hash, COUNT(*) FROM trials WHERE config_hash LIKE 'writer%' "
                          "AND status = 'completed' GROUP BY config_hash").fetchall()
        epochs = con.execute("SELECT COUNT(*) FROM epochs").fetchone()[0]
        shared = con.execute("SELECT seed, COUNT(*) FROM trials WHERE config_hash = 'shared' GROUP BY seed").fetchall()
        mode = con.execute("PRAGMA journal_mode").fetchone()[0]
    assert sorted(own) == [(f"writer{i:02d}", 20) for i in range(8)]
    assert epochs == 8 * 20 * 10
    assert sorted(shared) == [(i, 1) for i in range(20)]
    assert mode == "wal"
