//! Per-endpoint validation: which keys exist, how they are normalized, which
//! comparators and value types each accepts. Mirrors MLflow's search utilities.
//!
//! Every error message starts with the sentence MLflow 3.x uses for the same
//! mistake on the same endpoint (so a substring check written against MLflow's
//! message also passes here), followed by our own detail: the offending key,
//! value or comparator and what would be accepted instead.

use crate::ast::{Comparator, Comparison, EntityType, Key, OrderBy, SearchError, Value};
use crate::syntax::{
    parse_filter, parse_order_by_clause, FilterStyle, RawClause, RawKey, RawOp, RawValue,
};
use crate::text::{py_list, py_str, py_tuple, quoted_list, sentence, truncate};
use crate::MAX_CLAUSES;

use Comparator::{Eq, Ge, Gt, ILike, In, IsNotNull, IsNull, Le, Like, Lt, Ne, NotIn};

// Listed in the order MLflow prints them.
const NUMERIC_OPS: &[Comparator] = &[Lt, Le, Gt, Ge, Eq, Ne];
const STRING_OPS: &[Comparator] = &[Eq, Ne, Like, ILike];
const STRING_OR_NULL_OPS: &[Comparator] = &[Eq, Ne, Like, ILike, IsNull, IsNotNull];
const STRING_OR_LIST_OPS: &[Comparator] = &[Eq, Ne, Like, ILike, In, NotIn];

/// The search endpoint whose rules (and MLflow wording) apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Runs,
    Experiments,
    RegisteredModels,
    ModelVersions,
    LoggedModels,
}

impl Dialect {
    fn filter_style(self) -> FilterStyle {
        match self {
            Dialect::Runs => FilterStyle::Runs,
            Dialect::Experiments | Dialect::RegisteredModels | Dialect::ModelVersions => {
                FilterStyle::Registry
            }
            Dialect::LoggedModels => FilterStyle::LoggedModels,
        }
    }

    /// String attributes that accept `IN` lists, named in MLflow's
    /// `Only [...] attributes support comparison with a list` message.
    fn list_attributes(self) -> &'static [&'static str] {
        match self {
            Dialect::Runs => &["run_id"],
            Dialect::ModelVersions => &["name", "run_id"],
            _ => &[],
        }
    }
}

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
#[derive(Clone, Copy, PartialEq, Eq)]
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
}

const fn rule(allowed: &'static [Comparator], value: ValueRule) -> Rule {
    Rule { allowed, value }
}

/// A resolved key and whether it is a numeric attribute.
struct Resolved {
    key: Key,
    numeric: bool,
}

/// Why a key could not be resolved.
enum KeyProblem {
    EntityType(String),
    Attribute,
    Dataset,
    EmptyName(EntityType),
}

/// The word MLflow uses for an entity type in its messages.
fn entity_word(entity: EntityType) -> &'static str {
    match entity {
        EntityType::Metric => "metric",
        EntityType::Param => "parameter",
        EntityType::Tag => "tag",
        EntityType::Attribute => "attribute",
        EntityType::Dataset => "dataset",
    }
}

/// `metric 'rmse'`, `parameter 'lr'`, ...
fn describe(key: &Key) -> String {
    format!("{} '{}'", entity_word(key.entity), key.name)
}

/// The logged-models spelling of a key: `metrics.loss`, `attributes.name`.
fn logged_model_key(key: &Key) -> String {
    let prefix = match key.entity {
        EntityType::Metric => "metrics",
        EntityType::Param => "params",
        EntityType::Tag => "tags",
        EntityType::Attribute | EntityType::Dataset => "attributes",
    };
    format!("{prefix}.{}", key.name)
}

/// `a`, `a and b`, `a, b and c`.
fn join_and<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let items: Vec<&str> = items.into_iter().collect();
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

fn op_list(ops: &[Comparator]) -> String {
    py_list(ops.iter().map(|c| c.as_str()))
}

fn resolve_key(raw: &RawKey, prefixes: Prefixes, attrs: &[Attr]) -> Result<Resolved, KeyProblem> {
    let entity = match &raw.prefix {
        None => EntityType::Attribute,
        Some(p) => match prefixes.iter().find(|(name, _)| name == p) {
            Some((_, entity)) => *entity,
            None => return Err(KeyProblem::EntityType(p.clone())),
        },
    };
    match entity {
        EntityType::Attribute => match attrs.iter().find(|a| a.alias == raw.name) {
            Some(attr) => Ok(Resolved {
                key: Key::new(EntityType::Attribute, attr.canonical),
                numeric: attr.numeric,
            }),
            None => Err(KeyProblem::Attribute),
        },
        EntityType::Dataset => {
            if DATASET_KEYS.contains(&raw.name.as_str()) {
                Ok(Resolved {
                    key: Key::new(EntityType::Dataset, raw.name.clone()),
                    numeric: false,
                })
            } else {
                Err(KeyProblem::Dataset)
            }
        }
        EntityType::Metric | EntityType::Param | EntityType::Tag => {
            if raw.name.is_empty() {
                return Err(KeyProblem::EmptyName(entity));
            }
            Ok(Resolved {
                key: Key::new(entity, raw.name.clone()),
                numeric: entity == EntityType::Metric,
            })
        }
    }
}

fn key_error(
    d: Dialect,
    raw: &RawKey,
    problem: KeyProblem,
    prefixes: Prefixes,
    attrs: &[Attr],
) -> SearchError {
    let message = match problem {
        KeyProblem::EntityType(p) => {
            let found = format!("Found in key '{}'", raw.text);
            match d {
                Dialect::Runs => sentence(
                    &format!(
                        "Invalid entity type '{p}'. Valid values are \
                         ['metric', 'parameter', 'tag', 'attribute', 'dataset']"
                    ),
                    &format!(
                        "{found}; accepted prefixes are {}",
                        quoted_list(prefixes.iter().map(|(name, _)| *name))
                    ),
                ),
                Dialect::Experiments | Dialect::RegisteredModels | Dialect::ModelVersions => {
                    sentence(
                        &format!(
                            "Invalid entity type '{p}'. Valid entity types are {}",
                            py_tuple(prefixes.iter().map(|(name, _)| *name))
                        ),
                        &found,
                    )
                }
                Dialect::LoggedModels => sentence(
                    &format!(
                        "Invalid entity type: {}. Expected one of {}.",
                        py_str(&p),
                        py_list(prefixes.iter().map(|(name, _)| *name))
                    ),
                    &found,
                ),
            }
        }
        KeyProblem::Attribute => format!(
            "Invalid attribute key '{}' specified. Valid keys are {}",
            raw.name,
            quoted_list(attrs.iter().map(|a| a.alias))
        ),
        KeyProblem::Dataset => format!(
            "Invalid dataset key '{}' specified. Valid keys are {}",
            raw.name,
            quoted_list(DATASET_KEYS.iter().copied())
        ),
        KeyProblem::EmptyName(entity) => {
            format!("Empty {} name in key '{}'", entity_word(entity), raw.text)
        }
    };
    SearchError::at(message, raw.start)
}

// ------------------------------------------------------------ messages

/// MLflow's message for a non-numeric value given to a metric or a numeric
/// attribute. `name` is the key as written.
fn numeric_value_message(key: &Key, name: &str, found: &str) -> String {
    match key.entity {
        EntityType::Metric => {
            format!("Expected numeric value type for metric '{name}'. Found {found}")
        }
        _ => format!("Expected numeric value type for numeric attribute: {name}. Found {found}"),
    }
}

/// MLflow's message for a value that is not a quoted string (a number, a
/// list, `NULL`) given to a key that takes quoted strings.
fn quoted_value_message(d: Dialect, key: &Key, name: &str, found: &str) -> String {
    match (key.entity, d) {
        (EntityType::Param | EntityType::Tag | EntityType::Metric, _) => format!(
            "Expected a quoted string value for {} '{name}' (e.g. 'my-value'). Got value {found}",
            entity_word(key.entity)
        ),
        (EntityType::Dataset, _) => format!(
            "Expected a quoted string value for dataset attributes. Got value {found} \
             for dataset '{name}'"
        ),
        (EntityType::Attribute, Dialect::RegisteredModels | Dialect::ModelVersions) => format!(
            "Expected a quoted string value or a list of quoted string values for attributes. \
             Got value {found} for attribute '{name}'"
        ),
        (EntityType::Attribute, Dialect::LoggedModels) => format!(
            "Expected a quoted string value or numeric value for {} \
             (e.g. 'my-value' or 0.8). Got value {found}",
            logged_model_key(key)
        ),
        (EntityType::Attribute, _) => format!(
            "Expected a quoted string value for attributes. Got value {found} \
             for attribute '{name}'"
        ),
    }
}

/// MLflow's message for an unquoted word (or a backtick-quoted text) given
/// where a string is expected.
fn unquoted_value_message(clause: &RawClause) -> String {
    let found = &clause.value_text;
    let unwrapped = found.trim_matches('`').replace('\'', "''");
    sentence(
        &format!(
            "Parameter value is either not quoted or unidentified quote types used for string \
             value {found}. Use either single or double quotes."
        ),
        &format!(
            "For example: {} {} '{unwrapped}'",
            clause.key.text, clause.op
        ),
    )
}

/// MLflow's message for a comparator the key does not support.
fn comparator_message(
    d: Dialect,
    clause: &RawClause,
    key: &Key,
    numeric: bool,
    rule: &Rule,
) -> String {
    let op = &clause.op;
    let list = op_list(rule.allowed);
    let store_style = |what: &str| {
        format!(
            "Invalid comparator for {what}: {op}. Valid comparators for {} are {list}",
            describe(key)
        )
    };
    let message = match (d, key.entity) {
        (Dialect::LoggedModels, _) => format!(
            "Invalid comparison operator for {}: '{op}'. Expected one of {}.",
            logged_model_key(key),
            py_tuple(rule.allowed.iter().map(|c| c.as_str()))
        ),
        (
            Dialect::Experiments | Dialect::RegisteredModels | Dialect::ModelVersions,
            EntityType::Tag,
        ) => store_style("tag"),
        (Dialect::RegisteredModels, _) => store_style("attribute"),
        (Dialect::ModelVersions, _) if numeric => {
            store_style(&format!("attribute {}", clause.key.name))
        }
        (Dialect::ModelVersions, _) => store_style("attribute"),
        _ => format!(
            "Invalid comparator '{op}' not one of {list} for {}",
            describe(key)
        ),
    };
    match op {
        RawOp::Unknown(text) if text.starts_with("NOT") => {
            sentence(&message, "NOT is only supported as part of NOT IN")
        }
        _ => message,
    }
}

/// MLflow's message for `IS NULL` / `IS NOT NULL` on a key without them.
fn is_null_message(
    d: Dialect,
    clause: &RawClause,
    key: &Key,
    numeric: bool,
    rule: &Rule,
) -> String {
    let name = &clause.key.name;
    match d {
        Dialect::Runs => format!(
            "IS NULL / IS NOT NULL is only supported for tags and params, not for '{}' '{name}'",
            entity_word(key.entity)
        ),
        Dialect::Experiments if key.entity == EntityType::Attribute => {
            format!("IS NULL / IS NOT NULL is only supported for tags, not for attribute '{name}'")
        }
        Dialect::RegisteredModels => format!(
            "IS NULL / IS NOT NULL is not supported for registered model search. Found '{}' \
             for {}",
            clause.op,
            describe(key)
        ),
        Dialect::ModelVersions => format!(
            "IS NULL / IS NOT NULL is not supported for model version search. Found '{}' \
             for {}",
            clause.op,
            describe(key)
        ),
        _ => comparator_message(d, clause, key, numeric, rule),
    }
}

// ---------------------------------------------------------- validation

/// A value that failed the value-type check.
struct BadValue {
    message: String,
    /// Whether `message` already says which comparators are valid.
    names_comparators: bool,
}

impl From<String> for BadValue {
    fn from(message: String) -> Self {
        Self {
            message,
            names_comparators: false,
        }
    }
}

/// A value that passed the value-type check.
enum Checked {
    Ready(Value),
    /// A quoted string for a `NumberOrIntegerString` key; converted after the
    /// comparator check, as MLflow's model-version search does.
    IntegerText(String),
}

/// MLflow's message, if any, for a list given to a key (or with a comparator)
/// that does not take one.
fn list_value_error(
    d: Dialect,
    clause: &RawClause,
    key: &Key,
    numeric: bool,
    rule: &Rule,
) -> Result<(), BadValue> {
    let found = clause.value_text.as_str();
    let name = clause.key.name.as_str();
    match (d, key.entity) {
        (Dialect::LoggedModels, _) | (_, EntityType::Dataset) => Ok(()),
        (Dialect::Runs, EntityType::Attribute) if numeric => {
            Err(numeric_value_message(key, name, found).into())
        }
        (Dialect::Runs | Dialect::ModelVersions, EntityType::Attribute) => {
            if d.list_attributes().contains(&key.name.as_str()) {
                return Ok(());
            }
            Err(BadValue {
                message: sentence(
                    &format!(
                        "Only {} attributes support comparison with a list of quoted string \
                         values.",
                        py_list(d.list_attributes().iter().copied())
                    ),
                    &format!(
                        "Valid comparators for {} are {}",
                        describe(key),
                        op_list(rule.allowed)
                    ),
                ),
                names_comparators: true,
            })
        }
        (Dialect::Experiments, EntityType::Attribute) if numeric => {
            Err(numeric_value_message(key, name, found).into())
        }
        (_, EntityType::Attribute) => Ok(()),
        (_, EntityType::Metric) => Err(numeric_value_message(key, name, found).into()),
        (_, EntityType::Param | EntityType::Tag) => {
            Err(quoted_value_message(d, key, name, found).into())
        }
    }
}

/// Checks the value the way MLflow's `_get_value` does for this endpoint.
/// `op_ok` tells whether the comparator is supported for the key.
fn check_value(
    d: Dialect,
    clause: &RawClause,
    key: &Key,
    numeric: bool,
    rule: &Rule,
    op_ok: bool,
) -> Result<Checked, BadValue> {
    let found = clause.value_text.as_str();
    let name = clause.key.name.as_str();
    match &clause.value {
        RawValue::None => Ok(Checked::Ready(Value::Null)),
        RawValue::List(items) => {
            if op_ok {
                return Ok(Checked::Ready(Value::List(items.clone())));
            }
            list_value_error(d, clause, key, numeric, rule)?;
            Ok(Checked::Ready(Value::List(items.clone())))
        }
        RawValue::Group => {
            list_value_error(d, clause, key, numeric, rule)?;
            Err(format!(
                "A parenthesized list at position {} can only be used with IN or NOT IN, \
                 not with '{}'",
                clause.value_start, clause.op
            )
            .into())
        }
        RawValue::Num(v) => match rule.value {
            ValueRule::Number => Ok(Checked::Ready(Value::Number(*v))),
            // Version numbers are integers: MLflow refuses `version_number = 1.5`.
            ValueRule::NumberOrIntegerString if v.fract() != 0.0 => {
                Err(format!("Invalid value for numeric attribute '{name}': {found}").into())
            }
            ValueRule::NumberOrIntegerString => Ok(Checked::Ready(Value::Number(*v))),
            ValueRule::StringOrBareNumber => Ok(Checked::Ready(Value::String(found.to_string()))),
            ValueRule::QuotedString
                if d == Dialect::ModelVersions && key.entity == EntityType::Attribute =>
            {
                Err(format!(
                    "Only the {} attributes support comparison with numeric values. Got value \
                     {found} for {}",
                    quoted_list(
                        MODEL_VERSION_FILTER_ATTRS
                            .iter()
                            .filter(|a| a.numeric)
                            .map(|a| a.alias)
                    ),
                    describe(key)
                )
                .into())
            }
            ValueRule::QuotedString => Err(quoted_value_message(d, key, name, found).into()),
        },
        RawValue::Str(text) => match rule.value {
            ValueRule::QuotedString | ValueRule::StringOrBareNumber => {
                Ok(Checked::Ready(Value::String(text.clone())))
            }
            ValueRule::NumberOrIntegerString => Ok(Checked::IntegerText(text.clone())),
            ValueRule::Number => Err(numeric_value_message(key, name, found).into()),
        },
        RawValue::Word => match rule.value {
            ValueRule::Number => Err(numeric_value_message(key, name, found).into()),
            _ => Err(unquoted_value_message(clause).into()),
        },
        RawValue::NullWord => {
            let message = match rule.value {
                ValueRule::Number => numeric_value_message(key, name, found),
                _ => quoted_value_message(d, key, name, found),
            };
            if rule.allowed.contains(&IsNull) {
                Err(sentence(
                    &message,
                    &format!(
                        "To match a missing {}, use IS NULL or IS NOT NULL",
                        entity_word(key.entity)
                    ),
                )
                .into())
            } else {
                Err(message.into())
            }
        }
    }
}

/// Validates one clause against the endpoint's rules, checking in MLflow's
/// order so that a clause with several mistakes is reported as MLflow
/// reports it: `IS NULL` support, then the value type, then the comparator
/// (logged models check the comparator first).
fn apply(
    d: Dialect,
    clause: &RawClause,
    resolved: Resolved,
    rule: Rule,
) -> Result<Comparison, SearchError> {
    let Resolved { key, numeric } = resolved;
    let op = match &clause.op {
        RawOp::Known(c) if rule.allowed.contains(c) => Some(*c),
        _ => None,
    };
    let comparator_error = || {
        SearchError::at(
            comparator_message(d, clause, &key, numeric, &rule),
            clause.op_start,
        )
    };

    if op.is_none() {
        if matches!(clause.op, RawOp::Known(IsNull | IsNotNull)) {
            return Err(SearchError::at(
                is_null_message(d, clause, &key, numeric, &rule),
                clause.op_start,
            ));
        }
        if d == Dialect::LoggedModels {
            return Err(comparator_error());
        }
    }

    let checked = match check_value(d, clause, &key, numeric, &rule, op.is_some()) {
        Ok(checked) => checked,
        Err(BadValue {
            message,
            names_comparators,
        }) => {
            let message = if op.is_none() && !names_comparators {
                sentence(
                    &message,
                    &format!(
                        "Also, '{}' is not a valid comparator for {}; use one of {}",
                        clause.op,
                        describe(&key),
                        op_list(rule.allowed)
                    ),
                )
            } else {
                message
            };
            return Err(SearchError::at(message, clause.value_start));
        }
    };
    let Some(op) = op else {
        return Err(comparator_error());
    };
    let value = match checked {
        Checked::Ready(value) => value,
        Checked::IntegerText(text) => match text.trim().parse::<i64>() {
            Ok(i) => Value::Number(i as f64),
            Err(_) => {
                return Err(SearchError::at(
                    format!(
                        "Invalid value for numeric attribute '{}': {}",
                        clause.key.name,
                        py_str(&text)
                    ),
                    clause.value_start,
                ))
            }
        },
    };
    Ok(Comparison {
        key,
        comparator: op,
        value,
    })
}

fn parse_with(
    d: Dialect,
    filter: &str,
    prefixes: Prefixes,
    attrs: &[Attr],
    rule_for: fn(&Resolved) -> Rule,
) -> Result<Vec<Comparison>, SearchError> {
    parse_filter(filter, d.filter_style())?
        .iter()
        .map(|clause| {
            let resolved = resolve_key(&clause.key, prefixes, attrs)
                .map_err(|p| key_error(d, &clause.key, p, prefixes, attrs))?;
            let rule = rule_for(&resolved);
            apply(d, clause, resolved, rule)
        })
        .collect()
}

/// The registered-model order-by message MLflow uses for any key it does
/// not know, whatever its entity type.
fn order_by_key_message(name: &str, attrs: &[Attr]) -> String {
    format!(
        "Invalid order by key '{name}' specified. Valid keys are {}",
        quoted_list(attrs.iter().map(|a| a.alias))
    )
}

fn order_by_with(
    d: Dialect,
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
        let resolved = match resolve_key(&raw.key, prefixes, attrs) {
            Ok(resolved) => resolved,
            Err(KeyProblem::EntityType(_) | KeyProblem::Attribute)
                if d == Dialect::RegisteredModels =>
            {
                return Err(SearchError::at(
                    order_by_key_message(&raw.key.text, attrs),
                    raw.key.start,
                ))
            }
            Err(problem) => return Err(key_error(d, &raw.key, problem, prefixes, attrs)),
        };
        let key = resolved.key;
        if !allowed.contains(&key.entity) {
            let detail = format!(
                "Only {} keys can be used in order_by; found {} in clause '{}'",
                join_and(allowed.iter().map(|e| entity_word(*e))),
                describe(&key),
                truncate(clause)
            );
            let head = match d {
                Dialect::Runs => format!("Invalid identifier type '{}'", entity_word(key.entity)),
                Dialect::RegisteredModels => order_by_key_message(&raw.key.text, attrs),
                Dialect::ModelVersions => order_by_key_message(&key.name, attrs),
                _ => format!("Invalid order_by entity: {}", entity_word(key.entity)),
            };
            return Err(SearchError::at(sentence(&head, &detail), raw.key.start));
        }
        if reject_duplicates && out.iter().any(|o| o.key == key) {
            return Err(SearchError::new(sentence(
                &format!(
                    "`order_by` contains duplicate fields: {}",
                    truncate(&py_list(clauses.iter().map(String::as_str)))
                ),
                &format!(
                    "The key {} appears more than once (clause '{}')",
                    describe(&key),
                    truncate(clause)
                ),
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
        EntityType::Attribute => rule(STRING_OPS, ValueRule::QuotedString),
    }
}

pub(crate) fn run_filter(filter: &str) -> Result<Vec<Comparison>, SearchError> {
    parse_with(
        Dialect::Runs,
        filter,
        RUN_PREFIXES,
        RUN_FILTER_ATTRS,
        run_rule,
    )
}

pub(crate) fn run_order_by(clauses: &[String]) -> Result<Vec<OrderBy>, SearchError> {
    order_by_with(
        Dialect::Runs,
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
        Dialect::Experiments,
        filter,
        REGISTRY_PREFIXES,
        EXPERIMENT_FILTER_ATTRS,
        experiment_rule,
    )
}

pub(crate) fn experiment_order_by(clauses: &[String]) -> Result<Vec<OrderBy>, SearchError> {
    order_by_with(
        Dialect::Experiments,
        clauses,
        REGISTRY_PREFIXES,
        EXPERIMENT_ORDER_ATTRS,
        &[EntityType::Attribute],
        false,
    )
}

// ---------------------------------------------------- registered models

/// MLflow's SQL registry store takes `IN` / `NOT IN` lists on the model name.
fn registered_model_rule(r: &Resolved) -> Rule {
    match r.key.entity {
        EntityType::Attribute => rule(STRING_OR_LIST_OPS, ValueRule::QuotedString),
        _ => rule(STRING_OPS, ValueRule::QuotedString),
    }
}

pub(crate) fn registered_model_filter(filter: &str) -> Result<Vec<Comparison>, SearchError> {
    parse_with(
        Dialect::RegisteredModels,
        filter,
        REGISTRY_PREFIXES,
        REGISTERED_MODEL_FILTER_ATTRS,
        registered_model_rule,
    )
}

pub(crate) fn registered_model_order_by(clauses: &[String]) -> Result<Vec<OrderBy>, SearchError> {
    order_by_with(
        Dialect::RegisteredModels,
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
        EntityType::Attribute if r.key.name == "run_id" || r.key.name == "name" => {
            rule(STRING_OR_LIST_OPS, ValueRule::QuotedString)
        }
        _ => rule(STRING_OPS, ValueRule::QuotedString),
    }
}

pub(crate) fn model_version_filter(filter: &str) -> Result<Vec<Comparison>, SearchError> {
    parse_with(
        Dialect::ModelVersions,
        filter,
        REGISTRY_PREFIXES,
        MODEL_VERSION_FILTER_ATTRS,
        model_version_rule,
    )
}

pub(crate) fn model_version_order_by(clauses: &[String]) -> Result<Vec<OrderBy>, SearchError> {
    order_by_with(
        Dialect::ModelVersions,
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
        Dialect::LoggedModels,
        filter,
        LOGGED_MODEL_PREFIXES,
        LOGGED_MODEL_FILTER_ATTRS,
        logged_model_rule,
    )
}
