"""Convolution matrices ``C⁽ˢ⁾`` of Eq. (1) of Ding et al. 2021: ``X⁽ˡ⁺¹⁾ = σ(Σ_s C⁽ˢ⁾ X⁽ˡ⁾ W⁽ˡ,ˢ⁾)``.

The one place of gnnbench where fixed convolution matrices are computed.  A backbone layer with
the ``fixed_convolution`` capability returns its matrices through ``conv_matrices`` built from
these functions, and every method (GraphSAINT's normalised aggregation, layer-wise inference,
VQ-GNN's batch matrices, low-bit's propagation) takes them from the backbone.

Semantics are PyG's, so that a method's matrices equal those of the layer it replaces:

* :func:`gcn_matrix` is PyG's ``gcn_norm`` (``GCNConv``): ``D̂^{-1/2} Â D̂^{-1/2}`` where ``Â`` is
  ``A`` with every explicit self-loop replaced by exactly one self-loop per node
  (``add_remaining_self_loops``); duplicate edges count once each; isolated nodes keep their loop.
* :func:`mean_matrix` is ``SAGEConv(aggr="mean")``'s aggregation ``D⁻¹A``: every edge, explicit
  self-loops and duplicates included, weighs ``1 / in-degree``; a node without in-edges gets 0.
* :func:`identity_matrix` is ``C = I`` (SAGE-Mean's root term, Table 1 of Ding et al. 2021).

Messages flow ``src → dst`` (``edge_index[0] → edge_index[1]``); entry ``C[dst, src] = weight``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["ConvMatrix", "gcn_matrix", "mean_matrix", "identity_matrix", "attention_support",
           "aggregate"]


@dataclass
class ConvMatrix:
    """One convolution matrix ``C ∈ R^{N×N}`` as a weighted edge list.

    Args:
        src, dst: ``[M]`` int64 column (sender) and row (receiver) of each non-zero.
        weight: ``[M]`` float32, ``C[dst, src]``.
        edge_id: ``[M]`` int64, the position in the ``edge_index`` it was built from of the edge
            each entry stands for, ``-1`` for a self-loop the normalisation added (one per node).
        num_nodes: ``N``.
        identity: the matrix is ``I`` (a root / self term: never crosses a batch boundary).

    Entries with the same ``(dst, src)`` (duplicate edges) are kept apart, as PyG's message
    passing keeps them.
    """

    src: Tensor
    dst: Tensor
    weight: Tensor
    edge_id: Tensor
    num_nodes: int
    identity: bool = False

    @property
    def nnz(self) -> int:
        """Number of entries ``M``."""
        return int(self.src.numel())

    def to(self, device) -> "ConvMatrix":
        """The same matrix on ``device``."""
        return ConvMatrix(self.src.to(device), self.dst.to(device), self.weight.to(device),
                          self.edge_id.to(device), self.num_nodes, self.identity)

    def to_dense(self) -> Tensor:
        """``[N, N]`` dense ``C`` (for tests on small graphs; duplicates summed)."""
        out = torch.zeros(self.num_nodes, self.num_nodes, dtype=self.weight.dtype, device=self.weight.device)
        return out.index_put_((self.dst, self.src), self.weight, accumulate=True)

    def to_sparse_csr(self) -> Tensor:
        """``[N, N]`` sparse CSR ``C`` (rows receive; duplicates summed)."""
        n = self.num_nodes
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            coo = torch.sparse_coo_tensor(torch.stack([self.dst, self.src]), self.weight.float(), (n, n))
            return coo.coalesce().to_sparse_csr()

    def on_subgraph(self, node_ids: Tensor, edge_ids: Tensor, edge_index: Tensor) -> "ConvMatrix":
        """The entries of ``C`` between the nodes of a subgraph, in its local ids, with ``C``'s
        weights (not renormalised on the subgraph: GraphSAINT, Zeng et al. 2020, Eq. 3).

        Args:
            node_ids: ``[B]`` global ids of the subgraph's nodes (local id = position).
            edge_ids: ``[M_sub]`` positions in the original ``edge_index`` of the subgraph's edges.
            edge_index: ``[2, M_sub]`` those edges in local ids.

        Returns:
            a :class:`ConvMatrix` on ``B`` nodes whose ``edge_id`` are positions in ``edge_ids``
            (``-1`` for added self-loops).
        """
        entry_of_edge, loop_entry = self._index()
        dev = self.src.device
        edge_ids = edge_ids.to(dev)
        if entry_of_edge.numel():
            inside = edge_ids < entry_of_edge.numel()
            e = torch.where(inside, entry_of_edge[edge_ids.clamp(max=entry_of_edge.numel() - 1)], -1)
        else:  # no entry stands for an edge (the identity)
            e = torch.full_like(edge_ids, -1)
        keep = e >= 0
        pos = keep.nonzero().view(-1)
        loops = loop_entry[node_ids.to(dev)]
        has = loops >= 0
        local = has.nonzero().view(-1)
        ei = edge_index.to(dev)
        return ConvMatrix(
            src=torch.cat([ei[0, pos], local]), dst=torch.cat([ei[1, pos], local]),
            weight=torch.cat([self.weight[e[pos]], self.weight[loops[local]]]),
            edge_id=torch.cat([pos, torch.full_like(local, -1)]),
            num_nodes=int(node_ids.numel()), identity=self.identity)

    def _index(self) -> tuple[Tensor, Tensor]:
        cached = getattr(self, "_cache", None)
        if cached is None:
            dev = self.src.device
            num_edges = int(self.edge_id.max()) + 1 if self.nnz else 0
            entry_of_edge = torch.full((num_edges,), -1, dtype=torch.long, device=dev)
            real = self.edge_id >= 0
            entry_of_edge[self.edge_id[real]] = real.nonzero().view(-1)
            loop_entry = torch.full((self.num_nodes,), -1, dtype=torch.long, device=dev)
            added = (~real).nonzero().view(-1)
            loop_entry[self.dst[added]] = added
            cached = self._cache = (entry_of_edge, loop_entry)
        return cached

    def __post_init__(self) -> None:
        self._cache = None


def _check(edge_index: Tensor, num_nodes: int) -> tuple[Tensor, Tensor]:
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must have shape [2, E], got {list(edge_index.shape)}")
    ei = edge_index.long()
    if ei.numel() and (int(ei.min()) < 0 or int(ei.max()) >= num_nodes):
        raise ValueError(f"edge_index names nodes outside [0, {num_nodes}); pass the graph's num_nodes")
    return ei[0], ei[1]


def gcn_matrix(edge_index: Tensor, num_nodes: int) -> ConvMatrix:
    """GCN's ``C = D̂^{-1/2} Â D̂^{-1/2}`` (Kipf & Welling 2017, Eq. 2; Table 1 of Ding et al. 2021)
    computed by PyG's ``gcn_norm`` with ``add_self_loops=True``: explicit self-loops replaced by
    one loop of weight 1 per node, the degrees counting duplicate edges.

    Shapes:
        edge_index: ``[2, E]`` → ``M = (E − explicit loops) + N`` entries.

    Raises:
        ValueError: ``edge_index`` is not ``[2, E]`` or names a node outside ``[0, num_nodes)``.
    """
    from torch_geometric.nn.conv.gcn_conv import gcn_norm

    src, dst = _check(edge_index, num_nodes)
    mask = src != dst
    kept = mask.nonzero().view(-1)
    # gcn_norm (add_remaining_self_loops) returns the non-loop edges in order, then N loops
    ei, w = gcn_norm(torch.stack([src, dst]), None, num_nodes, add_self_loops=True)
    loops = torch.full((num_nodes,), -1, dtype=torch.long, device=src.device)
    return ConvMatrix(ei[0], ei[1], w.float(), torch.cat([kept, loops]), num_nodes)


def mean_matrix(edge_index: Tensor, num_nodes: int) -> ConvMatrix:
    """SAGE-Mean's neighbour matrix ``C⁽²⁾ = D⁻¹A`` (Hamilton et al. 2017; Table 1 of Ding et al.
    2021) as ``SAGEConv(aggr="mean")`` aggregates: each in-edge of ``v`` (explicit self-loops and
    duplicates included) weighs ``1 / deg_in(v)``.

    Raises:
        ValueError: as :func:`gcn_matrix`.
    """
    from torch_geometric.utils import degree

    src, dst = _check(edge_index, num_nodes)
    deg = degree(dst, num_nodes, dtype=torch.float)
    return ConvMatrix(src, dst, 1.0 / deg[dst], torch.arange(src.numel(), device=src.device), num_nodes)


def identity_matrix(num_nodes: int, device=None) -> ConvMatrix:
    """``C⁽¹⁾ = I_N`` (SAGE-Mean's root weight, Table 1 of Ding et al. 2021)."""
    loop = torch.arange(num_nodes, device=device)
    return ConvMatrix(loop, loop, torch.ones(num_nodes, device=device),
                      torch.full((num_nodes,), -1, dtype=torch.long, device=device), num_nodes, identity=True)


def attention_support(edge_index: Tensor, num_nodes: int) -> ConvMatrix:
    """The fixed mask ``𝔠 = A + I`` of a learnable convolution (GAT, Table 1 of Ding et al. 2021):
    as ``GATConv``, explicit self-loops removed and one added per node; weights 1 (the attention
    supplies the values).

    Raises:
        ValueError: as :func:`gcn_matrix`.
    """
    src, dst = _check(edge_index, num_nodes)
    kept = (src != dst).nonzero().view(-1)
    loop = torch.arange(num_nodes, device=src.device)
    return ConvMatrix(torch.cat([src[kept], loop]), torch.cat([dst[kept], loop]),
                      torch.ones(kept.numel() + num_nodes, device=src.device),
                      torch.cat([kept, torch.full_like(loop, -1)]), num_nodes)


def aggregate(x: Tensor, src: Tensor, dst: Tensor, weight: Tensor, num_dst: int) -> Tensor:
    """``Σ_{(u→v)} w_{u,v} x_u``: the product ``C X`` for ``C`` given by its entries.

    Shapes:
        x: ``[N_src, F]``; src, dst, weight: ``[M]`` (local ids) → ``[num_dst, F]``.
    """
    out = x.new_zeros((num_dst,) + tuple(x.shape[1:]))
    w = weight.to(x.dtype).view(-1, *([1] * (x.dim() - 1)))
    return out.index_add_(0, dst, x[src] * w)
