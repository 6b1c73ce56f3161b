"""Inference of a trained :class:`~.model.QuantGNN` on integer kernels.

Each layer's dense transform runs as a true integer product: the layer input's codes (int8) times
the weight's codes (int8) accumulated in int32 by ``torch._int_mm``, then rescaled by the two
steps.  An unsigned 8-bit input (codes 0…255) is shifted by −128 into int8 and the shift is undone
exactly in int32 (``+ 128 · colsum(W_q)``).  INT4 and INT2 codes are run on the same int8 kernel
(their values fit), so the result is the fake-quantized model's up to float rounding.  Messages are
quantized to integer codes and aggregated by a sparse float product on those codes (the sparse
aggregation in float, as CPU int sparse kernels are not available), aggregates are re-quantized,
and SMP (if the model has it) iterates in float on quantized messages exactly as in training.

The paper's INT2/INT4 speedups come from bit-level kernels that are not available in PyTorch; here
the speedup measured is that of int8 × int8 → int32 products over float32 ones.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .model import GraphOperators, QuantGNN
from .quantizer import LearnedQuantizer, quantize_int
from .smp import smoothness, smp_solve, spmm

__all__ = ["IntegerGNN", "int_linear"]


def _codes(x: Tensor, q: LearnedQuantizer) -> tuple[Tensor, Tensor]:
    return quantize_int(x, q.alpha.abs(), q.bits, bool(q.signed))


def _requant(x: Tensor, q: LearnedQuantizer) -> Tensor:
    codes, s = _codes(x, q)
    return codes.float() * s


def int_linear(x: Tensor, q_in: LearnedQuantizer, w_codes: Tensor, w_colsum: Tensor, w_scale: Tensor
               ) -> Tensor:
    """``Q_in(x) · Q_w(W)ᵀ`` by an int8 × int8 → int32 product.

    Args:
        x: ``[N, C_in]`` float.
        q_in: the input's trained quantizer (2, 4 or 8 bits).
        w_codes: ``[C_in, C_out]`` int8 weight codes (transposed, contiguous).
        w_colsum: ``[C_out]`` int32, ``w_codes.sum(0)`` (for the unsigned-8-bit shift).
        w_scale: ``[C_out]`` float, the weight steps.

    Returns:
        ``[N, C_out]`` float32.
    """
    codes, s_x = _codes(x, q_in)
    shift = 128 if (q_in.bits == 8 and not bool(q_in.signed)) else 0
    acc = torch._int_mm((codes - shift).to(torch.int8).contiguous(), w_codes)
    if shift:
        acc = acc + shift * w_colsum
    return acc.float() * (s_x * w_scale)


class IntegerGNN:
    """A trained quantized model prepared for integer inference: weight codes computed once.

    Args:
        model: a trained :class:`QuantGNN` with ``bits`` ≤ 8 and initialised quantizers.

    Raises:
        ValueError: ``bits`` is 32 or a quantizer has never seen data (train at least one step).

    Shapes:
        ``__call__(x: [N, in], ops)`` → logits ``[N, out]``.
    """

    def __init__(self, model: QuantGNN):
        if model.bits == 32:
            raise ValueError("integer inference needs bits 8, 4 or 2, not 32; set method.bits")
        self.model = model
        self.weights = []
        for li, layer in enumerate(model.layers):
            for name, q in layer.named_children():
                if isinstance(q, LearnedQuantizer) and not bool(q.initialized):
                    raise ValueError(f"quantizer layers.{li}.{name} has no range yet; train at least one "
                                     f"step before integer inference")
            packed = {}
            for name, w, q in layer.weights():
                codes, s = _codes(w.detach(), q)
                wt = codes.t().contiguous().to(torch.int8)
                packed[name] = (wt, wt.sum(0, dtype=torch.int32), s.reshape(-1).float())
            self.weights.append(packed)

    @torch.no_grad()
    def __call__(self, x: Tensor, ops: GraphOperators) -> Tensor:
        model = self.model
        s_prev = x.new_zeros(())
        for i, (layer, w) in enumerate(zip(model.layers, self.weights)):
            z = int_linear(x, layer.q_in, *w["weight"])
            if layer.kind == "gcn":
                if model.smp is None:
                    h = spmm(ops.conv, _requant(z, layer.q_msg))
                else:
                    h = smp_solve(z, ops.gcn, s_prev, model.smp, layer.mu,
                                  quant=lambda t, q=layer.q_msg: _requant(t, q))[0]
                h = _requant(h, layer.q_agg) + layer.bias
            else:
                agg = _requant(spmm(ops.conv, _requant(z, layer.q_msg)), layer.q_agg)
                h = agg + int_linear(x, layer.q_in, *w["weight_root"]) + layer.bias
                if model.smp is not None:
                    h = smp_solve(h, ops.gcn, s_prev, model.smp, layer.mu,
                                  quant=lambda t, q=layer.q_smp: _requant(t, q))[0]
            if model.smp is not None:
                s_prev = smoothness(h, ops.gcn)
            x = F.relu(h) if i < len(model.layers) - 1 else h
        return x
