"""Model heads on top of a backbone's node embeddings: the link predictor of link prediction."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["LinkPredictor", "LinkModel"]


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
