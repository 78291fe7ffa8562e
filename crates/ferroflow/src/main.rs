//! The `ferroflow` binary: `mlflow server`'s command line, the same flags and environment
//! variables, in front of Ferroflow's server. The only `main` in the workspace.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{ArgAction, Args, Parser, Subcommand};
use ferroflow_artifacts::ArtifactStore;
use ferroflow_server::{AppState, ServerConfig};
use ferroflow_store_sql::{BackendUri, PoolOptions, ServerOptions, SqlStore, SqliteOptions};

#[derive(Parser)]
#[command(
    name = "ferroflow",
    version,
    about = "An MLflow-compatible tracking server, model registry and UI in one binary.",
    long_about = "Ferroflow serves MLflow's REST API: point the mlflow client at it with \
                  mlflow.set_tracking_uri(\"http://127.0.0.1:5000\") and keep your code."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the tracking server (same flags as `mlflow server`).
    Server(ServerArgs),
    /// Run the server for local use (same flags as `mlflow ui`).
    Ui(ServerArgs),
}

#[derive(Args, Debug, Clone)]
#[command(disable_help_flag = true)]
struct ServerArgs {
    /// Print help (`-h` is the host, as in `mlflow server`).
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,

    /// Where experiments, runs and the registry are stored: sqlite:///<path>.
    #[arg(
        long,
        env = "MLFLOW_BACKEND_STORE_URI",
        default_value = "sqlite:///mlflow.db"
    )]
    backend_store_uri: String,

    /// Registry store URI; defaults to the backend store.
    #[arg(long, env = "MLFLOW_REGISTRY_STORE_URI")]
    registry_store_uri: Option<String>,

    /// Root for new experiments' artifacts. Default: mlflow-artifacts:/ when serving
    /// artifacts, ./mlruns otherwise.
    #[arg(long, env = "MLFLOW_DEFAULT_ARTIFACT_ROOT")]
    default_artifact_root: Option<String>,

    /// Proxy artifact uploads and downloads through this server (default on).
    #[arg(long, env = "MLFLOW_SERVE_ARTIFACTS", overrides_with = "no_serve_artifacts", default_value_t = true, action = ArgAction::SetTrue)]
    serve_artifacts: bool,

    /// Do not proxy artifacts; clients write to the artifact store directly.
    #[arg(long, overrides_with = "serve_artifacts", action = ArgAction::SetTrue)]
    no_serve_artifacts: bool,

    /// Where proxied artifacts are stored (local path or s3://, gs://, ... URI).
    #[arg(
        long,
        env = "MLFLOW_ARTIFACTS_DESTINATION",
        default_value = "./mlartifacts"
    )]
    artifacts_destination: String,

    /// Serve only the artifact API, not tracking or the registry.
    #[arg(long, env = "MLFLOW_ARTIFACTS_ONLY", action = ArgAction::SetTrue)]
    artifacts_only: bool,

    /// Network address to listen on.
    #[arg(short = 'h', long, env = "MLFLOW_HOST", default_value = "127.0.0.1")]
    host: String,

    /// Port to listen on (0 picks a free one).
    #[arg(short = 'p', long, env = "MLFLOW_PORT", default_value_t = 5000)]
    port: u16,

    /// Worker threads serving requests (default: one per core).
    #[arg(short = 'w', long, env = "MLFLOW_WORKERS")]
    workers: Option<usize>,

    /// A prefix for every route, e.g. /mlflow behind a proxy.
    #[arg(long, env = "MLFLOW_STATIC_PREFIX")]
    static_prefix: Option<String>,

    /// Database reader connections for SQLite.
    #[arg(long, env = "FERROFLOW_SQLITE_READERS", default_value_t = 4)]
    sqlite_readers: usize,

    /// Most connections to PostgreSQL/MySQL per process. Default: MLflow's
    /// MLFLOW_SQLALCHEMYSTORE_POOL_SIZE + MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW when set, else 10.
    #[arg(long, env = "FERROFLOW_DB_POOL_SIZE")]
    db_pool_size: Option<usize>,

    /// Seconds to wait for PostgreSQL/MySQL to accept a connection.
    #[arg(long, env = "FERROFLOW_DB_CONNECT_TIMEOUT", default_value_t = 10)]
    db_connect_timeout: u64,

    /// Seconds a request waits for a free database connection before answering 503.
    #[arg(long, env = "FERROFLOW_DB_ACQUIRE_TIMEOUT", default_value_t = 30)]
    db_acquire_timeout: u64,

    /// Seconds after which a database connection is replaced (MLflow's
    /// MLFLOW_SQLALCHEMYSTORE_POOL_RECYCLE). Default: never.
    #[arg(long, env = "MLFLOW_SQLALCHEMYSTORE_POOL_RECYCLE")]
    db_pool_recycle: Option<u64>,

    /// Most client connections served at once; more wait in the kernel's backlog.
    #[arg(long, env = "FERROFLOW_MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,

    /// Seconds an idle keep-alive connection stays open waiting for its next request
    /// (uvicorn's timeout_keep_alive under `mlflow server`).
    #[arg(long, env = "FERROFLOW_KEEP_ALIVE_TIMEOUT", default_value_t = 5)]
    keep_alive_timeout: u64,

    /// Seconds a client has to send a whole request head once the server waits for it.
    #[arg(long, env = "FERROFLOW_HEADER_READ_TIMEOUT", default_value_t = 30)]
    header_read_timeout: u64,

    /// Seconds a request body may stop arriving before the request fails.
    #[arg(long, env = "FERROFLOW_BODY_READ_TIMEOUT", default_value_t = 60)]
    body_read_timeout: u64,

    /// Memory (MiB) for the step counts that make sampled metric charts of long runs fast.
    #[arg(long, env = "FERROFLOW_HISTORY_CACHE_MB", default_value_t = 16)]
    history_cache_mb: usize,

    /// Accepted for compatibility with `mlflow server`; Ferroflow has no Python app server.
    #[arg(
        long,
        env = "MLFLOW_GUNICORN_OPTS",
        hide = true,
        allow_hyphen_values = true
    )]
    gunicorn_opts: Option<String>,
    #[arg(
        long,
        env = "MLFLOW_WAITRESS_OPTS",
        hide = true,
        allow_hyphen_values = true
    )]
    waitress_opts: Option<String>,
    #[arg(
        long,
        env = "MLFLOW_UVICORN_OPTS",
        hide = true,
        allow_hyphen_values = true
    )]
    uvicorn_opts: Option<String>,
    #[arg(long, env = "MLFLOW_EXPOSE_PROMETHEUS", hide = true)]
    expose_prometheus: Option<String>,
    #[arg(long, hide = true)]
    app_name: Option<String>,
    #[arg(long, hide = true, action = ArgAction::SetTrue)]
    dev: bool,
    #[arg(long, env = "MLFLOW_SERVER_ALLOWED_HOSTS", hide = true)]
    allowed_hosts: Option<String>,
    #[arg(long, env = "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS", hide = true)]
    cors_allowed_origins: Option<String>,
    #[arg(long, env = "MLFLOW_SERVER_X_FRAME_OPTIONS", hide = true)]
    x_frame_options: Option<String>,
}

/// glibc gives every thread that allocates its own malloc arena (up to 8 per core), and
/// memory freed into one arena serves only the threads attached to it. Database work moves
/// between tokio's blocking threads, so SQLite's page caches and the answers' buffers spread
/// over a dozen arenas that each keep their high-water mark: a one-hour mixed load grew the
/// process from 15 MB to 115 MB this way. Two arenas keep it near what is really in use.
/// The limit can only be set before the process starts, so Ferroflow runs itself again
/// with `MALLOC_ARENA_MAX=2` (the same process: `exec` keeps its id, files and signals)
/// unless the variable is already set, which also lets an operator choose another value.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let mut cmd = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        cmd.arg0(arg0);
    }
    // `exec` returns only when it failed: then run on with glibc's defaults.
    let _ = cmd.args(args).env("MALLOC_ARENA_MAX", "2").exec();
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    limit_malloc_arenas();
    let args = match cli.command {
        Command::Server(a) | Command::Ui(a) => a,
    };
    init_logging();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(w) = args.workers.filter(|w| *w > 0) {
        runtime.worker_threads(w);
    }
    let runtime = match runtime.build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FERROFLOW_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
}

/// Makes a local path absolute; URIs with a scheme are kept as they are.
fn resolve_local(root: &str) -> String {
    if root.contains("://") || root.starts_with("mlflow-artifacts:") {
        return root.to_string();
    }
    let path = Path::new(root.strip_prefix("file:").unwrap_or(root));
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| PathBuf::from(path))
    };
    // Drop "." segments so logs and stored locations read /x/mlruns, not /x/./mlruns.
    let clean: PathBuf = abs
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    clean.to_string_lossy().to_string()
}

/// Pool settings from the flags, falling back to MLflow's SQLAlchemy pool variables.
fn pool_options(args: &ServerArgs) -> PoolOptions {
    let env_usize = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
    };
    let max_connections = args.db_pool_size.unwrap_or_else(|| {
        match (
            env_usize("MLFLOW_SQLALCHEMYSTORE_POOL_SIZE"),
            env_usize("MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW"),
        ) {
            (None, None) => 10,
            (size, overflow) => size.unwrap_or(5) + overflow.unwrap_or(10),
        }
    });
    PoolOptions {
        max_connections: max_connections.max(1),
        connect_timeout: std::time::Duration::from_secs(args.db_connect_timeout.max(1)),
        acquire_timeout: std::time::Duration::from_secs(args.db_acquire_timeout.max(1)),
        recycle: args
            .db_pool_recycle
            .filter(|s| *s > 0)
            .map(std::time::Duration::from_secs),
    }
}

async fn run(args: ServerArgs) -> Result<(), String> {
    let serve_artifacts = args.serve_artifacts && !args.no_serve_artifacts;
    let default_artifact_root = match &args.default_artifact_root {
        Some(root) => resolve_local(root),
        None if serve_artifacts => "mlflow-artifacts:/".to_string(),
        None => resolve_local("./mlruns"),
    };
    let backend = BackendUri::parse(&args.backend_store_uri).map_err(|e| e.to_string())?;
    let store = match backend {
        BackendUri::Sqlite(path) => {
            let opts = SqliteOptions {
                path: path.clone(),
                default_artifact_root: default_artifact_root.clone(),
                readers: args.sqlite_readers,
            };
            let store = tokio::task::spawn_blocking(move || SqlStore::open(opts))
                .await
                .map_err(|e| format!("opening the database failed: {e}"))?
                .map_err(|e| {
                    format!(
                        "cannot use backend store '{}' ({}): {e}",
                        args.backend_store_uri,
                        path.display()
                    )
                })?;
            let shown = std::fs::canonicalize(&path).unwrap_or(path);
            tracing::info!(
                "backend store: {} ({})",
                args.backend_store_uri,
                shown.display()
            );
            store
        }
        BackendUri::Postgres(ref server) | BackendUri::Mysql(ref server) => {
            let shown = server.to_string();
            let options = ServerOptions {
                uri: backend.clone(),
                default_artifact_root: default_artifact_root.clone(),
                pool: pool_options(&args),
            };
            let store = tokio::task::spawn_blocking(move || SqlStore::connect(options))
                .await
                .map_err(|e| format!("opening the database failed: {e}"))?
                .map_err(|e| format!("cannot use backend store '{shown}': {e}"))?;
            tracing::info!("backend store: {shown}");
            store
        }
    };
    store.set_history_cache_bytes(args.history_cache_mb.saturating_mul(1 << 20));
    let artifacts = if serve_artifacts || args.artifacts_only {
        let dest = resolve_local(&args.artifacts_destination);
        let store = ArtifactStore::from_uri(&dest)
            .map_err(|e| format!("cannot use --artifacts-destination '{dest}': {e}"))?;
        tracing::info!("proxied artifacts are stored in {}", store.root_uri());
        Some(store)
    } else {
        None
    };
    tracing::info!("artifact root for new experiments: {default_artifact_root}");
    let static_prefix = args
        .static_prefix
        .as_deref()
        .map(|p| {
            if p.starts_with('/') {
                p.to_string()
            } else {
                format!("/{p}")
            }
        })
        .unwrap_or_default();
    // MLflow's MLFLOW_WEBHOOK_* variables (allowed schemes, private targets, retries, key).
    let webhook_options = ferroflow_server::webhooks::WebhookOptions::from_env()?;
    let state = AppState {
        registry: Arc::new(store.clone()),
        webhooks: ferroflow_server::webhooks::WebhookDispatcher::new(
            Arc::new(store.clone()),
            webhook_options,
        ),
        webhook_store: Arc::new(store.clone()),
        store: Arc::new(store),
        artifacts,
        config: Arc::new(ServerConfig {
            static_prefix: static_prefix.clone(),
            serve_artifacts,
            store_type: "SqlStore".to_string(),
            artifacts_only: args.artifacts_only,
            http_limits: ferroflow_server::http::HttpLimits {
                max_connections: args.max_connections.max(1),
                keep_alive_timeout: std::time::Duration::from_secs(args.keep_alive_timeout.max(1)),
                header_read_timeout: std::time::Duration::from_secs(
                    args.header_read_timeout.max(1),
                ),
                body_read_timeout: std::time::Duration::from_secs(args.body_read_timeout.max(1)),
            },
        }),
    };
    let addr = format!("{}:{}", args.host, args.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let host = if local.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        local.ip().to_string()
    };
    let url_host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    tracing::info!(
        "Ferroflow {} listening on http://{}:{}{}/",
        env!("CARGO_PKG_VERSION"),
        url_host,
        local.port(),
        static_prefix
    );
    ferroflow_server::serve(listener, state, shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))?;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM, so requests in flight can finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
