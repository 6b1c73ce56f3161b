"""The report's tables from a store with known numbers: exact cells (settings, spread, significance)."""
from __future__ import annotations

import math

import pytest
from gnnbench.reports.aggregate import Filters, aggregate, load_trials
from gnnbench.reports.tables import format_metric, memory_table, performance_table, time_table

MIB = 2**20


def _hash(**train) -> str:
    from gnnbench.config import TrialConfig, config_hash

    return config_hash(TrialConfig(method="cluster_gcn", backbone="gcn", dataset="cora", train=train))


@pytest.fixture
def agg(fixture_store):
    return aggregate(load_trials(fixture_store, Filters()))


def _texts(table):
    return [[c.text for c in row] for row in table.rows]


def _column(table, header):
    i = table.header.index(header)
    return {(r[0].text, r[1].text): r[i].text for r in table.rows}


def _welch_p(a, b):
    """Welch's two-sided p from its definition (Welch–Satterthwaite degrees of freedom), not ttest_ind."""
    from scipy.stats import t

    ma, mb = sum(a) / len(a), sum(b) / len(b)
    va = sum((x - ma) ** 2 for x in a) / (len(a) - 1) / len(a)
    vb = sum((x - mb) ** 2 for x in b) / (len(b) - 1) / len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return 2 * t.sf(abs(ma - mb) / math.sqrt(va + vb), df)


def test_performance_table_cells(agg):
    table = performance_table(agg, "cora")
    assert table.header == ["method", "backbone", "epochs", "batch", "settings", "test acc (%)", "Δ vs full_graph",
                            "val acc (%)"]
    rows = {k: v for k, v in _column(table, "test acc (%)").items()}
    # the two cluster_gcn configurations are told apart by the setting that differs, not averaged
    assert rows == {
        ("full_graph", "gcn"): "82.00 ± 2.00 (n=3)", ("full_graph", "sage"): "81.00 ± 0.00 (n=3)",
        ("cluster_gcn · epochs=10", "gcn"): "75.00 (n=1)", ("cluster_gcn · epochs=20", "gcn"): "79.00 (n=1)",
        ("ns_sage", "gcn"): "79.00 ± 1.41 (n=2; 1 OOM)", ("ns_sage", "sage"): "84.00 ± 1.00 (n=3)",
        ("vqgnn", "gcn"): "OOM (3/3)", ("vqgnn", "sage"): "failed"}
    assert [r[0].text for r in table.rows][:2] == ["full_graph", "full_graph"]  # the baseline first
    best = {(row[0].text, row[1].text) for row in table.rows for c in row if c.best}
    assert best == {("full_graph", "gcn"), ("ns_sage", "sage")}
    kinds = {c.text: c.kind for row in table.rows for c in row}
    assert kinds["OOM (3/3)"] == "oom" and kinds["failed"] == "failed"
    # every row says what it ran: epochs and batch columns
    assert _column(table, "epochs")[("cluster_gcn · epochs=20", "gcn")] == "20"
    assert _column(table, "epochs")[("full_graph", "gcn")] == "10"
    assert set(_column(table, "batch").values()) >= {"full graph", "method default"}


def test_significance_marks(agg):
    table = performance_table(agg, "cora")
    diff = _column(table, "Δ vs full_graph")
    p_gcn = _welch_p([0.78, 0.80], [0.80, 0.82, 0.84])  # ≈ 0.15: not significant
    p_sage = _welch_p([0.83, 0.85, 0.84], [0.81, 0.81, 0.81])  # ≈ 0.035: significant
    assert 0.05 < p_gcn < 0.5 and p_sage < 0.05
    assert diff[("ns_sage", "gcn")] == f"−3.00 pp (p={p_gcn:.2g}, n.s.)"
    assert diff[("ns_sage", "sage")] == f"+3.00 pp (p={p_sage:.2g})"
    assert diff[("full_graph", "gcn")] == "baseline"
    assert diff[("cluster_gcn · epochs=10", "gcn")] == "−7.00 pp (untested)"
    assert diff[("vqgnn", "gcn")] == "—"
    kinds = {(r[0].text, r[1].text): r[table.header.index("Δ vs full_graph")].kind for r in table.rows}
    assert kinds[("ns_sage", "gcn")] == "ns" and kinds[("ns_sage", "sage")] == "value"
    frame = table.frame.set_index(["variant", "backbone"])
    assert frame.loc[("ns_sage", "gcn"), "p_value"] == pytest.approx(p_gcn, rel=1e-6)
    assert not frame.loc[("ns_sage", "gcn"), "significant"] and frame.loc[("ns_sage", "sage"), "significant"]
    assert frame.loc[("ns_sage", "gcn"), "diff_vs_baseline"] == pytest.approx(-0.03)


def test_settings_column_and_shared_line(db_url, trial_adder):
    from gnnbench.store import Store

    store = Store(db_url)
    for seed in range(2):
        trial_adder(store, "full_graph", "gcn", "cora", seed, test=0.8, epochs=50,
                    backbone_config={"hidden_channels": 16})
        trial_adder(store, "ns_sage", "sage", "cora", seed, test=0.8, epochs=20,
                    method_config={"batch_size": 256, "fanouts": [10, 5]}, backbone_config={"hidden_channels": 32})
        trial_adder(store, "vqgnn", "gcn", "cora", seed, test=0.8, epochs=50, budget={"messages_per_batch": 5000},
                    method_config={"num_codewords": 64, "city": "Zürich"}, backbone_config={"hidden_channels": 16})
    agg = aggregate(load_trials(store, Filters()))
    for table in (performance_table(agg, "cora"), time_table(agg, "cora"), memory_table(agg, "cora")):
        assert _column(table, "epochs") == {("full_graph", "gcn"): "50", ("ns_sage", "sage"): "20",
                                            ("vqgnn", "gcn"): "50"}
        assert _column(table, "batch") == {("full_graph", "gcn"): "full graph", ("ns_sage", "sage"): "batch_size=256",
                                           ("vqgnn", "gcn"): "messages/batch=5000"}
        shared = dict(table.settings)  # stated once above the table
        assert shared["lr"] == "0.01" and shared["weight_decay"] == "0.0005"
        assert "backbone.hidden_channels" not in shared and "epochs" not in shared
    settings = _column(performance_table(agg, "cora"), "settings")
    assert settings == {("full_graph", "gcn"): "backbone.hidden_channels=16",
                        ("ns_sage", "sage"): "method.batch_size=256 · method.fanouts=[10,5] · backbone.hidden_channels=32",
                        ("vqgnn", "gcn"): "budget.messages_per_batch=5000 · method.num_codewords=64 · "
                                          "method.city=Zürich · backbone.hidden_channels=16"}
    csv = performance_table(agg, "cora").csv_frame()
    assert {"settings", "epochs", "batch", "setting.lr", "test_mean", "p_value"} <= set(csv.columns)


def test_settings_of_a_configuration():
    from gnnbench.reports.settings import batch_setting, settings_of

    config = {"method": "vqgnn", "device": "auto", "train": {"epochs": 5, "lr": 0.01},
              "budget": {"nodes_per_batch": None, "messages_per_batch": 1500000},
              "method_config": {"num_codewords": 256}, "backbone_config": {"hidden_channels": 128}}
    assert settings_of(config, "cuda") == {"epochs": "5", "lr": "0.01", "budget.messages_per_batch": "1500000",
                                           "method.num_codewords": "256", "backbone.hidden_channels": "128",
                                           "device": "cuda"}
    assert "device" not in settings_of(config, float("nan"))  # not run yet: the device is not known
    assert batch_setting(config) == "messages/batch=1500000"
    assert batch_setting({"method": "ns_sage", "method_config": {"batch_size": 512}}) == "batch_size=512"
    assert batch_setting({"method": "full_graph", "method_config": {}}) == "full graph"


def test_rows_without_backbone(fixture_store):
    """Methods that need no backbone (``TrialConfig.backbone = None``: sgc, sign) show ``no backbone``."""
    trials = load_trials(fixture_store, Filters(dataset=["citeseer"]))
    trials.loc[:, "backbone"] = None
    agg = aggregate(trials)
    assert list(agg["backbone"]) == ["no backbone"]
    table = performance_table(agg, "citeseer")
    assert _texts(table)[0][:2] == ["full_graph", "no backbone"]


def test_variants_fall_back_to_hashes(db_url, trial_adder):
    from gnnbench.store import Store

    store = Store(db_url)
    long_a, long_b = {"epochs": 10, "lr": 0.005, "weight_decay": 0.001}, {"epochs": 20, "lr": 0.01, "weight_decay": 0}
    trial_adder(store, "cluster_gcn", "gcn", "cora", 0, test=0.7, train=long_a)
    trial_adder(store, "cluster_gcn", "gcn", "cora", 0, test=0.8, train=long_b)
    table = performance_table(aggregate(load_trials(store, Filters())), "cora")
    ha, hb = _hash(**long_a)[:7], _hash(**long_b)[:7]
    assert sorted(r[:2] + [r[5]] for r in _texts(table)) == sorted([[f"cluster_gcn · {ha}", "gcn", "70.00 (n=1)"],
                                                                   [f"cluster_gcn · {hb}", "gcn", "80.00 (n=1)"]])
    # the note spells out how the hashed configurations differ
    assert any(f"cluster_gcn · {ha}: train.epochs=10, train.lr=0.005, train.weight_decay=0.001" in n
               for n in table.notes)
    assert _column(table, "settings")[(f"cluster_gcn · {ha}", "gcn")] == "lr=0.005 · weight_decay=0.001"


def test_performance_frame_numbers(agg):
    frame = performance_table(agg, "cora").frame.set_index(["variant", "backbone"])
    assert frame.loc[("ns_sage", "gcn"), "test_mean"] == pytest.approx(0.79)
    assert frame.loc[("ns_sage", "gcn"), "test_std"] == pytest.approx(0.0141421356, rel=1e-6)
    assert frame.loc[("ns_sage", "gcn"), "seeds"] == "0 1"
    assert (frame.loc[("ns_sage", "gcn"), "n_oom"], frame.loc[("vqgnn", "gcn"), "n_oom"]) == (1, 3)
    assert bool(frame.loc[("ns_sage", "sage"), "best"]) and not bool(frame.loc[("full_graph", "sage"), "best"])


def test_single_seed_and_other_dataset(agg):
    assert [r[5] for r in _texts(performance_table(agg, "citeseer"))] == ["70.00 (n=1)"]


def test_time_table_median_iqr_and_ratios(agg):
    table = time_table(agg, "cora")
    assert table.header == ["method", "backbone", "epochs", "batch", "epoch (s)", "sampling / epoch (s)",
                            "compute / epoch (s)", "inference (s)", "preprocess (s)"]
    rows = {(r[0], r[1]): r[4:] for r in _texts(table)}
    assert rows[("full_graph", "gcn")] == ["0.2", "0", "0.2", "0.05", "0.01"]  # the baseline: no ratio to itself
    # ns_sage/gcn: epochs of 0.2 s and 0.4 s → median 0.3, quartiles 0.25 and 0.35; sampling 0.1 and 0.3 s per
    # epoch has no ratio: full_graph's sampling (0 s) is below the 1 ms worth dividing
    assert rows[("ns_sage", "gcn")] == ["0.3 [0.25–0.35] (1.50×)", "0.2 [0.15–0.25]", "0.1 (0.50×)",
                                        "0.05 (1.00×)", "0.01 (1.00×)"]
    assert rows[("vqgnn", "gcn")] == ["OOM"] * 5
    frame = table.frame.set_index(["variant", "backbone"])
    assert frame.loc[("ns_sage", "gcn"), "epoch_time_s_ratio"] == pytest.approx(1.5)
    assert frame.loc[("ns_sage", "gcn"), "epoch_time_s_q1"] == pytest.approx(0.25)
    assert frame.loc[("ns_sage", "gcn"), "epoch_sample_s_ratio"] is None
    assert table.nowrap


def test_ratio_threshold():
    from gnnbench.reports.stats import RATIO_MIN_BYTES, RATIO_MIN_S, ratio

    assert ratio(0.0637, 0.000121, RATIO_MIN_S) is None  # the "525.63×": noise over noise
    assert ratio(0.2, 0.1, RATIO_MIN_S) == pytest.approx(2.0)
    assert ratio(0.0009, 0.1, RATIO_MIN_S) is None
    assert ratio(512 * 2**10, 300 * MIB, RATIO_MIN_BYTES) is None and ratio(2 * MIB, MIB, RATIO_MIN_BYTES) == 2.0


def test_memory_table_falls_back_to_rss_with_a_note(agg):
    table = memory_table(agg, "cora")
    assert "peak RSS (MiB)" in table.header and "peak GPU (MiB)" not in table.header  # no GPU column on CPU
    rss = _column(table, "peak RSS (MiB)")
    assert rss[("full_graph", "gcn")] == "400.0" and rss[("ns_sage", "gcn")] == "200.0 (0.50×)"
    assert rss[("vqgnn", "gcn")] == "OOM"
    assert any("no trial in this table stored per-phase working memory" in n for n in table.notes)


def _with_phase_memory(store):
    """The store's trials with per-phase working memory (issue 15's fields): train = 10 × RSS/100 MiB."""
    trials = load_trials(store, Filters(dataset=["cora"]))
    rss = trials["peak_cpu_rss_bytes"]
    trials["load_cpu_bytes"] = rss * 0 + 30 * MIB
    trials["preprocess_cpu_bytes"] = rss * 0 + 2 * MIB
    trials["train_cpu_bytes"] = rss / 10
    trials["inference_cpu_bytes"] = rss / 20
    trials["memory_note"] = None
    return aggregate(trials)


def test_memory_table_uses_working_memory_per_phase(fixture_store):
    agg = _with_phase_memory(fixture_store)
    table = memory_table(agg, "cora")
    assert table.header[4:8] == ["load CPU (MiB)", "preprocess CPU (MiB)", "train CPU (MiB)", "inference CPU (MiB)"]
    assert "peak RSS (MiB)" not in table.header  # available, not the default
    train = _column(table, "train CPU (MiB)")
    assert train[("full_graph", "gcn")] == "40.0" and train[("ns_sage", "gcn")] == "20.0 (0.50×)"
    assert _column(table, "preprocess CPU (MiB)")[("full_graph", "gcn")] == "2.0"  # no ratio in other phases
    rss_table = memory_table(agg, "cora", memory="rss")
    assert _column(rss_table, "peak RSS (MiB)")[("full_graph", "gcn")] == "400.0"
    from gnnbench.reports.figures import memory_column

    assert memory_column(agg)[0] == "train_cpu_bytes" and memory_column(agg, "rss")[0] == "peak_cpu_rss_bytes"
    with pytest.raises(ValueError, match="expected one of working, rss"):
        memory_table(agg, "cora", memory="vms")


def test_batch_figures_parameters_and_facts(db_url, trial_adder):
    from gnnbench.store import Store

    store = Store(db_url)
    trial_adder(store, "full_graph", "gcn", "cora", 0, test=0.8, batch=(23063, 10, 2708, 10556))
    trial_adder(store, "vqgnn", "gcn", "cora", 0, test=0.8, batch=(30000, 30, 1024, 4000.5),
                extra={"codebook_bytes": 3 * MIB, "num_codewords": 256, "groups_per_layer": [1, 2]})
    table = memory_table(aggregate(load_trials(store, Filters())), "cora")
    rows = {r[0]: r[-5:] for r in _texts(table)}
    assert rows["full_graph"] == ["23,063", "2,708", "10,556", "1", "—"]
    assert rows["vqgnn"] == ["30,000", "1,024", "4,000", "3", "codebook_bytes=3 MiB · num_codewords=256"]
    csv = table.csv_frame().set_index("method")
    assert csv.loc["vqgnn", "extra.codebook_bytes"] == 3 * MIB and csv.loc["vqgnn", "method facts"].startswith("codebook")


def test_gpu_memory_shown_when_measured(db_url, trial_adder):
    from gnnbench.store import Store

    add_trial, store = trial_adder, Store(db_url)
    add_trial(store, "full_graph", "gcn", "cora", 0, test=0.8, gpu_mib=1024)
    add_trial(store, "vqgnn", "gcn", "cora", 0, test=0.8, gpu_mib=256)
    table = memory_table(aggregate(load_trials(store, Filters())), "cora")
    assert {k[0]: v for k, v in _column(table, "peak GPU (MiB)").items()} == {"full_graph": "1024.0",
                                                                              "vqgnn": "256.0"}


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
    assert {r[0].text: r[4].text for r in memory_table(agg, "synthetic").rows} == {
        "full_graph · num_nodes=500": "50.0", "full_graph · num_nodes=1000": "100.0",
        "full_graph · num_nodes=2000": "200.0"}
    fig, frame = scaling_figure(agg)
    assert fig is not None
    assert frame["num_nodes"].tolist() == [500, 1000, 2000]
    assert frame["epoch_time_s_median"].tolist() == pytest.approx([0.05, 0.1, 0.2])
    assert (frame["memory_bytes"] / 2**20).tolist() == pytest.approx([50, 100, 200])


def test_scaling_marks_oom(db_url, trial_adder):
    """The scaling figure draws OOM sizes (a × on the panel's top edge) next to the completed points."""
    from gnnbench.reports.figures import scaling_figure
    from gnnbench.store import Store

    store = Store(db_url)
    for n in (1000, 2000, 4000):
        for method in ("full_graph", "cluster_gcn", "sign"):
            status = "oom" if n == 4000 and method != "cluster_gcn" else "completed"
            trial_adder(store, method, "sage", "synthetic", 0, status, test=0.5, rss_mib=n / 10, compute_s=n / 1000,
                        inference_s=n / 1e4, dataset_config={"num_nodes": n}, num_nodes=n)
    trial_adder(store, "vqgnn", "sage", "synthetic", 0, "completed", test=0.5, rss_mib=300, compute_s=3,
                inference_s=0.5, dataset_config={"num_nodes": 1000}, num_nodes=1000)  # one size: a lone point
    fig, frame = scaling_figure(aggregate(load_trials(store, Filters())))
    assert [ax.get_ylabel() for ax in fig.axes[:3]] == ["peak CPU RSS (MiB; no working-memory figures stored)",
                                                         "epoch time (s, median)", "inference time (s, median)"]
    full = frame[frame["method"] == "full_graph"]
    assert full[["num_nodes", "status"]].values.tolist() == [[1000, "completed"], [2000, "completed"], [4000, "oom"]]
    markers = [line for line in fig.axes[0].lines if line.get_marker() == "x"]
    assert len(markers) == 2 and all(m.get_xdata().tolist() == [4000] for m in markers)
    assert sorted(float(m.get_ydata()[0]) for m in markers) == pytest.approx([0.94, 1.0])  # stacked, not hidden
    assert all(ax.get_yscale() == ax.get_xscale() == "log" for ax in fig.axes[:3])  # log-log
    lone = [line for line in fig.axes[0].lines if line.get_label() == "vqgnn / sage"]
    assert len(lone) == 1 and lone[0].get_xdata().tolist() == [1000] and lone[0].get_ydata().tolist() == [300]
    assert frame[frame["method"] == "vqgnn"]["num_nodes"].tolist() == [1000]
    assert "out of memory" in fig._suptitle.get_text()


def test_mean_curve_keeps_epochs_every_seed_reached():
    from gnnbench.reports.figures import mean_curve

    a = [{"epoch": e, "train_time_s": 1.0 * e, "val_metric": 0.5} for e in (1, 2, 3)]
    b = [{"epoch": e, "train_time_s": 3.0 * e, "val_metric": 0.7 if e < 2 else None} for e in (1, 2)]
    curve = mean_curve([a, b])
    assert curve["epoch"].tolist() == [1]
    assert curve["train_time_s"].tolist() == [2.0] and curve["val_metric"].tolist() == pytest.approx([0.6])
    assert curve["val_std"].tolist() == pytest.approx([math.sqrt(0.02)])  # the band: sample std over seeds


def test_metric_axis_holds_the_data_without_magnifying():
    from gnnbench.reports.figures import metric_limits

    assert metric_limits(79.5, 83.0) == (70.0, 90.0)  # the 79.5–83 axis
    assert metric_limits(12.0, 99.5) == (10.0, 100.0)
    assert metric_limits(95.0, 100.0) == (90.0, 100.0)


def test_only_failed_trials(db_url, trial_adder, tmp_path):
    from gnnbench.reports.report import build_report, write_report
    from gnnbench.store import Store

    store = Store(db_url)
    trial_adder(store, "vqgnn", "gat", "cora", 0, "oom")
    trial_adder(store, "vqgnn", "gat", "cora", 1, "failed")
    agg = aggregate(load_trials(store, Filters()))
    assert [r[5] for r in _texts(performance_table(agg, "cora"))] == ["OOM (1/2)"]
    assert _texts(time_table(agg, "cora"))[0][4:] == ["OOM"] * 5
    report = build_report(store, Filters(), tmp_path / "o")  # no figure to draw: notes instead, no error
    write_report(report, tmp_path / "o")
    text = (tmp_path / "o" / "report.md").read_text()
    assert "nothing to draw" in text and "scaling" not in text  # an empty section is left out


def test_non_ascii_settings_print_as_themselves():
    from gnnbench.reports.aggregate import config_differences

    diff = config_differences({"a": {"dataset_config": {"name": "Zürich"}}, "b": {"dataset_config": {"name": "Köln"}}})
    assert diff == {"a": 'dataset_config.name="Zürich"', "b": 'dataset_config.name="Köln"'}


def test_a_preset_shows_the_graph_it_built_not_the_defaults_it_overrode():
    from gnnbench.reports.settings import settings_of

    stored = {"dataset": "synthetic", "dataset_config": {"preset": "arxiv", "num_nodes": 2000, "num_edges": None,
                                                         "avg_degree": 10.0, "num_features": 32, "num_classes": 5}}
    shown = settings_of(stored)
    assert (shown["dataset.num_nodes"], shown["dataset.num_edges"]) == ("169343", "1166243")
    assert (shown["dataset.num_features"], shown["dataset.num_classes"]) == ("128", "40")
    assert "dataset.avg_degree" not in shown
    plain = settings_of({"dataset": "synthetic", "dataset_config": {"num_nodes": 2000, "avg_degree": 10.0}})
    assert (plain["dataset.num_nodes"], plain["dataset.avg_degree"]) == ("2000", "10.0")
