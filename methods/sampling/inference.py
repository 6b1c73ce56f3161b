"""Layer-wise full-neighbour inference in mini-batches: the PyG/OGB standard for sampled GNNs."""
from __future__ import annotations

import torch
from torch import Tensor

from .csr import build_csc

__all__ = ["layerwise_inference"]


@torch.no_grad()
def layerwise_inference(stack, x: Tensor, edge_index: Tensor, batch_size: int) -> Tensor:
    """All ``N`` nodes' outputs of ``stack``, one layer at a time over the whole graph, each layer
    in mini-batches of ``batch_size`` destination nodes with *all* their neighbours (no sampling).

    Every node's layer-``i`` output is computed once and stored (on ``x``'s device), so the cost
    is ``L`` passes over the edges instead of the ``fanout^L`` growth of per-node computation
    graphs (Hamilton et al. 2017, App. A; PyG's ``SAGE.inference``, OGB's examples).  Only one
    batch's sources and edges are on the model's device at a time.  The result equals
    ``stack(x, edge_index)`` in eval mode up to float rounding.  The caller sets ``stack.eval()``.

    Args:
        stack: a :class:`~gnnbench.backbones.base.GNNStack` (``kind`` gcn, sage or gat).
        x: ``[N, F]`` node features (CPU or device).
        edge_index: ``[2, E]`` source → destination.
        batch_size: destination nodes per mini-batch (≥ 1).

    Returns:
        ``[N, out_channels]`` on ``x``'s device.

    Raises:
        ValueError: ``batch_size < 1``.
    """
    from .propagate import weighted_layer

    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1 destination nodes per batch")
    device = next(stack.parameters()).device
    n = x.size(0)
    weights = None
    if stack.kind == "gcn":
        from torch_geometric.nn.conv.gcn_conv import gcn_norm

        # the whole graph's normalisation, self-loops included, exactly as GCNConv computes it
        ei, w = gcn_norm(edge_index.cpu(), None, n, add_self_loops=True)
        csc = build_csc(ei, n)
        weights = w[csc.perm]
    else:
        csc = build_csc(edge_index, n)
    for i in range(stack.num_layers):
        outs = []
        for start in range(0, n, batch_size):  # a loop over batches, vectorised within
            dst = torch.arange(start, min(start + batch_size, n))
            pos, slot = csc.in_edges(dst)
            src, inv = torch.unique(csc.src[pos], return_inverse=True)
            nodes = torch.cat([dst, src])  # destinations first (GAT adds their self-loops)
            ei = torch.stack([inv + dst.numel(), slot]).to(device)
            h = x[nodes.to(x.device)].to(device)
            if weights is not None:
                out = weighted_layer(stack, i, h, ei, weights[pos].to(device), None, dst.numel())
            else:
                out = stack.layer(i, (h, h[:dst.numel()]), ei)
            outs.append(out.to(x.device))
        x = torch.cat(outs)
    return x
