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
