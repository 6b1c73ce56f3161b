"""A contract kit for plugin authors: ``check_method``, ``check_backbone``, ``check_dataset``.

Each runs a plugin class the way the runner does, on tiny generated graphs, and raises
:class:`ContractError` with a message naming the plugin, the case (task, backbone) and what is
wrong.  Use it in a plugin's own tests::

    from gnnbench.testing import check_method

    def test_my_method_keeps_the_contract(tmp_path):
        check_method(MyMethod, tmp_path)

What :func:`check_method` checks, for every task the method declares (on the synthetic
generator: node classification, inductive node classification, link prediction) and every
backbone it declares (all registered ones for ``supported_backbones = None``; none for
``frozenset()``, a method that needs no backbone):

- the plugin attributes (``description``, a frozen pydantic ``Config`` with defaults that forbids
  unknown keys, supported backbones and tasks) and that bad options are refused before any data
  is loaded (an unknown key; its ``check`` hook, if any, accepts the defaults);
- ``batches()`` yields :class:`~gnnbench.types.Batch` es whose ``num_nodes`` / ``num_messages``
  are the sizes of their payload (a PyG ``Data``'s ``num_nodes`` and ``edge_index`` columns) and
  never exceed the graph, the same number of batches every epoch, and ``train_step`` returns a
  finite loss;
- ``predict`` returns one row of scores per node of each split, ``[n_split, num_classes]``, in
  the split's order (a reversed test split gives reversed rows), or ``pos`` / ``neg`` scores of
  the split's edges;
- the same seed gives the same predictions.

:class:`FakeMethod` is a method of known costs (it sleeps a known time in ``batches`` and in
``train_step``) with which the runner's sampling / compute split is tested, and which can be told
to misreport its batch sizes (the kit must catch that).
"""
from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar, Sequence

from pydantic import BaseModel, ConfigDict, Field

from .types import Batch, Prediction, Task

__all__ = ["ContractError", "check_method", "check_backbone", "check_dataset", "FakeMethod", "tiny_dataset"]

#: the synthetic generator's task names
_TASKS = {Task.NODE_TRANSDUCTIVE: "node", Task.NODE_INDUCTIVE: "inductive", Task.LINK: "link"}


class ContractError(AssertionError):
    """A plugin breaks the plugin contract; the message names the plugin, the case and the fault."""


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _fail(cls: type, case: str, text: str) -> None:
    raise ContractError(f"{_name(cls)}{' (' + case + ')' if case else ''}: {text}")


def tiny_dataset(task: Task | str = Task.NODE_TRANSDUCTIVE, *, num_nodes: int = 300, seed: int = 0, **options):
    """A loaded synthetic :class:`~gnnbench.types.GraphDataset` of ``num_nodes`` nodes (per graph
    for inductive tasks), 8 features and 3 classes."""
    from .datasets.synthetic import Synthetic

    task = _TASKS.get(task, task) if isinstance(task, Task) else task
    cfg = Synthetic.Config(**{"num_nodes": num_nodes, "num_features": 8, "num_classes": 3, "avg_degree": 4,
                              "seed": seed, "task": task, **options})
    return Synthetic(cfg).load(None, None)


# ------------------------------------------------------------------------------------ attributes
def _check_config(cls: type, case: str = "") -> Any:
    from pydantic import ValidationError

    config_cls = getattr(cls, "Config", None)
    if not (isinstance(config_cls, type) and issubclass(config_cls, BaseModel)):
        _fail(cls, case, f"Config must be a pydantic BaseModel subclass, got {config_cls!r}")
    try:
        config = config_cls()
    except ValidationError as exc:
        _fail(cls, case, f"every option of Config needs a default: {exc}")
    if config_cls.model_config.get("extra") != "forbid" or not config_cls.model_config.get("frozen"):
        _fail(cls, case, "Config must be frozen with extra='forbid' (model_config = ConfigDict(frozen=True, "
                         "extra='forbid')), so that a misspelt option is refused before any data is loaded")
    try:
        config_cls(__no_such_option__=1)
    except ValidationError:
        pass
    else:
        _fail(cls, case, "Config accepted an unknown option '__no_such_option__'")
    desc = getattr(cls, "description", None)
    if not isinstance(desc, str) or not desc.strip() or "\n" in desc.strip():
        _fail(cls, case, f"description must be one non-empty line, got {desc!r}")
    return config


def _backbones(cls: type) -> list[str | None]:
    """The registered backbones the method accepts: its ``supported_backbones`` that provide one
    of its ``backbone_capabilities`` (:mod:`gnnbench.capabilities`, as ``plan()`` checks them)."""
    from . import registry
    from .capabilities import backbone_capabilities, needs_backbone

    declared = cls.supported_backbones
    if not needs_backbone(cls):
        return [None]  # needs no backbone: the runner passes backbone=None
    names = registry.names("backbones") if declared is None else sorted(declared)
    needs = frozenset(getattr(cls, "backbone_capabilities", frozenset()))
    return [n for n in names if not needs or needs & backbone_capabilities(registry.load("backbones", n))]


def _backbone(name: str | None):
    from . import registry

    if name is None:
        return None, None
    bcls = registry.load("backbones", name)
    options = {"hidden_channels": 8} if "hidden_channels" in bcls.Config.model_fields else {}
    if "heads" in bcls.Config.model_fields:
        options["heads"] = 2
    config = bcls.Config(**options)
    return bcls(config), config


# ------------------------------------------------------------------------------------ a trial
def _batch_fault(batch: Any, graph_nodes: int, graph_edges: int, layers: int) -> str | None:
    if not isinstance(batch, Batch):
        return f"yielded {type(batch).__name__}, not a gnnbench.types.Batch"
    for key in ("num_nodes", "num_messages"):
        value = getattr(batch, key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return f"Batch.{key} = {value!r}: expected a non-negative int"
    if batch.num_nodes < 1:
        return "Batch.num_nodes = 0: a batch computes at least one node"
    data = batch.data
    held = getattr(data, "num_nodes", None) if data is not None and hasattr(data, "edge_index") else None
    if isinstance(held, int) and held != batch.num_nodes:
        return f"Batch.num_nodes = {batch.num_nodes} but its data holds {held} nodes"
    if held is not None:
        edges = int(data.edge_index.size(1))
        if edges != batch.num_messages:
            return f"Batch.num_messages = {batch.num_messages} but its data holds {edges} edges"
    if batch.num_nodes > graph_nodes * max(1, layers):
        return f"Batch.num_nodes = {batch.num_nodes} exceeds the graph's {graph_nodes} nodes"
    return None


def _train(cls, config, backbone_name, dataset, seed: int, epochs: int, cache: Path, case: str):
    """Set up and train ``epochs`` epochs the way the runner does; ``(method, batches per epoch)``."""
    import torch
    from torch_geometric import seed_everything

    from .config import BudgetConfig, TrainConfig

    seed_everything(seed)
    backbone, bconfig = _backbone(backbone_name)
    method = cls(config, backbone, TrainConfig(epochs=epochs), BudgetConfig())
    method.cache_dir = cache
    method.setup(dataset, torch.device("cpu"))
    if not isinstance(getattr(method, "model", None), torch.nn.Module):
        _fail(cls, case, "after setup(), method.model must be the torch.nn.Module holding the learned state")
    graph = dataset.graph
    layers = int(getattr(bconfig, "num_layers", 1) or 1) + 1
    counts = []
    for epoch in range(1, epochs + 1):
        n = 0
        for batch in method.batches(epoch):
            fault = _batch_fault(batch, int(graph.num_nodes), int(graph.num_edges), layers)
            if fault:
                _fail(cls, case, f"batch {n + 1} of epoch {epoch}: {fault}")
            loss = method.train_step(batch)
            if not isinstance(loss, (float, int)) or not math.isfinite(float(loss)):
                _fail(cls, case, f"train_step returned {loss!r} in epoch {epoch}: expected a finite float loss")
            n += 1
        if n == 0:
            _fail(cls, case, f"batches({epoch}) yielded no batch")
        counts.append(n)
    if len(set(counts)) > 1:
        _fail(cls, case, f"the number of batches changes between epochs: {counts}")
    return method


def _predictions(cls, method, dataset, case: str) -> dict[str, Prediction]:
    import torch

    splits = ["valid", "test"] if dataset.info.task == Task.LINK else ["train", "valid", "test"]
    with torch.no_grad():
        preds = method.predict(splits)
    if not isinstance(preds, dict) or set(preds) < set(splits):
        _fail(cls, case, f"predict({splits}) returned {type(preds).__name__} with keys "
                         f"{sorted(preds) if isinstance(preds, dict) else '-'}: expected one Prediction per split")
    for s in splits:
        p = preds[s]
        if not isinstance(p, Prediction):
            _fail(cls, case, f"predict()['{s}'] is {type(p).__name__}, not a gnnbench.types.Prediction")
        if dataset.info.task == Task.LINK:
            edges = dataset.edge_split[s]
            for key, want in (("pos", len(edges["edge"])), ("neg", len(edges["edge_neg"]))):
                got = getattr(p, key)
                if got is None or tuple(got.shape) != (want,):
                    _fail(cls, case, f"predict()['{s}'].{key} has shape {None if got is None else tuple(got.shape)}; "
                                     f"expected ({want},): one score per {key} edge of the split")
        else:
            want = (len(dataset.split[s]), dataset.num_outputs)
            if p.scores is None or tuple(p.scores.shape) != want:
                _fail(cls, case, f"predict()['{s}'].scores has shape "
                                 f"{None if p.scores is None else tuple(p.scores.shape)}; expected {want}: "
                                 f"[nodes of the split, classes]")
            if not bool(torch.isfinite(p.scores).all()):
                _fail(cls, case, f"predict()['{s}'].scores holds NaN or infinite values")
    return preds


def _same(a: Prediction, b: Prediction) -> bool:
    import torch

    pairs = [(a.scores, b.scores), (a.pos, b.pos), (a.neg, b.neg)]
    return all((x is None and y is None) or (x is not None and y is not None and x.shape == y.shape
                                             and torch.allclose(x, y, atol=1e-5, rtol=1e-4)) for x, y in pairs)


def _reversed_test(dataset):
    import copy

    other = copy.copy(dataset)
    other.split = {**dataset.split, "test": dataset.split["test"].flip(0)}
    return other


def check_method(cls: type, tmp_dir: Path | str | None = None, *, tasks=None, backbones=None,
                 config: dict | None = None, epochs: int = 2) -> None:
    """Check that method plugin ``cls`` keeps the contract (see the module docstring).

    Args:
        cls: the method class (as registered under ``gnnbench.methods``).
        tmp_dir: where the method may cache preprocessing (default: a temporary folder).
        tasks: the :class:`~gnnbench.types.Task` s to try (default: every one it declares).
        backbones: backbone names to try (default: every one it declares; ``[None]`` for none).
        config: options of its ``Config`` (default: its defaults).
        epochs: training epochs of the first case (default 2; the others train one epoch).

    Raises:
        ContractError: the first fault, naming the plugin, the case and what is wrong.
    """
    _check_config(cls)
    for attr in ("setup", "batches", "train_step", "predict"):
        if not callable(getattr(cls, attr, None)):
            _fail(cls, "", f"lacks the method {attr}()")
    declared = getattr(cls, "supported_tasks", None)
    if not isinstance(declared, (set, frozenset)) or not declared or not all(isinstance(t, Task) for t in declared):
        _fail(cls, "", f"supported_tasks must be a non-empty frozenset of gnnbench.types.Task, got {declared!r}")
    sb = getattr(cls, "supported_backbones", ())
    if sb is not None and not isinstance(sb, (set, frozenset)):
        _fail(cls, "", f"supported_backbones must be None (any) or a frozenset of names, got {sb!r}")
    method_config = cls.Config(**(config or {}))
    order = [Task.NODE_TRANSDUCTIVE, Task.NODE_INDUCTIVE, Task.LINK]
    task_list = sorted(tasks or declared, key=order.index)
    names = list(backbones or _backbones(cls))
    if tmp_dir is not None:
        return _check_method_cases(cls, method_config, task_list, names, Path(tmp_dir), epochs)
    with tempfile.TemporaryDirectory(prefix="gnnbench-contract-") as tmp:  # removed afterwards
        return _check_method_cases(cls, method_config, task_list, names, Path(tmp), epochs)


def _check_method_cases(cls, method_config, task_list, names, tmp: Path, epochs: int) -> None:
    check = getattr(cls, "check", None)
    # every task with the first backbone, every backbone with the first task
    cases = [(t, names[0]) for t in task_list] + [(task_list[0], b) for b in names[1:]]
    first = True
    for task, bname in cases:
        case = f"task {task}, backbone {bname or 'none'}"
        dataset = tiny_dataset(task)
        if callable(check):
            _, bconfig = _backbone(bname)
            try:
                check(method_config, bconfig, dataset.info)
            except ValueError as exc:
                _fail(cls, case, f"its check() hook refuses the options on a {dataset.graph.num_nodes}-node "
                                 f"graph: {exc}")
        cache = tmp / f"{_TASKS[task]}-{bname}"
        method = _train(cls, method_config, bname, dataset, 0, epochs if first else 1, cache / "a", case)
        preds = _predictions(cls, method, dataset, case)
        if not first:
            continue
        first = False  # determinism and order on the first case only: they cost two more trainings
        again = _predictions(cls, _train(cls, method_config, bname, dataset, 0, epochs, cache / "b", case),
                             dataset, case)
        for s in preds:
            if not _same(preds[s], again[s]):
                _fail(cls, case, f"two trainings with seed 0 predict differently on '{s}': the method must "
                                 f"draw all its randomness from torch / numpy / random, seeded by the runner")
        if task != Task.LINK:
            flipped = _reversed_test(dataset)
            other = _predictions(cls, _train(cls, method_config, bname, flipped, 0, epochs, cache / "c", case),
                                 flipped, case)
            if not _same(Prediction(scores=preds["test"].scores.flip(0)), other["test"]):
                _fail(cls, case, "predict()['test'] rows are not in the order of dataset.split['test'] "
                                 "(a reversed split did not give reversed rows)")


# ------------------------------------------------------------------------------------ backbones
def check_backbone(cls: type) -> None:
    """Check that backbone plugin ``cls`` keeps the contract.

    ``build(in, out)`` gives a module mapping ``x: [N, in]`` to ``[N, out]`` whose
    ``layer(i, …)`` applied for ``i < num_layers`` equals ``forward`` in eval mode, whose every
    parameter gets a gradient, and whose initialisation follows ``torch.manual_seed``.

    Raises:
        ContractError: the first fault.
    """
    import torch

    config = _check_config(cls)
    if not callable(getattr(cls, "build", None)):
        _fail(cls, "", "lacks the method build(in_channels, out_channels)")
    dataset = tiny_dataset()
    g = dataset.graph
    torch.manual_seed(0)
    model = cls(config).build(dataset.num_features, 3)
    torch.manual_seed(0)
    twin = cls(config).build(dataset.num_features, 3)
    if any(not torch.equal(a, b) for a, b in zip(model.state_dict().values(), twin.state_dict().values())):
        _fail(cls, "", "two builds after torch.manual_seed(0) differ: initialise from torch's generator")
    model.train()
    out = model(g.x, g.edge_index)
    if tuple(out.shape) != (g.num_nodes, 3):
        _fail(cls, "", f"forward(x: [{g.num_nodes}, {dataset.num_features}]) gave {tuple(out.shape)}; "
                       f"expected ({g.num_nodes}, 3)")
    out.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    if missing:
        _fail(cls, "", f"parameters without a gradient after backward(): {missing}")
    if hasattr(model, "layer") and hasattr(model, "num_layers"):
        model.eval()
        with torch.no_grad():
            h = g.x
            for i in range(model.num_layers):
                h = model.layer(i, h, g.edge_index)
            full = model(g.x, g.edge_index)
        if not torch.allclose(h, full, atol=1e-5):
            _fail(cls, "", "applying layer(i) for every i differs from forward() in eval mode")


# ------------------------------------------------------------------------------------ datasets
def check_dataset(cls: type, root: Path | str | None = None, cache_dir: Path | str | None = None,
                  config: dict | None = None) -> None:
    """Check that dataset plugin ``cls`` keeps the contract.

    ``info()`` answers without files; a dataset with a ``check(root)`` refuses a missing root with
    a :class:`~gnnbench.errors.DatasetMissingError`; loaded (when it needs no files, or ``root``
    holds them), its graph, labels and splits have the documented shapes and agree with its info.

    Raises:
        ContractError: the first fault.
    """
    import torch

    from .errors import DatasetMissingError

    _check_config(cls)
    plugin = cls(cls.Config(**(config or {})))
    info = plugin.info()
    if info.task not in set(Task) or info.metric not in ("acc", "micro_f1", "hits@50"):
        _fail(cls, "", f"info() gave task {info.task!r} and metric {info.metric!r}")
    check = getattr(plugin, "check", None)
    if callable(check):
        with tempfile.TemporaryDirectory(prefix="gnnbench-empty-root-") as empty:
            try:
                check(Path(empty))
            except DatasetMissingError:
                pass
            else:
                _fail(cls, "", "check(root) accepted an empty data root; raise DatasetMissingError naming the files")
        if root is None:
            return  # nothing more can be checked without its files
    if cache_dir is None:
        with tempfile.TemporaryDirectory(prefix="gnnbench-cache-") as cache:  # removed afterwards
            return _check_loaded(cls, plugin, info, root, Path(cache))
    return _check_loaded(cls, plugin, info, root, Path(cache_dir))


def _check_loaded(cls, plugin, info, root, cache: Path) -> None:
    import torch

    ds = plugin.load(Path(root) if root else None, cache)
    g = ds.graph
    n = int(g.num_nodes)
    if info.num_nodes is not None and info.task != Task.NODE_INDUCTIVE and info.num_nodes != n:
        _fail(cls, "", f"info().num_nodes = {info.num_nodes} but the loaded graph has {n} nodes")
    if g.x is None or g.x.dim() != 2 or g.x.size(0) != n or g.x.dtype != torch.float32:
        _fail(cls, "", f"graph.x must be float32 [{n}, num_features], got "
                       f"{None if g.x is None else (tuple(g.x.shape), g.x.dtype)}")
    ei = g.edge_index
    if ei.dim() != 2 or ei.size(0) != 2 or ei.dtype != torch.long or (ei.numel() and int(ei.max()) >= n):
        _fail(cls, "", f"graph.edge_index must be int64 [2, E] with node ids below {n}")
    if info.task == Task.LINK:
        for s in ("train", "valid", "test"):
            if s not in ds.edge_split or ds.edge_split[s]["edge"].size(-1) != 2:
                _fail(cls, "", f"edge_split['{s}']['edge'] must be [P, 2]")
        return
    for s in ("train", "valid", "test"):
        idx = ds.split.get(s)
        graph = ds.graph_for(s)
        if idx is None or idx.dtype != torch.long or idx.dim() != 1 or not len(idx):
            _fail(cls, "", f"split['{s}'] must be a non-empty int64 [n] index tensor")
        if int(idx.max()) >= graph.num_nodes:
            _fail(cls, "", f"split['{s}'] indexes beyond the {graph.num_nodes} nodes of graph_for('{s}')")
    if info.task == Task.NODE_TRANSDUCTIVE:
        seen = torch.cat([ds.split[s] for s in ("train", "valid", "test")])
        if seen.unique().numel() != seen.numel():
            _fail(cls, "", "the train, valid and test splits overlap")


# ------------------------------------------------------------------------------------ a fake method
class FakeMethod:
    """A method of known costs, for testing the runner and this kit.

    Each epoch yields ``num_batches`` batches of the whole graph; producing one sleeps
    ``sample_s`` seconds (sampling), a step sleeps ``compute_s`` seconds (compute).  With
    ``misreport``, each batch claims one node whatever its data holds.  Predictions are a linear
    model of the features.
    """

    description: ClassVar[str] = "fake method of known costs (gnnbench.testing)"
    supported_backbones: ClassVar[frozenset[str] | None] = None
    supported_tasks: ClassVar[frozenset[Task]] = frozenset({Task.NODE_TRANSDUCTIVE})

    class Config(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")
        num_batches: int = Field(3, ge=1)
        sample_s: float = Field(0.0, ge=0)
        compute_s: float = Field(0.0, ge=0)
        misreport: bool = False

    def __init__(self, config, backbone, train, budget):
        self.config = config

    def setup(self, dataset, device) -> None:
        import torch

        self.dataset = dataset
        self.model = torch.nn.Linear(dataset.num_features, dataset.num_outputs).to(device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01)

    def batches(self, epoch: int):
        g = self.dataset.graph
        for _ in range(self.config.num_batches):
            time.sleep(self.config.sample_s)
            yield Batch(data=g, num_nodes=1 if self.config.misreport else int(g.num_nodes),
                        num_messages=int(g.edge_index.size(1)))

    def train_step(self, batch: Batch) -> float:
        import torch.nn.functional as F

        time.sleep(self.config.compute_s)
        idx = self.dataset.split["train"]
        self.optimizer.zero_grad()
        loss = F.cross_entropy(self.model(batch.data.x[idx]), batch.data.y[idx])
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def predict(self, splits: Sequence[str]) -> dict[str, Prediction]:
        import torch

        with torch.no_grad():
            out = self.model(self.dataset.graph.x)
        return {s: Prediction(scores=out[self.dataset.split[s]]) for s in splits}
