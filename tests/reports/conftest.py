"""A results store with known numbers, written through ``Store.start_trial`` / ``finish_trial``."""
from __future__ import annotations

import pytest

MIB = 2**20


def add_trial(store, method: str, backbone: str, dataset: str, seed: int, status: str = "completed",
              test: float | None = None, *, epochs: int = 10, rss_mib: float = 100.0, sample_s: float = 0.0,
              compute_s: float = 1.0, inference_s: float = 0.05, preprocess_s: float = 0.01,
              train: dict | None = None, dataset_config: dict | None = None, gpu_mib: float | None = None,
              method_config: dict | None = None, backbone_config: dict | None = None, budget: dict | None = None,
              extra: dict | None = None, num_nodes: int | None = None, batch: tuple | None = None) -> str:
    """One stored trial; times are totals over ``epochs`` (as the runner writes them), memory in MiB."""
    from gnnbench.config import TrialConfig, config_hash

    cfg = TrialConfig(method=method, backbone=backbone, dataset=dataset, seed=seed, train=train or {"epochs": epochs},
                      dataset_config=dataset_config or {}, method_config=method_config or {},
                      backbone_config=backbone_config or {}, budget=budget or {})
    run_id = store.start_trial(cfg, config_hash(cfg))
    record = {"status": status, "metric": "acc", "num_nodes": num_nodes,
              "environment": {"device": "cpu", "device_name": "cpu", "cpu_model": "Test CPU", "torch_threads": 1,
                              "torch": "2.0-test", "torch_geometric": "2.5-test", "git_commit": "abc1234"}}
    if status == "completed":
        curve = [{"epoch": e, "train_time_s": (sample_s + compute_s) * e / epochs, "epoch_time_s": None,
                  "sample_time_s": sample_s / epochs, "compute_time_s": compute_s / epochs, "loss": 1.0 / e,
                  "val_metric": min(0.99, 0.3 + 0.06 * e)} for e in range(1, epochs + 1)]
        record.update(test_metric=test, val_metric=test, best_epoch=epochs, epochs=epochs,
                      train_time_s=sample_s + compute_s, epoch_time_s=(sample_s + compute_s) / epochs,
                      sample_time_s=sample_s, compute_time_s=compute_s, inference_time_s=inference_s,
                      preprocess_time_s=preprocess_s, load_time_s=0.1, peak_cpu_rss_bytes=int(rss_mib * MIB),
                      peak_gpu_allocated_bytes=None if gpu_mib is None else int(gpu_mib * MIB), curve=curve,
                      extra=extra or {})
        if batch is not None:  # (parameters, batches over all epochs, nodes per batch, messages per batch)
            record.update(num_parameters=batch[0], num_batches=batch[1], nodes_per_batch_mean=batch[2],
                          messages_per_batch_mean=batch[3])
    else:
        record["error"] = "torch.OutOfMemoryError: CUDA out of memory" if status == "oom" else "RuntimeError: boom"
    store.finish_trial(run_id, record)
    return run_id


@pytest.fixture
def fixture_store(db_url):
    """Known numbers on cora, citeseer and synthetic graphs of 500 / 1000 / 2000 nodes."""
    from gnnbench.store import Store

    store = Store(db_url)
    for seed, acc in enumerate([0.80, 0.82, 0.84]):
        add_trial(store, "full_graph", "gcn", "cora", seed, test=acc, rss_mib=400, compute_s=2.0)
    for seed in range(3):
        add_trial(store, "full_graph", "sage", "cora", seed, test=0.81, rss_mib=500, compute_s=3.0)
    add_trial(store, "ns_sage", "gcn", "cora", 0, test=0.78, rss_mib=100, sample_s=1.0, compute_s=1.0)
    add_trial(store, "ns_sage", "gcn", "cora", 1, test=0.80, rss_mib=300, sample_s=3.0, compute_s=1.0)
    add_trial(store, "ns_sage", "gcn", "cora", 2, "oom")
    for seed, acc in enumerate([0.83, 0.85, 0.84]):
        add_trial(store, "ns_sage", "sage", "cora", seed, test=acc, rss_mib=250, sample_s=0.5, compute_s=1.0)
    for seed in range(3):
        add_trial(store, "vqgnn", "gcn", "cora", seed, "oom")
    add_trial(store, "vqgnn", "sage", "cora", 0, "failed")
    add_trial(store, "cluster_gcn", "gcn", "cora", 0, test=0.75, epochs=10)
    add_trial(store, "cluster_gcn", "gcn", "cora", 0, test=0.79, epochs=20)
    add_trial(store, "full_graph", "gcn", "citeseer", 0, test=0.70)
    for n in (500, 1000, 2000):
        for seed in range(2):
            add_trial(store, "full_graph", "gcn", "synthetic", seed, test=0.9, rss_mib=n / 10, compute_s=n / 1000,
                      dataset_config={"num_nodes": n})
    return store


@pytest.fixture(scope="session")
def trial_adder():
    """:func:`add_trial`, for tests that build their own store (conftest is not importable with importlib)."""
    return add_trial
