//! Abstract syntax tree produced by the search parsers.

/// Which kind of entity a search key refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityType {
    /// `metrics.<name>` (runs, logged models).
    Metric,
    /// `params.<name>` (runs, logged models).
    Param,
    /// `tags.<name>`.
    Tag,
    /// A column of the searched entity itself (`run_id`, `name`, ...).
    Attribute,
    /// `datasets.<name|digest|context>` (runs).
    Dataset,
}

/// A search key: entity type plus the unquoted, normalized key name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    /// What kind of key this is.
    pub entity: EntityType,
    /// Unquoted name; for attributes the canonical attribute name.
    pub name: String,
}

/// Comparison operator of a filter clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Comparator {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `LIKE` (case-sensitive pattern match)
    Like,
    /// `ILIKE` (case-insensitive pattern match)
    ILike,
    /// `IN (...)`
    In,
    /// `NOT IN (...)`
    NotIn,
    /// `IS NULL`
    IsNull,
    /// `IS NOT NULL`
    IsNotNull,
}

/// Right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A numeric literal (metrics, numeric attributes).
    Number(f64),
    /// A string literal, unquoted.
    String(String),
    /// The items of an `IN` / `NOT IN` list, unquoted.
    List(Vec<String>),
    /// Used with `IS NULL` / `IS NOT NULL`.
    Null,
}

/// One filter clause: `key comparator value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Left-hand side.
    pub key: Key,
    /// Operator.
    pub comparator: Comparator,
    /// Right-hand side.
    pub value: Value,
}

/// One order-by clause.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderBy {
    /// Key to sort by.
    pub key: Key,
    /// `true` for ASC (the default), `false` for DESC.
    pub ascending: bool,
}

/// A parse or validation error. Always maps to `INVALID_PARAMETER_VALUE`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SearchError {
    /// Human-readable description naming the offending token.
    pub message: String,
    /// Byte offset into the input where the problem was found, if known.
    pub position: Option<usize>,
}

impl SearchError {
    /// Error without a position.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            position: None,
        }
    }

    /// Error at a byte offset in the input.
    pub fn at(message: impl Into<String>, position: usize) -> Self {
        Self {
            message: message.into(),
            position: Some(position),
        }
    }
}

impl EntityType {
    /// Lower-case canonical name of the entity type (`metric`, `param`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EntityType::Metric => "metric",
            EntityType::Param => "param",
            EntityType::Tag => "tag",
            EntityType::Attribute => "attribute",
            EntityType::Dataset => "dataset",
        }
    }
}

impl std::fmt::Display for EntityType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Comparator {
    /// The operator as written in MLflow syntax, upper-case for keywords.
    pub fn as_str(self) -> &'static str {
        match self {
            Comparator::Eq => "=",
            Comparator::Ne => "!=",
            Comparator::Lt => "<",
            Comparator::Le => "<=",
            Comparator::Gt => ">",
            Comparator::Ge => ">=",
            Comparator::Like => "LIKE",
            Comparator::ILike => "ILIKE",
            Comparator::In => "IN",
            Comparator::NotIn => "NOT IN",
            Comparator::IsNull => "IS NULL",
            Comparator::IsNotNull => "IS NOT NULL",
        }
    }
}

impl std::fmt::Display for Comparator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Key {
    /// Convenience constructor.
    pub fn new(entity: EntityType, name: impl Into<String>) -> Self {
        Self {
            entity,
            name: name.into(),
        }
    }
}
