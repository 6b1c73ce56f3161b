"""Dataclasses that flow between the plugins and the runner.

These are plain containers: the runner, the methods and the datasets agree on them, and nothing
in them imports torch at module level (so ``gnnbench list`` answers without importing torch).
"""
from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor
    from torch_geometric.data import Data

__all__ = ["Task", "Status", "DatasetInfo", "GraphDataset", "Batch", "Prediction", "SPLITS", "EpochPoint",
           "TrialRecord", "PluginSource", "to_device", "RECORD_COLUMNS", "EPOCH_COLUMNS", "TABLE_FIELDS"]

#: The evaluation splits, named as OGB's ``get_idx_split()`` names them.
SPLITS = ("train", "valid", "test")


class Task(str, enum.Enum):
    """The learning tasks a dataset poses and a method may support."""

    NODE_TRANSDUCTIVE = "node_transductive"
    """Node classification on one graph; every node is seen in training, labels of train nodes only."""
    NODE_INDUCTIVE = "node_inductive"
    """Node classification trained on some graphs and tested on unseen ones (PPI style)."""
    LINK = "link"
    """Link prediction: rank held-out edges above sampled non-edges (ogbl-collab style, Hits@50)."""

    def __str__(self) -> str:  # so that messages print "link", not "Task.LINK"
        return self.value


class Status(str, enum.Enum):
    """The state of a stored trial."""

    RUNNING = "running"
    """Its process is (or was, if it died without a word) running it."""
    COMPLETED = "completed"
    """It trained, was evaluated, and every figure of its record is set."""
    FAILED = "failed"
    """It raised (the traceback is in ``error``), e.g. a prediction of the wrong shape."""
    OOM = "oom"
    """It ran out of device or host memory (or past ``--memory-limit``)."""
    INTERRUPTED = "interrupted"
    """It was stopped (Ctrl-C, SIGTERM, a timeout, or its process was found dead); the epochs and
    training time it reached are kept."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class DatasetInfo:
    """Metadata of a dataset, available without loading it (OGB's ``master.csv`` idea).

    Args:
        name: the registered name users type (``"cora"``).
        task: the :class:`Task` the dataset poses.
        metric: the reported metric: ``"acc"``, ``"micro_f1"`` or ``"hits@50"``.
        num_classes: classes for node tasks (labels per node for multi-label), ``None`` for links.
        multilabel: ``True`` when every node carries a 0/1 vector of labels (PPI).
        ogb_name: the name of the OGB dataset whose :class:`ogb` ``Evaluator`` scores it, if any.
        num_nodes: number of nodes if known without loading (for messages), else ``None``.
    """

    name: str
    task: Task
    metric: str
    num_classes: int | None = None
    multilabel: bool = False
    ogb_name: str | None = None
    num_nodes: int | None = None


@dataclass
class GraphDataset:
    """A loaded dataset, in the layout every method reads.

    ``graph`` is the graph a method trains on: the whole graph for transductive tasks, the union of
    the training graphs (as disjoint components) for inductive ones, and the graph of training edges
    for link prediction.

    Shapes:
        graph.x: ``[num_nodes, num_features]`` float32
        graph.edge_index: ``[2, num_edges]`` int64, both directions present for undirected graphs
        graph.y: ``[num_nodes]`` int64 (single-label) or ``[num_nodes, num_classes]`` float (multi-label)
        split[s]: ``[num_split_nodes]`` int64 node indices into ``graph_for(s)`` (node tasks)
        edge_split[s]: ``{"edge": [P, 2], "edge_neg": [Q, 2]}`` int64 (link tasks, OGB's layout;
        ``"train"`` holds ``"edge"`` only)

    Args:
        info: the dataset's :class:`DatasetInfo`.
        graph: the training graph (a PyG ``Data``).
        split: node indices per split for node tasks; empty for link tasks.
        eval_graphs: for inductive tasks, the unseen ``"valid"`` and ``"test"`` graphs.
        edge_split: for link prediction, positive and negative edges per split.
    """

    info: DatasetInfo
    graph: "Data"
    split: dict[str, "Tensor"] = field(default_factory=dict)
    eval_graphs: dict[str, "Data"] = field(default_factory=dict)
    edge_split: dict[str, dict[str, "Tensor"]] = field(default_factory=dict)
    source_key: str | None = None
    """A hash of the raw files and dataset config it was read from (``None`` for generated data);
    the runner keys the methods' preprocessing caches by it."""

    def graph_for(self, split: str) -> "Data":
        """The graph whose nodes ``split[split]`` indexes: an unseen graph for inductive valid/test."""
        return self.eval_graphs.get(split, self.graph)

    @property
    def num_features(self) -> int:
        return int(self.graph.x.size(1))

    @property
    def num_outputs(self) -> int:
        """Output channels a node classifier needs (the classes); 0 for link prediction."""
        return int(self.info.num_classes or 0)


@dataclass
class Batch:
    """One mini-batch as a method yields it, with the sizes the runner records.

    Args:
        data: the method's own payload (a PyG ``Data``, index tensors, …).
        num_nodes: nodes whose representations the step computes on the device (the batch
            plus any sampled neighbours or codewords it carries).
        num_messages: messages (non-zero entries of the convolution matrices, i.e. edges) the
            step passes, summed over the sampled computation graph: for subgraph methods the
            edges of the subgraph, for neighbour sampling the sampled edges of all hops, for
            VQ-GNN the intra-batch edges plus the batch-to-codeword entries.
    """

    data: Any
    num_nodes: int
    num_messages: int

    def to(self, device) -> "Batch":
        """This batch with its payload on ``device`` (the runner calls it, timed as transfer).

        Moves a payload that has ``.to(device)`` (a tensor, a PyG ``Data`` / ``HeteroData``) and
        the tensors inside tuples, lists and dicts; anything else is passed as is.  The sizes are
        kept (the runner recounts what it understands).
        """
        return Batch(to_device(self.data, device), self.num_nodes, self.num_messages)


def to_device(value: Any, device) -> Any:
    """``value`` with every tensor (or object with ``.to``) in it moved to ``device``: inside
    tuples, lists, dicts and dataclass instances (a method's own batch type, e.g. VQ-GNN's)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and not callable(getattr(value, "to", None)):
        return dataclasses.replace(value, **{f.name: to_device(getattr(value, f.name), device)
                                             for f in dataclasses.fields(value) if f.init})
    if isinstance(value, (tuple, list)):
        moved = [to_device(v, device) for v in value]
        return type(value)(*moved) if hasattr(value, "_fields") else type(value)(moved)
    if isinstance(value, dict):
        return {k: to_device(v, device) for k, v in value.items()}
    move = getattr(value, "to", None)
    if callable(move) and not isinstance(value, (str, bytes, type)):
        return move(device)
    return value


@dataclass
class Prediction:
    """What a method predicts for one split; the runner turns it into the metric.

    Shapes:
        scores: node tasks ``[num_split_nodes, num_classes]`` logits, in the order of ``split``;
        link tasks ``None``.
        pos, neg: link tasks, scores ``[P]`` of the split's positive and ``[Q]`` of its negative
        edges; node tasks ``None``.
    """

    scores: "Tensor | None" = None
    pos: "Tensor | None" = None
    neg: "Tensor | None" = None


# ------------------------------------------------------------------------------ the trial record
@dataclass(slots=True)
class EpochPoint:
    """One point of a trial's convergence curve (times in seconds).

    Args:
        epoch: the epoch, from 1.
        train_time_s: cumulative training time (sampling + transfer + compute) at the epoch's end.
        epoch_time_s: this epoch's training time.
        sample_time_s: time in ``next()`` of the method's ``batches`` this epoch.
        transfer_time_s: time the runner spent moving this epoch's batches to the device.
        compute_time_s: time in ``train_step`` this epoch.
        loss: mean training loss over the epoch's batches.
        val_metric: validation metric when the epoch was validated, else ``None``.
    """

    epoch: int
    train_time_s: float
    epoch_time_s: float | None = None
    sample_time_s: float | None = None
    transfer_time_s: float | None = None
    compute_time_s: float | None = None
    loss: float | None = None
    val_metric: float | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EpochPoint":
        """Raises ValueError: ``data`` has a key that is not a field."""
        return cls(**_known(cls, data, "epoch point"))

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class PluginSource:
    """Where a plugin's code came from: its entry-point name, distribution, version and git commit.

    ``commit`` is the ``HEAD`` of the git checkout the plugin's module lives in (with ``-dirty``
    when it has uncommitted changes), ``None`` for an installed wheel.
    """

    name: str
    distribution: str | None = None
    version: str | None = None
    commit: str | None = None


@dataclass(slots=True)
class TrialRecord:
    """Everything measured about one trial: what flows runner → worker → store → reports.

    The results store has one column per field (``curve`` is its own table), ``gnnbench results``
    exports the fields, and assigning or loading a key that is not a field is an error.  Times are
    seconds, memory bytes, metrics in [0, 1].

    Args:
        status: the trial's :class:`Status`.
        metric: the dataset's metric name (``acc``, ``micro_f1``, ``hits@50``).
        val_metric, test_metric: the metric of the best-validation model on valid / test.
        best_epoch: the epoch whose model was restored; ``epochs``: epochs trained (so far).
        train_time_s: sampling + transfer + compute over all epochs; ``epoch_time_s`` its mean per
            epoch; ``sample_time_s``, ``transfer_time_s``, ``compute_time_s`` its three parts.
        inference_time_s: the final ``predict(["valid", "test"])``; ``preprocess_time_s``:
            ``method.setup``; ``load_time_s``: loading the dataset.
        peak_cpu_rss_bytes: the trial process's own peak resident set size (``VmHWM`` since its
            start, over all phases; for a killed process ``ru_maxrss``, which on Linux also
            counts the parent's resident pages at the fork).
        peak_gpu_allocated_bytes: ``torch.cuda.max_memory_allocated``; ``peak_gpu_nvml_bytes``:
            the process's peak as NVML reports it.
        load_cpu_bytes, preprocess_cpu_bytes, train_cpu_bytes, inference_cpu_bytes: the working
            memory of each phase on the host: its peak RSS minus the RSS at its start
            (:class:`gnnbench.measure.PhaseMemory`). The phases: loading the dataset,
            ``method.setup``, training (every epoch; the validation passes are left out), the final inference.
        load_gpu_bytes, …, inference_gpu_bytes: the same on a CUDA device, from
            ``max_memory_allocated`` minus ``memory_allocated`` at the phase's start;
            ``*_gpu_reserved_bytes`` from the caching allocator's ``memory_reserved``.
        memory_note: why a working-memory figure is ``None`` (not Linux, no CUDA device, …).
        num_parameters: trainable parameters of the model.
        num_nodes, num_edges: the loaded training graph's size (``edge_index.size(1)``).
        num_batches: training batches over all epochs.
        nodes_per_batch_*, messages_per_batch_*: the batch sizes, as the runner counted them from
            a PyG ``Data`` / ``HeteroData`` payload, else as the method reported them.
        reported_*: what the method reported, stored only where it differs from the runner's count.
        device: the resolved device type (``cpu`` or ``cuda``), part of the trial's identity;
            ``device_name``: the CPU model or the GPU's name.
        config: the trial configuration as JSON data; ``config_hash``: the identity hash of the
            configuration without the seed and with the resolved device.
        plugins: ``{"method" | "backbone" | "dataset": PluginSource fields}``.
        environment: versions, host, cores, git commit of gnnbench.
        extra: figures a method reports about itself (``method.report()``).
        started_at, finished_at: ISO-8601 UTC times; ``error``: the traceback or reason.
        curve: the per-epoch :class:`EpochPoint` list.
    """

    status: Status = Status.RUNNING
    metric: str | None = None
    val_metric: float | None = None
    test_metric: float | None = None
    best_epoch: int | None = None
    epochs: int | None = None
    train_time_s: float | None = None
    epoch_time_s: float | None = None
    sample_time_s: float | None = None
    transfer_time_s: float | None = None
    compute_time_s: float | None = None
    inference_time_s: float | None = None
    preprocess_time_s: float | None = None
    load_time_s: float | None = None
    peak_cpu_rss_bytes: int | None = None
    peak_gpu_allocated_bytes: int | None = None
    peak_gpu_nvml_bytes: int | None = None
    load_cpu_bytes: int | None = None
    preprocess_cpu_bytes: int | None = None
    train_cpu_bytes: int | None = None
    inference_cpu_bytes: int | None = None
    load_gpu_bytes: int | None = None
    preprocess_gpu_bytes: int | None = None
    train_gpu_bytes: int | None = None
    inference_gpu_bytes: int | None = None
    load_gpu_reserved_bytes: int | None = None
    preprocess_gpu_reserved_bytes: int | None = None
    train_gpu_reserved_bytes: int | None = None
    inference_gpu_reserved_bytes: int | None = None
    memory_note: str | None = None
    num_parameters: int | None = None
    num_nodes: int | None = None
    num_edges: int | None = None
    num_batches: int | None = None
    nodes_per_batch_mean: float | None = None
    nodes_per_batch_max: int | None = None
    messages_per_batch_mean: float | None = None
    messages_per_batch_max: int | None = None
    reported_nodes_per_batch_mean: float | None = None
    reported_nodes_per_batch_max: int | None = None
    reported_messages_per_batch_mean: float | None = None
    reported_messages_per_batch_max: int | None = None
    device: str | None = None
    device_name: str | None = None
    config: dict | None = None
    config_hash: str | None = None
    plugins: dict | None = None
    environment: dict | None = None
    extra: dict | None = None
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    curve: list[EpochPoint] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrialRecord":
        """A record from JSON data (``to_dict``'s output).

        Raises:
            ValueError: a key is not a field, or ``status`` is not a :class:`Status` value.
        """
        data = _known(cls, data, "trial record")
        if "status" in data:
            data["status"] = Status(data["status"])
        data["curve"] = [p if isinstance(p, EpochPoint) else EpochPoint.from_dict(p)
                         for p in data.get("curve") or []]
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able data: ``status`` as its value, ``curve`` as a list of dicts."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["status"] = self.status.value
        out["curve"] = [p.to_dict() for p in self.curve]
        return out

    def keep_progress(self) -> None:
        """Set ``epochs`` and the training times from the curve so far (an interrupted trial)."""
        if not self.curve:
            return
        self.epochs = len(self.curve)
        self.train_time_s = self.curve[-1].train_time_s
        self.epoch_time_s = self.train_time_s / self.epochs
        for name in ("sample_time_s", "transfer_time_s", "compute_time_s"):
            parts = [getattr(p, name) for p in self.curve]
            setattr(self, name, sum(parts) if all(v is not None for v in parts) else None)


#: the fields of :class:`TrialRecord` that are columns of the results store, in order
RECORD_COLUMNS = tuple(f.name for f in fields(TrialRecord) if f.name != "curve")
#: the fields ``gnnbench results`` shows in its table (after the trial's key), in order
TABLE_FIELDS = ("status", "metric", "val_metric", "test_metric", "epochs", "epoch_time_s", "sample_time_s",
                "transfer_time_s", "inference_time_s", "peak_cpu_rss_bytes", "device")
#: the fields of :class:`EpochPoint`, in order
EPOCH_COLUMNS = tuple(f.name for f in fields(EpochPoint))


def _known(cls, data: dict[str, Any], what: str) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {what} key(s) {', '.join(repr(k) for k in unknown)}; "
                         f"the fields are: {', '.join(f.name for f in fields(cls))}")
    return dict(data)
