"""Every method that trains on batches handles batch norm: training steps update the running
statistics from the batch's rows, and evaluation uses the running statistics (for the sampling
baselines: their layer-wise inference equals the model's full-graph forward in eval mode)."""
from __future__ import annotations

import pytest
import torch

from gnnbench import registry
from gnnbench.config import BudgetConfig, TrainConfig

CONFIGS = {"cluster_gcn": {"num_parts": 8, "parts_per_batch": 2}, "graphsaint_rw": {"num_roots": 30, "sample_coverage": 5},
           "ns_sage": {}, "vqgnn": {"batch_size": 64, "num_codewords": 16}}


@pytest.mark.parametrize("method", sorted(CONFIGS))
def test_batch_norm_trains_on_batches_and_evaluates_with_running_statistics(synthetic, tmp_path, method):
    torch.manual_seed(0)
    ds = synthetic(num_nodes=200)
    backbone = registry.load("backbones", "sage")
    bb = backbone(backbone.Config(num_layers=3, hidden_channels=16, norm="batch"))
    cls = registry.load("methods", method)
    m = cls(cls.Config(**CONFIGS[method]), bb, TrainConfig(optimizer="rmsprop", lr=1e-3), BudgetConfig())
    m.cache_dir = tmp_path
    m.setup(ds, torch.device("cpu"))
    stack = m.model if not hasattr(m.model, "base") else m.model.base
    bn = stack.norms[0]
    assert isinstance(bn, torch.nn.BatchNorm1d)
    steps = 0
    for epoch in (1, 2):
        for b in m.batches(epoch):
            m.train_step(b)
            steps += 1
    assert int(bn.num_batches_tracked) >= steps >= 2 and float(bn.running_mean.abs().sum()) > 0
    before = bn.running_mean.clone()
    first = m.predict(["valid"])["valid"].scores
    assert torch.equal(bn.running_mean, before)  # evaluation does not touch the statistics
    assert torch.allclose(m.predict(["valid"])["valid"].scores, first)
    if method != "vqgnn":  # VQ-GNN's inference goes through codewords, not the full graph
        stack.eval()
        full = stack(ds.graph.x, ds.graph.edge_index)[ds.split["valid"]]
        assert torch.allclose(first, full, atol=1e-4)
