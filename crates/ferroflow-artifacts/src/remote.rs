//! Object-store backends (S3 and S3-compatible, GCS, Azure Blob) through `object_store`.
//!
//! Keys are `<prefix>/<artifact path>`; [`ArtifactPath`] has already refused anything
//! that could escape the prefix, and object stores have no symlinks.
//!
//! Uploads: a body shorter than [`PART_SIZE`] is sent with one `PUT`. A longer one becomes
//! a multipart upload in parts of exactly [`PART_SIZE`] (the last one shorter; providers
//! such as R2 need equal parts), with at most [`MAX_PARTS_IN_FLIGHT`] parts uploading at
//! once, so an upload holds at most about `(MAX_PARTS_IN_FLIGHT + 1) * PART_SIZE` bytes.
//! Multipart objects appear only on completion; on any error the upload is aborted (and
//! awaited) before `put` returns, and if the `put` future is dropped midway the abort runs
//! on a spawned task.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{MultipartUpload, ObjectStore, PutPayload, PutPayloadMut};
use tokio::task::JoinSet;

use crate::{ArtifactError, ArtifactPath, Download, FileInfo};

/// Multipart part size: 8 MiB.
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts of one upload sent concurrently.
pub const MAX_PARTS_IN_FLIGHT: usize = 2;

#[derive(Debug)]
pub(crate) struct ObjectBackend {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
}

impl ObjectBackend {
    pub(crate) fn new(store: Arc<dyn ObjectStore>, prefix: ObjectPath) -> ObjectBackend {
        ObjectBackend { store, prefix }
    }

    fn key(&self, path: &ArtifactPath) -> Result<ObjectPath, ArtifactError> {
        let joined = match (self.prefix.as_ref().is_empty(), path.is_root()) {
            (_, true) => return Ok(self.prefix.clone()),
            (true, false) => path.as_str().to_string(),
            (false, false) => format!("{}/{}", self.prefix, path),
        };
        ObjectPath::parse(&joined).map_err(|e| ArtifactError::InvalidPath(format!("'{path}': {e}")))
    }

    /// The artifact path of a key under the prefix.
    fn relative(&self, key: &ObjectPath) -> Option<String> {
        let parts: Vec<String> = key
            .prefix_match(&self.prefix)?
            .map(|p| p.as_ref().to_string())
            .collect();
        (!parts.is_empty()).then(|| parts.join("/"))
    }

    pub(crate) async fn put<S>(
        &self,
        path: &ArtifactPath,
        mut body: S,
    ) -> Result<u64, ArtifactError>
    where
        S: Stream<Item = Result<Bytes, io::Error>> + Send + Unpin,
    {
        let key = self.key(path)?;
        let mut buffer = PutPayloadMut::new();
        let mut written: u64 = 0;
        let mut multipart: Option<Multipart> = None;
        let result = async {
            while let Some(chunk) = body.next().await {
                let mut chunk = chunk.map_err(|e| ArtifactError::Body(e.to_string()))?;
                written += chunk.len() as u64;
                while !chunk.is_empty() {
                    let room = PART_SIZE - buffer.content_length();
                    if chunk.len() < room {
                        buffer.push(chunk);
                        break;
                    }
                    buffer.push(chunk.split_to(room));
                    let part: PutPayload = std::mem::take(&mut buffer).freeze();
                    let upload = match &mut multipart {
                        Some(upload) => upload,
                        None => multipart.insert(Multipart::start(&self.store, &key, path).await?),
                    };
                    upload.send(part, path).await?;
                }
            }
            Ok(())
        }
        .await;
        match (result, multipart) {
            (Ok(()), None) => {
                self.store
                    .put(&key, buffer.freeze())
                    .await
                    .map_err(|e| backend("uploading", path, e))?;
                Ok(written)
            }
            (Ok(()), Some(mut upload)) => {
                if buffer.content_length() > 0 {
                    if let Err(e) = upload.send(buffer.freeze(), path).await {
                        upload.abort().await;
                        return Err(e);
                    }
                }
                upload.complete(path).await?;
                Ok(written)
            }
            (Err(e), Some(upload)) => {
                upload.abort().await;
                Err(e)
            }
            (Err(e), None) => Err(e),
        }
    }

    pub(crate) async fn get(&self, path: &ArtifactPath) -> Result<Download, ArtifactError> {
        let key = self.key(path)?;
        let result = self
            .store
            .get(&key)
            .await
            .map_err(|e| backend("downloading", path, e))?;
        let size = result.meta.size;
        let shown = path.to_string();
        let stream = result
            .into_stream()
            .map_err(move |e| ArtifactError::Backend(format!("downloading '{shown}': {e}")))
            .boxed();
        Ok(Download { size, stream })
    }

    pub(crate) async fn list(&self, dir: &ArtifactPath) -> Result<Vec<FileInfo>, ArtifactError> {
        let key = self.key(dir)?;
        let listing = self
            .store
            .list_with_delimiter((!key.as_ref().is_empty()).then_some(&key))
            .await
            .map_err(|e| backend("listing", dir, e))?;
        let mut out = Vec::with_capacity(listing.objects.len() + listing.common_prefixes.len());
        for object in &listing.objects {
            // A "folder marker" object (`dir/` made by a console) maps onto `dir` itself.
            if object.location == key {
                continue;
            }
            if let Some(path) = self.relative(&object.location) {
                out.push(FileInfo {
                    path,
                    is_dir: false,
                    file_size: Some(object.size),
                });
            }
        }
        for prefix in &listing.common_prefixes {
            if let Some(path) = self.relative(prefix) {
                out.push(FileInfo {
                    path,
                    is_dir: true,
                    file_size: None,
                });
            }
        }
        Ok(out)
    }

    pub(crate) async fn delete(&self, path: &ArtifactPath) -> Result<(), ArtifactError> {
        let key = self.key(path)?;
        match self.store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(backend("deleting", path, e)),
        }
        let under = self
            .store
            .list(Some(&key))
            .map_ok(|meta| meta.location)
            .boxed();
        self.store
            .delete_stream(under)
            .try_for_each(|_| futures::future::ready(Ok(())))
            .await
            .or_else(|e| match e {
                object_store::Error::NotFound { .. } => Ok(()),
                e => Err(backend("deleting", path, e)),
            })
    }

    pub(crate) async fn is_dir(&self, path: &ArtifactPath) -> Result<bool, ArtifactError> {
        let key = self.key(path)?;
        let prefix = (!key.as_ref().is_empty()).then_some(&key);
        match self.store.list(prefix).next().await {
            None => Ok(path.is_root()),
            Some(Ok(_)) => Ok(true),
            Some(Err(e)) => Err(backend("listing", path, e)),
        }
    }
}

/// An in-progress multipart upload. Dropped without [`Multipart::complete`] or
/// [`Multipart::abort`], it aborts itself on a spawned task.
struct Multipart {
    upload: Option<Box<dyn MultipartUpload>>,
    parts: JoinSet<object_store::Result<()>>,
}

impl Multipart {
    async fn start(
        store: &Arc<dyn ObjectStore>,
        key: &ObjectPath,
        path: &ArtifactPath,
    ) -> Result<Multipart, ArtifactError> {
        let upload = store
            .put_multipart(key)
            .await
            .map_err(|e| backend("starting the upload of", path, e))?;
        Ok(Multipart {
            upload: Some(upload),
            parts: JoinSet::new(),
        })
    }

    /// Starts uploading `part` once fewer than [`MAX_PARTS_IN_FLIGHT`] are in flight.
    async fn send(&mut self, part: PutPayload, path: &ArtifactPath) -> Result<(), ArtifactError> {
        while self.parts.len() >= MAX_PARTS_IN_FLIGHT {
            self.join_one(path).await?;
        }
        let Some(upload) = self.upload.as_mut() else {
            return Err(ArtifactError::Backend(format!(
                "uploading '{path}': the upload was already finished"
            )));
        };
        self.parts.spawn(upload.put_part(part));
        Ok(())
    }

    async fn join_one(&mut self, path: &ArtifactPath) -> Result<(), ArtifactError> {
        match self.parts.join_next().await {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(backend("uploading", path, e)),
            Some(Err(e)) => Err(ArtifactError::Backend(format!(
                "uploading '{path}': a part upload task failed: {e}"
            ))),
        }
    }

    /// Waits for every part, then completes the upload; aborts it on any failure.
    async fn complete(mut self, path: &ArtifactPath) -> Result<(), ArtifactError> {
        while !self.parts.is_empty() {
            if let Err(e) = self.join_one(path).await {
                self.abort().await;
                return Err(e);
            }
        }
        let Some(mut upload) = self.upload.take() else {
            return Ok(());
        };
        if let Err(e) = upload.complete().await {
            let _ = upload.abort().await;
            return Err(backend("completing the upload of", path, e));
        }
        Ok(())
    }

    /// Stops the parts in flight and aborts the upload (best effort: an abort that fails
    /// leaves an invisible, unfinished upload for the bucket's lifecycle rules).
    async fn abort(mut self) {
        self.parts.shutdown().await;
        if let Some(mut upload) = self.upload.take() {
            let _ = upload.abort().await;
        }
    }
}

impl Drop for Multipart {
    fn drop(&mut self) {
        if let Some(mut upload) = self.upload.take() {
            self.parts.abort_all();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = upload.abort().await;
                });
            }
        }
    }
}

fn backend(doing: &str, path: &ArtifactPath, e: object_store::Error) -> ArtifactError {
    match e {
        object_store::Error::NotFound { .. } => ArtifactError::NotFound(format!("'{path}'")),
        e => ArtifactError::Backend(format!("{doing} '{path}': {e}")),
    }
}
