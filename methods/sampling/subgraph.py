"""Induced subgraphs on PyG's ``BaseSampler`` API: the common step of Cluster-GCN and GraphSAINT."""
from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.sampler import BaseSampler, NodeSamplerInput, SamplerOutput

from .csr import CSC, build_csc

__all__ = ["induced_subgraph", "InducedSubgraphSampler", "subgraph_batch", "subgraph_step"]


def induced_subgraph(csc: CSC, nodes: Tensor, local: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Every edge of the graph between distinct ``nodes: [B]``, in ``O(sum of their degrees)``.

    Args:
        csc: the graph by destination.
        nodes: distinct global node ids.
        local: optional scratch ``[N]`` int64 filled with ``-1`` (left so on return).

    Returns:
        ``(row [M], col [M], edge [M])``: local source and destination ids (positions in
        ``nodes``) and original edge ids of the ``M`` induced edges.
    """
    if local is None:
        local = torch.full((csc.num_nodes,), -1, dtype=torch.long)
    local[nodes] = torch.arange(nodes.numel())
    try:
        pos, slot = csc.in_edges(nodes)
        row = local[csc.src[pos]]
        keep = row >= 0
        return row[keep], slot[keep], csc.perm[pos[keep]]
    finally:
        local[nodes] = -1


class InducedSubgraphSampler(BaseSampler):
    """A ``BaseSampler`` returning the subgraph induced by a node set; subclasses choose the set.

    ``sample_from_nodes`` takes ``index.node`` as seeds and :meth:`expand` turns them into the node
    set (the identity here: Cluster-GCN passes the nodes of its chosen partitions, restoring the
    edges between them, Chiang et al. 2019, Sec. 3.2).  The output's ``node`` lists the seeds'
    node set, ``row/col`` local ids, ``edge`` original edge ids.

    Args:
        edge_index: ``[2, E]``; num_nodes: ``N``.
    """

    def __init__(self, edge_index: Tensor, num_nodes: int):
        self.csc = build_csc(edge_index, num_nodes)
        self.num_nodes = num_nodes
        self._local = torch.full((num_nodes,), -1, dtype=torch.long)

    def expand(self, seeds: Tensor) -> Tensor:
        """The distinct nodes ``[B']`` of the subgraph started from ``seeds: [B]``."""
        return torch.unique(seeds)

    def sample_from_nodes(self, index: NodeSamplerInput, **kwargs) -> SamplerOutput:
        nodes = self.expand(index.node.to(torch.long).cpu())
        row, col, edge = induced_subgraph(self.csc, nodes, self._local)
        return SamplerOutput(node=nodes, row=row, col=col, edge=edge,
                             metadata=(index.input_id, index.time))

    def sample_from_edges(self, index, neg_sampling=None) -> SamplerOutput:
        raise NotImplementedError(f"{type(self).__name__} samples subgraphs from nodes; for link "
                                  "prediction the subgraph's own edges are the positives")


def subgraph_batch(data):
    """A :class:`~gnnbench.types.Batch` of a collated subgraph (PyG ``Data`` with ``n_id``,
    ``e_id``): its nodes and edges."""
    from gnnbench.types import Batch

    return Batch(data=data, num_nodes=int(data.num_nodes), num_messages=int(data.edge_index.size(1)))


def subgraph_step(model, optimizer, h: Tensor, data, link: bool, train_mask: Tensor, multilabel: bool,
                  node_weight: Tensor | None = None) -> float:
    """One optimiser step of a subgraph method (Cluster-GCN, GraphSAINT) from the outputs
    ``h: [B, D]`` of the model on subgraph ``data``.

    Link prediction: the subgraph's edges are the positives, as many random pairs of its nodes
    the negatives (:func:`gnnbench.tasks.pair_loss`).  Node tasks: the loss over the subgraph's
    training nodes (``train_mask: [N]`` global), weighted by ``node_weight: [N]`` when given
    (GraphSAINT's ``1 / λ_v``).  A subgraph without a training node (or edge) takes no step
    (:func:`gnnbench.training.no_step`).
    """
    from gnnbench.tasks import node_loss, pair_loss
    from gnnbench.training import no_step, optimise

    if link:
        if data.edge_index.size(1) == 0:
            return no_step()
        return optimise(optimizer, pair_loss(model.predictor, h, data.edge_index))
    mask = train_mask[data.n_id]
    if not bool(mask.any()):
        return no_step()
    weight = None if node_weight is None else node_weight[data.n_id[mask]]
    return optimise(optimizer, node_loss(h[mask], data.y[mask], multilabel, weight))
