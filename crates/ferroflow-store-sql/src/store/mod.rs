//! The store's logic, written once for SQLite, PostgreSQL and MySQL/MariaDB: tracking here,
//! logged models, the registry and webhooks in the submodules. Every function runs against
//! a [`Db`] handed over by the [`Engine`], inside its transaction for writes; the SQL uses
//! `?` placeholders and asks the connection's [`Dialect`] where databases differ.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use ferroflow_store::{
    BulkIntervalQuery, ChunkSink, CreateLoggedModel, CreateRun, LogBatch, MetricHistoryQuery, Page,
    RunMetric, SearchExperiments, SearchLoggedModels, SearchRuns, StoreError, StoreResult,
    TrackingStore, UpdateRun,
};
use ferroflow_types::limits::INF_SUBSTITUTE;
use ferroflow_types::tracking::{
    Dataset, DatasetInput, Experiment, ExperimentTag, InputTag, LoggedModel, LoggedModelParameter,
    LoggedModelTag, Metric, ModelInput, ModelOutput, Param, Run, RunData, RunInfo, RunInputs,
    RunOutputs, RunTag,
};

mod history;
mod logged_models;
mod registry;
mod webhooks;

use crate::args;
use crate::db::{placeholders, Db, DbResult, Dialect, Row, Value, Wrapped};
use crate::engine::pool::{Connector, PoolEngine, PoolOptions};
use crate::engine::sqlite::SqliteEngine;
use crate::engine::{Engine, SMALL_WRITE_ENTRIES};
use crate::query::{self, Fragment};
use crate::schema::SchemaError;
use crate::uri::{BackendUri, SqlServerUri};
use crate::{append_to_uri_path, now_millis};

/// Rows per multi-row INSERT of metrics (6 parameters a row). On SQLite (no round trips)
/// 150 rows a statement measured best; on a server database a client's usual 1000-metric
/// batch goes in one statement, one round trip (6000 parameters, far below the 65535 limit).
fn insert_chunk(dialect: Dialect) -> usize {
    match dialect {
        Dialect::Sqlite => 150,
        Dialect::Postgres | Dialect::Mysql => 1000,
    }
}
/// Ids per `IN (...)` list when loading runs.
const IN_CHUNK: usize = 500;

#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub path: PathBuf,
    /// Root under which new experiments get their artifact location.
    pub default_artifact_root: String,
    /// Reader connections (the writer is extra).
    pub readers: usize,
}

/// A PostgreSQL or MySQL/MariaDB backend.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub uri: BackendUri,
    pub default_artifact_root: String,
    pub pool: PoolOptions,
}

/// Ferroflow's store over MLflow's SQL schema.
#[derive(Clone)]
pub struct SqlStore {
    inner: std::sync::Arc<Inner>,
}

struct Inner {
    engine: Engine,
    dialect: Dialect,
    default_artifact_root: String,
    /// Step counts of long metric histories, so sampled charts read only the points they show.
    history: history::HistoryCache,
}

/// Default memory for [`history::HistoryCache`] (`--history-cache-mb`).
pub const DEFAULT_HISTORY_CACHE_BYTES: usize = 16 << 20;

impl SqlStore {
    /// Opens (creating if empty) the SQLite MLflow database at `options.path`. A database at
    /// another schema revision or a non-MLflow file is refused before anything is written.
    pub fn open(options: SqliteOptions) -> Result<SqlStore, SchemaError> {
        let (engine, created) = SqliteEngine::open(
            &options.path,
            &options.default_artifact_root,
            options.readers,
        )?;
        if created {
            tracing::info!(path = %options.path.display(), "created MLflow schema");
        }
        Ok(SqlStore::with_engine(
            Engine::Sqlite(engine),
            Dialect::Sqlite,
            options.default_artifact_root,
        ))
    }

    /// Connects to a PostgreSQL or MySQL/MariaDB server (failing if it cannot be reached),
    /// creates MLflow's schema in an empty database or checks the existing one's revision.
    /// Blocking: call it from a blocking thread.
    pub fn connect(options: ServerOptions) -> Result<SqlStore, SchemaError> {
        let (connector, dialect, server) = match &options.uri {
            BackendUri::Postgres(s) => (
                Connector::Postgres(Box::new(
                    crate::db::postgres::config(s, options.pool.connect_timeout)
                        .map_err(SchemaError::Options)?,
                )),
                Dialect::Postgres,
                s,
            ),
            BackendUri::Mysql(s) => (
                Connector::Mysql(
                    crate::db::mysql::opts(s, options.pool.connect_timeout)
                        .map_err(SchemaError::Options)?,
                ),
                Dialect::Mysql,
                s,
            ),
            BackendUri::Sqlite(path) => {
                return SqlStore::open(SqliteOptions {
                    path: path.clone(),
                    default_artifact_root: options.default_artifact_root,
                    readers: options.pool.max_connections,
                })
            }
        };
        let (engine, mut first) = PoolEngine::new(connector, options.pool.clone())
            .map_err(|e| SchemaError::Unreachable(server_name(server), e.message))?;
        let created = crate::schema::ensure_server_schema(
            &mut first,
            dialect,
            &options.default_artifact_root,
        )?;
        if created {
            tracing::info!(database = %server, "created MLflow schema");
        }
        engine.adopt(first);
        Ok(SqlStore::with_engine(
            Engine::Server(engine),
            dialect,
            options.default_artifact_root,
        ))
    }

    fn with_engine(engine: Engine, dialect: Dialect, default_artifact_root: String) -> SqlStore {
        SqlStore {
            inner: std::sync::Arc::new(Inner {
                engine,
                dialect,
                default_artifact_root,
                history: history::HistoryCache::new(DEFAULT_HISTORY_CACHE_BYTES),
            }),
        }
    }

    /// Sets the memory the metric-history step counts may hold (0: no cache).
    pub fn set_history_cache_bytes(&self, bytes: usize) {
        self.inner.history.set_budget(bytes);
    }

    /// The SQLite file, when the store is on SQLite.
    pub fn path(&self) -> Option<&Path> {
        match &self.inner.engine {
            Engine::Sqlite(e) => Some(e.path()),
            Engine::Server(_) => None,
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.inner.dialect
    }

    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&mut dyn Db) -> Result<T, Wrapped> + Send + 'static,
    {
        self.inner.engine.read(f).await
    }

    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&mut dyn Db) -> Result<T, Wrapped> + Send + 'static,
    {
        self.inner.engine.write(f).await
    }

    async fn write_large<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&mut dyn Db) -> Result<T, Wrapped> + Send + 'static,
    {
        self.inner.engine.write_large(f).await
    }
}

/// `user@host:port/database`, for messages (never the password).
fn server_name(s: &SqlServerUri) -> String {
    s.to_string()
}

fn err<T>(e: StoreError) -> Result<T, Wrapped> {
    Err(Wrapped::Store(e))
}

fn parse_experiment_id(id: &str) -> Option<i64> {
    id.trim().parse::<i64>().ok()
}

/// Experiment ids are integers in MLflow's SQL schema; anything else is a client mistake.
fn require_experiment_id(id: &str) -> Result<i64, Wrapped> {
    parse_experiment_id(id).ok_or_else(|| {
        Wrapped::Store(StoreError::InvalidParameter(format!(
            "Invalid experiment ID '{id}'. Experiment ID must be a valid integer."
        )))
    })
}

fn experiment_not_found(id: &str) -> StoreError {
    StoreError::NotFound(format!("No Experiment with id={id} exists"))
}

fn run_not_found(id: &str) -> StoreError {
    StoreError::NotFound(format!("Run with id={id} not found"))
}

const EXPERIMENT_COLUMNS: &str =
    "experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time";

fn experiment_from_row(r: &Row<'_>) -> DbResult<Experiment> {
    Ok(Experiment {
        experiment_id: r.get::<i64>(0)?.to_string(),
        name: r.get(1)?,
        artifact_location: r.get::<Option<String>>(2)?.unwrap_or_default(),
        lifecycle_stage: r
            .get::<Option<String>>(3)?
            .unwrap_or_else(|| "active".into()),
        creation_time: r.get(4)?,
        last_update_time: r.get(5)?,
        tags: Vec::new(),
    })
}

fn attach_experiment_tags(
    conn: &mut dyn Db,
    experiments: &mut [Experiment],
) -> Result<(), Wrapped> {
    if experiments.is_empty() {
        return Ok(());
    }
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for (i, e) in experiments.iter().enumerate() {
        by_id.insert(e.experiment_id.clone(), i);
    }
    let ids: Vec<i64> = experiments
        .iter()
        .filter_map(|e| parse_experiment_id(&e.experiment_id))
        .collect();
    for chunk in ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT experiment_id, \"key\", value FROM experiment_tags WHERE experiment_id IN ({})",
            placeholders(chunk.len())
        );
        conn.query(
            &sql,
            &chunk.iter().map(Value::from).collect::<Vec<Value>>(),
            &mut |r| {
                let id: i64 = r.get(0)?;
                if let Some(&i) = by_id.get(&id.to_string()) {
                    experiments[i].tags.push(ExperimentTag {
                        key: r.get(1)?,
                        value: r.get::<Option<String>>(2)?.unwrap_or_default(),
                    });
                }
                Ok(())
            },
        )?;
    }
    Ok(())
}

/// The experiment's row, without its tags (one query).
fn load_experiment_row(conn: &mut dyn Db, experiment_id: &str) -> Result<Experiment, Wrapped> {
    let id = require_experiment_id(experiment_id)?;
    let e = conn.query_opt(
        &format!("SELECT {EXPERIMENT_COLUMNS} FROM experiments WHERE experiment_id = ?"),
        &args![id],
        experiment_from_row,
    )?;
    e.ok_or_else(|| Wrapped::Store(experiment_not_found(experiment_id)))
}

fn load_experiment(conn: &mut dyn Db, experiment_id: &str) -> Result<Experiment, Wrapped> {
    let e = load_experiment_row(conn, experiment_id)?;
    let mut one = [e];
    attach_experiment_tags(conn, &mut one)?;
    let [e] = one;
    Ok(e)
}

/// The experiment (row only: `tags` left empty), refused unless it is active.
fn require_active_experiment(
    conn: &mut dyn Db,
    experiment_id: &str,
) -> Result<Experiment, Wrapped> {
    let e = load_experiment_row(conn, experiment_id)?;
    if e.lifecycle_stage != "active" {
        return err(StoreError::InvalidParameter(format!(
            "The experiment {experiment_id} must be in the 'active' state. Current state is {}.",
            e.lifecycle_stage
        )));
    }
    Ok(e)
}

const RUN_COLUMNS: &str = "run_uuid, name, user_id, status, start_time, end_time, lifecycle_stage, artifact_uri, experiment_id";

fn run_info_from_row(r: &Row<'_>) -> DbResult<RunInfo> {
    let id: String = r.get(0)?;
    Ok(RunInfo {
        run_uuid: id.clone(),
        run_id: id,
        run_name: r.get::<Option<String>>(1)?.unwrap_or_default(),
        user_id: r.get::<Option<String>>(2)?.unwrap_or_default(),
        status: r
            .get::<Option<String>>(3)?
            .unwrap_or_else(|| "RUNNING".into()),
        start_time: r.get(4)?,
        end_time: r.get(5)?,
        lifecycle_stage: r
            .get::<Option<String>>(6)?
            .unwrap_or_else(|| "active".into()),
        artifact_uri: r.get::<Option<String>>(7)?.unwrap_or_default(),
        experiment_id: r
            .get::<Option<i64>>(8)?
            .map(|i| i.to_string())
            .unwrap_or_default(),
    })
}

fn load_run_info(conn: &mut dyn Db, run_id: &str) -> Result<RunInfo, Wrapped> {
    conn.query_opt(
        &format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_uuid = ?"),
        &args![run_id],
        run_info_from_row,
    )?
    .ok_or_else(|| Wrapped::Store(run_not_found(run_id)))
}

fn require_active_run(conn: &mut dyn Db, run_id: &str) -> Result<RunInfo, Wrapped> {
    let info = load_run_info(conn, run_id)?;
    if info.lifecycle_stage != "active" {
        return err(StoreError::InvalidParameter(format!(
            "The run {run_id} must be in the 'active' state. Current state is {}.",
            info.lifecycle_stage
        )));
    }
    Ok(info)
}

fn metric_value(value: f64, is_nan: bool) -> f64 {
    if is_nan {
        f64::NAN
    } else {
        value
    }
}

/// Runs `sql` (whose first column is a run id and whose parameters are `ids`) and hands
/// each row to `f` with the run it belongs to.
fn for_each_run_row(
    conn: &mut dyn Db,
    ids: &[String],
    pos: &HashMap<&str, usize>,
    runs: &mut [Option<Run>],
    sql: &str,
    f: &mut dyn FnMut(&mut Run, &Row<'_>) -> DbResult<()>,
) -> Result<(), Wrapped> {
    conn.query(
        sql,
        &ids.iter().map(Value::from).collect::<Vec<Value>>(),
        &mut |r| {
            let id: String = r.get(0)?;
            if let Some(run) = pos.get(id.as_str()).and_then(|&i| runs[i].as_mut()) {
                f(run, r)?;
            }
            Ok(())
        },
    )?;
    Ok(())
}

/// The ids of a page of `runs/search`, in order, and the next page's token.
fn search_run_ids(conn: &mut dyn Db, q: &SearchRuns) -> Result<Page<String>, Wrapped> {
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
    let (joins, order, inner) = query::run_order_by(conn.dialect(), &q.order_by, &q.filter);
    let stages = q.view_type.lifecycle_stages();
    let mut f = Fragment::new(format!("SELECT runs.run_uuid FROM runs{} WHERE runs.experiment_id IN ({}) AND runs.lifecycle_stage IN ({})", joins.sql, placeholders(ids.len()), placeholders(stages.len())));
    f.params.extend(joins.params);
    f.params.extend(ids.iter().map(|i| Value::Int(*i)));
    f.params
        .extend(stages.iter().map(|s| Value::Text(s.to_string())));
    let filter = query::run_filter(conn.dialect(), &q.filter, &inner);
    if !filter.sql.is_empty() {
        f.sql.push_str(" AND ");
        f.sql.push_str(&filter.sql);
        f.params.extend(filter.params);
    }
    f.sql.push_str(" ORDER BY ");
    f.sql.push_str(&order);
    f.sql.push_str(" LIMIT ? OFFSET ?");
    f.params.push(Value::Int(q.max_results + 1));
    f.params.push(Value::Int(q.offset));
    let run_ids = conn.query_strings(&f.sql, &f.params)?;
    Ok(paged(run_ids, q.max_results, q.offset))
}

/// Loads whole runs (info, params, latest metrics, tags, inputs, outputs) for `ids`, in the
/// order given, with a fixed number of queries per chunk of ids.
fn load_runs(conn: &mut dyn Db, ids: &[String]) -> Result<Vec<Run>, Wrapped> {
    let mut runs: Vec<Option<Run>> = vec![None; ids.len()];
    let mut pos: HashMap<&str, usize> = HashMap::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        pos.insert(id.as_str(), i);
    }
    for chunk in ids.chunks(IN_CHUNK) {
        let ph = placeholders(chunk.len());
        {
            conn.query(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_uuid IN ({ph})"),
                &chunk.iter().map(Value::from).collect::<Vec<Value>>(),
                &mut |r| {
                    let info = run_info_from_row(r)?;
                    if let Some(&i) = pos.get(info.run_id.as_str()) {
                        runs[i] = Some(Run {
                            info,
                            data: RunData::default(),
                            inputs: RunInputs::default(),
                            outputs: RunOutputs::default(),
                        });
                    }
                    Ok(())
                },
            )?;
        }
        for_each_run_row(
            conn,
            chunk,
            &pos,
            &mut runs,
            &format!("SELECT run_uuid, \"key\", value FROM params WHERE run_uuid IN ({ph}) ORDER BY \"key\""),
            &mut |run, r| {
                run.data.params.push(Param { key: r.get(1)?, value: r.get(2)? });
                Ok(())
            },
        )?;
        for_each_run_row(
            conn,
            chunk,
            &pos,
            &mut runs,
            &format!("SELECT run_uuid, \"key\", value FROM tags WHERE run_uuid IN ({ph}) ORDER BY \"key\""),
            &mut |run, r| {
                run.data.tags.push(RunTag { key: r.get(1)?, value: r.get::<Option<String>>(2)?.unwrap_or_default() });
                Ok(())
            },
        )?;
        for_each_run_row(
            conn,
            chunk,
            &pos,
            &mut runs,
            &format!("SELECT run_uuid, \"key\", value, timestamp, step, is_nan FROM latest_metrics WHERE run_uuid IN ({ph}) ORDER BY \"key\""),
            &mut |run, r| {
                run.data.metrics.push(Metric {
                    key: r.get(1)?,
                    value: metric_value(r.get(2)?, r.get(5)?),
                    timestamp: r.get::<Option<i64>>(3)?.unwrap_or(0),
                    step: r.get(4)?,
                    ..Default::default()
                });
                Ok(())
            },
        )?;
        // Dataset inputs, with their input tags folded in afterwards.
        let mut input_index: HashMap<String, (usize, usize)> = HashMap::new();
        for_each_run_row(
            conn,
            chunk,
            &pos,
            &mut runs,
            &format!(
                "SELECT i.destination_id, i.input_uuid, d.name, d.digest, d.dataset_source_type, d.dataset_source, d.dataset_schema, d.dataset_profile \
                 FROM inputs i JOIN datasets d ON d.dataset_uuid = i.source_id \
                 WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN' AND i.destination_id IN ({ph}) ORDER BY d.name, d.digest"
            ),
            &mut |run, r| {
                let input_uuid: String = r.get(1)?;
                if let Some(&i) = pos.get(run.info.run_id.as_str()) {
                    input_index.insert(input_uuid, (i, run.inputs.dataset_inputs.len()));
                }
                run.inputs.dataset_inputs.push(DatasetInput {
                    tags: Vec::new(),
                    dataset: Dataset {
                        name: r.get(2)?,
                        digest: r.get(3)?,
                        source_type: r.get(4)?,
                        source: r.get(5)?,
                        schema: r.get(6)?,
                        profile: r.get(7)?,
                    },
                });
                Ok(())
            },
        )?;
        if !input_index.is_empty() {
            let uuids: Vec<String> = input_index.keys().cloned().collect();
            for uchunk in uuids.chunks(IN_CHUNK) {
                let sql = format!(
                    "SELECT input_uuid, name, value FROM input_tags WHERE input_uuid IN ({}) ORDER BY name",
                    placeholders(uchunk.len())
                );
                conn.query(
                    &sql,
                    &uchunk.iter().map(Value::from).collect::<Vec<Value>>(),
                    &mut |r| {
                        let uuid: String = r.get(0)?;
                        if let Some(&(ri, di)) = input_index.get(&uuid) {
                            if let Some(run) = runs[ri].as_mut() {
                                run.inputs.dataset_inputs[di].tags.push(InputTag {
                                    key: r.get(1)?,
                                    value: r.get(2)?,
                                });
                            }
                        }
                        Ok(())
                    },
                )?;
            }
        }
        // The run's logged models, as outputs and as inputs, in one query.
        for_each_run_row(
            conn,
            chunk,
            &pos,
            &mut runs,
            &format!(
                "SELECT source_id, destination_id, step, source_type FROM inputs \
                 WHERE ((source_type = 'RUN_OUTPUT' AND destination_type = 'MODEL_OUTPUT') \
                     OR (source_type = 'RUN_INPUT' AND destination_type = 'MODEL_INPUT')) \
                 AND source_id IN ({ph})"
            ),
            &mut |run, r| {
                let model_id = r.get(1)?;
                if r.get::<String>(3)? == "RUN_OUTPUT" {
                    run.outputs.model_outputs.push(ModelOutput {
                        model_id,
                        step: r.get(2)?,
                    });
                } else {
                    run.inputs.model_inputs.push(ModelInput { model_id });
                }
                Ok(())
            },
        )?;
    }
    Ok(runs.into_iter().flatten().collect())
}

fn page_token(offset: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{{\"offset\": {offset}}}"))
}

/// Query rows `LIMIT max+1`: the extra row tells whether another page exists.
fn paged<T>(mut items: Vec<T>, max_results: i64, offset: i64) -> Page<T> {
    let max = max_results.max(0) as usize;
    let next_page_token = if items.len() > max {
        items.truncate(max);
        Some(page_token(offset + max_results))
    } else {
        None
    };
    Page {
        items,
        next_page_token,
    }
}

/// Rows per multi-row INSERT of tags or params (3 parameters a row).
const ROWS_PER_INSERT: usize = 300;

/// `(?, ?, ?), (?, ?, ?)`: `rows` groups of `columns` placeholders.
fn value_rows(rows: usize, columns: usize) -> String {
    let one = format!("({})", placeholders(columns));
    vec![one; rows].join(", ")
}

/// Tags by key, the last value winning for a key given twice (as successive set-tag calls
/// would), in key order.
fn tags_by_key(tags: &[RunTag]) -> std::collections::BTreeMap<&str, &str> {
    tags.iter()
        .map(|t| (t.key.as_str(), t.value.as_str()))
        .collect()
}

/// Writes (inserts or replaces) a run's tags, a few hundred per statement.
fn upsert_tag_rows(
    tx: &mut dyn Db,
    run_id: &str,
    tags: &std::collections::BTreeMap<&str, &str>,
) -> Result<(), Wrapped> {
    let rows: Vec<(&&str, &&str)> = tags.iter().collect();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let sql = tx.dialect().upsert(
            &format!(
                "tags (\"key\", value, run_uuid) VALUES {}",
                value_rows(chunk.len(), 3)
            ),
            "\"key\", run_uuid",
            &["value"],
        );
        let mut values = Vec::with_capacity(chunk.len() * 3);
        for (key, value) in chunk {
            values.extend(args![key, value, run_id]);
        }
        tx.execute(&sql, &values)?;
    }
    Ok(())
}

/// Sets tags on an existing run; `mlflow.runName` also renames the run, as in MLflow.
fn insert_tags(tx: &mut dyn Db, run_id: &str, tags: &[RunTag]) -> Result<(), Wrapped> {
    let by_key = tags_by_key(tags);
    upsert_tag_rows(tx, run_id, &by_key)?;
    if let Some(name) = by_key.get("mlflow.runName") {
        tx.execute(
            "UPDATE runs SET name = ? WHERE run_uuid = ?",
            &args![name, run_id],
        )?;
    }
    Ok(())
}

/// How MLflow stores a metric value: NaN as 0 with is_nan, ±inf as ±max double.
fn stored_value(v: f64) -> (f64, bool) {
    if v.is_nan() {
        (0.0, true)
    } else if v.is_infinite() {
        (
            if v > 0.0 {
                INF_SUBSTITUTE
            } else {
                -INF_SUBSTITUTE
            },
            false,
        )
    } else {
        (v, false)
    }
}

fn log_metrics(tx: &mut dyn Db, run_id: &str, metrics: &[Metric]) -> Result<(), Wrapped> {
    if metrics.is_empty() {
        return Ok(());
    }
    for chunk in metrics.chunks(insert_chunk(tx.dialect())) {
        let mut sql =
            String::from("metrics (\"key\", value, timestamp, run_uuid, step, is_nan) VALUES ");
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 6);
        for (i, m) in chunk.iter().enumerate() {
            sql.push_str(if i == 0 {
                "(?, ?, ?, ?, ?, ?)"
            } else {
                ", (?, ?, ?, ?, ?, ?)"
            });
            let (v, nan) = stored_value(m.value);
            values.push(Value::Text(m.key.clone()));
            values.push(Value::Real(v));
            values.push(Value::Int(m.timestamp));
            values.push(Value::Text(run_id.to_string()));
            values.push(Value::Int(m.step));
            values.push(Value::Int(nan as i64));
        }
        let sql = tx.dialect().insert_ignore(&sql, "run_uuid");
        tx.execute(&sql, &values)?;
    }
    // latest_metrics keeps, per key, the point with the greatest (step, timestamp, value).
    let mut latest: HashMap<&str, (i64, i64, f64, bool)> = HashMap::new();
    for m in metrics {
        let (v, nan) = stored_value(m.value);
        let cand = (m.step, m.timestamp, v, nan);
        match latest.get(m.key.as_str()) {
            Some(cur) if (cur.0, cur.1, cur.2) >= (cand.0, cand.1, cand.2) => {}
            _ => {
                latest.insert(m.key.as_str(), cand);
            }
        }
    }
    match tx.dialect() {
        Dialect::Sqlite | Dialect::Postgres => {
            // One statement for every key of the batch (keys are distinct: `latest` is a map).
            let rows: Vec<_> = latest.into_iter().collect();
            for chunk in rows.chunks(insert_chunk(tx.dialect())) {
                let sql = format!(
                    "INSERT INTO latest_metrics (\"key\", value, timestamp, step, is_nan, run_uuid) VALUES {} \
                     ON CONFLICT (\"key\", run_uuid) DO UPDATE SET value = excluded.value, timestamp = excluded.timestamp, step = excluded.step, is_nan = excluded.is_nan \
                     WHERE (excluded.step, excluded.timestamp, excluded.value) > (latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)",
                    value_rows(chunk.len(), 6)
                );
                let mut values = Vec::with_capacity(chunk.len() * 6);
                for (key, (step, ts, v, nan)) in chunk {
                    values.extend(args![key, v, ts, step, nan, run_id]);
                }
                tx.execute(&sql, &values)?;
            }
        }
        // MySQL's upsert cannot compare against the old row once it starts assigning, so:
        // insert if absent, then replace only if the new point is greater.
        Dialect::Mysql => {
            let insert = tx.dialect().insert_ignore(
                "latest_metrics (\"key\", value, timestamp, step, is_nan, run_uuid) VALUES (?, ?, ?, ?, ?, ?)",
                "run_uuid",
            );
            for (key, (step, ts, v, nan)) in latest {
                tx.execute(&insert, &args![key, v, ts, step, nan, run_id])?;
                tx.execute(
                    "UPDATE latest_metrics SET value = ?, timestamp = ?, step = ?, is_nan = ? \
                     WHERE \"key\" = ? AND run_uuid = ? AND (?, ?, ?) > (step, timestamp, value)",
                    &args![v, ts, step, nan, key, run_id, step, ts, v],
                )?;
            }
        }
    }
    Ok(())
}

fn log_params(tx: &mut dyn Db, run_id: &str, params: &[Param]) -> Result<(), Wrapped> {
    if params.is_empty() {
        return Ok(());
    }
    let keys: Vec<&str> = params.iter().map(|p| p.key.as_str()).collect();
    let mut existing: HashMap<String, String> = HashMap::new();
    {
        let sql = format!(
            "SELECT \"key\", value FROM params WHERE run_uuid = ? AND \"key\" IN ({})",
            placeholders(keys.len())
        );
        let mut values: Vec<Value> = vec![Value::Text(run_id.to_string())];
        values.extend(keys.iter().map(|k| Value::Text(k.to_string())));
        tx.query(&sql, &values, &mut |r| {
            existing.insert(r.get(0)?, r.get(1)?);
            Ok(())
        })?;
    }
    let mut changed = Vec::new();
    let mut new_params = Vec::new();
    for p in params {
        match existing.get(&p.key) {
            Some(old) if old != &p.value => changed.push(format!(
                "{{'key': '{}', 'old_value': '{}', 'new_value': '{}'}}",
                p.key, old, p.value
            )),
            Some(_) => {}
            None => new_params.push(p),
        }
    }
    if !changed.is_empty() {
        return err(StoreError::InvalidParameter(format!(
            "Changing param values is not allowed. Params were already logged='[{}]' for run ID='{run_id}'.",
            changed.join(", ")
        )));
    }
    // A key repeated in the batch with the same value is written once.
    let mut seen = HashSet::new();
    new_params.retain(|p| seen.insert(p.key.as_str()));
    for chunk in new_params.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO params (\"key\", value, run_uuid) VALUES {}",
            value_rows(chunk.len(), 3)
        );
        let mut values = Vec::with_capacity(chunk.len() * 3);
        for p in chunk {
            values.extend(args![p.key, p.value, run_id]);
        }
        tx.execute(&sql, &values)?;
    }
    Ok(())
}

fn dataset_uuid_for(tx: &mut dyn Db, experiment_id: i64, d: &Dataset) -> Result<String, Wrapped> {
    let existing: Option<String> = tx.query_opt(
        "SELECT dataset_uuid FROM datasets WHERE experiment_id = ? AND name = ? AND digest = ?",
        &args![experiment_id, d.name, d.digest],
        |r| r.get(0),
    )?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    tx.execute("INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, dataset_source_type, dataset_source, dataset_schema, dataset_profile) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", &args![id, experiment_id, d.name, d.digest, d.source_type, d.source, d.schema, d.profile])?;
    Ok(id)
}

fn metric_from_history_row(r: &Row<'_>) -> DbResult<Metric> {
    Ok(Metric {
        key: r.get(0)?,
        value: metric_value(r.get(1)?, r.get(4)?),
        timestamp: r.get(2)?,
        step: r.get(3)?,
        ..Default::default()
    })
}

#[async_trait]
impl TrackingStore for SqlStore {
    async fn create_experiment(
        &self,
        name: &str,
        artifact_location: Option<&str>,
        tags: &[ExperimentTag],
    ) -> StoreResult<String> {
        let name = name.to_string();
        let artifact_location = artifact_location.map(str::to_string);
        let tags = tags.to_vec();
        let root = self.inner.default_artifact_root.clone();
        self.write(move |tx| {
            let taken: Option<i64> = tx.query_opt("SELECT experiment_id FROM experiments WHERE name = ? AND workspace = 'default'", &args![&name], |r| r.get(0))?;
            if taken.is_some() {
                return err(StoreError::AlreadyExists(format!("Experiment(name={name}) already exists.")));
            }
            let now = now_millis();
            let id = tx.insert_returning_id(
                "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time, workspace) VALUES (?, ?, 'active', ?, ?, 'default')",
                &args![name, artifact_location, now, now],
                "experiment_id",
            )?;
            if artifact_location.is_none() {
                let location = append_to_uri_path(&root, &id.to_string());
                tx.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?", &args![location, id])?;
            }
            let stmt = "INSERT INTO experiment_tags (\"key\", value, experiment_id) VALUES (?, ?, ?)";
for t in &tags {
                tx.execute(stmt, &args![t.key, t.value, id])?;
            }
            Ok(id.to_string())
        })
        .await
    }

    async fn get_experiment(&self, experiment_id: &str) -> StoreResult<Experiment> {
        let id = experiment_id.to_string();
        self.read(move |conn| load_experiment(conn, &id)).await
    }

    async fn get_experiment_by_name(&self, name: &str) -> StoreResult<Option<Experiment>> {
        let name = name.to_string();
        self.read(move |conn| {
            let e = conn.query_opt(&format!("SELECT {EXPERIMENT_COLUMNS} FROM experiments WHERE name = ? AND workspace = 'default'"), &args![&name], experiment_from_row)?;
            match e {
                None => Ok(None),
                Some(e) => {
                    let mut one = [e];
                    attach_experiment_tags(conn, &mut one)?;
                    let [e] = one;
                    Ok(Some(e))
                }
            }
        })
        .await
    }

    async fn search_experiments(&self, q: SearchExperiments) -> StoreResult<Page<Experiment>> {
        self.read(move |conn| {
            let stages = q.view_type.lifecycle_stages();
            let mut f = Fragment::new(format!(
                "SELECT {} FROM experiments WHERE experiments.workspace = 'default' AND experiments.lifecycle_stage IN ({})",
                EXPERIMENT_COLUMNS
                    .split(", ")
                    .map(|c| format!("experiments.{c}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                placeholders(stages.len())
            ));
            f.params.extend(stages.iter().map(|s| Value::Text(s.to_string())));
            let filter = query::experiment_filter(conn.dialect(), &q.filter);
            if !filter.sql.is_empty() {
                f.sql.push_str(" AND ");
                f.sql.push_str(&filter.sql);
                f.params.extend(filter.params);
            }
            f.sql.push_str(" ORDER BY ");
            f.sql.push_str(&query::experiment_order_by(&q.order_by));
            f.sql.push_str(" LIMIT ? OFFSET ?");
            f.params.push(Value::Int(q.max_results + 1));
            f.params.push(Value::Int(q.offset));
            let mut items = conn.query_map(&f.sql, &f.params, experiment_from_row)?;
            attach_experiment_tags(conn, &mut items)?;
            Ok(paged(items, q.max_results, q.offset))
        })
        .await
    }

    async fn rename_experiment(&self, experiment_id: &str, new_name: &str) -> StoreResult<()> {
        let id = experiment_id.to_string();
        let new_name = new_name.to_string();
        self.write(move |tx| {
            let e = require_active_experiment(tx, &id)?;
            if e.name == new_name {
                return Ok(());
            }
            let taken: Option<i64> = tx.query_opt(
                "SELECT experiment_id FROM experiments WHERE name = ? AND workspace = 'default'",
                &args![&new_name],
                |r| r.get(0),
            )?;
            if taken.is_some() {
                return err(StoreError::BadRequest(format!(
                    "Experiment(name={new_name}) already exists. Choose another name."
                )));
            }
            tx.execute(
                "UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?",
                &args![
                    new_name,
                    now_millis(),
                    e.experiment_id.parse::<i64>().unwrap_or(-1)
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn delete_experiment(&self, experiment_id: &str) -> StoreResult<()> {
        let id = experiment_id.to_string();
        self.write(move |tx| {
            let e = load_experiment(tx, &id)?;
            if e.lifecycle_stage == "deleted" {
                return err(StoreError::InvalidParameter(format!(
                    "The experiment {id} must be in the 'active' state. Current state is deleted."
                )));
            }
            let now = now_millis();
            let eid = parse_experiment_id(&id).unwrap_or(-1);
            tx.execute("UPDATE experiments SET lifecycle_stage = 'deleted', last_update_time = ? WHERE experiment_id = ?", &args![now, eid])?;
            // MLflow deletes the experiment's runs with it (and restores them with it).
            tx.execute("UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = ? WHERE experiment_id = ? AND lifecycle_stage = 'active'", &args![now, eid])?;
            Ok(())
        })
        .await
    }

    async fn restore_experiment(&self, experiment_id: &str) -> StoreResult<()> {
        let id = experiment_id.to_string();
        self.write(move |tx| {
            let e = load_experiment(tx, &id)?;
            if e.lifecycle_stage != "deleted" {
                return err(StoreError::InvalidParameter(format!(
                    "The experiment {id} must be in the 'deleted' state. Current state is {}.",
                    e.lifecycle_stage
                )));
            }
            let eid = parse_experiment_id(&id).unwrap_or(-1);
            tx.execute("UPDATE experiments SET lifecycle_stage = 'active', last_update_time = ? WHERE experiment_id = ?", &args![now_millis(), eid])?;
            tx.execute("UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL WHERE experiment_id = ? AND lifecycle_stage = 'deleted'", &args![eid])?;
            Ok(())
        })
        .await
    }

    async fn set_experiment_tag(&self, experiment_id: &str, tag: ExperimentTag) -> StoreResult<()> {
        let id = experiment_id.to_string();
        self.write(move |tx| {
            require_active_experiment(tx, &id)?;
            tx.execute(
                &tx.dialect().upsert(
                    "experiment_tags (\"key\", value, experiment_id) VALUES (?, ?, ?)",
                    "\"key\", experiment_id",
                    &["value"],
                ),
                &args![tag.key, tag.value, parse_experiment_id(&id).unwrap_or(-1)],
            )?;
            Ok(())
        })
        .await
    }

    async fn delete_experiment_tag(&self, experiment_id: &str, key: &str) -> StoreResult<()> {
        let id = experiment_id.to_string();
        let key = key.to_string();
        self.write(move |tx| {
            require_active_experiment(tx, &id)?;
            let n = tx.execute(
                "DELETE FROM experiment_tags WHERE experiment_id = ? AND \"key\" = ?",
                &args![parse_experiment_id(&id).unwrap_or(-1), key],
            )?;
            if n == 0 {
                return err(StoreError::NotFound(format!(
                    "No tag with name: {key} in experiment with id {id}"
                )));
            }
            Ok(())
        })
        .await
    }

    async fn create_run(&self, run: CreateRun) -> StoreResult<Run> {
        self.write(move |tx| {
            let e = require_active_experiment(tx, &run.experiment_id)?;
            let run_id = uuid::Uuid::new_v4().simple().to_string();
            let artifact_uri = append_to_uri_path(&append_to_uri_path(&e.artifact_location, &run_id), "artifacts");
            tx.execute("INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id) \
                 VALUES (?, ?, 'UNKNOWN', '', '', ?, 'RUNNING', ?, NULL, '', 'active', ?, ?)", &args![
                run_id,
                run.run_name,
                run.user_id,
                run.start_time,
                artifact_uri,
                parse_experiment_id(&e.experiment_id).unwrap_or(-1)
            ])?;
            // The run is new; a tag key given twice keeps its last value.
            let mut by_key = tags_by_key(&run.tags);
            by_key.insert("mlflow.runName", &run.run_name);
            upsert_tag_rows(tx, &run_id, &by_key)?;
            // What was just written, without reading it back (tags in key order, as loaded).
            Ok(Run {
                info: RunInfo {
                    run_uuid: run_id.clone(),
                    run_id: run_id.clone(),
                    run_name: run.run_name.clone(),
                    experiment_id: e.experiment_id.clone(),
                    user_id: run.user_id.clone(),
                    status: "RUNNING".into(),
                    start_time: Some(run.start_time),
                    end_time: None,
                    artifact_uri,
                    lifecycle_stage: "active".into(),
                },
                data: RunData {
                    tags: by_key
                        .iter()
                        .map(|(k, v)| RunTag { key: k.to_string(), value: v.to_string() })
                        .collect(),
                    ..RunData::default()
                },
                inputs: RunInputs::default(),
                outputs: RunOutputs::default(),
            })
        })
        .await
    }

    async fn get_run(&self, run_id: &str) -> StoreResult<Run> {
        let id = run_id.to_string();
        self.read(move |conn| {
            let mut runs = load_runs(conn, std::slice::from_ref(&id))?;
            runs.pop().ok_or_else(|| Wrapped::Store(run_not_found(&id)))
        })
        .await
    }

    async fn update_run(&self, run_id: &str, update: UpdateRun) -> StoreResult<RunInfo> {
        let id = run_id.to_string();
        self.write(move |tx| {
            require_active_run(tx, &id)?;
            if let Some(status) = &update.status {
                tx.execute(
                    "UPDATE runs SET status = ? WHERE run_uuid = ?",
                    &args![status, id],
                )?;
            }
            if let Some(end) = update.end_time {
                tx.execute(
                    "UPDATE runs SET end_time = ? WHERE run_uuid = ?",
                    &args![end, id],
                )?;
            }
            if let Some(name) = &update.run_name {
                insert_tags(
                    tx,
                    &id,
                    &[RunTag {
                        key: "mlflow.runName".into(),
                        value: name.clone(),
                    }],
                )?;
            }
            load_run_info(tx, &id)
        })
        .await
    }

    async fn delete_run(&self, run_id: &str) -> StoreResult<()> {
        let id = run_id.to_string();
        self.write(move |tx| {
            load_run_info(tx, &id)?;
            tx.execute(
                "UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = ? WHERE run_uuid = ?",
                &args![now_millis(), id],
            )?;
            Ok(())
        })
        .await
    }

    async fn restore_run(&self, run_id: &str) -> StoreResult<()> {
        let id = run_id.to_string();
        self.write(move |tx| {
            load_run_info(tx, &id)?;
            tx.execute("UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL WHERE run_uuid = ?", &args![id])?;
            Ok(())
        })
        .await
    }

    async fn log_batch(&self, run_id: &str, batch: LogBatch) -> StoreResult<()> {
        let id = run_id.to_string();
        let entries = batch.metrics.len() + batch.params.len() + batch.tags.len();
        let batch = std::sync::Arc::new(batch);
        let job = {
            let batch = batch.clone();
            move |tx: &mut dyn Db| -> Result<(), Wrapped> {
                let info = require_active_run(tx, &id)?;
                log_params(tx, &id, &batch.params)?;
                log_metrics(tx, &id, &batch.metrics)?;
                logged_models::log_model_metrics(
                    tx,
                    &id,
                    parse_experiment_id(&info.experiment_id).unwrap_or(-1),
                    &batch.metrics,
                )?;
                insert_tags(tx, &id, &batch.tags)?;
                Ok(())
            }
        };
        // Big batches take milliseconds: they go to the writer thread, never an HTTP worker.
        if entries > SMALL_WRITE_ENTRIES {
            self.write_large(job).await?;
        } else {
            self.write(job).await?;
        }
        if !batch.metrics.is_empty() {
            self.inner.history.wrote(run_id, &batch.metrics);
        }
        Ok(())
    }

    async fn delete_tag(&self, run_id: &str, key: &str) -> StoreResult<()> {
        let id = run_id.to_string();
        let key = key.to_string();
        self.write(move |tx| {
            require_active_run(tx, &id)?;
            let n = tx.execute(
                "DELETE FROM tags WHERE run_uuid = ? AND \"key\" = ?",
                &args![id, key],
            )?;
            if n == 0 {
                return err(StoreError::NotFound(format!(
                    "No tag with name: {key} in run with id {id}"
                )));
            }
            Ok(())
        })
        .await
    }

    async fn log_inputs(
        &self,
        run_id: &str,
        datasets: Vec<DatasetInput>,
        model_ids: Vec<String>,
    ) -> StoreResult<()> {
        let id = run_id.to_string();
        self.write(move |tx| {
            let info = require_active_run(tx, &id)?;
            logged_models::log_model_inputs(tx, &id, &model_ids)?;
            let eid = parse_experiment_id(&info.experiment_id).unwrap_or(-1);
            for input in &datasets {
                let dataset_uuid = dataset_uuid_for(tx, eid, &input.dataset)?;
                let existing: Option<String> = tx.query_opt("SELECT input_uuid FROM inputs WHERE source_type = 'DATASET' AND source_id = ? AND destination_type = 'RUN' AND destination_id = ?", &args![dataset_uuid, id], |r| r.get(0))?;
                if existing.is_some() {
                    continue;
                }
                let input_uuid = uuid::Uuid::new_v4().simple().to_string();
                tx.execute("INSERT INTO inputs (input_uuid, source_type, source_id, destination_type, destination_id, step) VALUES (?, 'DATASET', ?, 'RUN', ?, 0)", &args![input_uuid, dataset_uuid, id])?;
                let mut seen = HashSet::new();
                let stmt = "INSERT INTO input_tags (input_uuid, name, value) VALUES (?, ?, ?)";
for t in &input.tags {
                    if seen.insert(t.key.clone()) {
                        tx.execute(stmt, &args![input_uuid, t.key, t.value])?;
                    }
                }
            }
            Ok(())
        })
        .await
    }

    async fn log_outputs(&self, run_id: &str, models: Vec<ModelOutput>) -> StoreResult<()> {
        let id = run_id.to_string();
        self.write(move |tx| logged_models::log_outputs(tx, &id, &models))
            .await
    }

    async fn record_logged_model(&self, run_id: &str, model_json: String) -> StoreResult<()> {
        let id = run_id.to_string();
        self.write(move |tx| {
            require_active_run(tx, &id)?;
            const KEY: &str = "mlflow.log-model.history";
            let previous: Option<String> = tx.query_opt(
                "SELECT value FROM tags WHERE run_uuid = ? AND \"key\" = ?",
                &args![id, KEY],
                |r| r.get(0),
            )?;
            let model: serde_json::Value = serde_json::from_str(&model_json).map_err(|e| {
                Wrapped::Store(StoreError::InvalidParameter(format!(
                    "Malformed model info: {e}"
                )))
            })?;
            let mut history: Vec<serde_json::Value> = previous
                .and_then(|p| serde_json::from_str(&p).ok())
                .unwrap_or_default();
            history.push(model);
            let value = serde_json::to_string(&history)
                .map_err(|e| Wrapped::Store(StoreError::Backend(e.to_string())))?;
            if value.chars().count() > ferroflow_types::limits::MAX_TAG_VAL_LENGTH {
                return err(StoreError::InvalidParameter(format!(
                    "'{KEY}' exceeds the maximum length of {} characters",
                    ferroflow_types::limits::MAX_TAG_VAL_LENGTH
                )));
            }
            insert_tags(
                tx,
                &id,
                &[RunTag {
                    key: KEY.into(),
                    value,
                }],
            )
        })
        .await
    }

    async fn create_logged_model(&self, model: CreateLoggedModel) -> StoreResult<LoggedModel> {
        self.write(move |tx| logged_models::create(tx, &model))
            .await
    }

    async fn get_logged_model(
        &self,
        model_id: &str,
        allow_deleted: bool,
    ) -> StoreResult<LoggedModel> {
        let id = model_id.to_string();
        self.read(move |conn| logged_models::get(conn, &id, allow_deleted))
            .await
    }

    async fn finalize_logged_model(&self, model_id: &str, status: i64) -> StoreResult<LoggedModel> {
        let id = model_id.to_string();
        self.write(move |tx| logged_models::finalize(tx, &id, status))
            .await
    }

    async fn delete_logged_model(&self, model_id: &str) -> StoreResult<()> {
        let id = model_id.to_string();
        self.write(move |tx| logged_models::delete(tx, &id)).await
    }

    async fn set_logged_model_tags(
        &self,
        model_id: &str,
        tags: Vec<LoggedModelTag>,
    ) -> StoreResult<()> {
        let id = model_id.to_string();
        self.write(move |tx| logged_models::set_tags(tx, &id, &tags))
            .await
    }

    async fn delete_logged_model_tag(&self, model_id: &str, key: &str) -> StoreResult<()> {
        let id = model_id.to_string();
        let key = key.to_string();
        self.write(move |tx| logged_models::delete_tag(tx, &id, &key))
            .await
    }

    async fn log_logged_model_params(
        &self,
        model_id: &str,
        params: Vec<LoggedModelParameter>,
    ) -> StoreResult<()> {
        let id = model_id.to_string();
        self.write(move |tx| logged_models::log_params(tx, &id, &params))
            .await
    }

    async fn search_logged_models(
        &self,
        query: SearchLoggedModels,
    ) -> StoreResult<Page<LoggedModel>> {
        self.read(move |conn| logged_models::search(conn, &query))
            .await
    }

    async fn stream_search_runs(
        &self,
        q: SearchRuns,
        sink: ChunkSink<Run>,
    ) -> StoreResult<Option<String>> {
        let sink = std::sync::Mutex::new(sink);
        let sent = std::sync::atomic::AtomicBool::new(false);
        self.read(move |conn| {
            use std::sync::atomic::Ordering;
            if sent.load(Ordering::Relaxed) {
                return err(StoreError::Unavailable(
                    "the database connection was lost while the runs were being sent".into(),
                ));
            }
            let page = search_run_ids(conn, &q)?;
            let mut sink = sink.lock().unwrap_or_else(|p| p.into_inner());
            for ids in page.items.chunks(IN_CHUNK) {
                let runs = load_runs(conn, ids)?;
                sent.store(true, Ordering::Relaxed);
                if !(*sink)(runs) {
                    return err(StoreError::Unavailable(
                        "the client stopped reading the runs".into(),
                    ));
                }
            }
            Ok(page.next_page_token)
        })
        .await
    }

    async fn stream_metric_history(
        &self,
        q: MetricHistoryQuery,
        sink: ChunkSink<Metric>,
    ) -> StoreResult<Option<String>> {
        /// Points per chunk handed to the sink (about 80 KB of JSON).
        const CHUNK: usize = 1000;
        let sink = std::sync::Mutex::new(sink);
        let sent = std::sync::atomic::AtomicBool::new(false);
        self.read(move |conn| {
            use std::sync::atomic::Ordering;
            // A read the engine runs again after a lost connection must not repeat points
            // the client already has.
            if sent.load(Ordering::Relaxed) {
                return err(StoreError::Unavailable("the database connection was lost while the history was being sent".into()));
            }
            let mut sink = sink.lock().unwrap_or_else(|p| p.into_inner());
            let limit = q.max_results.map(|m| m + 1).unwrap_or(i64::MAX);
            let mut batch = Vec::with_capacity(CHUNK);
            let (mut n, mut more) = (0i64, false);
            // Like MLflow, an unknown run simply has no history.
            conn.query(
                "SELECT \"key\", value, timestamp, step, is_nan FROM metrics WHERE run_uuid = ? AND \"key\" = ? ORDER BY timestamp, step, value LIMIT ? OFFSET ?",
                &args![q.run_id, q.metric_key, limit, q.offset],
                &mut |r| {
                    if q.max_results == Some(n) {
                        more = true;
                        return Ok(());
                    }
                    batch.push(metric_from_history_row(r)?);
                    n += 1;
                    if batch.len() == CHUNK {
                        sent.store(true, Ordering::Relaxed);
                        if !(*sink)(std::mem::replace(&mut batch, Vec::with_capacity(CHUNK))) {
                            return Err(crate::db::DbError::other("the client stopped reading the history"));
                        }
                    }
                    Ok(())
                },
            )?;
            if !batch.is_empty() {
                sent.store(true, Ordering::Relaxed);
                (*sink)(batch);
            }
            Ok(more.then(|| page_token(q.offset + n)))
        })
        .await
    }

    async fn get_metric_history_bulk(
        &self,
        run_ids: &[String],
        metric_key: &str,
        max_results: i64,
    ) -> StoreResult<Vec<RunMetric>> {
        let run_ids = run_ids.to_vec();
        let key = metric_key.to_string();
        self.read(move |conn| {
            let sql = format!(
                "SELECT \"key\", value, timestamp, step, is_nan, run_uuid FROM metrics WHERE run_uuid IN ({}) AND \"key\" = ? ORDER BY run_uuid, timestamp, step, value LIMIT ?",
                placeholders(run_ids.len())
            );
            let mut args: Vec<Value> = run_ids.iter().map(|r| Value::Text(r.clone())).collect();
            args.push(Value::Text(key.clone()));
            args.push(Value::Int(max_results));
            Ok(conn.query_map(&sql, &args, |r| Ok(RunMetric { run_id: r.get(5)?, metric: metric_from_history_row(r)? }))?)
        })
        .await
    }

    async fn get_metric_history_bulk_interval(
        &self,
        q: BulkIntervalQuery,
    ) -> StoreResult<Vec<RunMetric>> {
        let store = self.clone();
        self.read(move |conn| {
            let range = q.start_step.zip(q.end_step);
            let mut out = Vec::new();
            for run_id in &q.run_ids {
                let rows = store.inner.history.sample(
                    conn,
                    run_id,
                    &q.metric_key,
                    range,
                    q.max_results,
                )?;
                out.extend(rows.into_iter().map(|metric| RunMetric {
                    run_id: run_id.clone(),
                    metric,
                }));
            }
            Ok(out)
        })
        .await
    }
}
