"""What depends on the task and is shared by every method: losses, negative edges, edge scores.

Methods use these so that the loss of a task is the same whatever the scaling strategy; the
reported metric is computed by the runner (:mod:`gnnbench.metrics`), never here.  The model head
of link prediction lives with the backbones (:mod:`gnnbench.backbones.heads`); the rest of the
training kit (model, optimiser, predictions over splits) in :mod:`gnnbench.training`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["node_loss", "link_loss", "pair_loss", "random_negative_edges", "score_edges"]


def node_loss(logits: Tensor, y: Tensor, multilabel: bool, weight: Tensor | None = None) -> Tensor:
    """Cross-entropy (single-label, ``y: [B]``) or binary cross-entropy (multi-label, ``y: [B, C]``),
    the mean over the ``B`` nodes; with ``weight: [B]`` the weighted sum ``Σ_v weight_v L_v``
    (GraphSAINT's normalised loss, Zeng et al. 2020, Eq. 4; a multi-label ``L_v`` is the mean
    over its classes)."""
    if weight is None:
        if multilabel:
            return F.binary_cross_entropy_with_logits(logits, y.float())
        return F.cross_entropy(logits, y)
    if multilabel:
        per = F.binary_cross_entropy_with_logits(logits, y.float(), reduction="none").mean(1)
    else:
        per = F.cross_entropy(logits, y, reduction="none")
    return (per * weight).sum()


def link_loss(pos: Tensor, neg: Tensor) -> Tensor:
    """Binary cross-entropy of positive-edge logits ``[P]`` against negative-edge logits ``[Q]``."""
    return (F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos))
            + F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg)))


def pair_loss(predictor, h: Tensor, pos: Tensor, neg: Tensor | None = None) -> Tensor:
    """Link loss of embeddings ``h: [B, D]`` on pairs ``pos: [2, P]`` against ``neg: [2, Q]``
    (default: ``P`` uniformly random pairs of the ``B`` nodes, OGB's collab training negatives)."""
    if neg is None:
        neg = random_negative_edges(h.size(0), pos.size(1), h.device)
    return link_loss(predictor(h[pos[0]], h[pos[1]]), predictor(h[neg[0]], h[neg[1]]))


def random_negative_edges(num_nodes: int, num: int, device=None) -> Tensor:
    """``[2, num]`` uniformly random node pairs (OGB's collab training negatives; a few may be edges)."""
    return torch.randint(0, num_nodes, (2, num), device=device)


def score_edges(predictor, h: Tensor, edges: Tensor, chunk: int = 65536) -> Tensor:
    """Logits ``[P]`` of the pairs ``edges: [P, 2]`` from embeddings ``h: [N, D]``, in chunks."""
    out = [predictor(h[e[:, 0]], h[e[:, 1]]) for e in edges.split(chunk)]
    return torch.cat(out) if out else h.new_empty(0)
