//! The MLflow error-code table. One line per code with its HTTP status: handlers never pick
//! a status by hand, they pick a code.

use serde::Serialize;
use std::fmt;

/// MLflow's `ErrorCode` values that Ferroflow can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InvalidParameterValue,
    BadRequest,
    /// A request body past the endpoint's limit: `BAD_REQUEST` with status 413 (MLflow sets
    /// no limit, so it has no code of its own for this).
    RequestTooLarge,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
    NotFound,
    EndpointNotFound,
    PermissionDenied,
    Unauthenticated,
    Aborted,
    ResourceConflict,
    RequestLimitExceeded,
    InternalError,
    InvalidState,
    NotImplemented,
    TemporarilyUnavailable,
    DeadlineExceeded,
}

impl ErrorCode {
    /// The name clients see in `error_code`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidParameterValue => "INVALID_PARAMETER_VALUE",
            ErrorCode::BadRequest | ErrorCode::RequestTooLarge => "BAD_REQUEST",
            ErrorCode::ResourceAlreadyExists => "RESOURCE_ALREADY_EXISTS",
            ErrorCode::ResourceDoesNotExist => "RESOURCE_DOES_NOT_EXIST",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::EndpointNotFound => "ENDPOINT_NOT_FOUND",
            ErrorCode::PermissionDenied => "PERMISSION_DENIED",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Aborted => "ABORTED",
            ErrorCode::ResourceConflict => "RESOURCE_CONFLICT",
            ErrorCode::RequestLimitExceeded => "REQUEST_LIMIT_EXCEEDED",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::InvalidState => "INVALID_STATE",
            ErrorCode::NotImplemented => "NOT_IMPLEMENTED",
            ErrorCode::TemporarilyUnavailable => "TEMPORARILY_UNAVAILABLE",
            ErrorCode::DeadlineExceeded => "DEADLINE_EXCEEDED",
        }
    }

    /// The HTTP status MLflow's server sends with this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidParameterValue
            | ErrorCode::BadRequest
            | ErrorCode::ResourceAlreadyExists => 400,
            ErrorCode::RequestTooLarge => 413,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::PermissionDenied => 403,
            ErrorCode::ResourceDoesNotExist | ErrorCode::NotFound | ErrorCode::EndpointNotFound => {
                404
            }
            ErrorCode::Aborted | ErrorCode::ResourceConflict => 409,
            ErrorCode::RequestLimitExceeded => 429,
            ErrorCode::InternalError | ErrorCode::InvalidState => 500,
            ErrorCode::NotImplemented => 501,
            ErrorCode::TemporarilyUnavailable => 503,
            ErrorCode::DeadlineExceeded => 504,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as the client sees it: `{"error_code": ..., "message": ...}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParameterValue, message)
    }
    pub fn does_not_exist(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ResourceDoesNotExist, message)
    }
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ResourceAlreadyExists, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InternalError, message)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error_code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// The JSON body MLflow clients parse.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&ErrorBody {
            error_code: self.code.as_str(),
            message: &self.message,
        })
        .unwrap_or_else(|_| String::from("{\"error_code\":\"INTERNAL_ERROR\"}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_already_exists_is_400_not_409() {
        assert_eq!(ErrorCode::ResourceAlreadyExists.http_status(), 400);
    }

    #[test]
    fn error_body_has_code_and_message() {
        let e = ApiError::does_not_exist("Run 'x' not found");
        assert_eq!(
            e.to_json(),
            r#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Run 'x' not found"}"#
        );
    }
}
