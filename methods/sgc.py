"""SGC: a linear classifier on ``S^K X`` (Wu, Souza, Zhang, Fifty, Yu & Weinberger, ICML 2019)."""
from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from gnnbench.methods.precompute import PrecomputedMethod

__all__ = ["SGC"]


class SGC(PrecomputedMethod):
    """Simplifying graph convolution (Wu et al. 2019, Eq. 8): ``Ŷ = softmax(S^K X Θ)``.

    ``S^K X`` is computed once in ``setup`` (preprocessing; ``S = D̂^{-1/2} Â D̂^{-1/2}``,
    :func:`~gnnbench.methods.precompute.propagate`), then a linear classifier ``Θ: [F, C]`` is
    trained on mini-batches of its training rows.  Needs no backbone: it uses no backbone's
    convolutions, and a linear classifier has no width or dropout to borrow.  Node tasks (inductive:
    each unseen graph is propagated on itself).

    What it measures differently: training passes no messages (``messages_per_batch = 0``), so its
    training time is that of a logistic regression, and the graph's cost is all in
    ``preprocess_time_s`` (``K`` sparse products) and the host memory of ``S^K X``
    (``extra.precomputed_bytes``).
    """

    description: ClassVar[str] = "SGC: linear classifier on precomputed S^K X (Wu et al. 2019)"

    class Config(BaseModel):
        """Args:
            num_hops: ``K``, the propagation steps (default 2, the paper's setting).
            batch_size: training nodes per batch (default 512); ``budget.nodes_per_batch`` replaces it.
            inference_batch_size: nodes per batch of prediction (default 4096).
        """

        model_config = ConfigDict(frozen=True, extra="forbid")
        num_hops: int = Field(2, ge=0, le=64)
        batch_size: int = Field(512, ge=1)
        inference_batch_size: int = Field(4096, ge=1)

    def features(self, hops):
        """Only ``S^K X``."""
        return [hops[-1]]

    def build(self, in_channels, out_channels):
        """``Linear(F, C)``: the logistic regression of Eq. 8."""
        import torch

        return torch.nn.Linear(in_channels[0], out_channels)
