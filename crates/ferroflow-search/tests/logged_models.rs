//! `parse_logged_model_filter`.
#![allow(clippy::unwrap_used)]

use ferroflow_search::{parse_logged_model_filter, Comparator, Comparison, EntityType, Key, Value};

fn one(filter: &str) -> Comparison {
    let mut v = parse_logged_model_filter(filter).unwrap();
    assert_eq!(v.len(), 1, "{v:?}");
    v.remove(0)
}

fn assert_err(filter: &str, needles: &[&str]) {
    let e = match parse_logged_model_filter(filter) {
        Ok(v) => panic!("expected an error for {filter:?}, got {v:?}"),
        Err(e) => e,
    };
    for n in needles {
        assert!(
            e.message.contains(n),
            "{:?} should contain {n:?}",
            e.message
        );
    }
}

#[test]
fn empty_filter_yields_no_clauses() {
    assert_eq!(parse_logged_model_filter("").unwrap(), vec![]);
}

#[test]
fn metrics_take_numeric_comparators() {
    assert_eq!(
        one("metrics.loss < 0.1"),
        Comparison {
            key: Key::new(EntityType::Metric, "loss"),
            comparator: Comparator::Lt,
            value: Value::Number(0.1),
        }
    );
}

#[test]
fn params_accept_quoted_strings_and_bare_numbers_as_text() {
    assert_eq!(
        one("params.lr = '0.01'").value,
        Value::String("0.01".into())
    );
    assert_eq!(one("params.lr = 0.01").value, Value::String("0.01".into()));
    assert_eq!(one("params.lr = 1e-3").value, Value::String("1e-3".into()));
}

#[test]
fn params_and_tags_accept_like_and_in() {
    assert_eq!(one("params.opt LIKE 'ad%'").comparator, Comparator::Like);
    assert_eq!(
        one("tags.`my.tag` NOT IN ('a', 'b')"),
        Comparison {
            key: Key::new(EntityType::Tag, "my.tag"),
            comparator: Comparator::NotIn,
            value: Value::List(vec!["a".into(), "b".into()]),
        }
    );
}

#[test]
fn string_attributes_accept_string_and_list_comparators() {
    for name in ["name", "model_id", "model_type", "status", "source_run_id"] {
        assert_eq!(
            one(&format!("{name} = 'x'")).key,
            Key::new(EntityType::Attribute, name)
        );
        assert_eq!(
            one(&format!("attributes.{name} IN ('x')")).comparator,
            Comparator::In
        );
    }
}

#[test]
fn timestamp_aliases_are_normalized() {
    assert_eq!(
        one("creation_time > 5").key,
        Key::new(EntityType::Attribute, "creation_timestamp")
    );
    assert_eq!(
        one("attributes.creation_timestamp > 5").key.name,
        "creation_timestamp"
    );
    assert_eq!(
        one("last_updated_time <= 5").key.name,
        "last_updated_timestamp"
    );
}

#[test]
fn timestamp_attribute_with_string_is_rejected() {
    assert_err(
        "creation_time > 'yesterday'",
        &["Expected numeric value type for numeric attribute: creation_time. Found 'yesterday'"],
    );
}

#[test]
fn metric_with_string_value_is_rejected() {
    assert_err(
        "metrics.loss = '0.1'",
        &["Expected numeric value type for metric 'loss'. Found '0.1'"],
    );
}

#[test]
fn metric_with_like_is_rejected() {
    assert_err(
        "metrics.loss LIKE '1'",
        &["Invalid comparison operator for metrics.loss: 'LIKE'. \
           Expected one of ('<', '<=', '>', '>=', '=', '!=')."],
    );
    assert_err(
        "metrics.a == 1",
        &["Invalid comparison operator for metrics.a: '=='."],
    );
}

#[test]
fn param_with_numeric_comparator_is_rejected() {
    assert_err(
        "params.lr > '0.1'",
        &["Invalid comparison operator for params.lr: '>'. \
           Expected one of ('=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN')."],
    );
}

#[test]
fn singular_or_run_only_prefixes_are_rejected() {
    assert_err(
        "metric.loss < 1",
        &["Invalid entity type: 'metric'. Expected one of ['attributes', 'metrics', 'params', 'tags']."],
    );
    assert_err("datasets.name = 'a'", &["Invalid entity type: 'datasets'."]);
}

#[test]
fn unknown_attribute_is_rejected() {
    assert_err(
        "artifact_uri = 'x'",
        &[
            "Invalid attribute key 'artifact_uri' specified. Valid keys are",
            "'model_id'",
        ],
    );
}

#[test]
fn is_null_is_rejected() {
    assert_err(
        "tags.a IS NULL",
        &["Invalid comparison operator for tags.a: 'IS NULL'."],
    );
}

#[test]
fn rejects_or_between_clauses() {
    assert_err(
        "metrics.a > 1 OR metrics.b > 1",
        &[
            "Invalid filter string: 'metrics.a > 1 OR metrics.b > 1'. Expected a list of \
             comparisons separated by 'AND' (e.g. 'metrics.loss > 0.1 AND params.lr = 0.01').",
            "OR",
        ],
    );
}

#[test]
fn syntax_errors_echo_the_filter_as_mlflow_does() {
    assert_err(
        "params.a = 'x",
        &[
            "Invalid filter string: \"params.a = 'x\". Expected a list of comparisons",
            "Unterminated",
        ],
    );
    assert_err(
        "metrics.a >",
        &["Invalid filter string: 'metrics.a >'.", "Missing value"],
    );
}
