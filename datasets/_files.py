"""Helpers shared by the loaders of on-disk datasets: locating raw files without writing to the root.

A loader never writes below the data root.  The real loaders (PyG, OGB) write ``processed/`` next
to ``raw/``, so the raw files are mirrored into the dataset's cache directory as symbolic links
and the loader is pointed there.

Processed data is keyed by its source (:func:`from_source`): the cache folder is named by a hash
of the raw files' names, sizes and modification times and of the dataset config, so changed or
corrupt raw files are read again instead of being shadowed by an old processed file, and a raw
file that cannot be read is named in one :class:`~gnnbench.errors.DatasetCorruptError`, with
nothing left in the cache.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

from gnnbench.errors import DatasetCorruptError, DatasetMissingError, GnnbenchError

__all__ = ["require_files", "mirror", "trusted_torch_load", "source_key", "from_source"]


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


def source_key(raw: Path, config: Any = None) -> str:
    """12 hex digits of SHA-256 over every file under ``raw`` (relative name, size in bytes,
    modification time in ns) and the dataset ``config`` (a pydantic model or JSON data)."""
    h = hashlib.sha256()
    base = Path(raw)
    for path in sorted(p for p in base.rglob("*") if p.is_file()):
        st = path.stat()
        h.update(f"{path.relative_to(base).as_posix()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    data = config.model_dump(mode="json") if hasattr(config, "model_dump") else config
    h.update(json.dumps(data, sort_keys=True, default=str).encode())
    return h.hexdigest()[:12]


@contextlib.contextmanager
def from_source(raw: Path, cache_dir: Path, name: str, config: Any = None) -> Iterator[tuple[Path, str]]:
    """``(work, key)``: the cache folder of the processed data read from ``raw`` and its source key.

    Inside the ``with`` block the loader reads ``raw`` (through a mirror under ``work``).  Any
    error but gnnbench's own and memory errors becomes a :class:`DatasetCorruptError` naming the
    raw file being read (found in the traceback; else the folder), and a ``work`` folder this
    call created is removed: nothing is left half-written.

    Raises:
        DatasetCorruptError: a raw file cannot be read; the message names it and the fix.
    """
    key = source_key(raw, config)
    work = Path(cache_dir) / f"src-{key}"
    fresh, parent_fresh = not work.exists(), not Path(cache_dir).exists()
    try:
        yield work, key
    except (GnnbenchError, MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a parser raises on a bad file
        if "can't allocate memory" in str(exc) or "out of memory" in str(exc).lower():
            raise
        culprit = _file_in_traceback(exc, Path(raw), work)
        if fresh:
            shutil.rmtree(work, ignore_errors=True)
        if parent_fresh and Path(cache_dir).is_dir() and not any(Path(cache_dir).iterdir()):
            Path(cache_dir).rmdir()
        what = f"raw file '{culprit}'" if culprit else f"a raw file under '{raw}'"
        text = (str(exc).strip().splitlines() or [""])[-1][:200]
        raise DatasetCorruptError(
            f"dataset '{name}': {what} cannot be read ({type(exc).__name__}: {text}); it is truncated or "
            f"corrupt: replace it with the original file and run again") from exc


def _file_in_traceback(exc: BaseException, raw: Path, work: Path) -> Path | None:
    """The raw file a failing reader had open: the innermost frame local that is a path to a file
    under ``raw`` or its mirror under ``work`` (mirrored links are resolved to the raw file)."""
    raw, tb, found = raw.resolve(), exc.__traceback__, None
    roots = (str(raw), str(work.resolve()) if work.exists() else str(work))
    while tb is not None:
        for value in tb.tb_frame.f_locals.values():
            if isinstance(value, (str, os.PathLike)) and str(value).startswith(roots) and Path(value).is_file():
                found = Path(value).resolve()
        tb = tb.tb_next
    return found
