"""GAT layer: PyG's ``GATConv`` exposing its attention (a learnable convolution matrix)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.nn import GATConv

from .conv import ConvMatrix, attention_support

__all__ = ["Attention", "GATLayer"]


@dataclass(frozen=True)
class Attention:
    """The parameters of a GAT layer (Veličković et al. 2018, Eqs. 1–4; Ding et al. 2021, Table 1):
    ``C⁽ˡ,ʰ⁾_{ij} ∝ exp(LeakyReLU(a_srcʰ·(W x_j)ʰ + a_dstʰ·(W x_i)ʰ))`` on the support ``A + I``.

    Args:
        weight: ``[H·C, in]`` the shared projection ``W``.
        att_src, att_dst: ``[1, H, C]`` attention vectors.
        bias: ``[H·C]`` (concat) or ``[C]`` (mean), or ``None``.
        heads: ``H``; channels: ``C`` per head; concat: heads concatenated (else averaged).
        negative_slope: of the LeakyReLU; dropout: on the coefficients in training.
    """

    weight: Tensor
    att_src: Tensor
    att_dst: Tensor
    bias: Tensor | None
    heads: int
    channels: int
    concat: bool
    negative_slope: float
    dropout: float

    @property
    def out_channels(self) -> int:
        return self.heads * self.channels if self.concat else self.channels


class GATLayer(GATConv):
    """``GATConv`` with :meth:`attention` (its parameters) and :meth:`attention_matrix`.

    Raises:
        ValueError: from :meth:`attention` when source and target projections differ.
    """

    def attention(self) -> Attention:
        if getattr(self, "lin", None) is None:
            raise ValueError("GAT layers with separate source/target weights expose no single W")
        return Attention(self.lin.weight, self.att_src, self.att_dst, self.bias, self.heads,
                         self.out_channels, self.concat, self.negative_slope, self.dropout)

    def attention_support(self, edge_index: Tensor, num_nodes: int) -> ConvMatrix:
        """The support ``A + I`` (explicit loops replaced by one per node, as ``GATConv``)."""
        return attention_support(edge_index, num_nodes)

    def attention_matrix(self, x: Tensor, edge_index: Tensor) -> ConvMatrix:
        """The coefficients this layer computes on ``x: [N, in]``, averaged over heads, as entries
        on ``A + I`` (``edge_id`` as :func:`~gnnbench.backbones.conv.attention_support`)."""
        n = x.size(0)
        support = attention_support(edge_index, n)
        _, (ei, alpha) = self.forward(x, edge_index, return_attention_weights=True)
        # GATConv orders its entries as attention_support does: non-loop edges, then N loops
        if not torch.equal(ei, torch.stack([support.src, support.dst])):
            raise RuntimeError("GATConv's attention entries are not in the expected order")
        return ConvMatrix(support.src, support.dst, alpha.mean(1), support.edge_id, n)
