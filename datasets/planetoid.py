"""Cora and CiteSeer with the Planetoid public split (Yang et al. 2016), through PyG's ``Planetoid``."""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from gnnbench.types import DatasetInfo, GraphDataset, Task

__all__ = ["Cora", "CiteSeer"]

_PARTS = ["x", "y", "tx", "ty", "allx", "ally", "graph", "test.index"]


class _Planetoid:
    """A Planetoid citation graph with the public split (20 labelled nodes per class, 500 / 1000).

    Features are row-normalised to sum to one, as in Kipf & Welling (2017) and Veličković et al.
    (2018), whose published accuracies assume it.
    """

    pyg_name: ClassVar[str]
    num_classes: ClassVar[int]
    num_nodes: ClassVar[int]

    class Config(BaseModel):
        """No options: the public split is fixed."""

        model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, config=None):
        self.config = config or self.Config()

    def info(self) -> DatasetInfo:
        return DatasetInfo(name=self.pyg_name.lower(), task=Task.NODE_TRANSDUCTIVE, metric="acc",
                           num_classes=self.num_classes, num_nodes=self.num_nodes)

    def check(self, root) -> "Path":
        """The folder of the raw files under ``root``, after checking they are all there.

        Raises:
            DatasetMissingError: the message lists the missing files and where to place them.
        """
        from ._files import require_files

        return require_files(root, self.pyg_name.lower(), f"{self.pyg_name}/raw",
                             [f"ind.{self.pyg_name.lower()}.{p}" for p in _PARTS],
                             "the Planetoid repository, kimiyoung/planetoid data/")

    def load(self, root, cache_dir) -> GraphDataset:
        """Read ``ROOT/<Name>/raw/ind.<name>.*`` with PyG's ``Planetoid`` (processed files in the cache).

        Raises:
            DatasetMissingError: a raw file is missing.
            DatasetCorruptError: a raw file cannot be read (the message names it).
        """
        from torch_geometric.datasets import Planetoid
        from torch_geometric.transforms import NormalizeFeatures

        from ._files import from_source, mirror

        raw = self.check(root)
        with from_source(raw, cache_dir, self.pyg_name.lower(), self.config) as (work, key):
            mirror(raw, work / self.pyg_name / "raw")
            data = Planetoid(str(work), self.pyg_name, split="public", transform=NormalizeFeatures())[0]
        split = {"train": data.train_mask.nonzero().view(-1), "valid": data.val_mask.nonzero().view(-1),
                 "test": data.test_mask.nonzero().view(-1)}
        return GraphDataset(info=self.info(), graph=data, split=split, source_key=key)


class Cora(_Planetoid):
    """Cora (2,708 papers, 5,278 citations, 1,433 features, 7 classes), Planetoid public split."""

    description: ClassVar[str] = "Cora citation graph, 2,708 nodes, 7 classes, Planetoid public split"
    pyg_name = "Cora"
    num_classes = 7
    num_nodes = 2708


class CiteSeer(_Planetoid):
    """CiteSeer (3,327 papers, 4,552 citations, 3,703 features, 6 classes), Planetoid public split."""

    description: ClassVar[str] = "CiteSeer citation graph, 3,327 nodes, 6 classes, Planetoid public split"
    pyg_name = "CiteSeer"
    num_classes = 6
    num_nodes = 3327
