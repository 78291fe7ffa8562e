//! MLflow's webhook entities and actions (`mlflow/entities/webhook.py`): the stored
//! spelling (`model_version`, `created`), the wire spelling (proto enum names
//! `MODEL_VERSION`, `CREATED`, or their numbers), the allowed combinations, and the example
//! payload the `test` route sends for each event (`mlflow/webhooks/types.py`).

use ferroflow_store::webhooks::WebhookEvent;
use serde_json::{json, Value};

/// (stored value, proto number), in proto order.
const ENTITIES: [(&str, i64); 10] = [
    ("registered_model", 1),
    ("model_version", 2),
    ("model_version_tag", 3),
    ("model_version_alias", 4),
    ("prompt", 5),
    ("prompt_version", 6),
    ("prompt_tag", 7),
    ("prompt_version_tag", 8),
    ("prompt_alias", 9),
    ("budget_policy", 10),
];

const ACTIONS: [(&str, i64); 5] = [
    ("created", 1),
    ("updated", 2),
    ("deleted", 3),
    ("set", 4),
    ("exceeded", 5),
];

/// The actions each entity allows (MLflow's `VALID_ENTITY_ACTIONS`), sorted.
pub fn valid_actions(entity: &str) -> &'static [&'static str] {
    match entity {
        "registered_model" | "model_version" | "prompt" | "prompt_version" => &["created"],
        "model_version_tag" | "prompt_tag" | "prompt_version_tag" => &["deleted", "set"],
        "model_version_alias" | "prompt_alias" => &["created", "deleted"],
        "budget_policy" => &["exceeded"],
        _ => &[],
    }
}

fn lookup(table: &[(&'static str, i64)], v: &Value) -> Option<&'static str> {
    match v {
        Value::String(s) => table
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map(|(name, _)| *name),
        Value::Number(n) => n
            .as_i64()
            .and_then(|n| table.iter().find(|(_, num)| *num == n))
            .map(|(name, _)| *name),
        _ => None,
    }
}

/// A wire entity (`MODEL_VERSION`, `model_version` or 2) in its stored spelling.
pub fn parse_entity(v: &Value) -> Option<&'static str> {
    lookup(&ENTITIES, v)
}

/// A wire action (`CREATED`, `created` or 1) in its stored spelling.
pub fn parse_action(v: &Value) -> Option<&'static str> {
    lookup(&ACTIONS, v)
}

/// MLflow's message for an entity/action pair that is not allowed, or None when it is.
pub fn check_combination(entity: &str, action: &str) -> Option<String> {
    let valid = valid_actions(entity);
    if valid.contains(&action) {
        return None;
    }
    let listed = valid
        .iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!(
        "Invalid action '{action}' for entity '{entity}'. Valid actions are: [{listed}]"
    ))
}

/// The event as the API shows it: `{"entity": "MODEL_VERSION", "action": "CREATED"}`.
pub fn event_json(e: &WebhookEvent) -> Value {
    json!({ "entity": e.entity.to_ascii_uppercase(), "action": e.action.to_ascii_uppercase() })
}

/// MLflow's example payload for an event, keys in MLflow's order, or None for an event
/// that has none.
pub fn example_payload(entity: &str, action: &str) -> Option<Vec<(&'static str, Value)>> {
    let tags = || json!({ "example_key": "example_value" });
    let p = match (entity, action) {
        ("registered_model", "created") => vec![
            ("name", json!("example_model")),
            ("tags", tags()),
            ("description", json!("An example registered model")),
        ],
        ("model_version", "created") => vec![
            ("name", json!("example_model")),
            ("version", json!("1")),
            ("source", json!("models:/123")),
            ("run_id", json!("abcd1234abcd5678")),
            ("tags", tags()),
            ("description", json!("An example model version")),
        ],
        ("model_version_tag", "set") => vec![
            ("name", json!("example_model")),
            ("version", json!("1")),
            ("key", json!("example_key")),
            ("value", json!("example_value")),
        ],
        ("model_version_tag", "deleted") => {
            vec![
                ("name", json!("example_model")),
                ("version", json!("1")),
                ("key", json!("example_key")),
            ]
        }
        ("model_version_alias", "created") => {
            vec![
                ("name", json!("example_model")),
                ("alias", json!("example_alias")),
                ("version", json!("1")),
            ]
        }
        ("model_version_alias", "deleted") => vec![
            ("name", json!("example_model")),
            ("alias", json!("example_alias")),
        ],
        ("prompt", "created") => vec![
            ("name", json!("example_prompt")),
            ("tags", tags()),
            ("description", json!("An example prompt")),
        ],
        ("prompt_version", "created") => vec![
            ("name", json!("example_prompt")),
            ("version", json!("1")),
            ("template", json!("Hello {{name}}!")),
            ("tags", tags()),
            ("description", json!("An example prompt version")),
        ],
        ("prompt_tag", "set") => vec![
            ("name", json!("example_prompt")),
            ("key", json!("example_key")),
            ("value", json!("example_value")),
        ],
        ("prompt_tag", "deleted") => vec![
            ("name", json!("example_prompt")),
            ("key", json!("example_key")),
        ],
        ("prompt_version_tag", "set") => vec![
            ("name", json!("example_prompt")),
            ("version", json!("1")),
            ("key", json!("example_key")),
            ("value", json!("example_value")),
        ],
        ("prompt_version_tag", "deleted") => {
            vec![
                ("name", json!("example_prompt")),
                ("version", json!("1")),
                ("key", json!("example_key")),
            ]
        }
        ("prompt_alias", "created") => {
            vec![
                ("name", json!("example_prompt")),
                ("alias", json!("example_alias")),
                ("version", json!("1")),
            ]
        }
        ("prompt_alias", "deleted") => vec![
            ("name", json!("example_prompt")),
            ("alias", json!("example_alias")),
        ],
        ("budget_policy", "exceeded") => vec![
            ("budget_policy_id", json!("bp-abc123")),
            ("budget_unit", json!("USD")),
            ("budget_amount", json!(100.0)),
            ("current_spend", json!(105.50)),
            ("duration_unit", json!("MONTHS")),
            ("duration_value", json!(1)),
            ("target_scope", json!("ENDPOINT")),
            ("workspace", json!("default")),
            ("target_value", json!("ep-abc123")),
            ("window_start", json!(1704067200000_i64)),
        ],
        _ => return None,
    };
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_spellings_parse_to_stored_values() {
        assert_eq!(parse_entity(&json!("MODEL_VERSION")), Some("model_version"));
        assert_eq!(
            parse_entity(&json!("model_version_tag")),
            Some("model_version_tag")
        );
        assert_eq!(parse_entity(&json!(4)), Some("model_version_alias"));
        assert_eq!(parse_entity(&json!("ENTITY_UNSPECIFIED")), None);
        assert_eq!(parse_entity(&json!(0)), None);
        assert_eq!(parse_action(&json!("SET")), Some("set"));
        assert_eq!(parse_action(&json!(3)), Some("deleted"));
        assert_eq!(parse_action(&json!(true)), None);
    }

    #[test]
    fn combinations_follow_mlflow() {
        assert_eq!(check_combination("model_version", "created"), None);
        assert_eq!(check_combination("prompt_alias", "deleted"), None);
        assert_eq!(
            check_combination("model_version", "deleted").as_deref(),
            Some("Invalid action 'deleted' for entity 'model_version'. Valid actions are: ['created']")
        );
        assert_eq!(
            check_combination("model_version_tag", "created").as_deref(),
            Some("Invalid action 'created' for entity 'model_version_tag'. Valid actions are: ['deleted', 'set']")
        );
        for (entity, _) in ENTITIES {
            for action in valid_actions(entity) {
                assert!(
                    example_payload(entity, action).is_some(),
                    "{entity}.{action}"
                );
            }
        }
    }
}
