"""One backbone layer with explicit per-edge aggregation weights.

GraphSAINT reweights every message by ``1 / α_{u,v}`` (Zeng et al. 2020, Eq. 3) and layer-wise
inference of GCN on a mini-batch needs the whole graph's normalisation; PyG's ``SAGEConv`` (mean)
takes no edge weights and ``GCNConv`` would renormalise a subgraph, so this module applies the
layer's own parameters to a weighted sum.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["weighted_layer", "full_aggregation_weights"]


def full_aggregation_weights(kind: str, edge_index: Tensor, num_nodes: int) -> tuple[Tensor, Tensor]:
    """The entries ``Ã_{v,u}`` of the backbone's convolution matrix on the whole graph.

    ``"sage"``: ``1 / deg(v)`` (mean); ``"gcn"``: ``(deg(u)+1)^{-1/2} (deg(v)+1)^{-1/2}`` with the
    self-loop weight ``1 / (deg(v)+1)`` (Kipf & Welling 2017, Eq. 2; explicit self-loops in the
    input count as ordinary edges here).

    Returns:
        ``(edge_weight [E], self_weight [N])`` (``self_weight`` is zeros for ``"sage"``).

    Raises:
        ValueError: ``kind`` is neither ``"sage"`` nor ``"gcn"`` (GAT's weights are attention).
    """
    src, dst = edge_index[0], edge_index[1]
    deg = torch.bincount(dst, minlength=num_nodes).float()
    if kind == "sage":
        return 1.0 / deg.clamp(min=1)[dst], torch.zeros(num_nodes)
    if kind == "gcn":
        d = (deg + 1).pow(-0.5)
        return d[src] * d[dst], 1.0 / (deg + 1)
    raise ValueError(f"no fixed aggregation weights for backbone kind '{kind}'; choices: sage, gcn")


def weighted_layer(stack, i: int, x: Tensor, edge_index: Tensor, edge_weight: Tensor,
                   self_weight: Tensor | None = None, num_dst: int | None = None) -> Tensor:
    """Layer ``i`` of ``stack`` with the aggregation ``Σ_u w_{u,v} h_u`` in place of its own.

    SAGE-Mean: ``W_1 x_v + W_2 Σ_u w_{u,v} x_u + b`` (``w = 1/deg`` gives the mean); GCN:
    ``W^T (self_weight_v x_v + Σ_u w_{u,v} x_u) + b``. Dropout and σ as in ``GNNStack.layer``.

    Shapes:
        x: ``[N_src, F]`` (destinations are its first ``num_dst`` rows, default all);
        edge_index: ``[2, M]`` local ids; edge_weight: ``[M]``; self_weight: ``[num_dst]`` (GCN)
        → ``[num_dst, out]``.

    Raises:
        ValueError: a GAT stack (attention has no fixed weights to rescale) or an unknown kind.
    """
    from gnnbench.backbones.base import dropout

    num_dst = x.size(0) if num_dst is None else num_dst
    conv = stack.convs[i]
    h = dropout(x, stack.dropout, stack.training)
    row, col = edge_index[0], edge_index[1]
    w = edge_weight.to(h.dtype).unsqueeze(1)
    if stack.kind == "sage":
        lin_l = conv.lin_l
        src = F.linear(h, lin_l.weight) if lin_l.in_channels > lin_l.out_channels else h
        agg = src.new_zeros(num_dst, src.size(1)).index_add_(0, col, src[row] * w)
        out = agg if src is not h else F.linear(agg, lin_l.weight)
        if lin_l.bias is not None:
            out = out + lin_l.bias
        if conv.root_weight:
            out = out + conv.lin_r(h[:num_dst])
        if getattr(conv, "normalize", False):
            out = F.normalize(out, p=2.0, dim=-1)
    elif stack.kind == "gcn":
        src = conv.lin(h)
        out = src.new_zeros(num_dst, src.size(1)).index_add_(0, col, src[row] * w)
        if self_weight is not None:
            out = out + src[:num_dst] * self_weight.to(src.dtype).unsqueeze(1)
        if conv.bias is not None:
            out = out + conv.bias
    else:
        raise ValueError(f"weighted_layer supports backbone kinds sage and gcn, not '{stack.kind}'")
    if i < stack.num_layers - 1:
        out = stack.act(out)
    return out
