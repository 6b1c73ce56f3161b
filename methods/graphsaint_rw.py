"""GraphSAINT-RW: subgraphs induced by random walks, with normalised aggregation and loss (Zeng et al. 2020)."""
from __future__ import annotations

from typing import ClassVar, Sequence

from pydantic import ConfigDict, Field

from gnnbench.types import Batch, Prediction, Task

from ._inference_options import InferenceOptions

__all__ = ["GraphSAINTRW"]


class GraphSAINTRW:
    """GraphSAINT with its random-walk sampler (Zeng et al. ICLR 2020, Alg. 1–2).

    Each batch is the subgraph induced by the nodes that ``num_roots`` random walks of
    ``walk_length`` steps visit; roots are drawn uniformly from the training nodes (every node
    for link prediction).  Before training, ``sample_coverage`` × N nodes' worth of subgraphs are
    pre-sampled to estimate the normalisation coefficients (:func:`~gnnbench.methods.sampling.
    estimate_saint_norm`): each message is scaled by ``1 / α_{u,v} = C_v / C_{u,v}`` on top of the
    whole graph's convolution matrix, which a backbone with the ``fixed_convolution`` capability
    provides (mean for SAGE, symmetric for GCN, self-loops unscaled: Eq. 3, unbiased) and each
    training node's loss by ``1 / λ_v`` with ``λ_v = |V_train| p_v`` (Eq. 4, normalised by the
    training nodes instead of ``|V|`` so that the loss estimates the mean training loss).  GAT's
    attention has no fixed weights to rescale: it runs on the subgraph unweighted, with the loss
    normalisation only.  A batch without a training node takes no step (:mod:`gnnbench.training`);
    batch norm normalises by the statistics of the subgraph's nodes.  An epoch has ``steps_per_epoch`` batches (default: training nodes ÷
    ``num_roots``).  Inference uses all neighbours, layer-wise or per L-hop
    neighbourhood (``inference``).  Link prediction: the batch's
    edges are the positives, as many random pairs of its nodes the negatives.

    Budget rule: with ``budget.nodes_per_batch`` (``messages_per_batch``), ``num_roots`` is the
    largest number of roots whose pilot subgraphs have at most that many nodes (edges) on average.
    """

    description: ClassVar[str] = "GraphSAINT-RW: random-walk subgraphs with normalised aggregation and loss (Zeng et al. 2020)"
    supported_backbones: ClassVar[frozenset[str] | None] = None
    backbone_capabilities: ClassVar[frozenset[str]] = frozenset({"fixed_convolution", "bipartite"})
    meets_budget: ClassVar[bool] = True
    supported_tasks: ClassVar[frozenset[Task]] = frozenset(Task)

    class Config(InferenceOptions):
        """Args:
            num_roots: walk roots per subgraph (default 256); replaced by the budget solver when a
                budget is set.
            walk_length: steps per walk (default 2, the paper's setting).
            sample_coverage: pre-sampling draws subgraphs until their node count reaches this
                many times N (default 50, the paper's and PyG's).
            steps_per_epoch: batches per epoch (default ``None``: ceil(training nodes / num_roots)).
            inference, inference_batch_size: see :class:`~gnnbench.methods._inference_options.InferenceOptions`.
        """

        model_config = ConfigDict(frozen=True, extra="forbid")
        num_roots: int = Field(256, ge=1)
        walk_length: int = Field(2, ge=0)
        sample_coverage: float = Field(50.0, gt=0)
        steps_per_epoch: int | None = Field(None, ge=1)

    def __init__(self, config, backbone, train, budget):
        self.config, self.backbone, self.train, self.budget = config, backbone, train, budget
        self.cache_dir = None

    def setup(self, dataset, device) -> None:
        import math

        import torch
        from torch_geometric.loader import NodeLoader
        from torch_geometric.sampler import NodeSamplerInput

        from gnnbench.methods.sampling import RandomWalkSampler, estimate_saint_norm
        from gnnbench.training import (build_model, build_optimizer, encoder_of, pilot_sizes,
                                       solve_budget, train_nodes)

        c = self.config
        self.dataset, self.device, self.task = dataset, device, dataset.info.task
        self.model = build_model(self.backbone, dataset).to(device)
        self.stack = encoder_of(self.model)
        self.optimizer = build_optimizer(self.model.parameters(), self.train)
        self.roots, train_mask = train_nodes(dataset)
        g = dataset.graph
        self.sampler = RandomWalkSampler(g.edge_index, g.num_nodes, c.walk_length)
        self.loader = NodeLoader(g, self.sampler, input_nodes=self.roots)

        def draw(p: int) -> tuple[int, int]:
            out = self.sampler.sample_from_nodes(NodeSamplerInput(
                None, self.roots[torch.randint(0, self.roots.numel(), (p,))]))
            return out.node.numel(), out.row.numel()

        def measure(p: int) -> tuple[float, float]:
            return pilot_sizes(lambda: draw(p))

        self.num_roots = solve_budget(measure, self.budget, 1, 4 * g.num_nodes, "root(s)") or c.num_roots
        pilot = measure(self.num_roots)[0]
        num_samples = max(1, math.ceil(c.sample_coverage * g.num_nodes / max(pilot, 1.0)))
        norm = estimate_saint_norm(self.sampler, self.roots, self.num_roots, num_samples)
        self.train_mask = train_mask.to(device)
        self.node_norm = (norm.node_norm * g.num_nodes / max(int(train_mask.sum()), 1)).to(device)
        self.edge_norm = norm.edge_norm.clamp(max=1e4)  # [E] 1 / α per edge (Eq. 3)
        self.matrices = None
        if self.stack.has("fixed_convolution"):
            self.matrices = [[_scaled(m, self.edge_norm).to(device)
                              for m in self.stack.conv_matrices(i, g.edge_index, g.num_nodes)]
                             for i in range(self.stack.num_layers)]
        self.steps = c.steps_per_epoch or max(1, math.ceil(self.roots.numel() / self.num_roots))
        self.num_presamples = num_samples

    def batches(self, epoch: int):
        import torch

        from gnnbench.methods.sampling import subgraph_batch

        for _ in range(self.steps):
            pick = torch.randint(0, self.roots.numel(), (self.num_roots,))
            yield subgraph_batch(self.loader(pick))

    def _forward(self, d):
        """The stack on subgraph ``d``; with fixed convolutions each layer aggregates with the whole
        graph's matrices restricted to the subgraph and scaled by ``1 / α`` (Eq. 3)."""
        if self.matrices is None:
            return self.stack(d.x, d.edge_index)
        x = d.x
        for i, mats in enumerate(self.matrices):
            local = [m.on_subgraph(d.n_id, d.e_id, d.edge_index) for m in mats]
            x = self.stack.weighted_layer(i, x, local)
        return x

    def train_step(self, batch: Batch) -> float:
        from gnnbench.methods.sampling import subgraph_step

        self.model.train()
        h = self._forward(batch.data)
        return subgraph_step(self.model, self.optimizer, h, batch.data, self.task == Task.LINK,
                             self.train_mask, self.dataset.info.multilabel, self.node_norm)

    def predict(self, splits: Sequence[str]) -> dict[str, Prediction]:
        from gnnbench.methods.sampling import sampled_predict

        return sampled_predict(self.model, self.stack, self.dataset, splits, self.device,
                               self.config.inference_batch_size, self.config.inference)

    def report(self) -> dict:
        """Facts of the pre-sampling: subgraphs drawn and roots per subgraph."""
        return {"saint_presamples": int(self.num_presamples), "saint_num_roots": int(self.num_roots)}


def _scaled(matrix, edge_norm):
    """``matrix`` with each entry that stands for an edge scaled by that edge's ``1 / α``
    (``edge_norm: [E]``); added self-loops keep their weight (a node is always sampled with itself)."""
    from gnnbench.backbones.conv import ConvMatrix

    real = matrix.edge_id >= 0
    scale = edge_norm.new_ones(matrix.nnz)
    scale[real] = edge_norm[matrix.edge_id[real]]
    return ConvMatrix(matrix.src, matrix.dst, matrix.weight * scale, matrix.edge_id,
                      matrix.num_nodes, matrix.identity)
