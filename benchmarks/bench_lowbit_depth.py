"""Depth study of lowbit's ``"stacked"`` architecture: GCN test accuracy at several depths, plain stacks
vs smoothness-aware propagation (the ``"propagation"`` architecture's depth is ``propagation_steps``:
run it with ``gnnbench run -m lowbit --set method.propagation_steps=K``).

Usage: GNNBENCH_DATA_ROOT=/work/shared/data python benchmarks/bench_lowbit_depth.py
       [--dataset cora] [--depths 2 8 16 32] [--bits 32] [--epochs 200] [--seeds 0 1 2]
       [--variants plain smp smp_unconstrained]

Variants at depth L: ``plain`` is L stacked quantized GCN layers (``method.smp=false``); ``smp``
is 2 GCN layers and L − 2 smoothness-aware propagation layers (the default of ``lowbit``);
``smp_unconstrained`` is the same with the multiplier held at 0 (``smp_mu_max=0``: the
propagation objective without the similarity constraint).  Each trial trains ``--epochs`` full-graph
epochs (Adam, lr 0.01, weight decay 5e-4, the gcn backbone's defaults: hidden 16, dropout 0.5) and
reports test accuracy at the best validation epoch (as the runner does).  Prints one JSON line per
trial (with ``min_relative_spread``: how far the most alike layer's node vectors are from all
being the same, 0 = collapsed; see ``_collapse``) and a final JSON line with the mean test
accuracy of every (variant, depth).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

import torch

VARIANTS = {"plain": {"smp": False, "architecture": "stacked"}, "smp": {"smp": True, "architecture": "stacked"},
            "smp_unconstrained": {"smp": True, "smp_mu_max": 0.0, "architecture": "stacked"}}


def run(ds, depth, variant, bits, epochs, seed):
    """Train one model: best validation accuracy, test accuracy at that epoch, the last forward's SMP
    residuals, and :func:`_collapse` of the trained model."""
    from gnnbench.backbones.gcn import GCN
    from gnnbench.config import BudgetConfig, TrainConfig
    from gnnbench.methods.lowbit import LowBit

    torch.manual_seed(seed)
    m = LowBit(LowBit.Config(bits=bits, **VARIANTS[variant]), GCN(GCN.Config(num_layers=depth)),
               TrainConfig(epochs=epochs), BudgetConfig())
    m.setup(ds, torch.device("cpu"))
    best = (-1.0, 0.0)
    for e in range(epochs):
        for b in m.batches(e):
            m.train_step(b)
        p = m.predict(["valid", "test"])
        acc = {s: float((p[s].scores.argmax(1) == ds.graph.y[ds.split[s]]).float().mean()) for s in p}
        best = max(best, (acc["valid"], acc["test"]))
    res = m.report().get("smp_residual_per_layer")
    return best[0], best[1], res, _collapse(m)


@torch.no_grad()
def _collapse(m):
    """How alike the nodes' representations are after training (evaluation mode).

    Returns the least *relative spread* ``‖H − 1·mean(H)‖_F / ‖H‖_F`` over the outputs ``H`` of
    the convolution layers and of the SMP layers (0 = every node has the same vector, the
    symptom of oversmoothing), and the normalised Dirichlet energy ``S`` of the mean-centred
    final output (small = neighbours agree).
    """
    from gnnbench.methods.lowbit.smp import smoothness

    model = m.model
    model.eval()
    x, spreads = m.x, []
    for i, layer in enumerate(model.layers):
        h = layer(x, m.ops, 0.0)
        spreads.append(float((h - h.mean(0)).norm() / h.norm().clamp_min(1e-12)))
        x = torch.relu(h) if i < len(model.layers) - 1 else h
    out = model.propagate(x, m.ops)
    centred = out - out.mean(0)
    spreads.append(float(centred.norm() / out.norm().clamp_min(1e-12)))
    return {"min_relative_spread": min(spreads), "output_smoothness": float(smoothness(centred, m.ops.gcn))}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dataset", default="cora", choices=["cora", "citeseer"])
    p.add_argument("--depths", type=int, nargs="+", default=[2, 8, 16, 32])
    p.add_argument("--bits", type=int, default=32, choices=[2, 4, 8, 32])
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = p.parse_args()
    from gnnbench.datasets.planetoid import CiteSeer, Cora

    D = {"cora": Cora, "citeseer": CiteSeer}[args.dataset]
    ds = D(D.Config()).load(Path(os.environ["GNNBENCH_DATA_ROOT"]), Path("/tmp/gnnbench_bench_cache"))
    table: dict[str, dict[int, float]] = {}
    for depth in args.depths:
        for variant in args.variants:
            tests = []
            for seed in args.seeds:
                val, test, res, collapse = run(ds, depth, variant, args.bits, args.epochs, seed)
                tests.append(test)
                mean_res = None if not res else sum(res) / len(res)
                print(json.dumps({"dataset": args.dataset, "depth": depth, "variant": variant,
                                  "bits": args.bits, "epochs": args.epochs, "seed": seed, "val_acc": val,
                                  "test_acc": test, "mean_smp_residual": mean_res, **collapse}), flush=True)
            table.setdefault(variant, {})[depth] = statistics.mean(tests)
    print(json.dumps({"dataset": args.dataset, "bits": args.bits, "epochs": args.epochs, "seeds": args.seeds,
                      "mean_test_acc": table}), flush=True)


if __name__ == "__main__":
    main()
