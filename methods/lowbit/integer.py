"""Integer inference of a trained :class:`~.propagation.PropagationGNN` on FBGEMM kernels.

* The two linear layers run on the quantized linear kernel (``torch.ops.quantized.linear``: uint8
  activations × int8 weights, int32 accumulation, the float bias, requantization): the input's
  codes are ``Q_in``'s (QLR's grid is already uint8 with a zero point), the weight's are ``Q_w``'s
  (8 bits and BT: ``c − 128`` with zero point ``z − 128``; 4 and 2 bits: ``c − z`` with zero point 0),
  and the kernel's output requantization *is* ``Q_out`` (codes then clamped to the 4/2-bit range,
  or truncated under BT/BT*).  Guard: without AVX-512 VNNI / AVX-VNNI, fbgemm multiplies uint8 ×
  int8 pairs with ``vpmaddubsw``, whose int16 pair sums saturate once ``2 · 255 · max|w| > 32767``
  (8-bit weights); such a layer runs in float on the dequantized codes instead (:func:`has_vnni`).
* Each propagation ``Σ_j w_ij Q_msg(h_j)`` runs on FBGEMM's quantized embedding-bag operators
  (``embedding_bag_{byte,4bit,2bit}_rowwise_offsets``) over the CSR offsets of ``C`` with the
  edge weights as per-sample weights: the rows are ``Q_msg``'s codes of ``h`` packed (8, 2 or 4
  codes per byte, low bits first) with a row scale 1 and bias ``−z`` (85 and ``−z`` under BT:
  exact in the operators' fp16), and the sum is multiplied by the step ``s`` afterwards; then
  ``Q_agg`` and ``Q_upd`` run as in-place elementwise passes.  This is exactly the model with
  ``messages="node"``; for ``"edge"`` models (each ``w_ij h_j`` quantized) it is an approximation,
  and its agreement is measured (``benchmarks/bench_lowbit_int8.py``).
* The SMP combination is float elementwise; ``tr(ΔᵀLΔ) = ‖Δ‖² − ⟨Δ, ÂΔ⟩`` takes ``ÂΔ`` from the
  correction's own embedding bag when ``C = Â`` (GCN; ``Q'_msg(Δ)`` in place of ``Δ``: it moves
  only the multipliers ``λ``, by ``η_λ`` times the difference) and from an 8-bit embedding bag
  over ``Â`` otherwise; ``λ`` is projected onto the model's ``bounds`` as in training.
"""
from __future__ import annotations

import functools
import warnings

import torch
from torch import Tensor

from .propagation import PropagationGNN, PropagationGraph, QuantPropagation, SMPConstants
from .qlr import BT_STEP, Grid, QLRQuantizer

__all__ = ["IntegerPropagationGNN", "has_vnni", "pack_rows", "saturation_free"]

_BAGS = {8: "embedding_bag_byte_rowwise_offsets", 4: "embedding_bag_4bit_rowwise_offsets",
         2: "embedding_bag_2bit_rowwise_offsets"}


@functools.lru_cache(maxsize=1)
def has_vnni() -> bool:
    """Whether the CPU has AVX-512 VNNI or AVX-VNNI (``/proc/cpuinfo`` flags; ``False`` elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


def saturation_free(max_input_code: int, max_abs_weight: int) -> bool:
    """Whether fbgemm's uint8 × int8 product is exact: with VNNI always; without it when the int16
    pair sum ``2 · max_input_code · max_abs_weight`` cannot exceed 32767."""
    return has_vnni() or 2 * max_input_code * max_abs_weight <= 32767


def _row_bits(g: Grid) -> int:
    return 2 if g.bt else {255: 8, 15: 4, 3: 2}[g.qmax]


def pack_rows(codes: Tensor, bits: int, scale: float, bias: float) -> Tensor:
    """FBGEMM rowwise embedding rows (the kernels' output is as wide as the padded codes: keep
    the first ``C`` columns) of integer ``codes: [N, C]`` (values in ``[0, 2^bits)``):
    ``[N, C + 8]`` (8 bits: codes, float32 scale and bias) or ``[N, ⌈C·bits/8⌉ + 4]`` (4 / 2 bits:
    codes packed low bits first, fp16 scale and bias); a row's value is ``scale · code + bias``."""
    n, c = codes.shape
    u = codes.to(torch.uint8)
    if bits == 8:
        tail = torch.tensor([scale, bias], dtype=torch.float32).view(torch.uint8)
        return torch.cat([u, tail.expand(n, 8)], dim=1)
    per = 8 // bits
    pad = (-c) % per
    if pad:
        u = torch.cat([u, u.new_zeros(n, pad)], dim=1)
    u = u.view(n, -1, per)
    packed = u[:, :, 0].clone()
    for k in range(1, per):
        packed.bitwise_or_(u[:, :, k] << (k * bits))
    tail = torch.tensor([scale, bias], dtype=torch.float16).view(torch.uint8)
    return torch.cat([packed, tail.expand(n, 4)], dim=1)


def _codes_u8(x: Tensor, g: Grid) -> Tensor:
    """``g``'s codes of ``x`` as uint8 ``[...]`` (fused: ``torch.quantize_per_tensor``, then the
    clamp to a 4/2-bit range on bytes; BT's truncation on the 8-bit codes)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = torch.quantize_per_tensor(x, g.scale, g.zero_point, torch.quint8).int_repr()
    if g.bt is not None:
        return _truncate_u8(c, g.shift)
    return c.clamp_(g.qmin, g.qmax) if g.qmax < 255 else c


def _truncate_u8(c: Tensor, shift: int) -> Tensor:
    """BT / BT* on 8-bit codes: ``85 · ⌊(c + k) / 85⌉`` (uint8)."""
    return (torch.round((c.float() + shift) / BT_STEP).clamp_(0, 3) * BT_STEP).to(torch.uint8)


def _dequantize(c: Tensor, g: Grid) -> Tensor:
    """``s · (c − z)`` of uint8 codes, float32 (one fused pass)."""
    return torch._make_per_tensor_quantized_tensor(c, g.scale, g.zero_point).dequantize()


def _fake_(x: Tensor, q: QLRQuantizer) -> Tensor:
    """``q(x)`` in evaluation, float32."""
    if not q.active:
        return x
    g = q.grid()
    return _dequantize(_codes_u8(x, g), g)


def _quint8(x: Tensor, g: Grid) -> Tensor:
    """``x`` on ``g`` as a quint8 tensor (codes truncated under BT)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if g.bt is None and g.qmax == 255:
            return torch.quantize_per_tensor(x, g.scale, g.zero_point, torch.quint8)
        return torch._make_per_tensor_quantized_tensor(_codes_u8(x, g), g.scale, g.zero_point)


class _Linear:
    """One :class:`~.propagation.QuantLinear` prepared for the quantized linear kernel."""

    def __init__(self, layer):
        self.layer = layer
        w = layer.linear.weight.detach()
        b = layer.linear.bias.detach().float()
        gw = layer.q_w.grid()
        c = gw.codes(w)
        if gw.qmax == 255:  # 8-bit codes (BT's too): shifted into int8
            q, zp = c - 128, gw.zero_point - 128
        else:
            q, zp = c - gw.zero_point, 0
        self.exact = saturation_free(255, int(q.abs().max()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wq = torch._make_per_tensor_quantized_tensor(q.to(torch.int8), gw.scale, zp)
            self.packed = torch.ops.quantized.linear_prepack(wq, b) if self.exact else None
        self.w_float, self.bias = gw.dequantize(c), b

    def __call__(self, x: Tensor) -> Tensor:
        """``Q_out(Q_in(x) Q_w(W)ᵀ + b)`` in float, ``[N, out]``."""
        gi, go = self.layer.q_in.grid(), self.layer.q_out.grid()
        xq = _quint8(x, gi)
        if self.packed is None:  # no VNNI and 8-bit weights: fbgemm's int16 pair sums could saturate
            return _fake_(torch.addmm(self.bias, xq.dequantize(), self.w_float.t()), self.layer.q_out)
        out = torch.ops.quantized.linear(xq, self.packed, go.scale, go.zero_point)
        codes = out.int_repr()
        if go.bt is None and go.qmax == 255:
            return out.dequantize()
        c = _truncate_u8(codes, go.shift) if go.bt is not None else codes.clamp_(go.qmin, go.qmax)
        return _dequantize(c, go)


class IntegerPropagationGNN:
    """A trained :class:`PropagationGNN` (bits ≤ 8) prepared for integer inference.

    Args:
        model: the trained model (every quantizer has seen data).
        graph: the :class:`PropagationGraph` it will run on (its CSR offsets are prepared once).

    Raises:
        ValueError: ``bits = 32``, or a quantizer that never saw data (train one step first).

    Shapes:
        ``__call__(x: [N, in])`` → logits ``[N, out]`` float32.
    """

    def __init__(self, model: PropagationGNN, graph: PropagationGraph, gcn_is_conv: bool = False):
        if model.bits == 32:
            raise ValueError("integer inference needs bits 8, 4 or 2, not 32; set method.bits")
        for name, m in model.named_modules():
            if isinstance(m, QLRQuantizer) and m.bits < 32 and not bool(m.initialized):
                if not (name.startswith("gap") and model.smp is None):
                    raise ValueError(f"quantizer {name} has no range yet; train at least one step first")
        self.model, self.graph, self.gcn_is_conv = model, graph, gcn_is_conv
        self.lin1, self.lin2 = _Linear(model.lin1), _Linear(model.lin2)
        csr = graph.csr
        self.offsets = csr.crow_indices().to(torch.int64)
        self.indices = csr.col_indices().to(torch.int64)
        self.weights = csr.values().float().contiguous()
        if not gcn_is_conv:
            a = graph.gcn
            self.gcn_bag = (a.crow_indices().to(torch.int64), a.col_indices().to(torch.int64), a.values().float())

    def _bag(self, rows: Tensor, bits: int, bag=None) -> Tensor:
        offsets, indices, weights = bag or (self.offsets, self.indices, self.weights)
        op = getattr(torch.ops.quantized, _BAGS[bits])
        return op(rows, indices, offsets, False, 0, False, weights, None, True)

    def propagate(self, h: Tensor, p: QuantPropagation) -> Tensor:
        """``Q_upd(Q_agg(Σ_j w_ij Q_msg(h_j)))`` on the embedding-bag kernel, ``[N, C]`` float."""
        g = p.q_msg.grid()
        scale, bias = (float(BT_STEP), float(-g.zero_point)) if g.bt else (1.0, float(-g.zero_point))
        codes = _codes_u8(h, g)
        if g.bt:
            codes = codes // BT_STEP
        agg = self._bag(pack_rows(codes, _row_bits(g), scale, bias), _row_bits(g))[:, :h.size(1)].mul_(g.scale)
        self._last_agg = agg
        return _fake_(_fake_(agg, p.q_agg), p.q_upd)

    def _gcn_product(self, delta: Tensor) -> Tensor:
        if self.gcn_is_conv:
            return self._last_agg
        rows = torch.ops.quantized.embedding_bag_byte_prepack(delta.contiguous())
        return self._bag(rows, 8, self.gcn_bag)

    @torch.no_grad()
    def __call__(self, x: Tensor) -> Tensor:
        m = self.model
        z = self.lin2(self.lin1(x).relu_())
        c = m.smp or SMPConstants()
        lam = z.new_full((z.size(0), 1), c.lambda0 if m.smp is not None else 0.0)
        s = z.new_full((z.size(0), 1), c.lambda0)
        h = z
        a, b = 1 - (1 + c.mu) * c.eta, c.mu * c.eta
        lam_lo, lam_hi = m.bounds(self.graph)
        for k in range(len(m.prop)):
            sub = self.propagate(h, m.prop[k]).mul_(b).add_(z, alpha=c.eta)
            if a:
                sub.add_(h, alpha=a)
            if m.smp is None:
                h = sub
                continue
            delta = sub - h
            gap = self.propagate(delta, m.gap[k])
            energy = float((delta * delta).sum() - (delta * self._gcn_product(delta)).sum())
            h = sub.add_(gap.mul_(lam).mul_(2 * c.eta))
            residual = s * s + (energy - c.threshold * self.graph.num_edges)
            s = s + 2 * c.eta_s * lam * s
            lam = (lam - c.eta_lambda * residual).clamp_(lam_lo, lam_hi)
        return h
