"""benchmarks/bench_table3.py: its sweeps are valid and its table reads the stored trials right."""
import tomllib

import pytest


@pytest.fixture(scope="module")
def table3(load_benchmark):
    return load_benchmark("bench_table3")


@pytest.mark.parametrize("budget, lhop, count", [("nodes", False, 7), ("messages", False, 7), ("messages", True, 1)])
def test_sweeps_expand_to_the_table_cells(table3, budget, lhop, count):
    from gnnbench.sweep import expand

    plan = expand(tomllib.loads(table3.sweep_text(budget, 1, lhop)), default_name="t")
    assert len(plan.trials) == count  # ns_sage/gcn is skipped, as the paper's "—"
    assert [s.label for s in plan.skipped] == ([] if lhop else ["ns_sage/gcn/synthetic"])
    key, value = table3.BUDGETS[budget]
    for t in plan.trials:
        c = t.plan.config
        assert getattr(c.budget, key) == value and c.dataset_config["preset"] == "arxiv"
        assert c.backbone_config["num_layers"] == 3 and c.backbone_config["hidden_channels"] == 128
        assert (c.method_config.get("inference") == "lhop") == lhop


def _row(method, backbone, budget, value, **extra):
    key, size = {"nodes": ("nodes_per_batch", 85000), "messages": ("messages_per_batch", 1500000)}[budget]
    config = {"budget": {key: size}, "dataset_config": {"preset": "arxiv"},
              "method_config": {"inference": extra.pop("inference", "layerwise")}}
    return {"method": method, "backbone": backbone, "status": extra.pop("status", "completed"),
            "config": config, "train_cpu_bytes": value, **extra}


def test_memory_table_gives_mb_and_ratios_to_vqgnn(table3):
    mb = 2 ** 20
    rows = [_row("vqgnn", "sage", "messages", 500 * mb), _row("cluster_gcn", "sage", "messages", 750 * mb),
            _row("cluster_gcn", "sage", "messages", 999 * mb, status="oom"),
            _row("graphsaint_rw", "sage", "messages", 10 * mb, inference="lhop")]
    lines = table3.memory_table(rows, "train_cpu_bytes")
    cg = next(line for line in lines if line.startswith("messages  sage     cluster_gcn"))
    assert "completed" in cg and "750.0" in cg and "1.50" in cg  # the completed trial, 750 / 500
    assert "769.3" in cg and f"{769.3 / 508.5:5.2f}" in cg  # the paper's figure and ratio
    saint = next(line for line in lines if line.startswith("messages  sage     graphsaint_rw"))
    assert "missing" in saint  # the lhop trial is not the layer-wise cell
    gcn = next(line for line in lines if line.startswith("nodes     gcn      ns_sage"))
    assert "unsupported" in gcn


def test_a_backbone_subset_gives_the_same_trials_as_the_whole_column(table3):
    """``--backbones sage`` runs a subset whose trials are the whole column's (same configuration
    hashes), so a later full run re-uses them."""
    from gnnbench.sweep import expand

    def hashes(text):
        return {t.plan.config_hash for t in expand(tomllib.loads(text), default_name="t").trials}

    whole, sage = hashes(table3.sweep_text("messages", 1)), hashes(table3.sweep_text("messages", 1, backbones=("sage",)))
    assert len(sage) == 4 and sage < whole
