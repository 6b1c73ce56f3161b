"""VQ-GNN's ``cont`` batching: node batches that follow one another along random walks.

The reference implementation of Ding et al. (2021) trains on Reddit and ogbl-collab with this
sampler: a batch ``B_0`` of ``b`` random nodes is followed by ``walk_length`` batches, batch
``B_{t+1}`` the distinct nodes reached by one random-walk step from three copies of every node of
``B_t`` (at most ``b`` of them, drawn at random; the reference keeps the ``b`` smallest ids,
which favours low ids).  Consecutive batches are neighbourhoods of one another, so the
codewords of the previous batch's nodes were refreshed by the last step.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.sampler import BaseSampler, NodeSamplerInput, SamplerOutput

from gnnbench.methods.sampling.csr import build_csc
from gnnbench.methods.sampling.saint import random_walk

__all__ = ["ContinuousWalkSampler", "cont_node_batches"]

#: copies of each node of a batch that take a walk step (the reference implementation's 3)
WALKERS_PER_NODE = 3


class ContinuousWalkSampler(BaseSampler):
    """``cont`` batches as a PyG ``BaseSampler``: the seeds are the first batch, the output holds
    it and the ``walk_length`` batches that follow it.

    Args:
        edge_index: ``[2, E]``; num_nodes: ``N``; walk_length: batches after the first (≥ 0;
            the reference uses 3 on Reddit and 15 on ogbl-collab).
        generator: RNG of the walks and of the choice among the reached nodes.

    ``sample_from_nodes`` returns a ``SamplerOutput`` whose ``node: [Σ b_t]`` lists the batches'
    nodes one batch after another and ``batch: [Σ b_t]`` the batch ``t`` of each (no edges: VQ-GNN
    splits the messages itself, :func:`~.batching.epoch_batches`).

    Raises:
        ValueError: negative ``walk_length``.
    """

    def __init__(self, edge_index: Tensor, num_nodes: int, walk_length: int,
                 generator: torch.Generator | None = None):
        if walk_length < 0:
            raise ValueError(f"walk_length={walk_length} must be >= 0 batches after the first")
        self.csc = build_csc(edge_index.cpu(), num_nodes)
        self.walk_length, self.generator = walk_length, generator

    def _step(self, nodes: Tensor, size: int) -> Tensor:
        walkers = nodes.repeat(WALKERS_PER_NODE)
        reached = torch.unique(random_walk(self.csc, walkers, 1, self.generator)[:, 1])
        return reached[torch.randperm(reached.numel(), generator=self.generator)[:size]]

    def sample_from_nodes(self, index: NodeSamplerInput, **kwargs) -> SamplerOutput:
        cur = torch.unique(index.node.to(torch.long).cpu())
        size = cur.numel()
        steps = [cur]
        for _ in range(self.walk_length):
            cur = self._step(cur, size)
            steps.append(cur)
        batch = torch.cat([torch.full((s.numel(),), t, dtype=torch.long) for t, s in enumerate(steps)])
        empty = torch.zeros(0, dtype=torch.long)
        return SamplerOutput(node=torch.cat(steps), row=empty, col=empty, edge=empty, batch=batch,
                             metadata=(index.input_id, index.time))

    def sample_from_edges(self, index, neg_sampling=None) -> SamplerOutput:
        raise NotImplementedError(f"{type(self).__name__} draws node batches; link prediction trains "
                                  "on the positive edges inside them")


def cont_node_batches(sampler: ContinuousWalkSampler, num_nodes: int, batch_size: int,
                      generator: torch.Generator | None = None) -> list[Tensor]:
    """One epoch of ``cont`` batches: a random permutation of the nodes cut into seed batches of
    ``batch_size``, each followed by its ``walk_length`` walk batches (``ceil(N / b) ·
    (walk_length + 1)`` batches of at most ``b`` nodes)."""
    out = []
    for seeds in torch.randperm(num_nodes, generator=generator).split(batch_size):
        res = sampler.sample_from_nodes(NodeSamplerInput(None, seeds))
        out += list(res.node.split(torch.bincount(res.batch).tolist()))
    return out
