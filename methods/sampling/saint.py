"""GraphSAINT's random-walk sampler and its normalisation coefficients (Zeng et al. ICLR 2020).

Sec. 3.2 of the paper: with ``p_v`` the probability that node ``v`` is in a sampled subgraph and
``p_{u,v}`` that edge ``(u, v)`` is, the aggregation normalisation ``α_{u,v} = p_{u,v} / p_v`` makes
``ζ_v = Σ_{u ∈ N_s(v)} Ã_{v,u} x_u / α_{u,v}`` an unbiased estimate of ``Σ_u Ã_{v,u} x_u`` given
``v`` sampled (Prop. 3.1 / Eq. 3), and the loss normalisation ``λ_v = |V| p_v`` makes
``Σ_{v ∈ G_s} L_v / λ_v`` unbiased for the mean loss (Eq. 4). Both are estimated by pre-sampling
(their Alg. 2): ``p_v ≈ C_v / S`` and ``α_{u,v} ≈ C_{u,v} / C_v`` from counts over ``S`` subgraphs.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .csr import CSC, build_csc
from .subgraph import InducedSubgraphSampler

__all__ = ["random_walk", "RandomWalkSampler", "SaintNorm", "estimate_saint_norm"]


def random_walk(csc: CSC, roots: Tensor, walk_length: int,
                generator: torch.Generator | None = None) -> Tensor:
    """Uniform random walks ``[R, walk_length + 1]`` from ``roots: [R]`` along in-edges (the
    graphs here are symmetric, so in- and out-neighbours agree); a node without neighbours stays.

    One vectorised step per walk position (a loop over ``walk_length``, none over nodes).
    """
    cur = roots.to(torch.long)
    walks = [cur]
    for _ in range(walk_length):
        start = csc.ptr[cur]
        deg = csc.ptr[cur + 1] - start
        off = (torch.rand(cur.numel(), generator=generator) * deg).long()
        off = torch.minimum(off, (deg - 1).clamp(min=0))
        nxt = csc.src[(start + off).clamp(max=max(csc.num_edges - 1, 0))] if csc.num_edges else cur
        cur = torch.where(deg > 0, nxt, cur)
        walks.append(cur)
    return torch.stack(walks, 1)


class RandomWalkSampler(InducedSubgraphSampler):
    """GraphSAINT-RW as a PyG ``BaseSampler``: the seeds are the walk roots, the subgraph is
    induced by every node the ``walk_length``-step walks visit (Zeng et al. 2020, Alg. 2).

    Args:
        edge_index: ``[2, E]``; num_nodes: ``N``; walk_length: steps per walk (≥ 0).

    Raises:
        ValueError: negative ``walk_length``.
    """

    def __init__(self, edge_index: Tensor, num_nodes: int, walk_length: int):
        if walk_length < 0:
            raise ValueError(f"walk_length={walk_length} must be >= 0")
        super().__init__(edge_index, num_nodes)
        self.walk_length = walk_length

    def expand(self, seeds: Tensor) -> Tensor:
        return torch.unique(random_walk(self.csc, seeds, self.walk_length))


@dataclass(frozen=True)
class SaintNorm:
    """Estimated GraphSAINT coefficients.

    Shapes:
        node_norm: ``[N]`` ``1 / λ_v = S / (C_v · N)`` (0 where never sampled; ``C_v`` is clamped to 1).
        edge_norm: ``[E]`` ``1 / α_{u,v} = C_v / C_{u,v}`` per original edge (1 where never sampled).
        num_samples: ``S`` subgraphs drawn; mean_nodes / mean_edges: their mean sizes.
    """

    node_norm: Tensor
    edge_norm: Tensor
    num_samples: int
    mean_nodes: float
    mean_edges: float


def estimate_saint_norm(sampler: InducedSubgraphSampler, roots_from: Tensor, num_roots: int,
                        num_samples: int, generator: torch.Generator | None = None) -> SaintNorm:
    """Pre-sample ``num_samples`` subgraphs and count nodes and edges (Zeng et al. 2020, Alg. 2).

    Args:
        sampler: e.g. a :class:`RandomWalkSampler`.
        roots_from: ``[R0]`` node ids the roots are drawn from, uniformly with replacement.
        num_roots: roots per subgraph.
        num_samples: ``S``.

    Raises:
        ValueError: ``num_samples`` or ``num_roots`` below 1, or ``roots_from`` empty.
    """
    from torch_geometric.sampler import NodeSamplerInput

    if num_samples < 1 or num_roots < 1 or roots_from.numel() == 0:
        raise ValueError(f"need num_samples >= 1 (got {num_samples}), num_roots >= 1 (got {num_roots}) "
                         f"and roots to draw from (got {roots_from.numel()})")
    n, e = sampler.num_nodes, sampler.csc.num_edges
    node_count = torch.zeros(n, dtype=torch.long)
    edge_count = torch.zeros(e, dtype=torch.long)
    total_nodes = total_edges = 0
    for _ in range(num_samples):  # a loop over subgraphs; each one is vectorised
        pick = torch.randint(0, roots_from.numel(), (num_roots,), generator=generator)
        out = sampler.sample_from_nodes(NodeSamplerInput(None, roots_from[pick]))
        node_count[out.node] += 1
        edge_count[out.edge] += 1
        total_nodes += out.node.numel()
        total_edges += out.edge.numel()
    col = sampler.csc.perm.new_empty(e)
    col[sampler.csc.perm] = torch.repeat_interleave(torch.arange(n), sampler.csc.degree())
    edge_norm = node_count[col].double() / edge_count.clamp(min=1).double()
    edge_norm = torch.where(edge_count > 0, edge_norm, torch.ones_like(edge_norm)).float()
    node_norm = (num_samples / (node_count.clamp(min=1).double() * n)).float()
    node_norm = torch.where(node_count > 0, node_norm, torch.zeros_like(node_norm))
    return SaintNorm(node_norm, edge_norm, num_samples, total_nodes / num_samples, total_edges / num_samples)
