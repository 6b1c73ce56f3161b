"""The contract kit (gnnbench.testing) on every registered plugin, and on plugins that break it."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from gnnbench import registry
from gnnbench.testing import ContractError, FakeMethod, check_backbone, check_dataset, check_method

PLUGINS = Path(__file__).parent / "plugins"


@pytest.mark.parametrize("name", registry.names("methods"))
def test_every_registered_method_keeps_the_contract(name, tmp_path):
    check_method(registry.load("methods", name), tmp_path)


@pytest.mark.parametrize("name", registry.names("backbones"))
def test_every_registered_backbone_keeps_the_contract(name):
    check_backbone(registry.load("backbones", name))


@pytest.mark.parametrize("name", registry.names("datasets"))
def test_every_registered_dataset_keeps_the_contract(name, tmp_path):
    check_dataset(registry.load("datasets", name), cache_dir=tmp_path)


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_the_example_plugin_keeps_the_contract(tmp_path):
    example = _module(PLUGINS / "example_plugin" / "gnnbench_example" / "__init__.py", "gnnbench_example")
    check_method(example.ExampleMLP, tmp_path)


def test_the_broken_plugin_fails_with_a_clear_message():
    broken = _module(PLUGINS / "broken_plugin" / "gnnbench_broken.py", "gnnbench_broken")
    with pytest.raises(ContractError, match=r"gnnbench_broken\.NotAMethod: Config must be a pydantic BaseModel"):
        check_method(broken.NotAMethod)


def test_a_method_that_misreports_its_batch_sizes_fails(tmp_path):
    check_method(FakeMethod, tmp_path, backbones=["gcn"])  # honest: passes
    with pytest.raises(ContractError, match=r"FakeMethod \(task node_transductive, backbone gcn\): batch 1 of "
                                            r"epoch 1: Batch.num_nodes = 1 but its data holds 300 nodes"):
        check_method(FakeMethod, tmp_path, backbones=["gcn"], config={"misreport": True})


class _Unseeded(FakeMethod):
    def setup(self, dataset, device):
        import torch

        super().setup(dataset, device)
        gen = torch.Generator().manual_seed(int.from_bytes(__import__("os").urandom(4), "little"))
        with torch.no_grad():
            self.model.weight.copy_(torch.randn(self.model.weight.shape, generator=gen))


class _Shuffled(FakeMethod):
    def predict(self, splits):
        out = super().predict(splits)
        out["test"].scores = out["test"].scores.sort(dim=0).values  # rows no longer follow the split
        return out


@pytest.mark.parametrize("cls, needle", [(_Unseeded, "two trainings with seed 0 predict differently"),
                                         (_Shuffled, "not in the order of dataset.split['test']")])
def test_unseeded_or_reordered_predictions_fail(cls, needle, tmp_path):
    with pytest.raises(ContractError) as exc:
        check_method(cls, tmp_path, backbones=["gcn"])
    assert needle in str(exc.value)


def test_the_runner_splits_sampling_from_compute_with_a_method_of_known_costs(tmp_path, monkeypatch):
    from gnnbench.config import TrialConfig
    from gnnbench.runner import execute_trial

    real = registry.load
    monkeypatch.setattr(registry, "load", lambda kind, name: FakeMethod if name == "fake" else real(kind, name))
    cfg = TrialConfig(method="fake", backbone="gcn", train={"epochs": 2},
                      method_config={"num_batches": 3, "sample_s": 0.05, "compute_s": 0.1},
                      dataset_config={"num_nodes": 100, "num_features": 4})
    rec = execute_trial(cfg, None, tmp_path)
    assert rec.status == "completed", rec.error
    assert rec.num_batches == 6 and rec.nodes_per_batch_max == 100
    # 6 batches: 0.3 s of sampling and 0.6 s of compute, each attributed to its own figure
    assert 0.3 <= rec.sample_time_s < 0.6 <= rec.compute_time_s, rec


class _NoBackbone(FakeMethod):
    supported_backbones = frozenset()  # SGC-like: needs no backbone

    def __init__(self, config, backbone, train, budget):
        assert backbone is None, backbone
        super().__init__(config, backbone, train, budget)


def test_a_method_that_needs_no_backbone_is_checked_without_one(tmp_path):
    check_method(_NoBackbone, tmp_path)
