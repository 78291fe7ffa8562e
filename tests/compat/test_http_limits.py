"""Hostile and oversized requests: every answer keeps MLflow's JSON error shape, nothing can
hold the server hostage, and answers that grow with the data stream in bounded memory.

These are Ferroflow's own guarantees (MLflow's server has no such limits, and its answers to
some of these are 500s or plain text), so the file runs against Ferroflow only. The
connection tests start a server of their own with short timeouts and read its memory from
/proc.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import FERROFLOW_BIN, TARGET, ServerProcess, _register, _unregister

pytestmark = pytest.mark.skipif(TARGET != "ferroflow", reason="Ferroflow's own limits")


class LimitedServer(ServerProcess):
    """A Ferroflow process with its own timeouts and connection cap."""

    def __init__(self, workdir: Path, extra: list[str]):
        super().__init__(workdir, db_path=Path(workdir) / "mlflow.db")
        self.extra = extra

    @property
    def command(self) -> list[str]:
        return [
            str(FERROFLOW_BIN), "server", "--backend-store-uri", self.backend_uri,
            "--default-artifact-root", str(self.artifact_root),
            "--host", "127.0.0.1", "--port", str(self.port), *self.extra,
        ]

    def status(self, field: str) -> int:
        """A /proc/<pid>/status size in MB (VmRSS, VmHWM)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) // 1024
        raise AssertionError(field)


@pytest.fixture
def limited(tmp_path):
    servers = []

    def make(*extra: str) -> LimitedServer:
        s = _register(LimitedServer(tmp_path / f"lim{len(servers)}", list(extra)))
        servers.append(s)
        s.start()
        return s

    yield make
    for s in servers:
        s.stop()
        _unregister(s)


def _raw(port: int, data: bytes, timeout: float = 10) -> bytes:
    """Sends `data` on a fresh connection and reads until the server closes or answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
            head, _, body = out.partition(b"\r\n\r\n")
            if b"content-length:" in head.lower():
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                if len(body) >= length:
                    break
        return out


def _split(answer: bytes) -> tuple[int, dict[str, str], dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return status, headers, json.loads(body) if body else {}


def test_a_declared_oversized_body_is_refused_before_it_is_read(server):
    port = server.port
    started = time.monotonic()
    answer = _raw(
        port,
        b"POST /api/2.0/mlflow/runs/log-batch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 10737418240\r\n\r\n{",
    )
    status, headers, body = _split(answer)
    assert status == 413, answer[:300]
    assert headers["content-type"] == "application/json"
    assert body["error_code"] == "BAD_REQUEST"
    assert "10737418240 bytes" in body["message"] and "16777216" in body["message"]
    assert time.monotonic() - started < 10  # answered without waiting for 10 GB


def test_a_chunked_body_over_the_limit_gets_413_json(api):
    def chunks():
        piece = b'{"run_id": "' + b"x" * (1 << 20)
        yield piece
        for _ in range(20):
            yield b"x" * (1 << 20)
        yield b'"}'

    r = requests.post(api.base + "/runs/log-batch", data=chunks(),
                      headers={"Content-Type": "application/json"}, timeout=60)
    assert r.status_code == 413, r.text[:300]
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error_code"] == "BAD_REQUEST"


def test_an_overlong_uri_gets_414_json(server):
    path = "/api/2.0/mlflow/experiments/get?experiment_id=" + "1" * 70_000
    answer = _raw(server.port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    status, headers, body = _split(answer)
    assert status == 414, answer[:300]
    assert headers["content-type"] == "application/json"
    assert body == {"error_code": "BAD_REQUEST", "message": "The request URI is too long."}


def test_oversized_headers_get_431_json(server):
    answer = _raw(
        server.port,
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
    )
    status, headers, body = _split(answer)
    assert status == 431, answer[:300]
    assert body["error_code"] == "BAD_REQUEST"


def test_a_malformed_request_line_gets_400_json(server):
    status, headers, body = _split(_raw(server.port, b"GARBAGE\r\n\r\n"))
    assert status == 400
    assert body["error_code"] == "BAD_REQUEST"


def test_a_path_that_is_not_utf8_gets_json(server):
    r = requests.get(server.url + "/api/2.0/mlflow-artifacts/artifacts/a/%ff%fe.txt", timeout=10)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["error_code"] == "BAD_REQUEST" and body["message"]


def test_too_many_experiment_ids_are_refused_with_the_limit_named(api):
    ids = [str(i) for i in range(1, 40_001)]
    r = api.post("/runs/search", {"experiment_ids": ids})
    assert r.status_code == 400, r.text[:300]
    body = r.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "at most 10000 experiment_ids" in body["message"]
    # repeated ids count once; a list at the limit is answered
    r = api.post("/runs/search", {"experiment_ids": ["0"] * 40_000 + ids[:9_999]})
    assert r.status_code == 200, r.text[:300]
    r = api.post("/logged-models/search", {"experiment_ids": ids})
    assert r.status_code == 400 and "at most 10000" in r.json()["message"]


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def test_idle_slow_and_stalled_connections_are_closed(limited):
    s = limited("--keep-alive-timeout", "1", "--header-read-timeout", "2",
                "--body-read-timeout", "2")
    # idle from the start
    idle = socket.create_connection(("127.0.0.1", s.port))
    assert _closed_within(idle, 8)
    # idle after an answer (keep-alive)
    kept = socket.create_connection(("127.0.0.1", s.port))
    kept.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    kept.settimeout(5)
    assert kept.recv(4096).startswith(b"HTTP/1.1 200")
    assert _closed_within(kept, 8)
    # slowloris: a header line every half second, never finished
    slow = socket.create_connection(("127.0.0.1", s.port))
    slow.sendall(b"GET /health HTTP/1.1\r\n")
    deadline = time.monotonic() + 10
    closed = False
    while time.monotonic() < deadline and not closed:
        try:
            slow.sendall(b"X-a: b\r\n")
        except OSError:
            closed = True
            break
        closed = _closed_within(slow, 0.5)
    assert closed, "a head trickled for 10 s was still being read"
    # a body that stops arriving
    stalled = socket.create_connection(("127.0.0.1", s.port))
    stalled.sendall(b"POST /api/2.0/mlflow/experiments/create HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"na")
    stalled.settimeout(10)
    got = b""
    try:
        while True:
            chunk = stalled.recv(4096)
            if not chunk:
                break
            got += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    assert not got.startswith(b"HTTP/1.1 200"), got[:200]
    for c in (idle, kept, slow, stalled):
        c.close()
    assert s.proc.poll() is None


def test_hundreds_of_idle_and_slowloris_connections_do_not_starve_requests(limited):
    s = limited("--keep-alive-timeout", "30", "--header-read-timeout", "60")
    rss_before = s.status("VmRSS")
    hostile = []
    for _ in range(500):
        hostile.append(socket.create_connection(("127.0.0.1", s.port)))
    for i in range(300):
        c = socket.create_connection(("127.0.0.1", s.port))
        c.sendall(b"POST /api/2.0/mlflow/runs/log-batch HTTP/1.1\r\nHost: x\r\nX-%d: " % i)
        hostile.append(c)
    stop = threading.Event()

    def trickle():
        while not stop.is_set():
            for c in hostile[500:]:
                try:
                    c.sendall(b"a")
                except OSError:
                    pass
            stop.wait(0.5)

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    try:
        session = requests.Session()
        exp = session.post(s.api + "/experiments/create", json={"name": "under-siege"},
                           timeout=10)
        assert exp.status_code == 200, exp.text
        exp_id = exp.json()["experiment_id"]
        for _ in range(50):
            r = session.post(s.api + "/runs/create", json={"experiment_id": exp_id}, timeout=10)
            assert r.status_code == 200, r.text
        r = session.post(s.api + "/runs/search", json={"experiment_ids": [exp_id]}, timeout=10)
        assert len(r.json()["runs"]) == 50
        grown = s.status("VmRSS") - rss_before
        assert grown < 64, f"800 hostile connections grew the server by {grown} MB"
    finally:
        stop.set()
        t.join()
        for c in hostile:
            c.close()
    assert s.proc.poll() is None


def test_a_long_history_streams_in_bounded_memory(limited):
    s = limited()
    session = requests.Session()
    exp_id = session.post(s.api + "/experiments/create", json={"name": "long"}).json()["experiment_id"]
    run_id = session.post(s.api + "/runs/create", json={"experiment_id": exp_id}).json()["run"]["info"]["run_id"]
    points = 300_000
    for b in range(0, points, 1000):
        metrics = [{"key": "loss", "value": 1.0 / (i + 1), "timestamp": 1_700_000_000_000 + i,
                    "step": i} for i in range(b, b + 1000)]
        r = session.post(s.api + "/runs/log-batch", json={"run_id": run_id, "metrics": metrics})
        assert r.status_code == 200, r.text
    peak_before = s.status("VmHWM")
    for _ in range(3):
        r = session.get(s.api + "/metrics/get-history",
                        params={"run_id": run_id, "metric_key": "loss"}, stream=True)
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/json"
        body = json.loads(b"".join(r.iter_content(1 << 20)))
        assert len(body["metrics"]) == points
        assert [m["step"] for m in body["metrics"][:3]] == [0, 1, 2]
        assert body["metrics"][-1]["step"] == points - 1
        assert "next_page_token" not in body
    # ~25 MB of JSON went out three times; the server never held it whole
    grown = s.status("VmHWM") - peak_before
    assert grown < 20, f"peak RSS grew by {grown} MB while streaming the history"
    # paging still works over the streamed route
    r = session.get(s.api + "/metrics/get-history",
                    params={"run_id": run_id, "metric_key": "loss", "max_results": 1000})
    page = r.json()
    assert len(page["metrics"]) == 1000 and page["next_page_token"]
    r = session.get(s.api + "/metrics/get-history",
                    params={"run_id": run_id, "metric_key": "loss", "max_results": 1000,
                            "page_token": page["next_page_token"]})
    assert r.json()["metrics"][0]["step"] == 1000


def test_a_big_page_of_runs_streams_in_bounded_memory(limited):
    s = limited()
    session = requests.Session()
    exp_id = session.post(s.api + "/experiments/create", json={"name": "wide"}).json()["experiment_id"]
    runs = 4000
    for i in range(runs):
        run_id = session.post(s.api + "/runs/create", json={"experiment_id": exp_id}).json()["run"]["info"]["run_id"]
        r = session.post(s.api + "/runs/log-batch", json={
            "run_id": run_id,
            "params": [{"key": f"param_{j}", "value": f"value-{i}-{j}" * 4} for j in range(10)],
            "metrics": [{"key": f"metric_{j}", "value": i * 0.5 + j, "timestamp": 1, "step": 0}
                        for j in range(10)],
        })
        assert r.status_code == 200, r.text
    # Warm-up: every run read once in pages of 500 (the size the server loads and writes at a
    # time), so the database's page caches are full before the peak is taken.
    token = None
    while True:
        body = {"experiment_ids": [exp_id], "max_results": 500}
        if token:
            body["page_token"] = token
        token = session.post(s.api + "/runs/search", json=body).json().get("next_page_token")
        if not token:
            break
    peak_before = s.status("VmHWM")
    for _ in range(3):
        r = session.post(s.api + "/runs/search",
                         json={"experiment_ids": [exp_id], "max_results": 50_000}, stream=True)
        assert r.status_code == 200
        body = json.loads(b"".join(r.iter_content(1 << 20)))
        assert len(body["runs"]) == runs
        assert len(body["runs"][0]["data"]["params"]) == 10
        assert "next_page_token" not in body
    grown = s.status("VmHWM") - peak_before
    # a page of 4000 runs costs what a page of 500 does (held whole, it takes ~40 MB more)
    assert grown < 20, f"peak RSS grew by {grown} MB while answering a page of {runs} runs"
    # pages and their tokens are unchanged
    r = session.post(s.api + "/runs/search", json={"experiment_ids": [exp_id], "max_results": 1500})
    page = r.json()
    assert len(page["runs"]) == 1500 and page["next_page_token"]
    r = session.post(s.api + "/runs/search", json={"experiment_ids": [exp_id], "max_results": 3000,
                                                   "page_token": page["next_page_token"]})
    assert len(r.json()["runs"]) == 2500 and "next_page_token" not in r.json()
