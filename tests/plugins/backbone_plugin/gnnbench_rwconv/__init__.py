"""A third-party backbone: ``X' = σ(D̂⁻¹ Â X W + b)`` with ``Â = A + I`` (the mean over a node's
closed neighbourhood, a random-walk-normalised GCN), written in plain torch.

It shows the backbone side of the ``fixed_convolution`` capability (gnnbench.capabilities): each
layer returns its convolution matrix (``conv_matrices``), its weight (``conv_weights``) and bias,
and the stack is gnnbench's ``GNNStack``, so full_graph, cluster_gcn, graphsaint_rw and vqgnn
train it without knowing its name.
"""
from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field


class RWConvNet:
    """Random-walk convolution network (registered as ``rwconv``)."""

    description: ClassVar[str] = "example plugin: mean over the closed neighbourhood, D^-1 (A + I) X W"
    capabilities: ClassVar[frozenset[str]] = frozenset({"fixed_convolution"})

    class Config(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")
        num_layers: int = Field(2, ge=1)
        hidden_channels: int = Field(32, ge=1)
        dropout: float = Field(0.5, ge=0, lt=1)

    def __init__(self, config=None):
        self.config = config or self.Config()

    def build(self, in_channels: int, out_channels: int):
        from gnnbench.backbones.base import GNNStack, layer_channels

        from .layer import RWConv

        c = self.config
        channels = layer_channels(in_channels, c.hidden_channels, out_channels, c.num_layers)
        return GNNStack([RWConv(i, o) for i, o in channels], self.capabilities, channels, dropout=c.dropout)
