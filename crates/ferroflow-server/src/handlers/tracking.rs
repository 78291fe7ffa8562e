//! Experiment-tracking endpoints (`MlflowService` in MLflow's protos): experiments, runs,
//! metrics, params, tags, inputs and their searches. Each handler reads its arguments
//! through [`Params`], validates them with MLflow's rules, then makes one store call.

use axum::extract::State;
use axum::Json;
use base64::Engine;
use ferroflow_store::{
    BulkIntervalQuery, CreateRun, LogBatch, MetricHistoryQuery, RunMetric, SearchExperiments,
    SearchRuns, UpdateRun,
};
use ferroflow_types::limits::*;
use ferroflow_types::tracking::{
    Dataset, DatasetInput, ExperimentTag, InputTag, Metric, Param, RunTag, ViewType, RUN_STATUSES,
};
use ferroflow_types::ApiError;
use serde_json::{json, Map, Value};

use crate::error::HandlerResult;
use crate::names::generate_run_name;
use crate::params::{invalid_value, missing, value_as_f64, value_as_i64, Params};
use crate::validation::{
    truncate, validate_batch_limits, validate_experiment_name, validate_key, validate_length,
};
use crate::AppState;

type JsonResult = HandlerResult<Json<Value>>;

fn empty() -> JsonResult {
    Ok(Json(json!({})))
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// A list response as protobuf's JSON printer writes it: an empty list and an absent token
/// are left out entirely.
pub(crate) fn list_response<T: serde::Serialize>(
    field: &str,
    items: &[T],
    token: Option<String>,
) -> Json<Value> {
    let mut map = Map::new();
    if !items.is_empty() {
        map.insert(field.into(), to_json(&items));
    }
    if let Some(t) = token {
        map.insert("next_page_token".into(), Value::String(t));
    }
    Json(Value::Object(map))
}

/// Page tokens are base64 of `{"offset": N}`, as MLflow makes them.
pub fn parse_page_token(token: Option<&str>) -> Result<i64, ApiError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(0);
    };
    let bad = |why: &str| ApiError::invalid_parameter(format!("Invalid page token, {why}"));
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(token))
        .map_err(|_| bad("could not base64-decode"))?;
    let value: Value =
        serde_json::from_slice(&decoded).map_err(|_| bad("decoded JSON is malformed"))?;
    // MLflow refuses a token whose offset is missing or 0 (falsy), naming what it parsed.
    match value.get("offset").and_then(value_as_i64) {
        Some(n) if n > 0 => Ok(n),
        _ => Err(bad(&format!("parsed value={}", python_repr(&value)))),
    }
}

/// A page token for `offset`, as MLflow makes them.
pub fn page_token_for(offset: i64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{{\"offset\": {offset}}}"))
}

/// How Python prints a decoded JSON value (MLflow's messages show it that way).
fn python_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{s}'"),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(python_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("'{k}': {}", python_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn view_type(params: &Params, name: &str) -> Result<ViewType, ApiError> {
    match params.get(name) {
        None => Ok(ViewType::ActiveOnly),
        Some(v) => {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                other => {
                    return Err(invalid_value(
                        name,
                        other,
                        "expected ACTIVE_ONLY, DELETED_ONLY or ALL.",
                    ))
                }
            };
            ViewType::parse(&s)
                .ok_or_else(|| invalid_value(name, v, "expected ACTIVE_ONLY, DELETED_ONLY or ALL."))
        }
    }
}

/// `max_results` must be in 1..=limit (MLflow's wording, plus the allowed range).
fn check_max_results(max_results: i64, limit: i64) -> Result<(), ApiError> {
    if (1..=limit).contains(&max_results) {
        return Ok(());
    }
    Err(ApiError::invalid_parameter(format!(
        "Invalid value {max_results} for parameter 'max_results' supplied. It must be between 1 and {limit}."
    )))
}

fn order_by(params: &Params) -> Result<Vec<String>, ApiError> {
    params.str_list("order_by")
}

// ---------------------------------------------------------------- experiments

fn experiment_tags(params: &Params) -> Result<Vec<ExperimentTag>, ApiError> {
    params
        .key_value_pairs("tags")?
        .into_iter()
        .map(|(key, value)| {
            validate_experiment_tag(&key, &value)?;
            Ok(ExperimentTag { key, value })
        })
        .collect()
}

fn validate_experiment_tag(key: &str, value: &str) -> Result<(), ApiError> {
    if key.is_empty() {
        return Err(missing("key"));
    }
    validate_key(key, "key")?;
    validate_length("key", MAX_EXPERIMENT_TAG_KEY_LENGTH, key)?;
    validate_length("value", MAX_EXPERIMENT_TAG_VAL_LENGTH, value)
}

pub async fn create_experiment(State(app): State<AppState>, params: Params) -> JsonResult {
    let name = params.opt_str("name")?;
    if name.as_deref().is_none_or(str::is_empty) {
        return Err(missing("name").into());
    }
    let name = validate_experiment_name(name.as_deref())?;
    let artifact_location = params
        .opt_str("artifact_location")?
        .filter(|s| !s.is_empty());
    if let Some(loc) = &artifact_location {
        if loc.contains('#') || loc.starts_with("runs:") {
            return Err(ApiError::invalid_parameter(format!(
                "Invalid artifact location '{loc}': it may not be a runs:/ URI or contain a fragment."
            ))
            .into());
        }
    }
    let tags = experiment_tags(&params)?;
    let id = app
        .store
        .create_experiment(&name, artifact_location.as_deref(), &tags)
        .await?;
    Ok(Json(json!({ "experiment_id": id })))
}

pub async fn get_experiment(State(app): State<AppState>, params: Params) -> JsonResult {
    let id = params.req_str("experiment_id")?;
    let e = app.store.get_experiment(&id).await?;
    Ok(Json(json!({ "experiment": to_json(&e) })))
}

pub async fn get_experiment_by_name(State(app): State<AppState>, params: Params) -> JsonResult {
    let name = params.req_str("experiment_name")?;
    match app.store.get_experiment_by_name(&name).await? {
        Some(e) => Ok(Json(json!({ "experiment": to_json(&e) }))),
        None => Err(ApiError::does_not_exist(format!(
            "Could not find experiment with name '{name}'"
        ))
        .into()),
    }
}

pub async fn search_experiments(State(app): State<AppState>, params: Params) -> JsonResult {
    // Absent means 0 in MLflow's protocol, which it refuses: clients always send it.
    let max_results = params.opt_i64("max_results")?.unwrap_or(0);
    check_max_results(max_results, SEARCH_EXPERIMENTS_MAX_RESULTS)?;
    let filter =
        ferroflow_search::parse_experiment_filter(&params.opt_str("filter")?.unwrap_or_default())?;
    let order_by = ferroflow_search::parse_experiment_order_by(&order_by(&params)?)?;
    let offset = parse_page_token(params.opt_str("page_token")?.as_deref())?;
    let page = app
        .store
        .search_experiments(SearchExperiments {
            filter,
            order_by,
            view_type: view_type(&params, "view_type")?,
            max_results,
            offset,
        })
        .await?;
    Ok(list_response(
        "experiments",
        &page.items,
        page.next_page_token,
    ))
}

pub async fn update_experiment(State(app): State<AppState>, params: Params) -> JsonResult {
    let id = params.req_str("experiment_id")?;
    let new_name = params.req_str("new_name")?;
    let new_name = validate_experiment_name(Some(&new_name))?;
    app.store.rename_experiment(&id, &new_name).await?;
    empty()
}

pub async fn delete_experiment(State(app): State<AppState>, params: Params) -> JsonResult {
    let id = params.req_str("experiment_id")?;
    app.store.delete_experiment(&id).await?;
    empty()
}

pub async fn restore_experiment(State(app): State<AppState>, params: Params) -> JsonResult {
    let id = params.req_str("experiment_id")?;
    app.store.restore_experiment(&id).await?;
    empty()
}

pub async fn set_experiment_tag(State(app): State<AppState>, params: Params) -> JsonResult {
    let id = params.req_str("experiment_id")?;
    let key = params.req_str("key")?;
    let value = params.opt_str("value")?.unwrap_or_default();
    validate_experiment_tag(&key, &value)?;
    app.store
        .set_experiment_tag(&id, ExperimentTag { key, value })
        .await?;
    empty()
}

pub async fn delete_experiment_tag(State(app): State<AppState>, params: Params) -> JsonResult {
    let id = params.req_str("experiment_id")?;
    let key = params.req_str("key")?;
    app.store.delete_experiment_tag(&id, &key).await?;
    empty()
}

// ---------------------------------------------------------------- runs

/// The `key` (required) and `value` (a string, absent = "") of one `{key, value}` object.
fn key_and_value(obj: &Map<String, Value>, path: &str) -> Result<(String, String), ApiError> {
    let key = match obj.get("key") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(missing(&format!("{path}.key"))),
    };
    let value = match obj.get("value") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(invalid_value(
                &format!("{path}.value"),
                other,
                "expected a string.",
            ))
        }
    };
    Ok((key, value))
}

fn parse_tag(obj: &Map<String, Value>, path: &str) -> Result<RunTag, ApiError> {
    let (key, value) = key_and_value(obj, path)?;
    validate_tag(key, value, path)
}

fn validate_tag(key: String, value: String, path: &str) -> Result<RunTag, ApiError> {
    let key_path = if path.is_empty() {
        "key".to_string()
    } else {
        format!("{path}.key")
    };
    validate_key(&key, &key_path)?;
    validate_length(&key_path, MAX_ENTITY_KEY_LENGTH, &key)?;
    Ok(RunTag {
        key,
        value: truncate(value, MAX_TAG_VAL_LENGTH),
    })
}

fn validate_param(key: String, value: String, path: &str) -> Result<Param, ApiError> {
    let key_path = if path.is_empty() {
        "key".to_string()
    } else {
        format!("{path}.key")
    };
    validate_key(&key, &key_path)?;
    validate_length("Param key", MAX_ENTITY_KEY_LENGTH, &key)?;
    Ok(Param {
        key,
        value: truncate(value, MAX_PARAM_VAL_LENGTH),
    })
}

fn parse_param(obj: &Map<String, Value>, path: &str) -> Result<Param, ApiError> {
    let (key, value) = key_and_value(obj, path)?;
    validate_param(key, value, path)
}

/// A metric from JSON fields, validated as MLflow's `_validate_metric` does.
fn parse_metric(obj: &Map<String, Value>, path: &str) -> Result<Metric, ApiError> {
    let p = |field: &str| {
        if path.is_empty() {
            field.to_string()
        } else {
            format!("{path}.{field}")
        }
    };
    let key = match obj.get("key") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(missing(&p("key"))),
    };
    let name_path = if path.is_empty() {
        "name".to_string()
    } else {
        format!("{path}.name")
    };
    validate_key(&key, &name_path)?;
    let raw_value = match obj.get("value") {
        None | Some(Value::Null) => return Err(missing(&p("value"))),
        Some(v) => v,
    };
    let timestamp_raw = obj.get("timestamp").filter(|v| !v.is_null());
    let value = value_as_f64(raw_value).ok_or_else(|| {
        let ts = timestamp_raw
            .map(|t| t.to_string())
            .unwrap_or_else(|| "None".into());
        invalid_value(
            &p("value"),
            raw_value,
            &format!(
                "(timestamp={ts}). Please specify value as a valid double (64-bit floating point)"
            ),
        )
    })?;
    let Some(timestamp_raw) = timestamp_raw else {
        return Err(missing(&p("timestamp")));
    };
    let timestamp = value_as_i64(timestamp_raw).filter(|t| *t >= 0).ok_or_else(|| {
        invalid_value(
            &p("timestamp"),
            timestamp_raw,
            &format!("metric '{key}' (value={value}). Timestamp must be a nonnegative long (64-bit integer) "),
        )
    })?;
    let step = match obj.get("step").filter(|v| !v.is_null()) {
        None => 0,
        Some(s) => value_as_i64(s).ok_or_else(|| {
            invalid_value(
                &p("step"),
                s,
                &format!(
                    "metric '{key}' (value={value}). Step must be a valid long (64-bit integer)."
                ),
            )
        })?,
    };
    validate_length("Metric name", MAX_ENTITY_KEY_LENGTH, &key)?;
    let text = |name: &str| {
        obj.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    Ok(Metric {
        key,
        value,
        timestamp,
        step,
        dataset_name: text("dataset_name"),
        dataset_digest: text("dataset_digest"),
        model_id: text("model_id"),
        run_id: None,
    })
}

pub async fn create_run(State(app): State<AppState>, params: Params) -> JsonResult {
    let experiment_id = params
        .opt_str("experiment_id")?
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "0".into());
    let user_id = params.opt_str("user_id")?.unwrap_or_default();
    let start_time = params
        .opt_i64("start_time")?
        .unwrap_or_else(crate::now_millis);
    let run_name = params.opt_str("run_name")?.filter(|s| !s.is_empty());
    let tags = params
        .objects("tags")?
        .iter()
        .enumerate()
        .map(|(i, t)| parse_tag(t, &format!("tags[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let tag_name = tags
        .iter()
        .find(|t| t.key == "mlflow.runName")
        .map(|t| t.value.clone());
    if let (Some(n), Some(t)) = (&run_name, &tag_name) {
        if n != t {
            return Err(ApiError::invalid_parameter(format!(
                "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values (run_name='{n}', mlflow.runName='{t}')."
            ))
            .into());
        }
    }
    let run_name = run_name.or(tag_name).unwrap_or_else(generate_run_name);
    validate_length("run_name", MAX_RUN_NAME_LENGTH, &run_name)?;
    let run = app
        .store
        .create_run(CreateRun {
            experiment_id,
            user_id,
            start_time,
            run_name,
            tags,
        })
        .await?;
    Ok(Json(json!({ "run": to_json(&run) })))
}

pub async fn get_run(State(app): State<AppState>, params: Params) -> JsonResult {
    let run_id = params.run_id()?;
    let run = app.store.get_run(&run_id).await?;
    Ok(Json(json!({ "run": to_json(&run) })))
}

pub async fn update_run(State(app): State<AppState>, params: Params) -> JsonResult {
    let run_id = params.run_id()?;
    let status = match params.get("status") {
        None => None,
        Some(Value::String(s)) if RUN_STATUSES.contains(&s.as_str()) => Some(s.clone()),
        Some(Value::Number(n)) => {
            // The enum's numbers: RUNNING=1, SCHEDULED=2, FINISHED=3, FAILED=4, KILLED=5.
            let idx = n
                .as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .filter(|i| (1..=5).contains(i));
            match idx {
                Some(i) => Some(RUN_STATUSES[i - 1].to_string()),
                None => {
                    return Err(invalid_value(
                        "status",
                        &Value::Number(n.clone()),
                        "expected one of RUNNING, SCHEDULED, FINISHED, FAILED, KILLED.",
                    )
                    .into())
                }
            }
        }
        Some(other) => {
            return Err(invalid_value(
                "status",
                other,
                "expected one of RUNNING, SCHEDULED, FINISHED, FAILED, KILLED.",
            )
            .into())
        }
    };
    let end_time = params.opt_i64("end_time")?;
    let run_name = params.opt_str("run_name")?.filter(|s| !s.is_empty());
    if let Some(n) = &run_name {
        validate_length("run_name", MAX_RUN_NAME_LENGTH, n)?;
    }
    let info = app
        .store
        .update_run(
            &run_id,
            UpdateRun {
                status,
                end_time,
                run_name,
            },
        )
        .await?;
    Ok(Json(json!({ "run_info": to_json(&info) })))
}

pub async fn delete_run(State(app): State<AppState>, params: Params) -> JsonResult {
    let run_id = params.run_id()?;
    app.store.delete_run(&run_id).await?;
    empty()
}

pub async fn restore_run(State(app): State<AppState>, params: Params) -> JsonResult {
    let run_id = params.run_id()?;
    app.store.restore_run(&run_id).await?;
    empty()
}

pub async fn log_metric(State(app): State<AppState>, params: Params) -> JsonResult {
    let run_id = params.run_id()?;
    let mut fields = Map::new();
    for f in [
        "key",
        "value",
        "timestamp",
        "step",
        "model_id",
        "dataset_name",
        "dataset_digest",
    ] {
        if let Some(v) = params.get(f) {
            fields.insert(f.into(), v.clone());
        }
    }
    let metric = parse_metric(&fields, "")?;
    app.store
        .log_batch(
            &run_id,
            LogBatch {
                metrics: vec![metric],
                ..Default::default()
            },
        )
        .await?;
    empty()
}

pub async fn log_param(State(app): State<AppState>, params: Params) -> JsonResult {
    let run_id = params.run_id()?;
    let key = params.req_str("key")?;
    let value = params.opt_str("value")?.unwrap_or_default();
    let param = validate_param(key, value, "")?;
    app.store
        .log_batch(
            &run_id,
            LogBatch {
                params: vec![param],
                ..Default::default()
            },
        )
        .await?;
    empty()
}

pub async fn set_tag(State(app): State<AppState>, params: Params) -> JsonResult {
    let run_id = params.run_id()?;
    let key = params.req_str("key")?;
    let value = params.opt_str("value")?.unwrap_or_default();
    let tag = validate_tag(key, value, "")?;
    app.store
        .log_batch(
            &run_id,
            LogBatch {
                tags: vec![tag],
                ..Default::default()
            },
        )
        .await?;
    empty()
}

pub async fn delete_tag(State(app): State<AppState>, params: Params) -> JsonResult {
    let run_id = params.run_id()?;
    let key = params.req_str("key")?;
    app.store.delete_tag(&run_id, &key).await?;
    empty()
}

pub async fn log_batch(State(app): State<AppState>, params: Params) -> JsonResult {
    if params.body_len > MAX_BATCH_LOG_REQUEST_SIZE {
        return Err(ApiError::invalid_parameter(format!(
            "Batched logging API requests must be at most {MAX_BATCH_LOG_REQUEST_SIZE} bytes, got a request of size {}.",
            params.body_len
        ))
        .into());
    }
    let run_id = params.run_id()?;
    let raw_metrics = params.objects("metrics")?;
    let raw_params = params.objects("params")?;
    let raw_tags = params.objects("tags")?;
    validate_batch_limits(raw_metrics.len(), raw_params.len(), raw_tags.len())?;
    let metrics = raw_metrics
        .iter()
        .enumerate()
        .map(|(i, m)| parse_metric(m, &format!("metrics[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let batch_params = raw_params
        .iter()
        .enumerate()
        .map(|(i, p)| parse_param(p, &format!("params[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let tags = raw_tags
        .iter()
        .enumerate()
        .map(|(i, t)| parse_tag(t, &format!("tags[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen = std::collections::HashSet::new();
    let dupes: Vec<String> = batch_params
        .iter()
        .filter(|p| !seen.insert(p.key.as_str()))
        .map(|p| format!("'{}'", p.key))
        .collect();
    if !dupes.is_empty() {
        return Err(ApiError::invalid_parameter(format!(
            "Duplicate parameter keys have been submitted: [{}]. Please ensure the request contains only one param value per param key.",
            dupes.join(", ")
        ))
        .into());
    }
    app.store
        .log_batch(
            &run_id,
            LogBatch {
                metrics,
                params: batch_params,
                tags,
            },
        )
        .await?;
    empty()
}

fn str_field(obj: &Map<String, Value>, name: &str) -> Option<String> {
    obj.get(name).and_then(Value::as_str).map(str::to_string)
}

fn parse_dataset_input(obj: &Map<String, Value>, i: usize) -> Result<DatasetInput, ApiError> {
    let path = format!("datasets[{i}]");
    let d = obj
        .get("dataset")
        .and_then(Value::as_object)
        .ok_or_else(|| missing(&format!("{path}.dataset")))?;
    let required = |name: &str| {
        str_field(d, name)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| missing(&format!("{path}.dataset.{name}")))
    };
    let dataset = Dataset {
        name: required("name")?,
        digest: required("digest")?,
        source_type: required("source_type")?,
        source: required("source")?,
        schema: str_field(d, "schema").filter(|s| !s.is_empty()),
        profile: str_field(d, "profile").filter(|s| !s.is_empty()),
    };
    let too_long = |what: &str, limit: usize, v: &str| {
        if v.len() > limit {
            Err(ApiError::invalid_parameter(format!(
                "Dataset {what} exceeds the maximum length of {limit}"
            )))
        } else {
            Ok(())
        }
    };
    too_long("name", MAX_DATASET_NAME_SIZE, &dataset.name)?;
    too_long("digest", MAX_DATASET_DIGEST_SIZE, &dataset.digest)?;
    too_long("source", MAX_DATASET_SOURCE_SIZE, &dataset.source)?;
    too_long(
        "schema",
        MAX_DATASET_SCHEMA_SIZE,
        dataset.schema.as_deref().unwrap_or(""),
    )?;
    too_long(
        "profile",
        MAX_DATASET_PROFILE_SIZE,
        dataset.profile.as_deref().unwrap_or(""),
    )?;
    let mut tags = Vec::new();
    if let Some(Value::Array(items)) = obj.get("tags") {
        for t in items.iter().filter_map(Value::as_object) {
            let key = str_field(t, "key").unwrap_or_default();
            let value = str_field(t, "value").unwrap_or_default();
            if key.is_empty() {
                return Err(missing(&format!("{path}.tags.key")));
            }
            too_long("input tag key", MAX_INPUT_TAG_KEY_SIZE, &key)?;
            too_long("input tag value", MAX_INPUT_TAG_VALUE_SIZE, &value)?;
            tags.push(InputTag { key, value });
        }
    }
    Ok(DatasetInput { tags, dataset })
}

pub async fn log_inputs(State(app): State<AppState>, params: Params) -> JsonResult {
    let run_id = params.run_id()?;
    let datasets = params
        .objects("datasets")?
        .iter()
        .enumerate()
        .map(|(i, d)| parse_dataset_input(d, i))
        .collect::<Result<Vec<_>, _>>()?;
    let model_ids = params
        .objects("models")?
        .iter()
        .enumerate()
        .map(|(i, m)| {
            m.get("model_id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .ok_or_else(|| missing(&format!("models[{i}].model_id")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    app.store.log_inputs(&run_id, datasets, model_ids).await?;
    empty()
}

pub async fn search_runs(
    State(app): State<AppState>,
    params: Params,
) -> HandlerResult<axum::response::Response> {
    let max_results = params
        .opt_i64("max_results")?
        .unwrap_or(SEARCH_RUNS_DEFAULT_MAX_RESULTS);
    check_max_results(max_results, SEARCH_MAX_RESULTS_THRESHOLD)?;
    let filter =
        ferroflow_search::parse_run_filter(&params.opt_str("filter")?.unwrap_or_default())?;
    let order_by = ferroflow_search::parse_run_order_by(&order_by(&params)?)?;
    let offset = parse_page_token(params.opt_str("page_token")?.as_deref())?;
    let query = SearchRuns {
        experiment_ids: experiment_ids(&params)?,
        filter,
        order_by,
        view_type: view_type(&params, "run_view_type")?,
        max_results,
        offset,
    };
    crate::stream::search_runs(app.store.clone(), query).await
}

/// A search's `experiment_ids`, each once, refused past
/// [`SEARCH_MAX_EXPERIMENT_IDS`](ferroflow_types::limits::SEARCH_MAX_EXPERIMENT_IDS).
pub(crate) fn experiment_ids(params: &Params) -> Result<Vec<String>, crate::error::HandlerError> {
    let mut ids = params.str_list("experiment_ids")?;
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(id.clone()));
    if ids.len() > SEARCH_MAX_EXPERIMENT_IDS {
        return Err(ApiError::invalid_parameter(format!(
            "A search may name at most {SEARCH_MAX_EXPERIMENT_IDS} experiment_ids. Received {} experiment_ids.",
            ids.len()
        ))
        .into());
    }
    Ok(ids)
}

// ---------------------------------------------------------------- metric history

fn run_metric_json(m: &RunMetric) -> Value {
    let mut v = to_json(&m.metric);
    if let Value::Object(map) = &mut v {
        map.insert("run_id".into(), Value::String(m.run_id.clone()));
    }
    v
}

pub async fn get_metric_history(
    State(app): State<AppState>,
    params: Params,
) -> HandlerResult<axum::response::Response> {
    let run_id = params.run_id()?;
    let metric_key = params.req_str("metric_key")?;
    let max_results = params.opt_i64("max_results")?;
    if let Some(m) = max_results {
        if m < 1 {
            return Err(ApiError::invalid_parameter(format!(
                "max_results must be a positive integer, got {m}."
            ))
            .into());
        }
    }
    let offset = parse_page_token(params.opt_str("page_token")?.as_deref())?;
    let query = MetricHistoryQuery {
        run_id,
        metric_key,
        max_results,
        offset,
    };
    crate::stream::metric_history(app.store.clone(), query).await
}

pub async fn get_metric_history_bulk(State(app): State<AppState>, params: Params) -> JsonResult {
    let run_ids = params.str_list("run_id")?;
    if run_ids.is_empty() {
        return Err(ApiError::invalid_parameter(
            "GetMetricHistoryBulk request must specify at least one run_id.",
        )
        .into());
    }
    if run_ids.len() > HISTORY_BULK_MAX_RUNS {
        return Err(ApiError::invalid_parameter(format!(
            "GetMetricHistoryBulk request cannot specify more than {HISTORY_BULK_MAX_RUNS} run_ids. Received {} run_ids.",
            run_ids.len()
        ))
        .into());
    }
    let metric_key = params
        .opt_str("metric_key")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::invalid_parameter("GetMetricHistoryBulk request must specify a metric_key.")
        })?;
    let max_results = params
        .opt_i64("max_results")?
        .unwrap_or(HISTORY_BULK_MAX_RESULTS)
        .clamp(1, HISTORY_BULK_MAX_RESULTS);
    let metrics = app
        .store
        .get_metric_history_bulk(&run_ids, &metric_key, max_results)
        .await?;
    Ok(list_response(
        "metrics",
        &metrics.iter().map(run_metric_json).collect::<Vec<_>>(),
        None,
    ))
}

pub async fn get_metric_history_bulk_interval(
    State(app): State<AppState>,
    params: Params,
) -> JsonResult {
    let run_ids = params.str_list("run_ids")?;
    if run_ids.is_empty() {
        return Err(missing("run_ids").into());
    }
    if run_ids.len() > HISTORY_BULK_INTERVAL_MAX_RUNS {
        return Err(ApiError::invalid_parameter(format!(
            "GetMetricHistoryBulkInterval request must specify at most {HISTORY_BULK_INTERVAL_MAX_RUNS} run_ids. Received {} run_ids.",
            run_ids.len()
        ))
        .into());
    }
    let metric_key = params.req_str("metric_key")?;
    let start_step = params.opt_i64("start_step")?;
    let end_step = params.opt_i64("end_step")?;
    if start_step.is_some() != end_step.is_some() {
        return Err(ApiError::invalid_parameter(
            "If either start step or end step are specified, both must be specified.",
        )
        .into());
    }
    if let (Some(s), Some(e)) = (start_step, end_step) {
        if s > e {
            return Err(
                ApiError::invalid_parameter("end_step must be greater than start_step. ").into(),
            );
        }
    }
    let max_results = params
        .opt_i64("max_results")?
        .unwrap_or(HISTORY_BULK_INTERVAL_DEFAULT_MAX_RESULTS);
    if !(1..=HISTORY_BULK_INTERVAL_MAX_RESULTS).contains(&max_results) {
        return Err(ApiError::invalid_parameter(format!(
            "max_results must be between 1 and {HISTORY_BULK_INTERVAL_MAX_RESULTS}."
        ))
        .into());
    }
    let metrics = app
        .store
        .get_metric_history_bulk_interval(BulkIntervalQuery {
            run_ids,
            metric_key,
            start_step,
            end_step,
            max_results,
        })
        .await?;
    Ok(list_response(
        "metrics",
        &metrics.iter().map(run_metric_json).collect::<Vec<_>>(),
        None,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_mlflows_format() {
        let token = base64::engine::general_purpose::STANDARD.encode("{\"offset\": 30}");
        assert_eq!(parse_page_token(Some(&token)).ok(), Some(30));
        assert_eq!(parse_page_token(None).ok(), Some(0));
        assert!(parse_page_token(Some("!!!")).is_err());
    }

    #[test]
    fn a_zero_offset_token_is_refused_like_mlflow() {
        let token = page_token_for(0);
        let msg = parse_page_token(Some(&token))
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert_eq!(msg, "Invalid page token, parsed value={'offset': 0}");
    }

    #[test]
    fn metric_with_string_value_names_the_field() {
        let mut m = Map::new();
        m.insert("key".into(), json!("loss"));
        m.insert("value".into(), json!("abc"));
        m.insert("timestamp".into(), json!(1));
        let msg = parse_metric(&m, "metrics[0]")
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(
            msg.starts_with("Invalid value \"abc\" for parameter 'metrics[0].value'"),
            "{msg}"
        );
    }

    #[test]
    fn negative_timestamp_is_refused() {
        let mut m = Map::new();
        m.insert("key".into(), json!("loss"));
        m.insert("value".into(), json!(1.0));
        m.insert("timestamp".into(), json!(-5));
        assert!(parse_metric(&m, "").is_err());
    }
}
