"""The QLR quantizer of Wang et al. (CIKM 2023, Sec. 3.1): an asymmetric grid with a zero point whose
range is a learned fraction ``α`` of the batch's min/max, with bitwise truncation (BT, BT*) for INT2.

For a tensor ``x`` with batch range ``[m, M]`` (``m = min(0, min x)``, ``M = max(0, max x)``, taken
from every training batch and kept for evaluation) and a ``b``-bit unsigned grid
``[q_min, q_max] = [0, 2^b − 1]``:

    s = α (M − m) / (q_max − q_min)          step
    z = clamp(q_min − ⌊α m / s⌉, q_min, q_max)  zero point (an integer code: 0 is exact)
    v = clamp(x / s + z, q_min, q_max)
    x̂ = s · (⌊v⌉ − z)

BT (Sec. 3.3 of the paper) quantizes INT2 on the 8-bit grid and truncates the code to its two high
levels: ``c = 85 · ⌊⌊v⌉ / 85⌉`` (85 = 255 / 3, four levels {0, 85, 170, 255}); BT* (skewness-aware)
shifts the code by the rounded skewness ``k`` of the tensor at initialisation before truncating,
``c = 85 · ⌊(⌊v⌉ + k) / 85⌉``, so that a skewed distribution keeps more of its mass off the ends.

``α`` starts at the value among a grid of fractions with the least **mean absolute** quantization
error on the first batch (:func:`initial_alpha`: INT2 tries 0.1, 0.2 … 1.0, INT4/INT8 0.02, 0.04 …
1.0, as the authors' ``initial_alpha_range``; a result under 0.1, or under 0.5 with BT*, is raised
by 0.1, as theirs) and then learns by gradient descent.

The gradient (straight-through estimator).  ``∂x̂/∂x = 1`` everywhere (their code's effective
STE: its clipping mask compares the clipped output with the range and never fires; LSQ's
``0`` outside the grid is :data:`CLIP_GRADIENT`); ``∂x̂/∂s = c − z − x/s`` inside (the rounding residual, the code ``c``
after any truncation) and ``c − z`` at the clipped ends (LSQ, Esser et al. ICLR 2020, Eq. 3, with
a zero point), ``∂s/∂α = s/α``.  **Fix of the authors' defect**: their ``LearnsQuantize.backward``
saves the *dequantized output* and recomputes the residual from it, ``⌊x̂/s + z⌉ − (x̂/s + z)``,
which is 0 for every element (``x̂`` is on the grid), and compares ``x̂`` (already clipped) with the
range ends, which never fires: ``α``'s gradient is exactly 0 and the ranges never learn.  Here the
backward pass saves the *input* ``x`` (:class:`_FakeQuantize`), so ``α`` learns
(``tests/methods/lowbit/test_qlr.py`` checks the gradient against a finite difference).
Not ported: their CiteSeer-only re-initialisation of ``α`` every 100 iterations (a special case by
dataset name).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Grid", "QLRQuantizer", "code_values", "fake_quantize", "initial_alpha", "skewness"]

#: zero the input's gradient where it is clipped (LSQ); ``False``: the authors' effective STE
CLIP_GRADIENT = False

#: BT's code step on the 8-bit grid: 255 / 3, four INT2 levels {0, 85, 170, 255}
BT_STEP = 85


@dataclass(frozen=True)
class Grid:
    """One quantizer's integer grid at a given ``α`` and batch range.

    Attributes:
        scale: step ``s`` (float, > 0).
        zero_point: ``z`` (an integer code in ``[q_min, q_max]``).
        qmin, qmax: the code range (``[0, 2^b − 1]``; ``[0, 255]`` under BT/BT*).
        bt: ``None``, ``"bt"`` or ``"bt*"``.
        shift: BT*'s code shift ``k`` (0 otherwise).
    """

    scale: float
    zero_point: int
    qmin: int
    qmax: int
    bt: str | None = None
    shift: int = 0

    def codes(self, x: Tensor) -> Tensor:
        """``x``'s codes (float tensor of integers in ``[q_min, q_max]``, after any truncation)."""
        c = (x / self.scale + self.zero_point).clamp_(self.qmin, self.qmax).round_()
        return _truncate(c, self.bt, self.shift)

    def dequantize(self, c: Tensor) -> Tensor:
        """``s · (c − z)``."""
        return (c - self.zero_point) * self.scale


def _truncate(c: Tensor, bt: str | None, shift: int) -> Tensor:
    if bt is None:
        return c
    return torch.round((c + shift) / BT_STEP).clamp_(0, 3) * BT_STEP


def grid(alpha: float, lo: float, hi: float, bits: int, bt: str | None = None, shift: int = 0) -> Grid:
    """The :class:`Grid` of range ``α · [lo, hi]`` (``lo ≤ 0 ≤ hi`` enforced) at ``bits``
    (the 8-bit grid under BT/BT*, as the authors' ``get_qparams``)."""
    qmin, qmax = 0, (1 << (8 if bt else bits)) - 1
    lo, hi = min(0.0, alpha * lo), max(0.0, alpha * hi)
    if hi == lo:
        return Grid(1.0, 0, qmin, qmax, bt, shift)
    s = max((hi - lo) / (qmax - qmin), torch.finfo(torch.float32).eps)
    z = int(min(qmax, max(qmin, qmin - round(lo / s))))
    return Grid(s, z, qmin, qmax, bt, shift)


class _FakeQuantize(torch.autograd.Function):
    """``x̂`` and its STE gradients (module docstring); saves the input ``x``, not ``x̂``."""

    @staticmethod
    def forward(ctx, x: Tensor, alpha: Tensor, g: Grid, clip_gradient: bool = False) -> Tensor:
        ctx.save_for_backward(x, alpha)
        ctx.grid, ctx.clip = g, clip_gradient
        return g.dequantize(g.codes(x.detach()))

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, alpha = ctx.saved_tensors
        g = ctx.grid
        v = x / g.scale + g.zero_point
        inside = (v >= g.qmin) & (v <= g.qmax)
        c = g.codes(x)
        ds = torch.where(inside, c - v, c - g.zero_point)  # ∂x̂/∂s
        grad_alpha = (grad * ds).sum() * (g.scale / float(alpha.detach().abs().clamp_min(1e-12)))
        grad_alpha = grad_alpha * torch.sign(alpha.detach()).where(alpha.detach() != 0, torch.ones_like(alpha))
        return (grad * inside if ctx.clip else grad), grad_alpha.reshape(alpha.shape), None, None


def fake_quantize(x: Tensor, alpha: Tensor, g: Grid, clip_gradient: bool = False) -> Tensor:
    """Quantize-dequantize ``x: [...]`` on grid ``g`` (built from ``|α|``), differentiable in ``x``
    and ``α`` by the STE of the module docstring; ``clip_gradient`` zeroes ``x``'s gradient outside
    the range (LSQ), else it passes unchanged (the authors' effective STE)."""
    return _FakeQuantize.apply(x, alpha, g, clip_gradient)


def code_values(g: Grid) -> Tensor:
    """The dequantized values of every code the grid can produce ``[levels]`` (4 under BT)."""
    codes = torch.arange(g.qmin, g.qmax + 1, dtype=torch.float32)
    return torch.unique(g.dequantize(_truncate(codes, g.bt, g.shift)))


def skewness(x: Tensor) -> float:
    """Fisher–Pearson skewness ``E[(x − μ)³] / σ³`` of all entries (0 for a constant tensor)."""
    x = x.detach().double().reshape(-1)
    sd = x.std(unbiased=False)
    if float(sd) == 0.0:
        return 0.0
    return float(((x - x.mean()) ** 3).mean() / sd ** 3)


@torch.no_grad()
def initial_alpha(x: Tensor, bits: int, bt: str | None = None, shift: int = 0) -> float:
    """``α`` of least mean absolute error ``mean|x̂ − x|`` over the authors' grid of fractions.

    INT2: 0.1, 0.2, …, 1.0; INT4 / INT8: 0.02, 0.04, …, 1.0; then raised by 0.1 if below 0.1
    (below 0.5 under BT*), as their ``initial_alpha_range``.

    Args:
        x: the first batch's tensor, any shape.
    """
    lo, hi = float(x.min()), float(x.max())
    count, step = (10, 0.1) if bits == 2 else (50, 0.02)
    best, best_err = 1.0, math.inf
    for i in range(count):
        a = (i + 1) * step
        g = grid(a, lo, hi, bits, bt, shift)
        err = float((g.dequantize(g.codes(x)) - x).abs().mean())
        if err < best_err:
            best, best_err = a, err
    if best < (0.5 if bt == "bt*" else 0.1):
        best += 0.1
    return best


class QLRQuantizer(torch.nn.Module):
    """One tensor role's QLR quantizer (module docstring): learned ``α``, batch min/max, zero point.

    The batch range is refreshed from every tensor seen in training mode and kept (as buffers) for
    evaluation; ``α`` is initialised by :func:`initial_alpha` on the first training tensor.  Before
    that, or at ``bits = 32``, the input passes through unchanged.

    Args:
        bits: 2, 4, 8, or 32 (no quantization).
        bt: ``None``, ``"bt"`` or ``"bt*"`` (INT2 only).

    Raises:
        ValueError: ``bits`` not in 2, 4, 8, 32, or BT at another width than 2.

    Shapes:
        x: ``[...]`` → same shape.
    """

    def __init__(self, bits: int, bt: str | None = None):
        super().__init__()
        if bits not in (2, 4, 8, 32):
            raise ValueError(f"bits={bits!r} is not supported; choose one of 2, 4, 8, 32")
        if bt not in (None, "bt", "bt*"):
            raise ValueError(f"bt={bt!r} is not a truncation; choose None, 'bt' or 'bt*'")
        if bt is not None and bits != 2:
            raise ValueError(f"bitwise truncation ({bt}) is an INT2 scheme; set bits=2 or bt=None")
        self.bits, self.bt = bits, bt
        self.alpha = torch.nn.Parameter(torch.ones(()))
        self.register_buffer("lo", torch.zeros(()))
        self.register_buffer("hi", torch.zeros(()))
        self.register_buffer("shift", torch.zeros((), dtype=torch.long))
        self.register_buffer("initialized", torch.tensor(False))

    @property
    def active(self) -> bool:
        """Whether this quantizer quantizes (bits < 32 and a range was seen)."""
        return self.bits < 32 and bool(self.initialized)

    def grid(self) -> Grid:
        """The current :class:`Grid` (needs :attr:`active`)."""
        return grid(float(self.alpha.detach().abs()), float(self.lo), float(self.hi), self.bits, self.bt,
                    int(self.shift))

    @torch.no_grad()
    def observe(self, x: Tensor) -> None:
        """Record ``x``'s min/max as the batch range; on the first call, BT*'s shift and ``α``."""
        self.lo.fill_(float(x.min()) if x.numel() else 0.0)
        self.hi.fill_(float(x.max()) if x.numel() else 0.0)
        if not bool(self.initialized):
            if self.bt == "bt*":
                self.shift.fill_(round(skewness(x)))
            self.alpha.fill_(initial_alpha(x, self.bits, self.bt, int(self.shift)))
            self.initialized.fill_(True)

    def forward(self, x: Tensor) -> Tensor:
        if self.bits == 32:
            return x
        if self.training:
            self.observe(x)
        elif not bool(self.initialized):
            return x
        return fake_quantize(x, self.alpha, self.grid(), CLIP_GRADIENT)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, bt={self.bt}"
