import pytest

from gnnbench.config import BudgetConfig
from gnnbench.training import budget_target, solve_budget


def measure(p):
    return 10.0 * p, 35.0 * p  # nodes, messages per batch


def test_solver_meets_node_and_message_budgets():
    assert solve_budget(measure, BudgetConfig(nodes_per_batch=95), 1, 1000) == 9
    assert solve_budget(measure, BudgetConfig(messages_per_batch=700), 1, 1000) == 20
    assert solve_budget(measure, BudgetConfig(nodes_per_batch=10 ** 9), 1, 50) == 50  # capped
    assert solve_budget(measure, BudgetConfig(nodes_per_batch=3), 2, 50) == 2  # smallest batch


def test_solver_without_budget_keeps_configured_value():
    assert solve_budget(measure, BudgetConfig(), 1, 10) is None
    assert budget_target(BudgetConfig(messages_per_batch=5)) == ("messages", 5)


def test_solver_rejects_empty_range():
    with pytest.raises(ValueError, match=r"\[5, 2\]"):
        solve_budget(measure, BudgetConfig(nodes_per_batch=3), 5, 2)
