//! Artifact routes: the proxied artifact service (`/api/2.0/mlflow-artifacts/...`, what
//! clients use when runs have `mlflow-artifacts:/` roots), and the tracking service's
//! artifact reads (`artifacts/list`, `/get-artifact`, logged-model listings).
//!
//! Every path that comes from a request goes through [`ArtifactPath::parse`] before any
//! storage call; bodies stream in both directions, so a 1 GB artifact never sits in memory.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferroflow_artifacts::{
    guess_content_type, ArtifactError, ArtifactPath, ArtifactStore, FileInfo,
};
use ferroflow_types::{ApiError, ErrorCode};
use futures::TryStreamExt;
use serde_json::{json, Map, Value};

use crate::error::{HandlerError, HandlerResult};
use crate::params::Params;
use crate::AppState;

impl From<ArtifactError> for HandlerError {
    fn from(e: ArtifactError) -> Self {
        let code = match &e {
            ArtifactError::InvalidPath(_) | ArtifactError::Body(_) => {
                ErrorCode::InvalidParameterValue
            }
            ArtifactError::NotFound(_) => ErrorCode::ResourceDoesNotExist,
            ArtifactError::Backend(_) | ArtifactError::Config(_) => {
                tracing::error!(error = %e, "artifact storage error");
                ErrorCode::InternalError
            }
        };
        HandlerError(ApiError::new(code, e.to_string()))
    }
}

/// The proxied artifact store, or the error MLflow gives when serving is off.
fn proxied(app: &AppState) -> Result<&ArtifactStore, ApiError> {
    app.artifacts.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::TemporarilyUnavailable,
            "This endpoint is disabled: the server runs with --no-serve-artifacts.",
        )
    })
}

/// A request path relative to some root; "" and "/" mean the root itself.
fn relative_path(raw: Option<&str>) -> Result<ArtifactPath, ApiError> {
    match raw.map(|p| p.trim_end_matches('/')) {
        None | Some("") => Ok(ArtifactPath::root()),
        Some(p) => ArtifactPath::parse(p).map_err(|e| HandlerError::from(e).0),
    }
}

/// Where an artifact URI stored in the database (a run's `artifact_uri`, a logged model's
/// `artifact_location`) lives: a store, and the prefix inside it.
fn resolve_root(app: &AppState, uri: &str) -> Result<(ArtifactStore, ArtifactPath), HandlerError> {
    if let Some(rest) = uri.strip_prefix("mlflow-artifacts:") {
        // `mlflow-artifacts:/1/...` or `mlflow-artifacts://host:port/1/...`.
        let rest = match rest.strip_prefix("//") {
            Some(with_authority) => with_authority.split_once('/').map(|(_, p)| p).unwrap_or(""),
            None => rest,
        };
        let store = proxied(app)?.clone();
        let prefix = relative_path(Some(rest.trim_start_matches('/')))?;
        return Ok((store, prefix));
    }
    let store = ArtifactStore::from_uri(uri)?;
    Ok((store, ArtifactPath::root()))
}

/// A streamed file response with MLflow's content type.
async fn file_response(store: &ArtifactStore, path: &ArtifactPath) -> HandlerResult<Response> {
    let download = store.get(path).await?;
    let content_type = guess_content_type(path.as_str());
    let body = Body::from_stream(download.stream);
    let mut resp = (StatusCode::OK, body).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    headers.insert(
        header::CONTENT_LENGTH,
        header::HeaderValue::from(download.size),
    );
    if let Ok(v) =
        header::HeaderValue::from_str(&content_disposition(path.file_name().unwrap_or("artifact")))
    {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    // Never let a browser run an artifact as a page of this origin.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    Ok(resp)
}

/// `attachment; filename=...` as MLflow's server sends it: bare when the name is a plain
/// token, quoted otherwise, with an RFC 5987 `filename*` for non-ASCII names.
fn content_disposition(name: &str) -> String {
    let is_token = |c: char| c.is_ascii_alphanumeric() || "!#$&+-.^_`|~".contains(c);
    if !name.is_empty() && name.chars().all(is_token) {
        return format!("attachment; filename={name}");
    }
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut out = format!("attachment; filename=\"{ascii}\"");
    if !name.is_ascii() {
        let encoded: String = name
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        out.push_str(&format!("; filename*=UTF-8''{encoded}"));
    }
    out
}

fn file_infos(files: &[FileInfo], prefix: &ArtifactPath, basename_only: bool) -> Vec<Value> {
    let strip = if prefix.is_root() {
        String::new()
    } else {
        format!("{}/", prefix.as_str())
    };
    files
        .iter()
        .map(|f| {
            let rel = f.path.strip_prefix(&strip).unwrap_or(&f.path);
            let path = if basename_only {
                rel.rsplit('/').next().unwrap_or(rel)
            } else {
                rel
            };
            let mut m = Map::new();
            m.insert("path".into(), Value::String(path.to_string()));
            m.insert("is_dir".into(), Value::Bool(f.is_dir));
            if let Some(size) = f.file_size {
                m.insert("file_size".into(), json!(size));
            }
            Value::Object(m)
        })
        .collect()
}

fn files_body(root_uri: Option<&str>, files: Vec<Value>) -> Json<Value> {
    let mut m = Map::new();
    if let Some(root) = root_uri {
        m.insert("root_uri".into(), Value::String(root.to_string()));
    }
    if !files.is_empty() {
        m.insert("files".into(), Value::Array(files));
    }
    Json(Value::Object(m))
}

// ---------------------------------------------------------------- proxied artifact service

pub async fn download_artifact(
    State(app): State<AppState>,
    Path(path): Path<String>,
) -> HandlerResult<Response> {
    let store = proxied(&app)?;
    let path = ArtifactPath::parse(&path)?;
    match file_response(store, &path).await {
        // A directory is a bad request for a download (as in MLflow); only a missing path is 404.
        Err(e)
            if e.0.code == ErrorCode::ResourceDoesNotExist
                && store.is_dir(&path).await.unwrap_or(false) =>
        {
            Err(ApiError::invalid_parameter(format!(
                "'{}' is a directory; download its files one by one.",
                path.as_str()
            ))
            .into())
        }
        other => other,
    }
}

pub async fn upload_artifact(
    State(app): State<AppState>,
    Path(path): Path<String>,
    body: Body,
) -> HandlerResult<Json<Value>> {
    let store = proxied(&app)?;
    if path.ends_with('/') {
        return Err(ApiError::invalid_parameter(format!(
            "'{path}' names a directory; an upload needs a file name."
        ))
        .into());
    }
    let path = ArtifactPath::parse(&path)?;
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    store.put(&path, stream).await?;
    Ok(Json(json!({})))
}

pub async fn delete_artifact(
    State(app): State<AppState>,
    Path(path): Path<String>,
) -> HandlerResult<Json<Value>> {
    let store = proxied(&app)?;
    let path = ArtifactPath::parse(&path)?;
    store.delete(&path).await?;
    Ok(Json(json!({})))
}

/// `GET .../mlflow-artifacts/artifacts?path=`: direct children, by base name.
pub async fn list_proxied_artifacts(
    State(app): State<AppState>,
    params: Params,
) -> HandlerResult<Json<Value>> {
    let store = proxied(&app)?;
    let dir = relative_path(params.opt_str("path")?.as_deref())?;
    let files = store.list(&dir).await?;
    Ok(files_body(None, file_infos(&files, &dir, true)))
}

/// Multipart uploads need presigned part URLs, which Ferroflow does not hand out; the
/// client falls back to a plain streamed PUT when it sees NOT_IMPLEMENTED.
pub async fn multipart_not_implemented(
    State(app): State<AppState>,
    Path(path): Path<String>,
) -> HandlerError {
    // The path is checked first, like on every other artifact route.
    if let Err(e) = proxied(&app) {
        return e.into();
    }
    if let Err(e) = ArtifactPath::parse(&path) {
        return e.into();
    }
    HandlerError(ApiError::new(
        ErrorCode::NotImplemented,
        "Multipart uploads are not supported by this artifact store; upload with PUT instead.",
    ))
}

// ---------------------------------------------------------------- tracking service reads

/// `GET /mlflow/artifacts/list?run_id=&path=`: a run's artifacts, paths relative to its root.
pub async fn list_run_artifacts(
    State(app): State<AppState>,
    params: Params,
) -> HandlerResult<Json<Value>> {
    let run_id = params.run_id()?;
    let rel = relative_path(params.opt_str("path")?.as_deref())?;
    let run = app.store.get_run(&run_id).await?;
    let (store, prefix) = resolve_root(&app, &run.info.artifact_uri)?;
    let files = store.list(&prefix.join(&rel)).await?;
    Ok(files_body(
        Some(&run.info.artifact_uri),
        file_infos(&files, &prefix, false),
    ))
}

/// `GET /get-artifact?run_id=&path=`: one file of a run.
pub async fn get_run_artifact(
    State(app): State<AppState>,
    params: Params,
) -> HandlerResult<Response> {
    let run_id = params.run_id()?;
    let rel = relative_path(params.opt_str("path")?.as_deref())?;
    if rel.is_root() {
        return Err(crate::params::missing("path").into());
    }
    let run = app.store.get_run(&run_id).await?;
    let (store, prefix) = resolve_root(&app, &run.info.artifact_uri)?;
    file_response(&store, &prefix.join(&rel)).await
}

/// One file at `path` under the artifact URI `root` (a registry version's location).
pub(crate) async fn serve_file_under(
    app: &AppState,
    root: &str,
    path: Option<&str>,
) -> HandlerResult<Response> {
    let rel = relative_path(path)?;
    if rel.is_root() {
        return Err(crate::params::missing("path").into());
    }
    let (store, prefix) = resolve_root(app, root)?;
    file_response(&store, &prefix.join(&rel)).await
}

/// `GET /logged-models/{id}/artifacts/directories?artifact_directory_path=`.
pub async fn list_logged_model_artifacts(
    State(app): State<AppState>,
    Path(model_id): Path<String>,
    params: Params,
) -> HandlerResult<Json<Value>> {
    let rel = relative_path(params.opt_str("artifact_directory_path")?.as_deref())?;
    let model = app.store.get_logged_model(&model_id, false).await?;
    let (store, prefix) = resolve_root(&app, &model.info.artifact_uri)?;
    let files = store.list(&prefix.join(&rel)).await?;
    Ok(files_body(
        Some(&model.info.artifact_uri),
        file_infos(&files, &prefix, false),
    ))
}

/// `GET /ajax-api/.../logged-models/{id}/artifacts/files?artifact_file_path=`: one file.
pub async fn get_logged_model_artifact(
    State(app): State<AppState>,
    Path(model_id): Path<String>,
    params: Params,
) -> HandlerResult<Response> {
    let rel = relative_path(params.opt_str("artifact_file_path")?.as_deref())?;
    if rel.is_root() {
        return Err(crate::params::missing("artifact_file_path").into());
    }
    let model = app.store.get_logged_model(&model_id, false).await?;
    let (store, prefix) = resolve_root(&app, &model.info.artifact_uri)?;
    file_response(&store, &prefix.join(&rel)).await
}
