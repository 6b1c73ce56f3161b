"""The layer of ``rwconv``: ``h = D̂⁻¹ Â x Wᵀ + b`` on ``Â = A + I`` (explicit loops replaced)."""
from __future__ import annotations

import torch
from torch import Tensor

from gnnbench.backbones.conv import ConvMatrix, aggregate


def rw_matrix(edge_index: Tensor, num_nodes: int) -> ConvMatrix:
    """``D̂⁻¹ Â``: every non-loop in-edge of ``v`` and one self-loop weigh ``1 / (deg_in(v) + 1)``."""
    src, dst = edge_index[0].long(), edge_index[1].long()
    keep = (src != dst).nonzero().view(-1)
    loop = torch.arange(num_nodes, device=src.device)
    src, dst = torch.cat([src[keep], loop]), torch.cat([dst[keep], loop])
    deg = torch.bincount(dst, minlength=num_nodes).float()
    return ConvMatrix(src, dst, 1.0 / deg[dst], torch.cat([keep, torch.full_like(loop, -1)]), num_nodes)


class RWConv(torch.nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.lin = torch.nn.Linear(in_channels, out_channels, bias=False)
        self.bias = torch.nn.Parameter(torch.zeros(out_channels))

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()
        torch.nn.init.zeros_(self.bias)

    def conv_matrices(self, edge_index: Tensor, num_nodes: int) -> list[ConvMatrix]:
        return [rw_matrix(edge_index, num_nodes)]

    def conv_weights(self) -> list[Tensor]:
        return [self.lin.weight]

    def conv_bias(self) -> Tensor:
        return self.bias

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        c = rw_matrix(edge_index, x.size(0))
        return aggregate(self.lin(x), c.src, c.dst, c.weight, x.size(0)) + self.bias
