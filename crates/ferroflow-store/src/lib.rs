//! The storage boundary. Handlers see only the [`TrackingStore`] trait and [`StoreError`];
//! backends (SQLite today, PostgreSQL and MySQL next) implement it. Nothing here knows SQL:
//! requests arrive already validated and parsed (filters as `ferroflow-search` ASTs are
//! compiled by the backend), so a backend only has to store and fetch.

pub mod registry;
pub mod webhooks;

use async_trait::async_trait;
use ferroflow_types::tracking::{
    DatasetInput, Experiment, ExperimentTag, LoggedModel, LoggedModelParameter, LoggedModelTag,
    Metric, ModelOutput, Param, Run, RunInfo, RunTag, ViewType,
};
use ferroflow_types::ErrorCode;

/// Why a store call failed. User mistakes carry the MLflow code the client must see;
/// backend failures never leak database text to clients (the server logs them).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The request names something that does not exist (404 RESOURCE_DOES_NOT_EXIST).
    #[error("{0}")]
    NotFound(String),
    /// A unique name is taken (400 RESOURCE_ALREADY_EXISTS).
    #[error("{0}")]
    AlreadyExists(String),
    /// The request is valid JSON but breaks a rule (400 INVALID_PARAMETER_VALUE).
    #[error("{0}")]
    InvalidParameter(String),
    /// A write the database refused as a whole, e.g. a rename onto a taken name, which
    /// MLflow reports as 400 BAD_REQUEST rather than RESOURCE_ALREADY_EXISTS.
    #[error("{0}")]
    BadRequest(String),
    /// The database cannot be reached right now (503 TEMPORARILY_UNAVAILABLE).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else the backend reports (500 INTERNAL_ERROR, details only in the log).
    #[error("database error: {0}")]
    Backend(String),
}

impl StoreError {
    /// The MLflow error code the client sees. Exhaustive on purpose: a new variant must
    /// decide its code here.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            StoreError::NotFound(_) => ErrorCode::ResourceDoesNotExist,
            StoreError::AlreadyExists(_) => ErrorCode::ResourceAlreadyExists,
            StoreError::InvalidParameter(_) => ErrorCode::InvalidParameterValue,
            StoreError::BadRequest(_) => ErrorCode::BadRequest,
            StoreError::Unavailable(_) => ErrorCode::TemporarilyUnavailable,
            StoreError::Backend(_) => ErrorCode::InternalError,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// One page of results and the token for the next page, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CreateRun {
    pub experiment_id: String,
    pub user_id: String,
    pub start_time: i64,
    /// Already resolved: the request's `run_name`, its `mlflow.runName` tag, or a generated one.
    pub run_name: String,
    pub tags: Vec<RunTag>,
}

#[derive(Debug, Clone, Default)]
pub struct UpdateRun {
    pub status: Option<String>,
    pub end_time: Option<i64>,
    pub run_name: Option<String>,
}

/// A validated log-batch. Params and tag values are already truncated to MLflow's limits.
#[derive(Debug, Clone, Default)]
pub struct LogBatch {
    pub metrics: Vec<Metric>,
    pub params: Vec<Param>,
    pub tags: Vec<RunTag>,
}

#[derive(Debug, Clone)]
pub struct SearchRuns {
    pub experiment_ids: Vec<String>,
    pub filter: Vec<ferroflow_search::Comparison>,
    pub order_by: Vec<ferroflow_search::OrderBy>,
    pub view_type: ViewType,
    pub max_results: i64,
    pub offset: i64,
}

#[derive(Debug, Clone)]
pub struct SearchExperiments {
    pub filter: Vec<ferroflow_search::Comparison>,
    pub order_by: Vec<ferroflow_search::OrderBy>,
    pub view_type: ViewType,
    pub max_results: i64,
    pub offset: i64,
}

/// A metric point with the run it belongs to (bulk history answers).
#[derive(Debug, Clone, PartialEq)]
pub struct RunMetric {
    pub run_id: String,
    pub metric: Metric,
}

/// Receives a long answer a chunk at a time (on a blocking thread); answers `false` when
/// nobody listens any more, which ends the read.
pub type ChunkSink<T> = Box<dyn FnMut(Vec<T>) -> bool + Send>;

#[derive(Debug, Clone)]
pub struct MetricHistoryQuery {
    pub run_id: String,
    pub metric_key: String,
    pub max_results: Option<i64>,
    pub offset: i64,
}

#[derive(Debug, Clone)]
pub struct BulkIntervalQuery {
    pub run_ids: Vec<String>,
    pub metric_key: String,
    pub start_step: Option<i64>,
    pub end_step: Option<i64>,
    pub max_results: i64,
}

#[derive(Debug, Clone)]
pub struct CreateLoggedModel {
    pub experiment_id: String,
    /// Already resolved (a generated name when the request had none).
    pub name: String,
    pub model_type: Option<String>,
    pub source_run_id: Option<String>,
    pub params: Vec<LoggedModelParameter>,
    pub tags: Vec<LoggedModelTag>,
}

/// One logged-models order_by entry: an attribute (`name`, `model_id`, `creation_timestamp`,
/// `last_updated_timestamp`) or `metrics.<key>`.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedModelOrderBy {
    pub field_name: String,
    pub ascending: bool,
}

#[derive(Debug, Clone)]
pub struct SearchLoggedModels {
    pub experiment_ids: Vec<String>,
    pub filter: Vec<ferroflow_search::Comparison>,
    pub order_by: Vec<LoggedModelOrderBy>,
    pub max_results: i64,
    pub offset: i64,
}

/// Everything experiment tracking needs from a database.
#[async_trait]
pub trait TrackingStore: Send + Sync + 'static {
    /// Creates an experiment; `artifact_location` None means "derive it from the default root".
    async fn create_experiment(
        &self,
        name: &str,
        artifact_location: Option<&str>,
        tags: &[ExperimentTag],
    ) -> StoreResult<String>;
    async fn get_experiment(&self, experiment_id: &str) -> StoreResult<Experiment>;
    async fn get_experiment_by_name(&self, name: &str) -> StoreResult<Option<Experiment>>;
    async fn search_experiments(&self, query: SearchExperiments) -> StoreResult<Page<Experiment>>;
    async fn rename_experiment(&self, experiment_id: &str, new_name: &str) -> StoreResult<()>;
    async fn delete_experiment(&self, experiment_id: &str) -> StoreResult<()>;
    async fn restore_experiment(&self, experiment_id: &str) -> StoreResult<()>;
    async fn set_experiment_tag(&self, experiment_id: &str, tag: ExperimentTag) -> StoreResult<()>;
    async fn delete_experiment_tag(&self, experiment_id: &str, key: &str) -> StoreResult<()>;

    async fn create_run(&self, run: CreateRun) -> StoreResult<Run>;
    async fn get_run(&self, run_id: &str) -> StoreResult<Run>;
    async fn update_run(&self, run_id: &str, update: UpdateRun) -> StoreResult<RunInfo>;
    async fn delete_run(&self, run_id: &str) -> StoreResult<()>;
    async fn restore_run(&self, run_id: &str) -> StoreResult<()>;
    /// All or nothing: params, metrics and tags of one request in one transaction.
    async fn log_batch(&self, run_id: &str, batch: LogBatch) -> StoreResult<()>;
    async fn delete_tag(&self, run_id: &str, key: &str) -> StoreResult<()>;
    /// Dataset inputs, and logged models the run consumed (`model_ids`).
    async fn log_inputs(
        &self,
        run_id: &str,
        datasets: Vec<DatasetInput>,
        model_ids: Vec<String>,
    ) -> StoreResult<()>;
    /// Logged models the run produced (`runs/outputs`).
    async fn log_outputs(&self, run_id: &str, models: Vec<ModelOutput>) -> StoreResult<()>;
    /// Legacy `runs/log-model`: appends the model's JSON to the run's
    /// `mlflow.log-model.history` tag.
    async fn record_logged_model(&self, run_id: &str, model_json: String) -> StoreResult<()>;
    /// A page of `runs/search`, handed to `sink` a few hundred runs at a time (a page may
    /// hold 50,000); returns the next page's token.
    async fn stream_search_runs(
        &self,
        query: SearchRuns,
        sink: ChunkSink<Run>,
    ) -> StoreResult<Option<String>>;

    async fn create_logged_model(&self, model: CreateLoggedModel) -> StoreResult<LoggedModel>;
    async fn get_logged_model(
        &self,
        model_id: &str,
        allow_deleted: bool,
    ) -> StoreResult<LoggedModel>;
    /// Sets the status (MLflow's stored integer) and returns the model.
    async fn finalize_logged_model(&self, model_id: &str, status: i64) -> StoreResult<LoggedModel>;
    async fn delete_logged_model(&self, model_id: &str) -> StoreResult<()>;
    async fn set_logged_model_tags(
        &self,
        model_id: &str,
        tags: Vec<LoggedModelTag>,
    ) -> StoreResult<()>;
    async fn delete_logged_model_tag(&self, model_id: &str, key: &str) -> StoreResult<()>;
    async fn log_logged_model_params(
        &self,
        model_id: &str,
        params: Vec<LoggedModelParameter>,
    ) -> StoreResult<()>;
    async fn search_logged_models(
        &self,
        query: SearchLoggedModels,
    ) -> StoreResult<Page<LoggedModel>>;

    /// A run's history of one metric, handed to `sink` a chunk at a time in MLflow's order
    /// (timestamp, step, value), so a million points never sit in memory at once. Returns
    /// the next page's token when `max_results` cut the history short.
    async fn stream_metric_history(
        &self,
        query: MetricHistoryQuery,
        sink: ChunkSink<Metric>,
    ) -> StoreResult<Option<String>>;
    /// Full histories of one key for several runs (the UI's bulk route).
    async fn get_metric_history_bulk(
        &self,
        run_ids: &[String],
        metric_key: &str,
        max_results: i64,
    ) -> StoreResult<Vec<RunMetric>>;
    /// Histories sampled to at most `max_results` steps per run, chosen by the database.
    async fn get_metric_history_bulk_interval(
        &self,
        query: BulkIntervalQuery,
    ) -> StoreResult<Vec<RunMetric>>;
}
