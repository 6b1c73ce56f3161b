"""VQ-GNN (Ding et al., NeurIPS 2021): vector-quantized message passing, the method ``vqgnn``.

The plugin class lives here without importing torch; the codebooks (:mod:`.codebook`), the
batches and sketches (:mod:`.batching`), the approximated layers (:mod:`.layers`) and the model
(:mod:`.model`) are imported lazily.
"""
from __future__ import annotations

import math
from typing import ClassVar, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field

from gnnbench.types import Batch, Prediction, Task

__all__ = ["VQGNN"]


class VQGNN:
    """VQ-GNN: mini-batch training and inference through per-layer codebooks of node features and
    gradients (Ding, Kong, Li, Zhu, Dickerson, Huang & Goldstein, "VQ-GNN: A Universal Framework
    to Scale up Graph Neural Networks using Vector Quantization", NeurIPS 2021).

    Each step takes a batch of ``b`` nodes; messages inside it are exact, messages from the
    other nodes come from their codewords (Eq. (6)); the gradient reaching the batch also carries
    the messages it sends out, through gradient codewords (Eq. (7)).  After the step the batch is
    assigned to its nearest codewords in the joint feature-and-gradient space and the codewords
    are EMA-updated.  Inference runs in batches through the codewords, with no L-hop expansion.

    ``Batch.num_nodes`` is ``b`` (codewords are not counted); ``Batch.num_messages`` is the
    messages one layer passes to the batch: intra-batch (exact) plus out-of-batch (each from its
    sender's codewords).  Budgets: ``nodes_per_batch`` sets ``b``; ``messages_per_batch = M`` sets
    ``b = M / (m'/n)`` with ``m'`` the non-zeros of the convolution matrix, so that a random batch
    passes ``M`` messages on average (one batch may pass more when its nodes have high degrees;
    cluster batches vary in size).

    Any backbone whose layers provide a fixed convolution matrix (gcn, sage, a third party's) or
    GAT-style attention (gat); the matrices are the backbone's (:func:`.batching.conv_graph`).
    Transductive and inductive node classification and link prediction.  A batch without a
    training node (or positive edge) takes no optimiser step but still refreshes the codebooks
    (:mod:`gnnbench.training`); batch norm normalises by the statistics of the ``b`` batch nodes.
    """

    description: ClassVar[str] = ("VQ-GNN (Ding et al. 2021): mini-batches with out-of-batch messages "
                                  "through feature/gradient codewords")
    supported_backbones: ClassVar[frozenset[str] | None] = None
    backbone_capabilities: ClassVar[frozenset[str]] = frozenset({"fixed_convolution", "attention"})
    meets_budget: ClassVar[bool] = True
    supported_tasks: ClassVar[frozenset[Task]] = frozenset(Task)

    class Config(BaseModel):
        """Options of ``vqgnn``.

        Args:
            num_codewords: ``k`` codewords per layer and group (default 256).
            group_size: product VQ, feature columns per group (default 4, as the reference
                implementation of Ding et al.; ``None``: one group per layer); the gradient
                columns are split into as many groups.  On Cora (GCN, 200 epochs, seed 0) one
                group of 256 codewords reached 0.785 test accuracy and groups of 4 columns 0.818
                (full-graph: 0.817): 256 full-width codewords cannot describe 2,708 bag-of-words
                rows, 256 codewords per 4 columns describe most of them exactly.
            decay: γ of the EMA codeword updates (default 0.99).
            batch_size: nodes per batch when no budget is set (default 1024).
            batching: ``"cluster"`` (default: METIS parts, ``parts_per_batch`` per batch, as
                Cluster-GCN's), ``"random"`` node batches (the paper's), or ``"cont"``: random
                batches each followed by ``walk_length`` batches reached by random-walk steps
                (the reference implementation's sampler for Reddit and ogbl-collab,
                :mod:`.walk`; an epoch has ``walk_length + 1`` times as many batches).  Cluster batches keep
                most messages inside the batch, exact, and leave fewer to the codewords: on Cora
                (200 epochs, seeds 0 and 1) GAT scored 0.832 / 0.833 with them against 0.814 /
                0.796 with random batches (full-graph: 0.834 / 0.833), SAGE 0.810 / 0.808
                against 0.801 / 0.794.
            walk_length: batches after each seed batch with ``batching = "cont"`` (default 3,
                the reference's on Reddit; 15 on ogbl-collab).
            parts_per_batch: METIS parts per cluster batch (default 16; the graph is cut into
                ``parts_per_batch · ceil(n / batch_size)`` parts).  Many small parts keep the
                batches' locality and mix their classes: GCN on CiteSeer (seeds 0 1 2, 200
                epochs) scored 0.690 with 4 parts per batch (one seed's loss stalled at 0.66)
                and 0.714 with 16 (full-graph: 0.709); GAT on Cora 0.831 and 0.832.
            whitening: implicit whitening (default ``True``, as the paper and its reference
                code): codewords kept in a space normalised by running per-column means and
                variances of the features and of the gradients (:mod:`.codebook`), so that both
                sides weigh in the joint assignment (the gradient columns already share the
                feature columns' product-VQ groups).  Measured with random batches, GCN on
                Cora, 50 epochs, seeds 0 1 2 (``examples/sweep_vqgnn_random.toml``): test
                accuracy 0.793 / 0.797 / 0.832 with whitening against 0.738 / 0.753 / 0.772
                without (full-graph, 100 epochs: 0.811 / 0.805 / 0.828); the gradient's share
                of the squared joint distance was 0.47-0.48 with it and 0.0015 without, i.e.
                without whitening the assignment is feature-only in effect.  (An earlier partial
                measurement, 200 epochs, the k-means initialisation: 0.808 / 0.798 / 0.797 with,
                0.809 / 0.812 without: at 200 epochs the two end alike, whitening gets there
                sooner.)  SAGE, GAT and CiteSeer were not measured again (machine time).
            grad_scale: factor on the blue gradient term of Eq. (7) (default 1.0).
            warmup_epochs: epochs before the gradient codewords are used in Eq. (7) (default 1;
                they are collected from the first step).
            init: codebook initialisation: ``"minibatch"`` (default: random batch rows as
                codewords, then ``init_passes`` feature-only passes over random mini-batches,
                as the reference implementation; memory ``O(b·f + k·f)`` beyond the
                assignments) or ``"kmeans"`` (an exact forward pass over the whole graph and
                k-means on every node's layer inputs: the whole graph's messages at once).
                Working memory of ``setup`` on the arxiv-shaped synthetic graph (GCN, 3 layers
                of 128, batch norm, batches of 10,625, random batching; peak RSS minus start,
                ``python benchmarks/bench_vqgnn.py --backbone gcn --init-memory``): 0.78 GB
                with ``"minibatch"``, 2.97 GB with ``"kmeans"`` (codebooks, kept input rows
                included: 0.12 GB).  On Cora ``"minibatch"`` takes longer (4.7 s of CPU
                against ~1 s); accuracy with it: see ``whitening``.
            init_passes: passes of the ``"minibatch"`` initialisation (default 2).
            kmeans_iters: Lloyd iterations of the ``"kmeans"`` initialisation (default 5; 0
                takes random nodes).
            infer_batch_size: nodes per inference batch (default ``None``: the training batch size).
            infer_assign: the codeword assignments used by transductive inference: ``"nearest"``
                (default: every node re-assigned to its nearest feature codewords layer by layer in
                the inference pass, :meth:`.model.VQModel.infer`) or ``"stored"`` (the assignments
                kept from training, each set in the node's last training batch, under weights that
                have moved since).  Random batches, 200 epochs, seeds 0 1 2, validation every 5
                epochs (``examples/sweep_vqgnn_infer_assign.toml``), test accuracy minus
                full-graph's in points, nearest / stored: Cora GCN −1.03 / −0.70, SAGE −0.53 /
                −1.37, GAT −0.77 / −2.40; CiteSeer GCN +0.63 / +0.33, SAGE −0.27 / +0.40, GAT
                −0.53 / −0.47 (mean −0.42 / −0.70); the last layer's relative VQ error ε 0.04–0.12
                against 0.16–0.46.
        """

        model_config = ConfigDict(frozen=True, extra="forbid")
        num_codewords: int = Field(256, ge=1)
        group_size: int | None = Field(4, ge=1)
        decay: float = Field(0.99, gt=0, lt=1)
        batch_size: int = Field(1024, ge=1)
        batching: Literal["random", "cluster", "cont"] = "cluster"
        walk_length: int = Field(3, ge=0)
        parts_per_batch: int = Field(16, ge=1)
        whitening: bool = True
        grad_scale: float = Field(1.0, ge=0)
        warmup_epochs: int = Field(1, ge=0)
        init: Literal["minibatch", "kmeans"] = "minibatch"
        init_passes: int = Field(2, ge=1)
        kmeans_iters: int = Field(5, ge=0)
        infer_batch_size: int | None = Field(None, ge=1)
        infer_assign: Literal["stored", "nearest"] = "nearest"

    @classmethod
    def check(cls, config: "VQGNN.Config", backbone_config, info) -> None:
        """Refuse more codewords than the dataset has nodes (when its size is known without
        loading, and not for inductive datasets, whose ``num_nodes`` may be one graph's while
        training runs on the union of the training graphs): the codebook would hold codewords
        no node is ever assigned to.

        Raises:
            ValueError: ``num_codewords > info.num_nodes``.
        """
        if (info.num_nodes is not None and info.task != Task.NODE_INDUCTIVE  # there: one graph's nodes
                and config.num_codewords > info.num_nodes):
            raise ValueError(f"method.num_codewords={config.num_codewords} exceeds the {info.num_nodes} nodes of "
                             f"dataset '{info.name}'; give at most {info.num_nodes}")

    def __init__(self, config, backbone, train, budget):
        self.config, self.backbone, self.train, self.budget = config, backbone, train, budget
        self.cache_dir = None

    # ------------------------------------------------------------------ setup
    def _batch_size(self, n: int, nnz: int) -> int:
        if self.budget.nodes_per_batch is not None:
            return min(n, self.budget.nodes_per_batch)
        if self.budget.messages_per_batch is not None:
            return max(1, min(n, int(self.budget.messages_per_batch // max(nnz / n, 1.0))))
        return min(n, self.config.batch_size)

    def _node_batches(self, generator):
        from .batching import cluster_node_batches, random_node_batches
        from .walk import cont_node_batches

        if self.config.batching == "cluster":
            return cluster_node_batches(self.part, self.num_parts, self.config.parts_per_batch, generator)
        if self.config.batching == "cont":
            return cont_node_batches(self.walker, self.n, self.batch_size, generator)
        return random_node_batches(self.n, self.batch_size, generator)

    def _epoch_batches(self, generator):
        from .batching import iter_epoch_batches, overlapping_batches

        split = overlapping_batches if self.config.batching == "cont" else iter_epoch_batches
        return split(self.cg, self._node_batches(generator))

    def setup(self, dataset, device) -> None:
        import torch

        from gnnbench.methods.sampling import partition
        from gnnbench.training import build_model, build_optimizer, encoder_of

        from .batching import EpochPlan, conv_graph, random_node_batches
        from .model import VQModel

        c = self.config
        self.dataset, self.device, self.task = dataset, device, dataset.info.task
        g = dataset.graph
        self.n = int(g.num_nodes)
        self.x = g.x.to(device)
        self.y = g.y.to(device) if g.y is not None else None
        base = build_model(self.backbone, dataset)
        self.cg = conv_graph(encoder_of(base), g.edge_index.to(device), self.n)
        self.batch_size = self._batch_size(self.n, int(self.cg.src.numel()))  # BudgetError if unmet
        if getattr(self, "preflight", False):  # the runner's preflight checks the budget only
            return
        if c.batching == "cluster":
            self.num_parts = min(self.n, c.parts_per_batch * math.ceil(self.n / self.batch_size))
            self.part = partition(g.edge_index, self.n, self.num_parts, self.cache_dir).to(device)
        self.gen = torch.Generator().manual_seed(int(torch.initial_seed()) % (2 ** 63))
        if c.batching == "cont":
            from .walk import ContinuousWalkSampler

            self.walker = ContinuousWalkSampler(g.edge_index, self.n, c.walk_length, self.gen)
        self.model = VQModel(base, self.n, c.num_codewords, c.group_size, c.decay, c.whitening).to(device)
        init_gen = torch.Generator().manual_seed(0)
        if c.init == "kmeans":
            self.model.initialise(self.x, g.edge_index.to(device), self.batch_size / self.n, c.kmeans_iters,
                                  init_gen)
        else:
            passes = [EpochPlan(self.cg, random_node_batches(self.n, self.batch_size, init_gen))
                      for _ in range(c.init_passes)]  # each pass's messages built batch by batch
            self.model.initialise_minibatch(self.x, passes, self.batch_size / self.n, init_gen)
            del passes
        self.optimizer = build_optimizer(self.model.parameters(), self.train)
        if self.task == Task.LINK:
            self.train_mask = None
        else:
            self.train_mask = torch.zeros(self.n, dtype=torch.bool, device=device)
            self.train_mask[dataset.split["train"].to(device)] = True
        ib = c.infer_batch_size or self.batch_size
        fixed = torch.Generator().manual_seed(1)
        nodes = (self._node_batches(fixed) if c.batching == "cluster" and ib == self.batch_size
                 else list(torch.randperm(self.n, generator=fixed).split(ib)))
        self.infer_batches = list(nodes)  # node ids only: inference takes the messages by sender
        self.epoch = 0

    # ------------------------------------------------------------------ training
    def batches(self, epoch: int):
        self.epoch = epoch
        use_blue = epoch > self.config.warmup_epochs
        for nb in self._epoch_batches(self.gen):
            self.model.sketch_batch(nb, with_blue=use_blue)
            if self.task == Task.LINK:
                import torch

                keep = nb.in_src != nb.in_dst
                pos = torch.stack([nb.in_src[keep], nb.in_dst[keep]])
                nb.extra["pos"] = pos
                nb.extra["neg"] = torch.randint(0, nb.nodes.numel(), pos.shape, device=pos.device)
            yield Batch(data=nb, num_nodes=int(nb.nodes.numel()), num_messages=nb.num_messages)

    def train_step(self, batch: Batch) -> float:
        from gnnbench.tasks import node_loss, pair_loss
        from gnnbench.training import no_step, optimise

        nb = batch.data
        model = self.model
        model.train()
        out = model.forward_batch(self.x[nb.nodes], nb, self.config.grad_scale,
                                  use_blue=bool(nb.blue), record=True)
        loss = None
        if self.task == Task.LINK:
            pos, neg = nb.extra["pos"], nb.extra["neg"]
            if pos.size(1):
                loss = pair_loss(model.base.predictor, out, pos, neg)
        else:
            local = self.train_mask[nb.nodes].nonzero().view(-1)
            if local.numel():
                loss = node_loss(out[local], self.y[nb.nodes[local]], self.dataset.info.multilabel)
        value = no_step() if loss is None else optimise(self.optimizer, loss)
        model.update_codebooks(nb.nodes)  # zero gradients when no step was taken
        return value

    # ------------------------------------------------------------------ inference
    def _embed(self, graph):
        import torch

        from gnnbench.training import encoder_of

        from .batching import conv_graph

        if graph is self.dataset.graph:
            return self.model.infer(self.x, self.cg, self.infer_batches, measure=True,
                                    reassign=self.config.infer_assign == "nearest")
        n = int(graph.num_nodes)
        cg = conv_graph(encoder_of(self.model.base), graph.edge_index.to(self.device), n)
        ib = self.config.infer_batch_size or self.batch_size
        nodes = list(torch.randperm(n, generator=torch.Generator().manual_seed(1)).split(ib))
        return self.model.infer(graph.x.to(self.device), cg, nodes, reassign=True)

    def predict(self, splits: Sequence[str]) -> dict[str, Prediction]:
        from gnnbench.training import predict_splits

        self.model.eval()
        return predict_splits(self.dataset, splits, self._embed, self.device,
                              getattr(self.model.base, "predictor", None))

    def report(self) -> dict:
        """Facts of the trial: batch size, codewords, groups per layer, codebook bytes (everything the
        codebooks keep, the input layer's kept rows included), the fraction of one layer's
        inference messages that come from codewords (out-of-batch), and each layer's relative VQ
        error ``ε_l`` in the last transductive inference (:meth:`.model.VQModel.infer`), and each
        trained layer's gradient share of the joint assignment distance
        (:meth:`.codebook.Codebook._track_share`)."""
        from .batching import message_split

        books = self.model.books
        inner, outer = message_split(self.cg, self.infer_batches)
        return {"batch_size": self.batch_size, "num_codewords": self.config.num_codewords,
                "groups_per_layer": [b.groups for b in books],
                "codeword_message_fraction": outer / max(1, inner + outer),
                "vq_relative_error": [round(e, 6) for e in self.model.vq_error],
                "gradient_distance_share": [round(getattr(b, "grad_share", 0.0), 6) for b in books if not b.frozen],
                "codebook_bytes": sum(b.nbytes() for b in books)}
