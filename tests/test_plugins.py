"""Third-party plugins: an example distribution installed into an environment and run through
``gnnbench run``; a broken distribution shown as broken by ``gnnbench list`` and refused by ``run``."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGINS = Path(__file__).parent / "plugins"


def _install(dist: str, target: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                          "--target", str(target), str(PLUGINS / dist)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory):
    """Environment variables of a Python environment with both plugin distributions installed."""
    target = tmp_path_factory.mktemp("site")
    _install("example_plugin", target)
    _install("broken_plugin", target)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")])))
    return env


def _gnnbench(env, *args, cwd=None):
    return subprocess.run([sys.executable, "-c", "from gnnbench.cli import main; main()", *args],
                          capture_output=True, text=True, env=env, cwd=cwd)


def test_third_party_method_runs_through_gnnbench_run(plugin_env, tmp_path):
    db = tmp_path / "r.db"
    out = _gnnbench(plugin_env, "run", "--method", "example_mlp", "--backbone", "gcn", "--epochs", "5",
                    "--set", "dataset.num_nodes=200", "--db", str(db))
    assert out.returncode == 0, out.stderr
    rows = json.loads(_gnnbench(plugin_env, "results", "--format", "json", "--db", str(db)).stdout)
    assert [(r["method"], r["status"], r["epochs"]) for r in rows] == [("example_mlp", "completed", 5)]
    assert rows[0]["config"]["method_config"] == {"hidden_channels": 64}  # the plugin's defaults, stored
    listing = _gnnbench(plugin_env, "list", "methods")
    assert "example_mlp" in listing.stdout and "gnnbench-example-plugin 1.0.0" in listing.stdout


def test_broken_plugins_are_listed_as_broken(plugin_env):
    out = _gnnbench(plugin_env, "list", "methods")
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert "BROKEN" in text and "gnnbench_broken_missing_module" in text
    assert "lacks required attribute" in text
    assert "full_graph" in text  # the healthy plugins are still listed


def test_running_a_broken_plugin_names_its_entry_point(plugin_env, tmp_path):
    db = tmp_path / "r.db"
    out = _gnnbench(plugin_env, "run", "--method", "broken_import", "--backbone", "gcn", "--db", str(db))
    assert out.returncode == 2
    err = " ".join(out.stderr.split())
    assert "gnnbench.methods:broken_import = gnnbench_broken_missing_module:Method" in err
    assert "gnnbench-broken-plugin 0.0.1" in err
    assert not db.exists()
    out = _gnnbench(plugin_env, "run", "--method", "broken_attrs", "--backbone", "gcn", "--db", str(db))
    assert out.returncode == 2 and "Config" in out.stderr and "supported_tasks" in out.stderr
