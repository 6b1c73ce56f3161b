"""The quantization-aware GNN of ``lowbit``: GCN or SAGE-Mean layers with every stage fake-quantized
and optional smoothness-aware message propagation (Wang et al., CIKM 2023).

Layer ``i`` (``x`` its input, the previous layer's output after σ) computes, with ``Q_r`` the
learned quantizer of role ``r`` (:class:`~.quantizer.LearnedQuantizer`):

    x̃ = dropout(Q_in(x))                     layer input / previous layer's output
    Z  = x̃ · Q_w(W)ᵀ                          transformed input (weights per output channel)
    GCN:   H = Q_agg(Â · Q_msg(Z)) + b         plain propagation, or
           H = Q_agg(SMP(Z)) + b               smoothness-aware propagation (:mod:`.smp`)
    SAGE:  H = Q_agg(D⁻¹A · Q_msg(x̃ Q_w(W_l)ᵀ)) + x̃ Q_wr(W_r)ᵀ + b, then SMP(H) if enabled
    output σ(H) for hidden layers (quantized as the next layer's input), H for the last.

Messages are quantized at the node that sends them (``Q_msg(Z)`` before the sparse product), which
quantizes every per-edge message ``Â_ij · Z_j`` up to its float edge weight without materialising
an ``[E, D]`` tensor.  The final logits are left in float for the loss and the argmax (a choice:
a 2-bit logit cannot separate 40 classes).  Sparse CSR products only; no dense ``N × N`` matrix.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .packing import pack, packed_nbytes
from .quantizer import LearnedQuantizer, quantize_int, qrange
from .smp import SMPConfig, conv_matrix, smoothness, smp_solve, spmm

__all__ = ["GraphOperators", "QuantLayer", "QuantGNN", "packed_weights", "model_size_bytes"]


@dataclass
class GraphOperators:
    """The sparse matrices one graph needs: the layer's convolution matrix and, for SMP, ``Â``.

    Attributes:
        conv: ``[N, N]`` CSR, the GCN matrix (``gcn``) or the mean matrix (``sage``).
        gcn: ``[N, N]`` CSR, the GCN matrix ``Â`` whose Laplacian SMP smooths with.
    """

    conv: Tensor
    gcn: Tensor

    @classmethod
    def build(cls, edge_index: Tensor, num_nodes: int, kind: str) -> "GraphOperators":
        """Build from ``edge_index: [2, E]`` for backbone ``kind`` (``"gcn"`` or ``"sage"``)."""
        gcn = conv_matrix(edge_index, num_nodes, "gcn")
        conv = gcn if kind == "gcn" else conv_matrix(edge_index, num_nodes, "mean")
        return cls(conv=conv, gcn=gcn)


class QuantLayer(torch.nn.Module):
    """One quantization-aware GCN or SAGE-Mean layer (see the module docstring for the equations).

    Args:
        kind: ``"gcn"`` or ``"sage"``.
        in_channels, out_channels: widths.
        bits: 2, 4, 8 or 32 (no quantization).
        smp: SMP constants, or ``None`` for plain propagation.

    Shapes:
        x: ``[N, in_channels]`` → ``[N, out_channels]`` (before σ).
    """

    def __init__(self, kind: str, in_channels: int, out_channels: int, bits: int, smp: SMPConfig | None):
        super().__init__()
        self.kind, self.bits, self.smp = kind, bits, smp
        self.weight = torch.nn.Parameter(torch.empty(out_channels, in_channels))
        self.bias = torch.nn.Parameter(torch.zeros(out_channels))
        self.q_in = LearnedQuantizer(bits)
        self.q_w = LearnedQuantizer(bits, per_channel=True, channels=out_channels)
        self.q_msg = LearnedQuantizer(bits)
        self.q_agg = LearnedQuantizer(bits)
        if kind == "sage":
            self.weight_root = torch.nn.Parameter(torch.empty(out_channels, in_channels))
            self.q_wr = LearnedQuantizer(bits, per_channel=True, channels=out_channels)
            if smp is not None:
                self.q_smp = LearnedQuantizer(bits)
        self.register_buffer("mu", torch.zeros(()))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.xavier_uniform_(self.weight)
        torch.nn.init.zeros_(self.bias)
        if self.kind == "sage":
            torch.nn.init.xavier_uniform_(self.weight_root)

    def weights(self) -> list[tuple[str, Tensor, LearnedQuantizer]]:
        """``(name, weight [C_out, C_in], its quantizer)`` of every weight matrix."""
        out = [("weight", self.weight, self.q_w)]
        if self.kind == "sage":
            out.append(("weight_root", self.weight_root, self.q_wr))
        return out

    def propagate(self, z: Tensor, ops: GraphOperators, s_prev: Tensor) -> tuple[Tensor, Tensor | None]:
        """The aggregation of ``z: [N, D]`` (before ``Q_agg``): ``Â·Q_msg(z)`` or SMP; and SMP's residuals."""
        if self.smp is None:
            return spmm(ops.conv, self.q_msg(z)), None
        h, mu, res = smp_solve(z, ops.gcn, s_prev, self.smp, self.mu, quant=self.q_msg)
        if self.training:
            self.mu.copy_(mu)
        return h, res

    def forward(self, x: Tensor, ops: GraphOperators, s_prev: Tensor, dropout: float
                ) -> tuple[Tensor, Tensor | None]:
        x = F.dropout(self.q_in(x), dropout, self.training)
        z = x @ self.q_w(self.weight).t()
        if self.kind == "gcn":
            h, res = self.propagate(z, ops, s_prev)
            return self.q_agg(h) + self.bias, res
        agg = self.q_agg(spmm(ops.conv, self.q_msg(z)))
        h = agg + x @ self.q_wr(self.weight_root).t() + self.bias
        if self.smp is None:
            return h, None
        h, mu, res = smp_solve(h, ops.gcn, s_prev, self.smp, self.mu, quant=self.q_smp)
        if self.training:
            self.mu.copy_(mu)
        return h, res


class QuantGNN(torch.nn.Module):
    """A stack of :class:`QuantLayer` s: ``x ← σ(layer_i(x))``, no σ after the last.

    Args:
        kind: ``"gcn"`` or ``"sage"``.
        channels: ``(in, out)`` of each layer (:func:`gnnbench.backbones.base.layer_channels`).
        bits: 2, 4, 8 or 32.
        dropout: dropout on each layer's input.
        smp: SMP constants, or ``None`` for plain propagation.

    Attributes:
        residuals: after a forward pass with SMP, the constraint residuals ``[L, steps]`` (detached).

    Shapes:
        x: ``[N, in]`` → logits ``[N, out]``; ``ops`` built for the same ``N``.
    """

    def __init__(self, kind: str, channels: list[tuple[int, int]], bits: int, dropout: float,
                 smp: SMPConfig | None):
        super().__init__()
        if kind not in ("gcn", "sage"):
            raise ValueError(f"kind={kind!r} is not supported by lowbit; choose 'gcn' or 'sage'")
        self.kind, self.bits, self.dropout, self.smp = kind, bits, dropout, smp
        self.layers = torch.nn.ModuleList(QuantLayer(kind, i, o, bits, smp) for i, o in channels)
        self.residuals: Tensor | None = None

    def forward(self, x: Tensor, ops: GraphOperators) -> Tensor:
        s_prev = x.new_zeros(())  # the first layer's constraint is inactive: it bounds *changes*
        residuals = []
        for i, layer in enumerate(self.layers):
            h, res = layer(x, ops, s_prev, self.dropout)
            if res is not None:
                residuals.append(res)
                s_prev = smoothness(h.detach(), ops.gcn)
            x = F.relu(h) if i < len(self.layers) - 1 else h
        self.residuals = torch.stack(residuals) if residuals else None
        return x


@torch.no_grad()
def packed_weights(model: QuantGNN) -> dict[str, dict]:
    """Every weight matrix as packed integer codes (bits < 32), or float32 (bits = 32).

    Returns:
        ``{name: {"packed": uint8 [⌈numel·b/8⌉], "scale": float32 [C_out, 1], "shape", "bits",
        "qmin"}}`` for quantized models; ``{name: {"float": Tensor}}`` at 32 bits.
    """
    out: dict[str, dict] = {}
    for li, layer in enumerate(model.layers):
        for name, w, q in layer.weights():
            key = f"layers.{li}.{name}"
            if model.bits == 32:
                out[key] = {"float": w.detach().float()}
                continue
            if not bool(q.initialized):
                q.initialize(w)
            codes, scale = quantize_int(w, q.alpha.abs(), model.bits, bool(q.signed))
            qmin = qrange(model.bits, bool(q.signed))[0]
            out[key] = {"packed": pack(codes, model.bits, qmin), "scale": scale.float(),
                        "shape": tuple(w.shape), "bits": model.bits, "qmin": qmin}
    return out


def model_size_bytes(model: QuantGNN) -> int:
    """Bytes of the stored model: packed integer weights + float32 per-channel steps, biases and
    activation ranges (4 bytes per float); ``4 · parameters`` at 32 bits."""
    if model.bits == 32:
        return 4 * sum(p.numel() for p in model.parameters())
    total = 0
    for layer in model.layers:
        for _, w, q in layer.weights():
            total += packed_nbytes(w.numel(), model.bits) + 4 * q.alpha.numel()
        total += 4 * layer.bias.numel()
        total += 4 * sum(m.alpha.numel() for n, m in layer.named_children()
                         if isinstance(m, LearnedQuantizer) and not n.startswith("q_w"))
    return total
