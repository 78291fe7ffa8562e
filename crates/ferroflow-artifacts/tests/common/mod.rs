//! Helpers shared by the integration tests: temporary directories, generated bodies that
//! are never held whole in memory, and download checks.
#![allow(dead_code)]

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ferroflow_artifacts::{ArtifactError, ArtifactPath, Bytes, Download};
use futures::{Stream, StreamExt};

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ferroflow-artifacts-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn p(raw: &str) -> ArtifactPath {
    ArtifactPath::parse(raw).expect("valid artifact path")
}

/// The byte at `offset` of every generated body (not periodic at chunk boundaries).
pub fn byte_at(offset: u64) -> u8 {
    let x = offset.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 56) as u8 ^ (offset >> 12) as u8
}

/// A `total`-byte body produced lazily in `chunk`-byte pieces.
pub fn generated(
    total: u64,
    chunk: usize,
) -> impl Stream<Item = Result<Bytes, io::Error>> + Send + Unpin {
    let chunks = total.div_ceil(chunk as u64);
    futures::stream::iter(0..chunks).map(move |i| {
        let start = i * chunk as u64;
        let end = (start + chunk as u64).min(total);
        Ok((start..end).map(byte_at).collect::<Vec<u8>>().into())
    })
}

/// Consumes a download, checking every byte against [`byte_at`]; returns the byte count.
pub async fn check_generated(download: Download) -> u64 {
    let mut stream = download.stream;
    let mut offset = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("download chunk");
        for (i, b) in chunk.iter().enumerate() {
            assert_eq!(*b, byte_at(offset + i as u64), "byte {}", offset + i as u64);
        }
        offset += chunk.len() as u64;
    }
    offset
}

pub fn body(data: &[u8]) -> impl Stream<Item = Result<Bytes, io::Error>> + Send + Unpin {
    futures::stream::iter(vec![Ok(Bytes::copy_from_slice(data))])
}

/// A body that yields `good` bytes and then fails, as a client that disconnects would.
pub fn failing_after(
    good: u64,
    chunk: usize,
) -> impl Stream<Item = Result<Bytes, io::Error>> + Send + Unpin {
    generated(good, chunk).chain(futures::stream::iter(vec![Err(io::Error::new(
        io::ErrorKind::ConnectionReset,
        "client went away",
    ))]))
}

pub async fn read_all(download: Download) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stream = download.stream;
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.expect("download chunk"));
    }
    out
}

pub fn is_invalid_path<T: std::fmt::Debug>(r: Result<T, ArtifactError>) -> bool {
    matches!(r, Err(ArtifactError::InvalidPath(_)))
}

pub fn is_not_found<T: std::fmt::Debug>(r: Result<T, ArtifactError>) -> bool {
    matches!(r, Err(ArtifactError::NotFound(_)))
}
