//! MLflow's artifact storage for Ferroflow.
//!
//! - [`ArtifactPath`]: a client-supplied path, validated against every traversal form in
//!   MLflow's CVE history before any backend sees it.
//! - [`ArtifactStore`]: one artifact root (`--artifacts-destination`) behind one API — a
//!   local directory, or S3 / GCS / Azure Blob through the `object_store` crate. Uploads
//!   stream (multipart in [`PART_SIZE`] parts on object stores) and never leave a partial
//!   object behind; downloads stream.
//! - Client-driven multipart uploads ([`ArtifactStore::multipart_create`] and friends): the
//!   client cuts the file into numbered parts and sends them in any order, to any replica;
//!   all state lives in the object store (upload id, parts), so servers stay stateless.
//!   S3 and GCS only ([`ArtifactStore::supports_multipart`]).
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
    /// The backend cannot do this (client-driven multipart uploads on a local directory or
    /// Azure). MLflow answers `NOT_IMPLEMENTED` (501), and its client falls back to a PUT.
    #[error("{0}")]
    Unsupported(String),
    /// A multipart request the storage refused as malformed: part numbers out of range or
    /// not `1..=N`, an ETag that does not match an uploaded part, a part too small or too
    /// large. `INVALID_PARAMETER_VALUE` (400); the upload stays open until aborted.
    #[error("invalid multipart upload: {0}")]
    InvalidUpload(String),
}

/// [`ArtifactError::Unsupported`]'s message for multipart uploads: MLflow's own words, which
/// older clients match to fall back to a plain upload.
pub const MULTIPART_UNSUPPORTED: &str =
    "Multipart upload is not supported for the current artifact repository";

/// The largest part of a client-driven multipart upload (S3's limit): 5 GiB.
pub const MAX_MULTIPART_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// The most parts one multipart upload may have (S3's limit); part numbers are `1..=10000`.
pub const MAX_MULTIPART_PARTS: u32 = 10_000;

/// One uploaded part, as the client reports it when completing an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    /// 1-based.
    pub part_number: u32,
    /// What [`ArtifactStore::multipart_put_part`] returned for this part.
    pub etag: String,
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
                multipart,
                prefix,
            } => (
                root_uri,
                Backend::Object(remote::ObjectBackend::new(store, multipart, prefix)),
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

    /// Whether client-driven multipart uploads work here (S3 and GCS; not local directories
    /// or Azure, where the `multipart_*` methods return [`ArtifactError::Unsupported`]).
    pub fn supports_multipart(&self) -> bool {
        match &self.inner.backend {
            Backend::Local(_) => false,
            Backend::Object(b) => b.supports_multipart(),
        }
    }

    fn multipart_backend(&self) -> Result<&remote::ObjectBackend, ArtifactError> {
        match &self.inner.backend {
            Backend::Object(b) if b.supports_multipart() => Ok(b),
            _ => Err(ArtifactError::Unsupported(
                MULTIPART_UNSUPPORTED.to_string(),
            )),
        }
    }

    /// Starts a multipart upload of `path` and returns its upload id. Nothing is visible at
    /// `path` until [`ArtifactStore::multipart_complete`].
    pub async fn multipart_create(&self, path: &ArtifactPath) -> Result<String, ArtifactError> {
        let backend = self.multipart_backend()?;
        if path.is_root() {
            return Err(ArtifactError::InvalidPath(
                "'': an upload needs a file path, not the root".to_string(),
            ));
        }
        backend.multipart_create(path).await
    }

    /// Uploads part `part_number` (`1..=`[`MAX_MULTIPART_PARTS`]) of the upload `upload_id`
    /// of `path` and returns the part's ETag, which the client hands back to
    /// [`ArtifactStore::multipart_complete`]. The part is collected in memory (at most
    /// [`MAX_MULTIPART_PART_SIZE`]; a longer body is refused as [`ArtifactError::Body`]).
    /// Sending a part number again replaces that part.
    pub async fn multipart_put_part<S>(
        &self,
        path: &ArtifactPath,
        upload_id: &str,
        part_number: u32,
        body: S,
    ) -> Result<String, ArtifactError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + Unpin,
    {
        let backend = self.multipart_backend()?;
        check_upload_id(upload_id)?;
        if !(1..=MAX_MULTIPART_PARTS).contains(&part_number) {
            return Err(ArtifactError::InvalidUpload(format!(
                "part number {part_number} is out of range; parts are numbered 1 to \
                 {MAX_MULTIPART_PARTS}"
            )));
        }
        backend
            .multipart_put_part(path, upload_id, part_number, body)
            .await
    }

    /// Completes the upload: the object appears at `path` (replacing any earlier one) made
    /// of `parts` in part-number order. The parts must be numbered exactly `1..=N` (in any
    /// order here), each with the ETag its upload returned. On
    /// [`ArtifactError::InvalidUpload`] the upload stays open for a retry or an abort.
    pub async fn multipart_complete(
        &self,
        path: &ArtifactPath,
        upload_id: &str,
        mut parts: Vec<CompletedPart>,
    ) -> Result<(), ArtifactError> {
        let backend = self.multipart_backend()?;
        check_upload_id(upload_id)?;
        if parts.len() > MAX_MULTIPART_PARTS as usize {
            return Err(ArtifactError::InvalidUpload(format!(
                "{} parts; an upload has at most {MAX_MULTIPART_PARTS}",
                parts.len()
            )));
        }
        parts.sort_by_key(|p| p.part_number);
        for (i, part) in parts.iter().enumerate() {
            let expected = i as u32 + 1;
            if part.part_number != expected {
                return Err(ArtifactError::InvalidUpload(format!(
                    "the parts must be numbered 1 to {} without gaps or repeats; found part \
                     number {} where part {expected} belongs",
                    parts.len(),
                    part.part_number
                )));
            }
            if part.etag.trim().is_empty() {
                return Err(ArtifactError::InvalidUpload(format!(
                    "part {} has no ETag",
                    part.part_number
                )));
            }
        }
        backend.multipart_complete(path, upload_id, parts).await
    }

    /// Aborts the upload and drops its parts. Aborting an upload that is already gone
    /// (completed, aborted, never created) succeeds.
    pub async fn multipart_abort(
        &self,
        path: &ArtifactPath,
        upload_id: &str,
    ) -> Result<(), ArtifactError> {
        let backend = self.multipart_backend()?;
        check_upload_id(upload_id)?;
        backend.multipart_abort(path, upload_id).await
    }

    /// Whether `path` is a directory (on object stores: has objects under it).
    pub async fn is_dir(&self, path: &ArtifactPath) -> Result<bool, ArtifactError> {
        match &self.inner.backend {
            Backend::Local(b) => b.is_dir(path).await,
            Backend::Object(b) => b.is_dir(path).await,
        }
    }
}

/// Longest upload id accepted (S3's are a few hundred characters).
const MAX_UPLOAD_ID_LEN: usize = 1024;

/// Upload ids come back from clients: non-empty, bounded, printable ASCII.
fn check_upload_id(upload_id: &str) -> Result<(), ArtifactError> {
    if upload_id.is_empty() {
        return Err(ArtifactError::InvalidUpload(
            "the upload id is empty".to_string(),
        ));
    }
    if upload_id.len() > MAX_UPLOAD_ID_LEN || !upload_id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ArtifactError::InvalidUpload(format!(
            "'{}' is not an upload id this server handed out",
            upload_id.escape_default()
        )));
    }
    Ok(())
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

    #[tokio::test]
    async fn multipart_needs_an_object_store_with_upload_ids() {
        let none = std::iter::empty::<(String, String)>;
        let s3 = ArtifactStore::from_uri_with_env("s3://bucket/prefix", none()).expect("s3");
        let gcs = ArtifactStore::from_uri_with_env("gs://bucket/prefix", none()).expect("gcs");
        let azure = ArtifactStore::from_uri_with_env(
            "wasbs://container@account.blob.core.windows.net/prefix",
            [("AZURE_STORAGE_ACCESS_KEY", "ZmVycm9mbG93LXRlc3Qta2V5")],
        )
        .expect("azure");
        let local =
            ArtifactStore::from_uri_with_env("/tmp/ferroflow-mpu-check", none()).expect("local");
        assert!(s3.supports_multipart());
        assert!(gcs.supports_multipart());
        assert!(!azure.supports_multipart());
        assert!(!local.supports_multipart());
        let p = ArtifactPath::parse("a/b.bin").expect("valid");
        for store in [&azure, &local] {
            let unsupported = |r: Result<(), ArtifactError>| {
                assert!(matches!(r, Err(ArtifactError::Unsupported(_))), "{r:?}")
            };
            unsupported(store.multipart_create(&p).await.map(|_| ()));
            let part = futures::stream::iter(vec![Ok(Bytes::from_static(b"x"))]);
            unsupported(
                store
                    .multipart_put_part(&p, "id", 1, part)
                    .await
                    .map(|_| ()),
            );
            unsupported(store.multipart_complete(&p, "id", Vec::new()).await);
            unsupported(store.multipart_abort(&p, "id").await);
        }
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
        let part = futures::stream::empty::<Result<Bytes, std::io::Error>>();
        assert_send(&store.multipart_create(&p));
        assert_send(&store.multipart_put_part(&p, "id", 1, part));
        assert_send(&store.multipart_complete(&p, "id", Vec::new()));
        assert_send(&store.multipart_abort(&p, "id"));
    }
}
