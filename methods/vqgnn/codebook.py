"""One GNN layer's VQ codebook: paired feature and gradient codewords, assignments, EMA updates.

Ding et al., "VQ-GNN", NeurIPS 2021, Sec. 4 and Appendix E.  Layer ``l`` keeps ``k`` feature
codewords ``X̃⁽ˡ⁾`` (rows ``[k, f_l]``) paired one-to-one with ``k`` gradient codewords ``G̃⁽ˡ⁺¹⁾``
(rows ``[k, f_{l+1}]``) and the assignment ``R⁽ˡ⁾`` of every node (Eq. (5): ``R`` is one-hot per
row, stored compactly as one int16/int32 codeword index per node and group).

Product VQ: the feature columns are split into ``P`` contiguous groups and so are the gradient
columns (``torch.tensor_split``); group ``g`` has its own ``k`` codewords over the joint vector
``[x[cols_g] ‖ g[gcols_g]]`` and its own assignment.  A node's reconstruction is the
concatenation of its groups' codewords.

Implicit whitening: running (EMA) per-column mean and variance of the features and of the
gradients; nearest-codeword search compares vectors divided by the running standard deviation,
so that features and (much smaller) gradients weigh alike.

EMA update (van den Oord et al. 2017, App. A.1, as Ding et al. App. E use it), for every group
and codeword ``v`` with ``n_v`` batch rows assigned and their sum ``s_v``::

    N_v ← γ N_v + (1 − γ) n_v,    M_v ← γ M_v + (1 − γ) s_v,    codeword_v = M_v / N_v

Codewords that no node is assigned to any more are re-seeded from random batch rows.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["Codebook", "num_groups", "kmeans"]

_EPS = 1e-12


def num_groups(feat_dim: int, grad_dim: int, group_size: int | None) -> int:
    """Product-VQ groups ``P = ceil(feat_dim / group_size)`` capped at ``min(feat_dim, grad_dim)``
    (every group needs at least one feature and one gradient column); 1 when ``group_size`` is None."""
    if group_size is None:
        return 1
    return max(1, min(math.ceil(feat_dim / group_size), feat_dim, grad_dim))


def _bounds(dim: int, parts: int) -> list[tuple[int, int]]:
    sizes = [len(t) for t in torch.tensor_split(torch.arange(dim), parts)]
    out, start = [], 0
    for s in sizes:
        out.append((start, start + s))
        start += s
    return out


def _sqdist(z: Tensor, c: Tensor) -> Tensor:
    """Squared distances ``[B, K]`` between rows of ``z: [B, D]`` and ``c: [K, D]``."""
    zz = (z * z).sum(1, keepdim=True) if not z.is_sparse else torch.sparse.sum(z * z, 1).to_dense()[:, None]
    zc = torch.sparse.mm(z, c.t()) if z.is_sparse else z @ c.t()
    return zz - 2 * zc + (c * c).sum(1)[None, :]


def kmeans(z: Tensor, k: int, iters: int, generator: torch.Generator | None = None,
           chunk: int = 16384) -> tuple[Tensor, Tensor]:
    """Lloyd's k-means (the classical solver of Eq. (5) of Ding et al. 2021).

    Args:
        z: ``[N, D]`` rows to cluster.
        k: clusters; when ``k > N`` some centroids repeat rows and stay empty.
        iters: Lloyd iterations after the random initialisation (0: random rows as centroids).
        generator: RNG for the initial rows.

    Returns:
        ``(centroids [k, D], assignment [N] int64)``; empty clusters keep their previous centroid.
    """
    n = z.size(0)
    idx = torch.randperm(n, generator=generator)[:k] if k <= n else torch.randint(0, n, (k,), generator=generator)
    cent = z[idx.to(z.device)].clone()
    sparse = z.dim() == 2 and z.numel() >= 1 << 22 and bool(torch.count_nonzero(z) < z.numel() // 10)

    def assign() -> Tensor:
        parts = []
        for s in range(0, n, chunk):
            rows = z[s:s + chunk]
            if sparse:
                rows = rows.to_sparse()
            parts.append(_sqdist(rows, cent).argmin(1))
        return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long, device=z.device)

    codes = assign()
    for _ in range(iters):
        cnt = torch.bincount(codes, minlength=k).to(z.dtype)
        sums = torch.zeros_like(cent).index_add_(0, codes, z)
        live = cnt > 0
        cent[live] = sums[live] / cnt[live, None]
        codes = assign()
    return cent, codes


class Codebook(torch.nn.Module):
    """Codewords, assignments and whitening statistics of one layer, all as buffers.

    Args:
        num_nodes: ``n``, nodes of the training graph (one assignment each).
        num_codewords: ``k``.
        feat_dim: ``f_l``, width of the layer's input features.
        grad_dim: width of the gradient side: ``f_{l+1}`` (plus ``2H`` auxiliary columns for GAT,
            see :mod:`.layers`).
        groups: ``P`` product-VQ groups (:func:`num_groups`).
        decay: γ of the EMA updates (default 0.99).
        whitening: divide by the running standard deviation before assignment (default True).

    Buffers (Shapes):
        feat_sum: ``[k, f_l]`` EMA sums ``M`` of the feature side; grad_sum: ``[k, grad_dim]``.
        count: ``[P, k]`` EMA counts ``N``.
        assign: ``[P, n]`` int16 (int32 when ``k > 32767``) codeword index of every node.
        feat_mean, feat_var, grad_mean, grad_var: running whitening statistics per column.
    """

    def __init__(self, num_nodes: int, num_codewords: int, feat_dim: int, grad_dim: int,
                 groups: int = 1, decay: float = 0.99, whitening: bool = True):
        super().__init__()
        self.k, self.decay, self.whitening, self.groups = num_codewords, decay, whitening, groups
        self.fbounds = _bounds(feat_dim, groups)
        self.gbounds = _bounds(grad_dim, groups)
        dtype = torch.int16 if num_codewords <= 32767 else torch.int32
        self.register_buffer("feat_sum", torch.zeros(num_codewords, feat_dim))
        self.register_buffer("grad_sum", torch.zeros(num_codewords, grad_dim))
        self.register_buffer("count", torch.ones(groups, num_codewords))
        self.register_buffer("assign", torch.zeros(groups, num_nodes, dtype=dtype))
        self.register_buffer("feat_mean", torch.zeros(feat_dim))
        self.register_buffer("feat_var", torch.ones(feat_dim))
        self.register_buffer("grad_mean", torch.zeros(grad_dim))
        self.register_buffer("grad_var", torch.ones(grad_dim))
        self.register_buffer("grad_seen", torch.zeros((), dtype=torch.bool))
        #: the input layer's features never change: its assignment is fixed after initialisation
        self.frozen = False

    # ------------------------------------------------------------------ codewords
    def _per_column(self, bounds) -> Tensor:
        col = torch.empty(bounds[-1][1], dtype=torch.long, device=self.count.device)
        for g, (a, b) in enumerate(bounds):
            col[a:b] = g
        return col

    def feature_codewords(self) -> Tensor:
        """``X̃ = M / N``, ``[k, f_l]`` (group ``g``'s codewords in its columns)."""
        return self.feat_sum / self.count.t()[:, self._per_column(self.fbounds)].clamp_min(_EPS)

    def gradient_codewords(self) -> Tensor:
        """``G̃``, ``[k, grad_dim]``."""
        return self.grad_sum / self.count.t()[:, self._per_column(self.gbounds)].clamp_min(_EPS)

    def codes_of(self, nodes: Tensor) -> Tensor:
        """Assignments ``[P, len(nodes)]`` int64 of global ``nodes``."""
        return self.assign[:, nodes].long()

    def load_exact(self, feat: Tensor, grad: Tensor) -> None:
        """One codeword per node (``k ≥ n``, ``P = 1``): codeword ``i`` = node ``i``'s feature and
        gradient rows, ``R = I``.  With these, Eqs. (6)-(7) are exact (the tests' oracle).

        Raises:
            ValueError: fewer codewords than nodes, or more than one group.
        """
        n = self.assign.size(1)
        if self.k < n or self.groups != 1:
            raise ValueError(f"load_exact needs num_codewords >= {n} nodes and one group, got "
                             f"k={self.k}, groups={self.groups}")
        self.feat_sum.zero_()[:n] = feat
        self.grad_sum.zero_()[:n] = grad
        self.count.fill_(1.0)
        self.assign[0] = torch.arange(n, device=self.assign.device).to(self.assign.dtype)

    # ------------------------------------------------------------------ assignment
    def _scaled(self, zf: Tensor, zg: Tensor | None, g: int) -> tuple[Tensor, Tensor]:
        """Group ``g``'s joint rows ``[B, D_g]`` and codewords ``[k, D_g]``, whitened."""
        a, b = self.fbounds[g]
        rows, cws = [zf[:, a:b]], [self.feature_codewords()[:, a:b]]
        fs = self.feat_var[a:b].clamp_min(1e-8).rsqrt() if self.whitening else None
        if fs is not None:
            rows[0], cws[0] = rows[0] * fs, cws[0] * fs
        if zg is not None:
            c, d = self.gbounds[g]
            gr, gc = zg[:, c:d], self.gradient_codewords()[:, c:d]
            if self.whitening:
                gs = self.grad_var[c:d].clamp_min(1e-30).rsqrt()
                gr, gc = gr * gs, gc * gs
            rows.append(gr)
            cws.append(gc)
        return torch.cat(rows, 1), torch.cat(cws, 1)

    def nearest(self, zf: Tensor, zg: Tensor | None = None) -> Tensor:
        """Nearest codeword of each row, per group, in the joint (whitened) space.

        Args:
            zf: ``[B, f_l]`` features; zg: ``[B, grad_dim]`` gradients, or ``None`` to compare the
                feature columns only (initialisation, unseen nodes at inference).

        Returns:
            ``[P, B]`` int64 codeword indices.
        """
        out = []
        for g in range(self.groups):
            rows, cws = self._scaled(zf, zg, g)
            out.append(_sqdist(rows, cws).argmin(1))
        return torch.stack(out) if out else zf.new_zeros((0, zf.size(0)), dtype=torch.long)

    # ------------------------------------------------------------------ updates
    def _update_stats(self, zf: Tensor, zg: Tensor) -> None:
        g = 1.0 - self.decay
        self.feat_mean.lerp_(zf.mean(0), g)
        self.feat_var.lerp_(zf.var(0, unbiased=False), g)
        if not bool(self.grad_seen):
            self.grad_mean.copy_(zg.mean(0))
            self.grad_var.copy_(zg.var(0, unbiased=False))
            self.grad_seen.fill_(True)
        else:
            self.grad_mean.lerp_(zg.mean(0), g)
            self.grad_var.lerp_(zg.var(0, unbiased=False), g)

    @torch.no_grad()
    def ema_update(self, nodes: Tensor, zf: Tensor, zg: Tensor, codes: Tensor | None = None) -> Tensor:
        """Assign the batch in the joint space, store ``R`` of ``nodes`` and EMA-update the codewords.

        Args:
            nodes: ``[B]`` global node ids of the batch.
            zf: ``[B, f_l]`` their input features ``X_B⁽ˡ⁾``; zg: ``[B, grad_dim]`` their gradients
                ``G_B⁽ˡ⁺¹⁾`` (and auxiliary columns).
            codes: ``[P, B]`` assignments to use instead of the nearest codewords (tests).

        Returns:
            ``[P, B]`` the assignments used.
        """
        if self.whitening:
            self._update_stats(zf, zg)
        if codes is None:
            codes = self.nearest(zf, zg)
        self.assign[:, nodes] = codes.to(self.assign.dtype)
        gamma = self.decay
        for g in range(self.groups):
            a, b = self.fbounds[g]
            c, d = self.gbounds[g]
            n_v = torch.bincount(codes[g], minlength=self.k).to(zf.dtype)
            self.count[g].mul_(gamma).add_(n_v, alpha=1 - gamma)
            fs = torch.zeros(self.k, b - a, device=zf.device, dtype=zf.dtype).index_add_(0, codes[g], zf[:, a:b])
            gs = torch.zeros(self.k, d - c, device=zf.device, dtype=zf.dtype).index_add_(0, codes[g], zg[:, c:d])
            self.feat_sum[:, a:b].mul_(gamma).add_(fs, alpha=1 - gamma)
            self.grad_sum[:, c:d].mul_(gamma).add_(gs, alpha=1 - gamma)
        self._reseed(zf, zg)
        return codes

    def _reseed(self, zf: Tensor, zg: Tensor) -> None:
        """Codewords that no node is assigned to take the values of random batch rows."""
        for g in range(self.groups):
            used = torch.bincount(self.assign[g].long(), minlength=self.k) > 0
            dead = (~used).nonzero().view(-1)
            if dead.numel() == 0 or zf.size(0) == 0:
                continue
            pick = torch.randint(0, zf.size(0), (dead.numel(),), device=zf.device)
            live = self.count[g][used]
            cnt = live.mean() if live.numel() else torch.ones((), device=zf.device)
            a, b = self.fbounds[g]
            c, d = self.gbounds[g]
            self.count[g, dead] = cnt
            self.feat_sum[dead, a:b] = zf[pick, a:b] * cnt
            self.grad_sum[dead, c:d] = zg[pick, c:d] * cnt

    @torch.no_grad()
    def initialise(self, zf: Tensor, batch_fraction: float, kmeans_iters: int = 0,
                   generator: torch.Generator | None = None) -> None:
        """Codewords from the features ``zf: [n, f_l]`` of every node (a no-grad pass), by k-means
        per group (``kmeans_iters = 0``: random nodes); gradient codewords start at zero.

        The EMA counts start at each cluster's size times ``batch_fraction = b / n``, the count a
        codeword would reach in the steady state of the EMA.
        """
        self.feat_mean.copy_(zf.mean(0))
        self.feat_var.copy_(zf.var(0, unbiased=False))
        self.grad_sum.zero_()
        self.grad_seen.fill_(False)
        for g in range(self.groups):
            a, b = self.fbounds[g]
            part = zf[:, a:b]
            scale = self.feat_var[a:b].clamp_min(1e-8).rsqrt() if self.whitening else None
            cent, codes = kmeans(part * scale if scale is not None else part, self.k, kmeans_iters, generator)
            if scale is not None:
                cent = cent / scale
            cnt = torch.bincount(codes, minlength=self.k).to(zf.dtype) * batch_fraction
            cnt = cnt.clamp_min(batch_fraction)
            self.count[g] = cnt
            self.feat_sum[:, a:b] = cent * cnt[:, None]
            self.assign[g] = codes.to(self.assign.dtype)
