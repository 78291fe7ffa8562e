"""The users' tracking workflow (MLOps Zoomcamp week 2), driven through the official client.

Every test works in its own fresh experiment on the session server.
"""

from __future__ import annotations

import math
import re
import time

import mlflow
import pytest
from mlflow.entities import Metric, Param, RunStatus, RunTag, ViewType
from mlflow.exceptions import MlflowException

from conftest import unique_name

# The largest finite double: MLflow stores and returns +-inf as +-DBL_MAX.
DBL_MAX = 1.7976931348623157e308
# <adjective>-<noun>-<random.randint(0, 10**3)> (1000 included), at most 20 chars.
GENERATED_RUN_NAME = re.compile(r"^[a-z]+-[a-z]+-\d{1,4}$")


def ids(runs) -> list[str]:
    return [r.info.run_id for r in runs]


def make_run(client, exp_id, name=None, metrics=None, params=None, tags=None, status=None,
             start_time=None):
    """Creates a run through MlflowClient with known data; returns its run_id."""
    run = client.create_run(exp_id, run_name=name, start_time=start_time)
    rid = run.info.run_id
    ts = int(time.time() * 1000)
    client.log_batch(
        rid,
        metrics=[Metric(k, v, ts, 0) for k, v in (metrics or {}).items()],
        params=[Param(k, str(v)) for k, v in (params or {}).items()],
        tags=[RunTag(k, str(v)) for k, v in (tags or {}).items()],
    )
    if status:
        client.set_terminated(rid, status=status)
    return rid


def search_ids(client, exp_id, filter_string="", **kw) -> list[str]:
    return ids(client.search_runs([exp_id], filter_string=filter_string, **kw))


# ---------------------------------------------------------------------------------------------
# set_tracking_uri / set_experiment
# ---------------------------------------------------------------------------------------------


def test_set_experiment_creates_missing_experiment(tracking, client):
    name = unique_name("nyc-taxi-experiment")
    assert client.get_experiment_by_name(name) is None

    exp = mlflow.set_experiment(name)
    assert exp.name == name
    assert exp.lifecycle_stage == "active"
    assert exp.experiment_id not in ("", "0")
    fetched = client.get_experiment_by_name(name)
    assert fetched is not None and fetched.experiment_id == exp.experiment_id


def test_set_experiment_existing_returns_same_experiment(tracking, client):
    name = unique_name("existing")
    exp_id = client.create_experiment(name)
    assert mlflow.set_experiment(name).experiment_id == exp_id


def test_experiment_artifact_location_under_default_root(tracking, client, server):
    exp_id = client.create_experiment(unique_name("art"))
    loc = client.get_experiment(exp_id).artifact_location
    assert loc.rstrip("/").endswith(f"mlartifacts/{exp_id}"), loc
    run = client.create_run(exp_id)
    assert run.info.artifact_uri.endswith(f"mlartifacts/{exp_id}/{run.info.run_id}/artifacts")


# ---------------------------------------------------------------------------------------------
# Runs: tags, params, metrics
# ---------------------------------------------------------------------------------------------


def test_run_logs_tags_params_and_metrics(tracking, client, experiment_id):
    with mlflow.start_run() as run:
        mlflow.set_tag("developer", "Qfl3x")
        mlflow.log_param("train-data-path", "data/green_tripdata_2021-01.parquet")
        mlflow.log_param("alpha", 0.01)
        mlflow.log_params({"max_depth": 4, "objective": "reg:linear"})
        for step, v in enumerate([9.5, 7.25, 6.125]):
            mlflow.log_metric("rmse", v, step=step)
    got = client.get_run(run.info.run_id)
    assert got.info.experiment_id == experiment_id
    assert got.data.tags["developer"] == "Qfl3x"
    assert got.data.params == {
        "train-data-path": "data/green_tripdata_2021-01.parquet",
        "alpha": "0.01",
        "max_depth": "4",
        "objective": "reg:linear",
    }
    assert got.data.metrics == {"rmse": 6.125}
    hist = client.get_metric_history(run.info.run_id, "rmse")
    assert sorted((m.step, m.value) for m in hist) == [(0, 9.5), (1, 7.25), (2, 6.125)]


def test_client_sets_source_and_user_tags(tracking, client, experiment_id):
    with mlflow.start_run() as run:
        pass
    tags = client.get_run(run.info.run_id).data.tags
    for key in ("mlflow.user", "mlflow.source.name", "mlflow.source.type", "mlflow.runName"):
        assert key in tags, tags
    assert client.get_run(run.info.run_id).info.user_id == tags["mlflow.user"]


def test_latest_metric_is_the_greatest_step_not_the_last_logged(tracking, client, experiment_id):
    run = client.create_run(experiment_id)
    rid = run.info.run_id
    client.log_metric(rid, "loss", 1.0, step=5, timestamp=1000)
    client.log_metric(rid, "loss", 2.0, step=1, timestamp=2000)  # older step, logged later
    assert client.get_run(rid).data.metrics["loss"] == 1.0
    # same step: the greater timestamp wins
    client.log_metric(rid, "acc", 0.5, step=0, timestamp=2000)
    client.log_metric(rid, "acc", 0.9, step=0, timestamp=1000)
    assert client.get_run(rid).data.metrics["acc"] == 0.5
    # same step and timestamp: the greater value wins
    client.log_metric(rid, "f1", 0.7, step=1, timestamp=5)
    client.log_metric(rid, "f1", 0.3, step=1, timestamp=5)
    assert client.get_run(rid).data.metrics["f1"] == 0.7


def test_generated_run_name_when_none_given(tracking, client, experiment_id):
    with mlflow.start_run() as run:
        pass
    got = client.get_run(run.info.run_id)
    name = got.info.run_name
    assert GENERATED_RUN_NAME.match(name), name
    assert len(name) <= 20
    assert int(name.rsplit("-", 1)[1]) <= 1000
    assert got.data.tags["mlflow.runName"] == name


def test_generated_run_name_via_raw_create(api, server):
    """The server (not the client) invents the name when runs/create has none."""
    exp_id = api.create_experiment()
    r = api.post("/runs/create", {"experiment_id": exp_id})
    assert r.status_code == 200, r.text
    info = r.json()["run"]["info"]
    assert GENERATED_RUN_NAME.match(info["run_name"]), info
    assert api.run_data(info["run_id"])["tags"]["mlflow.runName"] == info["run_name"]


def test_explicit_run_name(tracking, client, experiment_id):
    with mlflow.start_run(run_name="lasso-baseline") as run:
        pass
    got = client.get_run(run.info.run_id)
    assert got.info.run_name == "lasso-baseline"
    assert got.data.tags["mlflow.runName"] == "lasso-baseline"


def test_end_run_sets_finished_and_end_time(tracking, client, experiment_id):
    with mlflow.start_run() as run:
        during = client.get_run(run.info.run_id)
        assert during.info.status == "RUNNING"
        assert during.info.end_time is None
        assert during.info.lifecycle_stage == "active"
    after = client.get_run(run.info.run_id)
    assert after.info.status == "FINISHED"
    assert after.info.end_time is not None
    assert after.info.end_time >= after.info.start_time > 0


def test_exception_in_run_marks_it_failed(tracking, client, experiment_id):
    with pytest.raises(ZeroDivisionError):
        with mlflow.start_run() as run:
            1 / 0
    assert client.get_run(run.info.run_id).info.status == "FAILED"


def test_nested_run_has_parent_run_id_tag(tracking, client, experiment_id):
    with mlflow.start_run(run_name="parent") as parent:
        with mlflow.start_run(nested=True) as child:
            mlflow.log_param("x", 1)
    child_run = client.get_run(child.info.run_id)
    assert child_run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert "mlflow.parentRunId" not in client.get_run(parent.info.run_id).data.tags
    assert client.get_run(parent.info.run_id).info.status == "FINISHED"
    assert child_run.info.status == "FINISHED"


def test_hyperopt_nested_trials_are_children_of_parent(tracking, client, experiment_id):
    pytest.importorskip("hyperopt")
    from hyperopt import STATUS_OK, Trials, fmin, hp, tpe

    def objective(params):
        with mlflow.start_run(nested=True):
            mlflow.set_tag("model", "quadratic")
            mlflow.log_params(params)
            rmse = (params["x"] - 1.5) ** 2 + 3.0
            mlflow.log_metric("rmse", rmse)
        return {"loss": rmse, "status": STATUS_OK}

    space = {"x": hp.uniform("x", -5, 5), "learning_rate": hp.loguniform("learning_rate", -3, 0)}
    with mlflow.start_run(run_name="hpo_parent") as parent:
        fmin(fn=objective, space=space, algo=tpe.suggest, max_evals=4, trials=Trials(),
             show_progressbar=False, rstate=__import__("numpy").random.default_rng(42))

    children = client.search_runs(
        [experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert len(children) == 4
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.tags["model"] == "quadratic"
        assert set(child.data.params) == {"x", "learning_rate"}
        x = float(child.data.params["x"])
        assert child.data.metrics["rmse"] == pytest.approx((x - 1.5) ** 2 + 3.0)
    # ordering by the metric works across the children
    best = client.search_runs(
        [experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
        order_by=["metrics.rmse ASC"],
        max_results=1,
    )
    assert best[0].data.metrics["rmse"] == min(c.data.metrics["rmse"] for c in children)


# ---------------------------------------------------------------------------------------------
# search_runs
# ---------------------------------------------------------------------------------------------


def test_search_runs_seed_query_filter_order_limit(client, experiment_id):
    """The course's query: rmse < 7, ACTIVE_ONLY, max_results=5, order_by rmse ASC."""
    values = [6.9, 1.5, 3.0, 7.0, 12.0, 0.5, 5.5, 2.5, 4.0]
    by_value = {v: make_run(client, experiment_id, metrics={"rmse": v}) for v in values}
    deleted = make_run(client, experiment_id, metrics={"rmse": 0.1})
    client.delete_run(deleted)
    make_run(client, experiment_id, metrics={"mae": 1.0})  # no rmse at all

    runs = client.search_runs(
        experiment_ids=[experiment_id],
        filter_string="metrics.rmse < 7",
        run_view_type=ViewType.ACTIVE_ONLY,
        max_results=5,
        order_by=["metrics.rmse ASC"],
    )
    assert [r.data.metrics["rmse"] for r in runs] == [0.5, 1.5, 2.5, 3.0, 4.0]
    assert ids(runs) == [by_value[v] for v in [0.5, 1.5, 2.5, 3.0, 4.0]]


def test_search_runs_experiment_ids_as_string(client, experiment_id):
    """The course passes experiment_ids='1' (a bare string)."""
    rid = make_run(client, experiment_id, metrics={"rmse": 3.0})
    assert ids(client.search_runs(experiment_ids=experiment_id)) == [rid]


def test_search_runs_metric_comparators(client, experiment_id):
    r = {v: make_run(client, experiment_id, metrics={"m": v}) for v in (1.0, 2.0, 3.0)}
    assert set(search_ids(client, experiment_id, "metrics.m >= 2")) == {r[2.0], r[3.0]}
    assert set(search_ids(client, experiment_id, "metrics.m <= 2")) == {r[1.0], r[2.0]}
    assert set(search_ids(client, experiment_id, "metrics.m = 2")) == {r[2.0]}
    assert set(search_ids(client, experiment_id, "metrics.m != 2")) == {r[1.0], r[3.0]}
    assert set(search_ids(client, experiment_id, "metrics.m > 1 and metrics.m < 3")) == {r[2.0]}


def test_search_runs_param_equals(client, experiment_id):
    a = make_run(client, experiment_id, params={"alpha": "0.01"})
    make_run(client, experiment_id, params={"alpha": "0.1"})
    make_run(client, experiment_id, params={"beta": "0.01"})
    assert search_ids(client, experiment_id, "params.alpha = '0.01'") == [a]
    assert search_ids(client, experiment_id, 'params.alpha = "0.01"') == [a]


def test_search_runs_param_not_equal_like_ilike(client, experiment_id):
    lasso = make_run(client, experiment_id, params={"model": "Lasso"})
    ridge = make_run(client, experiment_id, params={"model": "Ridge"})
    make_run(client, experiment_id, params={"other": "x"})
    assert search_ids(client, experiment_id, "params.model != 'Lasso'") == [ridge]
    assert search_ids(client, experiment_id, "params.model LIKE 'La%'") == [lasso]
    assert search_ids(client, experiment_id, "params.model LIKE 'la%'") == []  # case-sensitive
    assert search_ids(client, experiment_id, "params.model ILIKE 'la%'") == [lasso]
    assert set(search_ids(client, experiment_id, "parameters.model LIKE '%e%'")) == {ridge}


def test_search_runs_tag_equals(client, experiment_id):
    x = make_run(client, experiment_id, tags={"developer": "x"})
    make_run(client, experiment_id, tags={"developer": "y"})
    make_run(client, experiment_id)
    assert search_ids(client, experiment_id, "tags.developer = 'x'") == [x]
    assert search_ids(client, experiment_id, "tag.developer = 'x'") == [x]


def test_search_runs_tag_with_dots_in_key(client, experiment_id):
    rid = make_run(client, experiment_id, name="named-by-tag")
    make_run(client, experiment_id, name="other")
    assert search_ids(client, experiment_id, "tags.mlflow.runName = 'named-by-tag'") == [rid]
    assert search_ids(client, experiment_id, "tags.`mlflow.runName` = 'named-by-tag'") == [rid]


def test_search_runs_backticked_key_with_spaces(client, experiment_id):
    rid = make_run(client, experiment_id, metrics={"val loss": 0.5})
    make_run(client, experiment_id, metrics={"val loss": 5.0})
    assert search_ids(client, experiment_id, "metrics.`val loss` < 1") == [rid]


def test_search_runs_attribute_status(client, experiment_id):
    finished = make_run(client, experiment_id, status="FINISHED")
    failed = make_run(client, experiment_id, status="FAILED")
    running = make_run(client, experiment_id)
    assert search_ids(client, experiment_id, "attributes.status = 'FINISHED'") == [finished]
    assert search_ids(client, experiment_id, "attributes.status = 'FAILED'") == [failed]
    assert search_ids(client, experiment_id, "status = 'RUNNING'") == [running]
    assert set(search_ids(client, experiment_id, "attributes.status != 'RUNNING'")) == {
        finished, failed,
    }


def test_search_runs_run_name_like_is_case_sensitive(client, experiment_id):
    abc = make_run(client, experiment_id, name="abc-1")
    make_run(client, experiment_id, name="ABC-2")
    make_run(client, experiment_id, name="xabc-3")
    assert search_ids(client, experiment_id, "attributes.run_name LIKE 'abc%'") == [abc]


def test_search_runs_run_name_ilike(client, experiment_id):
    abc = make_run(client, experiment_id, name="abc-1")
    upper = make_run(client, experiment_id, name="ABC-2")
    make_run(client, experiment_id, name="xabc-3")
    assert set(search_ids(client, experiment_id, "run_name ILIKE 'abc%'")) == {abc, upper}
    assert set(search_ids(client, experiment_id, "attributes.run_name ILIKE '%ABC%'")) == {
        abc, upper, search_ids(client, experiment_id, "run_name = 'xabc-3'")[0],
    }


def test_search_runs_run_name_equals(client, experiment_id):
    rid = make_run(client, experiment_id, name="exact-name")
    make_run(client, experiment_id, name="exact-name-2")
    assert search_ids(client, experiment_id, "attributes.run_name = 'exact-name'") == [rid]
    assert search_ids(client, experiment_id, "run.run_name = 'exact-name'") == [rid]


def test_search_runs_run_id_in(client, experiment_id):
    a, b, c = (make_run(client, experiment_id) for _ in range(3))
    assert set(search_ids(client, experiment_id, f"attributes.run_id IN ('{a}', '{c}')")) == {a, c}
    assert search_ids(client, experiment_id, f"attributes.run_id NOT IN ('{a}', '{c}')") == [b]
    assert search_ids(client, experiment_id, f"attributes.run_id = '{b}'") == [b]


def test_search_runs_start_time_comparison(client, experiment_id):
    early = make_run(client, experiment_id, start_time=1_000)
    mid = make_run(client, experiment_id, start_time=2_000)
    late = make_run(client, experiment_id, start_time=3_000)
    assert set(search_ids(client, experiment_id, "attributes.start_time > 1500")) == {mid, late}
    assert search_ids(client, experiment_id, "attributes.start_time <= 1000") == [early]
    assert search_ids(client, experiment_id, "attributes.start_time = 2000") == [mid]


def test_search_runs_end_time_comparison(client, experiment_id):
    ended = make_run(client, experiment_id, status="FINISHED")
    make_run(client, experiment_id)  # still running: end_time NULL
    assert search_ids(client, experiment_id, "attributes.end_time > 0") == [ended]


def test_search_runs_tag_is_null_and_is_not_null(client, experiment_id):
    tagged = make_run(client, experiment_id, tags={"reviewed": "yes"})
    untagged = make_run(client, experiment_id)
    assert search_ids(client, experiment_id, "tags.reviewed IS NULL") == [untagged]
    assert search_ids(client, experiment_id, "tags.reviewed IS NOT NULL") == [tagged]


def test_search_runs_param_is_null(client, experiment_id):
    with_p = make_run(client, experiment_id, params={"alpha": "1"})
    without = make_run(client, experiment_id)
    assert search_ids(client, experiment_id, "params.alpha IS NULL") == [without]
    assert search_ids(client, experiment_id, "params.alpha IS NOT NULL") == [with_p]


def test_search_runs_keywords_are_case_insensitive(client, experiment_id):
    rid = make_run(client, experiment_id, params={"alpha": "a"}, metrics={"m": 1.0})
    make_run(client, experiment_id, params={"alpha": "b"}, metrics={"m": 1.0})
    assert search_ids(client, experiment_id, "params.alpha like 'a' AnD metrics.m = 1") == [rid]


def test_search_runs_dataset_filters(tracking, client, experiment_id):
    import pandas as pd

    df = pd.DataFrame({"a": [1, 2, 3], "b": [4.0, 5.0, 6.0]})
    ds = mlflow.data.from_pandas(df, name="green_tripdata", targets="b")
    with mlflow.start_run() as with_ds:
        mlflow.log_input(ds, context="training")
    with mlflow.start_run():
        pass
    rid = with_ds.info.run_id
    inputs = client.get_run(rid).inputs.dataset_inputs
    assert [(i.dataset.name, i.dataset.digest) for i in inputs] == [("green_tripdata", ds.digest)]
    assert {t.key: t.value for t in inputs[0].tags} == {"mlflow.data.context": "training"}
    assert search_ids(client, experiment_id, "datasets.name = 'green_tripdata'") == [rid]
    assert search_ids(client, experiment_id, f"datasets.digest = '{ds.digest}'") == [rid]
    assert search_ids(client, experiment_id, "datasets.context = 'training'") == [rid]
    assert search_ids(client, experiment_id, "datasets.name IN ('green_tripdata', 'x')") == [rid]
    assert search_ids(client, experiment_id, "datasets.name LIKE 'green%'") == [rid]
    assert search_ids(client, experiment_id, "datasets.name = 'other'") == []


def test_search_runs_pagination(client, experiment_id):
    all_ids = [make_run(client, experiment_id, metrics={"m": float(i)}) for i in range(7)]
    expected = list(reversed(all_ids))  # metrics.m DESC
    pages, token = [], None
    while True:
        page = client.search_runs(
            [experiment_id], max_results=3, order_by=["metrics.m DESC"], page_token=token
        )
        pages.append(ids(page))
        token = page.token
        if not token:
            break
        assert len(pages) < 10, "pagination does not terminate"
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i for p in pages for i in p] == expected


def test_search_runs_exactly_full_last_page_has_no_token(client, experiment_id):
    """MLflow looks one row ahead: a page that holds the last run carries no next token."""
    for i in range(3):
        make_run(client, experiment_id, metrics={"m": float(i)})
    full = client.search_runs([experiment_id], max_results=3)
    assert len(full) == 3
    assert not full.token
    partial = client.search_runs([experiment_id], max_results=2)
    assert len(partial) == 2 and partial.token


def test_search_runs_default_order_is_start_time_desc(client, experiment_id):
    a = make_run(client, experiment_id, start_time=1_000)
    b = make_run(client, experiment_id, start_time=3_000)
    c = make_run(client, experiment_id, start_time=2_000)
    assert search_ids(client, experiment_id) == [b, c, a]


def test_search_runs_start_time_ties_broken_by_run_id(client, experiment_id):
    same = [make_run(client, experiment_id, start_time=5_000) for _ in range(4)]
    assert search_ids(client, experiment_id) == sorted(same)


def test_search_experiments_default_order_ties_broken_by_id(client):
    """Default experiment order is creation_time DESC, then experiment_id ASC."""
    prefix = unique_name("tie")
    ids_ = [client.create_experiment(f"{prefix}-{i}") for i in range(3)]
    got = client.search_experiments(filter_string=f"name LIKE '{prefix}%'")
    key = {e.experiment_id: (-e.creation_time, int(e.experiment_id)) for e in got}
    assert [e.experiment_id for e in got] == sorted(ids_, key=key.__getitem__)


def test_search_runs_order_by_param_and_attribute(client, experiment_id):
    r_b = make_run(client, experiment_id, name="r2", params={"p": "b"})
    r_a = make_run(client, experiment_id, name="r3", params={"p": "a"})
    r_c = make_run(client, experiment_id, name="r1", params={"p": "c"})
    assert search_ids(client, experiment_id, order_by=["params.p ASC"]) == [r_a, r_b, r_c]
    assert search_ids(client, experiment_id, order_by=["attributes.run_name DESC"]) == [
        r_a, r_b, r_c,
    ]


def test_search_runs_missing_and_nan_metrics_sort_last(client, experiment_id):
    one = make_run(client, experiment_id, metrics={"m": 1.0})
    two = make_run(client, experiment_id, metrics={"m": 2.0})
    nan = make_run(client, experiment_id, metrics={"m": float("nan")})
    none = make_run(client, experiment_id, metrics={"other": 1.0})
    asc = search_ids(client, experiment_id, order_by=["metrics.m ASC"])
    desc = search_ids(client, experiment_id, order_by=["metrics.m DESC"])
    assert asc[:2] == [one, two]
    assert desc[:2] == [two, one]
    assert asc[2:] == [nan, none]
    assert desc[2:] == [nan, none]


def test_search_runs_across_experiments(client):
    e1 = client.create_experiment(unique_name("multi"))
    e2 = client.create_experiment(unique_name("multi"))
    r1 = make_run(client, e1, metrics={"m": 1.0})
    r2 = make_run(client, e2, metrics={"m": 2.0})
    assert ids(client.search_runs([e1, e2], order_by=["metrics.m ASC"])) == [r1, r2]


def test_delete_and_restore_run_with_view_types(client, experiment_id):
    keep = make_run(client, experiment_id)
    gone = make_run(client, experiment_id)
    client.delete_run(gone)
    assert client.get_run(gone).info.lifecycle_stage == "deleted"
    assert search_ids(client, experiment_id, run_view_type=ViewType.ACTIVE_ONLY) == [keep]
    assert search_ids(client, experiment_id, run_view_type=ViewType.DELETED_ONLY) == [gone]
    assert set(search_ids(client, experiment_id, run_view_type=ViewType.ALL)) == {keep, gone}
    client.restore_run(gone)
    assert client.get_run(gone).info.lifecycle_stage == "active"
    assert search_ids(client, experiment_id, run_view_type=ViewType.DELETED_ONLY) == []
    assert set(search_ids(client, experiment_id, run_view_type=ViewType.ACTIVE_ONLY)) == {
        keep, gone,
    }


def test_deleted_run_rejects_logging(client, experiment_id):
    rid = make_run(client, experiment_id)
    client.delete_run(rid)
    with pytest.raises(MlflowException) as ei:
        client.log_param(rid, "a", "1")
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "must be in the 'active' state" in ei.value.message


# ---------------------------------------------------------------------------------------------
# Metric history
# ---------------------------------------------------------------------------------------------


def test_metric_history_nan_and_infinities_round_trip(client, experiment_id):
    rid = make_run(client, experiment_id)
    values = [1.0, float("nan"), float("inf"), float("-inf"), 0.0, -2.5]
    for step, v in enumerate(values):
        client.log_metric(rid, "m", v, step=step, timestamp=1_000 + step)
    hist = sorted(client.get_metric_history(rid, "m"), key=lambda m: m.step)
    assert [(m.step, m.timestamp) for m in hist] == [(i, 1_000 + i) for i in range(6)]
    got = [m.value for m in hist]
    assert got[0] == 1.0
    assert math.isnan(got[1])
    # MLflow returns +-inf as +-DBL_MAX (the largest finite double)
    assert got[2] == DBL_MAX
    assert got[3] == -DBL_MAX
    assert got[4:] == [0.0, -2.5]
    assert client.get_run(rid).data.metrics["m"] == -2.5


def test_latest_metric_nan_is_reported_as_nan(client, experiment_id):
    rid = make_run(client, experiment_id)
    client.log_metric(rid, "n", float("nan"), step=0)
    assert math.isnan(client.get_run(rid).data.metrics["n"])


def test_metric_history_keeps_duplicate_points_and_steps(client, experiment_id):
    rid = make_run(client, experiment_id)
    client.log_batch(rid, metrics=[
        Metric("m", 1.0, 10, 0), Metric("m", 2.0, 20, 0), Metric("m", 3.0, 30, 1),
    ])
    hist = client.get_metric_history(rid, "m")
    assert sorted((m.step, m.timestamp, m.value) for m in hist) == [
        (0, 10, 1.0), (0, 20, 2.0), (1, 30, 3.0),
    ]
    assert client.get_metric_history(rid, "absent") == []


# ---------------------------------------------------------------------------------------------
# mlflow.search_runs DataFrame
# ---------------------------------------------------------------------------------------------


def test_fluent_search_runs_returns_dataframe(tracking, client, experiment_id):
    make_run(client, experiment_id, metrics={"rmse": 5.0}, params={"alpha": "0.01"})
    make_run(client, experiment_id, metrics={"rmse": 6.0}, params={"alpha": "0.1"})
    df = mlflow.search_runs(
        experiment_ids=[experiment_id], filter_string="metrics.rmse < 7",
        order_by=["metrics.rmse ASC"],
    )
    assert {"run_id", "status", "start_time", "metrics.rmse", "params.alpha"} <= set(df.columns)
    assert df["metrics.rmse"].tolist() == [5.0, 6.0]
    assert df["params.alpha"].tolist() == ["0.01", "0.1"]


# ---------------------------------------------------------------------------------------------
# Experiments
# ---------------------------------------------------------------------------------------------


def test_create_get_and_get_by_name_experiment(client):
    name = unique_name("create")
    exp_id = client.create_experiment(name, tags={"team": "ml"})
    by_id = client.get_experiment(exp_id)
    by_name = client.get_experiment_by_name(name)
    assert by_id.experiment_id == by_name.experiment_id == exp_id
    assert by_id.name == name
    assert by_id.tags == {"team": "ml"}
    assert by_id.lifecycle_stage == "active"
    assert by_id.creation_time > 0 and by_id.last_update_time >= by_id.creation_time


def test_get_experiment_by_name_missing_returns_none(client):
    assert client.get_experiment_by_name(unique_name("missing")) is None


def test_default_experiment_exists(client):
    exp = client.get_experiment("0")
    assert exp.name == "Default"
    assert client.get_experiment_by_name("Default").experiment_id == "0"


def test_search_experiments_filter_by_name_like(client):
    prefix = unique_name("srch")
    a = client.create_experiment(f"{prefix}-a")
    b = client.create_experiment(f"{prefix}-b")
    client.create_experiment(unique_name("other"))
    got = client.search_experiments(filter_string=f"name LIKE '{prefix}%'")
    assert sorted(e.experiment_id for e in got) == sorted([a, b])


def test_search_experiments_filter_by_tag(client):
    value = unique_name("v")
    a = client.create_experiment(unique_name("tagged"), tags={"k": value})
    client.create_experiment(unique_name("tagged"), tags={"k": "other"})
    got = client.search_experiments(filter_string=f"tags.k = '{value}'")
    assert [e.experiment_id for e in got] == [a]


def test_search_experiments_order_by_name(client):
    prefix = unique_name("ord")
    c = client.create_experiment(f"{prefix}-c")
    a = client.create_experiment(f"{prefix}-a")
    b = client.create_experiment(f"{prefix}-b")
    asc = client.search_experiments(filter_string=f"name LIKE '{prefix}%'", order_by=["name ASC"])
    assert [e.experiment_id for e in asc] == [a, b, c]
    desc = client.search_experiments(
        filter_string=f"name LIKE '{prefix}%'", order_by=["name DESC"]
    )
    assert [e.experiment_id for e in desc] == [c, b, a]


def test_search_experiments_default_order_is_newest_first(client):
    prefix = unique_name("dflt")
    first = client.create_experiment(f"{prefix}-1")
    time.sleep(0.02)  # distinct creation_time (ties fall back to experiment_id ASC)
    second = client.create_experiment(f"{prefix}-2")
    got = client.search_experiments(filter_string=f"name LIKE '{prefix}%'")
    assert [e.experiment_id for e in got] == [second, first]


def test_search_experiments_pagination(client):
    prefix = unique_name("pg")
    created = [client.create_experiment(f"{prefix}-{i}") for i in range(5)]
    seen, token = [], None
    for _ in range(5):
        page = client.search_experiments(
            filter_string=f"name LIKE '{prefix}%'", max_results=2, page_token=token,
            order_by=["name ASC"],
        )
        seen.extend(e.experiment_id for e in page)
        token = page.token
        if not token:
            break
    assert seen == created


def test_rename_experiment(client):
    exp_id = client.create_experiment(unique_name("old"))
    new_name = unique_name("new")
    client.rename_experiment(exp_id, new_name)
    assert client.get_experiment(exp_id).name == new_name
    assert client.get_experiment_by_name(new_name).experiment_id == exp_id


def test_delete_and_restore_experiment(client):
    name = unique_name("del")
    exp_id = client.create_experiment(name)
    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    active = client.search_experiments(filter_string=f"name = '{name}'")
    deleted = client.search_experiments(
        view_type=ViewType.DELETED_ONLY, filter_string=f"name = '{name}'"
    )
    assert [e.experiment_id for e in active] == []
    assert [e.experiment_id for e in deleted] == [exp_id]
    assert len(client.search_experiments(view_type=ViewType.ALL,
                                         filter_string=f"name = '{name}'")) == 1
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"
    assert [e.experiment_id for e in
            client.search_experiments(filter_string=f"name = '{name}'")] == [exp_id]


def test_deleting_experiment_hides_its_runs_from_active_search(client):
    exp_id = client.create_experiment(unique_name("delruns"))
    rid = make_run(client, exp_id)
    client.delete_experiment(exp_id)
    assert client.get_run(rid).info.lifecycle_stage == "deleted"
    client.restore_experiment(exp_id)
    assert client.get_run(rid).info.lifecycle_stage == "active"


def test_set_and_delete_experiment_tag(client):
    assert hasattr(client, "delete_experiment_tag"), "mlflow client lacks delete_experiment_tag"
    exp_id = client.create_experiment(unique_name("etag"))
    client.set_experiment_tag(exp_id, "owner", "alice")
    client.set_experiment_tag(exp_id, "stage", "dev")
    assert client.get_experiment(exp_id).tags == {"owner": "alice", "stage": "dev"}
    client.set_experiment_tag(exp_id, "owner", "bob")  # overwrite
    assert client.get_experiment(exp_id).tags["owner"] == "bob"
    client.delete_experiment_tag(exp_id, "owner")
    assert client.get_experiment(exp_id).tags == {"stage": "dev"}


# ---------------------------------------------------------------------------------------------
# Run tags, log_batch, update_run
# ---------------------------------------------------------------------------------------------


def test_set_and_delete_run_tag(client, experiment_id):
    rid = make_run(client, experiment_id)
    client.set_tag(rid, "developer", "Qfl3x")
    client.set_tag(rid, "developer", "someone-else")  # tags may change
    assert client.get_run(rid).data.tags["developer"] == "someone-else"
    client.delete_tag(rid, "developer")
    assert "developer" not in client.get_run(rid).data.tags


def test_delete_missing_run_tag_fails(client, experiment_id):
    rid = make_run(client, experiment_id)
    with pytest.raises(MlflowException) as ei:
        client.delete_tag(rid, "never-set")
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_log_batch_via_client(client, experiment_id):
    rid = client.create_run(experiment_id).info.run_id
    client.log_batch(
        rid,
        metrics=[Metric("rmse", 7.5, 1000, 0), Metric("rmse", 6.5, 2000, 1),
                 Metric("mae", 3.0, 1000, 0)],
        params=[Param("alpha", "0.01"), Param("l1_ratio", "0.5")],
        tags=[RunTag("developer", "Qfl3x"), RunTag("model", "elasticnet")],
    )
    run = client.get_run(rid)
    assert run.data.metrics == {"rmse": 6.5, "mae": 3.0}
    assert run.data.params == {"alpha": "0.01", "l1_ratio": "0.5"}
    assert run.data.tags["developer"] == "Qfl3x"
    assert run.data.tags["model"] == "elasticnet"
    assert [(m.step, m.value) for m in
            sorted(client.get_metric_history(rid, "rmse"), key=lambda m: m.step)] == [
        (0, 7.5), (1, 6.5),
    ]


def test_relogging_same_param_value_is_allowed(client, experiment_id):
    rid = make_run(client, experiment_id, params={"alpha": "0.01"})
    client.log_param(rid, "alpha", "0.01")
    client.log_batch(rid, params=[Param("alpha", "0.01")])
    assert client.get_run(rid).data.params == {"alpha": "0.01"}


def test_changing_param_value_is_rejected(client, experiment_id):
    rid = make_run(client, experiment_id, params={"alpha": "0.01"})
    with pytest.raises(MlflowException) as ei:
        client.log_param(rid, "alpha", "0.1")
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_run(rid).data.params == {"alpha": "0.01"}


def test_update_run_name(client, experiment_id):
    rid = make_run(client, experiment_id, name="before")
    client.update_run(rid, name="after")
    run = client.get_run(rid)
    assert run.info.run_name == "after"
    assert run.data.tags["mlflow.runName"] == "after"
    assert run.info.status == "RUNNING"


def test_update_run_status(client, experiment_id):
    rid = make_run(client, experiment_id)
    client.update_run(rid, status="KILLED")
    run = client.get_run(rid)
    assert run.info.status == RunStatus.to_string(RunStatus.KILLED)
    assert run.info.end_time is None  # update_run with a status does not set end_time
    client.set_terminated(rid, status="FINISHED", end_time=123456)
    run = client.get_run(rid)
    assert run.info.status == "FINISHED" and run.info.end_time == 123456


def test_setting_run_name_tag_renames_run(client, experiment_id):
    rid = make_run(client, experiment_id, name="before")
    client.set_tag(rid, "mlflow.runName", "renamed-by-tag")
    assert client.get_run(rid).info.run_name == "renamed-by-tag"


def test_run_inputs_list_the_models_it_used(tracking, client, experiment_id):
    """A run that evaluates a logged model records it as a model input (runs/log-inputs with
    `models`); the run then lists it, next to its outputs, and a second call adds nothing."""
    from mlflow.entities import LoggedModelInput

    producer = client.create_run(experiment_id).info.run_id
    model = client.create_logged_model(experiment_id, source_run_id=producer, name="used-model")
    client.log_outputs(producer, [mlflow.entities.LoggedModelOutput(model.model_id, step=3)])
    consumer = client.create_run(experiment_id).info.run_id
    client.log_inputs(consumer, models=[LoggedModelInput(model.model_id)])
    client.log_inputs(consumer, models=[LoggedModelInput(model.model_id)])
    got = client.get_run(consumer)
    assert [m.model_id for m in got.inputs.model_inputs] == [model.model_id]
    assert got.outputs is None or not got.outputs.model_outputs
    made = client.get_run(producer)
    assert [(o.model_id, o.step) for o in made.outputs.model_outputs] == [(model.model_id, 3)]
    assert not made.inputs.model_inputs
