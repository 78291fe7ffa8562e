//! MLflow's validation rules for tracking input, with MLflow's messages. Pure functions:
//! they run before any store call, so a rejected request writes nothing.

use ferroflow_types::limits::*;
use ferroflow_types::ApiError;
use serde_json::Value;

use crate::params::invalid_value;

const BAD_CHARACTERS: &str = "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).";

/// `^[/\w.\- :]*$` with Python's Unicode `\w`.
fn has_only_valid_characters(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '/' | '.' | '-' | ' ' | ':'))
}

/// POSIX normpath, enough to tell whether a name would resolve to another one.
fn normpath(name: &str) -> String {
    if name.is_empty() {
        return ".".into();
    }
    let absolute = name.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in name.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn path_not_unique(name: &str) -> bool {
    let norm = normpath(name);
    norm != name || norm == "." || norm.starts_with("..") || norm.starts_with('/')
}

/// Metric, param and tag keys: allowed characters, a normalized relative path.
pub fn validate_key(name: &str, path: &str) -> Result<(), ApiError> {
    let v = Value::String(name.to_string());
    if !has_only_valid_characters(name) {
        return Err(invalid_value(path, &v, BAD_CHARACTERS));
    }
    if path_not_unique(name) {
        return Err(invalid_value(
            path,
            &v,
            &format!(
                "Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '{}'",
                normpath(name)
            ),
        ));
    }
    Ok(())
}

pub fn exceeds_maximum_length(what: &str, limit: usize) -> ApiError {
    ApiError::invalid_parameter(format!(
        "'{what}' exceeds the maximum length of {limit} characters"
    ))
}

pub fn validate_length(what: &str, limit: usize, value: &str) -> Result<(), ApiError> {
    if value.chars().count() > limit {
        return Err(exceeds_maximum_length(what, limit));
    }
    Ok(())
}

/// Values longer than `limit` are cut to it (MLflow truncates long param and tag values).
pub fn truncate(value: String, limit: usize) -> String {
    match value.char_indices().nth(limit) {
        Some((byte_index, _)) => value[..byte_index].to_string(),
        None => value,
    }
}

pub fn validate_batch_limits(metrics: usize, params: usize, tags: usize) -> Result<(), ApiError> {
    let check = |entity: &str, limit: usize, n: usize| {
        if n > limit {
            Err(ApiError::invalid_parameter(format!(
                "A batch logging request can contain at most {limit} {entity}. Got {n} {entity}. Please split up {entity} across multiple requests and try again."
            )))
        } else {
            Ok(())
        }
    };
    check("metrics", MAX_METRICS_PER_BATCH, metrics)?;
    check("params", MAX_PARAMS_TAGS_PER_BATCH, params)?;
    check("tags", MAX_PARAMS_TAGS_PER_BATCH, tags)?;
    check(
        "metrics, params, and tags",
        MAX_ENTITIES_PER_BATCH,
        metrics + params + tags,
    )
}

pub fn validate_experiment_name(name: Option<&str>) -> Result<String, ApiError> {
    match name {
        Some(n) if !n.trim().is_empty() => {
            validate_length("name", MAX_EXPERIMENT_NAME_LENGTH, n)?;
            Ok(n.to_string())
        }
        other => Err(ApiError::invalid_parameter(format!(
            "Invalid experiment name: '{}'",
            other.unwrap_or("")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_and_absolute_keys_are_refused() {
        for bad in ["../x", "/abs", "a/../b", "a//b", ".", "a/"] {
            assert!(validate_key(bad, "key").is_err(), "{bad}");
        }
    }

    #[test]
    fn ordinary_keys_pass() {
        for good in ["rmse", "train/loss", "a b:c", "mlflow.runName", "über-lr_1"] {
            assert!(validate_key(good, "key").is_ok(), "{good}");
        }
    }

    #[test]
    fn bad_characters_get_mlflows_message() {
        let msg = validate_key("a!b", "metrics[0].name")
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(msg.starts_with("Invalid value \"a!b\" for parameter 'metrics[0].name' supplied: Names may only contain"), "{msg}");
    }

    #[test]
    fn batch_over_1000_metrics_is_refused() {
        let msg = validate_batch_limits(1001, 0, 0)
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(
            msg.contains("at most 1000 metrics. Got 1001 metrics"),
            "{msg}"
        );
        assert!(validate_batch_limits(900, 100, 1).is_err());
        assert!(validate_batch_limits(900, 50, 50).is_ok());
    }

    #[test]
    fn truncation_counts_characters_not_bytes() {
        assert_eq!(truncate("ééé".into(), 2), "éé");
        assert_eq!(truncate("ab".into(), 5), "ab");
    }
}
