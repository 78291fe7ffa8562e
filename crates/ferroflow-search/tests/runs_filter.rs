//! `parse_run_filter`: accepted forms and every error class.
#![allow(clippy::unwrap_used)]

use ferroflow_search::{
    parse_run_filter, Comparator, Comparison, EntityType, Key, SearchError, Value,
};

fn one(filter: &str) -> Comparison {
    let mut v = parse_run_filter(filter).unwrap();
    assert_eq!(v.len(), 1, "expected one clause for {filter:?}: {v:?}");
    v.remove(0)
}

fn err(filter: &str) -> SearchError {
    match parse_run_filter(filter) {
        Ok(v) => panic!("expected an error for {filter:?}, got {v:?}"),
        Err(e) => e,
    }
}

fn assert_err(filter: &str, needles: &[&str]) -> SearchError {
    let e = err(filter);
    for n in needles {
        assert!(
            e.message.contains(n),
            "message for {filter:?} should contain {n:?}: {}",
            e.message
        );
    }
    e
}

fn cmp(entity: EntityType, name: &str, comparator: Comparator, value: Value) -> Comparison {
    Comparison {
        key: Key::new(entity, name),
        comparator,
        value,
    }
}

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

// ---------------------------------------------------------------- accepted

#[test]
fn empty_and_blank_filters_yield_no_clauses() {
    assert_eq!(parse_run_filter("").unwrap(), vec![]);
    assert_eq!(parse_run_filter("   \t\n ").unwrap(), vec![]);
}

#[test]
fn metric_comparison_with_integer_value() {
    assert_eq!(
        one("metrics.rmse > 1"),
        cmp(
            EntityType::Metric,
            "rmse",
            Comparator::Gt,
            Value::Number(1.0)
        )
    );
}

#[test]
fn metric_values_may_be_negative_decimal_or_scientific() {
    let cases = [
        ("metrics.a = -1", -1.0),
        ("metrics.a = 0.5", 0.5),
        ("metrics.a = .5", 0.5),
        ("metrics.a = 5.", 5.0),
        ("metrics.a = 1e3", 1000.0),
        ("metrics.a = 2.5E-2", 0.025),
        ("metrics.a = -1.5e+2", -150.0),
        ("metrics.a = +3", 3.0),
    ];
    for (filter, expected) in cases {
        assert_eq!(one(filter).value, Value::Number(expected), "{filter}");
    }
}

#[test]
fn all_numeric_comparators_are_accepted_for_metrics() {
    let cases = [
        ("=", Comparator::Eq),
        ("!=", Comparator::Ne),
        ("<", Comparator::Lt),
        ("<=", Comparator::Le),
        (">", Comparator::Gt),
        (">=", Comparator::Ge),
    ];
    for (op, expected) in cases {
        assert_eq!(one(&format!("metrics.m {op} 1")).comparator, expected);
        // No whitespace around the operator.
        assert_eq!(one(&format!("metrics.m{op}1")).comparator, expected);
    }
}

#[test]
fn metric_prefix_aliases_are_accepted() {
    for p in ["metric", "metrics", "`metrics`"] {
        assert_eq!(
            one(&format!("{p}.acc >= 0.9")).key,
            Key::new(EntityType::Metric, "acc")
        );
    }
}

#[test]
fn param_prefix_aliases_are_accepted() {
    for p in ["param", "params", "parameter", "parameters"] {
        assert_eq!(
            one(&format!("{p}.lr = '0.01'")),
            cmp(EntityType::Param, "lr", Comparator::Eq, s("0.01"))
        );
    }
}

#[test]
fn tag_prefix_aliases_are_accepted_and_dotted_names_kept() {
    for p in ["tag", "tags"] {
        assert_eq!(
            one(&format!("{p}.mlflow.runName = 'x'")).key,
            Key::new(EntityType::Tag, "mlflow.runName")
        );
    }
}

#[test]
fn attribute_prefix_aliases_and_bare_keys_are_attributes() {
    for key in [
        "status",
        "attribute.status",
        "attributes.status",
        "attr.status",
        "run.status",
    ] {
        assert_eq!(
            one(&format!("{key} = 'FINISHED'")),
            cmp(
                EntityType::Attribute,
                "status",
                Comparator::Eq,
                s("FINISHED")
            )
        );
    }
}

#[test]
fn all_run_string_attributes_are_accepted() {
    for name in ["run_id", "run_name", "status", "user_id", "artifact_uri"] {
        assert_eq!(
            one(&format!("attributes.{name} LIKE '%a%'")).key,
            Key::new(EntityType::Attribute, name)
        );
    }
}

#[test]
fn numeric_attributes_take_numbers() {
    assert_eq!(
        one("attributes.start_time >= 1700000000000"),
        cmp(
            EntityType::Attribute,
            "start_time",
            Comparator::Ge,
            Value::Number(1_700_000_000_000.0)
        )
    );
    assert_eq!(one("end_time < 5").key.name, "end_time");
}

#[test]
fn created_is_normalized_to_start_time() {
    for key in ["created", "Created", "attributes.created", "`Created`"] {
        assert_eq!(
            one(&format!("{key} > 0")).key,
            Key::new(EntityType::Attribute, "start_time")
        );
    }
}

#[test]
fn run_name_aliases_are_normalized_to_run_name() {
    for key in [
        "`run name`",
        "\"Run name\"",
        "attributes.`Run Name`",
        "attributes.run_name",
        "run_name",
    ] {
        assert_eq!(
            one(&format!("{key} = 'x'")).key,
            Key::new(EntityType::Attribute, "run_name"),
            "{key}"
        );
    }
}

#[test]
fn keys_may_be_quoted_after_the_prefix() {
    assert_eq!(one("metrics.`my metric` > 1").key.name, "my metric");
    assert_eq!(one("metrics.\"my metric\" > 1").key.name, "my metric");
    assert_eq!(one("metrics.'my metric' > 1").key.name, "my metric");
    assert_eq!(
        one("tags.\"mlflow.runName\" = 'a'").key.name,
        "mlflow.runName"
    );
    assert_eq!(one("params.`f1-score/val` = 'a'").key.name, "f1-score/val");
}

#[test]
fn quoted_key_names_may_contain_escaped_quotes() {
    assert_eq!(one("tags.`a``b` = 'x'").key.name, "a`b");
    assert_eq!(one("tags.\"a\\\"b\" = 'x'").key.name, "a\"b");
}

#[test]
fn string_values_may_use_single_or_double_quotes() {
    assert_eq!(one("params.a = 'x y'").value, s("x y"));
    assert_eq!(one("params.a = \"x y\"").value, s("x y"));
    assert_eq!(one("params.a = ''").value, s(""));
}

#[test]
fn quotes_inside_values_are_unescaped() {
    assert_eq!(one("tags.a = 'it''s'").value, s("it's"));
    assert_eq!(one("tags.a = 'it\\'s'").value, s("it's"));
    assert_eq!(one("tags.a = \"say \"\"hi\"\"\"").value, s("say \"hi\""));
    // Other backslash sequences are kept verbatim (e.g. LIKE escapes).
    assert_eq!(one("tags.a LIKE '50\\%'").value, s("50\\%"));
    assert_eq!(one("tags.a = 'a\\\\'").value, s("a\\\\"));
}

#[test]
fn keywords_are_case_insensitive() {
    let v = parse_run_filter(
        "params.a like 'x%' and tags.b iLiKe '%Y' AnD run_id in ('a') and run_id not In ('b') \
         and tags.c is null and params.d Is NoT nUlL",
    )
    .unwrap();
    let ops: Vec<Comparator> = v.iter().map(|c| c.comparator).collect();
    assert_eq!(
        ops,
        vec![
            Comparator::Like,
            Comparator::ILike,
            Comparator::In,
            Comparator::NotIn,
            Comparator::IsNull,
            Comparator::IsNotNull
        ]
    );
}

#[test]
fn params_and_tags_accept_is_null_and_is_not_null() {
    assert_eq!(
        one("tags.env IS NULL"),
        cmp(EntityType::Tag, "env", Comparator::IsNull, Value::Null)
    );
    assert_eq!(
        one("params.lr IS NOT NULL"),
        cmp(EntityType::Param, "lr", Comparator::IsNotNull, Value::Null)
    );
}

#[test]
fn params_and_tags_accept_like_and_ilike() {
    assert_eq!(one("params.model LIKE 'GPT%'").comparator, Comparator::Like);
    assert_eq!(
        one("tags.task ILIKE '%class%'").comparator,
        Comparator::ILike
    );
}

#[test]
fn run_id_accepts_in_and_not_in_lists() {
    assert_eq!(
        one("run_id IN ('a1', \"b2\")"),
        cmp(
            EntityType::Attribute,
            "run_id",
            Comparator::In,
            Value::List(vec!["a1".into(), "b2".into()])
        )
    );
    assert_eq!(
        one("attributes.run_id NOT IN ('x')").value,
        Value::List(vec!["x".into()])
    );
    // Trailing comma, no spaces, newlines.
    assert_eq!(
        one("run_id in('a','b',)").value,
        Value::List(vec!["a".into(), "b".into()])
    );
    assert_eq!(
        one("run_id IN (\n 'a' ,\n 'b'\n)").value,
        Value::List(vec!["a".into(), "b".into()])
    );
}

#[test]
fn in_list_items_are_kept_verbatim_including_upper_case() {
    assert_eq!(
        one("run_id IN ('ABC', 'abc')").value,
        Value::List(vec!["ABC".into(), "abc".into()])
    );
}

#[test]
fn dataset_keys_accept_string_and_list_comparators() {
    for p in ["dataset", "datasets"] {
        assert_eq!(
            one(&format!("{p}.name = 'iris'")),
            cmp(EntityType::Dataset, "name", Comparator::Eq, s("iris"))
        );
    }
    assert_eq!(one("datasets.digest LIKE 'ab%'").key.name, "digest");
    assert_eq!(
        one("datasets.context IN ('train', 'test')").value,
        Value::List(vec!["train".into(), "test".into()])
    );
    assert_eq!(
        one("datasets.name NOT IN ('a')").comparator,
        Comparator::NotIn
    );
}

#[test]
fn multiple_clauses_are_joined_with_and_in_order() {
    let v = parse_run_filter(
        "metrics.acc > 0.9 AND params.lr = '0.1' AND tags.\"mlflow.user\" != 'bob'",
    )
    .unwrap();
    assert_eq!(
        v,
        vec![
            cmp(
                EntityType::Metric,
                "acc",
                Comparator::Gt,
                Value::Number(0.9)
            ),
            cmp(EntityType::Param, "lr", Comparator::Eq, s("0.1")),
            cmp(EntityType::Tag, "mlflow.user", Comparator::Ne, s("bob")),
        ]
    );
}

#[test]
fn unicode_keys_and_values_are_accepted() {
    assert_eq!(
        one("tags.ключ = 'значение ✓'"),
        cmp(EntityType::Tag, "ключ", Comparator::Eq, s("значение ✓"))
    );
}

// ------------------------------------------------------------------ errors

#[test]
fn rejects_or_between_clauses() {
    let e = assert_err(
        "metrics.a > 1 OR metrics.b > 2",
        &["Invalid clause(s) in filter string: 'OR'", "AND"],
    );
    assert_eq!(e.position, Some(14));
    assert_err(
        "metrics.a > 1 or metrics.b > 2",
        &["Invalid clause(s) in filter string: 'OR'"],
    );
}

#[test]
fn rejects_or_at_the_start() {
    assert_err(
        "OR metrics.a > 1",
        &["Invalid clause(s) in filter string: 'OR'"],
    );
}

#[test]
fn rejects_missing_and_between_clauses() {
    assert_err(
        "metrics.a > 1 metrics.b > 2",
        &[
            "Invalid clause(s) in filter string: 'metrics.b'",
            "Expected AND",
        ],
    );
}

#[test]
fn rejects_trailing_and() {
    assert_err(
        "metrics.a > 1 AND ",
        &["Invalid clause(s) in filter string: 'AND'", "ends with AND"],
    );
}

#[test]
fn rejects_leading_and() {
    assert_err(
        "AND metrics.a > 1",
        &[
            "Invalid clause(s) in filter string: 'AND'",
            "Unexpected AND",
        ],
    );
}

#[test]
fn rejects_double_and() {
    assert_err(
        "metrics.a > 1 AND AND metrics.b > 1",
        &[
            "Invalid clause(s) in filter string: 'AND'",
            "Unexpected AND",
        ],
    );
}

#[test]
fn rejects_parentheses_used_for_grouping() {
    assert_err(
        "(metrics.a > 1)",
        &["Invalid clause(s) in filter string: '('", "grouping"],
    );
}

#[test]
fn metric_with_string_value_is_rejected() {
    let e = assert_err(
        "metrics.rmse > 'abc'",
        &["Expected numeric value type for metric 'rmse'. Found 'abc'"],
    );
    assert_eq!(e.position, Some(15));
}

#[test]
fn messages_carry_mlflow_wording() {
    // The phrases MLflow 3.x returns for these filters (compat suite).
    assert_err(
        "metrics.rmse < 'abc'",
        &["Expected numeric value type for metric"],
    );
    assert_err("foo.bar = 1", &["Invalid entity type 'foo'"]);
    assert_err(
        "metrics.a = 1 OR metrics.b = 2",
        &["Invalid clause(s) in filter string"],
    );
    assert_err(
        "params.alpha = 0.01",
        &["Expected a quoted string value for parameter"],
    );
}

#[test]
fn metric_with_like_is_rejected() {
    let e = assert_err(
        "metrics.rmse LIKE 1",
        &[
            "Invalid comparator 'LIKE' not one of",
            "['<', '<=', '>', '>=', '=', '!=']",
            "metric 'rmse'",
        ],
    );
    assert_eq!(e.position, Some(13));
}

#[test]
fn metric_with_like_and_string_reports_the_value_first_as_mlflow_does() {
    let e = assert_err(
        "metrics.rmse LIKE '1%'",
        &[
            "Expected numeric value type for metric 'rmse'. Found '1%'",
            "'LIKE' is not a valid comparator for metric 'rmse'",
        ],
    );
    assert_eq!(e.position, Some(18));
}

#[test]
fn metric_with_is_null_is_rejected() {
    assert_err(
        "metrics.rmse IS NULL",
        &["IS NULL / IS NOT NULL is only supported for tags and params, not for 'metric' 'rmse'"],
    );
}

#[test]
fn metric_with_in_is_rejected() {
    assert_err(
        "metrics.rmse IN ('1')",
        &[
            "Expected numeric value type for metric 'rmse'. Found ('1')",
            "'IN' is not a valid comparator",
        ],
    );
}

#[test]
fn param_with_number_value_is_rejected() {
    assert_err(
        "params.lr = 0.01",
        &["Expected a quoted string value for parameter 'lr' (e.g. 'my-value'). Got value 0.01"],
    );
}

#[test]
fn param_with_numeric_comparator_is_rejected() {
    assert_err(
        "params.lr > '1'",
        &["Invalid comparator '>' not one of", "parameter 'lr'"],
    );
}

#[test]
fn tag_with_unquoted_value_is_rejected() {
    assert_err(
        "tags.env = prod",
        &[
            "Parameter value is either not quoted or unidentified quote types used for string \
             value prod. Use either single or double quotes.",
            "tags.env = 'prod'",
        ],
    );
}

#[test]
fn tag_with_in_list_is_rejected() {
    assert_err(
        "tags.env IN ('a')",
        &[
            "Expected a quoted string value for tag 'env' (e.g. 'my-value'). Got value ('a')",
            "'IN' is not a valid comparator for tag 'env'",
        ],
    );
}

#[test]
fn invalid_attribute_key_lists_valid_keys() {
    let e = assert_err(
        "foo = 'x'",
        &[
            "Invalid attribute key 'foo' specified. Valid keys are",
            "'run_id'",
            "'start_time'",
        ],
    );
    assert_eq!(e.position, Some(0));
    assert_err(
        "attributes.experiment_id = '1'",
        &["Invalid attribute key 'experiment_id' specified"],
    );
}

#[test]
fn attribute_names_are_case_sensitive() {
    assert_err("Status = 'RUNNING'", &["Invalid attribute key 'Status'"]);
}

#[test]
fn invalid_entity_type_is_rejected() {
    assert_err(
        "metricz.a > 1",
        &[
            "Invalid entity type 'metricz'. Valid values are \
             ['metric', 'parameter', 'tag', 'attribute', 'dataset']",
            "'metrics'",
            "'params'",
        ],
    );
    assert_err("Metrics.a > 1", &["Invalid entity type 'Metrics'"]);
}

#[test]
fn invalid_dataset_key_is_rejected() {
    assert_err(
        "datasets.size = '1'",
        &[
            "Invalid dataset key 'size' specified. Valid keys are",
            "'digest'",
        ],
    );
}

#[test]
fn in_on_attribute_other_than_run_id_is_rejected() {
    assert_err(
        "status IN ('RUNNING')",
        &[
            "Only ['run_id'] attributes support comparison with a list of quoted string values.",
            "attribute 'status'",
        ],
    );
}

#[test]
fn numeric_attribute_with_string_value_is_rejected() {
    assert_err(
        "start_time > '2020'",
        &["Expected numeric value type for numeric attribute: start_time. Found '2020'"],
    );
}

#[test]
fn numeric_attribute_with_like_is_rejected() {
    assert_err(
        "end_time LIKE 1",
        &[
            "Invalid comparator 'LIKE' not one of",
            "attribute 'end_time'",
        ],
    );
    assert_err(
        "end_time LIKE '1%'",
        &["Expected numeric value type for numeric attribute: end_time. Found '1%'"],
    );
}

#[test]
fn string_attribute_with_number_value_is_rejected() {
    assert_err(
        "status = 1",
        &[
            "Expected a quoted string value for attributes. Got value 1",
            "attribute 'status'",
        ],
    );
}

#[test]
fn string_attribute_with_numeric_comparator_is_rejected() {
    assert_err(
        "run_name > 'a'",
        &["Invalid comparator '>' not one of", "attribute 'run_name'"],
    );
}

#[test]
fn attribute_is_null_is_rejected() {
    assert_err(
        "run_name IS NULL",
        &["IS NULL / IS NOT NULL is only supported for tags and params, not for 'attribute' 'run_name'"],
    );
}

#[test]
fn empty_in_list_is_rejected() {
    assert_err(
        "run_id IN ()",
        &["While parsing a list in the query, expected a non-empty list of string values, but got empty list"],
    );
}

#[test]
fn in_list_with_numbers_is_rejected() {
    let e = assert_err(
        "run_id IN (1, 2)",
        &[
            "While parsing a list in the query, expected string value, punctuation, or \
             whitespace, but got different type in list",
            "found '1'",
        ],
    );
    assert_eq!(e.position, Some(11));
}

#[test]
fn in_without_parentheses_is_rejected() {
    assert_err(
        "run_id IN 'a'",
        &["Invalid clause(s) in filter string", "parenthesized list"],
    );
}

#[test]
fn unterminated_in_list_is_rejected() {
    assert_err(
        "run_id IN ('a', 'b'",
        &["Invalid clause(s) in filter string", "missing ')'"],
    );
    assert_err(
        "run_id IN ('a' 'b')",
        &["but got ill-formed list.", "Expected ',' or ')'"],
    );
}

#[test]
fn list_with_equals_is_rejected() {
    assert_err("run_id = ('a')", &["only be used with IN or NOT IN"]);
    assert_err(
        "metrics.a = (1)",
        &["Expected numeric value type for metric 'a'. Found (1)"],
    );
    assert_err(
        "params.a = ('x')",
        &["Expected a quoted string value for parameter 'a' (e.g. 'my-value'). Got value ('x')"],
    );
    assert_err(
        "status = ('x')",
        &["Only ['run_id'] attributes support comparison with a list of quoted string values."],
    );
    assert_err("run_id = ('a'", &["Unterminated list"]);
}

#[test]
fn unterminated_string_is_rejected() {
    let e = assert_err(
        "params.a = 'abc",
        &["Invalid clause(s) in filter string: ''abc'", "Unterminated"],
    );
    assert_eq!(e.position, Some(11));
    assert_err("params.a = 'abc\\'", &["Unterminated"]);
    assert_err("tags.`abc = 'x'", &["Unterminated"]);
}

#[test]
fn invalid_comparators_are_rejected() {
    for op in ["==", "<>", "!"] {
        assert_err(
            &format!("metrics.a {op} 1"),
            &[
                &format!("Invalid comparator '{op}' not one of"),
                "metric 'a'",
            ],
        );
    }
    assert_err("metrics.a ~ 1", &["Invalid comparator '~' not one of"]);
}

#[test]
fn not_like_is_rejected() {
    assert_err(
        "params.a NOT LIKE 'x'",
        &["Invalid comparator 'NOT LIKE' not one of", "NOT IN"],
    );
}

#[test]
fn is_without_null_is_rejected() {
    assert_err(
        "tags.a IS 'x'",
        &["Invalid clause(s) in filter string: 'IS'", "NULL"],
    );
    assert_err(
        "tags.a IS NOT 'x'",
        &[
            "Invalid clause(s) in filter string: 'IS NOT'",
            "Expected NULL after IS NOT",
        ],
    );
    assert_err("tags.a IS NOT", &["the filter ended"]);
}

#[test]
fn unknown_word_comparator_is_rejected() {
    assert_err(
        "params.a CONTAINS 'x'",
        &[
            "Invalid clause(s) in filter string: 'CONTAINS'",
            "Expected a comparator",
        ],
    );
}

#[test]
fn missing_comparator_is_rejected() {
    assert_err(
        "metrics.a",
        &[
            "Invalid clause(s) in filter string: 'metrics.a'",
            "Expected a comparator",
            "ended",
        ],
    );
}

#[test]
fn missing_value_is_rejected() {
    assert_err(
        "metrics.a >",
        &["Invalid clause(s) in filter string: '>'", "Missing value"],
    );
    assert_err(
        "metrics.a > AND",
        &[
            "Invalid clause(s) in filter string",
            "Missing value",
            "'AND'",
        ],
    );
}

#[test]
fn equals_null_is_rejected() {
    assert_err(
        "tags.a = NULL",
        &[
            "Expected a quoted string value for tag 'a' (e.g. 'my-value'). Got value NULL",
            "IS NULL",
        ],
    );
    assert_err(
        "metrics.a > null",
        &["Expected numeric value type for metric 'a'. Found null"],
    );
    assert_err(
        "status = NULL",
        &["Expected a quoted string value for attributes. Got value NULL"],
    );
}

#[test]
fn malformed_numbers_are_rejected() {
    assert_err(
        "metrics.a > 1abc",
        &["Expected numeric value type for metric 'a'. Found 1abc"],
    );
    assert_err(
        "metrics.a > 1.2.3",
        &["Expected numeric value type for metric 'a'. Found 1.2.3"],
    );
    assert_err(
        "start_time > abc",
        &["Expected numeric value type for numeric attribute: start_time. Found abc"],
    );
    assert_err(
        "params.a = 1abc",
        &["Parameter value is either not quoted or unidentified quote types used for string value 1abc"],
    );
}

#[test]
fn out_of_range_numbers_are_rejected() {
    assert_err("metrics.a > 1e999", &["out of range", "1e999"]);
}

#[test]
fn special_characters_in_unquoted_keys_are_rejected() {
    assert_err(
        "metrics.f1-score > 1",
        &[
            "Invalid comparison clause. Expected 'Identifier' found 'metrics.f1-score'",
            "Unexpected character '-'",
            "backticks",
        ],
    );
    assert_err(
        "metrics.a/b > 1",
        &[
            "Invalid comparison clause. Expected 'Identifier' found 'metrics.a/b'",
            "Unexpected character '/'",
        ],
    );
}

#[test]
fn string_literal_as_key_is_rejected() {
    assert_err(
        "'status' = 'x'",
        &[
            "Invalid comparison clause. Expected 'Identifier' found ''status''",
            "string literal",
        ],
    );
}

#[test]
fn backtick_quoted_value_is_rejected() {
    assert_err(
        "params.a = `x`",
        &[
            "Parameter value is either not quoted or unidentified quote types used for string \
             value `x`",
            "params.a = 'x'",
        ],
    );
    assert_err(
        "metrics.a = `1`",
        &["Expected numeric value type for metric 'a'. Found `1`"],
    );
}

#[test]
fn missing_key_name_after_prefix_is_rejected() {
    assert_err(
        "metrics. > 1",
        &[
            "Invalid clause(s) in filter string: 'metrics.'",
            "Missing key name after 'metrics.'",
        ],
    );
    assert_err("metrics.`` > 1", &["Empty metric name"]);
}

#[test]
fn junk_after_value_is_rejected() {
    assert_err(
        "metrics.a > 1;",
        &["Invalid clause(s) in filter string: ';'", "Expected AND"],
    );
    assert_err(
        "params.a = 'x' 'y'",
        &["Invalid clause(s) in filter string: ''y''", "Expected AND"],
    );
}

#[test]
fn non_key_start_is_rejected() {
    assert_err(
        "= 1",
        &["Invalid clause(s) in filter string: '='", "Expected a key"],
    );
}

#[test]
fn dataset_errors_use_mlflow_wording() {
    assert_err(
        "datasets.name IS NULL",
        &["IS NULL / IS NOT NULL is only supported for tags and params, not for 'dataset' 'name'"],
    );
    assert_err(
        "datasets.name > 'a'",
        &["Invalid comparator '>' not one of", "dataset 'name'"],
    );
    assert_err(
        "datasets.name = 1",
        &["Expected a quoted string value for dataset attributes. Got value 1"],
    );
}

#[test]
fn numeric_attribute_with_in_list_is_rejected() {
    assert_err(
        "start_time IN ('1')",
        &["Expected numeric value type for numeric attribute: start_time. Found ('1')"],
    );
}

#[test]
fn error_display_is_the_message() {
    let e = err("metrics.a > 'x'");
    assert_eq!(e.to_string(), e.message);
}

// ------------------------------------------------------------------ limits

#[test]
fn filter_longer_than_16_kib_is_rejected() {
    let long = format!("params.a = '{}'", "x".repeat(16 * 1024));
    assert_err(&long, &["maximum is 16384 bytes"]);
}

#[test]
fn filter_of_exactly_16_kib_is_accepted() {
    let prefix = "params.a = '";
    let pad = 16 * 1024 - prefix.len() - 1;
    let f = format!("{prefix}{}'", "x".repeat(pad));
    assert_eq!(f.len(), 16 * 1024);
    assert!(parse_run_filter(&f).is_ok());
}

#[test]
fn more_than_256_clauses_are_rejected() {
    let clauses: Vec<String> = (0..257).map(|i| format!("metrics.m{i} > 1")).collect();
    assert_err(&clauses.join(" AND "), &["more than 256"]);
}

#[test]
fn exactly_256_clauses_are_accepted() {
    let clauses: Vec<String> = (0..256).map(|i| format!("metrics.m{i} > 1")).collect();
    assert_eq!(parse_run_filter(&clauses.join(" AND ")).unwrap().len(), 256);
}

#[test]
fn long_in_list_within_the_length_limit_is_accepted() {
    // The 10000-item cap is unreachable under the 16 KiB length cap (each item
    // needs at least 3 bytes); it is unit-tested on the list parser itself.
    let items: Vec<&str> = vec!["''"; 5000];
    let f = format!("run_id IN ({})", items.join(","));
    assert!(f.len() <= 16 * 1024);
    match one(&f).value {
        Value::List(v) => assert_eq!(v.len(), 5000),
        other => panic!("expected a list, got {other:?}"),
    }
}

#[test]
fn arbitrary_input_never_panics() {
    // Deterministic xorshift generator over a small alphabet of tricky characters.
    let alphabet: Vec<char> = "ab.`'\"\\()=!<>, -+e1 ANDORINOTISNULLmetrics.tags.é✓\n"
        .chars()
        .collect();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..20_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = (state % 40) as usize;
        let mut s = String::new();
        let mut x = state;
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.push(alphabet[(x % alphabet.len() as u64) as usize]);
        }
        let _ = parse_run_filter(&s);
        let _ = ferroflow_search::parse_run_order_by(&[s.clone()]);
        let _ = ferroflow_search::parse_logged_model_filter(&s);
    }
}
