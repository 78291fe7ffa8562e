//! Webhooks (MLflow 3): subscriptions to model-registry events, stored in MLflow's
//! `webhooks` and `webhook_events` tables. Requests arrive validated (name, URL, events);
//! secrets arrive already sealed by the server (MLflow keeps them Fernet-encrypted in the
//! `secret` column), so a backend stores and returns them as opaque text.

use async_trait::async_trait;

use crate::{Page, StoreResult};

/// One subscribed event, in MLflow's stored spelling: `entity` like `model_version`,
/// `action` like `created`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WebhookEvent {
    pub entity: String,
    pub action: String,
}

impl WebhookEvent {
    pub fn new(entity: impl Into<String>, action: impl Into<String>) -> Self {
        WebhookEvent {
            entity: entity.into(),
            action: action.into(),
        }
    }
}

/// `ACTIVE` or `DISABLED`, as MLflow stores and sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WebhookStatus {
    #[default]
    Active,
    Disabled,
}

impl WebhookStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookStatus::Active => "ACTIVE",
            WebhookStatus::Disabled => "DISABLED",
        }
    }

    /// The stored text; anything but `DISABLED` counts as active, as a missing value would.
    pub fn from_stored(s: &str) -> Self {
        if s.eq_ignore_ascii_case("DISABLED") {
            WebhookStatus::Disabled
        } else {
            WebhookStatus::Active
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub webhook_id: String,
    pub name: String,
    pub description: Option<String>,
    pub url: String,
    /// Ordered by entity, then action.
    pub events: Vec<WebhookEvent>,
    pub status: WebhookStatus,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    /// The stored (sealed) secret. Never sent to clients; only delivery opens it.
    pub secret: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CreateWebhook {
    pub name: String,
    pub url: String,
    pub events: Vec<WebhookEvent>,
    pub description: Option<String>,
    /// Sealed secret, or None for unsigned deliveries.
    pub secret: Option<String>,
    pub status: WebhookStatus,
}

/// A partial update: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UpdateWebhook {
    pub name: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    /// Replaces the whole subscription list.
    pub events: Option<Vec<WebhookEvent>>,
    /// Sealed secret.
    pub secret: Option<String>,
    pub status: Option<WebhookStatus>,
}

#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    async fn create_webhook(&self, webhook: CreateWebhook) -> StoreResult<Webhook>;
    /// A webhook that is not deleted, or NotFound ("Webhook with ID <id> not found.").
    async fn get_webhook(&self, webhook_id: &str) -> StoreResult<Webhook>;
    /// Webhooks not deleted, newest first; `offset` comes from the page token.
    async fn list_webhooks(&self, max_results: i64, offset: i64) -> StoreResult<Page<Webhook>>;
    async fn update_webhook(&self, webhook_id: &str, update: UpdateWebhook)
        -> StoreResult<Webhook>;
    /// Soft delete (MLflow sets `deleted_timestamp`); the row and its events stay.
    async fn delete_webhook(&self, webhook_id: &str) -> StoreResult<()>;
    /// Every webhook (not deleted, any status) subscribed to `entity`/`action`, newest first.
    async fn list_webhooks_for_event(
        &self,
        entity: &str,
        action: &str,
    ) -> StoreResult<Vec<Webhook>>;
}
