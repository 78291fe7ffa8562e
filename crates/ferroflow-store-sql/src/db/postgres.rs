//! [`Db`] over a PostgreSQL connection (the `postgres` crate, used from blocking threads).
//!
//! PostgreSQL checks parameter types strictly (an `i64` cannot be bound to an `integer`
//! column), while the store binds plain [`Value`]s: binding converts each value to the type
//! the server inferred for its placeholder. Prepared statements are cached per connection.

use std::collections::HashMap;
use std::error::Error as _;
use std::time::Duration;

use bytes::BytesMut;
use postgres::error::SqlState;
use postgres::types::{FromSql, IsNull, ToSql, Type};
use postgres::{Client, Config, NoTls, Statement};

use super::pg_tls::{self, MakeRustls, Verify};

use super::{Db, DbError, DbErrorKind, DbResult, Dialect, OwnedValue, Row, Value};
use crate::uri::SqlServerUri;

/// Statements kept per connection; searches with IN lists of many lengths make many.
const STATEMENT_CACHE: usize = 512;

pub struct PgConn {
    client: Client,
    statements: HashMap<String, Statement>,
}

pub fn map_error(e: postgres::Error) -> DbError {
    let message = match e.as_db_error() {
        Some(db) => db.to_string(),
        None => e.to_string(),
    };
    let kind = if e.is_closed() {
        DbErrorKind::Connection
    } else if let Some(code) = e.code() {
        if *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::LOCK_NOT_AVAILABLE
        {
            DbErrorKind::Retry
        } else if *code == SqlState::UNIQUE_VIOLATION {
            DbErrorKind::Duplicate
        } else if *code == SqlState::STRING_DATA_RIGHT_TRUNCATION {
            DbErrorKind::TooLong
        } else if code.code().starts_with("08")
            || *code == SqlState::ADMIN_SHUTDOWN
            || *code == SqlState::CRASH_SHUTDOWN
            || *code == SqlState::CANNOT_CONNECT_NOW
            || *code == SqlState::TOO_MANY_CONNECTIONS
        {
            DbErrorKind::Connection
        } else {
            DbErrorKind::Other
        }
    } else if caused_by_io(&e) {
        DbErrorKind::Connection
    } else {
        DbErrorKind::Other
    };
    DbError::new(kind, message)
}

fn caused_by_io(e: &postgres::Error) -> bool {
    let mut source = e.source();
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    // Timeouts while connecting carry no io::Error.
    e.to_string().contains("timed out") || e.to_string().contains("connection")
}

/// How to reach the server: connection settings and, unless `sslmode=disable`, TLS.
#[derive(Clone)]
pub struct PgTarget {
    pub config: Config,
    pub tls: Option<MakeRustls>,
}

/// How to reach the server: the URI's parts and options, as libpq reads them. Like libpq,
/// the default `sslmode` is `prefer`: TLS when the server offers it.
pub fn config(uri: &SqlServerUri, connect_timeout: Duration) -> Result<PgTarget, String> {
    use postgres::config::SslMode;
    let mut c = Config::new();
    let mut verify = Some(Verify::Nothing);
    let mut root_cert: Option<String> = None;
    c.ssl_mode(SslMode::Prefer);
    c.application_name("ferroflow");
    c.connect_timeout(connect_timeout);
    if let Some(u) = &uri.user {
        c.user(u);
    } else if let Ok(u) = std::env::var("PGUSER").or_else(|_| std::env::var("USER")) {
        c.user(&u);
    }
    if let Some(p) = uri.password() {
        c.password(p);
    } else if let Ok(p) = std::env::var("PGPASSWORD") {
        c.password(p);
    }
    c.dbname(&uri.database);
    let mut hosts = 0;
    if let Some(h) = &uri.host {
        c.host(h);
        hosts += 1;
    }
    if let Some(p) = uri.port {
        c.port(p);
    }
    for (key, value) in &uri.options {
        match key.as_str() {
            "host" => {
                c.host(value);
                hosts += 1;
            }
            "port" => {
                let port = value
                    .parse::<u16>()
                    .map_err(|_| format!("port={value} is not a port number"))?;
                c.port(port);
            }
            "sslmode" => {
                let (mode, v) = match value.as_str() {
                    "disable" => (SslMode::Disable, None),
                    "allow" | "prefer" => (SslMode::Prefer, Some(Verify::Nothing)),
                    "require" => (SslMode::Require, Some(Verify::Nothing)),
                    "verify-ca" => (SslMode::Require, Some(Verify::Chain)),
                    "verify-full" => (SslMode::Require, Some(Verify::ChainAndName)),
                    other => {
                        return Err(format!(
                            "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                        ))
                    }
                };
                c.ssl_mode(mode);
                verify = v;
            }
            "sslrootcert" => root_cert = Some(value.clone()),
            "sslcert" | "sslkey" | "sslpassword" => {
                return Err(format!(
                    "{key}: client certificates are not supported by Ferroflow yet; use a password or trust authentication"
                ))
            }
            "connect_timeout" => {
                let secs = value
                    .parse::<u64>()
                    .map_err(|_| format!("connect_timeout={value} is not a number of seconds"))?;
                c.connect_timeout(Duration::from_secs(secs.max(1)));
            }
            "application_name" => {
                c.application_name(value);
            }
            "options" => {
                c.options(value);
            }
            "user" => {
                c.user(value);
            }
            "password" => {
                c.password(value);
            }
            "dbname" => {
                c.dbname(value);
            }
            "target_session_attrs" => {
                use postgres::config::TargetSessionAttrs;
                c.target_session_attrs(match value.as_str() {
                    "read-write" => TargetSessionAttrs::ReadWrite,
                    _ => TargetSessionAttrs::Any,
                });
            }
            // Options libpq knows that change nothing for Ferroflow's use.
            "client_encoding" | "keepalives" | "keepalives_idle" | "gssencmode" => {}
            other => {
                return Err(format!(
                    "the PostgreSQL option '{other}' is not supported by Ferroflow"
                ))
            }
        }
    }
    if hosts == 0 {
        // libpq's default: the local socket directory, else localhost.
        if std::path::Path::new("/var/run/postgresql").exists() {
            c.host_path("/var/run/postgresql");
        } else {
            c.host("localhost");
        }
    }
    let tls = match verify {
        None => None,
        Some(v) => Some(MakeRustls::new(pg_tls::client_config(
            v,
            root_cert.as_deref(),
        )?)),
    };
    Ok(PgTarget { config: c, tls })
}

impl PgConn {
    pub fn connect(target: &PgTarget) -> DbResult<PgConn> {
        let connected = match &target.tls {
            Some(tls) => target.config.connect(tls.clone()),
            None => target.config.connect(NoTls),
        };
        let mut client = connected.map_err(|e| {
            let mut err = map_error(e);
            // Every failure to connect (refused, bad password, no database) is a connection failure.
            err.kind = DbErrorKind::Connection;
            err
        })?;
        // Statements are prepared once per connection and run with new values each time.
        // After five runs PostgreSQL may switch to a generic plan that ignores the values: for
        // "this run's rows at these 500 steps" it then scans the run's million rows. Plan for
        // the values every time (PostgreSQL 12+; older servers keep their default).
        let _ = client.batch_execute("SET plan_cache_mode = force_custom_plan");
        Ok(PgConn {
            client,
            statements: HashMap::new(),
        })
    }

    /// False once the server has closed the connection (restart, idle timeout, cut).
    pub fn is_usable(&self) -> bool {
        !self.client.is_closed()
    }

    /// Runs statements with no parameters and no results (DDL, BEGIN/COMMIT).
    pub fn batch(&mut self, sql: &str) -> DbResult<()> {
        self.client.batch_execute(sql).map_err(map_error)
    }

    fn statement(&mut self, sql: &str) -> DbResult<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let text = Dialect::Postgres.placeholders(sql);
        let stmt = self.client.prepare(&text).map_err(map_error)?;
        if self.statements.len() >= STATEMENT_CACHE {
            self.statements.clear();
        }
        self.statements.insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }
}

fn bind(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl Db for PgConn {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> DbResult<u64> {
        let stmt = self.statement(sql)?;
        self.client.execute(&stmt, &bind(params)).map_err(map_error)
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[Value],
        f: &mut dyn FnMut(&Row<'_>) -> DbResult<()>,
    ) -> DbResult<()> {
        use postgres::fallible_iterator::FallibleIterator;
        let stmt = self.statement(sql)?;
        // Rows are decoded as they arrive (a million-point history is never held whole).
        let mut rows = self
            .client
            .query_raw(&stmt, bind(params))
            .map_err(map_error)?;
        let mut values: Vec<OwnedValue> = Vec::new();
        while let Some(row) = rows.next().map_err(map_error)? {
            values.clear();
            for i in 0..row.len() {
                let v: PgValue = row.try_get(i).map_err(map_error)?;
                values.push(v.0);
            }
            f(&Row::Values(&values))?;
        }
        Ok(())
    }

    fn insert_returning_id(
        &mut self,
        sql: &str,
        params: &[Value],
        id_column: &str,
    ) -> DbResult<i64> {
        let sql = format!("{sql} RETURNING {id_column}");
        let stmt = self.statement(&sql)?;
        let row = self
            .client
            .query_one(&stmt, &bind(params))
            .map_err(map_error)?;
        let v: PgValue = row.try_get(0).map_err(map_error)?;
        match v.0 {
            OwnedValue::Int(i) => Ok(i),
            other => Err(DbError::other(format!("unexpected id {other:?}"))),
        }
    }
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::FLOAT4 => (*i as f32).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    i.to_string().as_str().to_sql(ty, out)
                }
                _ => Err(format!("cannot bind an integer to a {ty} parameter").into()),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                Type::INT8 if f.fract() == 0.0 => (*f as i64).to_sql(ty, out),
                Type::INT4 if f.fract() == 0.0 => (*f as i32).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::UNKNOWN => {
                    f.to_string().as_str().to_sql(ty, out)
                }
                _ => Err(format!("cannot bind a number to a {ty} parameter").into()),
            },
            Value::Text(s) => match *ty {
                Type::INT8 => s.parse::<i64>()?.to_sql(ty, out),
                Type::INT4 => s.parse::<i32>()?.to_sql(ty, out),
                Type::INT2 => s.parse::<i16>()?.to_sql(ty, out),
                Type::FLOAT8 => s.parse::<f64>()?.to_sql(ty, out),
                Type::BOOL => matches!(s.as_str(), "true" | "1" | "t").to_sql(ty, out),
                Type::BYTEA => s.as_bytes().to_sql(ty, out),
                _ => s.as_str().to_sql(ty, out),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// Any column, decoded by its type.
struct PgValue(OwnedValue);

impl<'a> FromSql<'a> for PgValue {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<PgValue, BoxError> {
        Ok(PgValue(match *ty {
            Type::BOOL => OwnedValue::Int(bool::from_sql(ty, raw)? as i64),
            Type::INT2 => OwnedValue::Int(i16::from_sql(ty, raw)?.into()),
            Type::INT4 => OwnedValue::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT8 => OwnedValue::Int(i64::from_sql(ty, raw)?),
            Type::OID => OwnedValue::Int(u32::from_sql(ty, raw)?.into()),
            Type::FLOAT4 => OwnedValue::Real(f32::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => OwnedValue::Real(f64::from_sql(ty, raw)?),
            Type::BYTEA => OwnedValue::Blob(raw.to_vec()),
            _ => match std::str::from_utf8(raw) {
                Ok(s) => OwnedValue::Text(s.to_string()),
                Err(_) => OwnedValue::Blob(raw.to_vec()),
            },
        }))
    }

    fn from_sql_null(_: &Type) -> Result<PgValue, BoxError> {
        Ok(PgValue(OwnedValue::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}
