//! Turning every failure into MLflow's error body. Handlers return `Result<_, ApiError>`
//! and use `?`; this module is the one place that decides status codes and logging.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use ferroflow_store::StoreError;
use ferroflow_types::{ApiError, ErrorCode};

/// The error type of every handler.
#[derive(Debug)]
pub struct HandlerError(pub ApiError);

pub type HandlerResult<T> = Result<T, HandlerError>;

impl From<ApiError> for HandlerError {
    fn from(e: ApiError) -> Self {
        HandlerError(e)
    }
}

impl From<StoreError> for HandlerError {
    fn from(e: StoreError) -> Self {
        let code = e.error_code();
        let message = match &e {
            StoreError::NotFound(m)
            | StoreError::AlreadyExists(m)
            | StoreError::InvalidParameter(m)
            | StoreError::BadRequest(m) => m.clone(),
            // Database text stays in the log, never in a client's hands.
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "database unavailable");
                "The database is temporarily unavailable; try again.".to_string()
            }
            StoreError::Backend(detail) => {
                tracing::error!(%detail, "database error");
                "Internal database error; see the server log.".to_string()
            }
        };
        HandlerError(ApiError::new(code, message))
    }
}

impl From<ferroflow_search::SearchError> for HandlerError {
    fn from(e: ferroflow_search::SearchError) -> Self {
        HandlerError(ApiError::invalid_parameter(e.message))
    }
}

pub fn error_response(e: &ApiError) -> Response {
    let status =
        StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        e.to_json(),
    )
        .into_response()
}

impl IntoResponse for HandlerError {
    fn into_response(self) -> Response {
        error_response(&self.0)
    }
}

/// 404 for routes Ferroflow does not serve. MLflow clients fall back from newer to older
/// endpoints when they see this code, so it must be exactly ENDPOINT_NOT_FOUND.
pub fn endpoint_not_found(path: &str, method: &str) -> Response {
    error_response(&ApiError::new(
        ErrorCode::EndpointNotFound,
        format!("No API endpoint found for {method} {path}"),
    ))
}
