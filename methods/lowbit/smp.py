"""Smoothness-aware message propagation (SMP, Wang et al., CIKM 2023), solved by the differential
multiplier method (Platt & Barr, NIPS 1988), with sparse matrix products only.

A deep ``lowbit`` model with SMP is a short quantized transform (the backbone's first two layers)
whose output ``Z: [N, C]`` is propagated by ``K`` further *propagation layers*, each one iteration
of the differential multiplier method on

    min_H  f(H) = ‖H − Z‖²_F + λ · tr(Hᵀ L H)
    s.t.   c(H) = (1 − ε) · S(Z) − S(H) ≤ 0,

with ``Â = D̂^{-1/2}(A + I)D̂^{-1/2}`` (the GCN matrix), ``L = I − Â`` and
``S(H) = tr(Hᵀ L H) / ‖H‖²_F`` the normalised Dirichlet energy (the mean disagreement of
neighbouring nodes; it tends to 0 as repeated propagation oversmooths).  Layer ``k`` takes a
gradient-descent step on ``H`` and a projected gradient-ascent step on the multiplier ``μ``:

    H_{k+1} = H_k − η/(1+λ) · [(H_k − Z) + (λ − μ_k)(H_k − Ã_k) + μ_k (1 − ε) S(Z) H_k]
    μ_{k+1} = clamp(μ_k + ρ · c(H_k), 0, μ_max),      Ã_k = Q_agg(Â · Q_msg(H_k)),

(the bracket is half the gradient of ``f + μ·c`` with ``‖H‖²`` held at its current value).
With ``μ = 0`` and ``η = 1`` a layer is exactly the personalised-propagation step
``H ← λ/(1+λ) · ÂH + 1/(1+λ) · Z`` (the fixed point of ``f`` is ``(I + λL)^{-1} Z``, Ma et al.
2021, "A unified view on graph neural networks as graph signal denoising"); the multiplier
lowers the smoothing weight from ``λ`` to ``λ − μ`` while neighbours grow too similar.

What is the paper's and what is ours. The paper's public abstract and its authors' public code
state: quantized message propagation layers that follow a feature transform (depth = number of
propagation layers), an objective with a fidelity term to the transformed input and a Laplacian
smoothing term, a constraint on the layer-wise change of similarity between neighbouring nodes, and
a differential multiplier method with one primal and one multiplier step per layer (their code
bounds the Dirichlet energy of the change between successive layers, ``tr(ΔᵀLΔ) ≤ α·|E|`` with
``Δ = H_{k+1} − H_k``). Our choices: the transform is the backbone's first two (quantized)
convolution layers; the constraint is on the normalised Dirichlet energy relative to that of ``Z``
(the unpropagated embeddings), not relative to the previous layer, because a per-layer bound
``S(H_{k+1}) ≥ (1 − ε) S(H_k)`` compounds to ``(1 − ε)^K`` and allows complete oversmoothing at
depth 32 (an earlier version of this module put such a per-layer bound inside each of ``L`` stacked
convolution layers: at 16 layers on Cora it scored 0.319, as the plain stack, whose weights did not
train); a scalar multiplier (not one per node); ``μ_max = λ`` by default, so the constraint can at
most switch the smoothing off and the step stays a contraction (no sharpening, which would amplify
the quantization error); the step normalisation ``η/(1+λ)``; and a multiplier reset to 0 at each
forward pass. ``ÂH`` costs one sparse-dense product per layer; no dense ``N × N`` matrix is ever
formed.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["SMPConfig", "dirichlet_energy", "smoothness", "smp_solve", "smp_step"]

Quant = Callable[[Tensor], Tensor] | None


@dataclass(frozen=True)
class SMPConfig:
    """Constants of the propagation layers (:func:`smp_solve`).

    Args:
        lam: λ, weight of the smoothing term (default 9.0: the teleport ``1/(1+λ) = 0.1`` of
            personalised propagation at ``μ = 0``).
        eps: ε, the allowed relative drop of normalised Dirichlet energy below that of ``Z``
            (default 0.5).
        eta: η, primal step in units of ``1/(1+λ)`` (default 1.0; ``0 < η ≤ 1`` keeps every
            step a contraction).
        rho: ρ, multiplier step (default 10.0).
        mu_max: cap of the multiplier (default ``None``: ``λ``, the value that switches the
            smoothing off).
    """

    lam: float = 9.0
    eps: float = 0.5
    eta: float = 1.0
    rho: float = 10.0
    mu_max: float | None = None

    @property
    def mu_cap(self) -> float:
        """The multiplier's cap: ``mu_max``, or ``λ`` when it is ``None``."""
        return self.lam if self.mu_max is None else self.mu_max


def spmm(adj: Tensor, x: Tensor) -> Tensor:
    """``adj @ x`` for a sparse ``adj: [N_dst, N_src]`` and dense ``x: [N_src, D]`` → ``[N_dst, D]``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.sparse.mm(adj, x)


def dirichlet_energy(h: Tensor, adj: Tensor) -> Tensor:
    """``tr(Hᵀ L H) = ‖H‖² − ⟨H, Â H⟩`` for ``h: [N, D]`` and the GCN matrix ``adj``; a scalar."""
    return h.pow(2).sum() - (h * spmm(adj, h)).sum()


def smoothness(h: Tensor, adj: Tensor) -> Tensor:
    """Normalised Dirichlet energy ``S(H) = tr(HᵀLH) / ‖H‖²`` in ``[0, 2]``; 0 = fully smoothed."""
    return dirichlet_energy(h, adj) / h.pow(2).sum().clamp_min(1e-12)


def smp_step(h: Tensor, z: Tensor, adj: Tensor, s_ref: Tensor, mu: Tensor, cfg: SMPConfig,
             q_msg: Quant = None, q_agg: Quant = None) -> tuple[Tensor, Tensor, Tensor]:
    """One propagation layer: a DMM primal step on ``H`` and ascent step on ``μ`` (module docstring).

    Args:
        h: ``[N, C]`` the previous layer's embeddings ``H_k``.
        z: ``[N, C]`` the transformed input ``Z`` (the anchor of the fidelity term).
        adj: the GCN matrix ``Â`` (:func:`gnnbench.backbones.conv.gcn_matrix`, as CSR), sparse ``[N, N]``.
        s_ref: scalar ``S(Z)`` (treated as a constant).
        mu: scalar multiplier ``μ_k`` (detached).
        cfg: the constants.
        q_msg, q_agg: quantizers of the messages (``H_k`` before the sparse product) and of the
            aggregate ``Â·Q_msg(H_k)``, or ``None``.

    Returns:
        ``H_{k+1}: [N, C]`` (differentiable w.r.t. ``h`` and ``z``), ``μ_{k+1}`` (scalar,
        detached) and the residual ``max(0, c(H_k))`` of the constraint at ``H_k`` (scalar,
        detached; computed from the same sparse product).
    """
    msg = q_msg(h) if q_msg is not None else h
    agg = spmm(adj, msg)
    agg = q_agg(agg) if q_agg is not None else agg
    lh = h - agg
    with torch.no_grad():
        s_h = (h * lh).sum() / h.pow(2).sum().clamp_min(1e-12)
        c = (1.0 - cfg.eps) * s_ref - s_h
        mu_next = torch.clamp(mu + cfg.rho * c, 0.0, cfg.mu_cap)
    step = cfg.eta / (1.0 + cfg.lam)
    h_next = h - step * ((h - z) + (cfg.lam - mu) * lh + mu * (1.0 - cfg.eps) * s_ref * h)
    return h_next, mu_next, torch.clamp(c, min=0.0)


def smp_solve(z: Tensor, adj: Tensor, cfg: SMPConfig, num_layers: int, s_ref: Tensor | None = None,
              h0: Tensor | None = None, quantizers: Sequence[tuple[Quant, Quant]] | None = None
              ) -> tuple[Tensor, Tensor, Tensor]:
    """``num_layers`` propagation layers (:func:`smp_step`) from ``H_0 = h0`` (default ``Z``), ``μ_0 = 0``.

    Args:
        z: ``[N, C]`` the transformed input.
        adj: the GCN matrix ``Â``, sparse ``[N, N]``.
        cfg: the constants.
        num_layers: ``K ≥ 0``.
        s_ref: the reference ``S`` of the constraint (default ``S(Z)``).
        h0: the starting embeddings (default ``Z``).
        quantizers: ``(q_msg, q_agg)`` of each layer, or ``None`` for none.

    Returns:
        ``H_K: [N, C]``, the final ``μ`` (scalar) and the residuals ``[K]`` (detached), the
        ``k``-th measured at ``H_k``.

    Raises:
        ValueError: ``num_layers`` is negative or ``quantizers`` has another length.
    """
    if num_layers < 0 or (quantizers is not None and len(quantizers) != num_layers):
        raise ValueError(f"num_layers={num_layers} with {None if quantizers is None else len(quantizers)} "
                         f"quantizer pairs; give num_layers >= 0 and one (q_msg, q_agg) pair per layer")
    s_ref = smoothness(z.detach(), adj) if s_ref is None else s_ref.detach()
    mu = z.new_zeros(())
    h = z if h0 is None else h0
    residuals = []
    for k in range(num_layers):
        qm, qa = quantizers[k] if quantizers is not None else (None, None)
        h, mu, res = smp_step(h, z, adj, s_ref, mu, cfg, qm, qa)
        residuals.append(res)
    return h, mu, torch.stack(residuals) if residuals else z.new_zeros(0)
