//! Request arguments, read the way MLflow's server reads them: GET (and DELETE) take the
//! query string, where a repeated key is a list; other methods take a JSON object body and
//! must say `Content-Type: application/json`. Handlers then ask for typed fields, and every
//! missing or mistyped field becomes MLflow's INVALID_PARAMETER_VALUE message.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, Method};
use ferroflow_types::ApiError;
use serde_json::{Map, Value};

use crate::error::HandlerError;

/// The most a JSON request body may hold (log-batch's own 1 MB limit is checked apart).
pub const MAX_JSON_BODY: usize = 16 * 1024 * 1024;

const API_DOCS_HINT: &str = " See the API docs for more information about request parameters.";

/// The arguments of one API request.
#[derive(Debug, Default)]
pub struct Params {
    fields: Map<String, Value>,
    /// Size of the JSON body in bytes (0 for query strings).
    pub body_len: usize,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// MLflow's "Invalid value ... for parameter ..." message.
pub fn invalid_value(path: &str, value: &Value, hint: &str) -> ApiError {
    let shown = serde_json::to_string(value).unwrap_or_default();
    ApiError::invalid_parameter(format!(
        "Invalid value {shown} for parameter '{path}' supplied: {hint}"
    ))
}

fn wrong_type(path: &str, value: &Value) -> ApiError {
    let mut e = invalid_value(
        path,
        value,
        &format!("Hint: Value was of type '{}'.", type_name(value)),
    );
    e.message.push_str(API_DOCS_HINT);
    e
}

pub fn missing(path: &str) -> ApiError {
    ApiError::invalid_parameter(format!(
        "Missing value for required parameter '{path}'.{API_DOCS_HINT}"
    ))
}

impl Params {
    pub fn from_json(fields: Map<String, Value>) -> Params {
        Params {
            fields,
            body_len: 0,
        }
    }

    fn from_query(query: &str) -> Params {
        let mut fields = Map::new();
        for (k, v) in form_urlencoded_pairs(query) {
            match fields.get_mut(&k) {
                Some(Value::Array(items)) => items.push(Value::String(v)),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, Value::String(v)]);
                }
                None => {
                    fields.insert(k, Value::String(v));
                }
            }
        }
        Params {
            fields,
            body_len: 0,
        }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        match self.fields.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// A string field; `None` when absent. Numbers and bools are refused like MLflow does.
    pub fn opt_str(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            // A single query-string value repeated by mistake: take the first.
            Some(Value::Array(items))
                if self.body_len == 0 && items.iter().all(Value::is_string) =>
            {
                Ok(items.first().and_then(Value::as_str).map(str::to_string))
            }
            Some(other) => Err(wrong_type(name, other)),
        }
    }

    /// A required, non-empty string field.
    pub fn req_str(&self, name: &str) -> Result<String, ApiError> {
        match self.opt_str(name)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(missing(name)),
        }
    }

    /// `run_id`, falling back to the legacy `run_uuid` both clients still send.
    pub fn run_id(&self) -> Result<String, ApiError> {
        if let Some(id) = self.opt_str("run_id")?.filter(|s| !s.is_empty()) {
            return Ok(id);
        }
        if let Some(id) = self.opt_str("run_uuid")?.filter(|s| !s.is_empty()) {
            return Ok(id);
        }
        Err(missing("run_id"))
    }

    /// An integer field (JSON number or numeric string, as protobuf's JSON accepts).
    pub fn opt_i64(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => value_as_i64(v).map(Some).ok_or_else(|| wrong_type(name, v)),
        }
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(Value::String(s)) => Err(ApiError::invalid_parameter(format!(
                "Invalid boolean value: {s}, must be 'true' or 'false'."
            ))),
            Some(other) => Err(wrong_type(name, other)),
        }
    }

    /// A list of strings; a single query-string value counts as a one-item list.
    pub fn str_list(&self, name: &str) -> Result<Vec<String>, ApiError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| match i {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    other => Err(wrong_type(name, other)),
                })
                .collect(),
            Some(other) => Err(wrong_type(name, other)),
        }
    }

    /// A list of `{key, value}` objects (tags), read leniently: an absent or non-string
    /// key or value reads as "" and is left to the caller's validation.
    pub fn key_value_pairs(&self, name: &str) -> Result<Vec<(String, String)>, ApiError> {
        let text = |o: &Map<String, Value>, f: &str| {
            o.get(f)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Ok(self
            .objects(name)?
            .iter()
            .map(|o| (text(o, "key"), text(o, "value")))
            .collect())
    }

    /// A list of JSON objects (e.g. log-batch's `metrics`).
    pub fn objects(&self, name: &str) -> Result<Vec<Map<String, Value>>, ApiError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| match i {
                    Value::Object(o) => Ok(o.clone()),
                    other => Err(wrong_type(name, other)),
                })
                .collect(),
            Some(other) => Err(wrong_type(name, other)),
        }
    }
}

/// Integers as protobuf's JSON parser takes them: numbers without a fraction, or strings.
pub fn value_as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// Doubles as protobuf's JSON parser takes them, including "NaN" and "Infinity".
pub fn value_as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" | "nan" => Some(f64::NAN),
            "Infinity" | "inf" => Some(f64::INFINITY),
            "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
            other => other
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|_| !other.trim().is_empty()),
        },
        _ => None,
    }
}

/// Minimal `application/x-www-form-urlencoded` decoding for query strings.
fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = HandlerError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let method = req.method().clone();
        let query = req.uri().query().unwrap_or("").to_string();
        if method == Method::GET || (method == Method::DELETE && !query.is_empty()) {
            return Ok(Params::from_query(&query));
        }
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        let needs_json = method == Method::POST || method == Method::PUT;
        match content_type.as_deref() {
            None if needs_json => {
                return Err(ApiError::invalid_parameter(
                    "Bad Request. Content-Type header is missing.",
                )
                .into())
            }
            Some(ct) if needs_json && ct != "application/json" => {
                return Err(ApiError::invalid_parameter(
                    "Bad Request. Content-Type must be one of ['application/json'].",
                )
                .into())
            }
            _ => {}
        }
        let body = Bytes::from_request(req, state).await.map_err(|e| {
            // Past the limit with no Content-Length to refuse it by (http::guard_request does).
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                HandlerError(ApiError::new(
                    ferroflow_types::ErrorCode::RequestTooLarge,
                    format!("The request body is larger than the {MAX_JSON_BODY} bytes this endpoint accepts."),
                ))
            } else {
                HandlerError(ApiError::invalid_parameter(format!(
                    "Could not read the request body: {e}"
                )))
            }
        })?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Params {
                fields: Map::new(),
                body_len: body.len(),
            });
        }
        let value: Value = serde_json::from_slice(&body).map_err(|e| {
            HandlerError(ApiError::invalid_parameter(format!(
                "Malformed JSON in request body: {e}"
            )))
        })?;
        // Old clients double-encode: a JSON string holding the JSON object.
        let value = match value {
            Value::String(s) => serde_json::from_str(&s).map_err(|e| {
                HandlerError(ApiError::invalid_parameter(format!(
                    "Malformed JSON in request body: {e}"
                )))
            })?,
            v => v,
        };
        match value {
            Value::Object(fields) => Ok(Params {
                fields,
                body_len: body.len(),
            }),
            other => Err(ApiError::invalid_parameter(format!(
                "The request body must be a JSON object, got {}.",
                type_name(&other)
            ))
            .into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_query_keys_become_lists() {
        let p = Params::from_query("run_id=a&run_id=b&metric_key=loss%20x");
        assert_eq!(
            p.str_list("run_id").ok(),
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert_eq!(p.req_str("metric_key").ok().as_deref(), Some("loss x"));
    }

    #[test]
    fn run_uuid_is_accepted_for_run_id() {
        let mut m = Map::new();
        m.insert("run_uuid".into(), Value::String("abc".into()));
        assert_eq!(Params::from_json(m).run_id().ok().as_deref(), Some("abc"));
    }

    #[test]
    fn missing_required_field_names_it() {
        let p = Params::default();
        let msg = p
            .req_str("experiment_id")
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(
            msg.starts_with("Missing value for required parameter 'experiment_id'."),
            "{msg}"
        );
    }

    #[test]
    fn doubles_accept_protobuf_special_strings() {
        assert!(value_as_f64(&Value::String("NaN".into())).is_some_and(f64::is_nan));
        assert_eq!(
            value_as_f64(&Value::String("-Infinity".into())),
            Some(f64::NEG_INFINITY)
        );
        assert_eq!(value_as_f64(&Value::String("abc".into())), None);
    }

    #[test]
    fn percent_decoding_handles_truncated_escapes() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%41%"), "A%");
    }
}
