"""GraphSAINT-RW: subgraphs induced by random walks, with normalised aggregation and loss (Zeng et al. 2020)."""
from __future__ import annotations

from typing import ClassVar, Sequence

from pydantic import BaseModel, ConfigDict, Field

from gnnbench.types import Batch, Prediction, Task

__all__ = ["GraphSAINTRW"]


class GraphSAINTRW:
    """GraphSAINT with its random-walk sampler (Zeng et al. ICLR 2020, Alg. 1–2).

    Each batch is the subgraph induced by the nodes that ``num_roots`` random walks of
    ``walk_length`` steps visit; roots are drawn uniformly from the training nodes (every node
    for link prediction).  Before training, ``sample_coverage`` × N nodes' worth of subgraphs are
    pre-sampled to estimate the normalisation coefficients (:func:`~gnnbench.methods.sampling.
    estimate_saint_norm`): each message is scaled by ``1 / α_{u,v} = C_v / C_{u,v}`` on top of the
    whole graph's aggregation weight (mean for SAGE, symmetric for GCN: Eq. 3, unbiased) and each
    training node's loss by ``1 / λ_v`` with ``λ_v = |V_train| p_v`` (Eq. 4, normalised by the
    training nodes instead of ``|V|`` so that the loss estimates the mean training loss).  GAT's
    attention has no fixed weights to rescale: it runs on the subgraph unweighted, with the loss
    normalisation only.  An epoch has ``steps_per_epoch`` batches (default: training nodes ÷
    ``num_roots``).  Inference is layer-wise with all neighbours.  Link prediction: the batch's
    edges are the positives, as many random pairs of its nodes the negatives.

    Budget rule: with ``budget.nodes_per_batch`` (``messages_per_batch``), ``num_roots`` is the
    largest number of roots whose pilot subgraphs have at most that many nodes (edges) on average.
    """

    description: ClassVar[str] = "GraphSAINT-RW: random-walk subgraphs with normalised aggregation and loss (Zeng et al. 2020)"
    supported_backbones: ClassVar[frozenset[str] | None] = None
    supported_tasks: ClassVar[frozenset[Task]] = frozenset(Task)

    class Config(BaseModel):
        """Args:
            num_roots: walk roots per subgraph (default 256); replaced by the budget solver when a
                budget is set.
            walk_length: steps per walk (default 2, the paper's setting).
            sample_coverage: pre-sampling draws subgraphs until their node count reaches this
                many times N (default 50, the paper's and PyG's).
            steps_per_epoch: batches per epoch (default ``None``: ceil(training nodes / num_roots)).
            inference_batch_size: destination nodes per batch of layer-wise inference (default 4096).
        """

        model_config = ConfigDict(frozen=True, extra="forbid")
        num_roots: int = Field(256, ge=1)
        walk_length: int = Field(2, ge=0)
        sample_coverage: float = Field(50.0, gt=0)
        steps_per_epoch: int | None = Field(None, ge=1)
        inference_batch_size: int = Field(4096, ge=1)

    def __init__(self, config, backbone, train, budget):
        self.config, self.backbone, self.train, self.budget = config, backbone, train, budget
        self.cache_dir = None

    def setup(self, dataset, device) -> None:
        import math

        import torch
        from torch_geometric.loader import NodeLoader
        from torch_geometric.sampler import NodeSamplerInput

        from gnnbench.methods.sampling import (RandomWalkSampler, estimate_saint_norm,
                                               full_aggregation_weights, solve_budget)
        from gnnbench.methods.sampling.engine import SamplingEngine

        c = self.config
        self.engine = eng = SamplingEngine(self.backbone, self.train, dataset, device, c.inference_batch_size)
        self.model, self.device, self.task = eng.model, device, eng.task
        g = eng.graph
        self.sampler = RandomWalkSampler(g.edge_index, g.num_nodes, c.walk_length)
        self.roots = eng.train_idx
        self.loader = NodeLoader(g, self.sampler, input_nodes=self.roots)

        def measure(p: int) -> tuple[float, float]:
            outs = [self.sampler.sample_from_nodes(NodeSamplerInput(
                None, self.roots[torch.randint(0, self.roots.numel(), (p,))])) for _ in range(3)]
            return (sum(o.node.numel() for o in outs) / 3, sum(o.row.numel() for o in outs) / 3)

        self.num_roots = solve_budget(measure, self.budget, 1, 4 * g.num_nodes, "root(s)") or c.num_roots
        pilot = measure(self.num_roots)[0]
        num_samples = max(1, math.ceil(c.sample_coverage * g.num_nodes / max(pilot, 1.0)))
        norm = estimate_saint_norm(self.sampler, self.roots, self.num_roots, num_samples)
        self.node_norm = (norm.node_norm * g.num_nodes / max(int(eng.train_mask.sum()), 1)).to(device)
        self.edge_norm = norm.edge_norm.clamp(max=1e4)
        self.weighted = eng.stack.kind in ("sage", "gcn")
        if self.weighted:
            w, self_w = full_aggregation_weights(eng.stack.kind, g.edge_index, g.num_nodes)
            self.edge_weight = (w * self.edge_norm).to(device)
            self.self_weight = self_w.to(device)
        self.steps = c.steps_per_epoch or max(1, math.ceil(self.roots.numel() / self.num_roots))
        self.num_presamples = num_samples

    def batches(self, epoch: int):
        import torch

        from gnnbench.methods.sampling.engine import subgraph_batch

        for _ in range(self.steps):
            pick = torch.randint(0, self.roots.numel(), (self.num_roots,))
            yield subgraph_batch(self.loader(pick))

    def _forward(self, d):
        from gnnbench.methods.sampling import weighted_layer

        stack = self.engine.stack
        if not self.weighted:
            return stack(d.x, d.edge_index)
        w = self.edge_weight[d.e_id]
        self_w = self.self_weight[d.n_id]
        x = d.x
        for i in range(stack.num_layers):
            x = weighted_layer(stack, i, x, d.edge_index, w, self_w)
        return x

    def train_step(self, batch: Batch) -> float:
        eng = self.engine
        self.model.train()
        d = batch.data.to(self.device)
        h = self._forward(d)
        if self.task == Task.LINK:
            return eng.optimise(eng.subgraph_link_loss(h, d.edge_index))
        mask = eng.train_mask.to(self.device)[d.n_id]
        if not bool(mask.any()):
            return 0.0  # no training node in this batch: nothing to learn, no step
        return eng.optimise(eng.node_loss(h[mask], d.y[mask], self.node_norm[d.n_id[mask]]))

    def predict(self, splits: Sequence[str]) -> dict[str, Prediction]:
        return self.engine.predict(splits)

    def report(self) -> dict:
        """Facts of the pre-sampling: subgraphs drawn and roots per subgraph."""
        return {"saint_presamples": int(self.num_presamples), "saint_num_roots": int(self.num_roots)}
