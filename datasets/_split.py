"""Seeded splits for datasets that publish none."""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["stratified_split"]


def stratified_split(y: Tensor, train: float, valid: float, seed: int) -> dict[str, Tensor]:
    """Split node indices per class into train / valid / test fractions (test gets the rest).

    Each class is shuffled with ``torch.Generator().manual_seed(seed)`` and cut at
    ``floor(train * n_c)`` and ``floor((train + valid) * n_c)``, so every split keeps the class
    proportions. Deterministic in ``seed``.

    Shapes:
        y: ``[N]`` int64 labels → ``{"train", "valid", "test"}``: sorted int64 indices.
    """
    gen = torch.Generator().manual_seed(seed)
    parts: dict[str, list[Tensor]] = {"train": [], "valid": [], "test": []}
    for c in torch.unique(y):
        idx = (y == c).nonzero().view(-1)
        idx = idx[torch.randperm(idx.numel(), generator=gen)]
        a, b = int(train * idx.numel()), int((train + valid) * idx.numel())
        parts["train"].append(idx[:a])
        parts["valid"].append(idx[a:b])
        parts["test"].append(idx[b:])
    return {k: torch.cat(v).sort().values for k, v in parts.items()}
