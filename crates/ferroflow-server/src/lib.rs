//! Ferroflow's HTTP server: MLflow's REST API over a [`TrackingStore`].
//!
//! [`router`] is the one routing table. Every API route is served under `/api/2.0/mlflow`
//! and mirrored under `/ajax-api/2.0/mlflow` (MLflow's UI prefix), optionally behind
//! `--static-prefix`. [`serve`] runs the server on a listener the caller bound, so tests
//! bind port 0 and never sleep. Nothing here is global: configuration travels in
//! [`AppState`].

#![forbid(unsafe_code)]

pub mod error;
pub mod handlers;
pub mod http;
pub mod names;
pub mod params;
pub mod stream;
pub mod ui;
pub mod validation;
pub mod webhooks;

use std::future::Future;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use axum::{Json, Router};
use ferroflow_store::TrackingStore;
use serde_json::json;

use handlers::artifacts as art;
use handlers::logged_models as lm;
use handlers::registry as reg;
use handlers::tracking as t;

/// The MLflow version Ferroflow speaks; `/version` reports it and clients parse it.
pub const MLFLOW_COMPAT_VERSION: &str = "3.18.0";

/// Server settings that handlers need.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// Prefix under which everything is served (`--static-prefix`), e.g. "/mlflow"; "" for none.
    pub static_prefix: String,
    /// Whether the server proxies artifact storage (`--serve-artifacts`).
    pub serve_artifacts: bool,
    /// "SqlStore" for SQL backends, as MLflow reports it.
    pub store_type: String,
    /// `--artifacts-only`: serve the artifact service and nothing else.
    pub artifacts_only: bool,
    /// Connection and request-body limits and timeouts.
    pub http_limits: http::HttpLimits,
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn TrackingStore>,
    pub registry: Arc<dyn ferroflow_store::registry::RegistryStore>,
    /// Delivers registry events to webhooks.
    pub webhooks: webhooks::WebhookDispatcher,
    /// Webhook subscriptions (MLflow's `webhooks` tables).
    pub webhook_store: Arc<dyn ferroflow_store::webhooks::WebhookStore>,
    /// The proxied artifact destination (`--artifacts-destination`), when serving artifacts.
    pub artifacts: Option<ferroflow_artifacts::ArtifactStore>,
    pub config: Arc<ServerConfig>,
}

pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The tracking API routes, relative to `/api/2.0/mlflow`.
fn tracking_routes(ajax: bool) -> Router<AppState> {
    let mut r = Router::new()
        .route("/experiments/create", post(t::create_experiment))
        .route("/experiments/get", get(t::get_experiment))
        .route("/experiments/get-by-name", get(t::get_experiment_by_name))
        .route(
            "/experiments/search",
            get(t::search_experiments).post(t::search_experiments),
        )
        .route("/experiments/update", post(t::update_experiment))
        .route("/experiments/delete", post(t::delete_experiment))
        .route("/experiments/restore", post(t::restore_experiment))
        .route(
            "/experiments/set-experiment-tag",
            post(t::set_experiment_tag),
        )
        .route(
            "/experiments/delete-experiment-tag",
            post(t::delete_experiment_tag),
        )
        .route("/runs/create", post(t::create_run))
        .route("/runs/get", get(t::get_run))
        .route("/runs/update", post(t::update_run))
        .route("/runs/delete", post(t::delete_run))
        .route("/runs/restore", post(t::restore_run))
        .route("/runs/log-metric", post(t::log_metric))
        .route("/runs/log-parameter", post(t::log_param))
        .route("/runs/set-tag", post(t::set_tag))
        .route("/runs/delete-tag", post(t::delete_tag))
        .route("/runs/log-batch", post(t::log_batch))
        .route("/runs/log-inputs", post(t::log_inputs))
        .route("/runs/search", post(t::search_runs))
        // webhooks
        .route(
            "/webhooks",
            post(handlers::webhooks::create_webhook).get(handlers::webhooks::list_webhooks),
        )
        .route(
            "/webhooks/{webhook_id}",
            get(handlers::webhooks::get_webhook)
                .patch(handlers::webhooks::update_webhook)
                .delete(handlers::webhooks::delete_webhook),
        )
        .route(
            "/webhooks/{webhook_id}/test",
            post(handlers::webhooks::test_webhook),
        )
        .route("/metrics/get-history", get(t::get_metric_history))
        .route(
            "/metrics/get-history-bulk-interval",
            get(t::get_metric_history_bulk_interval),
        )
        .route("/runs/outputs", post(lm::log_outputs))
        .route("/runs/log-model", post(lm::log_model))
        .route("/logged-models", post(lm::create_logged_model))
        .route("/logged-models/search", post(lm::search_logged_models))
        .route(
            "/logged-models/{model_id}",
            get(lm::get_logged_model)
                .patch(lm::finalize_logged_model)
                .delete(lm::delete_logged_model),
        )
        .route(
            "/logged-models/{model_id}/tags",
            patch(lm::set_logged_model_tags),
        )
        .route(
            "/logged-models/{model_id}/tags/{tag_key}",
            delete(lm::delete_logged_model_tag),
        )
        .route(
            "/logged-models/{model_id}/params",
            post(lm::log_logged_model_params),
        )
        .route(
            "/logged-models/{model_id}/artifacts/directories",
            get(art::list_logged_model_artifacts),
        )
        .route("/artifacts/list", get(art::list_run_artifacts))
        // model registry
        .route(
            "/registered-models/create",
            post(reg::create_registered_model),
        )
        .route("/registered-models/get", get(reg::get_registered_model))
        .route(
            "/registered-models/rename",
            post(reg::rename_registered_model),
        )
        .route(
            "/registered-models/update",
            patch(reg::update_registered_model),
        )
        .route(
            "/registered-models/delete",
            delete(reg::delete_registered_model),
        )
        .route(
            "/registered-models/search",
            get(reg::search_registered_models),
        )
        .route(
            "/registered-models/get-latest-versions",
            get(reg::get_latest_versions).post(reg::get_latest_versions),
        )
        .route(
            "/registered-models/set-tag",
            post(reg::set_registered_model_tag),
        )
        .route(
            "/registered-models/delete-tag",
            delete(reg::delete_registered_model_tag),
        )
        .route(
            "/registered-models/alias",
            get(reg::get_model_version_by_alias)
                .post(reg::set_registered_model_alias)
                .delete(reg::delete_registered_model_alias),
        )
        .route("/model-versions/create", post(reg::create_model_version))
        .route("/model-versions/get", get(reg::get_model_version))
        .route("/model-versions/update", patch(reg::update_model_version))
        .route(
            "/model-versions/transition-stage",
            post(reg::transition_model_version_stage),
        )
        .route("/model-versions/delete", delete(reg::delete_model_version))
        .route("/model-versions/search", get(reg::search_model_versions))
        .route(
            "/model-versions/get-download-uri",
            get(reg::get_model_version_download_uri),
        )
        .route("/model-versions/set-tag", post(reg::set_model_version_tag))
        .route(
            "/model-versions/delete-tag",
            delete(reg::delete_model_version_tag),
        );
    if ajax {
        r = r.route(
            "/logged-models/{model_id}/artifacts/files",
            get(art::get_logged_model_artifact),
        );
        // Only MLflow's UI prefix has the unsampled bulk route.
        r = r.route("/metrics/get-history-bulk", get(t::get_metric_history_bulk));
    }
    r
}

async fn health() -> &'static str {
    "OK"
}

async fn version() -> &'static str {
    MLFLOW_COMPAT_VERSION
}

async fn server_info(State(app): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({
        "store_type": app.config.store_type,
        "workspaces_enabled": false,
        "trace_archival_enabled": false,
        "multipart_uploads_enabled": app
            .artifacts
            .as_ref()
            .is_some_and(|a| a.supports_multipart()),
        "multipart_downloads_enabled": false,
        "artifact_serving_enabled": app.config.serve_artifacts,
        "presigned_upload_run_id_supported": false,
        "presigned_upload_model_id_supported": false,
        "model_artifact_presigned_downloads_supported": false,
        "features_enabled": { "gateway": false, "scheduled_issue_detection": false },
        "tracking_auth": "",
        "artifacts_presigned_only": false,
    }))
}

async fn method_not_allowed(method: Method, req: Request) -> Response {
    let e = ferroflow_types::ApiError::new(
        ferroflow_types::ErrorCode::BadRequest,
        format!(
            "The method {method} is not allowed for {}",
            req.uri().path()
        ),
    );
    let mut resp = error::error_response(&e);
    *resp.status_mut() = axum::http::StatusCode::METHOD_NOT_ALLOWED;
    resp
}

/// Logs each request under its matched route (not the raw path, which holds ids).
async fn trace_request(req: Request, next: axum::middleware::Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "<unmatched>".to_string());
    let method = req.method().clone();
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    tracing::debug!(%method, %route, status = resp.status().as_u16(), elapsed_us = started.elapsed().as_micros() as u64, "request");
    resp
}

/// The proxied artifact service, relative to `/api/2.0/mlflow-artifacts`.
fn artifact_routes() -> Router<AppState> {
    Router::new()
        .route("/artifacts", get(art::list_proxied_artifacts))
        .route(
            "/artifacts/{*path}",
            get(art::download_artifact)
                .put(art::upload_artifact)
                .delete(art::delete_artifact),
        )
        .route("/mpu/create/{*path}", post(art::multipart_create))
        .route("/mpu/complete/{*path}", post(art::multipart_complete))
        .route("/mpu/abort/{*path}", post(art::multipart_abort))
        .route("/mpu/part/{*path}", put(art::multipart_upload_part))
}

/// The whole application: API, health, version, server-info, and the web UI ([`ui`]) for
/// other GET paths; unknown API routes answer ENDPOINT_NOT_FOUND.
pub fn router(state: AppState) -> Router {
    let mut api = Router::new()
        .nest("/api/2.0/mlflow-artifacts", artifact_routes())
        .nest("/ajax-api/2.0/mlflow-artifacts", artifact_routes());
    if !state.config.artifacts_only {
        api = api
            .nest("/api/2.0/mlflow", tracking_routes(false))
            .nest("/ajax-api/2.0/mlflow", tracking_routes(true))
            .route("/get-artifact", get(art::get_run_artifact))
            .route(
                "/model-versions/get-artifact",
                get(reg::get_model_version_artifact),
            );
    }
    let api = api
        .route("/api/3.0/mlflow/server-info", get(server_info))
        .route("/ajax-api/3.0/mlflow/server-info", get(server_info))
        .route("/health", get(health))
        .route("/version", get(version))
        .method_not_allowed_fallback(method_not_allowed);
    let prefix = state.config.static_prefix.trim_end_matches('/').to_string();
    let app = if prefix.is_empty() {
        api
    } else {
        Router::new().nest(&prefix, api)
    };
    // Unknown paths: the web UI outside the API, ENDPOINT_NOT_FOUND inside it.
    let limits = Arc::new(state.config.http_limits.clone());
    app.fallback(ui::fallback)
        .layer(axum::middleware::from_fn(trace_request))
        .layer(DefaultBodyLimit::max(params::MAX_JSON_BODY))
        .layer(axum::middleware::from_fn_with_state(
            limits,
            http::guard_request,
        ))
        .with_state(state)
}

/// Serves `router(state)` on `listener` until `shutdown` resolves; in-flight requests
/// finish before this returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.config.http_limits.clone();
    http::serve_with_limits(listener, router(state), limits, shutdown).await
}

/// A plain-text response helper for non-API routes.
pub fn text(body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}
