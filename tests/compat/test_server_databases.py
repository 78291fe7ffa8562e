"""PostgreSQL and MySQL/MariaDB backends, driven the way a platform team would.

Each test runs on both servers (``postgresql`` and ``mysql``) with throwaway databases:

* the schema Ferroflow creates on an empty database is the one the real mlflow package
  creates there (tables, columns, types, nullability, keys, indexes, foreign keys);
* data round-trips both ways with MLflow 3.18's own store on the same database;
* other schema revisions and unreachable servers stop start-up with a clear message;
* when the database goes away while serving, requests get 503 TEMPORARILY_UNAVAILABLE and
  service resumes by itself when it comes back (the connection is cut with a TCP proxy);
* the URI forms MLflow accepts (with and without a driver, query options) work.

The servers must be running (``.ci/run`` starts them); ``FERROFLOW_TEST_PG`` and
``FERROFLOW_TEST_MYSQL`` say where.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import (
    FERROFLOW_BIN,
    MLFLOW_BIN,
    TARGET,
    ServerProcess,
    _register,
    _unregister,
    db_rows,
    free_port,
    throwaway_database,
    unique_name,
)

KINDS = ["postgresql", "mysql"]


def reachable(kind: str) -> bool:
    port = 5432 if kind == "postgresql" else 3306
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(params=KINDS)
def kind(request) -> str:
    if not reachable(request.param) and not os.environ.get("FERROFLOW_REQUIRE_DBS"):
        pytest.skip(f"no {request.param} server on 127.0.0.1 (FERROFLOW_REQUIRE_DBS unset)")
    return request.param


class DbServer(ServerProcess):
    """A server on a given backend URI (with optional extra flags)."""

    def __init__(self, workdir: Path, backend_uri: str, extra_flags: list[str] | None = None):
        super().__init__(workdir, db_path=Path(workdir) / "unused.db")
        self.backend_uri = backend_uri
        self.extra_flags = extra_flags or []

    @property
    def command(self) -> list[str]:
        return super().command + self.extra_flags


def start(tmp_path: Path, uri: str, name: str, extra_flags=None, expect_ok=True) -> DbServer:
    s = _register(DbServer(tmp_path / name, uri, extra_flags))
    if expect_ok:
        try:
            s.start()
        except RuntimeError as e:
            s.stop()
            _unregister(s)
            pytest.fail(str(e), pytrace=False)
    else:
        s.spawn()
    return s


def stop(s: ServerProcess) -> None:
    s.stop()
    _unregister(s)


def mlflow_client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def create_with_mlflow(uri: str) -> None:
    """Lets the mlflow package create its schema on an empty database."""
    mlflow_client(uri).search_experiments()


# ------------------------------------------------------------------------------ schema


def schema_of(uri: str) -> dict:
    import sqlalchemy

    engine = sqlalchemy.create_engine(uri, poolclass=sqlalchemy.pool.NullPool)
    try:
        insp = sqlalchemy.inspect(engine)
        out = {}
        for table in sorted(insp.get_table_names()):
            out[table] = {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                    for c in insp.get_columns(table)
                ],
                "pk": sorted(insp.get_pk_constraint(table)["constrained_columns"]),
                "indexes": sorted(
                    (ix["name"], tuple(ix["column_names"]), bool(ix["unique"]))
                    for ix in insp.get_indexes(table)
                ),
                "unique": sorted(
                    (u["name"], tuple(u["column_names"])) for u in insp.get_unique_constraints(table)
                ),
                "fks": sorted(
                    (tuple(f["constrained_columns"]), f["referred_table"],
                     tuple(f["referred_columns"]), str(f.get("options", {}).get("ondelete")))
                    for f in insp.get_foreign_keys(table)
                ),
            }
        return out
    finally:
        engine.dispose()


def test_schema_matches_the_one_mlflow_creates(kind, tmp_path):
    ours = throwaway_database(kind)
    theirs = throwaway_database(kind)
    s = start(tmp_path, ours, "schema")
    stop(s)
    create_with_mlflow(theirs)
    a, b = schema_of(ours), schema_of(theirs)
    assert sorted(a) == sorted(b)
    assert len(a) >= 70
    # Ferroflow's own extra index (named ferroflow_*, MLflow allows extra indexes) aside,
    # every table is the same.
    extra = [ix for ix in a["latest_metrics"]["indexes"] if ix[0].startswith("ferroflow_")]
    assert extra == [("ferroflow_latest_metrics_key_value", ("key", "value"), False)]
    for table in a:
        a[table]["indexes"] = [ix for ix in a[table]["indexes"] if not ix[0].startswith("ferroflow_")]
    for table in b:
        assert a[table] == b[table], table
    assert db_rows(ours, "SELECT version_num FROM alembic_version") == \
        db_rows(theirs, "SELECT version_num FROM alembic_version")
    (exp,) = db_rows(ours, "SELECT experiment_id, name, lifecycle_stage FROM experiments")
    assert exp == (0, "Default", "active")


# ------------------------------------------------------------------------------ round trips


def test_data_written_through_the_server_is_read_by_mlflow(kind, tmp_path):
    uri = throwaway_database(kind)
    s = start(tmp_path, uri, "write")
    try:
        c = mlflow_client(s.url)
        exp = c.create_experiment(unique_name("rt"), tags={"team": "a"})
        run = c.create_run(exp, run_name="written-by-server", tags={"k": "v"})
        rid = run.info.run_id
        c.log_param(rid, "alpha", "0.5")
        for step in range(5):
            c.log_metric(rid, "loss", 1.0 / (step + 1), step=step, timestamp=1000 + step)
        c.log_metric(rid, "nan_metric", float("nan"))
        c.set_terminated(rid, "FINISHED", end_time=5000)
        name = unique_name("model")
        c.create_registered_model(name, description="d")
        v1 = c.create_model_version(name, f"runs:/{rid}/model", run_id=rid)
        v2 = c.create_model_version(name, f"runs:/{rid}/model", run_id=rid)
        c.set_registered_model_alias(name, "champion", v2.version)
        c.transition_model_version_stage(name, v1.version, "Production")
    finally:
        stop(s)
    m = mlflow_client(uri)
    assert m.get_experiment(exp).tags["team"] == "a"
    got = m.get_run(rid)
    assert got.info.run_name == "written-by-server"
    assert got.info.status == "FINISHED" and got.info.end_time == 5000
    assert got.data.params == {"alpha": "0.5"}
    assert got.data.metrics["loss"] == pytest.approx(0.2)
    assert str(got.data.metrics["nan_metric"]) == "nan"
    hist = sorted((h.step, h.value) for h in m.get_metric_history(rid, "loss"))
    assert hist == [(i, pytest.approx(1.0 / (i + 1))) for i in range(5)]
    versions = m.search_model_versions(f"name='{name}'", order_by=["version_number ASC"])
    assert [str(v.version) for v in versions] == ["1", "2"]
    assert str(m.get_model_version_by_alias(name, "champion").version) == "2"
    assert m.get_model_version(name, "1").current_stage == "Production"


def test_data_written_by_mlflow_is_served(kind, tmp_path):
    uri = throwaway_database(kind)
    m = mlflow_client(uri)
    exp = m.create_experiment(unique_name("pkg"))
    rid = m.create_run(exp, run_name="written-by-mlflow").info.run_id
    m.log_param(rid, "depth", "7")
    for step in range(3):
        m.log_metric(rid, "acc", 0.5 + step / 10, step=step)
    name = unique_name("pkg-model")
    m.create_registered_model(name)
    m.create_model_version(name, f"runs:/{rid}/model", run_id=rid)
    s = start(tmp_path, uri, "serve")
    try:
        c = mlflow_client(s.url)
        got = c.get_run(rid)
        assert got.info.run_name == "written-by-mlflow"
        assert got.data.params == {"depth": "7"}
        assert got.data.metrics["acc"] == pytest.approx(0.7)
        found = c.search_runs([exp], filter_string="metrics.acc > 0.6 and params.depth = '7'")
        assert [r.info.run_id for r in found] == [rid]
        # New writes through the server continue MLflow's numbering.
        assert str(c.create_model_version(name, f"runs:/{rid}/model", run_id=rid).version) == "2"
        c.log_metric(rid, "acc", 0.9, step=3)
    finally:
        stop(s)
    assert m.get_run(rid).data.metrics["acc"] == pytest.approx(0.9)


# ------------------------------------------------------------------------------ start-up


def wait_exit(s: ServerProcess, timeout: float = 30) -> int:
    try:
        return s.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"server did not exit:\n{s.output_tail()}")


@pytest.mark.skipif(TARGET != "ferroflow", reason="Ferroflow's start-up checks")
def test_other_schema_revision_is_refused(kind, tmp_path):
    uri = throwaway_database(kind)
    stop(start(tmp_path, uri, "first"))
    import sqlalchemy

    engine = sqlalchemy.create_engine(uri, poolclass=sqlalchemy.pool.NullPool)
    with engine.begin() as con:
        con.execute(sqlalchemy.text("UPDATE alembic_version SET version_num = 'deadbeef0000'"))
    engine.dispose()
    s = start(tmp_path, uri, "second", expect_ok=False)
    try:
        assert wait_exit(s) != 0
        out = s.output()
        assert "deadbeef0000" in out and "f4a9b2c7d1e6" in out, out
    finally:
        stop(s)


@pytest.mark.skipif(TARGET != "ferroflow", reason="Ferroflow's start-up checks")
@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_unreachable_database_stops_start_up(scheme, tmp_path):
    port = free_port()  # nothing listens there
    s = start(tmp_path, f"{scheme}://u:secret-pw@127.0.0.1:{port}/db", "down",
              extra_flags=["--db-connect-timeout", "2"], expect_ok=False)
    try:
        assert wait_exit(s) != 0
        out = s.output()
        assert "cannot reach the database" in out, out
        assert "secret-pw" not in out
    finally:
        stop(s)


@pytest.mark.skipif(TARGET != "ferroflow", reason="URI forms as Ferroflow parses them")
def test_uri_forms(kind, tmp_path):
    """Plain schemes and driver-qualified ones, with query options."""
    uri = throwaway_database(kind)
    base, db = uri.rsplit("/", 1)
    scheme, rest = base.split("://", 1)
    plain = "postgresql" if kind == "postgresql" else "mysql"
    options = "?sslmode=disable&connect_timeout=5" if kind == "postgresql" else "?charset=utf8mb4"
    for form in [f"{plain}://{rest}/{db}{options}", f"{scheme}://{rest}/{db}"]:
        s = start(tmp_path, form, f"form{abs(hash(form))}")
        try:
            r = requests.get(f"{s.api}/experiments/search", params={"max_results": 5}, timeout=10)
            assert r.status_code == 200, r.text
        finally:
            stop(s)


# ------------------------------------------------------------------------------ outages


class TcpProxy:
    """Forwards a local port to the database; `cut()` drops every connection and stops
    listening, `restore()` listens again on the same port."""

    def __init__(self, upstream_port: int):
        self.upstream = ("127.0.0.1", upstream_port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._listener: socket.socket | None = None

    def restore(self) -> None:
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(64)
        self._listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def _accept(self, ls: socket.socket) -> None:
        while True:
            try:
                client, _ = ls.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        if self._listener:
            # shutdown() wakes the thread blocked in accept(); close() alone would not.
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


@pytest.mark.skipif(TARGET != "ferroflow", reason="Ferroflow's outage handling")
def test_database_outage_answers_503_and_service_resumes(kind, tmp_path):
    uri = throwaway_database(kind)
    upstream = 5432 if kind == "postgresql" else 3306
    proxy = TcpProxy(upstream)
    proxy.restore()
    proxied = uri.replace(f"127.0.0.1:{upstream}", f"127.0.0.1:{proxy.port}")
    s = start(tmp_path, proxied, "outage", extra_flags=["--db-connect-timeout", "2"])
    try:
        api = s.api
        exp = requests.post(f"{api}/experiments/create", json={"name": unique_name("o")},
                            timeout=10).json()["experiment_id"]
        run = requests.post(f"{api}/runs/create", json={"experiment_id": exp}, timeout=10)
        rid = run.json()["run"]["info"]["run_id"]

        proxy.cut()
        for path, body in [("/runs/log-metric", {"run_id": rid, "key": "m", "value": 1.0,
                                                "timestamp": 1, "step": 0}),
                           ("/runs/search", {"experiment_ids": [exp]})]:
            r = requests.post(f"{api}{path}", json=body, timeout=30)
            assert r.status_code == 503, (path, r.status_code, r.text)
            assert r.json()["error_code"] == "TEMPORARILY_UNAVAILABLE", r.text
        r = requests.get(f"{api}/experiments/get", params={"experiment_id": exp}, timeout=30)
        assert r.status_code == 503
        assert s.proc.poll() is None, "the server must keep running"

        proxy.restore()
        deadline = time.monotonic() + 20
        while True:
            r = requests.post(f"{api}/runs/log-metric", json={
                "run_id": rid, "key": "m", "value": 2.0, "timestamp": 2, "step": 1}, timeout=30)
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert r.status_code == 200, r.text
        hist = requests.get(f"{api}/metrics/get-history",
                            params={"run_id": rid, "metric_key": "m"}, timeout=10).json()
        # The write refused during the outage left nothing; the one after it is there.
        assert [(m["step"], m["value"]) for m in hist["metrics"]] == [(1, 2.0)]
    finally:
        stop(s)
        proxy.cut()


@pytest.mark.skipif(TARGET != "ferroflow", reason="Ferroflow's shutdown")
def test_sigterm_shuts_down_cleanly(kind, tmp_path):
    import signal

    s = start(tmp_path, throwaway_database(kind), "term")
    try:
        r = requests.get(f"{s.api}/experiments/search", params={"max_results": 5}, timeout=10)
        assert r.status_code == 200
        s.proc.send_signal(signal.SIGTERM)
        assert wait_exit(s, timeout=15) == 0, s.output()
        out = s.output()
        assert "shut down cleanly" in out and "panicked" not in out, out
    finally:
        stop(s)


@pytest.mark.skipif(TARGET != "ferroflow", reason="Ferroflow's TLS settings")
def test_postgres_sslmode(tmp_path):
    """libpq's sslmode: require encrypts, disable does not, verify-full against a root that
    did not sign the server's certificate is refused at start-up."""
    if not reachable("postgresql"):
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    uri = throwaway_database("postgresql")
    if db_rows(uri, "SHOW ssl") != [("on",)]:
        pytest.skip("the PostgreSQL test server has ssl off")
    plain = uri.replace("postgresql+psycopg2://", "postgresql://")
    ssl_of = ("SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid "
              "WHERE a.application_name = :app")
    for mode, encrypted in [("require", True), ("disable", False), ("prefer", True)]:
        app = f"ff-tls-{mode}"
        s = start(tmp_path, f"{plain}?sslmode={mode}&application_name={app}", f"tls-{mode}")
        try:
            r = requests.get(f"{s.api}/experiments/search", params={"max_results": 5}, timeout=10)
            assert r.status_code == 200, r.text
            rows = db_rows(uri, ssl_of, app=app)
            assert rows and all(bool(r[0]) == encrypted for r in rows), (mode, rows)
        finally:
            stop(s)
    bundle = "/etc/ssl/certs/ca-certificates.crt"
    if os.path.exists(bundle):
        s = start(tmp_path, f"{plain}?sslmode=verify-full&sslrootcert={bundle}", "tls-verify",
                  extra_flags=["--db-connect-timeout", "3"], expect_ok=False)
        try:
            assert wait_exit(s) != 0
            out = s.output()
            assert "cannot reach the database" in out and "certificate" in out.lower(), out
        finally:
            stop(s)
