//! MLflow's schema, created and checked in place. The DDL is MLflow's own, dumped from the
//! mlflow package by `scripts/dump-schema.py`; nothing here is written by hand except the
//! two rows MLflow inserts itself (the Alembic revision and the Default experiment).

use rusqlite::{Connection, OptionalExtension};

/// The Alembic revision of MLflow 3.18's schema.
pub const MLFLOW_SCHEMA_REVISION: &str = "f4a9b2c7d1e6";

const SQLITE_DDL: &str = include_str!("../schema/sqlite.sql");

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

#[cfg(test)]
mod tests {
    use super::*;

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
