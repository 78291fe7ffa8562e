//! Artifact routes: the proxied artifact service (`/api/2.0/mlflow-artifacts/...`, what
//! clients use when runs have `mlflow-artifacts:/` roots), and the tracking service's
//! artifact reads (`artifacts/list`, `/get-artifact`, logged-model listings).
//!
//! Every path that comes from a request goes through [`ArtifactPath::parse`] before any
//! storage call; bodies stream in both directions, so a 1 GB artifact never sits in memory.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferroflow_artifacts::{
    guess_content_type, ArtifactError, ArtifactPath, ArtifactStore, CompletedPart, FileInfo,
    MAX_MULTIPART_PARTS, MAX_MULTIPART_PART_SIZE,
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
            ArtifactError::InvalidPath(_)
            | ArtifactError::Body(_)
            | ArtifactError::InvalidUpload(_) => ErrorCode::InvalidParameterValue,
            ArtifactError::Unsupported(_) => ErrorCode::NotImplemented,
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

// ---------------------------------------------------------------- multipart uploads
//
// MLflow's client asks `mpu/create/<dir>` for an upload of `<dir>/<path>` in `num_parts`
// parts and gets one URL per part; it PUTs each part to its URL, keeps the `ETag` response
// header, and sends the list to `mpu/complete/<dir>` (or `mpu/abort/<dir>` on failure).
// MLflow hands out presigned storage URLs; Ferroflow hands out its own `mpu/part/` route,
// which streams the part into the bucket, so storage credentials never leave the server
// and, as the upload id and parts live in the bucket, any replica can take any request.

/// The file an `mpu/*` request is about: `path` is the file's name. Like MLflow, a path with
/// directories (clients before 3.18 sent the local file path) counts by its last segment,
/// either separator; what is left must be one valid segment (not `.`, `..`, an escape...).
fn multipart_file_name(raw: &str) -> Result<ArtifactPath, ApiError> {
    let name = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let invalid = |why: &str| {
        ApiError::invalid_parameter(format!(
            "Invalid path '{}' for a multipart upload: {why}",
            raw.escape_default()
        ))
    };
    if matches!(name, "" | "." | "..") {
        return Err(invalid("it must name a file"));
    }
    let parsed = ArtifactPath::parse(name).map_err(|e| invalid(&e.to_string()))?;
    if parsed.segments().count() != 1 {
        return Err(invalid("it must name a file"));
    }
    Ok(parsed)
}

/// The checks every `mpu/create|complete|abort/<dir>` request starts with, in MLflow's order:
/// serving on, the directory, a JSON body, the file name. Returns the file's full path.
fn multipart_target(
    app: &AppState,
    dir: &str,
    params: &Result<Params, HandlerError>,
) -> Result<(ArtifactStore, ArtifactPath), HandlerError> {
    let store = proxied(app)?.clone();
    let dir = relative_path(Some(dir))?;
    let params = params.as_ref().map_err(|e| HandlerError(e.0.clone()))?;
    let name = multipart_file_name(&params.req_str("path")?)?;
    Ok((store, dir.join(&name)))
}

/// `scheme://host` the client reached this server at: `X-Forwarded-Proto` /
/// `X-Forwarded-Host` (first value) when a proxy set them, else the `Host` header (or the
/// HTTP/2 authority).
fn request_origin(headers: &HeaderMap, uri: &Uri) -> Result<url::Url, ApiError> {
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let scheme = match first("x-forwarded-proto") {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        Some(p) if p.eq_ignore_ascii_case("http") => "http",
        _ => match uri.scheme_str() {
            Some("https") => "https",
            _ => "http",
        },
    };
    let host = first("x-forwarded-host")
        .or_else(|| first(header::HOST.as_str()))
        .or_else(|| uri.authority().map(|a| a.as_str()));
    let Some(host) = host else {
        return Err(ApiError::invalid_parameter(
            "A multipart upload needs the request's Host header to build the part URLs.",
        ));
    };
    let bad_host = || {
        ApiError::invalid_parameter(format!(
            "Cannot build part URLs: '{}' is not a valid host.",
            host.escape_default()
        ))
    };
    let url = url::Url::parse(&format!("{scheme}://{host}/")).map_err(|_| bad_host())?;
    let plain = url.host_str().is_some_and(|h| !h.is_empty())
        && url.path() == "/"
        && url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none();
    if !plain {
        return Err(bad_host());
    }
    Ok(url)
}

/// `<origin><static prefix>/api/2.0/mlflow-artifacts/mpu/part/<path>?upload_id=&part_number=`
/// for each part; every segment and the id percent-encoded.
fn part_urls(
    static_prefix: &str,
    origin: url::Url,
    path: &ArtifactPath,
    upload_id: &str,
    num_parts: u32,
) -> Result<Vec<Value>, ApiError> {
    let mut base = origin;
    {
        let Ok(mut segments) = base.path_segments_mut() else {
            return Err(ApiError::invalid_parameter(
                "Cannot build part URLs from the request's host.",
            ));
        };
        segments.pop_if_empty();
        segments.extend(static_prefix.split('/').filter(|s| !s.is_empty()));
        segments.extend(["api", "2.0", "mlflow-artifacts", "mpu", "part"]);
        segments.extend(path.segments());
    }
    Ok((1..=num_parts)
        .map(|n| {
            let mut url = base.clone();
            url.query_pairs_mut()
                .append_pair("upload_id", upload_id)
                .append_pair("part_number", &n.to_string());
            json!({ "part_number": n, "url": url.as_str(), "headers": {} })
        })
        .collect())
}

/// A part number from a request: `1..=10000`.
fn part_number(value: Option<i64>, field: &str) -> Result<u32, ApiError> {
    let Some(n) = value else {
        return Err(crate::params::missing(field));
    };
    u32::try_from(n)
        .ok()
        .filter(|n| (1..=MAX_MULTIPART_PARTS).contains(n))
        .ok_or_else(|| {
            ApiError::invalid_parameter(format!(
                "Invalid value {n} for parameter '{field}' supplied: part numbers go from 1 to \
                 {MAX_MULTIPART_PARTS}."
            ))
        })
}

/// `POST .../mpu/create/<dir>` `{"path": "<file name>", "num_parts": N}` →
/// `{"upload_id", "credentials": [{"part_number", "url", "headers"}]}`. Local directories
/// (and Azure) answer NOT_IMPLEMENTED, and the client falls back to a plain PUT.
pub async fn multipart_create(
    State(app): State<AppState>,
    Path(dir): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    params: Result<Params, HandlerError>,
) -> HandlerResult<Json<Value>> {
    let (store, path) = multipart_target(&app, &dir, &params)?;
    let params = params?;
    let num_parts = params.opt_i64("num_parts")?.unwrap_or(0);
    let num_parts = u32::try_from(num_parts)
        .ok()
        .filter(|n| *n <= MAX_MULTIPART_PARTS)
        .ok_or_else(|| {
            ApiError::invalid_parameter(format!(
                "Invalid value {num_parts} for parameter 'num_parts' supplied: an upload has 0 \
                 to {MAX_MULTIPART_PARTS} parts."
            ))
        })?;
    if !store.supports_multipart() {
        return Err(ArtifactError::Unsupported(
            ferroflow_artifacts::MULTIPART_UNSUPPORTED.to_string(),
        )
        .into());
    }
    let origin = request_origin(&headers, &uri)?;
    let upload_id = store.multipart_create(&path).await?;
    let credentials = part_urls(
        &app.config.static_prefix,
        origin,
        &path,
        &upload_id,
        num_parts,
    )?;
    tracing::debug!(path = %path, num_parts, "multipart upload started");
    Ok(Json(
        json!({ "upload_id": upload_id, "credentials": credentials }),
    ))
}

/// `PUT .../mpu/part/<path>?upload_id=&part_number=` with the part as the body (the URLs
/// `mpu/create` hands out): stores the part, answers 200 with its `ETag`.
pub async fn multipart_upload_part(
    State(app): State<AppState>,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> HandlerResult<Response> {
    let store = proxied(&app)?;
    if path.ends_with('/') {
        return Err(ApiError::invalid_parameter(format!(
            "'{path}' names a directory; a part upload needs a file path."
        ))
        .into());
    }
    let path = ArtifactPath::parse(&path)?;
    let fields = url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    let query = Params::from_json(fields);
    let upload_id = query.req_str("upload_id")?;
    let number = part_number(query.opt_i64("part_number")?, "part_number")?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_MULTIPART_PART_SIZE) {
        return Err(ApiError::invalid_parameter(format!(
            "A part may hold at most {MAX_MULTIPART_PART_SIZE} bytes (5 GiB)."
        ))
        .into());
    }
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let etag = store
        .multipart_put_part(&path, &upload_id, number, stream)
        .await?;
    let etag = header::HeaderValue::from_str(&etag).map_err(|_| {
        HandlerError::from(ArtifactError::Backend(format!(
            "the storage returned an ETag for part {number} of '{path}' that is not a valid \
             header value"
        )))
    })?;
    let mut resp = StatusCode::OK.into_response();
    resp.headers_mut().insert(header::ETAG, etag);
    Ok(resp)
}

/// `POST .../mpu/complete/<dir>` `{"path", "upload_id", "parts": [{"part_number", "etag"}]}`.
pub async fn multipart_complete(
    State(app): State<AppState>,
    Path(dir): Path<String>,
    params: Result<Params, HandlerError>,
) -> HandlerResult<Json<Value>> {
    let (store, path) = multipart_target(&app, &dir, &params)?;
    let params = params?;
    let upload_id = params.req_str("upload_id")?;
    if params.get("parts").is_none() {
        return Err(crate::params::missing("parts").into());
    }
    let parts = params
        .objects("parts")?
        .into_iter()
        .map(|part| {
            let number = part.get("part_number").filter(|v| !v.is_null());
            let number = match number {
                None => None,
                Some(v) => Some(crate::params::value_as_i64(v).ok_or_else(|| {
                    crate::params::invalid_value("parts.part_number", v, "expected an integer.")
                })?),
            };
            let part_number = part_number(number, "parts.part_number")?;
            let etag = match part.get("etag") {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                _ => {
                    return Err(ApiError::invalid_parameter(format!(
                        "Part {part_number} has no 'etag'; send the ETag header its upload \
                         answered with."
                    )))
                }
            };
            Ok(CompletedPart { part_number, etag })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    store.multipart_complete(&path, &upload_id, parts).await?;
    tracing::debug!(path = %path, "multipart upload completed");
    Ok(Json(json!({})))
}

/// `POST .../mpu/abort/<dir>` `{"path", "upload_id"}`: drops the upload and its parts.
pub async fn multipart_abort(
    State(app): State<AppState>,
    Path(dir): Path<String>,
    params: Result<Params, HandlerError>,
) -> HandlerResult<Json<Value>> {
    let (store, path) = multipart_target(&app, &dir, &params)?;
    let params = params?;
    let upload_id = params.req_str("upload_id")?;
    store.multipart_abort(&path, &upload_id).await?;
    Ok(Json(json!({})))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_file_names_are_one_safe_segment() {
        for (raw, name) in [
            ("model.bin", "model.bin"),
            // Clients before 3.18 sent the local path: its last segment counts, as in MLflow.
            ("/home/me/model.bin", "model.bin"),
            ("C:\\Users\\me\\model.bin", "model.bin"),
            ("../../model.bin", "model.bin"),
            ("weights 100%.bin", "weights 100%.bin"),
        ] {
            assert_eq!(
                multipart_file_name(raw).map(|p| p.to_string()),
                Ok(name.to_string()),
                "{raw}"
            );
        }
        for raw in [
            "", ".", "..", "a/..", "a/", "a\\..", "%2e%2e", "a%2F..", "x\u{0}", "C:x", "#x",
        ] {
            let err = multipart_file_name(raw).expect_err(raw);
            assert_eq!(err.code, ErrorCode::InvalidParameterValue, "{raw}");
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                header::HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn part_urls_encode_every_segment_and_keep_the_static_prefix() {
        let origin = url::Url::parse("https://mlflow.example.com/").expect("url");
        let path = ArtifactPath::parse("1/abc/artifacts/sub dir/w ü 100%?.bin").expect("path");
        let urls = part_urls("/team/mlflow/", origin, &path, "id+/=&x", 2).expect("urls");
        assert_eq!(
            urls,
            vec![
                json!({
                    "part_number": 1,
                    "url": "https://mlflow.example.com/team/mlflow/api/2.0/mlflow-artifacts/mpu/\
                            part/1/abc/artifacts/sub%20dir/w%20%C3%BC%20100%25%3F.bin\
                            ?upload_id=id%2B%2F%3D%26x&part_number=1",
                    "headers": {},
                }),
                json!({
                    "part_number": 2,
                    "url": "https://mlflow.example.com/team/mlflow/api/2.0/mlflow-artifacts/mpu/\
                            part/1/abc/artifacts/sub%20dir/w%20%C3%BC%20100%25%3F.bin\
                            ?upload_id=id%2B%2F%3D%26x&part_number=2",
                    "headers": {},
                }),
            ]
        );
        let origin = url::Url::parse("http://h:1/").expect("url");
        assert_eq!(
            part_urls("", origin, &path, "id", 0).expect("no parts"),
            Vec::<Value>::new()
        );
    }

    #[test]
    fn part_urls_point_back_at_the_host_the_client_used() {
        let uri: Uri = "/api/2.0/mlflow-artifacts/mpu/create/1/x"
            .parse()
            .expect("uri");
        let origin = |pairs: &[(&str, &str)]| {
            request_origin(&headers(pairs), &uri).map(|u| u.as_str().to_string())
        };
        assert_eq!(
            origin(&[("host", "127.0.0.1:5000")]),
            Ok("http://127.0.0.1:5000/".to_string())
        );
        assert_eq!(
            origin(&[("host", "[::1]:5000")]),
            Ok("http://[::1]:5000/".to_string())
        );
        assert_eq!(
            origin(&[
                ("host", "10.0.0.5:5000"),
                ("x-forwarded-proto", "https, http"),
                ("x-forwarded-host", "mlflow.example.com, proxy.internal"),
            ]),
            Ok("https://mlflow.example.com/".to_string())
        );
        // An unknown forwarded scheme is ignored.
        assert_eq!(
            origin(&[("host", "h:1"), ("x-forwarded-proto", "gopher")]),
            Ok("http://h:1/".to_string())
        );
        for bad in ["evil.com/path", "user@evil.com", "a b", "h:1?q", "h#f"] {
            assert!(origin(&[("host", bad)]).is_err(), "{bad}");
        }
        assert!(origin(&[]).is_err());
        let absolute: Uri = "http://h2.example:8080/api".parse().expect("uri");
        assert_eq!(
            request_origin(&HeaderMap::new(), &absolute).map(|u| u.to_string()),
            Ok("http://h2.example:8080/".to_string())
        );
    }
}
