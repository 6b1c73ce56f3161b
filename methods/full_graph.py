"""Full-graph training: the whole graph in every step, the oracle the scaling methods approximate."""
from __future__ import annotations

from typing import ClassVar, Sequence

from pydantic import BaseModel, ConfigDict

from gnnbench.types import Batch, Prediction, Task

__all__ = ["FullGraph"]


class FullGraph:
    """Full-batch gradient descent on the whole graph (the "Full-Graph" row of Ding et al. 2021, Table 4).

    One batch per epoch holding every node and edge; evaluation is one full forward pass.
    Budgets do not apply (the batch is the graph).  Batch norm normalises by the statistics of
    every node of the graph.  Any backbone, every task.
    """

    description: ClassVar[str] = "full-graph training: every node and edge in each step (the oracle)"
    supported_backbones: ClassVar[frozenset[str] | None] = None
    supported_tasks: ClassVar[frozenset[Task]] = frozenset(Task)

    class Config(BaseModel):
        """No options: the batch is the graph."""

        model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, config, backbone, train, budget):
        self.config, self.backbone, self.train, self.budget = config, backbone, train, budget

    def setup(self, dataset, device) -> None:
        from gnnbench.training import build_model, build_optimizer

        self.dataset, self.device = dataset, device
        self.task = dataset.info.task
        self.graph = dataset.graph.to(device)
        self.model = build_model(self.backbone, dataset).to(device)
        self.optimizer = build_optimizer(self.model.parameters(), self.train)
        if self.task == Task.LINK:
            self.train_edges = dataset.edge_split["train"]["edge"].t().contiguous().to(device)
        else:
            self.train_idx = dataset.split["train"].to(device)

    def batches(self, epoch: int):
        from gnnbench.tasks import random_negative_edges

        g = self.graph
        if self.task == Task.LINK:
            neg = random_negative_edges(g.num_nodes, self.train_edges.size(1), self.device)
            yield Batch(data=neg, num_nodes=g.num_nodes, num_messages=g.num_edges)
        else:
            yield Batch(data=None, num_nodes=g.num_nodes, num_messages=g.num_edges)

    def train_step(self, batch: Batch) -> float:
        from gnnbench.tasks import node_loss, pair_loss
        from gnnbench.training import optimise

        self.model.train()
        g = self.graph
        out = self.model(g.x, g.edge_index)
        if self.task == Task.LINK:
            loss = pair_loss(self.model.predictor, out, self.train_edges, batch.data)
        else:
            idx = self.train_idx
            loss = node_loss(out[idx], g.y[idx], self.dataset.info.multilabel)
        return optimise(self.optimizer, loss)

    def predict(self, splits: Sequence[str]) -> dict[str, Prediction]:
        from gnnbench.training import predict_splits

        self.model.eval()

        def embed(graph):
            g = graph.to(self.device)
            return self.model(g.x, g.edge_index)

        return predict_splits(self.dataset, splits, embed, self.device, getattr(self.model, "predictor", None))
