"""Uniform quantization with learnable ranges (QLR of Wang et al., CIKM 2023) and its STE.

Every quantized tensor role (a layer's input, weight, messages, aggregate, output) owns one
:class:`LearnedQuantizer`: a learnable range factor ``α`` (a scalar, or one per output channel
for weights) that sets the step ``s = α / q_max``.  The forward pass is

    x̂ = s · clamp(⌊x / s⌉, q_min, q_max)

and the backward pass is the straight-through estimator of LSQ (Esser et al., ICLR 2020,
Eq. 3): ``∂x̂/∂x = 1`` inside the range and ``0`` outside; ``∂x̂/∂s = ⌊x/s − o⌉ + o − x/s`` inside and
``q_min + o`` / ``q_max + o`` at the clipping ends, scaled by LSQ's ``g = 1/√(numel · q_max)``.

The paper's quantizer learns its ranges too (its "QLR") but its exact parameterisation is not in
the public abstract; the LSQ form above is our choice.  The range is initialised by a grid search
over clipping ratios ``r · max|x|`` minimising the mean squared quantization error on the first
batch (:func:`search_range`).  The paper's skewness-aware bitwise truncation (BT*) is not
implemented.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["BITS", "LearnedQuantizer", "fake_quantize", "grid_offset", "kernel_codes", "qrange", "quantize_int",
           "search_range", "step"]

#: supported bit widths; 32 means "not quantized" (the FP32 reference inside the method)
BITS = (2, 4, 8, 32)


def qrange(bits: int, signed: bool) -> tuple[int, int]:
    """The integer codes ``(q_min, q_max)`` of a ``bits``-wide grid (a code ``c`` stands for the value
    ``(c + grid_offset(bits, signed)) · s``).

    Signed: ``[-2^(b-1), 2^(b-1) - 1]`` (INT2: codes {-2, -1, 0, 1}, values {-3, -1, 1, 3}·s/2);
    unsigned: ``[0, 2^b - 1]``.

    Raises:
        ValueError: ``bits`` is not one of 2, 4, 8.
    """
    if bits not in (2, 4, 8):
        raise ValueError(f"bits={bits!r} has no integer grid; choose one of 2, 4, 8 (32 = no quantization)")
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def grid_offset(bits: int, signed: bool) -> float:
    """``o``, the value of code 0 in steps: ½ for the signed 2-bit grid (mid-rise, symmetric about 0:
    ``{−3, −1, 1, 3} · s/2``), 0 for every other grid (mid-tread: 0 is a level)."""
    return 0.5 if signed and bits == 2 else 0.0


def step(alpha: Tensor, bits: int, signed: bool) -> Tensor:
    """The step ``s = α / (q_max + o)`` of range ``α`` (the largest level is ``α``), ``alpha``'s shape."""
    return alpha / (qrange(bits, signed)[1] + grid_offset(bits, signed))


def _round_ste(v: Tensor) -> Tensor:
    return v + (torch.round(v) - v).detach()


def _grad_scale(v: Tensor, g: float) -> Tensor:
    """``v`` in the forward pass, gradient multiplied by ``g`` in the backward pass (LSQ)."""
    return v * g + (v - v * g).detach()


def fake_quantize(x: Tensor, alpha: Tensor, bits: int, signed: bool, grad_scale: float = 1.0) -> Tensor:
    """Quantize-dequantize ``x`` on a uniform grid of range ``alpha``, differentiable by STE.

    Args:
        x: any shape ``[...]``.
        alpha: the range (positive), broadcastable to ``x`` (``[]`` or ``[C_out, 1]``).
        bits: 2, 4 or 8 (32 returns ``x`` unchanged).
        signed: signed grid (weights, pre-activations) or unsigned (post-ReLU activations).
        grad_scale: LSQ's gradient scale for ``alpha``.

    Returns:
        ``x̂`` of ``x``'s shape; ``|x̂ − x| ≤ s/2`` wherever ``x`` lies inside the range
        ``[s·(q_min + o), s·(q_max + o)]``, ``s`` of :func:`step`.
    """
    if bits == 32:
        return x
    qmin, qmax = qrange(bits, signed)
    o = grid_offset(bits, signed)
    s = step(_grad_scale(alpha, grad_scale).clamp_min(1e-8), bits, signed)
    return (_round_ste(torch.clamp(x / s - o, qmin, qmax)) + o) * s


def quantize_int(x: Tensor, alpha: Tensor, bits: int, signed: bool) -> tuple[Tensor, Tensor]:
    """The integer codes of ``x`` and their step: ``x ≈ (q + o) · s`` (``o`` of :func:`grid_offset`).

    Returns:
        ``q`` (int64 of ``x``'s shape, in ``qrange(bits, signed)``: they fit in ``bits`` bits) and
        ``s`` (:func:`step`).
    """
    qmin, qmax = qrange(bits, signed)
    o = grid_offset(bits, signed)
    s = step(alpha.detach().clamp_min(1e-8), bits, signed)
    return torch.clamp(torch.round(x / s - o), qmin, qmax).long(), s


def kernel_codes(x: Tensor, alpha: Tensor, bits: int, signed: bool) -> tuple[Tensor, Tensor]:
    """Codes of ``x`` for a kernel whose values are ``code · step`` (no offset), such as an int8 matmul.

    Mid-tread grids: :func:`quantize_int`'s codes and step.  The mid-rise signed 2-bit grid: the odd
    codes ``2q + 1 ∈ {−3, −1, 1, 3}`` at the half step ``s/2``, the same values exactly.

    Returns:
        int64 codes of ``x``'s shape (in ``[−3, 3]`` or ``qrange``) and their step, ``alpha``'s shape.
    """
    q, s = quantize_int(x, alpha, bits, signed)
    if grid_offset(bits, signed):
        return 2 * q + 1, s / 2
    return q, s


@torch.no_grad()
def search_range(x: Tensor, bits: int, signed: bool, per_channel: bool = False,
                 num_ratios: int = 40, row_max: Tensor | None = None) -> Tensor:
    """The clipping range minimising the quantization MSE, by grid search over ratios of ``max|x|``.

    Tries ``α = r · max|x|`` for ``r`` in ``num_ratios`` values evenly spaced in ``(0, 1]`` and
    keeps the ``α`` of least ``mean((x̂ − x)²)``: the error-minimising initialisation of the
    learned range (a principled choice; the paper's exact initialisation is not public).

    Args:
        x: ``[C, ...]`` if ``per_channel`` (one range per row), else any shape.
        per_channel: one range per row of ``x`` (weights ``[C_out, C_in]``).
        row_max: ``[N, 1]``, each row's ``max|x|``: search the *ratio* ``r`` (one scalar) of the
            per-node ranges ``r · row_max`` instead (:class:`LearnedQuantizer` with ``per_node``).

    Returns:
        ``[C, 1]`` if ``per_channel`` else a scalar ``[]``; positive.
    """
    if row_max is not None:
        ratios = torch.linspace(1.0 / num_ratios, 1.0, num_ratios, device=x.device)
        errs = torch.stack([(fake_quantize(x, r * row_max, bits, signed) - x).pow(2).mean() for r in ratios])
        return ratios[int(errs.argmin())].clone()
    flat = x.detach().float().reshape(x.size(0), -1) if per_channel else x.detach().float().reshape(1, -1)
    amax = flat.abs().amax(dim=1, keepdim=True).clamp_min(1e-8)  # [C, 1]
    ratios = torch.linspace(1.0 / num_ratios, 1.0, num_ratios, device=x.device)
    best_err = torch.full_like(amax, math.inf)
    best = amax.clone()
    for r in ratios:
        alpha = amax * r
        err = (fake_quantize(flat, alpha, bits, signed) - flat).pow(2).mean(dim=1, keepdim=True)
        better = err < best_err
        best = torch.where(better, alpha, best)
        best_err = torch.where(better, err, best_err)
    return best if per_channel else best.reshape(())


class LearnedQuantizer(torch.nn.Module):
    """One tensor role's quantizer with a learned range ``α`` (LSQ-style STE).

    The range is initialised lazily from the first tensor it sees in training mode by
    :func:`search_range`; before that (or at ``bits=32``) it passes ``x`` through.  Whether the
    grid is signed is decided at initialisation: unsigned if that tensor had no negative entry
    (post-ReLU activations, bag-of-words features), signed otherwise.

    Args:
        bits: 2, 4, 8 or 32.
        per_channel: a range per row (for weights ``[C_out, C_in]``); requires ``channels``.
        channels: number of rows when ``per_channel``.
        per_node: a range per node (row of ``x: [N, C]``): ``α · max_j |x_ij|``, the learned
            scalar ``α`` a ratio of each node's own maximum (for input features whose scale
            differs between nodes, such as row-normalised bag-of-words of ``1 / length``; a
            per-tensor grid rounds every word of a long document to 0).  The maxima are
            statistics of the input, not parameters, so it applies to unseen graphs as well.

    Shapes:
        x: ``[...]`` (``[C_out, C_in]`` when per-channel) → same shape.
    """

    def __init__(self, bits: int, per_channel: bool = False, channels: int = 1, per_node: bool = False):
        super().__init__()
        if per_node and per_channel:
            raise ValueError("a quantizer has ranges per channel (weights) or per node (inputs), not both; "
                             "choose one of per_channel=True, per_node=True")
        self.per_node = per_node
        if bits not in BITS:
            raise ValueError(f"bits={bits!r} is not supported; choose one of {', '.join(map(str, BITS))}")
        self.bits = bits
        self.per_channel = per_channel
        shape = (channels, 1) if per_channel else ()
        self.alpha = torch.nn.Parameter(torch.ones(shape))
        self.register_buffer("signed", torch.tensor(True))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        """Set the grid's sign and the error-minimising range from ``x``."""
        self.signed.fill_(bool((x < 0).any()))
        row_max = self.node_max(x) if self.per_node else None
        self.alpha.copy_(search_range(x, self.bits, bool(self.signed), self.per_channel, row_max=row_max))
        self.initialized.fill_(True)

    def zero_on_grid(self) -> bool:
        """0 is one of the grid's levels (every grid but the signed mid-rise 2-bit one, and 32 bits)."""
        return self.bits == 32 or grid_offset(self.bits, bool(self.signed)) == 0

    @staticmethod
    def node_max(x: Tensor) -> Tensor:
        """``[N, 1]`` each row's ``max|x|`` (1 for an all-zero row), detached."""
        m = x.detach().abs().amax(dim=1, keepdim=True)
        return torch.where(m > 0, m, torch.ones_like(m))

    def ranges(self, x: Tensor, node_max: Tensor | None = None) -> Tensor:
        """The range(s) applied to ``x``: ``|α|``, or ``|α| · node_max`` per node (``[N, 1]``, or
        ``node_max`` as given, e.g. ``[nnz]`` gathered for the non-zeros of ``x``)."""
        if not self.per_node:
            return self.alpha.abs()
        return self.alpha.abs() * (self.node_max(x) if node_max is None else node_max)

    def forward(self, x: Tensor, numel: int | None = None, node_max: Tensor | None = None) -> Tensor:
        """``x̂`` of ``x``; ``numel`` overrides the element count of LSQ's gradient scale (when ``x``
        holds only the non-zero entries of a larger tensor whose zeros quantize to 0), and
        ``node_max`` gives the per-node maxima (``per_node``) for such entries."""
        if self.bits == 32:
            return x
        if not bool(self.initialized):
            if not self.training:
                return x
            self.initialize(x)
        qmax = qrange(self.bits, bool(self.signed))[1]
        n = numel if numel is not None else (x[0].numel() if self.per_channel else x.numel())
        return fake_quantize(x, self.ranges(x, node_max), self.bits, bool(self.signed),
                             grad_scale=1.0 / math.sqrt(max(n, 1) * qmax))

    def extra_repr(self) -> str:
        return f"bits={self.bits}, per_channel={self.per_channel}, per_node={self.per_node}"
