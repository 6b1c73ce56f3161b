"""Low-bit quantized deep GNNs with smoothness-aware message propagation (Wang et al., CIKM 2023).

The plugin class lives here without importing torch; the quantizers (:mod:`.quantizer`), bit
packing (:mod:`.packing`), smoothness-aware propagation (:mod:`.smp`), the model (:mod:`.model`)
and the integer-kernel inference (:mod:`.int8`) are imported lazily.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from gnnbench.types import Batch, Prediction, Task
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["LowBit"]


class LowBit:
    """Quantization-aware full-graph training at INT8/INT4/INT2 with learned ranges and
    smoothness-aware message propagation (Wang, Eravci, Guliyev & Ferhatosmanoglu, "Low-bit
    Quantization for Deep Graph Neural Networks with Smoothness-aware Message Propagation",
    CIKM 2023, arXiv 2308.14949).

    The model is built from a fixed-convolution backbone's matrices (``gcn``, ``sage``: one
    matrix, or one plus a root term) and its ``num_layers`` (up to 64),
    ``hidden_channels`` and ``dropout``; every stage (layer inputs and outputs, weights, messages,
    aggregates) is fake-quantized at ``bits`` with a learned range per tensor role (STE, initialised
    by an error-minimising search on the first batch), see :mod:`.model`.  With ``smp`` (default)
    layers beyond the second are smoothness-aware propagation layers (:mod:`.smp`).  One batch per epoch: the whole
    graph, as ``full_graph``.  ``report()`` gives the packed model size in bytes.

    Node tasks only (transductive and inductive); link prediction is not supported.
    """

    description: ClassVar[str] = ("low-bit (INT8/4/2) quantization-aware GNN with learned ranges and "
                                  "smoothness-aware message propagation (Wang et al. 2023)")
    supported_backbones: ClassVar[frozenset[str] | None] = None
    backbone_capabilities: ClassVar[frozenset[str]] = frozenset({"fixed_convolution"})
    supported_tasks: ClassVar[frozenset[Task]] = frozenset({Task.NODE_TRANSDUCTIVE, Task.NODE_INDUCTIVE})

    class Config(BaseModel):
        """Options of ``lowbit``.

        Args:
            bits: bit width of every quantized stage: 8, 4, 2, or 32 for the unquantized FP32
                reference (default 8).
            smp: smoothness-aware message propagation (default ``True``): a backbone of
                ``num_layers = L`` becomes 2 quantized convolution layers followed by ``L − 2``
                SMP propagation layers (:mod:`.smp`); without it, ``L`` stacked convolution layers
                (a plain deep GCN / SAGE).  Default on because it costs nothing where it cannot
                help and is what keeps deep models accurate: at depth ≤ 2 both settings build the
                same model (the depth study's depth-2 rows are identical), and on Cora (GCN, FP32,
                200 epochs, mean of seeds 0–2) plain stacks fall to 0.283 / 0.246 / 0.209 test
                accuracy at 8 / 16 / 32 layers (0.821 at 2) while SMP keeps 0.823 / 0.822 / 0.830
                (``benchmarks/bench_lowbit_depth.py``).
            smp_lambda: λ, weight of the smoothing term ``tr(HᵀLH)`` (default 9.0).
            smp_eps: ε, allowed relative drop of the neighbour dissimilarity ``S(H)`` below that
                of the propagation layers' input (default 0.5).
            smp_eta: η, primal step in units of ``1/(1+λ)`` (default 1.0).
            smp_rho: ρ, multiplier step (default 10.0).
            smp_mu_max: cap of the multiplier (default ``None``: λ, which at most switches the
                smoothing off; 0 disables the constraint).  Measured on Cora (GCN, FP32, same
                study): 0 gives 0.825 / 0.817 / 0.816 at 8 / 16 / 32 layers against λ's
                0.823 / 0.822 / 0.830, differences of the order of the seed-to-seed spread; the
                anchored objective does most of the work of preventing the collapse.
            feature_ranges: the input features' quantization ranges: ``"node"`` (default), one
                per node, a learned ratio of the node's own ``max|x|`` (Planetoid features are
                row-normalised, ``1 / length`` per word: a single range rounds long documents
                towards 0; measured on Cora INT4, seed 0, 200 epochs: 0.776 with ``"tensor"``,
                0.810 with the first layer's input at 8 bits; mean of seeds 0–2 at INT4 0.803 →
                0.812), or ``"tensor"``, one learned range for the whole tensor as every other
                role.  The price is speed: with per-node ranges integer inference runs the first
                layer on ``torch._int_mm`` and rescales rows in float (on the arxiv-shaped
                synthetic graph its dense transforms ran 0.60× FP32's, against 1.32× with
                ``"tensor"``, where every layer uses the quantized linear kernel).
            integer_inference: ``predict`` runs the integer kernels of :mod:`.int8` (fbgemm/oneDNN
                uint8 × int8 quantized linear; INT4/INT2 codes run on the same kernels) instead of
                fake-quantized float (default ``False``; bits = 32 ignores it).
        """

        model_config = ConfigDict(frozen=True, extra="forbid")
        bits: Literal[2, 4, 8, 32] = 8
        smp: bool = True
        smp_lambda: float = Field(9.0, ge=0)
        smp_eps: float = Field(0.5, ge=0, lt=1)
        smp_eta: float = Field(1.0, gt=0, le=2)
        smp_rho: float = Field(10.0, ge=0)
        smp_mu_max: float | None = Field(None, ge=0)
        feature_ranges: Literal["node", "tensor"] = "node"
        integer_inference: bool = False

    def __init__(self, config, backbone, train, budget):
        self.config, self.backbone, self.train, self.budget = config, backbone, train, budget

    def smp_config(self):
        """The :class:`~.smp.SMPConfig` of this configuration, or ``None`` without SMP."""
        from .smp import SMPConfig

        c = self.config
        if not c.smp:
            return None
        return SMPConfig(lam=c.smp_lambda, eps=c.smp_eps, eta=c.smp_eta, rho=c.smp_rho, mu_max=c.smp_mu_max)

    def build(self, in_channels: int, out_channels: int):
        """The :class:`~.model.QuantGNN` for the backbone's depth, width and dropout.

        Raises:
            ValueError: the backbone's layers are not one fixed matrix (plus a root term).
        """
        from gnnbench.backbones.base import layer_channels

        from .model import QuantGNN, layer_structure

        self.stack = self.backbone.build(1, 1)  # for its matrices only (the weights are QuantGNN's)
        root = layer_structure(self.stack)
        c = self.backbone.config
        convs = min(c.num_layers, 2) if self.config.smp else c.num_layers
        channels = layer_channels(in_channels, c.hidden_channels, out_channels, convs)
        return QuantGNN(root, channels, self.config.bits, c.dropout, self.smp_config(),
                        smp_layers=c.num_layers - convs, node_ranges=self.config.feature_ranges == "node")

    def setup(self, dataset, device) -> None:
        from gnnbench.training import build_optimizer

        from .model import GraphOperators

        self.dataset, self.device = dataset, device
        self.model = self.build(dataset.num_features, dataset.num_outputs).to(device)
        g = dataset.graph.to(device)
        self.x, self.y = g.x, g.y
        self.ops = GraphOperators.build(self.stack, g.edge_index, g.num_nodes)
        self.num_nodes, self.num_edges = int(g.num_nodes), int(g.num_edges)
        self.train_idx = dataset.split["train"].to(device)
        ranges = [p for n, p in self.model.named_parameters() if n.endswith("alpha")]
        weights = [p for n, p in self.model.named_parameters() if not n.endswith("alpha")]
        # no weight decay on the learned ranges: it would shrink them towards clipping everything
        self.optimizer = build_optimizer(
            [{"params": weights, "weight_decay": self.train.weight_decay},
             {"params": ranges, "weight_decay": 0.0}], self.train)
        self._eval_ops: dict[int, object] = {}

    def batches(self, epoch: int):
        yield Batch(data=None, num_nodes=self.num_nodes, num_messages=self.num_edges)  # as full_graph

    def train_step(self, batch: Batch) -> float:
        from gnnbench.tasks import node_loss
        from gnnbench.training import optimise

        self.model.train()
        out = self.model(self.x, self.ops)
        idx = self.train_idx
        return optimise(self.optimizer, node_loss(out[idx], self.y[idx], self.dataset.info.multilabel))

    def _operators(self, graph):
        from .model import GraphOperators

        if graph is self.dataset.graph:
            return self.x, self.ops
        key = id(graph)
        if key not in self._eval_ops:
            g = graph.to(self.device)
            self._eval_ops[key] = (g.x, GraphOperators.build(self.stack, g.edge_index, g.num_nodes))
        return self._eval_ops[key]

    def predict(self, splits: Sequence[str]) -> dict[str, Prediction]:
        from gnnbench.training import predict_splits

        self.model.eval()
        run = self.model
        if self.config.integer_inference and self.config.bits < 32:
            from .int8 import IntegerGNN

            run = IntegerGNN(self.model)
        return predict_splits(self.dataset, splits, lambda g: run(*self._operators(g)), self.device)

    def report(self) -> dict:
        """Facts for the trial's ``extra``: bits, packed model size in bytes, FP32 size in bytes,
        and with SMP layers the constraint residual at each of them in the last forward pass."""
        from .model import model_size_bytes

        fp32 = 4 * sum(p.numel() for n, p in self.model.named_parameters() if not n.endswith("alpha"))
        facts = {"bits": self.config.bits, "model_size_bytes": model_size_bytes(self.model),
                 "fp32_model_size_bytes": fp32, "smp": self.config.smp}
        if self.model.residuals is not None:
            facts["smp_residual_per_layer"] = [float(v) for v in self.model.residuals]
        return facts
