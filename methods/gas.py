"""GAS: METIS mini-batches whose out-of-batch neighbours come from historical embeddings
(GNNAutoScale, Fey, Lenssen, Weichert & Leskovec, ICML 2021)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gnnbench.types import Batch, Prediction, Task

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor

__all__ = ["GAS", "GASBatch"]


@dataclass
class GASBatch:
    """One GAS mini-batch: ``B`` in-batch nodes and their 1-hop halo ``H`` (out-of-batch in-neighbours).

    Shapes:
        x: ``[B + H, F]`` input features, the batch's nodes first.
        halo: ``L - 1`` tensors ``[H, f_l]``: the halo's history of layer ``l``'s output, pulled
            from the host when the batch was drawn.
        matrices: per layer, its convolution matrices' rows of the batch's nodes (local ids,
            sources in ``[0, B + H)``, destinations in ``[0, B)``), with the whole graph's weights
            (``fixed_convolution`` backbones); ``None`` otherwise.
        block_index: ``[2, M]`` local ``source → destination`` edges into the batch, explicit
            self-loops dropped (attention backbones, which add one per destination); else ``None``.
        y: ``[B]`` (or ``[B, C]``) labels; train: ``[B]`` bool, the batch's training nodes.
        batch_nodes: ``[B]`` global ids (where the layer outputs are pushed).
        num_dst: ``B``.
    """

    x: "Tensor"
    halo: list
    matrices: list | None
    block_index: "Tensor | None"
    y: "Tensor"
    train: "Tensor"
    batch_nodes: "Tensor"
    num_dst: int


class GAS:
    """GNNAutoScale (Fey et al. 2021, Eq. 3 and Alg. 1): the training graph is cut into
    ``num_parts`` METIS parts once (cached in ``cache_dir``); each epoch shuffles the parts and each
    batch is ``parts_per_batch`` of them.  Every layer ``l`` computes the outputs of the batch's
    nodes from *all* their in-neighbours: in-batch neighbours with this step's (differentiable)
    embeddings, out-of-batch neighbours (the 1-hop halo) with their *historical* embeddings
    ``H̄⁽ˡ⁾`` — every node's last computed layer-``l`` output, kept on the host — through the whole
    graph's convolution (GCN keeps the whole graph's normalisation).  After each layer's forward the
    batch's new outputs are pushed into ``H̄⁽ˡ⁾`` (detached); the halo's rows were pulled when the
    batch was drawn.  Layer 0's halo reads the features themselves.  The loss covers the batch's
    training nodes (none: no step, :mod:`gnnbench.training`); batch norm normalises by the
    statistics of the batch's nodes.  Inference is exact, layer-wise with all neighbours
    (:func:`~gnnbench.methods.sampling.layerwise_predict`), not from histories.

    Backbones: those with a ``fixed_convolution`` (gcn, sage: ``weighted_layer`` on the batch's rows
    of the whole-graph matrices) or ``bipartite`` layers (gat: the layer on the block of edges into
    the batch, its attention normalised over all of a node's neighbours).  With ``refresh = True``
    every history is recomputed exactly (eval mode, current weights) before each batch is drawn:
    GAS's output then equals full-graph training's (Fey et al. 2021, Sec. 3: without staleness the
    approximation error vanishes), at full-graph cost; for testing.

    Memory: the histories are ``Σ_l N·f_l·4`` bytes of host memory (``O(L·N·f)``), allocated in
    ``setup``, so they fall in the runner's preprocess host-memory figure, and are reported as
    ``extra.history_bytes`` (with ``extra.history_device = "cpu"``); the device holds one batch
    (``O(B + H)`` rows, the train-phase device figure).  The pull is part of drawing a batch (timed
    as sampling, its move to the device as transfer); the push, a device-to-host copy of the batch's
    outputs, is timed as compute.  ``num_messages`` counts the graph's edges into the batch once
    (every layer passes them), as Cluster-GCN counts its subgraph's edges.

    Budget rule: with ``budget.nodes_per_batch`` (``messages_per_batch``), ``parts_per_batch`` is
    the largest number of parts whose pilot batches have at most that many nodes, halo included
    (edges into the batch), on average.
    """

    description: ClassVar[str] = "GAS: METIS batches with historical embeddings of out-of-batch neighbours (Fey et al. 2021)"
    supported_backbones: ClassVar[frozenset[str] | None] = None
    backbone_capabilities: ClassVar[frozenset[str]] = frozenset({"fixed_convolution", "bipartite"})
    meets_budget: ClassVar[bool] = True
    supported_tasks: ClassVar[frozenset[Task]] = frozenset({Task.NODE_TRANSDUCTIVE, Task.NODE_INDUCTIVE})

    class Config(BaseModel):
        """Args:
            num_parts: METIS parts of the training graph (default 40; must not exceed its nodes).
            parts_per_batch: parts per batch (default 10, at most ``num_parts``); replaced by the
                budget solver when a budget is set.
            refresh: recompute every history exactly before each batch (default ``False``; exact,
                at full-graph cost: for testing).
            inference_batch_size: destination nodes per batch of layer-wise inference (default 4096).
        """

        model_config = ConfigDict(frozen=True, extra="forbid")
        num_parts: int = Field(40, ge=1)
        parts_per_batch: int = Field(10, ge=1)
        refresh: bool = False
        inference_batch_size: int = Field(4096, ge=1)

        @model_validator(mode="after")
        def _parts_fit(self):
            from gnnbench.methods.sampling.partition import check_parts_per_batch

            check_parts_per_batch(self.parts_per_batch, self.num_parts)
            return self

    @classmethod
    def check(cls, config: "GAS.Config", backbone_config, info) -> None:
        """Refuse more METIS parts than the dataset has nodes (when known without loading).

        Raises:
            ValueError: ``num_parts > info.num_nodes``.
        """
        from gnnbench.methods.sampling.partition import check_num_parts

        check_num_parts(config.num_parts, info)

    def __init__(self, config, backbone, train, budget):
        self.config, self.backbone, self.train, self.budget = config, backbone, train, budget
        self.cache_dir = None

    # ------------------------------------------------------------------ setup
    def setup(self, dataset, device) -> None:
        import torch

        from gnnbench.methods.sampling import build_csc, partition, parts_to_nodes
        from gnnbench.training import build_model, build_optimizer, encoder_of, train_nodes

        self.dataset, self.device = dataset, device
        self.model = build_model(self.backbone, dataset).to(device)
        self.stack = encoder_of(self.model)
        self.optimizer = build_optimizer(self.model.parameters(), self.train)
        _, self.train_mask = train_nodes(dataset)
        g = dataset.graph
        n, k = int(g.num_nodes), self.config.num_parts
        self.part = partition(g.edge_index, n, k, self.cache_dir)
        self.order, self.ptr = parts_to_nodes(self.part, k)
        self.fixed = self.stack.has("fixed_convolution")
        ei = g.edge_index.cpu()
        if self.fixed:  # per layer, per matrix: the whole graph's matrix by destination, with its weights
            self.cscs = []
            for i in range(self.stack.num_layers):
                mats = self.stack.conv_matrices(i, ei, n)
                self.cscs.append([(build_csc(torch.stack([m.src, m.dst]), n), m.weight, m.identity) for m in mats])
        else:
            self.plain = build_csc(ei[:, ei[0] != ei[1]], n)  # the attention layer adds one loop per node
        widths = [o for _, o in self.stack.channels[:-1]]
        self.histories = [torch.zeros(n, w) for w in widths]  # H̄⁽ˡ⁾ on the host, l = 0 … L-2
        self._local = torch.full((n,), -1, dtype=torch.long)
        self.parts_per_batch = self._solve() or self.config.parts_per_batch

    def _nodes(self, parts: "Tensor") -> "Tensor":
        """The nodes of ``parts: [P]`` (vectorised)."""
        from gnnbench.methods.sampling import segment_expand

        start = self.ptr[parts]
        slot, off = segment_expand(self.ptr[parts + 1] - start)
        return self.order[start[slot] + off]

    def _solve(self) -> int | None:
        import torch

        from gnnbench.training import pilot_sizes, solve_budget

        k = self.config.num_parts

        def draw(p: int) -> tuple[int, int]:
            b = self._block(self._nodes(torch.randperm(k)[:p]))
            return b.nodes.numel(), b.num_messages

        return solve_budget(lambda p: pilot_sizes(lambda: draw(p)), self.budget, 1, k, "part(s)")

    # ------------------------------------------------------------------ batches
    def _block(self, nodes: "Tensor") -> "_Block":
        """The batch ``nodes: [B]`` with its halo, in local ids (batch first)."""
        import torch

        from gnnbench.backbones.conv import ConvMatrix

        nb, local = nodes.numel(), self._local
        if self.fixed:
            parts = []
            for layer in self.cscs:
                for csc, weight, identity in layer:
                    pos, slot = csc.in_edges(nodes)
                    parts.append((csc.src[pos], slot, weight[csc.perm[pos]], identity))
            srcs = torch.cat([p[0] for p in parts])
        else:
            pos, slot = self.plain.in_edges(nodes)
            srcs = self.plain.src[pos]
        local[nodes] = torch.arange(nb)
        try:
            halo = torch.unique(srcs[local[srcs] < 0])
            local[halo] = torch.arange(nb, nb + halo.numel())
            all_nodes = torch.cat([nodes, halo])
            if self.fixed:
                mats, it, messages = [], iter(parts), 0
                for layer in self.cscs:
                    row = []
                    for _ in layer:
                        src, dst, w, identity = next(it)
                        j = local[src]
                        row.append(ConvMatrix(j, dst, w, torch.full_like(j, -1), int(all_nodes.numel()), identity))
                    mats.append(row)
                    messages = max(messages, sum(m.nnz for m in row if not m.identity))
                return _Block(all_nodes, nb, mats, None, messages)
            return _Block(all_nodes, nb, None, torch.stack([local[srcs], slot]), int(srcs.numel()))
        finally:
            local[nodes] = -1
            local[srcs] = -1

    def _refresh(self) -> None:
        """Every history recomputed exactly: the stack layer by layer on the whole graph, eval mode."""
        import torch

        g = self.dataset.graph
        was = self.model.training
        self.model.eval()
        with torch.no_grad():
            h = g.x.to(self.device)
            ei = g.edge_index.to(self.device)
            for i, hist in enumerate(self.histories):
                h = self.stack.layer(i, h, ei)
                hist.copy_(h.cpu())
        self.model.train(was)

    def batches(self, epoch: int):
        import torch

        g = self.dataset.graph
        for parts in torch.randperm(self.config.num_parts).split(self.parts_per_batch):
            if self.config.refresh:
                self._refresh()
            b = self._block(self._nodes(parts))
            nodes, nb = b.nodes, b.num_dst
            halo = nodes[nb:]
            data = GASBatch(x=g.x[nodes], halo=[hist[halo] for hist in self.histories], matrices=b.matrices,
                            block_index=b.block_index, y=g.y[nodes[:nb]], train=self.train_mask[nodes[:nb]],
                            batch_nodes=nodes[:nb], num_dst=nb)
            yield Batch(data=data, num_nodes=int(nodes.numel()), num_messages=int(b.num_messages))

    # ------------------------------------------------------------------ a step
    def forward(self, d: GASBatch) -> "Tensor":
        """The stack's outputs ``[B, out]`` of the batch's nodes; pushes each hidden layer's outputs
        into its history (Fey et al. 2021, Alg. 1, lines 4–7)."""
        import torch

        h, nb = d.x, d.num_dst
        ids = d.batch_nodes.cpu()
        for i in range(self.stack.num_layers):
            if self.fixed:
                out = self.stack.weighted_layer(i, h, d.matrices[i], nb)
            else:
                out = self.stack.layer(i, (h, h[:nb]), d.block_index)
            if i == self.stack.num_layers - 1:
                return out
            self.histories[i][ids] = out.detach().to("cpu", self.histories[i].dtype)  # push
            h = torch.cat([out, d.halo[i].to(out.dtype)])  # pull (drawn with the batch)
        return h  # pragma: no cover - the loop returns

    def train_step(self, batch: Batch) -> float:
        from gnnbench.tasks import node_loss
        from gnnbench.training import no_step, optimise

        self.model.train()
        d = batch.data
        out = self.forward(d)
        if not bool(d.train.any()):
            return no_step()
        return optimise(self.optimizer, node_loss(out[d.train], d.y[d.train], self.dataset.info.multilabel))

    def predict(self, splits: Sequence[str]) -> dict[str, Prediction]:
        from gnnbench.methods.sampling import layerwise_predict

        return layerwise_predict(self.model, self.stack, self.dataset, splits, self.device,
                                 self.config.inference_batch_size)

    def report(self) -> dict[str, Any]:
        """``history_bytes`` (host memory of the histories), ``history_device`` and the parts per batch."""
        return {"history_bytes": int(sum(h.numel() * h.element_size() for h in self.histories)),
                "history_device": "cpu", "gas_parts_per_batch": int(self.parts_per_batch)}


@dataclass
class _Block:
    nodes: "Tensor"
    num_dst: int
    matrices: list | None
    block_index: "Tensor | None"
    num_messages: int
