"""Pure-torch graph samplers on PyG's ``BaseSampler`` API, shared by the sampling baselines.

Nothing here needs pyg-lib or torch-sparse; every sampler is vectorised (loops run over hops,
walk steps or fanout draws, never over nodes).  The stable API (importing this package imports
torch and PyG; plugin modules import it inside their methods):

``partition(edge_index, num_nodes, num_parts, cache_dir=None, seed=0) -> Tensor[N]``
    METIS part id per node through ``pymetis``, cached in ``cache_dir`` as
    ``metis_{num_parts}_{seed}.pt`` (checked against the graph's node and edge counts).
``parts_to_nodes(part, num_parts) -> (order [N], ptr [K+1])``
    nodes grouped by part.
``layerwise_inference(stack, x, edge_index, batch_size) -> Tensor[N, out]``
    layer-wise full-neighbour inference of a ``GNNStack`` in mini-batches of destination nodes.
``solve_budget(measure, budget, lo, hi) -> int | None``
    largest batch parameter whose pilot batches meet ``budget.nodes_per_batch`` or
    ``budget.messages_per_batch``; ``budget_target(budget)`` names which.
``UniformNeighborSampler(edge_index, num_nodes, fanouts)``
    GraphSAGE neighbour sampling (``BaseSampler``); ``sampled_forward`` runs a stack on its output.
``InducedSubgraphSampler(edge_index, num_nodes)`` / ``RandomWalkSampler(..., walk_length)``
    induced subgraphs of given nodes (Cluster-GCN) or of random walks (GraphSAINT-RW);
    ``estimate_saint_norm`` pre-samples GraphSAINT's coefficients.
``weighted_layer(stack, i, x, edge_index, edge_weight, self_weight, num_dst)``
    one layer with explicit aggregation weights (``full_aggregation_weights`` gives the graph's).
``build_csc(edge_index, num_nodes) -> CSC``
    edges sorted by destination, with vectorised ``in_edges(nodes)``.
"""
from .budget import budget_target, solve_budget
from .csr import CSC, build_csc, segment_expand
from .inference import layerwise_inference
from .neighbor import UniformNeighborSampler, sample_neighbors, sampled_forward
from .partition import partition, parts_to_nodes
from .propagate import full_aggregation_weights, weighted_layer
from .saint import RandomWalkSampler, SaintNorm, estimate_saint_norm, random_walk, saint_aggregate
from .subgraph import InducedSubgraphSampler, induced_subgraph

__all__ = ["partition", "parts_to_nodes", "layerwise_inference", "solve_budget", "budget_target",
           "UniformNeighborSampler", "sample_neighbors", "sampled_forward", "InducedSubgraphSampler",
           "induced_subgraph", "RandomWalkSampler", "SaintNorm", "estimate_saint_norm",
           "random_walk", "saint_aggregate", "weighted_layer", "full_aggregation_weights",
           "CSC", "build_csc", "segment_expand"]
