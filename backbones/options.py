"""Options every backbone built on :class:`~gnnbench.backbones.base.GNNStack` shares (no torch import)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["StackOptions"]


class StackOptions(BaseModel):
    """Depth, dropout and what sits between the layers (the published set-ups' knobs).

    Args:
        num_layers: layers (default 2, at most 64).
        dropout: dropout on each layer's input (default 0.5).
        norm: ``"none"`` (default), ``"batch"`` or ``"layer"`` after every layer but the last
            (OGB's arxiv GCN and the official VQ-GNN set-up use batch norm).
        residual: add each layer's input to its output where both widths agree (default ``False``).
        activation: ``"relu"`` (default), ``"elu"``, ``"gelu"`` or ``"leaky_relu"``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    num_layers: int = Field(2, ge=1, le=64)
    dropout: float = Field(0.5, ge=0, lt=1)
    norm: Literal["none", "batch", "layer"] = "none"
    residual: bool = False
    activation: Literal["relu", "elu", "gelu", "leaky_relu"] = "relu"

    def stack_kwargs(self) -> dict:
        """The keyword arguments of ``GNNStack`` these options set."""
        return {"dropout": self.dropout, "act": self.activation, "norm": self.norm, "residual": self.residual}
