import pytest

from gnnbench.config import BudgetConfig
from gnnbench.training import budget_target, solve_budget


def measure(p):
    return 10.0 * p, 35.0 * p  # nodes, messages per batch


def test_solver_meets_node_and_message_budgets():
    assert solve_budget(measure, BudgetConfig(nodes_per_batch=95), 1, 1000) == 9
    assert solve_budget(measure, BudgetConfig(messages_per_batch=700), 1, 1000) == 20
    assert solve_budget(measure, BudgetConfig(nodes_per_batch=10 ** 9), 1, 50) == 50  # capped


def test_a_budget_below_the_smallest_batch_is_refused():
    from gnnbench.errors import BudgetError

    with pytest.raises(BudgetError, match=r"the smallest batch, 2 seed\(s\), has 20 nodes on average; "
                                          r"budget.nodes_per_batch=3 cannot be met"):
        solve_budget(measure, BudgetConfig(nodes_per_batch=3), 2, 50, "seed(s)")


def test_solver_without_budget_keeps_configured_value():
    assert solve_budget(measure, BudgetConfig(), 1, 10) is None
    assert budget_target(BudgetConfig(messages_per_batch=5)) == ("messages", 5)


def test_solver_rejects_empty_range():
    with pytest.raises(ValueError, match=r"\[5, 2\]"):
        solve_budget(measure, BudgetConfig(nodes_per_batch=3), 5, 2)


@pytest.mark.parametrize("name,cls", [("adam", "Adam"), ("rmsprop", "RMSprop"), ("adamw", "AdamW")])
def test_optimizer_from_the_train_config(name, cls):
    import torch

    from gnnbench.config import TrainConfig
    from gnnbench.training import build_optimizer

    opt = build_optimizer(torch.nn.Linear(3, 2).parameters(), TrainConfig(optimizer=name, lr=0.003, weight_decay=0.1))
    assert type(opt).__name__ == cls
    assert opt.param_groups[0]["lr"] == 0.003 and opt.param_groups[0]["weight_decay"] == 0.1


def test_pilot_sizes_average_the_pilot_batches():
    from gnnbench.training import pilot_sizes

    sizes = iter([(10, 30), (20, 60), (30, 90)])
    assert pilot_sizes(lambda: next(sizes)) == pytest.approx((20.0, 60.0))


def test_predict_splits_embeds_each_distinct_graph_once(synthetic):
    import torch

    from gnnbench.training import predict_splits

    ds = synthetic(num_nodes=50)
    calls = []

    def embed(graph):
        calls.append(graph)
        return torch.arange(graph.num_nodes, dtype=torch.float).unsqueeze(1)

    out = predict_splits(ds, ["valid", "test"], embed, torch.device("cpu"))
    assert len(calls) == 1
    assert torch.equal(out["test"].scores.view(-1).long(), ds.split["test"])
