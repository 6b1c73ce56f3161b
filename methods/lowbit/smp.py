"""Smoothness-aware message propagation (SMP, Wang et al., CIKM 2023), solved by the differential
multiplier method (Platt & Barr, NIPS 1988), with sparse matrix products only.

Per layer, with ``Z: [N, D]`` the layer's transformed input and ``Â = D̂^{-1/2}(A + I)D̂^{-1/2}``
(the GCN convolution matrix, ``L = I − Â`` its normalised Laplacian), SMP seeks

    min_H  f(H) = ‖H − Z‖²_F + λ · tr(Hᵀ L H)
    s.t.   c(H) = (1 − ε) · S_prev · ‖H‖²_F − tr(Hᵀ L H) ≤ 0,

where ``S(H) = tr(Hᵀ L H) / ‖H‖²_F`` is the normalised Dirichlet energy (the mean disagreement of
neighbouring nodes; it tends to 0 as a deep GCN oversmooths) and ``S_prev`` that of the previous
layer's embeddings: the constraint bounds the layer-wise drop of dissimilarity between neighbours
(rise of their similarity) to a factor ``1 − ε``.  The Lagrangian ``f(H) + μ·c(H)`` is solved by
the differential multiplier method: each of ``steps`` iterations takes a gradient-descent step on
``H`` and a projected gradient-ascent step on ``μ ≥ 0``:

    H' = H − η · [2(H − Z) + 2λ L H + μ · 2((1 − ε) S_prev H − L H)]
    μ' = clamp(μ + ρ · c(H) / ‖Z‖²_F, 0, μ_max)

The public abstract states the method (a Lagrangian with a similarity-change constraint solved by
a differential multiplier method) but not its exact objective or constants; the quadratic
smoothing objective, the energy-ratio constraint, the ``‖Z‖²`` normalisation of the multiplier
step and the cap ``μ_max`` (which keeps the anti-smoothing term ``−μLH`` a stable step) are our
choices.  ``L H = H − Â H`` costs one sparse-dense product per step; no dense ``N × N`` matrix is
ever formed.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

__all__ = ["SMPConfig", "conv_matrix", "dirichlet_energy", "smoothness", "smp_solve"]


@dataclass(frozen=True)
class SMPConfig:
    """Constants of :func:`smp_solve`.

    Args:
        lam: λ, weight of the smoothing term (default 1.0).
        eps: ε, the allowed relative drop of normalised Dirichlet energy per layer (default 0.5).
        steps: DMM iterations per layer (default 4).
        eta: η, primal step size (default 0.25, stable for ``η ≤ 1/(2(1+2λ))`` at ``μ = 0``… and
            a little beyond since the constraint only acts on rough signals).
        rho: ρ, multiplier step size (default 10.0).
        mu_max: cap of the multiplier (default 2.0).
    """

    lam: float = 1.0
    eps: float = 0.5
    steps: int = 4
    eta: float = 0.25
    rho: float = 10.0
    mu_max: float = 2.0


def conv_matrix(edge_index: Tensor, num_nodes: int, kind: str = "gcn") -> Tensor:
    """A sparse CSR convolution matrix ``[N_dst, N_src]`` (rows receive, columns send).

    Args:
        edge_index: ``[2, E]`` int64, messages flow ``edge_index[0] → edge_index[1]``.
        num_nodes: ``N``.
        kind: ``"gcn"`` for ``D̂^{-1/2}(A + I)D̂^{-1/2}`` (Kipf & Welling 2017, Eq. 2; existing
            self-loops replaced by one of weight 1), ``"mean"`` for the row-normalised ``D^{-1}A``
            of SAGE-Mean (Hamilton et al. 2017; no self-loops; rows without neighbours are 0).

    Raises:
        ValueError: unknown ``kind``.
    """
    src, dst = edge_index[0], edge_index[1]
    if kind == "gcn":
        keep = src != dst
        loop = torch.arange(num_nodes, device=edge_index.device)
        src, dst = torch.cat([src[keep], loop]), torch.cat([dst[keep], loop])
        deg = torch.zeros(num_nodes, device=edge_index.device).index_add_(
            0, dst, torch.ones(dst.numel(), device=edge_index.device))
        dinv = deg.pow(-0.5)
        val = dinv[src] * dinv[dst]
    elif kind == "mean":
        deg = torch.zeros(num_nodes, device=edge_index.device).index_add_(
            0, dst, torch.ones(dst.numel(), device=edge_index.device))
        val = 1.0 / deg[dst]
    else:
        raise ValueError(f"kind={kind!r} is not a convolution matrix; choose 'gcn' or 'mean'")
    order = torch.argsort(dst * num_nodes + src)
    src, dst, val = src[order], dst[order], val[order]
    crow = torch.zeros(num_nodes + 1, dtype=torch.long, device=edge_index.device)
    crow[1:] = torch.cumsum(torch.bincount(dst, minlength=num_nodes), 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.sparse_csr_tensor(crow, src, val.float(), (num_nodes, num_nodes),
                                       check_invariants=False)


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


def smp_solve(z: Tensor, adj: Tensor, s_prev: Tensor, cfg: SMPConfig, mu0: Tensor | float = 0.0,
              quant: Callable[[Tensor], Tensor] | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Smoothness-aware message propagation of one layer by the differential multiplier method.

    Args:
        z: ``[N, D]`` the layer's transformed input ``Z`` (the starting point ``H₀ = Z``).
        adj: the GCN convolution matrix ``Â`` (:func:`conv_matrix`, ``kind="gcn"``), sparse.
        s_prev: scalar, ``S`` of the previous layer's embeddings (treated as a constant).
        cfg: the constants.
        mu0: the starting multiplier (the previous training step's, a warm start).
        quant: applied to ``H`` before every sparse product (message quantization), or ``None``.

    Returns:
        ``H: [N, D]`` after ``cfg.steps`` iterations (differentiable w.r.t. ``z``), the final
        multiplier ``μ`` (scalar, detached) and the constraint residuals
        ``max(0, (1 − ε) S_prev − S(H_k))`` at the iterate ``H_k`` each step ``k`` starts from
        (``[steps]``, detached; primal and multiplier are updated simultaneously from ``H_k``, the
        Euler discretisation of Platt & Barr's ``Ḣ = −∇_H(f + μc)``, ``μ̇ = c``).
    """
    q = quant or (lambda t: t)
    target = (1.0 - cfg.eps) * s_prev.detach()
    znorm = z.detach().pow(2).sum().clamp_min(1e-12)
    mu = torch.as_tensor(mu0, dtype=z.dtype, device=z.device).detach().clone()
    h = z
    residuals = []
    for _ in range(cfg.steps):
        lh = h - spmm(adj, q(h))
        with torch.no_grad():  # the constraint at the current point, from the same product
            hn = h.pow(2).sum().clamp_min(1e-12)
            energy = (h * lh).sum()
            c = target * hn - energy
            residuals.append(torch.clamp(target - energy / hn, min=0.0))
        grad_f = 2.0 * (h - z) + 2.0 * cfg.lam * lh
        grad_c = 2.0 * (target * h - lh)
        h = h - cfg.eta * (grad_f + mu * grad_c)
        mu = torch.clamp(mu + cfg.rho * c / znorm, 0.0, cfg.mu_max)
    return h, mu, torch.stack(residuals) if residuals else z.new_zeros(0)
