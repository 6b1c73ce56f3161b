"""An example third-party method plugin: a multi-layer perceptron on node features alone.

It shows the whole plugin contract (see gnnbench.protocols.MethodPlugin): a description, a
pydantic Config, the supported backbones and tasks, and setup / batches / train_step / predict.
The backbone's width, depth and dropout are reused; its message passing is not.
"""
from __future__ import annotations

from typing import ClassVar, Sequence

from pydantic import BaseModel, ConfigDict, Field

from gnnbench.types import Batch, Prediction, Task


class ExampleMLP:
    """MLP baseline: ``logits = MLP(x)``, trained full-batch on the training nodes."""

    description: ClassVar[str] = "example plugin: MLP on node features, no message passing"
    supported_backbones: ClassVar[frozenset[str] | None] = frozenset({"gcn", "sage"})
    supported_tasks: ClassVar[frozenset[Task]] = frozenset({Task.NODE_TRANSDUCTIVE})

    class Config(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")
        hidden_channels: int = Field(64, ge=1)

    def __init__(self, config, backbone, train, budget):
        self.config, self.backbone, self.train = config, backbone, train

    def setup(self, dataset, device) -> None:
        import torch

        self.dataset, self.device = dataset, device
        self.graph = dataset.graph.to(device)
        h = self.config.hidden_channels
        self.model = torch.nn.Sequential(
            torch.nn.Dropout(self.backbone.config.dropout), torch.nn.Linear(dataset.num_features, h),
            torch.nn.ReLU(), torch.nn.Dropout(self.backbone.config.dropout),
            torch.nn.Linear(h, dataset.num_outputs)).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.train.lr,
                                          weight_decay=self.train.weight_decay)
        self.train_idx = dataset.split["train"].to(device)

    def batches(self, epoch: int):
        yield Batch(data=None, num_nodes=self.graph.num_nodes, num_messages=0)

    def train_step(self, batch: Batch) -> float:
        import torch.nn.functional as F

        self.model.train()
        self.optimizer.zero_grad()
        loss = F.cross_entropy(self.model(self.graph.x)[self.train_idx], self.graph.y[self.train_idx])
        loss.backward()
        self.optimizer.step()
        return float(loss)

    def predict(self, splits: Sequence[str]) -> dict[str, Prediction]:
        import torch

        self.model.eval()
        with torch.no_grad():
            out = self.model(self.graph.x)
        return {s: Prediction(scores=out[self.dataset.split[s].to(self.device)]) for s in splits}
