//! `parse_experiment_filter` / `parse_experiment_order_by`.
#![allow(clippy::unwrap_used)]

use ferroflow_search::{
    parse_experiment_filter, parse_experiment_order_by, Comparator, Comparison, EntityType, Key,
    OrderBy, SearchError, Value,
};

fn one(filter: &str) -> Comparison {
    let mut v = parse_experiment_filter(filter).unwrap();
    assert_eq!(v.len(), 1, "{v:?}");
    v.remove(0)
}

fn assert_err(filter: &str, needles: &[&str]) {
    let e = match parse_experiment_filter(filter) {
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

fn order(clauses: &[&str]) -> Result<Vec<OrderBy>, SearchError> {
    let owned: Vec<String> = clauses.iter().map(|c| c.to_string()).collect();
    parse_experiment_order_by(&owned)
}

#[test]
fn empty_filter_yields_no_clauses() {
    assert_eq!(parse_experiment_filter("").unwrap(), vec![]);
}

#[test]
fn name_accepts_string_comparators() {
    for (op, c) in [
        ("=", Comparator::Eq),
        ("!=", Comparator::Ne),
        ("LIKE", Comparator::Like),
        ("ILIKE", Comparator::ILike),
    ] {
        assert_eq!(
            one(&format!("name {op} 'exp%'")),
            Comparison {
                key: Key::new(EntityType::Attribute, "name"),
                comparator: c,
                value: Value::String("exp%".into()),
            }
        );
    }
    assert_eq!(one("attribute.name = 'a'").key.name, "name");
}

#[test]
fn time_attributes_accept_numeric_comparators_and_numbers() {
    assert_eq!(one("creation_time > 1000").value, Value::Number(1000.0));
    assert_eq!(
        one("attribute.last_update_time <= 5").key,
        Key::new(EntityType::Attribute, "last_update_time")
    );
}

#[test]
fn tags_accept_string_comparators_and_null_checks() {
    assert_eq!(
        one("tags.team = 'ml'").key,
        Key::new(EntityType::Tag, "team")
    );
    assert_eq!(one("tag.`a b` LIKE '%x'").key.name, "a b");
    assert_eq!(one("tags.team IS NULL").value, Value::Null);
    assert_eq!(
        one("tags.team IS NOT NULL").comparator,
        Comparator::IsNotNull
    );
}

#[test]
fn time_attribute_with_string_value_is_rejected() {
    assert_err(
        "creation_time > '100'",
        &["Expected numeric value type for numeric attribute: creation_time. Found '100'"],
    );
}

#[test]
fn name_with_in_list_is_rejected() {
    assert_err(
        "name IN ('a')",
        &["Invalid comparator 'IN' not one of", "attribute 'name'"],
    );
}

#[test]
fn name_with_numeric_comparator_is_rejected() {
    assert_err("name > 'a'", &["Invalid comparator '>' not one of"]);
}

#[test]
fn name_is_null_is_rejected() {
    assert_err(
        "name IS NULL",
        &["IS NULL / IS NOT NULL is only supported for tags, not for attribute 'name'"],
    );
}

#[test]
fn run_only_entity_types_are_rejected() {
    assert_err(
        "metrics.a > 1",
        &["Invalid entity type 'metrics'. Valid entity types are ('attribute', 'tag', 'tags')"],
    );
    assert_err(
        "attributes.name = 'a'",
        &["Invalid entity type 'attributes'"],
    );
}

#[test]
fn experiment_id_is_not_searchable() {
    assert_err(
        "experiment_id = '1'",
        &[
            "Invalid attribute key 'experiment_id' specified. Valid keys are",
            "'name'",
        ],
    );
}

#[test]
fn tag_with_number_value_is_rejected() {
    assert_err(
        "tags.a = 1",
        &["Expected a quoted string value for tag 'a' (e.g. 'my-value'). Got value 1"],
    );
}

#[test]
fn tag_with_unsupported_comparator_is_rejected() {
    assert_err(
        "tags.a > 'x'",
        &["Invalid comparator for tag: >", "tag 'a'"],
    );
}

#[test]
fn messages_carry_mlflow_wording() {
    assert_err("foo = 1", &["Invalid attribute key 'foo'"]);
    assert_err(
        "name = abc",
        &["Parameter value is either not quoted or unidentified quote types used for string value abc"],
    );
    assert_err(
        "tags.a = NULL",
        &["Expected a quoted string value for tag 'a' (e.g. 'my-value'). Got value NULL"],
    );
}

#[test]
fn rejects_or_between_clauses() {
    assert_err(
        "name = 'a' OR name = 'b'",
        &["Invalid clause(s) in filter string: OR"],
    );
}

#[test]
fn order_by_accepts_experiment_attributes() {
    assert_eq!(
        order(&[
            "name",
            "experiment_id DESC",
            "creation_time asc",
            "attribute.last_update_time"
        ])
        .unwrap(),
        vec![
            OrderBy {
                key: Key::new(EntityType::Attribute, "name"),
                ascending: true
            },
            OrderBy {
                key: Key::new(EntityType::Attribute, "experiment_id"),
                ascending: false
            },
            OrderBy {
                key: Key::new(EntityType::Attribute, "creation_time"),
                ascending: true
            },
            OrderBy {
                key: Key::new(EntityType::Attribute, "last_update_time"),
                ascending: true
            },
        ]
    );
}

#[test]
fn order_by_tags_is_rejected() {
    let e = order(&["tags.a"]).err().unwrap();
    assert!(
        e.message.contains("Invalid order_by entity: tag"),
        "{}",
        e.message
    );
}

#[test]
fn order_by_unknown_attribute_is_rejected() {
    let e = order(&["lifecycle_stage"]).err().unwrap();
    assert!(
        e.message
            .contains("Invalid attribute key 'lifecycle_stage' specified"),
        "{}",
        e.message
    );
}

#[test]
fn order_by_duplicates_are_allowed_as_in_mlflow() {
    assert_eq!(order(&["name", "name DESC"]).unwrap().len(), 2);
}
