//! The local-directory backend, written on `tokio::fs` directly.
//!
//! Why not `object_store`'s `LocalFileSystem`: it follows symbolic links everywhere (reads,
//! listings, the directories it creates while writing), so keeping it inside the root would
//! mean re-checking every path around every call anyway, and its staging files and
//! path-encoding rules differ from MLflow's. Doing it directly keeps every rule in view:
//!
//! - **Symlink containment.** Every operation walks the artifact path one segment at a time
//!   from the canonical root with `symlink_metadata`. A symlink is resolved
//!   (`canonicalize`) and must land inside the canonical root, otherwise the operation is
//!   refused with [`ArtifactError::InvalidPath`] — reads, writes, listings and deletes alike,
//!   whether the link is the last segment or a parent directory. Dangling links are refused
//!   too. Links that stay inside the root work. Listings hide entries whose links leave
//!   the root. Deleting a link removes the link, never its target; deleting a directory uses
//!   `remove_dir_all`, which does not follow links inside it.
//! - **Directories are created one level at a time** under an already checked, canonical
//!   parent (never `create_dir_all` through unchecked components), re-checking what is
//!   there when another upload created it first.
//! - **Atomic uploads.** A body streams into `.artifact.uploading.<unique>` (MLflow's
//!   prefix, hidden from listings) created with `create_new` (which never follows a link)
//!   next to the target, then is renamed over the target. A failed body, an I/O error, or a
//!   dropped upload future removes the temporary file, so nothing partial is ever visible.
//! - Only regular files are opened for reading (never FIFOs or devices).
//!
//! Residual risk, as in MLflow's `validate_path_within_directory`: the checks and the
//! operations are separate system calls, so someone who can write into the artifact
//! directory *at the same time* could swap a checked directory for a link in between. Such
//! a person already has write access to the artifacts; the checks stop links planted in
//! advance, which is the attack MLflow's CVEs describe.

use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt, TryStreamExt};
use tokio::fs;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};

use crate::{ArtifactError, ArtifactPath, Download, FileInfo};

/// Prefix of in-progress uploads (the same as MLflow's local artifact repository).
pub(crate) const TEMP_PREFIX: &str = ".artifact.uploading.";
const READ_CHUNK: usize = 256 * 1024;
const WRITE_BUFFER: usize = 1024 * 1024;

#[derive(Debug)]
pub(crate) struct LocalBackend {
    /// Absolute, as configured (it may itself be a symlink; its target is the real root).
    root: PathBuf,
}

/// Where an artifact path leads, found by walking it from the canonical root.
enum Resolution {
    /// It exists. `path` is canonical and inside the root; `meta` describes it (links
    /// followed); `link` is the in-root location of the last segment when that is a link.
    Found {
        path: PathBuf,
        meta: Metadata,
        link: Option<PathBuf>,
    },
    /// `dir` (canonical, inside the root, a directory) exists; `rest` below it does not.
    Missing { dir: PathBuf, rest: Vec<String> },
    /// `at` (an artifact path) is not a directory, so nothing can be below it.
    Blocked { at: String },
}

impl LocalBackend {
    pub(crate) fn new(root: PathBuf) -> LocalBackend {
        LocalBackend { root }
    }

    /// The canonical root, or `None` while it does not exist (nothing written yet).
    async fn canonical_root(&self) -> Result<Option<PathBuf>, ArtifactError> {
        match fs::canonicalize(&self.root).await {
            Ok(p) => Ok(Some(p)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ArtifactError::Backend(format!(
                "cannot open the artifact root: {e}"
            ))),
        }
    }

    pub(crate) async fn get(&self, path: &ArtifactPath) -> Result<Download, ArtifactError> {
        refuse_temp_names(path)?;
        let Some(croot) = self.canonical_root().await? else {
            return Err(not_found(path));
        };
        let (real, meta) = match resolve(&croot, path).await? {
            Resolution::Found { path: p, meta, .. } => (p, meta),
            Resolution::Missing { .. } | Resolution::Blocked { .. } => return Err(not_found(path)),
        };
        if meta.is_dir() {
            return Err(ArtifactError::NotFound(format!("'{path}' is a directory")));
        }
        if !meta.is_file() {
            return Err(ArtifactError::InvalidPath(format!(
                "'{path}' is not a regular file"
            )));
        }
        let file = fs::File::open(&real)
            .await
            .map_err(|e| io_error("opening", path, e))?;
        let size = file
            .metadata()
            .await
            .map_err(|e| io_error("opening", path, e))?
            .len();
        let shown = path.to_string();
        let stream = futures::stream::try_unfold(file, |mut file| async move {
            let mut buf = BytesMut::with_capacity(READ_CHUNK);
            let n = file.read_buf(&mut buf).await?;
            Ok::<_, io::Error>((n > 0).then(|| (buf.freeze(), file)))
        })
        .map_err(move |e| ArtifactError::Backend(format!("reading '{shown}': {e}")))
        .boxed();
        Ok(Download { size, stream })
    }

    pub(crate) async fn put<S>(
        &self,
        path: &ArtifactPath,
        mut body: S,
    ) -> Result<u64, ArtifactError>
    where
        S: Stream<Item = Result<Bytes, io::Error>> + Send + Unpin,
    {
        refuse_temp_names(path)?;
        fs::create_dir_all(&self.root)
            .await
            .map_err(|e| ArtifactError::Backend(format!("cannot create the artifact root: {e}")))?;
        let croot = fs::canonicalize(&self.root)
            .await
            .map_err(|e| ArtifactError::Backend(format!("cannot open the artifact root: {e}")))?;
        let (dir, target) = match resolve(&croot, path).await? {
            Resolution::Found { meta, .. } if meta.is_dir() => {
                return Err(ArtifactError::InvalidPath(format!(
                    "'{path}' is a directory; an upload needs a file path"
                )))
            }
            Resolution::Found { path: p, meta, .. } if meta.is_file() => {
                let dir = p.parent().map(Path::to_path_buf).ok_or_else(|| {
                    ArtifactError::Backend(format!("'{path}' has no parent directory"))
                })?;
                (dir, p)
            }
            Resolution::Found { .. } => {
                return Err(ArtifactError::InvalidPath(format!(
                    "'{path}' exists and is not a regular file"
                )))
            }
            Resolution::Blocked { at } => {
                return Err(ArtifactError::InvalidPath(format!(
                    "'{at}' is a file, so '{path}' cannot be created under it"
                )))
            }
            Resolution::Missing { dir, rest } => {
                let Some((name, dirs)) = rest.split_last() else {
                    return Err(ArtifactError::InvalidPath(format!("'{path}' is the root")));
                };
                let mut cur = dir;
                for d in dirs {
                    cur = make_dir(&croot, cur, d, path).await?;
                }
                let target = cur.join(name);
                (cur, target)
            }
        };

        let (file, temp) = create_temp(&dir, path).await?;
        let mut writer = BufWriter::with_capacity(WRITE_BUFFER, file);
        let mut written: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| ArtifactError::Body(e.to_string()))?;
            writer
                .write_all(&chunk)
                .await
                .map_err(|e| io_error("writing", path, e))?;
            written += chunk.len() as u64;
        }
        writer
            .flush()
            .await
            .map_err(|e| io_error("writing", path, e))?;
        drop(writer);
        fs::rename(temp.path(), &target)
            .await
            .map_err(|e| io_error("storing", path, e))?;
        temp.keep();
        Ok(written)
    }

    pub(crate) async fn list(&self, dir: &ArtifactPath) -> Result<Vec<FileInfo>, ArtifactError> {
        let Some(croot) = self.canonical_root().await? else {
            return Ok(Vec::new());
        };
        let real = match resolve(&croot, dir).await? {
            Resolution::Found { path: p, meta, .. } if meta.is_dir() => p,
            _ => return Ok(Vec::new()),
        };
        let mut entries = fs::read_dir(&real)
            .await
            .map_err(|e| io_error("listing", dir, e))?;
        let mut out = Vec::new();
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|e| io_error("listing", dir, e))?
        {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(TEMP_PREFIX) {
                continue;
            }
            // Names no client could address (backslashes, control characters, ...) are
            // not listed.
            let Ok(child) = dir.child(name) else { continue };
            let Ok(file_type) = entry.file_type().await else {
                continue;
            };
            let meta = if file_type.is_symlink() {
                match fs::canonicalize(entry.path()).await {
                    Ok(target) if target.starts_with(&croot) => match fs::metadata(&target).await {
                        Ok(m) => m,
                        Err(_) => continue,
                    },
                    // Links leaving the root, dangling or looping, are not shown.
                    _ => continue,
                }
            } else {
                match entry.metadata().await {
                    Ok(m) => m,
                    Err(_) => continue,
                }
            };
            if meta.is_dir() {
                out.push(FileInfo {
                    path: child.to_string(),
                    is_dir: true,
                    file_size: None,
                });
            } else if meta.is_file() {
                out.push(FileInfo {
                    path: child.to_string(),
                    is_dir: false,
                    file_size: Some(meta.len()),
                });
            }
        }
        Ok(out)
    }

    pub(crate) async fn delete(&self, path: &ArtifactPath) -> Result<(), ArtifactError> {
        let Some(croot) = self.canonical_root().await? else {
            return Ok(());
        };
        let result = match resolve(&croot, path).await? {
            // Remove the link itself (its target was checked to be inside the root).
            Resolution::Found {
                link: Some(link), ..
            } => fs::remove_file(&link).await,
            Resolution::Found { path: p, meta, .. } if meta.is_dir() => {
                if p == croot {
                    return Err(ArtifactError::InvalidPath(format!(
                        "'{path}' is the artifact root; refusing to delete it"
                    )));
                }
                fs::remove_dir_all(&p).await
            }
            Resolution::Found { path: p, .. } => fs::remove_file(&p).await,
            Resolution::Missing { .. } | Resolution::Blocked { .. } => return Ok(()),
        };
        match result {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error("deleting", path, e)),
            _ => Ok(()),
        }
    }

    pub(crate) async fn is_dir(&self, path: &ArtifactPath) -> Result<bool, ArtifactError> {
        let Some(croot) = self.canonical_root().await? else {
            return Ok(false);
        };
        Ok(matches!(
            resolve(&croot, path).await?,
            Resolution::Found { meta, .. } if meta.is_dir()
        ))
    }
}

/// Walks `path` from the canonical root, checking every symlink on the way.
async fn resolve(croot: &Path, path: &ArtifactPath) -> Result<Resolution, ArtifactError> {
    let segments: Vec<&str> = path.segments().collect();
    let mut cur = croot.to_path_buf();
    let mut meta = fs::metadata(croot)
        .await
        .map_err(|e| ArtifactError::Backend(format!("cannot open the artifact root: {e}")))?;
    let mut link = None;
    for (i, segment) in segments.iter().enumerate() {
        let shown = || segments[..=i].join("/");
        if !meta.is_dir() {
            return Ok(Resolution::Blocked {
                at: segments[..i].join("/"),
            });
        }
        let next = cur.join(segment);
        let next_meta = match fs::symlink_metadata(&next).await {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Resolution::Missing {
                    dir: cur,
                    rest: segments[i..].iter().map(|s| s.to_string()).collect(),
                })
            }
            Err(e) => {
                return Err(ArtifactError::Backend(format!(
                    "reading '{}': {e}",
                    shown()
                )))
            }
        };
        if next_meta.file_type().is_symlink() {
            let target = checked_link_target(croot, &next, &shown()).await?;
            meta = fs::metadata(&target)
                .await
                .map_err(|e| ArtifactError::Backend(format!("reading '{}': {e}", shown())))?;
            link = Some(next);
            cur = target;
        } else {
            meta = next_meta;
            link = None;
            cur = next;
        }
    }
    Ok(Resolution::Found {
        path: cur,
        meta,
        link,
    })
}

/// The canonical target of the link at `at`, which must exist inside the root.
async fn checked_link_target(
    croot: &Path,
    at: &Path,
    shown: &str,
) -> Result<PathBuf, ArtifactError> {
    match fs::canonicalize(at).await {
        Ok(target) if target.starts_with(croot) => Ok(target),
        Ok(_) => Err(ArtifactError::InvalidPath(format!(
            "'{shown}' is a symbolic link that leads outside the artifact root"
        ))),
        Err(e) => Err(ArtifactError::InvalidPath(format!(
            "'{shown}' is a symbolic link that cannot be resolved ({e})"
        ))),
    }
}

/// Creates directory `name` in the checked directory `parent`; when something is already
/// there (a concurrent upload made it), accepts it only if it is a directory inside the root.
async fn make_dir(
    croot: &Path,
    parent: PathBuf,
    name: &str,
    path: &ArtifactPath,
) -> Result<PathBuf, ArtifactError> {
    let next = parent.join(name);
    match fs::create_dir(&next).await {
        Ok(()) => return Ok(next),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_error("creating a directory for", path, e)),
    }
    let meta = fs::symlink_metadata(&next)
        .await
        .map_err(|e| io_error("creating a directory for", path, e))?;
    let (dir, meta) = if meta.file_type().is_symlink() {
        let target = checked_link_target(croot, &next, path.as_str()).await?;
        let meta = fs::metadata(&target)
            .await
            .map_err(|e| io_error("creating a directory for", path, e))?;
        (target, meta)
    } else {
        (next, meta)
    };
    if meta.is_dir() {
        Ok(dir)
    } else {
        Err(ArtifactError::InvalidPath(format!(
            "a file is in the way of '{path}'"
        )))
    }
}

/// A temporary upload file, removed when dropped unless [`TempFile::keep`] was called (so a
/// failed or cancelled upload leaves nothing behind).
struct TempFile(Option<PathBuf>);

impl TempFile {
    fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }

    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            // One unlink; done synchronously so it also happens when the future is dropped.
            let _ = std::fs::remove_file(path);
        }
    }
}

async fn create_temp(
    dir: &Path,
    path: &ArtifactPath,
) -> Result<(fs::File, TempFile), ArtifactError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut attempts = 0;
    loop {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "{TEMP_PREFIX}{}.{}.{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let temp = dir.join(name);
        // create_new: O_CREAT|O_EXCL, which never follows a symlink.
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .await
        {
            Ok(file) => return Ok((file, TempFile(Some(temp)))),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 8 => attempts += 1,
            Err(e) => return Err(io_error("creating", path, e)),
        }
    }
}

/// Names of in-progress uploads are reserved: they are neither written nor read directly.
fn refuse_temp_names(path: &ArtifactPath) -> Result<(), ArtifactError> {
    if path.segments().any(|s| s.starts_with(TEMP_PREFIX)) {
        return Err(ArtifactError::InvalidPath(format!(
            "'{path}': names starting with '{TEMP_PREFIX}' are reserved for uploads in progress"
        )));
    }
    Ok(())
}

fn not_found(path: &ArtifactPath) -> ArtifactError {
    ArtifactError::NotFound(format!("'{path}'"))
}

/// An I/O error in terms of the artifact path (never the server's directory layout).
fn io_error(doing: &str, path: &ArtifactPath, e: io::Error) -> ArtifactError {
    match e.kind() {
        io::ErrorKind::NotFound => not_found(path),
        _ => ArtifactError::Backend(format!("{doing} '{path}': {e}")),
    }
}
