//! One small interface over the three databases Ferroflow stores into. The store's logic
//! (`crate::store`) is written once against [`Db`]: SQL text with `?` placeholders, bound
//! [`Value`]s, rows read through [`Row::get`]. Each driver module turns that into its
//! database's calls: SQLite through rusqlite, PostgreSQL through `postgres`, MySQL and
//! MariaDB through `mysql`. Where the SQL itself differs the store asks [`Dialect`].

use ferroflow_store::StoreError;

pub use crate::query::{Dialect, SqlValue as Value};

pub mod mysql;
pub mod pg_tls;
pub mod postgres;
pub mod sqlite;

/// What went wrong talking to the database, sorted by what the caller can do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbErrorKind {
    /// The connection is gone or could not be made: answer 503 and drop the connection.
    Connection,
    /// A deadlock, serialization failure or lock timeout: the transaction can be run again.
    Retry,
    /// A unique or primary key was already taken (often a concurrent writer won a race:
    /// running the transaction again sees its row and answers as MLflow would).
    Duplicate,
    /// A value longer than its column (PostgreSQL and MySQL enforce VARCHAR lengths, SQLite
    /// does not): the user's input, so a 400 with the database's message.
    TooLong,
    /// Anything else (a bug or a schema mismatch): a 500 with the database's message.
    Other,
}

#[derive(Debug, Clone)]
pub struct DbError {
    pub kind: DbErrorKind,
    pub message: String,
}

impl DbError {
    pub fn new(kind: DbErrorKind, message: impl Into<String>) -> DbError {
        DbError {
            kind,
            message: bounded_message(message.into()),
        }
    }

    pub fn other(message: impl Into<String>) -> DbError {
        DbError::new(DbErrorKind::Other, message)
    }

    /// Worth running the whole transaction again on a fresh start.
    pub fn is_transient(&self) -> bool {
        matches!(self.kind, DbErrorKind::Retry | DbErrorKind::Duplicate)
    }
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> StoreError {
        match e.kind {
            DbErrorKind::Connection => StoreError::Unavailable(format!(
                "the backend database is unavailable: {}",
                e.message
            )),
            DbErrorKind::Retry => StoreError::Unavailable(format!(
                "the backend database could not complete the request: {}",
                e.message
            )),
            DbErrorKind::TooLong => StoreError::InvalidParameter(format!(
                "A value is longer than its database column allows: {}",
                e.message
            )),
            DbErrorKind::Duplicate | DbErrorKind::Other => StoreError::Backend(e.message),
        }
    }
}

pub type DbResult<T> = Result<T, DbError>;

/// Longest database message kept: enough for the cause, never a whole statement full of a
/// user's values in a log line or a response.
const MAX_MESSAGE: usize = 300;

fn bounded_message(mut message: String) -> String {
    if message.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push_str("...");
    }
    message
}

/// The error type of store logic run against a [`Db`]: either the answer the user gets
/// (not found, invalid parameter...) or a database failure the engine may retry.
#[derive(Debug)]
pub enum Wrapped {
    Store(StoreError),
    Db(DbError),
}

impl From<DbError> for Wrapped {
    fn from(e: DbError) -> Wrapped {
        Wrapped::Db(e)
    }
}

impl From<StoreError> for Wrapped {
    fn from(e: StoreError) -> Wrapped {
        Wrapped::Store(e)
    }
}

impl From<Wrapped> for StoreError {
    fn from(w: Wrapped) -> StoreError {
        match w {
            Wrapped::Store(e) => e,
            Wrapped::Db(e) => e.into(),
        }
    }
}

impl Wrapped {
    pub fn is_transient(&self) -> bool {
        matches!(self, Wrapped::Db(e) if e.is_transient())
    }

    pub fn is_connection(&self) -> bool {
        matches!(self, Wrapped::Db(e) if e.kind == DbErrorKind::Connection)
    }
}

/// A borrowed column value.
#[derive(Debug, Clone, Copy)]
pub enum ValueRef<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl Value {
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Int(*i),
            Value::Real(r) => ValueRef::Real(*r),
            Value::Text(s) => ValueRef::Text(s),
        }
    }
}

/// One result row. SQLite rows are read in place; the server databases hand over their
/// decoded values.
pub enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Values(&'a [OwnedValue]),
}

/// A decoded column value from a server database (blobs kept apart from text).
#[derive(Debug, Clone)]
pub enum OwnedValue {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl<'a> Row<'a> {
    pub fn value(&self, i: usize) -> DbResult<ValueRef<'_>> {
        match self {
            Row::Sqlite(r) => {
                use rusqlite::types::ValueRef as V;
                let v = r.get_ref(i).map_err(sqlite::map_error)?;
                Ok(match v {
                    V::Null => ValueRef::Null,
                    V::Integer(i) => ValueRef::Int(i),
                    V::Real(f) => ValueRef::Real(f),
                    V::Text(t) => match std::str::from_utf8(t) {
                        Ok(s) => ValueRef::Text(s),
                        Err(_) => ValueRef::Blob(t),
                    },
                    V::Blob(b) => ValueRef::Blob(b),
                })
            }
            Row::Values(values) => Ok(match values.get(i) {
                None => return Err(DbError::other(format!("no column {i} in the result"))),
                Some(OwnedValue::Null) => ValueRef::Null,
                Some(OwnedValue::Int(i)) => ValueRef::Int(*i),
                Some(OwnedValue::Real(f)) => ValueRef::Real(*f),
                Some(OwnedValue::Text(s)) => ValueRef::Text(s),
                Some(OwnedValue::Blob(b)) => ValueRef::Blob(b),
            }),
        }
    }

    /// Column `i` converted to `T`.
    pub fn get<T: FromValue>(&self, i: usize) -> DbResult<T> {
        let v = self.value(i)?;
        T::from_value(v).map_err(|e| DbError::other(format!("column {i}: {e}")))
    }
}

/// Conversion from a column value, lenient where databases differ in representation:
/// booleans arrive as integers from SQLite and MySQL, MySQL's text protocol sends numbers
/// as text.
pub trait FromValue: Sized {
    fn from_value(v: ValueRef<'_>) -> Result<Self, String>;
}

fn unexpected<T>(want: &str, v: ValueRef<'_>) -> Result<T, String> {
    Err(format!("expected {want}, found {v:?}"))
}

impl FromValue for i64 {
    fn from_value(v: ValueRef<'_>) -> Result<i64, String> {
        match v {
            ValueRef::Int(i) => Ok(i),
            ValueRef::Text(s) => s.parse().or_else(|_| unexpected("an integer", v)),
            _ => unexpected("an integer", v),
        }
    }
}

impl FromValue for i32 {
    fn from_value(v: ValueRef<'_>) -> Result<i32, String> {
        let i = i64::from_value(v)?;
        i32::try_from(i).map_err(|e| e.to_string())
    }
}

impl FromValue for f64 {
    fn from_value(v: ValueRef<'_>) -> Result<f64, String> {
        match v {
            ValueRef::Real(f) => Ok(f),
            ValueRef::Int(i) => Ok(i as f64),
            ValueRef::Text(s) => s.parse().or_else(|_| unexpected("a number", v)),
            _ => unexpected("a number", v),
        }
    }
}

impl FromValue for bool {
    fn from_value(v: ValueRef<'_>) -> Result<bool, String> {
        Ok(i64::from_value(v)? != 0)
    }
}

impl FromValue for String {
    fn from_value(v: ValueRef<'_>) -> Result<String, String> {
        match v {
            ValueRef::Text(s) => Ok(s.to_string()),
            ValueRef::Blob(b) => Ok(String::from_utf8_lossy(b).into_owned()),
            _ => unexpected("text", v),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(v: ValueRef<'_>) -> Result<Vec<u8>, String> {
        match v {
            ValueRef::Blob(b) => Ok(b.to_vec()),
            ValueRef::Text(s) => Ok(s.as_bytes().to_vec()),
            _ => unexpected("bytes", v),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: ValueRef<'_>) -> Result<Option<T>, String> {
        match v {
            ValueRef::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Value {
        Value::Int(v.into())
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Int(v as i64)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Real(v)
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(v.clone())
    }
}
impl From<&i64> for Value {
    fn from(v: &i64) -> Value {
        Value::Int(*v)
    }
}
impl From<&Option<i64>> for Value {
    fn from(v: &Option<i64>) -> Value {
        v.map(Value::Int).unwrap_or(Value::Null)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map(Into::into).unwrap_or(Value::Null)
    }
}
impl From<&Option<String>> for Value {
    fn from(v: &Option<String>) -> Value {
        v.as_deref().map(Value::from).unwrap_or(Value::Null)
    }
}

/// A value that can be bound as a parameter, taken by reference so binding never moves
/// the caller's data.
pub trait ToValue {
    fn to_value(&self) -> Value;
}

impl ToValue for i64 {
    fn to_value(&self) -> Value {
        Value::Int(*self)
    }
}
impl ToValue for i32 {
    fn to_value(&self) -> Value {
        Value::Int((*self).into())
    }
}
impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Int(*self as i64)
    }
}
impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}
impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}
impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}
impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}
impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}
impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map(ToValue::to_value).unwrap_or(Value::Null)
    }
}

/// Bound parameters from a list of expressions: `args![name, 3, now]` (borrowed).
#[macro_export]
macro_rules! args {
    () => { [] as [$crate::db::Value; 0] };
    ($($v:expr),+ $(,)?) => { [$($crate::db::ToValue::to_value(&$v)),+] };
}

/// A connection to one of the databases, inside a transaction when the engine says so.
pub trait Db {
    fn dialect(&self) -> Dialect;

    /// Runs one statement; returns the number of rows it changed (matched, on MySQL too).
    fn execute(&mut self, sql: &str, params: &[Value]) -> DbResult<u64>;

    /// Runs a query and hands every row to `f`, in order.
    fn query(
        &mut self,
        sql: &str,
        params: &[Value],
        f: &mut dyn FnMut(&Row<'_>) -> DbResult<()>,
    ) -> DbResult<()>;

    /// Runs an INSERT into a table whose key `id_column` the database assigns, and returns it.
    fn insert_returning_id(
        &mut self,
        sql: &str,
        params: &[Value],
        id_column: &str,
    ) -> DbResult<i64>;
}

impl dyn Db + '_ {
    /// Every row mapped by `f`.
    pub fn query_map<T>(
        &mut self,
        sql: &str,
        params: &[Value],
        mut f: impl FnMut(&Row<'_>) -> DbResult<T>,
    ) -> DbResult<Vec<T>> {
        let mut out = Vec::new();
        self.query(sql, params, &mut |r| {
            out.push(f(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row mapped by `f`, if there is one.
    pub fn query_opt<T>(
        &mut self,
        sql: &str,
        params: &[Value],
        f: impl FnOnce(&Row<'_>) -> DbResult<T>,
    ) -> DbResult<Option<T>> {
        let mut f = Some(f);
        let mut out = None;
        self.query(sql, params, &mut |r| {
            if let Some(f) = f.take() {
                out = Some(f(r)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// The first column of every row, as text.
    pub fn query_strings(&mut self, sql: &str, params: &[Value]) -> DbResult<Vec<String>> {
        self.query_map(sql, params, |r| r.get(0))
    }
}

/// For a query that must return a row and returned none.
pub fn no_rows() -> DbError {
    DbError::other("the query returned no rows")
}

/// `?, ?, ?` for an IN list of `n` values.
pub fn placeholders(n: usize) -> String {
    let mut s = String::with_capacity(n * 3);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('?');
    }
    s
}

impl Dialect {
    /// `INSERT` that skips rows whose key is already there (MLflow's duplicate metric
    /// points). `table_and_values` is `table (cols) VALUES ...`; `a_column` is any column
    /// of the table (MySQL's no-op update needs one).
    pub fn insert_ignore(self, table_and_values: &str, a_column: &str) -> String {
        match self {
            Dialect::Sqlite | Dialect::Postgres => {
                format!("INSERT INTO {table_and_values} ON CONFLICT DO NOTHING")
            }
            // A no-op update instead of INSERT IGNORE, which would also turn real errors
            // (a too-long value) into warnings.
            Dialect::Mysql => {
                format!("INSERT INTO {table_and_values} ON DUPLICATE KEY UPDATE {a_column} = {a_column}")
            }
        }
    }

    /// `INSERT` that replaces `update_columns` when the key is taken.
    pub fn upsert(
        self,
        table_and_values: &str,
        key_columns: &str,
        update_columns: &[&str],
    ) -> String {
        match self {
            Dialect::Sqlite | Dialect::Postgres => format!(
                "INSERT INTO {table_and_values} ON CONFLICT ({key_columns}) DO UPDATE SET {}",
                update_columns
                    .iter()
                    .map(|c| format!("{c} = excluded.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Dialect::Mysql => format!(
                "INSERT INTO {table_and_values} ON DUPLICATE KEY UPDATE {}",
                update_columns
                    .iter()
                    .map(|c| format!("{c} = VALUES({c})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// Row lock for read-modify-write inside a transaction (SQLite's single writer
    /// already serializes).
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres | Dialect::Mysql => " FOR UPDATE",
        }
    }

    /// `metrics`, read through MLflow's `(run_uuid, key, step)` index. SQLite's and MySQL's
    /// planners otherwise walk the primary key `(key, timestamp, ...)`: every run's rows of
    /// that metric, where the run's few steps were wanted.
    pub fn metrics_by_run_key_step(self) -> &'static str {
        match self {
            Dialect::Sqlite => "metrics INDEXED BY index_metrics_run_uuid_key_step",
            Dialect::Mysql => "metrics FORCE INDEX (index_metrics_run_uuid_key_step)",
            Dialect::Postgres => "metrics",
        }
    }

    /// Integer division of two integer expressions.
    pub fn int_div(self, a: &str, b: &str) -> String {
        match self {
            Dialect::Sqlite | Dialect::Postgres => format!("({a}) / ({b})"),
            Dialect::Mysql => format!("({a}) DIV ({b})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upserts_per_dialect() {
        let head = "tags (\"key\", value, run_uuid) VALUES (?, ?, ?)";
        assert!(Dialect::Postgres
            .upsert(head, "\"key\", run_uuid", &["value"])
            .ends_with("ON CONFLICT (\"key\", run_uuid) DO UPDATE SET value = excluded.value"));
        assert!(Dialect::Mysql
            .upsert(head, "\"key\", run_uuid", &["value"])
            .ends_with("ON DUPLICATE KEY UPDATE value = VALUES(value)"));
        assert!(Dialect::Mysql
            .insert_ignore(head, "run_uuid")
            .ends_with("ON DUPLICATE KEY UPDATE run_uuid = run_uuid"));
        assert!(Dialect::Sqlite
            .insert_ignore(head, "run_uuid")
            .ends_with("ON CONFLICT DO NOTHING"));
    }

    #[test]
    fn lenient_conversions() {
        assert_eq!(bool::from_value(ValueRef::Int(1)), Ok(true));
        assert_eq!(i64::from_value(ValueRef::Text("42")), Ok(42));
        assert_eq!(f64::from_value(ValueRef::Int(3)), Ok(3.0));
        assert_eq!(Option::<String>::from_value(ValueRef::Null), Ok(None));
        assert!(i64::from_value(ValueRef::Real(1.5)).is_err());
    }
}
