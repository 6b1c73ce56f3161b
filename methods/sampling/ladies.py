"""Layer-dependent importance sampling (LADIES, Zou, Hu, Wang, Jiang, Sun & Gu, NeurIPS 2019), pure torch.

One ``BaseSampler`` draws, for a batch of output nodes, a fixed number of nodes per layer from the
neighbours of the layer above, with probability proportional to the squared norms of the
convolution matrix's columns restricted to the rows of the layer above, and returns the
debiased entries of each layer's sampled matrix.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor
from torch_geometric.sampler import BaseSampler, NodeSamplerInput, SamplerOutput

from .csr import CSC, build_csc

__all__ = ["LadiesSampler", "LayerMatrices", "layer_probabilities", "sample_layer"]


@dataclass(frozen=True)
class LayerMatrices:
    """One layer's whole-graph convolution matrices, by destination, for sampling.

    Args:
        cscs: per matrix, its entries sorted by destination (``CSC.perm`` indexes ``weights``).
        weights: per matrix, ``[M]`` the entries' weights ``C[dst, src]``.
        identity: per matrix, whether it is ``I`` (a root term: computed exactly, never sampled).
    """

    cscs: tuple[CSC, ...]
    weights: tuple[Tensor, ...]
    identity: tuple[bool, ...]

    @classmethod
    def of(cls, matrices, num_nodes: int) -> "LayerMatrices":
        """From a layer's :class:`~gnnbench.backbones.conv.ConvMatrix` list (``stack.conv_matrices``)."""
        return cls(tuple(build_csc(torch.stack([m.src, m.dst]).cpu(), num_nodes) for m in matrices),
                   tuple(m.weight.cpu() for m in matrices), tuple(bool(m.identity) for m in matrices))


def layer_probabilities(layer: LayerMatrices, dst: Tensor) -> tuple[Tensor, list[tuple[int, Tensor, Tensor, Tensor]]]:
    """LADIES' layer-dependent distribution (Zou et al. 2019, Eq. 6): ``p_j ∝ ‖C[dst, j]‖²``, the
    squared norm of column ``j`` of the matrices restricted to the rows ``dst`` of the layer above
    (summed over the layer's non-identity matrices), over the candidate columns (in-neighbours of
    ``dst``; every other node has ``p_j = 0``).

    Returns:
        ``(p [J], entries)``: the probabilities of the ``J`` candidates ``torch.unique`` of their
        sources orders, and per non-identity matrix ``(matrix index, candidate of each entry [M],
        destination slot [M], weight [M])``.
    """
    raw = []
    for s, (csc, weight, identity) in enumerate(zip(layer.cscs, layer.weights, layer.identity)):
        if identity:
            continue
        pos, slot = csc.in_edges(dst)
        raw.append((s, csc.src[pos], slot, weight[csc.perm[pos]]))
    srcs = torch.cat([r[1] for r in raw]) if raw else torch.empty(0, dtype=torch.long)
    cand, inv = torch.unique(srcs, return_inverse=True)
    weights = torch.cat([r[3] for r in raw]) if raw else torch.empty(0)
    q = torch.zeros(cand.numel()).index_add_(0, inv, weights.float().square())
    p = q / q.sum() if cand.numel() else q
    entries, k = [], 0
    for s, src, slot, w in raw:
        entries.append((s, inv[k:k + src.numel()], slot, w))
        k += src.numel()
    return (cand, p), entries


def sample_layer(layer: LayerMatrices, dst: Tensor, num_samples: int, row_normalize: bool = False,
                 generator: torch.Generator | None = None) -> tuple[Tensor, list[tuple[int, Tensor, Tensor, Tensor]]]:
    """Sample one layer: ``num_samples`` draws with replacement from :func:`layer_probabilities`,
    and the debiased estimate of each non-identity matrix's rows ``dst``.

    Each entry ``C[i, j]`` of a drawn column ``j`` (drawn ``c_j`` times) becomes
    ``C[i, j] · c_j / (s · p_j)`` (Zou et al. 2019, Eq. 5 with the importance weights of Eq. 6), so
    that ``E[Ĉ] = C[dst, :]``: the layer's aggregation ``Ĉ X`` is unbiased.  With
    ``row_normalize``, each row of ``Ĉ`` is then rescaled to the row sum of ``C`` (for a mean
    aggregator, to one), as the authors' code row-normalises: lower variance, biased.

    Args:
        layer: the layer's matrices; dst: ``[D]`` global ids of the layer above's nodes.
        num_samples: ``s``, draws (the distinct sampled nodes are at most ``s``).

    Returns:
        ``(sampled [S'], entries)``: the distinct sampled nodes (global ids), and per non-identity
        matrix ``(matrix index, source [M'] global id, destination slot [M'], weight [M'])``.
    """
    (cand, p), entries = layer_probabilities(layer, dst)
    if cand.numel() == 0 or num_samples == 0:
        return cand[:0], [(s, cand[:0], slot[:0], w[:0]) for s, _, slot, w in entries]
    draws = torch.multinomial(p, num_samples, replacement=True, generator=generator)
    counts = torch.bincount(draws, minlength=cand.numel()).float()
    scale = counts / (num_samples * p.clamp(min=torch.finfo(p.dtype).tiny))
    out = []
    for s, ci, slot, w in entries:
        keep = counts[ci] > 0
        est = w[keep] * scale[ci[keep]]
        if row_normalize:
            exact = torch.zeros(dst.numel()).index_add_(0, slot, w.float())
            got = torch.zeros(dst.numel()).index_add_(0, slot[keep], est.float())
            est = est * (exact / got.clamp(min=torch.finfo(got.dtype).tiny))[slot[keep]]
        out.append((s, cand[ci[keep]], slot[keep], est))
    return cand[counts > 0], out


class LadiesSampler(BaseSampler):
    """PyG ``BaseSampler`` of LADIES: for seeds (the last layer's output nodes), layer by layer
    from the top, ``nodes_per_layer`` draws from the neighbours of the layer above
    (:func:`sample_layer`); the next layer down computes the layer above's nodes and the sampled
    ones.

    The output follows :class:`~gnnbench.methods.sampling.UniformNeighborSampler`'s layout:
    ``node`` lists the seeds first, then the nodes new at each hop (hop 0 feeds the last layer);
    ``row``/``col`` are local source/destination ids of the sampled entries ordered by hop, with
    ``num_sampled_nodes: [L + 1]`` and ``num_sampled_edges: [L]``; ``edge`` is ``None`` (an entry
    may stand for an added self-loop).  ``metadata`` is ``(input_id, time, weight [M], conv [M])``:
    the debiased weight of each entry and the index of the layer's matrix it belongs to.

    Args:
        layers: per backbone layer, bottom first, its :class:`LayerMatrices`.
        num_nodes: ``N``.
        nodes_per_layer: ``s``, draws per layer.
        row_normalize: rescale each sampled row to the exact row sum (see :func:`sample_layer`).

    Raises:
        ValueError: no layers, or ``nodes_per_layer < 1``.
    """

    def __init__(self, layers: Sequence[LayerMatrices], num_nodes: int, nodes_per_layer: int,
                 row_normalize: bool = False):
        if not layers or nodes_per_layer < 1:
            raise ValueError(f"LADIES needs at least one layer and nodes_per_layer >= 1, got {len(layers)} "
                             f"layer(s) and {nodes_per_layer}")
        self.layers, self.num_nodes = list(layers), num_nodes
        self.nodes_per_layer, self.row_normalize = nodes_per_layer, row_normalize
        self._local = torch.full((num_nodes,), -1, dtype=torch.long)

    def sample(self, seeds: Tensor) -> SamplerOutput:
        """The sampled layers of distinct ``seeds: [B]`` (global ids); metadata ``(weight, conv)``."""
        local = self._local
        seeds = seeds.to(torch.long).cpu()
        nodes = [seeds]
        local[seeds] = torch.arange(seeds.numel())
        count = seeds.numel()
        rows, cols, weights, convs, num_nodes, num_edges = [], [], [], [], [seeds.numel()], []
        try:
            for layer in reversed(self.layers):  # hop 0 feeds the last layer
                dst = torch.cat(nodes)
                sampled, entries = sample_layer(layer, dst, self.nodes_per_layer, self.row_normalize)
                new = sampled[local[sampled] < 0]
                local[new] = torch.arange(count, count + new.numel())
                count += new.numel()
                nodes.append(new)
                num_nodes.append(new.numel())
                m = 0
                for s, src, slot, w in entries:
                    rows.append(local[src])
                    cols.append(slot)
                    weights.append(w)
                    convs.append(torch.full_like(slot, s))
                    m += src.numel()
                num_edges.append(m)
        finally:
            node = torch.cat(nodes)
            local[node] = -1
        cat = (lambda xs, dtype: torch.cat(xs) if xs else torch.empty(0, dtype=dtype))
        return SamplerOutput(node=node, row=cat(rows, torch.long), col=cat(cols, torch.long), edge=None,
                             num_sampled_nodes=num_nodes, num_sampled_edges=num_edges,
                             metadata=(cat(weights, torch.float), cat(convs, torch.long)))

    def sample_from_nodes(self, index: NodeSamplerInput, **kwargs) -> SamplerOutput:
        """:meth:`sample` of ``index.node``; metadata ``(input_id, time, weight, conv)``."""
        out = self.sample(index.node)
        out.metadata = (index.input_id, index.time, *out.metadata)
        return out

    def sample_from_edges(self, index, neg_sampling=None) -> SamplerOutput:
        raise NotImplementedError("LadiesSampler samples from nodes; link prediction is not implemented")
