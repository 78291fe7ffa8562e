//! [`Db`] over a rusqlite connection. Statements go through rusqlite's per-connection
//! statement cache; rows are read in place, without copying.

use rusqlite::{params_from_iter, Connection};

use super::{Db, DbError, DbErrorKind, DbResult, Dialect, Row, Value};

/// A SQLite connection (or an open transaction on one: rusqlite's `Transaction` derefs to it).
pub struct SqliteDb<'c>(pub &'c Connection);

pub fn map_error(e: rusqlite::Error) -> DbError {
    let kind = match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                DbErrorKind::Retry
            }
            rusqlite::ErrorCode::ConstraintViolation
                if matches!(
                    f.extended_code,
                    rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                        | rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                ) =>
            {
                DbErrorKind::Duplicate
            }
            rusqlite::ErrorCode::CannotOpen => DbErrorKind::Connection,
            _ => DbErrorKind::Other,
        },
        _ => DbErrorKind::Other,
    };
    // rusqlite's text for a statement it could not prepare holds the whole statement.
    let message = match &e {
        rusqlite::Error::SqlInputError { error, msg, .. } => format!("{error}: {msg}"),
        _ => e.to_string(),
    };
    DbError::new(kind, message)
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
        }))
    }
}

impl Db for SqliteDb<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> DbResult<u64> {
        let mut stmt = self.0.prepare_cached(sql).map_err(map_error)?;
        let n = stmt
            .execute(params_from_iter(params.iter()))
            .map_err(map_error)?;
        Ok(n as u64)
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[Value],
        f: &mut dyn FnMut(&Row<'_>) -> DbResult<()>,
    ) -> DbResult<()> {
        let mut stmt = self.0.prepare_cached(sql).map_err(map_error)?;
        let mut rows = stmt
            .query(params_from_iter(params.iter()))
            .map_err(map_error)?;
        while let Some(r) = rows.next().map_err(map_error)? {
            f(&Row::Sqlite(r))?;
        }
        Ok(())
    }

    fn insert_returning_id(
        &mut self,
        sql: &str,
        params: &[Value],
        _id_column: &str,
    ) -> DbResult<i64> {
        self.execute(sql, params)?;
        Ok(self.0.last_insert_rowid())
    }
}
