//! MLflow's artifact storage for Ferroflow.
//!
//! - [`ArtifactPath`]: a client-supplied path, validated against every traversal form in
//!   MLflow's CVE history before any backend sees it.
//! - [`ArtifactStore`]: one artifact root (`--artifacts-destination`) behind one API — a
//!   local directory, or S3 / GCS / Azure Blob through the `object_store` crate. Uploads
//!   stream (multipart in [`PART_SIZE`] parts on object stores) and never leave a partial
//!   object behind; downloads stream.
//!
//! The HTTP layer owns status codes and content types; [`guess_content_type`] mirrors
//! MLflow's choice for downloads.
#![forbid(unsafe_code)]

mod config;
mod local;
mod path;
mod remote;

use std::sync::Arc;

pub use bytes::Bytes;
use futures::stream::BoxStream;
use futures::Stream;

pub use path::{ArtifactPath, MAX_PATH_LEN};
pub use remote::{MAX_PARTS_IN_FLIGHT, PART_SIZE};

/// Everything that can go wrong with an artifact operation. Each message says what was
/// wrong, in terms of the artifact path (never the server's file-system layout).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArtifactError {
    /// The path is unsafe or unusable (traversal, symlink escape, a directory where a file
    /// is needed, ...). MLflow answers `INVALID_PARAMETER_VALUE` (400).
    #[error("invalid artifact path {0}")]
    InvalidPath(String),
    /// Nothing there. MLflow answers `RESOURCE_DOES_NOT_EXIST` (404).
    #[error("artifact not found: {0}")]
    NotFound(String),
    /// The storage backend failed (I/O error, S3 error, ...). A 500.
    #[error("artifact storage failed: {0}")]
    Backend(String),
    /// The artifact root URI or its credentials settings are unusable (start-up error).
    #[error("artifact store configuration: {0}")]
    Config(String),
    /// Reading the upload body failed (client went away, body limit hit); nothing was stored.
    #[error("reading the upload body failed: {0}")]
    Body(String),
}

/// One entry of a listing, like MLflow's `FileInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Relative to the store root, e.g. `1/abc/artifacts/model/MLmodel`.
    pub path: String,
    pub is_dir: bool,
    /// Size in bytes for files, `None` for directories.
    pub file_size: Option<u64>,
}

/// An opened download: its size, and its bytes as a stream (never loaded whole).
pub struct Download {
    pub size: u64,
    pub stream: BoxStream<'static, Result<Bytes, ArtifactError>>,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// One artifact root. Cheap to clone (an `Arc` inside); share it between handlers.
#[derive(Clone, Debug)]
pub struct ArtifactStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root_uri: String,
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    Local(local::LocalBackend),
    Object(remote::ObjectBackend),
}

impl ArtifactStore {
    /// Opens an artifact root, reading credentials from the process environment.
    ///
    /// `uri`: a local path (relative paths are made absolute against the current
    /// directory), `file:///abs`, `s3://bucket/prefix` (also `s3a://`), `gs://bucket/prefix`,
    /// `wasbs://container@account.blob.core.windows.net/prefix` (also `wasb://`,
    /// `abfss://container@account.dfs.core.windows.net/prefix`, `abfs://`), or
    /// `az://container/prefix` (account from `AZURE_STORAGE_ACCOUNT_NAME` or the connection
    /// string).
    ///
    /// S3: `MLFLOW_S3_ENDPOINT_URL` (S3-compatible endpoint; path-style addressing, plain
    /// HTTP allowed for `http://` endpoints), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`, `AWS_REGION` / `AWS_DEFAULT_REGION` (default `us-east-1`),
    /// `MLFLOW_S3_IGNORE_TLS`, and the other `AWS_*` settings `object_store` knows (web
    /// identity, container credentials, ...). GCS: `GOOGLE_APPLICATION_CREDENTIALS` (and
    /// `GOOGLE_SERVICE_ACCOUNT*`). Azure: `AZURE_STORAGE_CONNECTION_STRING`, or
    /// `AZURE_STORAGE_ACCESS_KEY` with the account from the URI, or the other `AZURE_*`
    /// settings `object_store` knows.
    ///
    /// No network access happens here; bad credentials show up on the first operation.
    pub fn from_uri(uri: &str) -> Result<ArtifactStore, ArtifactError> {
        ArtifactStore::from_uri_with_env(uri, std::env::vars())
    }

    /// [`ArtifactStore::from_uri`] with the environment given explicitly (tests, or a
    /// server that reads settings from elsewhere). Process environment is not consulted.
    pub fn from_uri_with_env<I, K, V>(uri: &str, env: I) -> Result<ArtifactStore, ArtifactError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let env = config::Env::new(env);
        let (root_uri, backend) = match config::parse(uri, &env)? {
            config::Parsed::Local(root) => {
                let shown = root.display().to_string();
                (shown, Backend::Local(local::LocalBackend::new(root)))
            }
            config::Parsed::Object {
                root_uri,
                store,
                prefix,
            } => (
                root_uri,
                Backend::Object(remote::ObjectBackend::new(store, prefix)),
            ),
        };
        Ok(ArtifactStore {
            inner: Arc::new(Inner { root_uri, backend }),
        })
    }

    /// The root this store serves: the absolute directory for local roots, otherwise the
    /// URI without a trailing `/` (e.g. `s3://bucket/prefix`).
    pub fn root_uri(&self) -> &str {
        &self.inner.root_uri
    }

    /// Whether the root is a local directory.
    pub fn is_local(&self) -> bool {
        matches!(self.inner.backend, Backend::Local(_))
    }

    /// Streams `body` to `path` without holding it whole in memory and returns the number of
    /// bytes written. Replaces an existing file. A failed, or dropped, upload leaves nothing
    /// at `path` (and no temporary file or unfinished multipart upload behind).
    pub async fn put<S>(&self, path: &ArtifactPath, body: S) -> Result<u64, ArtifactError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + Unpin,
    {
        if path.is_root() {
            return Err(ArtifactError::InvalidPath(
                "'': an upload needs a file path, not the root".to_string(),
            ));
        }
        match &self.inner.backend {
            Backend::Local(b) => b.put(path, body).await,
            Backend::Object(b) => b.put(path, body).await,
        }
    }

    /// Opens `path` for download. Missing (or a directory) → [`ArtifactError::NotFound`].
    pub async fn get(&self, path: &ArtifactPath) -> Result<Download, ArtifactError> {
        if path.is_root() {
            return Err(ArtifactError::NotFound(
                "'' is the root directory".to_string(),
            ));
        }
        match &self.inner.backend {
            Backend::Local(b) => b.get(path).await,
            Backend::Object(b) => b.get(path).await,
        }
    }

    /// Direct children of `dir` (files with sizes, then sub-directories, all sorted by
    /// path), paths relative to the store root. A missing directory, or a file, lists empty.
    pub async fn list(&self, dir: &ArtifactPath) -> Result<Vec<FileInfo>, ArtifactError> {
        let mut entries = match &self.inner.backend {
            Backend::Local(b) => b.list(dir).await?,
            Backend::Object(b) => b.list(dir).await?,
        };
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(entries)
    }

    /// Deletes a file, or a directory and everything under it. Deleting something that is
    /// not there succeeds (as in MLflow); deleting the root is refused.
    pub async fn delete(&self, path: &ArtifactPath) -> Result<(), ArtifactError> {
        if path.is_root() {
            return Err(ArtifactError::InvalidPath(
                "'': refusing to delete the whole artifact root".to_string(),
            ));
        }
        match &self.inner.backend {
            Backend::Local(b) => b.delete(path).await,
            Backend::Object(b) => b.delete(path).await,
        }
    }

    /// Whether `path` is a directory (on object stores: has objects under it).
    pub async fn is_dir(&self, path: &ArtifactPath) -> Result<bool, ArtifactError> {
        match &self.inner.backend {
            Backend::Local(b) => b.is_dir(path).await,
            Backend::Object(b) => b.is_dir(path).await,
        }
    }
}

/// The `Content-Type` MLflow sends for a downloaded artifact: `text/plain` for its text
/// extensions (and `MLmodel` / `MLproject`), the usual types for images, HTML, PDF and
/// archives, `application/octet-stream` otherwise.
pub fn guess_content_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    // Like Python's os.path.splitext: a leading dot does not start an extension.
    let ext = match name.trim_start_matches('.').rsplit_once('.') {
        Some((_, ext)) => ext,
        None => name,
    };
    const TEXT: &[&str] = &[
        "txt",
        "log",
        "err",
        "cfg",
        "conf",
        "cnf",
        "cf",
        "ini",
        "properties",
        "prop",
        "hocon",
        "toml",
        "yaml",
        "yml",
        "xml",
        "json",
        "js",
        "py",
        "py3",
        "csv",
        "tsv",
        "md",
        "rst",
        "ipynb",
        "MLmodel",
        "MLproject",
    ];
    if TEXT.contains(&ext) {
        return "text/plain";
    }
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") || lower.ends_with(".tar.bz2") {
        return "application/x-tar";
    }
    match ext.to_ascii_lowercase().as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" | "jpe" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "tif" | "tiff" => "image/tiff",
        "ico" => "image/vnd.microsoft.icon",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "tar" => "application/x-tar",
        "mp4" => "video/mp4",
        "wav" => "audio/x-wav",
        "mp3" => "audio/mpeg",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_follow_mlflow() {
        assert_eq!(guess_content_type("a/b/notes.txt"), "text/plain");
        assert_eq!(guess_content_type("metrics.json"), "text/plain");
        assert_eq!(guess_content_type("conda.yaml"), "text/plain");
        assert_eq!(
            guess_content_type("1/abc/artifacts/model/MLmodel"),
            "text/plain"
        );
        assert_eq!(guess_content_type("MLproject"), "text/plain");
        assert_eq!(guess_content_type("data.csv"), "text/plain");
        assert_eq!(guess_content_type("plot.png"), "image/png");
        assert_eq!(guess_content_type("photo.JPG"), "image/jpeg");
        assert_eq!(guess_content_type("fig.svg"), "image/svg+xml");
        assert_eq!(guess_content_type("report.html"), "text/html");
        assert_eq!(guess_content_type("model.pkl"), "application/octet-stream");
        assert_eq!(
            guess_content_type("part-0.parquet"),
            "application/octet-stream"
        );
        assert_eq!(guess_content_type("noext"), "application/octet-stream");
        assert_eq!(guess_content_type(".json"), "application/octet-stream");
        assert_eq!(guess_content_type("a.tar.gz"), "application/x-tar");
        assert_eq!(guess_content_type("a.gz"), "application/octet-stream");
    }

    #[test]
    fn store_futures_are_send() {
        fn assert_send<T: Send>(_: &T) {}
        let Ok(store) = ArtifactStore::from_uri_with_env(
            "/tmp/ferroflow-send-check",
            std::iter::empty::<(String, String)>(),
        ) else {
            panic!("local store");
        };
        let p = ArtifactPath::parse("x").expect("valid");
        let body = futures::stream::empty::<Result<Bytes, std::io::Error>>();
        assert_send(&store.put(&p, body));
        assert_send(&store.get(&p));
        assert_send(&store.list(&p));
        assert_send(&store.delete(&p));
        assert_send(&store.is_dir(&p));
    }
}
