"""INT8 integer-kernel inference vs FP32 inference of lowbit, measured in the same run; model sizes.

Usage: GNNBENCH_DATA_ROOT=/work/shared/data python benchmarks/bench_lowbit_int8.py [--dataset cora]
       [--hidden 256] [--layers 2] [--epochs 20] [--repeats 10] [--smp]
Prints one JSON object: fp32_inference_s and int8_inference_s (median seconds of a full-graph
forward pass), speedup, model_size_bytes (packed INT8) and fp32_model_size_bytes.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch


def _method(bits, args, ds):
    from gnnbench.backbones.gcn import GCN
    from gnnbench.config import BudgetConfig, TrainConfig
    from gnnbench.methods.lowbit import LowBit

    torch.manual_seed(0)
    m = LowBit(LowBit.Config(bits=bits, smp=args.smp),
               GCN(GCN.Config(num_layers=args.layers, hidden_channels=args.hidden)),
               TrainConfig(), BudgetConfig())
    m.setup(ds, torch.device("cpu"))
    for e in range(args.epochs):
        for b in m.batches(e):
            m.train_step(b)
    m.model.eval()
    return m


def _time(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dataset", default="cora", choices=["cora", "citeseer"])
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--smp", action="store_true")
    args = p.parse_args()
    from gnnbench.datasets.planetoid import CiteSeer, Cora
    from gnnbench.methods.lowbit.int8 import IntegerGNN
    from gnnbench.methods.lowbit.model import model_size_bytes

    D = {"cora": Cora, "citeseer": CiteSeer}[args.dataset]
    ds = D(D.Config()).load(Path(os.environ["GNNBENCH_DATA_ROOT"]), Path("/tmp/gnnbench_bench_cache"))
    fp32, int8 = _method(32, args, ds), _method(8, args, ds)
    engine = IntegerGNN(int8.model)
    with torch.no_grad():
        t_fp32 = _time(lambda: fp32.model(fp32.x, fp32.ops), args.repeats)
        t_int8 = _time(lambda: engine(int8.x, int8.ops), args.repeats)
        test = ds.split["test"]
        acc = lambda out: float((out[test].argmax(1) == ds.graph.y[test]).float().mean())
        acc_fp32, acc_int8 = acc(fp32.model(fp32.x, fp32.ops)), acc(engine(int8.x, int8.ops))
    print(json.dumps({"dataset": args.dataset, "layers": args.layers, "hidden": args.hidden,
                      "smp": args.smp, "epochs": args.epochs, "threads": torch.get_num_threads(),
                      "fp32_inference_s": t_fp32, "int8_inference_s": t_int8,
                      "speedup": t_fp32 / t_int8, "fp32_test_acc": acc_fp32, "int8_test_acc": acc_int8,
                      "model_size_bytes": model_size_bytes(int8.model),
                      "fp32_model_size_bytes": model_size_bytes(fp32.model)}))


if __name__ == "__main__":
    main()
