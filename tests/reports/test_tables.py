"""The report's tables from a store with known numbers: exact cells (mean ± std over seeds)."""
from __future__ import annotations

import pytest
from gnnbench.reports.aggregate import Filters, aggregate, load_trials
from gnnbench.reports.tables import format_metric, performance_table, resources_table


def _hash(**train) -> str:
    from gnnbench.config import TrialConfig, config_hash

    return config_hash(TrialConfig(method="cluster_gcn", backbone="gcn", dataset="cora", train=train))


@pytest.fixture
def agg(fixture_store):
    return aggregate(load_trials(fixture_store, Filters()))


def _texts(table):
    return [[c.text for c in row] for row in table.rows]


def test_performance_table_cells(agg):
    table = performance_table(agg, "cora")
    assert table.header == ["method", "gcn", "sage"]
    # the two cluster_gcn configurations are told apart by the setting that differs, not averaged
    assert _texts(table) == [
        ["full_graph", "82.00 ± 2.00 (n=3)", "81.00 ± 0.00 (n=3)"],
        ["cluster_gcn · epochs=10", "75.00 (n=1)", "—"],
        ["cluster_gcn · epochs=20", "79.00 (n=1)", "—"],
        ["ns_sage", "79.00 ± 1.41 (n=2; 1 OOM)", "84.00 ± 1.00 (n=3)"],
        ["vqgnn", "OOM (3/3)", "failed"],
    ]
    best = {(row[0].text, i) for row in table.rows for i, c in enumerate(row) if c.best}
    assert best == {("full_graph", 1), ("ns_sage", 2)}
    kinds = {c.text: c.kind for row in table.rows for c in row}
    assert kinds["OOM (3/3)"] == "oom" and kinds["failed"] == "failed" and kinds["—"] == "empty"


def test_variants_fall_back_to_hashes(db_url, trial_adder):
    from gnnbench.store import Store

    store = Store(db_url)
    long_a, long_b = {"epochs": 10, "lr": 0.005, "weight_decay": 0.001}, {"epochs": 20, "lr": 0.01, "weight_decay": 0}
    trial_adder(store, "cluster_gcn", "gcn", "cora", 0, test=0.7, train=long_a)
    trial_adder(store, "cluster_gcn", "gcn", "cora", 0, test=0.8, train=long_b)
    table = performance_table(aggregate(load_trials(store, Filters())), "cora")
    ha, hb = _hash(**long_a)[:7], _hash(**long_b)[:7]
    assert sorted(_texts(table)) == sorted([[f"cluster_gcn · {ha}", "70.00 (n=1)"],
                                            [f"cluster_gcn · {hb}", "80.00 (n=1)"]])
    # the note spells out how the hashed configurations differ
    assert any(f"cluster_gcn · {ha}: train.epochs=10, train.lr=0.005, train.weight_decay=0.001" in n
               for n in table.notes)


def test_performance_frame_numbers(agg):
    frame = performance_table(agg, "cora").frame.set_index(["variant", "backbone"])
    assert frame.loc[("ns_sage", "gcn"), "test_mean"] == pytest.approx(0.79)
    assert frame.loc[("ns_sage", "gcn"), "test_std"] == pytest.approx(0.0141421356, rel=1e-6)
    assert frame.loc[("ns_sage", "gcn"), "seeds"] == "0 1"
    assert (frame.loc[("ns_sage", "gcn"), "n_oom"], frame.loc[("vqgnn", "gcn"), "n_oom"]) == (1, 3)
    assert bool(frame.loc[("ns_sage", "sage"), "best"]) and not bool(frame.loc[("full_graph", "sage"), "best"])


def test_single_seed_and_other_dataset(agg):
    assert _texts(performance_table(agg, "citeseer")) == [["full_graph", "70.00 (n=1)"]]


def test_resources_table_ratios(agg):
    table = resources_table(agg, "cora")
    assert table.header == ["method", "backbone", "peak GPU (MiB)", "peak CPU RSS (MiB)", "sampling / epoch (s)",
                            "compute / epoch (s)", "epoch (s)", "inference (s)", "preprocess (s)"]
    rows = {(r[0], r[1]): r[2:] for r in _texts(table)}
    assert rows[("full_graph", "gcn")] == ["—", "400 (1.00×)", "0.0000", "0.2000 (1.00×)", "0.2000 (1.00×)",
                                           "0.0500 (1.00×)", "0.0100 (1.00×)"]
    # ns_sage/gcn: RSS (100 + 300) / 2 MiB; sampling (1 + 3) / 2 s over 10 epochs; compute 1 s over 10 epochs
    assert rows[("ns_sage", "gcn")] == ["—", "200 (0.50×)", "0.2000", "0.1000 (0.50×)", "0.3000 (1.50×)",
                                        "0.0500 (1.00×)", "0.0100 (1.00×)"]
    assert rows[("ns_sage", "sage")][1] == "250 (0.50×)"
    assert rows[("vqgnn", "gcn")] == ["OOM"] * 7
    frame = table.frame.set_index(["variant", "backbone"])
    assert frame.loc[("ns_sage", "gcn"), "epoch_time_s_ratio"] == pytest.approx(1.5)


def test_gpu_memory_shown_when_measured(db_url, trial_adder):
    from gnnbench.store import Store

    add_trial, store = trial_adder, Store(db_url)
    add_trial(store, "full_graph", "gcn", "cora", 0, test=0.8, gpu_mib=1024)
    add_trial(store, "vqgnn", "gcn", "cora", 0, test=0.8, gpu_mib=256)
    rows = {r[0].text: r[2].text for r in resources_table(aggregate(load_trials(store, Filters())), "cora").rows}
    assert rows == {"full_graph": "1024 (1.00×)", "vqgnn": "256 (0.25×)"}


def test_format_metric():
    assert format_metric(0.8234, 0.0123, 3) == "82.34 ± 1.23 (n=3)"
    assert format_metric(0.5, None, 1) == "50.00 (n=1)"
    assert format_metric(None, None, 0) == "—"


def test_filters_select_trials(fixture_store):
    agg = aggregate(load_trials(fixture_store, Filters(dataset=["cora"], method=["full_graph,ns_sage"])))
    assert set(agg["dataset"]) == {"cora"} and set(agg["method"]) == {"full_graph", "ns_sage"}
    agg = aggregate(load_trials(fixture_store, Filters(backbone=["sage"])))
    assert set(agg["backbone"]) == {"sage"}


def test_filters_reject_bad_input(fixture_store):
    from gnnbench.errors import ConfigError

    with pytest.raises(ConfigError, match="did you mean 'cora'"):
        load_trials(fixture_store, Filters(dataset=["coraa"]))
    with pytest.raises(ConfigError, match="not an ISO-8601 date"):
        Filters(since="yesterday")
    with pytest.raises(ConfigError, match="not before"):
        Filters(since="2026-11-22", until="2026-11-21")
    with pytest.raises(ConfigError, match="date range"):
        load_trials(fixture_store, Filters(until="2000-01-01"))


def test_scaling_points(agg):
    from gnnbench.reports.figures import scaling_figure

    assert [r[0].text for r in performance_table(agg, "synthetic").rows] == [
        "full_graph · num_nodes=500", "full_graph · num_nodes=1000", "full_graph · num_nodes=2000"]
    # each size is compared with full_graph on the same graph, not on another size
    assert {r[0].text: r[3].text for r in resources_table(agg, "synthetic").rows} == {
        "full_graph · num_nodes=500": "50 (1.00×)", "full_graph · num_nodes=1000": "100 (1.00×)",
        "full_graph · num_nodes=2000": "200 (1.00×)"}
    fig, frame = scaling_figure(agg)
    assert fig is not None
    assert frame["num_nodes"].tolist() == [500, 1000, 2000]
    assert frame["epoch_time_s"].tolist() == pytest.approx([0.05, 0.1, 0.2])
    assert (frame["peak_memory_bytes"] / 2**20).tolist() == pytest.approx([50, 100, 200])


def test_mean_curve_keeps_epochs_every_seed_reached():
    from gnnbench.reports.figures import mean_curve

    a = [{"epoch": e, "train_time_s": 1.0 * e, "val_metric": 0.5} for e in (1, 2, 3)]
    b = [{"epoch": e, "train_time_s": 3.0 * e, "val_metric": 0.7 if e < 2 else None} for e in (1, 2)]
    curve = mean_curve([a, b])
    assert curve["epoch"].tolist() == [1]
    assert curve["train_time_s"].tolist() == [2.0] and curve["val_metric"].tolist() == pytest.approx([0.6])


def test_only_failed_trials(db_url, trial_adder, tmp_path):
    from gnnbench.reports.report import build_report, write_report
    from gnnbench.store import Store

    store = Store(db_url)
    trial_adder(store, "vqgnn", "gat", "cora", 0, "oom")
    trial_adder(store, "vqgnn", "gat", "cora", 1, "failed")
    agg = aggregate(load_trials(store, Filters()))
    assert _texts(performance_table(agg, "cora")) == [["vqgnn", "OOM (1/2)"]]
    assert _texts(resources_table(agg, "cora"))[0][2:] == ["OOM"] * 7
    report = build_report(store, Filters(), tmp_path / "o")  # no figure to draw: notes instead, no error
    write_report(report, tmp_path / "o")
    assert "nothing to draw" in (tmp_path / "o" / "report.md").read_text()


def test_non_ascii_settings_print_as_themselves():
    from gnnbench.reports.aggregate import config_differences

    diff = config_differences({"a": {"dataset_config": {"name": "Zürich"}}, "b": {"dataset_config": {"name": "Köln"}}})
    assert diff == {"a": 'dataset_config.name="Zürich"', "b": 'dataset_config.name="Köln"'}
