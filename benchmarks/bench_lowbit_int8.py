"""INT8 integer-kernel inference vs FP32 inference of lowbit, measured in the same run; model sizes.

Usage: GNNBENCH_DATA_ROOT=/work/shared/data python benchmarks/bench_lowbit_int8.py
       [--dataset cora|citeseer|arxiv] [--hidden 256] [--layers 3] [--epochs 20] [--repeats 7]
       [--threads 1] [--feature-ranges node|tensor]

``arxiv`` is the synthetic graph of ogbn-arxiv's shape (169,343 nodes, 1.17 M edges, 128
features, 40 classes; no data root needed).  Two GCN models of the same shape are trained
``--epochs`` full-graph epochs: FP32 (``bits=32``) and INT8 (``bits=8``); then, in the same
process and thread count, the benchmark takes the median over ``--repeats`` rounds (each round
runs every variant once, in turn, so that all see the same background load) of

- ``fp32_inference_s``: a full-graph forward pass of the FP32 model (float matmul + sparse product);
- ``int8_inference_s``: the same pass on integer kernels (:class:`IntegerGNN`: quantized linear);
- ``int8_prequantized_features_inference_s``: the same with the input features stored as 8-bit
  codes beforehand (the one-time feature quantization left out);
- ``fake_quant_inference_s``: the INT8 model's fake-quantized float forward (the training graph);
- ``fp32_transform_s`` / ``int8_transform_s``: the dense transforms alone (every layer's
  ``X·Wᵀ`` in float32 vs the quantized-linear kernel on the quantized input),

and prints one JSON object with those seconds, the speedups (FP32 seconds / INT8 seconds), the
test accuracy of the FP32, fake-quantized INT8 and integer INT8 predictions, the integer
predictions' argmax agreement with the fake-quantized ones, and the model size in bytes
(packed integer weights) at 8, 4 and 2 bits next to FP32's.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import warnings
from pathlib import Path

import torch


def _dataset(name):
    if name == "arxiv":
        from gnnbench.datasets.synthetic import Synthetic

        return Synthetic(Synthetic.Config(preset="arxiv")).load(None, None)
    from gnnbench.datasets.planetoid import CiteSeer, Cora

    D = {"cora": Cora, "citeseer": CiteSeer}[name]
    return D(D.Config()).load(Path(os.environ["GNNBENCH_DATA_ROOT"]), Path("/tmp/gnnbench_bench_cache"))


def _method(bits, args, ds, train=True):
    from gnnbench.backbones.gcn import GCN
    from gnnbench.config import BudgetConfig, TrainConfig
    from gnnbench.methods.lowbit import LowBit

    torch.manual_seed(0)
    m = LowBit(LowBit.Config(bits=bits, smp=False, feature_ranges=args.feature_ranges),
               GCN(GCN.Config(num_layers=args.layers, hidden_channels=args.hidden)),
               TrainConfig(epochs=args.epochs), BudgetConfig())
    m.setup(ds, torch.device("cpu"))
    for e in range(args.epochs if train else 0):
        for b in m.batches(e):
            m.train_step(b)
    m.model.eval()
    return m


def _time(fns, repeats):
    """Median seconds of each function over ``repeats`` rounds; each round calls every function
    once, in turn, so that they share whatever else the machine is doing."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
    return [statistics.median(ts) for ts in times]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dataset", default="cora", choices=["cora", "citeseer", "arxiv"])
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--feature-ranges", default="node", choices=["node", "tensor"],
                   help="method.feature_ranges: per-node ranges run the first layer on torch._int_mm, "
                        "per-tensor ones on the quantized linear kernel like every other layer")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    from gnnbench.methods.lowbit.int8 import IntegerGNN
    from gnnbench.methods.lowbit.model import model_size_bytes

    ds = _dataset(args.dataset)
    fp32, int8 = _method(32, args, ds), _method(8, args, ds)
    engine = IntegerGNN(int8.model)
    x = int8.x
    with torch.no_grad():
        # the dense transforms alone, on each layer's actual input
        inputs, h = [], x
        for i, layer in enumerate(int8.model.layers):
            inputs.append(h)
            h = layer(h, int8.ops, 0.0)
            h = torch.relu(h) if i < len(int8.model.layers) - 1 else h
        quantized = [engine.quantize_input(v, i) for i, v in enumerate(inputs)]
        weights = [layer.weight for layer in fp32.model.layers]
        t_fp32_tr, t_int8_tr = _time([lambda: [v @ w.t() for v, w in zip(inputs, weights)],
                                      lambda: [engine.transform(q, i) for i, q in enumerate(quantized)]],
                                     args.repeats)
        x_q = engine.quantize_input(x, 0)
        t_fp32, t_int8, t_int8_pre, t_fake = _time(
            [lambda: fp32.model(fp32.x, fp32.ops), lambda: engine(x, int8.ops), lambda: engine(x_q, int8.ops),
             lambda: int8.model(x, int8.ops)], args.repeats)
        test = ds.split["test"]
        y = ds.graph.y[test]
        out_fp32, out_fake, out_int = fp32.model(fp32.x, fp32.ops), int8.model(x, int8.ops), engine(x, int8.ops)
        acc = lambda out: float((out[test].argmax(1) == y).float().mean())
    sizes = {f"int{b}_model_size_bytes": model_size_bytes(_method(b, args, ds, train=False).model) for b in (4, 2)}
    print(json.dumps({
        "dataset": args.dataset, "num_nodes": ds.graph.num_nodes, "num_edges": ds.graph.num_edges,
        "layers": args.layers, "hidden": args.hidden, "feature_ranges": args.feature_ranges, "epochs": args.epochs, "repeats": args.repeats,
        "threads": torch.get_num_threads(), "engine": torch.backends.quantized.engine,
        "fp32_inference_s": t_fp32, "int8_inference_s": t_int8, "fake_quant_inference_s": t_fake,
        "speedup": t_fp32 / t_int8, "int8_prequantized_features_inference_s": t_int8_pre,
        "speedup_prequantized_features": t_fp32 / t_int8_pre,
        "fp32_transform_s": t_fp32_tr, "int8_transform_s": t_int8_tr, "transform_speedup": t_fp32_tr / t_int8_tr,
        "fp32_test_acc": acc(out_fp32), "int8_fake_quant_test_acc": acc(out_fake), "int8_integer_test_acc": acc(out_int),
        "int8_argmax_agreement": float((out_fake.argmax(1) == out_int.argmax(1)).float().mean()),
        "fp32_model_size_bytes": model_size_bytes(fp32.model), "int8_model_size_bytes": model_size_bytes(int8.model),
        **sizes}), flush=True)


if __name__ == "__main__":
    main()
