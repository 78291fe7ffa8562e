//! HTTP handlers grouped by MLflow service.

pub mod tracking;
