"""Approximated message passing of one layer: forward Eq. (6) and backward Eq. (7) of Ding et al. 2021.

For a batch ``B`` and layer ``l`` with input ``X_B`` (``[b, f_l]``) the layer computes::

    Ĥ_B = Σ_s (C⁽ˢ⁾_in X_B + C̃⁽ˢ⁾_out X̃) W⁽ˢ⁾ + b                   Eq. (6)

with the matrices and weights the backbone provides (``conv_matrices`` / ``conv_weights`` of
the ``fixed_convolution`` capability: GCN's one matrix, SAGE-Mean's ``I`` and ``D⁻¹A``, any
third-party fixed convolution) or, for a learnable convolution, its ``attention`` parameters.  Autograd differentiates the green and red messages; the blue
messages of Eq. (7), ``(C̃ᵀ)_out G̃ Wᵀ``, are added to the gradient reaching ``X_B`` by
:class:`_AddGrad`, with ``W`` detached, so that the weight gradient comes from the batch only.

The red messages of a batch come from the codeword tuples of its distinct out-of-batch senders
(``R⁽ˡ⁾`` rows, product VQ groups concatenated, :meth:`~.codebook.Codebook.reconstruct`),
projected once per sender and gathered per message: ``C̃_out X̃`` in factored form.  With one
group the merged form ``(C_out R)(X̃ W)`` projects the ``k`` codewords instead.  Inference, whose
weights and assignments do not change during a pass, projects every layer's rows once per pass
(:func:`sender_table`) and gathers from them.

For GAT (a learnable convolution, Eq. (2)) the softmax runs over the exact in-batch neighbours
and over the out-of-batch neighbours' codewords, one term per red message, so that a codeword
weighs as many times as the neighbours it stands for.  The blue term is the gradient of the
surrogate

    S(X_B) = Σ_(i→j blue) Σ_h exp(e_h(x̃_j, x_i) − lse_j,h) · (g̃_j,h · (W x_i)_h − c_j,h)

(``x̃_j``, ``g̃_j``, ``lse_j``, ``c_j``: receiver ``j``'s codewords), where ``lse`` (log of the
softmax denominator) and ``c = g·o`` (per head, ``o`` the aggregate before the bias) are two
auxiliary gradient-side codeword columns per head: its
gradient is exactly ``Σ_j ∂H_j/∂x_i ᵀ G_j`` over out-of-batch receivers ``j`` when the
codewords are exact (attention derivative included).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .codebook import Codebook

__all__ = ["approx_layer", "aux_dim", "fixed_layer", "gat_aux", "layer_weight", "sender_table"]


class _AddGrad(torch.autograd.Function):
    """Identity forward; backward adds a fixed tensor to the incoming gradient (Eq. (7)'s blue term)."""

    @staticmethod
    def forward(ctx, x: Tensor, extra: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(extra)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        (extra,) = ctx.saved_tensors
        return grad + extra, None


def _matmul_t(x: Tensor, W: Tensor) -> Tensor:
    """``x @ Wᵀ`` (``[R, f] × [f', f]ᵀ → [R, f']``) through a sparse product when ``x`` is a large,
    mostly zero, constant matrix: bag-of-words inputs and their (exact) codewords at the input
    layer (Facebook: 0.1 % non-zero), where the dense product would cost ~1000× the work."""
    if x.dim() == 2 and x.numel() >= 1 << 20 and not x.requires_grad:
        nnz = int(torch.count_nonzero(x))
        if nnz < x.numel() // 16:
            return torch.sparse.mm(x.to_sparse(), W.t())
    return x @ W.t()


def _project_senders(book: Codebook, red: Tensor, W: Tensor, senders: Tensor | None) -> Tensor:
    """Projected codeword rows ``[U, f']`` of the red messages' distinct senders: ``R X̃ Wᵀ``.

    With one group and more senders than codewords, the merged form ``R (X̃ Wᵀ)`` of Eq. (6)
    (``k`` projected codewords, gathered); else from the frozen input layer's kept rows when
    ``senders`` is given; else rebuilt from ``red`` and projected."""
    if book.groups == 1 and red.size(1) > book.k:
        return _matmul_t(book.feature_codebook()[0], W)[red[0]]
    if senders is not None:
        rows = book.project_rows(senders, W)
        if rows is not None:
            return rows
    return _matmul_t(book.reconstruct(red), W)


def layer_weight(stack, i: int) -> Tensor:
    """The weight ``[S·f', f]`` that projects layer ``i``'s senders: the stacked ``W⁽ˢ⁾`` of a
    fixed convolution, the attention's ``W`` (``S = 1``)."""
    if stack.has("fixed_convolution"):
        return _stacked_weights(stack, i)[0]
    return stack.attention(i).weight


#: nodes whose rows are rebuilt and projected at once by :func:`sender_table`
_TABLE_CHUNK = 1 << 16


@torch.no_grad()
def sender_table(stack, i: int, book: Codebook, codes: Tensor) -> tuple[Tensor, Tensor | None]:
    """Every sender's projected codeword row at attention layer ``i`` (GAT), computed once per
    inference pass (the weights and ``R`` do not change during it), for :func:`approx_layer`'s
    ``table``.

    One group: the merged form ``(C_out R)(X̃ Wᵀ)`` of Eq. (6): the ``k`` codewords projected
    (``k·f·S·f'`` multiply-adds, less than one batch's), a red message gathers its sender's
    codeword row.  Several groups (product VQ): ``(R X̃) Wᵀ`` of all ``n`` nodes, rebuilt and
    projected in chunks of :data:`_TABLE_CHUNK` nodes (the frozen input layer's kept rows when it
    has them), so that each node is projected once per pass, not once per batch it sends to.

    Args:
        stack: the backbone's stack; i: the layer; book: its codebook.
        codes: ``[P, n]`` int64 assignment of every node of the graph.

    Returns:
        ``(rows [R, S·f'], row_of)``: ``row_of [n]`` maps a node to its row (one group: its
        codeword), ``None`` when row ``u`` is node ``u``'s.
    """
    W = layer_weight(stack, i)
    if book.groups == 1:
        return _matmul_t(book.feature_codebook()[0], W), codes[0]
    n = codes.size(1)
    rows = W.new_empty(n, W.size(0))
    stored = torch.equal(codes, book.assign.long()) if codes.size(1) == book.assign.size(1) else False
    for s in range(0, n, _TABLE_CHUNK):
        nodes = torch.arange(s, min(n, s + _TABLE_CHUNK), device=codes.device)
        part = book.project_rows(nodes, W) if stored else None
        rows[s:s + nodes.numel()] = part if part is not None else _matmul_t(book.reconstruct(codes[:, nodes]), W)
    return rows, None


#: senders projected at once by :func:`fixed_layer`, and messages gathered at once
_SENDERS, _MESSAGES = 1 << 13, 1 << 15


@torch.no_grad()
def fixed_layer(stack, i: int, h: Tensor, book: Codebook, codes: Tensor, cg, batch_of: Tensor,
                by_sender: tuple[Tensor, Tensor], stored: bool = True) -> Tensor:
    """Layer ``i`` (a fixed convolution) of inference over the whole graph: Eq. (6) for every
    batch at once, ``[n, f_{l+1}]`` after :meth:`GNNStack.finish`.

    A message whose sender and receiver are in the same batch is exact (``C_in X_B W``), the
    others come from the sender's codewords (``C_out R X̃ W``), as :func:`approx_layer` computes
    batch by batch.  The messages are taken by sender (``by_sender`` from
    :func:`~.batching.senders_in_order`), :data:`_SENDERS` senders at a time: their exact rows and
    their codeword rows are projected (with one group, the ``k`` projected codewords are
    gathered: the merged form ``(C_out R)(X̃ Wᵀ)``; the frozen input layer's kept rows when
    ``stored``) and added to their receivers, :data:`_MESSAGES` messages at a time.  Working
    memory: the ``[n, f_{l+1}]`` output and one chunk.

    Args:
        h: ``[n, f_l]`` the layer's inputs; book: its codebook; codes: ``[P, n]`` every node's
            codeword tuple (the stored ``R``, int16, or an unseen graph's, int64).
        cg: the graph's :class:`~.batching.ConvGraph`; batch_of: ``[n]`` each node's batch
            (``-1``: none; such a node's output is 0).
        stored: ``codes`` are the codebook's stored assignments (its kept rows may serve them).
    """
    W, S = _stacked_weights(stack, i)
    f = W.size(0) // S
    n = h.size(0)
    order, ptr = by_sender
    out = h.new_zeros(n, f)
    merged = _matmul_t(book.feature_codebook()[0], W) if book.groups == 1 else None
    for s0 in range(0, n, _SENDERS):
        s1 = min(n, s0 + _SENDERS)
        e = order[ptr[s0]:ptr[s1]]
        if e.numel() == 0:
            continue
        exact = _matmul_t(h[s0:s1], W).view(-1, f)
        if merged is not None:
            coded = merged[codes[0, s0:s1].long()]
        else:
            nodes = torch.arange(s0, s1, device=h.device)
            coded = book.project_rows(nodes, W) if stored else None
            if coded is None:
                coded = _matmul_t(book.reconstruct(codes[:, s0:s1].long()), W)
        coded = coded.reshape(-1, f)
        for m0 in range(0, e.numel(), _MESSAGES):
            em = e[m0:m0 + _MESSAGES]
            src, dst = cg.src[em], cg.dst[em]
            bd = batch_of[dst]
            row = (src - s0) * S + cg.support[em]
            w = cg.weight[em]
            same = (bd >= 0) & (bd == batch_of[src])
            for sel, table in ((same, exact), ((bd >= 0) & ~same, coded)):
                j = sel.nonzero().view(-1)
                if j.numel():
                    out.index_add_(0, dst[j], table[row[j]] * w[j, None])
    bias = stack.conv_bias(i)
    for s0 in range(0, n, _SENDERS):
        o = out[s0:s0 + _SENDERS]
        o = stack.finish(i, o + bias if bias is not None else o, h[s0:s0 + _SENDERS])
        out[s0:s0 + _SENDERS] = o * (batch_of[s0:s0 + _SENDERS] >= 0)[:, None]
    return out


def _table_rows(table: tuple[Tensor, Tensor | None], batch) -> Tensor:
    """Projected rows ``[U_out, S·f']`` of ``batch.out_nodes`` from a :func:`sender_table`."""
    rows, row_of = table
    return rows[batch.out_nodes if row_of is None else row_of[batch.out_nodes]]


def aux_dim(stack, i: int) -> int:
    """Auxiliary gradient-side columns of layer ``i``'s codebook: ``2H`` for attention (lse and
    g·o per head), 0 for fixed convolutions."""
    return 0 if stack.has("fixed_convolution") else 2 * stack.attention(i).heads


def _scatter_sum(src: Tensor, index: Tensor, size: int) -> Tensor:
    out = src.new_zeros((size,) + tuple(src.shape[1:]))
    return out.index_add_(0, index, src)


def _stacked_weights(stack, i: int) -> tuple[Tensor, int]:
    """``[W⁽¹⁾ᵀ; …; W⁽ˢ⁾ᵀ]`` stacked ``[S·f', f]`` (one product serves every matrix) and ``S``."""
    ws = stack.conv_weights(i)
    return (ws[0] if len(ws) == 1 else torch.cat(ws)), len(ws)


def _blue_linear(book: Codebook, batch, blue: Tensor, W: Tensor, S: int, b: int, width: int) -> Tensor:
    """``Σ_s (C̃⁽ˢ⁾ᵀ)_out G̃ W⁽ˢ⁾ᵀ`` of Eq. (7) for fixed convolutions: ``[b, f_in]``.

    ``blue: [P, U_bw]`` codeword tuples of the batch's distinct out-of-batch receivers;
    ``W: [S·f', f]`` the stacked weights."""
    rows = book.reconstruct_grad(blue)[:, :width]
    agg = torch.sparse.mm(batch.matrix("bw", S), rows)
    return agg.view(b, S * width) @ W.detach()


def _linear_forward(stack, i: int, x: Tensor, batch, red: Tensor, book: Codebook,
                    senders: Tensor | None = None) -> Tensor:
    W, S = _stacked_weights(stack, i)
    b = x.size(0)
    f = W.size(0) // S
    xw = _matmul_t(x, W).reshape(b * S, f)
    msg = torch.sparse.mm(batch.matrix("in", S), xw)
    if batch.out_src.numel():
        kept = senders is not None and getattr(book, "_cache", None) is not None
        if book.groups > 1 and not kept and batch.out_nodes.numel() > b:
            # more distinct senders than receivers: aggregate the senders' codeword rows first,
            # C_out (R X̃), then project the b aggregates, (C_out R X̃) Wᵀ, instead of projecting
            # the U senders: b·S·f_in·f' multiply-adds instead of U·f_in·S·f'
            agg = torch.sparse.mm(batch.matrix("out_by_support", S), book.reconstruct(red))
            w_cat = W.view(S, f, -1).transpose(1, 2).reshape(-1, f)  # [S·f_in, f']: W⁽ˢ⁾ᵀ stacked
            msg = msg + agg.view(b, -1) @ w_cat
        else:  # the projected codewords of the distinct senders
            cw = _project_senders(book, red, W, senders).reshape(-1, f)
            msg = msg + torch.sparse.mm(batch.matrix("out", S), cw)
    bias = stack.conv_bias(i)
    return msg + bias if bias is not None else msg


def _lrelu(att, t: Tensor) -> Tensor:
    return F.leaky_relu(t, att.negative_slope)


def _gat_forward(att, x: Tensor, batch, red: Tensor, book: Codebook, training: bool,
                 senders: Tensor | None = None, table=None):
    H, C = att.heads, att.channels
    b = x.size(0)
    W = att.weight
    xw = _matmul_t(x, W).view(b, H, C)
    a_src = (xw * att.att_src).sum(-1)
    a_dst = (xw * att.att_dst).sum(-1)
    logits = [_lrelu(att, a_src[batch.in_src] + a_dst[batch.in_dst])]
    index = [batch.in_dst]
    vals = [xw[batch.in_src]]
    if batch.out_src.numel():
        cw = (_project_senders(book, red, W, senders) if table is None else _table_rows(table, batch)).view(-1, H, C)
        logits.append(_lrelu(att, (cw * att.att_src).sum(-1)[batch.out_inv] + a_dst[batch.out_dst]))
        index.append(batch.out_dst)
        vals.append(cw[batch.out_inv])
    logit, idx, val = torch.cat(logits), torch.cat(index), torch.cat(vals)
    mx = torch.full((b, H), -torch.inf, device=x.device, dtype=x.dtype)
    mx = mx.scatter_reduce(0, idx[:, None].expand(-1, H), logit.detach(), "amax", include_self=True)
    mx = torch.where(torch.isfinite(mx), mx, torch.zeros_like(mx))
    ex = (logit - mx[idx]).exp()
    den = _scatter_sum(ex, idx, b)
    alpha = ex / den.clamp_min(1e-30)[idx]
    alpha = F.dropout(alpha, att.dropout, training)
    o = _scatter_sum(alpha[..., None] * val, idx, b)
    out = o.reshape(b, H * C) if att.concat else o.mean(1)
    if att.bias is not None:
        out = out + att.bias
    lse = (den.clamp_min(1e-30).log() + mx).detach()
    return out, (lse, o.detach())


def gat_aux(att, grad: Tensor, aux) -> Tensor:
    """Auxiliary gradient-side columns ``[b, 2H]`` of GAT batch nodes: ``lse`` and ``g·o`` per head,
    from the output gradient ``grad: [b, out]`` and the forward's ``(lse [b, H], o [b, H, C])``."""
    lse, o = aux
    H, C = att.heads, att.channels
    gh = grad.view(-1, H, C) if att.concat else (grad / H)[:, None, :].expand(-1, H, C)
    return torch.cat([lse, (gh * o).sum(-1)], 1)


def _blue_gat(att, x: Tensor, batch, blue: Tensor, book: Codebook, width: int) -> Tensor:
    """Gradient ``[b, f_in]`` of the GAT surrogate ``S`` (module docstring) w.r.t. ``X_B``."""
    H, C = att.heads, att.channels
    W = att.weight.detach()
    rows = book.reconstruct_grad(blue)[batch.bw_inv]
    g, lse, c = rows[:, :width], rows[:, width:width + H], rows[:, width + H:width + 2 * H]
    gh = g.view(-1, H, C) if att.concat else (g / H)[:, None, :].expand(-1, H, C)
    cw = (book.reconstruct(blue) @ W.t()).view(-1, H, C)
    a_dst = (cw * att.att_dst.detach()).sum(-1)[batch.bw_inv]
    with torch.enable_grad():
        xd = x.detach().requires_grad_(True)
        xw = (xd @ W.t()).view(-1, H, C)[batch.bw_src]
        a_src = (xw * att.att_src.detach()).sum(-1)
        coef = batch.bw_w[:, None] * (_lrelu(att, a_src + a_dst) - lse).exp()
        s = (coef * ((gh * xw).sum(-1) - c)).sum()
        (extra,) = torch.autograd.grad(s, xd)
    return extra


def approx_layer(stack, i: int, x: Tensor, batch, red: Tensor | None, blue: Tensor | None,
                 book: Codebook, grad_scale: float = 1.0, training: bool = False, stored: bool = False,
                 table: tuple[Tensor, Tensor | None] | None = None):
    """Layer ``i`` of approximated message passing for a batch (Eqs. (6) and (7) of Ding et al. 2021).

    Args:
        stack: the backbone's :class:`~gnnbench.backbones.base.GNNStack` (its weights are used,
            not copied), with the ``fixed_convolution`` or the ``attention`` capability.
        i: the layer.
        x: ``[b, f_l]`` the batch's layer input (after dropout).
        batch: the :class:`~.batching.NodeBatch` (green messages ``in_src → in_dst``, red
            ``out_src → out_dst``, blue ``bw_src → bw_dst``, each with its matrix ``*_s``).
        red: ``[P, U_out]`` codeword tuples of ``batch.out_nodes`` under ``R⁽ˡ⁾``: the red
            messages come from ``C̃_out X̃ = C_out R⁽ˡ⁾ X̃⁽ˡ⁾`` (unused when ``table`` is given).
        blue: ``[P, U_bw]`` codeword tuples of ``batch.bw_nodes`` (``(C̃ᵀ)_out G̃``), or ``None`` to
            leave out the blue gradient (warm-up, inference, no gradient).
        book: the layer's :class:`~.codebook.Codebook`.
        grad_scale: factor on the blue gradient term (default 1).
        training: attention dropout on (GAT).
        stored: ``red`` are the codebook's stored assignments of ``batch.out_nodes`` (training
            and transductive inference), so a frozen codebook's kept rows may serve them.
        table: the pass's :func:`sender_table` of this attention layer (inference, no
            gradient): the red messages gather from it instead of projecting the batch's
            senders (fixed convolutions infer by :func:`fixed_layer`).

    Returns:
        ``(H_B [b, f_{l+1}], aux)``: the convolution output (before :meth:`GNNStack.finish`) and,
        for attention, ``(lse [b, H], o [b, H, C])`` detached (``None`` otherwise).
    """
    fixed = stack.has("fixed_convolution")
    att = None if fixed else stack.attention(i)
    width = book.grad_dim - aux_dim(stack, i)
    if blue is not None and batch.bw_src.numel() and x.requires_grad and torch.is_grad_enabled():
        with torch.no_grad():
            if fixed:
                W, S = _stacked_weights(stack, i)
                extra = _blue_linear(book, batch, blue, W, S, x.size(0), width)
            else:
                extra = _blue_gat(att, x, batch, blue, book, width)
        x = _AddGrad.apply(x, extra * grad_scale)
    senders = batch.out_nodes if stored else None
    if fixed:
        return _linear_forward(stack, i, x, batch, red, book, senders), None
    return _gat_forward(att, x, batch, red, book, training, senders, table)
