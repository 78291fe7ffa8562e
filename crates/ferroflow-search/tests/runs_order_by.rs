//! `parse_run_order_by`: accepted forms and every error class.
#![allow(clippy::unwrap_used)]

use ferroflow_search::{parse_run_order_by, EntityType, Key, OrderBy, SearchError};

fn parse(clauses: &[&str]) -> Result<Vec<OrderBy>, SearchError> {
    let owned: Vec<String> = clauses.iter().map(|c| c.to_string()).collect();
    parse_run_order_by(&owned)
}

fn one(clause: &str) -> OrderBy {
    let mut v = parse(&[clause]).unwrap();
    assert_eq!(v.len(), 1);
    v.remove(0)
}

fn assert_err(clauses: &[&str], needles: &[&str]) -> SearchError {
    let e = match parse(clauses) {
        Ok(v) => panic!("expected an error for {clauses:?}, got {v:?}"),
        Err(e) => e,
    };
    for n in needles {
        assert!(
            e.message.contains(n),
            "{:?} should contain {n:?}",
            e.message
        );
    }
    e
}

fn ob(entity: EntityType, name: &str, ascending: bool) -> OrderBy {
    OrderBy {
        key: Key::new(entity, name),
        ascending,
    }
}

#[test]
fn empty_order_by_list_is_accepted() {
    assert_eq!(parse(&[]).unwrap(), vec![]);
}

#[test]
fn direction_defaults_to_ascending() {
    assert_eq!(one("metrics.rmse"), ob(EntityType::Metric, "rmse", true));
}

#[test]
fn asc_and_desc_are_case_insensitive() {
    assert!(one("metrics.a ASC").ascending);
    assert!(one("metrics.a asc").ascending);
    assert!(!one("metrics.a DESC").ascending);
    assert!(!one("metrics.a dEsC").ascending);
    assert!(!one("  metrics.a   DESC  ").ascending);
}

#[test]
fn all_entity_prefixes_except_datasets_are_orderable() {
    assert_eq!(one("params.lr").key, Key::new(EntityType::Param, "lr"));
    assert_eq!(one("parameter.lr").key, Key::new(EntityType::Param, "lr"));
    assert_eq!(
        one("tags.mlflow.runName DESC").key,
        Key::new(EntityType::Tag, "mlflow.runName")
    );
    assert_eq!(one("metric.m").key, Key::new(EntityType::Metric, "m"));
    assert_eq!(
        one("attributes.start_time DESC"),
        ob(EntityType::Attribute, "start_time", false)
    );
    assert_eq!(
        one("run.status").key,
        Key::new(EntityType::Attribute, "status")
    );
}

#[test]
fn bare_keys_are_attributes() {
    for name in [
        "run_id",
        "run_name",
        "status",
        "user_id",
        "artifact_uri",
        "start_time",
        "end_time",
    ] {
        assert_eq!(one(name).key, Key::new(EntityType::Attribute, name));
    }
}

#[test]
fn created_orders_by_start_time() {
    assert_eq!(
        one("created DESC"),
        ob(EntityType::Attribute, "start_time", false)
    );
    assert_eq!(one("Created").key.name, "start_time");
}

#[test]
fn quoted_keys_are_unquoted() {
    assert_eq!(
        one("metrics.`my metric` DESC"),
        ob(EntityType::Metric, "my metric", false)
    );
    assert_eq!(one("metrics.\"my metric\"").key.name, "my metric");
    assert_eq!(one("tags.'a b' ASC").key.name, "a b");
    assert_eq!(
        one("`run_name`").key,
        Key::new(EntityType::Attribute, "run_name")
    );
}

#[test]
fn several_clauses_keep_their_order() {
    assert_eq!(
        parse(&["metrics.a DESC", "params.b", "start_time ASC"]).unwrap(),
        vec![
            ob(EntityType::Metric, "a", false),
            ob(EntityType::Param, "b", true),
            ob(EntityType::Attribute, "start_time", true),
        ]
    );
}

#[test]
fn same_name_under_different_entities_is_not_a_duplicate() {
    assert_eq!(
        parse(&["metrics.a", "params.a", "tags.a"]).unwrap().len(),
        3
    );
}

#[test]
fn duplicate_keys_are_rejected() {
    assert_err(
        &["metrics.a", "metrics.a DESC"],
        &[
            "`order_by` contains duplicate fields: ['metrics.a', 'metrics.a DESC']",
            "metric 'a'",
            "more than once",
        ],
    );
    assert_err(
        &["metrics.a", "metric.`a`"],
        &["`order_by` contains duplicate fields: ['metrics.a', 'metric.`a`']"],
    );
}

#[test]
fn created_and_start_time_are_duplicates() {
    assert_err(
        &["start_time", "created DESC"],
        &["`order_by` contains duplicate fields", "start_time"],
    );
}

#[test]
fn invalid_direction_is_rejected() {
    let e = assert_err(
        &["metrics.a DOWN"],
        &[
            "Invalid ordering key in order_by clause 'metrics.a DOWN'.",
            "found 'DOWN'",
            "ASC or DESC",
        ],
    );
    assert_eq!(e.position, Some(10));
}

#[test]
fn extra_tokens_after_direction_are_rejected() {
    assert_err(
        &["metrics.a DESC NULLS"],
        &[
            "Invalid order_by clause 'metrics.a DESC NULLS'. Could not be parsed.",
            "Unexpected 'NULLS'",
        ],
    );
}

#[test]
fn unquoted_key_with_space_is_rejected() {
    assert_err(
        &["metrics.my metric DESC"],
        &[
            "Invalid order_by clause 'metrics.my metric DESC'. Could not be parsed.",
            "found 'metric'",
        ],
    );
}

#[test]
fn empty_clause_is_rejected() {
    assert_err(
        &["   "],
        &[
            "Invalid order_by clause '   '. Could not be parsed.",
            "empty",
        ],
    );
}

#[test]
fn dataset_keys_cannot_be_ordered_by() {
    assert_err(
        &["datasets.name"],
        &["Invalid identifier type 'dataset'", "dataset 'name'"],
    );
}

#[test]
fn invalid_attribute_key_is_rejected() {
    assert_err(
        &["experiment_id"],
        &["Invalid attribute key 'experiment_id' specified. Valid keys are"],
    );
}

#[test]
fn run_name_alias_with_space_is_not_orderable() {
    assert_err(
        &["`run name`"],
        &["Invalid attribute key 'run name' specified"],
    );
}

#[test]
fn invalid_entity_type_is_rejected() {
    assert_err(
        &["foo.bar"],
        &["Invalid entity type 'foo'. Valid values are"],
    );
}

#[test]
fn malformed_key_is_rejected() {
    let e = assert_err(
        &["metrics.f1-score"],
        &[
            "Invalid order_by clause 'metrics.f1-score'. Could not be parsed.",
            "Unexpected character '-'",
        ],
    );
    assert_eq!(e.position, Some(10));
    assert_err(
        &["'x'"],
        &["Invalid order_by clause ''x''. Could not be parsed."],
    );
}

#[test]
fn comparison_in_order_by_is_rejected() {
    assert_err(
        &["metrics.a = 1"],
        &[
            "Invalid order_by clause 'metrics.a = 1'. Could not be parsed.",
            "found '='",
        ],
    );
}

#[test]
fn more_than_256_clauses_are_rejected() {
    let clauses: Vec<String> = (0..257).map(|i| format!("metrics.m{i}")).collect();
    let e = parse_run_order_by(&clauses).err().unwrap();
    assert!(e.message.contains("maximum is 256"), "{}", e.message);
}

#[test]
fn over_long_clause_is_rejected() {
    let clause = format!("metrics.`{}`", "x".repeat(16 * 1024));
    assert_err(
        &[clause.as_str()],
        &["Invalid order_by clause", "maximum is 16384 bytes"],
    );
}
