"""Predictions are checked by the runner before scoring (OGB-Evaluator style); batches moved by it."""
from __future__ import annotations

import pytest
import torch

from gnnbench import registry
from gnnbench.config import TrialConfig
from gnnbench.runner import execute_trial, recount
from gnnbench.types import Batch, Prediction

SMALL = {"num_nodes": 200, "num_features": 8, "num_classes": 3}


def _bad(kind: str):
    def predict(self, splits):
        good = original(self, splits)
        out = {}
        for s, p in good.items():
            scores = p.scores
            if kind == "indices":
                scores = scores.argmax(-1)
            elif kind == "one_class_short":
                scores = scores[:, :-1]
            elif kind == "nan":
                scores = torch.full_like(scores, float("nan"))
            elif kind == "all_rows":
                scores = torch.zeros(self.dataset.graph.num_nodes, scores.size(1))
            out[s] = Prediction(scores=scores)
        return out

    cls = registry.load("methods", "full_graph")
    original = cls.predict
    return cls, predict


@pytest.mark.parametrize("kind, received", [("indices", "received shape [{n}]"),
                                            ("one_class_short", "received shape [{n}, 2]"),
                                            ("nan", "with {m} NaN"),
                                            ("all_rows", "received shape [200, 3]")])
def test_bad_predictions_fail_the_trial_naming_method_split_and_shapes(tmp_path, monkeypatch, kind, received):
    cls, predict = _bad(kind)
    monkeypatch.setattr(cls, "setup", _keep_dataset(cls.setup))
    monkeypatch.setattr(cls, "predict", predict)
    cfg = TrialConfig(method="full_graph", backbone="gcn", train={"epochs": 2}, dataset_config=SMALL, device="cpu")
    rec = execute_trial(cfg, None, tmp_path)
    assert rec.status == "failed"
    last = rec.error.strip().splitlines()[-1]
    n = int(last.split("of shape [")[1].split(",")[0])
    assert last.startswith("gnnbench.errors.PredictionError: method 'full_graph' predicted split 'valid'")
    assert f"of shape [{n}, 3]" in last and received.format(n=n, m=n * 3) in last


def _keep_dataset(setup):
    def wrapped(self, dataset, device):
        self.dataset = dataset
        return setup(self, dataset, device)
    return wrapped


def test_good_predictions_pass_and_the_runner_times_transfers(tmp_path):
    cfg = TrialConfig(method="full_graph", backbone="gcn", train={"epochs": 3}, dataset_config=SMALL, device="cpu")
    rec = execute_trial(cfg, None, tmp_path)
    assert rec.status == "completed", rec.error
    assert rec.transfer_time_s is not None and rec.transfer_time_s >= 0
    assert rec.train_time_s == pytest.approx(rec.sample_time_s + rec.transfer_time_s + rec.compute_time_s)
    assert all(p.transfer_time_s is not None for p in rec.curve)
    assert (rec.num_nodes, rec.device) == (200, "cpu") and rec.num_edges > 0
    assert rec.plugins["method"]["distribution"] == "gnnbench" and rec.plugins["dataset"]["name"] == "synthetic"


def test_batch_to_and_recount():
    from torch_geometric.data import Data, HeteroData

    data = Data(x=torch.zeros(5, 2), edge_index=torch.tensor([[0, 1, 2], [1, 2, 3]]))
    b = Batch(data, num_nodes=99, num_messages=7)
    assert recount(b) == (5, 3)
    moved = Batch((torch.ones(2), {"a": torch.ones(1)}, "label"), 1, 1).to(torch.device("cpu"))
    assert moved.data[2] == "label" and moved.data[1]["a"].device.type == "cpu"
    h = HeteroData()
    h["paper"].x = torch.zeros(4, 1)
    h["author"].x = torch.zeros(2, 1)
    h["author", "writes", "paper"].edge_index = torch.tensor([[0, 1], [2, 3]])
    assert recount(Batch(h, 0, 0)) == (6, 2)
    assert recount(Batch(torch.arange(3), 3, 0)) is None  # a payload it does not understand


def test_batch_to_moves_the_tensors_of_a_dataclass_payload():
    """A method's own batch type (VQ-GNN's ``NodeBatch``) is moved field by field."""
    from dataclasses import dataclass

    import torch

    from gnnbench.types import Batch

    @dataclass
    class Payload:
        nodes: torch.Tensor
        parts: list
        name: str = "b"

    calls = []
    t = torch.arange(3)
    original = torch.Tensor.to

    def spy(self, *args, **kwargs):
        calls.append(self.shape)
        return original(self, *args, **kwargs)

    torch.Tensor.to = spy
    try:
        moved = Batch(Payload(t, [torch.ones(2)]), 3, 0).to(torch.device("cpu"))
    finally:
        torch.Tensor.to = original
    assert isinstance(moved.data, Payload) and moved.data.name == "b"
    assert sorted(tuple(s) for s in calls) == [(2,), (3,)]  # both tensors went through .to
