"""Multipart uploads through the artifact proxy (``/api/2.0/mlflow-artifacts/mpu/...``).

The 3.18 client uploads a file of at least ``MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE`` in
parts when server-info says ``multipart_uploads_enabled`` (or the client sets
``MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD``): ``mpu/create/<dir>`` hands out one URL per part,
the client PUTs each part there and keeps its ``ETag``, then ``mpu/complete/<dir>`` (or
``mpu/abort/<dir>``). A store without multipart support answers 501 and the client falls
back to one PUT.

MLflow hands out presigned S3 URLs, and advertises multipart only when its server runs with
``MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD=true`` (set for ``mpu_server`` below; Ferroflow ignores
it). Ferroflow's part URLs point back at itself (``mpu/part/<path>?upload_id=&part_number=``)
and stream each part into the bucket, so storage credentials stay on the server and any
replica can take any part. Tests of that route are Ferroflow-only.

S3 is a moto server on loopback (skipped when ``.venv/bin/moto_server`` is missing); S3 needs
parts of at least 5 MiB except the last.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests

from conftest import (TARGET, VENV, ArtifactServerProcess, _start_or_fail, _unregister,
                      unique_name)
from test_artifacts import FORMS, STRICT_FORMS, raw

MPU = "/api/2.0/mlflow-artifacts/mpu"
MIB = 1024 * 1024

requires_moto = pytest.mark.skipif(
    not (VENV / "bin" / "moto_server").exists(),
    reason=f"{VENV}/bin/moto_server not found; run scripts/setup-python.sh",
)
ferroflow_only = pytest.mark.skipif(
    TARGET == "mlflow",
    reason="MLflow hands out presigned S3 URLs; it has no mpu/part route of its own",
)


# ---------------------------------------------------------------------------------------------
# fixtures and helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mpu_server(tmp_path_factory, moto_s3) -> ArtifactServerProcess:
    """An artifact proxy onto ``s3://<bucket>/mpu`` that advertises multipart uploads."""
    s = ArtifactServerProcess(
        tmp_path_factory.mktemp("mpu-server"),
        destination=f"s3://{moto_s3.bucket}/mpu",
        extra_env={**moto_s3.env, "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "true"},
    )
    s.s3_prefix = "mpu/"
    _start_or_fail(s)
    yield s
    s.stop()
    _unregister(s)


@pytest.fixture
def mpu_tracking(mpu_server, monkeypatch):
    """The fluent API on ``mpu_server`` with a fresh experiment; small multipart sizes."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mpu_server.url)
    # The server decides (server-info), not a client override.
    monkeypatch.delenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", raising=False)
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(5 * MIB))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(5 * MIB))
    mlflow.set_tracking_uri(mpu_server.url)
    exp_id = mlflow.MlflowClient(mpu_server.url).create_experiment(unique_name("mpu"))
    mlflow.set_experiment(experiment_id=exp_id)
    yield exp_id
    while mlflow.active_run() is not None:
        mlflow.end_run()


def open_uploads(moto_s3) -> list[str]:
    """Keys of every unfinished multipart upload in the bucket."""
    resp = moto_s3.s3().list_multipart_uploads(Bucket=moto_s3.bucket)
    return [u["Key"] for u in resp.get("Uploads", [])]


def etag_of(moto_s3, key: str) -> str:
    return moto_s3.s3().head_object(Bucket=moto_s3.bucket, Key=key)["ETag"].strip('"')


def post(server, path: str, body: dict, headers: dict | None = None) -> requests.Response:
    return requests.post(f"{server.url}{MPU}/{path}", json=body, headers=headers, timeout=30)


def create(server, dir_: str, name: str, num_parts: int, headers: dict | None = None) -> dict:
    r = post(server, f"create/{dir_}", {"path": name, "num_parts": num_parts}, headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [c["part_number"] for c in body["credentials"]] == list(range(1, num_parts + 1))
    return body


def put_part(credential: dict, data: bytes, url: str | None = None) -> str:
    r = requests.put(url or credential["url"], data=data, headers=credential.get("headers", {}),
                     timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers.get("ETag"), r.headers
    return r.headers["ETag"]


def fresh_dir() -> str:
    return f"0/{uuid.uuid4().hex}/artifacts"


# ---------------------------------------------------------------------------------------------
# server-info and the client's workflow
# ---------------------------------------------------------------------------------------------


def test_server_info_advertises_multipart_for_a_local_destination_never(artifact_server):
    r = requests.get(f"{artifact_server.url}/api/3.0/mlflow/server-info", timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["multipart_uploads_enabled"] is False


@requires_moto
def test_server_info_advertises_multipart_for_s3(mpu_server):
    r = requests.get(f"{mpu_server.url}/api/3.0/mlflow/server-info", timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["multipart_uploads_enabled"] is True


@requires_moto
def test_log_artifact_uploads_in_parts_and_downloads_back(mpu_server, moto_s3, mpu_tracking,
                                                          tmp_path, monkeypatch):
    """12 MiB in 5 MiB parts: the stored object's ETag says 3 parts (MLflow's own server-side
    upload would use boto3's 8 MB parts: 2). Ferroflow's part URLs point at itself."""
    import mlflow
    from mlflow.store.artifact import http_artifact_repo

    part_urls = []
    real_put = http_artifact_repo.requests.put

    def spy(url, *args, **kwargs):
        part_urls.append(url)
        return real_put(url, *args, **kwargs)

    monkeypatch.setattr(http_artifact_repo.requests, "put", spy)
    exp_id = mpu_tracking
    size = 12 * MIB + 123
    src = tmp_path / "weights.bin"
    src.write_bytes(os.urandom(size))
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(src), artifact_path="model")

    key = f"mpu/{exp_id}/{run.info.run_id}/artifacts/model/weights.bin"
    assert moto_s3.keys(key) == {key: size}
    assert etag_of(moto_s3, key).endswith("-3"), etag_of(moto_s3, key)
    assert len(part_urls) == 3, part_urls
    if TARGET == "ferroflow":
        for n, url in enumerate(sorted(part_urls, key=lambda u: parse_qs(urlsplit(u).query)[
                "part_number"]), start=1):
            parts = urlsplit(url)
            assert f"{parts.scheme}://{parts.netloc}" == mpu_server.url, url
            assert parts.path == (f"{MPU}/part/{exp_id}/{run.info.run_id}/artifacts/model/"
                                  "weights.bin"), url
            assert parse_qs(parts.query)["part_number"] == [str(n)], url
    assert not [k for k in open_uploads(moto_s3) if k.startswith(f"mpu/{exp_id}/")]

    dl = mlflow.artifacts.download_artifacts(run_id=run.info.run_id,
                                             artifact_path="model/weights.bin",
                                             dst_path=str(tmp_path / "dl"))
    assert hashlib.sha256(Path(dl).read_bytes()).hexdigest() == digest
    files = mlflow.artifacts.list_artifacts(run_id=run.info.run_id, artifact_path="model")
    assert [(f.path, f.file_size) for f in files] == [("model/weights.bin", size)]


def test_client_falls_back_to_put_on_a_local_destination(artifact_server, artifact_tracking,
                                                         tmp_path, monkeypatch):
    """Forced multipart against a local destination: create answers 501, the client PUTs."""
    import mlflow

    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(1 * MIB))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(1 * MIB))
    exp_id = mlflow.MlflowClient(artifact_server.url).create_experiment(unique_name("mpu-local"))
    data = os.urandom(3 * MIB + 7)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.log_artifact(str(src))
    on_disk = artifact_server.destination_dir / exp_id / run.info.run_id / "artifacts" / "big.bin"
    assert on_disk.read_bytes() == data


# ---------------------------------------------------------------------------------------------
# raw protocol
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["create", "complete", "abort"])
def test_local_destination_answers_not_implemented(artifact_server, op):
    body = {"path": "model.bin", "num_parts": 2, "upload_id": "some-id",
            "parts": [{"part_number": 1, "etag": "x"}]}
    r = post(artifact_server, f"{op}/{fresh_dir()}", body)
    assert r.status_code == 501, r.text
    assert r.json()["error_code"] == "NOT_IMPLEMENTED"
    assert r.json()["message"].startswith(
        "Multipart upload is not supported for the current artifact repository"), r.text


@requires_moto
def test_parts_complete_into_one_object(mpu_server, moto_s3):
    """Parts sent out of order; nothing shows before completion. (The list is sorted, as the
    client sends it: MLflow passes it to S3 as is, which wants ascending part numbers;
    Ferroflow sorts it.)"""
    dir_ = fresh_dir()
    data = os.urandom(5 * MIB + 1000)
    body = create(mpu_server, dir_, "model.bin", 2)
    c1, c2 = body["credentials"]
    etag2 = put_part(c2, data[5 * MIB:])
    etag1 = put_part(c1, data[:5 * MIB])
    key = f"mpu/{dir_}/model.bin"
    assert moto_s3.keys(key) == {}
    r = post(mpu_server, f"complete/{dir_}", {
        "path": "model.bin", "upload_id": body["upload_id"],
        "parts": [{"part_number": 1, "etag": etag1, "url": c1["url"]},
                  {"part_number": 2, "etag": etag2, "url": c2["url"]}]})
    assert r.status_code == 200, r.text
    assert r.json() == {}
    assert moto_s3.keys(key) == {key: len(data)}
    assert etag_of(moto_s3, key).endswith("-2")
    got = requests.get(f"{mpu_server.artifacts_api}/{dir_}/model.bin", timeout=30)
    assert got.status_code == 200 and got.content == data


@requires_moto
def test_abort_leaves_no_object_and_no_open_upload(mpu_server, moto_s3):
    dir_ = fresh_dir()
    body = create(mpu_server, dir_, "model.bin", 2)
    put_part(body["credentials"][0], os.urandom(5 * MIB))
    key = f"mpu/{dir_}/model.bin"
    assert key in open_uploads(moto_s3)
    r = post(mpu_server, f"abort/{dir_}", {"path": "model.bin", "upload_id": body["upload_id"]})
    assert r.status_code == 200, r.text
    assert r.json() == {}
    assert moto_s3.keys(f"mpu/{dir_}/") == {}
    assert key not in open_uploads(moto_s3)


# MLflow passes the storage's refusal through unhandled (boto3's ClientError): a 500.
WRONG_ETAG_STATUS = {500} if TARGET == "mlflow" else {400}


@requires_moto
def test_complete_with_a_wrong_etag_is_refused_and_stores_nothing(mpu_server, moto_s3):
    dir_ = fresh_dir()
    body = create(mpu_server, dir_, "model.bin", 1)
    put_part(body["credentials"][0], b"the only part")
    r = post(mpu_server, f"complete/{dir_}", {
        "path": "model.bin", "upload_id": body["upload_id"],
        "parts": [{"part_number": 1, "etag": '"0123456789abcdef0123456789abcdef"'}]})
    assert r.status_code in WRONG_ETAG_STATUS, r.text
    if TARGET == "ferroflow":
        assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "InvalidPart" in r.json()["message"], r.text
    assert moto_s3.keys(f"mpu/{dir_}/") == {}
    r = post(mpu_server, f"abort/{dir_}", {"path": "model.bin", "upload_id": body["upload_id"]})
    assert r.status_code == 200, r.text
    assert f"mpu/{dir_}/model.bin" not in open_uploads(moto_s3)


@requires_moto
@pytest.mark.skipif(TARGET == "mlflow", reason="MLflow hands the part list to S3 unchecked: a "
                    "gap, a repeat or a missing number fails there, an unhandled 500")
@pytest.mark.parametrize("parts", [
    [{"part_number": 1, "etag": "a"}, {"part_number": 3, "etag": "b"}],
    [{"part_number": 1, "etag": "a"}, {"part_number": 1, "etag": "b"}],
    [{"part_number": 0, "etag": "a"}],
    [{"part_number": 10001, "etag": "a"}],
    [{"part_number": 1}],
    [{"etag": "a"}],
    [{"part_number": "one", "etag": "a"}],
], ids=["gap", "repeat", "zero", "too-high", "no-etag", "no-number", "not-a-number"])
def test_complete_refuses_malformed_part_lists(mpu_server, moto_s3, parts):
    dir_ = fresh_dir()
    body = create(mpu_server, dir_, "model.bin", 1)
    r = post(mpu_server, f"complete/{dir_}",
             {"path": "model.bin", "upload_id": body["upload_id"], "parts": parts})
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert moto_s3.keys(f"mpu/{dir_}/") == {}
    post(mpu_server, f"abort/{dir_}", {"path": "model.bin", "upload_id": body["upload_id"]})


@requires_moto
@pytest.mark.parametrize("body", [
    {},
    {"num_parts": 1},
    {"path": "", "num_parts": 1},
    {"path": 5, "num_parts": 1},
], ids=["empty", "no-path", "empty-path", "path-not-a-string"])
def test_create_refuses_a_missing_path(mpu_server, moto_s3, body):
    r = post(mpu_server, f"create/{fresh_dir()}", body)
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"


# ---------------------------------------------------------------------------------------------
# path safety: the CVE corpus on <dir>, and the file name in the body
# ---------------------------------------------------------------------------------------------


def _snapshot(moto_s3) -> tuple[dict, list]:
    return moto_s3.keys(""), sorted(open_uploads(moto_s3))


def _refused(r, op: str, target: str) -> None:
    """400 INVALID_PARAMETER_VALUE; from MLflow also Flask's 308 for a `//` in the path (to
    the same route with the slashes merged, so never anywhere outside)."""
    if TARGET == "mlflow" and r.status == 308:
        location = urlsplit(r.headers["location"]).path
        assert location.startswith(f"{MPU}/{op}/") and ".." not in location, r
        return
    assert r.status == 400, f"{op}/{target} -> {r}"
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE", r


@requires_moto
@pytest.mark.parametrize("op", ["create", "complete", "abort"])
@pytest.mark.parametrize("form", sorted(STRICT_FORMS))
def test_traversal_in_the_directory_is_refused(mpu_server, moto_s3, op, form):
    """On an S3 destination (where a missed check would start a real upload): 400, and no
    object or upload appears anywhere in the bucket."""
    target = FORMS[form](2, "escape-dir", "/tmp/escape-dir")
    before = _snapshot(moto_s3)
    body = json.dumps({"path": "evil.bin", "num_parts": 1, "upload_id": "x",
                       "parts": [{"part_number": 1, "etag": "x"}]}).encode()
    r = raw(mpu_server, "POST", f"{MPU}/{op}/{target}", body=body,
            headers={"Content-Type": "application/json"})
    _refused(r, op, target)
    assert _snapshot(moto_s3) == before


@pytest.mark.parametrize("op", ["create", "complete", "abort"])
@pytest.mark.parametrize("form", ["dotdot", "pct-encoded", "absolute"])
def test_traversal_in_the_directory_is_refused_before_not_implemented(artifact_server, op,
                                                                      form):
    """On a local destination the path check still comes first: 400, not 501."""
    target = FORMS[form](2, "escape-dir", str(artifact_server.workdir / "escape-dir"))
    body = json.dumps({"path": "evil.bin", "num_parts": 1, "upload_id": "x",
                       "parts": [{"part_number": 1, "etag": "x"}]}).encode()
    r = raw(artifact_server, "POST", f"{MPU}/{op}/{target}", body=body,
            headers={"Content-Type": "application/json"})
    _refused(r, op, target)
    assert not (artifact_server.workdir / "escape-dir").exists()


# File names that are, or decode to, a traversal: refused by both servers.
BAD_NAMES = ["..", "../", "a/..", "a\\..", "%2e%2e", "%2E%2E", "..%2fescape.bin", "/", "",
             "."]


@requires_moto
@pytest.mark.parametrize("op", ["create", "complete", "abort"])
@pytest.mark.parametrize("name", BAD_NAMES)
def test_traversal_in_the_file_name_is_refused(mpu_server, moto_s3, op, name):
    before = _snapshot(moto_s3)
    r = post(mpu_server, f"{op}/{fresh_dir()}", {
        "path": name, "num_parts": 1, "upload_id": "x",
        "parts": [{"part_number": 1, "etag": "x"}]})
    assert r.status_code == 400, f"{name!r}: {r.text}"
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert _snapshot(moto_s3) == before


@requires_moto
@pytest.mark.parametrize("name", ["../../escape.bin", "/home/me/escape.bin",
                                  "C:\\Users\\me\\escape.bin"])
def test_a_path_in_the_file_name_counts_by_its_last_segment(mpu_server, moto_s3, name):
    """Clients before 3.18 sent the local file's path: like MLflow, only the name is used, so
    the upload stays inside <dir>."""
    dir_ = fresh_dir()
    body = create(mpu_server, dir_, name, 1)
    assert open_uploads(moto_s3).count(f"mpu/{dir_}/escape.bin") == 1, open_uploads(moto_s3)
    r = post(mpu_server, f"abort/{dir_}", {"path": name, "upload_id": body["upload_id"]})
    assert r.status_code == 200, r.text
    assert f"mpu/{dir_}/escape.bin" not in open_uploads(moto_s3)


@requires_moto
@pytest.mark.parametrize("name", ["..%5c..%5cescape.bin", "x%2fescape.bin"])
def test_an_encoded_separator_in_the_file_name_never_leaves_the_directory(mpu_server, moto_s3,
                                                                         name):
    """Ferroflow refuses escapes that only mean something after a second decoding; MLflow
    decodes them and keeps the last segment. Either way nothing lands outside <dir>."""
    dir_ = fresh_dir()
    before = _snapshot(moto_s3)
    r = post(mpu_server, f"create/{dir_}", {"path": name, "num_parts": 1})
    if TARGET == "ferroflow":
        assert r.status_code == 400, r.text
        assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert _snapshot(moto_s3) == before
    else:
        assert r.status_code == 200, r.text
        new = set(open_uploads(moto_s3)) - set(before[1])
        assert new == {f"mpu/{dir_}/escape.bin"}, new
        post(mpu_server, f"abort/{dir_}", {"path": name, "upload_id": r.json()["upload_id"]})


@requires_moto
@ferroflow_only
@pytest.mark.parametrize("form", sorted(STRICT_FORMS))
def test_traversal_in_the_part_url_is_refused(mpu_server, moto_s3, form):
    dir_ = fresh_dir()
    body = create(mpu_server, dir_, "model.bin", 1)
    target = FORMS[form](3, "escape.bin", "/tmp/escape.bin")
    before = _snapshot(moto_s3)
    r = raw(mpu_server, "PUT",
            f"{MPU}/part/{target}?upload_id={quote(body['upload_id'])}&part_number=1",
            body=b"EVIL")
    assert r.status == 400, f"{target} -> {r}"
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE", r
    assert _snapshot(moto_s3) == before
    post(mpu_server, f"abort/{dir_}", {"path": "model.bin", "upload_id": body["upload_id"]})


# ---------------------------------------------------------------------------------------------
# Ferroflow's part route
# ---------------------------------------------------------------------------------------------


@requires_moto
@ferroflow_only
def test_part_urls_follow_the_forwarded_host_and_scheme(mpu_server, moto_s3):
    dir_ = fresh_dir()
    body = create(mpu_server, dir_, "w ü 100%.bin", 2, headers={
        "X-Forwarded-Proto": "https", "X-Forwarded-Host": "mlflow.example.com"})
    for n, c in enumerate(body["credentials"], start=1):
        parts = urlsplit(c["url"])
        assert (parts.scheme, parts.netloc) == ("https", "mlflow.example.com"), c
        assert parts.path == f"{MPU}/part/{dir_}/w%20%C3%BC%20100%25.bin", c
        assert parse_qs(parts.query) == {"upload_id": [body["upload_id"]],
                                         "part_number": [str(n)]}, c
        assert c["headers"] == {}
    # The same path, sent to this server, takes the part.
    local = c["url"].replace("https://mlflow.example.com", mpu_server.url)
    etag = put_part(c, b"tail", url=local)
    assert etag
    post(mpu_server, f"abort/{dir_}", {"path": "w ü 100%.bin", "upload_id": body["upload_id"]})


@requires_moto
@ferroflow_only
def test_any_replica_takes_any_part(mpu_server, moto_s3, tmp_path_factory):
    """A second server on the same bucket (nothing shared in memory) takes part 2 and the
    completion of an upload the first one started."""
    other = ArtifactServerProcess(tmp_path_factory.mktemp("mpu-replica"),
                                  destination=mpu_server.destination,
                                  extra_env=mpu_server.extra_env)
    _start_or_fail(other)
    try:
        dir_ = fresh_dir()
        data = os.urandom(5 * MIB + 10)
        body = create(mpu_server, dir_, "model.bin", 2)
        c1, c2 = body["credentials"]
        etag1 = put_part(c1, data[:5 * MIB])
        etag2 = put_part(c2, data[5 * MIB:], url=c2["url"].replace(mpu_server.url, other.url))
        r = post(other, f"complete/{dir_}", {
            "path": "model.bin", "upload_id": body["upload_id"],
            "parts": [{"part_number": 1, "etag": etag1}, {"part_number": 2, "etag": etag2}]})
        assert r.status_code == 200, r.text
        got = requests.get(f"{mpu_server.artifacts_api}/{dir_}/model.bin", timeout=30)
        assert got.content == data
    finally:
        other.stop()
        _unregister(other)


@requires_moto
@ferroflow_only
@pytest.mark.parametrize("query", [
    "",
    "part_number=1",
    "upload_id={id}",
    "upload_id={id}&part_number=0",
    "upload_id={id}&part_number=10001",
    "upload_id={id}&part_number=x",
], ids=["nothing", "no-id", "no-number", "zero", "too-high", "not-a-number"])
def test_part_route_refuses_bad_queries(mpu_server, moto_s3, query):
    dir_ = fresh_dir()
    body = create(mpu_server, dir_, "model.bin", 1)
    q = query.format(id=quote(body["upload_id"]))
    r = requests.put(f"{mpu_server.url}{MPU}/part/{dir_}/model.bin?{q}", data=b"x", timeout=30)
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    post(mpu_server, f"abort/{dir_}", {"path": "model.bin", "upload_id": body["upload_id"]})


@requires_moto
@ferroflow_only
def test_part_route_refuses_parts_over_5_gib(mpu_server, moto_s3):
    dir_ = fresh_dir()
    body = create(mpu_server, dir_, "model.bin", 1)
    r = raw(mpu_server, "PUT",
            f"{MPU}/part/{dir_}/model.bin?upload_id={quote(body['upload_id'])}&part_number=1",
            headers={"Content-Length": str(5 * 1024 ** 3 + 1)})
    assert r.status == 400, r
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    post(mpu_server, f"abort/{dir_}", {"path": "model.bin", "upload_id": body["upload_id"]})


@ferroflow_only
def test_part_route_on_a_local_destination_is_not_implemented(artifact_server):
    r = requests.put(f"{artifact_server.url}{MPU}/part/{fresh_dir()}/model.bin"
                     "?upload_id=x&part_number=1", data=b"x", timeout=30)
    assert r.status_code == 501, r.text
    assert r.json()["error_code"] == "NOT_IMPLEMENTED"
