"""Plugin registry, configuration parsing and trial planning (no data is loaded)."""
from __future__ import annotations

import pytest

from gnnbench import registry
from gnnbench.config import TrialConfig, apply_sets, config_hash, parse_set
from gnnbench.errors import ConfigError, UnknownNameError, UnsupportedError, closest
from gnnbench.runner import plan
from gnnbench.types import Task

BUILTIN = {
    "methods": {"full_graph", "ns_sage", "cluster_gcn", "graphsaint_rw", "vqgnn", "lowbit"},
    "backbones": {"gcn", "sage", "gat"},
    "datasets": {"cora", "citeseer", "facebook", "ogbn-arxiv", "ogbl-collab", "reddit", "ppi", "synthetic"},
}


@pytest.mark.parametrize("kind", list(BUILTIN))
def test_builtins_are_registered_by_entry_point(kind):
    assert BUILTIN[kind] <= set(registry.names(kind))


@pytest.mark.parametrize("kind, name", [(k, n) for k, ns in BUILTIN.items() for n in sorted(ns)])
def test_every_builtin_loads_and_has_a_description(kind, name):
    cls = registry.load(kind, name)
    assert cls.description.strip() and "\n" not in cls.description
    cls.Config()  # every option has a default


def test_dataset_info_needs_no_files():
    for name in BUILTIN["datasets"]:
        cls = registry.load("datasets", name)
        info = cls(cls.Config()).info()
        assert info.task in set(Task) and info.metric in ("acc", "micro_f1", "hits@50")


def test_unknown_name_names_closest_and_choices():
    with pytest.raises(UnknownNameError) as exc:
        registry.load("methods", "vq-gnn")
    msg = str(exc.value)
    assert "unknown method 'vq-gnn'; did you mean 'vqgnn'?" in msg and "full_graph" in msg
    assert closest("GraphSaint-RW", BUILTIN["methods"]) == "graphsaint_rw"
    assert closest("zzzz", BUILTIN["methods"]) is None


def test_set_parsing_and_aliases():
    assert parse_set("method.num_codewords=256") == (["method_config", "num_codewords"], 256)
    assert parse_set("train.lr=5e-3") == (["train", "lr"], 0.005)
    assert parse_set("dataset.preset=arxiv") == (["dataset_config", "preset"], "arxiv")
    assert parse_set("backbone.fanouts=[10, 5]")[1] == [10, 5]
    assert apply_sets({"train": {"epochs": 3}}, ["train.lr=0.1"]) == {"train": {"epochs": 3, "lr": 0.1}}
    with pytest.raises(ConfigError, match="key=value"):
        parse_set("=3")
    with pytest.raises(ConfigError, match="is a value, not a section"):
        apply_sets({"train": 3}, ["train.lr=1"])


def test_plan_fills_defaults_and_hash_ignores_seed():
    a = plan(TrialConfig(method="full_graph", backbone="gat", seed=0))
    b = plan(TrialConfig(method="full_graph", backbone="gat", seed=5))
    c = plan(TrialConfig(method="full_graph", backbone="gat", backbone_config={"heads": 4}))
    assert a.config.backbone_config["heads"] == 8 and a.config.dataset_config["num_nodes"] == 2000
    assert a.config_hash == b.config_hash != c.config_hash
    # an explicit default hashes like the implicit one
    d = plan(TrialConfig(method="full_graph", backbone="gat", backbone_config={"heads": 8}))
    assert a.device == "cpu" and d.config_hash == a.config_hash == config_hash(a.config, "cpu") != config_hash(a.config, "cuda")


def test_plan_refuses_bad_plugin_options():
    with pytest.raises(ConfigError, match=r"backbone_config for 'gcn'.*num_layers = 0"):
        plan(TrialConfig(method="full_graph", backbone="gcn", backbone_config={"num_layers": 0}))
    with pytest.raises(ConfigError, match="unknown key 'fanout'"):
        plan(TrialConfig(method="full_graph", backbone="gcn", method_config={"fanout": 3}))


def test_unsupported_task_fails_before_loading(monkeypatch):
    from gnnbench.methods.full_graph import FullGraph

    monkeypatch.setattr(FullGraph, "supported_tasks", frozenset({Task.NODE_TRANSDUCTIVE}))
    with pytest.raises(UnsupportedError, match=r"task of dataset 'synthetic' \(link\)"):
        plan(TrialConfig(method="full_graph", backbone="gcn", dataset_config={"task": "link"}))
    monkeypatch.setattr(FullGraph, "supported_backbones", frozenset({"sage"}))
    monkeypatch.setattr(FullGraph, "unsupported_reasons", {"gcn": "because"}, raising=False)
    with pytest.raises(UnsupportedError, match="does not support backbone 'gcn': because; supported backbones: sage"):
        plan(TrialConfig(method="full_graph", backbone="gcn"))
