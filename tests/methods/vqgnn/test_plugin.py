"""VQ-GNN through the runner: `gnnbench run --method vqgnn --backbone sage` completes and is stored."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest


def test_gnnbench_run_vqgnn_sage_is_stored(tmp_path):
    db = tmp_path / "r.db"
    cmd = [sys.executable, "-c", "from gnnbench.cli import main; main()", "run", "--method", "vqgnn", "--backbone", "sage",
           "--seeds", "0", "--db", str(db), "--set", "train.epochs=3",
           "--set", "dataset.num_nodes=300", "--cache-dir", str(tmp_path / "cache")]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    res = subprocess.run([sys.executable, "-c", "from gnnbench.cli import main; main()", "results", "--db", str(db), "--format", "json"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    rows = json.loads(res.stdout)
    assert len(rows) == 1 and rows[0]["status"] == "completed" and rows[0]["method"] == "vqgnn"
    assert 0.0 <= rows[0]["test_metric"] <= 1.0


@pytest.mark.parametrize("task", ["inductive", "link"])
def test_other_tasks_train_and_predict(synthetic, task):
    import torch

    from gnnbench.backbones.gat import GAT
    from gnnbench.config import BudgetConfig, TrainConfig
    from gnnbench.methods.vqgnn import VQGNN

    ds = synthetic(task=task, num_nodes=120)
    method = VQGNN(VQGNN.Config(num_codewords=16, batch_size=64, warmup_epochs=0), GAT(),
                   TrainConfig(), BudgetConfig())
    method.setup(ds, torch.device("cpu"))
    for batch in method.batches(1):
        method.train_step(batch)
    pred = method.predict(["test"])["test"]
    values = pred.scores if task == "inductive" else pred.pos
    assert values is not None and torch.isfinite(values).all()


@pytest.mark.parametrize("name", ["ogbn_arxiv_vqgnn", "ogbn_arxiv_vqgnn_sage", "ogbn_arxiv_vqgnn_gat",
                                  "ppi_vqgnn", "ogbl_collab_vqgnn", "reddit_vqgnn"])
def test_official_configurations_plan(name):
    """The reference set-ups in examples/ validate (plugin options, backbone, dataset) without data."""
    from pathlib import Path

    from gnnbench.config import TrialConfig, load_toml
    from gnnbench.runner import plan

    path = Path(__file__).parents[3] / "examples" / f"{name}.toml"
    data = {k: v for k, v in load_toml(path).items() if k != "seeds"}
    p = plan(TrialConfig(**data))
    assert p.method_config.batching in ("cluster", "random", "cont")
