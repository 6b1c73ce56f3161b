"""The typed trial record, the store's schema version 2 and its migration from version 1."""
from __future__ import annotations

import dataclasses
import shutil
import sqlite3
from pathlib import Path

import pytest

from gnnbench.config import TrialConfig, canonical_hash, config_hash
from gnnbench.runner import plan
from gnnbench.store import RESULT_KEYS, SCHEMA_VERSION, Store, Trial
from gnnbench.types import RECORD_COLUMNS, EpochPoint, Status, TrialRecord

#: written by gnnbench a58c501 (schema version 1): full_graph/gcn seeds 0 and 1 completed, ns_sage
#: failed (NaN loss), and full_graph seed 2 left `running` by a `gnnbench run` killed with SIGKILL
V1_DB = Path(__file__).parent / "data" / "store_v1.db"


def test_record_rejects_unknown_keys_and_round_trips():
    rec = TrialRecord(status=Status.COMPLETED, epochs=2, curve=[EpochPoint(epoch=1, train_time_s=0.5)])
    assert TrialRecord.from_dict(rec.to_dict()) == rec
    with pytest.raises(ValueError, match="unknown trial record key.*'train_time'"):
        TrialRecord.from_dict({"status": "completed", "train_time": 1.0})
    with pytest.raises(AttributeError):
        rec.train_time = 1.0  # slots: a misspelt field is an error, not a silent new attribute
    with pytest.raises(ValueError):
        TrialRecord.from_dict({"status": "finished"})


def test_store_columns_and_export_derive_from_the_record(db_url):
    columns = set(Trial.__table__.columns.keys())
    assert set(RECORD_COLUMNS) <= columns
    assert RESULT_KEYS[5:-1] == list(RECORD_COLUMNS)
    from gnnbench.types import TABLE_FIELDS

    assert set(TABLE_FIELDS) <= set(RECORD_COLUMNS)
    for name in ("transfer_time_s", "device_name", "num_nodes", "num_edges", "plugins"):
        assert name in RECORD_COLUMNS
    store = Store(db_url)
    cfg = TrialConfig(method="full_graph", backbone="gcn")
    run_id = store.start_trial(cfg, config_hash(cfg, "cpu"), device="cpu")
    with pytest.raises(ValueError, match="unknown trial record key"):
        store.finish_trial(run_id, {"status": "completed", "tset_metric": 0.5})


def test_interrupted_keeps_epochs_and_train_time(db_url):
    store = Store(db_url)
    cfg = TrialConfig(method="full_graph", backbone="gcn")
    run_id = store.start_trial(cfg, config_hash(cfg, "cpu"))
    store.add_epochs(run_id, [EpochPoint(epoch=e, train_time_s=0.5 * e, sample_time_s=0.1, transfer_time_s=0.0,
                                         compute_time_s=0.4) for e in (1, 2, 3)])
    store.finish_trial(run_id, {"status": "interrupted", "error": "stopped"})
    (row,) = store.trials()
    assert row["status"] == "interrupted" and row["epochs"] == 3
    assert row["train_time_s"] == pytest.approx(1.5) and row["compute_time_s"] == pytest.approx(1.2)


def _raw(path: Path):
    con = sqlite3.connect(path)
    con.row_factory = sqlite3.Row
    trials = [dict(r) for r in con.execute("SELECT * FROM trials ORDER BY id")]
    epochs = [dict(r) for r in con.execute("SELECT * FROM epochs ORDER BY id")]
    version = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
    con.close()
    return trials, epochs, version


def test_version_1_database_migrates_and_reads_back_unchanged(tmp_path):
    db = tmp_path / "v1.db"
    shutil.copy(V1_DB, db)
    before, epochs_before, version = _raw(db)
    assert version == "1" and len(before) == 4 and len(epochs_before) == 8
    Store(f"sqlite:///{db}")
    after, epochs_after, version = _raw(db)
    assert version == str(SCHEMA_VERSION) == "3"
    for old, new in zip(before, after, strict=True):
        for key, value in old.items():
            if key != "config_hash":
                assert new[key] == value, key  # every stored value is kept
        import json

        config = json.loads(old["config"])
        assert config["device"] == "auto"
        want = "cpu" if old["device"] else None
        # identity re-derived with the device, over the configuration as today's plugins resolve it
        resolved = plan(TrialConfig(**{**config, "device": "cpu"})).config.model_dump(mode="json")
        assert new["config_hash"] == canonical_hash({**resolved, "device": "auto"}, want) \
            != canonical_hash(config, want)
        if old["device"]:
            assert new["device_name"] == json.loads(old["environment"])["device_name"]
        assert new["transfer_time_s"] is None and new["num_nodes"] is None
        assert new["train_cpu_bytes"] is None and new["memory_note"] is None  # version 3: not measured then
    for old, new in zip(epochs_before, epochs_after, strict=True):
        assert {k: new[k] for k in old} == old and new["transfer_time_s"] is None
    # a new trial of the same configuration on the CPU has the migrated trials' identity
    seeds0 = [r for r in after if r["method"] == "full_graph" and r["status"] == "completed"]
    p = plan(TrialConfig(**json.loads(seeds0[0]["config"])))
    assert config_hash(p.config, p.device) == seeds0[0]["config_hash"]
    # opening again is a no-op, and the Store reads what was there
    store = Store(f"sqlite:///{db}")
    assert _raw(db)[0] == after
    assert [r["status"] for r in store.trials()] == ["completed", "completed", "failed", "running"]


def test_record_fields_have_units_or_are_known_names():
    units = ("_s", "_bytes", "_metric", "_at")
    plain = {"status", "metric", "best_epoch", "epochs", "num_parameters", "num_nodes", "num_edges", "num_batches",
             "device", "device_name", "config", "config_hash", "plugins", "environment", "extra", "error", "memory_note", "curve"}
    for f in dataclasses.fields(TrialRecord):
        assert f.name.endswith(units) or f.name in plain or "per_batch" in f.name, f.name
