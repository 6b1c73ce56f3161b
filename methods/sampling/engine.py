"""What the three sampling baselines share: model and optimiser, task losses, standard inference.

The plugin classes (``ns_sage``, ``cluster_gcn``, ``graphsaint_rw``) build a :class:`SamplingEngine`
in ``setup`` and keep only their sampler-specific code.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from gnnbench.types import Batch, Prediction, Task

from .inference import layerwise_inference

__all__ = ["SamplingEngine", "subgraph_batch"]


class SamplingEngine:
    """Model, optimiser and evaluation of a mini-batch method on ``dataset``.

    Args:
        backbone: the backbone plugin the model is built from (:func:`gnnbench.tasks.build_model`).
        train: the :class:`~gnnbench.config.TrainConfig` (Adam's ``lr`` and ``weight_decay``).
        dataset: the loaded :class:`~gnnbench.types.GraphDataset` (graphs stay on the CPU).
        device: where the model and each batch live.
        inference_batch_size: destination nodes per batch of :func:`layerwise_inference`.
    """

    def __init__(self, backbone, train, dataset, device, inference_batch_size: int):
        from gnnbench.tasks import build_model, encoder_of

        self.dataset, self.device = dataset, device
        self.task = dataset.info.task
        self.multilabel = dataset.info.multilabel
        self.graph = dataset.graph
        self.model = build_model(backbone, dataset).to(device)
        self.stack = encoder_of(self.model)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=train.lr,
                                          weight_decay=train.weight_decay)
        self.inference_batch_size = inference_batch_size
        n = self.graph.num_nodes
        if self.task == Task.LINK:
            self.train_edges = dataset.edge_split["train"]["edge"]
            self.train_idx = torch.arange(n)
        else:
            self.train_idx = dataset.split["train"]
        self.train_mask = torch.zeros(n, dtype=torch.bool)
        self.train_mask[self.train_idx] = True

    def optimise(self, loss: Tensor) -> float:
        """One Adam step on ``loss``; returns it as a float."""
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def node_loss(self, logits: Tensor, y: Tensor, weight: Tensor | None = None) -> Tensor:
        """The task's loss on ``logits: [B, C]`` against ``y``; with ``weight: [B]`` the weighted
        sum ``Σ_v weight_v L_v`` (GraphSAINT's normalised loss, Zeng et al. 2020, Eq. 4)."""
        from gnnbench.tasks import node_loss

        if weight is None:
            return node_loss(logits, y, self.multilabel)
        if self.multilabel:
            per = F.binary_cross_entropy_with_logits(logits, y.float(), reduction="none").mean(1)
        else:
            per = F.cross_entropy(logits, y, reduction="none")
        return (per * weight).sum()

    def link_loss(self, h: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
        """Link loss of embeddings ``h: [B, D]`` on local pairs ``pos: [2, P]``, ``neg: [2, Q]``."""
        from gnnbench.tasks import link_loss

        pred = self.model.predictor
        return link_loss(pred(h[pos[0]], h[pos[1]]), pred(h[neg[0]], h[neg[1]]))

    def subgraph_link_loss(self, h: Tensor, edge_index: Tensor) -> Tensor:
        """Link loss with the subgraph's own edges ``[2, M]`` as positives and as many uniformly
        random node pairs of the subgraph as negatives (OGB's collab training negatives)."""
        neg = torch.randint(0, h.size(0), (2, edge_index.size(1)), device=h.device)
        return self.link_loss(h, edge_index, neg)

    def predict(self, splits: Sequence[str]) -> dict[str, Prediction]:
        """Layer-wise full-neighbour inference on each split's graph (once per distinct graph)."""
        from gnnbench.tasks import score_edges

        self.model.eval()
        out: dict[str, Prediction] = {}
        cache: dict[int, Tensor] = {}
        with torch.no_grad():
            for split in splits:
                graph = self.dataset.graph_for(split)
                if id(graph) not in cache:
                    cache[id(graph)] = layerwise_inference(
                        self.stack, graph.x, graph.edge_index, self.inference_batch_size).to(self.device)
                h = cache[id(graph)]
                if self.task == Task.LINK:
                    edges = self.dataset.edge_split[split]
                    pred = self.model.predictor
                    out[split] = Prediction(pos=score_edges(pred, h, edges["edge"].to(self.device)),
                                            neg=score_edges(pred, h, edges["edge_neg"].to(self.device)))
                else:
                    out[split] = Prediction(scores=h[self.dataset.split[split].to(self.device)])
        return out


def subgraph_batch(data) -> Batch:
    """A :class:`~gnnbench.types.Batch` of a collated subgraph: its nodes and edges."""
    return Batch(data=data, num_nodes=int(data.num_nodes), num_messages=int(data.edge_index.size(1)))
