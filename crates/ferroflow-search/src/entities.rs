//! Per-endpoint validation: which keys exist, how they are normalized, which
//! comparators and value types each accepts. Mirrors MLflow's search utilities.

use crate::ast::{Comparator, Comparison, EntityType, Key, OrderBy, SearchError, Value};
use crate::syntax::{parse_filter, parse_order_by_clause, RawClause, RawKey, RawValue};
use crate::MAX_CLAUSES;

use Comparator::{Eq, Ge, Gt, ILike, In, IsNotNull, IsNull, Le, Like, Lt, Ne, NotIn};

const NUMERIC_OPS: &[Comparator] = &[Eq, Ne, Lt, Le, Gt, Ge];
const STRING_OPS: &[Comparator] = &[Eq, Ne, Like, ILike];
const STRING_OR_NULL_OPS: &[Comparator] = &[Eq, Ne, Like, ILike, IsNull, IsNotNull];
const STRING_OR_LIST_OPS: &[Comparator] = &[Eq, Ne, Like, ILike, In, NotIn];
const STRING_OR_IN_OPS: &[Comparator] = &[Eq, Ne, Like, ILike, In];

/// A searchable/orderable attribute: the spelling accepted in input, the
/// canonical name it is normalized to, and whether it holds numbers.
struct Attr {
    alias: &'static str,
    canonical: &'static str,
    numeric: bool,
}

const fn s(name: &'static str) -> Attr {
    Attr {
        alias: name,
        canonical: name,
        numeric: false,
    }
}
const fn n(name: &'static str) -> Attr {
    Attr {
        alias: name,
        canonical: name,
        numeric: true,
    }
}
const fn s_alias(alias: &'static str, canonical: &'static str) -> Attr {
    Attr {
        alias,
        canonical,
        numeric: false,
    }
}
const fn n_alias(alias: &'static str, canonical: &'static str) -> Attr {
    Attr {
        alias,
        canonical,
        numeric: true,
    }
}

/// Entity prefixes accepted before the first `.` of a key.
type Prefixes = &'static [(&'static str, EntityType)];

const RUN_PREFIXES: Prefixes = &[
    ("metric", EntityType::Metric),
    ("metrics", EntityType::Metric),
    ("parameter", EntityType::Param),
    ("parameters", EntityType::Param),
    ("param", EntityType::Param),
    ("params", EntityType::Param),
    ("tag", EntityType::Tag),
    ("tags", EntityType::Tag),
    ("attribute", EntityType::Attribute),
    ("attributes", EntityType::Attribute),
    ("attr", EntityType::Attribute),
    ("run", EntityType::Attribute),
    ("dataset", EntityType::Dataset),
    ("datasets", EntityType::Dataset),
];

/// Experiments, registered models and model versions.
const REGISTRY_PREFIXES: Prefixes = &[
    ("attribute", EntityType::Attribute),
    ("tag", EntityType::Tag),
    ("tags", EntityType::Tag),
];

const LOGGED_MODEL_PREFIXES: Prefixes = &[
    ("attributes", EntityType::Attribute),
    ("metrics", EntityType::Metric),
    ("params", EntityType::Param),
    ("tags", EntityType::Tag),
];

const RUN_FILTER_ATTRS: &[Attr] = &[
    s("run_id"),
    s("run_name"),
    s_alias("run name", "run_name"),
    s_alias("Run name", "run_name"),
    s_alias("Run Name", "run_name"),
    s("status"),
    s("user_id"),
    s("artifact_uri"),
    n("start_time"),
    n_alias("created", "start_time"),
    n_alias("Created", "start_time"),
    n("end_time"),
];

const RUN_ORDER_ATTRS: &[Attr] = &[
    s("run_id"),
    s("run_name"),
    s("status"),
    s("user_id"),
    s("artifact_uri"),
    n("start_time"),
    n_alias("created", "start_time"),
    n_alias("Created", "start_time"),
    n("end_time"),
];

const EXPERIMENT_FILTER_ATTRS: &[Attr] = &[s("name"), n("creation_time"), n("last_update_time")];

const EXPERIMENT_ORDER_ATTRS: &[Attr] = &[
    s("name"),
    s("experiment_id"),
    n("creation_time"),
    n("last_update_time"),
];

const REGISTERED_MODEL_FILTER_ATTRS: &[Attr] = &[s("name")];

const REGISTERED_MODEL_ORDER_ATTRS: &[Attr] = &[
    s("name"),
    n_alias("timestamp", "last_updated_timestamp"),
    n("last_updated_timestamp"),
    n("creation_timestamp"),
];

const MODEL_VERSION_FILTER_ATTRS: &[Attr] = &[
    s("name"),
    s("run_id"),
    s("source_path"),
    n("version_number"),
];

const MODEL_VERSION_ORDER_ATTRS: &[Attr] = &[
    s("name"),
    n("version_number"),
    n("creation_timestamp"),
    n("last_updated_timestamp"),
];

const LOGGED_MODEL_FILTER_ATTRS: &[Attr] = &[
    s("name"),
    s("model_id"),
    s("model_type"),
    s("status"),
    s("source_run_id"),
    n("creation_timestamp"),
    n_alias("creation_time", "creation_timestamp"),
    n("last_updated_timestamp"),
    n_alias("last_updated_time", "last_updated_timestamp"),
];

const DATASET_KEYS: &[&str] = &["name", "digest", "context"];

/// How the right-hand side of a non-list, non-null comparison must look.
#[derive(Clone, Copy)]
enum ValueRule {
    /// A numeric literal.
    Number,
    /// A numeric literal, or a quoted string holding an integer (`'3'`).
    NumberOrIntegerString,
    /// A single- or double-quoted string.
    QuotedString,
    /// A quoted string, or a bare number kept as its source text.
    StringOrBareNumber,
}

struct Rule {
    allowed: &'static [Comparator],
    value: ValueRule,
    hint: &'static str,
}

const fn rule(allowed: &'static [Comparator], value: ValueRule) -> Rule {
    Rule {
        allowed,
        value,
        hint: "",
    }
}

/// A resolved key and whether it is a numeric attribute.
struct Resolved {
    key: Key,
    numeric: bool,
}

fn join_names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join(", ")
}

fn quoted_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe(key: &Key) -> String {
    format!("{} '{}'", key.entity, key.name)
}

fn resolve_key(raw: &RawKey, prefixes: Prefixes, attrs: &[Attr]) -> Result<Resolved, SearchError> {
    let entity = match &raw.prefix {
        None => EntityType::Attribute,
        Some(p) => match prefixes.iter().find(|(name, _)| name == p) {
            Some((_, entity)) => *entity,
            None => {
                return Err(SearchError::at(
                    format!(
                        "Invalid entity type '{p}' in key '{}'. Valid entity types are: {}",
                        raw.text,
                        quoted_list(prefixes.iter().map(|(name, _)| *name))
                    ),
                    raw.start,
                ))
            }
        },
    };
    match entity {
        EntityType::Attribute => match attrs.iter().find(|a| a.alias == raw.name) {
            Some(attr) => Ok(Resolved {
                key: Key::new(EntityType::Attribute, attr.canonical),
                numeric: attr.numeric,
            }),
            None => Err(SearchError::at(
                format!(
                    "Invalid attribute key '{}' specified. Valid keys are: {}",
                    raw.name,
                    quoted_list(attrs.iter().map(|a| a.alias))
                ),
                raw.start,
            )),
        },
        EntityType::Dataset => {
            if DATASET_KEYS.contains(&raw.name.as_str()) {
                Ok(Resolved {
                    key: Key::new(EntityType::Dataset, raw.name.clone()),
                    numeric: false,
                })
            } else {
                Err(SearchError::at(
                    format!(
                        "Invalid dataset key '{}' specified. Valid keys are: {}",
                        raw.name,
                        quoted_list(DATASET_KEYS.iter().copied())
                    ),
                    raw.start,
                ))
            }
        }
        EntityType::Metric | EntityType::Param | EntityType::Tag => {
            if raw.name.is_empty() {
                return Err(SearchError::at(
                    format!("Empty {entity} name in key '{}'", raw.text),
                    raw.start,
                ));
            }
            Ok(Resolved {
                key: Key::new(entity, raw.name.clone()),
                numeric: entity == EntityType::Metric,
            })
        }
    }
}

fn apply(clause: &RawClause, key: Key, rule: Rule) -> Result<Comparison, SearchError> {
    let op = clause.op;
    if !rule.allowed.contains(&op) {
        return Err(SearchError::at(
            format!(
                "Invalid comparator '{op}' for {}. Valid comparators are: {}{}",
                describe(&key),
                join_names(rule.allowed.iter().map(|c| c.as_str())),
                rule.hint
            ),
            clause.op_start,
        ));
    }
    let found = &clause.value_text;
    let at = clause.value_start;
    let value = match (&clause.value, op) {
        (_, IsNull | IsNotNull) => Value::Null,
        (RawValue::List(items), In | NotIn) => Value::List(items.clone()),
        (RawValue::Num(v), _) => match rule.value {
            ValueRule::Number | ValueRule::NumberOrIntegerString => Value::Number(*v),
            ValueRule::StringOrBareNumber => Value::String(found.clone()),
            ValueRule::QuotedString => {
                return Err(SearchError::at(
                    format!(
                        "Expected a quoted string value for {} (e.g. 'my-value'), found {found}",
                        describe(&key)
                    ),
                    at,
                ))
            }
        },
        (RawValue::Str(text), _) => match rule.value {
            ValueRule::QuotedString | ValueRule::StringOrBareNumber => Value::String(text.clone()),
            ValueRule::NumberOrIntegerString => match text.trim().parse::<i64>() {
                Ok(i) => Value::Number(i as f64),
                Err(_) => {
                    return Err(SearchError::at(
                        format!(
                            "Expected a numeric value for {}, found {found}",
                            describe(&key)
                        ),
                        at,
                    ))
                }
            },
            ValueRule::Number => {
                return Err(SearchError::at(
                    format!(
                        "Expected a numeric value for {}, found {found}",
                        describe(&key)
                    ),
                    at,
                ))
            }
        },
        // The parser only produces lists for IN / NOT IN and no value for
        // IS [NOT] NULL, so these combinations cannot occur; reject anyway.
        (RawValue::List(_), _) | (RawValue::None, _) => {
            return Err(SearchError::at(
                format!("Unexpected value {found} for comparator '{op}'"),
                at,
            ))
        }
    };
    Ok(Comparison {
        key,
        comparator: op,
        value,
    })
}

fn parse_with(
    filter: &str,
    prefixes: Prefixes,
    attrs: &[Attr],
    rule_for: fn(&Resolved) -> Rule,
) -> Result<Vec<Comparison>, SearchError> {
    parse_filter(filter)?
        .iter()
        .map(|clause| {
            let resolved = resolve_key(&clause.key, prefixes, attrs)?;
            let rule = rule_for(&resolved);
            apply(clause, resolved.key, rule)
        })
        .collect()
}

fn order_by_with(
    clauses: &[String],
    prefixes: Prefixes,
    attrs: &[Attr],
    allowed: &[EntityType],
    reject_duplicates: bool,
) -> Result<Vec<OrderBy>, SearchError> {
    if clauses.len() > MAX_CLAUSES {
        return Err(SearchError::new(format!(
            "order_by has {} clauses; the maximum is {MAX_CLAUSES}",
            clauses.len()
        )));
    }
    let mut out: Vec<OrderBy> = Vec::with_capacity(clauses.len());
    for clause in clauses {
        let raw = parse_order_by_clause(clause)?;
        let resolved = resolve_key(&raw.key, prefixes, attrs)?;
        let key = resolved.key;
        if !allowed.contains(&key.entity) {
            return Err(SearchError::at(
                format!(
                    "Invalid order_by clause '{clause}': cannot order by {} keys. \
                     Allowed entity types are: {}",
                    key.entity,
                    join_names(allowed.iter().map(|e| e.as_str()))
                ),
                raw.key.start,
            ));
        }
        if reject_duplicates && out.iter().any(|o| o.key == key) {
            return Err(SearchError::new(format!(
                "order_by contains the key {} more than once (clause '{clause}')",
                describe(&key)
            )));
        }
        out.push(OrderBy {
            key,
            ascending: raw.ascending,
        });
    }
    Ok(out)
}

// ----------------------------------------------------------------- runs

fn run_rule(r: &Resolved) -> Rule {
    match r.key.entity {
        EntityType::Metric => rule(NUMERIC_OPS, ValueRule::Number),
        EntityType::Param | EntityType::Tag => rule(STRING_OR_NULL_OPS, ValueRule::QuotedString),
        EntityType::Dataset => rule(STRING_OR_LIST_OPS, ValueRule::QuotedString),
        EntityType::Attribute if r.numeric => rule(NUMERIC_OPS, ValueRule::Number),
        EntityType::Attribute if r.key.name == "run_id" => {
            rule(STRING_OR_LIST_OPS, ValueRule::QuotedString)
        }
        EntityType::Attribute => Rule {
            allowed: STRING_OPS,
            value: ValueRule::QuotedString,
            hint: " (IN and NOT IN are only supported for the 'run_id' attribute)",
        },
    }
}

pub(crate) fn run_filter(filter: &str) -> Result<Vec<Comparison>, SearchError> {
    parse_with(filter, RUN_PREFIXES, RUN_FILTER_ATTRS, run_rule)
}

pub(crate) fn run_order_by(clauses: &[String]) -> Result<Vec<OrderBy>, SearchError> {
    order_by_with(
        clauses,
        RUN_PREFIXES,
        RUN_ORDER_ATTRS,
        &[
            EntityType::Attribute,
            EntityType::Metric,
            EntityType::Param,
            EntityType::Tag,
        ],
        true,
    )
}

// ---------------------------------------------------------- experiments

fn experiment_rule(r: &Resolved) -> Rule {
    match r.key.entity {
        EntityType::Tag => rule(STRING_OR_NULL_OPS, ValueRule::QuotedString),
        _ if r.numeric => rule(NUMERIC_OPS, ValueRule::Number),
        _ => rule(STRING_OPS, ValueRule::QuotedString),
    }
}

pub(crate) fn experiment_filter(filter: &str) -> Result<Vec<Comparison>, SearchError> {
    parse_with(
        filter,
        REGISTRY_PREFIXES,
        EXPERIMENT_FILTER_ATTRS,
        experiment_rule,
    )
}

pub(crate) fn experiment_order_by(clauses: &[String]) -> Result<Vec<OrderBy>, SearchError> {
    order_by_with(
        clauses,
        REGISTRY_PREFIXES,
        EXPERIMENT_ORDER_ATTRS,
        &[EntityType::Attribute],
        false,
    )
}

// ---------------------------------------------------- registered models

fn registered_model_rule(_r: &Resolved) -> Rule {
    rule(STRING_OPS, ValueRule::QuotedString)
}

pub(crate) fn registered_model_filter(filter: &str) -> Result<Vec<Comparison>, SearchError> {
    parse_with(
        filter,
        REGISTRY_PREFIXES,
        REGISTERED_MODEL_FILTER_ATTRS,
        registered_model_rule,
    )
}

pub(crate) fn registered_model_order_by(clauses: &[String]) -> Result<Vec<OrderBy>, SearchError> {
    order_by_with(
        clauses,
        REGISTRY_PREFIXES,
        REGISTERED_MODEL_ORDER_ATTRS,
        &[EntityType::Attribute],
        true,
    )
}

// ------------------------------------------------------- model versions

fn model_version_rule(r: &Resolved) -> Rule {
    match r.key.entity {
        EntityType::Attribute if r.numeric => rule(NUMERIC_OPS, ValueRule::NumberOrIntegerString),
        EntityType::Attribute if r.key.name == "run_id" => {
            rule(STRING_OR_IN_OPS, ValueRule::QuotedString)
        }
        EntityType::Attribute => Rule {
            allowed: STRING_OPS,
            value: ValueRule::QuotedString,
            hint: " (IN is only supported for the 'run_id' attribute)",
        },
        _ => rule(STRING_OPS, ValueRule::QuotedString),
    }
}

pub(crate) fn model_version_filter(filter: &str) -> Result<Vec<Comparison>, SearchError> {
    parse_with(
        filter,
        REGISTRY_PREFIXES,
        MODEL_VERSION_FILTER_ATTRS,
        model_version_rule,
    )
}

pub(crate) fn model_version_order_by(clauses: &[String]) -> Result<Vec<OrderBy>, SearchError> {
    order_by_with(
        clauses,
        REGISTRY_PREFIXES,
        MODEL_VERSION_ORDER_ATTRS,
        &[EntityType::Attribute],
        true,
    )
}

// -------------------------------------------------------- logged models

fn logged_model_rule(r: &Resolved) -> Rule {
    if r.numeric {
        rule(NUMERIC_OPS, ValueRule::Number)
    } else {
        rule(STRING_OR_LIST_OPS, ValueRule::StringOrBareNumber)
    }
}

pub(crate) fn logged_model_filter(filter: &str) -> Result<Vec<Comparison>, SearchError> {
    parse_with(
        filter,
        LOGGED_MODEL_PREFIXES,
        LOGGED_MODEL_FILTER_ATTRS,
        logged_model_rule,
    )
}
