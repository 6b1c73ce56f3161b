"""The authors' architecture of ``lowbit`` (Wang et al., CIKM 2023, Sec. 3.2 and their public code):
a quantized 2-layer MLP, then ``K`` quantized smoothness-aware message propagation (SMP) steps.

    Z = Q_out(Q_in(dropout(σ(Q_out(Q_in(dropout(X)) Q_w(W₁)ᵀ + b₁)))) Q_w(W₂)ᵀ + b₂)   [N, C]
    H₀ = Z, and for k = 0 … K−1 (one differential-multiplier iteration each, Platt & Barr 1988):
        P_k = Q_upd(Q_agg(Σ_j Q_msg(w_ij · H_k[j])))                 quantized propagation of H_k
        S_k = (1 − (1 + μ) η) H_k + μ η P_k + η Z                     (= 0.9 P_k + 0.1 Z at μ=9, η=0.1)
        Δ_k = S_k − H_k                                                the layer change
        H_{k+1} = S_k + 2 η λ_k ⊙ Q'(C Δ_k)                          (Q' a second quantizer triple)
        s_{k+1} = s_k + 2 η_s λ_k s_k
        λ_{k+1} = Π(λ_k + η_λ (a · |E| − s_k² − tr(Δ_kᵀ L Δ_k)))     multiplier ascent, per node
    logits = H_K

with ``C`` the backbone's convolution matrix (GCN: ``Â = D̂^{-1/2}(A+I)D̂^{-1/2}``; SAGE: ``D⁻¹A``;
from :mod:`gnnbench.backbones.conv`), ``L = I − Â`` (``Â`` from :func:`gcn_matrix` whatever the
backbone: the authors' normalised incidence ``B`` with ``BᵀB = L``), ``|E|`` the non-zeros of
``Â`` (self-loops included, as the authors count them), the constraint
``tr(ΔᵀLΔ) + s² = a·|E|`` on the layer change, ``λ₀ = s₀ = 0.001`` per node, ``Π`` the
projection onto the interval :meth:`SMPConstants.multiplier_bounds` (at the defaults
``[−4.09, 10.4]`` on Cora's ``Â``, ``[−0.263, 5]`` on any graph; see the fixes below).  Every ``Q`` is a
:class:`~.qlr.QLRQuantizer`; the per-edge message ``w_ij · H[j]`` is quantized edge by edge
(``messages="edge"``, the authors') or at its sender, ``w_ij · Q_msg(H[j])`` (``"node"``, what
the integer engine's embedding-bag kernel computes exactly, see :mod:`.integer`).

Fixes of the authors' defects, each a departure from their code:

* sparse throughout: their ``prop_part_QUANT`` calls ``edge_index.to_dense()`` (an ``N × N``
  matrix) to read edge weights and count edges, and checks ``BᵀB = L`` densely; here the
  matrices are edge lists (:class:`~gnnbench.backbones.conv.ConvMatrix`), per-edge messages are
  formed in chunks of edges and recomputed in the backward pass (:class:`_EdgeAggregate`; peak
  memory ``O(chunk · C)``, not ``O(|E| · C)``), and ``tr(ΔᵀLΔ) = ‖Δ‖² − ⟨Δ, ÂΔ⟩`` costs one
  sparse product — so it runs on the arxiv-shaped graph;
* the multiplier and slack ``λ, s`` are state of the method (Platt & Barr's differential
  multiplier method ascends them), held out of back-propagation (``detach``); their code
  differentiates the loss through ``λ``'s update into ``tr(ΔᵀLΔ)``;
* **projected multiplier ascent** (the INT2-BT* NaN): their ascent is unbounded, and
  ``tr(ΔᵀLΔ)`` is a sum over all ``N·C`` entries that grows with the square of the logits as
  they train, so where the constraint cannot be met it drives ``λ`` far from 0 within one forward
  pass (INT2-BT* on Cora, ``a·|E| = 1326``: ``tr`` ~1e5 by epoch 40, ``λ`` ~ −3 per step); once
  ``λ`` leaves the interval where a step is non-expansive, the correction ``2ηλ Q'(CΔ)``
  amplifies ``Δ`` geometrically over the remaining steps (seed 2: ``λ`` −8, −105, −1.5e5, then
  −1e33 and a NaN loss in epoch 78).  Flipping the ascent's sign, or differentiating through
  ``λ`` as they do, diverges as well (measured).  Here ``λ`` is projected, after each ascent
  step, onto the interval where the linearised step ``H ↦ S + 2ηλ C Δ`` has gain at most 1 on
  every eigenvalue of ``C`` (:meth:`SMPConstants.multiplier_bounds`; the spectrum's lower end
  by Lanczos for GCN, :func:`smallest_eigenvalue`, ``−1`` for other ``C``), which holds the
  ``K`` steps bounded whatever the width or the training stage.  On Cora the bound is
  ``λ ≥ −4.09``, where the divergence was seen to start (``λ`` −4 trained on, −8 did not);
* the quantizers' ``α`` learn (:mod:`.qlr`: their backward pass gives ``α`` a zero gradient);
* the features are quantized before their dropout, not after (their ``lin1`` quantizes the
  dropped-out features): the batch range of a constant then stays constant, whereas a dropout
  mask that drops or keeps the largest feature (a one-word document on Cora) and scales by
  ``1/(1−p)`` moves the range by 2× from step to step, and with ``α`` fixed at its
  initialisation on the first batch an INT2 step twice too wide rounds 64% of Cora's non-zero
  features to 0 (seed 0: test accuracy 0.19 after 30 epochs of the MLP alone at INT2);
* not ported: the elastic variant (EMP), whose loop computes its correction
  ``y − γ Bᵀz`` and then overwrites it with ``x = y``, discarding it.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .qlr import CLIP_GRADIENT, Grid, QLRQuantizer

__all__ = ["SMPConstants", "PropagationGraph", "QuantLinear", "QuantPropagation", "PropagationGNN",
           "laplacian_energy", "model_size_bytes", "smallest_eigenvalue"]

#: edges per chunk when per-edge messages are formed (memory ``chunk × C`` floats)
EDGE_CHUNK = 1 << 18


@dataclass(frozen=True)
class SMPConstants:
    """The constants of the SMP steps (the authors' names in brackets, their defaults).

    Args:
        mu: smoothing weight μ (``lambda1``, 9).
        eta: primal step η (``eta_H``, 0.1).
        eta_s: slack step (``eta_s1``, 1e-5).
        eta_lambda: multiplier step η_λ (``--lambda_threshold``, 1e-5).
        threshold: ``a`` of the constraint ``tr(ΔᵀLΔ) + s² = a·|E|`` (``--alpha_threshold``; their
            README uses 0.1 at FP32, 1e-5 at INT8/INT4, 1e-4 at INT2, 0.2 with BT, 0.1 with BT*).
        lambda0: initial multiplier and slack per node (0.001).
    """

    mu: float = 9.0
    eta: float = 0.1
    eta_s: float = 1e-5
    eta_lambda: float = 1e-5
    threshold: float = 1e-5
    lambda0: float = 1e-3

    def multiplier_bounds(self, c_min: float = -1.0) -> tuple[float, float]:
        """``[λ_lo, λ_hi]``: the multipliers at which one step stays non-expansive.

        Linearised in ``H`` (quantizers as the identity), a step maps an eigenvector of ``C`` with
        eigenvalue ``c ∈ [c_min, 1]`` (GCN's ``Â`` and SAGE's ``D⁻¹A`` have real spectra in
        ``[−1, 1]``) by the gain ``G(c, λ) = a(c) − 2ηλ c (1 − a(c))``,
        ``a(c) = 1 − (1 + μ)η + μηc`` (the gain of ``S``; ``Δ = S − H`` has gain ``a − 1``).
        ``G`` is affine in ``λ``; the bounds intersect ``|G(c, λ)| ≤ 1`` over a grid of ``c``.
        At the defaults (``μ = 9, η = 0.1``): ``[−0.263, 5.0]`` for ``c_min = −1`` (any graph),
        ``[−4.09, 10.4]`` for Cora's ``Â`` (``c_min = −0.483``), ``[−3.76, 9.96]`` for CiteSeer's
        (``−0.502``).

        Args:
            c_min: the smallest eigenvalue of ``C`` (a lower bound of it), in ``[−1, 1)``.

        Raises:
            ValueError: the step without correction is already expansive (``|a(c)| > 1`` for some
                ``c``: ``η(1 + 2μ) > 2``), so no multiplier keeps it bounded.
        """
        c = torch.linspace(max(-1.0, min(c_min, 0.0)), 1.0, 2001, dtype=torch.float64)
        a = 1 - (1 + self.mu) * self.eta + self.mu * self.eta * c
        if bool((a.abs() > 1 + 1e-12).any()):
            raise ValueError(f"the SMP step is expansive without correction at mu={self.mu}, eta={self.eta} "
                             f"(needs eta*(1+2*mu) <= 2); lower method.smp_step or method.smp_lambda")
        b = -2 * self.eta * c * (1 - a)  # G = a + λ b
        nz = b.abs() > 1e-12
        lo_c, hi_c = (-1 - a[nz]) / b[nz], (1 - a[nz]) / b[nz]
        lo, hi = torch.minimum(lo_c, hi_c), torch.maximum(lo_c, hi_c)
        return float(lo.max()), float(hi.min())


@dataclass
class PropagationGraph:
    """The edge lists one graph needs.

    Attributes:
        src, dst, weight: ``[M]`` the propagation matrix ``C`` (messages ``src → dst``).
        csr: ``[N, N]`` sparse CSR ``C`` (for the ``"node"`` message mode).
        gcn: ``[N, N]`` sparse CSR ``Â`` (for ``L = I − Â``).
        num_edges: ``|E|``, the non-zeros of ``Â`` (self-loops included).
        num_nodes: ``N``.
        conv_is_gcn: ``C`` is ``Â`` (GCN), so an unquantized propagation of ``Δ`` gives ``ÂΔ``.
        c_min: a lower bound of ``C``'s smallest eigenvalue (:func:`smallest_eigenvalue` of ``Â``
            for GCN; ``−1``, the bound of every normalised adjacency, otherwise), for
            :meth:`SMPConstants.multiplier_bounds`.
    """

    src: Tensor
    dst: Tensor
    weight: Tensor
    csr: Tensor
    gcn: Tensor
    num_edges: int
    num_nodes: int
    conv_is_gcn: bool = False
    c_min: float = -1.0

    @classmethod
    def build(cls, conv, gcn, conv_is_gcn: bool = False) -> PropagationGraph:
        """From two :class:`~gnnbench.backbones.conv.ConvMatrix`: the backbone's ``C`` and ``Â``."""
        order = torch.argsort(conv.dst * conv.num_nodes + conv.src)  # CSR order: rows = receivers
        c_min = smallest_eigenvalue(gcn) if conv_is_gcn else -1.0
        return cls(conv.src[order].contiguous(), conv.dst[order].contiguous(), conv.weight[order].float().contiguous(),
                   conv.to_sparse_csr(), gcn.to_sparse_csr(), gcn.nnz, conv.num_nodes, conv_is_gcn, c_min)


#: Lanczos tolerance of :func:`smallest_eigenvalue`, the margin taken below its estimate, and its
#: cap on ARPACK restarts (about 20 products with ``Â`` each; Cora and CiteSeer converge in 0.04 s)
EIGEN_TOL = 1e-4
EIGEN_MARGIN = 1e-3
EIGEN_MAXITER = 300


def smallest_eigenvalue(matrix) -> float:
    """A lower bound of the smallest eigenvalue of a symmetric
    :class:`~gnnbench.backbones.conv.ConvMatrix` (``Â``), in ``[−1, 1]``.

    Lanczos (``scipy.sparse.linalg.eigsh``, ``which="SA"``) on the edge list, minus
    :data:`EIGEN_MARGIN` (a Ritz value lies inside the spectrum, so the estimate is from above);
    ``−1`` (the bound of a normalised adjacency) if Lanczos does not converge within
    :data:`EIGEN_MAXITER` restarts.
    """
    import numpy as np
    import scipy.sparse as sp
    from scipy.sparse.linalg import ArpackNoConvergence, eigsh

    n = matrix.num_nodes
    if n < 3:
        return -1.0
    m = sp.csr_matrix((matrix.weight.detach().cpu().double().numpy(),
                       (matrix.dst.cpu().numpy(), matrix.src.cpu().numpy())), shape=(n, n))
    try:
        value = float(eigsh(m, k=1, which="SA", tol=EIGEN_TOL, maxiter=EIGEN_MAXITER,
                            v0=np.ones(n), return_eigenvectors=False)[0])
    except ArpackNoConvergence:
        return -1.0
    return max(-1.0, value - EIGEN_MARGIN)


def laplacian_energy(delta: Tensor, gcn: Tensor) -> Tensor:
    """``tr(Δᵀ (I − Â) Δ) = ‖Δ‖²_F − ⟨Δ, ÂΔ⟩`` (a scalar) for ``Δ: [N, C]``, ``Â`` sparse ``[N, N]``."""
    return (delta * delta).sum() - (delta * torch.sparse.mm(gcn, delta)).sum()


def _edge_messages(x: Tensor, src: Tensor, weight: Tensor) -> Tensor:
    return x.index_select(0, src) * weight.unsqueeze(1)


class _EdgeAggregate(torch.autograd.Function):
    """``Σ_j Q(w_ij · x_j)`` over edge chunks with the QLR STE (:mod:`.qlr`); saves only ``x``."""

    @staticmethod
    def forward(ctx, x: Tensor, alpha: Tensor, src: Tensor, dst: Tensor, weight: Tensor, g: Grid,
                num_nodes: int) -> Tensor:
        ctx.save_for_backward(x, alpha, src, dst, weight)
        ctx.grid = g
        out = x.new_zeros(num_nodes, x.size(1))
        for a in range(0, src.numel(), EDGE_CHUNK):
            e = slice(a, a + EDGE_CHUNK)
            m = _edge_messages(x.detach(), src[e], weight[e])
            out.index_add_(0, dst[e], g.dequantize(g.codes(m)))
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, alpha, src, dst, weight = ctx.saved_tensors
        g = ctx.grid
        grad_x = torch.zeros_like(x)
        grad_s = grad.new_zeros(())
        for a in range(0, src.numel(), EDGE_CHUNK):
            e = slice(a, a + EDGE_CHUNK)
            m = _edge_messages(x, src[e], weight[e])
            v = m / g.scale + g.zero_point
            inside = (v >= g.qmin) & (v <= g.qmax)
            c = g.codes(m)
            gd = grad.index_select(0, dst[e])
            grad_s = grad_s + (gd * torch.where(inside, c - v, c - g.zero_point)).sum()
            grad_x.index_add_(0, src[e], (gd * inside if CLIP_GRADIENT else gd) * weight[e].unsqueeze(1))
        a_ = alpha.detach()
        grad_alpha = grad_s * g.scale / float(a_.abs().clamp_min(1e-12)) * (1.0 if float(a_) >= 0 else -1.0)
        return grad_x, grad_alpha.reshape(alpha.shape), None, None, None, None, None


class QuantPropagation(torch.nn.Module):
    """One quantized propagation ``Q_upd(Q_agg(Σ_j Q_msg(w_ij x_j)))`` (the authors'
    ``MessagePassingQuant.propagate``: message, aggregate and update quantizers, the update the
    identity).

    Args:
        bits: 2, 4, 8 or 32.
        bt: INT2 truncation (``None``, ``"bt"``, ``"bt*"``).
        messages: ``"edge"`` (quantize each ``w_ij x_j``) or ``"node"`` (quantize ``x_j``).

    Shapes:
        x: ``[N, C]`` → ``[N, C]``.
    """

    def __init__(self, bits: int, bt: str | None = None, messages: str = "edge"):
        super().__init__()
        if messages not in ("edge", "node"):
            raise ValueError(f"messages={messages!r}; choose 'edge' or 'node'")
        self.messages = messages
        self.q_msg, self.q_agg, self.q_upd = (QLRQuantizer(bits, bt) for _ in range(3))

    @torch.no_grad()
    def _observe_messages(self, x: Tensor, graph: PropagationGraph) -> None:
        """The messages' batch range, exactly, without forming them (``w·x`` is extreme at a row's
        min or max); the first time, ``α`` from the messages of up to :data:`EDGE_CHUNK` edges."""
        q = self.q_msg
        if not bool(q.initialized):
            step = max(1, graph.src.numel() // EDGE_CHUNK)
            sample = _edge_messages(x, graph.src[::step], graph.weight[::step])
            q.observe(sample)
        w = graph.weight
        lo_row, hi_row = x.min(1).values[graph.src], x.max(1).values[graph.src]
        ends = torch.stack([w * lo_row, w * hi_row])
        q.lo.fill_(float(ends.min()))
        q.hi.fill_(float(ends.max()))

    def aggregate(self, x: Tensor, graph: PropagationGraph) -> Tensor:
        """``Σ_j Q_msg(w_ij x_j)`` (or ``Σ_j w_ij Q_msg(x_j)``), ``[N, C]``."""
        q = self.q_msg
        if self.messages == "node" or q.bits == 32:
            return torch.sparse.mm(graph.csr, q(x))
        if self.training:
            self._observe_messages(x.detach(), graph)
        elif not bool(q.initialized):
            return torch.sparse.mm(graph.csr, x)
        return _EdgeAggregate.apply(x, q.alpha, graph.src, graph.dst, graph.weight, q.grid(), graph.num_nodes)

    def forward(self, x: Tensor, graph: PropagationGraph) -> Tensor:
        agg = self.aggregate(x, graph)
        self.last_aggregate = agg.detach()
        return self.q_upd(self.q_agg(agg))


class QuantLinear(torch.nn.Module):
    """``Q_out(Q_in(x) · Q_w(W)ᵀ + b)`` (the authors' ``LinearQuantized``: input, weight and output
    quantizers, one ``α`` each).

    Shapes:
        x: ``[N, in_channels]`` → ``[N, out_channels]``.
    """

    def __init__(self, in_channels: int, out_channels: int, bits: int, bt: str | None = None):
        super().__init__()
        self.linear = torch.nn.Linear(in_channels, out_channels)
        self.q_in, self.q_w, self.q_out = (QLRQuantizer(bits, bt) for _ in range(3))

    def forward(self, x: Tensor, quantized_input: bool = False) -> Tensor:
        """``quantized_input``: ``x`` is already ``Q_in``'s output (dropped out since)."""
        x = x if quantized_input else self.q_in(x)
        return self.q_out(F.linear(x, self.q_w(self.linear.weight), self.linear.bias))


class PropagationGNN(torch.nn.Module):
    """The quantized MLP + ``K`` SMP steps of the module docstring.

    Args:
        in_channels, hidden_channels, out_channels: widths.
        bits: 2, 4, 8 or 32.
        dropout: on the features and on the hidden layer (the authors: 0.8 at FP32/INT8, 0.5 at
            INT4/INT2; none inside the propagation).
        steps: ``K`` (0: the MLP alone).
        smp: the constants; ``None`` for plain quantized propagation ``H ← 0.9 P + 0.1 Z``
            without the correction term (``λ ≡ 0``).
        bt: INT2 truncation.
        messages: ``"edge"`` or ``"node"`` (:class:`QuantPropagation`).
        correction_bits: the width of the correction's propagation ``Q'`` (the ``gap`` quantizers;
            default ``None``: ``bits``); BT applies to it only at 2 bits.

    Attributes:
        residuals: after a forward pass, ``[K]`` the constraint residuals
            ``mean_i(tr(Δ_kᵀLΔ_k) + s_{k,i}² − a|E|)`` (detached), or ``None`` without SMP.
        multipliers: after a forward pass, ``[K]`` the mean multiplier ``λ_k`` used at step ``k``.

    Shapes:
        x: ``[N, in_channels]`` → logits ``[N, out_channels]``.
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, bits: int, dropout: float,
                 steps: int, smp: SMPConstants | None = SMPConstants(), bt: str | None = None,
                 messages: str = "edge", correction_bits: int | None = None):
        super().__init__()
        self.bits, self.dropout, self.smp, self.bt, self.messages = bits, dropout, smp, bt, messages
        self.correction_bits = bits if correction_bits is None else correction_bits
        gap_bt = bt if self.correction_bits == 2 else None
        self.lin1 = QuantLinear(in_channels, hidden_channels, bits, bt)
        self.lin2 = QuantLinear(hidden_channels, out_channels, bits, bt)
        self.prop = torch.nn.ModuleList(QuantPropagation(bits, bt, messages) for _ in range(steps))
        self.gap = torch.nn.ModuleList(QuantPropagation(self.correction_bits, gap_bt, messages) for _ in range(steps))
        self.residuals: Tensor | None = None
        self.multipliers: Tensor | None = None

    def transform(self, x: Tensor) -> Tensor:
        """The MLP: ``[N, in]`` → ``Z: [N, out]``."""
        from gnnbench.backbones.base import dropout

        x = dropout(self.lin1.q_in(x), self.dropout, self.training)  # Q_in before dropout: see above
        x = F.relu(self.lin1(x, quantized_input=True))
        x = F.dropout(x, self.dropout, self.training)
        return self.lin2(x)

    def step(self, k: int, h: Tensor, z: Tensor, lam: Tensor, s: Tensor, graph: PropagationGraph
             ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """SMP step ``k``: ``(H_{k+1}, λ_{k+1}, s_{k+1}, residual_k)`` (module docstring; ``λ, s: [N, 1]``)."""
        c = self.smp or SMPConstants()
        mu, eta = c.mu, c.eta
        p = self.prop[k](h, graph)
        sub = (1 - (1 + mu) * eta) * h + mu * eta * p + eta * z
        if self.smp is None:
            return sub, lam, s, sub.new_zeros(())
        delta = sub - h
        out = sub + 2 * eta * lam * self.gap[k](delta, graph)
        with torch.no_grad():
            d = delta.detach()
            if self.correction_bits == 32 and graph.conv_is_gcn:  # the correction's propagation was ÂΔ
                energy = (d * d).sum() - (d * self.gap[k].last_aggregate).sum()
            else:
                energy = laplacian_energy(d, graph.gcn)
            residual = energy + s * s - c.threshold * graph.num_edges  # [N, 1]
            s_next = s + 2 * c.eta_s * lam * s
            lam_next = (lam - c.eta_lambda * residual).clamp_(*self.bounds(graph))  # projected ascent
        return out, lam_next, s_next, residual.mean()

    def propagate(self, z: Tensor, graph: PropagationGraph) -> Tensor:
        """The ``K`` steps on ``Z: [N, C]``; sets :attr:`residuals` and :attr:`multipliers`."""
        c = self.smp or SMPConstants()
        lam = z.new_full((z.size(0), 1), c.lambda0 if self.smp is not None else 0.0)
        s = z.new_full((z.size(0), 1), c.lambda0)
        h, res, lams = z, [], []
        for k in range(len(self.prop)):
            lams.append(lam.mean())
            h, lam, s, r = self.step(k, h, z, lam, s, graph)
            res.append(r)
        self.residuals = torch.stack(res) if res and self.smp is not None else None
        self.multipliers = torch.stack(lams) if lams else None
        return h

    def forward(self, x: Tensor, graph: PropagationGraph) -> Tensor:
        return self.propagate(self.transform(x), graph)

    def bounds(self, graph: PropagationGraph) -> tuple[float, float]:
        """The interval of the multipliers on ``graph`` (:meth:`SMPConstants.multiplier_bounds`)."""
        return _bounds(self.smp or SMPConstants(), graph.c_min)

    def quantizers(self) -> list[QLRQuantizer]:
        """Every quantizer of the model."""
        return [m for m in self.modules() if isinstance(m, QLRQuantizer)]


@functools.lru_cache(maxsize=64)
def _bounds(c: SMPConstants, c_min: float) -> tuple[float, float]:
    return c.multiplier_bounds(c_min)


#: bytes of one quantizer's stored state: α, the batch min and max (float32 each)
QUANTIZER_BYTES = 12
#: bytes more for a BT* quantizer: its code shift ``k`` (an int32), needed to requantize at inference
SHIFT_BYTES = 4


def model_size_bytes(model: PropagationGNN) -> int:
    """Bytes of the stored model: each weight matrix packed at ``bits`` (2 under BT/BT*: four
    levels), float32 biases, and 12 bytes (α, min, max) per active quantizer, 16 under BT* (its
    shift ``k``); at 32 bits ``4 ·`` the weights and biases (the ``α`` of an unquantized model are
    not stored).

    The same count :func:`~.packing.packed_nbytes` gives the packed codes of :mod:`.packing`.
    """
    from .packing import packed_nbytes

    layers = (model.lin1, model.lin2)
    if model.bits == 32:
        return 4 * sum(lay.linear.weight.numel() + lay.linear.bias.numel() for lay in layers)
    total = sum(packed_nbytes(lay.linear.weight.numel(), model.bits) + 4 * lay.linear.bias.numel()
                for lay in layers)
    used = [q for q in model.quantizers() if bool(q.initialized)]
    return total + sum(QUANTIZER_BYTES + (SHIFT_BYTES if q.bt == "bt*" else 0) for q in used)
