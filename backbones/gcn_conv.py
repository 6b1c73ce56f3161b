"""GCN layer: PyG's ``GCNConv`` exposing its convolution matrix and weight."""
from __future__ import annotations

from torch import Tensor
from torch_geometric.nn import GCNConv

from .conv import ConvMatrix, gcn_matrix

__all__ = ["GCNLayer"]


class GCNLayer(GCNConv):
    """``GCNConv(in, out)`` with the :class:`~gnnbench.backbones.base.FixedConvolution` API:
    one matrix ``C = D̂^{-1/2} Â D̂^{-1/2}`` (PyG's ``gcn_norm``) and its weight ``W``.

    Shapes:
        x: ``[N, in]``; edge_index: ``[2, E]`` → ``[N, out]``.
    """

    def conv_matrices(self, edge_index: Tensor, num_nodes: int) -> list[ConvMatrix]:
        return [gcn_matrix(edge_index, num_nodes)]

    def conv_weights(self) -> list[Tensor]:
        return [self.lin.weight]

    def conv_bias(self) -> Tensor | None:
        return self.bias
