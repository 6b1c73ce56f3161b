"""The inference options of the sampling baselines (torch-free: ``gnnbench list`` reads the
methods' ``Config`` without importing torch)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["InferenceOptions"]


class InferenceOptions(BaseModel):
    """The inference options the sampling baselines share: the base of their ``Config``.

    Args:
        inference: ``"layerwise"`` (default: each layer over the whole graph in batches of
            destination nodes with all their neighbours, :func:`~gnnbench.methods.sampling.layerwise_inference`) or
            ``"lhop"`` (batches of output nodes, each with its full L-hop neighbourhood: PyG
            ``NeighborLoader`` with all neighbours, the OGB standard the VQ-GNN paper's inference
            times are against, Ding et al. 2021, Sec. 5; :func:`~gnnbench.methods.sampling.lhop_inference`); both
            give the same predictions, at different cost.
        inference_batch_size: nodes per batch of inference (default 4096): destination nodes
            per layer batch (``layerwise``) or output nodes per batch (``lhop``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    inference: Literal["layerwise", "lhop"] = Field(
        "layerwise", description="\"layerwise\" (each layer over the whole graph in batches of destination "
        "nodes with all their neighbours) or \"lhop\" (batches of output nodes with their full L-hop "
        "neighbourhood, the OGB standard the VQ-GNN paper's inference times are against); same predictions")
    inference_batch_size: int = Field(
        4096, ge=1, description="nodes per batch of inference: destination nodes per layer batch (layerwise) "
        "or output nodes per batch (lhop)")
