"""Reddit (Hamilton et al. 2017) through PyG's ``Reddit`` loader, from local raw files."""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from gnnbench.types import DatasetInfo, GraphDataset, Task

__all__ = ["Reddit"]


class Reddit:
    """Reddit posts graph: 232,965 nodes, 41 communities, the split of GraphSAGE.

    Expected under the data root: ``Reddit/raw/reddit_data.npz`` (``feature``, ``label``,
    ``node_types`` 1/2/3 for train/valid/test) and ``Reddit/raw/reddit_graph.npz`` (a SciPy
    COO adjacency), as PyG's ``Reddit`` downloads them.
    """

    description: ClassVar[str] = "Reddit (PyG), 232,965 nodes, 41 classes, GraphSAGE split"

    class Config(BaseModel):
        """No options: the published split is used."""

        model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, config=None):
        self.config = config or self.Config()

    def info(self) -> DatasetInfo:
        return DatasetInfo(name="reddit", task=Task.NODE_TRANSDUCTIVE, metric="acc", num_classes=41,
                           num_nodes=232965)

    def check(self, root) -> "Path":
        """The folder of the raw files under ``root``, after checking they are all there.

        Raises:
            DatasetMissingError: the message lists the missing files and where to place them.
        """
        from ._files import require_files

        return require_files(root, "reddit", "Reddit/raw", ["reddit_data.npz", "reddit_graph.npz"],
                             "PyG's Reddit download, reddit.zip")

    def load(self, root, cache_dir) -> GraphDataset:
        """Load with PyG's ``Reddit`` from a mirror of the raw files in the cache.

        Raises:
            DatasetMissingError: a raw file is missing.
        """
        from torch_geometric.datasets import Reddit as PygReddit

        from ._files import from_source, mirror

        raw = self.check(root)
        with from_source(raw, cache_dir, "reddit", self.config) as (work, key):
            mirror(raw, work / "raw")
            data = PygReddit(str(work))[0]
        split = {"train": data.train_mask.nonzero().view(-1), "valid": data.val_mask.nonzero().view(-1),
                 "test": data.test_mask.nonzero().view(-1)}
        return GraphDataset(info=self.info(), graph=data, split=split, source_key=key)
