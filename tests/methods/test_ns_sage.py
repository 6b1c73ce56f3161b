import pytest
import torch

from gnnbench.config import BudgetConfig, TrainConfig, TrialConfig
from gnnbench.errors import UnsupportedError
from gnnbench.methods.ns_sage import NSSage
from gnnbench.runner import plan


def _method(backbone="sage", budget=BudgetConfig(), **cfg):
    from gnnbench.backbones.gat import GAT
    from gnnbench.backbones.sage import SAGE

    bb = {"sage": SAGE(SAGE.Config()), "gat": GAT(GAT.Config(hidden_channels=4, heads=2))}[backbone]
    return NSSage(NSSage.Config(**cfg), bb, TrainConfig(epochs=5), budget)


def _fit(method, dataset, epochs, tmp_path):
    method.cache_dir = tmp_path
    method.setup(dataset, torch.device("cpu"))
    losses = []
    for epoch in range(1, epochs + 1):
        losses += [method.train_step(b) for b in method.batches(epoch)]
    return losses


def test_gcn_is_refused_before_loading_with_the_papers_reason():
    with pytest.raises(UnsupportedError, match="Table 4 note 1"):
        plan(TrialConfig(method="ns_sage", backbone="gcn", dataset="synthetic"))


@pytest.mark.parametrize("backbone", ["sage", "gat"])
def test_node_classification_learns_and_reports_true_batch_sizes(synthetic, tmp_path, backbone):
    torch.manual_seed(0)
    ds = synthetic()
    m = _method(backbone, fanouts=(5, 3), batch_size=32)
    m.cache_dir = tmp_path
    m.setup(ds, torch.device("cpu"))
    batches = list(m.batches(1))
    assert len(batches) == -(-ds.split["train"].numel() // 32)
    for b in batches:
        assert b.num_nodes == b.data.n_id.numel()
        assert b.num_messages == b.data.edge_index.size(1) == sum(b.data.num_sampled_edges)
        assert b.data.batch_size <= 32
    losses = [m.train_step(b) for _ in range(8) for b in m.batches(1)]
    assert losses[-1] < losses[0]
    pred = m.predict(["valid", "test"])
    acc = (pred["test"].scores.argmax(1) == ds.graph.y[ds.split["test"]]).float().mean()
    assert pred["valid"].scores.shape == (ds.split["valid"].numel(), 3)
    assert float(acc) > 0.6


@pytest.mark.parametrize("fanouts, needle", [([5, 5, 5], "has 3 entries but the backbone has 2 layers"),
                                             ([-2, 0], "fanouts = [-2, 0]"), ([], "fanouts = []")])
def test_bad_fanouts_are_refused_by_plan_before_any_data(fanouts, needle):
    from gnnbench.errors import ConfigError

    with pytest.raises(ConfigError, match="one positive number|one fanout per layer") as exc:
        plan(TrialConfig(method="ns_sage", backbone="sage", method_config={"fanouts": fanouts}))
    assert needle in str(exc.value)
    plan(TrialConfig(method="ns_sage", backbone="sage", method_config={"fanouts": [5, -1]}))  # -1: all neighbours


def test_message_budget_chooses_batch_size(synthetic, tmp_path):
    torch.manual_seed(0)
    ds = synthetic(num_nodes=400)
    m = _method(budget=BudgetConfig(messages_per_batch=300), fanouts=(5, 3))
    m.cache_dir = tmp_path
    m.setup(ds, torch.device("cpu"))
    assert 1 <= m.batch_size < 512
    sizes = [b.num_messages for b in m.batches(1)][:-1]  # the last batch may be short
    assert sizes and sum(sizes) / len(sizes) < 300 * 1.3


def test_link_prediction_and_inductive_tasks(synthetic, tmp_path):
    torch.manual_seed(0)
    ds = synthetic(task="link")
    losses = _fit(_method(fanouts=(4, 4), batch_size=256), ds, 3, tmp_path)
    assert all(l == l and l > 0 for l in losses)
    m = _method(fanouts=(4, 4), batch_size=64)
    _fit(m, ds, 1, tmp_path)
    p = m.predict(["test"])["test"]
    assert p.pos.numel() == ds.edge_split["test"]["edge"].size(0)
    assert p.neg.numel() == ds.edge_split["test"]["edge_neg"].size(0)
    ind = synthetic(task="inductive")
    m = _method(fanouts=(4, 4), batch_size=64)
    _fit(m, ind, 2, tmp_path)
    p = m.predict(["test"])["test"]
    assert p.scores.shape[0] == ind.split["test"].numel()
