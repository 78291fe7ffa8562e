//! Webhooks in MLflow's tables: `webhooks` (soft-deleted through `deleted_timestamp`,
//! workspace `default`) and `webhook_events` (one row per subscribed entity/action).
//! Secrets are stored as the server hands them over (already sealed).

use std::collections::HashMap;

use crate::args;
use crate::db::{placeholders, Db, DbResult, Row, Value};
use async_trait::async_trait;
use ferroflow_store::webhooks::{
    CreateWebhook, UpdateWebhook, Webhook, WebhookEvent, WebhookStatus, WebhookStore,
};
use ferroflow_store::{Page, StoreError, StoreResult};

use super::{err, paged, SqlStore, Wrapped, IN_CHUNK};
use crate::now_millis;

/// MLflow's default workspace, the only one while workspaces are off.
const WORKSPACE: &str = "default";

const COLUMNS: &str = "w.webhook_id, w.name, w.description, w.url, w.status, w.secret, w.creation_timestamp, w.last_updated_timestamp";

fn not_found(webhook_id: &str) -> StoreError {
    StoreError::NotFound(format!("Webhook with ID {webhook_id} not found."))
}

fn from_row(r: &Row<'_>) -> DbResult<Webhook> {
    let status: Option<String> = r.get(4)?;
    Ok(Webhook {
        webhook_id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        url: r.get(3)?,
        events: Vec::new(),
        status: WebhookStatus::from_stored(status.as_deref().unwrap_or("ACTIVE")),
        secret: r.get(5)?,
        creation_timestamp: r.get::<Option<i64>>(6)?.unwrap_or(0),
        last_updated_timestamp: r.get::<Option<i64>>(7)?.unwrap_or(0),
    })
}

/// Fills in each webhook's events (ordered by entity, action, as MLflow's SQLite reads them
/// through the primary key).
fn attach_events(conn: &mut dyn Db, webhooks: &mut [Webhook]) -> Result<(), Wrapped> {
    let ids: Vec<String> = webhooks.iter().map(|w| w.webhook_id.clone()).collect();
    let mut events: HashMap<String, Vec<WebhookEvent>> = HashMap::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT webhook_id, entity, action FROM webhook_events WHERE webhook_id IN ({}) ORDER BY webhook_id, entity, action",
            placeholders(chunk.len())
        );
        conn.query(
            &sql,
            &chunk.iter().map(Value::from).collect::<Vec<Value>>(),
            &mut |r| {
                let id: String = r.get(0)?;
                events.entry(id).or_default().push(WebhookEvent {
                    entity: r.get(1)?,
                    action: r.get(2)?,
                });
                Ok(())
            },
        )?;
    }
    for w in webhooks.iter_mut() {
        w.events = events.remove(&w.webhook_id).unwrap_or_default();
    }
    Ok(())
}

fn query_webhooks(conn: &mut dyn Db, sql: &str, params: &[Value]) -> Result<Vec<Webhook>, Wrapped> {
    let mut webhooks = conn.query_map(sql, params, from_row)?;
    attach_events(conn, &mut webhooks)?;
    Ok(webhooks)
}

fn get(conn: &mut dyn Db, webhook_id: &str) -> Result<Webhook, Wrapped> {
    let sql = format!(
        "SELECT {COLUMNS} FROM webhooks w WHERE w.webhook_id = ? AND w.deleted_timestamp IS NULL"
    );
    let webhook = conn.query_opt(&sql, &args![webhook_id], from_row)?;
    match webhook {
        Some(mut w) => {
            attach_events(conn, std::slice::from_mut(&mut w))?;
            Ok(w)
        }
        None => err(not_found(webhook_id)),
    }
}

fn insert_events(
    tx: &mut dyn Db,
    webhook_id: &str,
    events: &[WebhookEvent],
) -> Result<(), Wrapped> {
    let mut seen = std::collections::HashSet::new();
    let stmt = "INSERT INTO webhook_events (webhook_id, entity, action) VALUES (?, ?, ?)";
    for e in events {
        // MLflow lets the primary key refuse a repeated event (400 BAD_REQUEST).
        if !seen.insert((e.entity.as_str(), e.action.as_str())) {
            return err(StoreError::BadRequest(format!(
                "Duplicate webhook event: {}.{} is listed more than once.",
                e.entity, e.action
            )));
        }
        tx.execute(stmt, &args![webhook_id, e.entity, e.action])?;
    }
    Ok(())
}

#[async_trait]
impl WebhookStore for SqlStore {
    async fn create_webhook(&self, w: CreateWebhook) -> StoreResult<Webhook> {
        self.write(move |tx| {
            let webhook_id = uuid::Uuid::new_v4().to_string();
            let now = now_millis();
            tx.execute("INSERT INTO webhooks (webhook_id, name, description, url, status, secret, creation_timestamp, last_updated_timestamp, deleted_timestamp, workspace) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)", &args![webhook_id, w.name, w.description, w.url, w.status.as_str(), w.secret, now, now, WORKSPACE])?;
            insert_events(tx, &webhook_id, &w.events)?;
            get(tx, &webhook_id)
        })
        .await
    }

    async fn get_webhook(&self, webhook_id: &str) -> StoreResult<Webhook> {
        let webhook_id = webhook_id.to_string();
        self.read(move |conn| get(conn, &webhook_id)).await
    }

    async fn list_webhooks(&self, max_results: i64, offset: i64) -> StoreResult<Page<Webhook>> {
        self.read(move |conn| {
            let sql = format!(
                "SELECT {COLUMNS} FROM webhooks w WHERE w.deleted_timestamp IS NULL \
                 ORDER BY w.creation_timestamp DESC, w.webhook_id LIMIT ? OFFSET ?"
            );
            let params = [max_results.saturating_add(1).into(), offset.max(0).into()];
            Ok(paged(
                query_webhooks(conn, &sql, &params)?,
                max_results,
                offset,
            ))
        })
        .await
    }

    async fn update_webhook(&self, webhook_id: &str, u: UpdateWebhook) -> StoreResult<Webhook> {
        let webhook_id = webhook_id.to_string();
        self.write(move |tx| {
            get(tx, &webhook_id)?;
            let mut set = vec!["last_updated_timestamp = ?"];
            let mut values: Vec<Value> = vec![Value::Int(now_millis())];
            let mut field = |column: &'static str, value: Option<String>| {
                if let Some(v) = value {
                    set.push(column);
                    values.push(Value::Text(v));
                }
            };
            field("name = ?", u.name.clone());
            field("url = ?", u.url.clone());
            field("description = ?", u.description.clone());
            field("secret = ?", u.secret.clone());
            field("status = ?", u.status.map(|s| s.as_str().to_string()));
            values.push(Value::Text(webhook_id.clone()));
            let sql = format!(
                "UPDATE webhooks SET {} WHERE webhook_id = ?",
                set.join(", ")
            );
            tx.execute(&sql, &values)?;
            if let Some(events) = &u.events {
                tx.execute(
                    "DELETE FROM webhook_events WHERE webhook_id = ?",
                    &args![&webhook_id],
                )?;
                insert_events(tx, &webhook_id, events)?;
            }
            get(tx, &webhook_id)
        })
        .await
    }

    async fn delete_webhook(&self, webhook_id: &str) -> StoreResult<()> {
        let webhook_id = webhook_id.to_string();
        self.write(move |tx| {
            get(tx, &webhook_id)?;
            let now = now_millis();
            tx.execute("UPDATE webhooks SET deleted_timestamp = ?, last_updated_timestamp = ? WHERE webhook_id = ?", &args![now, now, webhook_id])?;
            Ok(())
        })
        .await
    }

    async fn list_webhooks_for_event(
        &self,
        entity: &str,
        action: &str,
    ) -> StoreResult<Vec<Webhook>> {
        let (entity, action) = (entity.to_string(), action.to_string());
        self.read(move |conn| {
            let sql = format!(
                "SELECT {COLUMNS} FROM webhooks w JOIN webhook_events e ON e.webhook_id = w.webhook_id \
                 WHERE w.deleted_timestamp IS NULL AND e.entity = ? AND e.action = ? \
                 ORDER BY w.creation_timestamp DESC, w.webhook_id"
            );
            query_webhooks(conn, &sql, &args![entity, action])
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteOptions;

    fn store() -> (SqlStore, std::path::PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("ff-webhooks-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let s = SqlStore::open(SqliteOptions {
            path: dir.join("mlflow.db"),
            default_artifact_root: dir.join("mlruns").to_string_lossy().to_string(),
            readers: 2,
        })
        .expect("open");
        (s, dir)
    }

    fn create(name: &str, events: &[(&str, &str)]) -> CreateWebhook {
        CreateWebhook {
            name: name.into(),
            url: "https://example.com/hook".into(),
            events: events
                .iter()
                .map(|(e, a)| WebhookEvent::new(*e, *a))
                .collect(),
            description: None,
            secret: Some("sealed".into()),
            status: WebhookStatus::Active,
        }
    }

    #[tokio::test]
    async fn crud_pages_and_event_lookup() {
        let (s, dir) = store();
        let a = s
            .create_webhook(create(
                "a",
                &[("model_version_tag", "set"), ("model_version", "created")],
            ))
            .await
            .expect("a");
        assert_eq!(
            a.events,
            vec![
                WebhookEvent::new("model_version", "created"),
                WebhookEvent::new("model_version_tag", "set")
            ]
        );
        assert_eq!(a.secret.as_deref(), Some("sealed"));
        let b = s
            .create_webhook(create("b", &[("registered_model", "created")]))
            .await
            .expect("b");

        let page = s.list_webhooks(1, 0).await.expect("page 1");
        assert_eq!(page.items.len(), 1);
        assert!(page.next_page_token.is_some());
        let page2 = s.list_webhooks(1, 1).await.expect("page 2");
        assert_eq!(page2.items.len(), 1);
        assert!(page2.next_page_token.is_none());
        let mut both = vec![
            page.items[0].webhook_id.clone(),
            page2.items[0].webhook_id.clone(),
        ];
        both.sort();
        let mut expected = vec![a.webhook_id.clone(), b.webhook_id.clone()];
        expected.sort();
        assert_eq!(both, expected);

        let hits = s
            .list_webhooks_for_event("model_version", "created")
            .await
            .expect("lookup");
        assert_eq!(
            hits.iter()
                .map(|w| w.webhook_id.as_str())
                .collect::<Vec<_>>(),
            vec![a.webhook_id.as_str()]
        );

        let updated = s
            .update_webhook(
                &a.webhook_id,
                UpdateWebhook {
                    events: Some(vec![WebhookEvent::new("registered_model", "created")]),
                    status: Some(WebhookStatus::Disabled),
                    description: Some("d".into()),
                    ..Default::default()
                },
            )
            .await
            .expect("update");
        assert_eq!(updated.status, WebhookStatus::Disabled);
        assert_eq!(updated.description.as_deref(), Some("d"));
        assert_eq!(updated.name, "a");
        assert!(s
            .list_webhooks_for_event("model_version", "created")
            .await
            .expect("lookup")
            .is_empty());
        assert_eq!(
            s.list_webhooks_for_event("registered_model", "created")
                .await
                .expect("lookup")
                .len(),
            2
        );

        let dup = s
            .create_webhook(create(
                "c",
                &[("model_version", "created"), ("model_version", "created")],
            ))
            .await;
        assert!(matches!(dup, Err(StoreError::BadRequest(_))), "{dup:?}");
        assert_eq!(
            s.list_webhooks(100, 0).await.expect("list").items.len(),
            2,
            "a failed create leaves nothing"
        );

        s.delete_webhook(&b.webhook_id).await.expect("delete");
        assert!(
            matches!(s.get_webhook(&b.webhook_id).await, Err(StoreError::NotFound(m)) if m == format!("Webhook with ID {} not found.", b.webhook_id))
        );
        assert!(matches!(
            s.delete_webhook(&b.webhook_id).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            s.update_webhook("nope", UpdateWebhook::default()).await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(
            s.list_webhooks_for_event("registered_model", "created")
                .await
                .expect("lookup")
                .len(),
            1
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
