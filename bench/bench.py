#!/usr/bin/env python3
"""Ferroflow vs MLflow vs FastTrackML: the same raw-HTTP workloads against each server.

Each server is started fresh on its own temp dir with a SQLite backend (or, with
``--backend postgresql``, its own new PostgreSQL database on 127.0.0.1:5432) and a free
loopback port, driven with identical client code (stdlib ``http.client`` with one
keep-alive connection per thread: it costs far less client CPU per request than
``requests``, which matters on a 2-core box where client and server share the CPU),
then killed. The results are printed as markdown tables with Ferroflow/other ratios
and saved as JSON (and markdown) under bench/results/.

This is a benchmark, not a test: a workload that fails on one server is recorded as
an error and the run goes on. Only 127.0.0.1 is ever contacted.

    bench/.venv/bin/python bench/bench.py                # full sizes
    bench/.venv/bin/python bench/bench.py --quick        # a few minutes on 2 cores
    bench/.venv/bin/python bench/bench.py --servers mlflow,fasttrackml --workloads search_10k
    bench/.venv/bin/python bench/bench.py --backend postgresql   # same, on PostgreSQL
"""

from __future__ import annotations

import argparse
import atexit
import collections
import datetime as _dt
import http.client
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import multiprocessing
import threading
import time
import urllib.parse

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)
API = "/api/2.0/mlflow"
# The readiness probe is the same API call for every server (rather than each one's
# /health): a 200 here proves the store is migrated and the REST API is serving, so
# start-up times are comparable. (MLflow and FastTrackML both also answer GET /health.)
READY_PROBE = API + "/experiments/search?max_results=1"
SERVER_ORDER = ["ferroflow", "fasttrackml", "mlflow"]
WORKLOADS = ["create_runs", "log_metric_8_clients", "log_batch_1000", "search_10k", "get_history_100k"]
# The database behind every server: "sqlite" (a file in the server's temp dir) or
# "postgresql" (a fresh database per server on PG_HOST, dropped afterwards).
BACKEND = {"kind": "sqlite"}
PG_HOST = os.environ.get("BENCH_PG", "postgres@127.0.0.1:5432")


def pg_database_name(tmp: str) -> str:
    return "ffbench_" + os.path.basename(tmp).replace("-", "_").lower()


def _psql(sql: str) -> None:
    user, hostport = PG_HOST.split("@", 1)
    host, port = hostport.split(":", 1)
    subprocess.run(["psql", "-h", host, "-p", port, "-U", user, "-d", "postgres", "-v",
                    "ON_ERROR_STOP=1", "-q", "-c", sql], check=True, capture_output=True)


def db_uri(flavor: str, tmp: str) -> str:
    """The backend URI for one server, in the form that server expects."""
    if BACKEND["kind"] == "sqlite":
        # FastTrackML's SQLite URI is sqlite://<path> (its default is the relative
        # sqlite://fasttrackml.db), so an absolute /tmp/x/bench.db becomes
        # sqlite:///tmp/x/bench.db -- the same 3-slash string SQLAlchemy wants.
        return f"sqlite:///{tmp}/bench.db" if flavor != "fasttrackml" else f"sqlite://{tmp}/bench.db"
    # Loopback: no TLS for anyone (each client library would otherwise negotiate it by
    # default when the server offers it, and not all alike).
    db = pg_database_name(tmp)
    if flavor == "mlflow":
        return f"postgresql+psycopg2://{PG_HOST}/{db}?sslmode=disable"
    if flavor == "fasttrackml":
        return f"postgres://{PG_HOST}/{db}?sslmode=disable"
    return f"postgresql://{PG_HOST}/{db}?sslmode=disable"


def refresh_statistics() -> None:
    """After seeding on PostgreSQL: ANALYZE the server's database, i.e. the planner
    statistics autovacuum would have gathered within its first minute. Without it every
    server is measured on estimates from empty tables (nested loops over thousands of rows),
    which no running deployment sees for long. Same for every server."""
    if BACKEND["kind"] == "postgresql" and BACKEND.get("current_db"):
        user, hostport = PG_HOST.split("@", 1)
        host, port = hostport.split(":", 1)
        subprocess.run(["psql", "-h", host, "-p", port, "-U", user, "-d", BACKEND["current_db"],
                        "-q", "-c", "ANALYZE"], check=True, capture_output=True)


REQUEST_TIMEOUT_S = 300.0  # generous: MLflow under 8 writers on 2 cores can be slow


def now_ms() -> int:
    return int(time.time() * 1000)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in [0, 1]); None for an empty list."""
    if not values:
        return None
    xs = sorted(values)
    k = max(0, min(len(xs) - 1, math.ceil(q * len(xs)) - 1))
    return xs[k]


# --------------------------------------------------------------------------------------
# HTTP client
# --------------------------------------------------------------------------------------


class ApiError(Exception):
    def __init__(self, status: int, body: bytes, path: str):
        super().__init__(f"HTTP {status} on {path}: {body[:300]!r}")
        self.status = status


class LeanPoster:
    """A minimal keep-alive HTTP/1.1 client for the single-point logging loop.

    http.client builds header dicts, parses every header line and wraps the socket in a
    buffered reader; on 2 cores shared with the server, eight clients doing that cap the
    request rate below what the faster servers sustain, and the ratio would measure the
    client. This one sends a pre-built request with one write and reads the response by
    Content-Length (or chunked framing). Every server is driven by the same code.
    """

    def __init__(self, port: int, path: str):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT_S)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     "Content-Type: application/json\r\nContent-Length: ").encode()
        self.buf = b""

    def post(self, body: bytes) -> int:
        self.sock.sendall(self.head + str(len(body)).encode() + b"\r\n\r\n" + body)
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        if b"content-length:" in lower:
            n = int(lower.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            while len(rest) < n:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("server closed the connection")
                rest += chunk
            self.buf = rest[n:]
        else:  # chunked: read until the terminating zero-length chunk
            while not rest.endswith(b"0\r\n\r\n"):
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("server closed the connection")
                rest += chunk
            self.buf = b""
        if status != 200:
            raise ApiError(status, rest, "log-metric")
        return status

    def close(self):
        self.sock.close()


class Api:
    """One keep-alive HTTP/1.1 connection to a server. Not thread-safe: one per thread."""

    def __init__(self, port: int):
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_S)
        conn.connect()
        # http.client sends headers+body in one write for bytes bodies, but make sure
        # Nagle never delays a small request behind a delayed ACK.
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def raw(self, method: str, path: str, body: dict | None = None) -> bytes:
        """Send one request and return the raw response body; raise ApiError unless 200."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = self._connect()
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                payload = resp.read()
                break
            except TimeoutError:
                self.close()
                raise
            except (http.client.HTTPException, ConnectionError, OSError):
                # A server may drop an idle keep-alive connection between workloads
                # (uvicorn's keep-alive timeout is 5 s). Reconnect once; a second
                # failure is real.
                self.close()
                if attempt:
                    raise
        if resp.will_close:
            self.close()
        if resp.status != 200:
            raise ApiError(resp.status, payload, path)
        return payload

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        payload = self.raw(method, path, body)
        return json.loads(payload) if payload else {}

    def post(self, endpoint: str, body: dict) -> dict:
        return self.call("POST", API + endpoint, body)

    def get(self, endpoint: str, params: dict) -> dict:
        return self.call("GET", API + endpoint + "?" + urllib.parse.urlencode(params))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def run_id_of(create_response: dict) -> str:
    info = create_response["run"]["info"]
    # run_uuid is the deprecated alias; every server sends run_id today, but be lenient.
    return info.get("run_id") or info["run_uuid"]


def create_experiment(api: Api, prefix: str) -> str:
    name = f"{prefix}-{now_ms()}-{random.randrange(1 << 30)}"
    return api.post("/experiments/create", {"name": name})["experiment_id"]


def create_run(api: Api, experiment_id: str, name: str, tags: list | None = None) -> str:
    body = {"experiment_id": experiment_id, "start_time": now_ms(), "run_name": name}
    if tags:
        body["tags"] = tags
    return run_id_of(api.post("/runs/create", body))


def run_threads(n: int, target, args_for) -> list:
    """Run target(i, *args_for(i)) in n daemon threads, returning results in order.

    Daemon threads + a join loop keep Ctrl-C responsive: the main thread gets the
    KeyboardInterrupt, the finally blocks kill the servers, and blocked client
    threads then fail on their sockets instead of hanging the interpreter.
    """
    results: list = [None] * n
    errors: list = []

    def wrap(i):
        try:
            results[i] = target(i, *args_for(i))
        except BaseException as e:  # noqa: BLE001 - reported to the main thread
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.5)
    if errors:
        raise errors[0]
    return results


def parallel_map(port: int, items: list, fn, threads: int = 8) -> None:
    """Apply fn(api, item) over items with `threads` workers, each with its own Api.

    Used for seeding (not timed). Each item is retried a few times so a transient
    error (e.g. SQLite 'database is locked' under concurrent writers) doesn't abort
    the seeding.
    """
    lock = threading.Lock()
    it = iter(items)

    def worker(_i, api):
        try:
            while True:
                with lock:
                    item = next(it, None)
                if item is None:
                    return
                for attempt in range(5):
                    try:
                        fn(api, item)
                        break
                    except (ApiError, OSError, http.client.HTTPException):
                        if attempt == 4:
                            raise
                        time.sleep(0.2 * (attempt + 1))
        finally:
            api.close()

    run_threads(threads, worker, lambda i: (Api(port),))


# --------------------------------------------------------------------------------------
# Process-tree helpers (/proc)
# --------------------------------------------------------------------------------------


def _proc_children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = collections.defaultdict(list)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # comm (field 2) may contain spaces/parens: split after the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        children[int(fields[1])].append(int(entry))
    return children


def proc_tree(root: int) -> list[int]:
    """root and all its descendants (mlflow server -> uvicorn -> workers)."""
    children = _proc_children_map()
    out, stack = [], [root]
    while stack:
        pid = stack.pop()
        if os.path.exists(f"/proc/{pid}"):
            out.append(pid)
        stack.extend(children.get(pid, []))
    return out


def tree_memory(root: int) -> dict:
    """Sum of RSS and PSS (MB) over the process tree.

    RSS double-counts pages shared between forked workers (MLflow's uvicorn workers
    share the interpreter's copy-on-write pages); PSS splits shared pages fairly, so
    both are reported. The headline number is summed RSS, as the brief asks.
    """
    rss_kb = pss_kb = 0
    pids = proc_tree(root)
    by_process = []
    for pid in pids:
        try:
            rss = pss = 0
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1])
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss = int(line.split()[1])
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue  # process exited between listing and reading
        rss_kb += rss
        pss_kb += pss
        # Kept in the JSON so one can see where MLflow's memory goes (uvicorn workers
        # vs. its job runner and huey consumers).
        by_process.append({"pid": pid, "rss_mb": round(rss / 1024, 1), "cmd": cmd[:160]})
    return {"rss_mb": round(rss_kb / 1024, 1), "pss_mb": round(pss_kb / 1024, 1), "processes": len(pids),
            "by_process": by_process}


def tree_cpu_seconds(root: int) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in proc_tree(root):
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / tick


def wait_until_idle(root: int, max_wait_s: float, window_s: float = 0.5, busy_frac: float = 0.05) -> float:
    """Wait until the tree uses < busy_frac of a core over a window (or max_wait_s).

    The first API answer can come while MLflow's other uvicorn workers are still
    importing; measuring "idle" memory (or starting a workload) before they settle
    would be unfair to it. Returns the seconds waited.
    """
    t0 = time.perf_counter()
    prev = tree_cpu_seconds(root)
    while time.perf_counter() - t0 < max_wait_s:
        time.sleep(window_s)
        cur = tree_cpu_seconds(root)
        if cur - prev < busy_frac * window_s:
            break
        prev = cur
    return time.perf_counter() - t0


# --------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        return (out.stdout.strip() or out.stderr.strip()).splitlines()[-1]
    except (OSError, subprocess.SubprocessError, IndexError) as e:
        return f"unknown ({e})"


class ServerSpec:
    """How to launch one server kind; `command` builds argv for a temp dir + port."""

    def __init__(self, name, binary, command, version_cmd, notes, env=None):
        self.name, self.binary, self.command, self.version_cmd, self.notes = (
            name,
            binary,
            command,
            version_cmd,
            notes,
        )
        self.env = env or {}  # extra environment variables for the server process

    def available(self) -> str | None:
        """None if runnable, else the reason to skip."""
        if not os.path.isfile(self.binary) or not os.access(self.binary, os.X_OK):
            return f"{self.binary} not found"
        return None

    def version(self) -> str:
        return _run_version(self.version_cmd)


def server_specs(args) -> dict[str, ServerSpec]:
    venv_bin = os.path.join(args.venv, "bin")
    ff = args.ferroflow_bin
    mlflow_bin = os.path.join(venv_bin, "mlflow")
    fml_bin = os.path.join(venv_bin, "fml")
    # MLflow is benchmarked as `mlflow server` runs out of the box unless asked otherwise:
    # 4 uvicorn workers, plus (since 3.x) a job runner with ~9 huey consumer processes for
    # GenAI jobs, which is where most of its idle memory goes.
    mlflow_extra, mlflow_env = [], {}
    mlflow_notes = "uvicorn"
    if args.mlflow_workers:
        mlflow_extra = ["--workers", str(args.mlflow_workers)]
        mlflow_notes += f", {args.mlflow_workers} worker process(es) (--workers)"
    else:
        mlflow_notes += ", default 4 worker processes"
    if args.mlflow_no_jobs:
        mlflow_env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        mlflow_notes += "; job runner disabled (MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false)"
    else:
        mlflow_notes += "; default job runner + huey consumers running"
    return {
        "ferroflow": ServerSpec(
            "ferroflow",
            ff,
            lambda tmp, port: [
                ff, "server",
                "--backend-store-uri", db_uri("ferroflow", tmp),
                "--default-artifact-root", f"{tmp}/artifacts",
                "--host", "127.0.0.1", "--port", str(port),
            ],
            [ff, "--version"],
            "single process",
        ),
        "mlflow": ServerSpec(
            "mlflow",
            mlflow_bin,
            # Default worker count (uvicorn, 4 workers in 3.18). --artifacts-destination
            # keeps the proxied artifact store inside the temp dir instead of ./mlartifacts.
            lambda tmp, port: [
                mlflow_bin, "server",
                "--backend-store-uri", db_uri("mlflow", tmp),
                "--artifacts-destination", f"{tmp}/artifacts",
                "--host", "127.0.0.1", "--port", str(port),
                *mlflow_extra,
            ],
            [os.path.join(venv_bin, "python"), "-c", "import mlflow; print(mlflow.__version__)"],
            mlflow_notes,
            env=mlflow_env,
        ),
        "fasttrackml": ServerSpec(
            "fasttrackml",
            fml_bin,
            lambda tmp, port: [
                fml_bin, "server",
                "--database-uri", db_uri("fasttrackml", tmp),
                "--default-artifact-root", f"{tmp}/artifacts",
                "--listen-address", f"127.0.0.1:{port}",
            ],
            [fml_bin, "--version"],
            "single Go process; default --database-pool-max 20; logs every request at info level",
        ),
    }


_LIVE_SERVERS: list["Server"] = []


class Server:
    """A running server process tree in its own session/process group + temp dir."""

    def __init__(self, spec: ServerSpec, keep_tmp: bool):
        self.spec = spec
        self.keep_tmp = keep_tmp
        self.tmp = tempfile.mkdtemp(prefix=f"ffbench-{spec.name}-")
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(self.tmp, "server.log")
        self.startup_ms: float | None = None

    def start(self, timeout_s: float) -> None:
        if BACKEND["kind"] == "postgresql":
            _psql(f"CREATE DATABASE {pg_database_name(self.tmp)}")
            BACKEND["current_db"] = pg_database_name(self.tmp)
        argv = self.spec.command(self.tmp, self.port)
        log(f"{self.spec.name}: {' '.join(argv)}")
        self._log_file = open(self.log_path, "wb")
        t0 = time.perf_counter()
        # start_new_session: the server and all its children share a process group we
        # can signal as a whole, and Ctrl-C in the terminal doesn't reach them directly.
        self.proc = subprocess.Popen(
            argv, cwd=self.tmp, env=os.environ | self.spec.env, stdin=subprocess.DEVNULL, stdout=self._log_file,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        _LIVE_SERVERS.append(self)
        deadline = t0 + timeout_s
        probe = Api(self.port)
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.spec.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                probe.raw("GET", READY_PROBE)
                break
            except (ApiError, OSError, http.client.HTTPException):
                probe.close()
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{self.spec.name} not ready after {timeout_s}s:\n{self.log_tail()}")
            time.sleep(0.01)
        probe.close()
        self.startup_ms = (time.perf_counter() - t0) * 1000
        log(f"{self.spec.name}: ready in {self.startup_ms:.0f} ms on port {self.port}")

    def log_tail(self, n: int = 40) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        pids = proc_tree(self.proc.pid)  # remember children in case one left the group
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(timeout=10)
                # Let children that were mid-shutdown go too.
                time.sleep(0.2)
                if not any(os.path.exists(f"/proc/{p}") for p in pids if p != self.proc.pid):
                    break
            except subprocess.TimeoutExpired:
                continue
        self.proc = None
        self._log_file.close()
        if BACKEND["kind"] == "postgresql":
            try:
                _psql(f"DROP DATABASE IF EXISTS {pg_database_name(self.tmp)} WITH (FORCE)")
            except subprocess.CalledProcessError as e:
                log(f"could not drop {pg_database_name(self.tmp)}: {e.stderr!r}")
        if self in _LIVE_SERVERS:
            _LIVE_SERVERS.remove(self)
        if self.keep_tmp:
            log(f"{self.spec.name}: kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def _stop_all_servers() -> None:
    for s in list(_LIVE_SERVERS):
        try:
            s.stop()
        except Exception as e:  # noqa: BLE001 - best effort at exit
            log(f"cleanup of {s.spec.name} failed: {e}")


# --------------------------------------------------------------------------------------
# Workloads. Each takes (port, cfg) and returns a dict of measurements.
# --------------------------------------------------------------------------------------


def wl_create_runs(port: int, cfg) -> dict:
    """One client creating runs back to back in one experiment."""
    api = Api(port)
    try:
        exp = create_experiment(api, "create-runs")
        for i in range(10):  # warm-up (lazy imports, prepared statements), untimed
            create_run(api, exp, f"warm{i}")
        lat = []
        t0 = time.perf_counter()
        for i in range(cfg.n_create):
            t = time.perf_counter()
            create_run(api, exp, f"run{i}")
            lat.append(time.perf_counter() - t)
        wall = time.perf_counter() - t0
    finally:
        api.close()
    return {
        "runs": cfg.n_create,
        "runs_per_s": cfg.n_create / wall,
        "p50_ms": percentile(lat, 0.5) * 1000,
        "p99_ms": percentile(lat, 0.99) * 1000,
    }


def wl_log_metric(port: int, cfg) -> dict:
    """8 clients, each logging single points to its own run (one request per point)."""
    clients, per_client = cfg.metric_clients, cfg.metric_per_client
    setup = Api(port)
    try:
        exp = create_experiment(setup, "log-metric")
        runs = [create_run(setup, exp, f"writer{i}") for i in range(clients)]
    finally:
        setup.close()
    # Separate processes, not threads: a Python client's GIL would otherwise cap the
    # request rate below what the faster servers sustain, and the ratio would measure the
    # client. Every server gets the same 8 processes.
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(clients)
    rng = random.Random(1)
    values = [rng.random() for _ in range(per_client)]

    def writer(i, run_id, out):
        api = Api(port)
        lean = None
        lat, errors = [], 0
        try:
            for s in range(5):  # warm-up, untimed (steps are negative so they don't clash)
                api.post("/runs/log-metric", {"run_id": run_id, "key": "loss", "value": 0.0,
                                              "timestamp": now_ms(), "step": -1 - s})
            lean = LeanPoster(port, "/api/2.0/mlflow/runs/log-metric")
            barrier.wait()
            start = time.perf_counter()
            for step in range(per_client):
                t = time.perf_counter()
                body = json.dumps({"run_id": run_id, "key": "loss", "value": values[step],
                                   "timestamp": now_ms(), "step": step}).encode()
                try:
                    lean.post(body)
                except (ApiError, OSError, ValueError):
                    errors += 1
                    lean.close()
                    lean = LeanPoster(port, "/api/2.0/mlflow/runs/log-metric")
                lat.append(time.perf_counter() - t)
            out.put((i, (start, time.perf_counter(), lat, errors)))
        finally:
            api.close()
            if lean is not None:
                lean.close()

    out = ctx.Queue()
    procs = [ctx.Process(target=writer, args=(i, runs[i], out), daemon=True) for i in range(clients)]
    for pr in procs:
        pr.start()
    res = [None] * clients
    for _ in range(clients):
        i, r = out.get(timeout=600)
        res[i] = r
    for pr in procs:
        pr.join(10)
    wall = max(r[1] for r in res) - min(r[0] for r in res)
    lat = [x for r in res for x in r[2]]
    errors = sum(r[3] for r in res)
    total = clients * per_client
    return {
        "clients": clients,
        "points": total,
        "errors": errors,
        "points_per_s": (total - errors) / wall,
        "p50_ms": percentile(lat, 0.5) * 1000,
        "p99_ms": percentile(lat, 0.99) * 1000,
    }


def _metric_batch(key: str, first_step: int, n: int, ts0: int, rng: random.Random) -> list[dict]:
    # Distinct steps and timestamps so every point is a distinct row on every server
    # and history order is unambiguous.
    return [{"key": key, "value": rng.random(), "timestamp": ts0 + first_step + j, "step": first_step + j}
            for j in range(n)]


def wl_log_batch(port: int, cfg) -> dict:
    """One client sending log-batch requests of 1000 metrics (distinct steps) to one run."""
    api = Api(port)
    rng = random.Random(2)
    size = 1000
    try:
        exp = create_experiment(api, "log-batch")
        run = create_run(api, exp, "batch")
        ts0 = now_ms()
        # Pre-build bodies so client-side JSON building is outside the timing (encoding
        # is still inside: it's the same for every server).
        bodies = [{"run_id": run, "metrics": _metric_batch("loss", b * size, size, ts0, rng)}
                  for b in range(cfg.batches + 1)]
        api.post("/runs/log-batch", bodies[0] | {"metrics": _metric_batch("warm", 0, size, ts0, rng)})
        lat = []
        t0 = time.perf_counter()
        for body in bodies[1:]:
            t = time.perf_counter()
            api.post("/runs/log-batch", body)
            lat.append(time.perf_counter() - t)
        wall = time.perf_counter() - t0
    finally:
        api.close()
    return {
        "batches": cfg.batches,
        "points": cfg.batches * size,
        "points_per_s": cfg.batches * size / wall,
        "p50_ms": percentile(lat, 0.5) * 1000,
        "p99_ms": percentile(lat, 0.99) * 1000,
    }


SEARCH_FILTER = "metrics.rmse < 0.5 and params.lr = '0.01'"
LRS = ["0.01", "0.001", "0.1"]


def wl_search(port: int, cfg) -> dict:
    """Seed N runs (param lr, metric rmse, tag), then time a filtered+ordered runs/search."""
    setup = Api(port)
    try:
        exp = create_experiment(setup, "search")
    finally:
        setup.close()
    rng = random.Random(3)
    seeds = [(i, LRS[i % len(LRS)], rng.random()) for i in range(cfg.search_runs)]
    created: dict[int, str] = {}
    ts = now_ms()

    def seed(api, item):
        i, lr, rmse = item
        if i not in created:  # a retry after log-batch failed must not create a 2nd run
            created[i] = create_run(api, exp, f"s{i}")
        api.post("/runs/log-batch", {
            "run_id": created[i],
            "params": [{"key": "lr", "value": lr}],
            "metrics": [{"key": "rmse", "value": rmse, "timestamp": ts, "step": 0}],
            "tags": [{"key": "team", "value": f"t{i % 4}"}],
        })

    t_seed = time.perf_counter()
    parallel_map(port, seeds, seed, threads=cfg.seed_threads)
    seed_s = time.perf_counter() - t_seed
    log(f"  seeded {cfg.search_runs} runs in {seed_s:.1f}s")
    refresh_statistics()

    # What a correct server must return: the 100 smallest matching rmse values, ascending.
    matching = sorted(rmse for _, lr, rmse in seeds if lr == "0.01" and rmse < 0.5)
    expected = matching[:100]
    body = {"experiment_ids": [exp], "filter": SEARCH_FILTER, "order_by": ["metrics.rmse ASC"],
            "max_results": 100}
    api = Api(port)
    lat = []
    try:
        first = json.loads(api.raw("POST", API + "/runs/search", body))  # warm-up + correctness
        got = [next(m["value"] for m in r["data"]["metrics"] if m["key"] == "rmse")
               for r in first.get("runs", [])]
        correct = len(got) == len(expected) and all(abs(a - b) < 1e-9 for a, b in zip(got, expected))
        if not correct:
            log(f"  WARNING: search returned {len(got)} runs, expected {len(expected)} (or wrong order)")
        for _ in range(cfg.search_queries):
            t = time.perf_counter()
            api.raw("POST", API + "/runs/search", body)  # parse excluded: same for all servers
            lat.append(time.perf_counter() - t)
    finally:
        api.close()
    return {
        "seeded_runs": cfg.search_runs,
        "seed_s": seed_s,
        "queries": cfg.search_queries,
        "matches_total": len(matching),
        "returned": len(got),
        "correct": correct,
        "p50_ms": percentile(lat, 0.5) * 1000,
        "p99_ms": percentile(lat, 0.99) * 1000,
    }


def wl_get_history(port: int, cfg) -> dict:
    """One metric with N points; time fetching the whole history via get-history.

    Pages of --history-page-size (25,000 by default, what the official MLflow client
    uses) following next_page_token until it is absent, like MlflowClient does. Only
    the request/response time is counted; JSON decoding (needed to find the token) is
    excluded because in Python it would dominate and is identical for every server.
    """
    api = Api(port)
    rng = random.Random(4)
    size = 1000
    try:
        exp = create_experiment(api, "history")
        run = create_run(api, exp, "history")
        ts0 = now_ms()
        t_seed = time.perf_counter()
        for b in range(math.ceil(cfg.history_points / size)):
            n = min(size, cfg.history_points - b * size)
            api.post("/runs/log-batch", {"run_id": run, "metrics": _metric_batch("loss", b * size, n, ts0, rng)})
        seed_s = time.perf_counter() - t_seed
        log(f"  seeded {cfg.history_points} points in {seed_s:.1f}s")
        refresh_statistics()

        def fetch() -> tuple[float, int, int, int]:
            elapsed, count, pages, nbytes, token = 0.0, 0, 0, 0, None
            while True:
                params = {"run_id": run, "metric_key": "loss", "max_results": cfg.history_page_size}
                if token:
                    params["page_token"] = token
                path = API + "/metrics/get-history?" + urllib.parse.urlencode(params)
                t = time.perf_counter()
                payload = api.raw("GET", path)
                elapsed += time.perf_counter() - t
                doc = json.loads(payload)
                count += len(doc.get("metrics", []))
                pages += 1
                nbytes += len(payload)
                token = doc.get("next_page_token")
                if not token or pages > 10_000:
                    return elapsed, count, pages, nbytes

        _, count, pages, nbytes = fetch()  # warm-up + correctness
        if count != cfg.history_points:
            log(f"  WARNING: get-history returned {count} points, expected {cfg.history_points}")
        lat = [fetch()[0] for _ in range(cfg.history_reps)]
    finally:
        api.close()
    return {
        "points": cfg.history_points,
        "seed_s": seed_s,
        "returned": count,
        "correct": count == cfg.history_points,
        "pages": pages,
        "response_mb": round(nbytes / 1e6, 2),
        "reps": cfg.history_reps,
        "p50_ms": percentile(lat, 0.5) * 1000,
        "max_ms": max(lat) * 1000,
    }


WORKLOAD_FNS = {
    "create_runs": wl_create_runs,
    "log_metric_8_clients": wl_log_metric,
    "log_batch_1000": wl_log_batch,
    "search_10k": wl_search,
    "get_history_100k": wl_get_history,
}


# --------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------


def _mem_summary(mem: dict) -> str:
    return f"RSS {mem['rss_mb']} MB, PSS {mem['pss_mb']} MB, {mem['processes']} process(es)"


def bench_server(spec: ServerSpec, cfg) -> dict:
    out: dict = {"version": spec.version(), "notes": spec.notes, "workloads": {}}
    server = Server(spec, cfg.keep_tmp)
    try:
        server.start(cfg.startup_timeout)
        out["startup_ms"] = server.startup_ms
        # MLflow keeps importing in its other workers and job consumers for tens of
        # seconds after the first answer; wait for the tree to go quiet first.
        settle = wait_until_idle(server.proc.pid, max_wait_s=60)
        out["settle_s"] = settle
        out["memory_idle_start"] = tree_memory(server.proc.pid)
        log(f"{spec.name}: settled after {settle:.1f}s, idle {_mem_summary(out['memory_idle_start'])}")
        for name in cfg.workloads:
            log(f"{spec.name}: {name} ...")
            load0 = os.getloadavg()[0]
            try:
                res = WORKLOAD_FNS[name](server.port, cfg)
            except (ApiError, OSError, http.client.HTTPException, RuntimeError, KeyError, ValueError) as e:
                res = {"error": str(e)[:500]}
                log(f"{spec.name}: {name} FAILED: {e}\n{server.log_tail(15)}")
            res["loadavg_1m_before"] = load0
            out["workloads"][name] = res
            log(f"{spec.name}: {name} -> " + json.dumps({k: (round(v, 2) if isinstance(v, float) else v)
                                                           for k, v in res.items()}))
            if server.proc.poll() is not None:
                raise RuntimeError(f"{spec.name} died during {name}:\n{server.log_tail()}")
            # Let background work (WAL checkpoints, GC) finish before the next workload.
            wait_until_idle(server.proc.pid, max_wait_s=10)
        wait_until_idle(server.proc.pid, max_wait_s=30)
        out["memory_idle_end"] = tree_memory(server.proc.pid)
        log(f"{spec.name}: idle after workloads {_mem_summary(out['memory_idle_end'])}")
    finally:
        server.stop()
    return out


def machine_info() -> dict:
    def grep(path, key):
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(key):
                        return line.split(":", 1)[1].strip()
        except OSError:
            return None
        return None

    mem_kb = grep("/proc/meminfo", "MemTotal")
    return {
        "nproc": os.cpu_count(),
        "cpu_model": grep("/proc/cpuinfo", "model name"),
        "memory_gb": round(int(mem_kb.split()[0]) / 1024 / 1024, 1) if mem_kb else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_at_start": os.getloadavg(),
    }


# Rows per workload: (result key, label, "higher"/"lower" is better, format)
ROWS = {
    "create_runs": [("runs_per_s", "runs/s", "higher", "{:.0f}"), ("p50_ms", "p50 latency ms", "lower", "{:.2f}"),
                    ("p99_ms", "p99 latency ms", "lower", "{:.2f}")],
    "log_metric_8_clients": [("points_per_s", "points/s", "higher", "{:.0f}"),
                             ("p50_ms", "p50 latency ms", "lower", "{:.2f}"),
                             ("p99_ms", "p99 latency ms", "lower", "{:.2f}"), ("errors", "errors", None, "{}")],
    "log_batch_1000": [("points_per_s", "points/s", "higher", "{:.0f}"),
                       ("p50_ms", "p50 ms per batch", "lower", "{:.1f}"), ("p99_ms", "p99 ms per batch", "lower", "{:.1f}")],
    "search_10k": [("p50_ms", "p50 ms", "lower", "{:.1f}"), ("p99_ms", "p99 ms", "lower", "{:.1f}"),
                   ("correct", "correct top-100", None, "{}"), ("seed_s", "seeding s (untimed)", None, "{:.1f}")],
    "get_history_100k": [("p50_ms", "p50 ms (whole history)", "lower", "{:.1f}"), ("pages", "pages", None, "{}"),
                         ("correct", "all points returned", None, "{}"), ("response_mb", "response MB", None, "{}")],
}
SERVER_ROWS = [("startup_ms", "start-up ms (spawn -> first API 200)", "lower", "{:.0f}"),
               ("memory_idle_start.rss_mb", "idle RSS MB after start-up (tree sum)", "lower", "{:.1f}"),
               ("memory_idle_end.rss_mb", "idle RSS MB after workloads (tree sum)", "lower", "{:.1f}"),
               ("memory_idle_start.pss_mb", "idle PSS MB after start-up", "lower", "{:.1f}"),
               ("memory_idle_end.pss_mb", "idle PSS MB after workloads", "lower", "{:.1f}"),
               ("memory_idle_start.processes", "processes", None, "{}")]


def _dig(d: dict, dotted: str):
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def _table(title: str, rows, values_for) -> list[str]:
    cols = [s for s in SERVER_ORDER]
    lines = [f"### {title}", "",
             "| metric | " + " | ".join(cols) + " | ferroflow/fasttrackml | ferroflow/mlflow | better |",
             "|---|" + "---:|" * (len(cols) + 2) + "---|"]
    for key, label, better, fmt in rows:
        vals = {s: values_for(s, key) for s in cols}

        def cell(v):
            if v is None:
                return "–"
            return fmt.format(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)

        def ratio(other):
            a, b = vals["ferroflow"], vals[other]
            if better is None or not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or not b:
                return "–"
            return f"{a / b:.2f}×"

        lines.append(f"| {label} | " + " | ".join(cell(vals[s]) for s in cols)
                     + f" | {ratio('fasttrackml')} | {ratio('mlflow')} | {better or ''} |")
    return lines + [""]


def render_markdown(report: dict) -> str:
    m = report["machine"]
    res = report["servers"]
    lines = [f"## Ferroflow benchmark {report['timestamp']}{' (--quick)' if report['config']['quick'] else ''}", "",
             f"Machine: {m['nproc']} cores, {m['memory_gb']} GB, {m['cpu_model']}, Linux {m['kernel']}, "
             f"load average at start {', '.join(f'{x:.2f}' for x in m['loadavg_at_start'])}", "",
             f"Backend: {report['config'].get('backend', 'sqlite')}"
             + (" (each server on its own new database, PostgreSQL on 127.0.0.1)"
                if report['config'].get('backend') == 'postgresql' else " (a file in each server's temp dir)"), ""]
    for s in SERVER_ORDER:
        r = res.get(s)
        if r is None:
            continue
        if "skipped" in r:
            lines.append(f"- **{s}**: skipped ({r['skipped']})")
        else:
            lines.append(f"- **{s}** {r.get('version')}: {r.get('notes')}"
                         + (f" — ERROR: {' / '.join(r['error'].splitlines())[:600]}" if "error" in r else ""))
    lines += ["",
              "Ratios are Ferroflow ÷ other. For throughput (\"higher\") a ratio above 1 means Ferroflow "
              "is faster; for latency, time and memory (\"lower\") a ratio below 1 means Ferroflow is "
              "faster/smaller.", ""]
    cfg = report["config"]
    titles = {
        "create_runs": f"create_runs — {cfg['n_create']} sequential runs/create, 1 client",
        "log_metric_8_clients": f"log_metric_8_clients — {cfg['metric_clients']} clients × "
                                f"{cfg['metric_per_client']} single runs/log-metric",
        "log_batch_1000": f"log_batch_1000 — {cfg['batches']} runs/log-batch × 1000 metrics, 1 client",
        "search_10k": f"search_10k — runs/search over {cfg['search_runs']} runs, "
                      f"filter `{SEARCH_FILTER}`, order by rmse, max 100, {cfg['search_queries']} queries",
        "get_history_100k": f"get_history_100k — whole history of {cfg['history_points']} points, "
                            f"pages of {cfg['history_page_size']}, {cfg['history_reps']} fetches",
    }
    for wl in cfg["workloads"]:
        lines += _table(titles[wl], ROWS[wl],
                        lambda s, k, wl=wl: _dig(res.get(s, {}), f"workloads.{wl}.{k}"))
        errs = {s: _dig(res.get(s, {}), f"workloads.{wl}.error") for s in SERVER_ORDER}
        lines += [f"- {s} error: {e}" for s, e in errs.items() if e] + ([""] if any(errs.values()) else [])
    lines += _table("server process", SERVER_ROWS, lambda s, k: _dig(res.get(s, {}), k))
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--servers", default="ferroflow,fasttrackml,mlflow",
                   help="comma-separated subset of ferroflow,fasttrackml,mlflow")
    p.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated subset of " + ",".join(WORKLOADS))
    p.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite",
                   help="database behind every server (postgresql: BENCH_PG, default postgres@127.0.0.1:5432)")
    p.add_argument("--quick", action="store_true", help="scaled-down sizes (all three servers in a few minutes)")
    p.add_argument("--ferroflow-bin", default=os.environ.get("FERROFLOW_BIN",
                                                             os.path.join(REPO_DIR, "target/release/ferroflow")))
    p.add_argument("--venv", default=os.path.join(BENCH_DIR, ".venv"), help="venv made by bench/setup.sh")
    p.add_argument("--n-create", type=int, help="create_runs: runs (default 2000, quick 300)")
    p.add_argument("--metric-clients", type=int, default=8, help="log_metric: concurrent clients (default 8)")
    p.add_argument("--metric-per-client", type=int, help="log_metric: points per client (default 2000, quick 150)")
    p.add_argument("--batches", type=int, help="log_batch: 1000-metric batches (default 100, quick 20)")
    p.add_argument("--search-runs", type=int, help="search: runs seeded (default 10000, quick 1000)")
    p.add_argument("--search-queries", type=int, help="search: timed queries (default 50, quick 20)")
    p.add_argument("--seed-threads", type=int, default=8, help="client threads used to seed search runs")
    p.add_argument("--history-points", type=int, help="get_history: points (default 100000, quick 20000)")
    p.add_argument("--history-reps", type=int, help="get_history: timed full fetches (default 5, quick 3)")
    p.add_argument("--history-page-size", type=int, default=25000,
                   help="get_history: max_results per page (default 25000, as the MLflow client)")
    p.add_argument("--mlflow-workers", type=int, help="pass --workers N to mlflow server (default: its own, 4)")
    p.add_argument("--mlflow-no-jobs", action="store_true",
                   help="run mlflow server without its job runner (MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false)")
    p.add_argument("--startup-timeout", type=float, default=180.0)
    p.add_argument("--out-dir", default=os.path.join(BENCH_DIR, "results"))
    p.add_argument("--keep-tmp", action="store_true", help="keep each server's temp dir (db + log)")
    a = p.parse_args(argv)
    full = dict(n_create=2000, metric_per_client=2000, batches=100, search_runs=10000, search_queries=50,
                history_points=100000, history_reps=5)
    quick = dict(n_create=300, metric_per_client=150, batches=20, search_runs=1000, search_queries=20,
                 history_points=20000, history_reps=3)
    for k, v in (quick if a.quick else full).items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    a.servers = [s.strip() for s in a.servers.split(",") if s.strip()]
    a.workloads = [w.strip() for w in a.workloads.split(",") if w.strip()]
    for s in a.servers:
        if s not in SERVER_ORDER:
            p.error(f"unknown server {s!r}")
    for w in a.workloads:
        if w not in WORKLOAD_FNS:
            p.error(f"unknown workload {w!r}")
    return a


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that kill servers


def main(argv=None) -> int:
    cfg = parse_args(argv)
    BACKEND["kind"] = cfg.backend
    signal.signal(signal.SIGTERM, _on_sigterm)
    # A shell starts `cmd &` with SIGINT ignored and Python keeps an inherited SIG_IGN;
    # restore the default so Ctrl-C/SIGINT always unwinds (and kills the servers).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    atexit.register(_stop_all_servers)
    specs = server_specs(cfg)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S") + ("-pg" if cfg.backend == "postgresql" else "")
    report = {
        "timestamp": stamp,
        "machine": machine_info(),
        "config": {k: v for k, v in vars(cfg).items() if k not in ("venv", "out_dir")},
        "servers": {},
    }
    try:
        for name in [s for s in SERVER_ORDER if s in cfg.servers]:
            spec = specs[name]
            why = spec.available()
            if why:
                log(f"skipping {name}: {why}")
                report["servers"][name] = {"skipped": why}
                continue
            try:
                report["servers"][name] = bench_server(spec, cfg)
            except RuntimeError as e:
                log(f"{name} failed: {e}")
                report["servers"][name] = {"error": str(e)[:2000], "version": spec.version(), "notes": spec.notes}
    finally:
        _stop_all_servers()
    md = render_markdown(report)
    print(md)
    os.makedirs(cfg.out_dir, exist_ok=True)
    path = os.path.join(cfg.out_dir, f"{stamp}.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(cfg.out_dir, f"{stamp}.md"), "w") as f:
        f.write(md + "\n")
    log(f"results written to {path} (+ .md)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted; servers stopped, no results written")
        sys.exit(130)
