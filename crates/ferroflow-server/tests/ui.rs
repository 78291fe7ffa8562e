//! The web UI fallback through the real router: the UI (or the "not built" page) for GET
//! paths outside the API, MLflow's JSON ENDPOINT_NOT_FOUND inside it, under a static prefix.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use ferroflow_server::{router, AppState, ServerConfig};
use ferroflow_store_sql::{SqlStore, SqliteOptions};
use http_body_util::BodyExt;
use tower::ServiceExt;

fn app(dir: &std::path::Path, static_prefix: &str) -> axum::Router {
    let store = SqlStore::open(SqliteOptions {
        path: dir.join("mlflow.db"),
        default_artifact_root: dir.join("artifacts").to_string_lossy().to_string(),
        readers: 1,
    })
    .expect("open store");
    router(AppState {
        registry: Arc::new(store.clone()),
        webhooks: ferroflow_server::webhooks::WebhookDispatcher::disabled(),
        webhook_store: Arc::new(store.clone()),
        store: Arc::new(store),
        artifacts: None,
        config: Arc::new(ServerConfig {
            static_prefix: static_prefix.to_string(),
            store_type: "SqlStore".into(),
            ..Default::default()
        }),
    })
}

async fn call(app: &axum::Router, method: Method, path: &str) -> (StatusCode, String, String) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .expect("request");
    let resp = app.clone().oneshot(req).await.expect("router never fails");
    let status = resp.status();
    let ctype = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, ctype, String::from_utf8_lossy(&bytes).into_owned())
}

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ferroflow-ui-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[tokio::test]
async fn client_routes_answer_html_and_api_paths_stay_json() {
    let dir = temp_dir();
    let app = app(&dir, "");
    for path in ["/", "/experiments/1/runs/abc", "/models/m"] {
        let (status, ctype, body) = call(&app, Method::GET, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(ctype.starts_with("text/html"), "{path}: {ctype}");
        assert!(body.contains("<html"), "{path}");
        if ferroflow_server::ui::is_built() {
            assert!(body.contains("<base href=\"/\">"), "{body}");
        } else {
            assert!(body.contains("npm run build"), "{body}");
        }
    }
    for (method, path) in [
        (Method::GET, "/ajax-api/2.0/mlflow/no/such/route"),
        (Method::GET, "/api/2.0/mlflow-artifacts/nope/x"),
        (Method::GET, "/health/x"),
        (Method::POST, "/experiments"),
    ] {
        let (status, ctype, body) = call(&app, method, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(ctype, "application/json", "{path}");
        assert!(body.contains("ENDPOINT_NOT_FOUND"), "{path}: {body}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn static_prefix_serves_the_ui_below_it() {
    let dir = temp_dir();
    let app = app(&dir, "/mlflow");
    let (status, ctype, _) = call(&app, Method::GET, "/mlflow/#/experiments").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ctype.starts_with("text/html"));
    let (status, _, _) = call(&app, Method::GET, "/mlflow").await;
    assert_eq!(status, StatusCode::FOUND);
    let (status, _, body) = call(&app, Method::GET, "/elsewhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("ENDPOINT_NOT_FOUND"));
    let (status, _, body) = call(
        &app,
        Method::GET,
        "/mlflow/api/2.0/mlflow/experiments/search?max_results=10",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    if ferroflow_server::ui::is_built() {
        let (_, _, body) = call(&app, Method::GET, "/mlflow/runs/x").await;
        assert!(body.contains("<base href=\"/mlflow/\">"), "{body}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
