"""A third-party backbone (tests/plugins/backbone_plugin, ``rwconv``) that provides a fixed
convolution matrix trains with full_graph, cluster_gcn, graphsaint_rw and vqgnn, none of which
names it; a method needing another capability refuses it before loading data."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).parent / "plugins" / "backbone_plugin"

_TRAIN = """
import json, sys
from pathlib import Path
from gnnbench.config import TrialConfig
from gnnbench.runner import execute_trial
out = {}
for m in ["full_graph", "cluster_gcn", "graphsaint_rw", "vqgnn"]:
    cfg = TrialConfig(method=m, backbone="rwconv", dataset="synthetic", device="cpu", train={"epochs": 2},
                      dataset_config={"num_nodes": 300},
                      method_config={"num_parts": 8} if m == "cluster_gcn" else {})
    rec = execute_trial(cfg, None, Path(sys.argv[1]))
    out[m] = [str(rec.status), rec.test_metric, (rec.error or "")[-400:]]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                          "--target", str(target), str(PLUGIN)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")])))


def test_fixed_convolution_backbone_trains_with_four_methods(plugin_env, tmp_path):
    out = subprocess.run([sys.executable, "-c", _TRAIN, str(tmp_path)], capture_output=True, text=True,
                         env=plugin_env)
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout.strip().splitlines()[-1])
    for method, (status, test, error) in results.items():
        assert status == "completed", (method, error)
        assert 0.0 <= test <= 1.0


def test_method_needing_bipartite_layers_refuses_it(plugin_env, tmp_path):
    out = subprocess.run([sys.executable, "-c", "from gnnbench.cli import main; main()", "run", "-m", "ns_sage",
                          "-b", "rwconv", "--db", str(tmp_path / "r.db")], capture_output=True, text=True,
                         env=plugin_env)
    assert out.returncode == 2
    assert "needs a backbone providing bipartite" in out.stderr + out.stdout
    assert "rwconv" in out.stderr + out.stdout
