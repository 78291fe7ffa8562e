//! Where a new model version's files come from, checked the way MLflow checks it since its
//! path-traversal CVEs (CVE-2023-6018, CVE-2023-6831, CVE-2024-1560, ...): a version may only
//! point at files the caller could already read through the run or logged model it names.
//!
//! - local paths (`/x`, `file:///x`) must lie inside the named run's (or model's) local
//!   artifact directory;
//! - no source may contain `..` segments or NUL, however many times it is percent-encoded;
//! - `runs:/<id>/...` must name the request's `run_id`; `models:/<model_id>` its `model_id`;
//! - `mlflow-artifacts:` sources (and the server's own artifact URLs) must lie inside the
//!   run's or model's artifact root;
//! - other object-store URIs (`s3://`, `gs://`, ...) pass: the server never reads them.

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

fn invalid(message: String) -> HandlerError {
    ApiError::invalid_parameter(message).into()
}

fn must_identify(source: &str, id_name: &str) -> HandlerError {
    invalid(format!(
        "Invalid model version source: '{source}'. The {id_name} request parameter must identify the resource that contains the source."
    ))
}

fn percent_decode_once(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
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
        return Err(invalid(format!(
            "Invalid model version source: '{source}'. If supplying a source as an http, https, local file path, ftp, objectstore, or mlflow-artifacts uri, an absolute path must be provided without relative path references present. Please provide an absolute path."
        )));
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

/// `(authority, path segments)` of a URI, path normalized (empty and `.` segments dropped).
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
    let same_authority = s_auth == r_auth
        || (s_scheme == "file"
            && (s_auth.is_empty() || s_auth == "localhost")
            && r_auth.is_empty());
    s_scheme == r_scheme && same_authority && !r_parts.is_empty() && s_parts.starts_with(&r_parts)
}

fn is_local(uri: &str) -> bool {
    match scheme(uri) {
        None => true,
        Some(s) => s.eq_ignore_ascii_case("file"),
    }
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

/// `models:/...` parsed as MLflow does: a model id, or a name with version/stage/alias.
enum ModelsUri {
    ModelId(String),
    Named {
        name: String,
        version: Option<String>,
    },
}

fn parse_models_uri(source: &str) -> Option<ModelsUri> {
    let rest = source.strip_prefix("models:")?;
    let path = rest.strip_prefix('/')?;
    if path.starts_with('/') {
        return None; // models://host/... — a remote registry
    }
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        [one] if !one.is_empty() && !one.contains('@') => Some(ModelsUri::ModelId(one.to_string())),
        [one] => one.rsplit_once('@').map(|(name, _)| ModelsUri::Named {
            name: name.to_string(),
            version: None,
        }),
        [name, suffix] if !name.is_empty() && !suffix.is_empty() => Some(ModelsUri::Named {
            name: name.to_string(),
            version: suffix
                .chars()
                .all(|c| c.is_ascii_digit())
                .then(|| suffix.to_string()),
        }),
        _ => None,
    }
}

/// Checks the origin and works out where the files are.
pub async fn resolve_source(
    app: &AppState,
    req: SourceLineage,
) -> Result<ResolvedSource, HandlerError> {
    let source = req.source;
    let mut run_id = req.run_id.filter(|s| !s.is_empty());
    let mut model_id = req.model_id.filter(|s| !s.is_empty());
    let mut storage_location = source.clone();

    if source.starts_with("models:") {
        match parse_models_uri(&source) {
            None => {
                return Err(invalid(format!(
                    "Invalid model version source: '{source}'. Registered model sources must use the active model registry."
                )))
            }
            Some(ModelsUri::ModelId(id)) => {
                if model_id.as_deref().is_some_and(|m| m != id) {
                    return Err(must_identify(&source, "model_id"));
                }
                let model = app.store.get_logged_model(&id, false).await.map_err(|e| {
                    invalid(format!("Unable to fetch model from model URI source artifact location '{source}'.Error: {e}"))
                })?;
                storage_location = model.info.artifact_uri.clone();
                run_id = run_id.or(model.info.source_run_id.clone());
                model_id = Some(id);
            }
            Some(ModelsUri::Named { name, version }) => {
                let v = match version {
                    Some(ver) => {
                        let n = ver.parse::<i64>().map_err(|_| must_identify(&source, "model_id"))?;
                        app.registry.get_model_version(&name, n).await?
                    }
                    None => {
                        return Err(invalid(format!(
                            "Invalid model version source: '{source}'. Use models:/<name>/<version> to register from another registered model."
                        )))
                    }
                };
                if run_id.as_deref().is_some_and(|r| Some(r) != v.run_id.as_deref()) {
                    return Err(invalid(format!(
                        "Invalid model version source: '{source}'. The run_id and model_id request parameters must match the referenced model version."
                    )));
                }
                run_id = run_id.or(v.run_id.clone());
                storage_location = v.storage_location.clone().or(v.source.clone()).unwrap_or_default();
                return Ok(ResolvedSource {
                    source: format!("models:/{}/{}", v.name, v.version),
                    storage_location,
                    run_id,
                    model_id,
                });
            }
        }
        return Ok(ResolvedSource {
            source,
            storage_location,
            run_id,
            model_id,
        });
    }

    reject_relative_references(&source)?;

    // The root the source must stay inside: the logged model's, else the run's.
    let (root, id_name) = if let Some(id) = model_id.as_deref() {
        let model = app.store.get_logged_model(id, true).await?;
        run_id = run_id.or(model.info.source_run_id.clone());
        (Some(model.info.artifact_uri), "model_id")
    } else if let Some(id) = run_id.as_deref() {
        let run = app.store.get_run(id).await?;
        (Some(run.info.artifact_uri), "run_id")
    } else {
        (None, "run_id")
    };

    if is_local(&source) {
        let ok = root
            .as_deref()
            .is_some_and(|r| is_local(r) && within_root(&source, r));
        if !ok {
            return Err(invalid(format!(
                "Invalid model version source: '{source}'. To use a local path as a model version source, the {id_name} request parameter has to be specified and the local path has to be contained within the artifact directory of the run specified by the {id_name}."
            )));
        }
    } else if let Some(rest) = source.strip_prefix("runs:") {
        let rest = rest.trim_start_matches('/');
        if source.starts_with("runs://") && !source.starts_with("runs:///") {
            return Err(must_identify(&source, "run_id"));
        }
        let source_run = rest.split('/').next().unwrap_or_default();
        if model_id.is_some() || run_id.as_deref() != Some(source_run) {
            return Err(must_identify(&source, id_name));
        }
    } else if is_proxied_artifact_source(&source)
        && !root.as_deref().is_some_and(|r| within_root(&source, r))
    {
        return Err(must_identify(&source, id_name));
    }
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
            "mlflow-artifacts://host/..%2f..%2fetc",
            "http://h/api/2.0/mlflow-artifacts/artifacts/%252e%252e/x",
            "/models/artifacts/../../../",
            "file:///a/b%00c",
        ] {
            assert!(reject_relative_references(s).is_err(), "{s}");
        }
        assert!(reject_relative_references("s3://bucket/a..b/model").is_ok());
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
            matches!(parse_models_uri("models:/reg/3"), Some(ModelsUri::Named { version: Some(v), .. }) if v == "3")
        );
        assert!(matches!(
            parse_models_uri("models:/reg@champ"),
            Some(ModelsUri::Named { version: None, .. })
        ));
        assert!(parse_models_uri("models://host/reg/1").is_none());
    }
}
