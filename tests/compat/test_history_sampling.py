"""Sampled metric histories (``metrics/get-history-bulk-interval``, what charts ask for).

The points a server returns are compared with what MLflow 3.18's own store
(``SqlAlchemyStore.get_metric_history_bulk_interval``) returns from the very same database, so
the test encodes MLflow's choice of points (per-row NTILE buckets plus the last row) whatever
the server. Histories are shaped the ways users log: one point per step, several points per
step, everything at step 0, NaN and infinities, steps logged out of order, a run still logging
between two chart requests.
"""

from __future__ import annotations

import math
import time

import pytest
from mlflow.entities import Metric

from conftest import unique_name


def _oracle(server):
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    return SqlAlchemyStore(server.backend_uri, str(server.artifact_root))


def _key(run_id, step, timestamp, value):
    if isinstance(value, str):  # proto JSON spells NaN and the infinities as strings
        value = float(value)
    value = "nan" if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
    return (run_id, int(step), int(timestamp), value)


def _served(api, run_ids, key, **params):
    r = api.get(
        "/metrics/get-history-bulk-interval",
        {"run_ids": run_ids, "metric_key": key, **{k: str(v) for k, v in params.items()}},
    )
    assert r.status_code == 200, r.text
    return [
        _key(m["run_id"], m.get("step", 0), m.get("timestamp", 0), m.get("value"))
        for m in r.json().get("metrics", [])
    ]


def _expected(store, run_ids, key, max_results=2500, start_step=None, end_step=None):
    return [
        _key(m.run_id, m.step, m.timestamp, m.value)
        for m in store.get_metric_history_bulk_interval(
            run_ids=run_ids,
            metric_key=key,
            max_results=max_results,
            start_step=start_step,
            end_step=end_step,
        )
    ]


def _log(client, run_id, points):
    """Logs (step, timestamp, value) points in batches of 1000, in the order given."""
    metrics = [Metric("loss", v, ts, step) for step, ts, v in points]
    for i in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[i : i + 1000], synchronous=True)


def _check(api, store, run_ids, **params):
    got = _served(api, run_ids, "loss", **params)
    want = _expected(store, run_ids, "loss", **params)
    assert got == want, f"{params}: {len(got)} points served, MLflow's store picks {len(want)}"
    return got


@pytest.fixture
def store(server):
    return _oracle(server)


def test_one_point_per_step(client, api, store, experiment_id):
    run_id = client.create_run(experiment_id).info.run_id
    t0 = 1_700_000_000_000
    _log(client, run_id, [(s, t0 + s, 1.0 / (s + 1)) for s in range(6000)])
    for max_results in (1, 2, 7, 320, 2500):
        got = _check(api, store, [run_id], max_results=max_results)
        assert len(got) == min(max_results, 6000)
        assert got[-1][1] == 5999  # the last point is always there
    _check(api, store, [run_id])  # no max_results: MLflow's default of 2500
    _check(api, store, [run_id], max_results=100, start_step=1000, end_step=1999)
    _check(api, store, [run_id], max_results=2500, start_step=10, end_step=3000)
    _check(api, store, [run_id], max_results=50, start_step=-5, end_step=3)


def test_many_points_per_step_and_sparse_steps(client, api, store, experiment_id):
    run_id = client.create_run(experiment_id).info.run_id
    t0 = 1_700_000_000_000
    points = []
    for s in range(0, 3000, 3):
        for j in range(1 + s % 4):  # 1..4 points per step, at different times
            points.append((s, t0 + 10 * s + (3 - j), float(s * 10 + j)))
    _log(client, run_id, points)
    for max_results in (1, 13, 320, 2500):
        _check(api, store, [run_id], max_results=max_results)
    _check(api, store, [run_id], max_results=77, start_step=300, end_step=1500)


def test_everything_at_step_zero(client, api, store, experiment_id):
    run_id = client.create_run(experiment_id).info.run_id
    t0 = 1_700_000_000_000
    _log(client, run_id, [(0, t0 + i, float(i % 97)) for i in range(5000)])
    for max_results in (1, 320, 2500):
        got = _check(api, store, [run_id], max_results=max_results)
        assert len(got) == max_results


def test_nan_and_infinities_keep_their_place(client, api, store, experiment_id):
    run_id = client.create_run(experiment_id).info.run_id
    t0 = 1_700_000_000_000
    specials = [math.nan, math.inf, -math.inf]
    points = [(s, t0 + s, specials[s % 3] if s % 5 == 0 else float(s)) for s in range(400)]
    points += [(s, t0 + s, math.nan) for s in range(0, 400, 7)]  # a second point at some steps
    _log(client, run_id, points)
    for max_results in (9, 100, 2500):
        _check(api, store, [run_id], max_results=max_results)


def test_a_run_that_keeps_logging_is_sampled_from_its_latest_rows(
    client, api, store, experiment_id
):
    """Charts poll while a run logs: every answer must account for every point logged so
    far, appended or back-filled."""
    run_id = client.create_run(experiment_id).info.run_id
    t0 = 1_700_000_000_000
    _log(client, run_id, [(s, t0 + s, float(s)) for s in range(1000, 3000)])
    _check(api, store, [run_id], max_results=320)
    # appended steps, then a repeated last step, then steps before everything logged so far
    _log(client, run_id, [(s, t0 + s, float(s)) for s in range(3000, 3500)])
    _check(api, store, [run_id], max_results=320)
    _log(client, run_id, [(3499, t0 + 9999, -1.0)])
    _check(api, store, [run_id], max_results=320)
    _log(client, run_id, [(s, t0 + s, float(s)) for s in range(0, 1000, 2)])
    _check(api, store, [run_id], max_results=320)
    _check(api, store, [run_id], max_results=2500)
    # single points through log_metric, as a training loop sends them
    for s in range(3500, 3510):
        client.log_metric(run_id, "loss", float(s), timestamp=t0 + s, step=s, synchronous=True)
        _check(api, store, [run_id], max_results=320)
    client.log_metric(run_id, "loss", 0.5, timestamp=t0, step=1001, synchronous=True)
    _check(api, store, [run_id], max_results=2500)


def test_several_runs_in_one_request(client, api, store, experiment_id):
    t0 = 1_700_000_000_000
    run_ids = []
    for n in (0, 5, 400, 3000):
        run_id = client.create_run(experiment_id).info.run_id
        if n:
            _log(client, run_id, [(s * 2, t0 + s, float(s)) for s in range(n)])
        run_ids.append(run_id)
    _check(api, store, run_ids, max_results=100)
    _check(api, store, run_ids, max_results=2500, start_step=100, end_step=4000)
    assert _served(api, [run_ids[0]], "loss") == []
    assert _served(api, [run_ids[1]], unique_name("no-such-metric")) == []


def test_max_results_limits_are_mlflows(api, client, experiment_id):
    run_id = client.create_run(experiment_id).info.run_id
    for bad in (0, 2501):
        r = api.get(
            "/metrics/get-history-bulk-interval",
            {"run_ids": run_id, "metric_key": "loss", "max_results": str(bad)},
        )
        assert r.status_code == 400, r.text
        body = r.json()
        assert body["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "max_results must be between 1 and 2500" in body["message"]
