//! Model-registry endpoints (`ModelRegistryService`): registered models, versions, stages,
//! tags and aliases. Version sources are validated here, before the store sees them, the
//! way MLflow validates them after its path-traversal CVEs.

use axum::extract::State;
use axum::response::Response;
use axum::Json;
use ferroflow_store::registry::{CreateModelVersion, SearchRegistry};
use ferroflow_types::limits::MAX_ENTITY_KEY_LENGTH;
use ferroflow_types::registry::{
    canonical_stage, ModelVersion, RegistryTag, ALL_STAGES, STAGE_PRODUCTION, STAGE_STAGING,
};
use ferroflow_types::tracking::LoggedModelTag;
use ferroflow_types::ApiError;
use serde_json::{json, Map, Value};

use crate::error::HandlerResult;
use crate::params::{missing, value_as_i64, Params};
use crate::validation::{validate_key, validate_length};
use crate::AppState;

use super::source::{resolve_source, SourceLineage};
use super::tracking::{list_response, page_token_for, parse_page_token};

type JsonResult = HandlerResult<Json<Value>>;

const MAX_REGISTRY_TAG_VALUE_LENGTH: usize = 100_000;
const MAX_ALIAS_LENGTH: usize = 255;
const SEARCH_REGISTERED_MODELS_DEFAULT: i64 = 100;
const SEARCH_REGISTERED_MODELS_MAX: i64 = 1000;
const SEARCH_MODEL_VERSIONS_DEFAULT: i64 = 10_000;
const SEARCH_MODEL_VERSIONS_MAX: i64 = 200_000;
/// The tag that makes a registered model (or version) a prompt.
const IS_PROMPT_TAG: &str = "mlflow.prompt.is_prompt";
/// The only sources a prompt version may have.
const PROMPT_SOURCE_PLACEHOLDERS: [&str; 2] = ["dummy-source", "prompt-template"];
/// Logged-model tag listing the registry versions made from it.
const MODEL_VERSIONS_TAG: &str = "mlflow.modelVersions";

/// JSON spaced the way Python's `json.dumps` writes it (`", "` and `": "`), for tag values
/// MLflow's own code writes and compares as text.
fn python_json(v: &Value) -> String {
    match v {
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(python_json).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), python_json(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

fn is_prompt(tags: &[RegistryTag]) -> bool {
    tags.iter()
        .rev()
        .find(|t| t.key == IS_PROMPT_TAG)
        .is_some_and(|t| t.value.eq_ignore_ascii_case("true"))
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Names become URI segments (`models:/<name>/...`) and paths: MLflow's rules.
fn validate_model_name(name: Option<String>, field: &str) -> Result<String, ApiError> {
    let name = match name {
        Some(n) if !n.trim().is_empty() => n,
        _ => return Err(missing(field)),
    };
    if name.contains('/') || name.contains(':') {
        return Err(ApiError::invalid_parameter(format!(
            "Invalid model name '{name}'. Names cannot contain '/' or ':'."
        )));
    }
    validate_key(&name, field).map_err(|_| {
        ApiError::invalid_parameter(format!("Invalid value \"{name}\" for parameter '{field}' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such."))
    })?;
    Ok(name)
}

fn model_name(params: &Params) -> Result<String, ApiError> {
    validate_model_name(params.opt_str("name")?, "name")
}

fn version(params: &Params) -> Result<i64, ApiError> {
    let raw = match params.get("version") {
        None => return Err(missing("version")),
        Some(v) => v,
    };
    // `version` is a string field in MLflow's protos: a JSON number does not parse.
    if raw.is_number() {
        return Err(crate::params::invalid_value(
            "version",
            raw,
            "Hint: Value was of type 'int'. See the API docs for more information about request parameters.",
        ));
    }
    value_as_i64(raw).ok_or_else(|| {
        let shown = raw
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| raw.to_string());
        ApiError::invalid_parameter(format!(
            "Parameter 'version' must be an integer, got '{shown}'."
        ))
    })
}

fn validate_registry_tag(key: &str, value: &str) -> Result<(), ApiError> {
    if key.is_empty() {
        return Err(missing("key"));
    }
    validate_key(key, "key")?;
    validate_length("key", MAX_ENTITY_KEY_LENGTH, key)?;
    validate_length("value", MAX_REGISTRY_TAG_VALUE_LENGTH, value)
}

fn registry_tags(params: &Params) -> Result<Vec<RegistryTag>, ApiError> {
    params
        .key_value_pairs("tags")?
        .into_iter()
        .map(|(key, value)| {
            validate_registry_tag(&key, &value)?;
            Ok(RegistryTag { key, value })
        })
        .collect()
}

fn validate_alias(alias: Option<String>) -> Result<String, ApiError> {
    let alias = alias
        .filter(|a| !a.is_empty())
        .ok_or_else(|| missing("alias"))?;
    if !alias
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return Err(ApiError::invalid_parameter(format!(
            "Invalid alias name: '{alias}'. Names may only contain alphanumerics, underscores (_), and dashes (-)."
        )));
    }
    validate_length("Registered model alias name", MAX_ALIAS_LENGTH, &alias)?;
    Ok(alias)
}

fn reject_reserved_alias(alias: &str) -> Result<(), ApiError> {
    if alias.eq_ignore_ascii_case("latest") {
        return Err(ApiError::invalid_parameter(
            "'latest' alias name (case insensitive) is reserved.",
        ));
    }
    let mut chars = alias.chars();
    if matches!(chars.next(), Some('v' | 'V'))
        && alias.len() > 1
        && chars.all(|c| c.is_ascii_digit())
    {
        return Err(ApiError::invalid_parameter(format!(
            "Version alias name '{alias}' is reserved."
        )));
    }
    Ok(())
}

fn stage(raw: &str) -> Result<&'static str, ApiError> {
    canonical_stage(raw).ok_or_else(|| {
        ApiError::invalid_parameter(format!(
            "Invalid Model Version stage: {raw}. Value must be one of {}.",
            ALL_STAGES.join(", ")
        ))
    })
}

/// `max_results` with MLflow's registry messages: above the limit is refused naming the
/// value as sent; below 1 is refused for versions (registered models answer an empty page).
fn max_results(params: &Params, default: i64, limit: i64) -> Result<i64, ApiError> {
    let n = params.opt_i64("max_results")?.unwrap_or(default);
    if n > limit {
        let shown = params.get("max_results").cloned().unwrap_or(Value::from(n));
        return Err(ApiError::invalid_parameter(format!(
            "Invalid value {shown} for parameter 'max_results' supplied. It must be at most {limit}."
        )));
    }
    Ok(n)
}

fn model_version_json(v: &ModelVersion) -> Json<Value> {
    Json(json!({ "model_version": to_json(v) }))
}

// ---------------------------------------------------------------- registered models

pub async fn create_registered_model(State(app): State<AppState>, params: Params) -> JsonResult {
    let name = model_name(&params)?;
    let tags = registry_tags(&params)?;
    let description = params.opt_str("description")?;
    let new_is_prompt = is_prompt(&tags);
    let model = match app
        .registry
        .create_registered_model(&name, tags, description)
        .await
    {
        Ok(m) => m,
        Err(ferroflow_store::StoreError::AlreadyExists(message)) => {
            // Models and prompts share one namespace; say which one holds the name.
            let existing_is_prompt = app
                .registry
                .get_registered_model(&name)
                .await
                .is_ok_and(|m| is_prompt(&m.tags));
            let message = match (existing_is_prompt, new_is_prompt) {
                (true, false) => format!(
                    "Tried to create a registered model with name '{name}', but the name is already taken by a prompt. MLflow does not allow creating a model and a prompt with the same name."
                ),
                (false, true) => format!(
                    "Tried to create a prompt with name '{name}', but the name is already taken by a registered model. MLflow does not allow creating a model and a prompt with the same name."
                ),
                _ => message,
            };
            return Err(ApiError::already_exists(message).into());
        }
        Err(e) => return Err(e.into()),
    };
    app.webhooks.emit("registered_model", "created", json!({
        "name": model.name,
        "tags": model.tags.iter().map(|t| (t.key.clone(), Value::String(t.value.clone()))).collect::<Map<String, Value>>(),
        "description": model.description,
    }));
    Ok(Json(json!({ "registered_model": to_json(&model) })))
}

pub async fn get_registered_model(State(app): State<AppState>, params: Params) -> JsonResult {
    let name = model_name(&params)?;
    let model = app.registry.get_registered_model(&name).await?;
    Ok(Json(json!({ "registered_model": to_json(&model) })))
}

pub async fn rename_registered_model(State(app): State<AppState>, params: Params) -> JsonResult {
    let name = model_name(&params)?;
    let new_name = validate_model_name(params.opt_str("new_name")?, "new_name")?;
    let model = app
        .registry
        .rename_registered_model(&name, &new_name)
        .await?;
    Ok(Json(json!({ "registered_model": to_json(&model) })))
}

pub async fn update_registered_model(State(app): State<AppState>, params: Params) -> JsonResult {
    let name = model_name(&params)?;
    // An update without a description clears it, as in MLflow.
    let description = Some(params.opt_str("description")?.unwrap_or_default());
    let model = app
        .registry
        .update_registered_model(&name, description)
        .await?;
    Ok(Json(json!({ "registered_model": to_json(&model) })))
}

pub async fn delete_registered_model(State(app): State<AppState>, params: Params) -> JsonResult {
    let name = model_name(&params)?;
    app.registry.delete_registered_model(&name).await?;
    Ok(Json(json!({})))
}

pub async fn search_registered_models(State(app): State<AppState>, params: Params) -> JsonResult {
    let max_results = max_results(
        &params,
        SEARCH_REGISTERED_MODELS_DEFAULT,
        SEARCH_REGISTERED_MODELS_MAX,
    )?;
    if max_results < 1 {
        // MLflow answers an empty page (with a token back to the start) rather than an error.
        return Ok(list_response::<ModelVersion>(
            "registered_models",
            &[],
            Some(page_token_for(0)),
        ));
    }
    let filter = ferroflow_search::parse_registered_model_filter(
        &params.opt_str("filter")?.unwrap_or_default(),
    )?;
    let order_by =
        ferroflow_search::parse_registered_model_order_by(&params.str_list("order_by")?)?;
    let offset = parse_page_token(params.opt_str("page_token")?.as_deref())?;
    let page = app
        .registry
        .search_registered_models(SearchRegistry {
            filter,
            order_by,
            max_results,
            offset,
        })
        .await?;
    Ok(list_response(
        "registered_models",
        &page.items,
        page.next_page_token,
    ))
}

pub async fn set_registered_model_tag(State(app): State<AppState>, params: Params) -> JsonResult {
    let name = model_name(&params)?;
    let key = params.req_str("key")?;
    let value = params.opt_str("value")?.unwrap_or_default();
    validate_registry_tag(&key, &value)?;
    app.registry
        .set_registered_model_tag(&name, RegistryTag { key, value })
        .await?;
    Ok(Json(json!({})))
}

pub async fn delete_registered_model_tag(
    State(app): State<AppState>,
    params: Params,
) -> JsonResult {
    let name = model_name(&params)?;
    let key = params.req_str("key")?;
    app.registry
        .delete_registered_model_tag(&name, &key)
        .await?;
    Ok(Json(json!({})))
}

pub async fn get_latest_versions(State(app): State<AppState>, params: Params) -> JsonResult {
    let name = model_name(&params)?;
    let stages = params
        .str_list("stages")?
        .iter()
        .map(|s| stage(s).map(str::to_string))
        .collect::<Result<Vec<_>, _>>()?;
    let versions = app.registry.get_latest_versions(&name, stages).await?;
    Ok(list_response("model_versions", &versions, None))
}

// ---------------------------------------------------------------- model versions

pub async fn create_model_version(State(app): State<AppState>, params: Params) -> JsonResult {
    let name = model_name(&params)?;
    let source = params.req_str("source")?;
    let tags = registry_tags(&params)?;
    // Prompt versions carry a placeholder source and no lineage (MLflow's prompt registry).
    let is_prompt = tags
        .iter()
        .rev()
        .find(|t| t.key == IS_PROMPT_TAG)
        .is_some_and(|t| t.value.eq_ignore_ascii_case("true"));
    let lineage = if is_prompt {
        if !PROMPT_SOURCE_PLACEHOLDERS.contains(&source.as_str()) {
            return Err(ApiError::invalid_parameter(format!(
                "Invalid prompt source: '{source}'. Prompt sources must use an MLflow placeholder."
            ))
            .into());
        }
        super::source::ResolvedSource {
            storage_location: source.clone(),
            source,
            run_id: params.opt_str("run_id")?.filter(|s| !s.is_empty()),
            model_id: None,
        }
    } else {
        resolve_source(
            &app,
            SourceLineage {
                source,
                run_id: params.opt_str("run_id")?,
                model_id: params.opt_str("model_id")?,
            },
        )
        .await?
    };
    let version = app
        .registry
        .create_model_version(CreateModelVersion {
            name: name.clone(),
            source: lineage.source.clone(),
            storage_location: lineage.storage_location.clone(),
            run_id: Some(lineage.run_id.clone().unwrap_or_default()),
            // Unset strings are stored as "" (MLflow's proto2 defaults), and sent back as such.
            run_link: Some(params.opt_str("run_link")?.unwrap_or_default()),
            description: Some(params.opt_str("description")?.unwrap_or_default()),
            tags,
        })
        .await?;
    if let Some(model_id) = lineage.model_id.as_deref() {
        link_logged_model(&app, model_id, &name, &version.version).await;
    }
    app.webhooks.emit("model_version", "created", json!({
        "name": version.name,
        "version": version.version,
        "source": version.source,
        "run_id": version.run_id,
        "tags": version.tags.iter().map(|t| (t.key.clone(), Value::String(t.value.clone()))).collect::<Map<String, Value>>(),
        "description": version.description,
    }));
    Ok(model_version_json(&version))
}

/// Appends `{"name", "version"}` to the logged model's `mlflow.modelVersions` tag, as MLflow
/// does after registering from a logged model. Best effort: the version already exists.
async fn link_logged_model(app: &AppState, model_id: &str, name: &str, version: &str) {
    let Ok(model) = app.store.get_logged_model(model_id, true).await else {
        return;
    };
    let entry = json!({ "name": name, "version": version.parse::<i64>().map(Value::from).unwrap_or(Value::from(version)) });
    let mut list: Vec<Value> = model
        .info
        .tags
        .iter()
        .find(|t| t.key == MODEL_VERSIONS_TAG)
        .and_then(|t| serde_json::from_str(&t.value).ok())
        .unwrap_or_default();
    if !list.contains(&entry) {
        list.push(entry);
    }
    let tag = LoggedModelTag {
        key: MODEL_VERSIONS_TAG.into(),
        value: python_json(&Value::Array(list)),
    };
    if let Err(e) = app.store.set_logged_model_tags(model_id, vec![tag]).await {
        tracing::warn!(%model_id, error = %e, "could not link the logged model to its registry version");
    }
}

pub async fn get_model_version(State(app): State<AppState>, params: Params) -> JsonResult {
    let name = model_name(&params)?;
    let v = app
        .registry
        .get_model_version(&name, version(&params)?)
        .await?;
    Ok(model_version_json(&v))
}

pub async fn update_model_version(State(app): State<AppState>, params: Params) -> JsonResult {
    let name = model_name(&params)?;
    let version = version(&params)?;
    let v = app
        .registry
        .update_model_version(&name, version, params.opt_str("description")?)
        .await?;
    Ok(model_version_json(&v))
}

pub async fn transition_model_version_stage(
    State(app): State<AppState>,
    params: Params,
) -> JsonResult {
    let name = model_name(&params)?;
    let version = version(&params)?;
    let raw_stage = params.req_str("stage")?;
    let target = stage(&raw_stage)?;
    let archive = params
        .opt_bool("archive_existing_versions")?
        .unwrap_or(false);
    if archive && target != STAGE_STAGING && target != STAGE_PRODUCTION {
        return Err(ApiError::invalid_parameter(format!(
            "Model version transition cannot archive existing model versions because '{raw_stage}' is not an Active stage. Valid stages are ['Staging', 'Production']"
        ))
        .into());
    }
    let v = app
        .registry
        .transition_model_version_stage(&name, version, target, archive)
        .await?;
    Ok(model_version_json(&v))
}

pub async fn delete_model_version(State(app): State<AppState>, params: Params) -> JsonResult {
    let name = model_name(&params)?;
    app.registry
        .delete_model_version(&name, version(&params)?)
        .await?;
    Ok(Json(json!({})))
}

pub async fn search_model_versions(State(app): State<AppState>, params: Params) -> JsonResult {
    let max_results = max_results(
        &params,
        SEARCH_MODEL_VERSIONS_DEFAULT,
        SEARCH_MODEL_VERSIONS_MAX,
    )?;
    if max_results < 1 {
        return Err(ApiError::invalid_parameter(format!(
            "Invalid value for max_results. It must be a positive integer, but got {max_results}"
        ))
        .into());
    }
    let filter = ferroflow_search::parse_model_version_filter(
        &params.opt_str("filter")?.unwrap_or_default(),
    )?;
    let order_by = ferroflow_search::parse_model_version_order_by(&params.str_list("order_by")?)?;
    let offset = parse_page_token(params.opt_str("page_token")?.as_deref())?;
    let page = app
        .registry
        .search_model_versions(SearchRegistry {
            filter,
            order_by,
            max_results,
            offset,
        })
        .await?;
    Ok(list_response(
        "model_versions",
        &page.items,
        page.next_page_token,
    ))
}

pub async fn get_model_version_download_uri(
    State(app): State<AppState>,
    params: Params,
) -> JsonResult {
    let name = model_name(&params)?;
    let v = app
        .registry
        .get_model_version(&name, version(&params)?)
        .await?;
    let uri = v
        .storage_location
        .clone()
        .filter(|s| !s.is_empty())
        .or(v.source.clone())
        .unwrap_or_default();
    Ok(Json(json!({ "artifact_uri": uri })))
}

pub async fn set_model_version_tag(State(app): State<AppState>, params: Params) -> JsonResult {
    let name = model_name(&params)?;
    let version = version(&params)?;
    let key = params.req_str("key")?;
    let value = params.opt_str("value")?.unwrap_or_default();
    validate_registry_tag(&key, &value)?;
    app.registry
        .set_model_version_tag(
            &name,
            version,
            RegistryTag {
                key: key.clone(),
                value: value.clone(),
            },
        )
        .await?;
    app.webhooks.emit(
        "model_version_tag",
        "set",
        json!({ "name": name, "version": version.to_string(), "key": key, "value": value }),
    );
    Ok(Json(json!({})))
}

pub async fn delete_model_version_tag(State(app): State<AppState>, params: Params) -> JsonResult {
    let name = model_name(&params)?;
    let version = version(&params)?;
    let key = params.req_str("key")?;
    app.registry
        .delete_model_version_tag(&name, version, &key)
        .await?;
    app.webhooks.emit(
        "model_version_tag",
        "deleted",
        json!({ "name": name, "version": version.to_string(), "key": key }),
    );
    Ok(Json(json!({})))
}

/// `/model-versions/get-artifact?name=&version=&path=`: one file of a registered version.
pub async fn get_model_version_artifact(
    State(app): State<AppState>,
    params: Params,
) -> HandlerResult<Response> {
    let name = model_name(&params)?;
    let v = app
        .registry
        .get_model_version(&name, version(&params)?)
        .await?;
    let uri = v
        .storage_location
        .clone()
        .filter(|s| !s.is_empty())
        .or(v.source.clone())
        .unwrap_or_default();
    super::artifacts::serve_file_under(&app, &uri, params.opt_str("path")?.as_deref()).await
}

// ---------------------------------------------------------------- aliases

pub async fn set_registered_model_alias(State(app): State<AppState>, params: Params) -> JsonResult {
    let name = model_name(&params)?;
    let alias = validate_alias(params.opt_str("alias")?)?;
    reject_reserved_alias(&alias)?;
    let version = version(&params)?;
    app.registry
        .set_registered_model_alias(&name, &alias, version)
        .await?;
    app.webhooks.emit(
        "model_version_alias",
        "created",
        json!({ "name": name, "alias": alias, "version": version.to_string() }),
    );
    Ok(Json(json!({})))
}

pub async fn delete_registered_model_alias(
    State(app): State<AppState>,
    params: Params,
) -> JsonResult {
    let name = model_name(&params)?;
    let alias = validate_alias(params.opt_str("alias")?)?;
    app.registry
        .delete_registered_model_alias(&name, &alias)
        .await?;
    app.webhooks.emit(
        "model_version_alias",
        "deleted",
        json!({ "name": name, "alias": alias }),
    );
    Ok(Json(json!({})))
}

pub async fn get_model_version_by_alias(State(app): State<AppState>, params: Params) -> JsonResult {
    let name = model_name(&params)?;
    let alias = validate_alias(params.opt_str("alias")?)?;
    let v = app
        .registry
        .get_model_version_by_alias(&name, &alias)
        .await?;
    Ok(model_version_json(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_aliases_are_refused() {
        assert!(reject_reserved_alias("latest").is_err());
        assert!(reject_reserved_alias("LATEST").is_err());
        assert!(reject_reserved_alias("v12").is_err());
        assert!(reject_reserved_alias("V3").is_err());
        assert!(reject_reserved_alias("champion").is_ok());
        assert!(reject_reserved_alias("v").is_ok());
        assert!(reject_reserved_alias("v1a").is_ok());
    }

    #[test]
    fn model_names_with_slash_or_colon_are_refused() {
        assert!(validate_model_name(Some("a/b".into()), "name").is_err());
        assert!(validate_model_name(Some("a:b".into()), "name").is_err());
        assert!(validate_model_name(Some("nyc-taxi-regressor".into()), "name").is_ok());
        assert!(validate_model_name(Some(" ".into()), "name").is_err());
    }

    #[test]
    fn alias_characters_are_checked() {
        assert!(validate_alias(Some("champion-1_x".into())).is_ok());
        assert!(validate_alias(Some("bad alias".into())).is_err());
        assert!(validate_alias(None).is_err());
    }
}
