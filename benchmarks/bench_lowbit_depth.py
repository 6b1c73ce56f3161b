"""Depth study of lowbit: test accuracy of GCN at several depths, with and without SMP.

Usage: GNNBENCH_DATA_ROOT=/work/shared/data python benchmarks/bench_lowbit_depth.py
       [--dataset cora] [--depths 2 8 16 32] [--bits 32] [--epochs 100] [--seeds 0]
Prints one JSON line per (depth, smp, seed): test accuracy at the best validation epoch.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch


def run(ds, depth, smp, bits, epochs, seed):
    from gnnbench.backbones.gcn import GCN
    from gnnbench.config import BudgetConfig, TrainConfig
    from gnnbench.methods.lowbit import LowBit

    torch.manual_seed(seed)
    m = LowBit(LowBit.Config(bits=bits, smp=smp), GCN(GCN.Config(num_layers=depth)), TrainConfig(),
               BudgetConfig())
    m.setup(ds, torch.device("cpu"))
    best = (-1.0, 0.0)
    for e in range(epochs):
        for b in m.batches(e):
            m.train_step(b)
        p = m.predict(["valid", "test"])
        acc = {s: float((p[s].scores.argmax(1) == ds.graph.y[ds.split[s]]).float().mean()) for s in p}
        best = max(best, (acc["valid"], acc["test"]))
    return best


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dataset", default="cora", choices=["cora", "citeseer"])
    p.add_argument("--depths", type=int, nargs="+", default=[2, 8, 16, 32])
    p.add_argument("--bits", type=int, default=32, choices=[2, 4, 8, 32])
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = p.parse_args()
    from gnnbench.datasets.planetoid import CiteSeer, Cora

    D = {"cora": Cora, "citeseer": CiteSeer}[args.dataset]
    ds = D(D.Config()).load(Path(os.environ["GNNBENCH_DATA_ROOT"]), Path("/tmp/gnnbench_bench_cache"))
    for depth in args.depths:
        for smp in (False, True):
            for seed in args.seeds:
                val, test = run(ds, depth, smp, args.bits, args.epochs, seed)
                print(json.dumps({"dataset": args.dataset, "depth": depth, "smp": smp, "bits": args.bits,
                                  "epochs": args.epochs, "seed": seed, "val_acc": val, "test_acc": test}),
                      flush=True)


if __name__ == "__main__":
    main()
