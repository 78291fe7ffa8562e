"""Users still on the MLflow 2.x client must keep working.

`scripts/setup-python2.sh` creates `.venv-mlflow2` with the newest mlflow 2.x. A small
script runs the tracking calls in that venv (as a subprocess) against the session server
and writes what it saw as JSON; the tests below check it, and cross-check with the 3.18
client that the 2.x writes landed.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from conftest import REPO, unique_name

VENV2 = Path(os.environ.get("FERROFLOW_VENV2", REPO / ".venv-mlflow2"))
PY2 = VENV2 / "bin" / "python"
DBL_MAX = 1.7976931348623157e308

pytestmark = pytest.mark.skipif(
    not PY2.exists(),
    reason=f"{VENV2} does not exist; create it with `bash scripts/setup-python2.sh`",
)

SCRIPT = textwrap.dedent(
    r'''
    import json, math, sys, time
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag, ViewType

    uri, exp_name, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
    out = {"version": mlflow.__version__}
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)

    exp = mlflow.set_experiment(exp_name)
    exp_id = exp.experiment_id
    out["experiment_id"] = exp_id

    with mlflow.start_run(run_name="parent") as parent:
        mlflow.set_tag("developer", "Qfl3x")
        mlflow.log_param("alpha", 0.01)
        mlflow.log_params({"max_depth": 4, "objective": "reg:squarederror"})
        for step, v in enumerate([9.0, 7.5, 6.0]):
            mlflow.log_metric("rmse", v, step=step)
        children = []
        for i, v in enumerate([8.0, 5.0, 6.5]):
            with mlflow.start_run(nested=True, run_name=f"child-{i}") as child:
                mlflow.log_param("i", i)
                mlflow.log_metric("rmse", v)
                children.append(child.info.run_id)
    out["parent_id"] = parent.info.run_id
    out["children"] = children

    def run_dict(run_id):
        r = client.get_run(run_id)
        return {"run_name": r.info.run_name, "status": r.info.status,
                "end_time": r.info.end_time, "start_time": r.info.start_time,
                "lifecycle_stage": r.info.lifecycle_stage,
                "params": r.data.params, "metrics": r.data.metrics, "tags": r.data.tags}

    out["parent"] = run_dict(parent.info.run_id)
    out["child0"] = run_dict(children[0])

    # log_batch + set_tag through the client, on a run with a generated name
    run = client.create_run(exp_id)
    rid = run.info.run_id
    out["generated_name"] = run.info.run_name
    client.log_batch(rid,
                     metrics=[Metric("loss", 1.0, 1000, 0), Metric("loss", 0.5, 2000, 1)],
                     params=[Param("lr", "0.1")],
                     tags=[RunTag("batch", "yes")])
    client.set_tag(rid, "extra", "1")
    for step, v in enumerate([float("nan"), float("inf"), float("-inf")], start=2):
        client.log_metric(rid, "loss", v, step=step, timestamp=3000 + step)
    client.set_terminated(rid)
    out["batch_run_id"] = rid
    out["batch_run"] = run_dict(rid)
    out["history"] = sorted(
        [(m.step, m.timestamp, m.value) for m in client.get_metric_history(rid, "loss")])

    # search_runs with a filter and order_by (the course's query shape)
    found = client.search_runs([exp_id], filter_string="metrics.rmse < 7",
                               run_view_type=ViewType.ACTIVE_ONLY, max_results=5,
                               order_by=["metrics.rmse ASC"])
    out["search"] = [(r.info.run_id, r.data.metrics["rmse"]) for r in found]
    out["search_children"] = sorted(r.info.run_id for r in client.search_runs(
        [exp_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"))
    out["search_param"] = [r.info.run_id for r in
                           client.search_runs([exp_id], filter_string="params.lr = '0.1'")]

    # delete / restore
    client.delete_run(children[1])
    out["after_delete_active"] = sorted(r.info.run_id for r in client.search_runs(
        [exp_id], run_view_type=ViewType.ACTIVE_ONLY))
    out["after_delete_deleted"] = [r.info.run_id for r in client.search_runs(
        [exp_id], run_view_type=ViewType.DELETED_ONLY)]
    client.restore_run(children[1])
    out["after_restore_stage"] = client.get_run(children[1]).info.lifecycle_stage

    # fluent search_runs DataFrame
    df = mlflow.search_runs([exp_id], filter_string="metrics.rmse < 7",
                            order_by=["metrics.rmse ASC"])
    out["df_columns"] = list(df.columns)
    out["df_rmse"] = df["metrics.rmse"].tolist()

    with open(out_path, "w") as f:
        json.dump(out, f)
    '''
)


@pytest.fixture(scope="module")
def mlflow2_output(server, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("mlflow2")
    script = workdir / "mlflow2_workflow.py"
    script.write_text(SCRIPT)
    out_path = workdir / "out.json"
    exp_name = unique_name("mlflow2")
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    env.update({"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
                "GIT_PYTHON_REFRESH": "quiet"})
    proc = subprocess.run(
        [str(PY2), str(script), server.url, exp_name, str(out_path)],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=300,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"mlflow 2.x script failed (exit {proc.returncode}):\n"
            f"{proc.stderr[-4000:]}\n{proc.stdout[-1000:]}",
            pytrace=False,
        )
    out = json.loads(out_path.read_text())
    out["exp_name"] = exp_name
    return out


def test_mlflow2_client_is_2x(mlflow2_output):
    assert mlflow2_output["version"].startswith("2."), mlflow2_output["version"]


def test_mlflow2_set_experiment_created_it(mlflow2_output, client):
    exp = client.get_experiment_by_name(mlflow2_output["exp_name"])
    assert exp is not None and exp.experiment_id == mlflow2_output["experiment_id"]


def test_mlflow2_run_params_metrics_tags(mlflow2_output):
    parent = mlflow2_output["parent"]
    assert parent["run_name"] == "parent"
    assert parent["status"] == "FINISHED" and parent["end_time"] is not None
    assert parent["params"] == {"alpha": "0.01", "max_depth": "4",
                                "objective": "reg:squarederror"}
    assert parent["metrics"] == {"rmse": 6.0}
    assert parent["tags"]["developer"] == "Qfl3x"
    assert parent["tags"]["mlflow.runName"] == "parent"


def test_mlflow2_nested_run_has_parent_tag(mlflow2_output):
    child = mlflow2_output["child0"]
    assert child["tags"]["mlflow.parentRunId"] == mlflow2_output["parent_id"]
    assert child["run_name"] == "child-0"
    assert child["params"] == {"i": "0"} and child["metrics"] == {"rmse": 8.0}
    assert sorted(mlflow2_output["children"]) == mlflow2_output["search_children"]


def test_mlflow2_generated_run_name(mlflow2_output):
    import re

    name = mlflow2_output["generated_name"]
    assert re.match(r"^[a-z]+-[a-z]+-\d{1,4}$", name), name
    assert mlflow2_output["batch_run"]["tags"]["mlflow.runName"] == name


def test_mlflow2_log_batch_and_set_tag(mlflow2_output):
    run = mlflow2_output["batch_run"]
    assert run["params"] == {"lr": "0.1"}
    assert run["tags"]["batch"] == "yes" and run["tags"]["extra"] == "1"
    assert run["status"] == "FINISHED"
    # latest = greatest step (step 4 is -inf)
    assert run["metrics"]["loss"] == -DBL_MAX


def test_mlflow2_metric_history_with_nan_and_inf(mlflow2_output):
    hist = mlflow2_output["history"]
    assert [(s, t) for s, t, _ in hist] == [(0, 1000), (1, 2000), (2, 3002), (3, 3003),
                                            (4, 3004)]
    values = [v for _, _, v in hist]
    assert values[:2] == [1.0, 0.5]
    assert math.isnan(values[2])
    assert values[3] == DBL_MAX and values[4] == -DBL_MAX


def test_mlflow2_search_runs_filter_and_order(mlflow2_output):
    children = mlflow2_output["children"]
    # parent rmse 6.0, children 8.0 / 5.0 / 6.5
    assert mlflow2_output["search"] == [
        [children[1], 5.0], [mlflow2_output["parent_id"], 6.0], [children[2], 6.5],
    ]
    assert mlflow2_output["search_param"] == [mlflow2_output["batch_run_id"]]


def test_mlflow2_delete_and_restore(mlflow2_output):
    children = mlflow2_output["children"]
    assert children[1] not in mlflow2_output["after_delete_active"]
    assert len(mlflow2_output["after_delete_active"]) == 4
    assert mlflow2_output["after_delete_deleted"] == [children[1]]
    assert mlflow2_output["after_restore_stage"] == "active"


def test_mlflow2_fluent_search_runs_dataframe(mlflow2_output):
    assert {"run_id", "metrics.rmse", "params.alpha"} <= set(mlflow2_output["df_columns"])
    assert mlflow2_output["df_rmse"] == [5.0, 6.0, 6.5]


def test_mlflow2_writes_visible_to_3x_client(mlflow2_output, client):
    run = client.get_run(mlflow2_output["parent_id"])
    assert run.data.params["alpha"] == "0.01"
    assert run.data.metrics == {"rmse": 6.0}
    hist = sorted(client.get_metric_history(mlflow2_output["parent_id"], "rmse"),
                  key=lambda m: m.step)
    assert [(m.step, m.value) for m in hist] == [(0, 9.0), (1, 7.5), (2, 6.0)]
