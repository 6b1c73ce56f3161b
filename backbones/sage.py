"""SAGE-Mean (Hamilton et al., NeurIPS 2017): ``x_i' = W_1 x_i + W_2 mean_{j∈N(i)} x_j`` on ``SAGEConv``."""
from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from .options import StackOptions

__all__ = ["SAGE"]


class SAGE:
    """GraphSAGE backbone with mean aggregation (registered as ``sage``).

    Two fixed convolution matrices per layer, ``C⁽¹⁾ = I`` and ``C⁽²⁾ = D⁻¹A`` (Table 1 of Ding et
    al. 2021), as ``SAGEConv(aggr="mean")`` aggregates (:mod:`gnnbench.backbones.conv`).

    Args (``backbone_config``):
        num_layers: convolution layers (default 2).
        hidden_channels: hidden width (default 64).
        dropout: dropout on each layer's input (default 0.5).
        norm: ``"none"`` (default), ``"batch"`` or ``"layer"`` between layers.
        residual: add each hidden layer's input to its output where widths agree (default ``False``).
        activation: ``"relu"`` (default), ``"elu"``, ``"gelu"`` or ``"leaky_relu"``.
    """

    description: ClassVar[str] = "SAGE-Mean (Hamilton et al. 2017), root weight plus mean of neighbours"
    capabilities: ClassVar[frozenset[str]] = frozenset({"fixed_convolution", "bipartite"})

    class Config(StackOptions):
        hidden_channels: int = Field(64, ge=1)

    def __init__(self, config: "SAGE.Config | None" = None):
        self.config = config or self.Config()

    def build(self, in_channels: int, out_channels: int):
        """A :class:`~gnnbench.backbones.base.GNNStack` of :class:`~gnnbench.backbones.sage_conv.MeanSAGEConv`
        (PyG ``SAGEConv`` with mean aggregation, transforming before aggregating when narrower)."""
        from .base import GNNStack, layer_channels
        from .sage_conv import MeanSAGEConv

        c = self.config
        channels = layer_channels(in_channels, c.hidden_channels, out_channels, c.num_layers)
        return GNNStack([MeanSAGEConv(i, o) for i, o in channels], self.capabilities, channels,
                        **c.stack_kwargs())
