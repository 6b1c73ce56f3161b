"""One GNN layer's VQ codebook: paired feature and gradient codewords, assignments, EMA updates.

Ding et al., "VQ-GNN", NeurIPS 2021, Sec. 4 and Appendix E.  Layer ``l`` keeps ``k`` feature
codewords ``X̃⁽ˡ⁾`` paired one-to-one with ``k`` gradient codewords ``G̃⁽ˡ⁺¹⁾`` and the assignment
``R⁽ˡ⁾`` of every node (Eq. (5): ``R`` is one-hot per row, stored compactly as one int16/int32
codeword index per node and group).

Product VQ: the ``f`` feature columns are cut into ``P = ceil(f / group_size)`` contiguous groups
of ``d = ceil(f / P)`` columns and the ``e`` gradient columns into ``P`` groups of
``ceil(e / P)`` (the last groups zero-padded; a group may hold no gradient column when ``e < P``).
Group ``p`` has its own ``k`` codewords over the joint vector ``[x[cols_p] ‖ g[gcols_p]]`` and its
own assignment; a node's reconstruction concatenates its groups' codewords, so ``P`` groups of
``k`` codewords describe up to ``k^P`` distinct vectors at the cost of ``k`` full-width ones
(the reference implementation of Ding et al. quantizes groups of 4 columns).  All groups are
processed together as batched tensors.

Implicit whitening (``whitening=True``): running per-column mean ``μ`` and variance ``σ²`` of the
features and of the gradients, updated from every batch with momentum ``1 − γ_s`` (``γ_s = 0.9``,
batch normalisation's default); the batch is normalised, ``ẑ = (z − μ) / σ``, before assignment,
and the codewords live in that normalised space, read out as ``ĉ σ + μ`` with the current
statistics.  Features and (much smaller) gradients then weigh alike in the joint space, and the
codewords follow a drift of the features' location and scale as fast as the statistics do,
while their EMA (γ) averages over ~``1/(1 − γ)`` steps: on a small graph with few batches per
epoch those are many epochs of training, and raw-space codewords lag behind the weights.
(This is how the reference implementation of Ding et al. whitens, with batch-norm statistics.)

EMA update (van den Oord et al. 2017, App. A.1, as Ding et al. App. E use it), for every group
and codeword ``v`` with ``n_v`` batch rows assigned and their sum ``s_v``::

    N_v ← γ N_v + (1 − γ) n_v,    M_v ← γ M_v + (1 − γ) s_v,    codeword_v = M_v / N_v

Codewords that no node is assigned to any more are re-seeded from random batch rows.
"""
from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["Codebook", "num_groups", "kmeans"]

_EPS = 1e-12
#: distance matrices are computed in chunks of at most this many entries (4 MiB of float32): a
#: chunk that stays in the cache while ``argmin`` reads it back.  Measured on one thread for the
#: assignment of 20,000 rows to 256 codewords in 64 groups of 4 (8) columns: 0.49 s (0.60 s) with
#: this chunk and without the ``‖z‖²`` term, against 1.87 s (2.04 s) with 2^25 entries and the term.
_CHUNK = 1 << 20


#: rows of a batch checked against the codewords before :meth:`Codebook.nearest_feature` sorts a group
_PROBE = 64


def num_groups(feat_dim: int, group_size: int | None) -> int:
    """Product-VQ groups ``P = ceil(feat_dim / group_size)``; 1 when ``group_size`` is None.

    Raises:
        ValueError: ``group_size`` below 1.
    """
    if group_size is None:
        return 1
    if group_size < 1:
        raise ValueError(f"group_size={group_size} must be at least 1 (or None for one group)")
    return max(1, math.ceil(feat_dim / group_size))


def _argmin_dist(z: Tensor, c: Tensor) -> Tensor:
    """Index ``[P, B]`` of the nearest row of ``c: [P, K, D]`` for every row of ``z: [P, B, D]``
    (squared Euclidean distance), in chunks of rows so that no ``[P, B, K]`` matrix above
    ``_CHUNK`` entries is formed.  The row's own ``‖z‖²`` is left out of ``‖z‖² − 2 z·c + ‖c‖²``:
    it is the same for every codeword of the row, so the argmin is that of ``‖c‖² − 2 z·c``."""
    P, B, _ = z.shape
    step = max(1, _CHUNK // max(1, P * c.size(1)))
    cc, ct = (c * c).sum(-1)[:, None, :], c.transpose(1, 2)
    out = [torch.baddbmm(cc, z[:, s:s + step], ct, alpha=-2.0).argmin(-1) for s in range(0, B, step)]
    return torch.cat(out, 1) if out else torch.zeros(P, 0, dtype=torch.long, device=z.device)


def _distinct_rows(z: Tensor) -> tuple[Tensor, Tensor]:
    """``torch.unique(z, dim=0, return_inverse=True)`` for ``z: [N, D]``, about 40× faster on the
    CPU: rows are compared as raw bytes (NumPy's void view, one 1-D sort) and the distinct rows
    are then put in the same lexicographic order as ``torch.unique`` gives (``-0.0`` is first made
    ``+0.0`` so that bytes and values agree)."""
    import numpy as np

    a = np.ascontiguousarray((z.detach() + 0.0).cpu().numpy())
    if a.shape[0] == 0:
        return z[:0], torch.zeros(0, dtype=torch.long, device=z.device)
    v = a.view(np.dtype((np.void, a.dtype.itemsize * a.shape[1]))).ravel()
    _, first, inv = np.unique(v, return_index=True, return_inverse=True)
    rows = a[first]
    order = np.lexsort(rows.T[::-1]) if rows.shape[1] else np.arange(rows.shape[0])
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return (torch.from_numpy(rows[order]).to(z.device),
            torch.from_numpy(rank[inv.reshape(-1)]).to(z.device, torch.long))


def kmeans(z: Tensor, k: int, iters: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Lloyd's k-means in every group at once (the classical solver of Eq. (5) of Ding et al. 2021).

    A group with at most ``k`` distinct rows takes them as its codewords: its quantization is
    exact (sparse inputs such as bag-of-words features have few distinct rows per narrow group).
    The other groups start from ``k`` of their distinct rows chosen at random.

    Args:
        z: ``[P, N, D]`` rows to cluster, per group.
        k: clusters per group.
        iters: Lloyd iterations after the initialisation (0: the initial rows as centroids).
        generator: RNG for the choice of initial rows.

    Returns:
        ``(centroids [P, k, D], assignment [P, N] int64)``; clusters that stay empty keep their
        initial centroid (a duplicate row when a group has fewer than ``k`` distinct rows).
    """
    P, N, D = z.shape
    cent = z.new_zeros(P, k, D)
    codes = torch.zeros(P, N, dtype=torch.long, device=z.device)
    rest = []  # groups with more than k distinct rows: Lloyd's iterations
    for p in range(P):
        uniq, inv = _distinct_rows(z[p])
        if uniq.size(0) <= k:  # exact: every distinct row is a codeword
            cent[p, :uniq.size(0)] = uniq
            if uniq.size(0):
                cent[p, uniq.size(0):] = uniq[0]
            codes[p] = inv
        else:
            cent[p] = uniq[torch.randperm(uniq.size(0), generator=generator)[:k].to(z.device)]
            rest.append(p)
    if not rest:
        return cent, codes
    idx = torch.tensor(rest, device=z.device)
    zr, cr = z[idx], cent[idx]
    R = len(rest)
    cr_codes = _argmin_dist(zr, cr)
    off = (torch.arange(R, device=z.device) * k)[:, None]
    flat_rows = zr.reshape(R * N, D)
    for _ in range(iters):
        flat = (cr_codes + off).view(-1)
        cnt = torch.bincount(flat, minlength=R * k).to(z.dtype)
        sums = z.new_zeros(R * k, D).index_add_(0, flat, flat_rows)
        live = cnt > 0
        c = cr.view(R * k, D)
        c[live] = sums[live] / cnt[live, None]
        cr_codes = _argmin_dist(zr, cr)
    cent[idx], codes[idx] = cr, cr_codes
    return cent, codes


class Codebook(torch.nn.Module):
    """Codewords, assignments and whitening statistics of one layer, all as buffers.

    Args:
        num_nodes: ``n``, nodes of the training graph (one assignment each).
        num_codewords: ``k`` per group.
        feat_dim: ``f``, width of the layer's input features.
        grad_dim: ``e``, width of the gradient side: ``f_{l+1}`` (plus ``2H`` auxiliary columns
            for GAT, see :mod:`.layers`).
        groups: ``P`` product-VQ groups (:func:`num_groups`; default 1).
        decay: γ of the EMA updates (default 0.99).
        whitening: codewords in the running-normalised space (module docstring; default True).
        stats_decay: ``γ_s`` of the running mean and variance (default 0.9).

    Buffers (Shapes), with ``d = ceil(f / P)`` and ``c = ceil(e / P)``:
        feat_sum: ``[P, k, d]`` EMA sums ``M`` of the feature side (normalised when whitening);
        grad_sum: ``[P, k, c]``.
        count: ``[P, k]`` EMA counts ``N``.
        assign: ``[P, n]`` int16 (int32 when ``k > 32767``) codeword index of every node.
        feat_mean, feat_var: ``[P·d]``; grad_mean, grad_var: ``[P·c]`` running whitening statistics.

    Raises:
        ValueError: fewer than one codeword or group, or more groups than feature columns.
    """

    def __init__(self, num_nodes: int, num_codewords: int, feat_dim: int, grad_dim: int,
                 groups: int = 1, decay: float = 0.99, whitening: bool = True, stats_decay: float = 0.9):
        super().__init__()
        if num_codewords < 1 or groups < 1 or groups > max(1, feat_dim):
            raise ValueError(f"a codebook needs num_codewords >= 1 and 1 <= groups <= feat_dim={feat_dim}, "
                             f"got num_codewords={num_codewords}, groups={groups}")
        self.k, self.decay, self.whitening, self.groups = num_codewords, decay, whitening, groups
        self.stats_decay = stats_decay
        self.feat_dim, self.grad_dim = feat_dim, grad_dim
        self.d = math.ceil(feat_dim / groups)
        self.c = math.ceil(grad_dim / groups)
        dtype = torch.int16 if num_codewords <= 32767 else torch.int32
        self.register_buffer("feat_sum", torch.zeros(groups, num_codewords, self.d))
        self.register_buffer("grad_sum", torch.zeros(groups, num_codewords, self.c))
        self.register_buffer("count", torch.ones(groups, num_codewords))
        self.register_buffer("assign", torch.zeros(groups, num_nodes, dtype=dtype))
        self.register_buffer("feat_mean", torch.zeros(groups * self.d))
        self.register_buffer("feat_var", torch.ones(groups * self.d))
        self.register_buffer("grad_mean", torch.zeros(groups * self.c))
        self.register_buffer("grad_var", torch.ones(groups * self.c))
        self.register_buffer("grad_seen", torch.zeros((), dtype=torch.bool))
        #: the input layer's features never change: its assignment is fixed after initialisation
        self.frozen = False

    # ------------------------------------------------------------------ layout
    def _split(self, z: Tensor, width: int, part: int, fill: float = 0.0) -> Tensor:
        """``z: [B, width]`` → ``[P, B, part]`` (padded with ``fill`` to ``P · part`` columns)."""
        z = F.pad(z, (0, self.groups * part - width), value=fill) if self.groups * part != width else z
        return z.view(z.size(0), self.groups, part).transpose(0, 1)

    def _merge(self, g: Tensor, width: int) -> Tensor:
        """``[P, R, part]`` → ``[R, width]`` (the inverse of :meth:`_split`)."""
        return g.transpose(0, 1).reshape(g.size(1), -1)[:, :width]

    def _off(self) -> Tensor:
        return (torch.arange(self.groups, device=self.count.device) * self.k)[:, None]

    # ------------------------------------------------------------------ codewords
    def _moments(self, grad: bool) -> tuple[Tensor, Tensor]:
        """Running mean and standard deviation ``[P, 1, part]`` of the feature (or gradient) side.

        The padded columns of the last group (:meth:`_split`) get mean 0 and standard deviation 1,
        so that they normalise to 0 like the padded rows themselves (a standard deviation of 0
        there made them 0/0 = NaN, and every row of that group chose codeword 0).
        """
        mean, var, width, part, eps = ((self.grad_mean, self.grad_var, self.grad_dim, self.c, 1e-30) if grad
                                       else (self.feat_mean, self.feat_var, self.feat_dim, self.d, 1e-8))
        return (self._split(mean[None, :width], width, part),
                self._split((var[:width] + eps).sqrt()[None], width, part, fill=1.0))

    def _codebook(self, grad: bool, normalised: bool) -> Tensor:
        cw = (self.grad_sum if grad else self.feat_sum) / self.count[..., None].clamp_min(_EPS)
        if not self.whitening or normalised:
            return cw
        mean, std = self._moments(grad)
        return cw * std + mean

    def feature_codebook(self, normalised: bool = False) -> Tensor:
        """``X̃ = M / N`` per group, ``[P, k, d]`` (in the normalised space when asked and whitening)."""
        return self._codebook(False, normalised)

    def gradient_codebook(self, normalised: bool = False) -> Tensor:
        """``G̃`` per group, ``[P, k, c]``."""
        return self._codebook(True, normalised)

    def _normalise(self, zf: Tensor, zg: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """Rows ``[P, B, d]`` (and ``[P, B, c]``) split by group, normalised when whitening."""
        xf = self._split(zf, self.feat_dim, self.d)
        xg = None if zg is None else self._split(zg, self.grad_dim, self.c)
        if self.whitening:
            mean, std = self._moments(False)
            xf = (xf - mean) / std
            if xg is not None:
                mean, std = self._moments(True)
                xg = (xg - mean) / std
        return xf, xg

    def feature_codewords(self) -> Tensor:
        """The ``k`` codewords of every group side by side, ``[k, f]`` (row ``v`` = codeword ``v``
        of each group, concatenated)."""
        return self._merge(self.feature_codebook(), self.feat_dim)

    def gradient_codewords(self) -> Tensor:
        """As :meth:`feature_codewords` for the gradient side, ``[k, e]``."""
        return self._merge(self.gradient_codebook(), self.grad_dim)

    def _rows(self, book: Tensor, codes: Tensor, width: int) -> Tensor:
        """Concatenate the codewords ``book[p, codes[p, u]]`` of every group: ``[U, width]``."""
        P, k, part = book.shape
        idx = (codes + self._off()).t().reshape(-1)  # [U·P], node-major: no transpose copy
        return book.reshape(P * k, part)[idx].view(codes.size(1), P * part)[:, :width]

    def reconstruct(self, codes: Tensor) -> Tensor:
        """Feature rows ``[U, f]`` of the codeword tuples ``codes: [P, U]`` (``R X̃`` of Eq. (6))."""
        return self._rows(self.feature_codebook(), codes, self.feat_dim)

    def reconstruct_grad(self, codes: Tensor) -> Tensor:
        """Gradient-side rows ``[U, e]`` of the codeword tuples ``codes: [P, U]`` (``R G̃`` of Eq. (7))."""
        return self._rows(self.gradient_codebook(), codes, self.grad_dim)

    def cache_rows(self, chunk: int = 1 << 16) -> None:
        """Keep every node's reconstructed row ``R X̃`` as CSR when the rows are mostly zero
        (bag-of-words inputs: at most 1/16 non-zero, ``[n, f] ≥ 2^20`` entries), so that
        :meth:`project_rows` multiplies sparse rows instead of rebuilding and projecting dense
        ones: for a frozen codebook (the input layer), whose assignments and codewords never change
        after initialisation.  Dense rows are not kept: rebuilding them from the codes is one
        gather, and keeping them would take as much memory as the features (1.5 GB at 3·10⁶
        nodes of 128 floats).  The sparsity is counted in chunks of ``chunk`` nodes."""
        n = self.assign.size(1)
        self._cache: tuple[Tensor, Tensor, Tensor] | None = None
        if n * self.feat_dim < 1 << 20:
            return
        nnz = sum(int(torch.count_nonzero(self.reconstruct(self.assign[:, s:s + chunk].long())))
                  for s in range(0, n, chunk))
        if nnz >= n * self.feat_dim // 16:
            return
        rows = self.reconstruct(self.assign.long())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "sparse CSR support is in beta"
            csr = rows.to_sparse_csr()
        self._cache = (csr.crow_indices(), csr.col_indices(), csr.values())

    def project_rows(self, nodes: Tensor, W: Tensor) -> Tensor | None:
        """``(R X̃)[nodes] Wᵀ``, ``[U, f']``, from the rows kept by :meth:`cache_rows` (``None``
        without them); ``W: [f', f]``.  Equal to ``reconstruct(codes_of(nodes)) @ W.t()``."""
        cache = getattr(self, "_cache", None)
        if cache is None:
            return None
        crow, col, val = cache
        start = crow[nodes]
        cnt = crow[nodes + 1] - start
        sub_crow = torch.zeros(nodes.numel() + 1, dtype=crow.dtype, device=crow.device)
        torch.cumsum(cnt, 0, out=sub_crow[1:])
        pos = torch.repeat_interleave(start - sub_crow[:-1], cnt) + torch.arange(
            int(sub_crow[-1]), device=crow.device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "sparse CSR support is in beta"
            sub = torch.sparse_csr_tensor(sub_crow, col[pos], val[pos], (nodes.numel(), self.feat_dim))
            return torch.sparse.mm(sub, W.t())

    @torch.no_grad()
    def relative_error(self, z: Tensor, codes: Tensor, chunk: int = 1 << 16) -> float:
        """Relative VQ error ``‖Z − R X̃‖_F / ‖Z‖_F`` of rows ``z: [n, f]`` under the codeword tuples
        ``codes: [P, n]`` (0 when ``Z = 0``), in chunks of ``chunk`` rows."""
        err = ref = 0.0
        for s in range(0, z.size(0), chunk):
            part = z[s:s + chunk]
            err += float(((part - self.reconstruct(codes[:, s:s + chunk])) ** 2).sum())
            ref += float((part ** 2).sum())
        return math.sqrt(err / ref) if ref > 0 else 0.0

    def nbytes(self) -> int:
        """Bytes the codebook keeps: its buffers (codewords, counts, assignments, statistics) and
        the rows kept by :meth:`cache_rows` (CSR)."""
        cache = getattr(self, "_cache", None)
        kept = [] if cache is None else list(cache)
        return int(sum(t.numel() * t.element_size() for t in [*self.buffers(), *kept]))

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
        self._cache = None
        self.feat_mean.zero_(), self.grad_mean.zero_()  # identity normalisation
        self.feat_var.fill_(1.0 - 1e-8), self.grad_var.fill_(1.0 - 1e-30)
        self.feat_sum.zero_()[0, :n] = feat
        self.grad_sum.zero_()[0, :n] = grad
        self.count.fill_(1.0)
        self.assign[0] = torch.arange(n, device=self.assign.device).to(self.assign.dtype)

    # ------------------------------------------------------------------ assignment
    def _nearest(self, xf: Tensor, xg: Tensor | None) -> Tensor:
        """Nearest codewords ``[P, B]`` of rows already split and normalised (:meth:`_normalise`)."""
        rows, cws = xf, self.feature_codebook(normalised=True)
        if xg is not None:
            rows = torch.cat([rows, xg], -1)
            cws = torch.cat([cws, self.gradient_codebook(normalised=True)], -1)
        return _argmin_dist(rows, cws)

    def nearest(self, zf: Tensor, zg: Tensor | None = None) -> Tensor:
        """Nearest codeword of each row, per group, in the joint (whitened) space.

        Args:
            zf: ``[B, f]`` features; zg: ``[B, e]`` gradients, or ``None`` to compare the
                feature columns only (initialisation, unseen nodes at inference).

        Returns:
            ``[P, B]`` int64 codeword indices.
        """
        return self._nearest(*self._normalise(zf, zg))

    # ------------------------------------------------------------------ updates
    def _update_stats(self, zf: Tensor, zg: Tensor) -> None:
        g = 1.0 - self.stats_decay
        pf, pg = self.feat_mean.numel() - self.feat_dim, self.grad_mean.numel() - self.grad_dim
        fm, fv = F.pad(zf.mean(0), (0, pf)), F.pad(zf.var(0, unbiased=False), (0, pf))
        gm, gv = F.pad(zg.mean(0), (0, pg)), F.pad(zg.var(0, unbiased=False), (0, pg))
        self.feat_mean.lerp_(fm, g)
        self.feat_var.lerp_(fv, g)
        if not bool(self.grad_seen):
            self.grad_mean.copy_(gm)
            self.grad_var.copy_(gv)
            self.grad_seen.fill_(True)
        else:
            self.grad_mean.lerp_(gm, g)
            self.grad_var.lerp_(gv, g)

    @torch.no_grad()
    def ema_update(self, nodes: Tensor, zf: Tensor, zg: Tensor, codes: Tensor | None = None) -> Tensor:
        """Assign the batch in the joint space, store ``R`` of ``nodes`` and EMA-update the codewords.

        Args:
            nodes: ``[B]`` global node ids of the batch.
            zf: ``[B, f]`` their input features ``X_B⁽ˡ⁾``; zg: ``[B, e]`` their gradients
                ``G_B⁽ˡ⁺¹⁾`` (and auxiliary columns).
            codes: ``[P, B]`` assignments to use instead of the nearest codewords (tests).

        Returns:
            ``[P, B]`` the assignments used.
        """
        if self.whitening:
            self._update_stats(zf, zg)
        xf, xg = self._normalise(zf, zg)
        if codes is None:
            codes = self._nearest(xf, xg)
        self._track_share(xf, xg, codes)
        self.assign[:, nodes] = codes.to(self.assign.dtype)
        P, k, gamma = self.groups, self.k, self.decay
        flat = (codes + self._off()).reshape(-1)
        n_v = torch.bincount(flat, minlength=P * k).to(zf.dtype).view(P, k)
        fs = zf.new_zeros(P * k, self.d).index_add_(0, flat, xf.reshape(-1, self.d))
        gs = zf.new_zeros(P * k, self.c).index_add_(0, flat, xg.reshape(-1, self.c))
        self.count.mul_(gamma).add_(n_v, alpha=1 - gamma)
        self.feat_sum.mul_(gamma).add_(fs.view(P, k, self.d), alpha=1 - gamma)
        self.grad_sum.mul_(gamma).add_(gs.view(P, k, self.c), alpha=1 - gamma)
        self._reseed(xf, xg)
        return codes

    def _track_share(self, xf: Tensor, xg: Tensor, codes: Tensor) -> None:
        """Keep :attr:`grad_share`: the gradient side's part of the squared joint distance from
        the batch rows to their chosen codewords (EMA over updates, γ_s): near 0, the gradients
        do not weigh in the assignment and the joint space is nominal."""
        idx = codes[..., None]
        df = ((xf - torch.gather(self.feature_codebook(True), 1, idx.expand(-1, -1, self.d))) ** 2).sum()
        dg = ((xg - torch.gather(self.gradient_codebook(True), 1, idx.expand(-1, -1, self.c))) ** 2).sum()
        share = float(dg / (df + dg)) if float(df + dg) > 0 else 0.0
        prev = getattr(self, "grad_share", None)
        self.grad_share = share if prev is None else prev + (1 - self.stats_decay) * (share - prev)

    def _reseed(self, xf: Tensor, xg: Tensor) -> None:
        """Codewords that no node is assigned to take the values of random batch rows
        (``xf: [P, B, d]``, ``xg: [P, B, c]``, as stored: normalised when whitening)."""
        P, k = self.groups, self.k
        used = torch.bincount((self.assign.long() + self._off()).view(-1), minlength=P * k).view(P, k) > 0
        dead = (~used).nonzero()
        if dead.numel() == 0 or xf.size(1) == 0:
            return
        live_mean = (self.count * used).sum(1) / used.sum(1).clamp_min(1)
        cnt = torch.where(used.any(1), live_mean, torch.ones_like(live_mean))[dead[:, 0]]
        pick = torch.randint(0, xf.size(1), (dead.size(0),), device=xf.device)
        self.count[dead[:, 0], dead[:, 1]] = cnt
        self.feat_sum[dead[:, 0], dead[:, 1]] = xf[dead[:, 0], pick] * cnt[:, None]
        self.grad_sum[dead[:, 0], dead[:, 1]] = xg[dead[:, 0], pick] * cnt[:, None]

    @torch.no_grad()
    def initialise(self, zf: Tensor, batch_fraction: float, kmeans_iters: int = 0,
                   generator: torch.Generator | None = None) -> None:
        """Codewords from the features ``zf: [n, f]`` of every node (a no-grad pass), by k-means
        per group (:func:`kmeans`; ``kmeans_iters = 0``: distinct random rows); gradient codewords
        start at zero.

        The EMA counts start at each cluster's size times ``batch_fraction = b / n``, the count a
        codeword would reach in the steady state of the EMA.
        """
        self._cache = None
        self.feat_mean.copy_(F.pad(zf.mean(0), (0, self.feat_mean.numel() - self.feat_dim)))
        self.feat_var.copy_(F.pad(zf.var(0, unbiased=False), (0, self.feat_var.numel() - self.feat_dim)))
        self.grad_sum.zero_()
        self.grad_seen.fill_(False)
        z, _ = self._normalise(zf, None)
        cent, codes = kmeans(z.contiguous(), self.k, kmeans_iters, generator)
        cnt = torch.bincount((codes + self._off()).view(-1), minlength=self.groups * self.k)
        cnt = (cnt.to(zf.dtype) * batch_fraction).clamp_min(batch_fraction).view(self.groups, self.k)
        self.count.copy_(cnt)
        self.feat_sum.copy_(cent * cnt[..., None])
        self.assign.copy_(codes.to(self.assign.dtype))

    # ------------------------------------------------------------------ mini-batch initialisation
    @torch.no_grad()
    def initialise_step(self, nodes: Tensor, zf: Tensor, generator: torch.Generator | None = None) -> None:
        """One batch of the mini-batch initialisation: feature-side assignment and update, no
        gradients (the reference implementation of Ding et al. fills its codewords by
        feature-only passes over mini-batches).

        The first batch seeds the ``k`` codewords with random distinct rows of it; batches are
        assigned to their nearest codewords and added to their sums without decay (MacQueen's
        online k-means: a codeword is the mean of every row assigned to it so far), so that a few
        passes suffice where the EMA (γ = 0.99) would barely leave the seeds.  Whitening
        statistics follow the batches with momentum ``1 − γ_s``.  Memory: ``O(B·f + k·f)``.
        Call :meth:`finish_initialise` after the last pass.

        Args:
            nodes: ``[B]`` global ids; zf: ``[B, f]`` their layer inputs.
        """
        B = zf.size(0)
        if B == 0:
            return
        if self.whitening:
            g = 1.0 - self.stats_decay if getattr(self, "_seeded", False) else 1.0
            pf = self.feat_mean.numel() - self.feat_dim
            self.feat_mean.lerp_(F.pad(zf.mean(0), (0, pf)), g)
            self.feat_var.lerp_(F.pad(zf.var(0, unbiased=False), (0, pf)), g)
        xf, _ = self._normalise(zf, None)
        if not getattr(self, "_seeded", False):
            self._cache = None
            self.feat_sum.copy_(self._seed_rows(xf, generator))
            self.count.fill_(1.0)
            self.grad_sum.zero_()
            self.grad_seen.fill_(False)
            self._seeded = True
        codes = self._fill_unused(xf, self.nearest_feature(xf), generator)
        self.assign[:, nodes] = codes.to(self.assign.dtype)
        flat = (codes + self._off()).reshape(-1)
        P, k = self.groups, self.k
        self.count.add_(torch.bincount(flat, minlength=P * k).to(zf.dtype).view(P, k))
        self.feat_sum.add_(zf.new_zeros(P * k, self.d).index_add_(0, flat, xf.reshape(-1, self.d)).view(P, k, self.d))

    def nearest_feature(self, xf: Tensor) -> Tensor:
        """Nearest feature codewords ``[P, B]`` of rows ``xf: [P, B, d]`` (split, normalised), as
        :meth:`_nearest` without gradients, but a group whose every row equals one of its
        codewords is assigned by looking the rows up (one sort) instead of by distances: the
        input layer's narrow groups of sparse features (Cora: 359 groups of 4 binary columns,
        ≤ 16 distinct rows each), where the ``[P, B, k]`` distances would be almost all the
        initialisation's work.  A row takes the first of equal codewords, as ``argmin`` does.
        The first :data:`_PROBE` rows are checked first: one that is no codeword sends its group
        to the distances at once (continuous features, where the sort would be wasted)."""
        cws = self.feature_codebook(normalised=True)
        P, B, k = self.groups, xf.size(1), self.k
        codes = torch.empty(P, B, dtype=torch.long, device=xf.device)
        rest = []
        probe = xf[:, :_PROBE]
        missed = (torch.cdist(probe, cws).amin(-1) > 0).any(-1).tolist()  # a probed row that is no codeword
        for p in range(P):
            if missed[p]:
                rest.append(p)
                continue
            uniq, inv = _distinct_rows(torch.cat([cws[p], xf[p]]))
            first = torch.full((uniq.size(0),), k, dtype=torch.long, device=xf.device)
            first.scatter_reduce_(0, inv[:k], torch.arange(k, device=xf.device), "amin")
            hit = first[inv[k:]]
            if bool((hit < k).all()):
                codes[p] = hit
            else:
                rest.append(p)
        if rest:
            idx = torch.tensor(rest, device=xf.device)
            codes[idx] = _argmin_dist(xf[idx], cws[idx])
        return codes

    def _fill_unused(self, xf: Tensor, codes: Tensor, generator: torch.Generator | None) -> Tensor:
        """Codewords no batch row has been assigned to yet (count still at its seed's 1) take
        distinct rows of ``xf: [P, B, d]`` that their codewords do not describe exactly, and those
        rows take them: a group with at most ``k`` distinct rows over the passes ends exact
        although its rare rows missed the first batch (Cora: a word pair in one 4-column group)."""
        cws = self.feature_codebook(normalised=True)
        err = ((xf - torch.gather(cws, 1, codes[..., None].expand(-1, -1, self.d))) ** 2).sum(-1)
        free = self.count <= 1.0
        free[torch.arange(self.groups, device=codes.device)[:, None], codes] = False
        need = ((err > 0).any(1) & free.any(1)).nonzero().view(-1)
        for p in need.tolist():
            miss, _ = _distinct_rows(xf[p][err[p] > 0])
            slots = free[p].nonzero().view(-1)
            take = min(slots.numel(), miss.size(0))
            rows = miss[torch.randperm(miss.size(0), generator=generator)[:take].to(xf.device)]
            self.feat_sum[p, slots[:take]] = rows
        if need.numel():  # the changed groups, assigned again at once
            codes[need] = _argmin_dist(xf[need], self.feature_codebook(normalised=True)[need])
        return codes

    def _seed_rows(self, xf: Tensor, generator: torch.Generator | None) -> Tensor:
        """``k`` seed codewords ``[P, k, d]`` per group: ``k`` of the group's distinct rows in
        ``xf: [P, B, d]`` at random (all of them, repeated, when there are fewer: such a group
        is then quantized exactly, as :func:`kmeans` does)."""
        seeds = xf.new_empty(self.groups, self.k, self.d)
        for p in range(self.groups):
            uniq, _ = _distinct_rows(xf[p])
            pick = torch.randperm(uniq.size(0), generator=generator)[:self.k]
            pick = pick.repeat(math.ceil(self.k / pick.numel()))[:self.k]
            seeds[p] = uniq[pick.to(xf.device)]
        return seeds

    @torch.no_grad()
    def finish_initialise(self, batch_fraction: float, passes: int) -> None:
        """End of the mini-batch initialisation: the counts are scaled to those the EMA reaches in
        its steady state (a codeword's rows per pass times ``batch_fraction = b / n``, at least
        ``b / n``), the codewords unchanged."""
        cw = self.feature_codebook(normalised=True)
        cnt = ((self.count - 1.0).clamp_min(0) / max(1, passes) * batch_fraction).clamp_min(batch_fraction)
        self.count.copy_(cnt)
        self.feat_sum.copy_(cw * cnt[..., None])
        self._seeded = False
