"""Fixtures for the black-box compatibility suite.

The suite starts a real tracking server process and drives it through the official
``mlflow`` Python client (and raw HTTP where the client hides status codes).

``FERROFLOW_TARGET`` selects the server under test:

* ``ferroflow`` (default): ``$FERROFLOW_BIN`` (default ``<repo>/target/debug/ferroflow``)
* ``mlflow``: ``<repo>/.venv/bin/mlflow server`` -- used to prove that every test encodes
  MLflow's real behaviour.

Both are started with the same flags::

    <server> --backend-store-uri sqlite:///<dir>/mlflow.db \
             --default-artifact-root <dir>/mlartifacts --host 127.0.0.1 --port <free port>

``FERROFLOW_TEST_BACKEND`` selects the database behind the shared servers: ``sqlite``
(default), ``postgresql`` or ``mysql``. For the server databases every server gets a throwaway
database (``ff_t_<random>``) created through ``FERROFLOW_TEST_PG`` /
``FERROFLOW_TEST_MYSQL`` and dropped at the end of the session. Tests that need a database
file of their own (SQLite round trips) keep using SQLite.
"""

from __future__ import annotations

import os

# The client must fail fast against a broken server instead of retrying for minutes.
# Set before mlflow is imported anywhere (the values are also read at call time).
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = os.environ.get("COMPAT_HTTP_TIMEOUT", "15")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
TARGET = os.environ.get("FERROFLOW_TARGET", "ferroflow").strip().lower()
if TARGET not in ("ferroflow", "mlflow"):
    raise pytest.UsageError(f"FERROFLOW_TARGET must be 'ferroflow' or 'mlflow', got {TARGET!r}")

FERROFLOW_BIN = Path(os.environ.get("FERROFLOW_BIN", REPO / "target" / "debug" / "ferroflow"))
VENV = Path(os.environ.get("FERROFLOW_VENV", REPO / ".venv"))
MLFLOW_BIN = VENV / "bin" / "mlflow"

# MLflow's server takes ~10-25 s to import everything on a loaded 2-core machine.
STARTUP_TIMEOUT = float(
    os.environ.get("COMPAT_STARTUP_TIMEOUT", "60" if TARGET == "mlflow" else "20")
)

ALEMBIC_HEAD = "f4a9b2c7d1e6"

BACKEND = os.environ.get("FERROFLOW_TEST_BACKEND", "sqlite").strip().lower()
if BACKEND not in ("sqlite", "postgresql", "mysql"):
    raise pytest.UsageError(
        f"FERROFLOW_TEST_BACKEND must be sqlite, postgresql or mysql, got {BACKEND!r}")
PG_ADMIN = os.environ.get(
    "FERROFLOW_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
MYSQL_ADMIN = os.environ.get("FERROFLOW_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/test")

_throwaway: list[tuple[str, str]] = []


def _admin_connect(kind: str):
    """A connection to the server's admin database (autocommit)."""
    from urllib.parse import urlsplit
    if kind == "postgresql":
        import psycopg2
        con = psycopg2.connect(PG_ADMIN.replace("postgresql+psycopg2://", "postgresql://"))
        con.autocommit = True
        return con
    import pymysql
    u = urlsplit(MYSQL_ADMIN)
    return pymysql.connect(host=u.hostname or "127.0.0.1", port=u.port or 3306,
                           user=u.username or "root", password=u.password or "",
                           database=u.path.lstrip("/") or None, autocommit=True)


def _server_uri(kind: str, database: str) -> str:
    base = PG_ADMIN if kind == "postgresql" else MYSQL_ADMIN
    return base.rsplit("/", 1)[0] + "/" + database


def throwaway_database(kind: str) -> str:
    """Creates an empty database on the PostgreSQL or MySQL test server; returns its URI.

    Dropped at the end of the session."""
    name = "ff_t_" + uuid.uuid4().hex[:12]
    con = _admin_connect(kind)
    try:
        with con.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
    finally:
        con.close()
    _throwaway.append((kind, name))
    return _server_uri(kind, name)


def drop_database(kind: str, name: str) -> None:
    con = _admin_connect(kind)
    try:
        with con.cursor() as cur:
            if kind == "postgresql":
                cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            else:
                cur.execute(f"DROP DATABASE IF EXISTS {name}")
    finally:
        con.close()


def db_rows(backend_uri: str, sql: str, **params) -> list[tuple]:
    """Runs a read-only query on a server's database, whatever its backend (SQLAlchemy;
    parameters are ``:name``)."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(backend_uri, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as con:
            if engine.dialect.name == "mysql":  # double quotes name columns, as elsewhere
                con.execute(sqlalchemy.text(
                    "SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',ANSI_QUOTES')"))
            return [tuple(r) for r in con.execute(sqlalchemy.text(sql), params).fetchall()]
    finally:
        engine.dispose()


def pytest_sessionfinish(session, exitstatus):
    while _throwaway:
        kind, name = _throwaway.pop()
        try:
            drop_database(kind, name)
        except Exception as e:  # a leftover database must not fail the run
            print(f"warning: could not drop test database {name}: {e}")

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(backend_uri: str, artifact_root: Path, port: int) -> list[str]:
    flags = [
        "--backend-store-uri",
        backend_uri,
        "--default-artifact-root",
        str(artifact_root),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    if TARGET == "mlflow":
        return [str(MLFLOW_BIN), "server", *flags, "--workers", "1"]
    return [str(FERROFLOW_BIN), "server", *flags]


class ServerProcess:
    """One server process on its own port, db file and artifact root."""

    # Extra environment for the server process (subclasses: S3 endpoint, credentials).
    extra_env: dict[str, str] = {}

    def __init__(self, workdir: Path, db_path: Path | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db_path = Path(db_path) if db_path else self.workdir / "mlflow.db"
        # A test that names its own database file gets SQLite; the shared servers follow
        # FERROFLOW_TEST_BACKEND.
        if db_path is None and BACKEND != "sqlite":
            self.backend_uri = throwaway_database(BACKEND)
        else:
            self.backend_uri = f"sqlite:///{self.db_path}"
        self.artifact_root = self.workdir / "mlartifacts"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api = f"{self.url}/api/2.0/mlflow"
        self.log_path = self.workdir / f"server-{self.port}.log"
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def command(self) -> list[str]:
        return server_command(self.backend_uri, self.artifact_root, self.port)

    def spawn(self) -> subprocess.Popen:
        if TARGET == "ferroflow" and not FERROFLOW_BIN.exists():
            pytest.fail(
                f"Ferroflow binary not found at {FERROFLOW_BIN}; build it with "
                "`cargo build -p ferroflow` or set FERROFLOW_BIN "
                "(or run with FERROFLOW_TARGET=mlflow)",
                pytrace=False,
            )
        if TARGET == "mlflow" and not MLFLOW_BIN.exists():
            pytest.fail(f"{MLFLOW_BIN} not found; run scripts/setup-python.sh", pytrace=False)
        env = dict(os.environ)
        # MLflow-only: no background job runner (huey consumers); it does not affect tracking
        # and would otherwise double the start-up time on a 2-core machine.
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        env.pop("MLFLOW_TRACKING_URI", None)
        env.update(self.extra_env)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.command,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # own process group: teardown kills the whole tree
        )
        return self.proc

    def start(self, timeout: float = STARTUP_TIMEOUT) -> "ServerProcess":
        self.spawn()
        deadline = time.monotonic() + timeout
        last_err = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with code {self.proc.returncode} before becoming healthy\n"
                    f"command: {' '.join(self.command)}\n{self.output_tail()}"
                )
            try:
                r = requests.get(f"{self.url}/health", timeout=2)
                if r.status_code == 200:
                    return self
                last_err = f"/health returned {r.status_code}"
            except requests.RequestException as e:
                last_err = repr(e)
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"server not healthy after {timeout:.0f}s ({last_err})\n"
            f"command: {' '.join(self.command)}\n{self.output_tail()}"
        )

    def is_healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def output(self) -> str:
        if self._log:
            self._log.flush()
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def output_tail(self, lines: int = 40) -> str:
        tail = "\n".join(self.output().splitlines()[-lines:])
        return f"--- server output (last {lines} lines) ---\n{tail}\n--- end ---"

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        # Whatever is left in the group (uvicorn workers, ...) goes too.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        if self._log:
            self._log.close()
            self._log = None


# ---------------------------------------------------------------------------------------------
# Failure reporting: print the server output tail when a test fails.
# ---------------------------------------------------------------------------------------------

_SERVERS: list[ServerProcess] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and _SERVERS:
        sections = []
        for s in _SERVERS:
            if s.proc is not None:
                sections.append(f"[{' '.join(s.command)}]\n{s.output_tail(30)}")
        rep.sections.append(("server output", "\n\n".join(sections)))


def _register(server: ServerProcess) -> ServerProcess:
    _SERVERS.append(server)
    return server


def _unregister(server: ServerProcess) -> None:
    if server in _SERVERS:
        _SERVERS.remove(server)


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def target() -> str:
    return TARGET


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> ServerProcess:
    """One server for the whole session (tests isolate themselves via fresh experiments)."""
    s = _register(ServerProcess(tmp_path_factory.mktemp("server")))
    try:
        s.start()
    except RuntimeError as e:
        s.stop()
        _unregister(s)
        pytest.fail(str(e), pytrace=False)
    yield s
    s.stop()
    _unregister(s)


@pytest.fixture
def own_server(tmp_path):
    """Factory for a test that needs its own server and db file (round-trip tests).

    ``own_server(db_path=None, start=True)`` returns a ServerProcess; with ``start=False`` it
    is only spawned (for servers expected to refuse to start). All are stopped at teardown.
    """
    started: list[ServerProcess] = []

    def make(db_path: Path | None = None, start: bool = True) -> ServerProcess:
        s = _register(ServerProcess(tmp_path / f"srv{len(started)}", db_path=db_path))
        started.append(s)
        if start:
            try:
                s.start()
            except RuntimeError as e:
                pytest.fail(str(e), pytrace=False)
        else:
            s.spawn()
        return s

    yield make
    for s in started:
        s.stop()
        _unregister(s)


@pytest.fixture
def tracking(server, monkeypatch):
    """Points the fluent API at the session server; leaves no active run behind."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    mlflow.set_tracking_uri(server.url)
    yield server.url
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def client(server, tracking):
    from mlflow import MlflowClient

    return MlflowClient(server.url)


def unique_name(prefix: str = "exp") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def experiment_id(request, client) -> str:
    """A fresh experiment (unique name), also made the fluent API's active experiment."""
    import mlflow

    name = unique_name(request.node.name[:60].replace("[", "_").replace("]", ""))
    exp_id = client.create_experiment(name)
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


class Api:
    """Raw HTTP against /api/2.0/mlflow (the client hides status codes)."""

    def __init__(self, base: str):
        self.base = base

    def post(self, path: str, body=None, **kw) -> requests.Response:
        if body is not None:
            kw["json"] = body
        return requests.post(self.base + path, timeout=30, **kw)

    def get(self, path: str, params=None, **kw) -> requests.Response:
        return requests.get(self.base + path, params=params, timeout=30, **kw)

    def request(self, method: str, path: str, **kw) -> requests.Response:
        return requests.request(method, self.base + path, timeout=30, **kw)

    # small helpers used to prove nothing was written
    def create_experiment(self, name: str | None = None) -> str:
        r = self.post("/experiments/create", {"name": name or unique_name("raw")})
        assert r.status_code == 200, r.text
        return r.json()["experiment_id"]

    def create_run(self, experiment_id: str, **fields) -> str:
        r = self.post("/runs/create", {"experiment_id": experiment_id, **fields})
        assert r.status_code == 200, r.text
        return r.json()["run"]["info"]["run_id"]

    def run_data(self, run_id: str) -> dict:
        r = self.get("/runs/get", {"run_id": run_id})
        assert r.status_code == 200, r.text
        data = r.json()["run"].get("data", {})
        return {
            "metrics": {m["key"]: m["value"] for m in data.get("metrics", [])},
            "params": {p["key"]: p["value"] for p in data.get("params", [])},
            "tags": {t["key"]: t["value"] for t in data.get("tags", [])},
        }


@pytest.fixture(scope="session")
def api(server) -> Api:
    return Api(server.api)


def sqlite_uri(path: Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"



# ---------------------------------------------------------------------------------------------
# Artifact proxying (test_artifacts.py, test_models.py)
#
# These servers are started WITHOUT --default-artifact-root, so experiments get
# `mlflow-artifacts:/<experiment id>` roots and every artifact byte goes through the server's
# /api/2.0/mlflow-artifacts/ routes to --artifacts-destination (serving is on by default).
# ---------------------------------------------------------------------------------------------


def artifact_server_command(backend_uri: str, destination: str, port: int) -> list[str]:
    flags = [
        "--backend-store-uri",
        backend_uri,
        "--artifacts-destination",
        destination,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    if TARGET == "mlflow":
        return [str(MLFLOW_BIN), "server", *flags, "--workers", "1"]
    return [str(FERROFLOW_BIN), "server", *flags]


class ArtifactServerProcess(ServerProcess):
    """A server that proxies artifacts to ``destination`` (default: ``<workdir>/mlartifacts``).

    ``workdir`` is the tmp dir holding the db, the log and (for a local destination) the
    destination directory ``destination_dir``; tests may plant files next to it.
    """

    def __init__(self, workdir: Path, destination: str | None = None,
                 extra_env: dict[str, str] | None = None):
        super().__init__(workdir)
        self.destination_dir = self.workdir / "mlartifacts"
        self.destination = destination or str(self.destination_dir)
        self.artifacts_api = f"{self.url}/api/2.0/mlflow-artifacts/artifacts"
        self.extra_env = dict(extra_env or {})

    @property
    def command(self) -> list[str]:
        return artifact_server_command(self.backend_uri, self.destination, self.port)


def _start_or_fail(s: ServerProcess) -> ServerProcess:
    _register(s)
    try:
        s.start()
    except RuntimeError as e:
        s.stop()
        _unregister(s)
        pytest.fail(str(e), pytrace=False)
    return s


@pytest.fixture(scope="session")
def artifact_server(tmp_path_factory) -> ArtifactServerProcess:
    """One artifact-proxying server (local destination) for the session."""
    s = _start_or_fail(ArtifactServerProcess(tmp_path_factory.mktemp("artifact-server")))
    yield s
    s.stop()
    _unregister(s)


def _point_client_at(url: str, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    mlflow.set_tracking_uri(url)


def _end_active_runs():
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def artifact_tracking(artifact_server, monkeypatch):
    """Points the fluent API at the artifact server; leaves no active run behind."""
    _point_client_at(artifact_server.url, monkeypatch)
    yield artifact_server.url
    _end_active_runs()


@pytest.fixture
def artifact_client(artifact_server, artifact_tracking):
    from mlflow import MlflowClient

    return MlflowClient(artifact_server.url)


@pytest.fixture
def artifact_experiment_id(request, artifact_client) -> str:
    """A fresh experiment on the artifact server, made the fluent API's active experiment."""
    import mlflow

    name = unique_name(request.node.name[:60].replace("[", "_").replace("]", ""))
    exp_id = artifact_client.create_experiment(name)
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


class MotoS3:
    """A moto S3 server on loopback with one bucket."""

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.bucket = "ferroflow-compat"
        self.env = {
            "MLFLOW_S3_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        self.proc: subprocess.Popen | None = None
        self._log = None

    def start(self, timeout: float = 30) -> "MotoS3":
        moto_bin = VENV / "bin" / "moto_server"
        if not moto_bin.exists():
            pytest.fail(f"{moto_bin} not found; run scripts/setup-python.sh", pytrace=False)
        self._log = open(self.workdir / "moto.log", "wb")
        self.proc = subprocess.Popen(
            [str(moto_bin), "-H", "127.0.0.1", "-p", str(self.port)],
            cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.proc.returncode}")
            try:
                requests.get(self.endpoint, timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.1)
        else:
            raise RuntimeError("moto_server did not come up")
        self.s3().create_bucket(Bucket=self.bucket)
        return self

    def s3(self):
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id="test",
            aws_secret_access_key="test", region_name="us-east-1",
        )

    def keys(self, prefix: str = "") -> dict[str, int]:
        """{key: size} of every object under ``prefix``."""
        out = {}
        for page in self.s3().get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                out[obj["Key"]] = obj["Size"]
        return out

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=5)
        if self._log:
            self._log.close()


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory) -> MotoS3:
    m = MotoS3(tmp_path_factory.mktemp("moto"))
    try:
        m.start()
    except RuntimeError as e:
        m.stop()
        pytest.fail(str(e), pytrace=False)
    yield m
    m.stop()


@pytest.fixture(scope="session")
def s3_artifact_server(tmp_path_factory, moto_s3) -> ArtifactServerProcess:
    """An artifact-proxying server whose destination is ``s3://<bucket>/prefix`` on moto.

    ``.s3_prefix`` is the key prefix under which artifacts land.
    """
    s = ArtifactServerProcess(
        tmp_path_factory.mktemp("s3-artifact-server"),
        destination=f"s3://{moto_s3.bucket}/prefix",
        extra_env=moto_s3.env,
    )
    s.s3_prefix = "prefix/"
    _start_or_fail(s)
    yield s
    s.stop()
    _unregister(s)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: long-running (1 GB transfers); runs only with FERROFLOW_SLOW=1")
