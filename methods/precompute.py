"""Precomputation methods' shared kit: propagated features ``S^k X`` and mini-batches of their rows.

SGC (Wu et al. 2019) and SIGN (Rossi et al. 2020) move all message passing out of training: the
features are propagated once, in ``setup`` (timed by the runner as preprocessing), with the
symmetric normalised adjacency with self-loops ``S = D̂^{-1/2} Â D̂^{-1/2}`` — GCN's convolution
matrix, taken from :func:`gnnbench.backbones.conv.gcn_matrix` — and training is a classifier on
rows of the result, in mini-batches that pass no messages.  :class:`PrecomputedMethod` holds what
both share; a subclass says which propagated features it keeps (:meth:`PrecomputedMethod.features`)
and builds its classifier (:meth:`PrecomputedMethod.build`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Sequence

from gnnbench.types import Batch, Prediction, Task

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor

__all__ = ["propagate", "PrecomputedMethod"]


def propagate(x: "Tensor", edge_index: "Tensor", num_nodes: int, num_hops: int) -> list["Tensor"]:
    """``[X, S X, S² X, …, S^K X]`` with ``S = D̂^{-1/2} Â D̂^{-1/2}`` (Wu et al. 2019, Eq. 8;
    Rossi et al. 2020, Eq. 4 with the GCN-normalised adjacency as the operator).

    ``S`` is :func:`gnnbench.backbones.conv.gcn_matrix` (PyG's ``gcn_norm``: explicit self-loops
    replaced by one per node), applied ``K`` times as a sparse CSR product on the CPU.

    Shapes:
        x: ``[N, F]``; edge_index: ``[2, E]`` → ``K + 1`` tensors ``[N, F]`` float32 (CPU).

    Raises:
        ValueError: ``num_hops < 0``, or ``edge_index`` names a node outside ``[0, num_nodes)``.
    """
    import torch

    from gnnbench.backbones.conv import gcn_matrix

    if num_hops < 0:
        raise ValueError(f"num_hops={num_hops} must be >= 0 propagation steps")
    s = gcn_matrix(edge_index.cpu(), num_nodes).to_sparse_csr()
    out = [x.detach().cpu().float()]
    for _ in range(num_hops):
        out.append(torch.sparse.mm(s, out[-1]))
    return out


class PrecomputedMethod:
    """Base of the precomputation methods: needs no backbone (``supported_backbones = frozenset()``:
    its classifier's width and dropout are its own options), node tasks only.

    ``setup`` propagates the features of the training graph (and of every unseen evaluation graph,
    inductive tasks) and keeps them on the CPU; each epoch shuffles the training nodes into batches
    of ``batch_size`` rows, which the runner moves to the device (timed as transfer); a step is the
    classifier on those rows (``num_messages = 0``: no message passing during training).
    Prediction runs the classifier on the rows of each split, ``inference_batch_size`` at a time.

    Budget rule: ``budget.nodes_per_batch`` sets ``batch_size`` (rows per batch);
    ``budget.messages_per_batch`` is met by any batch size (no messages are passed).

    Subclasses set ``Config`` (with ``num_hops``, ``batch_size``, ``inference_batch_size``),
    :meth:`features` and :meth:`build`.
    """

    supported_backbones: ClassVar[frozenset[str] | None] = frozenset()  # needs no backbone
    meets_budget: ClassVar[bool] = True
    supported_tasks: ClassVar[frozenset[Task]] = frozenset({Task.NODE_TRANSDUCTIVE, Task.NODE_INDUCTIVE})

    def __init__(self, config, backbone, train, budget):
        self.config, self.train, self.budget = config, train, budget
        self.cache_dir = None

    # ------------------------------------------------------------------ what subclasses choose
    def features(self, hops: list["Tensor"]) -> list["Tensor"]:
        """The propagated features the classifier reads, from ``hops = [X, SX, …, S^K X]``."""
        raise NotImplementedError

    def build(self, in_channels: list[int], out_channels: int) -> "torch.nn.Module":  # noqa: F821
        """The classifier: ``forward(*features)`` with one ``[B, in_channels[i]]`` tensor per kept
        feature → ``[B, out_channels]`` logits."""
        raise NotImplementedError

    # ------------------------------------------------------------------ the protocol
    def setup(self, dataset, device) -> None:
        from gnnbench.training import build_optimizer

        self.dataset, self.device = dataset, device
        self.precomputed: dict[int, list] = {}
        for split in ("train", "valid", "test"):
            g = dataset.graph_for(split)
            if id(g) not in self.precomputed:
                hops = propagate(g.x, g.edge_index, int(g.num_nodes), self.config.num_hops)
                self.precomputed[id(g)] = [f.contiguous() for f in self.features(hops)]
        mine = self.precomputed[id(dataset.graph)]
        self.model = self.build([int(f.size(1)) for f in mine], dataset.num_outputs).to(device)
        self.optimizer = build_optimizer(self.model.parameters(), self.train)
        self.train_idx = dataset.split["train"].cpu()
        nodes = getattr(self.budget, "nodes_per_batch", None)
        self.batch_size = int(nodes) if nodes is not None else self.config.batch_size

    def batches(self, epoch: int):
        import torch

        feats, y = self.precomputed[id(self.dataset.graph)], self.dataset.graph.y
        order = self.train_idx[torch.randperm(self.train_idx.numel())]
        for idx in order.split(self.batch_size):
            yield Batch(data=(tuple(f[idx] for f in feats), y[idx]), num_nodes=int(idx.numel()), num_messages=0)

    def train_step(self, batch: Batch) -> float:
        from gnnbench.tasks import node_loss
        from gnnbench.training import optimise

        self.model.train()
        feats, y = batch.data
        return optimise(self.optimizer, node_loss(self.model(*feats), y, self.dataset.info.multilabel))

    def predict(self, splits: Sequence[str]) -> dict[str, Prediction]:
        import torch

        self.model.eval()
        out = {}
        with torch.no_grad():
            for split in splits:
                feats = self.precomputed[id(self.dataset.graph_for(split))]
                idx = self.dataset.split[split].cpu()
                rows = [self.model(*(f[part].to(self.device) for f in feats))
                        for part in idx.split(self.config.inference_batch_size)]
                out[split] = Prediction(scores=torch.cat(rows))
        return out

    def report(self) -> dict:
        """Bytes of the precomputed features kept on the host (``precomputed_bytes``)."""
        return {"precomputed_bytes": int(sum(f.numel() * f.element_size()
                                             for feats in self.precomputed.values() for f in feats))}
