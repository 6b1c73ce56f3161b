"""VQ-GNN against the baselines on the synthetic ogbn-arxiv-shaped graph; prints JSON.

1. Inference time (seconds): VQ-GNN's mini-batch inference through the codewords
   (:meth:`gnnbench.methods.vqgnn.model.VQModel.infer`) against layer-wise full-neighbour inference
   (:func:`gnnbench.methods.sampling.inference.layerwise_inference`, the PyG/OGB standard), same
   backbone, same batch size, untrained weights (the time does not depend on their values), and
   L-hop inference (:func:`gnnbench.methods.sampling.lhop.lhop_inference`: batches of
   ``--lhop-batch-size`` output nodes with their full ``L``-hop neighbourhood, what the paper's
   1.61 s is; timed once, it is the slowest), all in one run.  The backbone is the paper's
   ogbn-arxiv set-up by default (3 layers of 128 with batch norm).  VQ-GNN is timed with product
   VQ (``--group-size``) and with one group (the merged form ``(C_out R)(X̃ W)``).
2. Peak memory at equal messages per batch (Table 3 of Ding et al. 2021: 1.5M messages): one
   ``gnnbench run`` per method with ``budget.messages_per_batch``, each in its own process; the
   runner measures ``peak_gpu_allocated_bytes`` (CUDA) and ``peak_cpu_rss_bytes``.  Methods whose
   plugin is missing or fails are reported with their error.
3. ``--init-memory``: the working memory of VQ-GNN's codebook initialisation per ``init`` option.

Usage::

    python benchmarks/bench_vqgnn.py --backbone sage --messages 1500000 --epochs 1
    python benchmarks/bench_vqgnn.py --num-nodes 20000   # a smaller graph of the same density
    python benchmarks/bench_vqgnn.py --backbone gcn --init-memory   # 3. initialisation memory
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

METHODS = ["vqgnn", "ns_sage", "cluster_gcn", "graphsaint_rw", "gas", "ladies", "sgc", "sign"]
#: methods that need no backbone (run without -b; a messages budget leaves their batches as they are)
NO_BACKBONE = {"sgc", "sign"}


def _dataset_sets(args) -> list[str]:
    if args.num_nodes is None:
        return ["dataset.preset=\"arxiv\""]
    return [f"dataset.num_nodes={args.num_nodes}", "dataset.avg_degree=13.77",
            "dataset.num_features=128", "dataset.num_classes=40"]


def inference_times(args) -> dict:
    import torch

    from gnnbench.backbones.base import GNNStack  # noqa: F401
    from gnnbench import registry
    from gnnbench.datasets.synthetic import Synthetic
    from gnnbench.methods.sampling.inference import layerwise_inference
    from gnnbench.methods.sampling.lhop import lhop_inference
    from gnnbench.methods.vqgnn.batching import conv_graph
    from gnnbench.methods.vqgnn.model import VQModel

    cfg = Synthetic.Config(preset="arxiv") if args.num_nodes is None else Synthetic.Config(
        num_nodes=args.num_nodes, avg_degree=13.77, num_features=128, num_classes=40)
    ds = Synthetic(cfg).load(None, None)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    g = ds.graph
    bb = registry.load("backbones", args.backbone)
    torch.manual_seed(0)
    stack = bb(bb.Config(num_layers=args.layers, hidden_channels=args.hidden, norm=args.norm)).build(
        ds.num_features, ds.num_outputs).to(device).eval()
    x, ei = g.x.to(device), g.edge_index.to(device)
    n = x.size(0)
    model = VQModel(stack, n, args.num_codewords, args.group_size, 0.99, False).to(device).eval()
    model.initialise(x, ei, args.batch_size / n, 2, torch.Generator().manual_seed(0))
    cg, nbs = conv_graph(stack, ei, n), list(torch.randperm(n).split(args.batch_size))

    def clock(fn, repeats: int | None = None) -> float:
        best = float("inf")
        for _ in range(args.repeats if repeats is None else repeats):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t)
        return best

    one = VQModel(stack, n, args.num_codewords, None, 0.99, False).to(device).eval()
    one.initialise(x, ei, args.batch_size / n, 2, torch.Generator().manual_seed(0))
    return {"device": str(device), "num_nodes": n, "num_edges": int(ei.size(1)),
            "backbone_layers": args.layers, "hidden_channels": args.hidden, "norm": args.norm,
            "batch_size": args.batch_size, "num_codewords": args.num_codewords, "group_size": args.group_size,
            "vqgnn_inference_s": clock(lambda: model.infer(x, cg, nbs)),
            "vqgnn_one_group_inference_s": clock(lambda: one.infer(x, cg, nbs)),
            "layerwise_full_neighbour_inference_s": clock(
                lambda: layerwise_inference(stack, x, ei, args.batch_size)),
            "lhop_batch_size": args.lhop_batch_size,
            "lhop_full_neighbour_inference_s": None if args.lhop_batch_size == 0 else clock(
                lambda: lhop_inference(stack, x, ei, args.lhop_batch_size), repeats=1)}


_INIT_CHILD = """
import json, sys, torch
from gnnbench import registry
from gnnbench.config import BudgetConfig, TrainConfig
from gnnbench.datasets.synthetic import Synthetic
from gnnbench.methods.vqgnn import VQGNN

def rss():
    with open("/proc/self/status") as f:
        return {l.split(":")[0]: int(l.split()[1]) * 1024 for l in f if l.startswith(("VmRSS", "VmHWM"))}

init, backbone, n = sys.argv[1], sys.argv[2], sys.argv[3]
cfg = Synthetic.Config(preset="arxiv") if n == "arxiv" else Synthetic.Config(
    num_nodes=int(n), avg_degree=13.77, num_features=128, num_classes=40)
ds = Synthetic(cfg).load(None, None)
bb = registry.load("backbones", backbone)
m = VQGNN(VQGNN.Config(batching="random", init=init, batch_size=int(sys.argv[4])),
          bb(bb.Config(num_layers=3, hidden_channels=128, norm="batch")), TrainConfig(), BudgetConfig())
warm = VQGNN(VQGNN.Config(batching="random", init=init, num_codewords=8), bb(bb.Config()), TrainConfig(), BudgetConfig())
warm.setup(Synthetic(Synthetic.Config(num_nodes=50)).load(None, None), torch.device("cpu"))  # imports, allocator
del warm
start = rss()["VmRSS"]
with open("/proc/self/clear_refs", "w") as f:  # reset the peak (VmHWM) to the current RSS
    f.write("5")
m.setup(ds, torch.device("cpu"))
print(json.dumps({"setup_peak_minus_start_bytes": rss()["VmHWM"] - start,
                  "codebook_bytes": m.report()["codebook_bytes"]}))
"""


def init_memory(args) -> dict:
    """Working memory of ``vqgnn``'s setup (the codebook initialisation) per ``init`` option, each
    in a fresh process: its peak RSS during ``setup`` minus the RSS at its start (Linux
    ``VmHWM`` after resetting it through ``/proc/self/clear_refs``), random batching (no METIS)."""
    out = {}
    n = "arxiv" if args.num_nodes is None else str(args.num_nodes)
    for init in ("minibatch", "kmeans"):
        run = subprocess.run([sys.executable, "-c", _INIT_CHILD, init, args.backbone, n, str(args.batch_size)],
                             capture_output=True, text=True)
        try:
            out[init] = json.loads(run.stdout.strip().splitlines()[-1])
        except (json.JSONDecodeError, IndexError):
            out[init] = {"error": (run.stderr or run.stdout)[-500:]}
    return out


def peak_memory(args) -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for method in METHODS:
            db = Path(tmp) / f"{method}.db"
            cmd = [sys.executable, "-c", "from gnnbench.cli import main; main()", "run", "-m", method,
                   *([] if method in NO_BACKBONE else ["-b", args.backbone]), "--seeds", "0", "--db", str(db),
                   "--set", f"train.epochs={args.epochs}",
                   "--set", f"budget.messages_per_batch={args.messages}"]
            for s in _dataset_sets(args):
                cmd += ["--set", s]
            run = subprocess.run(cmd, capture_output=True, text=True)
            res = subprocess.run([sys.executable, "-c", "from gnnbench.cli import main; main()", "results",
                                  "--db", str(db), "--format", "json"], capture_output=True, text=True)
            try:
                row = json.loads(res.stdout)[0]
            except (json.JSONDecodeError, IndexError):
                out[method] = {"status": "not run", "error": (run.stderr or run.stdout)[-500:]}
                continue
            out[method] = {k: row.get(k) for k in (
                "status", "peak_gpu_allocated_bytes", "peak_cpu_rss_bytes", "messages_per_batch_mean",
                "nodes_per_batch_mean", "epoch_time_s", "inference_time_s", "test_metric")}
            if row.get("status") != "completed":
                out[method]["error"] = (row.get("error") or "")[-500:]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbone", default="sage", choices=["gcn", "sage", "gat"])
    p.add_argument("--num-nodes", type=int, default=None, help="default: the arxiv preset (169,343)")
    p.add_argument("--batch-size", type=int, default=85_000 // 8)
    p.add_argument("--layers", type=int, default=3, help="backbone layers (the paper's ogbn-arxiv set-up: 3)")
    p.add_argument("--hidden", type=int, default=128, help="hidden channels (the paper's: 128)")
    p.add_argument("--norm", default="batch", choices=["none", "batch", "layer"], help="between layers (the paper's: batch)")
    p.add_argument("--lhop-batch-size", type=int, default=4096,
                   help="output nodes per L-hop inference batch (OGB's; 0 skips L-hop inference, timed once)")
    p.add_argument("--num-codewords", type=int, default=256)
    p.add_argument("--group-size", type=int, default=4, help="product-VQ columns per group (vqgnn's default)")
    p.add_argument("--messages", type=int, default=1_500_000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--init-memory", action="store_true",
                   help="only the working memory of the codebook initialisation, per init option")
    args = p.parse_args()
    if args.init_memory:
        print(json.dumps({"backbone": args.backbone, "init_memory": init_memory(args)}, indent=2))
        return
    report = {"backbone": args.backbone, "inference": inference_times(args)}
    if not args.skip_memory:
        report["peak_memory_at_equal_messages"] = {"messages_per_batch": args.messages, **peak_memory(args)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
