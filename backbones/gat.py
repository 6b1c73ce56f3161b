"""GAT (Veličković et al., ICLR 2018): attention-weighted neighbour sums on PyG's ``GATConv``."""
from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from .options import StackOptions

__all__ = ["GAT"]


class GAT:
    """Graph attention network backbone (registered as ``gat``).

    Hidden layers concatenate ``heads`` heads of ``hidden_channels`` each; the last layer averages
    ``out_heads`` heads.  ELU between layers, as the original.  A learnable convolution (Table 1
    of Ding et al. 2021): its layers expose their attention (:class:`~gnnbench.backbones.gat_conv.Attention`).

    Args (``backbone_config``):
        num_layers: attention layers (default 2).
        hidden_channels: width of one head (default 8).
        heads: heads of the hidden layers (default 8).
        out_heads: heads of the output layer, averaged (default 1).
        dropout: dropout on each layer's input (default 0.6).
        attention_dropout: dropout on the attention coefficients (default 0.6).
        norm: ``"none"`` (default), ``"batch"`` or ``"layer"`` between layers.
        residual: add each hidden layer's input to its output where widths agree (default ``False``).
        activation: ``"elu"`` (default, as the original), ``"relu"``, ``"gelu"`` or ``"leaky_relu"``.
    """

    description: ClassVar[str] = "GAT (Veličković et al. 2018), multi-head attention over neighbours"
    capabilities: ClassVar[frozenset[str]] = frozenset({"attention", "bipartite"})

    class Config(StackOptions):
        hidden_channels: int = Field(8, ge=1)
        heads: int = Field(8, ge=1)
        out_heads: int = Field(1, ge=1)
        dropout: float = Field(0.6, ge=0, lt=1)
        attention_dropout: float = Field(0.6, ge=0, lt=1)
        activation: Literal["relu", "elu", "gelu", "leaky_relu"] = "elu"

    def __init__(self, config: "GAT.Config | None" = None):
        self.config = config or self.Config()

    def build(self, in_channels: int, out_channels: int):
        """A :class:`~gnnbench.backbones.base.GNNStack` of :class:`~gnnbench.backbones.gat_conv.GATLayer` s."""
        from .base import GNNStack
        from .gat_conv import GATLayer

        c = self.config
        convs, channels, dim = [], [], in_channels
        for i in range(c.num_layers):
            if i == c.num_layers - 1:
                convs.append(GATLayer(dim, out_channels, heads=c.out_heads, concat=False,
                                      dropout=c.attention_dropout))
                channels.append((dim, out_channels))
            else:
                convs.append(GATLayer(dim, c.hidden_channels, heads=c.heads, concat=True,
                                      dropout=c.attention_dropout))
                channels.append((dim, c.hidden_channels * c.heads))
                dim = c.hidden_channels * c.heads
        return GNNStack(convs, self.capabilities, channels, **c.stack_kwargs())
