"""Shared fixtures: tiny graphs, the real data root (skipping without it), a scratch store."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_configure(config):
    """README command 2 sets ``GNNBENCH_DATA_ROOT=../shared/data``, relative to where pytest starts;
    tests that run ``gnnbench`` in another working directory (a tmp_path) need it absolute."""
    value = os.environ.get("GNNBENCH_DATA_ROOT")
    if value:
        os.environ["GNNBENCH_DATA_ROOT"] = str(Path(value).resolve())


@pytest.fixture
def data_root() -> Path:
    """The real datasets (GNNBENCH_DATA_ROOT, set by .ci/run to ../shared/data); skips without it."""
    value = os.environ.get("GNNBENCH_DATA_ROOT")
    if not value or not Path(value).is_dir():
        pytest.skip("GNNBENCH_DATA_ROOT is not set to the real data root (see README: Tests)")
    return Path(value)


@pytest.fixture
def cache_dir(tmp_path) -> Path:
    path = tmp_path / "cache"
    path.mkdir()
    return path


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'results.db'}"


@pytest.fixture
def synthetic():
    """Factory: ``synthetic(task="node", **options)`` → a loaded small synthetic GraphDataset."""
    from gnnbench.datasets.synthetic import Synthetic

    def make(**options):
        options.setdefault("num_nodes", 300)
        options.setdefault("avg_degree", 6)
        options.setdefault("num_features", 16)
        options.setdefault("num_classes", 3)
        return Synthetic(Synthetic.Config(**options)).load(None, None)

    return make


@pytest.fixture
def cli(capsys):
    """``cli(*args) -> (exit code, stdout, stderr)``: ``gnnbench ARGS`` run in this process."""
    from gnnbench.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exc:
            main(list(args))
        out = capsys.readouterr()
        return exc.value.code, out.out, out.err

    return run
