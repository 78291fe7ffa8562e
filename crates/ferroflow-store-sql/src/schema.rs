//! MLflow's schema, created and checked in place. The DDL is MLflow's own, dumped from the
//! mlflow package by `scripts/dump-schema.py`; nothing here is written by hand except the
//! two rows MLflow inserts itself (the Alembic revision and the Default experiment).

use rusqlite::{Connection, OptionalExtension};

use crate::db::{Db, DbError, Dialect};
use crate::engine::pool::ServerConn;

/// The Alembic revision of MLflow 3.18's schema.
pub const MLFLOW_SCHEMA_REVISION: &str = "f4a9b2c7d1e6";

const SQLITE_DDL: &str = include_str!("../schema/sqlite.sql");
const POSTGRES_DDL: &str = include_str!("../schema/postgres.sql");
const MYSQL_DDL: &str = include_str!("../schema/mysql.sql");

/// Why a database cannot be opened. Each message says what was found and what to do.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error(
        "the database is at MLflow schema revision '{found}', but Ferroflow serves revision \
         '{expected}' (MLflow 3.18). Upgrade it with `mlflow db upgrade <uri>` using MLflow 3.18, \
         or point --backend-store-uri at another database. Nothing was written."
    )]
    WrongRevision {
        found: String,
        expected: &'static str,
    },
    #[error(
        "the database holds tables ({tables}) but no MLflow `alembic_version` table: it is not an \
         MLflow tracking database. Point --backend-store-uri at an MLflow database or an empty \
         file. Nothing was written."
    )]
    NotMlflow { tables: String },
    #[error("the database could not be read: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot start the database writer: {0}")]
    Writer(String),
    #[error("cannot reach the database at {0}: {1}")]
    Unreachable(String, String),
    #[error("the backend store URI cannot be used: {0}")]
    Options(String),
    #[error("the database could not be read or set up: {0}")]
    Server(String),
}

impl From<DbError> for SchemaError {
    fn from(e: DbError) -> SchemaError {
        SchemaError::Server(e.message)
    }
}

/// Creates MLflow's schema on an empty database, or checks an existing one.
/// Returns true when the schema was created.
pub fn ensure_sqlite_schema(
    conn: &mut Connection,
    default_artifact_root: &str,
) -> Result<bool, SchemaError> {
    let tables: Vec<String> = {
        let mut stmt = conn.prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect::<Result<_, _>>()?
    };
    if tables.is_empty() {
        create_sqlite_schema(conn, default_artifact_root)?;
        return Ok(true);
    }
    if !tables.iter().any(|t| t == "alembic_version") {
        let mut shown: Vec<&str> = tables.iter().take(5).map(String::as_str).collect();
        if tables.len() > 5 {
            shown.push("...");
        }
        return Err(SchemaError::NotMlflow {
            tables: shown.join(", "),
        });
    }
    let found: Option<String> = conn
        .query_row("SELECT version_num FROM alembic_version", [], |r| r.get(0))
        .optional()?;
    let found = found.unwrap_or_else(|| "<none>".to_string());
    if found != MLFLOW_SCHEMA_REVISION {
        return Err(SchemaError::WrongRevision {
            found,
            expected: MLFLOW_SCHEMA_REVISION,
        });
    }
    Ok(false)
}

fn create_sqlite_schema(
    conn: &mut Connection,
    default_artifact_root: &str,
) -> Result<(), SchemaError> {
    let tx = conn.transaction()?;
    tx.execute_batch(SQLITE_DDL)?;
    tx.execute(
        "INSERT INTO alembic_version (version_num) VALUES (?1)",
        [MLFLOW_SCHEMA_REVISION],
    )?;
    let now = crate::now_millis();
    let location = crate::append_to_uri_path(default_artifact_root, "0");
    tx.execute(
        "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time, workspace) \
         VALUES (0, 'Default', ?1, 'active', ?2, ?2, 'default')",
        rusqlite::params![location, now],
    )?;
    tx.commit()?;
    Ok(())
}

/// The tables of the connected database (PostgreSQL: the current schema; MySQL: the
/// current database).
fn server_tables(db: &mut dyn Db) -> Result<Vec<String>, DbError> {
    let sql = match db.dialect() {
        Dialect::Postgres => "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
        _ => "SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY 1",
    };
    db.query_strings(sql, &[])
}

/// The statements of a dumped DDL file. PostgreSQL's file runs as one batch; MySQL's is
/// split at `;` line ends, and at `;;` between `DELIMITER ;;` and `DELIMITER ;` (trigger
/// bodies), as the mysql client reads it.
fn mysql_statements(ddl: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut delimiter = ";";
    for line in ddl.lines() {
        let trimmed = line.trim();
        if let Some(d) = trimmed.strip_prefix("DELIMITER ") {
            delimiter = if d.trim() == ";;" { ";;" } else { ";" };
            continue;
        }
        if trimmed.starts_with("--") || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if trimmed.ends_with(delimiter) {
            let stmt = current
                .trim_end()
                .trim_end_matches(delimiter)
                .trim()
                .to_string();
            if !stmt.is_empty() {
                out.push(stmt);
            }
            current.clear();
        }
    }
    out
}

/// Creates MLflow's schema on an empty PostgreSQL or MySQL database, or checks the revision
/// of an existing one. Replicas starting together take a lock first, so exactly one creates
/// the schema and the others find it. Returns true when the schema was created.
pub fn ensure_server_schema(
    conn: &mut ServerConn,
    dialect: Dialect,
    default_artifact_root: &str,
) -> Result<bool, SchemaError> {
    match dialect {
        Dialect::Postgres => conn.batch("SELECT pg_advisory_lock(7262331800425)")?,
        _ => {
            conn.db().query_strings(
                "SELECT CAST(GET_LOCK('ferroflow_schema', 120) AS CHAR)",
                &[],
            )?;
        }
    }
    let result = ensure_server_schema_locked(conn, dialect, default_artifact_root);
    let _ = match dialect {
        Dialect::Postgres => conn.batch("SELECT pg_advisory_unlock(7262331800425)"),
        _ => conn
            .db()
            .query_strings("SELECT CAST(RELEASE_LOCK('ferroflow_schema') AS CHAR)", &[])
            .map(|_| ()),
    };
    result
}

fn ensure_server_schema_locked(
    conn: &mut ServerConn,
    dialect: Dialect,
    default_artifact_root: &str,
) -> Result<bool, SchemaError> {
    let tables = server_tables(conn.db())?;
    let created = if tables.is_empty() {
        create_server_schema(conn, dialect, default_artifact_root)?;
        true
    } else {
        check_revision(conn.db(), &tables)?;
        false
    };
    create_extra_indexes(conn, dialect)?;
    Ok(created)
}

/// Ferroflow's one index beside MLflow's schema (MLflow allows extra indexes; it is named
/// `ferroflow_*`): searches that filter and order by a metric walk `latest_metrics` in value
/// order and stop at the page instead of sorting every run. Built once, on the first start.
pub const EXTRA_INDEX: &str = "ferroflow_latest_metrics_key_value";

fn create_extra_indexes(conn: &mut ServerConn, dialect: Dialect) -> Result<(), SchemaError> {
    match dialect {
        Dialect::Postgres => conn.batch(&format!(
            "CREATE INDEX IF NOT EXISTS {EXTRA_INDEX} ON latest_metrics (\"key\", value)"
        ))?,
        _ => {
            // MySQL has no CREATE INDEX IF NOT EXISTS (MariaDB does): look first.
            let found = conn.db().query_strings(
                "SELECT CAST(index_name AS CHAR) FROM information_schema.statistics \
                 WHERE table_schema = DATABASE() AND table_name = 'latest_metrics' AND index_name = ?",
                &[EXTRA_INDEX.into()],
            )?;
            if found.is_empty() {
                conn.batch(&format!(
                    "CREATE INDEX {EXTRA_INDEX} ON latest_metrics (\"key\", value)"
                ))?;
            }
        }
    }
    Ok(())
}

fn check_revision(db: &mut dyn Db, tables: &[String]) -> Result<(), SchemaError> {
    if !tables.iter().any(|t| t == "alembic_version") {
        let mut shown: Vec<&str> = tables.iter().take(5).map(String::as_str).collect();
        if tables.len() > 5 {
            shown.push("...");
        }
        return Err(SchemaError::NotMlflow {
            tables: shown.join(", "),
        });
    }
    let found = db
        .query_strings("SELECT version_num FROM alembic_version", &[])?
        .into_iter()
        .next()
        .unwrap_or_else(|| "<none>".to_string());
    if found != MLFLOW_SCHEMA_REVISION {
        return Err(SchemaError::WrongRevision {
            found,
            expected: MLFLOW_SCHEMA_REVISION,
        });
    }
    Ok(())
}

fn create_server_schema(
    conn: &mut ServerConn,
    dialect: Dialect,
    default_artifact_root: &str,
) -> Result<(), SchemaError> {
    let now = crate::now_millis();
    let location = crate::append_to_uri_path(default_artifact_root, "0");
    let insert_default = "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time, workspace) \
         VALUES (0, 'Default', ?, 'active', ?, ?, 'default')";
    match dialect {
        // PostgreSQL's DDL is transactional: the schema appears whole or not at all.
        Dialect::Postgres => {
            conn.batch("BEGIN")?;
            let run = |conn: &mut ServerConn| -> Result<(), DbError> {
                conn.batch(POSTGRES_DDL)?;
                let db = conn.db();
                db.execute(
                    "INSERT INTO alembic_version (version_num) VALUES (?)",
                    &[MLFLOW_SCHEMA_REVISION.into()],
                )?;
                db.execute(
                    insert_default,
                    &[location.clone().into(), now.into(), now.into()],
                )?;
                Ok(())
            };
            match run(conn) {
                Ok(()) => conn.batch("COMMIT")?,
                Err(e) => {
                    let _ = conn.batch("ROLLBACK");
                    return Err(e.into());
                }
            }
        }
        _ => {
            // MySQL commits each CREATE TABLE by itself; a failure part-way leaves tables
            // that the next start refuses (no alembic_version row), never a half-served schema.
            for stmt in mysql_statements(MYSQL_DDL) {
                conn.batch(&stmt)?;
            }
            let db = conn.db();
            // MySQL would otherwise read id 0 as "assign the next id".
            db.execute(
                "SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_AUTO_VALUE_ON_ZERO')",
                &[],
            )?;
            db.execute(insert_default, &[location.into(), now.into(), now.into()])?;
            db.execute(
                "SET SESSION sql_mode = REPLACE(@@SESSION.sql_mode, 'NO_AUTO_VALUE_ON_ZERO', '')",
                &[],
            )?;
            db.execute(
                "INSERT INTO alembic_version (version_num) VALUES (?)",
                &[MLFLOW_SCHEMA_REVISION.into()],
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_ddl_splits_into_statements_with_the_trigger_whole() {
        let stmts = mysql_statements(MYSQL_DDL);
        assert!(stmts.iter().all(|s| !s.starts_with("DELIMITER")));
        let creates = stmts
            .iter()
            .filter(|s| s.starts_with("CREATE TABLE"))
            .count();
        assert_eq!(creates, 71);
        let trigger = stmts
            .iter()
            .find(|s| s.starts_with("CREATE TRIGGER"))
            .cloned()
            .unwrap_or_default();
        assert!(
            trigger.contains("SIGNAL SQLSTATE") && trigger.ends_with("END"),
            "{trigger}"
        );
    }

    #[test]
    fn empty_database_gets_mlflow_schema_and_default_experiment() -> Result<(), SchemaError> {
        let mut conn = Connection::open_in_memory()?;
        assert!(ensure_sqlite_schema(&mut conn, "/tmp/art")?);
        let n: i64 = conn.query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            [],
            |r| r.get(0),
        )?;
        assert_eq!(n, 71);
        let (name, loc): (String, String) = conn.query_row(
            "SELECT name, artifact_location FROM experiments WHERE experiment_id = 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        assert_eq!((name.as_str(), loc.as_str()), ("Default", "/tmp/art/0"));
        // Opening again is a no-op.
        assert!(!ensure_sqlite_schema(&mut conn, "/tmp/art")?);
        Ok(())
    }

    #[test]
    fn other_revision_is_refused_with_both_revisions_named() -> Result<(), SchemaError> {
        let mut conn = Connection::open_in_memory()?;
        ensure_sqlite_schema(&mut conn, "/tmp/art")?;
        conn.execute("UPDATE alembic_version SET version_num = 'abc123'", [])?;
        let err = ensure_sqlite_schema(&mut conn, "/tmp/art")
            .err()
            .map(|e| e.to_string());
        let msg = err.unwrap_or_default();
        assert!(
            msg.contains("'abc123'") && msg.contains(MLFLOW_SCHEMA_REVISION),
            "{msg}"
        );
        Ok(())
    }

    #[test]
    fn foreign_database_is_refused() -> Result<(), SchemaError> {
        let mut conn = Connection::open_in_memory()?;
        conn.execute("CREATE TABLE customers (id INTEGER)", [])?;
        let msg = ensure_sqlite_schema(&mut conn, "/tmp/art")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            msg.contains("customers") && msg.contains("not an MLflow"),
            "{msg}"
        );
        Ok(())
    }
}
