//! Where a new model version's files come from, checked the way MLflow checks it since its
//! path-traversal CVEs (CVE-2023-6018, CVE-2023-6831, CVE-2024-1560, ...) and its
//! host-addressed-scheme advisory: a version may only point at files the caller could
//! already read through the run or logged model it names.
//!
//! - schemes that make the server connect to a host (`ftp`, `http(s)`, `mlflow-artifacts://host`,
//!   ...) are refused unless `MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES` allows them;
//! - no source may contain `..` segments or NUL, however many times it is percent-encoded,
//!   and an object-store URI must name more than its bucket;
//! - local paths (`/x`, `file:///x`, relative paths) must lie inside the named run's (or
//!   model's) local artifact directory;
//! - `runs:/<id>/...` must name the request's `run_id`; `models:/<model_id>` its `model_id`;
//!   `models:/<name>/<version|stage|latest>` and `models:/<name>@<alias>` resolve to a version;
//! - `mlflow-artifacts:` sources must lie inside the run's or model's artifact root;
//! - other object-store URIs (`s3://b/k`, `gs://...`) pass: the server never reads them.

use ferroflow_types::registry::{canonical_stage, ModelVersion};
use ferroflow_types::ApiError;

use crate::error::HandlerError;
use crate::AppState;

/// What the request said about the version's origin.
pub struct SourceLineage {
    pub source: String,
    pub run_id: Option<String>,
    pub model_id: Option<String>,
}

/// The checked origin: what to store as `source`, where the files are, and the run and
/// logged model the version comes from.
pub struct ResolvedSource {
    pub source: String,
    pub storage_location: String,
    pub run_id: Option<String>,
    pub model_id: Option<String>,
}

/// Schemes whose repositories connect to the host named in the URI.
const HOST_ADDRESSED_SCHEMES: [&str; 10] = [
    "ftp",
    "sftp",
    "hdfs",
    "viewfs",
    "http",
    "https",
    "mlflow-artifacts",
    "r2",
    "b2",
    "abfss",
];

fn invalid(message: String) -> HandlerError {
    ApiError::invalid_parameter(message).into()
}

fn must_identify(source: &str, id_name: &str) -> HandlerError {
    invalid(format!(
        "Invalid model version source: '{source}'. The {id_name} request parameter must identify the resource that contains the source."
    ))
}

fn relative_reference(source: &str) -> HandlerError {
    invalid(format!(
        "Invalid model version source: '{source}'. If supplying a source as an http, https, local file path, ftp, objectstore, or mlflow-artifacts uri, an absolute path must be provided without relative path references present. Please provide an absolute path."
    ))
}

fn percent_decode_once(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes until stable, so `%252e%252e` is seen as `..`.
fn fully_decoded(s: &str) -> String {
    let mut current = s.to_string();
    for _ in 0..8 {
        let next = percent_decode_once(&current);
        if next == current {
            break;
        }
        current = next;
    }
    current
}

fn reject_relative_references(source: &str) -> Result<(), HandlerError> {
    let decoded = fully_decoded(source);
    if decoded.contains('\0') || decoded.split(['/', '\\']).any(|seg| seg == "..") {
        return Err(relative_reference(source));
    }
    Ok(())
}

fn scheme(uri: &str) -> Option<&str> {
    let (scheme, _) = uri.split_once(':')?;
    // A Windows drive letter ("C:") is a path, not a scheme.
    (scheme.len() > 1
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)))
    .then_some(scheme)
}

/// `(scheme, authority, path segments)` of a URI, path normalized (empty and `.` dropped).
fn uri_parts(uri: &str) -> (String, String, Vec<String>) {
    let decoded = fully_decoded(uri);
    let (scheme_part, rest) = match scheme(&decoded) {
        Some(s) => (s.to_ascii_lowercase(), decoded[s.len() + 1..].to_string()),
        None => ("file".to_string(), decoded.clone()),
    };
    let (authority, path) = match rest.strip_prefix("//") {
        Some(r) => match r.split_once('/') {
            Some((a, p)) => (a.to_string(), p.to_string()),
            None => (r.to_string(), String::new()),
        },
        None => (String::new(), rest),
    };
    let segments = path
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .map(str::to_string)
        .collect();
    (scheme_part, authority, segments)
}

fn within_root(source: &str, root: &str) -> bool {
    let (s_scheme, s_auth, s_parts) = uri_parts(source);
    let (r_scheme, r_auth, r_parts) = uri_parts(root);
    let local_host = |a: &str| a.is_empty() || a == "localhost";
    let same_authority =
        s_auth == r_auth || (s_scheme == "file" && local_host(&s_auth) && local_host(&r_auth));
    s_scheme == r_scheme && same_authority && !r_parts.is_empty() && s_parts.starts_with(&r_parts)
}

fn is_local(uri: &str) -> bool {
    match scheme(uri) {
        None => true,
        Some(s) => s.eq_ignore_ascii_case("file"),
    }
}

/// The absolute, normalized path a local source names (`file://` stripped; a relative path
/// is taken from the server's working directory, as MLflow resolves it).
fn local_path(source: &str) -> String {
    let (_, _, parts) = uri_parts(source);
    let mut base: Vec<String> = if source.starts_with('/') || source.starts_with("file:") {
        Vec::new()
    } else {
        let cwd = std::env::current_dir()
            .map(|d| d.to_string_lossy().to_string())
            .unwrap_or_default();
        uri_parts(&cwd).2
    };
    // `..` is resolved lexically, as pathlib's resolve() would for paths without symlinks.
    for part in parts {
        if part == ".." {
            base.pop();
        } else {
            base.push(part);
        }
    }
    format!("/{}", base.join("/"))
}

/// The server's own proxied-artifact locations, in either spelling.
fn is_proxied_artifact_source(source: &str) -> bool {
    let (scheme, _, parts) = uri_parts(source);
    if scheme == "mlflow-artifacts" {
        return true;
    }
    let route = ["api", "2.0", "mlflow-artifacts", "artifacts"];
    (scheme == "http" || scheme == "https") && parts.windows(route.len()).any(|w| w == route)
}

fn reject_host_addressed(source: &str) -> Result<(), HandlerError> {
    let Some(scheme) = scheme(source).map(str::to_ascii_lowercase) else {
        return Ok(());
    };
    if !HOST_ADDRESSED_SCHEMES.contains(&scheme.as_str()) {
        return Ok(());
    }
    if scheme == "mlflow-artifacts" && !source[scheme.len() + 1..].starts_with("//") {
        return Ok(()); // no host: the server's own proxied store
    }
    let allowed =
        std::env::var("MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES").unwrap_or_default();
    if allowed
        .split(',')
        .any(|s| s.trim().eq_ignore_ascii_case(&scheme))
    {
        return Ok(());
    }
    Err(invalid(format!(
        "'source' cannot use the '{scheme}' scheme: the '{scheme}' scheme addresses a host other than the tracking server's configured artifact storage, so the server would connect to the host named in the URI. Set the MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES environment variable on the server to allow it."
    )))
}

/// `models:/...` parsed as MLflow does: a model id, or a name with a suffix.
enum ModelsUri {
    ModelId(String),
    /// `suffix`: a version number, a stage, `latest`, or `@alias`.
    Named {
        name: String,
        suffix: String,
    },
}

fn parse_models_uri(source: &str) -> Option<ModelsUri> {
    let path = source.strip_prefix("models:")?.strip_prefix('/')?;
    if path.starts_with('/') {
        return None; // models://host/... — a remote registry
    }
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        [one] if !one.is_empty() && !one.contains('@') => Some(ModelsUri::ModelId(one.to_string())),
        [one] => one
            .rsplit_once('@')
            .filter(|(name, alias)| !name.is_empty() && !alias.is_empty())
            .map(|(name, alias)| ModelsUri::Named {
                name: name.to_string(),
                suffix: format!("@{alias}"),
            }),
        [name, suffix] if !name.is_empty() && !suffix.is_empty() => Some(ModelsUri::Named {
            name: name.to_string(),
            suffix: suffix.to_string(),
        }),
        _ => None,
    }
}

/// The version a `models:/<name>/<suffix>` or `models:/<name>@<alias>` source points at.
async fn resolve_named_version(
    app: &AppState,
    name: &str,
    suffix: &str,
) -> Result<ModelVersion, HandlerError> {
    // An unknown model is reported as such before its versions are looked at.
    app.registry.get_registered_model(name).await?;
    if let Some(alias) = suffix.strip_prefix('@') {
        return Ok(app.registry.get_model_version_by_alias(name, alias).await?);
    }
    if suffix.chars().all(|c| c.is_ascii_digit()) {
        let n = suffix
            .parse::<i64>()
            .map_err(|_| invalid(format!("Invalid model version '{suffix}'.")))?;
        return Ok(app.registry.get_model_version(name, n).await?);
    }
    if suffix.eq_ignore_ascii_case("latest") {
        return Ok(app
            .registry
            .get_model_version_by_alias(name, "latest")
            .await?);
    }
    let stage = canonical_stage(suffix).ok_or_else(|| {
        invalid(format!("Invalid Model Version stage: {suffix}. Value must be one of None, Staging, Production, Archived."))
    })?;
    let mut versions = app
        .registry
        .get_latest_versions(name, vec![stage.to_string()])
        .await?;
    versions.pop().ok_or_else(|| {
        invalid(format!(
            "No versions of model with name '{name}' and stage '{suffix}' found"
        ))
    })
}

/// A run as the caller named it: an unknown run cannot contain the source.
async fn run_root(app: &AppState, run_id: &str, source: &str) -> Result<String, HandlerError> {
    app.store
        .get_run(run_id)
        .await
        .map(|r| r.info.artifact_uri)
        .map_err(|_| must_identify(source, "run_id"))
}

/// A logged model's artifact root and source run.
async fn model_root(
    app: &AppState,
    model_id: &str,
    source: &str,
) -> Result<(String, Option<String>), HandlerError> {
    app.store
        .get_logged_model(model_id, true)
        .await
        .map(|m| (m.info.artifact_uri, m.info.source_run_id))
        .map_err(|_| must_identify(source, "model_id"))
}

/// Checks the origin and works out where the files are.
pub async fn resolve_source(
    app: &AppState,
    req: SourceLineage,
) -> Result<ResolvedSource, HandlerError> {
    let source = req.source;
    let mut run_id = req.run_id.filter(|s| !s.is_empty());
    let model_id = req.model_id.filter(|s| !s.is_empty());
    reject_host_addressed(&source)?;

    if source.starts_with("models:") {
        let registry_only = || {
            invalid(format!(
                "Invalid model version source: '{source}'. Registered model sources must use the active model registry."
            ))
        };
        return match parse_models_uri(&source).ok_or_else(registry_only)? {
            ModelsUri::ModelId(id) => {
                // The request's model_id must name the very model the source points at.
                if model_id.as_deref() != Some(id.as_str()) {
                    return Err(must_identify(&source, "model_id"));
                }
                let model = app.store.get_logged_model(&id, false).await.map_err(|e| {
                    invalid(format!("Unable to fetch model from model URI source artifact location '{source}'.Error: {e}"))
                })?;
                run_id = run_id.or(model.info.source_run_id.clone());
                Ok(ResolvedSource {
                    storage_location: model.info.artifact_uri,
                    source,
                    run_id,
                    model_id: Some(id),
                })
            }
            ModelsUri::Named { name, suffix } => {
                let v = resolve_named_version(app, &name, &suffix).await?;
                if run_id
                    .as_deref()
                    .is_some_and(|r| Some(r) != v.run_id.as_deref())
                {
                    return Err(invalid(format!(
                        "Invalid model version source: '{source}'. The run_id and model_id request parameters must match the referenced model version."
                    )));
                }
                Ok(ResolvedSource {
                    source: format!("models:/{}/{}", v.name, v.version),
                    storage_location: v
                        .storage_location
                        .clone()
                        .or(v.source.clone())
                        .unwrap_or_default(),
                    run_id: run_id.or(v.run_id.clone()),
                    model_id,
                })
            }
        };
    }

    // Local paths are resolved and checked for containment below, like MLflow does; every
    // other source must not carry relative references at all.
    if !is_local(&source) {
        reject_relative_references(&source)?;
    }
    if let Some(s) = scheme(&source) {
        // An object-store URI must name a key under its bucket, not the bucket itself.
        let (_, authority, parts) = uri_parts(&source);
        if !is_local(&source) && s != "runs" && !authority.is_empty() && parts.is_empty() {
            return Err(relative_reference(&source));
        }
    }
    let id_name = if model_id.is_some() {
        "model_id"
    } else {
        "run_id"
    };

    if is_local(&source) {
        let root = match (model_id.as_deref(), run_id.as_deref()) {
            (Some(m), _) => Some(model_root(app, m, &source).await?.0),
            (None, Some(r)) => Some(run_root(app, r, &source).await?),
            (None, None) => None,
        };
        // MLflow names the resolved path once it knew which run to compare against.
        let shown = if root.is_some() {
            local_path(&source)
        } else {
            source.clone()
        };
        let ok = root
            .as_deref()
            .is_some_and(|r| is_local(r) && within_root(&local_path(&source), r));
        if !ok {
            return Err(invalid(format!(
                "Invalid model version source: '{shown}'. To use a local path as a model version source, the {id_name} request parameter has to be specified and the local path has to be contained within the artifact directory of the run specified by the {id_name}."
            )));
        }
    } else if let Some(rest) = source.strip_prefix("runs:") {
        if rest.starts_with("//") && !rest.starts_with("///") {
            return Err(must_identify(&source, "run_id"));
        }
        // Only the id is compared; the run itself is not looked up (as in MLflow).
        let source_run = rest
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default();
        if model_id.is_some() || run_id.as_deref() != Some(source_run) {
            return Err(must_identify(&source, id_name));
        }
    } else if is_proxied_artifact_source(&source) {
        let root = match (model_id.as_deref(), run_id.as_deref()) {
            (Some(m), _) => {
                let (root, source_run) = model_root(app, m, &source).await?;
                run_id = run_id.or(source_run);
                Some(root)
            }
            (None, Some(r)) => Some(run_root(app, r, &source).await?),
            (None, None) => None,
        };
        if !root.as_deref().is_some_and(|r| within_root(&source, r)) {
            return Err(must_identify(&source, id_name));
        }
    } else if let (Some(m), None) = (model_id.as_deref(), run_id.as_deref()) {
        run_id = model_root(app, m, &source).await?.1;
    }
    let storage_location = source.clone();
    Ok(ResolvedSource {
        source,
        storage_location,
        run_id,
        model_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_traversal_is_refused() {
        for s in [
            "s3://bucket/a/../../b",
            "mlflow-artifacts:/..%2f..%2fetc",
            "s3://b/api/2.0/mlflow-artifacts/artifacts/%252e%252e/x",
            "/models/artifacts/../../../",
            "file:///a/b%00c",
        ] {
            assert!(reject_relative_references(s).is_err(), "{s}");
        }
        assert!(reject_relative_references("s3://bucket/a..b/model").is_ok());
    }

    #[test]
    fn host_addressed_schemes_are_refused() {
        assert!(reject_host_addressed("ftp://evil/x").is_err());
        assert!(
            reject_host_addressed("https://evil/api/2.0/mlflow-artifacts/artifacts/x").is_err()
        );
        assert!(reject_host_addressed("mlflow-artifacts://evil:80/x").is_err());
        assert!(reject_host_addressed("mlflow-artifacts:/1/x").is_ok());
        assert!(reject_host_addressed("s3://bucket/key").is_ok());
    }

    #[test]
    fn within_root_compares_segments_not_prefixes() {
        assert!(within_root(
            "mlflow-artifacts:/1/abc/artifacts/model",
            "mlflow-artifacts:/1/abc/artifacts"
        ));
        assert!(!within_root(
            "mlflow-artifacts:/1/abcd/artifacts",
            "mlflow-artifacts:/1/abc"
        ));
        assert!(within_root(
            "/tmp/runs/1/x/artifacts/m",
            "/tmp/runs/1/x/artifacts"
        ));
        assert!(within_root("file:///tmp/r/a/m", "/tmp/r/a"));
        assert!(!within_root("/etc/passwd", "/tmp/r/a"));
    }

    #[test]
    fn models_uris_parse_like_mlflow() {
        assert!(
            matches!(parse_models_uri("models:/m-123"), Some(ModelsUri::ModelId(id)) if id == "m-123")
        );
        assert!(
            matches!(parse_models_uri("models:/reg/3"), Some(ModelsUri::Named { suffix, .. }) if suffix == "3")
        );
        assert!(
            matches!(parse_models_uri("models:/reg@champ"), Some(ModelsUri::Named { suffix, .. }) if suffix == "@champ")
        );
        assert!(parse_models_uri("models://host/reg/1").is_none());
    }

    #[test]
    fn local_paths_drop_the_file_scheme() {
        assert_eq!(local_path("file:///etc/passwd"), "/etc/passwd");
        assert_eq!(local_path("/a/./b"), "/a/b");
        assert_eq!(local_path("/a/b/../../c"), "/c");
        assert_eq!(local_path("/a/%2e%2e/c"), "/c");
    }
}
