"""Metrics agree with OGB's Evaluator and scikit-learn."""
from __future__ import annotations

import torch

from gnnbench.metrics import evaluate, hits_at_k
from gnnbench.types import DatasetInfo, Prediction, Task


def test_hits_at_50_matches_ogb():
    from ogb.linkproppred import Evaluator

    g = torch.Generator().manual_seed(0)
    pos, neg = torch.randn(300, generator=g) + 1, torch.randn(1000, generator=g)
    ours = hits_at_k(pos, neg, 50)
    theirs = Evaluator("ogbl-collab").eval({"y_pred_pos": pos, "y_pred_neg": neg})["hits@50"]
    assert abs(ours - theirs) < 1e-6 and 0 < ours < 1  # OGB computes in float32
    info = DatasetInfo("x", Task.LINK, "hits@50")
    assert evaluate(info, Prediction(pos=pos, neg=neg)) == ours
    assert hits_at_k(pos, neg[:10], 50) == 1.0


def test_accuracy_plain_and_ogb():
    scores = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 5.0]])
    y = torch.tensor([0, 0, 0, 1])
    assert evaluate(DatasetInfo("x", Task.NODE_TRANSDUCTIVE, "acc", 2), Prediction(scores=scores), y) == 0.75
    ogb = DatasetInfo("ogbn-arxiv", Task.NODE_TRANSDUCTIVE, "acc", 2, ogb_name="ogbn-arxiv")
    assert evaluate(ogb, Prediction(scores=scores), y) == 0.75


def test_micro_f1_multilabel():
    from sklearn.metrics import f1_score

    y = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 1, 0]]).float()
    logits = torch.tensor([[1.0, -1.0, -1.0], [-1.0, 2.0, 1.0], [1.0, 1.0, -3.0]])
    info = DatasetInfo("ppi", Task.NODE_INDUCTIVE, "micro_f1", 3, multilabel=True)
    expected = f1_score(y.numpy() > 0.5, logits.numpy() > 0, average="micro")
    assert abs(evaluate(info, Prediction(scores=logits), y) - expected) < 1e-12
    assert abs(expected - 0.8) < 1e-9  # 4 true positives, 1 false positive, 1 false negative
