"""The budget solver: the largest batch parameter whose batches stay within a per-batch budget."""
from __future__ import annotations

import math
from typing import Callable

__all__ = ["solve_budget", "budget_target"]


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
    parameter ``p`` (e.g. NS-SAGE's seeds per batch, Cluster-GCN's parts per batch,
    GraphSAINT's roots); it is assumed non-decreasing in ``p``.  Bisection: ``O(log(hi - lo))``
    calls.

    Args:
        measure: the pilot measurement.
        budget: a :class:`~gnnbench.config.BudgetConfig` (or anything with ``nodes_per_batch`` /
            ``messages_per_batch``).
        lo, hi: the parameter's range, ``1 ≤ lo ≤ hi``.
        what: the parameter's name in the message (``"seed nodes"``, ``"parts"``, ``"roots"``).

    Returns:
        The parameter, or ``None`` when the budget sets neither figure (keep the configured value).

    Raises:
        ValueError: ``lo < 1`` or ``lo > hi``.
        BudgetError: even ``lo`` exceeds the budget: a method cannot meet it, and a comparison at
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
        from gnnbench.errors import BudgetError

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
