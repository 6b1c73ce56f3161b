"""GAS: exact with fresh histories, histories pushed and pulled, host memory reported."""
import pytest
import torch

from gnnbench.config import BudgetConfig, TrainConfig
from gnnbench.methods.gas import GAS


def _backbone(name):
    from gnnbench.backbones.gat import GAT
    from gnnbench.backbones.gcn import GCN
    from gnnbench.backbones.sage import SAGE

    return {"gcn": GCN(GCN.Config()), "sage": SAGE(SAGE.Config(num_layers=3)),
            "gat": GAT(GAT.Config(hidden_channels=4, heads=2))}[name]


def _method(ds, tmp_path, backbone="gcn", budget=BudgetConfig(), **cfg):
    torch.manual_seed(0)
    m = GAS(GAS.Config(**cfg), _backbone(backbone), TrainConfig(), budget)
    m.cache_dir = tmp_path
    m.setup(ds, torch.device("cpu"))
    return m


@pytest.mark.parametrize("backbone", ["gcn", "sage", "gat"])
@pytest.mark.parametrize("parts", [(1, 1), (4, 1), (6, 2)])
def test_with_fresh_histories_the_output_is_full_graphs(synthetic, tmp_path, backbone, parts):
    """Histories refreshed every step: each batch's outputs equal full-graph's to 1e-5; with one
    part the batch is the whole graph (Fey et al. 2021, Theorem 2 with no staleness)."""
    ds = synthetic(num_nodes=120)
    m = _method(ds, tmp_path, backbone, num_parts=parts[0], parts_per_batch=parts[1], refresh=True)
    m.model.eval()
    with torch.no_grad():
        full = m.model(ds.graph.x, ds.graph.edge_index)
        seen = torch.zeros(ds.graph.num_nodes, dtype=torch.bool)
        for b in m.batches(1):
            d = b.data
            assert d.halo[0].size(0) == b.num_nodes - d.num_dst
            assert (parts[0] == 1) == (d.halo[0].size(0) == 0)
            assert torch.allclose(m.forward(d), full[d.batch_nodes], atol=1e-5)
            seen[d.batch_nodes] = True
    assert bool(seen.all())  # every node is in exactly one batch of an epoch


def test_stale_histories_differ_and_are_pushed(synthetic, tmp_path):
    """Without a refresh the halo reads the histories (zeros before any push): the output is not
    full-graph's; after a step the batch's rows of every history hold its layer outputs."""
    ds = synthetic(num_nodes=120)
    m = _method(ds, tmp_path, "gcn", num_parts=4, parts_per_batch=1)
    assert all(float(h.abs().sum()) == 0 for h in m.histories)
    b = next(iter(m.batches(1)))
    m.model.eval()
    with torch.no_grad():
        full = m.model(ds.graph.x, ds.graph.edge_index)
        out = m.forward(b.data)
        assert not torch.allclose(out, full[b.data.batch_nodes], atol=1e-3)
        h0 = m.stack.layer(0, ds.graph.x, ds.graph.edge_index)  # layer 0 sees exact features
    assert torch.allclose(m.histories[0][b.data.batch_nodes], h0[b.data.batch_nodes], atol=1e-5)
    others = torch.ones(ds.graph.num_nodes, dtype=torch.bool)
    others[b.data.batch_nodes] = False
    assert float(m.histories[0][others].abs().sum()) == 0


def test_trains_and_reports_history_bytes(synthetic, tmp_path):
    ds = synthetic(num_nodes=300)
    m = _method(ds, tmp_path, "sage", num_parts=8, parts_per_batch=2)
    losses = [m.train_step(b) for _ in range(15) for b in m.batches(1)]
    assert sum(losses[-4:]) < sum(losses[:4])
    acc = (m.predict(["test"])["test"].scores.argmax(1) == ds.graph.y[ds.split["test"]]).float().mean()
    assert float(acc) > 0.6
    rep = m.report()
    # SAGE with 3 layers of width 64: two hidden histories of [300, 64] float32 on the host
    assert rep["history_bytes"] == 2 * 300 * 64 * 4 and rep["history_device"] == "cpu"
    assert all(h.device.type == "cpu" for h in m.histories)


def test_budget_chooses_parts_per_batch(synthetic, tmp_path):
    ds = synthetic(num_nodes=400)
    m = _method(ds, tmp_path, "gcn", budget=BudgetConfig(nodes_per_batch=150), num_parts=16, parts_per_batch=16)
    assert 1 <= m.parts_per_batch < 16
    sizes = [b.num_nodes for b in m.batches(1)]
    assert sum(sizes) / len(sizes) <= 150 * 1.3


def test_more_parts_than_nodes_is_refused_before_loading():
    from gnnbench.types import DatasetInfo, Task

    with pytest.raises(ValueError, match="num_parts=5000 exceeds the 2708 nodes"):
        GAS.check(GAS.Config(num_parts=5000, parts_per_batch=1), None,
                  DatasetInfo("cora", Task.NODE_TRANSDUCTIVE, "acc", 7, num_nodes=2708))
