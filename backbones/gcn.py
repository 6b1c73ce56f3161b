"""GCN (Kipf & Welling, ICLR 2017): ``X' = σ(D̂^{-1/2} Â D̂^{-1/2} X W)`` on PyG's ``GCNConv``."""
from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["GCN"]


class GCN:
    """Graph convolutional network backbone (registered as ``gcn``).

    Args (``backbone_config``):
        num_layers: convolution layers (default 2).
        hidden_channels: hidden width (default 16, as Kipf & Welling on Planetoid).
        dropout: dropout on each layer's input (default 0.5).
    """

    description: ClassVar[str] = "GCN (Kipf & Welling 2017), symmetric-normalised convolution with self-loops"

    class Config(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")
        num_layers: int = Field(2, ge=1, le=64)
        hidden_channels: int = Field(16, ge=1)
        dropout: float = Field(0.5, ge=0, lt=1)

    def __init__(self, config: "GCN.Config | None" = None):
        self.config = config or self.Config()

    def build(self, in_channels: int, out_channels: int):
        """A :class:`~gnnbench.backbones.base.GNNStack` of ``GCNConv`` layers."""
        from torch_geometric.nn import GCNConv

        from .base import GNNStack, layer_channels

        c = self.config
        convs = [GCNConv(i, o) for i, o in layer_channels(in_channels, c.hidden_channels,
                                                          out_channels, c.num_layers)]
        return GNNStack(convs, kind="gcn", dropout=c.dropout)
