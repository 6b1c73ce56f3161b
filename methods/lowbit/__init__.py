"""Low-bit quantized deep GNNs with smoothness-aware message propagation (Wang et al., CIKM 2023).

The plugin class lives here without importing torch; the quantizers (:mod:`.quantizer`), bit
packing (:mod:`.packing`), smoothness-aware propagation (:mod:`.smp`), the model (:mod:`.model`)
and the integer-kernel inference (:mod:`.int8`) are imported lazily.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from gnnbench.types import Batch, Prediction, Task
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["LowBit"]


class LowBit:
    """Quantization-aware full-graph training at INT8/INT4/INT2 with learned ranges and
    smoothness-aware message propagation (Wang, Eravci, Guliyev & Ferhatosmanoglu, "Low-bit
    Quantization for Deep Graph Neural Networks with Smoothness-aware Message Propagation",
    CIKM 2023, arXiv 2308.14949).

    Two architectures (``architecture``):

    * ``"propagation"`` (default; the authors' code, ``SamirMoustafa/SMP_GNN_Quant``): a quantized
      2-layer MLP then ``propagation_steps = K`` quantized SMP steps on the backbone's convolution
      matrix (:mod:`.propagation`), every tensor role on the QLR quantizer (:mod:`.qlr`:
      asymmetric grid with a zero point, range ``α`` × the batch's min/max, BT / BT* for INT2);
      integer inference on FBGEMM's embedding-bag and quantized-linear kernels (:mod:`.integer`).
    * ``"stacked"`` (gnnbench's earlier reading of the abstract): ``num_layers`` quantized GCN / SAGE
      convolutions, beyond the second smoothness-aware propagation layers (:mod:`.model`,
      :mod:`.smp`), on the LSQ-style quantizer of :mod:`.quantizer`.

    One batch per epoch: the whole graph, as ``full_graph``.  ``report()`` gives the packed model
    size in bytes.  Node tasks only (transductive and inductive); link prediction is not supported.
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
            architecture: ``"propagation"`` (default, the authors': MLP + ``K`` SMP steps; the
                backbone's ``num_layers`` is not used) or ``"stacked"`` (``num_layers`` quantized
                convolutions).
            propagation_steps: ``K``, the SMP steps of ``"propagation"`` (default 10, every command
                of the authors' README).
            bt: INT2 bitwise truncation of ``"propagation"``: ``"none"`` (default), ``"bt"`` or
                ``"bt*"`` (skewness-aware); needs ``bits = 2``.
            messages: ``"edge"`` (default, the authors': each per-edge message ``w_ij·h_j``
                quantized) or ``"node"`` (``w_ij · Q(h_j)``, what the integer embedding-bag kernel
                computes exactly) — ``"propagation"`` only.
            smp_threshold: ``a`` of the constraint ``tr(ΔᵀLΔ) + s² = a·|E|`` (default ``None``: the
                authors' README value for the precision: FP32 0.1, INT8/INT4 1e-5, INT2 1e-4,
                BT 0.2, BT* 0.1) — ``"propagation"`` only.
            smp_step: η, the primal step of ``"propagation"`` (default 0.1, the authors' ``eta_H``).
            correction_bits: the width of the correction's propagation ``Q'`` (``2ηλ Q'(CΔ)``) of
                ``"propagation"`` (default ``None``: ``bits``; BT/BT* apply to it only at 2 bits).
            smp_multiplier_step: η_λ, the multiplier step of ``"propagation"`` (default 1e-5, the
                authors' ``--lambda_threshold``); each step's ``λ`` is projected onto the interval
                where the step is non-expansive on the graph
                (:meth:`~.propagation.SMPConstants.multiplier_bounds`: Cora ``[−4.09, 10.4]``),
                without which INT2-BT* training diverged to NaN.
            alpha_lr: learning rate of the quantizers' ``α`` (default 1e-4, the authors' ``--lr``;
                the weights use ``train.lr``) — ``"propagation"`` only.
            smp: smoothness-aware message propagation (default ``True``).  ``"propagation"``:
                without it the steps are ``H ← (1−(1+μ)η)H + μη Q(CH) + ηZ`` with no correction
                (``λ ≡ 0``).  ``"stacked"``: a backbone of ``num_layers = L`` becomes 2 quantized
                convolution layers followed by ``L − 2`` SMP propagation layers (:mod:`.smp`);
                without it, ``L`` stacked convolution layers (a plain deep GCN / SAGE); on Cora
                (GCN, FP32, 200 epochs, mean of seeds 0–2) plain stacks fall to 0.283 / 0.246 /
                0.209 test accuracy at 8 / 16 / 32 layers (0.821 at 2) while SMP keeps 0.823 /
                0.822 / 0.830 (``benchmarks/bench_lowbit_depth.py``).
            smp_lambda: the smoothing weight: μ of ``"propagation"`` (the authors' ``lambda1``) and λ
                of ``"stacked"``'s ``tr(HᵀLH)`` (default 9.0).
            smp_eps: ε of ``"stacked"``: allowed relative drop of the neighbour dissimilarity
                ``S(H)`` below that of the propagation layers' input (default 0.5).
            smp_eta: η of ``"stacked"``, primal step in units of ``1/(1+λ)`` (default 1.0).
            smp_rho: ρ of ``"stacked"``, multiplier step (default 10.0).
            smp_mu_max: cap of ``"stacked"``'s multiplier (default ``None``: λ; 0 disables the
                constraint).
            feature_ranges: ``"stacked"`` only: the input features' quantization ranges, ``"node"``
                (default; one per node, a learned ratio of the node's own ``max|x|``) or
                ``"tensor"`` (one learned range).
            integer_inference: ``predict`` runs the integer kernels (``"propagation"``:
                :mod:`.integer`; ``"stacked"``: :mod:`.int8`) instead of fake-quantized float
                (default ``False``; bits = 32 ignores it).
        """

        model_config = ConfigDict(frozen=True, extra="forbid")
        bits: Literal[2, 4, 8, 32] = 8
        architecture: Literal["propagation", "stacked"] = "propagation"
        propagation_steps: int = Field(10, ge=0, le=256)
        bt: Literal["none", "bt", "bt*"] = "none"
        messages: Literal["edge", "node"] = "edge"
        smp_threshold: float | None = Field(None, ge=0)
        smp_step: float = Field(0.1, gt=0, le=1)
        smp_multiplier_step: float = Field(1e-5, ge=0)
        correction_bits: Literal[2, 4, 8, 32] | None = None
        alpha_lr: float = Field(1e-4, gt=0)
        smp: bool = True
        smp_lambda: float = Field(9.0, ge=0)
        smp_eps: float = Field(0.5, ge=0, lt=1)
        smp_eta: float = Field(1.0, gt=0, le=2)
        smp_rho: float = Field(10.0, ge=0)
        smp_mu_max: float | None = Field(None, ge=0)
        feature_ranges: Literal["node", "tensor"] = "node"
        integer_inference: bool = False

        @model_validator(mode="after")
        def _check(self):
            if self.correction_bits is not None and self.architecture != "propagation":
                raise ValueError(f"method.correction_bits={self.correction_bits} is an option of the propagation "
                                 f"architecture; set method.architecture='propagation' or drop correction_bits")
            if self.bt != "none" and (self.bits != 2 or self.architecture != "propagation"):
                raise ValueError(f"method.bt={self.bt!r} is an INT2 scheme of the propagation architecture; "
                                 f"set method.bits=2 (now {self.bits}) and method.architecture='propagation' "
                                 f"(now {self.architecture!r}), or method.bt='none'")
            return self

        def threshold(self) -> float:
            """``a`` of the constraint: :attr:`smp_threshold`, or the authors' value for the precision."""
            if self.smp_threshold is not None:
                return self.smp_threshold
            if self.bt != "none":
                return {"bt": 0.2, "bt*": 0.1}[self.bt]
            return {32: 0.1, 8: 1e-5, 4: 1e-5, 2: 1e-4}[self.bits]

    def __init__(self, config, backbone, train, budget):
        self.config, self.backbone, self.train, self.budget = config, backbone, train, budget

    def smp_config(self):
        """The :class:`~.smp.SMPConfig` of this configuration (``"stacked"``), or ``None`` without SMP."""
        from .smp import SMPConfig

        c = self.config
        if not c.smp:
            return None
        return SMPConfig(lam=c.smp_lambda, eps=c.smp_eps, eta=c.smp_eta, rho=c.smp_rho, mu_max=c.smp_mu_max)

    def smp_constants(self):
        """The :class:`~.propagation.SMPConstants` of this configuration (``"propagation"``), or
        ``None`` without SMP."""
        from .propagation import SMPConstants

        c = self.config
        if not c.smp:
            return None
        return SMPConstants(mu=c.smp_lambda, eta=c.smp_step, eta_lambda=c.smp_multiplier_step,
                            threshold=c.threshold())

    @property
    def stacked(self) -> bool:
        return self.config.architecture == "stacked"

    def build(self, in_channels: int, out_channels: int):
        """The model: a :class:`~.propagation.PropagationGNN` (``"propagation"``) or a
        :class:`~.model.QuantGNN` for the backbone's depth (``"stacked"``), with the backbone's
        width and dropout.

        Raises:
            ValueError: the backbone's layers are not one fixed matrix (plus a root term).
        """
        from gnnbench.backbones.base import layer_channels

        from .model import QuantGNN, layer_structure

        self.stack = self.backbone.build(1, 1)  # for its matrices only (the weights are ours)
        root = layer_structure(self.stack)
        c = self.backbone.config
        if not self.stacked:
            from .propagation import PropagationGNN

            cfg = self.config
            return PropagationGNN(in_channels, c.hidden_channels, out_channels, cfg.bits, c.dropout,
                                  cfg.propagation_steps, self.smp_constants(),
                                  None if cfg.bt == "none" else cfg.bt, cfg.messages, cfg.correction_bits)
        convs = min(c.num_layers, 2) if self.config.smp else c.num_layers
        channels = layer_channels(in_channels, c.hidden_channels, out_channels, convs)
        return QuantGNN(root, channels, self.config.bits, c.dropout, self.smp_config(),
                        smp_layers=c.num_layers - convs, node_ranges=self.config.feature_ranges == "node")

    def graph_operators(self, edge_index, num_nodes: int):
        """The sparse operators of one graph for the model (``[2, E]`` edges, ``N`` nodes)."""
        from gnnbench.backbones.conv import gcn_matrix

        if self.stacked:
            from .model import GraphOperators

            return GraphOperators.build(self.stack, edge_index, num_nodes)
        from .propagation import PropagationGraph

        conv = next(m for m in self.stack.conv_matrices(0, edge_index, num_nodes) if not m.identity)
        gcn = gcn_matrix(edge_index, num_nodes)
        same = (conv.nnz == gcn.nnz and _equal(conv.src, gcn.src) and _equal(conv.dst, gcn.dst)
                and _equal(conv.weight, gcn.weight))
        return PropagationGraph.build(conv, gcn, conv_is_gcn=same)

    def setup(self, dataset, device) -> None:
        from gnnbench.training import build_optimizer

        self.dataset, self.device = dataset, device
        self.model = self.build(dataset.num_features, dataset.num_outputs).to(device)
        g = dataset.graph.to(device)
        self.x, self.y = g.x, g.y
        self.ops = self.graph_operators(g.edge_index, g.num_nodes)
        self.num_nodes, self.num_edges = int(g.num_nodes), int(g.num_edges)
        self.train_idx = dataset.split["train"].to(device)
        ranges = [p for n, p in self.model.named_parameters() if n.endswith("alpha")]
        weights = [p for n, p in self.model.named_parameters() if not n.endswith("alpha")]
        # no weight decay on the learned ranges: it would shrink them towards clipping everything
        alpha_group = {"params": ranges, "weight_decay": 0.0}
        if not self.stacked:
            alpha_group["lr"] = self.config.alpha_lr  # the authors' separate (small) learning rate of α
        self.optimizer = build_optimizer(
            [{"params": weights, "weight_decay": self.train.weight_decay}, alpha_group], self.train)
        self._eval_ops: dict[int, object] = {}
        self._engines: dict[int, object] = {}

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
        if graph is self.dataset.graph:
            return self.x, self.ops
        key = id(graph)
        if key not in self._eval_ops:
            g = graph.to(self.device)
            self._eval_ops[key] = (g.x, self.graph_operators(g.edge_index, g.num_nodes))
        return self._eval_ops[key]

    def _integer_run(self, x, ops):
        key = id(ops)
        if key not in self._engines:
            if self.stacked:
                from .int8 import IntegerGNN

                self._engines[key] = lambda x_, ops_, e=IntegerGNN(self.model): e(x_, ops_)
            else:
                from .integer import IntegerPropagationGNN

                e = IntegerPropagationGNN(self.model, ops, gcn_is_conv=ops.conv_is_gcn)
                self._engines[key] = lambda x_, ops_, e=e: e(x_)
        return self._engines[key](x, ops)

    def predict(self, splits: Sequence[str]) -> dict[str, Prediction]:
        from gnnbench.training import predict_splits

        self.model.eval()
        run = self.model
        if self.config.integer_inference and self.config.bits < 32:
            self._engines = {}  # prepared from the current weights at every call (they train in between)
            run = self._integer_run
        return predict_splits(self.dataset, splits, lambda g: run(*self._operators(g)), self.device)

    def report(self) -> dict:
        """Facts for the trial's ``extra``: bits, packed model size in bytes, FP32 size in bytes,
        and with SMP the constraint residual at each layer / step in the last forward pass."""
        from .model import model_size_bytes
        from .propagation import model_size_bytes as propagation_model_size_bytes

        fp32 = 4 * sum(p.numel() for n, p in self.model.named_parameters() if not n.endswith("alpha"))
        size = model_size_bytes(self.model) if self.stacked else propagation_model_size_bytes(self.model)
        facts = {"bits": self.config.bits, "model_size_bytes": size, "fp32_model_size_bytes": fp32,
                 "smp": self.config.smp, "architecture": self.config.architecture}
        if self.model.residuals is not None:
            facts["smp_residual_per_layer"] = [float(v) for v in self.model.residuals]
        return facts


def _equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))
