"""Logged models live in MLflow's own tables: what Ferroflow stores, MLflow's store reads
directly from the database file, and the reverse."""

from __future__ import annotations

from mlflow.entities import LoggedModelStatus, Metric
from mlflow.tracking import MlflowClient

from conftest import sqlite_uri


def test_logged_models_written_through_the_server_read_back_in_mlflow(own_server, tmp_path):
    server = own_server(db_path=tmp_path / "lm.db")
    client = MlflowClient(server.url)
    exp = client.create_experiment("lm-roundtrip")
    run = client.create_run(exp)
    model = client.create_logged_model(
        exp, name="clf", source_run_id=run.info.run_id,
        params={"alpha": "0.5"}, tags={"team": "a"}, model_type="sklearn",
    )
    client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    client.log_batch(run.info.run_id, metrics=[
        Metric("acc", 0.9, 1000, 3, model_id=model.model_id)])
    server.stop()

    direct = MlflowClient(sqlite_uri(tmp_path / "lm.db"))
    got = direct.get_logged_model(model.model_id)
    assert got.name == "clf"
    assert got.status == LoggedModelStatus.READY
    assert got.source_run_id == run.info.run_id
    assert got.params == {"alpha": "0.5"}
    assert got.tags["team"] == "a"
    assert [(m.key, m.value, m.step) for m in got.metrics] == [("acc", 0.9, 3)]
    found = direct.search_logged_models(experiment_ids=[exp], filter_string="name = 'clf'")
    assert [m.model_id for m in found] == [model.model_id]


def test_logged_models_written_by_mlflow_are_served(own_server, tmp_path):
    db = tmp_path / "lm2.db"
    direct = MlflowClient(sqlite_uri(db))
    exp = direct.create_experiment("lm-reverse")
    run = direct.create_run(exp)
    model = direct.create_logged_model(exp, name="reg", source_run_id=run.info.run_id,
                                       tags={"k": "v"})
    direct.finalize_logged_model(model.model_id, LoggedModelStatus.READY)

    server = own_server(db_path=db)
    client = MlflowClient(server.url)
    got = client.get_logged_model(model.model_id)
    assert (got.name, got.status, got.tags.get("k")) == ("reg", LoggedModelStatus.READY, "v")
    assert [m.model_id for m in client.search_logged_models(experiment_ids=[exp])] == [model.model_id]
