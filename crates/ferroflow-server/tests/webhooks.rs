//! Webhooks end to end: the REST routes through the real router and SQLite store, and
//! deliveries to a tiny HTTP/1.1 receiver on 127.0.0.1:0 (hand-written, so every header and
//! byte of the body is what went over the wire). Waits are deadlines on a watch channel,
//! never sleeps.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use ferroflow_server::webhooks::{Fernet, WebhookDispatcher, WebhookOptions};
use ferroflow_server::{router, AppState, ServerConfig};
use ferroflow_store::webhooks::WebhookStore;
use ferroflow_store_sql::{SqlStore, SqliteOptions};
use hmac::{Hmac, Mac};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

const KEY: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
const DEADLINE: Duration = Duration::from_secs(20);

// ------------------------------------------------------------------------------ receiver

#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HashMap<String, String>,
    body: String,
}

/// Answers each request with the next queued status (200 when the queue is empty).
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
    statuses: Arc<Mutex<VecDeque<u16>>>,
    count: tokio::sync::watch::Receiver<usize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_string();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Received {
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

async fn receiver() -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let statuses: Arc<Mutex<VecDeque<u16>>> = Arc::default();
    let (tx, count) = tokio::sync::watch::channel(0usize);
    let (g, st) = (got.clone(), statuses.clone());
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (g, st, tx) = (g.clone(), st.clone(), tx.clone());
            tokio::spawn(async move {
                let Some(req) = read_request(&mut stream).await else {
                    return;
                };
                let status = st.lock().expect("lock").pop_front().unwrap_or(200);
                let n = {
                    let mut all = g.lock().expect("lock");
                    all.push(req);
                    all.len()
                };
                let body = format!("answer-{n}");
                let resp = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(resp.as_bytes()).await;
                let _ = stream.shutdown().await;
                tx.send_replace(n);
            });
        }
    });
    Receiver {
        url,
        got,
        statuses,
        count,
        task,
    }
}

impl Receiver {
    fn answer_with(&self, statuses: &[u16]) {
        self.statuses
            .lock()
            .expect("lock")
            .extend(statuses.iter().copied());
    }

    /// Waits (up to the deadline) until `n` requests have arrived; returns them all.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        let mut count = self.count.clone();
        let reached = tokio::time::timeout(DEADLINE, count.wait_for(|c| *c >= n)).await;
        assert!(
            matches!(reached, Ok(Ok(_))),
            "expected {n} requests, got {}",
            self.got.lock().expect("lock").len()
        );
        self.got.lock().expect("lock").clone()
    }
}

// ---------------------------------------------------------------------------------- server

struct TestServer {
    app: axum::Router,
    state: AppState,
    store: SqlStore,
    dir: std::path::PathBuf,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Loopback allowed (MLflow's MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS), http allowed, fast backoff.
fn test_options() -> WebhookOptions {
    WebhookOptions {
        allowed_schemes: vec!["http".into(), "https".into()],
        allow_private_ips: true,
        backoff_factor: Duration::from_millis(5),
        backoff_jitter: Duration::ZERO,
        request_timeout: Duration::from_secs(10),
        secret_encryption_key: Some(KEY.into()),
        ..WebhookOptions::default()
    }
}

fn server_with(options: WebhookOptions) -> TestServer {
    let dir = std::env::temp_dir().join(format!(
        "ferroflow-webhooks-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let store = SqlStore::open(SqliteOptions {
        path: dir.join("mlflow.db"),
        default_artifact_root: dir.join("artifacts").to_string_lossy().to_string(),
        readers: 2,
    })
    .expect("open store");
    let state = AppState {
        registry: Arc::new(store.clone()),
        webhooks: WebhookDispatcher::new(Arc::new(store.clone()), options),
        webhook_store: Arc::new(store.clone()),
        store: Arc::new(store.clone()),
        artifacts: None,
        config: Arc::new(ServerConfig {
            store_type: "SqlStore".into(),
            ..Default::default()
        }),
    };
    TestServer {
        app: router(state.clone()),
        state,
        store,
        dir,
    }
}

impl TestServer {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("/api/2.0/mlflow{path}"));
        let body = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Body::from(b.to_string())
            }
            None => Body::empty(),
        };
        let resp = self
            .app
            .clone()
            .oneshot(req.body(body).expect("request"))
            .await
            .expect("router never fails");
        let status = resp.status();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, v)
    }

    async fn create(&self, body: Value) -> Value {
        let (status, v) = self.call("POST", "/webhooks", Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v["webhook"].clone()
    }
}

fn verify(secret: &str, r: &Received) {
    let id = &r.headers["x-mlflow-delivery-id"];
    let ts = &r.headers["x-mlflow-timestamp"];
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{id}.{ts}.{}", r.body).as_bytes());
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    assert_eq!(
        r.headers.get("x-mlflow-signature"),
        Some(&expected),
        "signature of {r:?}"
    );
}

fn model_version_event() -> Value {
    json!([{"entity": "MODEL_VERSION", "action": "CREATED"}])
}

// ----------------------------------------------------------------------------------- tests

#[tokio::test]
async fn crud_round_trip_never_shows_the_secret() {
    let s = server_with(test_options());
    let created = s
        .create(json!({
            "name": "wh.one", "url": "http://127.0.0.1:9/hook", "description": "d", "secret": "s3cr3t",
            "events": [{"entity": "model_version_tag", "action": "SET"}, {"entity": 2, "action": 1}],
        }))
        .await;
    let id = created["webhook_id"].as_str().expect("id").to_string();
    assert_eq!(created["status"], "ACTIVE");
    assert_eq!(
        created["events"],
        json!([{"entity": "MODEL_VERSION", "action": "CREATED"}, {"entity": "MODEL_VERSION_TAG", "action": "SET"}])
    );
    assert!(created.get("secret").is_none(), "{created}");
    assert_eq!(
        created["creation_timestamp"],
        created["last_updated_timestamp"]
    );

    // Stored sealed under the configured key (MLflow's Fernet column), never in clear.
    let stored = s.store.get_webhook(&id).await.expect("stored");
    let sealed = stored.secret.expect("secret stored");
    assert_ne!(sealed, "s3cr3t");
    assert_eq!(
        Fernet::from_key(KEY)
            .and_then(|f| f.decrypt(&sealed))
            .as_deref(),
        Ok(&b"s3cr3t"[..])
    );

    s.create(json!({"name": "two", "url": "http://127.0.0.1:9/b", "events": model_version_event(), "status": "DISABLED"})).await;
    let (status, page1) = s.call("GET", "/webhooks?max_results=1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page1["webhooks"].as_array().map(Vec::len), Some(1));
    let token = page1["next_page_token"]
        .as_str()
        .expect("token")
        .to_string();
    let (_, page2) = s
        .call(
            "GET",
            &format!("/webhooks?max_results=1&page_token={token}"),
            None,
        )
        .await;
    assert_eq!(page2["webhooks"].as_array().map(Vec::len), Some(1));
    assert!(page2.get("next_page_token").is_none());
    assert_ne!(
        page1["webhooks"][0]["webhook_id"],
        page2["webhooks"][0]["webhook_id"]
    );
    let (status, v) = s.call("GET", "/webhooks?max_results=1001", None).await;
    assert_eq!(
        (status, v["message"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            Some("max_results must be between 1 and 1000.")
        )
    );

    let (status, updated) = s
        .call(
            "PATCH",
            &format!("/webhooks/{id}"),
            Some(json!({"status": "DISABLED", "description": "", "name": "", "events": []})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    let w = &updated["webhook"];
    assert_eq!(
        (w["status"].as_str(), w["name"].as_str()),
        (Some("DISABLED"), Some("wh.one"))
    );
    assert!(
        w.get("description").is_none(),
        "an empty description is not shown: {w}"
    );
    assert_eq!(
        w["events"].as_array().map(Vec::len),
        Some(2),
        "empty events leave them as they were"
    );

    let (status, got) = s.call("GET", &format!("/webhooks/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["webhook"], updated["webhook"]);

    let (status, v) = s.call("DELETE", &format!("/webhooks/{id}"), None).await;
    assert_eq!((status, v), (StatusCode::OK, json!({})));
    for (method, path) in [
        ("GET", format!("/webhooks/{id}")),
        ("DELETE", format!("/webhooks/{id}")),
    ] {
        let (status, v) = s.call(method, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(v["error_code"], "RESOURCE_DOES_NOT_EXIST");
        assert_eq!(v["message"], format!("Webhook with ID {id} not found."));
    }
    let (status, v) = s
        .call("PATCH", "/webhooks/nope", Some(json!({"name": "x"})))
        .await;
    assert_eq!(
        (status, v["message"].as_str()),
        (
            StatusCode::NOT_FOUND,
            Some("Webhook with ID nope not found.")
        )
    );
    // The ajax-api prefix serves the same routes.
    let req = Request::get("/ajax-api/2.0/mlflow/webhooks")
        .body(Body::empty())
        .expect("request");
    let resp = s.app.clone().oneshot(req).await.expect("router");
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn create_refuses_what_mlflow_refuses() {
    let s = server_with(test_options());
    let cases = [
        (
            json!({"url": "http://127.0.0.1:9/x", "events": model_version_event()}),
            "Missing value for required parameter 'name'.",
        ),
        (
            json!({"name": "ok", "events": model_version_event()}),
            "Missing value for required parameter 'url'.",
        ),
        (
            json!({"name": "ok", "url": "http://127.0.0.1:9/x"}),
            "Missing value for required parameter 'events'.",
        ),
        (
            json!({"name": "ok", "url": "http://127.0.0.1:9/x", "events": []}),
            "Webhook events must be a non-empty list of WebhookEvent objects: [].",
        ),
        (
            json!({"name": "ok", "url": "http://127.0.0.1:9/x", "events": [{"entity": "MODEL_VERSION", "action": "DELETED"}]}),
            "Invalid action 'deleted' for entity 'model_version'. Valid actions are: ['created']",
        ),
        (
            json!({"name": "-bad", "url": "http://127.0.0.1:9/x", "events": model_version_event()}),
            "Webhook name '-bad' is invalid.",
        ),
        (
            json!({"name": "ok", "url": "ftp://127.0.0.1:9/x", "events": model_version_event()}),
            "Invalid webhook URL scheme: 'ftp'. Allowed schemes are: http, https.",
        ),
        (
            json!({"name": "ok", "url": "http:///x", "events": model_version_event()}),
            "Webhook URL must include a hostname: 'http:///x'",
        ),
    ];
    for (body, expected) in cases {
        let (status, v) = s.call("POST", "/webhooks", Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {v}");
        assert_eq!(v["error_code"], "INVALID_PARAMETER_VALUE", "{body}");
        let msg = v["message"].as_str().unwrap_or_default();
        assert!(msg.starts_with(expected), "{body}: {msg}");
    }
    let (status, v) = s
        .call("POST", "/webhooks", Some(json!({"name": "ok", "url": "http://127.0.0.1:9/x", "events": [model_version_event()[0].clone(), model_version_event()[0].clone()]})))
        .await;
    assert_eq!(
        (status, v["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("BAD_REQUEST")),
        "{v}"
    );
    let (_, list) = s.call("GET", "/webhooks", None).await;
    assert_eq!(list, json!({}), "nothing was created");

    // MLflow's defaults: https only, and no loopback/private targets.
    let strict = server_with(WebhookOptions::default());
    let (status, v) = strict.call("POST", "/webhooks", Some(json!({"name": "ok", "url": "http://example.com/x", "events": model_version_event()}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["message"],
        "Invalid webhook URL scheme: 'http'. Allowed schemes are: https."
    );
    let (status, v) = strict.call("POST", "/webhooks", Some(json!({"name": "ok", "url": "https://127.0.0.1:8443/x", "events": model_version_event()}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["message"], "Webhook URL must not resolve to a non-public IP address. '127.0.0.1' resolves to 127.0.0.1.");
}

#[tokio::test]
async fn emitted_events_are_signed_and_reach_only_active_subscribers() {
    let r = receiver().await;
    let s = server_with(test_options());
    s.create(json!({"name": "signed", "url": format!("{}/signed", r.url), "secret": "s3cr3t", "events": model_version_event()})).await;
    s.create(json!({"name": "off", "url": format!("{}/off", r.url), "status": "DISABLED", "events": model_version_event()})).await;
    s.create(json!({"name": "other", "url": format!("{}/other", r.url), "events": [{"entity": "REGISTERED_MODEL", "action": "CREATED"}]})).await;

    let payload = json!({"name": "m", "version": "1", "source": "models:/m-1", "run_id": null, "tags": {"k": "ü"}, "description": null});
    s.state
        .webhooks
        .emit("model_version", "created", payload.clone());
    let got = r.wait_for(1).await;
    let d = &got[0];
    assert_eq!(d.path, "/signed");
    assert_eq!(d.headers["content-type"], "application/json");
    assert!(
        uuid::Uuid::parse_str(&d.headers["x-mlflow-delivery-id"]).is_ok(),
        "{d:?}"
    );
    let ts: u64 = d.headers["x-mlflow-timestamp"]
        .parse()
        .expect("unix seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    assert!(ts <= now && now - ts < 60, "{ts} vs {now}");
    verify("s3cr3t", d);
    // Python's json.dumps spacing, envelope keys in MLflow's order.
    assert!(
        d.body
            .starts_with(r#"{"entity": "model_version", "action": "created", "timestamp": ""#),
        "{}",
        d.body
    );
    assert!(d.body.contains(r#""tags": {"k": "\u00fc"}"#), "{}", d.body);
    let body: Value = serde_json::from_str(&d.body).expect("json body");
    assert_eq!(body["data"], payload);
    assert!(
        body["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with("+00:00")),
        "{body}"
    );

    // A second event for the other subscriber: the disabled webhook never got the first.
    s.state.webhooks.emit(
        "registered_model",
        "created",
        json!({"name": "m", "tags": {}, "description": null}),
    );
    let got = r.wait_for(2).await;
    assert_eq!(
        got.iter().map(|g| g.path.as_str()).collect::<Vec<_>>(),
        vec!["/signed", "/other"]
    );
    assert!(
        !got[1].headers.contains_key("x-mlflow-signature"),
        "no secret, no signature"
    );
    // No subscriber: nothing is sent (the next delivery below is the third request).
    s.state.webhooks.emit(
        "model_version_alias",
        "deleted",
        json!({"name": "m", "alias": "a"}),
    );
    s.state.webhooks.emit(
        "registered_model",
        "created",
        json!({"name": "n", "tags": {}, "description": null}),
    );
    let got = r.wait_for(3).await;
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].path, "/other");
}

#[tokio::test]
async fn test_route_sends_the_example_payload() {
    let r = receiver().await;
    let s = server_with(test_options());
    let w = s.create(json!({"name": "t", "url": format!("{}/t", r.url), "secret": "k3y", "events": model_version_event()})).await;
    let id = w["webhook_id"].as_str().expect("id");

    let (status, v) = s
        .call("POST", &format!("/webhooks/{id}/test"), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"result": {"success": true, "response_status": 200, "response_body": "answer-1"}})
    );
    let got = r.wait_for(1).await;
    verify("k3y", &got[0]);
    assert!(
        got[0].body.ends_with(r#""data": {"name": "example_model", "version": "1", "source": "models:/123", "run_id": "abcd1234abcd5678", "tags": {"example_key": "example_value"}, "description": "An example model version"}}"#),
        "{}",
        got[0].body
    );

    // Another event than the webhook's own; an invalid combination is refused first.
    let (_, v) = s
        .call(
            "POST",
            &format!("/webhooks/{id}/test"),
            Some(json!({"event": {"entity": "MODEL_VERSION_TAG", "action": "SET"}})),
        )
        .await;
    assert_eq!(v["result"]["success"], true, "{v}");
    let got = r.wait_for(2).await;
    let body: Value = serde_json::from_str(&got[1].body).expect("json");
    assert_eq!(
        (body["entity"].as_str(), body["action"].as_str()),
        (Some("model_version_tag"), Some("set"))
    );
    assert_eq!(body["data"]["key"], "example_key");
    let (status, v) = s
        .call(
            "POST",
            &format!("/webhooks/{id}/test"),
            Some(json!({"event": {"entity": "MODEL_VERSION_TAG", "action": "CREATED"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["message"], "Invalid action 'created' for entity 'model_version_tag'. Valid actions are: ['deleted', 'set']");
    let (status, _) = s.call("POST", "/webhooks/nope/test", Some(json!({}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A 4xx answer is not retried and is not a success.
    r.answer_with(&[404]);
    let (_, v) = s
        .call("POST", &format!("/webhooks/{id}/test"), Some(json!({})))
        .await;
    assert_eq!(
        v,
        json!({"result": {"success": false, "response_status": 404, "response_body": "answer-3"}})
    );
    assert_eq!(r.wait_for(3).await.len(), 3);
}

#[tokio::test]
async fn retries_keep_the_delivery_and_stop_after_max_retries() {
    let r = receiver().await;
    let s = server_with(test_options());
    let w = s.create(json!({"name": "r", "url": format!("{}/r", r.url), "secret": "k", "events": model_version_event()})).await;
    let id = w["webhook_id"].as_str().expect("id");

    // 503, then 200: one retry, same delivery id, timestamp, body and signature.
    r.answer_with(&[503]);
    let (_, v) = s
        .call("POST", &format!("/webhooks/{id}/test"), Some(json!({})))
        .await;
    assert_eq!(
        v,
        json!({"result": {"success": true, "response_status": 200, "response_body": "answer-2"}})
    );
    let got = r.wait_for(2).await;
    for h in [
        "x-mlflow-delivery-id",
        "x-mlflow-timestamp",
        "x-mlflow-signature",
    ] {
        assert_eq!(got[0].headers[h], got[1].headers[h], "{h}");
    }
    assert_eq!(got[0].body, got[1].body);
    verify("k", &got[1]);

    // Background deliveries retry too: 500, 429, then 200.
    r.answer_with(&[500, 429]);
    s.state.webhooks.emit(
        "model_version",
        "created",
        json!({"name": "m", "version": "2"}),
    );
    let got = r.wait_for(5).await;
    assert_eq!(
        got[2].headers["x-mlflow-delivery-id"],
        got[4].headers["x-mlflow-delivery-id"]
    );

    // Always 502: 1 try + 3 retries, then the last answer stands.
    r.answer_with(&[502, 502, 502, 502]);
    let (_, v) = s
        .call("POST", &format!("/webhooks/{id}/test"), Some(json!({})))
        .await;
    assert_eq!(
        v,
        json!({"result": {"success": false, "response_status": 502, "response_body": "answer-9"}})
    );
    assert_eq!(r.wait_for(9).await.len(), 9);
}

#[tokio::test]
async fn unreachable_targets_report_an_error_message() {
    // A port nobody listens on: bind one, then close it.
    let closed = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        l.local_addr().expect("addr").port()
    };
    let s = server_with(test_options());
    let w = s.create(json!({"name": "dead", "url": format!("http://127.0.0.1:{closed}/x"), "events": model_version_event()})).await;
    let (status, v) = s
        .call(
            "POST",
            &format!("/webhooks/{}/test", w["webhook_id"].as_str().expect("id")),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["result"]["success"], false, "{v}");
    assert!(v["result"].get("response_status").is_none(), "{v}");
    let msg = v["result"]["error_message"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with("Failed to test webhook: ") && msg.contains("after 3 retries"),
        "{msg}"
    );
}
