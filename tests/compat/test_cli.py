"""The `ferroflow` command line as a user runs it: `mlflow server`'s flags and environment
variables, start-up messages, a clean Ctrl-C, `--static-prefix`, and refusals at start-up.

Ferroflow-only (MLflow's own CLI is not under test here).
"""

from __future__ import annotations

import os
from pathlib import Path
import signal
import sqlite3
import subprocess
import time

import pytest
import requests

from conftest import FERROFLOW_BIN, TARGET, free_port

pytestmark = pytest.mark.skipif(TARGET != "ferroflow", reason="tests Ferroflow's own CLI")


def run(args, **kw):
    return subprocess.run([str(FERROFLOW_BIN), *args], capture_output=True, text=True, timeout=30, **kw)


def start(args, cwd, env=None):
    full_env = dict(os.environ)
    full_env.pop("MLFLOW_TRACKING_URI", None)
    full_env.update(env or {})
    return subprocess.Popen(
        [str(FERROFLOW_BIN), *args], cwd=cwd, env=full_env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early: {proc.stdout.read() if proc.stdout else ''}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.02)
    raise AssertionError(f"{url} not healthy after {timeout}s")


def stop(proc: subprocess.Popen, sig=signal.SIGINT) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return proc.returncode, out


def test_version_flag_prints_the_version():
    r = run(["--version"])
    assert r.returncode == 0
    assert r.stdout.startswith("ferroflow ")


def test_server_help_lists_mlflow_server_flags():
    r = run(["server", "--help"])
    assert r.returncode == 0, r.stderr
    for flag in ["--backend-store-uri", "--default-artifact-root", "--artifacts-destination",
                 "--serve-artifacts", "--no-serve-artifacts", "--artifacts-only", "--host",
                 "--port", "--workers", "--static-prefix"]:
        assert flag in r.stdout, flag


def test_defaults_to_sqlite_mlflow_db_in_the_working_directory_and_stops_cleanly_on_ctrl_c(tmp_path):
    port = free_port()
    proc = start(["ui", "--port", str(port)], cwd=tmp_path)
    wait_healthy(f"http://127.0.0.1:{port}/health", proc)
    r = requests.post(f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/create",
                      json={"name": "cli-exp"}, timeout=10)
    assert r.status_code == 200, r.text
    code, out = stop(proc)
    assert code == 0, out
    assert f"http://127.0.0.1:{port}/" in out          # where to open it
    assert str(tmp_path / "mlflow.db") in out           # where the data lives
    assert "shut down cleanly" in out
    # The database is whole and holds what was written.
    conn = sqlite3.connect(tmp_path / "mlflow.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT name FROM experiments WHERE name = 'cli-exp'").fetchone()


def test_sigterm_also_stops_cleanly(tmp_path):
    port = free_port()
    proc = start(["server", "--port", str(port)], cwd=tmp_path)
    wait_healthy(f"http://127.0.0.1:{port}/health", proc)
    code, out = stop(proc, signal.SIGTERM)
    assert code == 0 and "shut down cleanly" in out, out


def _server_environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").partition("=")[::2] for item in raw if item)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc")
def test_the_server_runs_with_two_malloc_arenas_unless_told_otherwise(tmp_path):
    for env, expected in (({}, "2"), ({"MALLOC_ARENA_MAX": "4"}, "4")):
        port = free_port()
        base = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
        proc = subprocess.Popen(
            [str(FERROFLOW_BIN), "server", "--port", str(port)], cwd=tmp_path,
            env={**base, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            wait_healthy(f"http://127.0.0.1:{port}/health", proc)
            # the same process (its pid is the one started), now with the limit
            assert _server_environ(proc.pid).get("MALLOC_ARENA_MAX") == expected
        finally:
            code, out = stop(proc, signal.SIGTERM)
        assert code == 0 and "shut down cleanly" in out, out


def test_mlflow_environment_variables_are_honoured(tmp_path):
    port = free_port()
    env = {"MLFLOW_PORT": str(port), "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'env.db'}"}
    proc = start(["server"], cwd=tmp_path, env=env)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health", proc)
        assert (tmp_path / "env.db").exists()
    finally:
        stop(proc)


def test_python_server_options_are_accepted_and_ignored(tmp_path):
    port = free_port()
    proc = start(["server", "--port", str(port), "--workers", "2", "--gunicorn-opts", "--timeout 60",
                  "--uvicorn-opts", "--loop asyncio"], cwd=tmp_path)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health", proc)
    finally:
        stop(proc)


def test_static_prefix_serves_every_route_under_the_prefix(tmp_path):
    port = free_port()
    proc = start(["server", "--port", str(port), "--static-prefix", "/mlflow"], cwd=tmp_path)
    try:
        base = f"http://127.0.0.1:{port}/mlflow"
        wait_healthy(f"{base}/health", proc)
        assert requests.get(f"{base}/version", timeout=5).text == "3.18.0"
        r = requests.post(f"{base}/api/2.0/mlflow/experiments/search", json={"max_results": 10}, timeout=5)
        assert r.status_code == 200 and r.json()["experiments"][0]["name"] == "Default"
        # Outside the prefix the API is not there.
        r = requests.post(f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search",
                          json={"max_results": 10}, timeout=5)
        assert r.status_code == 404
    finally:
        stop(proc)


def test_the_mlflow_client_works_through_a_static_prefix(tmp_path, monkeypatch):
    import mlflow

    port = free_port()
    proc = start(["server", "--port", str(port), "--static-prefix", "/mlflow"], cwd=tmp_path)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/mlflow/health", proc)
        mlflow.set_tracking_uri(f"http://127.0.0.1:{port}/mlflow")
        mlflow.set_experiment("prefixed")
        with mlflow.start_run() as run:
            mlflow.log_metric("m", 1.5)
        assert mlflow.get_run(run.info.run_id).data.metrics == {"m": 1.5}
    finally:
        stop(proc)


def test_unsupported_backend_uri_is_refused_with_a_message(tmp_path):
    r = run(["server", "--port", str(free_port()), "--backend-store-uri", "mongodb://x/y"], cwd=tmp_path)
    assert r.returncode != 0
    assert "mongodb://x/y" in r.stderr


def test_port_in_use_is_refused_with_a_message(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run(["server", "--port", str(port)], cwd=tmp_path)
    assert r.returncode != 0
    assert f"127.0.0.1:{port}" in r.stderr
