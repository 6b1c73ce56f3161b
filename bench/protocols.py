"""The plugin interfaces, as :class:`typing.Protocol` s, all in one file.

A plugin is a class registered under an entry point (``gnnbench.methods``, ``gnnbench.backbones``,
``gnnbench.datasets``); the entry-point name is the name users type.  Every plugin class carries
a one-line ``description`` and a pydantic ``Config`` model (frozen, ``extra="forbid"``) for its own
nested section of the trial configuration; the runner validates that section and passes the
resulting object to the plugin's constructor.  Plugins never read argv or environment variables
and never time or measure themselves: the runner owns every measurement.

The life of a trial, as the runner drives a :class:`Method`::

    method = MethodClass(method_config, backbone, train_config, budget)
    method.setup(dataset, device)              # timed as preprocessing
    for epoch in range(epochs):
        for batch in method.batches(epoch):    # next() is timed as sampling
            loss = method.train_step(batch)    # timed as compute
        method.predict(["valid"])              # per-epoch validation (not training time)
    method.predict(["valid", "test"])          # final pass at the best epoch, timed as inference
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Protocol, Sequence, runtime_checkable

from .types import Batch, DatasetInfo, GraphDataset, Prediction, Task  # noqa: F401

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from pydantic import BaseModel

    from .config import BudgetConfig, TrainConfig

__all__ = ["MethodPlugin", "BackbonePlugin", "DatasetPlugin", "PLUGIN_GROUPS", "REQUIRED_ATTRIBUTES"]


@runtime_checkable
class BackbonePlugin(Protocol):
    """A GNN architecture (GCN, SAGE-Mean, GAT, …) that methods build their models from.

    Attributes:
        description: one line for ``gnnbench list``.
        Config: pydantic model of the backbone's options (layers, hidden size, dropout, heads).
        config: the validated options this instance was made with.
        capabilities: optional, what its layers provide to methods (``fixed_convolution``,
            ``attention``, ``bipartite``; :mod:`gnnbench.capabilities`); none when absent.
    """

    description: ClassVar[str]
    Config: ClassVar[type["BaseModel"]]
    config: Any

    def __init__(self, config: Any) -> None: ...

    def build(self, in_channels: int, out_channels: int) -> "torch.nn.Module":
        """Build the full model, a :class:`gnnbench.backbones.base.GNNStack`.

        Its ``forward(x, edge_index)`` maps ``x: [N, in_channels]`` to ``[N, out_channels]``;
        ``layer(i, x, edge_index)`` applies layer ``i`` alone (for layer-wise inference and for
        sampled bipartite blocks, where ``x`` may be a ``(x_src, x_dst)`` pair).
        """


@runtime_checkable
class MethodPlugin(Protocol):
    """A strategy for training a GNN on a graph: full-graph, sampling, VQ-GNN, quantization, …

    Attributes:
        description: one line for ``gnnbench list``.
        Config: pydantic model of the method's own options.
        supported_backbones: names of the backbones it can drive, or ``None`` for any.
        supported_tasks: the :class:`Task` s it supports.
        backbone_capabilities: optional; the backbone must declare at least one of these
            capabilities (:func:`gnnbench.capabilities.check_capabilities`, before any data loads).
        unsupported_reasons: optional ``{backbone name: why}`` shown when a backbone is refused.
        meets_budget: optional, default ``False``; ``True`` when the method sizes its batches to
            meet the trial's ``budget`` (``budget.nodes_per_batch`` / ``messages_per_batch``).
            A budget given to a method that does not is refused before any data loads: its
            batches would not be the size the comparison assumes.
        preflight: set to ``True`` by the runner's preflight, which calls :meth:`setup` before
            any trial runs only to check that the budget and options can be met; a method may
            return from ``setup`` as soon as it has checked them (VQ-GNN skips its codebook
            initialisation).  ``False`` (unset) in a trial.
        model: after :meth:`setup`, the module holding all learned state (weights, codebooks);
            the runner checkpoints its ``state_dict()`` at the best validation epoch.
        cache_dir: set by the runner before :meth:`setup`: a folder (maybe not yet created) where
            the method may cache preprocessing of this dataset and dataset configuration, such
            as METIS partitions; keyed further by the method's own parameters.
        report: optional ``report() -> dict`` called after training; its facts (not timings),
            e.g. a model size in bytes, are stored in the trial's ``extra``.
    """

    description: ClassVar[str]
    Config: ClassVar[type["BaseModel"]]
    supported_backbones: ClassVar[frozenset[str] | None]
    supported_tasks: ClassVar[frozenset[Task]]
    model: "torch.nn.Module"

    def __init__(
        self,
        config: Any,
        backbone: BackbonePlugin,
        train: "TrainConfig",
        budget: "BudgetConfig",
    ) -> None: ...

    def setup(self, dataset: GraphDataset, device: "torch.device") -> None:
        """Build the model and optimiser and do all preprocessing (partitioning, precomputation,
        codebook initialisation). Timed by the runner as ``preprocess_time_s``."""

    def batches(self, epoch: int) -> Iterable[Batch]:
        """Yield the mini-batches of one training epoch (one batch for full-graph training).
        The runner times each ``next()`` as sampling."""

    def train_step(self, batch: Batch) -> float:
        """Take one optimisation step on ``batch``; return the training loss as a float.
        The runner times it as compute."""

    def predict(self, splits: Sequence[str]) -> dict[str, Prediction]:
        """Predict for each of ``splits`` (``"train"``, ``"valid"``, ``"test"``) in eval mode and
        without gradients; see :class:`gnnbench.types.Prediction` for the shapes."""


@runtime_checkable
class DatasetPlugin(Protocol):
    """A dataset loader.

    Attributes:
        description: one line for ``gnnbench list``.
        Config: pydantic model of the dataset's options (split seed, generator parameters, …).
    """

    description: ClassVar[str]
    Config: ClassVar[type["BaseModel"]]
    config: Any

    def __init__(self, config: Any) -> None: ...

    def info(self) -> DatasetInfo:
        """The dataset's metadata, without loading or reading any file."""

    # Optional: ``check(root) -> Path`` raises DatasetMissingError before any trial starts when
    # the raw files are not there (on-disk datasets define it; generated ones need not).

    def load(self, root: "Any", cache_dir: "Any") -> GraphDataset:
        """Load the dataset.

        Args:
            root: the data root (a :class:`pathlib.Path`) or ``None`` when none is configured.
                Nothing is ever written below it.
            cache_dir: a directory of this dataset's own where processed files may be written.

        Raises:
            FileNotFoundError: the raw files are missing; the message names which files to place
                where.
        """


#: entry-point group → protocol every registered class must satisfy
PLUGIN_GROUPS: dict[str, type] = {
    "methods": MethodPlugin,
    "backbones": BackbonePlugin,
    "datasets": DatasetPlugin,
}

#: class attributes checked when a plugin is loaded (its methods are checked by name too)
REQUIRED_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "methods": ("description", "Config", "supported_backbones", "supported_tasks",
                "setup", "batches", "train_step", "predict"),
    "backbones": ("description", "Config", "build"),
    "datasets": ("description", "Config", "info", "load"),
}

