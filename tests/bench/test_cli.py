"""The command line: run → store → results, and one clear message with exit code 2 on bad input."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from gnnbench.cli import expand_multi
from gnnbench.store import RESULT_KEYS

REQUIRED_KEYS = ["run_id", "method", "backbone", "dataset", "seed", "status", "metric", "val_metric", "test_metric",
                 "epochs", "train_time_s", "epoch_time_s", "sample_time_s", "inference_time_s", "preprocess_time_s",
                 "peak_cpu_rss_bytes", "peak_gpu_allocated_bytes", "peak_gpu_nvml_bytes", "num_parameters", "config",
                 "started_at", "finished_at", "error"]

SMALL = ["--set", "dataset.num_nodes=200", "--set", "dataset.num_features=8"]



def test_expand_multi():
    assert expand_multi(["run", "--seeds", "0", "1", "2", "--epochs", "3"]) == \
        ["run", "--seeds", "0", "--seeds", "1", "--seeds", "2", "--epochs", "3"]
    assert expand_multi(["--set", "a=1", "b=2"]) == ["--set", "a=1", "--set", "b=2"]


def test_run_then_results_json_and_csv(cli, tmp_path):
    db = str(tmp_path / "r.db")
    code, _, err = cli("run", "-m", "full_graph", "-b", "sage", "--seeds", "0", "1", "--epochs", "4",
                        "--db", db, *SMALL)
    assert code == 0, err
    assert err.count("✓ completed") == 2
    code, out, _ = cli("results", "--format", "json", "--db", db)
    rows = json.loads(out)
    assert len(rows) == 2 and all(set(REQUIRED_KEYS) <= set(r) for r in rows)
    assert [r["seed"] for r in rows] == [0, 1]
    r = rows[0]
    assert r["status"] == "completed" and r["metric"] == "acc" and r["epochs"] == 4
    assert r["peak_cpu_rss_bytes"] > 50 * 2**20  # a Python process with torch loaded
    assert r["peak_gpu_allocated_bytes"] is None and r["peak_gpu_nvml_bytes"] is None  # no CUDA here
    assert r["config"]["dataset_config"]["num_nodes"] == 200
    assert r["config"]["backbone_config"]["hidden_channels"] == 64  # defaults are filled in
    assert rows[0]["config_hash"] == rows[1]["config_hash"]  # the seed is not part of the hash
    assert r["environment"]["torch"] and r["environment"]["host"]
    assert abs(r["epoch_time_s"] * 4 - r["train_time_s"]) < 1e-6
    code, out, _ = cli("results", "--format", "json", "--curves", "--db", db)
    curve = json.loads(out)[0]["curve"]
    assert [p["epoch"] for p in curve] == [1, 2, 3, 4]
    assert all(b["train_time_s"] > a["train_time_s"] for a, b in zip(curve, curve[1:]))
    code, out, _ = cli("results", "--format", "csv", "--db", db)
    table = list(csv.DictReader(io.StringIO(out)))
    assert len(table) == 2 and list(table[0]) == RESULT_KEYS
    code, out, _ = cli("results", "--db", db, "--status", "failed")
    assert code == 0 and "0 trial(s)" in out
    code, out, _ = cli("results", "--db", db, "--method", "full_graph", "-b", "sage")
    assert code == 0 and "2 trial(s)" in out


@pytest.mark.parametrize("args, needle", [
    (["run", "-m", "vq-gnnn", "-b", "gcn"], "unknown method 'vq-gnnn'"),
    (["run", "-m", "full-graph", "-b", "gcn"], "did you mean 'full_graph'"),
    (["run", "-m", "full_graph", "-b", "gcm"], "did you mean 'gcn'? available: gat, gcn, sage"),
    (["run", "-m", "full_graph", "-b", "gcn", "-d", "coraa"], "did you mean 'cora'"),
    (["run", "-m", "full_graph", "-b", "gcn", "--set", "train.lr=-1"], "train.lr = -1"),
    (["run", "-m", "full_graph", "-b", "gcn", "--set", "train.lrr=1"], "unknown key 'train.lrr'"),
    (["run", "-m", "full_graph", "-b", "gcn", "--set", "backbone.hidden=4"], "unknown key 'hidden'"),
    (["run", "-m", "full_graph", "-b", "gcn", "--set", "nonsense"], "not of the form key=value"),
    (["run", "-m", "full_graph", "-b", "gcn", "--epochs", "0"], "train.epochs = 0"),
    (["run", "-m", "full_graph", "-b", "gcn", "--device", "tpu"], "device = 'tpu'"),
    (["run", "-m", "full_graph", "-b", "gcn", "--set", "budget.nodes_per_batch=5",
      "--set", "budget.messages_per_batch=5"], "not both"),
    (["run", "-b", "gcn"], "no method given"),
    (["run", "-m", "full_graph", "-b", "gcn", "--config", "missing.toml"], "does not exist"),
    (["run", "-m", "full_graph", "-b", "gcn", "--data-root", "/nonexistent/x"], "is not a folder"),
    (["results", "--format", "xml"], "unknown format 'xml'; choices: table, json, csv"),
    (["list", "method"], "did you mean 'methods'"),
    (["show", "method", "vq-gnn"], "did you mean 'vqgnn'?"),
    (["show", "methods", "vqgnn"], "did you mean 'method'?"),
    (["results", "--curves"], "--curves is only shown with --format json"),
])
def test_bad_input_one_message_exit_2_nothing_written(cli, tmp_path, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(*args, *(["--db", str(tmp_path / "r.db")] if args[0] == "run" else []))
    assert code == 2
    text = " ".join(err.split())
    assert needle in text
    assert text.startswith("error:") and text.count("error:") == 1
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no database, no partial file


def test_malformed_toml_gives_the_line(cli, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('method = "full_graph"\nbackbone = \n')
    code, _, err = cli("run", "--config", str(bad), "--db", str(tmp_path / "r.db"))
    assert code == 2 and "not valid TOML" in err and "line 2" in err


def test_toml_config_and_dataset_missing_offline(cli, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('method = "full_graph"\nbackbone = "gcn"\ndataset = "cora"\nseeds = [3]\n[train]\nepochs = 2\n')
    empty = tmp_path / "data"
    empty.mkdir()
    db = tmp_path / "r.db"
    code, _, err = cli("run", "--config", str(cfg), "--db", str(db), "--data-root", str(empty),
                        "--cache-dir", str(tmp_path / "cache"))
    assert code == 2
    assert "Cora/raw: ind.cora.x" in " ".join(err.split()) and "Place them there" in err
    assert not db.exists() and list(empty.iterdir()) == []


def test_failed_trial_is_stored_and_exit_code_1(cli, tmp_path):
    db = tmp_path / "r.db"
    # 200-node graph with a 5% valid split of 0 nodes per class is fine; a NaN loss is not:
    code, _, err = cli("run", "-m", "full_graph", "-b", "gcn", "--epochs", "3", "--db", str(db),
                        "--set", "train.lr=1e30", *SMALL)
    assert code == 1 and "✗ failed" in err
    code, out, _ = cli("results", "--format", "json", "--db", str(db))
    (row,) = json.loads(out)
    # a diverged model: the NaN loss or, first, its non-finite validation logits fail the trial
    assert row["status"] == "failed" and ("FloatingPointError" in row["error"] or "PredictionError" in row["error"])
    assert row["peak_cpu_rss_bytes"] > 0


def test_results_without_a_database_is_an_error(cli, tmp_path):
    code, _, err = cli("results", "--db", str(tmp_path / "none.db"))
    assert code == 2 and "no results database" in err
    assert not (tmp_path / "none.db").exists()


def test_list_does_not_import_torch():
    code = ("import sys; from gnnbench.cli import main\n"
            "try:\n    main(['list'])\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            "assert 'torch' not in sys.modules, 'gnnbench list imported torch'\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for name in ("full_graph", "gcn", "sage", "gat", "cora", "facebook", "ogbn-arxiv", "synthetic"):
        assert name in out.stdout


def test_sigterm_stores_the_running_trial_as_interrupted(tmp_path):
    import signal
    import sqlite3
    import time

    db = tmp_path / "term.db"
    cmd = [sys.executable, "-c", "from gnnbench.cli import main; main()", "run", "-m", "full_graph", "-b", "gcn",
           "--epochs", "100000", "--db", str(db), "--cache-dir", str(tmp_path / "cache"), *SMALL]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while True:  # wait until the trial's row is stored as running and its child trains
        status = None
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=30) as con:
                    status = con.execute("SELECT status FROM trials").fetchone()
            except sqlite3.OperationalError:
                pass
        if status == ("running",):
            break
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else status
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    with sqlite3.connect(db) as con:
        status, error = con.execute("SELECT status, error FROM trials").fetchone()
    assert status == "interrupted", (status, error)


def test_help_shows_defaults_and_environment_variables(cli):
    code, out, _ = cli("run", "--help")
    text = " ".join(out.split())
    assert code == 0
    for needle in ("[env var: GNNBENCH_DB; default: (./gnnbench.db)]", "env var: GNNBENCH_DATA_ROOT",
                   "env var: GNNBENCH_CACHE", "default: (~/.cache/gnnbench)", "[default: (synthetic)]",
                   "[default: (200)]"):
        assert needle in text, (needle, text)
    code, out, _ = cli("sweep", "--help")
    assert "env var: RAY_ADDRESS" in " ".join(out.split()) and "[default: local]" in " ".join(out.split())


def test_show_method_lists_every_option_with_its_default(cli):
    from gnnbench.methods.vqgnn import VQGNN

    code, out, _ = cli("show", "method", "vqgnn")
    assert code == 0
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") >= 4}
    for name, field in VQGNN.Config.model_fields.items():
        assert name in lines, name
        assert json.dumps(field.default) in lines[name], (name, lines[name])
    assert "codewords per layer and group" in lines["num_codewords"]
    code, same, _ = cli("list", "methods", "vqgnn")  # the same, for whoever types it that way
    assert code == 0 and same == out


def test_schema_is_the_trial_files_json_schema(cli):
    code, out, _ = cli("schema")
    schema = json.loads(out)
    assert code == 0 and {"method", "backbone", "train", "budget", "seeds"} <= set(schema["properties"])
    assert schema["required"] == ["method"]  # no backbone for a method that needs none (SGC, SIGN)
    assert schema["$defs"]["TrainConfig"]["properties"]["epochs"]["maximum"] == 1_000_000
    code, out, _ = cli("schema", "-m", "vqgnn")
    section = json.loads(out)["properties"]["method_config"]
    assert code == 0 and section["properties"]["num_codewords"] == {"default": 256, "minimum": 1,
                                                                     "title": "Num Codewords", "type": "integer"}
    assert section["additionalProperties"] is False


def test_report_is_a_command_of_the_entry_point_group_and_the_core_does_not_import_reports():
    import importlib.metadata as md

    eps = {e.name: e.value for e in md.entry_points(group="gnnbench.commands")}
    assert eps["report"] == "gnnbench.reports.cli:report"
    assert {"run", "sweep", "results", "list", "show", "schema"} <= set(eps)
    import ast
    from pathlib import Path

    core = Path(__file__).parents[2] / "bench"
    importers = []
    for path in core.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any("reports" in n.split(".") for n in names):
                importers.append(path.name)
    assert not importers, f"the core imports gnnbench.reports in {importers}"


def test_a_method_that_needs_no_backbone_says_so(cli, monkeypatch):
    from gnnbench.methods.full_graph import FullGraph

    monkeypatch.setattr(FullGraph, "supported_backbones", frozenset())
    code, out, _ = cli("list", "methods")
    line = next(ln for ln in out.splitlines() if "\tfull_graph\t" in ln)
    assert code == 0 and line.split("\t")[2].endswith("(needs no backbone)")
    code, out, _ = cli("show", "method", "full_graph")
    assert code == 0 and "backbones: none needed" in out
