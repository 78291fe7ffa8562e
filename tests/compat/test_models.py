"""Models: log_model / load_model, the logged-models API, autologging, S3, the 2.x client.

Everything runs against artifact-proxying servers (``artifact_server``: local destination;
``s3_artifact_server``: ``s3://<bucket>/prefix`` on a moto server), so model files travel
through ``/api/2.0/mlflow-artifacts/artifacts/<exp>/models/<model id>/artifacts/...``.

Explicit ``log_model`` calls pass ``pip_requirements`` where requirement inference is not what
the test is about: inference spawns a Python subprocess (~8 s on this machine) and does not
change what reaches the server. The shared ``sklearn_model`` fixture and autologging keep the
default (inferred requirements).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import textwrap
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import requests
import yaml

from conftest import REPO, unique_name

VENV2 = Path(os.environ.get("FERROFLOW_VENV2", REPO / ".venv-mlflow2"))
PY2 = VENV2 / "bin" / "python"

REQS = ["scikit-learn"]
ENV_FILES = {"MLmodel", "conda.yaml", "requirements.txt", "python_env.yaml"}


@pytest.fixture(scope="module")
def diabetes():
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    return X, y


@contextmanager
def tracking_at(url: str):
    """The fluent API and MlflowClient() pointed at ``url`` (for module-scoped fixtures)."""
    import mlflow

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", url)
        mlflow.set_tracking_uri(url)
        try:
            yield
        finally:
            while mlflow.active_run() is not None:
                mlflow.end_run()


def new_experiment(url: str, prefix: str) -> str:
    import mlflow
    from mlflow import MlflowClient

    exp_id = MlflowClient(url).create_experiment(unique_name(prefix))
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


def model_dir(server, experiment_id: str, model_id: str) -> Path:
    return server.destination_dir / experiment_id / "models" / model_id / "artifacts"


# ---------------------------------------------------------------------------------------------
# sklearn: log_model (MLflow 3 `name=` API) and load it back
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sklearn_model(artifact_server, diabetes):
    """One Ridge model logged with `mlflow.sklearn.log_model(model, name="models")`."""
    import mlflow
    from sklearn.linear_model import Ridge

    X, y = diabetes
    model = Ridge(alpha=0.5).fit(X, y)
    with tracking_at(artifact_server.url):
        exp_id = new_experiment(artifact_server.url, "sklearn-log-model")
        with mlflow.start_run() as run:
            info = mlflow.sklearn.log_model(model, name="models")
    return {"model": model, "info": info, "run_id": run.info.run_id, "experiment_id": exp_id}


def test_log_model_returns_model_info(sklearn_model):
    info = sklearn_model["info"]
    assert info.model_id.startswith("m-")
    assert info.model_uri == f"models:/{info.model_id}"
    assert info.run_id == sklearn_model["run_id"]
    assert info.artifact_path == (f"mlflow-artifacts:/{sklearn_model['experiment_id']}/models/"
                                  f"{info.model_id}/artifacts")


def test_sklearn_load_model_by_run_uri_predicts_the_same(artifact_tracking, sklearn_model,
                                                         diabetes):
    import mlflow

    X, _ = diabetes
    loaded = mlflow.sklearn.load_model(f"runs:/{sklearn_model['run_id']}/models")
    assert np.array_equal(loaded.predict(X), sklearn_model["model"].predict(X))


def test_pyfunc_load_model_by_model_id_predicts_the_same(artifact_tracking, sklearn_model,
                                                         diabetes):
    import mlflow

    X, _ = diabetes
    loaded = mlflow.pyfunc.load_model(f"models:/{sklearn_model['info'].model_id}")
    assert np.array_equal(np.asarray(loaded.predict(X)), sklearn_model["model"].predict(X))


def test_model_directory_has_mlmodel_and_environment_files(artifact_server, artifact_client,
                                                           sklearn_model):
    model_id = sklearn_model["info"].model_id
    files = artifact_client.list_logged_model_artifacts(model_id)
    names = {f.path for f in files}
    assert ENV_FILES <= names, names
    assert all(not f.is_dir and f.file_size > 0 for f in files)
    # and the same files on the destination's disk
    on_disk = model_dir(artifact_server, sklearn_model["experiment_id"], model_id)
    assert {p.name for p in on_disk.iterdir()} == names


def test_mlmodel_names_the_model_and_its_flavors(artifact_tracking, sklearn_model):
    import mlflow

    info = sklearn_model["info"]
    model_id = info.model_id
    # info.artifact_path is the model's mlflow-artifacts:/<exp>/models/<id>/artifacts root
    mlmodel = yaml.safe_load(mlflow.artifacts.load_text(f"{info.artifact_path}/MLmodel"))
    assert mlmodel["model_id"] == model_id
    assert mlmodel["run_id"] == sklearn_model["run_id"]
    assert {"sklearn", "python_function"} <= set(mlmodel["flavors"])


def test_run_outputs_list_the_logged_model(artifact_client, sklearn_model):
    run = artifact_client.get_run(sklearn_model["run_id"])
    outputs = [(o.model_id, o.step) for o in run.outputs.model_outputs]
    assert outputs == [(sklearn_model["info"].model_id, 0)]


def test_run_outputs_over_raw_http(artifact_server, sklearn_model):
    r = requests.get(f"{artifact_server.api}/runs/get",
                     params={"run_id": sklearn_model["run_id"]}, timeout=30)
    assert r.json()["run"]["outputs"] == {
        "model_outputs": [{"model_id": sklearn_model["info"].model_id, "step": 0}]}


# ---------------------------------------------------------------------------------------------
# the logged-models API
# ---------------------------------------------------------------------------------------------


def test_get_logged_model_fields(artifact_client, sklearn_model):
    from mlflow.entities import LoggedModelStatus

    model_id = sklearn_model["info"].model_id
    m = artifact_client.get_logged_model(model_id)
    assert m.model_id == model_id
    assert m.name == "models"
    assert m.experiment_id == sklearn_model["experiment_id"]
    assert m.source_run_id == sklearn_model["run_id"]
    assert m.status == LoggedModelStatus.READY
    assert m.artifact_location == (f"mlflow-artifacts:/{sklearn_model['experiment_id']}/models/"
                                   f"{model_id}/artifacts")
    assert {"mlflow.user", "mlflow.source.name", "mlflow.source.type"} <= set(m.tags)
    assert m.creation_timestamp <= m.last_updated_timestamp


def test_get_logged_model_raw_json(artifact_server, sklearn_model):
    model_id = sklearn_model["info"].model_id
    r = requests.get(f"{artifact_server.api}/logged-models/{model_id}", timeout=30)
    assert r.status_code == 200
    info = r.json()["model"]["info"]
    assert set(info) == {"model_id", "experiment_id", "name", "creation_timestamp_ms",
                         "last_updated_timestamp_ms", "artifact_uri", "status", "model_type",
                         "source_run_id", "tags"}
    assert info["status"] == "LOGGED_MODEL_READY"
    assert info["model_type"] == ""
    assert isinstance(info["creation_timestamp_ms"], int)
    assert all(set(t) == {"key", "value"} for t in info["tags"])


def test_get_missing_logged_model_is_404(artifact_server):
    r = requests.get(f"{artifact_server.api}/logged-models/m-{'0' * 32}", timeout=30)
    assert r.status_code == 404
    assert r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_search_logged_models_by_name(artifact_tracking, diabetes):
    import mlflow
    from sklearn.linear_model import LinearRegression

    X, y = diabetes
    exp_id = new_experiment(artifact_tracking, "search-logged")
    model = LinearRegression().fit(X, y)
    with mlflow.start_run():
        a = mlflow.sklearn.log_model(model, name="models", pip_requirements=REQS)
        mlflow.sklearn.log_model(model, name="other", pip_requirements=REQS)
    found = mlflow.search_logged_models(experiment_ids=[exp_id], filter_string="name = 'models'",
                                        output_format="list")
    assert [m.model_id for m in found] == [a.model_id]
    df = mlflow.search_logged_models(experiment_ids=[exp_id])
    assert sorted(df["name"]) == ["models", "other"]


def test_set_and_delete_logged_model_tags(artifact_client, artifact_experiment_id):
    m = artifact_client.create_logged_model(artifact_experiment_id, name="tagged")
    artifact_client.set_logged_model_tags(m.model_id, {"stage": "dev", "owner": "qa"})
    assert {"stage": "dev", "owner": "qa"}.items() <= \
        artifact_client.get_logged_model(m.model_id).tags.items()
    artifact_client.set_logged_model_tags(m.model_id, {"stage": "prod"})
    artifact_client.delete_logged_model_tag(m.model_id, "owner")
    tags = artifact_client.get_logged_model(m.model_id).tags
    assert tags.get("stage") == "prod" and "owner" not in tags


def test_log_model_params(artifact_tracking, artifact_client, artifact_experiment_id):
    import mlflow

    m = artifact_client.create_logged_model(artifact_experiment_id, name="with-params",
                                            params={"a": "1"})
    mlflow.log_model_params({"alpha": "0.5", "solver": "lbfgs"}, model_id=m.model_id)
    assert artifact_client.get_logged_model(m.model_id).params == {
        "a": "1", "alpha": "0.5", "solver": "lbfgs"}


def test_create_and_finalize_logged_model(artifact_client, artifact_experiment_id):
    from mlflow.entities import LoggedModelStatus

    run = artifact_client.create_run(artifact_experiment_id)
    m = artifact_client.create_logged_model(artifact_experiment_id, name="pending",
                                            source_run_id=run.info.run_id, model_type="toy")
    assert m.status == LoggedModelStatus.PENDING
    got = artifact_client.get_logged_model(m.model_id)
    assert (got.status, got.model_type, got.source_run_id) == (
        LoggedModelStatus.PENDING, "toy", run.info.run_id)

    done = artifact_client.finalize_logged_model(m.model_id, "READY")
    assert done.status == LoggedModelStatus.READY
    assert artifact_client.get_logged_model(m.model_id).status == LoggedModelStatus.READY

    failed = artifact_client.create_logged_model(artifact_experiment_id, name="failing")
    artifact_client.finalize_logged_model(failed.model_id, LoggedModelStatus.FAILED)
    assert artifact_client.get_logged_model(failed.model_id).status == LoggedModelStatus.FAILED


def test_delete_logged_model(artifact_server, artifact_client, artifact_experiment_id):
    from mlflow.exceptions import MlflowException

    keep = artifact_client.create_logged_model(artifact_experiment_id, name="keep")
    gone = artifact_client.create_logged_model(artifact_experiment_id, name="gone")
    artifact_client.delete_logged_model(gone.model_id)
    with pytest.raises(MlflowException) as e:
        artifact_client.get_logged_model(gone.model_id)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    left = artifact_client.search_logged_models([artifact_experiment_id])
    assert [m.model_id for m in left] == [keep.model_id]


# ---------------------------------------------------------------------------------------------
# autologging
# ---------------------------------------------------------------------------------------------

ROUNDS = 5


@pytest.fixture(scope="module")
def xgb_autolog(artifact_server, diabetes):
    import mlflow
    import xgboost as xgb
    from mlflow import MlflowClient

    X, y = diabetes
    dtrain = xgb.DMatrix(X, label=y)
    with tracking_at(artifact_server.url):
        exp_id = new_experiment(artifact_server.url, "xgb-autolog")
        mlflow.xgboost.autolog()
        try:
            with mlflow.start_run() as run:
                booster = xgb.train({"max_depth": 2, "eta": 0.3,
                                     "objective": "reg:squarederror"},
                                    dtrain, num_boost_round=ROUNDS, evals=[(dtrain, "train")],
                                    verbose_eval=False)
        finally:
            mlflow.xgboost.autolog(disable=True)
        run = MlflowClient(artifact_server.url).get_run(run.info.run_id)
    return {"run": run, "booster": booster, "dtrain": dtrain, "experiment_id": exp_id}


def test_xgboost_autolog_logs_params(xgb_autolog):
    params = xgb_autolog["run"].data.params
    assert params["max_depth"] == "2"
    assert params["eta"] == "0.3"
    assert params["num_boost_round"] == str(ROUNDS)


def test_xgboost_autolog_logs_metric_per_iteration(artifact_client, xgb_autolog):
    run = xgb_autolog["run"]
    history = artifact_client.get_metric_history(run.info.run_id, "train-rmse")
    assert sorted(m.step for m in history) == list(range(ROUNDS))
    values = [m.value for m in sorted(history, key=lambda m: m.step)]
    assert values == sorted(values, reverse=True)  # training error falls
    assert run.data.metrics["train-rmse"] == values[-1]


def test_xgboost_autolog_logs_a_model_that_loads_back(artifact_tracking, artifact_client,
                                                      xgb_autolog):
    import mlflow
    import xgboost as xgb

    run = xgb_autolog["run"]
    model_ids = [o.model_id for o in run.outputs.model_outputs]
    assert len(model_ids) == 1
    logged = artifact_client.get_logged_model(model_ids[0])
    assert logged.source_run_id == run.info.run_id and logged.name == "model"
    loaded = mlflow.xgboost.load_model(f"models:/{model_ids[0]}")
    assert isinstance(loaded, xgb.Booster)
    dtrain = xgb_autolog["dtrain"]
    assert np.array_equal(loaded.predict(dtrain), xgb_autolog["booster"].predict(dtrain))
    via_run = mlflow.xgboost.load_model(f"runs:/{run.info.run_id}/model")
    assert np.array_equal(via_run.predict(dtrain), xgb_autolog["booster"].predict(dtrain))


def test_xgboost_autolog_metrics_show_on_the_logged_model(artifact_client, xgb_autolog):
    run = xgb_autolog["run"]
    model_id = run.outputs.model_outputs[0].model_id
    history = artifact_client.get_metric_history(run.info.run_id, "train-rmse")
    on_model = artifact_client.get_logged_model(model_id).metrics
    # every point of the history (not only the latest), each tagged with model and run
    assert sorted((m.key, m.step, m.value) for m in on_model) == \
        sorted(("train-rmse", m.step, m.value) for m in history)
    assert {(m.model_id, m.run_id) for m in on_model} == {(model_id, run.info.run_id)}


@pytest.fixture(scope="module")
def sklearn_autolog(artifact_server, diabetes):
    import mlflow
    from mlflow import MlflowClient
    from sklearn.ensemble import RandomForestRegressor

    X, y = diabetes
    with tracking_at(artifact_server.url):
        exp_id = new_experiment(artifact_server.url, "sk-autolog")
        mlflow.autolog()
        try:
            model = RandomForestRegressor(n_estimators=8, max_depth=3, random_state=0).fit(X, y)
        finally:
            mlflow.autolog(disable=True)
        run_id = mlflow.last_active_run().info.run_id
        run = MlflowClient(artifact_server.url).get_run(run_id)
    return {"run": run, "model": model, "experiment_id": exp_id}


def test_sklearn_autolog_logs_params_metrics_and_tags(sklearn_autolog):
    run = sklearn_autolog["run"]
    assert run.info.experiment_id == sklearn_autolog["experiment_id"]
    assert run.info.status == "FINISHED"
    assert run.data.params["n_estimators"] == "8"
    assert run.data.params["max_depth"] == "3"
    assert run.data.tags["mlflow.autologging"] == "sklearn"
    assert run.data.tags["estimator_name"] == "RandomForestRegressor"
    for key in ("training_mean_squared_error", "training_r2_score", "training_score"):
        assert key in run.data.metrics, sorted(run.data.metrics)


def test_sklearn_autolog_logs_the_model(artifact_tracking, artifact_client, sklearn_autolog,
                                        diabetes):
    import mlflow

    X, _ = diabetes
    run = sklearn_autolog["run"]
    (output,) = run.outputs.model_outputs
    logged = artifact_client.get_logged_model(output.model_id)
    assert logged.source_run_id == run.info.run_id
    assert logged.params["n_estimators"] == "8"  # autolog passes the params to the model too
    loaded = mlflow.sklearn.load_model(f"models:/{output.model_id}")
    assert np.array_equal(loaded.predict(X), sklearn_autolog["model"].predict(X))


def test_sklearn_autolog_logs_the_training_dataset(sklearn_autolog):
    inputs = sklearn_autolog["run"].inputs.dataset_inputs
    assert len(inputs) == 1
    assert {t.key: t.value for t in inputs[0].tags} == {"mlflow.data.context": "train"}


def test_metrics_logged_with_model_id_show_on_the_logged_model(artifact_client,
                                                               sklearn_autolog):
    run = sklearn_autolog["run"]
    model_id = run.outputs.model_outputs[0].model_id
    metrics = {m.key: m for m in artifact_client.get_logged_model(model_id).metrics}
    mse = metrics["training_mean_squared_error"]
    assert mse.value == run.data.metrics["training_mean_squared_error"]
    assert mse.model_id == model_id and mse.run_id == run.info.run_id
    assert mse.dataset_name == "dataset" and mse.dataset_digest


def test_metric_logged_with_model_id_by_hand(artifact_tracking, artifact_client,
                                             artifact_experiment_id):
    import mlflow

    m = artifact_client.create_logged_model(artifact_experiment_id, name="manual")
    with mlflow.start_run() as run:
        mlflow.log_metric("val_loss", 0.25, step=3, model_id=m.model_id)
        mlflow.log_metric("unrelated", 1.0)
    metrics = artifact_client.get_logged_model(m.model_id).metrics
    assert [(x.key, x.value, x.step, x.run_id) for x in metrics] == [
        ("val_loss", 0.25, 3, run.info.run_id)]


# ---------------------------------------------------------------------------------------------
# S3 destination (moto server on loopback)
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def s3_tracking(s3_artifact_server, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", s3_artifact_server.url)
    mlflow.set_tracking_uri(s3_artifact_server.url)
    exp_id = new_experiment(s3_artifact_server.url, "s3")
    yield exp_id
    while mlflow.active_run() is not None:
        mlflow.end_run()


def test_s3_log_artifact_lands_in_the_bucket(s3_artifact_server, moto_s3, s3_tracking,
                                             tmp_path):
    import mlflow

    exp_id = s3_tracking
    src = tmp_path / "notes.txt"
    src.write_bytes(b"to s3\n")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(src), artifact_path="extra")
    key = f"prefix/{exp_id}/{run.info.run_id}/artifacts/extra/notes.txt"
    assert moto_s3.keys(f"prefix/{exp_id}/{run.info.run_id}/") == {key: 6}
    dl = mlflow.artifacts.download_artifacts(run_id=run.info.run_id,
                                             artifact_path="extra/notes.txt",
                                             dst_path=str(tmp_path / "dl"))
    assert Path(dl).read_bytes() == b"to s3\n"
    assert [(f.path, f.file_size) for f in
            mlflow.artifacts.list_artifacts(run_id=run.info.run_id, artifact_path="extra")] \
        == [("extra/notes.txt", 6)]


def test_s3_log_model_and_load_back(s3_artifact_server, moto_s3, s3_tracking, diabetes):
    import mlflow
    from sklearn.linear_model import Ridge

    exp_id = s3_tracking
    X, y = diabetes
    model = Ridge(alpha=1.0).fit(X, y)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="models", pip_requirements=REQS)
    keys = moto_s3.keys(f"prefix/{exp_id}/models/{info.model_id}/artifacts/")
    assert ENV_FILES <= {k.rsplit("/", 1)[1] for k in keys}, keys
    by_run = mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/models")
    by_id = mlflow.pyfunc.load_model(f"models:/{info.model_id}")
    assert np.array_equal(by_run.predict(X), model.predict(X))
    assert np.array_equal(np.asarray(by_id.predict(X)), model.predict(X))


def test_s3_large_file_multipart_roundtrip(s3_artifact_server, moto_s3, s3_tracking, tmp_path):
    """20 MB is above boto3's 8 MB multipart threshold: MLflow's server stores it with a
    multipart upload (the object's ETag carries a part count)."""
    import mlflow

    exp_id = s3_tracking
    size = 20 * 1024 * 1024 + 123
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(size))
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(src))
    key = f"prefix/{exp_id}/{run.info.run_id}/artifacts/big.bin"
    assert moto_s3.keys(key) == {key: size}
    etag = moto_s3.s3().head_object(Bucket=moto_s3.bucket, Key=key)["ETag"].strip('"')
    assert "-" in etag, f"stored with a single PUT (ETag {etag})"
    dl = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="big.bin",
                                             dst_path=str(tmp_path / "dl"))
    assert hashlib.sha256(Path(dl).read_bytes()).hexdigest() == digest


# ---------------------------------------------------------------------------------------------
# the last MLflow 2.x client: log_artifact, log_model(artifact_path=...) via runs/log-model
# ---------------------------------------------------------------------------------------------

MLFLOW2_SCRIPT = textwrap.dedent(
    r'''
    import json, sys
    import numpy as np
    import mlflow
    from mlflow.store.tracking.rest_store import RestStore
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    uri, exp_name, workdir, out_path = sys.argv[1:5]
    out = {"version": mlflow.__version__, "log_model_requests": []}

    # record what the client sends to runs/log-model
    _orig = RestStore._call_endpoint
    def _spy(self, api, json_body, *a, **kw):
        if api.__name__ == "LogModel":
            out["log_model_requests"].append(json.loads(json_body))
        return _orig(self, api, json_body, *a, **kw)
    RestStore._call_endpoint = _spy

    mlflow.set_tracking_uri(uri)
    exp = mlflow.set_experiment(exp_name)
    out["experiment_id"] = exp.experiment_id
    X, y = load_diabetes(return_X_y=True)
    model = Ridge(alpha=0.3).fit(X, y)
    with open(f"{workdir}/notes.txt", "w") as f:
        f.write("from mlflow 2\n")
    with mlflow.start_run() as run:
        mlflow.log_artifact(f"{workdir}/notes.txt", artifact_path="extra")
        info = mlflow.sklearn.log_model(model, artifact_path="model",
                                        pip_requirements=["scikit-learn"])
    rid = run.info.run_id
    out["run_id"] = rid
    out["model_uri"] = info.model_uri
    out["artifact_uri"] = mlflow.get_run(rid).info.artifact_uri
    loaded = mlflow.sklearn.load_model(f"runs:/{rid}/model")
    out["same_predictions"] = bool(np.array_equal(loaded.predict(X), model.predict(X)))
    out["listing"] = sorted(f.path for f in mlflow.MlflowClient().list_artifacts(rid, "model"))
    out["notes"] = open(mlflow.artifacts.download_artifacts(
        run_id=rid, artifact_path="extra/notes.txt", dst_path=workdir + "/dl")).read()
    np.save(f"{workdir}/X.npy", X)
    np.save(f"{workdir}/pred.npy", model.predict(X))
    with open(out_path, "w") as f:
        json.dump(out, f)
    '''
)


@pytest.fixture(scope="module")
def mlflow2_model(artifact_server, tmp_path_factory):
    if not PY2.exists():
        pytest.skip(f"{VENV2} does not exist; create it with `bash scripts/setup-python2.sh`")
    workdir = tmp_path_factory.mktemp("mlflow2-models")
    script = workdir / "mlflow2_models.py"
    script.write_text(MLFLOW2_SCRIPT)
    out_path = workdir / "out.json"
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    env.update({"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
                "GIT_PYTHON_REFRESH": "quiet"})
    exp_name = unique_name("mlflow2-models")
    proc = subprocess.run(
        [str(PY2), str(script), artifact_server.url, exp_name, str(workdir), str(out_path)],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=300,
    )
    if proc.returncode != 0:
        pytest.fail(f"mlflow 2.x script failed (exit {proc.returncode}):\n"
                    f"{proc.stderr[-4000:]}\n{proc.stdout[-1000:]}", pytrace=False)
    out = json.loads(out_path.read_text())
    out["workdir"] = workdir
    return out


def test_mlflow2_log_artifact_round_trip(artifact_server, mlflow2_model):
    assert mlflow2_model["version"].startswith("2.")
    assert mlflow2_model["notes"] == "from mlflow 2\n"
    rid, exp_id = mlflow2_model["run_id"], mlflow2_model["experiment_id"]
    assert mlflow2_model["artifact_uri"] == f"mlflow-artifacts:/{exp_id}/{rid}/artifacts"
    on_disk = artifact_server.destination_dir / exp_id / rid / "artifacts" / "extra" / "notes.txt"
    assert on_disk.read_text() == "from mlflow 2\n"


def test_mlflow2_log_model_stores_files_under_the_run(artifact_server, mlflow2_model):
    assert mlflow2_model["model_uri"] == f"runs:/{mlflow2_model['run_id']}/model"
    assert ENV_FILES <= {p.rsplit("/", 1)[1] for p in mlflow2_model["listing"]}
    on_disk = (artifact_server.destination_dir / mlflow2_model["experiment_id"]
               / mlflow2_model["run_id"] / "artifacts" / "model")
    assert ENV_FILES <= {p.name for p in on_disk.iterdir()}


def test_mlflow2_load_model_predicts_the_same(mlflow2_model):
    assert mlflow2_model["same_predictions"] is True


def test_mlflow2_log_model_uses_runs_log_model(mlflow2_model):
    (req,) = mlflow2_model["log_model_requests"]
    assert req["run_id"] == mlflow2_model["run_id"]
    model = json.loads(req["model_json"])
    assert model["artifact_path"] == "model" and "sklearn" in model["flavors"]


def test_mlflow2_log_model_history_tag(artifact_client, mlflow2_model):
    run = artifact_client.get_run(mlflow2_model["run_id"])
    history = json.loads(run.data.tags["mlflow.log-model.history"])
    assert len(history) == 1
    entry = history[0]
    assert entry["run_id"] == mlflow2_model["run_id"]
    assert entry["artifact_path"] == "model"
    assert {"sklearn", "python_function"} <= set(entry["flavors"])
    assert entry["utc_time_created"]


def test_mlflow2_model_loads_in_the_3x_client(artifact_tracking, mlflow2_model):
    import mlflow

    X = np.load(mlflow2_model["workdir"] / "X.npy")
    expected = np.load(mlflow2_model["workdir"] / "pred.npy")
    loaded = mlflow.sklearn.load_model(f"runs:/{mlflow2_model['run_id']}/model")
    assert np.array_equal(loaded.predict(X), expected)


def test_runs_log_model_appends_to_history(artifact_server, artifact_client,
                                           artifact_experiment_id):
    run_id = artifact_client.create_run(artifact_experiment_id).info.run_id
    for path in ("first", "second"):
        body = {"run_id": run_id, "model_json": json.dumps({
            "run_id": run_id, "artifact_path": path, "utc_time_created": "2024-01-01 00:00:00.0",
            "flavors": {"python_function": {"loader_module": "x", "config": {"k": 1}}}})}
        r = requests.post(f"{artifact_server.api}/runs/log-model", json=body, timeout=30)
        assert r.status_code == 200 and r.json() == {}, r.text
    history = json.loads(artifact_client.get_run(run_id).data.tags["mlflow.log-model.history"])
    assert [h["artifact_path"] for h in history] == ["first", "second"]
    # the stored entry keeps the model's identity and flavors, minus each flavor's "config"
    assert history[0]["flavors"] == {"python_function": {"loader_module": "x"}}


def test_runs_log_model_requires_mandatory_fields(artifact_server, artifact_client,
                                                  artifact_experiment_id):
    run_id = artifact_client.create_run(artifact_experiment_id).info.run_id
    body = {"run_id": run_id, "model_json": json.dumps({"run_id": run_id, "flavors": {}})}
    r = requests.post(f"{artifact_server.api}/runs/log-model", json=body, timeout=30)
    assert r.status_code == 400
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "mlflow.log-model.history" not in artifact_client.get_run(run_id).data.tags
