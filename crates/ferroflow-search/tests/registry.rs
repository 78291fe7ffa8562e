//! Registered-model and model-version filters and order-by.
#![allow(clippy::unwrap_used)]

use ferroflow_search::{
    parse_model_version_filter, parse_model_version_order_by, parse_registered_model_filter,
    parse_registered_model_order_by, Comparator, Comparison, EntityType, Key, OrderBy, SearchError,
    Value,
};

type FilterFn = fn(&str) -> Result<Vec<Comparison>, SearchError>;

fn one(f: FilterFn, filter: &str) -> Comparison {
    let mut v = f(filter).unwrap();
    assert_eq!(v.len(), 1, "{v:?}");
    v.remove(0)
}

fn assert_err(f: FilterFn, filter: &str, needles: &[&str]) {
    let e = match f(filter) {
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

fn owned(clauses: &[&str]) -> Vec<String> {
    clauses.iter().map(|c| c.to_string()).collect()
}

fn ob(name: &str, ascending: bool) -> OrderBy {
    OrderBy {
        key: Key::new(EntityType::Attribute, name),
        ascending,
    }
}

const RM: FilterFn = parse_registered_model_filter;
const MV: FilterFn = parse_model_version_filter;

// ------------------------------------------------------- registered models

#[test]
fn registered_model_name_accepts_string_comparators() {
    for (op, c) in [
        ("=", Comparator::Eq),
        ("!=", Comparator::Ne),
        ("like", Comparator::Like),
        ("ILIKE", Comparator::ILike),
    ] {
        assert_eq!(
            one(RM, &format!("name {op} 'm%'")),
            Comparison {
                key: Key::new(EntityType::Attribute, "name"),
                comparator: c,
                value: Value::String("m%".into()),
            }
        );
    }
}

#[test]
fn registered_model_tags_accept_string_comparators() {
    assert_eq!(
        one(RM, "tags.`mlflow.prompt.is_prompt` = 'true'").key,
        Key::new(EntityType::Tag, "mlflow.prompt.is_prompt")
    );
    assert_eq!(
        one(RM, "tag.team ILIKE '%ML%'").comparator,
        Comparator::ILike
    );
}

#[test]
fn registered_model_empty_filter_yields_no_clauses() {
    assert_eq!(RM(" ").unwrap(), vec![]);
}

#[test]
fn registered_model_name_takes_in_and_not_in_lists() {
    // MLflow's SQL registry store accepts lists on the name.
    let c = one(RM, "name IN ('a', 'b')");
    assert_eq!(c.comparator, Comparator::In);
    assert_eq!(c.value, Value::List(vec!["a".into(), "b".into()]));
    assert_eq!(one(RM, "name NOT IN ('a')").comparator, Comparator::NotIn);
}

#[test]
fn registered_model_unsupported_comparators_are_rejected() {
    assert_err(RM, "name > 'a'", &["Invalid comparator for attribute: >"]);
    assert_err(RM, "tags.a > 'x'", &["Invalid comparator for tag: >"]);
    assert_err(RM, "name == 'a'", &["Invalid comparator for attribute: =="]);
}

#[test]
fn registered_model_non_string_values_are_rejected() {
    assert_err(
        RM,
        "name = 1",
        &["Expected a quoted string value or a list of quoted string values for attributes. Got value 1"],
    );
    assert_err(
        RM,
        "tags.a LIKE 1",
        &["Expected a quoted string value for tag 'a' (e.g. 'my-value'). Got value 1"],
    );
}

#[test]
fn registered_model_rejects_or_between_clauses() {
    assert_err(
        RM,
        "name = 'a' OR name = 'b'",
        &["Invalid clause(s) in filter string: OR"],
    );
}

#[test]
fn registered_model_tag_is_null_is_rejected() {
    assert_err(
        RM,
        "tags.a IS NULL",
        &["IS NULL / IS NOT NULL is not supported for registered model search."],
    );
}

#[test]
fn registered_model_unknown_attribute_is_rejected() {
    assert_err(
        RM,
        "run_id = 'a'",
        &["Invalid attribute key 'run_id' specified. Valid keys are 'name'"],
    );
}

#[test]
fn registered_model_run_prefixes_are_rejected() {
    assert_err(
        RM,
        "params.a = 'x'",
        &["Invalid entity type 'params'. Valid entity types are ('attribute', 'tag', 'tags')"],
    );
}

#[test]
fn registered_model_unquoted_value_is_rejected() {
    assert_err(
        RM,
        "name = model",
        &["Parameter value is either not quoted or unidentified quote types used for string value model"],
    );
}

#[test]
fn registered_model_order_by_normalizes_timestamp() {
    assert_eq!(
        parse_registered_model_order_by(&owned(&["name DESC", "timestamp",])).unwrap(),
        vec![ob("name", false), ob("last_updated_timestamp", true)]
    );
}

#[test]
fn registered_model_order_by_refuses_creation_timestamp() {
    // MLflow's SQL registry store orders only by name and last-updated time.
    assert!(parse_registered_model_order_by(&owned(&["creation_timestamp"])).is_err());
}

#[test]
fn model_version_number_must_be_an_integer() {
    let e = parse_model_version_filter("version_number = 1.5")
        .err()
        .unwrap();
    assert!(
        e.message
            .contains("Invalid value for numeric attribute 'version_number': 1.5"),
        "{}",
        e.message
    );
}

#[test]
fn registered_model_order_by_timestamp_aliases_are_duplicates() {
    let e = parse_registered_model_order_by(&owned(&["timestamp", "last_updated_timestamp DESC"]))
        .err()
        .unwrap();
    assert!(
        e.message.contains(
            "`order_by` contains duplicate fields: ['timestamp', 'last_updated_timestamp DESC']"
        ),
        "{}",
        e.message
    );
    assert!(e.message.contains("more than once"), "{}", e.message);
}

#[test]
fn registered_model_order_by_invalid_key_is_rejected() {
    let e = parse_registered_model_order_by(&owned(&["version_number"]))
        .err()
        .unwrap();
    assert!(
        e.message
            .contains("Invalid order by key 'version_number' specified. Valid keys are"),
        "{}",
        e.message
    );
}

#[test]
fn registered_model_order_by_tags_is_rejected() {
    let e = parse_registered_model_order_by(&owned(&["tags.a"]))
        .err()
        .unwrap();
    assert!(
        e.message
            .contains("Invalid order by key 'tags.a' specified"),
        "{}",
        e.message
    );
    let e = parse_registered_model_order_by(&owned(&["foo.a"]))
        .err()
        .unwrap();
    assert!(
        e.message.contains("Invalid order by key 'foo.a' specified"),
        "{}",
        e.message
    );
}

#[test]
fn registered_model_order_by_invalid_direction_is_rejected() {
    let e = parse_registered_model_order_by(&owned(&["name UP"]))
        .err()
        .unwrap();
    assert!(
        e.message
            .contains("Invalid ordering key in order_by clause 'name UP'."),
        "{}",
        e.message
    );
}

// ---------------------------------------------------------- model versions

#[test]
fn model_version_string_attributes_accept_string_comparators() {
    for name in ["name", "run_id", "source_path"] {
        assert_eq!(
            one(MV, &format!("{name} LIKE '%x%'")).key,
            Key::new(EntityType::Attribute, name)
        );
    }
}

#[test]
fn model_version_run_id_accepts_in() {
    assert_eq!(
        one(MV, "run_id IN ('a', 'b')"),
        Comparison {
            key: Key::new(EntityType::Attribute, "run_id"),
            comparator: Comparator::In,
            value: Value::List(vec!["a".into(), "b".into()]),
        }
    );
}

#[test]
fn model_version_run_id_takes_not_in() {
    assert_eq!(one(MV, "run_id NOT IN ('a')").comparator, Comparator::NotIn);
}

#[test]
fn model_version_name_takes_in_lists() {
    assert_eq!(
        one(MV, "name IN ('a')").value,
        Value::List(vec!["a".into()])
    );
}

#[test]
fn model_version_source_path_refuses_lists() {
    assert_err(
        MV,
        "source_path IN ('a')",
        &["support comparison with a list"],
    );
}

#[test]
fn model_version_number_accepts_numeric_comparators() {
    assert_eq!(
        one(MV, "version_number >= 3"),
        Comparison {
            key: Key::new(EntityType::Attribute, "version_number"),
            comparator: Comparator::Ge,
            value: Value::Number(3.0),
        }
    );
}

#[test]
fn model_version_number_accepts_quoted_integer_strings() {
    assert_eq!(one(MV, "version_number = '3'").value, Value::Number(3.0));
}

#[test]
fn model_version_number_with_non_integer_string_is_rejected() {
    assert_err(
        MV,
        "version_number = 'latest'",
        &["Invalid value for numeric attribute 'version_number': 'latest'"],
    );
}

#[test]
fn model_version_number_with_like_is_rejected() {
    assert_err(
        MV,
        "version_number LIKE '1%'",
        &["Invalid comparator for attribute version_number: LIKE"],
    );
}

#[test]
fn model_version_string_attribute_with_number_is_rejected() {
    assert_err(
        MV,
        "name = 1",
        &[
            "attributes support comparison with numeric values.",
            "attribute 'name'",
        ],
    );
}

#[test]
fn model_version_unsupported_comparators_are_rejected() {
    assert_err(MV, "name > 'a'", &["Invalid comparator for attribute: >"]);
    assert_err(MV, "tags.a > 'x'", &["Invalid comparator for tag: >"]);
}

#[test]
fn model_version_tags_accept_string_comparators() {
    assert_eq!(
        one(MV, "tags.stage != 'prod'").key,
        Key::new(EntityType::Tag, "stage")
    );
    assert_err(
        MV,
        "tags.stage IS NOT NULL",
        &["IS NULL / IS NOT NULL is not supported for model version search."],
    );
}

#[test]
fn model_version_unknown_attribute_is_rejected() {
    assert_err(
        MV,
        "current_stage = 'Production'",
        &[
            "Invalid attribute key 'current_stage' specified. Valid keys are",
            "'version_number'",
        ],
    );
}

#[test]
fn model_version_rejects_or_between_clauses() {
    assert_err(
        MV,
        "name = 'a' OR name = 'b'",
        &["Invalid clause(s) in filter string: OR"],
    );
}

#[test]
fn model_version_order_by_accepts_its_attributes() {
    assert_eq!(
        parse_model_version_order_by(&owned(&[
            "name",
            "version_number DESC",
            "creation_timestamp",
            "attribute.last_updated_timestamp desc",
        ]))
        .unwrap(),
        vec![
            ob("name", true),
            ob("version_number", false),
            ob("creation_timestamp", true),
            ob("last_updated_timestamp", false),
        ]
    );
}

#[test]
fn model_version_order_by_duplicates_are_rejected() {
    let e = parse_model_version_order_by(&owned(&["name", "name DESC"]))
        .err()
        .unwrap();
    assert!(
        e.message
            .contains("`order_by` contains duplicate fields: ['name', 'name DESC']"),
        "{}",
        e.message
    );
}

#[test]
fn model_version_order_by_invalid_key_is_rejected() {
    let e = parse_model_version_order_by(&owned(&["run_id"]))
        .err()
        .unwrap();
    assert!(
        e.message
            .contains("Invalid attribute key 'run_id' specified"),
        "{}",
        e.message
    );
}

#[test]
fn model_version_order_by_tags_is_rejected() {
    let e = parse_model_version_order_by(&owned(&["tags.x"]))
        .err()
        .unwrap();
    assert!(
        e.message.contains("Invalid order by key 'x' specified"),
        "{}",
        e.message
    );
}
