"""PPI (Zitnik & Leskovec 2017; Hamilton et al. 2017): inductive multi-label node classification."""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from gnnbench.types import DatasetInfo, GraphDataset, Task

__all__ = ["PPI"]

_FILES = [f"{s}_{f}" for s in ("train", "valid", "test")
          for f in ("feats.npy", "graph_id.npy", "graph.json", "labels.npy")]


class PPI:
    """Protein-protein interaction graphs: 20 for training, 2 for validation, 2 for test.

    121 labels per node, scored by micro-F1. Training uses the 20 training graphs (as disjoint
    components); validation and test graphs are never seen in training. Expected under the data
    root: ``PPI/raw/{train,valid,test}_{feats.npy, graph_id.npy, graph.json, labels.npy}``, as
    PyG's ``PPI`` downloads them.
    """

    description: ClassVar[str] = "PPI (PyG), 24 graphs, 121 labels, inductive, micro-F1"

    class Config(BaseModel):
        """No options: the published split is used."""

        model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, config=None):
        self.config = config or self.Config()

    def info(self) -> DatasetInfo:
        return DatasetInfo(name="ppi", task=Task.NODE_INDUCTIVE, metric="micro_f1", num_classes=121,
                           multilabel=True)

    def check(self, root) -> "Path":
        """The folder of the raw files under ``root``, after checking they are all there.

        Raises:
            DatasetMissingError: the message lists the missing files and where to place them.
        """
        from ._files import require_files

        return require_files(root, "ppi", "PPI/raw", _FILES, "PyG's PPI download, ppi.zip")

    def load(self, root, cache_dir) -> GraphDataset:
        """Load with PyG's ``PPI`` from a mirror of the raw files in the cache.

        Raises:
            DatasetMissingError: a raw file is missing.
        """
        import torch
        from torch_geometric.data import Batch, Data
        from torch_geometric.datasets import PPI as PygPPI

        from ._files import from_source, mirror

        raw = self.check(root)
        parts = {}
        with from_source(raw, cache_dir, "ppi", self.config) as (work, key):
            mirror(raw, work / "raw")
            for split, pyg_split in (("train", "train"), ("valid", "val"), ("test", "test")):
                b = Batch.from_data_list(list(PygPPI(str(work), split=pyg_split)))
                parts[split] = Data(x=b.x, edge_index=b.edge_index, y=b.y)
        split = {s: torch.arange(g.num_nodes) for s, g in parts.items()}
        info = self.info()
        return GraphDataset(info=info, graph=parts["train"], split=split,
                            eval_graphs={"valid": parts["valid"], "test": parts["test"]}, source_key=key)
