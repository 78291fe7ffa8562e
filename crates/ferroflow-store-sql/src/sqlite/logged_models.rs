//! MLflow 3 logged models in MLflow's tables (`logged_models`, `logged_model_tags`,
//! `logged_model_params`, `logged_model_metrics`), and the run ↔ model links in `inputs`.
//! Functions here run inside the caller's connection or transaction.

use std::collections::HashMap;

use ferroflow_store::{CreateLoggedModel, Page, SearchLoggedModels, StoreError};
use ferroflow_types::tracking::{
    LoggedModel, LoggedModelData, LoggedModelInfo, LoggedModelParameter, LoggedModelTag, Metric,
    ModelOutput, LOGGED_MODEL_STATUSES,
};
use rusqlite::{params_from_iter, Connection, OptionalExtension, Transaction};

use super::{
    err, paged, placeholders, require_active_experiment, require_active_run, require_experiment_id,
    to_sql, Wrapped, DIALECT, IN_CHUNK,
};
use crate::query::{self, Fragment, SqlValue};
use crate::{append_to_uri_path, now_millis};

fn model_not_found(model_id: &str) -> StoreError {
    StoreError::NotFound(format!("Logged model with ID '{model_id}' not found."))
}

const COLUMNS: &str = "lm.model_id, lm.experiment_id, lm.name, lm.artifact_location, lm.creation_timestamp_ms, lm.last_updated_timestamp_ms, lm.status, lm.lifecycle_stage, lm.model_type, lm.source_run_id, lm.status_message";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LoggedModel> {
    let status: i64 = r.get(6)?;
    Ok(LoggedModel {
        info: LoggedModelInfo {
            model_id: r.get(0)?,
            experiment_id: r.get::<_, i64>(1)?.to_string(),
            name: r.get(2)?,
            artifact_uri: r.get(3)?,
            creation_timestamp_ms: r.get(4)?,
            last_updated_timestamp_ms: r.get(5)?,
            status: usize::try_from(status)
                .ok()
                .and_then(|i| LOGGED_MODEL_STATUSES.get(i))
                .unwrap_or(&LOGGED_MODEL_STATUSES[0])
                .to_string(),
            model_type: r.get::<_, Option<String>>(8)?.unwrap_or_default(),
            source_run_id: r.get::<_, Option<String>>(9)?.filter(|s| !s.is_empty()),
            status_message: r.get::<_, Option<String>>(10)?.filter(|s| !s.is_empty()),
            tags: Vec::new(),
        },
        data: LoggedModelData::default(),
        lifecycle_stage: r
            .get::<_, Option<String>>(7)?
            .unwrap_or_else(|| "active".into()),
    })
}

/// Loads whole logged models (with tags, params, metrics) for `ids`, in the order given.
pub(super) fn load(conn: &Connection, ids: &[String]) -> Result<Vec<LoggedModel>, Wrapped> {
    let mut models: Vec<Option<LoggedModel>> = vec![None; ids.len()];
    let pos: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    for chunk in ids.chunks(IN_CHUNK) {
        let ph = placeholders(chunk.len());
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM logged_models lm WHERE lm.model_id IN ({ph})"
        ))?;
        let mut rows = stmt.query(params_from_iter(chunk.iter()))?;
        while let Some(r) = rows.next()? {
            let m = from_row(r)?;
            if let Some(&i) = pos.get(m.info.model_id.as_str()) {
                models[i] = Some(m);
            }
        }
        let mut each =
            |sql: String,
             f: &mut dyn FnMut(&mut LoggedModel, &rusqlite::Row<'_>) -> rusqlite::Result<()>|
             -> Result<(), Wrapped> {
                let mut stmt = conn.prepare_cached(&sql)?;
                let mut rows = stmt.query(params_from_iter(chunk.iter()))?;
                while let Some(r) = rows.next()? {
                    let id: String = r.get(0)?;
                    if let Some(m) = pos.get(id.as_str()).and_then(|&i| models[i].as_mut()) {
                        f(m, r)?;
                    }
                }
                Ok(())
            };
        each(format!("SELECT model_id, tag_key, tag_value FROM logged_model_tags WHERE model_id IN ({ph}) ORDER BY tag_key"), &mut |m, r| {
            m.info.tags.push(LoggedModelTag { key: r.get(1)?, value: r.get(2)? });
            Ok(())
        })?;
        each(format!("SELECT model_id, param_key, param_value FROM logged_model_params WHERE model_id IN ({ph}) ORDER BY param_key"), &mut |m, r| {
            m.data.params.push(LoggedModelParameter { key: r.get(1)?, value: r.get(2)? });
            Ok(())
        })?;
        each(
            format!(
                "SELECT model_id, metric_name, metric_value, metric_timestamp_ms, metric_step, run_id, dataset_name, dataset_digest \
                 FROM logged_model_metrics WHERE model_id IN ({ph}) ORDER BY metric_name, metric_step, metric_timestamp_ms"
            ),
            &mut |m, r| {
                m.data.metrics.push(Metric {
                    key: r.get(1)?,
                    value: r.get::<_, Option<f64>>(2)?.unwrap_or(f64::NAN),
                    timestamp: r.get(3)?,
                    step: r.get(4)?,
                    run_id: r.get(5)?,
                    dataset_name: r.get(6)?,
                    dataset_digest: r.get(7)?,
                    model_id: Some(m.info.model_id.clone()),
                });
                Ok(())
            },
        )?;
    }
    Ok(models.into_iter().flatten().collect())
}

/// The model, or RESOURCE_DOES_NOT_EXIST; deleted models only with `allow_deleted`.
pub(super) fn get(
    conn: &Connection,
    model_id: &str,
    allow_deleted: bool,
) -> Result<LoggedModel, Wrapped> {
    let model = load(conn, &[model_id.to_string()])?.pop();
    match model {
        Some(m) if allow_deleted || m.lifecycle_stage != "deleted" => Ok(m),
        _ => err(model_not_found(model_id)),
    }
}

/// The experiment id of an existing model (deleted or not), for child rows.
fn experiment_of(conn: &Connection, model_id: &str) -> Result<i64, Wrapped> {
    conn.prepare_cached("SELECT experiment_id FROM logged_models WHERE model_id = ?")?
        .query_row([model_id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Wrapped(model_not_found(model_id)))
}

pub(super) fn create(tx: &Transaction<'_>, m: CreateLoggedModel) -> Result<LoggedModel, Wrapped> {
    let experiment = require_active_experiment(tx, &m.experiment_id)?;
    let experiment_id = require_experiment_id(&experiment.experiment_id)?;
    let model_id = format!("m-{}", uuid::Uuid::new_v4().simple());
    let location = append_to_uri_path(
        &append_to_uri_path(
            &append_to_uri_path(&experiment.artifact_location, "models"),
            &model_id,
        ),
        "artifacts",
    );
    let now = now_millis();
    tx.prepare_cached(
        "INSERT INTO logged_models (model_id, experiment_id, name, artifact_location, creation_timestamp_ms, last_updated_timestamp_ms, status, lifecycle_stage, model_type, source_run_id, status_message) \
         VALUES (?, ?, ?, ?, ?, ?, 1, 'active', ?, ?, NULL)",
    )?
    .execute(rusqlite::params![model_id, experiment_id, m.name, location, now, now, m.model_type.unwrap_or_default(), m.source_run_id])?;
    upsert_params(tx, &model_id, experiment_id, &m.params)?;
    upsert_tags(tx, &model_id, experiment_id, &m.tags)?;
    get(tx, &model_id, false)
}

fn upsert_tags(
    tx: &Transaction<'_>,
    model_id: &str,
    experiment_id: i64,
    tags: &[LoggedModelTag],
) -> Result<(), Wrapped> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO logged_model_tags (model_id, experiment_id, tag_key, tag_value) VALUES (?, ?, ?, ?) \
         ON CONFLICT (model_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value",
    )?;
    for t in tags {
        stmt.execute(rusqlite::params![model_id, experiment_id, t.key, t.value])?;
    }
    Ok(())
}

fn upsert_params(
    tx: &Transaction<'_>,
    model_id: &str,
    experiment_id: i64,
    params: &[LoggedModelParameter],
) -> Result<(), Wrapped> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO logged_model_params (model_id, experiment_id, param_key, param_value) VALUES (?, ?, ?, ?) \
         ON CONFLICT (model_id, param_key) DO UPDATE SET param_value = excluded.param_value",
    )?;
    for p in params {
        stmt.execute(rusqlite::params![model_id, experiment_id, p.key, p.value])?;
    }
    Ok(())
}

pub(super) fn finalize(
    tx: &Transaction<'_>,
    model_id: &str,
    status: i64,
) -> Result<LoggedModel, Wrapped> {
    experiment_of(tx, model_id)?;
    tx.prepare_cached(
        "UPDATE logged_models SET status = ?, last_updated_timestamp_ms = ? WHERE model_id = ?",
    )?
    .execute(rusqlite::params![status, now_millis(), model_id])?;
    get(tx, model_id, true)
}

pub(super) fn delete(tx: &Transaction<'_>, model_id: &str) -> Result<(), Wrapped> {
    experiment_of(tx, model_id)?;
    tx.prepare_cached("UPDATE logged_models SET lifecycle_stage = 'deleted', last_updated_timestamp_ms = ? WHERE model_id = ?")?
        .execute(rusqlite::params![now_millis(), model_id])?;
    Ok(())
}

pub(super) fn set_tags(
    tx: &Transaction<'_>,
    model_id: &str,
    tags: &[LoggedModelTag],
) -> Result<(), Wrapped> {
    let experiment_id = experiment_of(tx, model_id)?;
    upsert_tags(tx, model_id, experiment_id, tags)
}

pub(super) fn delete_tag(tx: &Transaction<'_>, model_id: &str, key: &str) -> Result<(), Wrapped> {
    experiment_of(tx, model_id)?;
    let n = tx
        .prepare_cached("DELETE FROM logged_model_tags WHERE model_id = ? AND tag_key = ?")?
        .execute(rusqlite::params![model_id, key])?;
    if n == 0 {
        return err(StoreError::NotFound(format!(
            "No tag with key '{key}' found for model with ID '{model_id}'."
        )));
    }
    Ok(())
}

pub(super) fn log_params(
    tx: &Transaction<'_>,
    model_id: &str,
    params: &[LoggedModelParameter],
) -> Result<(), Wrapped> {
    let experiment_id = experiment_of(tx, model_id)?;
    upsert_params(tx, model_id, experiment_id, params)
}

/// Metrics that name a logged model are also recorded against it (MLflow 3 does both).
pub(super) fn log_model_metrics(
    tx: &Transaction<'_>,
    run_id: &str,
    experiment_id: i64,
    metrics: &[Metric],
) -> Result<(), Wrapped> {
    let mut checked: HashMap<&str, ()> = HashMap::new();
    for m in metrics {
        let Some(model_id) = m.model_id.as_deref() else {
            continue;
        };
        if checked.insert(model_id, ()).is_none() {
            experiment_of(tx, model_id)?;
        }
        let (value, _) = super::stored_value(m.value);
        let value = if m.value.is_nan() { None } else { Some(value) };
        tx.prepare_cached(
            "INSERT OR IGNORE INTO logged_model_metrics (model_id, metric_name, metric_timestamp_ms, metric_step, metric_value, experiment_id, run_id, dataset_uuid, dataset_name, dataset_digest) \
             VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
        )?
        .execute(rusqlite::params![model_id, m.key, m.timestamp, m.step, value, experiment_id, run_id, m.dataset_name, m.dataset_digest])?;
    }
    Ok(())
}

pub(super) fn log_outputs(
    tx: &Transaction<'_>,
    run_id: &str,
    models: &[ModelOutput],
) -> Result<(), Wrapped> {
    require_active_run(tx, run_id)?;
    for m in models {
        experiment_of(tx, &m.model_id)?;
        tx.prepare_cached(
            "INSERT OR IGNORE INTO inputs (input_uuid, source_type, source_id, destination_type, destination_id, step) VALUES (?, 'RUN_OUTPUT', ?, 'MODEL_OUTPUT', ?, ?)",
        )?
        .execute(rusqlite::params![uuid::Uuid::new_v4().simple().to_string(), run_id, m.model_id, m.step])?;
    }
    Ok(())
}

pub(super) fn log_model_inputs(
    tx: &Transaction<'_>,
    run_id: &str,
    model_ids: &[String],
) -> Result<(), Wrapped> {
    for model_id in model_ids {
        experiment_of(tx, model_id)?;
        tx.prepare_cached(
            "INSERT OR IGNORE INTO inputs (input_uuid, source_type, source_id, destination_type, destination_id, step) VALUES (?, 'RUN_INPUT', ?, 'MODEL_INPUT', ?, 0)",
        )?
        .execute(rusqlite::params![uuid::Uuid::new_v4().simple().to_string(), run_id, model_id])?;
    }
    Ok(())
}

pub(super) fn search(
    conn: &Connection,
    q: &SearchLoggedModels,
) -> Result<Page<LoggedModel>, Wrapped> {
    let ids = q
        .experiment_ids
        .iter()
        .map(|e| require_experiment_id(e))
        .collect::<Result<Vec<i64>, _>>()?;
    if ids.is_empty() {
        return Ok(Page {
            items: Vec::new(),
            next_page_token: None,
        });
    }
    let mut f = Fragment::new(format!(
        "SELECT lm.model_id FROM logged_models lm WHERE lm.experiment_id IN ({}) AND (lm.lifecycle_stage IS NULL OR lm.lifecycle_stage != 'deleted')",
        placeholders(ids.len())
    ));
    f.params.extend(ids.iter().map(|i| SqlValue::Int(*i)));
    let filter = query::logged_model_filter(DIALECT, &q.filter);
    if !filter.sql.is_empty() {
        f.sql.push_str(" AND ");
        f.sql.push_str(&filter.sql);
        f.params.extend(filter.params);
    }
    let order: Vec<(String, bool)> = q
        .order_by
        .iter()
        .map(|o| (o.field_name.clone(), o.ascending))
        .collect();
    let order = query::logged_model_order_by(&order);
    f.sql.push_str(" ORDER BY ");
    f.sql.push_str(&order.sql);
    f.params.extend(order.params);
    f.sql.push_str(" LIMIT ? OFFSET ?");
    f.params.push(SqlValue::Int(q.max_results + 1));
    f.params.push(SqlValue::Int(q.offset));
    let mut stmt = conn.prepare_cached(&f.sql)?;
    let rows = stmt.query_map(params_from_iter(f.params.iter().map(to_sql)), |r| {
        r.get::<_, String>(0)
    })?;
    let model_ids = rows.collect::<Result<Vec<_>, _>>()?;
    let page = paged(model_ids, q.max_results, q.offset);
    Ok(Page {
        items: load(conn, &page.items)?,
        next_page_token: page.next_page_token,
    })
}
