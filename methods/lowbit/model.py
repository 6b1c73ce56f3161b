"""The quantization-aware GNN of ``lowbit``: GCN or SAGE-Mean layers with every stage fake-quantized,
optionally followed by smoothness-aware propagation layers (Wang et al., CIKM 2023).

Convolution layer ``i`` (``x`` its input, the previous layer's output after σ) computes, with
``Q_r`` the learned quantizer of role ``r`` (:class:`~.quantizer.LearnedQuantizer`):

    x̃ = dropout(Q_in(x))                     layer input / previous layer's output
    Z  = x̃ · Q_w(W)ᵀ                          transformed input (weights per output channel)
    H = Q_agg(C · Q_msg(Z)) + b                        one matrix C (GCN: Â)
    H = Q_agg(C · Q_msg(Z)) + x̃ Q_wr(W_r)ᵀ + b         C and I, a root weight (SAGE: C = D⁻¹A)

with ``C`` the backbone's own convolution matrix (``fixed_convolution`` capability,
:meth:`gnnbench.backbones.base.GNNStack.conv_matrices`); any backbone whose layers are one fixed
matrix, or one fixed matrix plus ``I``, is quantized this way.
    output σ(H) for hidden layers (quantized as the next layer's input), H for the last.

With SMP, a model of depth ``L`` is ``min(L, 2)`` such convolution layers (the transform) and
``L − 2`` smoothness-aware propagation layers (:mod:`.smp`) on their output, each with its own
message and aggregate quantizers; a model of depth 2 is the same with or without SMP.

Messages are quantized at the node that sends them (``Q_msg(Z)`` before the sparse product), which
quantizes every per-edge message ``Â_ij · Z_j`` up to its float edge weight without materialising
an ``[E, D]`` tensor.  The last convolution layer's aggregate (the logits, or the anchor ``Z`` of
the SMP layers) is left in float for the loss and the argmax, its messages quantized (a choice: a
2-bit logit has 4 levels, and ties between classes decide the argmax).  Sparse CSR products only; no dense ``N × N`` matrix.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .packing import pack, packed_nbytes
from .quantizer import LearnedQuantizer, grid_offset, kernel_codes, qrange, quantize_int
from .smp import SMPConfig, smp_solve, spmm

__all__ = ["layer_structure", "GraphOperators", "PropagationQuantizers", "QuantGNN", "QuantLayer", "model_size_bytes", "packed_weights"]


def layer_structure(stack) -> bool:
    """Whether the backbone's layers have a root term: their matrices are ``[C]`` (``False``) or
    ``[I, C]`` in some order (``True``).

    Raises:
        ValueError: no ``fixed_convolution`` capability, or another set of matrices.
    """
    if not stack.has("fixed_convolution"):
        raise ValueError("lowbit quantizes fixed convolutions; this backbone's layers provide "
                         f"{', '.join(sorted(stack.capabilities)) or 'none'}; use -b gcn or -b sage")
    mats = stack.conv_matrices(0, torch.zeros(2, 0, dtype=torch.long), 1)
    fixed = [m for m in mats if not m.identity]
    if len(fixed) != 1 or len(mats) - len(fixed) > 1:
        raise ValueError(f"lowbit quantizes layers of one fixed matrix (plus at most one identity); this "
                         f"backbone's layers have {len(fixed)} fixed and {len(mats) - len(fixed)} identity matrices")
    return len(mats) == 2


@dataclass
class GraphOperators:
    """The sparse matrices one graph needs: the layers' convolution matrix and, for SMP, ``Â``.

    Attributes:
        conv: ``[N, N]`` CSR, the backbone's (non-identity) convolution matrix.
        gcn: ``[N, N]`` CSR, the GCN matrix ``Â`` whose Laplacian SMP smooths with.
    """

    conv: Tensor
    gcn: Tensor

    @classmethod
    def build(cls, stack, edge_index: Tensor, num_nodes: int) -> GraphOperators:
        """Build from ``edge_index: [2, E]`` with the matrices of ``stack``'s first layer."""
        from gnnbench.backbones.conv import gcn_matrix

        conv = next(m for m in stack.conv_matrices(0, edge_index, num_nodes) if not m.identity)
        return cls(conv=conv.to_sparse_csr(), gcn=gcn_matrix(edge_index, num_nodes).to_sparse_csr())


class QuantLayer(torch.nn.Module):
    """One quantization-aware convolution layer (see the module docstring for the equations).

    Args:
        root: the layer has a root term ``x W_rᵀ`` (SAGE-Mean's ``C = I``).
        in_channels, out_channels: widths.
        bits: 2, 4, 8 or 32 (no quantization).
        last: the network's last convolution layer, whose aggregate (the logits, or ``Z`` of the
            SMP layers) is left in float (``q_agg`` passes it through).
        node_ranges: the input quantizer has a range per node (``LearnedQuantizer(per_node=True)``:
            a learned ratio of each node's ``max|x|``), for the first layer's input features.

    Shapes:
        x: ``[N, in_channels]`` → ``[N, out_channels]`` (before σ).
    """

    def __init__(self, root: bool, in_channels: int, out_channels: int, bits: int, last: bool = False,
                 node_ranges: bool = False):
        super().__init__()
        self.root, self.bits = root, bits
        self.weight = torch.nn.Parameter(torch.empty(out_channels, in_channels))
        self.bias = torch.nn.Parameter(torch.zeros(out_channels))
        self.q_in = LearnedQuantizer(bits, per_node=node_ranges)
        self.q_w = LearnedQuantizer(bits, per_channel=True, channels=out_channels)
        self.q_msg = LearnedQuantizer(bits)
        self.q_agg = LearnedQuantizer(32 if last else bits)
        if root:
            self.weight_root = torch.nn.Parameter(torch.empty(out_channels, in_channels))
            self.q_wr = LearnedQuantizer(bits, per_channel=True, channels=out_channels)
        self._nonzeros: tuple | None = None  # _sparse_input's cache: key, index [2, nnz], values, maxima
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.xavier_uniform_(self.weight)
        torch.nn.init.zeros_(self.bias)
        if self.root:
            torch.nn.init.xavier_uniform_(self.weight_root)

    def weights(self) -> list[tuple[str, Tensor, LearnedQuantizer]]:
        """``(name, weight [C_out, C_in], its quantizer)`` of every weight matrix."""
        out = [("weight", self.weight, self.q_w)]
        if self.root:
            out.append(("weight_root", self.weight_root, self.q_wr))
        return out

    def _sparse_input(self, x: Tensor, dropout: float) -> tuple[Tensor, Tensor] | None:
        """``dropout(Q_in(x))`` on the non-zero entries only, when ``x`` is a large, mostly-zero
        constant (bag-of-words features): ``(index [2, nnz], values [nnz])``; else ``None``.

        The same values as the dense path where 0 lies on ``Q_in``'s grid (every grid but the
        signed mid-rise 2-bit one, whose layers take the dense path; :meth:`forward`) and has zero
        LSQ gradient, so quantizing only the non-zeros (with LSQ's gradient scale counting every
        entry) and dropping only them changes nothing but the cost (Citeseer: 0.85% non-zero).
        """
        if x.requires_grad or x.dim() != 2 or x.numel() < 1 << 20:
            return None
        key = (x.data_ptr(), x._version, tuple(x.shape), x.device)
        if self._nonzeros is None or self._nonzeros[0] != key:  # the features' non-zeros, once
            index = x.nonzero().t().contiguous()
            sparse = index.size(1) < x.numel() // 8
            node_max = LearnedQuantizer.node_max(x)[index[0], 0] if sparse else None
            self._nonzeros = (key, index if sparse else None, x[index[0], index[1]] if sparse else None, node_max)
        _, index, nonzero, node_max = self._nonzeros
        if index is None:
            return None
        q = self.q_in(nonzero, numel=x.numel(), node_max=node_max if self.q_in.per_node else None)
        return index, F.dropout(q, dropout, self.training)

    @staticmethod
    def _sparse_linear(index: Tensor, values: Tensor, w: Tensor, num_nodes: int) -> Tensor:
        """``X · Wᵀ`` for ``X: [N, C_in]`` given by its non-zeros (``index [2, nnz]`` row-major,
        ``values [nnz]``), ``[N, C_out]``: per-entry products summed by ``index_add`` when gradients
        are needed (cheap backward to the values), a CSR sparse × dense product otherwise."""
        if not torch.is_grad_enabled():
            coo = torch.sparse_coo_tensor(index, values, (num_nodes, w.size(1)), is_coalesced=True,
                                          check_invariants=False)
            return spmm(coo.to_sparse_csr(), w.t().contiguous())
        return values.new_zeros(num_nodes, w.size(0)).index_add(0, index[0], values.unsqueeze(1) * w.t()[index[1]])

    @torch.no_grad()
    def _exact_product(self, x: Tensor) -> Tensor:
        """``Q_in(x) · Q_w(W)ᵀ``, ``[N, C_out]``, from the integer codes by the integer engine's own
        product (:func:`.int8.int_linear`: an exact int32 sum scaled once).

        Used in evaluation when the message grid is mid-rise (the signed 2-bit one): its decision
        threshold lies at 0, where a float product of the dequantized values leaves rounding noise
        (~1e-7) on sums that cancel exactly and so picks either level, and the integer path cannot
        (measured before this: 1–4 of 76 test predictions of a trained INT2 model flipped, and the mean
        logit difference 2–5%).  The value is the float product's up to that noise; no gradient.
        """
        from .int8 import int_linear  # int8 builds on this module

        cx, sx = kernel_codes(x, self.q_in.ranges(x), self.bits, bool(self.q_in.signed))
        cw, sw = kernel_codes(self.weight, self.q_w.alpha.abs(), self.bits, bool(self.q_w.signed))
        wt = cw.t().contiguous().to(torch.int8)
        # zero point 128: the codes are the int8 values as they are (int_linear's convention)
        return int_linear((cx.to(torch.int8), 128, sx), wt, wt.sum(0, dtype=torch.int32), sw.reshape(-1))

    def forward(self, x: Tensor, ops: GraphOperators, dropout: float) -> Tensor:
        ready = self.bits == 32 or (bool(self.q_in.initialized) and self.q_in.zero_on_grid())
        sparse = self._sparse_input(x, dropout) if ready else None
        if sparse is not None:
            z = self._sparse_linear(*sparse, self.q_w(self.weight), x.size(0))
        elif not self.training and bool(self.q_in.initialized) and not self.q_msg.zero_on_grid():
            z = self._exact_product(x)
            x = self.q_in(x)
        else:
            x = F.dropout(self.q_in(x), dropout, self.training)
            z = x @ self.q_w(self.weight).t()
        agg = self.q_agg(spmm(ops.conv, self.q_msg(z)))
        if not self.root:
            return agg + self.bias
        root = (self._sparse_linear(*sparse, self.q_wr(self.weight_root), x.size(0)) if sparse is not None
                else x @ self.q_wr(self.weight_root).t())
        return agg + root + self.bias


class PropagationQuantizers(torch.nn.Module):
    """The message and aggregate quantizers of one smoothness-aware propagation layer."""

    def __init__(self, bits: int):
        super().__init__()
        self.q_msg = LearnedQuantizer(bits)
        self.q_agg = LearnedQuantizer(bits)


class QuantGNN(torch.nn.Module):
    """Convolution layers ``x ← σ(layer_i(x))`` (no σ after the last), then SMP layers if any.

    Args:
        root: every layer has a root term (:func:`layer_structure`).
        channels: ``(in, out)`` of each convolution layer
            (:func:`gnnbench.backbones.base.layer_channels`).
        bits: 2, 4, 8 or 32.
        dropout: dropout on each convolution layer's input.
        smp: SMP constants, or ``None`` for none.
        smp_layers: number of propagation layers after the convolutions (needs ``smp``).
        node_ranges: the first layer's input (the features) quantized with a range per node
            (see :class:`QuantLayer`).

    Attributes:
        residuals: after a forward pass with SMP layers, the constraint residuals ``[K]``
            (detached), ``None`` otherwise.

    Raises:
        ValueError: ``smp_layers > 0`` without ``smp``.

    Shapes:
        x: ``[N, in]`` → logits ``[N, out]``; ``ops`` built for the same ``N``.
    """

    def __init__(self, root: bool, channels: list[tuple[int, int]], bits: int, dropout: float,
                 smp: SMPConfig | None = None, smp_layers: int = 0, node_ranges: bool = False):
        super().__init__()
        if smp_layers and smp is None:
            raise ValueError(f"smp_layers={smp_layers} needs SMP constants; pass smp=SMPConfig() or smp_layers=0")
        self.root, self.bits, self.dropout, self.smp = root, bits, dropout, smp
        self.layers = torch.nn.ModuleList(
            QuantLayer(root, i, o, bits, last=k == len(channels) - 1, node_ranges=node_ranges and k == 0)
            for k, (i, o) in enumerate(channels))
        self.propagation = torch.nn.ModuleList(PropagationQuantizers(bits) for _ in range(smp_layers))
        self.residuals: Tensor | None = None

    def convolve(self, x: Tensor, ops: GraphOperators) -> Tensor:
        """The convolution layers: ``[N, in]`` → ``Z: [N, out]``."""
        for i, layer in enumerate(self.layers):
            h = layer(x, ops, self.dropout)
            x = F.relu(h) if i < len(self.layers) - 1 else h
        return x

    def propagate(self, z: Tensor, ops: GraphOperators) -> Tensor:
        """The SMP layers on ``z: [N, out]`` (identity without any); sets :attr:`residuals`."""
        if not len(self.propagation):
            self.residuals = None
            return z
        quants = [(p.q_msg, p.q_agg) for p in self.propagation]
        h, _, res = smp_solve(z, ops.gcn, self.smp, len(quants), quantizers=quants)
        self.residuals = res
        return h

    def forward(self, x: Tensor, ops: GraphOperators) -> Tensor:
        return self.propagate(self.convolve(x, ops), ops)


@torch.no_grad()
def packed_weights(model: QuantGNN) -> dict[str, dict]:
    """Every weight matrix as packed integer codes (bits < 32), or float32 (bits = 32).

    Returns:
        ``{name: {"packed": uint8 [⌈numel·b/8⌉], "scale": float32 [C_out, 1], "shape", "bits",
        "qmin", "offset"}}`` for quantized models (a code ``q`` stands for ``(q + offset) · scale``);
        ``{name: {"float": Tensor}}`` at 32 bits.
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
                        "shape": tuple(w.shape), "bits": model.bits, "qmin": qmin,
                        "offset": grid_offset(model.bits, bool(q.signed))}
    return out


def model_size_bytes(model: QuantGNN) -> int:
    """Bytes of the stored model: packed integer weights + float32 per-channel steps, biases and
    activation ranges (4 bytes per float) of the quantizers that quantize (the last layer's
    aggregate is float: its ``α`` is unused and not counted, as an earlier version did); at 32
    bits ``4 ·`` the weights and biases (not the unused ranges ``α``)."""
    if model.bits == 32:  # the unquantized model stores no ranges: its α are unused
        return 4 * sum(p.numel() for n, p in model.named_parameters() if not n.endswith("alpha"))
    total = 0
    for layer in model.layers:
        for _, w, q in layer.weights():
            total += packed_nbytes(w.numel(), model.bits) + 4 * q.alpha.numel()
        total += 4 * layer.bias.numel()
        total += 4 * sum(m.alpha.numel() for n, m in layer.named_children()
                         if isinstance(m, LearnedQuantizer) and m.bits < 32 and not n.startswith("q_w"))
    total += 4 * sum(p.numel() for p in model.propagation.parameters())
    return total
