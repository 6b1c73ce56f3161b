"""Mini-batches of VQ-GNN: node batches and their three kinds of messages.

Ding et al. 2021, Sec. 4, Fig. 2: for a batch ``B`` of ``b`` nodes the convolution matrix splits
into intra-batch messages ``C_in`` (green, exact), messages from out-of-batch nodes ``C_out``
(red, Eq. (6): replaced by ``C̃_out = C_out R``) and messages that batch nodes send to
out-of-batch nodes (blue, Eq. (7): ``(C̃ᵀ)_out``, used in back-propagation only).  ``C̃_out`` is
kept in factored form: the red messages of ``C_out`` and the codeword tuples (rows of ``R``) of
their distinct senders, so that a message costs one gather of a projected codeword.

All index work is vectorised; an epoch's batches are found with two sorts of the edge list.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch
from torch import Tensor

__all__ = ["ConvGraph", "conv_graph", "NodeBatch", "EpochPlan", "epoch_batches", "iter_epoch_batches",
           "overlapping_batches", "random_node_batches", "cluster_node_batches", "message_split",
           "senders_in_order"]


@dataclass
class ConvGraph:
    """The non-zeros of a backbone's convolution matrices ``C⁽ˢ⁾`` (Eq. (1)) on the whole graph,
    as the backbone provides them (:meth:`~gnnbench.backbones.base.GNNStack.conv_matrices`, or
    the support ``A + I`` of a learnable convolution), all supports in one list.

    Shapes:
        src, dst: ``[E']`` int64, the message ``src → dst`` is ``C⁽ˢ⁾[dst, src]``.
        weight: ``[E']`` float (1 on a learnable convolution's support: the attention weighs).
        support: ``[E']`` int64, the matrix ``s`` of each entry (``0 ≤ s < num_supports``).
    """

    src: Tensor
    dst: Tensor
    weight: Tensor
    num_nodes: int
    support: Tensor | None = None
    num_supports: int = 1

    def __post_init__(self) -> None:
        if self.support is None:
            self.support = torch.zeros_like(self.src)


def conv_graph(stack, edge_index: Tensor, num_nodes: int) -> ConvGraph:
    """The convolution matrices of ``stack`` (a :class:`~gnnbench.backbones.base.GNNStack`) on a
    graph: those of its ``fixed_convolution`` layers, or the ``A + I`` support of its attention.

    Raises:
        ValueError: the backbone has neither capability, or its layers' matrices differ (VQ-GNN
            splits one set of matrices among the batches of every layer).
    """
    if stack.has("fixed_convolution"):
        mats = stack.conv_matrices(0, edge_index, num_nodes)
        for i in range(1, stack.num_layers):
            other = stack.conv_matrices(i, edge_index, num_nodes)
            if len(other) != len(mats) or any(not torch.equal(a.weight, b.weight) or not torch.equal(a.src, b.src)
                                              for a, b in zip(mats, other)):
                raise ValueError(f"layer {i} of this backbone has other convolution matrices than layer 0; "
                                 "vqgnn needs the same matrices at every layer")
    elif stack.has("attention"):
        mats = [stack.attention_support(0, edge_index, num_nodes)]
    else:
        raise ValueError("vqgnn needs a backbone with fixed_convolution or attention layers")
    support = torch.cat([torch.full_like(m.src, s) for s, m in enumerate(mats)])
    return ConvGraph(torch.cat([m.src for m in mats]), torch.cat([m.dst for m in mats]),
                     torch.cat([m.weight for m in mats]).float(), num_nodes, support, len(mats))


@dataclass
class NodeBatch:
    """One batch: its nodes and its green, red and blue messages (global ids where out-of-batch).

    Shapes:
        nodes: ``[b]`` global ids; in_src, in_dst: ``[E_in]`` local ids, in_w: ``[E_in]``;
        in_s, out_s, bw_s: the matrix ``s`` of each green, red and blue message.
        out_dst: ``[E_out]`` local receiver, out_src: ``[E_out]`` global sender, out_w.
        out_nodes: ``[U_out]`` the distinct out-of-batch senders; out_inv: ``[E_out]`` the
        position of each red message's sender in ``out_nodes``.
        bw_src: ``[E_bw]`` local sender, bw_dst: ``[E_bw]`` global receiver, bw_w = ``C[dst, src]``;
        bw_nodes: ``[U_bw]`` the distinct out-of-batch receivers, bw_inv: ``[E_bw]``.
        red, blue: per layer, the codeword tuples ``[P, U_out]`` of ``out_nodes`` (the rows of
        ``R⁽ˡ⁾`` that ``C̃_out = C_out R⁽ˡ⁾`` needs, Eq. (6)) and ``[P, U_bw]`` of ``bw_nodes``
        (``(Cᵀ)_out R⁽ˡ⁾``, Eq. (7)), read when the batch is drawn
        (:meth:`~.model.VQModel.sketch_batch`).
    """

    nodes: Tensor
    in_src: Tensor
    in_dst: Tensor
    in_w: Tensor
    out_dst: Tensor
    out_src: Tensor
    out_w: Tensor
    bw_src: Tensor
    bw_dst: Tensor
    bw_w: Tensor
    in_s: Tensor | None = None
    out_s: Tensor | None = None
    bw_s: Tensor | None = None
    out_nodes: Tensor | None = None
    out_inv: Tensor | None = None
    bw_nodes: Tensor | None = None
    bw_inv: Tensor | None = None
    red: list = field(default_factory=list)
    blue: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, like in (("in_s", self.in_src), ("out_s", self.out_src), ("bw_s", self.bw_src)):
            if getattr(self, name) is None:
                setattr(self, name, torch.zeros_like(like))
        if self.out_nodes is None:
            self.out_nodes, self.out_inv = torch.unique(self.out_src, return_inverse=True)
        if self.bw_nodes is None:
            self.bw_nodes, self.bw_inv = torch.unique(self.bw_dst, return_inverse=True)

    def matrix(self, kind: str, num_supports: int) -> Tensor:
        """The batch's messages of one kind as a sparse CSR matrix (built once, then kept), so that
        a layer aggregates them by one sparse-dense product instead of a gather and a scatter of
        ``[E, f]`` message rows:

        - ``"in"``: ``[b, b·S]``, ``C_in`` (green): row = receiver, column = sender·S + s;
        - ``"out"``: ``[b, U_out·S]``, ``C_out`` over the distinct senders (red): column =
          position of the sender in ``out_nodes``·S + s;
        - ``"out_by_support"``: ``[b·S, U_out]``, the same messages with row = receiver·S + s
          (one aggregate of the senders' rows per matrix);
        - ``"bw"``: ``[b·S, U_bw]``, ``(Cᵀ)_out`` (blue): row = sender·S + s, column = position
          of the receiver in ``bw_nodes``.
        """
        key = f"_matrix_{kind}"
        mat = self.extra.get(key)
        if mat is None:
            b, S = self.nodes.numel(), num_supports
            if kind == "in":
                rows, cols, vals, shape = self.in_dst, self.in_src * S + self.in_s, self.in_w, (b, b * S)
            elif kind == "out":
                rows, cols, vals, shape = (self.out_dst, self.out_inv * S + self.out_s, self.out_w,
                                           (b, self.out_nodes.numel() * S))
            elif kind == "out_by_support":
                rows, cols, vals, shape = (self.out_dst * S + self.out_s, self.out_inv, self.out_w,
                                           (b * S, self.out_nodes.numel()))
            else:
                rows, cols, vals, shape = (self.bw_src * S + self.bw_s, self.bw_inv, self.bw_w,
                                           (b * S, self.bw_nodes.numel()))
            mat = self.extra[key] = _csr(rows, cols, vals, shape)
        return mat

    @property
    def num_messages(self) -> int:
        """Messages of one layer: intra-batch (exact) plus out-of-batch (from codewords)."""
        return int(self.in_src.numel()) + int(self.out_src.numel())


def _csr(rows: Tensor, cols: Tensor, vals: Tensor, shape: tuple[int, int]) -> Tensor:
    """A sparse CSR ``shape`` matrix of the entries ``(rows[e], cols[e]) = vals[e]`` (repeated
    entries add up when it multiplies)."""
    order = torch.argsort(rows * max(1, shape[1]) + cols)
    crow = torch.zeros(shape[0] + 1, dtype=torch.long, device=rows.device)
    torch.cumsum(torch.bincount(rows, minlength=shape[0]), 0, out=crow[1:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "sparse CSR support is in beta"
        return torch.sparse_csr_tensor(crow, cols[order], vals[order], shape)


def random_node_batches(num_nodes: int, batch_size: int, generator: torch.Generator | None = None) -> list[Tensor]:
    """A random permutation of the nodes cut into batches of ``batch_size`` (the paper's batches)."""
    perm = torch.randperm(num_nodes, generator=generator)
    return list(perm.split(batch_size))


def cluster_node_batches(part: Tensor, num_parts: int, parts_per_batch: int,
                         generator: torch.Generator | None = None) -> list[Tensor]:
    """Batches of ``parts_per_batch`` random METIS parts each (Cluster-GCN's stochastic multiple
    partitions); ``part: [n]`` part id of every node."""
    order = torch.argsort(part, stable=True)
    sizes = torch.bincount(part, minlength=num_parts)
    groups = list(order.split(sizes.tolist()))
    perm = torch.randperm(num_parts, generator=generator).tolist()
    return [torch.cat([groups[p] for p in perm[s:s + parts_per_batch]])
            for s in range(0, num_parts, parts_per_batch)]


def epoch_batches(cg: ConvGraph, batches: list[Tensor]) -> list[NodeBatch]:
    """Split the messages of ``cg`` among ``batches`` (disjoint node sets covering some nodes)."""
    return list(iter_epoch_batches(cg, batches))


def iter_epoch_batches(cg: ConvGraph, batches: list[Tensor]):
    """:func:`epoch_batches` one batch at a time: only the two sorts of the edge list and the
    current batch's messages are held (training draws an epoch this way)."""
    n = cg.num_nodes
    dev = cg.src.device
    batch_of = batch_membership(n, batches, dev)
    local = torch.zeros(n, dtype=torch.long, device=dev)
    for nodes in batches:
        local[nodes.to(dev)] = torch.arange(nodes.numel(), device=dev)
    bs, bd = batch_of[cg.src], batch_of[cg.dst]
    t_count = len(batches)
    # group edges by the receiver's batch (green and red) and by the sender's batch (blue)
    od = torch.argsort(bd, stable=True)
    pd = torch.zeros(t_count + 2, dtype=torch.long, device=dev)
    torch.cumsum(torch.bincount(bd + 1, minlength=t_count + 1), 0, out=pd[1:])
    cross = bs != bd
    os_ = torch.argsort(torch.where(cross, bs, -1), stable=True)
    ps = torch.zeros(t_count + 2, dtype=torch.long, device=dev)
    torch.cumsum(torch.bincount(torch.where(cross, bs, -1) + 1, minlength=t_count + 1), 0, out=ps[1:])
    for t, nodes in enumerate(batches):
        e = od[pd[t + 1]:pd[t + 2]]
        same = bs[e] == t
        ei, eo = e[same], e[~same]
        eb = os_[ps[t + 1]:ps[t + 2]]
        yield NodeBatch(
            nodes=nodes.to(dev),
            in_src=local[cg.src[ei]], in_dst=local[cg.dst[ei]], in_w=cg.weight[ei],
            out_dst=local[cg.dst[eo]], out_src=cg.src[eo], out_w=cg.weight[eo],
            bw_src=local[cg.src[eb]], bw_dst=cg.dst[eb], bw_w=cg.weight[eb],
            in_s=cg.support[ei], out_s=cg.support[eo], bw_s=cg.support[eb])


class EpochPlan:
    """One pass over fixed node batches whose :class:`NodeBatch` objects are built when it is
    iterated (:func:`iter_epoch_batches`, one batch at a time), as often as it is iterated: only
    the node lists are kept (``n`` ids), not the pass's messages (``O(m)``: several GB on a graph
    of millions of nodes)."""

    def __init__(self, cg: ConvGraph, batches: list[Tensor]):
        self.cg, self.batches = cg, list(batches)

    def __iter__(self):
        return iter_epoch_batches(self.cg, self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def batch_membership(num_nodes: int, batches: list[Tensor], device=None) -> Tensor:
    """``[n]`` int64: the batch of every node (``-1``: in none) of disjoint ``batches``."""
    batch_of = torch.full((num_nodes,), -1, dtype=torch.long, device=device)
    for t, nodes in enumerate(batches):
        batch_of[nodes.to(batch_of.device)] = t
    return batch_of


def message_split(cg: ConvGraph, batches: list[Tensor]) -> tuple[int, int]:
    """``(intra-batch, out-of-batch)`` messages that the receivers in disjoint ``batches`` take
    from ``cg`` (all supports): the green and the red messages of :func:`iter_epoch_batches`."""
    batch_of = batch_membership(cg.num_nodes, batches, cg.src.device)
    bd = batch_of[cg.dst]
    keep = bd >= 0
    same = int((keep & (batch_of[cg.src] == bd)).sum())
    return same, int(keep.sum()) - same


def senders_in_order(cg: ConvGraph) -> tuple[Tensor, Tensor]:
    """The entries of ``cg`` grouped by sender: ``(order [E'], ptr [n + 1])``, the entries of
    sender ``u`` being ``order[ptr[u]:ptr[u + 1]]``."""
    order = torch.argsort(cg.src, stable=True)
    ptr = torch.zeros(cg.num_nodes + 1, dtype=torch.long, device=cg.src.device)
    torch.cumsum(torch.bincount(cg.src, minlength=cg.num_nodes), 0, out=ptr[1:])
    return order, ptr


def _by_receiver_and_sender(cg: ConvGraph):
    """The entries of ``cg`` sorted by receiver and by sender (two CSC indices), kept on ``cg``."""
    from gnnbench.methods.sampling.csr import build_csc

    idx = getattr(cg, "_csc", None)
    if idx is None:
        ei = torch.stack([cg.src, cg.dst]).cpu()
        idx = cg._csc = (build_csc(ei, cg.num_nodes), build_csc(ei.flip(0), cg.num_nodes))
    return idx


def overlapping_batches(cg: ConvGraph, batches: list[Tensor]):
    """As :func:`iter_epoch_batches` for batches that may share nodes (``cont`` walk batches),
    one batch at a time in ``O(Σ degrees of its nodes)`` through two CSC indices of ``cg``."""
    by_dst, by_src = _by_receiver_and_sender(cg)
    n, dev = cg.num_nodes, cg.src.device
    local = torch.full((n,), -1, dtype=torch.long)
    for nodes in batches:
        nodes = nodes.cpu()
        local[nodes] = torch.arange(nodes.numel())
        pos, _ = by_dst.in_edges(nodes)
        e = by_dst.perm[pos]
        inside = local[cg.src[e].cpu()] >= 0
        ei, eo = e[inside].to(dev), e[~inside].to(dev)
        pos, _ = by_src.in_edges(nodes)
        eb = by_src.perm[pos]
        eb = eb[local[cg.dst[eb].cpu()] < 0].to(dev)
        loc = local.to(dev)
        nb = NodeBatch(
            nodes=nodes.to(dev),
            in_src=loc[cg.src[ei]], in_dst=loc[cg.dst[ei]], in_w=cg.weight[ei],
            out_dst=loc[cg.dst[eo]], out_src=cg.src[eo], out_w=cg.weight[eo],
            bw_src=loc[cg.src[eb]], bw_dst=cg.dst[eb], bw_w=cg.weight[eb],
            in_s=cg.support[ei], out_s=cg.support[eo], bw_s=cg.support[eb])
        local[nodes] = -1
        yield nb
