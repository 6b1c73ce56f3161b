"""Mini-batch inference over each batch's full L-hop neighbourhood: the OGB / ``NeighborLoader`` baseline.

The sampling baselines of Ding et al. 2021 (Sec. 5, "inference") predict a batch of output nodes
from the whole ``L``-hop neighbourhood of the batch, all of it on the device at once (PyG's
``NeighborLoader`` with ``num_neighbors=[-1] * L``, as in OGB's examples).  Its cost grows with
the neighbourhood, ``O(d^L)`` per node (Table 2 of Ding et al. 2021), against ``L`` passes over
the edges for layer-wise inference (:func:`~gnnbench.methods.sampling.layerwise_inference`).
"""
from __future__ import annotations

import torch
from torch import Tensor

from .neighbor import UniformNeighborSampler, sampled_forward

__all__ = ["lhop_inference"]


@torch.no_grad()
def lhop_inference(stack, x: Tensor, edge_index: Tensor, batch_size: int) -> Tensor:
    """All ``N`` nodes' outputs of ``stack``, in mini-batches of ``batch_size`` output nodes, each
    computed from its full ``L``-hop neighbourhood (no sampling, nothing reused across batches).

    Each batch's computation graph is drawn by :class:`~gnnbench.methods.sampling.UniformNeighborSampler`
    with fanout ``-1`` at every hop (PyG ``NeighborLoader(num_neighbors=[-1] * L)`` semantics:
    the batch's nodes first, then the nodes new at each hop; all in-edges of every node up to hop
    ``L − 1``), moved to the model's device whole, and the stack runs layer ``i`` on the hops it
    needs (:func:`~gnnbench.methods.sampling.sampled_forward`, PyG's ``trim_to_layer``).

    * A backbone with the ``bipartite`` capability (SAGE, GAT) runs its own layers on the blocks,
      as OGB's ``NeighborLoader`` examples do.  GAT's explicit self-loops are dropped first, since
      the layer adds one per destination (as on the whole graph).
    * A backbone with only ``fixed_convolution`` (GCN) runs each layer with the rows of its
      whole-graph matrices restricted to the block (``stack.weighted_layer``), so GCN keeps the
      whole graph's degree normalisation.  (``GCNConv`` on a ``NeighborLoader`` block would
      renormalise on the block and predict something else than the trained full-graph model.)

    The result equals ``stack(x, edge_index)`` in eval mode up to float rounding.  The caller
    sets ``stack.eval()``.

    Args:
        stack: a :class:`~gnnbench.backbones.base.GNNStack`.
        x: ``[N, F]`` node features (CPU or device).
        edge_index: ``[2, E]`` source → destination.
        batch_size: output nodes per mini-batch (≥ 1), nodes ``[k·b, (k+1)·b)`` in batch ``k``.

    Returns:
        ``[N, out_channels]`` on ``x``'s device.

    Raises:
        ValueError: ``batch_size < 1``, or a backbone with neither capability.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1 output nodes per batch")
    blocks = stack.has("bipartite")
    if not blocks and not stack.has("fixed_convolution"):
        raise ValueError("L-hop inference needs a backbone with bipartite or fixed_convolution layers")
    device = next(stack.parameters()).device
    n, num_layers = x.size(0), stack.num_layers
    edge_index = edge_index.cpu()
    if blocks and stack.has("attention"):  # the layer adds one loop per destination (GATConv)
        edge_index = edge_index[:, edge_index[0] != edge_index[1]]
    sampler = UniformNeighborSampler(edge_index, n, [-1] * num_layers)
    matrices = None if blocks else [stack.conv_matrices(i, edge_index, n) for i in range(num_layers)]
    result = None  # [N, out], written batch by batch
    for start in range(0, n, batch_size):  # a loop over batches, vectorised within
        out = sampler.sample(torch.arange(start, min(start + batch_size, n)))
        h = x[out.node.to(x.device)].to(device)
        local = torch.stack([out.row, out.col])
        if blocks:
            h = sampled_forward(stack, h, local.to(device), out.num_sampled_nodes, out.num_sampled_edges)
        else:
            h = _fixed_forward(stack, matrices, h, out, local, device)
        if result is None:
            result = h.new_empty((n,) + tuple(h.shape[1:]), device=x.device)
        result[start:start + h.size(0)] = h
    return result


def _fixed_forward(stack, matrices, h: Tensor, out, local: Tensor, device) -> Tensor:
    """The stack on one sampled computation graph with whole-graph matrices: layer ``i`` takes the
    entries of ``matrices[i]`` on the first ``L − i`` hops' edges (and the loops of their
    destinations), in the block's local ids (:meth:`~gnnbench.backbones.conv.ConvMatrix.on_subgraph`).

    Shapes:
        h: ``[N_sub, F]`` (the batch's nodes first); local: ``[2, E_sub]`` ordered by hop →
        ``[num_sampled_nodes[0], out]``.
    """
    nodes, edges = list(out.num_sampled_nodes), list(out.num_sampled_edges)
    num_layers = len(matrices)
    for i, mats in enumerate(matrices):
        n_src, n_dst = sum(nodes[:num_layers - i + 1]), sum(nodes[:num_layers - i])
        e = sum(edges[:num_layers - i])
        block = [m.on_subgraph(out.node[:n_dst], out.edge[:e], local[:, :e]).to(device) for m in mats]
        h = stack.weighted_layer(i, h[:n_src], block, n_dst)
    return h
