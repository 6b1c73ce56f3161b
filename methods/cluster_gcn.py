"""Cluster-GCN: mini-batches of METIS partitions with the edges between them (Chiang et al. 2019)."""
from __future__ import annotations

from typing import ClassVar, Sequence

from pydantic import ConfigDict, Field, model_validator

from gnnbench.types import Batch, Prediction, Task

from ._inference_options import InferenceOptions

__all__ = ["ClusterGCN"]


class ClusterGCN:
    """Stochastic multiple partitions (Chiang et al. 2019, Sec. 3.2, Alg. 1): the training graph is
    cut into ``num_parts`` METIS parts once (cached in ``cache_dir`` per part count); each epoch
    shuffles the parts and every batch is the subgraph induced by ``parts_per_batch`` of them, the
    edges between the chosen parts restored.  The model runs on the subgraph as on a whole graph
    (GCN renormalises on it, as in the paper); the loss covers the batch's training nodes (a batch
    without one takes no step, :mod:`gnnbench.training`).  Batch norm normalises by the statistics
    of the subgraph's nodes.  Inference uses all neighbours, layer-wise or
    per L-hop neighbourhood (``inference``; :func:`~gnnbench.methods.sampling.sampled_predict`; needs a backbone with a fixed
    convolution matrix or bipartite layers).  Link prediction: the batch's edges are the
    positives, as many random pairs of its nodes the negatives.

    Budget rule: with ``budget.nodes_per_batch`` (``messages_per_batch``), ``parts_per_batch`` is
    the largest number of parts whose pilot batches have at most that many nodes (edges) on
    average; ``num_parts`` stays as configured (the paper's Table 3 setting fixes the parts too).
    """

    description: ClassVar[str] = "Cluster-GCN: batches of METIS partitions with their between-part edges (Chiang et al. 2019)"
    supported_backbones: ClassVar[frozenset[str] | None] = None
    backbone_capabilities: ClassVar[frozenset[str]] = frozenset({"fixed_convolution", "bipartite"})
    meets_budget: ClassVar[bool] = True
    supported_tasks: ClassVar[frozenset[Task]] = frozenset(Task)

    class Config(InferenceOptions):
        """Args:
            num_parts: METIS parts of the training graph (default 32; must not exceed its nodes).
            parts_per_batch: parts joined into one batch (default 4, must not exceed
                ``num_parts``); replaced by the budget solver when a budget is set.
            inference, inference_batch_size: see :class:`~gnnbench.methods._inference_options.InferenceOptions`.
        """

        model_config = ConfigDict(frozen=True, extra="forbid")
        num_parts: int = Field(32, ge=1)
        parts_per_batch: int = Field(4, ge=1)

        @model_validator(mode="after")
        def _parts_fit(self):
            from gnnbench.methods.sampling.partition import check_parts_per_batch

            check_parts_per_batch(self.parts_per_batch, self.num_parts)
            return self

    @classmethod
    def check(cls, config: "ClusterGCN.Config", backbone_config, info) -> None:
        """Refuse more METIS parts than the dataset has nodes (when its size is known without loading).

        Raises:
            ValueError: ``num_parts > info.num_nodes``.
        """
        from gnnbench.methods.sampling.partition import check_num_parts

        check_num_parts(config.num_parts, info)

    def __init__(self, config, backbone, train, budget):
        self.config, self.backbone, self.train, self.budget = config, backbone, train, budget
        self.cache_dir = None

    def setup(self, dataset, device) -> None:
        from torch_geometric.loader import NodeLoader

        from gnnbench.methods.sampling import InducedSubgraphSampler, partition, parts_to_nodes
        from gnnbench.training import build_model, build_optimizer, encoder_of, train_nodes

        self.dataset, self.device, self.task = dataset, device, dataset.info.task
        self.model = build_model(self.backbone, dataset).to(device)
        self.stack = encoder_of(self.model)
        self.optimizer = build_optimizer(self.model.parameters(), self.train)
        self.train_idx, self.train_mask = train_nodes(dataset)
        g = dataset.graph
        k = self.config.num_parts
        self.part = partition(g.edge_index, g.num_nodes, k, self.cache_dir)
        self.order, self.ptr = parts_to_nodes(self.part, k)
        self.sampler = InducedSubgraphSampler(g.edge_index, g.num_nodes)
        self.loader = NodeLoader(g, self.sampler, input_nodes=self.order)
        self.parts_per_batch = self._solve() or self.config.parts_per_batch
        self.train_mask = self.train_mask.to(device)

    def _positions(self, parts):
        """Positions in ``self.order`` of every node of ``parts: [P]`` (vectorised)."""
        from gnnbench.methods.sampling import segment_expand

        start = self.ptr[parts]
        slot, off = segment_expand(self.ptr[parts + 1] - start)
        return start[slot] + off

    def _solve(self) -> int | None:
        import torch
        from torch_geometric.sampler import NodeSamplerInput

        from gnnbench.training import pilot_sizes, solve_budget

        k = self.config.num_parts

        def draw(p: int) -> tuple[int, int]:
            pos = self._positions(torch.randperm(k)[:p])
            out = self.sampler.sample_from_nodes(NodeSamplerInput(None, self.order[pos]))
            return out.node.numel(), out.row.numel()

        return solve_budget(lambda p: pilot_sizes(lambda: draw(p)), self.budget, 1, k, "part(s)")

    def batches(self, epoch: int):
        import torch

        from gnnbench.methods.sampling import subgraph_batch

        for parts in torch.randperm(self.config.num_parts).split(self.parts_per_batch):
            yield subgraph_batch(self.loader(self._positions(parts)))

    def train_step(self, batch: Batch) -> float:
        from gnnbench.methods.sampling import subgraph_step

        self.model.train()
        d = batch.data
        return subgraph_step(self.model, self.optimizer, self.model(d.x, d.edge_index), d,
                             self.task == Task.LINK, self.train_mask, self.dataset.info.multilabel)

    def predict(self, splits: Sequence[str]) -> dict[str, Prediction]:
        from gnnbench.methods.sampling import sampled_predict

        return sampled_predict(self.model, self.stack, self.dataset, splits, self.device,
                               self.config.inference_batch_size, self.config.inference)
