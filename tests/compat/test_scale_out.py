"""Scale-out: three Ferroflow processes on one PostgreSQL database and one S3-compatible
endpoint (moto), eight concurrent clients spreading every call over the replicas.

What must hold afterwards: no lost or duplicated writes (each run's metric history has
exactly the points logged, through whichever replica), version numbers of the shared model
unique and gapless, artifacts written through one replica readable through the others, and
every replica's search sees the same data.
"""

from __future__ import annotations

import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import (
    TARGET,
    ArtifactServerProcess,
    _register,
    _unregister,
    throwaway_database,
    unique_name,
)

REPLICAS = 3
CLIENTS = 8
RUNS_PER_CLIENT = 3
STEPS = 20
BATCH = 50
VERSIONS_PER_CLIENT = 2


def pg_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=2):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not pg_reachable() and not os.environ.get("FERROFLOW_REQUIRE_DBS"),
    reason="no PostgreSQL on 127.0.0.1:5432 (FERROFLOW_REQUIRE_DBS unset)",
)


@pytest.fixture(scope="module")
def replicas(tmp_path_factory, moto_s3):
    uri = throwaway_database("postgresql")
    servers = []
    try:
        for i in range(REPLICAS):
            s = ArtifactServerProcess(
                tmp_path_factory.mktemp(f"replica{i}"),
                destination=f"s3://{moto_s3.bucket}/scale",
                extra_env=moto_s3.env,
            )
            s.backend_uri = uri
            _register(s)
            servers.append(s)
            # One after the other: the first creates the schema, the others find it (they
            # would also wait for each other on the schema lock if started together).
            s.start()
        yield servers
    finally:
        for s in servers:
            s.stop()
            _unregister(s)


def clients(replicas):
    from mlflow.tracking import MlflowClient

    return [MlflowClient(tracking_uri=s.url, registry_uri=s.url) for s in replicas]


def test_eight_clients_through_three_replicas(replicas, tmp_path, moto_s3):
    from mlflow.entities import Metric

    cs = clients(replicas)
    exp = cs[0].create_experiment(unique_name("scale"))
    model = unique_name("scale-model")
    cs[1].create_registered_model(model)
    artifact = tmp_path / "notes.txt"
    artifact.write_text("written through one replica\n")
    errors: list[BaseException] = []
    made: dict[int, list[str]] = {}
    versions_made: list[str] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        try:
            pick = lambda k: cs[(i + k) % REPLICAS]  # noqa: E731 - every call may hit another replica
            runs = []
            for r in range(RUNS_PER_CLIENT):
                rid = pick(r).create_run(exp, run_name=f"c{i}-r{r}").info.run_id
                runs.append(rid)
                for step in range(STEPS):
                    pick(step).log_metric(rid, "loss", 1.0 / (step + 1), step=step, timestamp=step)
                pick(r + 1).log_batch(rid, metrics=[
                    Metric("batch", float(k), k, k) for k in range(BATCH)])
                pick(r + 2).set_tag(rid, "client", str(i))
                pick(r + 1).log_artifact(rid, str(artifact))
                pick(r + 2).set_terminated(rid, "FINISHED")
            for k in range(VERSIONS_PER_CLIENT):
                v = pick(k).create_model_version(model, f"runs:/{runs[k]}/model", run_id=runs[k])
                with lock:
                    versions_made.append(str(v.version))
            with lock:
                made[i] = runs
        except BaseException as e:  # reported below with the others
            with lock:
                errors.append(e)

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(worker, range(CLIENTS)))
    assert not errors, errors[:3]

    all_runs = sorted(r for runs in made.values() for r in runs)
    assert len(all_runs) == CLIENTS * RUNS_PER_CLIENT == len(set(all_runs))

    # Every replica's search sees the same runs, all finished, with their tags.
    for c in cs:
        found = c.search_runs([exp], max_results=1000)
        assert sorted(r.info.run_id for r in found) == all_runs
        assert {r.info.status for r in found} == {"FINISHED"}
        assert sorted(int(r.data.tags["client"]) for r in found) == sorted(
            i for i in range(CLIENTS) for _ in range(RUNS_PER_CLIENT))
        assert [r.data.metrics["loss"] for r in found] == [pytest.approx(1.0 / STEPS)] * len(found)

    # No lost or duplicated points, read back through a different replica each time.
    for n, rid in enumerate(all_runs):
        c = cs[n % REPLICAS]
        loss = sorted((m.step, m.value) for m in c.get_metric_history(rid, "loss"))
        assert loss == [(s, pytest.approx(1.0 / (s + 1))) for s in range(STEPS)], rid
        batch = sorted(m.step for m in c.get_metric_history(rid, "batch"))
        assert batch == list(range(BATCH)), rid
        assert [a.path for a in c.list_artifacts(rid)] == ["notes.txt"]

    # Version numbers: unique and gapless, the same through every replica.
    expected = [str(v) for v in range(1, CLIENTS * VERSIONS_PER_CLIENT + 1)]
    assert sorted(versions_made, key=int) == expected
    for c in cs:
        listed = c.search_model_versions(f"name='{model}'", max_results=1000)
        assert sorted((str(v.version) for v in listed), key=int) == expected

    # The artifacts are in the shared bucket, one per run.
    keys = [k for k in moto_s3.keys("scale/") if k.endswith("/notes.txt")]
    assert len(keys) == len(all_runs)
    # And a file written through one replica downloads through another.
    dest = tmp_path / "dl"
    dest.mkdir()
    got = cs[2].download_artifacts(all_runs[0], "notes.txt", str(dest))
    assert open(got).read() == "written through one replica\n"
