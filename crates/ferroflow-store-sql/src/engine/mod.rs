//! Where store work runs: how reads get a connection and how writes become transactions.
//! The store's logic hands each engine a closure over [`Db`]; the engine decides threads,
//! transactions and retries for its database.

use ferroflow_store::StoreResult;

use crate::db::{Db, Wrapped};

pub mod pool;
pub mod sqlite;

pub enum Engine {
    Sqlite(sqlite::SqliteEngine),
    Server(pool::PoolEngine),
}

/// Writes up to this many metrics/params/tags may run inline on an HTTP worker (SQLite).
pub const SMALL_WRITE_ENTRIES: usize = 32;

impl Engine {
    pub async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&mut dyn Db) -> Result<T, Wrapped> + Send + 'static,
    {
        match self {
            Engine::Sqlite(e) => e.read(f).await,
            Engine::Server(e) => e.read(f).await,
        }
    }

    /// Runs a small write `f`, all or nothing, and answers once it is committed. On SQLite
    /// it runs right here when the writing connection is free, otherwise it joins the
    /// writer thread's next group commit.
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&mut dyn Db) -> Result<T, Wrapped> + Send + 'static,
    {
        match self {
            Engine::Sqlite(e) => match e.try_inline(f) {
                Ok(result) => result,
                Err(f) => e.write_grouped(f).await,
            },
            Engine::Server(e) => e.write(f).await,
        }
    }

    /// A write that may take milliseconds: on SQLite it always goes to the writer thread,
    /// never an HTTP worker.
    pub async fn write_large<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&mut dyn Db) -> Result<T, Wrapped> + Send + 'static,
    {
        match self {
            Engine::Sqlite(e) => e.write_grouped(f).await,
            Engine::Server(e) => e.write(f).await,
        }
    }
}
