"""The database file is the compatibility contract too.

(a) Ferroflow creates MLflow's exact schema (tables, columns, types, nullability, primary
    keys, indexes) at Alembic head, with experiment 0 "Default".
(b) What the server writes, the mlflow package reads straight from the file.
(c) What the mlflow package writes straight to the file, the server serves.
(d) Ferroflow refuses a database at another Alembic revision, or one that is not MLflow's,
    and leaves the file untouched.

(a) and (d) test Ferroflow's own start-up and are skipped for FERROFLOW_TARGET=mlflow.
COMPAT_SELFTEST=1 runs (a) and the two revision refusals against MLflow anyway (MLflow
passes them, which proves the test code); MLflow does adopt a non-MLflow SQLite file, so
that refusal stays Ferroflow-only.
"""

from __future__ import annotations

import hashlib
import math
import os
import sqlite3
import time
from pathlib import Path

import pytest
from mlflow.entities import Metric, Param, RunTag, ViewType

from conftest import (
    ALEMBIC_HEAD,
    TARGET,
    ServerProcess,
    _register,
    _unregister,
    sqlite_uri,
    unique_name,
)

DBL_MAX = 1.7976931348623157e308
PREVIOUS_REVISION = "8b6ad64cb8f5"  # down_revision of f4a9b2c7d1e6 in mlflow 3.18

SELFTEST = os.environ.get("COMPAT_SELFTEST") == "1"
schema_test = pytest.mark.skipif(
    TARGET != "ferroflow" and not SELFTEST,
    reason="tests Ferroflow's own schema creation (MLflow is the reference); "
    "COMPAT_SELFTEST=1 runs it against MLflow",
)
ferroflow_only = pytest.mark.skipif(
    TARGET != "ferroflow", reason="tests Ferroflow's own start-up checks"
)


def mlflow_sqlite_client(path: Path):
    """An MlflowClient writing straight to a SQLite file (no server)."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=sqlite_uri(path))


def make_reference_db(path: Path) -> Path:
    """The real mlflow package creates the full schema on first touch."""
    mlflow_sqlite_client(path).search_experiments()
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def start_module_server(tmp_path_factory, name, db_path=None) -> ServerProcess:
    s = _register(ServerProcess(tmp_path_factory.mktemp(name), db_path=db_path))
    try:
        s.start()
    except RuntimeError as e:
        s.stop()
        _unregister(s)
        pytest.fail(str(e), pytrace=False)
    return s


# ---------------------------------------------------------------------------------------------
# Schema introspection
# ---------------------------------------------------------------------------------------------


def connect_ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def tables(con) -> set[str]:
    return {
        r[0]
        for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
        if not r[0].startswith("sqlite_")
    }


def columns(con, table) -> dict[str, tuple]:
    """name -> (declared type, notnull, pk position)."""
    return {
        r[1]: ((r[2] or "").upper(), bool(r[3]), r[5])
        for r in con.execute(f'PRAGMA table_info("{table}")')
    }


def indexes(con, table) -> list[dict]:
    out = []
    for seq, name, unique, origin, partial in con.execute(f'PRAGMA index_list("{table}")'):
        cols = tuple(r[2] for r in con.execute(f'PRAGMA index_info("{name}")'))
        out.append({"name": name, "unique": bool(unique), "origin": origin,
                    "partial": bool(partial), "columns": cols, "table": table})
    return out


@pytest.fixture(scope="module")
def reference_db(tmp_path_factory) -> Path:
    return make_reference_db(tmp_path_factory.mktemp("reference") / "reference.db")


@pytest.fixture(scope="module")
def fresh_server_db(tmp_path_factory) -> Path:
    """The db file the server under test created at start-up on a path with no file."""
    workdir = tmp_path_factory.mktemp("fresh")
    db = workdir / "fresh.db"
    assert not db.exists()
    s = start_module_server(tmp_path_factory, "fresh-srv", db_path=db)
    s.stop()
    _unregister(s)
    assert db.exists(), "server did not create the database file"
    return db


@schema_test
def test_schema_has_the_same_tables(reference_db, fresh_server_db):
    with connect_ro(reference_db) as ref, connect_ro(fresh_server_db) as got:
        ref_t, got_t = tables(ref), tables(got)
    assert len(ref_t) == 71
    assert sorted(ref_t - got_t) == [], "tables missing"
    assert sorted(got_t - ref_t) == [], "tables MLflow does not have"


@schema_test
def test_schema_columns_types_nullability_and_primary_keys(reference_db, fresh_server_db):
    diffs = []
    with connect_ro(reference_db) as ref, connect_ro(fresh_server_db) as got:
        for t in sorted(tables(ref) & tables(got)):
            rc, gc = columns(ref, t), columns(got, t)
            for c in sorted(set(rc) | set(gc)):
                if rc.get(c) != gc.get(c):
                    diffs.append(f"{t}.{c}: mlflow (type, notnull, pk)={rc.get(c)} "
                                 f"server={gc.get(c)}")
    assert diffs == [], "\n".join(diffs)


@schema_test
def test_schema_has_every_mlflow_index(reference_db, fresh_server_db):
    """Each MLflow index must exist with the same columns and uniqueness (extra ones are
    fine). Named indexes must keep their names; SQLite's automatic indexes (from UNIQUE /
    PRIMARY KEY constraints) are matched by table, columns and uniqueness."""
    missing = []
    with connect_ro(reference_db) as ref, connect_ro(fresh_server_db) as got:
        for t in sorted(tables(ref)):
            have = indexes(got, t) if t in tables(got) else []
            for ix in indexes(ref, t):
                def same_shape(o, ix=ix):
                    return (o["columns"] == ix["columns"] and o["unique"] == ix["unique"]
                            and o["partial"] == ix["partial"])
                if ix["name"].startswith("sqlite_autoindex"):
                    ok = any(same_shape(o) for o in have)
                else:
                    ok = any(o["name"] == ix["name"] and same_shape(o) for o in have)
                if not ok:
                    missing.append(f"{t}: {ix['name']} unique={ix['unique']} "
                                   f"columns={ix['columns']}")
    assert missing == [], "\n".join(missing)


@schema_test
def test_fresh_db_is_at_alembic_head(fresh_server_db):
    with connect_ro(fresh_server_db) as con:
        assert con.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (ALEMBIC_HEAD,)
        ]


@schema_test
def test_fresh_db_has_default_experiment_0(fresh_server_db):
    with connect_ro(fresh_server_db) as con:
        rows = con.execute(
            "SELECT experiment_id, name, lifecycle_stage, workspace FROM experiments"
        ).fetchall()
    assert rows == [(0, "Default", "active", "default")]


@schema_test
def test_fresh_db_default_experiment_artifact_location(fresh_server_db):
    with connect_ro(fresh_server_db) as con:
        (loc,) = con.execute(
            "SELECT artifact_location FROM experiments WHERE experiment_id = 0"
        ).fetchone()
    assert loc.rstrip("/").endswith("mlartifacts/0"), loc


@schema_test
def test_zero_byte_file_gets_the_schema(own_server, tmp_path):
    db = tmp_path / "empty.db"
    db.touch()
    own_server(db_path=db).stop()
    with connect_ro(db) as con:
        assert con.execute("SELECT version_num FROM alembic_version").fetchone() == (ALEMBIC_HEAD,)
        assert len(tables(con)) == 71


# ---------------------------------------------------------------------------------------------
# (b) written through the server, read straight from the file by the mlflow package
# ---------------------------------------------------------------------------------------------

HISTORY = [(0, 1_000, 3.5), (1, 2_000, float("nan")), (2, 3_000, float("inf")),
           (3, 4_000, float("-inf")), (4, 5_000, 1.25)]


@pytest.fixture(scope="module")
def server_written(tmp_path_factory):
    """Logs a known data set through the HTTP client, stops the server, returns what was
    logged and the db path."""
    from mlflow import MlflowClient

    s = start_module_server(tmp_path_factory, "written")
    try:
        c = MlflowClient(s.url)
        exp_name = unique_name("via-server")
        exp_id = c.create_experiment(exp_name, tags={"team": "ml"})
        c.set_experiment_tag(exp_id, "stage", "dev")
        run = c.create_run(exp_id, run_name="written-run", tags={"developer": "Qfl3x"})
        rid = run.info.run_id
        c.log_param(rid, "alpha", "0.01")
        c.log_batch(rid, params=[Param("l1_ratio", "0.5")], tags=[RunTag("model", "lasso")])
        for step, ts, v in HISTORY:
            c.log_metric(rid, "rmse", v, step=step, timestamp=ts)
        c.log_metric(rid, "mae", 2.0, step=0, timestamp=1_000)
        c.set_terminated(rid, status="FINISHED", end_time=9_000)
        deleted = c.create_run(exp_id, run_name="deleted-run").info.run_id
        c.delete_run(deleted)
        gone_exp = c.create_experiment(unique_name("gone"))
        c.delete_experiment(gone_exp)
        info = {
            "exp_name": exp_name, "exp_id": exp_id, "run_id": rid, "deleted": deleted,
            "gone_exp": gone_exp, "start_time": c.get_run(rid).info.start_time,
        }
    finally:
        s.stop()
        _unregister(s)
    return s.db_path, info


def test_server_db_experiment_readable_by_mlflow(server_written):
    db, info = server_written
    c = mlflow_sqlite_client(db)
    exp = c.get_experiment_by_name(info["exp_name"])
    assert exp.experiment_id == info["exp_id"]
    assert exp.tags == {"team": "ml", "stage": "dev"}
    assert exp.lifecycle_stage == "active"
    assert c.get_experiment(info["gone_exp"]).lifecycle_stage == "deleted"
    assert c.get_experiment("0").name == "Default"


def test_server_db_run_readable_by_mlflow(server_written):
    db, info = server_written
    run = mlflow_sqlite_client(db).get_run(info["run_id"])
    assert run.info.run_name == "written-run"
    assert run.info.status == "FINISHED"
    assert run.info.start_time == info["start_time"]
    assert run.info.end_time == 9_000
    assert run.info.experiment_id == info["exp_id"]
    assert run.info.artifact_uri.endswith(f"{info['exp_id']}/{info['run_id']}/artifacts")
    assert run.data.params == {"alpha": "0.01", "l1_ratio": "0.5"}
    assert run.data.tags["developer"] == "Qfl3x"
    assert run.data.tags["model"] == "lasso"
    assert run.data.tags["mlflow.runName"] == "written-run"
    assert run.data.metrics == {"rmse": 1.25, "mae": 2.0}


def test_server_db_metric_history_readable_by_mlflow(server_written):
    db, info = server_written
    hist = sorted(mlflow_sqlite_client(db).get_metric_history(info["run_id"], "rmse"),
                  key=lambda m: m.step)
    assert [(m.step, m.timestamp) for m in hist] == [(s, t) for s, t, _ in HISTORY]
    values = [m.value for m in hist]
    assert values[0] == 3.5
    assert math.isnan(values[1])
    assert values[2] == DBL_MAX and values[3] == -DBL_MAX
    assert values[4] == 1.25


def test_server_db_deleted_run_readable_by_mlflow(server_written):
    db, info = server_written
    c = mlflow_sqlite_client(db)
    assert c.get_run(info["deleted"]).info.lifecycle_stage == "deleted"
    active = [r.info.run_id for r in c.search_runs([info["exp_id"]])]
    deleted = [r.info.run_id for r in
               c.search_runs([info["exp_id"]], run_view_type=ViewType.DELETED_ONLY)]
    assert active == [info["run_id"]] and deleted == [info["deleted"]]


def test_server_db_stores_nan_and_inf_like_mlflow(server_written):
    """NaN: value 0 with is_nan = 1; +-inf: +-DBL_MAX with is_nan = 0."""
    db, info = server_written
    with connect_ro(db) as con:
        rows = con.execute(
            "SELECT step, timestamp, value, is_nan FROM metrics "
            "WHERE run_uuid = ? AND key = 'rmse' ORDER BY step", (info["run_id"],)
        ).fetchall()
    assert rows == [(0, 1_000, 3.5, 0), (1, 2_000, 0.0, 1), (2, 3_000, DBL_MAX, 0),
                    (3, 4_000, -DBL_MAX, 0), (4, 5_000, 1.25, 0)]


def test_server_db_latest_metrics_rows(server_written):
    db, info = server_written
    with connect_ro(db) as con:
        rows = con.execute(
            "SELECT key, value, step, timestamp, is_nan FROM latest_metrics "
            "WHERE run_uuid = ? ORDER BY key", (info["run_id"],)
        ).fetchall()
    assert rows == [("mae", 2.0, 0, 1_000, 0), ("rmse", 1.25, 4, 5_000, 0)]


def test_server_db_run_name_stored_in_column_and_tag(server_written):
    db, info = server_written
    with connect_ro(db) as con:
        (name,) = con.execute("SELECT name FROM runs WHERE run_uuid = ?",
                              (info["run_id"],)).fetchone()
        tag = con.execute("SELECT value FROM tags WHERE run_uuid = ? AND key = 'mlflow.runName'",
                          (info["run_id"],)).fetchone()
    assert name == "written-run" and tag == ("written-run",)


# ---------------------------------------------------------------------------------------------
# (c) written straight to the file by the mlflow package, served by the server
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def package_written(tmp_path_factory):
    """Writes a known data set with MlflowClient('sqlite:///...'), then starts the server
    on that file."""
    workdir = tmp_path_factory.mktemp("pkg")
    db = workdir / "package.db"
    c = mlflow_sqlite_client(db)
    exp_name = unique_name("via-package")
    exp_id = c.create_experiment(exp_name, artifact_location=str(workdir / "art"),
                                 tags={"team": "data"})
    run = c.create_run(exp_id, run_name="package-run", start_time=1_700_000_000_000)
    rid = run.info.run_id
    c.log_batch(
        rid,
        metrics=[Metric("rmse", v, 1_000 + s, s) for s, v in
                 enumerate([9.0, float("nan"), float("inf"), float("-inf"), 6.5])],
        params=[Param("alpha", "0.01"), Param("max_depth", "4")],
        tags=[RunTag("developer", "Qfl3x")],
    )
    c.set_terminated(rid, status="FINISHED", end_time=1_700_000_100_000)
    other = c.create_run(exp_id, run_name="other-run").info.run_id
    c.log_metric(other, "rmse", 3.0, step=0, timestamp=1)
    deleted = c.create_run(exp_id, run_name="deleted-run").info.run_id
    c.delete_run(deleted)
    # the package keeps a pooled connection open; the server must cope with that too
    server = start_module_server(tmp_path_factory, "pkg-srv", db_path=db)
    yield server, {"exp_name": exp_name, "exp_id": exp_id, "run_id": rid, "other": other,
                   "deleted": deleted}
    server.stop()
    _unregister(server)


def test_package_db_experiment_served(package_written):
    from mlflow import MlflowClient

    server, info = package_written
    c = MlflowClient(server.url)
    exp = c.get_experiment_by_name(info["exp_name"])
    assert exp.experiment_id == info["exp_id"]
    assert exp.tags == {"team": "data"}
    assert exp.artifact_location.endswith("/art")
    names = {e.name for e in c.search_experiments()}
    assert {"Default", info["exp_name"]} <= names


def test_package_db_run_served(package_written):
    from mlflow import MlflowClient

    server, info = package_written
    run = MlflowClient(server.url).get_run(info["run_id"])
    assert run.info.run_name == "package-run"
    assert run.info.status == "FINISHED"
    assert run.info.start_time == 1_700_000_000_000
    assert run.info.end_time == 1_700_000_100_000
    assert run.data.params == {"alpha": "0.01", "max_depth": "4"}
    assert run.data.tags["developer"] == "Qfl3x"
    assert run.data.tags["mlflow.runName"] == "package-run"
    assert run.data.metrics == {"rmse": 6.5}


def test_package_db_metric_history_served(package_written):
    from mlflow import MlflowClient

    server, info = package_written
    hist = sorted(MlflowClient(server.url).get_metric_history(info["run_id"], "rmse"),
                  key=lambda m: m.step)
    assert [(m.step, m.timestamp) for m in hist] == [(s, 1_000 + s) for s in range(5)]
    values = [m.value for m in hist]
    assert values[0] == 9.0 and math.isnan(values[1])
    assert values[2] == DBL_MAX and values[3] == -DBL_MAX and values[4] == 6.5


def test_package_db_search_served(package_written):
    from mlflow import MlflowClient

    server, info = package_written
    c = MlflowClient(server.url)
    runs = c.search_runs([info["exp_id"]], filter_string="metrics.rmse < 7",
                         order_by=["metrics.rmse ASC"])
    assert [r.info.run_id for r in runs] == [info["other"], info["run_id"]]
    assert [r.info.run_id for r in
            c.search_runs([info["exp_id"]], run_view_type=ViewType.DELETED_ONLY)] == [
        info["deleted"]
    ]


def test_package_db_accepts_new_writes_through_server(package_written):
    from mlflow import MlflowClient

    server, info = package_written
    c = MlflowClient(server.url)
    c.log_metric(info["other"], "rmse", 2.0, step=1, timestamp=2)
    c.set_tag(info["other"], "late", "yes")
    run = c.get_run(info["other"])
    assert run.data.metrics["rmse"] == 2.0 and run.data.tags["late"] == "yes"
    # a new experiment gets the next id after the package's
    new_id = c.create_experiment(unique_name("after"))
    assert int(new_id) > int(info["exp_id"])


# ---------------------------------------------------------------------------------------------
# (d) refusing foreign databases
# ---------------------------------------------------------------------------------------------


def _expect_refusal(own_server, db: Path, must_mention: str | None, timeout: float = 30):
    """The server must exit non-zero (naming `must_mention`) and leave the file as it was."""
    before = sha256(db)
    s = own_server(db_path=db, start=False)
    deadline = time.monotonic() + timeout
    while s.proc.poll() is None and time.monotonic() < deadline:
        if s.is_healthy():
            pytest.fail(f"server started serving a database it should refuse\n{s.output_tail()}",
                        pytrace=False)
        time.sleep(0.2)
    code = s.proc.poll()
    assert code is not None, f"server neither exited nor became healthy in {timeout}s"
    assert code != 0, f"server exited 0 on a database it should refuse\n{s.output_tail()}"
    if must_mention:
        assert must_mention in s.output(), s.output_tail()
    assert sha256(db) == before, "server modified a database it refused"
    return s


@schema_test
def test_refuses_unknown_alembic_revision(own_server, tmp_path):
    db = make_reference_db(tmp_path / "other-rev.db")
    with sqlite3.connect(db) as con:
        con.execute("UPDATE alembic_version SET version_num = 'deadbeef0000'")
    _expect_refusal(own_server, db, "deadbeef0000")


@schema_test
def test_refuses_older_alembic_revision(own_server, tmp_path):
    """No silent migration: an older MLflow database is refused, not upgraded."""
    db = make_reference_db(tmp_path / "old-rev.db")
    with sqlite3.connect(db) as con:
        con.execute("UPDATE alembic_version SET version_num = ?", (PREVIOUS_REVISION,))
    _expect_refusal(own_server, db, PREVIOUS_REVISION)


@ferroflow_only
def test_refuses_non_mlflow_sqlite_file(own_server, tmp_path):
    db = tmp_path / "foreign.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        con.execute("INSERT INTO invoices (total) VALUES (12.5)")
    _expect_refusal(own_server, db, None)
