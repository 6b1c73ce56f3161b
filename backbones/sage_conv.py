"""SAGE-Mean convolution that transforms before it aggregates when that is cheaper."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import SAGEConv

__all__ = ["MeanSAGEConv"]


class MeanSAGEConv(SAGEConv):
    """PyG's ``SAGEConv(aggr="mean")`` with the same parameters and output, computed cheaper,
    exposing its matrices and weights (:class:`~gnnbench.backbones.base.FixedConvolution`).

    ``x_i' = W_1 x_i + W_2 · mean_{j ∈ N(i)} x_j + b`` (Hamilton et al. 2017): ``C⁽¹⁾ = I`` with
    the root weight ``W_1`` and ``C⁽²⁾ = D⁻¹A`` with ``W_2`` (Ding et al. 2021, Table 1).  The mean
    is linear, so ``W_2 · mean(x_j) = mean(W_2 x_j)``: when ``in_channels > out_channels`` the
    neighbours are projected first, and the messages carry ``out_channels`` values instead of
    ``in_channels`` (on MUSAE Facebook, 64 instead of 4,714 per edge).

    Shapes:
        x: ``[N, in]`` or a bipartite pair ``([N_src, in], [N_dst, in])``; edge_index ``[2, E]``
        → ``[N_dst, out]``.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(in_channels, out_channels, aggr="mean")

    def conv_matrices(self, edge_index: Tensor, num_nodes: int):
        """``[I, D⁻¹A]`` (:func:`~gnnbench.backbones.conv.identity_matrix`, :func:`~gnnbench.backbones.conv.mean_matrix`)."""
        from .conv import identity_matrix, mean_matrix

        return [identity_matrix(num_nodes, edge_index.device), mean_matrix(edge_index, num_nodes)]

    def conv_weights(self) -> list[Tensor]:
        """``[W_1 (root), W_2 (neighbours)]``, each ``[out, in]``."""
        return [self.lin_r.weight, self.lin_l.weight]

    def conv_bias(self) -> Tensor | None:
        return self.lin_l.bias

    def forward(self, x, edge_index, size=None) -> Tensor:  # type: ignore[override]
        if isinstance(x, Tensor):
            x = (x, x)
        if self.lin_l.in_channels <= self.lin_l.out_channels:
            return super().forward(x, edge_index, size)
        src = F.linear(x[0], self.lin_l.weight)
        out = self.propagate(edge_index, x=(src, None), size=size or (x[0].size(0), x[1].size(0)))
        if self.lin_l.bias is not None:
            out = out + self.lin_l.bias
        if self.root_weight and x[1] is not None:
            out = out + self.lin_r(x[1])
        return out
