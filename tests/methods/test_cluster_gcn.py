import pytest
import torch

from gnnbench.config import BudgetConfig, TrainConfig
from gnnbench.methods.cluster_gcn import ClusterGCN


def _method(backbone="gcn", budget=BudgetConfig(), **cfg):
    from gnnbench.backbones.gcn import GCN
    from gnnbench.backbones.sage import SAGE

    bb = {"sage": SAGE(SAGE.Config()), "gcn": GCN(GCN.Config())}[backbone]
    return ClusterGCN(ClusterGCN.Config(**cfg), bb, TrainConfig(), budget)


@pytest.mark.parametrize("backbone", ["gcn", "sage"])
def test_batches_are_unions_of_parts_with_between_part_edges(synthetic, tmp_path, backbone):
    torch.manual_seed(0)
    ds = synthetic()
    m = _method(backbone, num_parts=8, parts_per_batch=3)
    m.cache_dir = tmp_path
    m.setup(ds, torch.device("cpu"))
    assert (tmp_path / "metis_8_0.pt").is_file()
    batches = list(m.batches(1))
    assert len(batches) == 3  # 8 parts in groups of 3
    seen = torch.cat([b.data.n_id for b in batches])
    assert torch.equal(torch.sort(seen).values, torch.arange(ds.graph.num_nodes))  # each node once
    ei = ds.graph.edge_index
    assert sorted(torch.unique(m.part[b.data.n_id]).numel() for b in batches) == [2, 3, 3]
    for b in batches:
        nodes = b.data.n_id
        inside = torch.isin(ei[0], nodes) & torch.isin(ei[1], nodes)
        assert b.num_messages == int(inside.sum()) == b.data.edge_index.size(1)
        assert b.num_nodes == nodes.numel()
    losses = [m.train_step(b) for _ in range(10) for b in m.batches(1)]
    assert sum(losses[-3:]) < sum(losses[:3])
    acc = (m.predict(["test"])["test"].scores.argmax(1) == ds.graph.y[ds.split["test"]]).float().mean()
    assert float(acc) > 0.6


def test_node_budget_chooses_parts_per_batch(synthetic, tmp_path):
    ds = synthetic(num_nodes=400)
    m = _method(budget=BudgetConfig(nodes_per_batch=110), num_parts=16, parts_per_batch=1)
    m.cache_dir = tmp_path
    m.setup(ds, torch.device("cpu"))
    assert m.parts_per_batch == 4  # 16 parts of 25 nodes: 4 fit in 110


def test_parts_per_batch_above_parts_is_refused_by_plan_before_any_data():
    from gnnbench.config import TrialConfig
    from gnnbench.errors import ConfigError
    from gnnbench.runner import plan

    with pytest.raises(ConfigError, match="parts_per_batch=9 exceeds num_parts=4"):
        plan(TrialConfig(method="cluster_gcn", backbone="gcn", method_config={"num_parts": 4, "parts_per_batch": 9}))
    with pytest.raises(ConfigError, match="num_parts=300 exceeds the 200 nodes"):
        plan(TrialConfig(method="cluster_gcn", backbone="gcn", method_config={"num_parts": 300},
                         dataset_config={"num_nodes": 200}))


def test_link_and_inductive(synthetic, tmp_path):
    for task in ("link", "inductive"):
        ds = synthetic(task=task)
        m = _method("sage", num_parts=6, parts_per_batch=2)
        m.cache_dir = tmp_path / task
        m.setup(ds, torch.device("cpu"))
        losses = [m.train_step(b) for b in m.batches(1)]
        assert len(losses) == 3 and all(l == l for l in losses)
        p = m.predict(["test"])["test"]
        if task == "link":
            assert p.pos.numel() == ds.edge_split["test"]["edge"].size(0)
        else:
            assert p.scores.shape[0] == ds.split["test"].numel()
