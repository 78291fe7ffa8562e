//! The local-directory backend against a real file system.

mod common;

use std::path::Path;

use common::*;
use ferroflow_artifacts::{ArtifactError, ArtifactPath, ArtifactStore, Bytes, FileInfo};

fn store_at(dir: &Path) -> ArtifactStore {
    ArtifactStore::from_uri(dir.to_str().expect("utf-8 temp path")).expect("local store")
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

/// Every entry of `dir` on disk whose name marks an unfinished upload.
fn leftover_temp_files(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".artifact.uploading."))
        .collect()
}

#[tokio::test]
async fn put_get_list_delete_round_trip() {
    let tmp = TempDir::new("roundtrip");
    let store = store_at(tmp.path());
    let run = "1/0123abcd/artifacts";
    for (path, data) in [
        ("model/MLmodel", &b"artifact_path: model\n"[..]),
        ("model/model.pkl", &[0u8, 1, 2, 3, 255][..]),
        ("metrics.json", &b"{\"a\": 1}"[..]),
        ("plots/sub file ü.png", &b"png"[..]),
        ("a..b.txt", &b""[..]),
    ] {
        let written = store
            .put(&p(&format!("{run}/{path}")), body(data))
            .await
            .expect("put");
        assert_eq!(written, data.len() as u64);
    }

    assert_eq!(
        store.list(&p(run)).await.expect("list"),
        vec![
            file(&format!("{run}/a..b.txt"), 0),
            file(&format!("{run}/metrics.json"), 8),
            dir(&format!("{run}/model")),
            dir(&format!("{run}/plots")),
        ]
    );
    assert_eq!(
        store
            .list(&p(&format!("{run}/model/")))
            .await
            .expect("list"),
        vec![
            file(&format!("{run}/model/MLmodel"), 21),
            file(&format!("{run}/model/model.pkl"), 5),
        ]
    );
    assert_eq!(
        store.list(&ArtifactPath::root()).await.expect("list root"),
        vec![dir("1")]
    );

    let download = store
        .get(&p(&format!("{run}/model/model.pkl")))
        .await
        .expect("get");
    assert_eq!(download.size, 5);
    assert_eq!(read_all(download).await, vec![0u8, 1, 2, 3, 255]);
    let download = store
        .get(&p(&format!("{run}/plots/sub file ü.png")))
        .await
        .expect("get unicode name");
    assert_eq!(read_all(download).await, b"png");

    assert!(store
        .is_dir(&p(&format!("{run}/model")))
        .await
        .expect("is_dir"));
    assert!(!store
        .is_dir(&p(&format!("{run}/metrics.json")))
        .await
        .expect("is_dir"));
    assert!(!store
        .is_dir(&p(&format!("{run}/nope")))
        .await
        .expect("is_dir"));

    store
        .delete(&p(&format!("{run}/metrics.json")))
        .await
        .expect("delete file");
    assert!(is_not_found(
        store.get(&p(&format!("{run}/metrics.json"))).await
    ));
    store
        .delete(&p(&format!("{run}/model")))
        .await
        .expect("delete dir");
    assert!(is_not_found(
        store.get(&p(&format!("{run}/model/MLmodel"))).await
    ));
    assert_eq!(
        store.list(&p(run)).await.expect("list"),
        vec![
            file(&format!("{run}/a..b.txt"), 0),
            dir(&format!("{run}/plots"))
        ]
    );
    // Deleting what is not there succeeds, as in MLflow.
    store
        .delete(&p(&format!("{run}/model")))
        .await
        .expect("delete missing");
    store
        .delete(&p("nothing/here"))
        .await
        .expect("delete missing");
}

#[tokio::test]
async fn root_directory_is_created_on_first_write() {
    let tmp = TempDir::new("lazyroot");
    let root = tmp.path().join("not/yet/there");
    let store = store_at(&root);
    assert!(!root.exists());
    assert_eq!(
        store.list(&ArtifactPath::root()).await.expect("list"),
        vec![]
    );
    assert!(is_not_found(store.get(&p("x.txt")).await));
    assert!(!store.is_dir(&p("x")).await.expect("is_dir"));
    store
        .delete(&p("x"))
        .await
        .expect("delete before the root exists");
    assert!(!root.exists(), "reads must not create the root");

    store.put(&p("x.txt"), body(b"hi")).await.expect("put");
    assert!(root.join("x.txt").is_file());
}

#[tokio::test]
async fn relative_roots_are_made_absolute() {
    let store = ArtifactStore::from_uri("./some-relative-root").expect("store");
    assert!(
        Path::new(store.root_uri()).is_absolute(),
        "{}",
        store.root_uri()
    );
    assert!(store.root_uri().ends_with("some-relative-root"));
    assert!(store.is_local());
    let store = ArtifactStore::from_uri("file:///srv/artifacts").expect("store");
    assert_eq!(store.root_uri(), "/srv/artifacts");
}

#[tokio::test]
async fn put_replaces_an_existing_file() {
    let tmp = TempDir::new("replace");
    let store = store_at(tmp.path());
    store
        .put(&p("a/f.txt"), body(b"first version"))
        .await
        .expect("put");
    store
        .put(&p("a/f.txt"), body(b"second"))
        .await
        .expect("put again");
    let download = store.get(&p("a/f.txt")).await.expect("get");
    assert_eq!(download.size, 6);
    assert_eq!(read_all(download).await, b"second");
}

#[tokio::test]
async fn a_64_mib_stream_round_trips_without_buffering() {
    let tmp = TempDir::new("big");
    let store = store_at(tmp.path());
    let total: u64 = 64 * 1024 * 1024;
    let written = store
        .put(&p("big/blob.bin"), generated(total, 64 * 1024 + 7))
        .await
        .expect("put");
    assert_eq!(written, total);
    assert_eq!(
        store.list(&p("big")).await.expect("list"),
        vec![file("big/blob.bin", total)]
    );
    let download = store.get(&p("big/blob.bin")).await.expect("get");
    assert_eq!(download.size, total);
    assert_eq!(check_generated(download).await, total);
    assert!(leftover_temp_files(&tmp.path().join("big")).is_empty());
}

#[tokio::test]
async fn a_failed_body_leaves_no_partial_file() {
    let tmp = TempDir::new("failed");
    let store = store_at(tmp.path());
    let err = store
        .put(&p("d/new.bin"), failing_after(3 * 1024 * 1024, 100_000))
        .await
        .expect_err("the body failed");
    assert!(matches!(err, ArtifactError::Body(_)), "{err:?}");
    assert!(is_not_found(store.get(&p("d/new.bin")).await));
    assert_eq!(store.list(&p("d")).await.expect("list"), vec![]);
    assert!(leftover_temp_files(&tmp.path().join("d")).is_empty());

    // A failed replacement keeps the old content.
    store
        .put(&p("d/keep.txt"), body(b"old"))
        .await
        .expect("put");
    let err = store
        .put(&p("d/keep.txt"), failing_after(10, 3))
        .await
        .expect_err("the body failed");
    assert!(matches!(err, ArtifactError::Body(_)), "{err:?}");
    assert_eq!(
        read_all(store.get(&p("d/keep.txt")).await.expect("get")).await,
        b"old"
    );
    assert!(leftover_temp_files(&tmp.path().join("d")).is_empty());
}

#[tokio::test]
async fn a_dropped_upload_leaves_no_partial_file() {
    let tmp = TempDir::new("dropped");
    let store = store_at(tmp.path());
    // A zero-buffer channel: each `send` completes only once the previous item was taken,
    // so after the third send the upload has written the first chunk and waits for more.
    let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(0);
    let upload = {
        let store = store.clone();
        tokio::spawn(async move { store.put(&p("d/partial.bin"), rx).await })
    };
    use futures::SinkExt;
    for _ in 0..3 {
        tx.send(Ok(Bytes::from(vec![7u8; 4096])))
            .await
            .expect("send");
    }
    let temps = leftover_temp_files(&tmp.path().join("d"));
    assert_eq!(temps.len(), 1, "upload in progress");
    // The in-progress file is neither listed nor readable by name.
    assert_eq!(store.list(&p("d")).await.expect("list"), vec![]);
    assert!(is_invalid_path(
        store.get(&p(&format!("d/{}", temps[0]))).await
    ));
    upload.abort();
    let joined = upload.await;
    assert!(joined.is_err_and(|e| e.is_cancelled()));
    assert!(leftover_temp_files(&tmp.path().join("d")).is_empty());
    assert!(is_not_found(store.get(&p("d/partial.bin")).await));
    assert_eq!(store.list(&p("d")).await.expect("list"), vec![]);
}

#[tokio::test]
async fn directories_are_not_files() {
    let tmp = TempDir::new("dirs");
    let store = store_at(tmp.path());
    store.put(&p("d/f.txt"), body(b"x")).await.expect("put");
    assert!(is_not_found(store.get(&p("d")).await));
    assert!(is_invalid_path(store.put(&p("d"), body(b"y")).await));
    // A file cannot be a directory either.
    assert!(is_invalid_path(
        store.put(&p("d/f.txt/g.txt"), body(b"y")).await
    ));
    assert!(is_not_found(store.get(&p("d/f.txt/g.txt")).await));
    // Listing a file, like listing nothing, is empty (MLflow does the same).
    assert_eq!(store.list(&p("d/f.txt")).await.expect("list"), vec![]);
    assert_eq!(store.list(&p("missing/dir")).await.expect("list"), vec![]);
}

#[tokio::test]
async fn the_root_cannot_be_written_or_deleted() {
    let tmp = TempDir::new("rootops");
    let store = store_at(tmp.path());
    store.put(&p("f.txt"), body(b"x")).await.expect("put");
    assert!(is_invalid_path(
        store.put(&ArtifactPath::root(), body(b"y")).await
    ));
    assert!(is_invalid_path(store.delete(&ArtifactPath::root()).await));
    assert!(is_not_found(store.get(&ArtifactPath::root()).await));
    assert!(store.is_dir(&ArtifactPath::root()).await.expect("is_dir"));
    assert!(tmp.path().join("f.txt").is_file());
}

#[tokio::test]
async fn concurrent_uploads_into_one_new_directory_all_land() {
    let tmp = TempDir::new("concurrent");
    let store = store_at(tmp.path());
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .put(
                    &p(&format!("1/run/artifacts/deep/dir/f{i:02}.txt")),
                    body(b"data"),
                )
                .await
        }));
    }
    for task in tasks {
        task.await.expect("join").expect("put");
    }
    let listed = store
        .list(&p("1/run/artifacts/deep/dir"))
        .await
        .expect("list");
    assert_eq!(listed.len(), 16);
    assert_eq!(listed[0], file("1/run/artifacts/deep/dir/f00.txt", 4));
}

#[cfg(unix)]
mod symlinks {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A root with `inside.txt`, and an `outside` directory next to it holding `secret.txt`.
    struct Setup {
        _tmp: TempDir,
        root: std::path::PathBuf,
        outside: std::path::PathBuf,
        store: ArtifactStore,
    }

    fn setup(tag: &str) -> Setup {
        let tmp = TempDir::new(tag);
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(root.join("real")).expect("mkdir");
        std::fs::create_dir_all(&outside).expect("mkdir");
        std::fs::write(outside.join("secret.txt"), b"top secret").expect("write");
        std::fs::write(root.join("real/inside.txt"), b"inside").expect("write");
        let store = store_at(&root);
        Setup {
            _tmp: tmp,
            root,
            outside,
            store,
        }
    }

    fn outside_untouched(s: &Setup) {
        assert_eq!(
            std::fs::read(s.outside.join("secret.txt")).expect("secret still there"),
            b"top secret"
        );
        let names: Vec<_> = std::fs::read_dir(&s.outside)
            .expect("outside")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("secret.txt")]);
    }

    #[tokio::test]
    async fn a_planted_directory_link_cannot_be_used_to_escape() {
        let s = setup("symdir");
        symlink(&s.outside, s.root.join("link")).expect("symlink");
        let st = &s.store;

        assert!(is_invalid_path(st.get(&p("link/secret.txt")).await));
        assert!(is_invalid_path(
            st.put(&p("link/secret.txt"), body(b"pwned")).await
        ));
        assert!(is_invalid_path(
            st.put(&p("link/new.txt"), body(b"pwned")).await
        ));
        assert!(is_invalid_path(
            st.put(&p("link/sub/dir/new.txt"), body(b"pwned")).await
        ));
        assert!(is_invalid_path(st.list(&p("link")).await));
        assert!(is_invalid_path(st.list(&p("link/")).await));
        assert!(is_invalid_path(st.delete(&p("link/secret.txt")).await));
        assert!(is_invalid_path(st.delete(&p("link")).await));
        assert!(is_invalid_path(st.is_dir(&p("link")).await));
        outside_untouched(&s);

        // The root listing does not reveal the link; the rest works normally.
        assert_eq!(
            st.list(&ArtifactPath::root()).await.expect("list"),
            vec![dir("real")]
        );
        assert_eq!(
            read_all(st.get(&p("real/inside.txt")).await.expect("get")).await,
            b"inside"
        );
        // Deleting the parent directory of a link removes the link, not what it points to.
        std::fs::create_dir(s.root.join("d")).expect("mkdir");
        symlink(&s.outside, s.root.join("d/escape")).expect("symlink");
        symlink(s.outside.join("secret.txt"), s.root.join("d/secret-link")).expect("symlink");
        st.delete(&p("d")).await.expect("delete dir holding links");
        assert!(!s.root.join("d").exists());
        outside_untouched(&s);
    }

    #[tokio::test]
    async fn a_planted_file_link_cannot_be_read_or_overwritten() {
        let s = setup("symfile");
        symlink(s.outside.join("secret.txt"), s.root.join("real/leak.txt")).expect("symlink");
        let st = &s.store;
        let err = st.get(&p("real/leak.txt")).await.expect_err("refused");
        assert!(
            matches!(&err, ArtifactError::InvalidPath(m) if m.contains("real/leak.txt") && m.contains("outside")),
            "{err:?}"
        );
        assert!(
            !err.to_string().contains(s.outside.to_str().expect("utf-8")),
            "no server paths in messages"
        );
        assert!(is_invalid_path(
            st.put(&p("real/leak.txt"), body(b"pwned")).await
        ));
        assert!(is_invalid_path(st.delete(&p("real/leak.txt")).await));
        assert_eq!(
            st.list(&p("real")).await.expect("list"),
            vec![file("real/inside.txt", 6)],
            "links leaving the root are not listed"
        );
        outside_untouched(&s);
    }

    #[tokio::test]
    async fn a_symlinked_parent_directory_is_refused_at_any_depth() {
        let s = setup("symparent");
        std::fs::create_dir_all(s.outside.join("deeper")).expect("mkdir");
        symlink(&s.outside, s.root.join("real/up")).expect("symlink");
        let st = &s.store;
        assert!(is_invalid_path(st.get(&p("real/up/deeper/x")).await));
        assert!(is_invalid_path(
            st.put(&p("real/up/deeper/x.txt"), body(b"pwned")).await
        ));
        assert!(is_invalid_path(st.list(&p("real/up/deeper")).await));
        assert!(is_invalid_path(st.delete(&p("real/up/deeper")).await));
        assert!(s.outside.join("deeper").is_dir());
        assert!(!s.outside.join("deeper/x.txt").exists());
        std::fs::remove_dir(s.outside.join("deeper")).expect("cleanup");
        outside_untouched(&s);
    }

    #[tokio::test]
    async fn dangling_and_relative_escaping_links_are_refused() {
        let s = setup("dangling");
        symlink("../../outside/new-file", s.root.join("real/dangling")).expect("symlink");
        symlink("../../outside", s.root.join("real/rel")).expect("symlink");
        let st = &s.store;
        assert!(is_invalid_path(
            st.put(&p("real/dangling"), body(b"pwned")).await
        ));
        assert!(is_invalid_path(st.get(&p("real/dangling")).await));
        assert!(is_invalid_path(st.get(&p("real/rel/secret.txt")).await));
        assert!(is_invalid_path(
            st.put(&p("real/rel/x"), body(b"pwned")).await
        ));
        outside_untouched(&s);
    }

    #[tokio::test]
    async fn links_that_stay_inside_the_root_work() {
        let s = setup("inside");
        symlink(s.root.join("real"), s.root.join("alias")).expect("symlink");
        let st = &s.store;
        assert_eq!(
            read_all(st.get(&p("alias/inside.txt")).await.expect("get")).await,
            b"inside"
        );
        st.put(&p("alias/new.txt"), body(b"new"))
            .await
            .expect("put through alias");
        assert!(s.root.join("real/new.txt").is_file());
        assert!(st.is_dir(&p("alias")).await.expect("is_dir"));
        assert_eq!(
            st.list(&p("alias")).await.expect("list"),
            vec![file("alias/inside.txt", 6), file("alias/new.txt", 3)]
        );
        // Deleting the alias removes the link only.
        st.delete(&p("alias")).await.expect("delete link");
        assert!(!s.root.join("alias").exists());
        assert!(s.root.join("real/inside.txt").is_file());
    }

    #[tokio::test]
    async fn a_root_that_is_itself_a_link_is_fine() {
        let s = setup("linkroot");
        let link_root = s.root.parent().expect("parent").join("root-link");
        symlink(&s.root, &link_root).expect("symlink");
        let st = store_at(&link_root);
        st.put(&p("real/x.txt"), body(b"x")).await.expect("put");
        assert!(s.root.join("real/x.txt").is_file());
        assert_eq!(
            read_all(st.get(&p("real/inside.txt")).await.expect("get")).await,
            b"inside"
        );
        outside_untouched(&s);
    }
}
