"""Compressed adjacency by destination (CSC) and vectorised neighbourhood gathers, pure torch.

Message passing in PyG sends along ``edge_index[0] → edge_index[1]`` (source → destination), so the
neighbours a node aggregates are its *in*-neighbours: the CSC layout sorts the edges by destination.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["CSC", "build_csc", "segment_expand"]


@dataclass(frozen=True)
class CSC:
    """A graph's edges sorted by destination.

    Shapes:
        ptr: ``[N + 1]`` int64; the in-edges of node ``v`` are positions ``ptr[v] : ptr[v + 1]``.
        src: ``[E]`` int64 source node of each sorted edge.
        perm: ``[E]`` int64 position of each sorted edge in the original ``edge_index``.
    """

    ptr: Tensor
    src: Tensor
    perm: Tensor

    @property
    def num_nodes(self) -> int:
        return self.ptr.numel() - 1

    @property
    def num_edges(self) -> int:
        return self.src.numel()

    def degree(self, nodes: Tensor | None = None) -> Tensor:
        """In-degrees ``[len(nodes)]`` (all nodes when ``nodes`` is ``None``)."""
        if nodes is None:
            return self.ptr[1:] - self.ptr[:-1]
        return self.ptr[nodes + 1] - self.ptr[nodes]

    def in_edges(self, nodes: Tensor) -> tuple[Tensor, Tensor]:
        """All in-edges of ``nodes: [B]``: ``(pos [M], dst_slot [M])``.

        ``pos`` indexes the sorted edges (``src[pos]`` is the source, ``perm[pos]`` the original
        edge id) and ``dst_slot`` is the position in ``nodes`` of each edge's destination.
        ``M = sum(degree(nodes))``; no Python loop over nodes.
        """
        start = self.ptr[nodes]
        deg = self.ptr[nodes + 1] - start
        slot, offset = segment_expand(deg)
        return start[slot] + offset, slot


def build_csc(edge_index: Tensor, num_nodes: int) -> CSC:
    """Sort ``edge_index: [2, E]`` by destination into a :class:`CSC` (stable within a node).

    Raises:
        ValueError: ``edge_index`` is not ``[2, E]`` or names a node outside ``[0, num_nodes)``.
    """
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must have shape [2, E], got {list(edge_index.shape)}")
    edge_index = edge_index.to(torch.long).cpu()
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= num_nodes):
        raise ValueError(f"edge_index names nodes outside [0, {num_nodes}); pass the graph's num_nodes")
    dst = edge_index[1]
    perm = torch.argsort(dst, stable=True)
    counts = torch.bincount(dst, minlength=num_nodes)
    ptr = torch.zeros(num_nodes + 1, dtype=torch.long)
    torch.cumsum(counts, 0, out=ptr[1:])
    return CSC(ptr=ptr, src=edge_index[0][perm], perm=perm)


def segment_expand(counts: Tensor) -> tuple[Tensor, Tensor]:
    """For segment lengths ``counts: [B]``, ``(segment id [M], offset within segment [M])``.

    ``M = counts.sum()``. E.g. ``counts = [2, 0, 3]`` → ``([0, 0, 2, 2, 2], [0, 1, 0, 1, 2])``.
    """
    slot = torch.repeat_interleave(torch.arange(counts.numel(), device=counts.device), counts)
    starts = torch.cumsum(counts, 0) - counts
    offset = torch.arange(slot.numel(), device=counts.device) - starts[slot]
    return slot, offset
