//! MLflow 3 webhooks (`/webhooks`, `/webhooks/{id}`, `/webhooks/{id}/test`): the
//! subscription CRUD over [`WebhookStore`](ferroflow_store::webhooks::WebhookStore) and the
//! synchronous test delivery. Validation mirrors MLflow's handler then store: field types,
//! event combinations, name, URL (with the SSRF rules), non-empty events. Secrets are
//! sealed before they reach the store and never leave the server.

use axum::extract::{Path, State};
use axum::Json;
use ferroflow_store::webhooks::{
    CreateWebhook, UpdateWebhook, Webhook, WebhookEvent, WebhookStatus,
};
use ferroflow_types::ApiError;
use serde_json::{json, Map, Value};

use crate::error::HandlerResult;
use crate::params::{invalid_value, missing, Params};
use crate::webhooks::{check_combination, event_json, parse_action, parse_entity};
use crate::AppState;

use super::tracking::parse_page_token;

type JsonResult = HandlerResult<Json<Value>>;

const LIST_DEFAULT_MAX_RESULTS: i64 = 100;
const LIST_MAX_RESULTS: i64 = 1000;

/// The webhook as the API shows it (no secret; no description when empty).
pub fn webhook_json(w: &Webhook) -> Value {
    let mut m = Map::new();
    m.insert("webhook_id".into(), json!(w.webhook_id));
    m.insert("name".into(), json!(w.name));
    if let Some(d) = w.description.as_deref().filter(|d| !d.is_empty()) {
        m.insert("description".into(), json!(d));
    }
    m.insert("url".into(), json!(w.url));
    if !w.events.is_empty() {
        m.insert(
            "events".into(),
            Value::Array(w.events.iter().map(event_json).collect()),
        );
    }
    m.insert("status".into(), json!(w.status.as_str()));
    m.insert("creation_timestamp".into(), json!(w.creation_timestamp));
    m.insert(
        "last_updated_timestamp".into(),
        json!(w.last_updated_timestamp),
    );
    Value::Object(m)
}

/// MLflow's `_validate_webhook_name`.
pub fn validate_name(name: &str) -> Result<(), ApiError> {
    let bytes = name.as_bytes();
    let alnum = |b: &u8| b.is_ascii_alphanumeric();
    let ok = (1..=63).contains(&name.chars().count())
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        return Ok(());
    }
    Err(ApiError::invalid_parameter(format!(
        "Webhook name {} is invalid. It must start and end with a letter or digit, be less than 63 characters long, and contain only letters, digits, dots (.), underscores (_), and hyphens (-).",
        crate::webhooks::py_repr(name)
    )))
}

/// One `{"entity": ..., "action": ...}` object (proto enum names, any case, or numbers).
fn parse_event(o: &Map<String, Value>, path: &str) -> Result<WebhookEvent, ApiError> {
    let field = |key: &str, parse: fn(&Value) -> Option<&'static str>, hint: &str| {
        let name = format!("{path}.{key}");
        match o.get(key) {
            None | Some(Value::Null) => Err(missing(&name)),
            Some(v) => parse(v).ok_or_else(|| invalid_value(&name, v, hint)),
        }
    };
    let entity = field(
        "entity",
        parse_entity,
        "expected a WebhookEntity such as MODEL_VERSION.",
    )?;
    let action = field(
        "action",
        parse_action,
        "expected a WebhookAction such as CREATED.",
    )?;
    if let Some(message) = check_combination(entity, action) {
        return Err(ApiError::invalid_parameter(message));
    }
    Ok(WebhookEvent::new(entity, action))
}

/// The `events` list; None when absent.
fn parse_events(params: &Params) -> Result<Option<Vec<WebhookEvent>>, ApiError> {
    if params.get("events").is_none() {
        return Ok(None);
    }
    let events = params
        .objects("events")?
        .iter()
        .enumerate()
        .map(|(i, o)| parse_event(o, &format!("events[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(events))
}

fn require_events(events: &[WebhookEvent]) -> Result<(), ApiError> {
    if events.is_empty() {
        return Err(ApiError::invalid_parameter(
            "Webhook events must be a non-empty list of WebhookEvent objects: [].",
        ));
    }
    Ok(())
}

/// `status`: ACTIVE / DISABLED (or 1 / 2). Like MLflow's proto parser, an unknown value is
/// ignored rather than refused.
fn parse_status(params: &Params) -> Result<Option<WebhookStatus>, ApiError> {
    let status = match params.get("status") {
        None => None,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("ACTIVE") => Some(WebhookStatus::Active),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("DISABLED") => {
            Some(WebhookStatus::Disabled)
        }
        Some(Value::String(_)) => None,
        Some(Value::Number(n)) => match n.as_i64() {
            Some(1) => Some(WebhookStatus::Active),
            Some(2) => Some(WebhookStatus::Disabled),
            _ => None,
        },
        Some(other) => {
            return Err(invalid_value(
                "status",
                other,
                &format!("Hint: Value was of type '{}'.", kind(other)),
            ))
        }
    };
    Ok(status)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "bool",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
        _ => "str",
    }
}

async fn check_url(app: &AppState, url: &str) -> Result<(), ApiError> {
    app.webhooks
        .validate_url(url)
        .await
        .map_err(ApiError::invalid_parameter)
}

fn seal(app: &AppState, secret: &str) -> Result<String, ApiError> {
    app.webhooks.seal_secret(secret).map_err(|e| {
        tracing::error!(error = %e, "cannot seal a webhook secret");
        ApiError::new(
            ferroflow_types::ErrorCode::InternalError,
            "Cannot store the webhook secret; see the server log.",
        )
    })
}

fn webhook_response(w: &Webhook) -> Json<Value> {
    Json(json!({ "webhook": webhook_json(w) }))
}

pub async fn create_webhook(State(app): State<AppState>, params: Params) -> JsonResult {
    let name = params.req_str("name")?;
    let url = params.req_str("url")?;
    let events = parse_events(&params)?.ok_or_else(|| missing("events"))?;
    let description = params.opt_str("description")?.filter(|d| !d.is_empty());
    let secret = params.opt_str("secret")?.filter(|s| !s.is_empty());
    let status = parse_status(&params)?.unwrap_or_default();
    validate_name(&name)?;
    check_url(&app, &url).await?;
    require_events(&events)?;
    let secret = secret.map(|s| seal(&app, &s)).transpose()?;
    let webhook = app
        .webhook_store
        .create_webhook(CreateWebhook {
            name,
            url,
            events,
            description,
            secret,
            status,
        })
        .await?;
    Ok(webhook_response(&webhook))
}

pub async fn list_webhooks(State(app): State<AppState>, params: Params) -> JsonResult {
    let max_results = match params.opt_i64("max_results")? {
        None | Some(0) => LIST_DEFAULT_MAX_RESULTS,
        Some(n) if (1..=LIST_MAX_RESULTS).contains(&n) => n,
        Some(_) => {
            return Err(
                ApiError::invalid_parameter("max_results must be between 1 and 1000.").into(),
            )
        }
    };
    let offset = parse_page_token(params.opt_str("page_token")?.as_deref())?;
    let page = app.webhook_store.list_webhooks(max_results, offset).await?;
    let mut m = Map::new();
    if !page.items.is_empty() {
        m.insert(
            "webhooks".into(),
            Value::Array(page.items.iter().map(webhook_json).collect()),
        );
    }
    if let Some(token) = page.next_page_token {
        m.insert("next_page_token".into(), Value::String(token));
    }
    Ok(Json(Value::Object(m)))
}

pub async fn get_webhook(
    State(app): State<AppState>,
    Path(webhook_id): Path<String>,
) -> JsonResult {
    let webhook = app.webhook_store.get_webhook(&webhook_id).await?;
    Ok(webhook_response(&webhook))
}

pub async fn update_webhook(
    State(app): State<AppState>,
    Path(webhook_id): Path<String>,
    params: Params,
) -> JsonResult {
    // Empty name, URL and events mean "unchanged"; an empty description or secret is set.
    let name = params.opt_str("name")?.filter(|s| !s.is_empty());
    let description = params.opt_str("description")?;
    let url = params.opt_str("url")?.filter(|s| !s.is_empty());
    let events = parse_events(&params)?.filter(|e| !e.is_empty());
    let secret = params.opt_str("secret")?;
    let status = parse_status(&params)?;
    app.webhook_store.get_webhook(&webhook_id).await?;
    if let Some(n) = &name {
        validate_name(n)?;
    }
    if let Some(u) = &url {
        check_url(&app, u).await?;
    }
    let secret = secret.map(|s| seal(&app, &s)).transpose()?;
    let webhook = app
        .webhook_store
        .update_webhook(
            &webhook_id,
            UpdateWebhook {
                name,
                description,
                url,
                events,
                secret,
                status,
            },
        )
        .await?;
    Ok(webhook_response(&webhook))
}

pub async fn delete_webhook(
    State(app): State<AppState>,
    Path(webhook_id): Path<String>,
) -> JsonResult {
    app.webhook_store.delete_webhook(&webhook_id).await?;
    Ok(Json(json!({})))
}

pub async fn test_webhook(
    State(app): State<AppState>,
    Path(webhook_id): Path<String>,
    params: Params,
) -> JsonResult {
    let event = match params.get("event") {
        None => None,
        Some(Value::Object(o)) => {
            let e = parse_event(o, "event")?;
            Some((e.entity, e.action))
        }
        Some(other) => {
            return Err(invalid_value(
                "event",
                other,
                &format!("Hint: Value was of type '{}'.", kind(other)),
            )
            .into())
        }
    };
    let webhook = app.webhook_store.get_webhook(&webhook_id).await?;
    let result = app.webhooks.test(&webhook, event).await;
    Ok(Json(json!({ "result": result.to_json() })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_mlflows_regex() {
        for ok in ["a", "wh1", "my-hook.v2_x", "A9", &"a".repeat(63)] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-bad", "bad-", "bad name", "ü", &"a".repeat(64), "a/b"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        let msg = validate_name("-bad")
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert_eq!(
            msg,
            "Webhook name '-bad' is invalid. It must start and end with a letter or digit, be less than 63 characters long, and contain only letters, digits, dots (.), underscores (_), and hyphens (-)."
        );
    }

    #[test]
    fn events_parse_and_check_combinations() {
        let o = |v: Value| v.as_object().cloned().unwrap_or_default();
        let e = parse_event(
            &o(json!({"entity": "MODEL_VERSION_TAG", "action": "SET"})),
            "events[0]",
        )
        .ok();
        assert_eq!(e, Some(WebhookEvent::new("model_version_tag", "set")));
        let msg = parse_event(
            &o(json!({"entity": "MODEL_VERSION", "action": "DELETED"})),
            "events[0]",
        )
        .err()
        .map(|e| e.message)
        .unwrap_or_default();
        assert_eq!(
            msg,
            "Invalid action 'deleted' for entity 'model_version'. Valid actions are: ['created']"
        );
        let msg = parse_event(
            &o(json!({"entity": "BOGUS", "action": "CREATED"})),
            "events[0]",
        )
        .err()
        .map(|e| e.message)
        .unwrap_or_default();
        assert!(
            msg.starts_with("Invalid value \"BOGUS\" for parameter 'events[0].entity'"),
            "{msg}"
        );
        let msg = parse_event(&o(json!({"entity": "MODEL_VERSION"})), "events[0]")
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(
            msg.starts_with("Missing value for required parameter 'events[0].action'"),
            "{msg}"
        );
    }

    #[test]
    fn json_never_shows_the_secret() {
        let w = Webhook {
            webhook_id: "id".into(),
            name: "n".into(),
            description: Some(String::new()),
            url: "https://x".into(),
            events: vec![WebhookEvent::new("model_version", "created")],
            status: WebhookStatus::Disabled,
            creation_timestamp: 1,
            last_updated_timestamp: 2,
            secret: Some("sealed".into()),
        };
        assert_eq!(
            webhook_json(&w),
            json!({
                "webhook_id": "id", "name": "n", "url": "https://x",
                "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}],
                "status": "DISABLED", "creation_timestamp": 1, "last_updated_timestamp": 2
            })
        );
    }
}
