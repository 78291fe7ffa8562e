//! MLflow 3 logged models in MLflow's tables (`logged_models`, `logged_model_tags`,
//! `logged_model_params`, `logged_model_metrics`), and the run ↔ model links in `inputs`.
//! Functions here run inside the caller's connection or transaction.

use std::collections::HashMap;

use crate::args;
use crate::db::{placeholders, Db, DbResult, Row, Value};
use ferroflow_store::{CreateLoggedModel, Page, SearchLoggedModels, StoreError};
use ferroflow_types::tracking::{
    LoggedModel, LoggedModelData, LoggedModelInfo, LoggedModelParameter, LoggedModelTag, Metric,
    ModelOutput, LOGGED_MODEL_STATUSES,
};

use super::{
    err, paged, require_active_experiment, require_active_run, require_experiment_id, Wrapped,
    IN_CHUNK,
};
use crate::query::{self, Fragment};
use crate::{append_to_uri_path, now_millis};

fn model_not_found(model_id: &str) -> StoreError {
    StoreError::NotFound(format!("Logged model with ID '{model_id}' not found."))
}

const COLUMNS: &str = "lm.model_id, lm.experiment_id, lm.name, lm.artifact_location, lm.creation_timestamp_ms, lm.last_updated_timestamp_ms, lm.status, lm.lifecycle_stage, lm.model_type, lm.source_run_id, lm.status_message";

fn from_row(r: &Row<'_>) -> DbResult<LoggedModel> {
    let status: i64 = r.get(6)?;
    Ok(LoggedModel {
        info: LoggedModelInfo {
            model_id: r.get(0)?,
            experiment_id: r.get::<i64>(1)?.to_string(),
            name: r.get(2)?,
            artifact_uri: r.get(3)?,
            creation_timestamp_ms: r.get(4)?,
            last_updated_timestamp_ms: r.get(5)?,
            status: usize::try_from(status)
                .ok()
                .and_then(|i| LOGGED_MODEL_STATUSES.get(i))
                .unwrap_or(&LOGGED_MODEL_STATUSES[0])
                .to_string(),
            model_type: r.get::<Option<String>>(8)?.unwrap_or_default(),
            source_run_id: r.get::<Option<String>>(9)?.filter(|s| !s.is_empty()),
            status_message: r.get::<Option<String>>(10)?.filter(|s| !s.is_empty()),
            tags: Vec::new(),
        },
        data: LoggedModelData::default(),
        lifecycle_stage: r
            .get::<Option<String>>(7)?
            .unwrap_or_else(|| "active".into()),
    })
}

/// Loads whole logged models (with tags, params, metrics) for `ids`, in the order given.
pub(super) fn load(conn: &mut dyn Db, ids: &[String]) -> Result<Vec<LoggedModel>, Wrapped> {
    let mut models: Vec<Option<LoggedModel>> = vec![None; ids.len()];
    let pos: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    for chunk in ids.chunks(IN_CHUNK) {
        let ph = placeholders(chunk.len());
        let chunk_args: Vec<Value> = chunk.iter().map(Value::from).collect();
        conn.query(
            &format!("SELECT {COLUMNS} FROM logged_models lm WHERE lm.model_id IN ({ph})"),
            &chunk_args,
            &mut |r| {
                let m = from_row(r)?;
                if let Some(&i) = pos.get(m.info.model_id.as_str()) {
                    models[i] = Some(m);
                }
                Ok(())
            },
        )?;
        let mut each = |sql: String,
                        f: &mut dyn FnMut(&mut LoggedModel, &Row<'_>) -> DbResult<()>|
         -> Result<(), Wrapped> {
            conn.query(&sql, &chunk_args, &mut |r| {
                let id: String = r.get(0)?;
                if let Some(m) = pos.get(id.as_str()).and_then(|&i| models[i].as_mut()) {
                    f(m, r)?;
                }
                Ok(())
            })?;
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
                    value: r.get::<Option<f64>>(2)?.unwrap_or(f64::NAN),
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
    conn: &mut dyn Db,
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
fn experiment_of(conn: &mut dyn Db, model_id: &str) -> Result<i64, Wrapped> {
    conn.query_opt(
        "SELECT experiment_id FROM logged_models WHERE model_id = ?",
        &args![model_id],
        |r| r.get(0),
    )?
    .ok_or_else(|| Wrapped::Store(model_not_found(model_id)))
}

pub(super) fn create(tx: &mut dyn Db, m: &CreateLoggedModel) -> Result<LoggedModel, Wrapped> {
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
    tx.execute("INSERT INTO logged_models (model_id, experiment_id, name, artifact_location, creation_timestamp_ms, last_updated_timestamp_ms, status, lifecycle_stage, model_type, source_run_id, status_message) \
         VALUES (?, ?, ?, ?, ?, ?, 1, 'active', ?, ?, NULL)", &args![&model_id, experiment_id, &m.name, location, now, now, m.model_type.clone().unwrap_or_default(), &m.source_run_id])?;
    upsert_params(tx, &model_id, experiment_id, &m.params)?;
    upsert_tags(tx, &model_id, experiment_id, &m.tags)?;
    get(tx, &model_id, false)
}

fn upsert_tags(
    tx: &mut dyn Db,
    model_id: &str,
    experiment_id: i64,
    tags: &[LoggedModelTag],
) -> Result<(), Wrapped> {
    let sql = tx.dialect().upsert(
        "logged_model_tags (model_id, experiment_id, tag_key, tag_value) VALUES (?, ?, ?, ?)",
        "model_id, tag_key",
        &["tag_value"],
    );
    for t in tags {
        tx.execute(&sql, &args![model_id, experiment_id, &t.key, &t.value])?;
    }
    Ok(())
}

fn upsert_params(
    tx: &mut dyn Db,
    model_id: &str,
    experiment_id: i64,
    params: &[LoggedModelParameter],
) -> Result<(), Wrapped> {
    let sql = tx.dialect().upsert(
        "logged_model_params (model_id, experiment_id, param_key, param_value) VALUES (?, ?, ?, ?)",
        "model_id, param_key",
        &["param_value"],
    );
    for p in params {
        tx.execute(&sql, &args![model_id, experiment_id, &p.key, &p.value])?;
    }
    Ok(())
}

pub(super) fn finalize(
    tx: &mut dyn Db,
    model_id: &str,
    status: i64,
) -> Result<LoggedModel, Wrapped> {
    experiment_of(tx, model_id)?;
    tx.execute(
        "UPDATE logged_models SET status = ?, last_updated_timestamp_ms = ? WHERE model_id = ?",
        &args![status, now_millis(), model_id],
    )?;
    get(tx, model_id, true)
}

pub(super) fn delete(tx: &mut dyn Db, model_id: &str) -> Result<(), Wrapped> {
    experiment_of(tx, model_id)?;
    tx.execute("UPDATE logged_models SET lifecycle_stage = 'deleted', last_updated_timestamp_ms = ? WHERE model_id = ?", &args![now_millis(), model_id])?;
    Ok(())
}

pub(super) fn set_tags(
    tx: &mut dyn Db,
    model_id: &str,
    tags: &[LoggedModelTag],
) -> Result<(), Wrapped> {
    let experiment_id = experiment_of(tx, model_id)?;
    upsert_tags(tx, model_id, experiment_id, tags)
}

pub(super) fn delete_tag(tx: &mut dyn Db, model_id: &str, key: &str) -> Result<(), Wrapped> {
    experiment_of(tx, model_id)?;
    let n = tx.execute(
        "DELETE FROM logged_model_tags WHERE model_id = ? AND tag_key = ?",
        &args![model_id, key],
    )?;
    if n == 0 {
        return err(StoreError::NotFound(format!(
            "No tag with key '{key}' found for model with ID '{model_id}'."
        )));
    }
    Ok(())
}

pub(super) fn log_params(
    tx: &mut dyn Db,
    model_id: &str,
    params: &[LoggedModelParameter],
) -> Result<(), Wrapped> {
    let experiment_id = experiment_of(tx, model_id)?;
    upsert_params(tx, model_id, experiment_id, params)
}

/// Metrics that name a logged model are also recorded against it (MLflow 3 does both).
pub(super) fn log_model_metrics(
    tx: &mut dyn Db,
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
        let sql = tx.dialect().insert_ignore(
            "logged_model_metrics (model_id, metric_name, metric_timestamp_ms, metric_step, metric_value, experiment_id, run_id, dataset_uuid, dataset_name, dataset_digest) \
             VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
            "model_id",
        );
        tx.execute(
            &sql,
            &args![
                model_id,
                &m.key,
                m.timestamp,
                m.step,
                value,
                experiment_id,
                run_id,
                &m.dataset_name,
                &m.dataset_digest
            ],
        )?;
    }
    Ok(())
}

pub(super) fn log_outputs(
    tx: &mut dyn Db,
    run_id: &str,
    models: &[ModelOutput],
) -> Result<(), Wrapped> {
    require_active_run(tx, run_id)?;
    for m in models {
        experiment_of(tx, &m.model_id)?;
        let sql = tx.dialect().insert_ignore(
            "inputs (input_uuid, source_type, source_id, destination_type, destination_id, step) VALUES (?, 'RUN_OUTPUT', ?, 'MODEL_OUTPUT', ?, ?)",
            "input_uuid",
        );
        tx.execute(
            &sql,
            &args![
                uuid::Uuid::new_v4().simple().to_string(),
                run_id,
                &m.model_id,
                m.step
            ],
        )?;
    }
    Ok(())
}

pub(super) fn log_model_inputs(
    tx: &mut dyn Db,
    run_id: &str,
    model_ids: &[String],
) -> Result<(), Wrapped> {
    for model_id in model_ids {
        experiment_of(tx, model_id)?;
        let sql = tx.dialect().insert_ignore(
            "inputs (input_uuid, source_type, source_id, destination_type, destination_id, step) VALUES (?, 'RUN_INPUT', ?, 'MODEL_INPUT', ?, 0)",
            "input_uuid",
        );
        tx.execute(
            &sql,
            &args![uuid::Uuid::new_v4().simple().to_string(), run_id, model_id],
        )?;
    }
    Ok(())
}

pub(super) fn search(
    conn: &mut dyn Db,
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
    f.params.extend(ids.iter().map(|i| Value::Int(*i)));
    let filter = query::logged_model_filter(conn.dialect(), &q.filter);
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
    f.params.push(Value::Int(q.max_results + 1));
    f.params.push(Value::Int(q.offset));
    let model_ids = conn.query_strings(&f.sql, &f.params)?;
    let page = paged(model_ids, q.max_results, q.offset);
    Ok(Page {
        items: load(conn, &page.items)?,
        next_page_token: page.next_page_token,
    })
}
