"""The runner: every task end to end in-process, and isolation of each trial in its own process."""
from __future__ import annotations

import pytest

from gnnbench.config import TrialConfig
from gnnbench.runner import execute_trial, plan
from gnnbench.worker import run_in_child

SMALL = {"num_nodes": 300, "num_features": 8}


@pytest.mark.parametrize("task, metric", [("node", "acc"), ("inductive", "acc"), ("link", "hits@50")])
@pytest.mark.parametrize("backbone", ["gcn", "sage", "gat"])
def test_full_graph_every_task(tmp_path, task, metric, backbone):
    cfg = TrialConfig(method="full_graph", backbone=backbone, train={"epochs": 30},
                      dataset_config={**SMALL, "task": task})
    rec = execute_trial(cfg, None, tmp_path)
    assert rec.status == "completed", rec.error
    assert rec.metric == metric and rec.epochs == 30
    assert rec.test_metric > (0.5 if metric == "acc" else 0.05)  # 3 classes: chance is 1/3
    assert rec.nodes_per_batch_max == (600 if task == "inductive" else 300)  # inductive: 2 training graphs
    assert rec.val_metric == max(p.val_metric for p in rec.curve)  # restored best epoch


def test_patience_stops_early(tmp_path):
    cfg = TrialConfig(method="full_graph", backbone="gcn", train={"epochs": 300, "patience": 5},
                      dataset_config=SMALL)
    rec = execute_trial(cfg, None, tmp_path)
    assert rec.status == "completed" and rec.epochs < 300
    assert rec.epochs - rec.best_epoch == 5


def test_peak_memory_belongs_to_each_trial(tmp_path):
    small = plan(TrialConfig(method="full_graph", backbone="gcn", train={"epochs": 1}, dataset_config=SMALL)).config
    big = plan(TrialConfig(method="full_graph", backbone="gcn", train={"epochs": 1},
                           dataset_config={"num_nodes": 2000, "num_features": 25_600, "avg_degree": 2})).config
    first = run_in_child(small, None, tmp_path)
    large = run_in_child(big, None, tmp_path)
    again = run_in_child(small, None, tmp_path)
    assert first.status == large.status == again.status == "completed"
    # x alone is 2,000 × 25,600 × 4 B = 205 MB; the small trial after it does not inherit that peak
    assert large.peak_cpu_rss_bytes - first.peak_cpu_rss_bytes > 150 * 2**20
    assert abs(again.peak_cpu_rss_bytes - first.peak_cpu_rss_bytes) < 60 * 2**20


def test_timeout_kills_and_records_interrupted(tmp_path):
    cfg = plan(TrialConfig(method="full_graph", backbone="gcn", train={"epochs": 100000}, dataset_config=SMALL)).config
    events = []
    rec = run_in_child(cfg, None, tmp_path, on_event=events.append, timeout_s=0.3)
    assert rec.status == "interrupted" and "timed out after 0.3 s" in rec.error
    assert rec.peak_cpu_rss_bytes > 0
    assert len(rec.curve) == len([e for e in events if e["type"] == "epoch"])


@pytest.mark.parametrize("epochs, calls", [(1, [["valid", "test"]]),
                                           (2, [["valid"], ["valid"], ["valid", "test"]])])
def test_a_one_epoch_trial_is_validated_by_its_final_inference_only(tmp_path, monkeypatch, epochs, calls):
    from gnnbench import registry

    cls = registry.load("methods", "full_graph")
    original, seen = cls.predict, []

    def predict(self, splits):
        seen.append(list(splits))
        return original(self, splits)

    monkeypatch.setattr(cls, "predict", predict)
    cfg = TrialConfig(method="full_graph", backbone="gcn", train={"epochs": epochs},
                      dataset_config={"num_nodes": 200, "num_features": 8, "num_classes": 3}, device="cpu")
    rec = execute_trial(cfg, None, tmp_path)
    assert rec.status == "completed", rec.error
    assert seen == calls
    assert rec.best_epoch is not None and len(rec.curve) == epochs
    assert rec.curve[-1].val_metric is not None
    if epochs == 1:
        assert rec.best_epoch == 1 and rec.curve[0].val_metric == rec.val_metric
