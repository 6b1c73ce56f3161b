"""Sampler throughput and per-method epoch split on the synthetic ogbn-arxiv-shaped graph; prints JSON.

Not a test: run ``python benchmarks/bench_samplers.py [--epochs 1] [--messages 200000]``.
Reports (1) each pure-torch sampler's throughput in sampled edges per second, with
torch-sparse's / pyg-lib's neighbour sampler in the same run when importable, and (2) for
ns_sage, cluster_gcn and graphsaint_rw with the sage backbone at an equal
``budget.messages_per_batch``: epoch time split into sampling and compute (the runner's own
figures), mean messages and nodes per batch, and peak memory (RSS of the trial's child process,
or GPU bytes on CUDA).  The benchmark never times itself except the raw sampler loop in (1).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def sampler_throughput(graph, train_idx, repeats: int) -> dict:
    import torch
    from torch_geometric.sampler import NodeSamplerInput

    from gnnbench.methods.sampling import (InducedSubgraphSampler, RandomWalkSampler,
                                           UniformNeighborSampler, partition)

    n = graph.num_nodes
    out = {}

    def run(name, sampler, make_seeds):
        edges, t0 = 0, time.perf_counter()
        for _ in range(repeats):
            edges += sampler.sample_from_nodes(NodeSamplerInput(None, make_seeds())).row.numel()
        dt = time.perf_counter() - t0
        out[name] = {"sampled_edges_per_s": edges / dt, "edges_per_batch": edges / repeats}

    ns = UniformNeighborSampler(graph.edge_index, n, [15, 10])
    run("ns_sage[15,10] x1024 seeds", ns, lambda: train_idx[torch.randperm(train_idx.numel())[:1024]])
    rw = RandomWalkSampler(graph.edge_index, n, 2)
    run("graphsaint_rw 3000 roots x2 steps", rw, lambda: torch.randint(0, n, (3000,)))
    part = partition(graph.edge_index, n, 256, None)
    order = torch.argsort(part)
    sub = InducedSubgraphSampler(graph.edge_index, n)
    run("cluster_gcn 8 of 256 parts", sub,
        lambda: order[torch.isin(part[order], torch.randperm(256)[:8])])
    try:  # the same neighbour sampling through pyg-lib / torch-sparse, where installed
        from torch_geometric.loader import NeighborLoader

        loader = NeighborLoader(graph, [15, 10], input_nodes=train_idx, batch_size=1024, shuffle=True)
        edges, t0 = 0, time.perf_counter()
        for i, b in enumerate(loader):
            edges += b.edge_index.size(1)
            if i + 1 == repeats:
                break
        out["pyg NeighborLoader[15,10] x1024 (pyg-lib/torch-sparse)"] = {
            "sampled_edges_per_s": edges / (time.perf_counter() - t0), "edges_per_batch": edges / repeats}
    except Exception as exc:  # noqa: BLE001 - absent optional backends are a result too
        out["pyg NeighborLoader (pyg-lib/torch-sparse)"] = {"unavailable": type(exc).__name__}
    return out


def method_epochs(epochs: int, messages: int, workdir: Path) -> dict:
    from gnnbench.config import TrialConfig
    from gnnbench.worker import run_in_child

    out = {}
    for method in ("ns_sage", "cluster_gcn", "graphsaint_rw"):
        method_config = {"inference_batch_size": 16384}
        if method == "cluster_gcn":
            method_config["num_parts"] = 256
        cfg = TrialConfig(method=method, backbone="sage", dataset="synthetic", device="auto",
                          dataset_config={"preset": "arxiv"},
                          train={"epochs": epochs, "eval_every": epochs},
                          budget={"messages_per_batch": messages}, method_config=method_config)
        rec = run_in_child(cfg, None, workdir)  # own process: its own peak RSS
        if rec.status != "completed":
            out[method] = {"status": rec.status, "error": (rec.error or "")[-400:]}
            continue
        curve = rec.curve
        out[method] = {
            "epoch_time_s": sum(p.epoch_time_s for p in curve) / len(curve),
            "sample_time_s": sum(p.sample_time_s for p in curve) / len(curve),
            "compute_time_s": sum(p.compute_time_s for p in curve) / len(curve),
            "preprocess_time_s": rec.preprocess_time_s,
            "inference_time_s": rec.inference_time_s,
            "messages_per_batch_mean": rec.messages_per_batch_mean,
            "nodes_per_batch_mean": rec.nodes_per_batch_mean,
            "num_batches": rec.num_batches,
            "peak_cpu_rss_bytes": rec.peak_cpu_rss_bytes,
            "peak_gpu_allocated_bytes": rec.peak_gpu_allocated_bytes,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--messages", type=int, default=200_000, help="budget.messages_per_batch")
    parser.add_argument("--repeats", type=int, default=10, help="sampler calls per throughput figure")
    parser.add_argument("--skip-methods", action="store_true")
    args = parser.parse_args()

    from gnnbench.datasets.synthetic import Synthetic

    with tempfile.TemporaryDirectory() as tmp:
        ds = Synthetic(Synthetic.Config(preset="arxiv")).load(None, Path(tmp) / "synthetic")
        g = ds.graph
        result = {"graph": {"num_nodes": g.num_nodes, "num_edges": int(g.edge_index.size(1)),
                            "num_features": int(g.x.size(1))},
                  "samplers": sampler_throughput(g, ds.split["train"], args.repeats)}
        if not args.skip_methods:
            result["methods_at_equal_messages"] = {"messages_per_batch": args.messages,
                                                   **method_epochs(args.epochs, args.messages, Path(tmp))}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
