"""METIS partitions through ``pymetis``, cached per graph and part count (Chiang et al. 2019, Sec. 3.2)."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor

__all__ = ["partition", "parts_to_nodes", "metis_csr", "check_parts_per_batch", "check_num_parts"]


def metis_csr(edge_index: Tensor, num_nodes: int) -> tuple[Tensor, Tensor]:
    """The CSR adjacency METIS partitions: symmetrised, self-loops and duplicates dropped.

    Returns:
        ``(xadj [N + 1], adjncy [2·E'])`` int64, the neighbours of ``v`` being
        ``adjncy[xadj[v]:xadj[v + 1]]`` in increasing order.
    """
    ei = edge_index.to(torch.long).cpu()
    ei = ei[:, ei[0] != ei[1]]
    ei = torch.cat([ei, ei.flip(0)], 1)  # METIS needs a symmetric graph without self-loops
    key = torch.unique(ei[0] * num_nodes + ei[1])
    src, dst = key // num_nodes, key % num_nodes
    xadj = torch.zeros(num_nodes + 1, dtype=torch.long)
    torch.cumsum(torch.bincount(src, minlength=num_nodes), 0, out=xadj[1:])
    return xadj, dst


def _metis(edge_index: Tensor, num_nodes: int, num_parts: int, seed: int) -> Tensor:
    import numpy as np
    import pymetis

    xadj, adjncy = metis_csr(edge_index, num_nodes)
    xadj, adjncy = xadj.numpy().astype(np.int64), adjncy.numpy().astype(np.int64)
    opts = pymetis.Options(seed=seed)
    if hasattr(pymetis, "CSRAdjacency"):
        _, membership = pymetis.part_graph(num_parts, pymetis.CSRAdjacency(xadj, adjncy), options=opts)
    else:  # older pymetis
        _, membership = pymetis.part_graph(num_parts, xadj=xadj, adjncy=adjncy, options=opts)
    return torch.as_tensor(np.asarray(membership), dtype=torch.long)


def partition(edge_index: Tensor, num_nodes: int, num_parts: int,
              cache_dir: Path | str | None = None, seed: int = 0) -> Tensor:
    """METIS part id of every node, read from or written to ``cache_dir``.

    The graph is symmetrised and self-loops dropped before partitioning.  The cache file is
    ``metis_{num_parts}_{seed}.pt`` holding the part ids with the graph's node and edge counts; a
    file whose counts disagree with this graph is recomputed and overwritten.

    Args:
        edge_index: ``[2, E]`` int64.
        num_nodes: ``N``.
        num_parts: ``K``, the number of parts (1 ≤ K ≤ N).
        cache_dir: folder for the cache (created if missing); ``None`` for no caching.
        seed: METIS's random seed.

    Returns:
        ``[N]`` int64 part ids in ``[0, K)``; every node is in exactly one part.

    Raises:
        ValueError: ``num_parts`` outside ``[1, N]``.
    """
    if not 1 <= num_parts <= num_nodes:
        raise ValueError(f"num_parts={num_parts} must be between 1 and the {num_nodes} nodes; "
                         "lower method.num_parts")
    num_edges = int(edge_index.size(1))
    path = Path(cache_dir) / f"metis_{num_parts}_{seed}.pt" if cache_dir is not None else None
    if path is not None and path.is_file():
        saved = torch.load(path, weights_only=True)
        if int(saved["num_nodes"]) == num_nodes and int(saved["num_edges"]) == num_edges:
            return saved["part"]
    part = torch.zeros(num_nodes, dtype=torch.long) if num_parts == 1 else \
        _metis(edge_index, num_nodes, num_parts, seed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save({"part": part, "num_nodes": torch.tensor(num_nodes),
                    "num_edges": torch.tensor(num_edges)}, tmp)
        tmp.replace(path)
        path.with_suffix(".json").write_text(json.dumps(
            {"num_parts": num_parts, "seed": seed, "num_nodes": num_nodes, "num_edges": num_edges}))
    return part


def parts_to_nodes(part: Tensor, num_parts: int) -> tuple[Tensor, Tensor]:
    """Nodes grouped by part: ``(order [N], ptr [K + 1])``, the nodes of part ``k`` being
    ``order[ptr[k]:ptr[k + 1]]``."""
    order = torch.argsort(part, stable=True)
    ptr = torch.zeros(num_parts + 1, dtype=torch.long)
    torch.cumsum(torch.bincount(part, minlength=num_parts), 0, out=ptr[1:])
    return order, ptr


def check_parts_per_batch(parts_per_batch: int, num_parts: int) -> None:
    """Refuse batches of more METIS parts than the graph is cut into (Cluster-GCN, GAS options).

    Raises:
        ValueError: ``parts_per_batch > num_parts``.
    """
    if parts_per_batch > num_parts:
        raise ValueError(f"parts_per_batch={parts_per_batch} exceeds num_parts={num_parts}; "
                         f"lower method.parts_per_batch or raise method.num_parts")


def check_num_parts(num_parts: int, info) -> None:
    """Refuse more METIS parts than the dataset has nodes, when its size is known without loading
    (``info``: its :class:`~gnnbench.types.DatasetInfo`).

    Raises:
        ValueError: ``num_parts > info.num_nodes``.
    """
    if info.num_nodes is not None and num_parts > info.num_nodes:
        raise ValueError(f"method.num_parts={num_parts} exceeds the {info.num_nodes} nodes of "
                         f"dataset '{info.name}'; give at most {info.num_nodes}")
