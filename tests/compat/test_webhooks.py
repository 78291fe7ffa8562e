"""MLflow 3 webhooks through the official client: create / list / get / update / test /
delete, HMAC-signed deliveries of model-registry events to a loopback receiver, retries,
the Fernet-encrypted secret column, and the SSRF defaults.

MLflow refuses plain-http and loopback webhook targets by default, so the server under
test runs with MLflow's switches for local development:

* ``MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https``
* ``MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true``
* ``MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY=<Fernet key>`` (so the db column can be checked)
* ``MLFLOW_WEBHOOK_CACHE_TTL=0`` (MLflow caches subscriptions per event for 60 s)

One test starts a server without them to prove the defaults refuse such targets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import sqlite3
import threading
import time
import uuid
from collections import deque
from pathlib import Path

import pytest
import requests

from conftest import (
    Api,
    db_rows,
    ServerProcess,
    _register,
    _start_or_fail,
    _unregister,
    unique_name,
)

FERNET_KEY = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="
WEBHOOK_ENV = {
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
    "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": FERNET_KEY,
    "MLFLOW_WEBHOOK_CACHE_TTL": "0",
}
DEADLINE = 30.0  # seconds to wait for a background delivery


# ---------------------------------------------------------------------------------- receiver

class Receiver:
    """A loopback HTTP server that records every POST and answers with queued statuses."""

    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: deque[int] = deque()
        self._cond = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._cond:
                    status = receiver.statuses.popleft() if receiver.statuses else 200
                    # Header names are case-insensitive (MLflow sends X-MLflow-*, HTTP/1.1
                    # clients may send another case): the receiver keys them in lower case.
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.requests.append({"path": self.path, "headers": headers, "body": body})
                    n = len(receiver.requests)
                    receiver._cond.notify_all()
                text = f"answer-{n}".encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, n: int, path: str | None = None) -> list[dict]:
        """Requests (to ``path``, if given) once at least ``n`` have arrived."""
        def matching():
            return [r for r in self.requests if path is None or r["path"] == path]

        with self._cond:
            ok = self._cond.wait_for(lambda: len(matching()) >= n, timeout=DEADLINE)
            got = matching()
        assert ok, f"expected {n} deliveries to {path or 'any path'}, got {len(got)}"
        return got

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


# ---------------------------------------------------------------------------------- servers

class WebhookServer(ServerProcess):
    extra_env = WEBHOOK_ENV


@pytest.fixture(scope="module")
def wh_server(tmp_path_factory) -> WebhookServer:
    s = _start_or_fail(WebhookServer(tmp_path_factory.mktemp("webhook-server")))
    yield s
    s.stop()
    _unregister(s)


@pytest.fixture
def wh_client(wh_server, monkeypatch):
    import mlflow
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", wh_server.url)
    mlflow.set_tracking_uri(wh_server.url)
    return MlflowClient(wh_server.url)


@pytest.fixture
def wh_api(wh_server) -> Api:
    return Api(wh_server.api)


# ---------------------------------------------------------------------------------- helpers

def verify_mlflow_signature(payload: str, signature: str, secret: str, delivery_id: str,
                            timestamp: str) -> bool:
    """The receiver-side check from MLflow's webhook documentation."""
    if not signature or not signature.startswith("v1,"):
        return False
    signed_content = f"{delivery_id}.{timestamp}.{payload}"
    expected = base64.b64encode(
        hmac.new(secret.encode("utf-8"), signed_content.encode("utf-8"), hashlib.sha256).digest()
    ).decode("utf-8")
    return hmac.compare_digest(signature.removeprefix("v1,"), expected)


def assert_signed(req: dict, secret: str) -> dict:
    h = req["headers"]
    assert h["content-type"] == "application/json"
    uuid.UUID(h["x-mlflow-delivery-id"])
    ts = h["x-mlflow-timestamp"]
    assert abs(time.time() - int(ts)) < 300, "MLflow's docs reject timestamps older than 5 min"
    assert verify_mlflow_signature(req["body"].decode("utf-8"), h.get("x-mlflow-signature"),
                                   secret, h["x-mlflow-delivery-id"], ts), h
    return json.loads(req["body"])


def hook_name() -> str:
    return f"wh-{uuid.uuid4().hex[:12]}"


# ------------------------------------------------------------------------------------- tests

def test_webhook_crud_through_the_client(wh_client, receiver):
    from mlflow.entities.webhook import WebhookEvent, WebhookStatus

    c = wh_client
    name = hook_name()
    created = c.create_webhook(
        name=name, url=f"{receiver.url}/crud", description="first",
        events=["model_version.created", "model_version_tag.set"], secret="s3cr3t")
    assert created.name == name
    assert created.url == f"{receiver.url}/crud"
    assert created.description == "first"
    assert created.status == WebhookStatus.ACTIVE
    assert set(created.events) == {WebhookEvent("model_version", "created"),
                                   WebhookEvent("model_version_tag", "set")}
    assert created.secret is None, "the secret never comes back"
    assert created.creation_timestamp == created.last_updated_timestamp > 0

    got = c.get_webhook(created.webhook_id)
    assert (got.webhook_id, got.name, got.description) == (created.webhook_id, name, "first")

    updated = c.update_webhook(created.webhook_id, description="second", status="DISABLED",
                               events=["registered_model.created"])
    assert updated.description == "second"
    assert updated.status == WebhookStatus.DISABLED
    assert updated.events == [WebhookEvent("registered_model", "created")]
    assert updated.name == name and updated.url == created.url
    assert updated.last_updated_timestamp >= created.last_updated_timestamp

    ids = set()
    page = c.list_webhooks(max_results=1)
    while True:
        assert len(page) <= 1
        ids.update(w.webhook_id for w in page)
        if not page.token:
            break
        page = c.list_webhooks(max_results=1, page_token=page.token)
    assert created.webhook_id in ids

    c.delete_webhook(created.webhook_id)
    from mlflow.exceptions import MlflowException
    with pytest.raises(MlflowException) as e:
        c.get_webhook(created.webhook_id)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert f"Webhook with ID {created.webhook_id} not found." in str(e.value)
    assert created.webhook_id not in {w.webhook_id for w in c.list_webhooks(max_results=1000)}


def test_raw_json_uses_proto_enum_names(wh_api, receiver):
    r = wh_api.post("/webhooks", {
        "name": hook_name(), "url": f"{receiver.url}/raw", "secret": "x",
        "events": [{"entity": "MODEL_VERSION_ALIAS", "action": "DELETED"}]})
    assert r.status_code == 200, r.text
    w = r.json()["webhook"]
    assert set(w) == {"webhook_id", "name", "url", "events", "status", "creation_timestamp",
                      "last_updated_timestamp"}
    assert w["events"] == [{"entity": "MODEL_VERSION_ALIAS", "action": "DELETED"}]
    assert w["status"] == "ACTIVE"
    r = wh_api.get(f"/webhooks/{w['webhook_id']}")
    assert r.status_code == 200 and r.json()["webhook"] == w
    r = wh_api.request("DELETE", f"/webhooks/{w['webhook_id']}")
    assert (r.status_code, r.json()) == (200, {})


@pytest.mark.parametrize("body, message", [
    ({"name": "-bad", "url": "{url}", "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}]},
     "Webhook name '-bad' is invalid. It must start and end with a letter or digit, be less than "
     "63 characters long, and contain only letters, digits, dots (.), underscores (_), and "
     "hyphens (-)."),
    ({"name": "ok", "url": "ftp://127.0.0.1/x", "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}]},
     "Invalid webhook URL scheme: 'ftp'. Allowed schemes are: http, https."),
    ({"name": "ok", "url": "http:///x", "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}]},
     "Webhook URL must include a hostname: 'http:///x'"),
    ({"name": "ok", "url": " ", "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}]},
     "Webhook URL cannot be empty or just whitespace: ' '"),
    ({"name": "ok", "url": "{url}", "events": [{"entity": "MODEL_VERSION", "action": "DELETED"}]},
     "Invalid action 'deleted' for entity 'model_version'. Valid actions are: ['created']"),
    ({"name": "ok", "url": "{url}", "events": []},
     "Webhook events must be a non-empty list of WebhookEvent objects: []."),
    ({"name": "ok", "url": "{url}"},
     "Missing value for required parameter 'events'. See the API docs for more information about "
     "request parameters."),
    ({"url": "{url}", "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}]},
     "Missing value for required parameter 'name'. See the API docs for more information about "
     "request parameters."),
])
def test_invalid_webhooks_are_refused_with_mlflows_messages(wh_api, receiver, body, message):
    body = json.loads(json.dumps(body).replace("{url}", f"{receiver.url}/bad"))
    r = wh_api.post("/webhooks", body)
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert r.json()["message"] == message


def test_list_page_size_limits(wh_api):
    r = wh_api.get("/webhooks", {"max_results": 1001})
    assert r.status_code == 400
    assert r.json()["message"] == "max_results must be between 1 and 1000."
    r = wh_api.get("/webhooks", {"page_token": "garbage"})
    assert r.status_code == 400
    assert r.json()["message"] == "Invalid page token, could not base64-decode"


def test_unknown_webhook_is_404_everywhere(wh_api):
    for method, path, body in [("GET", "/webhooks/nope", None), ("PATCH", "/webhooks/nope", {"name": "x"}),
                               ("DELETE", "/webhooks/nope", None), ("POST", "/webhooks/nope/test", {})]:
        r = wh_api.request(method, path, json=body)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        assert r.json()["message"] == "Webhook with ID nope not found."


def test_secret_is_stored_fernet_encrypted(wh_server, wh_client, receiver):
    from cryptography.fernet import Fernet

    w = wh_client.create_webhook(name=hook_name(), url=f"{receiver.url}/s",
                                 events=["model_version.created"], secret="top-secret")
    (stored, workspace) = db_rows(
        wh_server.backend_uri,
        "SELECT secret, workspace FROM webhooks WHERE webhook_id = :id", id=w.webhook_id)[0]
    events = db_rows(wh_server.backend_uri,
                     "SELECT entity, action FROM webhook_events WHERE webhook_id = :id",
                     id=w.webhook_id)
    assert stored != "top-secret"
    assert Fernet(FERNET_KEY.encode()).decrypt(stored.encode()).decode() == "top-secret"
    assert workspace == "default"
    assert events == [("model_version", "created")]
    wh_client.delete_webhook(w.webhook_id)


def test_test_webhook_sends_a_signed_example(wh_client, receiver):
    w = wh_client.create_webhook(name=hook_name(), url=f"{receiver.url}/t",
                                 events=["model_version.created"], secret="k3y")
    result = wh_client.test_webhook(w.webhook_id)
    assert (result.success, result.response_status, result.response_body,
            result.error_message) == (True, 200, "answer-1", None)
    body = assert_signed(receiver.wait_for(1, "/t")[0], "k3y")
    assert (body["entity"], body["action"]) == ("model_version", "created")
    assert body["timestamp"].endswith("+00:00")
    assert body["data"] == {"name": "example_model", "version": "1", "source": "models:/123",
                            "run_id": "abcd1234abcd5678", "tags": {"example_key": "example_value"},
                            "description": "An example model version"}
    # Python's json.dumps spacing, envelope keys in MLflow's order.
    raw = receiver.wait_for(1, "/t")[0]["body"].decode()
    assert raw.startswith('{"entity": "model_version", "action": "created", "timestamp": "'), raw

    result = wh_client.test_webhook(w.webhook_id, event="model_version_alias.created")
    assert result.success
    body = assert_signed(receiver.wait_for(2, "/t")[1], "k3y")
    assert body["data"] == {"name": "example_model", "alias": "example_alias", "version": "1"}
    wh_client.delete_webhook(w.webhook_id)


def test_test_webhook_retries_5xx_then_succeeds(wh_client, receiver):
    w = wh_client.create_webhook(name=hook_name(), url=f"{receiver.url}/retry",
                                 events=["registered_model.created"], secret="r")
    receiver.statuses.extend([503])
    result = wh_client.test_webhook(w.webhook_id)
    assert (result.success, result.response_status) == (True, 200)
    first, second = receiver.wait_for(2, "/retry")
    for h in ("x-mlflow-delivery-id", "x-mlflow-timestamp", "x-mlflow-signature"):
        assert first["headers"][h] == second["headers"][h], h
    assert first["body"] == second["body"]

    receiver.statuses.extend([404])
    result = wh_client.test_webhook(w.webhook_id)
    assert (result.success, result.response_status, result.response_body) == (False, 404, "answer-3")
    wh_client.delete_webhook(w.webhook_id)


def test_test_webhook_reports_connection_errors(wh_client):
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    w = wh_client.create_webhook(name=hook_name(), url=f"http://127.0.0.1:{port}/x",
                                 events=["model_version.created"])
    result = wh_client.test_webhook(w.webhook_id)
    assert result.success is False
    assert result.response_status is None
    assert result.error_message.startswith("Failed to test webhook: ")
    wh_client.delete_webhook(w.webhook_id)


def test_registry_events_are_delivered_signed(wh_client, wh_api, receiver):
    c = wh_client
    signed = c.create_webhook(
        name=hook_name(), url=f"{receiver.url}/registry", secret="reg-secret",
        events=["registered_model.created", "model_version_tag.set", "model_version_alias.created"])
    off = c.create_webhook(name=hook_name(), url=f"{receiver.url}/off", status="DISABLED",
                           events=["registered_model.created"])
    model = unique_name("rm")
    c.create_registered_model(model, tags={"team": "ml"}, description="d")
    body = assert_signed(receiver.wait_for(1, "/registry")[0], "reg-secret")
    assert (body["entity"], body["action"]) == ("registered_model", "created")
    assert body["data"] == {"name": model, "tags": {"team": "ml"}, "description": "d"}

    r = wh_api.post("/model-versions/create",
                    {"name": model, "source": f"s3://bucket/{uuid.uuid4().hex}/model"})
    assert r.status_code == 200, r.text
    version = r.json()["model_version"]["version"]
    c.set_model_version_tag(model, version, "stage", "ok")
    c.set_registered_model_alias(model, "champion", version)
    got = receiver.wait_for(3, "/registry")
    by_event = {}
    for req in got[1:]:
        b = assert_signed(req, "reg-secret")
        by_event[(b["entity"], b["action"])] = b["data"]
    assert by_event[("model_version_tag", "set")] == {
        "name": model, "version": version, "key": "stage", "value": "ok"}
    assert by_event[("model_version_alias", "created")] == {
        "name": model, "alias": "champion", "version": version}
    assert not [r for r in receiver.requests if r["path"] == "/off"], "disabled webhooks get nothing"
    c.delete_webhook(signed.webhook_id)
    c.delete_webhook(off.webhook_id)


def test_defaults_refuse_plain_http_and_loopback(tmp_path):
    """Without MLflow's development switches: https only, and no private targets."""
    s = _register(ServerProcess(tmp_path / "strict"))
    try:
        try:
            s.start()
        except RuntimeError as e:
            pytest.fail(str(e), pytrace=False)
        api = Api(s.api)
        events = [{"entity": "MODEL_VERSION", "action": "CREATED"}]
        r = api.post("/webhooks", {"name": "a", "url": "http://example.com/x", "events": events})
        assert r.status_code == 400
        assert r.json()["message"] == "Invalid webhook URL scheme: 'http'. Allowed schemes are: https."
        r = api.post("/webhooks", {"name": "a", "url": "https://127.0.0.1:8443/x", "events": events})
        assert r.status_code == 400
        assert r.json()["message"] == (
            "Webhook URL must not resolve to a non-public IP address. "
            "'127.0.0.1' resolves to 127.0.0.1.")
        r = api.post("/webhooks", {"name": "a", "url": "https://[::1]/x", "events": events})
        assert r.status_code == 400
        assert "must not resolve to a non-public IP address" in r.json()["message"]
    finally:
        s.stop()
        _unregister(s)
