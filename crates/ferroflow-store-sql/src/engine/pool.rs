//! Running store work on PostgreSQL or MySQL/MariaDB: a bounded pool of connections used
//! from tokio's blocking threads, one transaction per write.
//!
//! Several Ferroflow processes may share the database, so correctness comes from the
//! database, not from this process: each write is one transaction; deadlocks, serialization
//! failures and unique-key races (two replicas creating the same thing) roll back and run
//! the whole request again, which then sees the winner's row and answers as MLflow would.
//!
//! When the database goes away, requests fail fast with 503 TEMPORARILY_UNAVAILABLE: broken
//! connections are dropped, and every later request tries a fresh one, so service resumes
//! by itself as soon as the database is back.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferroflow_store::{StoreError, StoreResult};
use tokio::sync::Semaphore;

use crate::db::mysql::MyConn;
use crate::db::postgres::PgConn;
use crate::db::{Db, DbError, DbErrorKind, Wrapped};

/// How many times a write that hit a deadlock or a key race is run again.
const WRITE_ATTEMPTS: u32 = 6;

/// Pool sizing and timeouts (`--db-pool-size`, `--db-connect-timeout`, `--db-acquire-timeout`
/// and MLflow's `MLFLOW_SQLALCHEMYSTORE_*` variables).
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Most open connections (SQLAlchemy's pool_size + max_overflow).
    pub max_connections: usize,
    /// Giving up on reaching the server.
    pub connect_timeout: Duration,
    /// Giving up on waiting for a free connection when all are busy.
    pub acquire_timeout: Duration,
    /// Connections older than this are closed and replaced (SQLAlchemy's pool_recycle).
    pub recycle: Option<Duration>,
}

impl Default for PoolOptions {
    fn default() -> PoolOptions {
        PoolOptions {
            max_connections: 10,
            connect_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(30),
            recycle: None,
        }
    }
}

/// How to open a connection.
#[derive(Clone)]
pub enum Connector {
    Postgres(Box<crate::db::postgres::PgTarget>),
    Mysql(mysql::Opts),
}

pub enum ServerConn {
    Postgres(Box<PgConn>),
    Mysql(MyConn),
}

impl ServerConn {
    pub fn db(&mut self) -> &mut dyn Db {
        match self {
            ServerConn::Postgres(c) => c.as_mut(),
            ServerConn::Mysql(c) => c,
        }
    }

    pub fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        match self {
            ServerConn::Postgres(c) => c.batch(sql),
            ServerConn::Mysql(c) => c.batch(sql),
        }
    }

    fn begin(&mut self) -> Result<(), DbError> {
        match self {
            ServerConn::Postgres(c) => c.batch("BEGIN"),
            ServerConn::Mysql(c) => c.batch("START TRANSACTION"),
        }
    }

    /// Cheap liveness check before reuse: PostgreSQL notices a closed socket without a
    /// round trip; a MySQL connection idle for a while is pinged.
    fn usable(&mut self, idle_for: Duration) -> bool {
        match self {
            ServerConn::Postgres(c) => c.is_usable(),
            ServerConn::Mysql(c) => idle_for < Duration::from_secs(5) || c.ping(),
        }
    }
}

impl Connector {
    pub fn connect(&self) -> Result<ServerConn, DbError> {
        Ok(match self {
            Connector::Postgres(target) => ServerConn::Postgres(Box::new(PgConn::connect(target)?)),
            Connector::Mysql(opts) => ServerConn::Mysql(MyConn::connect(opts)?),
        })
    }
}

struct Idle {
    conn: ServerConn,
    opened: Instant,
    since: Instant,
}

struct Shared {
    connector: Connector,
    idle: Mutex<Vec<Idle>>,
    options: PoolOptions,
}

pub struct PoolEngine {
    shared: Arc<Shared>,
    slots: Arc<Semaphore>,
}

/// A checked-out connection; `fresh` when it was opened for this request.
struct Lease {
    conn: ServerConn,
    opened: Instant,
    fresh: bool,
}

impl Shared {
    fn checkout(&self) -> Result<Lease, DbError> {
        loop {
            let idle = self.idle.lock().ok().and_then(|mut v| v.pop());
            let Some(mut idle) = idle else { break };
            let expired = self
                .options
                .recycle
                .is_some_and(|r| idle.opened.elapsed() >= r);
            if !expired && idle.conn.usable(idle.since.elapsed()) {
                return Ok(Lease {
                    conn: idle.conn,
                    opened: idle.opened,
                    fresh: false,
                });
            }
        }
        Ok(Lease {
            conn: self.connector.connect()?,
            opened: Instant::now(),
            fresh: true,
        })
    }

    fn give_back(&self, lease: Lease) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(Idle {
                conn: lease.conn,
                opened: lease.opened,
                since: Instant::now(),
            });
        }
    }

    /// After a connection failure the others are likely dead too (a restart, a cut network):
    /// closing them now spares the next requests a failure each.
    fn drop_idle(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}

impl Drop for Shared {
    /// Closing a PostgreSQL connection blocks on the driver's own runtime, which tokio
    /// forbids on an async thread (where the last store handle may be dropped): close the
    /// idle connections on a plain thread.
    fn drop(&mut self) {
        let idle = match self.idle.get_mut() {
            Ok(v) => std::mem::take(v),
            Err(poisoned) => std::mem::take(poisoned.into_inner()),
        };
        if !idle.is_empty() {
            let _ = std::thread::spawn(move || drop(idle)).join();
        }
    }
}

fn unavailable(e: DbError) -> StoreError {
    StoreError::from(DbError::new(DbErrorKind::Connection, e.message))
}

impl PoolEngine {
    /// Opens one connection now, so a wrong URI or an unreachable server stops start-up.
    pub fn new(
        connector: Connector,
        options: PoolOptions,
    ) -> Result<(PoolEngine, ServerConn), DbError> {
        let first = connector.connect()?;
        let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
        Ok((
            PoolEngine {
                shared: Arc::new(Shared {
                    connector,
                    idle: Mutex::new(Vec::new()),
                    options,
                }),
                slots,
            },
            first,
        ))
    }

    /// Keeps a connection opened at start-up for reuse.
    pub fn adopt(&self, conn: ServerConn) {
        self.shared.give_back(Lease {
            conn,
            opened: Instant::now(),
            fresh: false,
        });
    }

    async fn permit(&self) -> StoreResult<tokio::sync::OwnedSemaphorePermit> {
        let wait = self.shared.options.acquire_timeout;
        match tokio::time::timeout(wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(_)) => Err(StoreError::Unavailable("the store is shutting down".into())),
            Err(_) => Err(StoreError::Unavailable(format!(
                "no database connection became free within {} s (pool of {}); try again",
                wait.as_secs(),
                self.shared.options.max_connections
            ))),
        }
    }

    /// Runs `f` outside any explicit transaction (autocommit reads).
    pub async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&mut dyn Db) -> Result<T, Wrapped> + Send + 'static,
    {
        let _permit = self.permit().await?;
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            loop {
                let mut lease = shared.checkout().map_err(unavailable)?;
                match f(lease.conn.db()) {
                    Ok(v) => {
                        shared.give_back(lease);
                        return Ok(v);
                    }
                    // A connection that died while idle: reads are safe to run again.
                    Err(e) if e.is_connection() && !lease.fresh => {
                        shared.drop_idle();
                        continue;
                    }
                    Err(e) => {
                        if e.is_connection() {
                            shared.drop_idle();
                        } else {
                            shared.give_back(lease);
                        }
                        return Err(StoreError::from(e));
                    }
                }
            }
        })
        .await
        .map_err(|e| StoreError::Backend(format!("blocking task failed: {e}")))?
    }

    /// Runs `f` in one transaction, all or nothing, running it again after a deadlock, a
    /// serialization failure or a lost race on a unique key.
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&mut dyn Db) -> Result<T, Wrapped> + Send + 'static,
    {
        let _permit = self.permit().await?;
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let mut attempt = 0;
            loop {
                attempt += 1;
                let mut lease = shared.checkout().map_err(unavailable)?;
                let outcome = run_transaction(&mut lease.conn, &f);
                match outcome {
                    Ok(v) => {
                        shared.give_back(lease);
                        return Ok(v);
                    }
                    Err(Failure { error, committing }) => {
                        let connection = error.is_connection();
                        if connection {
                            shared.drop_idle();
                        } else {
                            shared.give_back(lease);
                        }
                        // Not committed for sure: safe to run again. A connection lost during
                        // COMMIT leaves the outcome unknown, so that one is reported.
                        let retry = (error.is_transient() && attempt < WRITE_ATTEMPTS)
                            || (connection && !committing && attempt == 1);
                        if !retry {
                            return Err(StoreError::from(error));
                        }
                        if error.is_transient() {
                            std::thread::sleep(Duration::from_millis(
                                2 * u64::from(attempt) + u64::from(jitter()),
                            ));
                        }
                    }
                }
            }
        })
        .await
        .map_err(|e| StoreError::Backend(format!("blocking task failed: {e}")))?
    }
}

struct Failure {
    error: Wrapped,
    committing: bool,
}

fn run_transaction<T>(
    conn: &mut ServerConn,
    f: &dyn Fn(&mut dyn Db) -> Result<T, Wrapped>,
) -> Result<T, Failure> {
    let fail = |error: Wrapped, committing| Failure { error, committing };
    conn.begin().map_err(|e| fail(e.into(), false))?;
    match f(conn.db()) {
        Ok(v) => {
            conn.batch("COMMIT").map_err(|e| fail(e.into(), true))?;
            Ok(v)
        }
        Err(e) => {
            // The transaction is aborted either way; a failed ROLLBACK means a dead connection.
            if let Err(rollback) = conn.batch("ROLLBACK") {
                if !e.is_connection() {
                    return Err(fail(Wrapped::Db(rollback), false));
                }
            }
            Err(fail(e, false))
        }
    }
}

/// A few milliseconds of spread so racing replicas do not retry in lockstep.
fn jitter() -> u8 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (nanos % 7) as u8
}
