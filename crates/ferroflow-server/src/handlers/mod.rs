//! HTTP handlers grouped by MLflow service.

pub mod artifacts;
pub mod logged_models;
pub mod tracking;
