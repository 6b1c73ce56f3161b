"""Helpers shared by the loaders of on-disk datasets: locating raw files without writing to the root.

A loader never writes below the data root.  The real loaders (PyG, OGB) write ``processed/`` next
to ``raw/``, so the raw files are mirrored into the dataset's cache directory as symbolic links
and the loader is pointed there.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from gnnbench.errors import DatasetMissingError

__all__ = ["require_files", "mirror", "trusted_torch_load"]


def require_files(root: Path | None, name: str, folder: str, files: list[str], source: str) -> Path:
    """The folder ``root/folder`` after checking that every one of ``files`` is in it.

    Raises:
        DatasetMissingError: no root is configured or files are missing; the message lists the
            files, where to place them and where they come from.
    """
    if root is None:
        raise DatasetMissingError(
            f"dataset '{name}' needs a data root: pass --data-root DIR or set GNNBENCH_DATA_ROOT, "
            f"with the files {', '.join(files)} under DIR/{folder} (from {source})")
    base = Path(root) / folder
    missing = [f for f in files if not (base / f).is_file()]
    if missing:
        raise DatasetMissingError(
            f"dataset '{name}' is missing {len(missing)} file(s) under {base}: {', '.join(missing)}. "
            f"Place them there (from {source}); no download is attempted")
    return base


def mirror(src: Path, dst: Path) -> Path:
    """Mirror the tree ``src`` into ``dst`` as symbolic links to its files; returns ``dst``.

    Only links are created, under ``dst``; ``src`` is only read.
    """
    src, dst = Path(src).resolve(), Path(dst)
    for path in src.rglob("*"):
        if not path.is_file():
            continue
        target = dst / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            if target.is_symlink() and Path(os.readlink(target)) == path:
                continue
            target.unlink()
        target.symlink_to(path)
    return dst


@contextlib.contextmanager
def trusted_torch_load() -> Iterator[None]:
    """Let ogb 1.3.6 read its own pickled files under torch >= 2.6.

    ogb calls ``torch.load`` without ``weights_only=False``, which torch >= 2.6 defaults to
    ``True``; the files it reads here are the processed files gnnbench wrote into its cache and
    the split files of the user's own data root.
    """
    import warnings

    key = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"
    old = os.environ.get(key)
    os.environ[key] = "1"
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD.*")
            yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old
