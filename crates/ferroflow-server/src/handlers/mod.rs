//! HTTP handlers grouped by MLflow service.

pub mod artifacts;
pub mod logged_models;
pub mod registry;
pub(crate) mod source;
pub mod tracking;
pub mod webhooks;
