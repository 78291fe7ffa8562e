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
//!
//! Client-driven multipart uploads (S3, GCS) go through [`MultipartStore`]: the upload id
//! and the parts live in the bucket, so any server replica can take any request of an
//! upload. Part numbers are 1-based here and 0-based in `object_store`.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::{MultipartUpload, ObjectStore, PutPayload, PutPayloadMut};
use tokio::task::JoinSet;

use crate::{
    ArtifactError, ArtifactPath, CompletedPart, Download, FileInfo, MAX_MULTIPART_PART_SIZE,
};

/// Multipart part size: 8 MiB.
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts of one upload sent concurrently.
pub const MAX_PARTS_IN_FLIGHT: usize = 2;

pub(crate) struct ObjectBackend {
    store: Arc<dyn ObjectStore>,
    /// The same store as a [`MultipartStore`], where client-driven multipart uploads work.
    multipart: Option<Arc<dyn MultipartStore>>,
    prefix: ObjectPath,
}

impl std::fmt::Debug for ObjectBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBackend")
            .field("store", &self.store)
            .field("multipart", &self.multipart.is_some())
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl ObjectBackend {
    pub(crate) fn new(
        store: Arc<dyn ObjectStore>,
        multipart: Option<Arc<dyn MultipartStore>>,
        prefix: ObjectPath,
    ) -> ObjectBackend {
        ObjectBackend {
            store,
            multipart,
            prefix,
        }
    }

    pub(crate) fn supports_multipart(&self) -> bool {
        self.multipart.is_some()
    }

    fn multipart_store(&self) -> Result<&Arc<dyn MultipartStore>, ArtifactError> {
        self.multipart
            .as_ref()
            .ok_or_else(|| ArtifactError::Unsupported(crate::MULTIPART_UNSUPPORTED.to_string()))
    }

    pub(crate) async fn multipart_create(
        &self,
        path: &ArtifactPath,
    ) -> Result<String, ArtifactError> {
        let store = self.multipart_store()?;
        let key = self.key(path)?;
        let id = store
            .create_multipart(&key)
            .await
            .map_err(|e| ArtifactError::Backend(format!("starting the upload of '{path}': {e}")))?;
        if id.is_empty() {
            return Err(ArtifactError::Backend(format!(
                "starting the upload of '{path}': the storage returned no upload id"
            )));
        }
        Ok(id)
    }

    /// Collects the part (it must be whole for `put_part`, at most
    /// [`MAX_MULTIPART_PART_SIZE`]) and uploads it; returns its ETag.
    pub(crate) async fn multipart_put_part<S>(
        &self,
        path: &ArtifactPath,
        upload_id: &str,
        part_number: u32,
        mut body: S,
    ) -> Result<String, ArtifactError>
    where
        S: Stream<Item = Result<Bytes, io::Error>> + Send + Unpin,
    {
        let store = self.multipart_store()?;
        let key = self.key(path)?;
        let mut payload = PutPayloadMut::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| ArtifactError::Body(e.to_string()))?;
            if (payload.content_length() + chunk.len()) as u64 > MAX_MULTIPART_PART_SIZE {
                return Err(ArtifactError::InvalidUpload(format!(
                    "part {part_number} of '{path}' is larger than {MAX_MULTIPART_PART_SIZE} \
                     bytes (5 GiB), the most one part may hold"
                )));
            }
            payload.push(chunk);
        }
        let index = part_number.saturating_sub(1) as usize;
        let part = store
            .put_part(&key, &upload_id.to_string(), index, payload.freeze())
            .await
            .map_err(|e| {
                multipart_error(
                    &format!("uploading part {part_number} of"),
                    path,
                    upload_id,
                    e,
                )
            })?;
        Ok(part.content_id)
    }

    /// `parts` are sorted and numbered `1..=N` (checked by the caller).
    pub(crate) async fn multipart_complete(
        &self,
        path: &ArtifactPath,
        upload_id: &str,
        parts: Vec<CompletedPart>,
    ) -> Result<(), ArtifactError> {
        let store = self.multipart_store()?;
        let key = self.key(path)?;
        let parts = parts
            .into_iter()
            .map(|p| PartId { content_id: p.etag })
            .collect();
        store
            .complete_multipart(&key, &upload_id.to_string(), parts)
            .await
            .map(|_| ())
            .map_err(|e| multipart_error("completing the upload of", path, upload_id, e))
    }

    pub(crate) async fn multipart_abort(
        &self,
        path: &ArtifactPath,
        upload_id: &str,
    ) -> Result<(), ArtifactError> {
        let store = self.multipart_store()?;
        let key = self.key(path)?;
        match store.abort_multipart(&key, &upload_id.to_string()).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(multipart_error(
                "aborting the upload of",
                path,
                upload_id,
                e,
            )),
        }
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

/// A failed multipart request: an unknown upload is [`ArtifactError::NotFound`]; a request
/// the storage refused as malformed (HTTP 400: a wrong ETag, parts too small, ...) is the
/// client's doing, [`ArtifactError::InvalidUpload`]; anything else is a backend failure.
fn multipart_error(
    doing: &str,
    path: &ArtifactPath,
    upload_id: &str,
    e: object_store::Error,
) -> ArtifactError {
    match e {
        object_store::Error::NotFound { .. } => ArtifactError::NotFound(format!(
            "multipart upload '{}' of '{path}' (it was completed or aborted, or never started)",
            upload_id.escape_default()
        )),
        e => {
            let text = e.to_string();
            match storage_rejection(&text) {
                Some(reason) => ArtifactError::InvalidUpload(format!("{doing} '{path}': {reason}")),
                None => ArtifactError::Backend(format!("{doing} '{path}': {text}")),
            }
        }
    }
}

/// S3 error codes (also GCS's XML API) that mean the client's request was wrong.
const CLIENT_ERROR_CODES: &[&str] = &[
    "InvalidPart",
    "InvalidPartOrder",
    "EntityTooSmall",
    "EntityTooLarge",
    "InvalidArgument",
    "MalformedXML",
];

/// Why the storage refused a request as the client's mistake, if it did. `object_store`
/// keeps the HTTP status private, so this reads its error text: "non-2xx status code: 400"
/// (or, for S3's errors inside a 200 response, a client error code in the body).
fn storage_rejection(text: &str) -> Option<String> {
    let status = text
        .split_once("non-2xx status code: ")
        .and_then(|(_, rest)| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok());
    let code = xml_field(text, "Code");
    let refused = status == Some(400)
        || code.is_some_and(|c| CLIENT_ERROR_CODES.contains(&c) && status.is_none());
    if !refused {
        return None;
    }
    Some(match (code, xml_field(text, "Message")) {
        (Some(code), Some(message)) => format!("the storage refused it: {code}: {message}"),
        (Some(code), None) => format!("the storage refused it: {code}"),
        _ => "the storage refused it as a bad request".to_string(),
    })
}

/// The text of the first `<name>...</name>` element in `text`.
fn xml_field<'t>(text: &'t str, name: &str) -> Option<&'t str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let (_, rest) = text.split_once(&open)?;
    let (value, _) = rest.split_once(&close)?;
    Some(value.trim())
}

fn backend(doing: &str, path: &ArtifactPath, e: object_store::Error) -> ArtifactError {
    match e {
        object_store::Error::NotFound { .. } => ArtifactError::NotFound(format!("'{path}'")),
        e => ArtifactError::Backend(format!("{doing} '{path}': {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_rejections_are_read_from_the_error_text() {
        let wrong_etag =
            "Generic S3 error: Error performing POST http://127.0.0.1:1/b/k?uploadId=x \
            in 2ms - Server returned non-2xx status code: 400 Bad Request: <?xml version=\"1.0\"?>\
            <Error><Code>InvalidPart</Code><Message>One or more of the specified parts could \
            not be found.</Message></Error>";
        assert_eq!(
            storage_rejection(wrong_etag).as_deref(),
            Some(
                "the storage refused it: InvalidPart: One or more of the specified parts could \
                 not be found."
            )
        );
        let in_body = "Generic S3 error: Error performing POST http://h/b/k in 1ms - Server \
            returned error response: <Error><Code>EntityTooSmall</Code></Error>";
        assert_eq!(
            storage_rejection(in_body).as_deref(),
            Some("the storage refused it: EntityTooSmall")
        );
        let bare = "Server returned non-2xx status code: 400 Bad Request: ";
        assert_eq!(
            storage_rejection(bare).as_deref(),
            Some("the storage refused it as a bad request")
        );
        // Outages and credential problems stay backend failures.
        for text in [
            "Server returned non-2xx status code: 500 Internal Server Error: <Error>\
             <Code>InternalError</Code></Error>",
            "Server returned non-2xx status code: 403 Forbidden: <Error><Code>InvalidPart</Code>",
            "Server returned error response: <Error><Code>InternalError</Code></Error>",
            "error sending request: connection refused",
        ] {
            assert_eq!(storage_rejection(text), None, "{text}");
        }
    }
}
