"""The reported metrics. Computed by the runner only, from a method's :class:`Prediction`.

OGB's ``Evaluator`` scores the datasets that have one (ogbn-arxiv, ogbl-collab); otherwise
accuracy (single-label), micro-F1 (multi-label, via scikit-learn) and Hits@50 (OGB's definition).
"""
from __future__ import annotations

import torch
from torch import Tensor

from .types import DatasetInfo, Prediction

__all__ = ["evaluate", "hits_at_k", "METRICS"]

#: metric name → whether larger is better (all of them)
METRICS = {"acc": True, "micro_f1": True, "hits@50": True}


def hits_at_k(pos: Tensor, neg: Tensor, k: int = 50) -> float:
    """Fraction of positive scores ``[P]`` above the k-th highest negative score ``[Q]``.

    As OGB defines Hits@K: 1.0 when there are fewer than ``k`` negatives.
    """
    if neg.numel() < k:
        return 1.0
    kth = torch.topk(neg.float(), k).values[-1]
    return float((pos.float() > kth).float().mean())


def evaluate(info: DatasetInfo, prediction: Prediction, y_true: Tensor | None = None) -> float:
    """The value of ``info.metric`` for one split.

    Args:
        info: the dataset's metadata (metric, multi-label, OGB name).
        prediction: node logits ``[N, C]`` or link scores ``pos [P]`` / ``neg [Q]``.
        y_true: node labels ``[N]`` (or ``[N, C]`` 0/1 for multi-label); ``None`` for links.

    Returns:
        the metric in [0, 1].

    Raises:
        ValueError: an unknown metric or a prediction of the wrong kind for it.
    """
    metric = info.metric
    if metric == "hits@50":
        if prediction.pos is None or prediction.neg is None:
            raise ValueError("hits@50 needs link scores (pos and neg)")
        if info.ogb_name and info.ogb_name.startswith("ogbl"):
            from ogb.linkproppred import Evaluator
            out = Evaluator(info.ogb_name).eval({"y_pred_pos": prediction.pos.cpu(),
                                                 "y_pred_neg": prediction.neg.cpu()})
            return float(out["hits@50"])
        return hits_at_k(prediction.pos, prediction.neg, 50)
    if prediction.scores is None or y_true is None:
        raise ValueError(f"{metric} needs node scores and labels")
    scores, y_true = prediction.scores.detach().cpu(), y_true.detach().cpu()
    if metric == "acc":
        y_pred = scores.argmax(dim=-1, keepdim=True)
        if info.ogb_name and info.ogb_name.startswith("ogbn"):
            from ogb.nodeproppred import Evaluator
            return float(Evaluator(info.ogb_name).eval({"y_true": y_true.view(-1, 1),
                                                        "y_pred": y_pred})["acc"])
        return float((y_pred.view(-1) == y_true.view(-1)).float().mean()) if y_true.numel() else 0.0
    if metric == "micro_f1":
        from sklearn.metrics import f1_score
        return float(f1_score(y_true.numpy() > 0.5, scores.numpy() > 0, average="micro", zero_division=0))
    raise ValueError(f"unknown metric '{metric}'; choices: {', '.join(METRICS)}")
