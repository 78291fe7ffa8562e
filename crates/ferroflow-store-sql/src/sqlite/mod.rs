//! The SQLite backend. One writer thread owns the only writing connection (SQLite serializes
//! writers anyway, so queueing in-process beats retrying on SQLITE_BUSY) and a small pool of
//! reader connections serves reads; WAL mode lets readers run while a write commits.
//!
//! Group commit: the writer takes every write request waiting in its queue, runs each in its
//! own SAVEPOINT inside one transaction, and commits once. A request that fails rolls back
//! to its savepoint and leaves the others intact; every caller hears back only after the
//! commit, so an answered write is a durable write. Under concurrent logging this turns N
//! commits (and N rounds of WAL page writes) into one. Reads run on tokio's blocking pool.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ferroflow_store::{
    BulkIntervalQuery, CreateLoggedModel, CreateRun, LogBatch, MetricHistoryQuery, Page, RunMetric,
    SearchExperiments, SearchLoggedModels, SearchRuns, StoreError, StoreResult, TrackingStore,
    UpdateRun,
};
use ferroflow_types::limits::INF_SUBSTITUTE;
use ferroflow_types::tracking::{
    Dataset, DatasetInput, Experiment, ExperimentTag, InputTag, LoggedModel, LoggedModelParameter,
    LoggedModelTag, Metric, ModelInput, ModelOutput, Param, Run, RunData, RunInfo, RunInputs,
    RunOutputs, RunTag,
};
use rusqlite::{params_from_iter, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use tokio::sync::Semaphore;

mod logged_models;
mod registry;
mod webhooks;

use crate::query::{self, Dialect, Fragment, SqlValue};
use crate::schema::{ensure_sqlite_schema, SchemaError};
use crate::{append_to_uri_path, now_millis};

const DIALECT: Dialect = Dialect::Sqlite;
/// Rows per multi-row INSERT: 6 columns × 150 rows stays under SQLite's old 999-variable limit.
const INSERT_CHUNK: usize = 150;
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

#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

/// Indexes Ferroflow adds beside MLflow's schema, for the queries it actually runs.
const EXTRA_INDEXES: &str = "CREATE INDEX IF NOT EXISTS ferroflow_latest_metrics_key_value ON latest_metrics (\"key\", value);";

/// A write request for the writer thread: runs inside the group transaction and returns
/// the callback that delivers its outcome once the commit's fate is known.
type WriteJob = Box<
    dyn FnOnce(&rusqlite::Transaction<'_>) -> Box<dyn FnOnce(Result<(), String>) + Send> + Send,
>;

/// Writes up to this many metrics/params/tags may run inline on an HTTP worker.
const SMALL_WRITE_ENTRIES: usize = 32;

/// Most requests folded into one commit.
const MAX_GROUP: usize = 256;

struct Inner {
    /// `None` once shutting down (dropping the sender stops the writer thread).
    /// The one writing connection; the writer thread and the inline fast path share it.
    conn: Arc<Mutex<Connection>>,
    writer: Mutex<Option<std::sync::mpsc::Sender<WriteJob>>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    reader_slots: Semaphore,
    path: PathBuf,
    default_artifact_root: String,
}

impl From<rusqlite::Error> for Wrapped {
    fn from(e: rusqlite::Error) -> Self {
        Wrapped(map_sqlite_error(e))
    }
}

/// Lets `?` turn rusqlite errors into store errors inside blocking closures.
struct Wrapped(StoreError);

impl From<Wrapped> for StoreError {
    fn from(w: Wrapped) -> Self {
        w.0
    }
}

fn map_sqlite_error(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Backend(e.to_string()),
    }
}

fn db<T>(r: rusqlite::Result<T>) -> StoreResult<T> {
    r.map_err(map_sqlite_error)
}

fn open_connection(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

/// Per-connection settings. Foreign keys and case-sensitive LIKE match MLflow's own SQLite
/// connections; WAL + synchronous=NORMAL give durable commits without an fsync per commit.
fn configure(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA case_sensitive_like = ON; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -8000;",
    )
}

impl SqliteStore {
    /// Opens (creating if empty) the MLflow database at `path`. A database at another
    /// schema revision or a non-MLflow file is refused before anything is written.
    pub fn open(options: SqliteOptions) -> Result<SqliteStore, SchemaError> {
        let mut writer = open_connection(&options.path)?;
        // A database Ferroflow may refuse is only read until it passes the check; WAL mode (a
        // write to the file header) is switched on after it. An empty file gets WAL first,
        // so creating the schema costs no journal fsyncs.
        let empty: i64 =
            writer.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))?;
        if empty == 0 {
            writer.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
            configure(&writer)?;
        }
        let created = ensure_sqlite_schema(&mut writer, &options.default_artifact_root)?;
        writer.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        configure(&writer)?;
        // Ferroflow's own indexes (MLflow allows extra ones): searches that filter and order
        // by a metric walk this index in order instead of sorting every run.
        writer.execute_batch(EXTRA_INDEXES)?;
        // Checkpoint the WAL every ~32 MB instead of every 4 MB: the checkpoint runs on the
        // writer and fsyncs, so fewer of them means fewer stalls under steady logging.
        writer.execute_batch("PRAGMA wal_autocheckpoint = 8000;")?;
        if created {
            tracing::info!(path = %options.path.display(), "created MLflow schema");
        }
        let readers = options.readers.max(1);
        let mut pool = Vec::with_capacity(readers);
        for _ in 0..readers {
            let c = open_connection(&options.path)?;
            configure(&c)?;
            pool.push(c);
        }
        let conn = Arc::new(Mutex::new(writer));
        let (sender, receiver) = std::sync::mpsc::channel::<WriteJob>();
        let thread = std::thread::Builder::new()
            .name("ferroflow-sqlite-writer".into())
            .spawn({
                let conn = conn.clone();
                move || writer_loop(conn, receiver)
            })
            .map_err(|e| SchemaError::Writer(e.to_string()))?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                conn,
                writer: Mutex::new(Some(sender)),
                writer_thread: Mutex::new(Some(thread)),
                readers: Mutex::new(pool),
                reader_slots: Semaphore::new(readers),
                path: options.path,
                default_artifact_root: options.default_artifact_root,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` on a reader connection on the blocking pool.
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Wrapped> + Send + 'static,
    {
        let _permit = self
            .inner
            .reader_slots
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("store is shutting down".into()))?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = inner
                .readers
                .lock()
                .map_err(|_| StoreError::Backend("reader pool poisoned".into()))?
                .pop();
            let conn = match conn {
                Some(c) => c,
                None => {
                    let c = db(open_connection(&inner.path))?;
                    db(configure(&c))?;
                    c
                }
            };
            let result = f(&conn).map_err(StoreError::from);
            if let Ok(mut pool) = inner.readers.lock() {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Backend(format!("blocking task failed: {e}")))?
    }

    /// Runs a small write `f`, all or nothing, and answers once it is committed.
    ///
    /// Fast path: when no other write holds the connection, `f` runs right here in its own
    /// transaction (a small write takes tens of microseconds, less than handing it to another
    /// thread and back). Otherwise it joins the writer thread's next group commit.
    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, Wrapped> + Send + 'static,
    {
        match self.try_inline(f) {
            Ok(result) => result,
            Err(f) => self.write_grouped(f).await,
        }
    }

    /// Runs `f` in its own transaction if the connection is free right now; hands `f`
    /// back when another write holds it. (Synchronous, so no lock is held across an await.)
    fn try_inline<T, F>(&self, f: F) -> Result<StoreResult<T>, F>
    where
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, Wrapped>,
    {
        let mut conn = match self.inner.conn.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return Err(f),
        };
        let run = || -> StoreResult<T> {
            let tx = db(conn.transaction_with_behavior(TransactionBehavior::Immediate))?;
            let value = f(&tx).map_err(StoreError::from)?;
            db(tx.commit())?;
            Ok(value)
        };
        Ok(run())
    }

    /// Runs `f` on the writer thread, all or nothing (its own savepoint inside the group
    /// transaction), and answers once the group has committed. Large writes always go
    /// this way so they never hold up an HTTP worker thread.
    async fn write_grouped<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, Wrapped> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel::<StoreResult<T>>();
        let job: WriteJob = Box::new(move |tx| {
            let outcome = run_in_savepoint(tx, f);
            Box::new(move |committed: Result<(), String>| {
                let result = match (outcome, committed) {
                    (Err(e), _) => Err(e),
                    (Ok(v), Ok(())) => Ok(v),
                    (Ok(_), Err(e)) => Err(StoreError::Backend(e)),
                };
                let _ = reply.send(result);
            })
        });
        let sent = self
            .inner
            .writer
            .lock()
            .map_err(|_| StoreError::Backend("writer queue poisoned".into()))?
            .as_ref()
            .map(|s| s.send(job).is_ok())
            .unwrap_or(false);
        if !sent {
            return Err(StoreError::Unavailable("the store is shutting down".into()));
        }
        answer
            .await
            .map_err(|_| StoreError::Backend("the writer thread stopped".into()))?
    }
}

impl Drop for Inner {
    /// Stops the writer after it has finished what is queued, so the database is closed
    /// cleanly (and its WAL checkpointed) before the process exits.
    fn drop(&mut self) {
        if let Ok(mut sender) = self.writer.lock() {
            sender.take();
        }
        if let Some(handle) = self.writer_thread.lock().ok().and_then(|mut h| h.take()) {
            let _ = handle.join();
        }
    }
}

fn run_in_savepoint<T>(
    tx: &rusqlite::Transaction<'_>,
    f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, Wrapped>,
) -> StoreResult<T> {
    db(tx.execute_batch("SAVEPOINT request"))?;
    match f(tx) {
        Ok(v) => {
            db(tx.execute_batch("RELEASE request"))?;
            Ok(v)
        }
        Err(Wrapped(e)) => {
            // Undo just this request; the rest of the group stays.
            db(tx.execute_batch("ROLLBACK TO request; RELEASE request"))?;
            Err(e)
        }
    }
}

/// The writer thread: waits for a request, takes every other request already queued, runs
/// them in one transaction and commits once.
fn writer_loop(shared: Arc<Mutex<Connection>>, jobs: std::sync::mpsc::Receiver<WriteJob>) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let mut conn = shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => {
                let message = e.to_string();
                tracing::error!(error = %message, "cannot begin a write transaction");
                // Nothing ran: tell every caller.
                for job in group {
                    drop(job);
                }
                continue;
            }
        };
        let mut replies = Vec::with_capacity(group.len());
        let mut panicked = false;
        for job in group {
            // A panicking request must not take the writer (and every later write) down.
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&tx))) {
                Ok(reply) => replies.push(reply),
                Err(_) => {
                    panicked = true;
                    break;
                }
            }
        }
        if panicked {
            tracing::error!("a write request panicked; its group was rolled back");
            // Dropping the transaction rolls back; dropping the replies fails their callers.
            drop(tx);
            drop(replies);
            continue;
        }
        let committed = tx.commit().map_err(|e| e.to_string());
        if let Err(e) = &committed {
            tracing::error!(error = %e, "group commit failed");
        }
        for reply in replies {
            reply(committed.clone());
        }
    }
}

fn err<T>(e: StoreError) -> Result<T, Wrapped> {
    Err(Wrapped(e))
}

fn to_sql(v: &SqlValue) -> rusqlite::types::Value {
    match v {
        SqlValue::Int(i) => rusqlite::types::Value::Integer(*i),
        SqlValue::Real(r) => rusqlite::types::Value::Real(*r),
        SqlValue::Text(s) => rusqlite::types::Value::Text(s.clone()),
    }
}

fn parse_experiment_id(id: &str) -> Option<i64> {
    id.trim().parse::<i64>().ok()
}

/// Experiment ids are integers in MLflow's SQL schema; anything else is a client mistake.
fn require_experiment_id(id: &str) -> Result<i64, Wrapped> {
    parse_experiment_id(id).ok_or_else(|| {
        Wrapped(StoreError::InvalidParameter(format!(
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

fn experiment_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Experiment> {
    Ok(Experiment {
        experiment_id: r.get::<_, i64>(0)?.to_string(),
        name: r.get(1)?,
        artifact_location: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
        lifecycle_stage: r
            .get::<_, Option<String>>(3)?
            .unwrap_or_else(|| "active".into()),
        creation_time: r.get(4)?,
        last_update_time: r.get(5)?,
        tags: Vec::new(),
    })
}

fn attach_experiment_tags(
    conn: &Connection,
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
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(chunk.iter()))?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            if let Some(&i) = by_id.get(&id.to_string()) {
                experiments[i].tags.push(ExperimentTag {
                    key: r.get(1)?,
                    value: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                });
            }
        }
    }
    Ok(())
}

fn placeholders(n: usize) -> String {
    let mut s = String::with_capacity(n * 3);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('?');
    }
    s
}

fn load_experiment(conn: &Connection, experiment_id: &str) -> Result<Experiment, Wrapped> {
    let id = require_experiment_id(experiment_id)?;
    let e = conn
        .prepare_cached(&format!(
            "SELECT {EXPERIMENT_COLUMNS} FROM experiments WHERE experiment_id = ?"
        ))?
        .query_row([id], experiment_from_row)
        .optional()?;
    let Some(e) = e else {
        return err(experiment_not_found(experiment_id));
    };
    let mut one = [e];
    attach_experiment_tags(conn, &mut one)?;
    let [e] = one;
    Ok(e)
}

fn require_active_experiment(
    conn: &Connection,
    experiment_id: &str,
) -> Result<Experiment, Wrapped> {
    let e = load_experiment(conn, experiment_id)?;
    if e.lifecycle_stage != "active" {
        return err(StoreError::InvalidParameter(format!(
            "The experiment {experiment_id} must be in the 'active' state. Current state is {}.",
            e.lifecycle_stage
        )));
    }
    Ok(e)
}

const RUN_COLUMNS: &str = "run_uuid, name, user_id, status, start_time, end_time, lifecycle_stage, artifact_uri, experiment_id";

fn run_info_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunInfo> {
    let id: String = r.get(0)?;
    Ok(RunInfo {
        run_uuid: id.clone(),
        run_id: id,
        run_name: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
        user_id: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
        status: r
            .get::<_, Option<String>>(3)?
            .unwrap_or_else(|| "RUNNING".into()),
        start_time: r.get(4)?,
        end_time: r.get(5)?,
        lifecycle_stage: r
            .get::<_, Option<String>>(6)?
            .unwrap_or_else(|| "active".into()),
        artifact_uri: r.get::<_, Option<String>>(7)?.unwrap_or_default(),
        experiment_id: r
            .get::<_, Option<i64>>(8)?
            .map(|i| i.to_string())
            .unwrap_or_default(),
    })
}

fn load_run_info(conn: &Connection, run_id: &str) -> Result<RunInfo, Wrapped> {
    conn.prepare_cached(&format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE run_uuid = ?"
    ))?
    .query_row([run_id], run_info_from_row)
    .optional()?
    .ok_or_else(|| Wrapped(run_not_found(run_id)))
}

fn require_active_run(conn: &Connection, run_id: &str) -> Result<RunInfo, Wrapped> {
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
    conn: &Connection,
    ids: &[String],
    pos: &HashMap<&str, usize>,
    runs: &mut [Option<Run>],
    sql: &str,
    f: &mut dyn FnMut(&mut Run, &rusqlite::Row<'_>) -> rusqlite::Result<()>,
) -> Result<(), Wrapped> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params_from_iter(ids.iter()))?;
    while let Some(r) = rows.next()? {
        let id: String = r.get(0)?;
        if let Some(run) = pos.get(id.as_str()).and_then(|&i| runs[i].as_mut()) {
            f(run, r)?;
        }
    }
    Ok(())
}

/// Loads whole runs (info, params, latest metrics, tags, inputs, outputs) for `ids`, in the
/// order given, with a fixed number of queries per chunk of ids.
fn load_runs(conn: &Connection, ids: &[String]) -> Result<Vec<Run>, Wrapped> {
    let mut runs: Vec<Option<Run>> = vec![None; ids.len()];
    let mut pos: HashMap<&str, usize> = HashMap::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        pos.insert(id.as_str(), i);
    }
    for chunk in ids.chunks(IN_CHUNK) {
        let ph = placeholders(chunk.len());
        {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE run_uuid IN ({ph})"
            ))?;
            let mut rows = stmt.query(params_from_iter(chunk.iter()))?;
            while let Some(r) = rows.next()? {
                let info = run_info_from_row(r)?;
                if let Some(&i) = pos.get(info.run_id.as_str()) {
                    runs[i] = Some(Run {
                        info,
                        data: RunData::default(),
                        inputs: RunInputs::default(),
                        outputs: RunOutputs::default(),
                    });
                }
            }
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
                run.data.tags.push(RunTag { key: r.get(1)?, value: r.get::<_, Option<String>>(2)?.unwrap_or_default() });
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
                    timestamp: r.get::<_, Option<i64>>(3)?.unwrap_or(0),
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
                let mut stmt = conn.prepare_cached(&sql)?;
                let mut rows = stmt.query(params_from_iter(uchunk.iter()))?;
                while let Some(r) = rows.next()? {
                    let uuid: String = r.get(0)?;
                    if let Some(&(ri, di)) = input_index.get(&uuid) {
                        if let Some(run) = runs[ri].as_mut() {
                            run.inputs.dataset_inputs[di].tags.push(InputTag {
                                key: r.get(1)?,
                                value: r.get(2)?,
                            });
                        }
                    }
                }
            }
        }
        for_each_run_row(
            conn,
            chunk,
            &pos,
            &mut runs,
            &format!(
                "SELECT source_id, destination_id, step FROM inputs WHERE source_type = 'RUN_OUTPUT' AND destination_type = 'MODEL_OUTPUT' AND source_id IN ({ph})"
            ),
            &mut |run, r| {
                run.outputs.model_outputs.push(ModelOutput { model_id: r.get(1)?, step: r.get(2)? });
                Ok(())
            },
        )?;
        for_each_run_row(
            conn,
            chunk,
            &pos,
            &mut runs,
            &format!(
                "SELECT source_id, destination_id FROM inputs WHERE source_type = 'RUN_INPUT' AND destination_type = 'MODEL_INPUT' AND source_id IN ({ph})"
            ),
            &mut |run, r| {
                run.inputs.model_inputs.push(ModelInput { model_id: r.get(1)? });
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

fn query_strings(
    conn: &Connection,
    sql: &str,
    params: &[SqlValue],
) -> Result<Vec<String>, Wrapped> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params_from_iter(params.iter().map(to_sql)), |r| {
        r.get::<_, String>(0)
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn insert_tags(
    tx: &rusqlite::Transaction<'_>,
    run_id: &str,
    tags: &[RunTag],
) -> Result<(), Wrapped> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO tags (\"key\", value, run_uuid) VALUES (?, ?, ?) ON CONFLICT (\"key\", run_uuid) DO UPDATE SET value = excluded.value",
    )?;
    for t in tags {
        stmt.execute(rusqlite::params![t.key, t.value, run_id])?;
        if t.key == "mlflow.runName" {
            tx.prepare_cached("UPDATE runs SET name = ? WHERE run_uuid = ?")?
                .execute(rusqlite::params![t.value, run_id])?;
        }
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

fn log_metrics(
    tx: &rusqlite::Transaction<'_>,
    run_id: &str,
    metrics: &[Metric],
) -> Result<(), Wrapped> {
    if metrics.is_empty() {
        return Ok(());
    }
    for chunk in metrics.chunks(INSERT_CHUNK) {
        let mut sql = String::from("INSERT OR IGNORE INTO metrics (\"key\", value, timestamp, run_uuid, step, is_nan) VALUES ");
        let mut values: Vec<rusqlite::types::Value> = Vec::with_capacity(chunk.len() * 6);
        for (i, m) in chunk.iter().enumerate() {
            sql.push_str(if i == 0 {
                "(?, ?, ?, ?, ?, ?)"
            } else {
                ", (?, ?, ?, ?, ?, ?)"
            });
            let (v, nan) = stored_value(m.value);
            values.push(m.key.clone().into());
            values.push(v.into());
            values.push(m.timestamp.into());
            values.push(run_id.to_string().into());
            values.push(m.step.into());
            values.push((nan as i64).into());
        }
        tx.prepare_cached(&sql)?.execute(params_from_iter(values))?;
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
    let mut stmt = tx.prepare_cached(
        "INSERT INTO latest_metrics (\"key\", value, timestamp, step, is_nan, run_uuid) VALUES (?, ?, ?, ?, ?, ?) \
         ON CONFLICT (\"key\", run_uuid) DO UPDATE SET value = excluded.value, timestamp = excluded.timestamp, step = excluded.step, is_nan = excluded.is_nan \
         WHERE (excluded.step, excluded.timestamp, excluded.value) > (latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)",
    )?;
    for (key, (step, ts, v, nan)) in latest {
        stmt.execute(rusqlite::params![key, v, ts, step, nan, run_id])?;
    }
    Ok(())
}

fn log_params(
    tx: &rusqlite::Transaction<'_>,
    run_id: &str,
    params: &[Param],
) -> Result<(), Wrapped> {
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
        let mut stmt = tx.prepare_cached(&sql)?;
        let mut args: Vec<&str> = vec![run_id];
        args.extend(keys.iter().copied());
        let mut rows = stmt.query(params_from_iter(args))?;
        while let Some(r) = rows.next()? {
            existing.insert(r.get(0)?, r.get(1)?);
        }
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
    let mut stmt =
        tx.prepare_cached("INSERT INTO params (\"key\", value, run_uuid) VALUES (?, ?, ?)")?;
    for p in new_params {
        stmt.execute(rusqlite::params![p.key, p.value, run_id])?;
    }
    Ok(())
}

fn dataset_uuid_for(
    tx: &rusqlite::Transaction<'_>,
    experiment_id: i64,
    d: &Dataset,
) -> Result<String, Wrapped> {
    let existing: Option<String> = tx
        .prepare_cached(
            "SELECT dataset_uuid FROM datasets WHERE experiment_id = ? AND name = ? AND digest = ?",
        )?
        .query_row(rusqlite::params![experiment_id, d.name, d.digest], |r| {
            r.get(0)
        })
        .optional()?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    tx.prepare_cached(
        "INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, dataset_source_type, dataset_source, dataset_schema, dataset_profile) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(rusqlite::params![id, experiment_id, d.name, d.digest, d.source_type, d.source, d.schema, d.profile])?;
    Ok(id)
}

fn metric_from_history_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Metric> {
    Ok(Metric {
        key: r.get(0)?,
        value: metric_value(r.get(1)?, r.get(4)?),
        timestamp: r.get(2)?,
        step: r.get(3)?,
        ..Default::default()
    })
}

#[async_trait]
impl TrackingStore for SqliteStore {
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
            let taken: Option<i64> = tx
                .prepare_cached("SELECT experiment_id FROM experiments WHERE name = ? AND workspace = 'default'")?
                .query_row([&name], |r| r.get(0))
                .optional()?;
            if taken.is_some() {
                return err(StoreError::AlreadyExists(format!("Experiment(name={name}) already exists.")));
            }
            let now = now_millis();
            tx.prepare_cached(
                "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time, workspace) VALUES (?, ?, 'active', ?, ?, 'default')",
            )?
            .execute(rusqlite::params![name, artifact_location, now, now])?;
            let id = tx.last_insert_rowid();
            if artifact_location.is_none() {
                let location = append_to_uri_path(&root, &id.to_string());
                tx.prepare_cached("UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?")?
                    .execute(rusqlite::params![location, id])?;
            }
            let mut stmt = tx.prepare_cached("INSERT INTO experiment_tags (\"key\", value, experiment_id) VALUES (?, ?, ?)")?;
            for t in &tags {
                stmt.execute(rusqlite::params![t.key, t.value, id])?;
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
            let e = conn
                .prepare_cached(&format!("SELECT {EXPERIMENT_COLUMNS} FROM experiments WHERE name = ? AND workspace = 'default'"))?
                .query_row([&name], experiment_from_row)
                .optional()?;
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
            f.params.extend(stages.iter().map(|s| SqlValue::Text(s.to_string())));
            let filter = query::experiment_filter(DIALECT, &q.filter);
            if !filter.sql.is_empty() {
                f.sql.push_str(" AND ");
                f.sql.push_str(&filter.sql);
                f.params.extend(filter.params);
            }
            f.sql.push_str(" ORDER BY ");
            f.sql.push_str(&query::experiment_order_by(&q.order_by));
            f.sql.push_str(" LIMIT ? OFFSET ?");
            f.params.push(SqlValue::Int(q.max_results + 1));
            f.params.push(SqlValue::Int(q.offset));
            let mut stmt = conn.prepare_cached(&f.sql)?;
            let rows = stmt.query_map(params_from_iter(f.params.iter().map(to_sql)), experiment_from_row)?;
            let mut items = rows.collect::<Result<Vec<_>, _>>()?;
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
            let taken: Option<i64> = tx
                .prepare_cached("SELECT experiment_id FROM experiments WHERE name = ? AND workspace = 'default'")?
                .query_row([&new_name], |r| r.get(0))
                .optional()?;
            if taken.is_some() {
                return err(StoreError::BadRequest(format!(
                    "Experiment(name={new_name}) already exists. Choose another name."
                )));
            }
            tx.prepare_cached("UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?")?
                .execute(rusqlite::params![new_name, now_millis(), e.experiment_id.parse::<i64>().unwrap_or(-1)])?;
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
            tx.prepare_cached("UPDATE experiments SET lifecycle_stage = 'deleted', last_update_time = ? WHERE experiment_id = ?")?
                .execute(rusqlite::params![now, eid])?;
            // MLflow deletes the experiment's runs with it (and restores them with it).
            tx.prepare_cached("UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = ? WHERE experiment_id = ? AND lifecycle_stage = 'active'")?
                .execute(rusqlite::params![now, eid])?;
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
            tx.prepare_cached("UPDATE experiments SET lifecycle_stage = 'active', last_update_time = ? WHERE experiment_id = ?")?
                .execute(rusqlite::params![now_millis(), eid])?;
            tx.prepare_cached("UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL WHERE experiment_id = ? AND lifecycle_stage = 'deleted'")?
                .execute(rusqlite::params![eid])?;
            Ok(())
        })
        .await
    }

    async fn set_experiment_tag(&self, experiment_id: &str, tag: ExperimentTag) -> StoreResult<()> {
        let id = experiment_id.to_string();
        self.write(move |tx| {
            require_active_experiment(tx, &id)?;
            tx.prepare_cached(
                "INSERT INTO experiment_tags (\"key\", value, experiment_id) VALUES (?, ?, ?) ON CONFLICT (\"key\", experiment_id) DO UPDATE SET value = excluded.value",
            )?
            .execute(rusqlite::params![tag.key, tag.value, parse_experiment_id(&id).unwrap_or(-1)])?;
            Ok(())
        })
        .await
    }

    async fn delete_experiment_tag(&self, experiment_id: &str, key: &str) -> StoreResult<()> {
        let id = experiment_id.to_string();
        let key = key.to_string();
        self.write(move |tx| {
            require_active_experiment(tx, &id)?;
            let n = tx
                .prepare_cached(
                    "DELETE FROM experiment_tags WHERE experiment_id = ? AND \"key\" = ?",
                )?
                .execute(rusqlite::params![
                    parse_experiment_id(&id).unwrap_or(-1),
                    key
                ])?;
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
            tx.prepare_cached(
                "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id) \
                 VALUES (?, ?, 'UNKNOWN', '', '', ?, 'RUNNING', ?, NULL, '', 'active', ?, ?)",
            )?
            .execute(rusqlite::params![
                run_id,
                run.run_name,
                run.user_id,
                run.start_time,
                artifact_uri,
                parse_experiment_id(&e.experiment_id).unwrap_or(-1)
            ])?;
            let mut tags = run.tags.clone();
            tags.retain(|t| t.key != "mlflow.runName");
            tags.push(RunTag { key: "mlflow.runName".into(), value: run.run_name.clone() });
            insert_tags(tx, &run_id, &tags)?;
            let mut runs = load_runs(tx, std::slice::from_ref(&run_id))?;
            runs.pop().ok_or_else(|| Wrapped(run_not_found(&run_id)))
        })
        .await
    }

    async fn get_run(&self, run_id: &str) -> StoreResult<Run> {
        let id = run_id.to_string();
        self.read(move |conn| {
            let mut runs = load_runs(conn, std::slice::from_ref(&id))?;
            runs.pop().ok_or_else(|| Wrapped(run_not_found(&id)))
        })
        .await
    }

    async fn update_run(&self, run_id: &str, update: UpdateRun) -> StoreResult<RunInfo> {
        let id = run_id.to_string();
        self.write(move |tx| {
            require_active_run(tx, &id)?;
            if let Some(status) = &update.status {
                tx.prepare_cached("UPDATE runs SET status = ? WHERE run_uuid = ?")?
                    .execute(rusqlite::params![status, id])?;
            }
            if let Some(end) = update.end_time {
                tx.prepare_cached("UPDATE runs SET end_time = ? WHERE run_uuid = ?")?
                    .execute(rusqlite::params![end, id])?;
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
            tx.prepare_cached(
                "UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = ? WHERE run_uuid = ?",
            )?
            .execute(rusqlite::params![now_millis(), id])?;
            Ok(())
        })
        .await
    }

    async fn restore_run(&self, run_id: &str) -> StoreResult<()> {
        let id = run_id.to_string();
        self.write(move |tx| {
            load_run_info(tx, &id)?;
            tx.prepare_cached("UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL WHERE run_uuid = ?")?
                .execute(rusqlite::params![id])?;
            Ok(())
        })
        .await
    }

    async fn log_batch(&self, run_id: &str, batch: LogBatch) -> StoreResult<()> {
        let id = run_id.to_string();
        let entries = batch.metrics.len() + batch.params.len() + batch.tags.len();
        let job = move |tx: &rusqlite::Transaction<'_>| -> Result<(), Wrapped> {
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
        };
        // Big batches take milliseconds: they go to the writer thread, never an HTTP worker.
        if entries > SMALL_WRITE_ENTRIES {
            self.write_grouped(job).await
        } else {
            self.write(job).await
        }
    }

    async fn delete_tag(&self, run_id: &str, key: &str) -> StoreResult<()> {
        let id = run_id.to_string();
        let key = key.to_string();
        self.write(move |tx| {
            require_active_run(tx, &id)?;
            let n = tx
                .prepare_cached("DELETE FROM tags WHERE run_uuid = ? AND \"key\" = ?")?
                .execute(rusqlite::params![id, key])?;
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
                let existing: Option<String> = tx
                    .prepare_cached("SELECT input_uuid FROM inputs WHERE source_type = 'DATASET' AND source_id = ? AND destination_type = 'RUN' AND destination_id = ?")?
                    .query_row(rusqlite::params![dataset_uuid, id], |r| r.get(0))
                    .optional()?;
                if existing.is_some() {
                    continue;
                }
                let input_uuid = uuid::Uuid::new_v4().simple().to_string();
                tx.prepare_cached(
                    "INSERT INTO inputs (input_uuid, source_type, source_id, destination_type, destination_id, step) VALUES (?, 'DATASET', ?, 'RUN', ?, 0)",
                )?
                .execute(rusqlite::params![input_uuid, dataset_uuid, id])?;
                let mut seen = HashSet::new();
                let mut stmt = tx.prepare_cached("INSERT INTO input_tags (input_uuid, name, value) VALUES (?, ?, ?)")?;
                for t in &input.tags {
                    if seen.insert(t.key.clone()) {
                        stmt.execute(rusqlite::params![input_uuid, t.key, t.value])?;
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
            let previous: Option<String> = tx
                .prepare_cached("SELECT value FROM tags WHERE run_uuid = ? AND \"key\" = ?")?
                .query_row(rusqlite::params![id, KEY], |r| r.get(0))
                .optional()?;
            let model: serde_json::Value = serde_json::from_str(&model_json).map_err(|e| {
                Wrapped(StoreError::InvalidParameter(format!(
                    "Malformed model info: {e}"
                )))
            })?;
            let mut history: Vec<serde_json::Value> = previous
                .and_then(|p| serde_json::from_str(&p).ok())
                .unwrap_or_default();
            history.push(model);
            let value = serde_json::to_string(&history)
                .map_err(|e| Wrapped(StoreError::Backend(e.to_string())))?;
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
        self.write(move |tx| logged_models::create(tx, model)).await
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

    async fn search_runs(&self, q: SearchRuns) -> StoreResult<Page<Run>> {
        self.read(move |conn| {
            let ids = q.experiment_ids.iter().map(|e| require_experiment_id(e)).collect::<Result<Vec<i64>, _>>()?;
            if ids.is_empty() {
                return Ok(Page { items: Vec::new(), next_page_token: None });
            }
            let (joins, order, inner) = query::run_order_by(DIALECT, &q.order_by, &q.filter);
            let stages = q.view_type.lifecycle_stages();
            let mut f = Fragment::new(format!("SELECT runs.run_uuid FROM runs{} WHERE runs.experiment_id IN ({}) AND runs.lifecycle_stage IN ({})", joins.sql, placeholders(ids.len()), placeholders(stages.len())));
            f.params.extend(joins.params);
            f.params.extend(ids.iter().map(|i| SqlValue::Int(*i)));
            f.params.extend(stages.iter().map(|s| SqlValue::Text(s.to_string())));
            let filter = query::run_filter(DIALECT, &q.filter, &inner);
            if !filter.sql.is_empty() {
                f.sql.push_str(" AND ");
                f.sql.push_str(&filter.sql);
                f.params.extend(filter.params);
            }
            f.sql.push_str(" ORDER BY ");
            f.sql.push_str(&order);
            f.sql.push_str(" LIMIT ? OFFSET ?");
            f.params.push(SqlValue::Int(q.max_results + 1));
            f.params.push(SqlValue::Int(q.offset));
            let run_ids = query_strings(conn, &f.sql, &f.params)?;
            let page = paged(run_ids, q.max_results, q.offset);
            let runs = load_runs(conn, &page.items)?;
            Ok(Page { items: runs, next_page_token: page.next_page_token })
        })
        .await
    }

    async fn get_metric_history(&self, q: MetricHistoryQuery) -> StoreResult<Page<Metric>> {
        self.read(move |conn| {
            // Like MLflow, an unknown run simply has no history.
            let limit = q.max_results.map(|m| m + 1).unwrap_or(-1);
            let mut stmt = conn.prepare_cached(
                "SELECT \"key\", value, timestamp, step, is_nan FROM metrics WHERE run_uuid = ? AND \"key\" = ? ORDER BY timestamp, step, value LIMIT ? OFFSET ?",
            )?;
            let rows = stmt.query_map(rusqlite::params![q.run_id, q.metric_key, limit, q.offset], metric_from_history_row)?;
            let items = rows.collect::<Result<Vec<_>, _>>()?;
            Ok(match q.max_results {
                Some(max) => paged(items, max, q.offset),
                None => Page { items, next_page_token: None },
            })
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
            let mut args: Vec<rusqlite::types::Value> = run_ids.iter().map(|r| r.clone().into()).collect();
            args.push(key.into());
            args.push(max_results.into());
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(args), |r| Ok(RunMetric { run_id: r.get(5)?, metric: metric_from_history_row(r)? }))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn get_metric_history_bulk_interval(
        &self,
        q: BulkIntervalQuery,
    ) -> StoreResult<Vec<RunMetric>> {
        self.read(move |conn| {
            // Sampling happens in SQL: number the run's distinct steps in the window, keep
            // every k-th one plus the first and last, and return the points at those steps.
            let sql = "WITH steps AS (\
                   SELECT DISTINCT step FROM metrics WHERE run_uuid = ?1 AND \"key\" = ?2 AND step >= ?3 AND step <= ?4), \
                 numbered AS (\
                   SELECT step, ROW_NUMBER() OVER (ORDER BY step) - 1 AS rn, COUNT(*) OVER () AS cnt FROM steps), \
                 chosen AS (\
                   SELECT step FROM numbered WHERE cnt <= ?5 OR rn = cnt - 1 OR rn % ((cnt + ?5 - 2) / (?5 - 1)) = 0) \
                 SELECT m.\"key\", m.value, m.timestamp, m.step, m.is_nan FROM metrics m JOIN chosen c ON c.step = m.step \
                 WHERE m.run_uuid = ?1 AND m.\"key\" = ?2 ORDER BY m.step, m.timestamp, m.value";
            let mut out = Vec::new();
            let max = q.max_results.max(2);
            let start = q.start_step.unwrap_or(i64::MIN);
            let end = q.end_step.unwrap_or(i64::MAX);
            let mut stmt = conn.prepare_cached(sql)?;
            for run_id in &q.run_ids {
                let rows = stmt.query_map(rusqlite::params![run_id, q.metric_key, start, end, max], metric_from_history_row)?;
                for m in rows {
                    out.push(RunMetric { run_id: run_id.clone(), metric: m? });
                }
            }
            Ok(out)
        })
        .await
    }
}
