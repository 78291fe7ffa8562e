"""The model registry: registered models, model versions, stages, aliases, search, sources.

Raw HTTP (``requests``) where the status code, error code, message or JSON shape is the
point; the official client (``MlflowClient`` / ``mlflow.register_model`` /
``mlflow.pyfunc.load_model``) where the users' workflow is. Everything is validated against a
real ``mlflow server`` (``FERROFLOW_TARGET=mlflow``).

Servers used:

* ``server`` (session; ``--default-artifact-root <tmp>``): runs get *local* artifact URIs, which
  is what the local-path source rules are about.
* ``artifact_server`` (session; artifact proxying): runs and logged models get
  ``mlflow-artifacts:/`` URIs; the seed workflow and the ``models:/`` loading tests run here.
* ``own_server`` (per test): the SQLite round trips.

Tests that pin a surprising MLflow behaviour say "MLflow quirk:" in their docstring.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import requests

from conftest import TARGET, Api, db_rows, sqlite_uri, unique_name

# transition_model_version_stage / get_latest_versions are deprecated in the client
# (FutureWarning) but are exactly what the seed course calls.
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

MISSING_RUN = "0" * 32
STAGES_MSG = "Value must be one of None, Staging, Production, Archived."
LOCAL_SOURCE_MSG = (
    "To use a local path as a model version source, the run_id request parameter has to be "
    "specified and the local path has to be contained within the artifact directory of the run "
    "specified by the run_id."
)
RELATIVE_SOURCE_MSG = (
    "If supplying a source as an http, https, local file path, ftp, objectstore, or "
    "mlflow-artifacts uri, an absolute path must be provided without relative path references "
    "present. Please provide an absolute path."
)
RUN_ID_SOURCE_MSG = (
    "The run_id request parameter must identify the resource that contains the source."
)
MODEL_ID_SOURCE_MSG = (
    "The model_id request parameter must identify the resource that contains the source."
)
BAD_ALIAS_MSG = "Names may only contain alphanumerics, underscores (_), and dashes (-)."

MV_FIELDS = {"name", "version", "creation_timestamp", "last_updated_timestamp", "current_stage",
             "description", "source", "run_id", "status", "run_link"}


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def assert_user_error(r, mlflow_status: int, mlflow_code: str, **kw):
    """A deliberate difference: where MLflow answers a user's mistake with 500
    INTERNAL_ERROR, Ferroflow answers 400 INVALID_PARAMETER_VALUE. A user mistake is never a
    500 in Ferroflow; the message starts the same."""
    if TARGET == "mlflow":
        return assert_error(r, mlflow_status, mlflow_code, **kw)
    if "message" in kw:
        kw["message_startswith"] = kw.pop("message")
    return assert_error(r, 400, "INVALID_PARAMETER_VALUE", **kw)


def assert_error(r, status: int, error_code: str, *, message: str | None = None,
                 message_contains: str | None = None, message_startswith: str | None = None):
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:600]}"
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    body = r.json()
    assert body.get("error_code") == error_code, body
    assert isinstance(body.get("message"), str) and body["message"], body
    if message is not None:
        assert body["message"] == message, body["message"]
    if message_contains is not None:
        assert message_contains in body["message"], body["message"]
    if message_startswith is not None:
        assert body["message"].startswith(message_startswith), body["message"]
    return body


def ok(r) -> dict:
    assert r.status_code == 200, (
        f"{r.request.method} {r.request.path_url}: {r.status_code} {r.text[:600]}")
    return r.json()


def create_rm(api: Api, name: str | None = None, **fields) -> str:
    name = name or unique_name("rm")
    ok(api.post("/registered-models/create", {"name": name, **fields}))
    return name


def create_mv(api: Api, name: str, source: str | None = None, **fields) -> dict:
    source = source or f"s3://bucket/{uuid.uuid4().hex}/model"
    return ok(api.post("/model-versions/create", {"name": name, "source": source, **fields}))[
        "model_version"]


def get_mv(api: Api, name: str, version) -> requests.Response:
    return api.get("/model-versions/get", {"name": name, "version": str(version)})


def get_rm(api: Api, name: str) -> requests.Response:
    return api.get("/registered-models/get", {"name": name})


def stage_of(api: Api, name: str, version) -> str:
    return ok(get_mv(api, name, version))["model_version"]["current_stage"]


def transition(api: Api, name, version, stage, archive=None) -> requests.Response:
    body = {"name": name, "version": str(version), "stage": stage}
    if archive is not None:
        body["archive_existing_versions"] = archive
    return api.post("/model-versions/transition-stage", body)


def set_alias(api: Api, name, alias, version) -> requests.Response:
    return api.post("/registered-models/alias",
                    {"name": name, "alias": alias, "version": str(version)})


def latest_by_stage(versions: list[dict]) -> dict[str, str]:
    out = {}
    for mv in versions:
        assert mv["current_stage"] not in out, versions
        out[mv["current_stage"]] = mv["version"]
    return out


def decode_token(token: str) -> dict:
    return json.loads(base64.b64decode(token))


def connect_ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)


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


@pytest.fixture
def run(api) -> dict:
    """A fresh run on the session server (local artifact root): its info JSON."""
    exp = api.create_experiment()
    r = ok(api.post("/runs/create", {"experiment_id": exp}))
    return r["run"]["info"]


@pytest.fixture(scope="session")
def aapi(artifact_server) -> Api:
    """Raw HTTP against the artifact-proxying server."""
    return Api(artifact_server.api)


@pytest.fixture
def proxied_run(aapi) -> dict:
    exp = aapi.create_experiment()
    return ok(aapi.post("/runs/create", {"experiment_id": exp}))["run"]["info"]


@pytest.fixture
def logged_model(aapi, proxied_run) -> dict:
    """A logged model (no files needed by the registry) created from ``proxied_run``."""
    r = ok(aapi.post("/logged-models", {"experiment_id": proxied_run["experiment_id"],
                                        "name": "models", "source_run_id": proxied_run["run_id"]}))
    return r["model"]["info"]


# ---------------------------------------------------------------------------------------------
# registered models: create / get / JSON shape
# ---------------------------------------------------------------------------------------------


def test_create_registered_model_json(api):
    name = unique_name("rm")
    r = api.post("/registered-models/create",
                 {"name": name, "tags": [{"key": "team", "value": "ml"}], "description": "d"})
    rm = ok(r)["registered_model"]
    assert set(rm) == {"name", "creation_timestamp", "last_updated_timestamp", "description",
                       "tags"}
    assert rm["name"] == name and rm["description"] == "d"
    assert rm["tags"] == [{"key": "team", "value": "ml"}]
    assert isinstance(rm["creation_timestamp"], int)
    assert rm["creation_timestamp"] == rm["last_updated_timestamp"]


def test_registered_model_without_description_or_tags_has_only_name_and_timestamps(api):
    """Empty description, tags, latest_versions and aliases are all left out of the JSON."""
    name = create_rm(api)
    rm = ok(get_rm(api, name))["registered_model"]
    assert set(rm) == {"name", "creation_timestamp", "last_updated_timestamp"}


def test_get_registered_model_json_with_versions_and_aliases(api):
    name = create_rm(api, description="about", tags=[{"key": "k", "value": "v"}])
    create_mv(api, name)
    create_mv(api, name)
    ok(set_alias(api, name, "champion", 1))
    rm = ok(get_rm(api, name))["registered_model"]
    assert set(rm) == {"name", "creation_timestamp", "last_updated_timestamp", "description",
                       "latest_versions", "tags", "aliases"}
    assert rm["aliases"] == [{"alias": "champion", "version": "1"}]
    assert [(v["version"], v["current_stage"]) for v in rm["latest_versions"]] == [("2", "None")]
    # latest_versions entries are full model versions (but carry no aliases)
    assert set(rm["latest_versions"][0]) == MV_FIELDS


def test_duplicate_registered_model_name_rejected(api):
    name = create_rm(api)
    r = api.post("/registered-models/create", {"name": name})
    assert_error(r, 400, "RESOURCE_ALREADY_EXISTS",
                 message=f"Registered Model (name={name}) already exists.")


@pytest.mark.parametrize("bad", ["a/b", "a:b"])
def test_registered_model_name_with_slash_or_colon_rejected(api, bad):
    r = api.post("/registered-models/create", {"name": bad})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE",
                 message=f"Invalid model name '{bad}'. Names cannot contain '/' or ':'.")


@pytest.mark.parametrize("body", [{}, {"name": ""}], ids=["missing", "empty"])
def test_registered_model_without_name_rejected(api, body):
    r = api.post("/registered-models/create", body)
    assert_error(r, 400, "INVALID_PARAMETER_VALUE",
                 message_startswith="Missing value for required parameter 'name'.")


def test_get_unknown_registered_model_is_404(api):
    name = unique_name("missing")
    assert_error(get_rm(api, name), 404, "RESOURCE_DOES_NOT_EXIST",
                 message=f"Registered Model with name={name} not found")


def test_model_name_taken_by_a_prompt_is_refused_with_prompt_message(api):
    prompt = create_rm(api, tags=[{"key": "mlflow.prompt.is_prompt", "value": "true"}])
    r = api.post("/registered-models/create", {"name": prompt})
    assert_error(r, 400, "RESOURCE_ALREADY_EXISTS", message=(
        f"Tried to create a registered model with name '{prompt}', but the name is already "
        "taken by a prompt. MLflow does not allow creating a model and a prompt with the same "
        "name."))


# ---------------------------------------------------------------------------------------------
# registered models: update / rename / delete / tags
# ---------------------------------------------------------------------------------------------


def test_update_registered_model_description(api):
    name = create_rm(api, description="old")
    before = ok(get_rm(api, name))["registered_model"]
    time.sleep(0.005)
    rm = ok(api.request("PATCH", "/registered-models/update",
                        json={"name": name, "description": "new"}))["registered_model"]
    assert rm["description"] == "new"
    assert rm["last_updated_timestamp"] > before["last_updated_timestamp"]
    assert ok(get_rm(api, name))["registered_model"]["description"] == "new"


def test_update_registered_model_without_description_clears_it(api):
    """MLflow quirk: an update that omits `description` sets it to empty."""
    name = create_rm(api, description="keep me?")
    rm = ok(api.request("PATCH", "/registered-models/update", json={"name": name}))
    assert "description" not in rm["registered_model"]
    assert "description" not in ok(get_rm(api, name))["registered_model"]


def test_update_unknown_registered_model_is_404(api):
    name = unique_name("missing")
    r = api.request("PATCH", "/registered-models/update", json={"name": name, "description": "x"})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST",
                 message=f"Registered Model with name={name} not found")


def test_rename_moves_versions_tags_and_aliases(client):
    name, new = unique_name("rm"), unique_name("renamed")
    client.create_registered_model(name, tags={"team": "ml"}, description="d")
    client.create_model_version(name, "s3://bucket/a/1", tags={"vt": "1"})
    client.create_model_version(name, "s3://bucket/a/2")
    client.set_registered_model_alias(name, "champion", "1")
    client.transition_model_version_stage(name, "2", "Staging")

    client.rename_registered_model(name, new)
    got = client.get_registered_model(new)
    assert (got.description, got.tags, got.aliases) == ("d", {"team": "ml"}, {"champion": "1"})
    assert {(v.version, v.current_stage) for v in got.latest_versions} == {
        ("1", "None"), ("2", "Staging")}
    mv = client.get_model_version(new, "1")
    assert (mv.name, mv.tags, mv.aliases) == (new, {"vt": "1"}, ["champion"])
    assert client.get_model_version_by_alias(new, "champion").version == "1"


def test_rename_frees_the_old_name(api):
    name = create_rm(api)
    create_mv(api, name)
    new = unique_name("renamed")
    ok(api.post("/registered-models/rename", {"name": name, "new_name": new}))
    assert_error(get_rm(api, name), 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(get_mv(api, name, 1), 404, "RESOURCE_DOES_NOT_EXIST")
    create_rm(api, name)  # the old name can be taken again
    assert "latest_versions" not in ok(get_rm(api, name))["registered_model"]


def test_rename_touches_model_and_version_timestamps(api):
    name = create_rm(api)
    mv = create_mv(api, name)
    time.sleep(0.005)
    new = unique_name("renamed")
    rm = ok(api.post("/registered-models/rename",
                     {"name": name, "new_name": new}))["registered_model"]
    assert rm["last_updated_timestamp"] > mv["last_updated_timestamp"]
    mv2 = ok(get_mv(api, new, 1))["model_version"]
    assert mv2["last_updated_timestamp"] == rm["last_updated_timestamp"]
    assert mv2["creation_timestamp"] == mv["creation_timestamp"]


def test_rename_to_taken_name_rejected(api):
    a, b = create_rm(api), create_rm(api)
    r = api.post("/registered-models/rename", {"name": a, "new_name": b})
    # MLflow appends the database error text after this prefix
    assert_error(r, 400, "RESOURCE_ALREADY_EXISTS",
                 message_startswith=f"Registered Model (name={b}) already exists.")
    assert ok(get_rm(api, a))["registered_model"]["name"] == a


def test_rename_to_its_own_name_is_accepted(api):
    name = create_rm(api)
    rm = ok(api.post("/registered-models/rename", {"name": name, "new_name": name}))
    assert rm["registered_model"]["name"] == name


def test_rename_unknown_registered_model_is_404(api):
    name = unique_name("missing")
    r = api.post("/registered-models/rename", {"name": name, "new_name": unique_name("x")})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST",
                 message=f"Registered Model with name={name} not found")


@pytest.mark.parametrize("new_name,message", [
    ("a:b", "Invalid model name 'a:b'. Names cannot contain '/' or ':'."),
    ("", "Missing value for required parameter 'new_name'. See the API docs for more "
         "information about request parameters."),
])
def test_rename_to_invalid_name_rejected(api, new_name, message):
    name = create_rm(api)
    r = api.post("/registered-models/rename", {"name": name, "new_name": new_name})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", message=message)


def test_delete_registered_model_deletes_versions_tags_and_aliases(api):
    name = create_rm(api, tags=[{"key": "t", "value": "v"}])
    create_mv(api, name, tags=[{"key": "vt", "value": "1"}])
    ok(set_alias(api, name, "champion", 1))
    assert ok(api.request("DELETE", "/registered-models/delete", json={"name": name})) == {}
    assert_error(get_rm(api, name), 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(get_mv(api, name, 1), 404, "RESOURCE_DOES_NOT_EXIST")
    # a model re-created under the name starts from scratch (hard delete, unlike versions)
    create_rm(api, name)
    assert create_mv(api, name)["version"] == "1"
    rm = ok(get_rm(api, name))["registered_model"]
    assert "tags" not in rm and "aliases" not in rm


def test_delete_unknown_registered_model_is_404(api):
    name = unique_name("missing")
    r = api.request("DELETE", "/registered-models/delete", json={"name": name})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST",
                 message=f"Registered Model with name={name} not found")


def test_set_and_delete_registered_model_tag(client):
    name = unique_name("rm")
    client.create_registered_model(name)
    client.set_registered_model_tag(name, "team", "ml")
    client.set_registered_model_tag(name, "team", "data")  # overwrite
    client.set_registered_model_tag(name, "other", "x")
    assert client.get_registered_model(name).tags == {"team": "data", "other": "x"}
    client.delete_registered_model_tag(name, "team")
    assert client.get_registered_model(name).tags == {"other": "x"}


def test_delete_absent_registered_model_tag_is_ok(api):
    name = create_rm(api)
    r = api.request("DELETE", "/registered-models/delete-tag", json={"name": name, "key": "nope"})
    assert ok(r) == {}


@pytest.mark.parametrize("method,path,body", [
    ("POST", "/registered-models/set-tag", {"key": "k", "value": "v"}),
    ("DELETE", "/registered-models/delete-tag", {"key": "k"}),
])
def test_registered_model_tag_on_unknown_model_is_404(api, method, path, body):
    name = unique_name("missing")
    r = api.request(method, path, json={"name": name, **body})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST",
                 message=f"Registered Model with name={name} not found")


def test_registered_model_tag_key_must_be_a_clean_path(api):
    name = create_rm(api)
    r = api.post("/registered-models/set-tag", {"name": name, "key": "bad/../k", "value": "v"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE",
                 message_startswith="Invalid value \"bad/../k\" for parameter 'key' supplied")
    assert "tags" not in ok(get_rm(api, name))["registered_model"]


def test_creating_a_version_bumps_model_last_updated_timestamp(api):
    name = create_rm(api)
    before = ok(get_rm(api, name))["registered_model"]["last_updated_timestamp"]
    time.sleep(0.005)
    mv = create_mv(api, name)
    after = ok(get_rm(api, name))["registered_model"]
    assert after["last_updated_timestamp"] == mv["creation_timestamp"] > before
    assert after["creation_timestamp"] == before


# ---------------------------------------------------------------------------------------------
# search_registered_models
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rm_corpus(api):
    """Four models (+ one prompt) under a unique prefix. Created Alpha, beta, gamma, delta;
    then their descriptions are updated in the order gamma, Alpha, delta, beta so that
    last_updated order differs from creation order."""
    p = unique_name("rms") + "-"
    tags = {"Alpha": {"team": "a"}, "beta": {"team": "b"}, "gamma": {"team": "a", "x": "1"},
            "delta": {}}
    for n, t in tags.items():
        create_rm(api, p + n, tags=[{"key": k, "value": v} for k, v in t.items()])
        time.sleep(0.005)
    create_rm(api, p + "prompt", tags=[{"key": "mlflow.prompt.is_prompt", "value": "true"}])
    for n in ["gamma", "Alpha", "delta", "beta"]:
        time.sleep(0.005)
        ok(api.request("PATCH", "/registered-models/update",
                       json={"name": p + n, "description": n}))
    return p


def search_rms(api, **params):
    return api.get("/registered-models/search", params)


def rm_names(r, prefix) -> list[str]:
    return [m["name"].removeprefix(prefix) for m in ok(r).get("registered_models", [])]


@pytest.mark.parametrize("flt,expected", [
    ("name = '{p}beta'", ["beta"]),
    ('name = "{p}beta"', ["beta"]),
    ("name != '{p}beta' AND name LIKE '{p}%'", ["Alpha", "delta", "gamma"]),
    ("name LIKE '{p}%a'", ["Alpha", "beta", "delta", "gamma"]),
    ("name LIKE '{p}a%'", []),  # LIKE is case-sensitive
    ("name ILIKE '{p}a%'", ["Alpha"]),
    ("name IN ('{p}beta', '{p}gamma')", ["beta", "gamma"]),
    ("tags.team = 'a' AND name LIKE '{p}%'", ["Alpha", "gamma"]),
    ("tag.team != 'a' AND name LIKE '{p}%'", ["beta"]),  # no tag at all: no match
    ("tags.`team` LIKE 'a%' AND tags.x = '1' AND name LIKE '{p}%'", ["gamma"]),
    ("tags.team ILIKE 'B' AND name LIKE '{p}%'", ["beta"]),
])
def test_search_registered_models_filter(api, rm_corpus, flt, expected):
    r = search_rms(api, filter=flt.format(p=rm_corpus))
    assert rm_names(r, rm_corpus) == expected


def test_search_registered_models_excludes_prompts(api, rm_corpus):
    assert rm_names(search_rms(api, filter=f"name = '{rm_corpus}prompt'"), rm_corpus) == []
    assert "prompt" not in rm_names(search_rms(api, filter=f"name LIKE '{rm_corpus}%'"), rm_corpus)


def test_search_registered_models_finds_prompts_by_the_prompt_tag(api, rm_corpus):
    r = search_rms(api, filter=f"tags.`mlflow.prompt.is_prompt` = 'true' "
                               f"AND name LIKE '{rm_corpus}%'")
    assert rm_names(r, rm_corpus) == ["prompt"]


@pytest.mark.parametrize("order_by,expected", [
    (["name DESC"], ["gamma", "delta", "beta", "Alpha"]),
    (["name"], ["Alpha", "beta", "delta", "gamma"]),
    (["last_updated_timestamp ASC"], ["gamma", "Alpha", "delta", "beta"]),
    (["timestamp DESC"], ["beta", "delta", "Alpha", "gamma"]),
])
def test_search_registered_models_order_by(api, rm_corpus, order_by, expected):
    """MLflow quirk: `timestamp` orders by last_updated_timestamp (not creation)."""
    r = search_rms(api, filter=f"name LIKE '{rm_corpus}%'", order_by=order_by)
    assert rm_names(r, rm_corpus) == expected


def test_search_registered_models_order_by_creation_timestamp_rejected(api, rm_corpus):
    """MLflow quirk: the SQL store accepts only name, timestamp and last_updated_timestamp."""
    r = search_rms(api, order_by=["creation_timestamp DESC"])
    assert_error(r, 400, "INVALID_PARAMETER_VALUE",
                 message_startswith="Invalid order by key 'creation_timestamp' specified.")


@pytest.mark.parametrize("order_by", [["name ASC", "name DESC"],
                                      ["timestamp", "last_updated_timestamp"]])
def test_search_registered_models_duplicate_order_by_is_500(api, order_by):
    """MLflow quirk: a duplicated order_by key (`timestamp` and `last_updated_timestamp` are
    the same column) raises without an error code: 500 INTERNAL_ERROR."""
    r = search_rms(api, order_by=order_by)
    assert_user_error(r, 500, "INTERNAL_ERROR",
                      message=f"`order_by` contains duplicate fields: {order_by}")


def test_search_registered_models_bad_order_by_direction_rejected(api):
    r = search_rms(api, order_by=["name sideways"])
    # Ferroflow adds what it expected after MLflow's sentence.
    assert_error(r, 400, "INVALID_PARAMETER_VALUE",
                 message_startswith="Invalid ordering key in order_by clause 'name sideways'.")


def test_search_registered_models_pages(api, rm_corpus):
    flt = f"name LIKE '{rm_corpus}%'"
    first = ok(search_rms(api, filter=flt, max_results=2))
    assert [m["name"] for m in first["registered_models"]] == [rm_corpus + "Alpha",
                                                              rm_corpus + "beta"]
    assert decode_token(first["next_page_token"]) == {"offset": 2}
    second = ok(search_rms(api, filter=flt, max_results=2, page_token=first["next_page_token"]))
    assert [m["name"] for m in second["registered_models"]] == [rm_corpus + "delta",
                                                               rm_corpus + "gamma"]
    assert "next_page_token" not in second


def test_search_registered_models_no_token_when_the_page_is_exactly_full(api, rm_corpus):
    """The store fetches max_results + 1 rows: a token only when more rows really exist."""
    r = ok(search_rms(api, filter=f"name LIKE '{rm_corpus}%'", max_results=4))
    assert len(r["registered_models"]) == 4 and "next_page_token" not in r
    r = ok(search_rms(api, filter=f"name LIKE '{rm_corpus}%'", max_results=3))
    assert decode_token(r["next_page_token"]) == {"offset": 3}


def test_search_registered_models_client_pagination(client, rm_corpus):
    page = client.search_registered_models(f"name LIKE '{rm_corpus}%'", max_results=3)
    assert [m.name for m in page] == [rm_corpus + n for n in ("Alpha", "beta", "delta")]
    rest = client.search_registered_models(f"name LIKE '{rm_corpus}%'", max_results=3,
                                           page_token=page.token)
    assert [m.name for m in rest] == [rm_corpus + "gamma"] and not rest.token


def test_search_registered_models_garbage_page_token_rejected(api):
    assert_error(search_rms(api, page_token="garbage"), 400, "INVALID_PARAMETER_VALUE",
                 message="Invalid page token, could not base64-decode")


def test_search_registered_models_page_token_with_offset_zero_rejected(api):
    """MLflow quirk: {"offset": 0} is a falsy offset and is refused."""
    token = base64.b64encode(b'{"offset": 0}').decode()
    assert_error(search_rms(api, page_token=token), 400, "INVALID_PARAMETER_VALUE",
                 message="Invalid page token, parsed value={'offset': 0}")


def test_search_registered_models_max_results_limit(api):
    ok(search_rms(api, max_results=1000, filter="name = 'nothing-here'"))
    assert_error(search_rms(api, max_results=1001), 400, "INVALID_PARAMETER_VALUE",
                 message_startswith="Invalid value \"1001\" for parameter 'max_results' supplied")


def test_search_registered_models_max_results_zero(api, rm_corpus):
    """MLflow quirk: max_results=0 returns no models but a next_page_token of offset 0."""
    r = ok(search_rms(api, filter=f"name LIKE '{rm_corpus}%'", max_results=0))
    assert "registered_models" not in r
    assert decode_token(r["next_page_token"]) == {"offset": 0}


def test_search_registered_models_results_carry_latest_versions(api):
    name = create_rm(api)
    create_mv(api, name)
    create_mv(api, name)
    ok(transition(api, name, 1, "Production"))
    r = ok(search_rms(api, filter=f"name = '{name}'"))
    (rm,) = r["registered_models"]
    assert latest_by_stage(rm["latest_versions"]) == {"Production": "1", "None": "2"}


@pytest.mark.parametrize("flt,message", [
    ("name = 'x' OR name = 'y'", "Invalid clause(s) in filter string: OR"),
    ("description = 'x'", "Invalid attribute key 'description' specified."),
    ("creation_timestamp > 0", "Invalid attribute key 'creation_timestamp' specified."),
    ("name > 'a'", "Invalid comparator for attribute: >"),
    ("tags.team > 'a'", "Invalid comparator for tag: >"),
    ("tags.team IS NULL", "IS NULL / IS NOT NULL is not supported for registered model search."),
    ("name = x", "Parameter value is either not quoted or unidentified quote types used for "
                 "string value x. Use either single or double quotes."),
    ("foo.bar = 'x'", "Invalid entity type 'foo'. Valid entity types are "
                      "('attribute', 'tag', 'tags')"),
])
def test_search_registered_models_bad_filter_rejected(api, flt, message):
    body = assert_error(search_rms(api, filter=flt), 400, "INVALID_PARAMETER_VALUE")
    assert body["message"].startswith(message), body["message"]


# ---------------------------------------------------------------------------------------------
# model versions: create / get / JSON shape
# ---------------------------------------------------------------------------------------------


def test_create_model_version_json(api, run):
    name = create_rm(api)
    rid = run["run_id"]
    r = api.post("/model-versions/create",
                 {"name": name, "source": f"runs:/{rid}/model", "run_id": rid})
    mv = ok(r)["model_version"]
    assert set(mv) == MV_FIELDS
    assert mv["name"] == name and mv["version"] == "1"
    assert (mv["current_stage"], mv["status"], mv["description"], mv["run_link"]) == (
        "None", "READY", "", "")
    assert (mv["source"], mv["run_id"]) == (f"runs:/{rid}/model", rid)
    assert isinstance(mv["creation_timestamp"], int)
    assert mv["creation_timestamp"] == mv["last_updated_timestamp"]


def test_model_version_without_run_has_empty_run_id(api):
    name = create_rm(api)
    mv = create_mv(api, name, "s3://bucket/path/model")
    assert mv["run_id"] == "" and mv["source"] == "s3://bucket/path/model"


def test_create_model_version_with_tags_description_and_run_link(api):
    name = create_rm(api)
    mv = create_mv(api, name, tags=[{"key": "k", "value": "v"}], description="first",
                   run_link="http://example.invalid/run")
    assert mv["tags"] == [{"key": "k", "value": "v"}]
    assert (mv["description"], mv["run_link"]) == ("first", "http://example.invalid/run")
    assert ok(get_mv(api, name, 1))["model_version"]["tags"] == [{"key": "k", "value": "v"}]


def test_version_numbers_are_per_model(api):
    a, b = create_rm(api), create_rm(api)
    assert [create_mv(api, a)["version"] for _ in range(3)] == ["1", "2", "3"]
    assert create_mv(api, b)["version"] == "1"


def test_create_version_of_unknown_model_is_404(api):
    name = unique_name("missing")
    r = api.post("/model-versions/create", {"name": name, "source": "s3://bucket/k"})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST",
                 message=f"Registered Model with name={name} not found")


def test_create_version_without_source_rejected(api):
    name = create_rm(api)
    r = api.post("/model-versions/create", {"name": name})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE",
                 message_startswith="Missing value for required parameter 'source'.")


def test_get_model_version_lists_its_aliases(api):
    name = create_rm(api)
    create_mv(api, name)
    ok(set_alias(api, name, "champion", 1))
    ok(set_alias(api, name, "blue", 1))
    mv = ok(get_mv(api, name, 1))["model_version"]
    assert set(mv) == MV_FIELDS | {"aliases"}
    assert sorted(mv["aliases"]) == ["blue", "champion"]


def test_get_unknown_model_version_is_404(api):
    name = create_rm(api)
    create_mv(api, name)
    assert_error(get_mv(api, name, 9), 404, "RESOURCE_DOES_NOT_EXIST",
                 message=f"Model Version (name={name}, version=9) not found")
    assert_error(get_mv(api, "no-such-model", 1), 404, "RESOURCE_DOES_NOT_EXIST",
                 message="Model Version (name=no-such-model, version=1) not found")


def test_non_integer_version_rejected(api):
    name = create_rm(api)
    assert_error(get_mv(api, name, "abc"), 400, "INVALID_PARAMETER_VALUE",
                 message="Parameter 'version' must be an integer, got 'abc'.")


def test_missing_version_rejected(api):
    name = create_rm(api)
    r = api.get("/model-versions/get", {"name": name})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE",
                 message_startswith="Missing value for required parameter 'version'.")


def test_json_number_for_version_rejected(api):
    """MLflow quirk: `version` is a proto string; a JSON number is a type error."""
    name = create_rm(api)
    create_mv(api, name)
    r = api.post("/registered-models/alias", {"name": name, "alias": "a", "version": 1})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE",
                 message_startswith="Invalid value 1 for parameter 'version' supplied")


def test_update_model_version_description(client):
    name = unique_name("rm")
    client.create_registered_model(name)
    client.create_model_version(name, "s3://bucket/k/1")
    mv = client.update_model_version(name, "1", description="better")
    assert mv.description == "better"
    assert client.get_model_version(name, "1").description == "better"


def test_update_model_version_without_description_clears_it(api):
    """MLflow quirk: omitting `description` stores NULL; the field then leaves the JSON."""
    name = create_rm(api)
    create_mv(api, name, description="first")
    mv = ok(api.request("PATCH", "/model-versions/update",
                        json={"name": name, "version": "1"}))["model_version"]
    assert "description" not in mv
    assert "description" not in ok(get_mv(api, name, 1))["model_version"]


def test_update_model_version_touches_only_the_version_timestamp(api):
    name = create_rm(api)
    mv = create_mv(api, name)
    rm_before = ok(get_rm(api, name))["registered_model"]["last_updated_timestamp"]
    time.sleep(0.005)
    up = ok(api.request("PATCH", "/model-versions/update",
                        json={"name": name, "version": "1", "description": "d"}))
    assert up["model_version"]["last_updated_timestamp"] > mv["last_updated_timestamp"]
    assert ok(get_rm(api, name))["registered_model"]["last_updated_timestamp"] == rm_before


def test_set_and_delete_model_version_tag(client):
    name = unique_name("rm")
    client.create_registered_model(name)
    client.create_model_version(name, "s3://bucket/k/1", tags={"a": "1"})
    client.set_model_version_tag(name, "1", "b", "2")
    client.set_model_version_tag(name, "1", "a", "changed")
    assert client.get_model_version(name, "1").tags == {"a": "changed", "b": "2"}
    client.delete_model_version_tag(name, "1", "a")
    assert client.get_model_version(name, "1").tags == {"b": "2"}


def test_delete_absent_model_version_tag_is_ok(api):
    name = create_rm(api)
    create_mv(api, name)
    r = api.request("DELETE", "/model-versions/delete-tag",
                    json={"name": name, "version": "1", "key": "nope"})
    assert ok(r) == {}


def test_get_download_uri_of_plain_source_is_the_source(api):
    name = create_rm(api)
    create_mv(api, name, "s3://bucket/some/model")
    r = api.get("/model-versions/get-download-uri", {"name": name, "version": "1"})
    assert ok(r) == {"artifact_uri": "s3://bucket/some/model"}


def test_get_download_uri_of_runs_source_is_returned_unresolved(api, run):
    """MLflow quirk: a `runs:/` source is handed back as is, not resolved to the run's root."""
    name = create_rm(api)
    rid = run["run_id"]
    create_mv(api, name, f"runs:/{rid}/model", run_id=rid)
    r = api.get("/model-versions/get-download-uri", {"name": name, "version": "1"})
    assert ok(r) == {"artifact_uri": f"runs:/{rid}/model"}


# ---------------------------------------------------------------------------------------------
# deleting a model version: soft delete
# ---------------------------------------------------------------------------------------------


def delete_mv(api, name, version) -> requests.Response:
    return api.request("DELETE", "/model-versions/delete",
                       json={"name": name, "version": str(version)})


def test_deleted_model_version_is_gone_from_the_api(api):
    name = create_rm(api)
    create_mv(api, name)
    assert ok(delete_mv(api, name, 1)) == {}
    msg = f"Model Version (name={name}, version=1) not found"
    assert_error(get_mv(api, name, 1), 404, "RESOURCE_DOES_NOT_EXIST", message=msg)
    assert_error(delete_mv(api, name, 1), 404, "RESOURCE_DOES_NOT_EXIST", message=msg)


def test_deleted_version_number_is_never_reused(api):
    name = create_rm(api)
    for _ in range(3):
        create_mv(api, name)
    ok(delete_mv(api, name, 3))
    assert create_mv(api, name)["version"] == "4"


def test_deleted_version_left_out_of_search_and_latest_versions(api):
    name = create_rm(api)
    create_mv(api, name)
    create_mv(api, name)
    ok(delete_mv(api, name, 2))
    s = ok(api.get("/model-versions/search", {"filter": f"name = '{name}'"}))
    assert [mv["version"] for mv in s["model_versions"]] == ["1"]
    rm = ok(get_rm(api, name))["registered_model"]
    assert [mv["version"] for mv in rm["latest_versions"]] == ["1"]
    lv = ok(api.post("/registered-models/get-latest-versions", {"name": name}))
    assert [mv["version"] for mv in lv["model_versions"]] == ["1"]


def test_deleting_the_only_version_leaves_no_latest_versions(api):
    name = create_rm(api)
    create_mv(api, name)
    ok(delete_mv(api, name, 1))
    assert "latest_versions" not in ok(get_rm(api, name))["registered_model"]
    assert ok(api.post("/registered-models/get-latest-versions", {"name": name})) == {}


def test_deleting_a_version_removes_its_aliases(api):
    name = create_rm(api)
    create_mv(api, name)
    create_mv(api, name)
    ok(set_alias(api, name, "champion", 1))
    ok(set_alias(api, name, "other", 2))
    ok(delete_mv(api, name, 1))
    assert ok(get_rm(api, name))["registered_model"]["aliases"] == [
        {"alias": "other", "version": "2"}]
    r = api.get("/registered-models/alias", {"name": name, "alias": "champion"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE",
                 message="Registered model alias champion not found.")


def test_deleted_version_row_kept_redacted_in_the_database(api, server, run):
    """MLflow's soft delete: the row stays with stage `Deleted_Internal`, the source, run id,
    run link and description are redacted, storage_location and tags are kept."""
    name = create_rm(api)
    rid = run["run_id"]
    create_mv(api, name, f"runs:/{rid}/model", run_id=rid, description="d",
              run_link="http://example.invalid/r", tags=[{"key": "k", "value": "v"}])
    ok(transition(api, name, 1, "Production"))
    ok(delete_mv(api, name, 1))
    row = db_rows(
        server.backend_uri,
        "SELECT current_stage, source, run_id, run_link, description, user_id, "
        "status_message, storage_location, status FROM model_versions "
        "WHERE name = :name AND version = 1", name=name)[0]
    tags = db_rows(server.backend_uri,
                   'SELECT "key", value FROM model_version_tags WHERE name = :name', name=name)
    assert row == ("Deleted_Internal", "REDACTED-SOURCE-PATH", "REDACTED-RUN-ID",
                   "REDACTED-RUN-LINK", None, None, None, f"runs:/{rid}/model", "READY")
    assert tags == [("k", "v")]


def test_deleting_a_version_bumps_the_model_timestamp(api):
    name = create_rm(api)
    mv = create_mv(api, name)
    time.sleep(0.005)
    ok(delete_mv(api, name, 1))
    assert ok(get_rm(api, name))["registered_model"]["last_updated_timestamp"] > \
        mv["last_updated_timestamp"]


@pytest.mark.parametrize("method,path,body", [
    ("PATCH", "/model-versions/update", {"description": "x"}),
    ("POST", "/model-versions/set-tag", {"key": "k", "value": "v"}),
    ("DELETE", "/model-versions/delete-tag", {"key": "k"}),
    ("POST", "/model-versions/transition-stage", {"stage": "Staging"}),
    ("POST", "/registered-models/alias", {"alias": "a"}),
    ("GET", "/model-versions/get-download-uri", {}),
])
def test_deleted_version_refuses_further_calls(api, method, path, body):
    name = create_rm(api)
    create_mv(api, name)
    ok(delete_mv(api, name, 1))
    payload = {"name": name, "version": "1", **body}
    r = api.get(path, payload) if method == "GET" else api.request(method, path, json=payload)
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST",
                 message=f"Model Version (name={name}, version=1) not found")


# ---------------------------------------------------------------------------------------------
# stages
# ---------------------------------------------------------------------------------------------


def test_transition_stage_response_and_case_insensitive_stage(api):
    name = create_rm(api)
    mv = create_mv(api, name)
    time.sleep(0.005)
    out = ok(transition(api, name, 1, "staging"))["model_version"]
    assert out["current_stage"] == "Staging"
    assert out["last_updated_timestamp"] > mv["last_updated_timestamp"]
    assert stage_of(api, name, 1) == "Staging"


@pytest.mark.parametrize("stage", ["Bogus", "Deleted_Internal", ""])
def test_transition_to_unknown_stage_rejected(api, stage):
    name = create_rm(api)
    create_mv(api, name)
    r = transition(api, name, 1, stage, archive=False)
    if stage == "":
        assert_error(r, 400, "INVALID_PARAMETER_VALUE",
                     message_startswith="Missing value for required parameter 'stage'.")
    else:
        assert_error(r, 400, "INVALID_PARAMETER_VALUE",
                     message=f"Invalid Model Version stage: {stage}. {STAGES_MSG}")
    assert stage_of(api, name, 1) == "None"


@pytest.mark.parametrize("stage", ["Archived", "None"])
def test_archive_existing_versions_with_inactive_stage_is_500(api, stage):
    """MLflow quirk: this validation error has no error code, so it is a 500 INTERNAL_ERROR."""
    name = create_rm(api)
    create_mv(api, name)
    r = transition(api, name, 1, stage, archive=True)
    assert_user_error(r, 500, "INTERNAL_ERROR", message=(
        "Model version transition cannot archive existing model versions because "
        f"'{stage}' is not an Active stage. Valid stages are ['Staging', 'Production']"))


def test_transition_without_archiving_keeps_other_versions_in_the_stage(api):
    name = create_rm(api)
    for _ in range(2):
        create_mv(api, name)
    ok(transition(api, name, 1, "Production", archive=False))
    ok(transition(api, name, 2, "Production", archive=False))
    assert (stage_of(api, name, 1), stage_of(api, name, 2)) == ("Production", "Production")


def test_archive_existing_versions_archives_only_the_target_stage(api):
    name = create_rm(api)
    for _ in range(4):
        create_mv(api, name)
    ok(transition(api, name, 1, "Production"))
    ok(transition(api, name, 2, "Staging"))
    ok(transition(api, name, 3, "Production"))
    out = ok(transition(api, name, 4, "Production", archive=True))["model_version"]
    assert out["current_stage"] == "Production"
    assert [stage_of(api, name, v) for v in (1, 2, 3, 4)] == [
        "Archived", "Staging", "Archived", "Production"]


def test_archive_existing_versions_in_staging(api):
    name = create_rm(api)
    for _ in range(3):
        create_mv(api, name)
    ok(transition(api, name, 1, "Staging"))
    ok(transition(api, name, 2, "Production"))
    ok(transition(api, name, 3, "Staging", archive=True))
    assert [stage_of(api, name, v) for v in (1, 2, 3)] == ["Archived", "Production", "Staging"]


def test_archiving_touches_the_archived_versions(api):
    name = create_rm(api)
    create_mv(api, name)
    create_mv(api, name)
    first = ok(transition(api, name, 1, "Production"))["model_version"]
    time.sleep(0.005)
    second = ok(transition(api, name, 2, "Production", archive=True))["model_version"]
    archived = ok(get_mv(api, name, 1))["model_version"]
    assert archived["last_updated_timestamp"] == second["last_updated_timestamp"] > \
        first["last_updated_timestamp"]


def test_archive_existing_versions_on_the_version_already_in_stage_keeps_it(api):
    name = create_rm(api)
    create_mv(api, name)
    ok(transition(api, name, 1, "Production"))
    ok(transition(api, name, 1, "Production", archive=True))
    assert stage_of(api, name, 1) == "Production"


def test_versions_can_move_back_to_none(api):
    name = create_rm(api)
    create_mv(api, name)
    ok(transition(api, name, 1, "Archived"))
    ok(transition(api, name, 1, "None"))
    assert stage_of(api, name, 1) == "None"


@pytest.mark.parametrize("archive", [False, True])
def test_transition_unknown_version_is_404(api, archive):
    name = create_rm(api)
    create_mv(api, name)
    ok(transition(api, name, 1, "Production"))
    assert_error(transition(api, name, 9, "Production", archive=archive), 404,
                 "RESOURCE_DOES_NOT_EXIST",
                 message=f"Model Version (name={name}, version=9) not found")
    assert stage_of(api, name, 1) == "Production"  # nothing archived by the failed call


def test_transition_in_unknown_model_is_404(api):
    name = unique_name("missing")
    assert_error(transition(api, name, 1, "Production"), 404, "RESOURCE_DOES_NOT_EXIST",
                 message=f"Model Version (name={name}, version=1) not found")


@pytest.fixture
def staged_model(api) -> str:
    """v1 Archived, v2 Production, v3 Staging, v4 Staging, v5 None, v6 None."""
    name = create_rm(api)
    for _ in range(6):
        create_mv(api, name)
    for v, s in [(1, "Archived"), (2, "Production"), (3, "Staging"), (4, "Staging")]:
        ok(transition(api, name, v, s))
    return name


def test_get_latest_versions_all_stages(api, staged_model):
    r = ok(api.post("/registered-models/get-latest-versions", {"name": staged_model}))
    assert latest_by_stage(r["model_versions"]) == {
        "Archived": "1", "Production": "2", "Staging": "4", "None": "6"}
    assert all(set(mv) == MV_FIELDS for mv in r["model_versions"])


def test_get_latest_versions_for_given_stages(api, staged_model):
    r = ok(api.post("/registered-models/get-latest-versions",
                    {"name": staged_model, "stages": ["staging", "None"]}))
    assert latest_by_stage(r["model_versions"]) == {"Staging": "4", "None": "6"}


def test_get_latest_versions_over_get(api, staged_model):
    r = ok(api.get("/registered-models/get-latest-versions",
                   {"name": staged_model, "stages": ["Staging", "Production"]}))
    assert latest_by_stage(r["model_versions"]) == {"Staging": "4", "Production": "2"}


def test_get_latest_versions_client(client, staged_model):
    assert {(v.current_stage, v.version) for v in client.get_latest_versions(staged_model)} == {
        ("Archived", "1"), ("Production", "2"), ("Staging", "4"), ("None", "6")}
    assert [v.version for v in client.get_latest_versions(staged_model, stages=["Production"])] \
        == ["2"]


def test_get_latest_versions_carry_aliases(api, staged_model):
    ok(set_alias(api, staged_model, "champion", 2))
    r = ok(api.post("/registered-models/get-latest-versions",
                    {"name": staged_model, "stages": ["Production"]}))
    assert r["model_versions"][0]["aliases"] == ["champion"]


def test_get_latest_versions_bad_stage_rejected(api, staged_model):
    r = api.post("/registered-models/get-latest-versions",
                 {"name": staged_model, "stages": ["bad"]})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE",
                 message=f"Invalid Model Version stage: bad. {STAGES_MSG}")


def test_get_latest_versions_unknown_model_is_404(api):
    name = unique_name("missing")
    r = api.post("/registered-models/get-latest-versions", {"name": name})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST",
                 message=f"Registered Model with name={name} not found")


def test_get_latest_versions_of_model_without_versions_is_empty(api):
    name = create_rm(api)
    assert ok(api.post("/registered-models/get-latest-versions", {"name": name})) == {}


# ---------------------------------------------------------------------------------------------
# aliases
# ---------------------------------------------------------------------------------------------


def test_set_alias_and_get_by_alias(client):
    name = unique_name("rm")
    client.create_registered_model(name)
    client.create_model_version(name, "s3://bucket/k/1")
    client.create_model_version(name, "s3://bucket/k/2")
    client.set_registered_model_alias(name, "champion", 1)
    mv = client.get_model_version_by_alias(name, "champion")
    assert (mv.version, mv.aliases, mv.source) == ("1", ["champion"], "s3://bucket/k/1")
    assert client.get_registered_model(name).aliases == {"champion": "1"}


def test_get_by_alias_raw_json(api):
    name = create_rm(api)
    create_mv(api, name)
    ok(set_alias(api, name, "champion", 1))
    r = ok(api.get("/registered-models/alias", {"name": name, "alias": "champion"}))
    assert set(r) == {"model_version"}
    assert set(r["model_version"]) == MV_FIELDS | {"aliases"}
    assert r["model_version"]["aliases"] == ["champion"]


def test_set_alias_response_is_empty(api):
    name = create_rm(api)
    create_mv(api, name)
    assert ok(set_alias(api, name, "champion", 1)) == {}


def test_setting_an_alias_again_moves_it(api):
    name = create_rm(api)
    create_mv(api, name)
    create_mv(api, name)
    ok(set_alias(api, name, "champion", 1))
    ok(set_alias(api, name, "champion", 2))
    r = ok(api.get("/registered-models/alias", {"name": name, "alias": "champion"}))
    assert r["model_version"]["version"] == "2"
    assert "aliases" not in ok(get_mv(api, name, 1))["model_version"]
    assert ok(get_rm(api, name))["registered_model"]["aliases"] == [
        {"alias": "champion", "version": "2"}]


@pytest.mark.parametrize("alias,message", [
    ("latest", "'latest' alias name (case insensitive) is reserved."),
    ("LATEST", "'latest' alias name (case insensitive) is reserved."),
    ("v3", "Version alias name 'v3' is reserved."),
    ("V12", "Version alias name 'V12' is reserved."),
])
def test_reserved_alias_names_rejected(api, alias, message):
    name = create_rm(api)
    create_mv(api, name)
    assert_error(set_alias(api, name, alias, 1), 400, "INVALID_PARAMETER_VALUE", message=message)
    assert "aliases" not in ok(get_rm(api, name))["registered_model"]


@pytest.mark.parametrize("alias", ["v1x", "version1", "latest2", "a_b-C9"])
def test_alias_names_that_only_look_reserved_accepted(api, alias):
    name = create_rm(api)
    create_mv(api, name)
    ok(set_alias(api, name, alias, 1))
    r = ok(api.get("/registered-models/alias", {"name": name, "alias": alias}))
    assert r["model_version"]["version"] == "1"


@pytest.mark.parametrize("alias", ["bad alias", "a.b", "a/b", "champ!"])
def test_alias_with_bad_characters_rejected(api, alias):
    name = create_rm(api)
    create_mv(api, name)
    assert_error(set_alias(api, name, alias, 1), 400, "INVALID_PARAMETER_VALUE",
                 message=f"Invalid alias name: '{alias}'. {BAD_ALIAS_MSG}")


def test_alias_length_limit(api):
    name = create_rm(api)
    create_mv(api, name)
    ok(set_alias(api, name, "a" * 255, 1))
    assert_error(set_alias(api, name, "a" * 256, 1), 400, "INVALID_PARAMETER_VALUE",
                 message="'Registered model alias name' exceeds the maximum length of 255 "
                         "characters")


def test_empty_alias_rejected(api):
    name = create_rm(api)
    create_mv(api, name)
    assert_error(set_alias(api, name, "", 1), 400, "INVALID_PARAMETER_VALUE",
                 message_startswith="Missing value for required parameter 'alias'.")


def test_alias_to_unknown_version_is_404(api):
    name = create_rm(api)
    create_mv(api, name)
    assert_error(set_alias(api, name, "champion", 7), 404, "RESOURCE_DOES_NOT_EXIST",
                 message=f"Model Version (name={name}, version=7) not found")


def test_alias_in_unknown_model_is_404(api):
    name = unique_name("missing")
    assert_error(set_alias(api, name, "champion", 1), 404, "RESOURCE_DOES_NOT_EXIST",
                 message=f"Model Version (name={name}, version=1) not found")


def test_get_unknown_alias_is_400(api):
    """MLflow quirk: a missing alias is INVALID_PARAMETER_VALUE (400), not a 404."""
    name = create_rm(api)
    create_mv(api, name)
    r = api.get("/registered-models/alias", {"name": name, "alias": "nope"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE",
                 message="Registered model alias nope not found.")


def test_get_alias_in_unknown_model_is_404(api):
    name = unique_name("missing")
    r = api.get("/registered-models/alias", {"name": name, "alias": "champion"})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST",
                 message=f"Registered Model with name={name} not found")


def test_get_by_alias_latest_is_the_highest_version(api):
    """`latest` cannot be set but resolves: to the highest version across all stages."""
    name = create_rm(api)
    for _ in range(3):
        create_mv(api, name)
    ok(transition(api, name, 3, "Archived"))
    ok(transition(api, name, 1, "Production"))
    r = ok(api.get("/registered-models/alias", {"name": name, "alias": "latest"}))
    assert r["model_version"]["version"] == "3"


def test_get_by_alias_latest_without_versions_is_404(api):
    name = create_rm(api)
    r = api.get("/registered-models/alias", {"name": name, "alias": "latest"})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST",
                 message=f"Latest version not found for model {name}.")


def test_delete_alias(client):
    name = unique_name("rm")
    client.create_registered_model(name)
    client.create_model_version(name, "s3://bucket/k/1")
    client.set_registered_model_alias(name, "champion", 1)
    client.set_registered_model_alias(name, "keep", 1)
    client.delete_registered_model_alias(name, "champion")
    assert client.get_registered_model(name).aliases == {"keep": "1"}
    assert client.get_model_version(name, "1").aliases == ["keep"]


def test_delete_never_set_alias_is_ok(api):
    name = create_rm(api)
    r = api.request("DELETE", "/registered-models/alias", json={"name": name, "alias": "nope"})
    assert ok(r) == {}


def test_delete_alias_in_unknown_model_is_404(api):
    name = unique_name("missing")
    r = api.request("DELETE", "/registered-models/alias", json={"name": name, "alias": "a"})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST",
                 message=f"Registered Model with name={name} not found")


# ---------------------------------------------------------------------------------------------
# search_model_versions
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mv_corpus(api):
    """Models <p>a and <p>b, four versions each (a1..a4 then b1..b4, a few ms apart), version i
    from run r[i % 2] with source runs:/<run>/model<i> and tag i=<i>; plus a prompt version."""
    p = unique_name("mvs") + "-"
    exp = api.create_experiment()
    runs = [api.create_run(exp), api.create_run(exp)]
    for suffix in ("a", "b"):
        create_rm(api, p + suffix)
        for i in range(4):
            rid = runs[i % 2]
            create_mv(api, p + suffix, f"runs:/{rid}/model{i}", run_id=rid,
                      tags=[{"key": "i", "value": str(i)}])
            time.sleep(0.005)
    create_rm(api, p + "prompt", tags=[{"key": "mlflow.prompt.is_prompt", "value": "true"}])
    create_mv(api, p + "prompt", "dummy-source",
              tags=[{"key": "mlflow.prompt.is_prompt", "value": "true"},
                    {"key": "mlflow.prompt.text", "value": "hi"}])
    return {"p": p, "r0": runs[0], "r1": runs[1]}


def search_mvs(api, **params):
    return api.get("/model-versions/search", params)


def mv_ids(r, prefix) -> list[str]:
    return [m["name"].removeprefix(prefix) + m["version"]
            for m in ok(r).get("model_versions", [])]


@pytest.mark.parametrize("flt,expected", [
    ("name = '{p}a'", ["a4", "a3", "a2", "a1"]),
    ("name LIKE '{p}%'", ["b4", "b3", "b2", "b1", "a4", "a3", "a2", "a1"]),
    ("run_id = '{r0}'", ["b3", "b1", "a3", "a1"]),
    ("run_id IN ('{r0}', '{r1}') AND name = '{p}b'", ["b4", "b3", "b2", "b1"]),
    ("run_id NOT IN ('{r0}') AND name = '{p}b'", ["b4", "b2"]),
    ("name IN ('{p}a', '{p}b') AND version_number = 1", ["b1", "a1"]),
    ("name = '{p}a' AND version_number > 2", ["a4", "a3"]),
    ("name = '{p}a' AND version_number <= 2", ["a2", "a1"]),
    ("name = '{p}a' AND version_number != 2", ["a4", "a3", "a1"]),
    ("name = '{p}a' AND version_number = '3'", ["a3"]),  # a quoted number is accepted
    ("source_path = 'runs:/{r0}/model0'", ["b1", "a1"]),
    ("source_path LIKE '%model3' AND name ILIKE '{P}A'", ["a4"]),
    ("tags.i = '1' AND name LIKE '{p}%'", ["b2", "a2"]),
    ("name = '{p}a' AND tags.`i` != '0'", ["a4", "a3", "a2"]),
    ("name = '{p}a' AND tag.i LIKE '%2%'", ["a3"]),
    ("name = '{p}prompt'", []),  # prompts are excluded
])
def test_search_model_versions_filter(api, mv_corpus, flt, expected):
    c = mv_corpus
    f = flt.format(p=c["p"], P=c["p"].upper(), r0=c["r0"], r1=c["r1"])
    assert mv_ids(search_mvs(api, filter=f), c["p"]) == expected


def test_search_model_versions_finds_prompt_versions_by_the_prompt_tag(api, mv_corpus):
    p = mv_corpus["p"]
    r = search_mvs(api, filter=f"name = '{p}prompt' AND tags.`mlflow.prompt.is_prompt` = 'true'")
    assert mv_ids(r, p) == ["prompt1"]


@pytest.mark.parametrize("order_by,expected", [
    (["version_number ASC"], ["a1", "b1", "a2", "b2", "a3", "b3", "a4", "b4"]),
    (["name DESC", "version_number ASC"], ["b1", "b2", "b3", "b4", "a1", "a2", "a3", "a4"]),
    (["creation_timestamp DESC"], ["b4", "b3", "b2", "b1", "a4", "a3", "a2", "a1"]),
    (["last_updated_timestamp"], ["a1", "a2", "a3", "a4", "b1", "b2", "b3", "b4"]),
    (["name"], ["a4", "a3", "a2", "a1", "b4", "b3", "b2", "b1"]),
])
def test_search_model_versions_order_by(api, mv_corpus, order_by, expected):
    r = search_mvs(api, filter=f"name LIKE '{mv_corpus['p']}%'", order_by=order_by)
    assert mv_ids(r, mv_corpus["p"]) == expected


def test_search_model_versions_bad_order_by_key_rejected(api):
    assert_error(search_mvs(api, order_by=["run_id"]), 400, "INVALID_PARAMETER_VALUE",
                 message_startswith="Invalid attribute key 'run_id' specified.")


def test_search_model_versions_duplicate_order_by_is_500(api):
    """MLflow quirk: duplicate order_by fields raise without an error code."""
    assert_user_error(search_mvs(api, order_by=["name", "name DESC"]), 500, "INTERNAL_ERROR",
                      message="`order_by` contains duplicate fields: ['name', 'name DESC']")


def test_search_model_versions_pages(api, mv_corpus):
    p = mv_corpus["p"]
    flt = f"name LIKE '{p}%'"
    seen, token, tokens = [], None, []
    while True:
        params = {"filter": flt, "max_results": 3}
        if token:
            params["page_token"] = token
        r = ok(search_mvs(api, **params))
        seen += [m["name"].removeprefix(p) + m["version"] for m in r["model_versions"]]
        token = r.get("next_page_token")
        if not token:
            break
        tokens.append(decode_token(token))
    assert seen == ["b4", "b3", "b2", "b1", "a4", "a3", "a2", "a1"]
    assert tokens == [{"offset": 3}, {"offset": 6}]


def test_search_model_versions_client(client, mv_corpus):
    p = mv_corpus["p"]
    got = client.search_model_versions(f"name = '{p}a'", order_by=["version_number ASC"])
    assert [(m.name, m.version, m.tags) for m in got] == [
        (p + "a", str(i + 1), {"i": str(i)}) for i in range(4)]


@pytest.mark.parametrize("max_results,message", [
    (0, "Invalid value for max_results. It must be a positive integer, but got 0"),
    (200001, "Invalid value \"200001\" for parameter 'max_results' supplied"),
])
def test_search_model_versions_max_results_limits(api, max_results, message):
    r = search_mvs(api, max_results=max_results, filter="name = 'nothing'")
    body = assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    assert body["message"].startswith(message), body["message"]


def test_search_model_versions_max_results_200000_accepted(api):
    assert ok(search_mvs(api, max_results=200000, filter="name = 'nothing-here'")) == {}


@pytest.mark.parametrize("flt,message", [
    ("version_number = 1.5", "Invalid value for numeric attribute 'version_number': 1.5"),
    ("version_number LIKE '1'", "Invalid comparator for attribute version_number: LIKE"),
    ("source_path IN ('a')", "Only ['name', 'run_id'] attributes support comparison with a "
                             "list of quoted string values."),
    ("run_id > 'a'", "Invalid comparator for attribute: >"),
    ("current_stage = 'None'", "Invalid attribute key 'current_stage' specified."),
    ("name = 'a' OR name = 'b'", "Invalid clause(s) in filter string: OR"),
    ("tags.i IS NULL", "IS NULL / IS NOT NULL is not supported for model version search."),
    ("tags.i > '1'", "Invalid comparator for tag: >"),
])
def test_search_model_versions_bad_filter_rejected(api, flt, message):
    body = assert_error(search_mvs(api, filter=flt), 400, "INVALID_PARAMETER_VALUE")
    assert body["message"].startswith(message), body["message"]


def test_search_model_versions_is_get_only(api):
    r = api.post("/model-versions/search", {"filter": "name = 'x'"})
    assert r.status_code == 405


# ---------------------------------------------------------------------------------------------
# model version `source`: what MLflow (after its path-traversal CVE fixes) accepts and refuses
# ---------------------------------------------------------------------------------------------


def test_local_source_inside_the_runs_artifact_dir_accepted(api, run):
    name = create_rm(api)
    for src in (run["artifact_uri"], run["artifact_uri"] + "/model",
                "file://" + run["artifact_uri"] + "/model"):
        mv = create_mv(api, name, src, run_id=run["run_id"])
        assert mv["source"] == src


def test_runs_source_with_matching_run_id_accepted(api, run):
    name = create_rm(api)
    mv = create_mv(api, name, f"runs:/{run['run_id']}/model", run_id=run["run_id"])
    assert mv["run_id"] == run["run_id"]


@pytest.mark.parametrize("src", ["s3://bucket/key", "gs://bucket/a/b", "dbfs:/x/y"])
def test_object_store_source_without_run_accepted(api, src):
    name = create_rm(api)
    assert create_mv(api, name, src)["source"] == src


def test_runs_source_of_an_unknown_run_accepted(api):
    """MLflow quirk: a `runs:/` source only has to name the run given as run_id; the run is
    not looked up."""
    name = create_rm(api)
    mv = create_mv(api, name, f"runs:/{MISSING_RUN}/model", run_id=MISSING_RUN)
    assert mv["run_id"] == MISSING_RUN


def _refused(api, name, body, message):
    r = api.post("/model-versions/create", {"name": name, **body})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", message=message)
    assert "latest_versions" not in ok(get_rm(api, name))["registered_model"]


@pytest.mark.parametrize("case", [
    "local_without_run_id", "local_of_another_run", "etc_passwd", "file_uri_outside",
    "file_uri_without_run_id", "relative_path",
])
def test_local_source_outside_the_runs_artifact_dir_refused(api, run, case):
    """MLflow quirk: with a run_id the message names the resolved local *path* (a `file://`
    source is shown without its scheme); without one it echoes the source."""
    other = api.create_run(run["experiment_id"])
    rid, au = run["run_id"], run["artifact_uri"]
    body, shown = {
        "local_without_run_id": ({"source": au + "/model"}, au + "/model"),
        "local_of_another_run": ({"source": au + "/model", "run_id": other}, au + "/model"),
        "etc_passwd": ({"source": "/etc/passwd", "run_id": rid}, "/etc/passwd"),
        "file_uri_outside": ({"source": "file:///etc/passwd", "run_id": rid}, "/etc/passwd"),
        "file_uri_without_run_id": ({"source": "file:///etc/passwd"}, "file:///etc/passwd"),
        "relative_path": ({"source": "relative/path"}, "relative/path"),
    }[case]
    name = create_rm(api)
    _refused(api, name, body, f"Invalid model version source: '{shown}'. {LOCAL_SOURCE_MSG}")


@pytest.mark.parametrize("escape", ["/../../{other}/artifacts",
                                    "/a/%2e%2e/%2e%2e/%2e%2e/{other}"])
def test_local_source_escaping_the_runs_artifact_dir_refused(api, run, escape):
    """`..` (also percent-encoded) out of the run's artifact dir into a sibling run's. MLflow
    quirk: the message names the *resolved* path, not the source as sent."""
    other = api.create_run(run["experiment_id"])
    src = run["artifact_uri"] + escape.format(other=other)
    exp_dir = Path(run["artifact_uri"]).resolve().parent.parent
    resolved = exp_dir / other / ("artifacts" if escape.endswith("artifacts") else "")
    name = create_rm(api)
    _refused(api, name, {"source": src, "run_id": run["run_id"]},
             f"Invalid model version source: '{str(resolved).rstrip('/')}'. {LOCAL_SOURCE_MSG}")


def test_local_source_with_unknown_run_id_refused(api, run):
    name = create_rm(api)
    src = run["artifact_uri"] + "/model"
    _refused(api, name, {"source": src, "run_id": MISSING_RUN},
             f"Invalid model version source: '{src}'. {RUN_ID_SOURCE_MSG}")


@pytest.mark.parametrize("src", [
    "s3://bucket/a/../../b", "s3://bucket/a%2F..%2F..%2Fb", "s3://bucket/a%00b",
    "s3://bucket", "s3://bucket/",
])
def test_source_with_relative_path_parts_refused(api, src):
    """Also MLflow quirk: a bucket with an empty path is refused by the same rule."""
    name = create_rm(api)
    _refused(api, name, {"source": src},
             f"Invalid model version source: '{src}'. {RELATIVE_SOURCE_MSG}")


def test_runs_source_with_traversal_refused(api, run):
    name = create_rm(api)
    src = f"runs:/{run['run_id']}/../../x"
    _refused(api, name, {"source": src, "run_id": run["run_id"]},
             f"Invalid model version source: '{src}'. {RELATIVE_SOURCE_MSG}")


@pytest.mark.parametrize("with_run_id", ["none", "other"])
def test_runs_source_must_name_the_given_run(api, run, with_run_id):
    name = create_rm(api)
    src = f"runs:/{run['run_id']}/model"
    body = {"source": src}
    if with_run_id == "other":
        body["run_id"] = api.create_run(run["experiment_id"])
    _refused(api, name, body, f"Invalid model version source: '{src}'. {RUN_ID_SOURCE_MSG}")


@pytest.mark.parametrize("scheme,src", [
    ("ftp", "ftp://198.51.100.7/model"),
    ("http", "http://127.0.0.1:9/model"),
    ("https", "https://example.invalid/model"),
])
def test_source_naming_another_host_refused(api, scheme, src):
    """The server never connects anywhere for this: the URI is refused up front."""
    name = create_rm(api)
    _refused(api, name, {"source": src}, (
        f"'source' cannot use the '{scheme}' scheme: the '{scheme}' scheme addresses a host "
        "other than the tracking server's configured artifact storage, so the server would "
        "connect to the host named in the URI. Set the "
        "MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES environment variable on the server to "
        "allow it."))


def test_local_source_checked_before_the_model_exists(api):
    r = api.post("/model-versions/create", {"name": unique_name("missing"), "source": "/etc"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE",
                 message=f"Invalid model version source: '/etc'. {LOCAL_SOURCE_MSG}")


# --- on the artifact-proxying server: mlflow-artifacts:/ and models:/ sources ---------------


def test_proxied_run_artifact_source_accepted(aapi, proxied_run):
    name = create_rm(aapi)
    src = proxied_run["artifact_uri"] + "/models"
    assert src.startswith("mlflow-artifacts:/")
    mv = create_mv(aapi, name, src, run_id=proxied_run["run_id"])
    assert (mv["source"], mv["run_id"]) == (src, proxied_run["run_id"])
    r = aapi.get("/model-versions/get-download-uri", {"name": name, "version": "1"})
    assert ok(r) == {"artifact_uri": src}


@pytest.mark.parametrize("with_run_id", ["none", "other"])
def test_proxied_run_artifact_source_must_belong_to_the_run(aapi, proxied_run, with_run_id):
    name = create_rm(aapi)
    src = proxied_run["artifact_uri"] + "/models"
    body = {"source": src}
    if with_run_id == "other":
        body["run_id"] = aapi.create_run(proxied_run["experiment_id"])
    _refused(aapi, name, body, f"Invalid model version source: '{src}'. {RUN_ID_SOURCE_MSG}")


def test_proxied_source_with_traversal_refused(aapi, proxied_run):
    name = create_rm(aapi)
    src = proxied_run["artifact_uri"] + "/../../x"
    _refused(aapi, name, {"source": src, "run_id": proxied_run["run_id"]},
             f"Invalid model version source: '{src}'. {RELATIVE_SOURCE_MSG}")


def test_local_path_refused_when_the_run_has_a_proxied_root(aapi, artifact_server, proxied_run):
    name = create_rm(aapi)
    src = str(artifact_server.destination_dir / proxied_run["experiment_id"]
              / proxied_run["run_id"] / "artifacts" / "models")
    _refused(aapi, name, {"source": src, "run_id": proxied_run["run_id"]},
             f"Invalid model version source: '{src}'. {LOCAL_SOURCE_MSG}")


def test_logged_model_source_with_model_id(aapi, logged_model):
    name = create_rm(aapi)
    mid = logged_model["model_id"]
    mv = create_mv(aapi, name, f"models:/{mid}", model_id=mid)
    # run_id is taken from the logged model; model_id is not part of the JSON
    assert (mv["source"], mv["run_id"]) == (f"models:/{mid}", logged_model["source_run_id"])
    assert set(mv) == MV_FIELDS
    r = aapi.get("/model-versions/get-download-uri", {"name": name, "version": "1"})
    assert ok(r) == {"artifact_uri": logged_model["artifact_uri"]}


def test_logged_model_artifact_location_source_with_model_id(aapi, logged_model):
    name = create_rm(aapi)
    src = logged_model["artifact_uri"]
    mv = create_mv(aapi, name, src, model_id=logged_model["model_id"])
    assert (mv["source"], mv["run_id"]) == (src, logged_model["source_run_id"])


@pytest.mark.parametrize("case", ["no_model_id", "run_id_only", "other_model_id"])
def test_logged_model_source_must_match_model_id(aapi, logged_model, case):
    name = create_rm(aapi)
    mid = logged_model["model_id"]
    body = {"source": f"models:/{mid}", **{
        "no_model_id": {},
        "run_id_only": {"run_id": logged_model["source_run_id"]},
        "other_model_id": {"model_id": "m-" + "0" * 32},
    }[case]}
    _refused(aapi, name, body, f"Invalid model version source: 'models:/{mid}'. "
                               f"{MODEL_ID_SOURCE_MSG}")


@pytest.fixture
def source_model(aapi, logged_model) -> dict:
    """A registered model with two versions of ``logged_model``: v1 Staging with alias
    `champ`, v2 in None."""
    name = create_rm(aapi)
    mid = logged_model["model_id"]
    create_mv(aapi, name, f"models:/{mid}", model_id=mid)
    create_mv(aapi, name, f"models:/{mid}", model_id=mid)
    ok(transition(aapi, name, 1, "Staging"))
    ok(set_alias(aapi, name, "champ", 1))
    return {"name": name, "logged": logged_model}


@pytest.mark.parametrize("ref,version", [("/1", "1"), ("@champ", "1"), ("/Staging", "1"),
                                         ("/latest", "2")])
def test_registered_model_uri_source_is_pinned_to_a_version(aapi, source_model, ref, version):
    """A `models:/<name>...` source is rewritten to `models:/<name>/<version>` and inherits
    that version's run id and download location."""
    src_name = source_model["name"]
    name = create_rm(aapi)
    mv = create_mv(aapi, name, f"models:/{src_name}{ref}")
    assert mv["source"] == f"models:/{src_name}/{version}"
    assert mv["run_id"] == source_model["logged"]["source_run_id"]
    r = aapi.get("/model-versions/get-download-uri", {"name": name, "version": "1"})
    assert ok(r) == {"artifact_uri": source_model["logged"]["artifact_uri"]}


def test_registered_model_uri_with_a_host_refused(aapi, source_model):
    name = create_rm(aapi)
    src = f"models://somehost/{source_model['name']}/1"
    _refused(aapi, name, {"source": src}, (
        f"Invalid model version source: '{src}'. Registered model sources must use the "
        "active model registry."))


def test_registered_model_uri_of_unknown_model_is_404(aapi):
    name = create_rm(aapi)
    missing = unique_name("missing")
    r = aapi.post("/model-versions/create", {"name": name, "source": f"models:/{missing}/1"})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST",
                 message=f"Registered Model with name={missing} not found")


# ---------------------------------------------------------------------------------------------
# logged model <-> model version links (the `mlflow.modelVersions` tag)
# ---------------------------------------------------------------------------------------------


def model_versions_tag(aapi, model_id) -> list | None:
    info = ok(aapi.get(f"/logged-models/{model_id}"))["model"]["info"]
    tags = {t["key"]: t["value"] for t in info.get("tags", [])}
    raw = tags.get("mlflow.modelVersions")
    return None if raw is None else json.loads(raw)


def test_server_records_the_version_on_the_logged_model(aapi, logged_model):
    """The server writes the version as a JSON *number*."""
    name = create_rm(aapi)
    mid = logged_model["model_id"]
    assert model_versions_tag(aapi, mid) is None
    create_mv(aapi, name, f"models:/{mid}", model_id=mid)
    assert model_versions_tag(aapi, mid) == [{"name": name, "version": 1}]
    info = ok(aapi.get(f"/logged-models/{mid}"))["model"]["info"]
    raw = {t["key"]: t["value"] for t in info["tags"]}["mlflow.modelVersions"]
    assert raw == json.dumps([{"name": name, "version": 1}])


def test_each_new_version_is_appended_to_the_logged_model_tag(aapi, logged_model):
    a, b = create_rm(aapi), create_rm(aapi)
    mid = logged_model["model_id"]
    for name in (a, a, b):
        create_mv(aapi, name, f"models:/{mid}", model_id=mid)
    assert model_versions_tag(aapi, mid) == [
        {"name": a, "version": 1}, {"name": a, "version": 2}, {"name": b, "version": 1}]


def test_version_without_model_id_leaves_the_logged_model_alone(aapi, logged_model, proxied_run):
    name = create_rm(aapi)
    create_mv(aapi, name, proxied_run["artifact_uri"] + "/models", run_id=proxied_run["run_id"])
    assert model_versions_tag(aapi, logged_model["model_id"]) is None


def test_register_model_records_the_version_twice(artifact_tracking, artifact_client,
                                                   logged_model):
    """MLflow quirk: the server appends {"version": 1} and then the 3.18 client appends its own
    {"version": "1"} (a string) to the tag it read back, so each registration through
    `mlflow.register_model` shows up twice."""
    import mlflow

    name = unique_name("rm")
    mid = logged_model["model_id"]
    mv = mlflow.register_model(f"models:/{mid}", name)
    assert (mv.version, mv.source, mv.run_id) == ("1", f"models:/{mid}",
                                                   logged_model["source_run_id"])
    tag = artifact_client.get_logged_model(mid).tags["mlflow.modelVersions"]
    assert json.loads(tag) == [{"name": name, "version": 1}, {"name": name, "version": "1"}]


# ---------------------------------------------------------------------------------------------
# concurrency
# ---------------------------------------------------------------------------------------------


def test_concurrent_registration_numbers_versions_without_gaps_or_duplicates(server, api, run):
    from mlflow import MlflowClient

    threads, per_thread = 8, 4
    name = create_rm(api)
    rid = run["run_id"]
    barrier = threading.Barrier(threads)

    def register(i):
        c = MlflowClient(server.url)
        barrier.wait(timeout=30)
        return [c.create_model_version(name, f"runs:/{rid}/m{i}-{j}", run_id=rid).version
                for j in range(per_thread)]

    with ThreadPoolExecutor(threads) as ex:
        returned = [v for vs in ex.map(register, range(threads)) for v in vs]
    n = threads * per_thread
    assert sorted(int(v) for v in returned) == list(range(1, n + 1))
    s = ok(api.get("/model-versions/search", {"filter": f"name = '{name}'"}))
    assert sorted(int(m["version"]) for m in s["model_versions"]) == list(range(1, n + 1))
    assert len({m["source"] for m in s["model_versions"]}) == n


# ---------------------------------------------------------------------------------------------
# the SQLite file: a registry written by the server reads in MLflow 3.18, and the reverse
# ---------------------------------------------------------------------------------------------


def _write_registry(c, name: str) -> None:
    """The same registry written through any client: 3 versions, stages, alias, tags, v3
    deleted."""
    c.create_registered_model(name, tags={"team": "ml"}, description="rm-desc")
    c.create_model_version(name, "s3://bucket/m/1", tags={"k": "v"}, description="first")
    c.create_model_version(name, "s3://bucket/m/2")
    c.create_model_version(name, "s3://bucket/m/3")
    c.transition_model_version_stage(name, "1", "Production")
    c.transition_model_version_stage(name, "2", "Staging")
    c.set_registered_model_alias(name, "champion", "2")
    c.delete_model_version(name, "3")


def _check_registry(c, name: str) -> None:
    """Versions are compared as strings: the mlflow package's SQL store hands out ints where
    the REST client has strings."""
    from mlflow.exceptions import MlflowException

    rm = c.get_registered_model(name)
    assert (rm.description, rm.tags) == ("rm-desc", {"team": "ml"})
    assert {k: str(v) for k, v in rm.aliases.items()} == {"champion": "2"}
    assert {(str(v.version), v.current_stage) for v in rm.latest_versions} == {
        ("1", "Production"), ("2", "Staging")}
    v1 = c.get_model_version(name, "1")
    assert (v1.source, v1.description, v1.tags, v1.current_stage) == (
        "s3://bucket/m/1", "first", {"k": "v"}, "Production")
    assert str(c.get_model_version_by_alias(name, "champion").version) == "2"
    assert [str(m.version) for m in c.search_model_versions(f"name = '{name}'")] == ["2", "1"]
    with pytest.raises(MlflowException) as e:
        c.get_model_version(name, "3")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert [m.name for m in c.search_registered_models(f"name = '{name}'")] == [name]
    # numbering continues after the soft-deleted v3
    assert str(c.create_model_version(name, "s3://bucket/m/4").version) == "4"


def test_registry_round_trips_through_the_sqlite_file(own_server, tmp_path):
    """Both directions on one server (one start-up instead of two): a registry written by the
    mlflow package is served by the server; then a registry written through the server reads
    back in the mlflow package once the server has stopped."""
    from mlflow import MlflowClient

    db = tmp_path / "registry.db"
    by_package, by_server = unique_name("via-package"), unique_name("via-server")
    _write_registry(MlflowClient(tracking_uri=sqlite_uri(db)), by_package)

    s = own_server(db_path=db)
    over_http = MlflowClient(s.url)
    _check_registry(over_http, by_package)  # mlflow package -> server
    _write_registry(over_http, by_server)
    s.stop()

    _check_registry(MlflowClient(tracking_uri=sqlite_uri(db)), by_server)  # server -> package


# ---------------------------------------------------------------------------------------------
# end to end: the seed course's calls, and models:/ URIs through mlflow.pyfunc.load_model
# ---------------------------------------------------------------------------------------------

SEED_NAME = "nyc-taxi-regressor"


@pytest.fixture(scope="module")
def diabetes():
    from sklearn.datasets import load_diabetes

    return load_diabetes(return_X_y=True)


@pytest.fixture(scope="module")
def seed(artifact_server, diabetes):
    """The seed workflow on the artifact server, step by step, recording what each call saw.

    Two runs each log a Ridge model with `mlflow.sklearn.log_model(..., name="models")`
    (model A: alpha 0.5, model B: alpha 5.0) and register it under "nyc-taxi-regressor"
    (v1 = A, v2 = B). Then: get_latest_versions; both to Staging without archiving; v1 to
    Production without archiving; v2 to Production *with* archiving; a description on v2; and
    the alias `champion` on v1.
    """
    import mlflow
    from mlflow import MlflowClient
    from sklearn.linear_model import Ridge

    X, y = diabetes
    rec = {"models": {}}
    with tracking_at(artifact_server.url):
        client = MlflowClient(artifact_server.url)
        exp_id = client.create_experiment(unique_name("nyc-taxi-experiment"))
        mlflow.set_experiment(experiment_id=exp_id)
        for key, alpha in (("A", 0.5), ("B", 5.0)):
            model = Ridge(alpha=alpha).fit(X, y)
            with mlflow.start_run() as run:
                info = mlflow.sklearn.log_model(model, name="models",
                                                pip_requirements=["scikit-learn"])
            rec["models"][key] = {"model": model, "run_id": run.info.run_id, "info": info}

        def stages():
            return {v: client.get_model_version(SEED_NAME, v).current_stage for v in ("1", "2")}

        for key in ("A", "B"):
            run_id = rec["models"][key]["run_id"]
            rec["mv_" + key] = mlflow.register_model(model_uri=f"runs:/{run_id}/models",
                                                     name=SEED_NAME)
        rec["latest_initial"] = client.get_latest_versions(name=SEED_NAME)
        for v in ("1", "2"):
            client.transition_model_version_stage(name=SEED_NAME, version=v, stage="Staging",
                                                  archive_existing_versions=False)
        rec["after_staging"] = stages()
        client.transition_model_version_stage(name=SEED_NAME, version=1, stage="Production",
                                              archive_existing_versions=False)
        rec["after_v1_production"] = stages()
        rec["transition_v2"] = client.transition_model_version_stage(
            name=SEED_NAME, version=2, stage="Production", archive_existing_versions=True)
        rec["after_v2_production"] = stages()
        rec["description"] = (f"The model version 2 was transitioned to Production on "
                              f"{datetime.today().date()}")
        rec["updated"] = client.update_model_version(name=SEED_NAME, version=2,
                                                     description=rec["description"])
        client.set_registered_model_alias(SEED_NAME, "champion", 1)
        rec["latest_final"] = client.get_latest_versions(name=SEED_NAME)
    return rec


def test_seed_register_model_from_runs_uri(seed):
    """`runs:/<run>/models` of a 3.x logged model registers `models:/<model id>`."""
    for key, version in (("A", "1"), ("B", "2")):
        mv, m = seed["mv_" + key], seed["models"][key]
        assert (mv.name, mv.version, mv.status, mv.current_stage) == (
            SEED_NAME, version, "READY", "None")
        assert mv.source == f"models:/{m['info'].model_id}"
        assert mv.run_id == m["run_id"]


def test_seed_get_latest_versions(seed):
    assert [(v.version, v.current_stage) for v in seed["latest_initial"]] == [("2", "None")]


def test_seed_transition_without_archiving(seed):
    assert seed["after_staging"] == {"1": "Staging", "2": "Staging"}
    assert seed["after_v1_production"] == {"1": "Production", "2": "Staging"}


def test_seed_transition_with_archiving(seed):
    assert seed["transition_v2"].current_stage == "Production"
    assert seed["after_v2_production"] == {"1": "Archived", "2": "Production"}
    assert {(v.version, v.current_stage) for v in seed["latest_final"]} == {
        ("1", "Archived"), ("2", "Production")}


def test_seed_update_model_version_description(seed, artifact_client):
    assert seed["updated"].description == seed["description"]
    assert artifact_client.get_model_version(SEED_NAME, "2").description == seed["description"]


def test_seed_alias(seed, artifact_client):
    mv = artifact_client.get_model_version_by_alias(SEED_NAME, "champion")
    assert (mv.version, mv.aliases) == ("1", ["champion"])
    assert artifact_client.get_registered_model(SEED_NAME).aliases == {"champion": "1"}


def test_seed_search_registered_models(seed, artifact_client):
    (rm,) = artifact_client.search_registered_models(filter_string=f"name='{SEED_NAME}'")
    assert rm.name == SEED_NAME
    assert {(v.version, v.current_stage) for v in rm.latest_versions} == {
        ("1", "Archived"), ("2", "Production")}


def test_seed_search_model_versions(seed, artifact_client):
    got = artifact_client.search_model_versions(f"name='{SEED_NAME}'")
    assert [(m.version, m.run_id) for m in got] == [
        ("2", seed["models"]["B"]["run_id"]), ("1", seed["models"]["A"]["run_id"])]


def test_seed_download_uri_is_the_logged_models_location(seed, aapi):
    info = seed["models"]["A"]["info"]
    r = aapi.get("/model-versions/get-download-uri", {"name": SEED_NAME, "version": "1"})
    assert ok(r) == {"artifact_uri": info.artifact_path}


def test_seed_registration_links_back_from_the_logged_model(seed, artifact_client):
    """See test_register_model_records_the_version_twice for the duplicate entry."""
    for key, version in (("A", 1), ("B", 2)):
        tag = artifact_client.get_logged_model(seed["models"][key]["info"].model_id).tags[
            "mlflow.modelVersions"]
        assert json.loads(tag) == [{"name": SEED_NAME, "version": version},
                                   {"name": SEED_NAME, "version": str(version)}]


@pytest.mark.parametrize("uri,key", [
    ("models:/nyc-taxi-regressor/Production", "B"),
    ("models:/nyc-taxi-regressor/production", "B"),
    ("models:/nyc-taxi-regressor@champion", "A"),
    ("models:/nyc-taxi-regressor/1", "A"),
    ("models:/nyc-taxi-regressor/2", "B"),
    ("models:/nyc-taxi-regressor/latest", "B"),
])
def test_seed_load_model_by_registry_uri(artifact_tracking, seed, diabetes, uri, key):
    import mlflow

    X, _ = diabetes
    loaded = mlflow.pyfunc.load_model(uri)
    assert loaded.metadata.model_id == seed["models"][key]["info"].model_id
    assert np.allclose(np.asarray(loaded.predict(X[:20])),
                       seed["models"][key]["model"].predict(X[:20]))


def test_seed_load_model_by_unknown_alias_fails(artifact_tracking, seed):
    import mlflow
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException) as e:
        mlflow.pyfunc.load_model(f"models:/{SEED_NAME}@nobody")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"


def test_seed_delete_model_version_and_rename(artifact_tracking, artifact_client, seed):
    """delete_model_version and rename_registered_model on a copy of the seed model."""
    import mlflow

    name, new = unique_name("nyc-copy"), unique_name("nyc-renamed")
    run_id = seed["models"]["A"]["run_id"]
    for _ in range(2):
        mlflow.register_model(model_uri=f"runs:/{run_id}/models", name=name)
    artifact_client.delete_model_version(name=name, version=1)
    assert [m.version for m in artifact_client.search_model_versions(f"name='{name}'")] == ["2"]
    artifact_client.rename_registered_model(name=name, new_name=new)
    assert [m.version for m in artifact_client.search_model_versions(f"name='{new}'")] == ["2"]
    assert artifact_client.search_model_versions(f"name='{name}'") == []
