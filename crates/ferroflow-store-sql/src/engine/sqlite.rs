//! Running store work on SQLite. One writer thread owns the only writing connection (SQLite
//! serializes writers anyway, so queueing in-process beats retrying on SQLITE_BUSY) and a
//! small pool of reader connections serves reads; WAL mode lets readers run while a write
//! commits.
//!
//! Group commit: the writer takes every write request waiting in its queue, runs each in its
//! own SAVEPOINT inside one transaction, and commits once. A request that fails rolls back
//! to its savepoint and leaves the others intact; every caller hears back only after the
//! commit, so an answered write is a durable write. Under concurrent logging this turns N
//! commits (and N rounds of WAL page writes) into one. Reads run on tokio's blocking pool.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ferroflow_store::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::Semaphore;

use crate::db::sqlite::{map_error, SqliteDb};
use crate::db::{Db, Wrapped};
use crate::schema::{ensure_sqlite_schema, SchemaError};

/// Indexes Ferroflow adds beside MLflow's schema, for the queries it actually runs.
const EXTRA_INDEXES: &str = "CREATE INDEX IF NOT EXISTS ferroflow_latest_metrics_key_value ON latest_metrics (\"key\", value);";

/// A write request for the writer thread: runs inside the group transaction and returns
/// the callback that delivers its outcome once the commit's fate is known.
type WriteJob = Box<
    dyn FnOnce(&rusqlite::Transaction<'_>) -> Box<dyn FnOnce(Result<(), String>) + Send> + Send,
>;

/// Most requests folded into one commit.
const MAX_GROUP: usize = 256;

pub struct SqliteEngine {
    /// The one writing connection; the writer thread and the inline fast path share it.
    conn: Arc<Mutex<Connection>>,
    /// `None` once shutting down (dropping the sender stops the writer thread).
    writer: Mutex<Option<std::sync::mpsc::Sender<WriteJob>>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    reader_slots: Semaphore,
    path: PathBuf,
}

fn db<T>(r: rusqlite::Result<T>) -> StoreResult<T> {
    r.map_err(|e| StoreError::from(map_error(e)))
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
/// Each connection caches at most 8 MB of pages; sorts bigger than that spill to temporary
/// files instead of growing the process (temp_store = FILE).
fn configure(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA case_sensitive_like = ON; PRAGMA synchronous = NORMAL; PRAGMA temp_store = FILE; PRAGMA cache_size = -8000;",
    )
}

impl SqliteEngine {
    /// Opens (creating if empty) the MLflow database at `path`. A database at another
    /// schema revision or a non-MLflow file is refused before anything is written.
    /// Returns the engine and whether the schema was created.
    pub fn open(
        path: &Path,
        default_artifact_root: &str,
        readers: usize,
    ) -> Result<(SqliteEngine, bool), SchemaError> {
        let mut writer = open_connection(path)?;
        // A database Ferroflow may refuse is only read until it passes the check; WAL mode (a
        // write to the file header) is switched on after it. An empty file gets WAL first,
        // so creating the schema costs no journal fsyncs.
        let empty: i64 =
            writer.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))?;
        if empty == 0 {
            writer.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
            configure(&writer)?;
        }
        let created = ensure_sqlite_schema(&mut writer, default_artifact_root)?;
        writer.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        configure(&writer)?;
        // Ferroflow's own indexes (MLflow allows extra ones): searches that filter and order
        // by a metric walk this index in order instead of sorting every run.
        writer.execute_batch(EXTRA_INDEXES)?;
        // Checkpoint the WAL every ~32 MB instead of every 4 MB: the checkpoint runs on the
        // writer and fsyncs, so fewer of them means fewer stalls under steady logging.
        writer.execute_batch("PRAGMA wal_autocheckpoint = 8000;")?;
        let readers = readers.max(1);
        let mut pool = Vec::with_capacity(readers);
        for _ in 0..readers {
            let c = open_connection(path)?;
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
        Ok((
            SqliteEngine {
                conn,
                writer: Mutex::new(Some(sender)),
                writer_thread: Mutex::new(Some(thread)),
                readers: Arc::new(Mutex::new(pool)),
                reader_slots: Semaphore::new(readers),
                path: path.to_path_buf(),
            },
            created,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a reader connection on the blocking pool.
    pub async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Db) -> Result<T, Wrapped> + Send + 'static,
    {
        let _permit = self
            .reader_slots
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("store is shutting down".into()))?;
        let readers = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let conn = readers
                .lock()
                .map_err(|_| StoreError::Backend("reader pool poisoned".into()))?
                .pop();
            let conn = match conn {
                Some(c) => c,
                None => {
                    let c = db(open_connection(&path))?;
                    db(configure(&c))?;
                    c
                }
            };
            let result = f(&mut SqliteDb(&conn)).map_err(StoreError::from);
            if let Ok(mut pool) = readers.lock() {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Backend(format!("blocking task failed: {e}")))?
    }

    /// Runs `f` in its own transaction if the connection is free right now; hands `f`
    /// back when another write holds it. (Synchronous, so no lock is held across an await.)
    /// A small write takes tens of microseconds, less than handing it to another thread.
    pub fn try_inline<T, F>(&self, f: F) -> Result<StoreResult<T>, F>
    where
        F: FnOnce(&mut dyn Db) -> Result<T, Wrapped>,
    {
        let mut conn = match self.conn.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return Err(f),
        };
        let run = || -> StoreResult<T> {
            let tx = db(conn.transaction_with_behavior(TransactionBehavior::Immediate))?;
            let value = f(&mut SqliteDb(&tx)).map_err(StoreError::from)?;
            db(tx.commit())?;
            Ok(value)
        };
        Ok(run())
    }

    /// Runs `f` on the writer thread, all or nothing (its own savepoint inside the group
    /// transaction), and answers once the group has committed.
    pub async fn write_grouped<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Db) -> Result<T, Wrapped> + Send + 'static,
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

impl Drop for SqliteEngine {
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
    f: impl FnOnce(&mut dyn Db) -> Result<T, Wrapped>,
) -> StoreResult<T> {
    db(tx.execute_batch("SAVEPOINT request"))?;
    match f(&mut SqliteDb(tx)) {
        Ok(v) => {
            db(tx.execute_batch("RELEASE request"))?;
            Ok(v)
        }
        Err(e) => {
            // Undo just this request; the rest of the group stays.
            db(tx.execute_batch("ROLLBACK TO request; RELEASE request"))?;
            Err(e.into())
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
                tracing::error!(error = %e, "cannot begin a write transaction");
                // Nothing ran: dropping the jobs fails their callers.
                drop(group);
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
