//! Tracking entities as MLflow's JSON shows them. Field names follow the protobuf messages
//! (`mlflow/protos/service.proto`); empty fields are left out, as protobuf's JSON printer does.

use serde::{Serialize, Serializer};

fn is_empty<T>(v: &[T]) -> bool {
    v.is_empty()
}

/// Doubles as protobuf's JSON printer writes them: NaN and infinities as strings.
pub fn serialize_double<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_nan() {
        s.serialize_str("NaN")
    } else if v.is_infinite() {
        s.serialize_str(if *v > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        s.serialize_f64(*v)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExperimentTag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Experiment {
    pub experiment_id: String,
    pub name: String,
    pub artifact_location: String,
    pub lifecycle_stage: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<i64>,
    #[serde(skip_serializing_if = "is_empty")]
    pub tags: Vec<ExperimentTag>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunInfo {
    pub run_uuid: String,
    pub run_id: String,
    pub run_name: String,
    pub experiment_id: String,
    pub user_id: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    pub artifact_uri: String,
    pub lifecycle_stage: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Metric {
    pub key: String,
    #[serde(serialize_with = "serialize_double")]
    pub value: f64,
    pub timestamp: i64,
    pub step: i64,
    /// MLflow 3: the dataset a metric was computed on and the logged model it describes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Param {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunTag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct RunData {
    #[serde(skip_serializing_if = "is_empty")]
    pub metrics: Vec<Metric>,
    #[serde(skip_serializing_if = "is_empty")]
    pub params: Vec<Param>,
    #[serde(skip_serializing_if = "is_empty")]
    pub tags: Vec<RunTag>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dataset {
    pub name: String,
    pub digest: String,
    pub source_type: String,
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputTag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetInput {
    #[serde(skip_serializing_if = "is_empty")]
    pub tags: Vec<InputTag>,
    pub dataset: Dataset,
}

/// A logged model a run consumed or produced, with the step it was attached at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInput {
    pub model_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelOutput {
    pub model_id: String,
    pub step: i64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct RunInputs {
    #[serde(skip_serializing_if = "is_empty")]
    pub dataset_inputs: Vec<DatasetInput>,
    #[serde(skip_serializing_if = "is_empty")]
    pub model_inputs: Vec<ModelInput>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct RunOutputs {
    #[serde(skip_serializing_if = "is_empty")]
    pub model_outputs: Vec<ModelOutput>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    pub info: RunInfo,
    pub data: RunData,
    pub inputs: RunInputs,
    pub outputs: RunOutputs,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoggedModelTag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoggedModelParameter {
    pub key: String,
    pub value: String,
}

/// MLflow 3's logged model (`LoggedModelInfo`): a model with its own id, artifacts under
/// `<experiment root>/models/<model_id>/artifacts`, and the run that produced it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoggedModelInfo {
    pub model_id: String,
    pub experiment_id: String,
    pub name: String,
    pub artifact_uri: String,
    pub creation_timestamp_ms: i64,
    pub last_updated_timestamp_ms: i64,
    /// `LOGGED_MODEL_PENDING`, `LOGGED_MODEL_READY`, ...
    pub status: String,
    /// Always present (MLflow's protos are proto2: a set empty string is still sent).
    pub model_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_run_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    #[serde(skip_serializing_if = "is_empty")]
    pub tags: Vec<LoggedModelTag>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct LoggedModelData {
    #[serde(skip_serializing_if = "is_empty")]
    pub params: Vec<LoggedModelParameter>,
    #[serde(skip_serializing_if = "is_empty")]
    pub metrics: Vec<Metric>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoggedModel {
    pub info: LoggedModelInfo,
    pub data: LoggedModelData,
    /// The lifecycle stage is not on the wire; searches and gets use it.
    #[serde(skip)]
    pub lifecycle_stage: String,
}

/// Logged-model statuses: the protobuf enum names, indexed by the integer MLflow stores.
pub const LOGGED_MODEL_STATUSES: [&str; 4] = [
    "LOGGED_MODEL_STATUS_UNSPECIFIED",
    "LOGGED_MODEL_PENDING",
    "LOGGED_MODEL_READY",
    "LOGGED_MODEL_UPLOAD_FAILED",
];

/// The integer MLflow stores for a status given by enum name, short name or number.
pub fn logged_model_status_from_wire(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return (0..4).contains(&n).then_some(n);
    }
    let upper = s.to_ascii_uppercase();
    match upper.as_str() {
        "LOGGED_MODEL_STATUS_UNSPECIFIED" | "UNSPECIFIED" => Some(0),
        "LOGGED_MODEL_PENDING" | "PENDING" => Some(1),
        "LOGGED_MODEL_READY" | "READY" => Some(2),
        "LOGGED_MODEL_UPLOAD_FAILED" | "FAILED" | "UPLOAD_FAILED" => Some(3),
        _ => None,
    }
}

/// Run lifecycle statuses, as stored in `runs.status`.
pub const RUN_STATUSES: [&str; 5] = ["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"];

/// Which runs or experiments a search sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewType {
    ActiveOnly,
    DeletedOnly,
    All,
}

impl ViewType {
    /// Parses the wire form; MLflow also accepts the enum's numbers (1, 2, 3).
    pub fn parse(s: &str) -> Option<ViewType> {
        match s {
            "ACTIVE_ONLY" | "1" => Some(ViewType::ActiveOnly),
            "DELETED_ONLY" | "2" => Some(ViewType::DeletedOnly),
            "ALL" | "3" => Some(ViewType::All),
            _ => None,
        }
    }

    /// The `lifecycle_stage` values this view includes.
    pub fn lifecycle_stages(self) -> &'static [&'static str] {
        match self {
            ViewType::ActiveOnly => &["active"],
            ViewType::DeletedOnly => &["deleted"],
            ViewType::All => &["active", "deleted"],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_metric_serializes_as_string() {
        let m = Metric {
            key: "k".into(),
            value: f64::NAN,
            timestamp: 1,
            step: 0,
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&m).ok().as_deref(),
            Some(r#"{"key":"k","value":"NaN","timestamp":1,"step":0}"#)
        );
    }

    #[test]
    fn experiment_without_tags_omits_the_field() {
        let e = Experiment {
            experiment_id: "0".into(),
            name: "Default".into(),
            artifact_location: "a".into(),
            lifecycle_stage: "active".into(),
            last_update_time: None,
            creation_time: Some(1),
            tags: vec![],
        };
        let json = serde_json::to_string(&e).unwrap_or_default();
        assert!(!json.contains("tags"), "{json}");
        assert!(!json.contains("last_update_time"), "{json}");
    }
}
