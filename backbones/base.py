"""The layer stack every backbone builds, and the public API through which methods use its mathematics.

A layer ``l`` computes (Ding et al. 2021, Eq. (1))::

    h = Σ_s C⁽ˢ⁾ dropout(x) W⁽ˡ,ˢ⁾ + b          the convolution (a PyG layer)
    x' = act(norm(h)) (+ x if residual)           every layer but the last

Methods drive the stack whole (``forward``), one layer at a time (``layer``; also on sampled
bipartite blocks when the backbone has the ``bipartite`` capability), or, for backbones with the
``fixed_convolution`` capability, with aggregation weights of their own (``weighted_layer``: the
layer's weights ``W⁽ˡ,ˢ⁾`` applied to a given ``C⁽ˢ⁾``).  The matrices come from
``conv_matrices`` (:mod:`gnnbench.backbones.conv`); learnable convolutions (GAT) expose their
parameters through ``attention``.  Methods never read a PyG layer's internals.
"""
from __future__ import annotations

from typing import Literal, Protocol, Sequence, Union, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor

from .conv import ConvMatrix, aggregate

__all__ = ["GNNStack", "FixedConvolution", "layer_channels", "dropout", "ACTIVATIONS", "NORMS",
           "Norm", "Activation", "apply_fixed_convolution"]

PairTensor = tuple[Tensor, Tensor]
Norm = Literal["none", "batch", "layer"]
Activation = Literal["relu", "elu", "gelu", "leaky_relu"]

#: the non-linearities σ a backbone may use between layers
ACTIVATIONS = {"relu": F.relu, "elu": F.elu, "gelu": F.gelu, "leaky_relu": F.leaky_relu}
#: the normalisations between layers: none, BatchNorm1d (Ioffe & Szegedy 2015), LayerNorm
NORMS = ("none", "batch", "layer")


def layer_channels(in_channels: int, hidden: int, out_channels: int, num_layers: int) -> list[tuple[int, int]]:
    """``(in, out)`` channels of each of ``num_layers`` layers."""
    dims = [in_channels] + [hidden] * (num_layers - 1) + [out_channels]
    return list(zip(dims[:-1], dims[1:]))


def dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """``F.dropout`` that draws random numbers only for the non-zero entries of a large sparse input.

    Dropping a zero is a no-op, so the result has the same distribution as ``F.dropout``; on
    bag-of-words features (Cora: 1.3% non-zero, Facebook: 0.1%) it avoids drawing millions of
    random numbers per step (the input dropout of Kipf & Welling's sparse implementation).
    """
    if not training or p == 0.0:
        return x
    if x.dim() == 2 and x.numel() >= 1 << 20 and not x.requires_grad:
        nnz = int(torch.count_nonzero(x))
        if nnz < x.numel() // 8:
            row, col = x.nonzero(as_tuple=True)
            keep = torch.rand(row.numel(), device=x.device) >= p
            row, col = row[keep], col[keep]
            out = torch.zeros_like(x)
            out[row, col] = x[row, col] / (1.0 - p)
            return out
    return F.dropout(x, p, True)


@runtime_checkable
class FixedConvolution(Protocol):
    """A layer ``h = Σ_s C⁽ˢ⁾ x W⁽ˢ⁾ + b`` with fixed ``C⁽ˢ⁾`` (the ``fixed_convolution`` capability).

    A third-party backbone provides it by giving its layers these three methods.
    """

    def conv_matrices(self, edge_index: Tensor, num_nodes: int) -> list[ConvMatrix]:
        """The ``S`` matrices ``C⁽ˢ⁾`` on a graph, with PyG's semantics (:mod:`gnnbench.backbones.conv`)."""

    def conv_weights(self) -> list[Tensor]:
        """The ``S`` weights ``W⁽ˢ⁾ᵀ`` as ``[out, in]`` tensors (the layer's own parameters)."""

    def conv_bias(self) -> Tensor | None:
        """The bias ``b: [out]`` or ``None``."""


def apply_fixed_convolution(layer: FixedConvolution, x: Tensor, matrices: Sequence[ConvMatrix],
                            num_dst: int | None = None) -> Tensor:
    """``Σ_s C⁽ˢ⁾ x W⁽ˢ⁾ + b`` for given matrices (the one implementation of the product).

    Each term is computed in the cheaper order: ``C (x Wᵀ)`` when the layer narrows the features
    (fewer values per message), ``(C x) Wᵀ`` otherwise; both equal up to float rounding.

    Shapes:
        x: ``[N_src, in]``; matrices: entries in local ids, destinations in ``[0, num_dst)``
        (default ``N_src``) → ``[num_dst, out]``.

    Raises:
        ValueError: the number of matrices differs from the layer's weights.
    """
    weights = layer.conv_weights()
    if len(matrices) != len(weights):
        raise ValueError(f"the layer has {len(weights)} convolution matrices, {len(matrices)} were given")
    num_dst = x.size(0) if num_dst is None else num_dst
    out = None
    for c, w in zip(matrices, weights):
        if w.size(1) > w.size(0):
            term = aggregate(F.linear(x, w), c.src, c.dst, c.weight, num_dst)
        else:
            term = F.linear(aggregate(x, c.src, c.dst, c.weight, num_dst), w)
        out = term if out is None else out + term
    bias = layer.conv_bias()
    return out + bias if bias is not None else out


class GNNStack(torch.nn.Module):
    """A stack of message-passing layers; see the module docstring for one layer's computation.

    Args:
        convs: the ``L`` convolution modules (PyG ``MessagePassing``; with the
            ``fixed_convolution`` capability they implement :class:`FixedConvolution`).
        capabilities: what the layers provide: ``fixed_convolution``, ``attention``,
            ``bipartite`` (:mod:`gnnbench.capabilities`).
        channels: ``(in, out)`` of each layer (the widths ``norm`` and ``residual`` need).
        dropout: dropout probability applied to each layer's input (default 0.5).
        act: the non-linearity between layers (default ``"relu"``).
        norm: ``"none"`` (default), ``"batch"`` or ``"layer"`` after every layer but the last.
            With ``"batch"`` a training step normalises by the statistics of the rows it computes
            (each method's docstring says which rows a batch has); evaluation uses the running
            statistics, so it does not depend on how a method batches its inference.
        residual: add a layer's input to its output where both widths agree (default ``False``).

    Shapes:
        x: ``[N, in_channels]`` → ``[N, out_channels]``; edge_index: ``[2, E]``.
    """

    def __init__(self, convs: list[torch.nn.Module], capabilities: frozenset[str],
                 channels: list[tuple[int, int]], dropout: float = 0.5, act: Activation = "relu",
                 norm: Norm = "none", residual: bool = False):
        super().__init__()
        if act not in ACTIVATIONS:
            raise ValueError(f"unknown activation {act!r}; choices: {', '.join(ACTIVATIONS)}")
        if norm not in NORMS:
            raise ValueError(f"unknown normalisation {norm!r}; choices: {', '.join(NORMS)}")
        self.convs = torch.nn.ModuleList(convs)
        self.capabilities = frozenset(capabilities)
        self.channels = list(channels)
        self.dropout = dropout
        self.act_name, self.norm_name, self.residual = act, norm, residual
        self.act = ACTIVATIONS[act]
        make = {"none": lambda c: torch.nn.Identity(), "batch": torch.nn.BatchNorm1d,
                "layer": torch.nn.LayerNorm}[norm]
        self.norms = torch.nn.ModuleList(make(o) for _, o in self.channels[:-1])

    @property
    def num_layers(self) -> int:
        return len(self.convs)

    def reset_parameters(self) -> None:
        for m in list(self.convs) + list(self.norms):
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def has(self, capability: str) -> bool:
        """Whether the layers provide ``capability``."""
        return capability in self.capabilities

    def _require(self, capability: str) -> None:
        if capability not in self.capabilities:
            raise ValueError(f"this backbone's layers do not provide '{capability}'; they provide: "
                             f"{', '.join(sorted(self.capabilities)) or 'nothing beyond forward'}")

    # ------------------------------------------------------------------ one layer
    def finish(self, i: int, h: Tensor, x_dst: Tensor) -> Tensor:
        """What follows layer ``i``'s convolution output ``h: [N_dst, out]``: for all but the last
        layer ``act(norm(h))``, plus ``x_dst: [N_dst, in]`` (the layer's destination inputs,
        before dropout) when ``residual`` and the widths agree."""
        if i == self.num_layers - 1:
            return h
        out = self.act(self.norms[i](h))
        if self.residual and x_dst.shape == out.shape:
            out = out + x_dst
        return out

    def layer(self, i: int, x: Union[Tensor, PairTensor], edge_index: Tensor) -> Tensor:
        """Apply layer ``i`` (dropout, convolution, then :meth:`finish`).

        ``x`` may be a ``(x_src, x_dst)`` pair for a bipartite block (``bipartite`` capability).
        """
        if isinstance(x, tuple):
            x_dst = x[1]
            xin = tuple(dropout(t, self.dropout, self.training) for t in x)
        else:
            x_dst = x
            xin = dropout(x, self.dropout, self.training)
        return self.finish(i, self.convs[i](xin, edge_index), x_dst)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        for i in range(self.num_layers):
            x = self.layer(i, x, edge_index)
        return x

    # ------------------------------------------------------------------ fixed convolutions
    def conv_matrices(self, i: int, edge_index: Tensor, num_nodes: int) -> list[ConvMatrix]:
        """Layer ``i``'s convolution matrices ``C⁽ˢ⁾`` on a graph (Eq. (1) of Ding et al. 2021).

        Raises:
            ValueError: the backbone has no ``fixed_convolution`` capability (GAT: use :meth:`attention`).
        """
        self._require("fixed_convolution")
        return self.convs[i].conv_matrices(edge_index, num_nodes)

    def conv_weights(self, i: int) -> list[Tensor]:
        """Layer ``i``'s weights ``W⁽ˡ,ˢ⁾ᵀ``, one ``[out, in]`` per matrix (its own parameters)."""
        self._require("fixed_convolution")
        return self.convs[i].conv_weights()

    def conv_bias(self, i: int) -> Tensor | None:
        """Layer ``i``'s bias ``[out]`` or ``None``."""
        self._require("fixed_convolution")
        return self.convs[i].conv_bias()

    def weighted_layer(self, i: int, x: Tensor, matrices: Sequence[ConvMatrix],
                       num_dst: int | None = None) -> Tensor:
        """Layer ``i`` with the given aggregation weights in place of its own matrices:
        ``finish(Σ_s C⁽ˢ⁾ dropout(x) W⁽ˡ,ˢ⁾ + b)``.

        Shapes:
            x: ``[N_src, in]`` (destinations its first ``num_dst`` rows, default all);
            ``matrices[s]`` local entries with destinations in ``[0, num_dst)`` → ``[num_dst, out]``.

        Raises:
            ValueError: no ``fixed_convolution`` capability, or the wrong number of matrices.
        """
        self._require("fixed_convolution")
        num_dst = x.size(0) if num_dst is None else num_dst
        h = apply_fixed_convolution(self.convs[i], dropout(x, self.dropout, self.training), matrices, num_dst)
        return self.finish(i, h, x[:num_dst])

    # ------------------------------------------------------------------ learnable convolutions
    def attention(self, i: int):
        """Layer ``i``'s attention parameters (:class:`gnnbench.backbones.gat.Attention`).

        Raises:
            ValueError: the backbone has no ``attention`` capability.
        """
        self._require("attention")
        return self.convs[i].attention()

    def attention_support(self, i: int, edge_index: Tensor, num_nodes: int) -> ConvMatrix:
        """The fixed support ``A + I`` of layer ``i``'s attention (weights 1)."""
        self._require("attention")
        return self.convs[i].attention_support(edge_index, num_nodes)

    def attention_matrices(self, i: int, x: Tensor, edge_index: Tensor) -> ConvMatrix:
        """The learnable ``C⁽ˡ⁾`` layer ``i`` computes on ``x: [N, in]`` (eval-mode attention,
        averaged over heads): entries on the support ``A + I``."""
        self._require("attention")
        return self.convs[i].attention_matrix(x, edge_index)
