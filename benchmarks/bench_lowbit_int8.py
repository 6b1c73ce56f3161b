"""Integer-kernel inference vs FP32 inference of lowbit, measured in the same run; model sizes.

Usage: GNNBENCH_DATA_ROOT=/work/shared/data python benchmarks/bench_lowbit_int8.py
       [--architecture propagation|stacked] [--dataset cora|citeseer|arxiv] [--hidden 256]
       [--steps 10] [--layers 3] [--epochs 20] [--repeats 7] [--threads 1] [--messages node|edge]
       [--feature-ranges node|tensor]

``--architecture propagation`` (default; the authors' MLP + K SMP steps, :mod:`.integer`):
models at FP32, INT8, INT4 and INT2 (GCN, ``--hidden`` wide, ``--steps`` K) are each trained
``--epochs`` full-graph epochs (0: one calibrating forward pass sets every quantizer's range; ``--messages node`` by
default, the quantization the embedding-bag kernels compute exactly); then the median over
``--repeats`` interleaved rounds of

- ``fp32_inference_s``: the FP32 model's full-graph forward (float linear layers, CSR
  ``torch.sparse.mm`` propagation);
- ``int{8,4,2}_inference_s``: the same pass on :class:`IntegerPropagationGNN` (quantized linear,
  FBGEMM embedding bags), from float features;
- ``fp32_aggregate_s`` / ``int{b}_aggregate_s``: one propagation alone (``torch.sparse.mm`` vs the
  embedding bag on packed rows, the row packing included),

printed as one JSON object with the speedups (FP32 seconds / integer seconds), each integer
model's argmax agreement with its fake-quantized forward over all nodes, test accuracies, and the
model sizes in bytes.

``--architecture stacked``: the earlier study below.

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
    m = LowBit(LowBit.Config(bits=bits, smp=False, feature_ranges=args.feature_ranges, architecture="stacked"),
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


def _propagation_method(bits, args, ds):
    from gnnbench.backbones.gcn import GCN
    from gnnbench.config import BudgetConfig, TrainConfig
    from gnnbench.methods.lowbit import LowBit

    torch.manual_seed(0)
    m = LowBit(LowBit.Config(bits=bits, propagation_steps=args.steps, messages=args.messages),
               GCN(GCN.Config(hidden_channels=args.hidden)), TrainConfig(epochs=max(1, args.epochs)), BudgetConfig())
    m.setup(ds, torch.device("cpu"))
    for e in range(args.epochs):
        for b in m.batches(e):
            m.train_step(b)
    if args.epochs == 0:  # calibration only: one training-mode forward sets every quantizer's range
        m.model.train()
        with torch.no_grad():
            m.model(m.x, m.ops)
    m.model.eval()
    return m


def propagation(args, ds) -> dict:
    """The ``--architecture propagation`` study (module docstring)."""
    from gnnbench.methods.lowbit.integer import IntegerPropagationGNN, has_vnni, pack_rows
    from gnnbench.methods.lowbit.propagation import model_size_bytes

    widths = (8, 4, 2)
    fp32 = _propagation_method(32, args, ds)
    quant = {b: _propagation_method(b, args, ds) for b in widths}
    engines = {b: IntegerPropagationGNN(m.model, m.ops, gcn_is_conv=m.ops.conv_is_gcn) for b, m in quant.items()}
    test, y = ds.split["test"], ds.graph.y[ds.split["test"]]
    out: dict = {"architecture": "propagation", "steps": args.steps, "messages": args.messages, "vnni": has_vnni()}
    with torch.no_grad():
        fns = [lambda: fp32.model(fp32.x, fp32.ops)] + [lambda b=b: engines[b](quant[b].x) for b in widths]
        times = _time(fns, args.repeats)
        out["fp32_inference_s"] = times[0]
        h = fp32.model.transform(fp32.x)
        csr = fp32.ops.csr
        agg = [lambda: torch.sparse.mm(csr, h)]
        for b in widths:
            e = engines[b]
            p = e.model.prop[0]
            agg.append(lambda e=e, p=p: e.propagate(h, p))
        atimes = _time(agg, args.repeats)
        out["fp32_aggregate_s"] = atimes[0]
        acc = lambda o: float((o[test].argmax(1) == y).float().mean())
        out["fp32_test_acc"] = acc(fp32.model(fp32.x, fp32.ops))
        out["fp32_model_size_bytes"] = model_size_bytes(fp32.model)
        for i, b in enumerate(widths):
            fake, ints = quant[b].model(quant[b].x, quant[b].ops), engines[b](quant[b].x)
            out[f"int{b}_inference_s"] = times[i + 1]
            out[f"int{b}_speedup"] = times[0] / times[i + 1]
            out[f"int{b}_aggregate_s"] = atimes[i + 1]
            out[f"int{b}_aggregate_speedup"] = atimes[0] / atimes[i + 1]
            out[f"int{b}_argmax_agreement"] = float((fake.argmax(1) == ints.argmax(1)).float().mean())
            out[f"int{b}_fake_quant_test_acc"] = acc(fake)
            out[f"int{b}_integer_test_acc"] = acc(ints)
            out[f"int{b}_model_size_bytes"] = model_size_bytes(quant[b].model)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--architecture", default="propagation", choices=["propagation", "stacked"])
    p.add_argument("--steps", type=int, default=10, help="K of the propagation architecture")
    p.add_argument("--messages", default="node", choices=["node", "edge"])
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
    if args.architecture == "propagation":
        print(json.dumps({"dataset": args.dataset, "num_nodes": ds.graph.num_nodes, "num_edges": ds.graph.num_edges,
                          "hidden": args.hidden, "epochs": args.epochs, "repeats": args.repeats,
                          "threads": torch.get_num_threads(), **propagation(args, ds)}), flush=True)
        return
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
