"""ogbn-arxiv and ogbl-collab through OGB's own PyG loaders, read from a local copy (no download)."""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from gnnbench.types import DatasetInfo, GraphDataset, Task

__all__ = ["OGBNArxiv", "OGBLCollab"]

_SOURCE = "https://ogb.stanford.edu (the extracted dataset folder, as OGB's downloader leaves it)"


class _NoOptions(BaseModel):
    """No options: OGB's official split is used."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class OGBNArxiv:
    """ogbn-arxiv (Hu et al. 2020): 169,343 papers, 40 subject areas, OGB's time split.

    Expected under the data root, as OGB extracts it: ``ogbn_arxiv/RELEASE_v1.txt``,
    ``ogbn_arxiv/raw/{edge, node-feat, node_year, num-node-list, num-edge-list, node-label}.csv.gz``
    and ``ogbn_arxiv/split/time/{train, valid, test}.csv.gz``. Edges are made undirected
    (the OGB examples' convention). Scored with OGB's ``Evaluator("ogbn-arxiv")``.
    """

    description: ClassVar[str] = "ogbn-arxiv (OGB), 169,343 nodes, 40 classes, official time split"
    Config = _NoOptions
    _files = ["RELEASE_v1.txt", "raw/edge.csv.gz", "raw/node-feat.csv.gz", "raw/node_year.csv.gz",
              "raw/num-node-list.csv.gz", "raw/num-edge-list.csv.gz", "raw/node-label.csv.gz",
              "split/time/train.csv.gz", "split/time/valid.csv.gz", "split/time/test.csv.gz"]

    def __init__(self, config=None):
        self.config = config or self.Config()

    def check(self, root) -> "Path":
        """The dataset folder under ``root``, after checking every file is there.

        Raises:
            DatasetMissingError: the message lists the missing files and where to place them.
        """
        from ._files import require_files

        return require_files(root, "ogbn-arxiv", "ogbn_arxiv", self._files, _SOURCE)

    def info(self) -> DatasetInfo:
        return DatasetInfo(name="ogbn-arxiv", task=Task.NODE_TRANSDUCTIVE, metric="acc", num_classes=40,
                           ogb_name="ogbn-arxiv", num_nodes=169343)

    def load(self, root, cache_dir) -> GraphDataset:
        """Load with ``ogb.nodeproppred.PygNodePropPredDataset`` from a mirror in the cache.

        Raises:
            DatasetMissingError: a file is missing.
        """
        from ogb.nodeproppred import PygNodePropPredDataset
        from torch_geometric.utils import to_undirected

        from ._files import from_source, mirror, trusted_torch_load

        src = self.check(root)
        with from_source(src, cache_dir, "ogbn-arxiv", self.config) as (work, key), trusted_torch_load():
            mirror(src, work / "ogbn_arxiv")
            ds = PygNodePropPredDataset("ogbn-arxiv", root=str(work))
            split = ds.get_idx_split()
            data = ds[0]
        data.edge_index = to_undirected(data.edge_index, num_nodes=data.num_nodes)
        data.y = data.y.view(-1)
        return GraphDataset(info=self.info(), graph=data, split=dict(split), source_key=key)


class OGBLCollab:
    """ogbl-collab (Hu et al. 2020): author collaboration, link prediction scored by Hits@50.

    Expected under the data root: ``ogbl_collab/RELEASE_v1.txt``,
    ``ogbl_collab/raw/{edge, node-feat, edge_weight, edge_year, num-node-list, num-edge-list}.csv.gz``
    and ``ogbl_collab/split/time/{train, valid, test}.pt``. Message passing uses the training
    edges; scored with OGB's ``Evaluator("ogbl-collab")``.
    """

    description: ClassVar[str] = "ogbl-collab (OGB), collaboration link prediction, Hits@50, official split"
    Config = _NoOptions
    _files = ["RELEASE_v1.txt", "raw/edge.csv.gz", "raw/node-feat.csv.gz", "raw/edge_weight.csv.gz",
              "raw/edge_year.csv.gz", "raw/num-node-list.csv.gz", "raw/num-edge-list.csv.gz",
              "split/time/train.pt", "split/time/valid.pt", "split/time/test.pt"]

    def __init__(self, config=None):
        self.config = config or self.Config()

    def check(self, root) -> "Path":
        """The dataset folder under ``root``, after checking every file is there.

        Raises:
            DatasetMissingError: the message lists the missing files and where to place them.
        """
        from ._files import require_files

        return require_files(root, "ogbl-collab", "ogbl_collab", self._files, _SOURCE)

    def info(self) -> DatasetInfo:
        return DatasetInfo(name="ogbl-collab", task=Task.LINK, metric="hits@50", ogb_name="ogbl-collab",
                           num_nodes=235868)

    def load(self, root, cache_dir) -> GraphDataset:
        """Load with ``ogb.linkproppred.PygLinkPropPredDataset`` from a mirror in the cache.

        Raises:
            DatasetMissingError: a file is missing.
        """
        import torch
        from ogb.linkproppred import PygLinkPropPredDataset
        from torch_geometric.data import Data

        from ._files import from_source, mirror, trusted_torch_load

        src = self.check(root)
        with from_source(src, cache_dir, "ogbl-collab", self.config) as (work, key), trusted_torch_load():
            mirror(src, work / "ogbl_collab")
            ds = PygLinkPropPredDataset("ogbl-collab", root=str(work))
            split = ds.get_edge_split()
            data = ds[0]
        edge_split = {s: {k: torch.as_tensor(v).long() for k, v in split[s].items() if k in ("edge", "edge_neg")}
                      for s in ("train", "valid", "test")}
        train = edge_split["train"]["edge"]
        ei = torch.cat([train.t(), train.t().flip(0)], dim=1)
        graph = Data(x=data.x, edge_index=ei, num_nodes=data.num_nodes)
        return GraphDataset(info=self.info(), graph=graph, edge_split=edge_split, source_key=key)
