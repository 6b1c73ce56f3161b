"""The reported metrics. Computed by the runner only, from a method's :class:`Prediction`.

OGB's ``Evaluator`` scores the datasets that have one (ogbn-arxiv, ogbl-collab); otherwise
accuracy (single-label), micro-F1 (multi-label, via scikit-learn) and Hits@50 (OGB's definition).
"""
from __future__ import annotations

import torch
from torch import Tensor

from .errors import PredictionError
from .types import DatasetInfo, GraphDataset, Prediction, Task

__all__ = ["evaluate", "hits_at_k", "check_prediction", "METRICS"]

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


def _shape(t) -> str:
    return "[" + ", ".join(str(d) for d in t.shape) + "]" if isinstance(t, Tensor) else type(t).__name__


def _check_tensor(value, expected: tuple[int, ...], what: str, where: str) -> None:
    """Raise :class:`PredictionError` unless ``value`` is a finite float tensor of shape ``expected``."""
    want = "[" + ", ".join(str(d) for d in expected) + "]"
    if not isinstance(value, Tensor):
        raise PredictionError(f"{where}: expected {what} of shape {want}, received {type(value).__name__}")
    if tuple(value.shape) != expected:
        raise PredictionError(f"{where}: expected {what} of shape {want}, received shape {_shape(value)}")
    if not value.is_floating_point():
        raise PredictionError(f"{where}: expected {what} of shape {want} as floating point, received "
                              f"shape {_shape(value)} of dtype {value.dtype}")
    bad = ~torch.isfinite(value.detach())
    if bool(bad.any()):
        nan = int(torch.isnan(value.detach()).sum())
        raise PredictionError(f"{where}: expected {what} of shape {want}, finite; received shape {_shape(value)} "
                              f"with {nan} NaN and {int(bad.sum()) - nan} infinite entries")


def check_prediction(dataset: GraphDataset, split: str, prediction: Prediction, method: str) -> None:
    """Check a method's prediction for one split before it is scored, as OGB's ``Evaluator`` does.

    Node tasks: ``scores`` ``[num_split_nodes, num_classes]``, floating point, finite, in the order
    of ``dataset.split[split]``.  Link tasks: ``pos`` ``[P]`` and ``neg`` ``[Q]``, the scores of the
    split's ``edge`` ``[P, 2]`` and ``edge_neg`` ``[Q, 2]``, floating point, finite.

    Raises:
        PredictionError: the message names the method, the split, the expected and the received shape.
    """
    where = f"method '{method}' predicted split '{split}' wrongly"
    if not isinstance(prediction, Prediction):
        raise PredictionError(f"{where}: expected a gnnbench Prediction, received {type(prediction).__name__}")
    if dataset.info.task == Task.LINK:
        edges = dataset.edge_split[split]
        _check_tensor(prediction.pos, (int(edges["edge"].size(0)),), "positive-edge scores 'pos'", where)
        _check_tensor(prediction.neg, (int(edges["edge_neg"].size(0)),), "negative-edge scores 'neg'", where)
        return
    expected = (int(dataset.split[split].numel()), dataset.num_outputs)
    _check_tensor(prediction.scores, expected, "node scores (one row per split node, one column per class)", where)


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
