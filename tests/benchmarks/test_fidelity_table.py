"""benchmarks/fidelity_table.py pairs each VQ-GNN group with its full-graph reference."""

import pytest


@pytest.fixture(scope="module")
def fidelity(load_benchmark):
    return load_benchmark("fidelity_table")


def _trial(method, seed, acc, epochs=200, dataset="cora", preset=None, status="completed", eval_every=1,
           **method_config):
    extra = {"codeword_message_fraction": 0.5, "vq_relative_error": [0.1, 0.3]} if method == "vqgnn" else {}
    return {"method": method, "backbone": "gcn", "dataset": dataset, "seed": seed, "status": status,
            "test_metric": acc, "extra": extra,
            "config": {"train": {"epochs": epochs, "eval_every": eval_every}, "backbone_config": {"num_layers": 2},
                       "dataset_config": {"preset": preset} if preset else {}, "method_config": method_config}}


def test_pairs_by_dataset_backbone_and_epochs_and_groups_by_whitening(fidelity):
    trials = [_trial("full_graph", s, a) for s, a in ((0, 0.82), (1, 0.80), (2, 0.81))]
    trials += [_trial("full_graph", 0, 0.50, epochs=100)]  # another epoch count: not the reference
    trials += [_trial("full_graph", 1, 0.10, status="failed")]
    trials += [_trial("vqgnn", s, a, batching="random", whitening=True) for s, a in ((0, 0.81), (1, 0.80), (2, 0.79))]
    trials += [_trial("vqgnn", s, 0.75, batching="random", whitening=False) for s in (0, 1)]
    trials += [_trial("vqgnn", 0, 0.7, dataset="synthetic", preset="arxiv-hard", batching="random")]
    rows = {(r["dataset"], r["whitening"]): r for r in fidelity.rows_of_table(trials)}
    on = rows[("cora", True)]
    assert on["full_graph"] == pytest.approx(0.81) and on["full_graph_seeds"] == 3
    assert on["vqgnn"] == pytest.approx(0.80) and on["diff_points"] == pytest.approx(-1.0)
    assert on["within_margin"] and on["vqgnn_per_seed"] == [0.81, 0.80, 0.79]
    assert on["vq_relative_error"] == [0.1, 0.3] and on["codeword_message_fraction"] == 0.5
    off = rows[("cora", False)]
    assert off["diff_points"] == pytest.approx(-6.0) and off["within_margin"] is False
    hard = rows[("synthetic:arxiv-hard", True)]  # whitening's default is on
    assert hard["full_graph"] is None and hard["within_margin"] is None
    assert "| synthetic:arxiv-hard | gcn | 200 (1) | random | True | stored | — |" in fidelity.markdown(
        list(rows.values()), 1.0)


def test_pairs_by_validation_interval_and_groups_by_inference_assignments(fidelity):
    trials = [_trial("full_graph", s, 0.80) for s in (0, 1)]
    trials += [_trial("full_graph", s, 0.70, eval_every=5) for s in (0, 1)]
    trials += [_trial("vqgnn", s, 0.78, eval_every=5, batching="random", infer_assign="nearest") for s in (0, 1)]
    trials += [_trial("vqgnn", s, 0.72, eval_every=5, batching="random", infer_assign="stored") for s in (0, 1)]
    trials += [_trial("vqgnn", s, 0.79, batching="random") for s in (0, 1)]  # before the option: stored
    rows = {(r["eval_every"], r["infer_assign"]): r for r in fidelity.rows_of_table(trials)}
    assert set(rows) == {(5, "nearest"), (5, "stored"), (1, "stored")}
    assert rows[(5, "nearest")]["full_graph"] == pytest.approx(0.70)  # its own protocol's reference
    assert rows[(5, "nearest")]["diff_points"] == pytest.approx(8.0)
    assert rows[(5, "stored")]["diff_points"] == pytest.approx(2.0)
    assert rows[(1, "stored")]["full_graph"] == pytest.approx(0.80)
    assert "| cora | gcn | 200 (5) | random | True | nearest | 0.7000 | 0.7800 | +8.00 | yes |" in fidelity.markdown(
        list(rows.values()), 1.0)
