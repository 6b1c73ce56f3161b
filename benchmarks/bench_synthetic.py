"""Time the synthetic graph generator (prints JSON; not a test).

    python benchmarks/bench_synthetic.py [--nodes 1000000] [--avg-degree 10] [--features 128]

Reports seconds to generate the ogbn-arxiv-shaped preset and a graph of ``--nodes`` nodes,
with their node and edge counts and the measured edge homophily.
"""
from __future__ import annotations

import argparse
import json
import time


def _measure(config) -> dict:
    from gnnbench.datasets.synthetic import Synthetic

    t = time.perf_counter()
    ds = Synthetic(Synthetic.Config(**config)).load(None, None)
    seconds = time.perf_counter() - t
    g = ds.graph
    row, col = g.edge_index
    return {"config": config, "seconds": round(seconds, 3), "num_nodes": g.num_nodes,
            "undirected_edges": g.num_edges // 2, "num_features": g.x.size(1),
            "edge_homophily": round(float((g.y[row] == g.y[col]).float().mean()), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--avg-degree", type=float, default=10.0)
    parser.add_argument("--features", type=int, default=128)
    args = parser.parse_args()
    import torch

    results = [_measure({"preset": "arxiv"}),
               _measure({"num_nodes": args.nodes, "avg_degree": args.avg_degree, "num_features": args.features})]
    print(json.dumps({"torch_threads": torch.get_num_threads(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
