//! MLflow's wire vocabulary: the entities the REST API returns, the error-code table with
//! HTTP statuses, and the validation limits. This crate does no I/O; every other Ferroflow
//! crate speaks in these types so the JSON a client sees is defined in exactly one place.

pub mod error;
pub mod limits;
pub mod registry;
pub mod tracking;

pub use error::{ApiError, ErrorCode};
