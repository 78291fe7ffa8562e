//! Ferroflow's SQL backends. They store everything in MLflow's own tables (created from
//! MLflow's DDL, see [`schema`]) so a database moves freely between MLflow and Ferroflow.
//! Search filters are compiled by [`query`] into dialect-neutral SQL; the store's logic
//! ([`store`]) is written once against [`db::Db`]; only the drivers in [`db`] and the
//! engines in [`engine`] (threads, pools, transactions) are specific to one database.

pub mod db;
pub mod engine;
pub mod query;
pub mod schema;
pub mod store;
mod uri;

pub use engine::pool::PoolOptions;
pub use schema::{SchemaError, MLFLOW_SCHEMA_REVISION};
pub use store::{ServerOptions, SqlStore, SqliteOptions};
pub use uri::{BackendUri, SqlServerUri, UriError};

/// Milliseconds since the Unix epoch, as MLflow stores times.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Joins a path segment onto an artifact URI or path, the way MLflow's
/// `append_to_uri_path` does (exactly one `/` between the parts).
pub fn append_to_uri_path(base: &str, segment: &str) -> String {
    if base.is_empty() {
        return segment.to_string();
    }
    let base = base.trim_end_matches('/');
    if base.ends_with(':') {
        // "mlflow-artifacts:" + "/0"
        return format!("{base}/{segment}");
    }
    format!("{base}/{segment}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_with_one_slash() {
        assert_eq!(append_to_uri_path("/a/b/", "0"), "/a/b/0");
        assert_eq!(
            append_to_uri_path("mlflow-artifacts:/", "3"),
            "mlflow-artifacts:/3"
        );
        assert_eq!(
            append_to_uri_path("s3://bucket/root", "1"),
            "s3://bucket/root/1"
        );
    }
}
