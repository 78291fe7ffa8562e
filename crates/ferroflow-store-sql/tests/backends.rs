//! One scenario, three databases: the store must answer the same on SQLite, PostgreSQL and
//! MySQL/MariaDB. PostgreSQL and MariaDB are reached at `FERROFLOW_TEST_PG_URL` /
//! `FERROFLOW_TEST_MYSQL_URL` (defaults: the local test servers); each run creates a
//! throwaway database and drops it. Without `FERROFLOW_REQUIRE_DBS` an unreachable server
//! skips its backend; with it (as in scripts/test.sh) that is a failure.

use ferroflow_store::registry::{CreateModelVersion, RegistryStore, SearchRegistry};
use ferroflow_store::{
    BulkIntervalQuery, CreateRun, LogBatch, SearchRuns, StoreError, TrackingStore,
};
use ferroflow_store_sql::{BackendUri, PoolOptions, ServerOptions, SqlStore, SqliteOptions};
use ferroflow_types::tracking::{Metric, Param, RunTag, ViewType};

const PG_ADMIN: &str = "postgresql://postgres@127.0.0.1:5432/postgres";
const MYSQL_ADMIN: &str = "mysql://root@127.0.0.1:3306/test";

fn required() -> bool {
    std::env::var_os("FERROFLOW_REQUIRE_DBS").is_some()
}

/// Creates a database on the server behind `admin_url`; None when it cannot be reached
/// (and that is allowed).
fn throwaway(kind: &str) -> Option<(String, String)> {
    let name = format!("ff_rs_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let created = match kind {
        "postgresql" => {
            let url = std::env::var("FERROFLOW_TEST_PG_URL").unwrap_or(PG_ADMIN.into());
            postgres::Client::connect(&url, postgres::NoTls)
                .and_then(|mut c| c.batch_execute(&format!("CREATE DATABASE {name}")))
                .map(|_| {
                    format!(
                        "{}/{name}",
                        url.rsplit_once('/').map(|x| x.0).unwrap_or(&url)
                    )
                })
                .map_err(|e| e.to_string())
        }
        _ => {
            use mysql::prelude::Queryable;
            let url = std::env::var("FERROFLOW_TEST_MYSQL_URL").unwrap_or(MYSQL_ADMIN.into());
            mysql::Opts::from_url(&url)
                .map_err(|e| e.to_string())
                .and_then(|o| mysql::Conn::new(o).map_err(|e| e.to_string()))
                .and_then(|mut c| {
                    c.query_drop(format!("CREATE DATABASE {name}"))
                        .map_err(|e| e.to_string())
                })
                .map(|_| {
                    format!(
                        "{}/{name}",
                        url.rsplit_once('/').map(|x| x.0).unwrap_or(&url)
                    )
                })
        }
    };
    match created {
        Ok(uri) => Some((uri, name)),
        Err(e) if !required() => {
            eprintln!("skipping {kind}: {e}");
            None
        }
        Err(e) => panic!("{kind} test server unreachable and FERROFLOW_REQUIRE_DBS is set: {e}"),
    }
}

fn drop_database(kind: &str, name: &str) {
    if kind == "postgresql" {
        let url = std::env::var("FERROFLOW_TEST_PG_URL").unwrap_or(PG_ADMIN.into());
        if let Ok(mut c) = postgres::Client::connect(&url, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    } else {
        use mysql::prelude::Queryable;
        let url = std::env::var("FERROFLOW_TEST_MYSQL_URL").unwrap_or(MYSQL_ADMIN.into());
        if let Ok(mut c) = mysql::Opts::from_url(&url)
            .map_err(|e| e.to_string())
            .and_then(|o| mysql::Conn::new(o).map_err(|e| e.to_string()))
        {
            let _ = c.query_drop(format!("DROP DATABASE IF EXISTS {name}"));
        }
    }
}

fn metric(key: &str, value: f64, step: i64, timestamp: i64) -> Metric {
    Metric {
        key: key.into(),
        value,
        timestamp,
        step,
        ..Default::default()
    }
}

/// The scenario; returns a summary that must be identical on every backend.
async fn scenario(store: SqlStore) -> Vec<String> {
    let mut out = Vec::new();
    let exp = store
        .create_experiment("backends", None, &[])
        .await
        .expect("experiment");
    let mut runs = Vec::new();
    for i in 0..3i64 {
        let run = store
            .create_run(CreateRun {
                experiment_id: exp.clone(),
                user_id: "u".into(),
                start_time: 100 + i,
                run_name: format!("run-{i}"),
                tags: vec![RunTag {
                    key: "i".into(),
                    value: i.to_string(),
                }],
            })
            .await
            .expect("run");
        runs.push(run.info.run_id.clone());
        let mut metrics: Vec<Metric> = (0..50)
            .map(|s| metric("loss", 1.0 / (s + 1 + i) as f64, s, s))
            .collect();
        // The same point twice is stored once; an older step never replaces the latest.
        metrics.push(metric("loss", 1.0 / (1 + i) as f64, 0, 0));
        metrics.push(metric("special", f64::NAN, 0, 0));
        metrics.push(metric("special", f64::INFINITY, 1, 1));
        store
            .log_batch(
                &run.info.run_id,
                LogBatch {
                    metrics,
                    params: vec![Param {
                        key: "lr".into(),
                        value: format!("0.{i}"),
                    }],
                    tags: vec![],
                },
            )
            .await
            .expect("batch");
        store
            .log_batch(
                &run.info.run_id,
                LogBatch {
                    metrics: vec![metric("loss", 9.0, 10, 10)],
                    ..Default::default()
                },
            )
            .await
            .expect("older step");
    }
    // Changing a param is refused, with MLflow's message, and nothing is written.
    let changed = store
        .log_batch(
            &runs[0],
            LogBatch {
                params: vec![Param {
                    key: "lr".into(),
                    value: "9".into(),
                }],
                metrics: vec![metric("never", 1.0, 0, 0)],
                ..Default::default()
            },
        )
        .await;
    match changed {
        Err(StoreError::InvalidParameter(m)) => {
            out.push(m.split(" for run").next().unwrap_or("").to_string())
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let run0 = store.get_run(&runs[0]).await.expect("get");
    let mut latest: Vec<String> = run0
        .data
        .metrics
        .iter()
        .map(|m| format!("{}={}@{}", m.key, m.value, m.step))
        .collect();
    latest.sort();
    out.push(latest.join(","));
    let found = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = {
        let found = found.clone();
        Box::new(move |runs: Vec<ferroflow_types::tracking::Run>| {
            found.lock().expect("lock").extend(runs);
            true
        })
    };
    store
        .stream_search_runs(
            SearchRuns {
                experiment_ids: vec![exp.clone()],
                filter: ferroflow_search::parse_run_filter(
                    "metrics.loss < 0.03 and params.lr LIKE '0.%'",
                )
                .expect("filter"),
                order_by: ferroflow_search::parse_run_order_by(&["metrics.loss DESC".into()])
                    .expect("order"),
                view_type: ViewType::ActiveOnly,
                max_results: 10,
                offset: 0,
            },
            sink,
        )
        .await
        .expect("search");
    out.push(
        found
            .lock()
            .expect("lock")
            .iter()
            .map(|r| r.info.run_name.clone())
            .collect::<Vec<_>>()
            .join(","),
    );
    let sampled = store
        .get_metric_history_bulk_interval(BulkIntervalQuery {
            run_ids: vec![runs[1].clone()],
            metric_key: "loss".into(),
            start_step: None,
            end_step: None,
            max_results: 10,
        })
        .await
        .expect("interval");
    out.push(
        sampled
            .iter()
            .map(|m| m.metric.step.to_string())
            .collect::<Vec<_>>()
            .join(","),
    );

    // Registry: 16 concurrent registrations of one model number 1..16 with no gap.
    store
        .create_registered_model("backends-model", vec![], None)
        .await
        .expect("model");
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = store.clone();
        let run_id = runs[0].clone();
        tasks.push(tokio::spawn(async move {
            store
                .create_model_version(CreateModelVersion {
                    name: "backends-model".into(),
                    source: format!("runs:/{run_id}/model"),
                    storage_location: String::new(),
                    run_id: Some(run_id),
                    run_link: None,
                    description: None,
                    tags: vec![],
                })
                .await
                .map(|v| v.version)
        }));
    }
    let mut versions = Vec::new();
    for t in tasks {
        versions.push(
            t.await
                .expect("task")
                .expect("version")
                .parse::<i64>()
                .expect("number"),
        );
    }
    versions.sort();
    assert_eq!(versions, (1..=16).collect::<Vec<_>>());
    let listed = store
        .search_model_versions(SearchRegistry {
            filter: ferroflow_search::parse_model_version_filter("name = 'backends-model'")
                .expect("filter"),
            order_by: vec![],
            max_results: 100,
            offset: 0,
        })
        .await
        .expect("versions");
    out.push(format!("{} versions", listed.items.len()));
    out
}

fn run_on(store: SqlStore) -> Vec<String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(scenario(store))
}

fn server_store(uri: &str) -> SqlStore {
    SqlStore::connect(ServerOptions {
        uri: BackendUri::parse(uri).expect("uri"),
        default_artifact_root: "/tmp/ff-artifacts".into(),
        pool: PoolOptions::default(),
    })
    .expect("connect")
}

#[test]
fn same_answers_on_sqlite_postgresql_and_mysql() {
    let dir = std::env::temp_dir().join(format!(
        "ferroflow-backends-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let sqlite = SqlStore::open(SqliteOptions {
        path: dir.join("mlflow.db"),
        default_artifact_root: "/tmp/ff-artifacts".into(),
        readers: 2,
    })
    .expect("sqlite");
    let expected = run_on(sqlite);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(expected[0], "Changing param values is not allowed. Params were already logged='[{'key': 'lr', 'old_value': '0.0', 'new_value': '9'}]'");
    // The latest point is the greatest step: the later step-10 value and the duplicate do not win.
    assert!(
        expected[1].starts_with("loss=0.02@49,special=") && expected[1].ends_with("@1"),
        "{}",
        expected[1]
    );
    assert_eq!(expected[2], "run-0,run-1,run-2");
    assert_eq!(expected[4], "16 versions");

    for kind in ["postgresql", "mysql"] {
        let Some((uri, name)) = throwaway(kind) else {
            continue;
        };
        // Dropped even when the scenario fails.
        let _database = Dropped { kind, name };
        let got = run_on(server_store(&uri));
        assert_eq!(got, expected, "{kind} answers differently from SQLite");
    }
}

/// Drops a throwaway database when it goes out of scope.
struct Dropped {
    kind: &'static str,
    name: String,
}

impl Drop for Dropped {
    fn drop(&mut self) {
        drop_database(self.kind, &self.name);
    }
}
