"""MUSAE Facebook page-page (Rozemberczki et al. 2021) from its original raw files."""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gnnbench.types import DatasetInfo, GraphDataset, Task

__all__ = ["Facebook"]

_FILES = ["facebook_edges.csv", "facebook_target.csv", "facebook.json"]
_CLASSES = ["company", "government", "politician", "tvshow"]


class Facebook:
    """Facebook page-page graph: 22,470 pages, 171,002 mutual likes, 4 page types.

    Node features are the 4,714 binary page-description features of ``facebook.json`` (the
    original MUSAE format, not PyG's 128-dimensional ``FacebookPagePage`` variant). Classes, in
    order: company, government, politician, tvshow.

    The dataset has no official split. gnnbench's is a **stratified random split**: each class
    is shuffled with ``split_seed`` (default 0) and cut into ``train_fraction`` (0.6),
    ``valid_fraction`` (0.2) and the rest (0.2) for test. The split does not change with the
    trial seed, which varies only model initialisation and sampling.

    Args (``dataset_config``):
        split_seed: seed of the split (default 0).
        train_fraction, valid_fraction: split fractions (default 0.6 and 0.2).
    """

    description: ClassVar[str] = "MUSAE Facebook page-page, 22,470 nodes, 4 classes, seeded stratified 60/20/20 split"

    class Config(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")
        split_seed: int = Field(0, ge=0)
        train_fraction: float = Field(0.6, gt=0, lt=1)
        valid_fraction: float = Field(0.2, gt=0, lt=1)

        @model_validator(mode="after")
        def _fractions(self) -> "Facebook.Config":
            if self.train_fraction + self.valid_fraction >= 1:
                raise ValueError("train_fraction + valid_fraction must be below 1 (test gets the rest)")
            return self

    def __init__(self, config=None):
        self.config = config or self.Config()

    def info(self) -> DatasetInfo:
        return DatasetInfo(name="facebook", task=Task.NODE_TRANSDUCTIVE, metric="acc", num_classes=4,
                           num_nodes=22470)

    def check(self, root) -> "Path":
        """The folder of the raw files under ``root``, after checking they are all there.

        Raises:
            DatasetMissingError: the message lists the missing files and where to place them.
        """
        from ._files import require_files

        return require_files(root, "facebook", "MUSAE-Facebook/raw", _FILES,
                             "benedekrozemberczki/MUSAE input/, or SNAP musae-facebook")

    def load(self, root, cache_dir) -> GraphDataset:
        """Read ``ROOT/MUSAE-Facebook/raw/{facebook_edges.csv, facebook_target.csv, facebook.json}``.

        The parsed graph is cached in ``cache_dir`` as index tensors.

        Raises:
            DatasetMissingError: a raw file is missing.
            ValueError: a raw file is malformed (the message names it).
        """
        import torch
        from torch_geometric.data import Data
        from torch_geometric.utils import to_undirected

        from ._split import stratified_split

        from ._files import from_source

        raw = self.check(root)
        with from_source(raw, cache_dir, "facebook", self.config) as (work, key):
            cache = work / "facebook_v1.pt"
            parsed = torch.load(cache, weights_only=True) if cache.is_file() else None
            if parsed is None:
                parsed = _parse(raw)
                work.mkdir(parents=True, exist_ok=True)
                torch.save(parsed, cache)
        n = parsed["y"].numel()
        x = torch.zeros(n, int(parsed["num_features"]))
        x[parsed["feat_row"], parsed["feat_col"]] = 1.0
        edge_index = to_undirected(parsed["edge_index"], num_nodes=n)
        data = Data(x=x, edge_index=edge_index, y=parsed["y"])
        c = self.config
        split = stratified_split(data.y, c.train_fraction, c.valid_fraction, c.split_seed)
        return GraphDataset(info=self.info(), graph=data, split=split, source_key=key)


def _parse(raw) -> dict:
    """Parse the three MUSAE files into index tensors."""
    import json

    import pandas as pd
    import torch

    try:
        edges = pd.read_csv(raw / "facebook_edges.csv")[["id_1", "id_2"]].to_numpy()
        target = pd.read_csv(raw / "facebook_target.csv")[["id", "page_type"]]
        with open(raw / "facebook.json") as fh:
            feats = json.load(fh)
    except (KeyError, ValueError, json.JSONDecodeError) as exc:
        raise ValueError(f"malformed MUSAE Facebook file under {raw}: {exc}") from exc
    target = target.sort_values("id")
    n = len(target)
    if target["id"].tolist() != list(range(n)):
        raise ValueError(f"{raw / 'facebook_target.csv'}: ids must be 0..{n - 1}")
    unknown = sorted(set(target["page_type"]) - set(_CLASSES))
    if unknown:
        raise ValueError(f"{raw / 'facebook_target.csv'}: unknown page_type(s) {unknown}; expected {_CLASSES}")
    y = torch.tensor([_CLASSES.index(t) for t in target["page_type"]], dtype=torch.long)
    rows, cols = [], []
    for node, active in feats.items():
        rows.extend([int(node)] * len(active))
        cols.extend(int(a) for a in active)
    return {
        "edge_index": torch.as_tensor(edges.T, dtype=torch.long).contiguous(),
        "y": y,
        "feat_row": torch.tensor(rows, dtype=torch.long),
        "feat_col": torch.tensor(cols, dtype=torch.long),
        "num_features": torch.tensor(max(cols) + 1 if cols else 0),
    }
