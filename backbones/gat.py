"""GAT (Veličković et al., ICLR 2018): attention-weighted neighbour sums on PyG's ``GATConv``."""
from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["GAT"]


class GAT:
    """Graph attention network backbone (registered as ``gat``).

    Hidden layers concatenate ``heads`` heads of ``hidden_channels`` each; the last layer averages
    ``out_heads`` heads.  ELU between layers, as the original.

    Args (``backbone_config``):
        num_layers: attention layers (default 2).
        hidden_channels: width of one head (default 8).
        heads: heads of the hidden layers (default 8).
        out_heads: heads of the output layer, averaged (default 1).
        dropout: dropout on each layer's input (default 0.6).
        attention_dropout: dropout on the attention coefficients (default 0.6).
    """

    description: ClassVar[str] = "GAT (Veličković et al. 2018), multi-head attention over neighbours"

    class Config(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")
        num_layers: int = Field(2, ge=1, le=64)
        hidden_channels: int = Field(8, ge=1)
        heads: int = Field(8, ge=1)
        out_heads: int = Field(1, ge=1)
        dropout: float = Field(0.6, ge=0, lt=1)
        attention_dropout: float = Field(0.6, ge=0, lt=1)

    def __init__(self, config: "GAT.Config | None" = None):
        self.config = config or self.Config()

    def build(self, in_channels: int, out_channels: int):
        """A :class:`~gnnbench.backbones.base.GNNStack` of ``GATConv`` layers."""
        import torch.nn.functional as F
        from torch_geometric.nn import GATConv

        from .base import GNNStack

        c = self.config
        convs, dim = [], in_channels
        for i in range(c.num_layers):
            last = i == c.num_layers - 1
            if last:
                convs.append(GATConv(dim, out_channels, heads=c.out_heads, concat=False,
                                     dropout=c.attention_dropout))
            else:
                convs.append(GATConv(dim, c.hidden_channels, heads=c.heads, concat=True,
                                     dropout=c.attention_dropout))
                dim = c.hidden_channels * c.heads
        return GNNStack(convs, kind="gat", dropout=c.dropout, act=F.elu)
