"""GCN (Kipf & Welling, ICLR 2017): ``X' = σ(D̂^{-1/2} Â D̂^{-1/2} X W)`` on PyG's ``GCNConv``."""
from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from .options import StackOptions

__all__ = ["GCN"]


class GCN:
    """Graph convolutional network backbone (registered as ``gcn``).

    One fixed convolution matrix per layer, ``C = D̂^{-1/2} Â D̂^{-1/2}`` (Table 1 of Ding et al.
    2021), exactly as PyG's ``gcn_norm`` builds it (:func:`gnnbench.backbones.conv.gcn_matrix`).

    Args (``backbone_config``):
        num_layers: convolution layers (default 2).
        hidden_channels: hidden width (default 16, as Kipf & Welling on Planetoid).
        dropout: dropout on each layer's input (default 0.5).
        norm: ``"none"`` (default), ``"batch"`` or ``"layer"`` between layers (OGB's arxiv GCN: batch).
        residual: add each hidden layer's input to its output where widths agree (default ``False``).
        activation: ``"relu"`` (default), ``"elu"``, ``"gelu"`` or ``"leaky_relu"``.
    """

    description: ClassVar[str] = "GCN (Kipf & Welling 2017), symmetric-normalised convolution with self-loops"
    capabilities: ClassVar[frozenset[str]] = frozenset({"fixed_convolution"})

    class Config(StackOptions):
        hidden_channels: int = Field(16, ge=1)

    def __init__(self, config: "GCN.Config | None" = None):
        self.config = config or self.Config()

    def build(self, in_channels: int, out_channels: int):
        """A :class:`~gnnbench.backbones.base.GNNStack` of :class:`~gnnbench.backbones.gcn_conv.GCNLayer` s."""
        from .base import GNNStack, layer_channels
        from .gcn_conv import GCNLayer

        c = self.config
        channels = layer_channels(in_channels, c.hidden_channels, out_channels, c.num_layers)
        return GNNStack([GCNLayer(i, o) for i, o in channels], self.capabilities, channels,
                        **c.stack_kwargs())
