//! [`Db`] over a MySQL or MariaDB connection (the `mysql` crate, used from blocking threads).
//!
//! Each connection is set up so the store's SQL means the same as on the other databases:
//! `ANSI_QUOTES` (double quotes name columns such as "key"), `PIPES_AS_CONCAT`, READ
//! COMMITTED (fewer gap-lock deadlocks between concurrent writers), and CLIENT_FOUND_ROWS so
//! an UPDATE reports the rows it matched, as SQLite and PostgreSQL do.

use std::time::Duration;

use mysql::consts::CapabilityFlags;
use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder, Params};

use super::{Db, DbError, DbErrorKind, DbResult, Dialect, OwnedValue, Row, Value};
use crate::uri::SqlServerUri;

/// Session settings for every connection.
const SESSION_SETUP: [&str; 3] = [
    "SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',ANSI_QUOTES,PIPES_AS_CONCAT')",
    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
    "SET NAMES utf8mb4",
];

pub struct MyConn {
    conn: Conn,
}

pub fn map_error(e: mysql::Error) -> DbError {
    let kind = match &e {
        mysql::Error::MySqlError(m) => match m.code {
            // ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT
            1213 | 1205 => DbErrorKind::Retry,
            // ER_DUP_ENTRY
            1062 => DbErrorKind::Duplicate,
            // ER_DATA_TOO_LONG
            1406 => DbErrorKind::TooLong,
            // Server shutting down, too many connections, lost connection, access denied, unknown database
            1053 | 1040 | 2006 | 2013 | 1045 | 1049 | 1927 => DbErrorKind::Connection,
            _ => DbErrorKind::Other,
        },
        e if e.is_connectivity_error() => DbErrorKind::Connection,
        _ => DbErrorKind::Other,
    };
    DbError::new(kind, e.to_string())
}

/// How to reach the server, from the URI's parts and its options.
pub fn opts(uri: &SqlServerUri, connect_timeout: Duration) -> Result<Opts, String> {
    let mut b = OptsBuilder::new()
        .user(uri.user.clone())
        .pass(uri.password().map(str::to_string))
        .db_name(Some(uri.database.clone()))
        .tcp_connect_timeout(Some(connect_timeout))
        .prefer_socket(false)
        .stmt_cache_size(Some(256))
        .additional_capabilities(CapabilityFlags::CLIENT_FOUND_ROWS)
        .init(SESSION_SETUP.to_vec());
    b = b.ip_or_hostname(Some(uri.host.clone().unwrap_or_else(|| "localhost".into())));
    if let Some(port) = uri.port {
        b = b.tcp_port(port);
    }
    for (key, value) in &uri.options {
        match key.as_str() {
            "unix_socket" | "socket" => b = b.socket(Some(value.clone())),
            "charset" if value.starts_with("utf8") => {}
            "connect_timeout" => {
                let secs = value
                    .parse::<u64>()
                    .map_err(|_| format!("connect_timeout={value} is not a number of seconds"))?;
                b = b.tcp_connect_timeout(Some(Duration::from_secs(secs.max(1))));
            }
            "read_timeout" | "write_timeout" => {
                let secs = value
                    .parse::<u64>()
                    .map_err(|_| format!("{key}={value} is not a number of seconds"))?;
                let d = Some(Duration::from_secs(secs.max(1)));
                b = if key == "read_timeout" {
                    b.read_timeout(d)
                } else {
                    b.write_timeout(d)
                };
            }
            "ssl_disabled" | "ssl" if matches!(value.as_str(), "true" | "1" | "false" | "0") => {
                if key == "ssl" && matches!(value.as_str(), "true" | "1") {
                    return Err("TLS to MySQL is not supported by Ferroflow yet; use a TLS-terminating proxy".into());
                }
            }
            other => {
                return Err(format!(
                    "the MySQL option '{other}' is not supported by Ferroflow"
                ))
            }
        }
    }
    Ok(b.into())
}

impl MyConn {
    pub fn connect(opts: &Opts) -> DbResult<MyConn> {
        let conn = Conn::new(opts.clone()).map_err(|e| {
            let mut err = map_error(e);
            err.kind = DbErrorKind::Connection;
            err
        })?;
        Ok(MyConn { conn })
    }

    /// Runs statements with no parameters and no results (DDL, BEGIN/COMMIT).
    pub fn batch(&mut self, sql: &str) -> DbResult<()> {
        self.conn.query_drop(sql).map_err(map_error)
    }

    pub fn ping(&mut self) -> bool {
        self.conn.ping().is_ok()
    }
}

fn params(values: &[Value]) -> Params {
    if values.is_empty() {
        return Params::Empty;
    }
    Params::Positional(
        values
            .iter()
            .map(|v| match v {
                Value::Null => mysql::Value::NULL,
                Value::Int(i) => mysql::Value::Int(*i),
                Value::Real(f) => mysql::Value::Double(*f),
                Value::Text(s) => mysql::Value::Bytes(s.as_bytes().to_vec()),
            })
            .collect(),
    )
}

fn owned(v: mysql::Value) -> OwnedValue {
    match v {
        mysql::Value::NULL => OwnedValue::Null,
        mysql::Value::Int(i) => OwnedValue::Int(i),
        mysql::Value::UInt(u) => OwnedValue::Int(u as i64),
        mysql::Value::Float(f) => OwnedValue::Real(f.into()),
        mysql::Value::Double(f) => OwnedValue::Real(f),
        mysql::Value::Bytes(b) => match String::from_utf8(b) {
            Ok(s) => OwnedValue::Text(s),
            Err(e) => OwnedValue::Blob(e.into_bytes()),
        },
        other => OwnedValue::Text(other.as_sql(true)),
    }
}

impl Db for MyConn {
    fn dialect(&self) -> Dialect {
        Dialect::Mysql
    }

    fn execute(&mut self, sql: &str, values: &[Value]) -> DbResult<u64> {
        let result = self
            .conn
            .exec_iter(sql, params(values))
            .map_err(map_error)?;
        let n = result.affected_rows();
        drop(result);
        Ok(n)
    }

    fn query(
        &mut self,
        sql: &str,
        values: &[Value],
        f: &mut dyn FnMut(&Row<'_>) -> DbResult<()>,
    ) -> DbResult<()> {
        let result = self
            .conn
            .exec_iter(sql, params(values))
            .map_err(map_error)?;
        let mut decoded: Vec<OwnedValue> = Vec::new();
        for row in result {
            let row = row.map_err(map_error)?;
            decoded.clear();
            // Every column's value (`None` only for a value already taken, which never happens here).
            decoded.extend(
                row.unwrap_raw()
                    .into_iter()
                    .map(|v| owned(v.unwrap_or(mysql::Value::NULL))),
            );
            f(&Row::Values(&decoded))?;
        }
        Ok(())
    }

    fn insert_returning_id(
        &mut self,
        sql: &str,
        values: &[Value],
        _id_column: &str,
    ) -> DbResult<i64> {
        let result = self
            .conn
            .exec_iter(sql, params(values))
            .map_err(map_error)?;
        let id = result.last_insert_id();
        drop(result);
        id.map(|i| i as i64)
            .ok_or_else(|| DbError::other("the server returned no id for the new row"))
    }
}
