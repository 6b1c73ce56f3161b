"""SGC and SIGN: the precomputed features, their batches and their classifiers."""
import torch

from gnnbench.backbones.conv import gcn_matrix
from gnnbench.config import BudgetConfig, TrainConfig
from gnnbench.methods.precompute import propagate
from gnnbench.methods.sgc import SGC
from gnnbench.methods.sign import SIGN


def test_propagate_is_powers_of_the_gcn_matrix():
    torch.manual_seed(0)
    ei = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 3], [1, 0, 2, 1, 3, 2, 3, 0]])  # with one explicit loop
    x = torch.rand(4, 3)
    s = gcn_matrix(ei, 4).to_dense()
    hops = propagate(x, ei, 4, 3)
    assert len(hops) == 4
    for k, h in enumerate(hops):
        assert torch.allclose(h, torch.linalg.matrix_power(s, k) @ x, atol=1e-6)


def _setup(cls, ds, budget=BudgetConfig(), **cfg):
    torch.manual_seed(0)
    m = cls(cls.Config(**cfg), None, TrainConfig(lr=0.05), budget)
    m.setup(ds, torch.device("cpu"))
    return m


def test_sgc_is_a_linear_model_of_s_k_x(synthetic):
    ds = synthetic()
    m = _setup(SGC, ds, num_hops=2, batch_size=64)
    assert isinstance(m.model, torch.nn.Linear)
    feats = m.precomputed[id(ds.graph)]
    assert len(feats) == 1
    g = ds.graph
    assert torch.allclose(feats[0], propagate(g.x, g.edge_index, g.num_nodes, 2)[-1])
    batches = list(m.batches(1))
    assert len(batches) == -(-ds.split["train"].numel() // 64)
    assert all(b.num_messages == 0 and b.num_nodes <= 64 for b in batches)
    assert sorted(torch.cat([b.data[1] for b in batches]).tolist()) == sorted(g.y[ds.split["train"]].tolist())
    losses = [m.train_step(b) for _ in range(20) for b in m.batches(1)]
    assert losses[-1] < losses[0]
    scores = m.predict(["test"])["test"].scores
    with torch.no_grad():
        expected = m.model(feats[0][ds.split["test"]])
    assert torch.allclose(scores, expected)
    assert float((scores.argmax(1) == g.y[ds.split["test"]]).float().mean()) > 0.6


def test_sign_reads_every_power_and_the_budget_sets_the_batch(synthetic):
    ds = synthetic()
    m = _setup(SIGN, ds, budget=BudgetConfig(nodes_per_batch=50), num_hops=3, hidden_channels=16)
    assert len(m.precomputed[id(ds.graph)]) == 4 and len(m.model.inception) == 4
    assert m.batch_size == 50 and max(b.num_nodes for b in m.batches(1)) == 50
    losses = [m.train_step(b) for _ in range(20) for b in m.batches(1)]
    assert losses[-1] < losses[0]
    n, f = ds.graph.num_nodes, ds.num_features
    assert m.report()["precomputed_bytes"] == 4 * n * f * 4


def test_inductive_graphs_are_propagated_on_themselves(synthetic):
    ds = synthetic(task="inductive")
    m = _setup(SGC, ds)
    for split in ("valid", "test"):
        g = ds.graph_for(split)
        assert torch.allclose(m.precomputed[id(g)][0], propagate(g.x, g.edge_index, g.num_nodes, 2)[-1])
