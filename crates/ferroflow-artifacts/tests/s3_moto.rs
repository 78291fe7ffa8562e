//! The S3 backend against a real S3-compatible server: moto's `moto_server`, started on a
//! loopback port for this test and killed at the end.
//!
//! Skipped (with a printed reason) when no `moto_server` is found at `$FERROFLOW_MOTO_SERVER`
//! or `<workspace>/.venv/bin/moto_server` (`scripts/setup-python.sh` installs it).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use ferroflow_artifacts::{
    ArtifactError, ArtifactPath, ArtifactStore, CompletedPart, FileInfo, PART_SIZE,
};

const BUCKET: &str = "ferroflow-test";

fn moto_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("FERROFLOW_MOTO_SERVER") {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server");
    path.is_file().then_some(path)
}

/// The moto process; killed (and reaped) when dropped, also when the test fails.
struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_moto(binary: &PathBuf) -> Moto {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut child = Command::new(binary)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn moto_server");
    let stderr = child.stderr.take().expect("stderr pipe");
    let moto = Moto { child, port };

    // Werkzeug announces "Running on http://127.0.0.1:<port>" once it listens. A reader
    // thread forwards stderr lines (and keeps draining the pipe afterwards).
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                // Nobody listens any more; keep draining so moto never blocks on a full pipe.
                continue;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("Running on") => break,
            Ok(line) => seen.push(line),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("moto_server did not start within 60 s; it said: {seen:#?}")
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!("moto_server exited before listening; it said: {seen:#?}")
            }
        }
    }
    TcpStream::connect(("127.0.0.1", port)).expect("moto_server answers on its port");
    moto
}

/// One plain HTTP/1.1 request to moto (unsigned; moto accepts that for bucket admin).
fn raw_http(port: u16, method: &str, target: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to moto");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, response)
}

fn s3_store(port: u16, uri: &str) -> ArtifactStore {
    let endpoint = format!("http://127.0.0.1:{port}");
    ArtifactStore::from_uri_with_env(
        uri,
        [
            ("MLFLOW_S3_ENDPOINT_URL", endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ],
    )
    .expect("s3 store")
}

fn file(path: &str, size: u64) -> FileInfo {
    FileInfo {
        path: path.to_string(),
        is_dir: false,
        file_size: Some(size),
    }
}

fn dir(path: &str) -> FileInfo {
    FileInfo {
        path: path.to_string(),
        is_dir: true,
        file_size: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_round_trip_against_moto() {
    let Some(binary) = moto_binary() else {
        println!(
            "SKIPPED s3_round_trip_against_moto: no moto_server at $FERROFLOW_MOTO_SERVER or \
             .venv/bin/moto_server (run scripts/setup-python.sh)"
        );
        return;
    };
    let moto = start_moto(&binary);
    let (status, response) = raw_http(moto.port, "PUT", &format!("/{BUCKET}"));
    assert_eq!(status, 200, "creating the bucket: {response}");

    let store = s3_store(moto.port, &format!("s3://{BUCKET}/mlartifacts/"));
    assert_eq!(store.root_uri(), format!("s3://{BUCKET}/mlartifacts"));
    assert!(!store.is_local());
    let run = "1/0123abcd/artifacts";

    // Small files: one PUT each.
    for (path, data) in [
        ("model/MLmodel", &b"artifact_path: model\n"[..]),
        ("model/model.pkl", &[0u8, 1, 2, 3, 255][..]),
        ("metrics.json", &b"{\"a\": 1}"[..]),
        ("plots/sub file ü 100%.png", &b"png"[..]),
        ("empty.txt", &b""[..]),
    ] {
        let written = store
            .put(&p(&format!("{run}/{path}")), body(data))
            .await
            .expect("put");
        assert_eq!(written, data.len() as u64);
    }

    // A multipart upload: 20 MiB in uneven chunks, so parts are cut across chunk edges.
    let big_size: u64 = 20 * 1024 * 1024 + 12_345;
    assert!(big_size > 2 * PART_SIZE as u64);
    let written = store
        .put(
            &p(&format!("{run}/big/weights.bin")),
            generated(big_size, 1_000_003),
        )
        .await
        .expect("multipart put");
    assert_eq!(written, big_size);
    // S3 gives multipart objects an ETag ending in -<part count>: 3 parts of PART_SIZE.
    let (status, head) = raw_http(
        moto.port,
        "HEAD",
        &format!("/{BUCKET}/mlartifacts/{run}/big/weights.bin"),
    );
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains("-3\""),
        "expected a 3-part multipart ETag: {head}"
    );

    assert_eq!(
        store.list(&p(run)).await.expect("list"),
        vec![
            dir(&format!("{run}/big")),
            file(&format!("{run}/empty.txt"), 0),
            file(&format!("{run}/metrics.json"), 8),
            dir(&format!("{run}/model")),
            dir(&format!("{run}/plots")),
        ]
    );
    assert_eq!(
        store.list(&p(&format!("{run}/model"))).await.expect("list"),
        vec![
            file(&format!("{run}/model/MLmodel"), 21),
            file(&format!("{run}/model/model.pkl"), 5),
        ]
    );
    assert_eq!(
        store.list(&ArtifactPath::root()).await.expect("list root"),
        vec![dir("1")]
    );
    assert_eq!(
        store.list(&p("no/such/dir")).await.expect("list missing"),
        vec![]
    );

    let download = store
        .get(&p(&format!("{run}/big/weights.bin")))
        .await
        .expect("get");
    assert_eq!(download.size, big_size);
    assert_eq!(check_generated(download).await, big_size);
    let download = store
        .get(&p(&format!("{run}/plots/sub file ü 100%.png")))
        .await
        .expect("get odd name");
    assert_eq!(read_all(download).await, b"png");
    let download = store
        .get(&p(&format!("{run}/empty.txt")))
        .await
        .expect("get empty");
    assert_eq!((download.size, read_all(download).await.len()), (0, 0));
    assert!(matches!(
        store.get(&p(&format!("{run}/nope.txt"))).await,
        Err(ArtifactError::NotFound(_))
    ));
    // A "directory" is no object.
    assert!(matches!(
        store.get(&p(&format!("{run}/model"))).await,
        Err(ArtifactError::NotFound(_))
    ));
    assert!(store
        .is_dir(&p(&format!("{run}/model")))
        .await
        .expect("is_dir"));
    assert!(!store
        .is_dir(&p(&format!("{run}/metrics.json")))
        .await
        .expect("is_dir"));

    // A body that fails after two parts were sent: an error, no object, no open upload.
    let err = store
        .put(
            &p(&format!("{run}/broken.bin")),
            failing_after(2 * PART_SIZE as u64 + 10, 1 << 20),
        )
        .await
        .expect_err("the body failed");
    assert!(matches!(err, ArtifactError::Body(_)), "{err:?}");
    assert!(matches!(
        store.get(&p(&format!("{run}/broken.bin"))).await,
        Err(ArtifactError::NotFound(_))
    ));
    let (status, uploads) = raw_http(moto.port, "GET", &format!("/{BUCKET}?uploads"));
    assert_eq!(status, 200, "{uploads}");
    assert!(
        !uploads.contains("<Upload>"),
        "an aborted upload is still open: {uploads}"
    );

    // Delete a file, then a whole directory prefix.
    store
        .delete(&p(&format!("{run}/metrics.json")))
        .await
        .expect("delete file");
    store
        .delete(&p(&format!("{run}/model")))
        .await
        .expect("delete dir");
    store
        .delete(&p(&format!("{run}/model")))
        .await
        .expect("delete missing");
    assert_eq!(
        store.list(&p(run)).await.expect("list"),
        vec![
            dir(&format!("{run}/big")),
            file(&format!("{run}/empty.txt"), 0),
            dir(&format!("{run}/plots")),
        ]
    );

    // The prefix is a real boundary: a store rooted elsewhere in the bucket sees nothing.
    let other = s3_store(moto.port, &format!("s3://{BUCKET}/other-root"));
    assert_eq!(
        other.list(&ArtifactPath::root()).await.expect("list"),
        vec![]
    );
    let whole_bucket = s3_store(moto.port, &format!("s3://{BUCKET}"));
    assert_eq!(
        whole_bucket
            .list(&ArtifactPath::root())
            .await
            .expect("list"),
        vec![dir("mlartifacts")]
    );
    drop(moto);
}

/// S3 answers `-<part count>` ETags for multipart objects; the status line and headers of
/// a HEAD request.
fn head_object(port: u16, key: &str) -> (u16, String) {
    raw_http(port, "HEAD", &format!("/{BUCKET}/{key}"))
}

fn open_uploads(port: u16) -> String {
    let (status, uploads) = raw_http(port, "GET", &format!("/{BUCKET}?uploads"));
    assert_eq!(status, 200, "{uploads}");
    uploads
}

fn slice_body(
    data: &[u8],
    chunk: usize,
) -> impl futures::Stream<Item = Result<ferroflow_artifacts::Bytes, std::io::Error>> + Send + Unpin
{
    let chunks: Vec<_> = data
        .chunks(chunk)
        .map(|c| Ok(ferroflow_artifacts::Bytes::copy_from_slice(c)))
        .collect();
    futures::stream::iter(chunks)
}

fn part(part_number: u32, etag: &str) -> CompletedPart {
    CompletedPart {
        part_number,
        etag: etag.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_client_multipart_against_moto() {
    let Some(binary) = moto_binary() else {
        println!(
            "SKIPPED s3_client_multipart_against_moto: no moto_server at \
             $FERROFLOW_MOTO_SERVER or .venv/bin/moto_server (run scripts/setup-python.sh)"
        );
        return;
    };
    let moto = start_moto(&binary);
    let (status, response) = raw_http(moto.port, "PUT", &format!("/{BUCKET}"));
    assert_eq!(status, 200, "creating the bucket: {response}");
    let uri = format!("s3://{BUCKET}/mp");
    // Two stores on one bucket stand for two server replicas: no state is shared in memory.
    let replica_a = s3_store(moto.port, &uri);
    let replica_b = s3_store(moto.port, &uri);
    assert!(replica_a.supports_multipart());
    let run = "1/0123abcd/artifacts";

    // Two parts (S3's minimum of 5 MiB for all but the last), sent out of order to
    // different replicas, the first one in small chunks; completed with the list unsorted.
    let first = 5 * 1024 * 1024;
    let data: Vec<u8> = (0..first as u64 + 12_345).map(byte_at).collect();
    let path = p(&format!("{run}/model/weights.bin"));
    let id = replica_a.multipart_create(&path).await.expect("create");
    assert!(!id.is_empty());
    let etag2 = replica_b
        .multipart_put_part(&path, &id, 2, body(&data[first..]))
        .await
        .expect("part 2");
    let etag1 = replica_a
        .multipart_put_part(&path, &id, 1, slice_body(&data[..first], 64 * 1024))
        .await
        .expect("part 1");
    assert!(!etag1.is_empty() && etag1 != etag2, "{etag1} {etag2}");
    // Nothing is visible before completion.
    assert!(is_not_found(replica_a.get(&path).await));
    replica_b
        .multipart_complete(&path, &id, vec![part(2, &etag2), part(1, &etag1)])
        .await
        .expect("complete");
    let download = replica_a.get(&path).await.expect("get");
    assert_eq!(download.size, data.len() as u64);
    assert_eq!(check_generated(download).await, data.len() as u64);
    let (status, head) = head_object(moto.port, &format!("mp/{run}/model/weights.bin"));
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("-2\""), "expected a 2-part ETag: {head}");

    // A wrong ETag: refused as the client's mistake, no object, and the upload stays open,
    // so completing again with the right ETag works.
    let path = p(&format!("{run}/retry.bin"));
    let id = replica_a.multipart_create(&path).await.expect("create");
    let etag = replica_a
        .multipart_put_part(&path, &id, 1, body(b"only part"))
        .await
        .expect("part");
    let err = replica_a
        .multipart_complete(
            &path,
            &id,
            vec![part(1, "\"0123456789abcdef0123456789abcdef\"")],
        )
        .await
        .expect_err("wrong etag");
    assert!(
        matches!(&err, ArtifactError::InvalidUpload(m) if m.contains("InvalidPart")),
        "{err:?}"
    );
    assert!(is_not_found(replica_a.get(&path).await));
    replica_a
        .multipart_complete(&path, &id, vec![part(1, &etag)])
        .await
        .expect("complete with the right etag");
    assert_eq!(
        read_all(replica_a.get(&path).await.expect("get")).await,
        b"only part"
    );

    // Part lists that are not exactly 1..=N, and bad part numbers / ids, never reach S3.
    let path = p(&format!("{run}/bad.bin"));
    let id = replica_a.multipart_create(&path).await.expect("create");
    for parts in [
        vec![part(1, "\"a\""), part(3, "\"b\"")],
        vec![part(1, "\"a\""), part(1, "\"b\"")],
        vec![part(2, "\"a\"")],
        vec![part(1, " ")],
    ] {
        let err = replica_a
            .multipart_complete(&path, &id, parts.clone())
            .await
            .expect_err("bad part list");
        assert!(
            matches!(err, ArtifactError::InvalidUpload(_)),
            "{parts:?}: {err:?}"
        );
    }
    for number in [0, 10_001] {
        let err = replica_a
            .multipart_put_part(&path, &id, number, body(b"x"))
            .await
            .expect_err("part number out of range");
        assert!(matches!(err, ArtifactError::InvalidUpload(_)), "{err:?}");
    }
    for bad_id in ["", "a\nb", "\u{e9}"] {
        let err = replica_a
            .multipart_put_part(&path, bad_id, 1, body(b"x"))
            .await
            .expect_err("bad upload id");
        assert!(matches!(err, ArtifactError::InvalidUpload(_)), "{err:?}");
    }
    // Parts below 5 MiB (except the last): S3 refuses the completion; a client error.
    let small1 = replica_a
        .multipart_put_part(&path, &id, 1, body(b"small"))
        .await
        .expect("part 1");
    let small2 = replica_a
        .multipart_put_part(&path, &id, 2, body(b"parts"))
        .await
        .expect("part 2");
    let err = replica_a
        .multipart_complete(&path, &id, vec![part(1, &small1), part(2, &small2)])
        .await
        .expect_err("parts too small");
    assert!(
        matches!(&err, ArtifactError::InvalidUpload(m) if m.contains("EntityTooSmall")),
        "{err:?}"
    );

    // Abort: no object, no open upload (checked below), and aborting again (S3 answers
    // NoSuchUpload) is fine. (S3 answers a late part or completion with 404 NoSuchUpload;
    // moto fails those with a 500, so they are not checked here.)
    replica_b.multipart_abort(&path, &id).await.expect("abort");
    assert!(is_not_found(replica_a.get(&path).await));
    replica_a
        .multipart_abort(&path, &id)
        .await
        .expect("abort twice");
    assert!(is_invalid_path(
        replica_a.multipart_create(&ArtifactPath::root()).await
    ));
    let uploads = open_uploads(moto.port);
    assert!(
        !uploads.contains("<Upload>"),
        "uploads left open: {uploads}"
    );
    drop(moto);
}
