//! The model-registry half of the storage boundary: registered models, their versions,
//! tags and aliases. Inputs arrive validated (names, stages, sources); backends store.

use async_trait::async_trait;
use ferroflow_types::registry::{ModelVersion, RegisteredModel, RegistryTag};

use crate::{Page, StoreResult};

#[derive(Debug, Clone)]
pub struct CreateModelVersion {
    pub name: String,
    pub source: String,
    /// Where the files are when `source` is an indirection (`models:/<id>` → the model's
    /// artifact location); the download URI.
    pub storage_location: String,
    pub run_id: Option<String>,
    pub run_link: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<RegistryTag>,
}

#[derive(Debug, Clone)]
pub struct SearchRegistry {
    pub filter: Vec<ferroflow_search::Comparison>,
    pub order_by: Vec<ferroflow_search::OrderBy>,
    pub max_results: i64,
    pub offset: i64,
}

#[async_trait]
pub trait RegistryStore: Send + Sync + 'static {
    async fn create_registered_model(
        &self,
        name: &str,
        tags: Vec<RegistryTag>,
        description: Option<String>,
    ) -> StoreResult<RegisteredModel>;
    async fn get_registered_model(&self, name: &str) -> StoreResult<RegisteredModel>;
    /// Renames the model; its versions, tags and aliases follow.
    async fn rename_registered_model(
        &self,
        name: &str,
        new_name: &str,
    ) -> StoreResult<RegisteredModel>;
    async fn update_registered_model(
        &self,
        name: &str,
        description: Option<String>,
    ) -> StoreResult<RegisteredModel>;
    async fn delete_registered_model(&self, name: &str) -> StoreResult<()>;
    async fn search_registered_models(
        &self,
        query: SearchRegistry,
    ) -> StoreResult<Page<RegisteredModel>>;
    async fn set_registered_model_tag(&self, name: &str, tag: RegistryTag) -> StoreResult<()>;
    async fn delete_registered_model_tag(&self, name: &str, key: &str) -> StoreResult<()>;
    /// The newest version in each of `stages` (all stages when empty).
    async fn get_latest_versions(
        &self,
        name: &str,
        stages: Vec<String>,
    ) -> StoreResult<Vec<ModelVersion>>;

    /// Assigns the next version number atomically: concurrent creations never share or skip one.
    async fn create_model_version(&self, version: CreateModelVersion) -> StoreResult<ModelVersion>;
    async fn get_model_version(&self, name: &str, version: i64) -> StoreResult<ModelVersion>;
    async fn update_model_version(
        &self,
        name: &str,
        version: i64,
        description: Option<String>,
    ) -> StoreResult<ModelVersion>;
    /// `archive_existing`: other versions in the target stage move to Archived.
    async fn transition_model_version_stage(
        &self,
        name: &str,
        version: i64,
        stage: &str,
        archive_existing: bool,
    ) -> StoreResult<ModelVersion>;
    /// MLflow's soft delete: the row stays (stage `Deleted_Internal`, details redacted).
    async fn delete_model_version(&self, name: &str, version: i64) -> StoreResult<()>;
    async fn search_model_versions(&self, query: SearchRegistry)
        -> StoreResult<Page<ModelVersion>>;
    async fn set_model_version_tag(
        &self,
        name: &str,
        version: i64,
        tag: RegistryTag,
    ) -> StoreResult<()>;
    async fn delete_model_version_tag(
        &self,
        name: &str,
        version: i64,
        key: &str,
    ) -> StoreResult<()>;

    async fn set_registered_model_alias(
        &self,
        name: &str,
        alias: &str,
        version: i64,
    ) -> StoreResult<()>;
    async fn delete_registered_model_alias(&self, name: &str, alias: &str) -> StoreResult<()>;
    async fn get_model_version_by_alias(
        &self,
        name: &str,
        alias: &str,
    ) -> StoreResult<ModelVersion>;
}
