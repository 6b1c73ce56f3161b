"""Cluster-GCN: mini-batches of METIS partitions with the edges between them (Chiang et al. 2019)."""
from __future__ import annotations

from typing import ClassVar, Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gnnbench.types import Batch, Prediction, Task

__all__ = ["ClusterGCN"]


class ClusterGCN:
    """Stochastic multiple partitions (Chiang et al. 2019, Sec. 3.2, Alg. 1): the training graph is
    cut into ``num_parts`` METIS parts once (cached in ``cache_dir`` per part count); each epoch
    shuffles the parts and every batch is the subgraph induced by ``parts_per_batch`` of them, the
    edges between the chosen parts restored.  The model runs on the subgraph as on a whole graph
    (GCN renormalises on it, as in the paper); the loss covers the batch's training nodes.
    Inference is layer-wise with all neighbours (:func:`~gnnbench.methods.sampling.layerwise_inference`).
    Link prediction: the batch's edges are the positives, as many random pairs of its nodes the
    negatives.

    Budget rule: with ``budget.nodes_per_batch`` (``messages_per_batch``), ``parts_per_batch`` is
    the largest number of parts whose pilot batches have at most that many nodes (edges) on
    average; ``num_parts`` stays as configured (the paper's Table 3 setting fixes the parts too).
    """

    description: ClassVar[str] = "Cluster-GCN: batches of METIS partitions with their between-part edges (Chiang et al. 2019)"
    supported_backbones: ClassVar[frozenset[str] | None] = None
    supported_tasks: ClassVar[frozenset[Task]] = frozenset(Task)

    class Config(BaseModel):
        """Args:
            num_parts: METIS parts of the training graph (default 32; must not exceed its nodes).
            parts_per_batch: parts joined into one batch (default 4, must not exceed
                ``num_parts``); replaced by the budget solver when a budget is set.
            inference_batch_size: destination nodes per batch of layer-wise inference (default 4096).
        """

        model_config = ConfigDict(frozen=True, extra="forbid")
        num_parts: int = Field(32, ge=1)
        parts_per_batch: int = Field(4, ge=1)
        inference_batch_size: int = Field(4096, ge=1)

        @model_validator(mode="after")
        def _parts_fit(self):
            if self.parts_per_batch > self.num_parts:
                raise ValueError(f"parts_per_batch={self.parts_per_batch} exceeds num_parts={self.num_parts}; "
                                 f"lower method.parts_per_batch or raise method.num_parts")
            return self

    @classmethod
    def check(cls, config: "ClusterGCN.Config", backbone_config, info) -> None:
        """Refuse more METIS parts than the dataset has nodes (when its size is known without loading).

        Raises:
            ValueError: ``num_parts > info.num_nodes``.
        """
        if info.num_nodes is not None and config.num_parts > info.num_nodes:
            raise ValueError(f"method.num_parts={config.num_parts} exceeds the {info.num_nodes} nodes of "
                             f"dataset '{info.name}'; give at most {info.num_nodes}")

    def __init__(self, config, backbone, train, budget):
        self.config, self.backbone, self.train, self.budget = config, backbone, train, budget
        self.cache_dir = None

    def setup(self, dataset, device) -> None:
        from torch_geometric.loader import NodeLoader

        from gnnbench.methods.sampling import InducedSubgraphSampler, partition, parts_to_nodes
        from gnnbench.methods.sampling.engine import SamplingEngine

        self.engine = eng = SamplingEngine(self.backbone, self.train, dataset, device,
                                           self.config.inference_batch_size)
        self.model, self.device, self.task = eng.model, device, eng.task
        g = eng.graph
        k = self.config.num_parts
        self.part = partition(g.edge_index, g.num_nodes, k, self.cache_dir)
        self.order, self.ptr = parts_to_nodes(self.part, k)
        self.sampler = InducedSubgraphSampler(g.edge_index, g.num_nodes)
        self.loader = NodeLoader(g, self.sampler, input_nodes=self.order)
        self.parts_per_batch = self._solve() or self.config.parts_per_batch

    def _positions(self, parts):
        """Positions in ``self.order`` of every node of ``parts: [P]`` (vectorised)."""
        from gnnbench.methods.sampling import segment_expand

        start = self.ptr[parts]
        slot, off = segment_expand(self.ptr[parts + 1] - start)
        return start[slot] + off

    def _solve(self) -> int | None:
        import torch
        from torch_geometric.sampler import NodeSamplerInput

        from gnnbench.methods.sampling import solve_budget

        k = self.config.num_parts

        def measure(p: int) -> tuple[float, float]:
            nodes = msgs = 0.0
            for _ in range(3):
                pos = self._positions(torch.randperm(k)[:p])
                out = self.sampler.sample_from_nodes(NodeSamplerInput(None, self.order[pos]))
                nodes += out.node.numel() / 3
                msgs += out.row.numel() / 3
            return nodes, msgs

        return solve_budget(measure, self.budget, 1, k, "part(s)")

    def batches(self, epoch: int):
        import torch

        from gnnbench.methods.sampling.engine import subgraph_batch

        for parts in torch.randperm(self.config.num_parts).split(self.parts_per_batch):
            yield subgraph_batch(self.loader(self._positions(parts)))

    def train_step(self, batch: Batch) -> float:
        eng = self.engine
        self.model.train()
        d = batch.data.to(self.device)
        h = self.model(d.x, d.edge_index)
        if self.task == Task.LINK:
            return eng.optimise(eng.subgraph_link_loss(h, d.edge_index))
        mask = eng.train_mask.to(self.device)[d.n_id]
        if not bool(mask.any()):
            return 0.0  # no training node in this batch: nothing to learn, no step
        return eng.optimise(eng.node_loss(h[mask], d.y[mask]))

    def predict(self, splits: Sequence[str]) -> dict[str, Prediction]:
        return self.engine.predict(splits)
