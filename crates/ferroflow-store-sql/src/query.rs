//! Search ASTs → SQL fragments. Dialect-neutral: the text uses `?` placeholders and only
//! constructs that SQLite, PostgreSQL and MySQL share (EXISTS subqueries, CASE, LOWER, LIKE);
//! where dialects differ the [`Dialect`] decides. Values never enter the SQL text: they are
//! bound parameters, so a filter cannot inject SQL.

use ferroflow_search::{Comparator, Comparison, EntityType, OrderBy, Value};

/// The SQL flavours Ferroflow targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
    Mysql,
}

impl Dialect {
    /// Case-sensitive LIKE. SQLite connections run with `case_sensitive_like = ON`
    /// (as MLflow sets them); MySQL's default collation would ignore case, hence BINARY.
    fn like(self, column: &str) -> String {
        match self {
            Dialect::Sqlite | Dialect::Postgres => format!("{column} LIKE ?"),
            Dialect::Mysql => format!("{column} LIKE BINARY ?"),
        }
    }

    /// Case-insensitive LIKE on every dialect.
    fn ilike(self, column: &str) -> String {
        format!("LOWER({column}) LIKE LOWER(?)")
    }

    /// Rewrites `?` placeholders into the dialect's form (`$1, $2, ...` on PostgreSQL).
    pub fn placeholders(self, sql: &str) -> String {
        match self {
            Dialect::Sqlite | Dialect::Mysql => sql.to_string(),
            Dialect::Postgres => {
                let mut out = String::with_capacity(sql.len() + 16);
                let mut n = 0;
                for c in sql.chars() {
                    if c == '?' {
                        n += 1;
                        out.push('$');
                        out.push_str(&n.to_string());
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        }
    }
}

/// A bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

/// SQL text with its bound parameters, built up in order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Fragment {
    pub sql: String,
    pub params: Vec<SqlValue>,
}

impl Fragment {
    /// A fragment starting with `sql` and no parameters yet.
    pub fn new(sql: String) -> Fragment {
        Fragment {
            sql,
            params: Vec::new(),
        }
    }
    fn push(&mut self, sql: &str) {
        self.sql.push_str(sql);
    }
    fn bind(&mut self, v: SqlValue) {
        self.params.push(v);
    }
}

fn comparator_sql(c: Comparator) -> &'static str {
    match c {
        Comparator::Eq => "=",
        Comparator::Ne => "!=",
        Comparator::Lt => "<",
        Comparator::Le => "<=",
        Comparator::Gt => ">",
        Comparator::Ge => ">=",
        // The parser only lets these reach string handling below.
        Comparator::Like
        | Comparator::ILike
        | Comparator::In
        | Comparator::NotIn
        | Comparator::IsNull
        | Comparator::IsNotNull => "=",
    }
}

/// `column <op> value` for a string-valued column, appending to `f`.
fn string_condition(
    f: &mut Fragment,
    dialect: Dialect,
    column: &str,
    cmp: Comparator,
    value: &Value,
) {
    match (cmp, value) {
        (Comparator::Like, Value::String(s)) => {
            f.push(&dialect.like(column));
            f.bind(SqlValue::Text(s.clone()));
        }
        (Comparator::ILike, Value::String(s)) => {
            f.push(&dialect.ilike(column));
            f.bind(SqlValue::Text(s.clone()));
        }
        (Comparator::In | Comparator::NotIn, Value::List(items)) => {
            if items.is_empty() {
                // `IN ()` is not valid SQL; an empty list matches nothing (NOT IN: everything).
                f.push(if cmp == Comparator::In {
                    "1 = 0"
                } else {
                    "1 = 1"
                });
                return;
            }
            f.push(column);
            f.push(if cmp == Comparator::In {
                " IN ("
            } else {
                " NOT IN ("
            });
            for (i, item) in items.iter().enumerate() {
                f.push(if i == 0 { "?" } else { ", ?" });
                f.bind(SqlValue::Text(item.clone()));
            }
            f.push(")");
        }
        (Comparator::IsNull, _) => {
            f.push(column);
            f.push(" IS NULL");
        }
        (Comparator::IsNotNull, _) => {
            f.push(column);
            f.push(" IS NOT NULL");
        }
        (_, v) => {
            f.push(column);
            f.push(" ");
            f.push(comparator_sql(cmp));
            f.push(" ?");
            f.bind(match v {
                Value::Number(n) => SqlValue::Real(*n),
                Value::String(s) => SqlValue::Text(s.clone()),
                Value::List(l) => SqlValue::Text(l.join(",")),
                Value::Null => SqlValue::Text(String::new()),
            });
        }
    }
}

fn numeric_value(value: &Value) -> SqlValue {
    match value {
        Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => SqlValue::Int(*n as i64),
        Value::Number(n) => SqlValue::Real(*n),
        Value::String(s) => s
            .parse::<i64>()
            .map(SqlValue::Int)
            .unwrap_or_else(|_| SqlValue::Text(s.clone())),
        Value::List(_) | Value::Null => SqlValue::Int(0),
    }
}

/// The `runs` column behind a run attribute name (the parser gives canonical names).
fn run_attribute_column(name: &str) -> Option<&'static str> {
    Some(match name {
        "run_id" => "runs.run_uuid",
        "run_name" => "runs.name",
        "status" => "runs.status",
        "user_id" => "runs.user_id",
        "artifact_uri" => "runs.artifact_uri",
        "start_time" | "created" => "runs.start_time",
        "end_time" => "runs.end_time",
        "lifecycle_stage" => "runs.lifecycle_stage",
        "experiment_id" => "runs.experiment_id",
        _ => return None,
    })
}

fn is_numeric_run_attribute(name: &str) -> bool {
    matches!(name, "start_time" | "created" | "end_time")
}

/// Compiles a runs/search filter into a condition on the `runs` table (joined with AND).
/// `joined` lists metrics already inner-joined for ordering (key, alias): their conditions
/// go on the joined row instead of a subquery, so an index on (key, value) can drive the scan.
pub fn run_filter(
    dialect: Dialect,
    clauses: &[Comparison],
    joined: &[(String, String)],
) -> Fragment {
    let mut f = Fragment::default();
    for (i, c) in clauses.iter().enumerate() {
        if i > 0 {
            f.push(" AND ");
        }
        let name = c.key.name.as_str();
        let joined_alias = joined
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, a)| a.as_str());
        match c.key.entity {
            EntityType::Metric if joined_alias.is_some() => {
                let alias = joined_alias.unwrap_or("o0");
                f.push(&format!(
                    "{alias}.is_nan = {} AND {alias}.value ",
                    bool_literal(dialect, false)
                ));
                f.push(comparator_sql(c.comparator));
                f.push(" ?");
                f.bind(match &c.value {
                    Value::Number(n) => SqlValue::Real(*n),
                    other => numeric_value(other),
                });
            }
            EntityType::Metric => {
                // Metrics compare against the run's latest value; NaN never matches a
                // numeric comparison.
                f.push("EXISTS (SELECT 1 FROM latest_metrics lm WHERE lm.run_uuid = runs.run_uuid AND lm.\"key\" = ? AND lm.is_nan = ");
                f.bind(SqlValue::Text(name.to_string()));
                f.push(bool_literal(dialect, false));
                f.push(" AND lm.value ");
                f.push(comparator_sql(c.comparator));
                f.push(" ?)");
                f.bind(match &c.value {
                    Value::Number(n) => SqlValue::Real(*n),
                    other => numeric_value(other),
                });
            }
            EntityType::Param | EntityType::Tag => {
                let table = if c.key.entity == EntityType::Param {
                    "params"
                } else {
                    "tags"
                };
                match c.comparator {
                    Comparator::IsNull => {
                        f.push(&format!("NOT EXISTS (SELECT 1 FROM {table} e WHERE e.run_uuid = runs.run_uuid AND e.\"key\" = ?)"));
                        f.bind(SqlValue::Text(name.to_string()));
                    }
                    Comparator::IsNotNull => {
                        f.push(&format!("EXISTS (SELECT 1 FROM {table} e WHERE e.run_uuid = runs.run_uuid AND e.\"key\" = ?)"));
                        f.bind(SqlValue::Text(name.to_string()));
                    }
                    _ => {
                        f.push(&format!("EXISTS (SELECT 1 FROM {table} e WHERE e.run_uuid = runs.run_uuid AND e.\"key\" = ? AND "));
                        f.bind(SqlValue::Text(name.to_string()));
                        string_condition(&mut f, dialect, "e.value", c.comparator, &c.value);
                        f.push(")");
                    }
                }
            }
            EntityType::Attribute => {
                let column = run_attribute_column(name).unwrap_or("runs.run_uuid");
                if is_numeric_run_attribute(name) {
                    f.push(column);
                    f.push(" ");
                    f.push(comparator_sql(c.comparator));
                    f.push(" ?");
                    f.bind(numeric_value(&c.value));
                } else {
                    string_condition(&mut f, dialect, column, c.comparator, &c.value);
                }
            }
            EntityType::Dataset => {
                f.push("EXISTS (SELECT 1 FROM inputs i JOIN datasets d ON d.dataset_uuid = i.source_id");
                if name == "context" {
                    f.push(" JOIN input_tags it ON it.input_uuid = i.input_uuid AND it.name = 'mlflow.data.context'");
                }
                f.push(" WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN' AND i.destination_id = runs.run_uuid AND ");
                let column = match name {
                    "digest" => "d.digest",
                    "context" => "it.value",
                    _ => "d.name",
                };
                string_condition(&mut f, dialect, column, c.comparator, &c.value);
                f.push(")");
            }
        }
    }
    f
}

fn bool_literal(dialect: Dialect, v: bool) -> &'static str {
    match (dialect, v) {
        (Dialect::Postgres, true) => "true",
        (Dialect::Postgres, false) => "false",
        (_, true) => "1",
        (_, false) => "0",
    }
}

/// ORDER BY for runs/search: joins (LEFT JOINs on the ordered metrics/params/tags), the
/// ORDER BY list, and their parameters. NULLs (and NaN metrics) always sort last, then
/// MLflow's tie-breakers: `start_time DESC` unless ordered already, then `run_uuid`.
///
/// When the filter also compares the ordered metric, every matching run has a finite value
/// for it, so the metric is inner-joined and ordered by its bare value (no NULL/NaN
/// placement needed): the database can then walk an index on (key, value) in order and stop
/// at the page's end. Those joins are returned as (key, alias) for [`run_filter`].
pub fn run_order_by(
    dialect: Dialect,
    order_by: &[OrderBy],
    filter: &[Comparison],
) -> (Fragment, String, Vec<(String, String)>) {
    let mut joins = Fragment::default();
    let mut order: Vec<String> = Vec::new();
    let mut inner: Vec<(String, String)> = Vec::new();
    let mut has_start_time = false;
    for (i, o) in order_by.iter().enumerate() {
        let dir = if o.ascending { "ASC" } else { "DESC" };
        let name = o.key.name.as_str();
        let filtered = filter
            .iter()
            .any(|c| c.key.entity == EntityType::Metric && c.key.name == name);
        match o.key.entity {
            EntityType::Metric if filtered => {
                let alias = format!("o{i}");
                joins.push(&format!(
                    " JOIN latest_metrics {alias} ON {alias}.run_uuid = runs.run_uuid AND {alias}.\"key\" = ?"
                ));
                joins.bind(SqlValue::Text(name.to_string()));
                order.push(format!("{alias}.value {dir}"));
                inner.push((name.to_string(), alias));
            }
            EntityType::Metric => {
                let alias = format!("o{i}");
                joins.push(&format!(
                    " LEFT JOIN latest_metrics {alias} ON {alias}.run_uuid = runs.run_uuid AND {alias}.\"key\" = ?"
                ));
                joins.bind(SqlValue::Text(name.to_string()));
                let nan = bool_literal(dialect, true);
                order.push(format!(
                    "CASE WHEN {alias}.is_nan = {nan} THEN 1 WHEN {alias}.value IS NULL THEN 2 ELSE 0 END"
                ));
                order.push(format!("{alias}.value {dir}"));
            }
            EntityType::Param | EntityType::Tag => {
                let table = if o.key.entity == EntityType::Param {
                    "params"
                } else {
                    "tags"
                };
                let alias = format!("o{i}");
                joins.push(&format!(
                    " LEFT JOIN {table} {alias} ON {alias}.run_uuid = runs.run_uuid AND {alias}.\"key\" = ?"
                ));
                joins.bind(SqlValue::Text(name.to_string()));
                order.push(format!("CASE WHEN {alias}.value IS NULL THEN 1 ELSE 0 END"));
                order.push(format!("{alias}.value {dir}"));
            }
            EntityType::Attribute | EntityType::Dataset => {
                let column = run_attribute_column(name).unwrap_or("runs.start_time");
                if column == "runs.start_time" {
                    has_start_time = true;
                }
                order.push(format!("CASE WHEN {column} IS NULL THEN 1 ELSE 0 END"));
                order.push(format!("{column} {dir}"));
            }
        }
    }
    if !has_start_time {
        order.push("runs.start_time DESC".to_string());
    }
    order.push("runs.run_uuid ASC".to_string());
    (joins, order.join(", "), inner)
}

/// WHERE conditions for experiments/search.
pub fn experiment_filter(dialect: Dialect, clauses: &[Comparison]) -> Fragment {
    let mut f = Fragment::default();
    for (i, c) in clauses.iter().enumerate() {
        if i > 0 {
            f.push(" AND ");
        }
        match c.key.entity {
            EntityType::Tag => match c.comparator {
                Comparator::IsNull | Comparator::IsNotNull => {
                    let neg = if c.comparator == Comparator::IsNull {
                        "NOT "
                    } else {
                        ""
                    };
                    f.push(&format!("{neg}EXISTS (SELECT 1 FROM experiment_tags t WHERE t.experiment_id = experiments.experiment_id AND t.\"key\" = ?)"));
                    f.bind(SqlValue::Text(c.key.name.clone()));
                }
                _ => {
                    f.push("EXISTS (SELECT 1 FROM experiment_tags t WHERE t.experiment_id = experiments.experiment_id AND t.\"key\" = ? AND ");
                    f.bind(SqlValue::Text(c.key.name.clone()));
                    string_condition(&mut f, dialect, "t.value", c.comparator, &c.value);
                    f.push(")");
                }
            },
            _ => {
                let name = c.key.name.as_str();
                match name {
                    "creation_time" | "last_update_time" | "experiment_id" => {
                        f.push(&format!(
                            "experiments.{name} {} ?",
                            comparator_sql(c.comparator)
                        ));
                        f.bind(numeric_value(&c.value));
                    }
                    _ => string_condition(
                        &mut f,
                        dialect,
                        "experiments.name",
                        c.comparator,
                        &c.value,
                    ),
                }
            }
        }
    }
    f
}

/// ORDER BY for experiments/search; default `creation_time DESC`, tie-break `experiment_id`.
pub fn experiment_order_by(order_by: &[OrderBy]) -> String {
    let mut order: Vec<String> = Vec::new();
    let mut has_id = false;
    for o in order_by {
        let dir = if o.ascending { "ASC" } else { "DESC" };
        let column = match o.key.name.as_str() {
            "experiment_id" => {
                has_id = true;
                "experiments.experiment_id"
            }
            "creation_time" => "experiments.creation_time",
            "last_update_time" => "experiments.last_update_time",
            _ => "experiments.name",
        };
        order.push(format!(
            "CASE WHEN {column} IS NULL THEN 1 ELSE 0 END, {column} {dir}"
        ));
    }
    if order_by.is_empty() {
        order.push("experiments.creation_time DESC".to_string());
    }
    if !has_id {
        order.push("experiments.experiment_id ASC".to_string());
    }
    order.join(", ")
}

/// The `logged_models` column behind a logged-model attribute.
fn logged_model_column(name: &str) -> &'static str {
    match name {
        "model_id" => "lm.model_id",
        "model_type" => "lm.model_type",
        "status" => "lm.status",
        "source_run_id" => "lm.source_run_id",
        "creation_timestamp" | "creation_time" => "lm.creation_timestamp_ms",
        "last_updated_timestamp" | "last_updated_time" => "lm.last_updated_timestamp_ms",
        _ => "lm.name",
    }
}

/// Status names a filter may use for the integer MLflow stores.
fn logged_model_status_value(v: &str) -> String {
    ferroflow_types::tracking::logged_model_status_from_wire(v)
        .map(|n| n.to_string())
        .unwrap_or_else(|| "-1".into())
}

/// WHERE conditions for logged-models/search over `logged_models lm`.
pub fn logged_model_filter(dialect: Dialect, clauses: &[Comparison]) -> Fragment {
    let mut f = Fragment::default();
    for (i, c) in clauses.iter().enumerate() {
        if i > 0 {
            f.push(" AND ");
        }
        let name = c.key.name.as_str();
        match c.key.entity {
            EntityType::Metric => {
                f.push("EXISTS (SELECT 1 FROM logged_model_metrics m WHERE m.model_id = lm.model_id AND m.metric_name = ? AND m.metric_value ");
                f.bind(SqlValue::Text(name.to_string()));
                f.push(comparator_sql(c.comparator));
                f.push(" ?)");
                f.bind(numeric_value(&c.value));
            }
            EntityType::Param | EntityType::Tag => {
                let (table, k, v) = if c.key.entity == EntityType::Param {
                    ("logged_model_params", "param_key", "param_value")
                } else {
                    ("logged_model_tags", "tag_key", "tag_value")
                };
                f.push(&format!("EXISTS (SELECT 1 FROM {table} e WHERE e.model_id = lm.model_id AND e.{k} = ? AND "));
                f.bind(SqlValue::Text(name.to_string()));
                string_condition(&mut f, dialect, &format!("e.{v}"), c.comparator, &c.value);
                f.push(")");
            }
            EntityType::Attribute | EntityType::Dataset => {
                let column = logged_model_column(name);
                if column.ends_with("_ms") {
                    f.push(&format!("{column} {} ?", comparator_sql(c.comparator)));
                    f.bind(numeric_value(&c.value));
                } else if column == "lm.status" {
                    let value = match &c.value {
                        Value::String(s) => Value::String(logged_model_status_value(s)),
                        Value::List(items) => Value::List(
                            items.iter().map(|s| logged_model_status_value(s)).collect(),
                        ),
                        other => other.clone(),
                    };
                    // Stored as an integer; compare its text form so one code path serves
                    // = != IN NOT IN on every dialect.
                    string_condition(
                        &mut f,
                        dialect,
                        &format!("CAST({column} AS {})", text_type(dialect)),
                        c.comparator,
                        &value,
                    );
                } else {
                    string_condition(&mut f, dialect, column, c.comparator, &c.value);
                }
            }
        }
    }
    f
}

fn text_type(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Mysql => "CHAR",
        Dialect::Sqlite | Dialect::Postgres => "TEXT",
    }
}

/// ORDER BY for logged-models/search: each field (metrics use the latest logged value),
/// NULLs last, then `creation_timestamp DESC` and `model_id` as tie-breakers.
pub fn logged_model_order_by(order_by: &[(String, bool)]) -> Fragment {
    let mut f = Fragment::default();
    let mut parts: Vec<String> = Vec::new();
    let mut has_created = false;
    for (field, ascending) in order_by {
        let dir = if *ascending { "ASC" } else { "DESC" };
        let expr = if let Some(metric) = field.strip_prefix("metrics.") {
            f.bind(SqlValue::Text(metric.to_string()));
            "(SELECT m.metric_value FROM logged_model_metrics m WHERE m.model_id = lm.model_id AND m.metric_name = ? ORDER BY m.metric_timestamp_ms DESC, m.metric_step DESC LIMIT 1)".to_string()
        } else {
            let column = logged_model_column(field);
            has_created |= column == "lm.creation_timestamp_ms";
            column.to_string()
        };
        if field.starts_with("metrics.") {
            // The subquery appears twice (NULL test, then value), so bind its key twice.
            f.bind(SqlValue::Text(
                field.trim_start_matches("metrics.").to_string(),
            ));
        }
        parts.push(format!(
            "CASE WHEN {expr} IS NULL THEN 1 ELSE 0 END, {expr} {dir}"
        ));
    }
    if !has_created {
        parts.push("lm.creation_timestamp_ms DESC".to_string());
    }
    parts.push("lm.model_id ASC".to_string());
    f.sql = parts.join(", ");
    f
}

/// The tag that marks a registered model (or version) as a prompt; searches leave prompts
/// out unless the filter asks for them, as MLflow does.
const IS_PROMPT_TAG: &str = "mlflow.prompt.is_prompt";

fn is_prompt_clause(c: &Comparison) -> bool {
    c.key.entity == EntityType::Tag && c.key.name == IS_PROMPT_TAG
}

fn querying_prompts(clauses: &[Comparison]) -> bool {
    clauses.iter().any(|c| {
        c.key.entity == EntityType::Tag
            && c.key.name == IS_PROMPT_TAG
            && match (&c.comparator, &c.value) {
                (Comparator::Eq, Value::String(v)) => v.eq_ignore_ascii_case("true"),
                (Comparator::Ne, Value::String(v)) => v.eq_ignore_ascii_case("false"),
                _ => false,
            }
    })
}

/// WHERE conditions for registered-models/search over `registered_models rm`.
pub fn registered_model_filter(dialect: Dialect, clauses: &[Comparison]) -> Fragment {
    let mut f = Fragment::default();
    f.push("rm.workspace = 'default'");
    let prompts = querying_prompts(clauses);
    // Unless prompts are asked for, the prompt tag's own clause gives way to the exclusion
    // below (models have no such tag, so `!= 'true'` would otherwise match nothing).
    for c in clauses.iter().filter(|c| prompts || !is_prompt_clause(c)) {
        f.push(" AND ");
        match c.key.entity {
            EntityType::Tag => {
                f.push("EXISTS (SELECT 1 FROM registered_model_tags t WHERE t.workspace = rm.workspace AND t.name = rm.name AND t.\"key\" = ? AND ");
                f.bind(SqlValue::Text(c.key.name.clone()));
                string_condition(&mut f, dialect, "t.value", c.comparator, &c.value);
                f.push(")");
            }
            _ => string_condition(&mut f, dialect, "rm.name", c.comparator, &c.value),
        }
    }
    if !prompts {
        f.push(&format!(
            " AND NOT EXISTS (SELECT 1 FROM registered_model_tags p WHERE p.workspace = rm.workspace AND p.name = rm.name AND p.\"key\" = '{IS_PROMPT_TAG}' AND p.value = 'true')"
        ));
    }
    f
}

/// ORDER BY for registered models: the requested keys, then `name` (MLflow's default).
pub fn registered_model_order_by(order_by: &[OrderBy]) -> String {
    let mut parts = Vec::new();
    let mut has_name = false;
    for o in order_by {
        let dir = if o.ascending { "ASC" } else { "DESC" };
        let column = match o.key.name.as_str() {
            "creation_timestamp" => "rm.creation_time",
            "last_updated_timestamp" | "timestamp" => "rm.last_updated_time",
            _ => {
                has_name = true;
                "rm.name"
            }
        };
        parts.push(format!(
            "CASE WHEN {column} IS NULL THEN 1 ELSE 0 END, {column} {dir}"
        ));
    }
    if !has_name {
        parts.push("rm.name ASC".to_string());
    }
    parts.join(", ")
}

/// WHERE conditions for model-versions/search over `model_versions mv` (deleted versions
/// never show).
pub fn model_version_filter(dialect: Dialect, clauses: &[Comparison]) -> Fragment {
    let mut f = Fragment::default();
    f.push("mv.workspace = 'default' AND mv.current_stage != 'Deleted_Internal'");
    let prompts = querying_prompts(clauses);
    for c in clauses.iter().filter(|c| prompts || !is_prompt_clause(c)) {
        f.push(" AND ");
        match c.key.entity {
            EntityType::Tag => {
                f.push("EXISTS (SELECT 1 FROM model_version_tags t WHERE t.workspace = mv.workspace AND t.name = mv.name AND t.version = mv.version AND t.\"key\" = ? AND ");
                f.bind(SqlValue::Text(c.key.name.clone()));
                string_condition(&mut f, dialect, "t.value", c.comparator, &c.value);
                f.push(")");
            }
            _ => match c.key.name.as_str() {
                "version_number" => {
                    f.push(&format!("mv.version {} ?", comparator_sql(c.comparator)));
                    f.bind(numeric_value(&c.value));
                }
                "run_id" => string_condition(&mut f, dialect, "mv.run_id", c.comparator, &c.value),
                "source_path" => {
                    string_condition(&mut f, dialect, "mv.source", c.comparator, &c.value)
                }
                _ => string_condition(&mut f, dialect, "mv.name", c.comparator, &c.value),
            },
        }
    }
    if !prompts {
        // Any version tagged as a prompt marks the whole model as a prompt (as in MLflow).
        f.push(&format!(
            " AND NOT EXISTS (SELECT 1 FROM model_version_tags p WHERE p.workspace = mv.workspace AND p.name = mv.name AND p.\"key\" = '{IS_PROMPT_TAG}' AND p.value = 'true')"
        ));
    }
    f
}

/// ORDER BY for model versions: the requested keys (by default `last_updated_timestamp
/// DESC`), then MLflow's tie-breakers `name ASC, version DESC`.
pub fn model_version_order_by(order_by: &[OrderBy]) -> String {
    let mut parts = Vec::new();
    for o in order_by {
        let dir = if o.ascending { "ASC" } else { "DESC" };
        let column = match o.key.name.as_str() {
            "version_number" => "mv.version",
            "creation_timestamp" => "mv.creation_time",
            "last_updated_timestamp" | "timestamp" => "mv.last_updated_time",
            _ => "mv.name",
        };
        parts.push(format!(
            "CASE WHEN {column} IS NULL THEN 1 ELSE 0 END, {column} {dir}"
        ));
    }
    if order_by.is_empty() {
        parts.push("mv.last_updated_time DESC".to_string());
    }
    parts.push("mv.name ASC".to_string());
    parts.push("mv.version DESC".to_string());
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferroflow_search::Key;

    fn cmp(entity: EntityType, name: &str, comparator: Comparator, value: Value) -> Comparison {
        Comparison {
            key: Key {
                entity,
                name: name.into(),
            },
            comparator,
            value,
        }
    }

    fn run_filter(dialect: Dialect, clauses: &[Comparison]) -> Fragment {
        super::run_filter(dialect, clauses, &[])
    }

    #[test]
    fn metric_filter_binds_key_and_value() {
        let f = run_filter(
            Dialect::Sqlite,
            &[cmp(
                EntityType::Metric,
                "rmse",
                Comparator::Lt,
                Value::Number(7.0),
            )],
        );
        assert!(f.sql.contains("latest_metrics"), "{}", f.sql);
        assert!(f.sql.contains("lm.value < ?"), "{}", f.sql);
        assert_eq!(
            f.params,
            vec![SqlValue::Text("rmse".into()), SqlValue::Real(7.0)]
        );
    }

    #[test]
    fn values_are_bound_never_inlined() {
        let evil = "x' OR '1'='1";
        let f = run_filter(
            Dialect::Sqlite,
            &[cmp(
                EntityType::Param,
                "a",
                Comparator::Eq,
                Value::String(evil.into()),
            )],
        );
        assert!(!f.sql.contains(evil));
        assert!(f.params.contains(&SqlValue::Text(evil.into())));
    }

    #[test]
    fn run_id_in_list_expands_placeholders() {
        let f = run_filter(
            Dialect::Sqlite,
            &[cmp(
                EntityType::Attribute,
                "run_id",
                Comparator::In,
                Value::List(vec!["a".into(), "b".into()]),
            )],
        );
        assert_eq!(f.sql, "runs.run_uuid IN (?, ?)");
    }

    #[test]
    fn mysql_like_is_binary_and_ilike_lowers() {
        let f = run_filter(
            Dialect::Mysql,
            &[
                cmp(
                    EntityType::Attribute,
                    "run_name",
                    Comparator::Like,
                    Value::String("a%".into()),
                ),
                cmp(
                    EntityType::Attribute,
                    "run_name",
                    Comparator::ILike,
                    Value::String("A%".into()),
                ),
            ],
        );
        assert!(f.sql.contains("runs.name LIKE BINARY ?"), "{}", f.sql);
        assert!(
            f.sql.contains("LOWER(runs.name) LIKE LOWER(?)"),
            "{}",
            f.sql
        );
    }

    #[test]
    fn default_order_is_start_time_desc_then_run_id() {
        let (joins, order, _) = run_order_by(Dialect::Sqlite, &[], &[]);
        assert!(joins.sql.is_empty());
        assert_eq!(order, "runs.start_time DESC, runs.run_uuid ASC");
    }

    #[test]
    fn metric_order_puts_nan_and_null_last() {
        let (joins, order, inner) = run_order_by(
            Dialect::Sqlite,
            &[OrderBy {
                key: Key {
                    entity: EntityType::Metric,
                    name: "rmse".into(),
                },
                ascending: true,
            }],
            &[],
        );
        assert!(joins.sql.contains("LEFT JOIN latest_metrics o0"));
        assert!(order.starts_with("CASE WHEN o0.is_nan = 1 THEN 1 WHEN o0.value IS NULL THEN 2 ELSE 0 END, o0.value ASC"), "{order}");
        assert!(inner.is_empty());
    }

    #[test]
    fn ordering_by_a_filtered_metric_joins_it_and_filters_on_the_join() {
        let rmse = Key {
            entity: EntityType::Metric,
            name: "rmse".into(),
        };
        let filter = [cmp(
            EntityType::Metric,
            "rmse",
            Comparator::Lt,
            Value::Number(7.0),
        )];
        let (joins, order, inner) = run_order_by(
            Dialect::Sqlite,
            &[OrderBy {
                key: rmse,
                ascending: true,
            }],
            &filter,
        );
        assert!(
            joins.sql.starts_with(" JOIN latest_metrics o0"),
            "{}",
            joins.sql
        );
        assert!(order.starts_with("o0.value ASC"), "{order}");
        let f = super::run_filter(Dialect::Sqlite, &filter, &inner);
        assert_eq!(f.sql, "o0.is_nan = 0 AND o0.value < ?");
        assert_eq!(f.params, vec![SqlValue::Real(7.0)]);
    }

    #[test]
    fn postgres_placeholders_are_numbered() {
        assert_eq!(
            Dialect::Postgres.placeholders("a = ? AND b = ?"),
            "a = $1 AND b = $2"
        );
    }
}
