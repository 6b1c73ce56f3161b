"""The VQ-GNN model: a backbone's layers driven by approximated message passing, plus codebooks.

:class:`VQModel` holds the backbone's model (weights) and one :class:`~.codebook.Codebook` per
layer (buffers), so that ``state_dict()`` carries all learned state.  A training step runs every
layer on the batch only (Eq. (6)), the blue gradient (Eq. (7)) flowing through
:func:`~.layers.approx_layer`; afterwards :meth:`VQModel.update_codebooks` assigns the batch in
the joint feature-and-gradient space and EMA-updates the codewords (App. E of Ding et al. 2021).
"""
from __future__ import annotations

import torch
from torch import Tensor

from gnnbench.backbones.base import dropout
from gnnbench.training import encoder_of

from .batching import ConvGraph, NodeBatch, batch_membership, iter_epoch_batches, senders_in_order
from .codebook import Codebook, num_groups
from .layers import approx_layer, aux_dim, fixed_layer, gat_aux, sender_table

#: nodes assigned at once when an unseen graph's nodes take their nearest codewords
_ROWS = 1 << 16

__all__ = ["VQModel"]


class VQModel(torch.nn.Module):
    """A GNN whose message passing goes through per-layer codebooks (Ding et al. 2021, Sec. 4).

    Args:
        base: the model built from the backbone (a ``GNNStack`` or a ``LinkModel``) whose
            layers have the ``fixed_convolution`` or the ``attention`` capability.
        num_nodes: ``n`` nodes of the training graph.
        num_codewords: ``k``; group_size: product-VQ columns per group (``None``: one group);
        decay: EMA γ; whitening: implicit whitening on/off.

    The input layer's codebook is frozen after initialisation: ``X⁽⁰⁾`` never changes, so its
    EMA codewords would converge to the k-means centroids it starts from, and its gradient
    codewords would only serve ``∇X⁽⁰⁾``, which nothing needs.

    Batch norm in training normalises by the statistics of the ``b`` batch nodes (out-of-batch
    messages enter through codewords, not as rows); inference uses the running statistics.
    """

    def __init__(self, base: torch.nn.Module, num_nodes: int, num_codewords: int,
                 group_size: int | None, decay: float, whitening: bool):
        super().__init__()
        self.base = base
        stack = encoder_of(base)
        books = []
        for i, (f_in, f_out) in enumerate(stack.channels):
            books.append(Codebook(num_nodes, num_codewords, f_in, f_out + aux_dim(stack, i),
                                  num_groups(f_in, group_size), decay, whitening))
        self.books = torch.nn.ModuleList(books)
        self.books[0].frozen = True
        self._records: list = []
        #: ``ε_l`` per layer of the last :meth:`infer` with ``measure=True``
        self.vq_error: list[float] = []

    @property
    def stack(self):
        return encoder_of(self.base)

    # ------------------------------------------------------------------ initialisation
    @torch.no_grad()
    def initialise(self, x: Tensor, edge_index: Tensor, batch_fraction: float, kmeans_iters: int,
                   generator: torch.Generator | None = None) -> None:
        """Codebooks from a no-grad exact forward pass over the whole graph (eval mode) and
        k-means on every node: ``O(m·f)`` memory (the whole graph's messages at once), the
        ``init = "kmeans"`` option; :meth:`initialise_minibatch` is the default.

        Args:
            x: ``[n, f_0]``; edge_index: ``[2, E]``; batch_fraction: ``b / n``;
            kmeans_iters: Lloyd iterations per layer (0: random nodes as codewords).
        """
        stack = self.stack
        was = stack.training
        stack.eval()
        h = x
        for i, book in enumerate(self.books):
            book.initialise(h, batch_fraction, kmeans_iters, generator)
            if book.frozen:
                book.cache_rows()
            if i + 1 < len(self.books):
                h = stack.layer(i, h, edge_index)
        stack.train(was)

    @torch.no_grad()
    def initialise_minibatch(self, x: Tensor, epochs, batch_fraction: float,
                             generator: torch.Generator | None = None) -> None:
        """Codebooks from feature-only passes over mini-batches (eval mode, no gradients), in
        ``O(b·f + k·f)`` memory beyond the assignments: every batch runs the approximated layers
        (Eq. (6), out-of-batch messages from the codewords as they stand) and updates each
        layer's codebook with the batch's layer inputs (:meth:`Codebook.initialise_step`).
        The frozen input layer, whose inputs never change, learns its codewords in the first
        pass and assigns every node to them in the second (or after a single pass), then keeps
        its rows.

        Args:
            x: ``[n, f_0]``; epochs: a list of passes, each an iterable of :class:`NodeBatch`
                covering the nodes, iterated once (the last twice when there is one pass): an
                :class:`~.batching.EpochPlan` builds each batch when it is reached, so that the
                passes' messages are not all held at once; batch_fraction: ``b / n``.
        """
        stack = self.stack
        was = stack.training
        stack.eval()
        for book in self.books:
            book._seeded, book._cache = False, None
        for t, nbs in enumerate(epochs):
            for nb in nbs:
                h = x[nb.nodes]
                for i, book in enumerate(self.books):
                    if not book.frozen or t == 0:
                        book.initialise_step(nb.nodes, h, generator)
                    elif t == 1:  # the input layer's codewords are final: its assignment too
                        book.assign[:, nb.nodes] = book.nearest_feature(book._normalise(h, None)[0]).to(book.assign.dtype)
                    if i + 1 < len(self.books):
                        o, _ = approx_layer(stack, i, h, nb, book.codes_of(nb.out_nodes), None, book)
                        h = stack.finish(i, o, h)
            if t == 0:
                for book in self.books:
                    if book.frozen:
                        book.finish_initialise(batch_fraction, 1)
        for book in self.books:
            if not book.frozen:
                book.finish_initialise(batch_fraction, len(epochs))
            elif len(epochs) == 1:
                for nb in epochs[-1]:
                    book.assign[:, nb.nodes] = book.nearest_feature(
                        book._normalise(x[nb.nodes], None)[0]).to(book.assign.dtype)
            if book.frozen:
                book.cache_rows()
        stack.train(was)

    # ------------------------------------------------------------------ batches
    def sketch_batch(self, batch: NodeBatch, with_blue: bool) -> NodeBatch:
        """Fill ``batch.red`` (and ``batch.blue``) with each layer's codeword tuples ``[P, U]`` of the
        batch's distinct out-of-batch senders (receivers) under the current ``R``."""
        batch.red = [book.codes_of(batch.out_nodes) for book in self.books]
        batch.blue = [book.codes_of(batch.bw_nodes) for book in self.books] if with_blue else []
        return batch

    def forward_batch(self, x: Tensor, batch: NodeBatch, grad_scale: float = 1.0,
                      use_blue: bool = True, record: bool = False) -> Tensor:
        """Outputs ``[b, out]`` of the batch's nodes through all layers (Eq. (6) per layer).

        Args:
            x: ``[b, f_0]`` input features of ``batch.nodes``.
            grad_scale: factor on Eq. (7)'s blue term; use_blue: include it (training only).
            record: keep each layer's input and a hook on its output gradient for
                :meth:`update_codebooks`.
        """
        stack = self.stack
        self._records = []
        for i, book in enumerate(self.books):
            xin = dropout(x, stack.dropout, self.training)
            blue = batch.blue[i] if (use_blue and batch.blue) else None
            h, aux = approx_layer(stack, i, xin, batch, batch.red[i], blue, book,
                                  grad_scale, self.training, stored=True)
            if record and not book.frozen:
                rec = {"x": x.detach(), "aux": aux, "grad": None}
                if h.requires_grad:
                    h.register_hook(lambda g, rec=rec: rec.__setitem__("grad", g.detach()))
                self._records.append((i, rec))
            x = stack.finish(i, h, x)
        return x

    @torch.no_grad()
    def update_codebooks(self, nodes: Tensor) -> None:
        """EMA-update every non-frozen codebook from the batch recorded by the last
        :meth:`forward_batch` (``record=True``) and the gradients of its backward pass."""
        stack = self.stack
        for i, rec in self._records:
            g = rec["grad"]
            if g is None:
                g = torch.zeros(rec["x"].size(0), self.books[i].grad_dim - aux_dim(stack, i),
                                device=rec["x"].device)
            if rec["aux"] is not None:  # a learnable convolution's auxiliary columns
                g = torch.cat([g, gat_aux(stack.attention(i), g, rec["aux"])], 1)
            self.books[i].ema_update(nodes, rec["x"], g)
        self._records = []

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def infer(self, x: Tensor, cg: ConvGraph, batches: list[Tensor], reassign: bool = False,
              measure: bool = False) -> Tensor:
        """Outputs ``[n, out]`` of every node, through the codewords, with no L-hop expansion
        (Sec. 6 of Ding et al. 2021): a message inside a batch is exact, a message from another
        batch comes from its sender's codewords (Eq. (6)).  Codebooks and weights do not change.

        Layer by layer, and in evaluation no layer mixes nodes but through messages, so the order
        of the loops does not change the result.  Fixed convolutions (:func:`~.layers.fixed_layer`)
        run over the whole graph's messages, grouped by sender in chunks: each chunk of senders is
        projected twice (its exact rows and its codeword rows, ``R X̃ Wᵀ``; with one group the
        ``k`` projected codewords are gathered, the merged form ``(C_out R)(X̃ Wᵀ)``) and its
        messages are added to the receivers, so that the working memory is the layer's input and
        output (``[n, f_l]`` and ``[n, f_{l+1}]``) plus one chunk, not a per-node table or the
        batches' message lists.  Attention layers run batch by batch (the softmax of a receiver
        spans its exact and codeword messages), each batch built when it is reached, gathering
        from the pass's :func:`~.layers.sender_table`.

        Args:
            x: ``[n, f_0]`` features of the graph.
            cg: its convolution matrices (:func:`~.batching.conv_graph`).
            batches: disjoint node batches ``[b]`` (global ids); a node in none has output 0.
            reassign: assign every node to its nearest feature codewords layer by layer, from
                this pass's layer inputs, instead of using the stored training assignments: needed
                on a graph that is not the training graph (inductive), and on the training graph
                it replaces assignments made while the weights were still moving (each node's
                was last set in its last training batch) by ones of the final model
                (``VQGNN.Config.infer_assign``).
            measure: also keep in :attr:`vq_error` each layer's relative VQ error
            ``ε_l = ‖X⁽ˡ⁾ − R⁽ˡ⁾X̃⁽ˡ⁾‖_F / ‖X⁽ˡ⁾‖_F`` over all nodes (``X⁽ˡ⁾`` the layer's inputs
            in this pass).
        """
        stack = self.stack
        if measure:
            self.vq_error = []
        n = x.size(0)
        batch_of = batch_membership(n, batches, x.device)
        by_sender = senders_in_order(cg) if stack.has("fixed_convolution") else None
        h = x
        for i, book in enumerate(self.books):
            if reassign:
                codes = torch.empty(book.groups, n, dtype=torch.long, device=x.device)
                for s in range(0, n, _ROWS):
                    codes[:, s:s + _ROWS] = book.nearest(h[s:s + _ROWS])
            else:
                codes = book.assign
            if measure:
                self.vq_error.append(book.relative_error(h, codes))
            if by_sender is not None:
                h = fixed_layer(stack, i, h, book, codes, cg, batch_of, by_sender, stored=not reassign)
                continue
            table = sender_table(stack, i, book, codes.long())
            nxt = None
            for nb in iter_epoch_batches(cg, batches):
                o, _ = approx_layer(stack, i, h[nb.nodes], nb, None, None, book, table=table)
                o = stack.finish(i, o, h[nb.nodes])
                if nxt is None:
                    nxt = x.new_zeros(n, o.size(1))
                nxt[nb.nodes] = o
            if nxt is None:  # no batches
                return x.new_zeros(0)
            h = nxt
            del table
        return h
