"""Layer-wise full-neighbour inference in mini-batches: the PyG/OGB standard for sampled GNNs."""
from __future__ import annotations

import torch
from torch import Tensor

from gnnbench.backbones.conv import ConvMatrix

from .csr import build_csc

__all__ = ["layerwise_inference", "layerwise_predict", "sampled_predict", "INFERENCE_MODES"]

#: the inference procedures of the sampling baselines (their ``method.inference`` option)
INFERENCE_MODES = ("layerwise", "lhop")


def _block(csc, weight: Tensor, dst: Tensor):
    """The in-entries of ``dst`` in one matrix: ``(global sources, local destination slot, weights)``."""
    pos, slot = csc.in_edges(dst)
    return csc.src[pos], slot, weight[csc.perm[pos]]


@torch.no_grad()
def layerwise_inference(stack, x: Tensor, edge_index: Tensor, batch_size: int) -> Tensor:
    """All ``N`` nodes' outputs of ``stack``, one layer at a time over the whole graph, each layer
    in mini-batches of ``batch_size`` destination nodes with *all* their neighbours (no sampling).

    Every node's layer-``i`` output is computed once and stored (on ``x``'s device), so the cost
    is ``L`` passes over the edges instead of the ``fanout^L`` growth of per-node computation
    graphs (Hamilton et al. 2017, App. A; PyG's ``SAGE.inference``, OGB's examples).  Only one
    batch's sources and entries are on the model's device at a time.  A backbone with the
    ``fixed_convolution`` capability runs each batch with the rows of its whole-graph matrices
    (``stack.weighted_layer``: GCN keeps the whole graph's normalisation); otherwise the layer
    runs on the bipartite block (``bipartite`` capability: GAT, whose explicit self-loops are
    dropped from the blocks because the layer adds one per destination, as on the whole graph).  The result equals
    ``stack(x, edge_index)`` in eval mode up to float rounding.  The caller sets ``stack.eval()``.

    Args:
        stack: a :class:`~gnnbench.backbones.base.GNNStack`.
        x: ``[N, F]`` node features (CPU or device).
        edge_index: ``[2, E]`` source → destination.
        batch_size: destination nodes per mini-batch (≥ 1).

    Returns:
        ``[N, out_channels]`` on ``x``'s device.

    Raises:
        ValueError: ``batch_size < 1``, or a backbone with neither capability.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1 destination nodes per batch")
    fixed = stack.has("fixed_convolution")
    if not fixed and not stack.has("bipartite"):
        raise ValueError("layer-wise inference needs a backbone with fixed_convolution or bipartite layers")
    device = next(stack.parameters()).device
    n = x.size(0)
    edge_index = edge_index.cpu()
    plain = None
    if not fixed:
        if stack.has("attention"):  # the layer adds one loop per destination: explicit ones go (GATConv)
            edge_index = edge_index[:, edge_index[0] != edge_index[1]]
        plain = build_csc(edge_index, n)
    for i in range(stack.num_layers):
        mats = stack.conv_matrices(i, edge_index, n) if fixed else []
        cscs = [(build_csc(torch.stack([m.src, m.dst]), n), m.weight) for m in mats]
        result = None  # [N, out_i], written batch by batch (no list of parts to concatenate)
        for start in range(0, n, batch_size):  # a loop over batches, vectorised within
            dst = torch.arange(start, min(start + batch_size, n))
            if fixed:
                blocks = [_block(c, w, dst) for c, w in cscs]
                src, inv = torch.unique(torch.cat([b[0] for b in blocks]), return_inverse=True)
                nodes = torch.cat([dst, src])  # destinations first
                h = x[nodes.to(x.device)].to(device)
                local, k = [], 0
                for (s, slot, w), m in zip(blocks, mats):
                    j = inv[k:k + s.numel()] + dst.numel()
                    k += s.numel()
                    local.append(ConvMatrix(j.to(device), slot.to(device), w.to(device),
                                            torch.full_like(j, -1).to(device), nodes.numel(), m.identity))
                out = stack.weighted_layer(i, h, local, dst.numel())
            else:
                pos, slot = plain.in_edges(dst)
                src, inv = torch.unique(plain.src[pos], return_inverse=True)
                nodes = torch.cat([dst, src])  # destinations first (GAT adds their self-loops)
                ei = torch.stack([inv + dst.numel(), slot]).to(device)
                h = x[nodes.to(x.device)].to(device)
                out = stack.layer(i, (h, h[:dst.numel()]), ei)
            if result is None:
                result = out.new_empty((n,) + tuple(out.shape[1:]), device=x.device)
            result[start:start + dst.numel()] = out
        x = result
    return x


def layerwise_predict(model, stack, dataset, splits, device, batch_size: int):
    """:func:`sampled_predict` with layer-wise inference (kept for callers of the older name)."""
    return sampled_predict(model, stack, dataset, splits, device, batch_size, "layerwise")


def sampled_predict(model, stack, dataset, splits, device, batch_size: int, inference: str = "layerwise"):
    """:func:`gnnbench.training.predict_splits` with full-neighbour mini-batch inference as the
    embedding: the evaluation of the sampling baselines (the caller's ``model`` is put in eval mode).

    Args:
        inference: ``"layerwise"`` (:func:`layerwise_inference`: ``batch_size`` destination nodes
            per batch of each layer) or ``"lhop"`` (:func:`~gnnbench.methods.sampling.lhop_inference`:
            ``batch_size`` output nodes per batch, each batch with its full L-hop neighbourhood,
            the OGB standard the VQ-GNN paper compares against, Ding et al. 2021, Sec. 5).

    Raises:
        ValueError: an ``inference`` not in :data:`INFERENCE_MODES`.
    """
    from gnnbench.training import predict_splits

    from .lhop import lhop_inference

    embedders = {"layerwise": layerwise_inference, "lhop": lhop_inference}
    if inference not in embedders:
        raise ValueError(f"inference={inference!r} is not one of {', '.join(INFERENCE_MODES)}; "
                         f"set method.inference to one of them")
    embed = embedders[inference]
    model.eval()
    return predict_splits(
        dataset, splits, lambda g: embed(stack, g.x, g.edge_index, batch_size).to(device),
        device, getattr(model, "predictor", None))
