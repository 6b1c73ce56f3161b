"""A Ray cluster of two nodes (a head and one more worker node, one CPU each) started on this
machine runs a sweep of four trials through ``gnnbench sweep --executor ray``."""
from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="Ray is the optional extra gnnbench[ray]; pip install 'gnnbench[ray]'")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(temp_dir: str, port: int) -> None:
    """Kill the processes of this cluster only: those naming its temp dir or port, and their descendants."""
    import psutil

    ours = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(temp_dir in part or f":{port}" in part for part in p.info["cmdline"] or []):
                ours.append(p)
                ours.extend(p.children(recursive=True))
        except psutil.Error:
            pass
    for p in ours:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(ours, timeout=10)
    shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_cluster():
    ray_bin = shutil.which("ray") or str(Path(sys.executable).parent / "ray")
    temp_dir = tempfile.mkdtemp(prefix="gr", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    port = _free_port()
    address = f"127.0.0.1:{port}"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "OMP_NUM_THREADS": "1"}
    try:
        subprocess.run([ray_bin, "start", "--head", f"--port={port}", "--num-cpus=1", f"--temp-dir={temp_dir}",
                        "--include-dashboard=false", "--disable-usage-stats"],
                       check=True, capture_output=True, env=env, timeout=180)
        subprocess.run([ray_bin, "start", f"--address={address}", "--num-cpus=1", "--disable-usage-stats"],
                       check=True, capture_output=True, env=env, timeout=180)
        yield address
    finally:
        _stop(temp_dir, port)


def test_ray_cluster_of_two_nodes_runs_a_sweep(ray_cluster, tmp_path):
    sweep_file = tmp_path / "ray.toml"
    sweep_file.write_text('methods = ["full_graph"]\nbackbones = ["gcn", "sage"]\nseeds = [0, 1]\n'
                          '[train]\nepochs = 2\n[dataset_config.synthetic]\nnum_nodes = 200\navg_degree = 4\n')
    db = tmp_path / "ray.db"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    cmd = [sys.executable, "-c", "from gnnbench.cli import main; main()", "sweep", str(sweep_file), "--executor", "ray",
           "--ray-address", ray_cluster, "--db", str(db), "--cache-dir", str(tmp_path / "cache")]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=400)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT status, extra, runner_pid, sweep_id FROM trials").fetchall()
    assert [r[0] for r in rows] == ["completed"] * 4
    nodes = {json.loads(r[1])["ray_node_id"] for r in rows}
    assert len(nodes) == 2  # two trials at a time, one CPU per node: both nodes ran trials
    assert {r[3] for r in rows} == {"ray"}
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=200)
    assert again.returncode == 0 and "4 already completed, 0 to run" in again.stderr.replace("\n", " ")


def test_unreachable_ray_address_is_one_message_and_writes_nothing(tmp_path):
    sweep_file = tmp_path / "ray.toml"
    sweep_file.write_text('methods = ["full_graph"]\nbackbones = ["gcn"]\n')
    db = tmp_path / "ray.db"
    cmd = [sys.executable, "-c", "from gnnbench.cli import main; main()", "sweep", str(sweep_file), "--executor", "ray",
           "--ray-address", f"127.0.0.1:{_free_port()}", "--db", str(db)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=200)
    assert result.returncode == 2
    assert "cannot connect to a Ray cluster" in result.stderr
    assert not db.exists()
