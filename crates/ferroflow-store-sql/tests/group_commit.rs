//! The SQLite writer folds concurrent writes into one transaction; each request must still
//! be all-or-nothing on its own.

use ferroflow_store::{CreateRun, LogBatch, StoreError, TrackingStore};
use ferroflow_store_sql::{SqlStore, SqliteOptions};
use ferroflow_types::tracking::{Metric, Param};

fn store() -> (SqlStore, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("ferroflow-gc-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let store = SqlStore::open(SqliteOptions {
        path: dir.join("mlflow.db"),
        default_artifact_root: "/tmp/a".into(),
        readers: 2,
    })
    .expect("open");
    (store, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_request_in_a_group_leaves_the_others_committed() {
    let (store, dir) = store();
    let run = store
        .create_run(CreateRun {
            experiment_id: "0".into(),
            user_id: "u".into(),
            start_time: 1,
            run_name: "r".into(),
            tags: vec![],
        })
        .await
        .expect("run");
    let run_id = run.info.run_id.clone();
    store
        .log_batch(
            &run_id,
            LogBatch {
                params: vec![Param {
                    key: "lr".into(),
                    value: "0.1".into(),
                }],
                ..Default::default()
            },
        )
        .await
        .expect("first param");

    // 64 concurrent writers; every 8th tries to change the param (and log a metric with it).
    let mut tasks = Vec::new();
    for i in 0..64i64 {
        let store = store.clone();
        let run_id = run_id.clone();
        tasks.push(tokio::spawn(async move {
            let metric = Metric {
                key: format!("m{i}"),
                value: i as f64,
                timestamp: 1,
                step: 0,
                ..Default::default()
            };
            let params = if i % 8 == 0 {
                vec![Param {
                    key: "lr".into(),
                    value: "0.2".into(),
                }]
            } else {
                vec![]
            };
            store
                .log_batch(
                    &run_id,
                    LogBatch {
                        metrics: vec![metric],
                        params,
                        tags: vec![],
                    },
                )
                .await
        }));
    }
    let mut failed = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.expect("join") {
            Ok(()) => assert!(i % 8 != 0, "request {i} should have failed"),
            Err(StoreError::InvalidParameter(_)) => {
                assert_eq!(i % 8, 0, "request {i} failed but should not have");
                failed += 1;
            }
            Err(e) => panic!("unexpected error for request {i}: {e}"),
        }
    }
    assert_eq!(failed, 8);
    let run = store.get_run(&run_id).await.expect("get");
    let keys: std::collections::HashSet<String> =
        run.data.metrics.iter().map(|m| m.key.clone()).collect();
    assert_eq!(
        keys.len(),
        56,
        "metrics of failed requests must not be written"
    );
    assert!((0..64)
        .filter(|i| i % 8 == 0)
        .all(|i| !keys.contains(&format!("m{i}"))));
    assert_eq!(run.data.params[0].value, "0.1");
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
}
