"""The training kit: what every method needs and that is no scaling strategy.

* :func:`build_model` / :func:`encoder_of`: the task's model from a backbone (a link predictor
  head for link prediction, :mod:`gnnbench.backbones.heads`).
* :func:`build_optimizer`: the optimiser the train config names (Adam, RMSprop, AdamW).
* :func:`optimise` and :func:`no_step`: one step, and **the rule for a batch without a training
  node** (node tasks) or without a positive edge (link prediction): *no optimiser step is taken*
  (no gradient, no weight decay, no moment update) and the step reports a loss of ``0.0``.
  Every batch method follows it; a method may still refresh state that is no parameter (VQ-GNN's
  codebooks) from such a batch.
* :func:`predict_splits`: the :class:`~gnnbench.types.Prediction` of each split from an
  embedding function (node scores or link scores).
* :func:`pilot_sizes`, :func:`solve_budget`, :func:`budget_target`: the per-batch budget rule
  (Ding et al. 2021, Table 3), measured on pilot batches.

Methods move nothing to the device in ``train_step``: the runner moves each batch
(``Batch.to(device)``).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from .types import GraphDataset, Prediction, Task

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import Tensor

__all__ = ["build_model", "encoder_of", "train_nodes", "build_optimizer", "optimise", "no_step", "NO_STEP_LOSS",
           "predict_splits", "pilot_sizes", "solve_budget", "budget_target", "PILOT_BATCHES"]

#: the loss a step reports for a batch without a training node (or positive edge): no step taken
NO_STEP_LOSS = 0.0
#: pilot batches drawn per candidate batch parameter by :func:`pilot_sizes`
PILOT_BATCHES = 3


def build_model(backbone, dataset: GraphDataset) -> "torch.nn.Module":
    """The model a method trains for ``dataset``'s task, built from ``backbone``.

    Node tasks: ``backbone.build(F, C)`` (logits); link prediction: a
    :class:`~gnnbench.backbones.heads.LinkModel` whose encoder outputs ``hidden_channels``
    embeddings, scored by a :class:`~gnnbench.backbones.heads.LinkPredictor`.
    """
    if dataset.info.task == Task.LINK:
        from gnnbench.backbones.heads import LinkModel, LinkPredictor

        width = int(getattr(backbone.config, "hidden_channels", 64))
        return LinkModel(backbone.build(dataset.num_features, width), LinkPredictor(width))
    return backbone.build(dataset.num_features, dataset.num_outputs)


def encoder_of(model: "torch.nn.Module") -> "torch.nn.Module":
    """The GNN stack inside ``model`` (the model itself for node tasks)."""
    from gnnbench.backbones.heads import LinkModel

    return model.encoder if isinstance(model, LinkModel) else model


def train_nodes(dataset: GraphDataset) -> tuple["Tensor", "Tensor"]:
    """``(idx [T], mask [N])`` of the nodes a batch method's loss covers, on the CPU: the
    training split for node tasks, every node of the training graph for link prediction."""
    import torch

    n = int(dataset.graph.num_nodes)
    idx = torch.arange(n) if dataset.info.task == Task.LINK else dataset.split["train"]
    mask = torch.zeros(n, dtype=torch.bool)
    mask[idx] = True
    return idx, mask


def build_optimizer(params, train) -> "torch.optim.Optimizer":
    """The optimiser of ``train.optimizer`` with ``train.lr`` and ``train.weight_decay``.

    ``"adam"`` (Kingma & Ba 2015, L2 penalty added to the gradient, as PyTorch's ``Adam``),
    ``"rmsprop"`` (PyTorch's defaults otherwise: α = 0.99, no momentum; the official VQ-GNN
    set-up) or ``"adamw"`` (Loshchilov & Hutter 2019, decoupled weight decay).

    Args:
        params: parameters, or parameter groups (dicts) that may set their own ``weight_decay``.
        train: a :class:`~gnnbench.config.TrainConfig`.

    Raises:
        ValueError: an unknown ``train.optimizer``.
    """
    import torch

    name = getattr(train, "optimizer", "adam")
    classes = {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop, "adamw": torch.optim.AdamW}
    if name not in classes:
        raise ValueError(f"unknown train.optimizer {name!r}; choices: {', '.join(classes)}")
    return classes[name](params, lr=train.lr, weight_decay=train.weight_decay)


def optimise(optimizer: "torch.optim.Optimizer", loss: "Tensor") -> float:
    """One step on ``loss`` (zero the gradients, back-propagate, step); the loss as a float."""
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def no_step() -> float:
    """The step of a batch without a training node or positive edge: none (see the module
    docstring); returns :data:`NO_STEP_LOSS`."""
    return NO_STEP_LOSS


def predict_splits(dataset: GraphDataset, splits: Sequence[str],
                   embed: Callable[[object], "Tensor"], device, predictor=None) -> dict[str, Prediction]:
    """Predictions for ``splits`` from node outputs, one ``embed`` call per distinct graph.

    Args:
        dataset: the loaded dataset (``graph_for(split)`` names each split's graph).
        splits: e.g. ``["valid", "test"]``.
        embed: ``graph → [N, D]`` node outputs on ``device`` (logits for node tasks, embeddings
            for link prediction), called without gradients; the caller sets eval mode.
        device: where the split indices go.
        predictor: the link predictor (link tasks).

    Returns:
        ``{split: Prediction}``: node tasks ``scores = h[split nodes]``; link tasks ``pos`` and
        ``neg`` scored by ``predictor`` (:func:`gnnbench.tasks.score_edges`).

    Raises:
        ValueError: a link task without ``predictor``.
    """
    import torch

    from .tasks import score_edges

    link = dataset.info.task == Task.LINK
    if link and predictor is None:
        raise ValueError("link prediction needs the model's predictor; pass predictor=model.predictor")
    out: dict[str, Prediction] = {}
    cache: dict[int, torch.Tensor] = {}
    with torch.no_grad():
        for split in splits:
            graph = dataset.graph_for(split)
            if id(graph) not in cache:
                cache[id(graph)] = embed(graph)
            h = cache[id(graph)]
            if link:
                edges = dataset.edge_split[split]
                out[split] = Prediction(pos=score_edges(predictor, h, edges["edge"].to(device)),
                                        neg=score_edges(predictor, h, edges["edge_neg"].to(device)))
            else:
                out[split] = Prediction(scores=h[dataset.split[split].to(device)])
    return out


def pilot_sizes(draw: Callable[[], tuple[int, int]], repeats: int = PILOT_BATCHES) -> tuple[float, float]:
    """Mean ``(nodes, messages)`` of ``repeats`` pilot batches, ``draw()`` returning one batch's.

    The measurement :func:`solve_budget` bisects over (``measure(p) = pilot_sizes(lambda:
    sizes of a batch drawn with parameter p)``).
    """
    sizes: Iterable[tuple[int, int]] = [draw() for _ in range(repeats)]
    nodes = msgs = 0.0
    for n, m in sizes:
        nodes += n / repeats
        msgs += m / repeats
    return nodes, msgs


def budget_target(budget) -> tuple[str, int] | None:
    """``("nodes", n)`` or ``("messages", m)`` from a :class:`~gnnbench.config.BudgetConfig`,
    ``None`` when no budget is set."""
    if budget is None:
        return None
    if getattr(budget, "nodes_per_batch", None) is not None:
        return "nodes", int(budget.nodes_per_batch)
    if getattr(budget, "messages_per_batch", None) is not None:
        return "messages", int(budget.messages_per_batch)
    return None


def solve_budget(measure: Callable[[int], tuple[float, float]], budget, lo: int, hi: int,
                 what: str = "batch parameter") -> int | None:
    """Largest integer parameter ``p`` in ``[lo, hi]`` whose measured mean batch size is within
    the budget (Ding et al. 2021, Table 3: every method gets the same nodes or messages per batch).

    ``measure(p)`` returns the mean ``(nodes, messages)`` per batch of pilot batches drawn with
    parameter ``p`` (:func:`pilot_sizes`; e.g. NS-SAGE's seeds per batch, Cluster-GCN's parts
    per batch, GraphSAINT's roots); it is assumed non-decreasing in ``p``.  Bisection:
    ``O(log(hi - lo))`` calls.

    Args:
        measure: the pilot measurement.
        budget: a :class:`~gnnbench.config.BudgetConfig` (or anything with ``nodes_per_batch`` /
            ``messages_per_batch``).
        lo, hi: the parameter's range, ``1 ≤ lo ≤ hi``.
        what: the parameter's name in the message (``"seed(s)"``, ``"part(s)"``, ``"root(s)"``).

    Returns:
        The parameter, or ``None`` when the budget sets neither figure (keep the configured value).

    Raises:
        ValueError: ``lo < 1`` or ``lo > hi``.
        BudgetError: even ``lo`` exceeds the budget: the method cannot meet it, and a comparison at
            that budget would not be fair (checked before any trial starts, see
            :mod:`gnnbench.preflight`).
    """
    if lo < 1 or lo > hi:
        raise ValueError(f"parameter range [{lo}, {hi}] must satisfy 1 <= lo <= hi")
    target = budget_target(budget)
    if target is None:
        return None
    which, limit = target
    k = 0 if which == "nodes" else 1

    def fits(p: int) -> bool:
        return measure(p)[k] <= limit

    smallest = measure(lo)[k]
    if smallest > limit:
        from .errors import BudgetError

        raise BudgetError(f"the smallest batch, {lo} {what}, has {smallest:.0f} {which} on average; "
                          f"budget.{which}_per_batch={limit} cannot be met; raise the budget to at least "
                          f"{math.ceil(smallest)} or drop it")
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo
