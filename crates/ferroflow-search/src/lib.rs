//! MLflow's search/filter language as a pure Rust parser.
//!
//! This crate turns the `filter` and `order_by` strings accepted by MLflow's
//! search endpoints (`runs/search`, `experiments/search`,
//! `registered-models/search`, `model-versions/search`, `logged-models/search`)
//! into a small typed AST ([`Comparison`], [`OrderBy`]). Each endpoint has its
//! own parse function that validates keys, comparators and values the way
//! MLflow does and normalizes attribute names to canonical spellings.
//!
//! # What this crate must never do
//!
//! * **No SQL.** It never produces SQL text; a separate compiler turns the AST
//!   into parameterized queries.
//! * **No I/O.** No files, network, environment, clocks or logging.
//! * **No panics on input.** Input is untrusted: every problem is reported as a
//!   [`SearchError`] (mapped by the server to `INVALID_PARAMETER_VALUE`), and
//!   input size is bounded (see [`MAX_FILTER_LEN`], [`MAX_CLAUSES`],
//!   [`MAX_IN_LIST_ITEMS`]).
//!
//! # Filter grammar
//!
//! ```text
//! filter      := ws* ( comparison ( ws+ AND ws+ comparison )* )? ws*
//! comparison  := key ws* op
//! op          := ( "=" | "!=" | "<" | "<=" | ">" | ">=" | LIKE | ILIKE ) ws* scalar
//!              | ( IN | NOT ws+ IN ) ws* list
//!              | IS ws+ NULL
//!              | IS ws+ NOT ws+ NULL
//! key         := name                      (bare key: an attribute)
//!              | prefix "." name           (entity-qualified key)
//! prefix      := word | `word` | "word"
//! name        := word-with-dots            (e.g. mlflow.runName)
//!              | `text` | "text" | 'text'   (quoted: any characters)
//! word        := [letters digits _]+
//! scalar      := string | number
//! string      := 'text' | "text"           (quote escaped by doubling or by backslash)
//! number      := [+-]? ( digits [ "." digits* ] | "." digits ) [ (e|E) [+-]? digits ]
//! list        := "(" ws* string ( ws* "," ws* string )* [ ws* "," ] ws* ")"
//! ```
//!
//! Keywords (`AND`, `LIKE`, `ILIKE`, `IN`, `NOT`, `IS`, `NULL`, `ASC`, `DESC`)
//! are case-insensitive. `OR`, parentheses for grouping, `<>`, `==`, and
//! `NOT LIKE` are rejected with an explanatory error. Entity prefixes and
//! attribute names are case-sensitive, as in MLflow. An empty or blank filter
//! means "no conditions".
//!
//! # Order-by grammar
//!
//! Each element of the `order_by` list is one clause:
//!
//! ```text
//! clause := ws* key [ ws+ ( ASC | DESC ) ] ws*     (default ASC)
//! ```
//!
//! # Entity prefixes and canonical names
//!
//! | endpoint | prefixes | attributes (canonical) |
//! |---|---|---|
//! | runs | `metric(s)`, `param(s)`/`parameter(s)`, `tag(s)`, `attribute(s)`/`attr`/`run`, `dataset(s)` | `run_id`, `run_name`, `status`, `user_id`, `artifact_uri`, `start_time`, `end_time` |
//! | experiments | `attribute`, `tag(s)` | `name`, `creation_time`, `last_update_time` (order-by also `experiment_id`) |
//! | registered models | `attribute`, `tag(s)` | `name` (order-by: `name`, `last_updated_timestamp`, `creation_timestamp`) |
//! | model versions | `attribute`, `tag(s)` | `name`, `run_id`, `source_path`, `version_number` (order-by: `name`, `version_number`, `creation_timestamp`, `last_updated_timestamp`) |
//! | logged models | `attributes`, `metrics`, `params`, `tags` | `name`, `model_id`, `model_type`, `status`, `source_run_id`, `creation_timestamp`, `last_updated_timestamp` |
//!
//! Aliases normalized to canonical names: runs `created`/`Created` →
//! `start_time`, `run name`/`Run name`/`Run Name` → `run_name` (filter only);
//! registered-model order-by `timestamp` → `last_updated_timestamp`; logged
//! models `creation_time` → `creation_timestamp`, `last_updated_time` →
//! `last_updated_timestamp`. Non-attribute key names are kept verbatim with
//! quotes removed.

//!
//! # Error messages
//!
//! Every [`SearchError`] message starts with the sentence MLflow itself returns
//! for the same mistake on the same endpoint (e.g. `Expected numeric value type
//! for metric`, `Invalid clause(s) in filter string: ...`, `Invalid attribute
//! key 'foo' specified. Valid keys are ...`, `` `order_by` contains duplicate
//! fields ``), so substring checks written against MLflow also match here. Our
//! own detail (the offending key, value or token, its position, the valid
//! alternatives) follows that sentence. When a clause has several mistakes, the
//! one MLflow would report is reported.

#![forbid(unsafe_code)]

pub mod ast;
mod entities;
mod syntax;
mod text;

/// Python's `repr()` of a string, for messages that must read exactly as MLflow's.
pub use text::py_str as python_repr;

pub use ast::{Comparator, Comparison, EntityType, Key, OrderBy, SearchError, Value};

/// Longest accepted filter (and order-by clause), in bytes.
pub const MAX_FILTER_LEN: usize = 16 * 1024;
/// Most comparisons accepted in one filter, and most order-by clauses.
pub const MAX_CLAUSES: usize = 256;
/// Most items accepted in one `IN` / `NOT IN` list. (With the current
/// [`MAX_FILTER_LEN`] a list cannot actually reach this size, since every item
/// takes at least three bytes; the cap guards against a future length raise.)
pub const MAX_IN_LIST_ITEMS: usize = 10_000;

/// Parses a `runs/search` filter.
///
/// Metrics take `= != < <= > >=` with a number; params and tags take
/// `= != LIKE ILIKE` with a quoted string, or `IS [NOT] NULL`; string
/// attributes take `= != LIKE ILIKE` (and `run_id` also `IN`/`NOT IN`);
/// `start_time`/`end_time` take numeric comparators with a number; datasets
/// (`name`, `digest`, `context`) take `= != LIKE ILIKE IN NOT IN`.
pub fn parse_run_filter(filter: &str) -> Result<Vec<Comparison>, SearchError> {
    entities::run_filter(filter)
}

/// Parses `runs/search` order-by clauses. Attributes, metrics, params and
/// tags may be ordered by; the same key may not appear twice.
pub fn parse_run_order_by(clauses: &[String]) -> Result<Vec<OrderBy>, SearchError> {
    entities::run_order_by(clauses)
}

/// Parses an `experiments/search` filter: `name` (`= != LIKE ILIKE`),
/// `creation_time`/`last_update_time` (numeric), and tags
/// (`= != LIKE ILIKE`, `IS [NOT] NULL`).
pub fn parse_experiment_filter(filter: &str) -> Result<Vec<Comparison>, SearchError> {
    entities::experiment_filter(filter)
}

/// Parses `experiments/search` order-by clauses (attributes only).
pub fn parse_experiment_order_by(clauses: &[String]) -> Result<Vec<OrderBy>, SearchError> {
    entities::experiment_order_by(clauses)
}

/// Parses a `registered-models/search` filter: `name` and tags, each with
/// `= != LIKE ILIKE` and a quoted string.
pub fn parse_registered_model_filter(filter: &str) -> Result<Vec<Comparison>, SearchError> {
    entities::registered_model_filter(filter)
}

/// Parses `registered-models/search` order-by clauses (attributes only, no
/// duplicates).
pub fn parse_registered_model_order_by(clauses: &[String]) -> Result<Vec<OrderBy>, SearchError> {
    entities::registered_model_order_by(clauses)
}

/// Parses a `model-versions/search` filter: `name`, `source_path`
/// (`= != LIKE ILIKE`), `run_id` (also `IN`), `version_number` (numeric), and
/// tags (`= != LIKE ILIKE`).
pub fn parse_model_version_filter(filter: &str) -> Result<Vec<Comparison>, SearchError> {
    entities::model_version_filter(filter)
}

/// Parses `model-versions/search` order-by clauses (attributes only, no
/// duplicates).
pub fn parse_model_version_order_by(clauses: &[String]) -> Result<Vec<OrderBy>, SearchError> {
    entities::model_version_order_by(clauses)
}

/// Parses a `logged-models/search` filter: metrics and the timestamp
/// attributes are numeric (`= != < <= > >=`); params, tags and the other
/// attributes take `= != LIKE ILIKE IN NOT IN` with a quoted string (a bare
/// number is accepted and kept as its text).
pub fn parse_logged_model_filter(filter: &str) -> Result<Vec<Comparison>, SearchError> {
    entities::logged_model_filter(filter)
}
