"""Uniform neighbour sampling with one fanout per layer (Hamilton et al. 2017, Alg. 2), pure torch."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor
from torch_geometric.sampler import (BaseSampler, EdgeSamplerInput, NegativeSampling,
                                     NodeSamplerInput, SamplerOutput)

from .csr import CSC, build_csc, segment_expand

__all__ = ["UniformNeighborSampler", "sample_neighbors", "sampled_forward"]


def sample_neighbors(csc: CSC, nodes: Tensor, fanout: int,
                     generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Choose, for each of ``nodes: [B]``, ``fanout`` distinct in-neighbours uniformly at random.

    A node with at most ``fanout`` in-neighbours keeps them all; ``fanout < 0`` keeps all of every
    node's.  Larger neighbourhoods are subsampled without replacement by Floyd's algorithm run on
    all nodes at once (a loop over the ``fanout`` draws, none over nodes), so every ``fanout``-subset
    is equally likely and the cost is ``O(B · fanout²)`` whatever the degrees.

    Returns:
        ``(pos [M], dst_slot [M])``: positions into the CSC's sorted edges and the position in
        ``nodes`` of each chosen edge's destination.
    """
    deg = csc.degree(nodes)
    if fanout < 0:
        return csc.in_edges(nodes)
    small = deg <= fanout
    small_slots = small.nonzero().view(-1)
    slot_s, off_s = segment_expand(deg[small_slots])
    pos_s = csc.ptr[nodes[small_slots]][slot_s] + off_s
    dst_s = small_slots[slot_s]
    big = (~small).nonzero().view(-1)
    if big.numel() == 0 or fanout == 0:
        return pos_s, dst_s
    d = deg[big]
    chosen = torch.empty(big.numel(), 0, dtype=torch.long)
    for j in range(fanout):  # Floyd: for t = d-k .. d-1, draw r in [0, t]; take t if r is taken
        t = d - fanout + j
        r = (torch.rand(big.numel(), generator=generator) * (t + 1).to(torch.float64)).long()
        r = torch.minimum(r, t)
        taken = (chosen == r.unsqueeze(1)).any(1)
        chosen = torch.cat([chosen, torch.where(taken, t, r).unsqueeze(1)], 1)
    pos_b = (csc.ptr[nodes[big]].unsqueeze(1) + chosen).view(-1)
    dst_b = big.repeat_interleave(fanout)
    return torch.cat([pos_s, pos_b]), torch.cat([dst_s, dst_b])


class UniformNeighborSampler(BaseSampler):
    """PyG ``BaseSampler`` drawing ``fanouts[h]`` neighbours per node at hop ``h`` (GraphSAGE).

    Plugs into ``torch_geometric.loader.NodeLoader`` / ``LinkLoader``; the output follows PyG's
    ``NeighborSampler`` layout: ``node`` lists the seeds first, then the nodes new at each hop;
    edges are ordered by hop, with ``num_sampled_nodes: [L + 1]`` and ``num_sampled_edges: [L]``
    per hop, so :func:`sampled_forward` can run layer ``i`` on the hops it needs only.  Only the
    nodes that are new at a hop are expanded at the next (PyG's default, not its disjoint mode).

    Args:
        edge_index: ``[2, E]`` the graph sampled from (source → destination).
        num_nodes: ``N``.
        fanouts: neighbours per node at each hop (outermost last: ``fanouts[0]`` is drawn for
            the seeds, the last layer's neighbourhood); ``-1`` takes all.

    Raises:
        ValueError: ``fanouts`` is empty or has a value below ``-1``.
    """

    def __init__(self, edge_index: Tensor, num_nodes: int, fanouts: Sequence[int]):
        fanouts = [int(k) for k in fanouts]
        if not fanouts or any(k < -1 for k in fanouts):
            raise ValueError(f"fanouts {fanouts} must be a non-empty list of ints >= -1 (-1 = all)")
        self.csc = build_csc(edge_index, num_nodes)
        self.num_nodes = num_nodes
        self.fanouts = fanouts
        self._local = torch.full((num_nodes,), -1, dtype=torch.long)

    def sample(self, seeds: Tensor) -> SamplerOutput:
        """Sample the computation graph of distinct ``seeds: [B]`` (global ids, CPU)."""
        local = self._local
        seeds = seeds.to(torch.long).cpu()
        local[seeds] = torch.arange(seeds.numel())
        node_parts, rows, cols, edges = [seeds], [], [], []
        num_nodes, num_edges = [seeds.numel()], []
        frontier, count = seeds, seeds.numel()
        try:
            for fanout in self.fanouts:
                pos, slot = sample_neighbors(self.csc, frontier, fanout)
                src = self.csc.src[pos]
                new = torch.unique(src[local[src] < 0])
                local[new] = torch.arange(count, count + new.numel())
                count += new.numel()
                rows.append(local[src])
                cols.append(local[frontier[slot]])
                edges.append(self.csc.perm[pos])
                node_parts.append(new)
                num_nodes.append(new.numel())
                num_edges.append(pos.numel())
                frontier = new
        finally:
            node = torch.cat(node_parts)
            local[node] = -1
        return SamplerOutput(node=node, row=torch.cat(rows), col=torch.cat(cols), edge=torch.cat(edges),
                             num_sampled_nodes=num_nodes, num_sampled_edges=num_edges)

    def sample_from_nodes(self, index: NodeSamplerInput, **kwargs) -> SamplerOutput:
        """The computation graph of ``index.node`` (distinct seeds), metadata ``(input_id, time)``."""
        out = self.sample(index.node)
        out.metadata = (index.input_id, index.time)
        return out

    def sample_from_edges(self, index: EdgeSamplerInput,
                          neg_sampling: NegativeSampling | None = None) -> SamplerOutput:
        """The computation graph of the endpoints of ``index.row/col`` (plus uniformly random
        negative pairs for ``NegativeSampling("binary", amount)``).

        Metadata is ``(input_id, edge_label_index [2, P+Q] local ids, edge_label [P+Q], None)``,
        labels 1 for the given edges (or their own labels) and 0 for the negatives.

        Raises:
            ValueError: triplet negative sampling (not implemented here; use "binary").
        """
        row, col = index.row.to(torch.long), index.col.to(torch.long)
        label = index.label if index.label is not None else torch.ones(row.numel())
        if neg_sampling is not None:
            if not neg_sampling.is_binary():
                raise ValueError(f"negative sampling mode '{neg_sampling.mode}' is not supported by "
                                 "UniformNeighborSampler; use NegativeSampling('binary')")
            num_neg = int(round(row.numel() * float(neg_sampling.amount)))
            neg = torch.randint(0, self.num_nodes, (2, num_neg))
            row, col = torch.cat([row, neg[0]]), torch.cat([col, neg[1]])
            label = torch.cat([label, label.new_zeros(num_neg)])
        seeds, inverse = torch.unique(torch.cat([row, col]), return_inverse=True)
        out = self.sample(seeds)
        out.metadata = (index.input_id, inverse.view(2, -1), label, None)
        return out


def sampled_forward(stack, x: Tensor, edge_index: Tensor, num_sampled_nodes: Sequence[int],
                    num_sampled_edges: Sequence[int]) -> Tensor:
    """Run a :class:`~gnnbench.backbones.base.GNNStack` on a sampled computation graph, layer ``i``
    only on the hops it needs (PyG's ``trim_to_layer``): the seeds' outputs equal those of the
    full stack on the same sampled edges.

    Shapes:
        x: ``[N_sub, F]`` features of the sampled nodes (seeds first); edge_index ``[2, E_sub]``
        local ids, ordered by hop → ``[num_sampled_nodes[0], out]`` (the seeds).

    Raises:
        ValueError: the stack has more layers than sampled hops.
    """
    L = stack.num_layers
    if len(num_sampled_edges) < L:
        raise ValueError(f"{len(num_sampled_edges)} sampled hops cannot feed {L} layers; "
                         f"give one fanout per layer")
    nodes = list(num_sampled_nodes)
    edges = list(num_sampled_edges)
    for i in range(L):
        n_dst = sum(nodes[:L - i])
        e = sum(edges[:L - i])
        x = stack.layer(i, (x, x[:n_dst]), edge_index[:, :e])
    return x
