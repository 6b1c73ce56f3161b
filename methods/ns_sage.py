"""NS-SAGE: GraphSAGE's uniform neighbour sampling, one fanout per layer (Hamilton et al. 2017)."""
from __future__ import annotations

from typing import ClassVar, Sequence

from pydantic import ConfigDict, Field, field_validator

from gnnbench.types import Batch, Prediction, Task

from ._inference_options import InferenceOptions

__all__ = ["NSSage"]


class NSSage:
    """Mini-batches of seed nodes with ``fanouts[h]`` uniformly sampled neighbours per node at hop
    ``h`` (Hamilton et al. 2017, Alg. 2; the "NS-SAGE" rows of Ding et al. 2021, Tables 2–4).

    Training runs layer ``i`` only on the hops it needs; inference uses all neighbours in
    mini-batches, layer-wise (default, :func:`gnnbench.methods.sampling.layerwise_inference`) or
    over each batch's full L-hop neighbourhood (``inference = "lhop"``,
    :func:`gnnbench.methods.sampling.lhop_inference`).
    Node tasks draw seeds from the training nodes (inductive: of the training graphs); link
    prediction draws batches of training edges with as many uniformly random negative pairs and
    samples the computation graph of their endpoints (PyG ``LinkLoader``).

    Budget rule: with ``budget.nodes_per_batch`` (``messages_per_batch``), ``batch_size`` is the
    largest number of seeds (seed edges for links) whose pilot batches have at most that many
    sampled nodes (sampled edges, all hops) on average (:func:`~gnnbench.training.solve_budget`).

    Needs a backbone whose layers run on sampled bipartite blocks (the ``bipartite``
    capability: sage, gat); GCN has none, and NS-SAGE is not compatible with it (Ding et al.
    2021, Table 4 note 1).  Batch norm normalises each layer by the statistics of the
    destination nodes of its block (the seeds at the last layer).
    """

    description: ClassVar[str] = "NS-SAGE: uniform neighbour sampling, one fanout per layer (Hamilton et al. 2017)"
    supported_backbones: ClassVar[frozenset[str] | None] = None
    backbone_capabilities: ClassVar[frozenset[str]] = frozenset({"bipartite"})
    unsupported_reasons: ClassVar[dict[str, str]] = {
        "gcn": "NS-SAGE is not compatible with GCN (Ding et al. 2021, Table 4 note 1)"}
    meets_budget: ClassVar[bool] = True
    supported_tasks: ClassVar[frozenset[Task]] = frozenset(Task)

    class Config(InferenceOptions):
        """Args:
            fanouts: neighbours sampled per node at each hop, ``fanouts[0]`` for the seeds; one per
                backbone layer, ``-1`` for all (default ``None``: 25 then 10 for every further
                hop, Hamilton et al. 2017, Sec. 4.1).
            batch_size: seed nodes (links: seed edges) per batch (default 512); replaced by the
                budget solver when a budget is set.
            inference, inference_batch_size: see :class:`~gnnbench.methods._inference_options.InferenceOptions`.
        """

        model_config = ConfigDict(frozen=True, extra="forbid")
        fanouts: tuple[int, ...] | None = None
        batch_size: int = Field(512, ge=1)

        @field_validator("fanouts")
        @classmethod
        def _fanouts_are_counts(cls, value):
            if value is not None and (not value or any(f < 1 and f != -1 for f in value)):
                raise ValueError("give one positive number of neighbours per layer, or -1 for all of them, "
                                 "e.g. [25, 10]")
            return value

    @classmethod
    def check(cls, config: "NSSage.Config", backbone_config, info) -> None:
        """Refuse fanouts that do not give one entry per backbone layer (before any data is loaded).

        Raises:
            ValueError: ``len(fanouts) != backbone_config.num_layers``.
        """
        layers = getattr(backbone_config, "num_layers", None)
        if config.fanouts is not None and layers is not None and len(config.fanouts) != layers:
            raise ValueError(f"method.fanouts={list(config.fanouts)} has {len(config.fanouts)} entries but the "
                             f"backbone has {layers} layers; give one fanout per layer (or set backbone.num_layers)")

    def __init__(self, config, backbone, train, budget):
        self.config, self.backbone, self.train, self.budget = config, backbone, train, budget
        self.cache_dir = None

    def _fanouts(self, num_layers: int) -> list[int]:
        fanouts = self.config.fanouts
        if fanouts is None:
            return [25] + [10] * (num_layers - 1)
        if len(fanouts) != num_layers:
            raise ValueError(f"method.fanouts={list(fanouts)} has {len(fanouts)} entries but the backbone "
                             f"has {num_layers} layers; give one fanout per layer")
        return list(fanouts)

    def setup(self, dataset, device) -> None:
        from torch_geometric.loader import LinkLoader, NodeLoader
        from torch_geometric.sampler import NegativeSampling

        from gnnbench.methods.sampling import UniformNeighborSampler
        from gnnbench.training import build_model, build_optimizer, encoder_of

        self.dataset, self.device, self.task = dataset, device, dataset.info.task
        self.model = build_model(self.backbone, dataset).to(device)
        self.stack = encoder_of(self.model)
        self.optimizer = build_optimizer(self.model.parameters(), self.train)
        g = dataset.graph
        self.sampler = UniformNeighborSampler(g.edge_index, g.num_nodes, self._fanouts(self.stack.num_layers))
        if self.task == Task.LINK:
            pool = dataset.edge_split["train"]["edge"]
        else:
            pool = dataset.split["train"]
        self.batch_size = self._solve(pool) or self.config.batch_size
        if self.task == Task.LINK:
            self.loader = LinkLoader(g, self.sampler, edge_label_index=pool.t().contiguous(),
                                     neg_sampling=NegativeSampling("binary", 1.0),
                                     batch_size=self.batch_size, shuffle=True)
        else:
            self.loader = NodeLoader(g, self.sampler, input_nodes=pool,
                                     batch_size=self.batch_size, shuffle=True)

    def _solve(self, pool) -> int | None:
        import torch

        from gnnbench.training import pilot_sizes, solve_budget

        def draw(p: int) -> tuple[int, int]:
            pick = torch.randperm(pool.size(0))[:p]
            if self.task == Task.LINK:
                e = pool[pick]
                neg = torch.randint(0, self.sampler.num_nodes, (2, e.size(0)))
                out = self.sampler.sample(torch.unique(torch.cat([e.reshape(-1), neg.reshape(-1)])))
            else:
                out = self.sampler.sample(pool[pick])
            return out.node.numel(), out.row.numel()

        return solve_budget(lambda p: pilot_sizes(lambda: draw(p)), self.budget, 1, int(pool.size(0)), "seed(s)")

    def batches(self, epoch: int):
        for data in self.loader:
            yield Batch(data=data, num_nodes=int(data.num_nodes), num_messages=int(data.edge_index.size(1)))

    def train_step(self, batch: Batch) -> float:
        from gnnbench.methods.sampling import sampled_forward
        from gnnbench.tasks import node_loss, pair_loss
        from gnnbench.training import optimise

        self.model.train()
        d = batch.data
        h = sampled_forward(self.stack, d.x, d.edge_index, d.num_sampled_nodes, d.num_sampled_edges)
        if self.task == Task.LINK:
            pos = d.edge_label > 0
            loss = pair_loss(self.model.predictor, h, d.edge_label_index[:, pos], d.edge_label_index[:, ~pos])
        else:
            loss = node_loss(h, d.y[:d.batch_size], self.dataset.info.multilabel)
        return optimise(self.optimizer, loss)

    def predict(self, splits: Sequence[str]) -> dict[str, Prediction]:
        from gnnbench.methods.sampling import sampled_predict

        return sampled_predict(self.model, self.stack, self.dataset, splits, self.device,
                               self.config.inference_batch_size, self.config.inference)
