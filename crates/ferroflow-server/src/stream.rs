//! Answers that grow with the data, written as they are read.
//!
//! The store hands chunks of items to a [`ChunkSink`] on its blocking thread; they cross a
//! small channel to the response body, which turns each chunk into JSON text as the client
//! takes it. Memory is a few chunks whatever the answer's size, and a client that stops
//! reading for [`SEND_TIMEOUT`] ends the read, releasing its database connection.
//!
//! The body is MLflow's JSON: `{"metrics": [...], "next_page_token": "..."}`, with the list
//! left out when empty, as MLflow's protobuf JSON leaves it out.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use ferroflow_store::{ChunkSink, MetricHistoryQuery, SearchRuns, StoreResult, TrackingStore};
use ferroflow_types::tracking::{Metric, Run};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::error::{HandlerError, HandlerResult};

/// How long the store waits for the client to take the next chunk.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Chunks in flight between the database and the client.
const CHANNEL_CHUNKS: usize = 2;

/// A sink feeding `tx` from a blocking thread, giving up on a client that stopped reading.
fn channel_sink<T: Send + 'static>(tx: mpsc::Sender<Vec<T>>) -> ChunkSink<T> {
    let handle = tokio::runtime::Handle::current();
    Box::new(move |chunk| {
        handle.block_on(async {
            matches!(
                tokio::time::timeout(SEND_TIMEOUT, tx.send(chunk)).await,
                Ok(Ok(()))
            )
        })
    })
}

/// `items` as JSON list elements, `prefix` first.
fn encode<T: Serialize>(prefix: &[u8], items: &[T]) -> Bytes {
    let mut out = Vec::with_capacity(prefix.len() + items.len() * 96);
    out.extend_from_slice(prefix);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Serializing plain entities into memory cannot fail.
        let _ = serde_json::to_writer(&mut out, item);
    }
    Bytes::from(out)
}

fn closing(list_open: bool, token: Option<String>) -> Bytes {
    let mut out = String::new();
    if list_open {
        out.push(']');
    }
    if let Some(t) = token {
        out.push_str(if list_open { "," } else { "" });
        out.push_str("\"next_page_token\":");
        out.push_str(&serde_json::Value::String(t).to_string());
    }
    out.push('}');
    Bytes::from(out)
}

/// A list answer `{"<field>": [...], "next_page_token": ...}` written as the store produces
/// it: `produce` gets the sink and resolves to the next page's token.
pub async fn list<T, F, Fut>(field: &'static str, produce: F) -> HandlerResult<Response>
where
    T: Serialize + Send + 'static,
    F: FnOnce(ChunkSink<T>) -> Fut,
    Fut: Future<Output = StoreResult<Option<String>>> + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Vec<T>>(CHANNEL_CHUNKS);
    let mut task = tokio::spawn(produce(channel_sink(tx)));
    // Errors found before the first item (a bad id, the database down) get a proper error
    // answer; later ones can only cut the response short.
    let Some(first) = rx.recv().await else {
        let token = (&mut task).await.map_err(|e| {
            HandlerError::from(ferroflow_types::ApiError::internal(e.to_string()))
        })??;
        let body = match token {
            Some(_) => {
                let mut b = b"{".to_vec();
                b.extend_from_slice(&closing(false, token));
                Bytes::from(b)
            }
            None => Bytes::from_static(b"{}"),
        };
        return Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response());
    };
    struct Stream<T> {
        open: Option<(Vec<T>, &'static str)>,
        rx: mpsc::Receiver<Vec<T>>,
        task: Option<tokio::task::JoinHandle<StoreResult<Option<String>>>>,
    }
    let state = Stream {
        open: Some((first, field)),
        rx,
        task: Some(task),
    };
    let body = futures::stream::unfold(state, move |mut st| async move {
        if let Some((chunk, field)) = st.open.take() {
            return Some((
                Ok(encode(format!("{{\"{field}\":[").as_bytes(), &chunk)),
                st,
            ));
        }
        if let Some(chunk) = st.rx.recv().await {
            return Some((Ok(encode(b",", &chunk)), st));
        }
        let task = st.task.take()?;
        match task.await {
            Ok(Ok(token)) => Some((Ok(closing(true, token)), st)),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, field, "streamed answer cut short");
                Some((Err(std::io::Error::other(e.to_string())), st))
            }
            Err(e) => Some((Err(std::io::Error::other(e.to_string())), st)),
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response())
}

/// `metrics/get-history`, streamed.
pub async fn metric_history(
    store: Arc<dyn TrackingStore>,
    query: MetricHistoryQuery,
) -> HandlerResult<Response> {
    list("metrics", move |sink: ChunkSink<Metric>| async move {
        store.stream_metric_history(query, sink).await
    })
    .await
}

/// `runs/search`, streamed (a page may hold 50,000 runs).
pub async fn search_runs(
    store: Arc<dyn TrackingStore>,
    query: SearchRuns,
) -> HandlerResult<Response> {
    list("runs", move |sink: ChunkSink<Run>| async move {
        store.stream_search_runs(query, sink).await
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_join_into_one_json_document() {
        let m = |step| Metric {
            key: "loss".into(),
            value: 0.5,
            timestamp: 1,
            step,
            ..Default::default()
        };
        let mut doc = encode(b"{\"metrics\":[", &[m(0), m(1)]).to_vec();
        doc.extend_from_slice(&encode(b",", &[m(2)]));
        doc.extend_from_slice(&closing(true, Some("tok".into())));
        let v: serde_json::Value = serde_json::from_slice(&doc).unwrap_or_default();
        assert_eq!(v["metrics"].as_array().map(Vec::len), Some(3));
        assert_eq!(v["metrics"][2]["step"], 2);
        assert_eq!(v["next_page_token"], "tok");
        let mut only_token = b"{".to_vec();
        only_token.extend_from_slice(&closing(false, Some("t".into())));
        assert_eq!(only_token, br#"{"next_page_token":"t"}"#);
    }
}
