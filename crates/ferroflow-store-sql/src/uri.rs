//! `--backend-store-uri` as MLflow (SQLAlchemy) spells it.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub enum BackendUri {
    /// `sqlite:///relative.db` or `sqlite:////absolute/path.db`.
    Sqlite(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum UriError {
    #[error(
        "unsupported backend store URI '{0}': Ferroflow accepts sqlite:///<path> \
         (PostgreSQL and MySQL support is coming)"
    )]
    Unsupported(String),
    #[error("invalid SQLite URI '{0}': expected sqlite:///<relative path> or sqlite:////<absolute path>")]
    BadSqlite(String),
}

impl BackendUri {
    pub fn parse(uri: &str) -> Result<BackendUri, UriError> {
        if let Some(rest) = uri.strip_prefix("sqlite://") {
            // SQLAlchemy: "sqlite:///" + path; the path is relative unless it starts with "/".
            let path = rest
                .strip_prefix('/')
                .ok_or_else(|| UriError::BadSqlite(uri.to_string()))?;
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() || path == ":memory:" {
                return Err(UriError::BadSqlite(uri.to_string()));
            }
            return Ok(BackendUri::Sqlite(PathBuf::from(path)));
        }
        Err(UriError::Unsupported(uri.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_relative_and_absolute_paths() {
        assert_eq!(
            BackendUri::parse("sqlite:///mlflow.db").ok(),
            Some(BackendUri::Sqlite("mlflow.db".into()))
        );
        assert_eq!(
            BackendUri::parse("sqlite:////tmp/x.db").ok(),
            Some(BackendUri::Sqlite("/tmp/x.db".into()))
        );
    }

    #[test]
    fn other_schemes_are_refused_with_the_uri_named() {
        let msg = BackendUri::parse("mongodb://x")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.contains("mongodb://x"), "{msg}");
    }
}
