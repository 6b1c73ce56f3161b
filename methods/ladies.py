"""LADIES: layer-dependent importance sampling (Zou, Hu, Wang, Jiang, Sun & Gu, NeurIPS 2019)."""
from __future__ import annotations

from typing import ClassVar, Sequence

from pydantic import BaseModel, ConfigDict, Field

from gnnbench.types import Batch, Prediction, Task

__all__ = ["LADIES"]


class LADIES:
    """Layer-wise sampling with layer-dependent importance (Zou et al. 2019, Alg. 1): for a batch
    of ``batch_size`` training nodes, each layer from the top samples ``nodes_per_layer`` nodes with
    probability ``p_j ∝ ‖C[V_above, j]‖²`` (the squared norms of the convolution matrix's columns
    restricted to the layer above's nodes, Eq. 6) and aggregates with the sampled, debiased
    matrix ``C[i, j] · c_j / (s p_j)`` (:class:`~gnnbench.methods.sampling.ladies.LadiesSampler`).
    The matrices are the whole graph's, from the backbone (``fixed_convolution``: GCN's symmetric
    normalisation, as in the paper, or SAGE-Mean's mean aggregation with its root term computed
    exactly).  ``row_normalize`` (default, as the authors' code) rescales each sampled row to the
    row sum of ``C``: lower variance, biased; ``False`` keeps the unbiased estimate.  The nodes of
    the layer above are kept as sources of the layer below (their own root / self term).
    Inference is layer-wise with all neighbours (:func:`~gnnbench.methods.sampling.layerwise_predict`).
    Batch norm normalises each layer by the statistics of its output nodes.  Node tasks.

    What it measures differently: a batch's nodes are at most ``batch_size + L · nodes_per_layer``
    whatever the degrees (no neighbourhood explosion), and its messages are the sampled entries.

    Budget rule: with ``budget.nodes_per_batch`` (``messages_per_batch``), ``batch_size`` is the
    largest number of output nodes whose pilot batches have at most that many nodes (entries) on
    average; ``nodes_per_layer`` stays as configured.
    """

    description: ClassVar[str] = "LADIES: layer-dependent importance sampling of a fixed number of nodes per layer (Zou et al. 2019)"
    supported_backbones: ClassVar[frozenset[str] | None] = None
    backbone_capabilities: ClassVar[frozenset[str]] = frozenset({"fixed_convolution"})
    unsupported_reasons: ClassVar[dict[str, str]] = {
        "gat": "LADIES samples by the norms of a fixed convolution matrix; GAT's attention is learnt"}
    meets_budget: ClassVar[bool] = True
    supported_tasks: ClassVar[frozenset[Task]] = frozenset({Task.NODE_TRANSDUCTIVE, Task.NODE_INDUCTIVE})

    class Config(BaseModel):
        """Args:
            batch_size: output (training) nodes per batch (default 512, the paper's); replaced by
                the budget solver when a budget is set.
            nodes_per_layer: ``s``, nodes drawn per layer (default 512, the paper's 512).
            row_normalize: rescale each sampled row to the exact row sum (default ``True``, the
                authors' code); ``False``: the unbiased estimate of Eq. 5.
            inference_batch_size: destination nodes per batch of layer-wise inference (default 4096).
        """

        model_config = ConfigDict(frozen=True, extra="forbid")
        batch_size: int = Field(512, ge=1)
        nodes_per_layer: int = Field(512, ge=1)
        row_normalize: bool = True
        inference_batch_size: int = Field(4096, ge=1)

    def __init__(self, config, backbone, train, budget):
        self.config, self.backbone, self.train, self.budget = config, backbone, train, budget
        self.cache_dir = None

    def setup(self, dataset, device) -> None:
        from gnnbench.methods.sampling.ladies import LadiesSampler, LayerMatrices
        from gnnbench.training import build_model, build_optimizer, encoder_of

        self.dataset, self.device = dataset, device
        self.model = build_model(self.backbone, dataset).to(device)
        self.stack = encoder_of(self.model)
        self.optimizer = build_optimizer(self.model.parameters(), self.train)
        g = dataset.graph
        n = int(g.num_nodes)
        ei = g.edge_index.cpu()
        self.layers = [LayerMatrices.of(self.stack.conv_matrices(i, ei, n), n) for i in range(self.stack.num_layers)]
        self.sampler = LadiesSampler(self.layers, n, self.config.nodes_per_layer, self.config.row_normalize)
        self.pool = dataset.split["train"].cpu()
        self.batch_size = self._solve() or self.config.batch_size

    def _solve(self) -> int | None:
        import torch

        from gnnbench.training import pilot_sizes, solve_budget

        def draw(p: int) -> tuple[int, int]:
            out = self.sampler.sample(self.pool[torch.randperm(self.pool.numel())[:p]])
            return out.node.numel(), out.row.numel()

        return solve_budget(lambda p: pilot_sizes(lambda: draw(p)), self.budget, 1, int(self.pool.numel()), "seed(s)")

    def batches(self, epoch: int):
        import torch
        from torch_geometric.data import Data
        from torch_geometric.sampler import NodeSamplerInput

        g = self.dataset.graph
        for seeds in self.pool[torch.randperm(self.pool.numel())].split(self.batch_size):
            out = self.sampler.sample_from_nodes(NodeSamplerInput(None, seeds))
            _, _, weight, conv = out.metadata
            data = Data(x=g.x[out.node], y=g.y[seeds], edge_index=torch.stack([out.row, out.col]),
                        edge_weight=weight, conv=conv, num_nodes=int(out.node.numel()))
            data.num_sampled_nodes, data.num_sampled_edges = list(out.num_sampled_nodes), list(out.num_sampled_edges)
            yield Batch(data=data, num_nodes=int(out.node.numel()), num_messages=int(out.row.numel()))

    def forward(self, d) -> "torch.Tensor":  # noqa: F821
        """The stack on a sampled batch, layer ``i`` on hop ``L - 1 - i``'s sampled matrices →
        ``[batch, out]`` outputs of the seeds."""
        import torch

        from gnnbench.backbones.conv import ConvMatrix

        L = self.stack.num_layers
        nodes, edges = list(d.num_sampled_nodes), list(d.num_sampled_edges)
        x = d.x
        for i in range(L):
            h = L - 1 - i
            n_dst, n_src = sum(nodes[:h + 1]), sum(nodes[:h + 2])
            lo, hi = sum(edges[:h]), sum(edges[:h + 1])
            src, dst = d.edge_index[0, lo:hi], d.edge_index[1, lo:hi]
            w, conv = d.edge_weight[lo:hi], d.conv[lo:hi]
            mats = []
            for s, identity in enumerate(self.layers[i].identity):
                if identity:
                    loop = torch.arange(n_dst, device=x.device)
                    mats.append(ConvMatrix(loop, loop, torch.ones(n_dst, device=x.device), torch.full_like(loop, -1),
                                           n_src, identity=True))
                else:
                    k = conv == s
                    mats.append(ConvMatrix(src[k], dst[k], w[k], torch.full_like(src[k], -1), n_src))
            x = self.stack.weighted_layer(i, x[:n_src], mats, n_dst)
        return x

    def train_step(self, batch: Batch) -> float:
        from gnnbench.tasks import node_loss
        from gnnbench.training import optimise

        self.model.train()
        d = batch.data
        return optimise(self.optimizer, node_loss(self.forward(d), d.y, self.dataset.info.multilabel))

    def predict(self, splits: Sequence[str]) -> dict[str, Prediction]:
        from gnnbench.methods.sampling import layerwise_predict

        return layerwise_predict(self.model, self.stack, self.dataset, splits, self.device,
                                 self.config.inference_batch_size)

    def report(self) -> dict:
        """The batch size the budget solver chose (or the configured one)."""
        return {"ladies_batch_size": int(self.batch_size)}
