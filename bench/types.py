"""Dataclasses that flow between the plugins and the runner.

These are plain containers: the runner, the methods and the datasets agree on them, and nothing
in them imports torch at module level (so ``gnnbench list`` answers without importing torch).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor
    from torch_geometric.data import Data

__all__ = ["Task", "DatasetInfo", "GraphDataset", "Batch", "Prediction", "SPLITS"]

#: The evaluation splits, named as OGB's ``get_idx_split()`` names them.
SPLITS = ("train", "valid", "test")


class Task(str, enum.Enum):
    """The learning tasks a dataset poses and a method may support."""

    NODE_TRANSDUCTIVE = "node_transductive"
    """Node classification on one graph; every node is seen in training, labels of train nodes only."""
    NODE_INDUCTIVE = "node_inductive"
    """Node classification trained on some graphs and tested on unseen ones (PPI style)."""
    LINK = "link"
    """Link prediction: rank held-out edges above sampled non-edges (ogbl-collab style, Hits@50)."""

    def __str__(self) -> str:  # so that messages print "link", not "Task.LINK"
        return self.value


@dataclass(frozen=True)
class DatasetInfo:
    """Metadata of a dataset, available without loading it (OGB's ``master.csv`` idea).

    Args:
        name: the registered name users type (``"cora"``).
        task: the :class:`Task` the dataset poses.
        metric: the reported metric: ``"acc"``, ``"micro_f1"`` or ``"hits@50"``.
        num_classes: classes for node tasks (labels per node for multi-label), ``None`` for links.
        multilabel: ``True`` when every node carries a 0/1 vector of labels (PPI).
        ogb_name: the name of the OGB dataset whose :class:`ogb` ``Evaluator`` scores it, if any.
        num_nodes: number of nodes if known without loading (for messages), else ``None``.
    """

    name: str
    task: Task
    metric: str
    num_classes: int | None = None
    multilabel: bool = False
    ogb_name: str | None = None
    num_nodes: int | None = None


@dataclass
class GraphDataset:
    """A loaded dataset, in the layout every method reads.

    ``graph`` is the graph a method trains on: the whole graph for transductive tasks, the union of
    the training graphs (as disjoint components) for inductive ones, and the graph of training edges
    for link prediction.

    Shapes:
        graph.x: ``[num_nodes, num_features]`` float32
        graph.edge_index: ``[2, num_edges]`` int64, both directions present for undirected graphs
        graph.y: ``[num_nodes]`` int64 (single-label) or ``[num_nodes, num_classes]`` float (multi-label)
        split[s]: ``[num_split_nodes]`` int64 node indices into ``graph_for(s)`` (node tasks)
        edge_split[s]: ``{"edge": [P, 2], "edge_neg": [Q, 2]}`` int64 (link tasks, OGB's layout;
        ``"train"`` holds ``"edge"`` only)

    Args:
        info: the dataset's :class:`DatasetInfo`.
        graph: the training graph (a PyG ``Data``).
        split: node indices per split for node tasks; empty for link tasks.
        eval_graphs: for inductive tasks, the unseen ``"valid"`` and ``"test"`` graphs.
        edge_split: for link prediction, positive and negative edges per split.
    """

    info: DatasetInfo
    graph: "Data"
    split: dict[str, "Tensor"] = field(default_factory=dict)
    eval_graphs: dict[str, "Data"] = field(default_factory=dict)
    edge_split: dict[str, dict[str, "Tensor"]] = field(default_factory=dict)

    def graph_for(self, split: str) -> "Data":
        """The graph whose nodes ``split[split]`` indexes: an unseen graph for inductive valid/test."""
        return self.eval_graphs.get(split, self.graph)

    @property
    def num_features(self) -> int:
        return int(self.graph.x.size(1))

    @property
    def num_outputs(self) -> int:
        """Output channels a node classifier needs (the classes); 0 for link prediction."""
        return int(self.info.num_classes or 0)


@dataclass
class Batch:
    """One mini-batch as a method yields it, with the sizes the runner records.

    Args:
        data: the method's own payload (a PyG ``Data``, index tensors, …).
        num_nodes: nodes whose representations the step computes on the device (the batch
            plus any sampled neighbours or codewords it carries).
        num_messages: messages (non-zero entries of the convolution matrices, i.e. edges) the
            step passes, summed over the sampled computation graph: for subgraph methods the
            edges of the subgraph, for neighbour sampling the sampled edges of all hops, for
            VQ-GNN the intra-batch edges plus the batch-to-codeword entries.
    """

    data: Any
    num_nodes: int
    num_messages: int


@dataclass
class Prediction:
    """What a method predicts for one split; the runner turns it into the metric.

    Shapes:
        scores: node tasks ``[num_split_nodes, num_classes]`` logits, in the order of ``split``;
        link tasks ``None``.
        pos, neg: link tasks, scores ``[P]`` of the split's positive and ``[Q]`` of its negative
        edges; node tasks ``None``.
    """

    scores: "Tensor | None" = None
    pos: "Tensor | None" = None
    neg: "Tensor | None" = None
