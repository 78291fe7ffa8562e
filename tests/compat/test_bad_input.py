"""Validation rules, over raw HTTP (the client hides status codes and retries).

Each test asserts the exact ``error_code`` and HTTP status MLflow 3.18 returns and, for
writes, that nothing was written. Where MLflow's behaviour is surprising the test asserts
what MLflow does (the suite is validated against a real MLflow server).
"""

from __future__ import annotations

import pytest

from conftest import BACKEND, TARGET, unique_name

MISSING_RUN = "0" * 32


def assert_error(r, status: int, error_code: str, *, message_contains: str | None = None):
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:500]}"
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    body = r.json()
    assert body.get("error_code") == error_code, body
    assert isinstance(body.get("message"), str) and body["message"], body
    if message_contains is not None:
        assert message_contains in body["message"], body["message"]
    return body


@pytest.fixture
def run_id(api):
    return api.create_run(api.create_experiment())


def metric(key, value=1.0, timestamp=1_000, step=0):
    return {"key": key, "value": value, "timestamp": timestamp, "step": step}


# ---------------------------------------------------------------------------------------------
# log-batch limits (nothing may be written when a batch is rejected)
# ---------------------------------------------------------------------------------------------


def test_log_batch_1001_metrics_rejected(api, run_id):
    r = api.post("/runs/log-batch",
                 {"run_id": run_id, "metrics": [metric(f"m{i}") for i in range(1001)]})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", message_contains="at most 1000 metrics")
    assert api.run_data(run_id)["metrics"] == {}


def test_log_batch_1000_metrics_accepted(api, run_id):
    r = api.post("/runs/log-batch",
                 {"run_id": run_id, "metrics": [metric(f"m{i}") for i in range(1000)]})
    assert r.status_code == 200, r.text
    assert r.json() == {}
    assert len(api.run_data(run_id)["metrics"]) == 1000


def test_log_batch_101_params_rejected(api, run_id):
    params = [{"key": f"p{i}", "value": "1"} for i in range(101)]
    r = api.post("/runs/log-batch", {"run_id": run_id, "params": params})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", message_contains="at most 100 params")
    assert api.run_data(run_id)["params"] == {}


def test_log_batch_100_params_accepted(api, run_id):
    params = [{"key": f"p{i}", "value": "1"} for i in range(100)]
    r = api.post("/runs/log-batch", {"run_id": run_id, "params": params})
    assert r.status_code == 200, r.text
    assert len(api.run_data(run_id)["params"]) == 100


def test_log_batch_101_tags_rejected(api, run_id):
    before = api.run_data(run_id)["tags"]
    tags = [{"key": f"t{i}", "value": "1"} for i in range(101)]
    r = api.post("/runs/log-batch", {"run_id": run_id, "tags": tags})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", message_contains="at most 100 tags")
    assert api.run_data(run_id)["tags"] == before


def test_log_batch_over_1000_items_in_total_rejected(api, run_id):
    r = api.post("/runs/log-batch", {
        "run_id": run_id,
        "metrics": [metric(f"m{i}") for i in range(1000)],
        "params": [{"key": "p", "value": "1"}],
    })
    assert_error(r, 400, "INVALID_PARAMETER_VALUE",
                 message_contains="at most 1000 metrics, params, and tags")
    data = api.run_data(run_id)
    assert data["metrics"] == {} and data["params"] == {}


@pytest.mark.parametrize("values", [("1", "1"), ("1", "2")], ids=["same-value", "other-value"])
def test_log_batch_duplicate_param_key_rejected(api, run_id, values):
    r = api.post("/runs/log-batch", {
        "run_id": run_id,
        "params": [{"key": "dup", "value": values[0]}, {"key": "dup", "value": values[1]},
                   {"key": "fine", "value": "x"}],
        "metrics": [metric("m")],
    })
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", message_contains="Duplicate parameter keys")
    data = api.run_data(run_id)
    assert data["params"] == {} and data["metrics"] == {}


def test_log_batch_is_atomic_when_a_param_would_change(api, run_id):
    assert api.post("/runs/log-parameter",
                    {"run_id": run_id, "key": "alpha", "value": "0.01"}).status_code == 200
    r = api.post("/runs/log-batch", {
        "run_id": run_id,
        "params": [{"key": "new", "value": "1"}, {"key": "alpha", "value": "0.5"}],
        "metrics": [metric("m")],
        "tags": [{"key": "t", "value": "v"}],
    })
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", message_contains="Changing param values")
    data = api.run_data(run_id)
    assert data["params"] == {"alpha": "0.01"}
    assert data["metrics"] == {}
    assert "t" not in data["tags"]


# ---------------------------------------------------------------------------------------------
# Params
# ---------------------------------------------------------------------------------------------


def test_changing_logged_param_value_rejected(api, run_id):
    ok = api.post("/runs/log-parameter", {"run_id": run_id, "key": "alpha", "value": "0.01"})
    assert ok.status_code == 200 and ok.json() == {}
    r = api.post("/runs/log-parameter", {"run_id": run_id, "key": "alpha", "value": "0.1"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", message_contains="Changing param values")
    assert api.run_data(run_id)["params"] == {"alpha": "0.01"}


def test_relogging_identical_param_value_accepted(api, run_id):
    for _ in range(2):
        r = api.post("/runs/log-parameter", {"run_id": run_id, "key": "alpha", "value": "1"})
        assert r.status_code == 200, r.text
    assert api.run_data(run_id)["params"] == {"alpha": "1"}


def test_long_param_value_is_truncated_to_6000(api, run_id):
    r = api.post("/runs/log-parameter", {"run_id": run_id, "key": "long", "value": "x" * 7000})
    assert r.status_code == 200, r.text
    assert api.run_data(run_id)["params"]["long"] == "x" * 6000


def test_long_param_value_in_batch_is_truncated_to_6000(api, run_id):
    r = api.post("/runs/log-batch",
                 {"run_id": run_id, "params": [{"key": "long", "value": "y" * 6001}]})
    assert r.status_code == 200, r.text
    assert api.run_data(run_id)["params"]["long"] == "y" * 6000


def test_long_tag_value_is_truncated_to_8000(api, run_id):
    r = api.post("/runs/set-tag", {"run_id": run_id, "key": "long", "value": "t" * 9000})
    assert r.status_code == 200, r.text
    r = api.post("/runs/log-batch",
                 {"run_id": run_id, "tags": [{"key": "long2", "value": "u" * 8001}]})
    assert r.status_code == 200, r.text
    tags = api.run_data(run_id)["tags"]
    assert tags["long"] == "t" * 8000
    assert tags["long2"] == "u" * 8000


# ---------------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------------

BAD_KEYS = {
    "parent-dir": "../x",
    "inner-parent-dir": "a/../b",
    "dot-segment": "a/./b",
    "absolute": "/abs",
    "bang": "x!",
    "251-chars": "k" * 251,
}
GOOD_KEYS = {
    "double-dot-inside": "a..b",
    "space": "a b",
    "all-allowed-chars": "Az09_-. :/x",
    "250-chars": "k" * 250,
}


def _log_with_key(api, kind, run_id, key):
    if kind == "param":
        return api.post("/runs/log-parameter", {"run_id": run_id, "key": key, "value": "v"})
    if kind == "metric":
        return api.post("/runs/log-metric",
                        {"run_id": run_id, "key": key, "value": 1.0, "timestamp": 1, "step": 0})
    if kind == "tag":
        return api.post("/runs/set-tag", {"run_id": run_id, "key": key, "value": "v"})
    if kind == "batch-param":
        return api.post("/runs/log-batch",
                        {"run_id": run_id, "params": [{"key": key, "value": "v"}]})
    if kind == "batch-metric":
        return api.post("/runs/log-batch", {"run_id": run_id, "metrics": [metric(key)]})
    if kind == "batch-tag":
        return api.post("/runs/log-batch", {"run_id": run_id, "tags": [{"key": key, "value": "v"}]})
    raise AssertionError(kind)


KINDS = ["param", "metric", "tag", "batch-param", "batch-metric", "batch-tag"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("key", list(BAD_KEYS.values()), ids=list(BAD_KEYS))
def test_invalid_key_rejected(api, run_id, kind, key):
    before = api.run_data(run_id)
    r = _log_with_key(api, kind, run_id, key)
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    assert api.run_data(run_id) == before


@pytest.mark.parametrize("kind", ["param", "metric", "tag"])
@pytest.mark.parametrize("key", list(GOOD_KEYS.values()), ids=list(GOOD_KEYS))
def test_unusual_but_valid_key_accepted(api, run_id, kind, key):
    r = _log_with_key(api, kind, run_id, key)
    assert r.status_code == 200, r.text
    section = {"param": "params", "metric": "metrics", "tag": "tags"}[kind]
    assert key in api.run_data(run_id)[section]


def test_key_error_messages(api, run_id):
    r = api.post("/runs/log-parameter", {"run_id": run_id, "key": "x!", "value": "v"})
    assert "Names may only contain alphanumerics" in r.json()["message"]
    r = api.post("/runs/log-parameter", {"run_id": run_id, "key": "../x", "value": "v"})
    assert "must not resolve to other names" in r.json()["message"]
    r = api.post("/runs/log-parameter", {"run_id": run_id, "key": "k" * 251, "value": "v"})
    assert "exceeds the maximum length of 250" in r.json()["message"]


def test_empty_param_key_rejected(api, run_id):
    r = api.post("/runs/log-parameter", {"run_id": run_id, "key": "", "value": "v"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE",
                 message_contains="Missing value for required parameter 'key'")


# ---------------------------------------------------------------------------------------------
# Metric values and timestamps
# ---------------------------------------------------------------------------------------------


def test_log_metric_string_value_rejected(api, run_id):
    r = api.post("/runs/log-metric", metric("m", value="abc") | {"run_id": run_id})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    assert api.run_data(run_id)["metrics"] == {}


@pytest.mark.parametrize(
    "value,expected",
    [("NaN", "NaN"), ("Infinity", 1.7976931348623157e308),
     ("-Infinity", -1.7976931348623157e308), ("1.5", 1.5)],
    ids=["NaN", "Infinity", "-Infinity", "numeric-string"],
)
def test_log_metric_proto_json_special_strings_accepted(api, run_id, value, expected):
    """Proto3 JSON: doubles may be the strings "NaN"/"Infinity"/"-Infinity" or numeric strings.
    NaN is returned as the string "NaN", +-inf as +-DBL_MAX."""
    r = api.post("/runs/log-metric", metric("m", value=value) | {"run_id": run_id})
    assert r.status_code == 200, r.text
    hist = api.get("/metrics/get-history", {"run_id": run_id, "metric_key": "m"}).json()
    assert [m["value"] for m in hist["metrics"]] == [expected]


def test_log_batch_string_metric_value(api, run_id):
    """A deliberate difference. MLflow only checks that metrics[i].value is present: a
    non-numeric string fails proto parsing half-way and the metric is stored with value 0.0
    and timestamp 0. Ferroflow refuses the batch, as log-metric does, and writes nothing."""
    r = api.post("/runs/log-batch", {"run_id": run_id, "metrics": [metric("m", value="abc")]})
    if TARGET == "mlflow":
        assert r.status_code == 200, r.text
        hist = api.get("/metrics/get-history", {"run_id": run_id, "metric_key": "m"}).json()
        assert [(m["value"], m["step"]) for m in hist["metrics"]] == [(0.0, 0)]
    else:
        assert_error(r, 400, "INVALID_PARAMETER_VALUE", message_contains="metrics[0].value")
        assert api.run_data(run_id)["metrics"] == {}


@pytest.mark.parametrize("endpoint", ["log-metric", "log-batch"])
def test_negative_metric_timestamp_rejected(api, run_id, endpoint):
    m = metric("m", timestamp=-1)
    if endpoint == "log-metric":
        r = api.post("/runs/log-metric", m | {"run_id": run_id})
    else:
        r = api.post("/runs/log-batch", {"run_id": run_id, "metrics": [m]})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", message_contains="must be a nonnegative long")
    assert api.run_data(run_id)["metrics"] == {}


@pytest.mark.parametrize("missing", ["timestamp", "value", "key"])
def test_log_metric_missing_required_field_rejected(api, run_id, missing):
    body = metric("m") | {"run_id": run_id}
    del body[missing]
    r = api.post("/runs/log-metric", body)
    assert_error(r, 400, "INVALID_PARAMETER_VALUE",
                 message_contains=f"Missing value for required parameter '{missing}'")
    assert api.run_data(run_id)["metrics"] == {}


@pytest.mark.parametrize("missing", ["timestamp", "value", "key"])
def test_log_batch_metric_missing_required_field_rejected(api, run_id, missing):
    m = metric("m")
    del m[missing]
    r = api.post("/runs/log-batch", {"run_id": run_id, "metrics": [m]})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE",
                 message_contains=f"Missing value for required parameter 'metrics[0].{missing}'")
    assert api.run_data(run_id)["metrics"] == {}


def test_negative_step_accepted(api, run_id):
    r = api.post("/runs/log-metric", metric("m", step=-3) | {"run_id": run_id})
    assert r.status_code == 200, r.text
    hist = api.get("/metrics/get-history", {"run_id": run_id, "metric_key": "m"}).json()
    assert [m["step"] for m in hist["metrics"]] == [-3]


# ---------------------------------------------------------------------------------------------
# Unknown runs and experiments
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("call", [
    ("GET", "/runs/get", None),
    ("POST", "/runs/log-parameter", {"key": "a", "value": "1"}),
    ("POST", "/runs/log-metric", {"key": "a", "value": 1.0, "timestamp": 1}),
    ("POST", "/runs/log-batch", {"params": [{"key": "a", "value": "1"}]}),
    ("POST", "/runs/set-tag", {"key": "a", "value": "1"}),
    ("POST", "/runs/update", {"status": "FINISHED"}),
    ("POST", "/runs/delete", {}),
    ("POST", "/runs/restore", {}),
], ids=lambda c: c[1].rsplit("/", 1)[1])
def test_unknown_run_id_is_404(api, call):
    method, path, body = call
    if method == "GET":
        r = api.get(path, {"run_id": MISSING_RUN})
    else:
        r = api.post(path, {"run_id": MISSING_RUN, **body})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST",
                 message_contains=f"Run with id={MISSING_RUN} not found")


def test_get_run_without_run_id_is_400(api):
    assert_error(api.get("/runs/get"), 400, "INVALID_PARAMETER_VALUE",
                 message_contains="Missing value for required parameter 'run_id'")


def test_get_run_accepts_legacy_run_uuid(api, run_id):
    r = api.get("/runs/get", {"run_uuid": run_id})
    assert r.status_code == 200 and r.json()["run"]["info"]["run_id"] == run_id


def test_metric_history_of_unknown_run_is_empty_not_404(api):
    """Surprise: get-history does not check that the run exists; it returns no points
    (MLflow omits the empty list: the body is `{}`)."""
    r = api.get("/metrics/get-history", {"run_id": MISSING_RUN, "metric_key": "m"})
    assert r.status_code == 200, r.text
    assert r.json().get("metrics", []) == []


def test_metric_history_without_metric_key_is_400(api, run_id):
    r = api.get("/metrics/get-history", {"run_id": run_id})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE",
                 message_contains="Missing value for required parameter 'metric_key'")


def test_search_runs_in_unknown_experiment_is_empty(api):
    r = api.post("/runs/search", {"experiment_ids": ["987654321"]})
    assert r.status_code == 200, r.text
    assert r.json().get("runs", []) == []


@pytest.mark.parametrize("call", [
    ("GET", "/experiments/get", {"experiment_id": "987654321"}),
    ("POST", "/runs/create", {"experiment_id": "987654321"}),
    ("POST", "/experiments/delete", {"experiment_id": "987654321"}),
    ("POST", "/experiments/set-experiment-tag",
     {"experiment_id": "987654321", "key": "k", "value": "v"}),
], ids=lambda c: c[1].split("/", 2)[2])
def test_unknown_experiment_id_is_404(api, call):
    method, path, body = call
    r = api.get(path, body) if method == "GET" else api.post(path, body)
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST",
                 message_contains="No Experiment with id=987654321 exists")


def test_non_integer_experiment_id_is_400(api):
    r = api.get("/experiments/get", {"experiment_id": "abc"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", message_contains="must be a valid integer")


def test_unknown_experiment_name_is_404(api):
    r = api.get("/experiments/get-by-name", {"experiment_name": unique_name("missing")})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST",
                 message_contains="Could not find experiment with name")


def test_create_run_in_deleted_experiment_rejected(api):
    exp_id = api.create_experiment()
    assert api.post("/experiments/delete", {"experiment_id": exp_id}).status_code == 200
    r = api.post("/runs/create", {"experiment_id": exp_id})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", message_contains="must be in the 'active' state")


def test_logging_to_deleted_run_rejected(api, run_id):
    assert api.post("/runs/delete", {"run_id": run_id}).status_code == 200
    r = api.post("/runs/log-parameter", {"run_id": run_id, "key": "a", "value": "1"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", message_contains="must be in the 'active' state")
    assert api.run_data(run_id)["params"] == {}


def test_delete_unknown_run_tag_is_404(api, run_id):
    r = api.post("/runs/delete-tag", {"run_id": run_id, "key": "never-set"})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST")


# ---------------------------------------------------------------------------------------------
# Experiment names
# ---------------------------------------------------------------------------------------------


def test_duplicate_experiment_name_rejected(api):
    name = unique_name("dup")
    api.create_experiment(name)
    r = api.post("/experiments/create", {"name": name})
    assert_error(r, 400, "RESOURCE_ALREADY_EXISTS",
                 message_contains=f"Experiment(name={name}) already exists")
    found = api.post("/experiments/search",
                     {"max_results": 10, "filter": f"name = '{name}'", "view_type": "ALL"}).json()
    assert len(found["experiments"]) == 1


def test_deleted_experiment_name_still_taken(api):
    name = unique_name("deleted-dup")
    exp_id = api.create_experiment(name)
    api.post("/experiments/delete", {"experiment_id": exp_id})
    r = api.post("/experiments/create", {"name": name})
    assert_error(r, 400, "RESOURCE_ALREADY_EXISTS")


@pytest.mark.parametrize("body", [{"name": ""}, {}], ids=["empty", "missing"])
def test_empty_experiment_name_rejected(api, body):
    r = api.post("/experiments/create", body)
    assert_error(r, 400, "INVALID_PARAMETER_VALUE",
                 message_contains="Missing value for required parameter 'name'")


def test_rename_experiment_to_taken_name_is_bad_request(api):
    """Surprise: the rename conflict is BAD_REQUEST (from the DB's unique constraint), not
    RESOURCE_ALREADY_EXISTS."""
    taken = unique_name("taken")
    api.create_experiment(taken)
    exp_id = api.create_experiment()
    r = api.post("/experiments/update", {"experiment_id": exp_id, "new_name": taken})
    assert_error(r, 400, "BAD_REQUEST")


def test_rename_experiment_to_empty_name_rejected(api):
    exp_id = api.create_experiment()
    r = api.post("/experiments/update", {"experiment_id": exp_id, "new_name": ""})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


# ---------------------------------------------------------------------------------------------
# Search
# ---------------------------------------------------------------------------------------------

BAD_FILTERS = {
    "metric-vs-string": "metrics.rmse < 'abc'",
    "unknown-entity": "foo.bar = 1",
    "or": "metrics.a = 1 OR metrics.b = 2",
    "unquoted-param": "params.alpha = 0.01",
    "dangling-comparator": "metrics.rmse = ",
    "unknown-attribute": "attributes.foo = 'x'",
    "bare-metric-name": "rmse < 7",
    "in-on-status": "attributes.status IN ('FINISHED')",
    "start-time-vs-string": "attributes.start_time > 'x'",
    "metric-is-null": "metrics.m IS NULL",
    "param-numeric-comparator": "params.alpha > '1'",
}


@pytest.mark.parametrize("flt", list(BAD_FILTERS.values()), ids=list(BAD_FILTERS))
def test_search_runs_bad_filter_rejected(api, flt):
    r = api.post("/runs/search", {"experiment_ids": ["0"], "filter": flt})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_search_runs_bad_filter_messages(api):
    def msg(flt):
        return api.post("/runs/search", {"experiment_ids": ["0"], "filter": flt}).json()["message"]

    assert "Expected numeric value type for metric" in msg("metrics.rmse < 'abc'")
    assert "Invalid entity type 'foo'" in msg("foo.bar = 1")
    assert "Invalid clause(s) in filter string" in msg("metrics.a = 1 OR metrics.b = 2")
    assert "Expected a quoted string value for parameter" in msg("params.alpha = 0.01")


@pytest.mark.parametrize("max_results", [50001, 0, -1])
def test_search_runs_max_results_out_of_range(api, max_results):
    r = api.post("/runs/search", {"experiment_ids": ["0"], "max_results": max_results})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE",
                 message_contains=f"Invalid value {max_results} for parameter 'max_results'")


def test_search_runs_max_results_50000_accepted(api):
    r = api.post("/runs/search", {"experiment_ids": ["0"], "max_results": 50000})
    assert r.status_code == 200, r.text


def test_search_runs_duplicate_order_by(api):
    """A deliberate difference: MLflow reports a duplicated order_by key as 500
    INTERNAL_ERROR; a user mistake is never a 500 in Ferroflow, so it is 400 with the
    same message."""
    r = api.post("/runs/search", {"experiment_ids": ["0"],
                                  "order_by": ["metrics.a ASC", "metrics.a DESC"]})
    status, code = (500, "INTERNAL_ERROR") if TARGET == "mlflow" else (400, "INVALID_PARAMETER_VALUE")
    assert_error(r, status, code, message_contains="`order_by` contains duplicate fields")


def test_search_runs_bad_order_by_rejected(api):
    r = api.post("/runs/search", {"experiment_ids": ["0"], "order_by": ["foo.a ASC"]})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_search_runs_garbage_page_token_rejected(api):
    r = api.post("/runs/search", {"experiment_ids": ["0"], "page_token": "garbage"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", message_contains="Invalid page token")


@pytest.mark.parametrize("max_results", [50001, 0])
def test_search_experiments_max_results_out_of_range(api, max_results):
    r = api.post("/experiments/search", {"max_results": max_results})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_search_experiments_requires_max_results(api):
    """Raw REST without max_results is max_results=0, which is rejected (the client always
    sends it)."""
    r = api.post("/experiments/search", {})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE",
                 message_contains="Invalid value 0 for parameter 'max_results'")


def test_search_experiments_bad_filter_rejected(api):
    r = api.post("/experiments/search", {"max_results": 10, "filter": "foo = 1"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", message_contains="Invalid attribute key 'foo'")


# ---------------------------------------------------------------------------------------------
# Routing and request format
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/2.0/mlflow/no-such-endpoint"),
    ("POST", "/api/2.0/mlflow/runs/no-such-endpoint"),
    ("POST", "/ajax-api/2.0/mlflow/no-such-endpoint"),
    ("GET", "/api/2.0/preview/mlflow/runs/get"),
])
def test_unknown_route_is_404_endpoint_not_found(server, method, path):
    """The client turns a 404 into ENDPOINT_NOT_FOUND (its V3->V2 fallbacks rely on it);
    MLflow itself answers with an HTML 404 page, a JSON body must carry that code."""
    import requests
    from mlflow.exceptions import MlflowException
    from mlflow.utils.rest_utils import verify_rest_response

    r = requests.request(method, server.url + path, json={} if method == "POST" else None,
                         timeout=30)
    assert r.status_code == 404, r.text[:300]
    with pytest.raises(MlflowException) as ei:
        verify_rest_response(r, path)
    assert ei.value.error_code == "ENDPOINT_NOT_FOUND"


@pytest.mark.parametrize("method,path", [
    ("GET", "/runs/create"),
    ("POST", "/runs/get"),
    ("DELETE", "/runs/log-batch"),
    ("PUT", "/experiments/create"),
])
def test_wrong_method_is_405(api, method, path):
    r = api.request(method, path, json={} if method != "GET" else None)
    assert r.status_code == 405, r.text[:300]


def test_routes_also_served_under_ajax_api(server, api, run_id):
    import requests

    r = requests.get(f"{server.url}/ajax-api/2.0/mlflow/runs/get", params={"run_id": run_id},
                     timeout=30)
    assert r.status_code == 200 and r.json()["run"]["info"]["run_id"] == run_id


def test_non_json_body_rejected(api):
    before = api.post("/experiments/search", {"max_results": 50000}).json()
    r = api.post("/experiments/create", data="this is not json",
                 headers={"Content-Type": "application/json"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    assert api.post("/experiments/search", {"max_results": 50000}).json() == before


def test_non_json_body_on_a_search(api):
    """A deliberate difference: MLflow reads an unparsable body (with a JSON content type)
    as `{}`, so runs/search succeeds with no runs. Ferroflow says the body is malformed."""
    r = api.post("/runs/search", data="garbage", headers={"Content-Type": "application/json"})
    if TARGET == "mlflow":
        assert r.status_code == 200, r.text
        assert r.json().get("runs", []) == []
    else:
        assert_error(r, 400, "INVALID_PARAMETER_VALUE", message_contains="Malformed JSON")


def test_json_body_that_is_not_an_object_is_an_error(api):
    """A JSON array body: MLflow crashes with an HTML 500; an error status (400 is the
    sane answer) and nothing written is what matters."""
    r = api.post("/runs/create", data="[1, 2]", headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 500), r.text[:300]


def test_missing_content_type_rejected(api):
    name = unique_name("no-ct")
    r = api.post("/experiments/create", data=f'{{"name": "{name}"}}')
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", message_contains="Content-Type header is missing")
    assert api.get("/experiments/get-by-name", {"experiment_name": name}).status_code == 404


def test_wrong_content_type_rejected(api):
    name = unique_name("text-ct")
    r = api.post("/experiments/create", data=f'{{"name": "{name}"}}',
                 headers={"Content-Type": "text/plain"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE",
                 message_contains="Content-Type must be one of ['application/json']")
    assert api.get("/experiments/get-by-name", {"experiment_name": name}).status_code == 404


def test_content_type_with_charset_accepted(api):
    name = unique_name("charset")
    r = api.post("/experiments/create", data=f'{{"name": "{name}"}}',
                 headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 200, r.text


def test_error_body_shape(api):
    r = api.get("/runs/get", {"run_id": MISSING_RUN})
    body = assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST")
    assert set(body) >= {"error_code", "message"}


def test_health_and_version(server):
    import requests

    r = requests.get(server.url + "/health", timeout=10)
    assert r.status_code == 200 and r.text == "OK"
    r = requests.get(server.url + "/version", timeout=10)
    assert r.status_code == 200 and r.text == "3.18.0"


def test_experiment_name_longer_than_column(api):
    """experiments.name is VARCHAR(256). SQLite does not enforce lengths and MLflow does not
    check, so there a 300-character name is stored and read back intact; PostgreSQL and
    MySQL refuse it, and the server answers 400 INVALID_PARAMETER_VALUE, nothing written."""
    name = "n" * 288 + unique_name("")[1:]
    r = api.post("/experiments/create", {"name": name})
    if BACKEND == "sqlite":
        assert r.status_code == 200, r.text
        got = api.get("/experiments/get", {"experiment_id": r.json()["experiment_id"]}).json()
        assert got["experiment"]["name"] == name
        return
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert api.get("/experiments/get-by-name", {"experiment_name": name}).status_code == 404
