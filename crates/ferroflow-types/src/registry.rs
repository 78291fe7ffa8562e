//! Model-registry entities as MLflow's JSON shows them (`model_registry.proto`). MLflow's
//! protos are proto2, so a field that is set is sent even when empty; `None` means unset.

use serde::Serialize;

fn is_empty<T>(v: &[T]) -> bool {
    v.is_empty()
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegistryTag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegisteredModelAlias {
    pub alias: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelVersion {
    pub name: String,
    pub version: String,
    pub creation_timestamp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated_timestamp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_stage: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    #[serde(skip_serializing_if = "is_empty")]
    pub tags: Vec<RegistryTag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_link: Option<String>,
    #[serde(skip_serializing_if = "is_empty")]
    pub aliases: Vec<String>,
    /// Where the files are (`storage_location`); the download URI, not on the wire.
    #[serde(skip)]
    pub storage_location: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegisteredModel {
    pub name: String,
    pub creation_timestamp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated_timestamp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "is_empty")]
    pub latest_versions: Vec<ModelVersion>,
    #[serde(skip_serializing_if = "is_empty")]
    pub tags: Vec<RegistryTag>,
    #[serde(skip_serializing_if = "is_empty")]
    pub aliases: Vec<RegisteredModelAlias>,
}

/// The stages a version moves through, in MLflow's canonical spelling.
pub const STAGE_NONE: &str = "None";
pub const STAGE_STAGING: &str = "Staging";
pub const STAGE_PRODUCTION: &str = "Production";
pub const STAGE_ARCHIVED: &str = "Archived";
/// A deleted version keeps its row (so numbers are never reused) in this stage.
pub const STAGE_DELETED_INTERNAL: &str = "Deleted_Internal";
pub const ALL_STAGES: [&str; 4] = [STAGE_NONE, STAGE_STAGING, STAGE_PRODUCTION, STAGE_ARCHIVED];

/// The canonical stage for a user's spelling (case-insensitive), if it is one.
pub fn canonical_stage(stage: &str) -> Option<&'static str> {
    ALL_STAGES
        .iter()
        .copied()
        .find(|s| s.eq_ignore_ascii_case(stage.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_case_insensitive() {
        assert_eq!(canonical_stage("production"), Some("Production"));
        assert_eq!(canonical_stage("NONE"), Some("None"));
        assert_eq!(canonical_stage("Deleted_Internal"), None);
        assert_eq!(canonical_stage("prod"), None);
    }
}
