"""What depends on the task and is shared by every method: model heads, losses, negative edges.

Methods use these so that the loss of a task is the same whatever the scaling strategy; the
reported metric is computed by the runner (:mod:`gnnbench.metrics`), never here.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .types import GraphDataset, Task

__all__ = ["LinkPredictor", "LinkModel", "build_model", "encoder_of", "node_loss", "link_loss",
           "random_negative_edges", "score_edges"]


class LinkPredictor(torch.nn.Module):
    """Scores a node pair from its embeddings: an MLP on ``h_i ⊙ h_j`` (OGB's collab baseline).

    Args:
        channels: embedding width; hidden width of the MLP too.
        num_layers: MLP layers (default 2).
        dropout: dropout between MLP layers (default 0.0).

    Shapes:
        h_src, h_dst: ``[P, channels]`` → logits ``[P]``.
    """

    def __init__(self, channels: int, num_layers: int = 2, dropout: float = 0.0):
        super().__init__()
        dims = [channels] * num_layers + [1]
        self.lins = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.dropout = dropout

    def forward(self, h_src: Tensor, h_dst: Tensor) -> Tensor:
        x = h_src * h_dst
        for lin in self.lins[:-1]:
            x = F.dropout(F.relu(lin(x)), self.dropout, self.training)
        return self.lins[-1](x).view(-1)


class LinkModel(torch.nn.Module):
    """A GNN encoder with a :class:`LinkPredictor` head; ``forward`` returns node embeddings."""

    def __init__(self, encoder: torch.nn.Module, predictor: LinkPredictor):
        super().__init__()
        self.encoder = encoder
        self.predictor = predictor

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.encoder(x, edge_index)


def build_model(backbone, dataset: GraphDataset) -> torch.nn.Module:
    """The model a method trains for ``dataset``'s task, built from ``backbone``.

    Node tasks: ``backbone.build(F, C)`` (logits); link prediction: a :class:`LinkModel` whose
    encoder outputs ``hidden_channels`` embeddings.
    """
    if dataset.info.task == Task.LINK:
        width = int(getattr(backbone.config, "hidden_channels", 64))
        return LinkModel(backbone.build(dataset.num_features, width), LinkPredictor(width))
    return backbone.build(dataset.num_features, dataset.num_outputs)


def encoder_of(model: torch.nn.Module) -> torch.nn.Module:
    """The GNN stack inside ``model`` (the model itself for node tasks)."""
    return model.encoder if isinstance(model, LinkModel) else model


def node_loss(logits: Tensor, y: Tensor, multilabel: bool) -> Tensor:
    """Cross-entropy (single-label, ``y: [B]``) or binary cross-entropy (multi-label, ``y: [B, C]``)."""
    if multilabel:
        return F.binary_cross_entropy_with_logits(logits, y.float())
    return F.cross_entropy(logits, y)


def link_loss(pos: Tensor, neg: Tensor) -> Tensor:
    """Binary cross-entropy of positive-edge logits ``[P]`` against negative-edge logits ``[Q]``."""
    return (F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos))
            + F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg)))


def random_negative_edges(num_nodes: int, num: int, device=None) -> Tensor:
    """``[2, num]`` uniformly random node pairs (OGB's collab training negatives; a few may be edges)."""
    return torch.randint(0, num_nodes, (2, num), device=device)


def score_edges(predictor: LinkPredictor, h: Tensor, edges: Tensor, chunk: int = 65536) -> Tensor:
    """Logits ``[P]`` of the pairs ``edges: [P, 2]`` from embeddings ``h: [N, D]``, in chunks."""
    out = [predictor(h[e[:, 0]], h[e[:, 1]]) for e in edges.split(chunk)]
    return torch.cat(out) if out else h.new_empty(0)
