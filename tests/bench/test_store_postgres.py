"""The results store on PostgreSQL: a throw-away server on loopback, started by the test.

Skips with a reason where PostgreSQL's ``initdb``/``pg_ctl``, a ``postgres`` system user (the
server refuses to run as root) or the ``psycopg`` driver is missing.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_url():
    pytest.importorskip("psycopg", reason="the psycopg driver is not installed")
    if not (shutil.which("initdb") and shutil.which("pg_ctl")):
        pytest.skip("PostgreSQL's initdb/pg_ctl are not on PATH")
    try:
        import pwd
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no 'postgres' system user to run the server as")
    import tempfile
    from pathlib import Path

    data = Path(tempfile.mkdtemp(prefix="gnnbench-pg-"))  # pytest's tmp_path is not readable by postgres
    shutil.chown(data, "postgres")
    port = _free_port()
    as_pg = ["su", "postgres", "-c"] if os.geteuid() == 0 else ["sh", "-c"]
    subprocess.run([*as_pg, f"initdb -D {data} -A trust -U gnn"], check=True, capture_output=True)
    subprocess.run([*as_pg, f"pg_ctl -D {data} -w -l {data}/log -o '-k {data} -p {port} "
                            f"-c listen_addresses=127.0.0.1' start"], check=True, capture_output=True)
    try:
        for _ in range(50):
            if subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "gnn", "-d", "postgres",
                               "-c", "CREATE DATABASE bench"], capture_output=True).returncode == 0:
                break
            time.sleep(0.2)
        yield f"postgresql+psycopg://gnn@127.0.0.1:{port}/bench"
    finally:
        subprocess.run([*as_pg, f"pg_ctl -D {data} -m immediate stop"], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


def test_run_and_results_on_postgresql(postgres_url):
    cli = [sys.executable, "-c", "from gnnbench.cli import main; main()"]
    out = subprocess.run([*cli, "run", "-m", "full_graph", "-b", "gcn", "--seeds", "0", "1", "--epochs", "3",
                          "--set", "dataset.num_nodes=200", "--db", postgres_url], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    out = subprocess.run([*cli, "results", "--format", "json", "--curves", "--db", postgres_url],
                         capture_output=True, text=True)
    rows = json.loads(out.stdout)
    assert [(r["seed"], r["status"], len(r["curve"])) for r in rows] == [(0, "completed", 3), (1, "completed", 3)]
    assert rows[0]["config"]["train"]["epochs"] == 3
