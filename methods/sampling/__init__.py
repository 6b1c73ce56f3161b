"""Pure-torch graph samplers on PyG's ``BaseSampler`` API, shared by the sampling baselines.

Nothing here needs pyg-lib or torch-sparse; every sampler is vectorised (loops run over hops,
walk steps or fanout draws, never over nodes).  The stable API (importing this package imports
torch and PyG; plugin modules import it inside their methods; budgets, losses and the
optimiser are the core's training kit, :mod:`gnnbench.training`):

``partition(edge_index, num_nodes, num_parts, cache_dir=None, seed=0) -> Tensor[N]``
    METIS part id per node through ``pymetis``, cached in ``cache_dir`` as
    ``metis_{num_parts}_{seed}.pt`` (checked against the graph's node and edge counts).
``metis_csr(edge_index, num_nodes) -> (xadj, adjncy)``
    the symmetric, loop-free CSR adjacency METIS partitions.
``parts_to_nodes(part, num_parts) -> (order [N], ptr [K+1])``
    nodes grouped by part.
``layerwise_inference(stack, x, edge_index, batch_size) -> Tensor[N, out]``
    layer-wise full-neighbour inference of a ``GNNStack`` in mini-batches of destination nodes;
    ``layerwise_predict`` turns it into the predictions of each split.
``lhop_inference(stack, x, edge_index, batch_size) -> Tensor[N, out]``
    mini-batches of output nodes, each with its full L-hop neighbourhood (``NeighborLoader`` with
    all neighbours, the OGB standard); ``sampled_predict(..., inference="layerwise"|"lhop")``
    gives either's predictions of each split (``INFERENCE_MODES``).
``UniformNeighborSampler(edge_index, num_nodes, fanouts)``
    GraphSAGE neighbour sampling (``BaseSampler``); ``sampled_forward`` runs a stack on its output.
``subgraph_batch(data) -> Batch``
    a collated subgraph as a :class:`~gnnbench.types.Batch`; ``subgraph_step`` takes the
    optimiser step of a subgraph's outputs (task loss, the no-training-node rule).
``InducedSubgraphSampler(edge_index, num_nodes)`` / ``RandomWalkSampler(..., walk_length)``
    induced subgraphs of given nodes (Cluster-GCN) or of random walks (GraphSAINT-RW);
    ``estimate_saint_norm`` pre-samples GraphSAINT's coefficients.
``build_csc(edge_index, num_nodes) -> CSC``
    edges sorted by destination, with vectorised ``in_edges(nodes)``.
"""
from .csr import CSC, build_csc, segment_expand
from .inference import INFERENCE_MODES, layerwise_inference, layerwise_predict, sampled_predict
from .lhop import lhop_inference
from .neighbor import UniformNeighborSampler, sample_neighbors, sampled_forward
from .partition import metis_csr, partition, parts_to_nodes
from .saint import RandomWalkSampler, SaintNorm, estimate_saint_norm, random_walk
from .subgraph import InducedSubgraphSampler, induced_subgraph, subgraph_batch, subgraph_step

__all__ = ["partition", "parts_to_nodes", "metis_csr", "layerwise_inference", "layerwise_predict",
           "lhop_inference", "sampled_predict", "INFERENCE_MODES",
           "subgraph_batch", "subgraph_step",
           "UniformNeighborSampler", "sample_neighbors", "sampled_forward", "InducedSubgraphSampler",
           "induced_subgraph", "RandomWalkSampler", "SaintNorm", "estimate_saint_norm",
           "random_walk",
           "CSC", "build_csc", "segment_expand"]
