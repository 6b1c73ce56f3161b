"""Full-graph training: the whole graph in every step, the oracle the scaling methods approximate."""
from __future__ import annotations

from typing import ClassVar, Sequence

from pydantic import BaseModel, ConfigDict

from gnnbench.types import Batch, Prediction, Task

__all__ = ["FullGraph"]


class FullGraph:
    """Full-batch gradient descent on the whole graph (the "Full-Graph" row of Ding et al. 2021, Table 4).

    One batch per epoch holding every node and edge; evaluation is one full forward pass.
    Budgets do not apply (the batch is the graph). Any backbone, every task.
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
        import torch

        from gnnbench.tasks import build_model

        self.dataset, self.device = dataset, device
        self.task = dataset.info.task
        self.graph = dataset.graph.to(device)
        self.model = build_model(self.backbone, dataset).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.train.lr,
                                          weight_decay=self.train.weight_decay)
        if self.task == Task.LINK:
            self.train_edges = dataset.edge_split["train"]["edge"].to(device)
        else:
            self.train_idx = dataset.split["train"].to(device)

    def batches(self, epoch: int):
        from gnnbench.tasks import random_negative_edges

        g = self.graph
        if self.task == Task.LINK:
            neg = random_negative_edges(g.num_nodes, self.train_edges.size(0), self.device)
            yield Batch(data=neg, num_nodes=g.num_nodes, num_messages=g.num_edges)
        else:
            yield Batch(data=None, num_nodes=g.num_nodes, num_messages=g.num_edges)

    def train_step(self, batch: Batch) -> float:
        from gnnbench.tasks import link_loss, node_loss

        self.model.train()
        self.optimizer.zero_grad()
        g = self.graph
        out = self.model(g.x, g.edge_index)
        if self.task == Task.LINK:
            pos = self.train_edges
            neg = batch.data
            pred = self.model.predictor
            loss = link_loss(pred(out[pos[:, 0]], out[pos[:, 1]]), pred(out[neg[0]], out[neg[1]]))
        else:
            idx = self.train_idx
            loss = node_loss(out[idx], g.y[idx], self.dataset.info.multilabel)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def predict(self, splits: Sequence[str]) -> dict[str, Prediction]:
        import torch

        from gnnbench.tasks import score_edges

        self.model.eval()
        out: dict[str, Prediction] = {}
        cache: dict[int, torch.Tensor] = {}
        with torch.no_grad():
            for split in splits:
                graph = self.dataset.graph_for(split)
                key = id(graph)
                if key not in cache:
                    g = graph.to(self.device)
                    cache[key] = self.model(g.x, g.edge_index)
                h = cache[key]
                if self.task == Task.LINK:
                    edges = self.dataset.edge_split[split]
                    out[split] = Prediction(
                        pos=score_edges(self.model.predictor, h, edges["edge"].to(self.device)),
                        neg=score_edges(self.model.predictor, h, edges["edge_neg"].to(self.device)))
                else:
                    out[split] = Prediction(scores=h[self.dataset.split[split].to(self.device)])
        return out
