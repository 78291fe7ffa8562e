//! MLflow 3 logged models (`/logged-models/...`), the run ↔ model links (`runs/outputs`)
//! and the legacy `runs/log-model` route that 2.x clients call after saving a model.

use axum::extract::{Path, State};
use axum::Json;
use ferroflow_store::{CreateLoggedModel, LoggedModelOrderBy, SearchLoggedModels};
use ferroflow_types::tracking::{
    logged_model_status_from_wire, LoggedModelParameter, LoggedModelTag, ModelOutput,
};
use ferroflow_types::ApiError;
use serde_json::{json, Map, Value};

use crate::error::HandlerResult;
use crate::names::generate_run_name;
use crate::params::{invalid_value, missing, value_as_i64, Params};
use crate::AppState;

use super::tracking::{list_response, parse_page_token};

type JsonResult = HandlerResult<Json<Value>>;

/// Default page size of logged-models/search, as MLflow's.
const SEARCH_LOGGED_MODELS_DEFAULT_MAX_RESULTS: i64 = 100;

fn model_json(model: &ferroflow_types::tracking::LoggedModel) -> Json<Value> {
    Json(json!({ "model": serde_json::to_value(model).unwrap_or(Value::Null) }))
}

fn key_values(params: &Params, field: &str) -> Result<Vec<(String, String)>, ApiError> {
    params
        .objects(field)?
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let key = o
                .get("key")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            let key = key
                .ok_or_else(|| missing(&format!("{field}[{i}].key")))?
                .to_string();
            let value = match o.get("value") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            Ok((key, value))
        })
        .collect()
}

fn tags(params: &Params) -> Result<Vec<LoggedModelTag>, ApiError> {
    Ok(key_values(params, "tags")?
        .into_iter()
        .map(|(key, value)| LoggedModelTag { key, value })
        .collect())
}

fn model_params(params: &Params) -> Result<Vec<LoggedModelParameter>, ApiError> {
    Ok(key_values(params, "params")?
        .into_iter()
        .map(|(key, value)| LoggedModelParameter { key, value })
        .collect())
}

/// MLflow refuses names that would break `models:/` URIs or paths.
fn validate_model_name(name: &str) -> Result<(), ApiError> {
    const BAD: [char; 6] = ['/', ':', '.', '%', '"', '\''];
    if name.is_empty() || name.contains(BAD) {
        return Err(ApiError::invalid_parameter(format!(
            "Invalid model name ('{name}') provided. Model name must be a non-empty string and cannot contain the following characters: ('/', ':', '.', '%', '\"', \"'\")"
        )));
    }
    Ok(())
}

pub async fn create_logged_model(State(app): State<AppState>, params: Params) -> JsonResult {
    let experiment_id = params.req_str("experiment_id")?;
    let name = match params.opt_str("name")?.filter(|s| !s.is_empty()) {
        Some(n) => {
            validate_model_name(&n)?;
            n
        }
        None => generate_run_name(),
    };
    let model = app
        .store
        .create_logged_model(CreateLoggedModel {
            experiment_id,
            name,
            model_type: params.opt_str("model_type")?.filter(|s| !s.is_empty()),
            source_run_id: params.opt_str("source_run_id")?.filter(|s| !s.is_empty()),
            params: model_params(&params)?,
            tags: tags(&params)?,
        })
        .await?;
    Ok(model_json(&model))
}

pub async fn get_logged_model(
    State(app): State<AppState>,
    Path(model_id): Path<String>,
    params: Params,
) -> JsonResult {
    let allow_deleted = params.opt_bool("allow_deleted")?.unwrap_or(false);
    let model = app.store.get_logged_model(&model_id, allow_deleted).await?;
    Ok(model_json(&model))
}

pub async fn finalize_logged_model(
    State(app): State<AppState>,
    Path(model_id): Path<String>,
    params: Params,
) -> JsonResult {
    let status = match params.get("status") {
        None => return Err(missing("status").into()),
        Some(v) => {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            logged_model_status_from_wire(&text).ok_or_else(|| {
                invalid_value(
                    "status",
                    v,
                    "expected a LoggedModelStatus such as LOGGED_MODEL_READY.",
                )
            })?
        }
    };
    let model = app.store.finalize_logged_model(&model_id, status).await?;
    Ok(model_json(&model))
}

pub async fn delete_logged_model(
    State(app): State<AppState>,
    Path(model_id): Path<String>,
) -> JsonResult {
    app.store.delete_logged_model(&model_id).await?;
    Ok(Json(json!({})))
}

pub async fn set_logged_model_tags(
    State(app): State<AppState>,
    Path(model_id): Path<String>,
    params: Params,
) -> JsonResult {
    app.store
        .set_logged_model_tags(&model_id, tags(&params)?)
        .await?;
    Ok(Json(json!({})))
}

pub async fn delete_logged_model_tag(
    State(app): State<AppState>,
    Path((model_id, tag_key)): Path<(String, String)>,
) -> JsonResult {
    app.store
        .delete_logged_model_tag(&model_id, &tag_key)
        .await?;
    Ok(Json(json!({})))
}

pub async fn log_logged_model_params(
    State(app): State<AppState>,
    Path(model_id): Path<String>,
    params: Params,
) -> JsonResult {
    app.store
        .log_logged_model_params(&model_id, model_params(&params)?)
        .await?;
    Ok(Json(json!({})))
}

fn order_by_entry(o: &Map<String, Value>, i: usize) -> Result<LoggedModelOrderBy, ApiError> {
    let field = o
        .get("field_name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let field = field.ok_or_else(|| missing(&format!("order_by[{i}].field_name")))?;
    let known = [
        "name",
        "model_id",
        "model_type",
        "status",
        "source_run_id",
        "creation_timestamp",
        "creation_time",
        "last_updated_timestamp",
        "last_updated_time",
    ];
    let valid = field
        .strip_prefix("metrics.")
        .is_some_and(|m| !m.is_empty())
        || known.contains(&field);
    if !valid {
        return Err(ApiError::invalid_parameter(format!(
            "Invalid order by field name: {field}. Expected an attribute ({}) or metrics.<name>.",
            known.join(", ")
        )));
    }
    let ascending = o.get("ascending").and_then(Value::as_bool).unwrap_or(true);
    Ok(LoggedModelOrderBy {
        field_name: field.to_string(),
        ascending,
    })
}

pub async fn search_logged_models(State(app): State<AppState>, params: Params) -> JsonResult {
    let experiment_ids = super::tracking::experiment_ids(&params)?;
    if experiment_ids.is_empty() {
        return Err(missing("experiment_ids").into());
    }
    let filter = ferroflow_search::parse_logged_model_filter(
        &params.opt_str("filter")?.unwrap_or_default(),
    )?;
    let order_by = params
        .objects("order_by")?
        .iter()
        .enumerate()
        .map(|(i, o)| order_by_entry(o, i))
        .collect::<Result<Vec<_>, _>>()?;
    let max_results = match params.get("max_results") {
        None => SEARCH_LOGGED_MODELS_DEFAULT_MAX_RESULTS,
        Some(v) => match value_as_i64(v) {
            Some(0) => SEARCH_LOGGED_MODELS_DEFAULT_MAX_RESULTS,
            Some(n) if n > 0 => n.min(ferroflow_types::limits::SEARCH_MAX_RESULTS_THRESHOLD),
            _ => {
                return Err(invalid_value("max_results", v, "expected a positive integer.").into())
            }
        },
    };
    let offset = parse_page_token(params.opt_str("page_token")?.as_deref())?;
    let page = app
        .store
        .search_logged_models(SearchLoggedModels {
            experiment_ids,
            filter,
            order_by,
            max_results,
            offset,
        })
        .await?;
    Ok(list_response("models", &page.items, page.next_page_token))
}

pub async fn log_outputs(State(app): State<AppState>, params: Params) -> JsonResult {
    let run_id = params.run_id()?;
    if params.get("models").is_none() {
        return Err(missing("models").into());
    }
    let models = params
        .objects("models")?
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let model_id = m
                .get("model_id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            let model_id = model_id
                .ok_or_else(|| missing(&format!("models[{i}].model_id")))?
                .to_string();
            let step = m.get("step").and_then(value_as_i64).unwrap_or(0);
            Ok(ModelOutput { model_id, step })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    app.store.log_outputs(&run_id, models).await?;
    Ok(Json(json!({})))
}

/// Legacy `runs/log-model`: records the MLmodel JSON in the run's history tag.
pub async fn log_model(State(app): State<AppState>, params: Params) -> JsonResult {
    let run_id = params.run_id()?;
    let model_json = params.req_str("model_json")?;
    let model: Value = serde_json::from_str(&model_json).map_err(|_| {
        ApiError::invalid_parameter(format!(
            "Malformed model info. \n {model_json} \n is not a valid JSON."
        ))
    })?;
    let mut absent: Vec<&str> = ["artifact_path", "flavors", "utc_time_created", "run_id"]
        .into_iter()
        .filter(|k| model.get(k).is_none())
        .collect();
    if !absent.is_empty() {
        absent.sort_unstable();
        return Err(ApiError::invalid_parameter(format!(
            "Model json is missing mandatory fields: {{{}}}",
            absent
                .iter()
                .map(|k| format!("'{k}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into());
    }
    // The history keeps a model's identity and flavors, without each flavor's "config"
    // (MLflow's `Model.get_tags_dict`), so the tag stays small.
    let mut entry = Map::new();
    for key in ["run_id", "utc_time_created", "artifact_path", "model_uuid"] {
        if let Some(v) = model.get(key) {
            entry.insert(key.into(), v.clone());
        }
    }
    let mut flavors = Map::new();
    if let Some(Value::Object(all)) = model.get("flavors") {
        for (name, conf) in all {
            let conf = match conf {
                Value::Object(c) => Value::Object(
                    c.iter()
                        .filter(|(k, _)| *k != "config")
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ),
                other => other.clone(),
            };
            flavors.insert(name.clone(), conf);
        }
    }
    entry.insert("flavors".into(), Value::Object(flavors));
    app.store
        .record_logged_model(&run_id, Value::Object(entry).to_string())
        .await?;
    Ok(Json(json!({})))
}
