//! Validation limits, as MLflow enforces them. Kept together so a reader can compare them
//! with MLflow's `mlflow/utils/validation.py` at a glance.

/// Longest metric, param or tag key.
pub const MAX_ENTITY_KEY_LENGTH: usize = 250;
/// Param values longer than this are truncated (MLflow's default behaviour).
pub const MAX_PARAM_VAL_LENGTH: usize = 6000;
/// Run tag values longer than this are truncated.
pub const MAX_TAG_VAL_LENGTH: usize = 8000;
pub const MAX_EXPERIMENT_TAG_KEY_LENGTH: usize = 250;
pub const MAX_EXPERIMENT_TAG_VAL_LENGTH: usize = 20_000;
/// MLflow's own limit on experiment names (checked before the VARCHAR(256) column).
pub const MAX_EXPERIMENT_NAME_LENGTH: usize = 500;
/// Most bytes in one log-batch request body.
pub const MAX_BATCH_LOG_REQUEST_SIZE: usize = 1_000_000;
/// The `runs.name` column is VARCHAR(250).
pub const MAX_RUN_NAME_LENGTH: usize = 250;

pub const MAX_METRICS_PER_BATCH: usize = 1000;
pub const MAX_PARAMS_TAGS_PER_BATCH: usize = 100;
pub const MAX_ENTITIES_PER_BATCH: usize = 1000;

pub const MAX_DATASET_NAME_SIZE: usize = 500;
pub const MAX_DATASET_DIGEST_SIZE: usize = 36;
pub const MAX_DATASET_SCHEMA_SIZE: usize = 1_048_575;
pub const MAX_DATASET_SOURCE_SIZE: usize = 65_535;
pub const MAX_DATASET_PROFILE_SIZE: usize = 16_777_215;
pub const MAX_INPUT_TAG_KEY_SIZE: usize = 255;
pub const MAX_INPUT_TAG_VALUE_SIZE: usize = 500;

/// runs/search: default page size and the largest accepted `max_results`.
pub const SEARCH_RUNS_DEFAULT_MAX_RESULTS: i64 = 1000;
pub const SEARCH_MAX_RESULTS_THRESHOLD: i64 = 50_000;
/// experiments/search: largest accepted `max_results`.
pub const SEARCH_EXPERIMENTS_MAX_RESULTS: i64 = 50_000;
/// metrics/get-history-bulk-interval: largest number of points per run, also the default
/// when `max_results` is not given (MLflow 3.18's MAX_RESULTS_PER_RUN).
pub const HISTORY_BULK_INTERVAL_DEFAULT_MAX_RESULTS: i64 = 2500;
pub const HISTORY_BULK_INTERVAL_MAX_RESULTS: i64 = 2500;
/// metrics/get-history-bulk-interval: most runs in one request.
pub const HISTORY_BULK_INTERVAL_MAX_RUNS: usize = 100;
/// metrics/get-history-bulk (ajax): most runs and points.
pub const HISTORY_BULK_MAX_RUNS: usize = 100;
pub const HISTORY_BULK_MAX_RESULTS: i64 = 25_000;

/// What MLflow stores for +inf / -inf (the largest finite double).
pub const INF_SUBSTITUTE: f64 = 1.797_693_134_862_315_7e308;

/// runs/search and logged-models/search: most distinct experiment ids in one request. MLflow
/// has no limit of its own and fails inside the database past SQLite's variable limit; the
/// message names this one instead.
pub const SEARCH_MAX_EXPERIMENT_IDS: usize = 10_000;
