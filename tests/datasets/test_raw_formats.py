"""The loaders of datasets that cannot be had here, run through their real loaders (OGB, PyG) on
small files written in each dataset's raw format; plus the MUSAE Facebook parser and the rule that
nothing is written into the data root."""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from gnnbench.errors import DatasetMissingError
from gnnbench.types import Task

N, E, F = 30, 60, 5


def _csv_gz(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as fh:
        for row in rows:
            fh.write(",".join(str(v) for v in np.atleast_1d(row)) + "\n")


def _edges(rng) -> np.ndarray:
    src = rng.integers(0, N, E)
    dst = (src + 1 + rng.integers(0, N - 1, E)) % N  # no self-loops
    return np.stack([src, dst], 1)


def _snapshot(root: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in root.rglob("*")}


def write_ogbn_arxiv(root: Path) -> None:
    rng = np.random.default_rng(0)
    base = root / "ogbn_arxiv"
    (base / "RELEASE_v1.txt").parent.mkdir(parents=True, exist_ok=True)
    (base / "RELEASE_v1.txt").write_text("v1\n")
    _csv_gz(base / "raw/edge.csv.gz", _edges(rng))
    _csv_gz(base / "raw/node-feat.csv.gz", rng.normal(size=(N, F)).round(4))
    _csv_gz(base / "raw/node_year.csv.gz", rng.integers(2000, 2020, N))
    _csv_gz(base / "raw/num-node-list.csv.gz", [N])
    _csv_gz(base / "raw/num-edge-list.csv.gz", [E])
    _csv_gz(base / "raw/node-label.csv.gz", rng.integers(0, 40, N))
    perm = rng.permutation(N)
    for name, part in zip(("train", "valid", "test"), np.split(perm, [15, 22])):
        _csv_gz(base / f"split/time/{name}.csv.gz", np.sort(part))


def write_ogbl_collab(root: Path) -> None:
    rng = np.random.default_rng(1)
    base = root / "ogbl_collab"
    base.mkdir(parents=True, exist_ok=True)
    (base / "RELEASE_v1.txt").write_text("v1\n")
    edges = _edges(rng)
    _csv_gz(base / "raw/edge.csv.gz", edges)
    _csv_gz(base / "raw/node-feat.csv.gz", rng.normal(size=(N, F)).round(4))
    _csv_gz(base / "raw/edge_weight.csv.gz", np.ones(E, dtype=int))
    _csv_gz(base / "raw/edge_year.csv.gz", rng.integers(2000, 2020, E))
    _csv_gz(base / "raw/num-node-list.csv.gz", [N])
    _csv_gz(base / "raw/num-edge-list.csv.gz", [E])
    (base / "split/time").mkdir(parents=True)
    torch.save({"edge": edges[:40], "weight": np.ones(40), "year": np.full(40, 2010)}, base / "split/time/train.pt")
    for name, part in (("valid", edges[40:50]), ("test", edges[50:])):
        torch.save({"edge": part, "weight": np.ones(len(part)), "year": np.full(len(part), 2019),
                    "edge_neg": rng.integers(0, N, (100, 2))}, base / f"split/time/{name}.pt")


def write_reddit(root: Path) -> None:
    import scipy.sparse as sp

    rng = np.random.default_rng(2)
    base = root / "Reddit/raw"
    base.mkdir(parents=True)
    np.savez(base / "reddit_data.npz", feature=rng.normal(size=(N, F)).astype(np.float32),
             label=rng.integers(0, 41, N), node_types=np.repeat([1, 2, 3], N // 3))
    e = _edges(rng)
    sp.save_npz(base / "reddit_graph.npz", sp.coo_matrix((np.ones(E), (e[:, 0], e[:, 1])), shape=(N, N)))


def write_ppi(root: Path) -> None:
    rng = np.random.default_rng(3)
    base = root / "PPI/raw"
    base.mkdir(parents=True)
    for split, graphs in (("train", 3), ("valid", 1), ("test", 1)):
        n = 10 * graphs
        links = [{"source": int(g * 10 + a), "target": int(g * 10 + b)}
                 for g in range(graphs) for a, b in rng.integers(0, 10, (15, 2)) if a != b]
        with open(base / f"{split}_graph.json", "w") as fh:
            json.dump({"directed": False, "multigraph": False, "graph": {},
                       "nodes": [{"id": i} for i in range(n)], "links": links}, fh)
        np.save(base / f"{split}_feats.npy", rng.normal(size=(n, F)).astype(np.float32))
        np.save(base / f"{split}_labels.npy", rng.integers(0, 2, (n, 121)).astype(np.float32))
        np.save(base / f"{split}_graph_id.npy", np.repeat(np.arange(graphs) + 1, 10))


def write_facebook(root: Path) -> None:
    base = root / "MUSAE-Facebook/raw"
    base.mkdir(parents=True)
    (base / "facebook_edges.csv").write_text("id_1,id_2\n0,1\n1,2\n2,3\n3,0\n4,5\n5,0\n")
    kinds = ["tvshow", "government", "company", "politician", "tvshow", "company"]
    (base / "facebook_target.csv").write_text(
        "id,facebook_id,page_name,page_type\n" + "".join(f"{i},{100 + i},page {i},{k}\n" for i, k in enumerate(kinds)))
    (base / "facebook.json").write_text(json.dumps({str(i): [i % 3, 3] for i in range(6)}))


def _load(name: str, root: Path, cache: Path, **config):
    from gnnbench import registry

    cls = registry.load("datasets", name)
    before = _snapshot(root)
    ds = cls(cls.Config(**config)).load(root, cache / name)
    assert _snapshot(root) == before, "the loader wrote into the data root"
    return ds


def test_ogbn_arxiv_through_ogb(tmp_path, cache_dir):
    write_ogbn_arxiv(tmp_path / "data")
    ds = _load("ogbn-arxiv", tmp_path / "data", cache_dir)
    assert ds.graph.x.shape == (N, F)
    assert ds.graph.y.shape == (N,)
    assert ds.graph.is_undirected()
    assert [ds.split[s].numel() for s in ("train", "valid", "test")] == [15, 7, 8]
    assert ds.info.ogb_name == "ogbn-arxiv"
    # a second load reads the processed file from the cache
    again = _load("ogbn-arxiv", tmp_path / "data", cache_dir)
    assert torch.equal(again.graph.edge_index, ds.graph.edge_index)
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in os.environ


def test_ogbl_collab_through_ogb(tmp_path, cache_dir):
    write_ogbl_collab(tmp_path / "data")
    ds = _load("ogbl-collab", tmp_path / "data", cache_dir)
    assert ds.info.task == Task.LINK
    assert ds.edge_split["train"]["edge"].shape == (40, 2)
    assert ds.edge_split["valid"]["edge_neg"].shape == (100, 2)
    assert ds.graph.edge_index.size(1) == 80  # training edges, both directions


def test_reddit_through_pyg(tmp_path, cache_dir):
    write_reddit(tmp_path / "data")
    ds = _load("reddit", tmp_path / "data", cache_dir)
    assert ds.graph.x.shape == (N, F)
    assert [ds.split[s].numel() for s in ("train", "valid", "test")] == [10, 10, 10]


def test_ppi_is_inductive(tmp_path, cache_dir):
    write_ppi(tmp_path / "data")
    ds = _load("ppi", tmp_path / "data", cache_dir)
    assert ds.info.task == Task.NODE_INDUCTIVE and ds.info.multilabel
    assert ds.graph.num_nodes == 30 and ds.graph.y.shape == (30, 121)
    assert ds.graph_for("valid").num_nodes == 10 and ds.graph_for("test").num_nodes == 10
    assert ds.graph_for("valid") is not ds.graph


def test_facebook_parser_and_split(tmp_path, cache_dir):
    write_facebook(tmp_path / "data")
    ds = _load("facebook", tmp_path / "data", cache_dir, train_fraction=0.5, valid_fraction=0.25)
    assert ds.graph.x.shape == (6, 4)
    assert ds.graph.x[0].tolist() == [1.0, 0.0, 0.0, 1.0]
    assert ds.graph.y.tolist() == [3, 1, 0, 2, 3, 0]  # company, government, politician, tvshow
    assert ds.graph.is_undirected()
    parts = torch.cat([ds.split[s] for s in ("train", "valid", "test")])
    assert sorted(parts.tolist()) == list(range(6))


def test_missing_files_name_what_to_place_where(tmp_path, cache_dir):
    from gnnbench.datasets.ogb import OGBNArxiv

    (tmp_path / "ogbn_arxiv").mkdir()
    with pytest.raises(DatasetMissingError, match=r"raw/edge\.csv\.gz.*Place them there"):
        OGBNArxiv().load(tmp_path, cache_dir)
    with pytest.raises(DatasetMissingError, match="GNNBENCH_DATA_ROOT"):
        OGBNArxiv().load(None, cache_dir)


def test_real_planetoid_and_facebook(data_root, cache_dir):
    expected = {"cora": (2708, 10556, 1433, [140, 500, 1000]), "citeseer": (3327, 9104, 3703, [120, 500, 1000])}
    for name, (n, e, f, sizes) in expected.items():
        ds = _load(name, data_root, cache_dir)
        assert (ds.graph.num_nodes, ds.graph.num_edges, ds.num_features) == (n, e, f)
        assert [ds.split[s].numel() for s in ("train", "valid", "test")] == sizes
        assert torch.allclose(ds.graph.x.sum(1)[ds.graph.x.sum(1) > 0], torch.tensor(1.0))  # row-normalised
    fb = _load("facebook", data_root, cache_dir)
    assert fb.graph.num_nodes == 22470 and fb.num_features == 4714
    assert fb.graph.num_edges == 2 * 171002 - int((fb.graph.edge_index[0] == fb.graph.edge_index[1]).sum())
    assert torch.bincount(fb.graph.y).tolist() == [6495, 6880, 5768, 3327]
