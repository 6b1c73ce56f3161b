"""A method that needs no backbone (SGC, SIGN): planned, run, stored, swept and listed without one."""
import shutil
import sqlite3
from pathlib import Path

import pytest

from gnnbench.config import TrialConfig
from gnnbench.errors import ConfigError, UnsupportedError
from gnnbench.runner import plan

V1_DB = Path(__file__).parent / "data" / "store_v1.db"


def test_plan_without_a_backbone_and_an_honest_identity():
    p = plan(TrialConfig(method="sgc", dataset="synthetic"))
    assert p.backbone_cls is None and p.backbone_config is None
    data = p.config.model_dump(mode="json")
    assert data["backbone"] is None and data["backbone_config"] == {}
    other = plan(TrialConfig(method="sgc", dataset="synthetic", method_config={"num_hops": 3}))
    assert other.config_hash != p.config_hash


@pytest.mark.parametrize("extra, needle", [({"backbone": "gcn"}, "needs no backbone .*drop --backbone gcn"),
                                           ({"backbone_config": {"hidden_channels": 8}},
                                            "backbone_config sets hidden_channels")])
def test_a_backbone_given_to_it_is_refused(extra, needle):
    with pytest.raises(UnsupportedError, match=needle):
        plan(TrialConfig(method="sign", dataset="synthetic", **extra))


def test_a_method_that_needs_one_still_needs_one():
    with pytest.raises(ConfigError, match="no backbone given for method 'full_graph'"):
        plan(TrialConfig(method="full_graph", dataset="synthetic"))


def test_run_stores_a_trial_without_a_backbone(cli, tmp_path):
    db = tmp_path / "r.db"
    code, out, err = cli("run", "-m", "sgc", "-d", "synthetic", "--epochs", "2", "--set", "dataset.num_nodes=200",
                         "--db", str(db), "--cache-dir", str(tmp_path / "c"))
    assert code == 0, out + err
    con = sqlite3.connect(db)
    rows = con.execute("SELECT method, backbone, status FROM trials").fetchall()
    assert rows == [("sgc", None, "completed")]
    code, out, err = cli("run", "-m", "sgc", "-b", "gcn", "-d", "synthetic", "--db", str(db))
    assert code == 2 and "needs no backbone" in err
    assert con.execute("SELECT count(*) FROM trials").fetchone()[0] == 1  # nothing written
    code, out, err = cli("results", "--db", str(db), "-b", "gcn", "--format", "json")
    assert code == 0 and out.strip() == "[]", err  # a stored trial without a backbone matches no name
    code, out, err = cli("results", "--db", str(db), "-m", "sgc", "--format", "json")
    assert code == 0 and '"backbone": null' in out, err


def test_list_and_show_say_it_needs_no_backbone(cli):
    code, out, _ = cli("list", "methods")
    line = next(ln for ln in out.splitlines() if "\tsgc\t" in ln)
    assert code == 0 and line.split("\t")[2].endswith("(needs no backbone)")
    code, out, _ = cli("show", "method", "sign")
    assert code == 0 and "backbones: none needed" in out


def test_a_sweep_runs_it_once_per_dataset_whatever_the_backbones():
    from gnnbench.sweep import expand

    sweep = expand({"methods": ["full_graph", "sgc"], "backbones": ["gcn", "sage"], "seeds": [0, 1]}, "s")
    keys = sorted((t.plan.config.method, t.plan.config.backbone or "-", t.plan.config.seed) for t in sweep.trials)
    assert keys == [("full_graph", "gcn", 0), ("full_graph", "gcn", 1), ("full_graph", "sage", 0),
                    ("full_graph", "sage", 1), ("sgc", "-", 0), ("sgc", "-", 1)]
    assert not sweep.skipped


def test_an_older_store_accepts_a_trial_without_a_backbone(tmp_path):
    """Schema 2 → 3 drops the NOT NULL of trials.backbone and keeps every stored row."""
    from gnnbench.store import SCHEMA_VERSION, Store

    path = tmp_path / "old.db"
    shutil.copy(V1_DB, path)
    before = sqlite3.connect(path).execute("SELECT run_id, backbone FROM trials ORDER BY id").fetchall()
    store = Store(f"sqlite:///{path}")
    p = plan(TrialConfig(method="sgc", dataset="synthetic"))
    run_id = store.start_trial(p.config, p.config_hash)
    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    assert con.execute("SELECT backbone FROM trials WHERE run_id=?", (run_id,)).fetchone() == (None,)
    after = con.execute("SELECT run_id, backbone FROM trials WHERE run_id != ? ORDER BY id", (run_id,)).fetchall()
    assert after == before and all(b is not None for _, b in before)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
