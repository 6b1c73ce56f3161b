"""Inference of a trained :class:`~.model.QuantGNN` on integer kernels.

Each convolution layer's dense transform runs as a true integer product on the CPU's quantized
linear kernel (``torch.ops.quantized.linear``: fbgemm / oneDNN, uint8 activations × int8 weights
accumulated in int32, then requantized), with the weights prepacked once.  The trained quantizers
map onto it exactly: the input's codes are the layer's ``Q_in`` codes (a signed grid is stored as
uint8 with zero point 128), the weight's are ``Q_w``'s per output channel, and the kernel's output
requantization *is* the message quantizer ``Q_msg`` (output scale ``s_msg``), so no float
quantize/dequantize pass sits between the transform and the messages.  INT4 and INT2 codes run on
the same 8-bit kernels (their values fit; the message codes are clamped to their narrower grid).
The signed INT2 grid is mid-rise (values ``(c + ½) · s``, :mod:`.quantizer`): its weights and
inputs enter the kernels as the odd codes ``2c + 1`` at the half step ``s/2``, and the kernel's
output requantization onto it takes the bias ``−s/2`` (``⌊y/s − ½⌉``, the code ``c``).
The sparse aggregation runs in float on the dequantized message codes (CPU sparse kernels have
no integer form), the aggregate is re-quantized by in-place elementwise passes, and the SMP
propagation layers (if any) run exactly as in fake-quantized evaluation.  The root term of SAGE
(not quantized at the output in the model) uses ``torch._int_mm`` (int8 × int8 → int32).

The paper's INT2/INT4 speedups come from bit-level kernels that PyTorch does not have; here the
speedup measured is that of 8-bit integer matrix products over float32 ones.
"""
from __future__ import annotations

import warnings

import torch
from torch import Tensor

from .model import GraphOperators, QuantGNN
from .quantizer import LearnedQuantizer, grid_offset, kernel_codes, qrange, step
from .smp import spmm

__all__ = ["IntegerGNN", "int_linear"]


def _grid(q: LearnedQuantizer) -> tuple[float, float, int, int, int]:
    """``(step, offset, zero point in uint8, lowest uint8 code, highest uint8 code)`` of a quantizer:
    the code ``c + zero point`` stands for ``(c + offset) · step``."""
    signed = bool(q.signed)
    qmin, qmax = qrange(q.bits, signed)
    zp = 128 if signed else 0
    s = float(step(q.alpha.detach().abs().clamp_min(1e-8), q.bits, signed))
    return s, grid_offset(q.bits, signed), zp, qmin + zp, qmax + zp


def _quantize(x: Tensor, q: LearnedQuantizer) -> Tensor:
    """``x`` as a ``quint8`` tensor of ``q``'s values (clamped to its grid for 2 and 4 bits; the
    mid-rise grid as odd codes at the half step)."""
    s, o, zp, lo, hi = _grid(q)
    if o:
        return torch.quantize_per_tensor(_fake_(x.clone(), q), s / 2, zp, torch.quint8)
    if q.bits < 8:
        x = x.clamp((lo - zp) * s, (hi - zp) * s)
    return torch.quantize_per_tensor(x, s, zp, torch.quint8)


def _fake_(x: Tensor, q: LearnedQuantizer) -> Tensor:
    """``q(x)`` in evaluation, in place on ``x`` (a fresh buffer): round half to even as ``torch.round``.

    In-place elementwise passes: ``torch.fake_quantize_per_tensor_affine`` is ~10× slower here.
    """
    if q.bits == 32:
        return x
    qmin, qmax = qrange(q.bits, bool(q.signed))
    s, o = _grid(q)[:2]
    x = x.div_(s)
    if o:
        x = x.sub_(o)
    x = x.round_().clamp_(qmin, qmax)
    return (x.add_(o) if o else x).mul_(s)


def int_linear(x_q: Tensor | tuple[Tensor, Tensor], w_codes: Tensor, w_colsum: Tensor, w_scale: Tensor
               ) -> Tensor:
    """``x · Q_w(W)ᵀ`` in float from a quantized ``x_q`` by an int8 × int8 → int32 ``torch._int_mm``.

    Args:
        x_q: ``[N, C_in]`` quint8 (zero point 0 or 128), or for per-node ranges
            ``(v [N, C_in] int8, zero point, steps [N, 1])`` with code ``= v + 128 − zero point``.
        w_codes: ``[C_in, C_out]`` int8 weight codes (transposed, contiguous).
        w_colsum: ``[C_out]`` int32, ``w_codes.sum(0)``.
        w_scale: ``[C_out]`` float, the weight steps.

    Returns:
        ``[N, C_out]`` float32, exact up to the final float scaling.
    """
    if isinstance(x_q, tuple):
        codes, zp, step = x_q
    else:
        zp, step = int(x_q.q_zero_point()), x_q.q_scale()
        codes = (x_q.int_repr().to(torch.int16) - 128).to(torch.int8)  # uint8 → int8, shift undone below
    acc = torch._int_mm(codes.contiguous(), w_codes) + (128 - zp) * w_colsum
    return acc.float() * (step * w_scale)


class IntegerGNN:
    """A trained quantized model prepared for integer inference: weights quantized and prepacked once.

    Args:
        model: a trained :class:`QuantGNN` with ``bits`` ≤ 8 and initialised quantizers.

    Raises:
        ValueError: ``bits`` is 32 or a quantizer has never seen data (train at least one step).

    Shapes:
        ``__call__(x: [N, in], ops)`` → logits ``[N, out]`` (float32).
    """

    def __init__(self, model: QuantGNN):
        if model.bits == 32:
            raise ValueError("integer inference needs bits 8, 4 or 2, not 32; set method.bits")
        self.model = model
        for name, q in model.named_modules():
            if isinstance(q, LearnedQuantizer) and q.bits < 32 and not bool(q.initialized):
                raise ValueError(f"quantizer {name} has no range yet; train at least one step before "
                                 f"integer inference")
        self.layers = []
        with warnings.catch_warnings():  # quantized tensor creation is marked deprecated in torch 2.13
            warnings.simplefilter("ignore")
            for layer in model.layers:
                codes, s = kernel_codes(layer.weight.detach(), layer.q_w.alpha.abs(), model.bits,
                                        bool(layer.q_w.signed))
                wt = codes.t().contiguous().to(torch.int8)
                prep = {"codes": (wt, wt.sum(0, dtype=torch.int32), s.reshape(-1).float())}
                s = s.reshape(-1).double()
                wq = torch._make_per_channel_quantized_tensor(
                    codes.to(torch.int8), s, torch.zeros_like(s, dtype=torch.long), 0)
                s_msg, o_msg = _grid(layer.q_msg)[:2]  # a mid-rise output grid: ⌊y/s − ½⌉ by a bias
                bias = torch.full((codes.size(0),), -o_msg * s_msg) if o_msg else None
                prep["packed"] = torch.ops.quantized.linear_prepack(wq, bias)
                if layer.root:
                    rc, rs = kernel_codes(layer.weight_root.detach(), layer.q_wr.alpha.abs(), model.bits,
                                          bool(layer.q_wr.signed))
                    wt = rc.t().contiguous().to(torch.int8)
                    prep["root"] = (wt, wt.sum(0, dtype=torch.int32), rs.reshape(-1).float())
                self.layers.append(prep)

    def transform(self, x_q: Tensor | tuple, i: int) -> Tensor:
        """Layer ``i``'s messages ``Q_msg(Q_in(x) · Q_w(W)ᵀ)`` from its quantized input, dequantized.

        Args:
            x_q: the layer's input codes (:meth:`quantize_input`): ``[N, C_in]`` quint8, or with
                per-node ranges a tuple for :func:`int_linear` (then ``torch._int_mm`` runs the
                product and ``Q_msg`` is applied to its float result).

        Returns:
            ``[N, C_out]`` float32 on the message grid.
        """
        layer = self.model.layers[i]
        if isinstance(x_q, tuple):
            return _fake_(int_linear(x_q, *self.layers[i]["codes"]), layer.q_msg)
        s, o, zp, lo, hi = _grid(layer.q_msg)
        z_q = torch.ops.quantized.linear(x_q, self.layers[i]["packed"], s, zp)
        if layer.bits == 8:
            return z_q.dequantize()
        return (z_q.int_repr().clamp_(lo, hi).float() - (zp - o)) * s

    def quantize_input(self, x: Tensor, i: int) -> Tensor | tuple[Tensor, int, Tensor]:
        """``x: [N, C_in]`` float as layer ``i``'s input codes: quint8 ``[N, C_in]``, or with
        per-node ranges the tuple of :func:`int_linear`."""
        q = self.model.layers[i].q_in
        if q.per_node:  # the quint8 convention: code = int8 value + 128 − zero point
            signed = bool(q.signed)
            qmin, qmax = qrange(q.bits, signed)
            o = grid_offset(q.bits, signed)
            s = step(q.ranges(x).detach().clamp_min(1e-8), q.bits, signed)
            zp = 128 if signed else 0
            codes = (x / s - o).round_().clamp_(qmin, qmax)
            if o:  # mid-rise: the odd codes 2c + 1 at the half step
                codes, s = codes.mul_(2).add_(1), s / 2
            return codes.add_(zp - 128).to(torch.int8), zp, s
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _quantize(x, q)

    @torch.no_grad()
    def __call__(self, x: Tensor, ops: GraphOperators) -> Tensor:
        """Logits ``[N, out]`` from features ``x: [N, in]``: float, or already quantized to the first
        layer's input codes by :meth:`quantize_input` (``x_q = engine.quantize_input(x, 0)``, the
        features stored as 8-bit codes once, as a deployed quantized model would)."""
        model = self.model
        n = len(model.layers)
        for i, layer in enumerate(model.layers):
            x_q = x if isinstance(x, tuple) or x.is_quantized else self.quantize_input(x, i)
            h = _fake_(spmm(ops.conv, self.transform(x_q, i)), layer.q_agg).add_(layer.bias)
            if layer.root:
                h = h.add_(int_linear(x_q, *self.layers[i]["root"]))
            x = h.relu_() if i < n - 1 else h
        was_training = model.training
        model.eval()
        try:
            return model.propagate(x, ops)
        finally:
            model.train(was_training)
