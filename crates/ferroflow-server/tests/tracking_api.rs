//! The tracking API through the real router and a real SQLite store (no mocks): each test
//! reads like one rule of MLflow's protocol.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use ferroflow_server::{router, AppState, ServerConfig};
use ferroflow_store_sql::{SqlStore, SqliteOptions};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

struct TestServer {
    app: axum::Router,
    dir: std::path::PathBuf,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn server() -> TestServer {
    let dir =
        std::env::temp_dir().join(format!("ferroflow-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let store = SqlStore::open(SqliteOptions {
        path: dir.join("mlflow.db"),
        default_artifact_root: dir.join("artifacts").to_string_lossy().to_string(),
        readers: 2,
    })
    .expect("open store");
    let artifacts =
        ferroflow_artifacts::ArtifactStore::from_uri(&dir.join("mlartifacts").to_string_lossy())
            .expect("artifact store");
    let state = AppState {
        registry: Arc::new(store.clone()),
        webhooks: ferroflow_server::webhooks::WebhookDispatcher::disabled(),
        webhook_store: Arc::new(store.clone()),
        store: Arc::new(store),
        artifacts: Some(artifacts),
        config: Arc::new(ServerConfig {
            serve_artifacts: true,
            store_type: "SqlStore".into(),
            ..Default::default()
        }),
    };
    TestServer {
        app: router(state),
        dir,
    }
}

impl TestServer {
    async fn call(&self, req: Request<Body>) -> (StatusCode, Value) {
        let resp = self
            .app
            .clone()
            .oneshot(req)
            .await
            .expect("router never fails");
        let status = resp.status();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, body)
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let req = Request::post(format!("/api/2.0/mlflow{path}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("request");
        self.call(req).await
    }

    async fn get(&self, path_and_query: &str) -> (StatusCode, Value) {
        let req = Request::get(format!("/api/2.0/mlflow{path_and_query}"))
            .body(Body::empty())
            .expect("request");
        self.call(req).await
    }

    async fn new_run(&self) -> String {
        let (_, exp) = self
            .post(
                "/experiments/create",
                json!({"name": format!("e-{}", uuid::Uuid::new_v4())}),
            )
            .await;
        let (status, run) = self
            .post(
                "/runs/create",
                json!({"experiment_id": exp["experiment_id"], "start_time": 1, "user_id": "u"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{run}");
        run["run"]["info"]["run_id"]
            .as_str()
            .expect("run id")
            .to_string()
    }
}

#[tokio::test]
async fn health_and_version_answer_plain_text() {
    let s = server();
    let (status, body) = s
        .call(Request::get("/health").body(Body::empty()).expect("req"))
        .await;
    assert_eq!((status, body), (StatusCode::OK, Value::String("OK".into())));
    let (_, body) = s
        .call(Request::get("/version").body(Body::empty()).expect("req"))
        .await;
    assert_eq!(body, Value::String("3.18.0".into()));
}

#[tokio::test]
async fn unknown_route_is_endpoint_not_found() {
    let s = server();
    let (status, body) = s.get("/no/such/route").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error_code"], "ENDPOINT_NOT_FOUND");
}

#[tokio::test]
async fn wrong_method_is_405() {
    let s = server();
    let (status, _) = s.get("/runs/create").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn post_without_json_content_type_is_400() {
    let s = server();
    let req = Request::post("/api/2.0/mlflow/experiments/create")
        .body(Body::from("{\"name\":\"x\"}"))
        .expect("req");
    let (status, body) = s.call(req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_code"], "INVALID_PARAMETER_VALUE");
}

#[tokio::test]
async fn default_experiment_exists_on_a_new_database() {
    let s = server();
    let (status, body) = s.get("/experiments/get?experiment_id=0").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["experiment"]["name"], "Default");
}

#[tokio::test]
async fn duplicate_experiment_name_is_resource_already_exists() {
    let s = server();
    let (status, _) = s.post("/experiments/create", json!({"name": "dup"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = s.post("/experiments/create", json!({"name": "dup"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_code"], "RESOURCE_ALREADY_EXISTS");
}

#[tokio::test]
async fn run_without_name_gets_generated_name_and_tag() {
    let s = server();
    let run_id = s.new_run().await;
    let (_, body) = s.get(&format!("/runs/get?run_id={run_id}")).await;
    let name = body["run"]["info"]["run_name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(name.split('-').count(), 3, "{name}");
    let tags = body["run"]["data"]["tags"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        tags.iter()
            .any(|t| t["key"] == "mlflow.runName" && t["value"] == name.as_str()),
        "{tags:?}"
    );
}

#[tokio::test]
async fn log_batch_over_1000_metrics_writes_nothing() {
    let s = server();
    let run_id = s.new_run().await;
    let metrics: Vec<Value> = (0..1001)
        .map(|i| json!({"key": "m", "value": 1.0, "timestamp": 1, "step": i}))
        .collect();
    let (status, body) = s
        .post(
            "/runs/log-batch",
            json!({"run_id": run_id, "metrics": metrics}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_code"], "INVALID_PARAMETER_VALUE");
    let (_, hist) = s
        .get(&format!(
            "/metrics/get-history?run_id={run_id}&metric_key=m"
        ))
        .await;
    assert!(hist.get("metrics").is_none(), "{hist}");
}

#[tokio::test]
async fn changing_a_param_fails_and_leaves_the_batch_unwritten() {
    let s = server();
    let run_id = s.new_run().await;
    let (status, _) = s
        .post(
            "/runs/log-parameter",
            json!({"run_id": run_id, "key": "lr", "value": "0.1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let batch = json!({"run_id": run_id, "params": [{"key": "lr", "value": "0.2"}], "metrics": [{"key": "loss", "value": 1.5, "timestamp": 1}]});
    let (status, body) = s.post("/runs/log-batch", batch).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, run) = s.get(&format!("/runs/get?run_id={run_id}")).await;
    assert!(
        run["run"]["data"].get("metrics").is_none(),
        "metric of the failed batch was written: {run}"
    );
    assert_eq!(run["run"]["data"]["params"][0]["value"], "0.1");
}

#[tokio::test]
async fn nan_and_infinity_round_trip_as_mlflow_stores_them() {
    let s = server();
    let run_id = s.new_run().await;
    let metrics = json!([
        {"key": "x", "value": "NaN", "timestamp": 1, "step": 0},
        {"key": "x", "value": "Infinity", "timestamp": 2, "step": 1},
        {"key": "x", "value": "-Infinity", "timestamp": 3, "step": 2}
    ]);
    let (status, _) = s
        .post(
            "/runs/log-batch",
            json!({"run_id": run_id, "metrics": metrics}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, hist) = s
        .get(&format!(
            "/metrics/get-history?run_id={run_id}&metric_key=x"
        ))
        .await;
    let values: Vec<Value> = hist["metrics"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|m| m["value"].clone())
        .collect();
    assert_eq!(
        values,
        vec![
            json!("NaN"),
            json!(1.7976931348623157e308),
            json!(-1.7976931348623157e308)
        ]
    );
}

#[tokio::test]
async fn search_runs_filters_and_orders_by_metric() {
    let s = server();
    let (_, exp) = s
        .post("/experiments/create", json!({"name": "search"}))
        .await;
    let exp_id = exp["experiment_id"].clone();
    for rmse in [9.0, 3.0, 6.0, 1.0] {
        let (_, run) = s
            .post(
                "/runs/create",
                json!({"experiment_id": exp_id, "start_time": 1}),
            )
            .await;
        let run_id = run["run"]["info"]["run_id"].clone();
        s.post(
            "/runs/log-metric",
            json!({"run_id": run_id, "key": "rmse", "value": rmse, "timestamp": 1}),
        )
        .await;
    }
    let (status, body) = s
        .post(
            "/runs/search",
            json!({"experiment_ids": [exp_id], "filter": "metrics.rmse < 7", "order_by": ["metrics.rmse ASC"], "max_results": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let got: Vec<f64> = body["runs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|r| r["data"]["metrics"][0]["value"].as_f64().unwrap_or(-1.0))
        .collect();
    assert_eq!(got, vec![1.0, 3.0]);
    assert!(
        body["next_page_token"].is_string(),
        "a third matching run remains: {body}"
    );
}

#[tokio::test]
async fn bad_filter_is_invalid_parameter_value() {
    let s = server();
    let (status, body) = s
        .post(
            "/runs/search",
            json!({"experiment_ids": ["0"], "filter": "metrics.a = 1 OR metrics.b = 2"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_code"], "INVALID_PARAMETER_VALUE");
}

#[tokio::test]
async fn ajax_prefix_mirrors_the_api() {
    let s = server();
    let req = Request::get("/ajax-api/2.0/mlflow/experiments/get?experiment_id=0")
        .body(Body::empty())
        .expect("req");
    let (status, body) = s.call(req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["experiment"]["experiment_id"], "0");
}

#[tokio::test]
async fn serve_on_port_zero_answers_and_shuts_down_gracefully() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = server();
    let dir = s.dir.clone();
    let store = SqlStore::open(SqliteOptions {
        path: dir.join("mlflow.db"),
        default_artifact_root: "/tmp/a".into(),
        readers: 1,
    })
    .expect("reopen");
    let state = AppState {
        registry: Arc::new(store.clone()),
        webhooks: ferroflow_server::webhooks::WebhookDispatcher::disabled(),
        webhook_store: Arc::new(store.clone()),
        store: Arc::new(store),
        artifacts: None,
        config: Arc::new(ServerConfig::default()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(ferroflow_server::serve(listener, state, async {
        let _ = rx.await;
    }));
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut buf = String::new();
    stream.read_to_string(&mut buf).await.expect("read");
    assert!(buf.starts_with("HTTP/1.1 200"), "{buf}");
    assert!(buf.ends_with("OK"), "{buf}");
    let _ = tx.send(());
    handle
        .await
        .expect("join")
        .expect("serve returns Ok after shutdown");
}
