//! The model registry in MLflow's tables (`registered_models`, `model_versions`,
//! `registered_model_tags`, `model_version_tags`, `registered_model_aliases`), workspace
//! `default`. Version numbers come from `MAX(version) + 1` inside the writer's IMMEDIATE
//! transaction, so concurrent registrations can neither collide nor leave gaps.

use std::collections::HashMap;

use crate::args;
use crate::db::{no_rows, placeholders, Db, DbResult, Row, Value};
use async_trait::async_trait;
use ferroflow_store::registry::{CreateModelVersion, RegistryStore, SearchRegistry};
use ferroflow_store::{Page, StoreError, StoreResult};
use ferroflow_types::registry::{
    ModelVersion, RegisteredModel, RegisteredModelAlias, RegistryTag, ALL_STAGES, STAGE_ARCHIVED,
    STAGE_DELETED_INTERNAL,
};

use super::{err, paged, SqlStore, Wrapped, IN_CHUNK};
use crate::now_millis;
use crate::query::{self, Fragment};

fn model_not_found(name: &str) -> StoreError {
    StoreError::NotFound(format!("Registered Model with name={name} not found"))
}

fn version_not_found(name: &str, version: i64) -> StoreError {
    StoreError::NotFound(format!(
        "Model Version (name={name}, version={version}) not found"
    ))
}

const MV_COLUMNS: &str = "mv.name, mv.version, mv.creation_time, mv.last_updated_time, mv.description, mv.user_id, mv.current_stage, mv.source, mv.run_id, mv.status, mv.status_message, mv.run_link, mv.storage_location";

fn version_from_row(r: &Row<'_>) -> DbResult<ModelVersion> {
    Ok(ModelVersion {
        name: r.get(0)?,
        version: r.get::<i64>(1)?.to_string(),
        creation_timestamp: r.get::<Option<i64>>(2)?.unwrap_or(0),
        last_updated_timestamp: r.get(3)?,
        description: r.get(4)?,
        user_id: r.get(5)?,
        current_stage: r.get(6)?,
        source: r.get(7)?,
        run_id: r.get(8)?,
        status: r.get(9)?,
        status_message: r.get::<Option<String>>(10)?.filter(|s| !s.is_empty()),
        tags: Vec::new(),
        run_link: r.get(11)?,
        aliases: Vec::new(),
        storage_location: r.get(12)?,
    })
}

/// Runs a model-version query and attaches tags (and aliases when asked).
fn query_versions(
    conn: &mut dyn Db,
    sql: &str,
    params: &[Value],
    with_aliases: bool,
) -> Result<Vec<ModelVersion>, Wrapped> {
    let mut versions = conn.query_map(sql, params, version_from_row)?;
    attach_version_details(conn, &mut versions, with_aliases)?;
    Ok(versions)
}

fn attach_version_details(
    conn: &mut dyn Db,
    versions: &mut [ModelVersion],
    with_aliases: bool,
) -> Result<(), Wrapped> {
    if versions.is_empty() {
        return Ok(());
    }
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for (i, v) in versions.iter().enumerate() {
        index.insert((v.name.clone(), v.version.clone()), i);
    }
    let mut names: Vec<String> = versions.iter().map(|v| v.name.clone()).collect();
    names.sort();
    names.dedup();
    for chunk in names.chunks(IN_CHUNK) {
        let ph = placeholders(chunk.len());
        let sql = format!("SELECT name, version, \"key\", value FROM model_version_tags WHERE workspace = 'default' AND name IN ({ph}) ORDER BY \"key\"");
        conn.query(
            &sql,
            &chunk.iter().map(Value::from).collect::<Vec<Value>>(),
            &mut |r| {
                let key = (r.get::<String>(0)?, r.get::<i64>(1)?.to_string());
                if let Some(&i) = index.get(&key) {
                    versions[i].tags.push(RegistryTag {
                        key: r.get(2)?,
                        value: r.get::<Option<String>>(3)?.unwrap_or_default(),
                    });
                }
                Ok(())
            },
        )?;
        if with_aliases {
            let sql = format!("SELECT name, version, alias FROM registered_model_aliases WHERE workspace = 'default' AND name IN ({ph}) ORDER BY alias");
            conn.query(
                &sql,
                &chunk.iter().map(Value::from).collect::<Vec<Value>>(),
                &mut |r| {
                    let key = (r.get::<String>(0)?, r.get::<i64>(1)?.to_string());
                    if let Some(&i) = index.get(&key) {
                        versions[i].aliases.push(r.get(2)?);
                    }
                    Ok(())
                },
            )?;
        }
    }
    Ok(())
}

/// One live (not deleted) version, with tags and aliases.
fn get_version(conn: &mut dyn Db, name: &str, version: i64) -> Result<ModelVersion, Wrapped> {
    let sql = format!(
        "SELECT {MV_COLUMNS} FROM model_versions mv WHERE mv.workspace = 'default' AND mv.name = ? AND mv.version = ? AND mv.current_stage != '{STAGE_DELETED_INTERNAL}'"
    );
    query_versions(
        conn,
        &sql,
        &[Value::Text(name.into()), Value::Int(version)],
        true,
    )?
    .pop()
    .ok_or_else(|| Wrapped::Store(version_not_found(name, version)))
}

fn require_model(conn: &mut dyn Db, name: &str) -> Result<(), Wrapped> {
    let found: Option<i64> = conn.query_opt(
        "SELECT 1 FROM registered_models WHERE workspace = 'default' AND name = ?",
        &args![name],
        |r| r.get(0),
    )?;
    match found {
        Some(_) => Ok(()),
        None => err(model_not_found(name)),
    }
}

/// Whole registered models for `names`, in order: tags, aliases and the newest version per stage.
fn load_models(conn: &mut dyn Db, names: &[String]) -> Result<Vec<RegisteredModel>, Wrapped> {
    let mut models: Vec<Option<RegisteredModel>> = vec![None; names.len()];
    let pos: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    for chunk in names.chunks(IN_CHUNK) {
        let ph = placeholders(chunk.len());
        {
            let sql = format!("SELECT name, creation_time, last_updated_time, description FROM registered_models WHERE workspace = 'default' AND name IN ({ph})");
            conn.query(
                &sql,
                &chunk.iter().map(Value::from).collect::<Vec<Value>>(),
                &mut |r| {
                    let name: String = r.get(0)?;
                    if let Some(&i) = pos.get(name.as_str()) {
                        models[i] = Some(RegisteredModel {
                            name,
                            creation_timestamp: r.get::<Option<i64>>(1)?.unwrap_or(0),
                            last_updated_timestamp: r.get(2)?,
                            description: r.get::<Option<String>>(3)?.filter(|d| !d.is_empty()),
                            latest_versions: Vec::new(),
                            tags: Vec::new(),
                            aliases: Vec::new(),
                        });
                    }
                    Ok(())
                },
            )?;
        }
        let mut each = |sql: String,
                        f: &mut dyn FnMut(&mut RegisteredModel, &Row<'_>) -> DbResult<()>|
         -> Result<(), Wrapped> {
            conn.query(
                &sql,
                &chunk.iter().map(Value::from).collect::<Vec<Value>>(),
                &mut |r| {
                    let name: String = r.get(0)?;
                    if let Some(m) = pos.get(name.as_str()).and_then(|&i| models[i].as_mut()) {
                        f(m, r)?;
                    }
                    Ok(())
                },
            )?;
            Ok(())
        };
        each(format!("SELECT name, \"key\", value FROM registered_model_tags WHERE workspace = 'default' AND name IN ({ph}) ORDER BY \"key\""), &mut |m, r| {
            m.tags.push(RegistryTag { key: r.get(1)?, value: r.get::<Option<String>>(2)?.unwrap_or_default() });
            Ok(())
        })?;
        each(format!("SELECT name, alias, version FROM registered_model_aliases WHERE workspace = 'default' AND name IN ({ph}) ORDER BY alias"), &mut |m, r| {
            m.aliases.push(RegisteredModelAlias { alias: r.get(1)?, version: r.get::<i64>(2)?.to_string() });
            Ok(())
        })?;
        // The newest live version in each stage.
        let sql = format!(
            "SELECT {MV_COLUMNS} FROM model_versions mv WHERE mv.workspace = 'default' AND mv.name IN ({ph}) AND mv.current_stage != '{STAGE_DELETED_INTERNAL}' \
             AND mv.version = (SELECT MAX(m2.version) FROM model_versions m2 WHERE m2.workspace = mv.workspace AND m2.name = mv.name AND m2.current_stage = mv.current_stage) \
             ORDER BY mv.name, mv.version"
        );
        let params: Vec<Value> = chunk.iter().map(|n| Value::Text(n.clone())).collect();
        for v in query_versions(conn, &sql, &params, false)? {
            if let Some(m) = pos.get(v.name.as_str()).and_then(|&i| models[i].as_mut()) {
                m.latest_versions.push(v);
            }
        }
    }
    Ok(models.into_iter().flatten().collect())
}

fn get_model(conn: &mut dyn Db, name: &str) -> Result<RegisteredModel, Wrapped> {
    load_models(conn, &[name.to_string()])?
        .pop()
        .ok_or_else(|| Wrapped::Store(model_not_found(name)))
}

fn touch_model(tx: &mut dyn Db, name: &str, now: i64) -> Result<(), Wrapped> {
    tx.execute("UPDATE registered_models SET last_updated_time = ? WHERE workspace = 'default' AND name = ?", &args![now, name])?;
    Ok(())
}

fn search_names(
    conn: &mut dyn Db,
    filter: Fragment,
    order: &str,
    table: &str,
    q: &SearchRegistry,
) -> Result<Page<String>, Wrapped> {
    let mut f = Fragment::new(format!(
        "SELECT rm.name FROM {table} rm WHERE {} ORDER BY {order} LIMIT ? OFFSET ?",
        filter.sql
    ));
    f.params = filter.params;
    f.params.push(Value::Int(q.max_results + 1));
    f.params.push(Value::Int(q.offset));
    let names = conn.query_map(&f.sql, &f.params, |r| r.get::<String>(0))?;
    Ok(paged(names, q.max_results, q.offset))
}

#[async_trait]
impl RegistryStore for SqlStore {
    async fn create_registered_model(
        &self,
        name: &str,
        tags: Vec<RegistryTag>,
        description: Option<String>,
    ) -> StoreResult<RegisteredModel> {
        let name = name.to_string();
        self.write(move |tx| {
            let exists: Option<i64> = tx.query_opt("SELECT 1 FROM registered_models WHERE workspace = 'default' AND name = ?", &args![&name], |r| r.get(0))?;
            if exists.is_some() {
                return err(StoreError::AlreadyExists(format!("Registered Model (name={name}) already exists.")));
            }
            let now = now_millis();
            tx.execute("INSERT INTO registered_models (name, creation_time, last_updated_time, description, workspace) VALUES (?, ?, ?, ?, 'default')", &args![name, now, now, description])?;
            let stmt = tx.dialect().upsert("registered_model_tags (\"key\", value, name, workspace) VALUES (?, ?, ?, 'default')", "workspace, \"key\", name", &["value"]);
for t in &tags {
                tx.execute(&stmt, &args![t.key, t.value, name])?;
            }
            get_model(tx, &name)
        })
        .await
    }

    async fn get_registered_model(&self, name: &str) -> StoreResult<RegisteredModel> {
        let name = name.to_string();
        self.read(move |conn| get_model(conn, &name)).await
    }

    async fn rename_registered_model(
        &self,
        name: &str,
        new_name: &str,
    ) -> StoreResult<RegisteredModel> {
        let (name, new_name) = (name.to_string(), new_name.to_string());
        self.write(move |tx| {
            require_model(tx, &name)?;
            if name == new_name {
                return get_model(tx, &name);
            }
            let taken: Option<i64> = tx.query_opt("SELECT 1 FROM registered_models WHERE workspace = 'default' AND name = ?", &args![&new_name], |r| r.get(0))?;
            if taken.is_some() {
                return err(StoreError::AlreadyExists(format!("Registered Model (name={new_name}) already exists.")));
            }
            let now = now_millis();
            // Versions, their tags, model tags and aliases follow through ON UPDATE CASCADE.
            tx.execute("UPDATE registered_models SET name = ?, last_updated_time = ? WHERE workspace = 'default' AND name = ?", &args![new_name, now, name])?;
            tx.execute("UPDATE model_versions SET last_updated_time = ? WHERE workspace = 'default' AND name = ?", &args![now, new_name])?;
            get_model(tx, &new_name)
        })
        .await
    }

    async fn update_registered_model(
        &self,
        name: &str,
        description: Option<String>,
    ) -> StoreResult<RegisteredModel> {
        let name = name.to_string();
        self.write(move |tx| {
            require_model(tx, &name)?;
            tx.execute("UPDATE registered_models SET description = ?, last_updated_time = ? WHERE workspace = 'default' AND name = ?", &args![description, now_millis(), name])?;
            get_model(tx, &name)
        })
        .await
    }

    async fn delete_registered_model(&self, name: &str) -> StoreResult<()> {
        let name = name.to_string();
        self.write(move |tx| {
            require_model(tx, &name)?;
            for sql in [
                "DELETE FROM model_version_tags WHERE workspace = 'default' AND name = ?",
                "DELETE FROM registered_model_aliases WHERE workspace = 'default' AND name = ?",
                "DELETE FROM model_versions WHERE workspace = 'default' AND name = ?",
                "DELETE FROM registered_model_tags WHERE workspace = 'default' AND name = ?",
                "DELETE FROM registered_models WHERE workspace = 'default' AND name = ?",
            ] {
                tx.execute(sql, &args![&name])?;
            }
            Ok(())
        })
        .await
    }

    async fn search_registered_models(
        &self,
        q: SearchRegistry,
    ) -> StoreResult<Page<RegisteredModel>> {
        self.read(move |conn| {
            let filter = query::registered_model_filter(conn.dialect(), &q.filter);
            let order = query::registered_model_order_by(&q.order_by);
            let page = search_names(conn, filter, &order, "registered_models", &q)?;
            Ok(Page {
                items: load_models(conn, &page.items)?,
                next_page_token: page.next_page_token,
            })
        })
        .await
    }

    async fn set_registered_model_tag(&self, name: &str, tag: RegistryTag) -> StoreResult<()> {
        let name = name.to_string();
        self.write(move |tx| {
            require_model(tx, &name)?;
            tx.execute(&tx.dialect().upsert("registered_model_tags (\"key\", value, name, workspace) VALUES (?, ?, ?, 'default')", "workspace, \"key\", name", &["value"]), &args![tag.key, tag.value, name])?;
            Ok(())
        })
        .await
    }

    async fn delete_registered_model_tag(&self, name: &str, key: &str) -> StoreResult<()> {
        let (name, key) = (name.to_string(), key.to_string());
        self.write(move |tx| {
            require_model(tx, &name)?;
            tx.execute("DELETE FROM registered_model_tags WHERE workspace = 'default' AND name = ? AND \"key\" = ?", &args![name, key])?;
            Ok(())
        })
        .await
    }

    async fn get_latest_versions(
        &self,
        name: &str,
        stages: Vec<String>,
    ) -> StoreResult<Vec<ModelVersion>> {
        let name = name.to_string();
        self.read(move |conn| {
            require_model(conn, &name)?;
            let stages: Vec<String> = if stages.is_empty() { ALL_STAGES.iter().map(|s| s.to_string()).collect() } else { stages.clone() };
            let sql = format!(
                "SELECT {MV_COLUMNS} FROM model_versions mv WHERE mv.workspace = 'default' AND mv.name = ? AND mv.current_stage IN ({}) \
                 AND mv.version = (SELECT MAX(m2.version) FROM model_versions m2 WHERE m2.workspace = mv.workspace AND m2.name = mv.name AND m2.current_stage = mv.current_stage) \
                 ORDER BY mv.version",
                placeholders(stages.len())
            );
            let mut params = vec![Value::Text(name.clone())];
            params.extend(stages.into_iter().map(Value::Text));
            query_versions(conn, &sql, &params, true)
        })
        .await
    }

    async fn create_model_version(&self, v: CreateModelVersion) -> StoreResult<ModelVersion> {
        self.write(move |tx| {
            // The model's row lock serializes registrations of one model across replicas
            // (SQLite's single writer already does), so MAX + 1 is unique and gapless.
            let sql = format!(
                "SELECT 1 FROM registered_models WHERE workspace = 'default' AND name = ?{}",
                tx.dialect().for_update()
            );
            if tx.query_opt(&sql, &args![v.name], |r| r.get::<i64>(0))?.is_none() {
                return err(model_not_found(&v.name));
            }
            let max: Option<i64> = tx.query_opt("SELECT MAX(version) FROM model_versions WHERE workspace = 'default' AND name = ?", &args![&v.name], |r| r.get(0))?.ok_or_else(no_rows)?;
            let version = max.unwrap_or(0) + 1;
            let now = now_millis();
            tx.execute("INSERT INTO model_versions (name, version, creation_time, last_updated_time, description, user_id, current_stage, source, run_id, status, status_message, run_link, storage_location, workspace) \
                 VALUES (?, ?, ?, ?, ?, NULL, 'None', ?, ?, 'READY', NULL, ?, ?, 'default')", &args![v.name, version, now, now, v.description, v.source, v.run_id, v.run_link, v.storage_location])?;
            let stmt = tx.dialect().upsert("model_version_tags (\"key\", value, name, version, workspace) VALUES (?, ?, ?, ?, 'default')", "workspace, \"key\", name, version", &["value"]);
for t in &v.tags {
                tx.execute(&stmt, &args![t.key, t.value, v.name, version])?;
            }
            touch_model(tx, &v.name, now)?;
            get_version(tx, &v.name, version)
        })
        .await
    }

    async fn get_model_version(&self, name: &str, version: i64) -> StoreResult<ModelVersion> {
        let name = name.to_string();
        self.read(move |conn| get_version(conn, &name, version))
            .await
    }

    async fn update_model_version(
        &self,
        name: &str,
        version: i64,
        description: Option<String>,
    ) -> StoreResult<ModelVersion> {
        let name = name.to_string();
        self.write(move |tx| {
            get_version(tx, &name, version)?;
            tx.execute("UPDATE model_versions SET description = ?, last_updated_time = ? WHERE workspace = 'default' AND name = ? AND version = ?", &args![description, now_millis(), name, version])?;
            get_version(tx, &name, version)
        })
        .await
    }

    async fn transition_model_version_stage(
        &self,
        name: &str,
        version: i64,
        stage: &str,
        archive_existing: bool,
    ) -> StoreResult<ModelVersion> {
        let (name, stage) = (name.to_string(), stage.to_string());
        self.write(move |tx| {
            get_version(tx, &name, version)?;
            let now = now_millis();
            if archive_existing {
                tx.execute("UPDATE model_versions SET current_stage = ?, last_updated_time = ? WHERE workspace = 'default' AND name = ? AND version != ? AND current_stage = ?", &args![STAGE_ARCHIVED, now, name, version, stage])?;
            }
            tx.execute("UPDATE model_versions SET current_stage = ?, last_updated_time = ? WHERE workspace = 'default' AND name = ? AND version = ?", &args![stage, now, name, version])?;
            touch_model(tx, &name, now)?;
            get_version(tx, &name, version)
        })
        .await
    }

    async fn delete_model_version(&self, name: &str, version: i64) -> StoreResult<()> {
        let name = name.to_string();
        self.write(move |tx| {
            get_version(tx, &name, version)?;
            let now = now_millis();
            tx.execute("DELETE FROM registered_model_aliases WHERE workspace = 'default' AND name = ? AND version = ?", &args![name, version])?;
            // The row stays so the number is never reused; what it pointed at is redacted.
            tx.execute("UPDATE model_versions SET current_stage = ?, last_updated_time = ?, description = NULL, user_id = NULL, source = 'REDACTED-SOURCE-PATH', \
                 run_id = 'REDACTED-RUN-ID', run_link = 'REDACTED-RUN-LINK', status_message = NULL WHERE workspace = 'default' AND name = ? AND version = ?", &args![STAGE_DELETED_INTERNAL, now, name, version])?;
            touch_model(tx, &name, now)?;
            Ok(())
        })
        .await
    }

    async fn search_model_versions(&self, q: SearchRegistry) -> StoreResult<Page<ModelVersion>> {
        self.read(move |conn| {
            let filter = query::model_version_filter(conn.dialect(), &q.filter);
            let order = query::model_version_order_by(&q.order_by);
            let mut params = filter.params;
            params.push(Value::Int(q.max_results + 1));
            params.push(Value::Int(q.offset));
            let sql = format!("SELECT {MV_COLUMNS} FROM model_versions mv WHERE {} ORDER BY {order} LIMIT ? OFFSET ?", filter.sql);
            let versions = query_versions(conn, &sql, &params, false)?;
            Ok(paged(versions, q.max_results, q.offset))
        })
        .await
    }

    async fn set_model_version_tag(
        &self,
        name: &str,
        version: i64,
        tag: RegistryTag,
    ) -> StoreResult<()> {
        let name = name.to_string();
        self.write(move |tx| {
            get_version(tx, &name, version)?;
            tx.execute(&tx.dialect().upsert("model_version_tags (\"key\", value, name, version, workspace) VALUES (?, ?, ?, ?, 'default')", "workspace, \"key\", name, version", &["value"]), &args![tag.key, tag.value, name, version])?;
            Ok(())
        })
        .await
    }

    async fn delete_model_version_tag(
        &self,
        name: &str,
        version: i64,
        key: &str,
    ) -> StoreResult<()> {
        let (name, key) = (name.to_string(), key.to_string());
        self.write(move |tx| {
            get_version(tx, &name, version)?;
            tx.execute("DELETE FROM model_version_tags WHERE workspace = 'default' AND name = ? AND version = ? AND \"key\" = ?", &args![name, version, key])?;
            Ok(())
        })
        .await
    }

    async fn set_registered_model_alias(
        &self,
        name: &str,
        alias: &str,
        version: i64,
    ) -> StoreResult<()> {
        let (name, alias) = (name.to_string(), alias.to_string());
        self.write(move |tx| {
            // A missing model is reported as a missing version, as MLflow does; aliases do
            // not count as an update of the model.
            get_version(tx, &name, version)?;
            tx.execute(&tx.dialect().upsert("registered_model_aliases (alias, version, name, workspace) VALUES (?, ?, ?, 'default')", "workspace, name, alias", &["version"]), &args![alias, version, name])?;
            Ok(())
        })
        .await
    }

    async fn delete_registered_model_alias(&self, name: &str, alias: &str) -> StoreResult<()> {
        let (name, alias) = (name.to_string(), alias.to_string());
        self.write(move |tx| {
            require_model(tx, &name)?;
            tx.execute("DELETE FROM registered_model_aliases WHERE workspace = 'default' AND name = ? AND alias = ?", &args![name, alias])?;
                        Ok(())
        })
        .await
    }

    async fn get_model_version_by_alias(
        &self,
        name: &str,
        alias: &str,
    ) -> StoreResult<ModelVersion> {
        let (name, alias) = (name.to_string(), alias.to_string());
        self.read(move |conn| {
            require_model(conn, &name)?;
            if alias.eq_ignore_ascii_case("latest") {
                // The reserved alias: the newest live version in any stage.
                let latest: Option<i64> = conn.query_opt(&format!("SELECT MAX(version) FROM model_versions WHERE workspace = 'default' AND name = ? AND current_stage != '{STAGE_DELETED_INTERNAL}'"), &args![&name], |r| r.get(0))?.ok_or_else(no_rows)?;
                return match latest {
                    Some(v) => get_version(conn, &name, v),
                    None => err(StoreError::NotFound(format!("Latest version not found for model {name}."))),
                };
            }
            let version: Option<i64> = conn.query_opt("SELECT version FROM registered_model_aliases WHERE workspace = 'default' AND name = ? AND alias = ?", &args![name, alias], |r| r.get(0))?;
            match version {
                Some(v) => get_version(conn, &name, v),
                // MLflow answers a missing alias of an existing model with 400, not 404.
                None => err(StoreError::InvalidParameter(format!("Registered model alias {alias} not found."))),
            }
        })
        .await
    }
}
