//! Registry-event webhooks, delivered the way MLflow 3's `mlflow/webhooks/delivery.py` does.
//!
//! Handlers call [`WebhookDispatcher::emit`] after a successful registry write; delivery runs
//! in the background (at most `max_workers` at once) and never fails the request.
//!
//! Each delivery is one `POST` of
//! `{"entity": "model_version", "action": "created", "timestamp": "<UTC ISO 8601>", "data": {..}}`
//! (written like Python's `json.dumps`) with the headers
//!
//! - `Content-Type: application/json`
//! - `X-MLflow-Delivery-Id: <uuid4>`
//! - `X-MLflow-Timestamp: <unix seconds>`
//! - `X-MLflow-Signature: v1,<base64(HMAC-SHA256(secret, "<delivery id>.<timestamp>.<body>"))>`
//!   (only when the webhook has a secret).
//!
//! Retries copy urllib3's `Retry(total=3, status_forcelist=[429, 500, 502, 503, 504],
//! backoff_factor=1, backoff_jitter=1, backoff_max=60, respect_retry_after_header=True)`:
//! connection errors and those statuses are retried up to `max_retries` times with the same
//! delivery id, timestamp and body; the wait before retry n (n ≥ 2) is
//! `min(backoff_max, backoff_factor · 2^(n-1) + U(0, backoff_jitter))` and 0 before the
//! first, unless the response carries a positive `Retry-After` (seconds or HTTP date, capped
//! at 6 h); 413 is retried only with a `Retry-After`. After the last try the last response
//! stands. SSRF refusals are never retried. See [`ssrf`] for the target rules.

mod events;
mod fernet;
mod pyjson;
mod ssrf;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use ferroflow_store::webhooks::{Webhook, WebhookStatus, WebhookStore};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::Semaphore;

pub use events::{check_combination, event_json, parse_action, parse_entity};
pub use fernet::Fernet;
pub use ssrf::{is_public_ip, py_repr, validate_url};

pub const SIGNATURE_HEADER: &str = "X-MLflow-Signature";
pub const TIMESTAMP_HEADER: &str = "X-MLflow-Timestamp";
pub const DELIVERY_ID_HEADER: &str = "X-MLflow-Delivery-Id";
pub const SIGNATURE_VERSION: &str = "v1";

/// The most of a receiver's answer the `test` route reads back.
const MAX_RESPONSE_BODY: usize = 1024 * 1024;
/// Redirects followed per try (requests' default).
const MAX_REDIRECTS: usize = 30;

/// Delivery settings. [`WebhookOptions::default`] is MLflow's defaults;
/// [`WebhookOptions::from_env`] reads MLflow's variables.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// `MLFLOW_WEBHOOK_ALLOWED_SCHEMES` (comma-separated; default `https`).
    pub allowed_schemes: Vec<String>,
    /// `MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS`: allow loopback/private/link-local targets
    /// (local development and tests only; default false).
    pub allow_private_ips: bool,
    /// `MLFLOW_WEBHOOK_REQUEST_TIMEOUT`: connect and read timeout of each try (default 30 s).
    pub request_timeout: Duration,
    /// `MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES` (default 3, so at most 4 tries).
    pub max_retries: u32,
    /// `MLFLOW_WEBHOOK_DELIVERY_MAX_WORKERS`: deliveries in flight at once (default 10).
    pub max_workers: usize,
    /// urllib3's `backoff_factor` (1 s).
    pub backoff_factor: Duration,
    /// urllib3's `backoff_jitter` (up to 1 s added).
    pub backoff_jitter: Duration,
    /// urllib3's `backoff_max` (60 s).
    pub backoff_max: Duration,
    /// urllib3's `retry_after_max` (6 h).
    pub retry_after_max: Duration,
    /// `MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY`: the Fernet key secrets are stored under. None
    /// means a random key for this process, as MLflow does (stored secrets then cannot be
    /// read after a restart).
    pub secret_encryption_key: Option<String>,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        WebhookOptions {
            allowed_schemes: vec!["https".to_string()],
            allow_private_ips: false,
            request_timeout: Duration::from_secs(30),
            max_retries: 3,
            max_workers: 10,
            backoff_factor: Duration::from_secs(1),
            backoff_jitter: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            retry_after_max: Duration::from_secs(21_600),
            secret_encryption_key: None,
        }
    }
}

fn env_bool(name: &str) -> Result<Option<bool>, String> {
    match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(v) => match v.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            _ => Err(format!("{name} value must be one of ['true', 'false', '1', '0'] (case-insensitive), but got {v}")),
        },
    }
}

fn env_number<T: std::str::FromStr>(name: &str) -> Result<Option<T>, String> {
    match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("Failed to convert {v:?} for {name}")),
    }
}

impl WebhookOptions {
    /// MLflow's defaults overridden by its `MLFLOW_WEBHOOK_*` environment variables.
    pub fn from_env() -> Result<WebhookOptions, String> {
        let mut o = WebhookOptions::default();
        if let Ok(s) = std::env::var("MLFLOW_WEBHOOK_ALLOWED_SCHEMES") {
            o.allowed_schemes = s.split(',').map(|p| p.trim().to_string()).collect();
        }
        if let Some(b) = env_bool("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS")? {
            o.allow_private_ips = b;
        }
        if let Some(secs) = env_number::<u64>("MLFLOW_WEBHOOK_REQUEST_TIMEOUT")? {
            o.request_timeout = Duration::from_secs(secs);
        }
        if let Some(n) = env_number::<u32>("MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES")? {
            o.max_retries = n;
        }
        if let Some(n) = env_number::<usize>("MLFLOW_WEBHOOK_DELIVERY_MAX_WORKERS")? {
            o.max_workers = n.max(1);
        }
        o.secret_encryption_key = std::env::var("MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY")
            .ok()
            .filter(|k| !k.is_empty());
        if let Some(key) = &o.secret_encryption_key {
            Fernet::from_key(key)
                .map_err(|e| format!("MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY: {e}"))?;
        }
        Ok(o)
    }
}

/// `v1,<base64 HMAC-SHA256>` over `<delivery_id>.<timestamp>.<payload>`, keyed by the
/// secret's UTF-8 bytes (MLflow's `_generate_hmac_signature`).
pub fn sign(secret: &str, delivery_id: &str, timestamp: &str, payload: &str) -> String {
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        // HMAC takes keys of any length; this arm is unreachable in practice.
        Err(_) => return String::new(),
    };
    mac.update(delivery_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(payload.as_bytes());
    let digest = mac.finalize().into_bytes();
    format!(
        "{SIGNATURE_VERSION},{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// What the `test` route reports (MLflow's `WebhookTestResult`).
#[derive(Debug, Clone, PartialEq)]
pub struct TestResult {
    pub success: bool,
    pub response_status: Option<u16>,
    pub response_body: Option<String>,
    pub error_message: Option<String>,
}

impl TestResult {
    pub fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("success".into(), Value::Bool(self.success));
        if let Some(s) = self.response_status {
            m.insert("response_status".into(), Value::from(s));
        }
        if let Some(b) = &self.response_body {
            m.insert("response_body".into(), Value::String(b.clone()));
        }
        if let Some(e) = &self.error_message {
            m.insert("error_message".into(), Value::String(e.clone()));
        }
        Value::Object(m)
    }
}

/// Hands registry events to subscribed webhooks. Cheap to clone.
#[derive(Clone)]
pub struct WebhookDispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    /// None: events are dropped (tests, `disabled()`).
    store: Option<Arc<dyn WebhookStore>>,
    options: WebhookOptions,
    cipher: Option<Fernet>,
    /// Built on the first delivery: loading TLS roots costs milliseconds that start-up
    /// should not pay when no webhook is ever used.
    client: std::sync::OnceLock<Result<reqwest::Client, String>>,
    slots: Arc<Semaphore>,
}

impl Default for WebhookDispatcher {
    fn default() -> Self {
        WebhookDispatcher::disabled()
    }
}

fn build_client(o: &WebhookOptions) -> Result<reqwest::Client, String> {
    let allow = o.allow_private_ips;
    let redirects = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            return attempt.error(format!("Exceeded {MAX_REDIRECTS} redirects."));
        }
        match ssrf::redirect_allowed(attempt.url(), allow) {
            Ok(()) => attempt.follow(),
            Err(e) => attempt.error(ssrf::Blocked(e)),
        }
    });
    reqwest::Client::builder()
        .user_agent(concat!("ferroflow-webhooks/", env!("CARGO_PKG_VERSION")))
        // Content-Type, X-Mlflow-Signature, ... rather than all lower case (HTTP/1.1).
        .http1_title_case_headers()
        .connect_timeout(o.request_timeout)
        .read_timeout(o.request_timeout)
        // A proxy would be the peer the SSRF check sees, not the webhook (MLflow ignores
        // proxy variables for deliveries too).
        .no_proxy()
        .dns_resolver(Arc::new(ssrf::GuardedResolver {
            allow_private_ips: allow,
        }))
        .redirect(redirects)
        .build()
        .map_err(|e| format!("cannot build the webhook HTTP client: {e}"))
}

impl WebhookDispatcher {
    pub fn new(store: Arc<dyn WebhookStore>, options: WebhookOptions) -> Self {
        Self::build(Some(store), options)
    }

    /// A dispatcher that delivers nothing (tests, `--artifacts-only`); the webhook routes
    /// still validate and seal secrets with MLflow's default options.
    pub fn disabled() -> Self {
        Self::build(None, WebhookOptions::default())
    }

    fn build(store: Option<Arc<dyn WebhookStore>>, options: WebhookOptions) -> Self {
        let cipher = match &options.secret_encryption_key {
            Some(key) => Fernet::from_key(key),
            None => {
                if store.is_some() {
                    tracing::warn!(
                        "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY is not set: webhook secrets are encrypted with a key that lasts only until this process exits, as MLflow does"
                    );
                }
                Fernet::generate()
            }
        };
        let cipher = cipher
            .map_err(|e| tracing::error!(error = %e, "webhook secrets cannot be sealed"))
            .ok();
        let client = std::sync::OnceLock::new();
        let slots = Arc::new(Semaphore::new(options.max_workers.max(1)));
        WebhookDispatcher {
            inner: Arc::new(Inner {
                store,
                options,
                cipher,
                client,
                slots,
            }),
        }
    }

    pub fn options(&self) -> &WebhookOptions {
        &self.inner.options
    }

    /// MLflow's URL rules with this dispatcher's options.
    pub async fn validate_url(&self, url: &str) -> Result<(), String> {
        let o = &self.inner.options;
        ssrf::validate_url(url, &o.allowed_schemes, o.allow_private_ips).await
    }

    /// The stored form of a secret (a Fernet token under the configured key).
    pub fn seal_secret(&self, secret: &str) -> Result<String, String> {
        match &self.inner.cipher {
            Some(c) => c.encrypt(secret.as_bytes()),
            None => Err("webhook secrets cannot be stored: no encryption key".to_string()),
        }
    }

    fn open_secret(&self, sealed: &str) -> Result<String, String> {
        let cipher = self
            .inner
            .cipher
            .as_ref()
            .ok_or("no encryption key for webhook secrets")?;
        let bytes = cipher.decrypt(sealed)?;
        String::from_utf8(bytes).map_err(|_| "the webhook secret is not UTF-8".to_string())
    }

    /// Queues `payload` for every active webhook subscribed to `entity`/`action` and returns
    /// at once; failures are logged, never raised.
    pub fn emit(&self, entity: &str, action: &str, payload: Value) {
        if self.inner.store.is_none() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(%entity, %action, "webhook event dropped: no async runtime");
            return;
        };
        let this = self.clone();
        let (entity, action) = (entity.to_string(), action.to_string());
        runtime.spawn(async move { this.dispatch(entity, action, payload).await });
    }

    async fn dispatch(&self, entity: String, action: String, payload: Value) {
        let Some(store) = &self.inner.store else {
            return;
        };
        let webhooks = match store.list_webhooks_for_event(&entity, &action).await {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(%entity, %action, error = %e, "cannot list webhooks for event");
                return;
            }
        };
        let data = pyjson::dumps(&payload);
        for webhook in webhooks
            .into_iter()
            .filter(|w| w.status == WebhookStatus::Active)
        {
            let this = self.clone();
            let (entity, action, data) = (entity.clone(), action.clone(), data.clone());
            tokio::spawn(async move {
                let Ok(_permit) = this.inner.slots.clone().acquire_owned().await else {
                    return;
                };
                match this.deliver(&webhook, &entity, &action, &data).await {
                    Ok(resp) if resp.status < 400 => {
                        tracing::debug!(webhook_id = %webhook.webhook_id, status = resp.status, "webhook delivered")
                    }
                    Ok(resp) => tracing::error!(
                        webhook_id = %webhook.webhook_id, url = %webhook.url, event = %format!("{entity}.{action}"),
                        status = resp.status, "webhook delivery answered with an error status"
                    ),
                    Err(e) => tracing::error!(
                        webhook_id = %webhook.webhook_id, url = %webhook.url, event = %format!("{entity}.{action}"),
                        error = %e, "failed to send webhook"
                    ),
                }
            });
        }
    }

    /// MLflow's `test_webhook`: sends the example payload of `event` (default: the webhook's
    /// first event) now, with retries, and reports the outcome.
    pub async fn test(&self, webhook: &Webhook, event: Option<(String, String)>) -> TestResult {
        let (entity, action) = match event.or_else(|| {
            webhook
                .events
                .first()
                .map(|e| (e.entity.clone(), e.action.clone()))
        }) {
            Some(e) => e,
            None => return failed_test("the webhook has no events".to_string()),
        };
        let Some(example) = events::example_payload(&entity, &action) else {
            return failed_test(format!(
                "ValueError('Unknown event type: {entity}.{action}')"
            ));
        };
        let fields: Vec<(&str, pyjson::Field<'_>)> = example
            .into_iter()
            .map(|(k, v)| (k, pyjson::Field::Value(v)))
            .collect();
        let data = pyjson::ordered_object(&fields);
        match self.deliver(webhook, &entity, &action, &data).await {
            Ok(resp) => TestResult {
                success: resp.status < 400,
                response_status: Some(resp.status),
                response_body: Some(resp.body),
                error_message: None,
            },
            Err(e) => failed_test(e),
        }
    }

    /// One delivery with MLflow's retry policy. `data` is the payload's JSON text.
    async fn deliver(
        &self,
        webhook: &Webhook,
        entity: &str,
        action: &str,
        data: &str,
    ) -> Result<Answer, String> {
        let o = &self.inner.options;
        ssrf::validate_url(&webhook.url, &o.allowed_schemes, o.allow_private_ips).await?;
        let client = self
            .inner
            .client
            .get_or_init(|| {
                let client = build_client(o);
                if let Err(e) = &client {
                    tracing::error!(error = %e, "webhooks cannot be delivered");
                }
                client
            })
            .as_ref()
            .map_err(Clone::clone)?;
        let secret = match webhook.secret.as_deref() {
            Some(sealed) => Some(
                self.open_secret(sealed)
                    .map_err(|e| format!("cannot read the webhook secret: {e}"))?,
            ),
            None => None,
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let body = pyjson::ordered_object(&[
            (
                "entity",
                pyjson::Field::Value(Value::String(entity.to_string())),
            ),
            (
                "action",
                pyjson::Field::Value(Value::String(action.to_string())),
            ),
            (
                "timestamp",
                pyjson::Field::Value(Value::String(pyjson::isoformat_utc(now))),
            ),
            ("data", pyjson::Field::Raw(data)),
        ]);
        let delivery_id = uuid::Uuid::new_v4().to_string();
        let timestamp = now.as_secs().to_string();
        let mut headers = reqwest::header::HeaderMap::new();
        let mut put = |name: &'static str, value: &str| {
            if let Ok(v) = reqwest::header::HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        };
        put("content-type", "application/json");
        put(DELIVERY_ID_HEADER, &delivery_id);
        put(TIMESTAMP_HEADER, &timestamp);
        if let Some(secret) = secret.filter(|s| !s.is_empty()) {
            put(
                SIGNATURE_HEADER,
                &sign(&secret, &delivery_id, &timestamp, &body),
            );
        }
        let mut retries = 0u32;
        loop {
            let sent = client
                .post(&webhook.url)
                .headers(headers.clone())
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    if retries < o.max_retries && retryable_status(status, retry_after.is_some()) {
                        retries += 1;
                        let wait = retry_after
                            .and_then(|h| parse_retry_after(&h, o.retry_after_max))
                            .filter(|d| !d.is_zero())
                            .unwrap_or_else(|| backoff(o, retries));
                        tracing::debug!(url = %webhook.url, status, retry = retries, wait_ms = wait.as_millis() as u64, "retrying webhook");
                        drop(resp);
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    let body = read_capped(resp).await;
                    return Ok(Answer { status, body });
                }
                Err(e) => {
                    let text = error_text(&e);
                    if ssrf::is_blocked(&e) || retries >= o.max_retries {
                        return Err(if retries > 0 {
                            format!("{text} (after {retries} retries)")
                        } else {
                            text
                        });
                    }
                    retries += 1;
                    let wait = backoff(o, retries);
                    tracing::debug!(url = %webhook.url, error = %text, retry = retries, wait_ms = wait.as_millis() as u64, "retrying webhook");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

struct Answer {
    status: u16,
    body: String,
}

fn failed_test(error: String) -> TestResult {
    TestResult {
        success: false,
        response_status: None,
        response_body: None,
        error_message: Some(format!("Failed to test webhook: {error}")),
    }
}

/// urllib3's `is_retry` for MLflow's `status_forcelist`.
fn retryable_status(status: u16, has_retry_after: bool) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504) || (status == 413 && has_retry_after)
}

/// urllib3's `get_backoff_time` after `retries` consecutive failures.
fn backoff(o: &WebhookOptions, retries: u32) -> Duration {
    if retries <= 1 {
        return Duration::ZERO;
    }
    let exp = 2f64.powi(i32::try_from(retries - 1).unwrap_or(i32::MAX).min(62));
    let jitter = o.backoff_jitter.as_secs_f64() * random_unit();
    let secs = (o.backoff_factor.as_secs_f64() * exp + jitter).min(o.backoff_max.as_secs_f64());
    Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(o.backoff_max)
}

/// A number in [0, 1).
fn random_unit() -> f64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// `Retry-After` as seconds or an HTTP date, capped like urllib3's `retry_after_max`.
fn parse_retry_after(value: &str, max: Duration) -> Option<Duration> {
    let v = value.trim();
    let wait = if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX))
    } else {
        let at = httpdate::parse_http_date(v).ok()?;
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    };
    Some(wait.min(max))
}

async fn read_capped(mut resp: reqwest::Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = MAX_RESPONSE_BODY.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_RESPONSE_BODY {
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// The error with its causes, e.g. "error sending request for url (...): client error
/// (Connect): tcp connect error: Connection refused (os error 111)".
fn error_text(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut cur = std::error::Error::source(e);
    while let Some(s) = cur {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cur = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_mlflow() {
        // mlflow.webhooks.delivery._generate_hmac_signature("s3cr3t", "d-1", "1700000000", '{"a": 1}')
        assert_eq!(
            sign("s3cr3t", "d-1", "1700000000", "{\"a\": 1}"),
            "v1,YLiF/mt4EW3rXgrVC0OyPc7r/DFYV2DleqhMPBoUf/k="
        );
    }

    #[test]
    fn backoff_follows_urllib3() {
        let o = WebhookOptions {
            backoff_jitter: Duration::ZERO,
            ..Default::default()
        };
        assert_eq!(backoff(&o, 1), Duration::ZERO);
        assert_eq!(backoff(&o, 2), Duration::from_secs(2));
        assert_eq!(backoff(&o, 3), Duration::from_secs(4));
        assert_eq!(backoff(&o, 10), Duration::from_secs(60));
        let jittered = backoff(&WebhookOptions::default(), 2);
        assert!(
            jittered >= Duration::from_secs(2) && jittered < Duration::from_secs(3),
            "{jittered:?}"
        );
    }

    #[test]
    fn retry_statuses_and_retry_after() {
        for s in [429, 500, 502, 503, 504] {
            assert!(retryable_status(s, false), "{s}");
        }
        for s in [200, 400, 404, 413, 501] {
            assert!(!retryable_status(s, false), "{s}");
        }
        assert!(retryable_status(413, true));
        let max = Duration::from_secs(21_600);
        assert_eq!(parse_retry_after("7", max), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("999999", max), Some(max));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", max),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", max), None);
    }

    #[test]
    fn test_result_json_omits_unset_fields() {
        let r = TestResult {
            success: false,
            response_status: Some(500),
            response_body: Some("x".into()),
            error_message: None,
        };
        assert_eq!(
            r.to_json(),
            serde_json::json!({"success": false, "response_status": 500, "response_body": "x"})
        );
    }

    #[test]
    fn secrets_are_sealed_with_the_configured_key() {
        let key = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
        let d = WebhookDispatcher::build(
            None,
            WebhookOptions {
                secret_encryption_key: Some(key.into()),
                ..Default::default()
            },
        );
        let sealed = d.seal_secret("s3cr3t").expect("seal");
        assert_ne!(sealed, "s3cr3t");
        assert_eq!(
            Fernet::from_key(key)
                .and_then(|f| f.decrypt(&sealed))
                .as_deref(),
            Ok(&b"s3cr3t"[..])
        );
        assert_eq!(d.open_secret(&sealed).as_deref(), Ok("s3cr3t"));
    }
}
