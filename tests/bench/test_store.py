"""The results store: schema version, WAL, nothing lost, refusal of a newer schema."""
from __future__ import annotations

import sqlite3

import pytest

from gnnbench.config import TrialConfig
from gnnbench.errors import ConfigError
from gnnbench.store import SCHEMA_VERSION, Store, resolve_url


def _record(**kw):
    rec = {"status": "completed", "metric": "acc", "val_metric": 0.5, "test_metric": 0.25, "epochs": 2,
           "curve": [{"epoch": 1, "train_time_s": 0.1, "loss": 1.0, "val_metric": 0.4},
                     {"epoch": 2, "train_time_s": 0.2, "loss": 0.5, "val_metric": 0.5}]}
    rec.update(kw)
    return rec


def test_round_trip_and_filters(db_url):
    store = Store(db_url)
    cfg = TrialConfig(method="full_graph", backbone="gcn")
    rid = store.start_trial(cfg, "h" * 16)
    assert store.trials()[0]["status"] == "running"
    store.finish_trial(rid, _record())
    other = store.start_trial(TrialConfig(method="full_graph", backbone="sage", seed=1), "g" * 16)
    store.finish_trial(other, _record(status="oom", test_metric=None, error="CUDA out of memory"))
    rows = store.trials(with_curves=True)
    assert [r["status"] for r in rows] == ["completed", "oom"]
    assert rows[0]["test_metric"] == 0.25 and [p["epoch"] for p in rows[0]["curve"]] == [1, 2]
    assert [r["backbone"] for r in store.trials(status=["oom"])] == ["sage"]
    assert store.trials(backbone=["gat"]) == []
    # reopening keeps everything (tables are created if missing, never dropped)
    assert len(Store(db_url).trials()) == 2


def test_sqlite_is_wal_with_schema_version(tmp_path):
    path = tmp_path / "r.db"
    Store(f"sqlite:///{path}")
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)


def test_newer_schema_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "r.db"
    Store(f"sqlite:///{path}")
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    con.commit()
    with pytest.raises(ConfigError, match="schema version 99, newer"):
        Store(f"sqlite:///{path}")
    assert con.execute("SELECT value FROM meta").fetchone()[0] == "99"


def test_url_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("GNNBENCH_DB", raising=False)
    assert resolve_url(None) == "sqlite:///gnnbench.db"
    assert resolve_url(str(tmp_path / "x.db")) == f"sqlite:///{tmp_path / 'x.db'}"
    monkeypatch.setenv("GNNBENCH_DB", "postgresql://u@h/db")
    assert resolve_url(None) == "postgresql://u@h/db"
    with pytest.raises(ConfigError, match="not a valid SQLAlchemy URL"):
        resolve_url("bogus://:::")
    with pytest.raises(ConfigError, match="does not exist"):
        Store(f"sqlite:///{tmp_path}/no/such/dir/x.db")


def test_a_missing_database_driver_is_one_message_naming_it():
    import importlib.util

    import pytest

    from gnnbench.errors import ConfigError
    from gnnbench.store import Store

    if importlib.util.find_spec("pg8000") is not None:
        pytest.skip("pg8000 is installed here")
    with pytest.raises(ConfigError, match=r"its driver 'pg8000' is not installed; install it"):
        Store("postgresql+pg8000://user@127.0.0.1:1/db")
