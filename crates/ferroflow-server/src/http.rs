//! The HTTP front: accepting connections and keeping hostile ones from holding the server.
//!
//! - At most [`HttpLimits::max_connections`] connections are served at once; past that the
//!   server stops accepting and new connections wait in the kernel's backlog.
//! - A connection that has sent nothing since its last answer (or since it opened) is closed
//!   after [`HttpLimits::keep_alive_timeout`] (uvicorn's `timeout_keep_alive`, 5 s, behind
//!   `mlflow server`).
//! - A request head must be complete within [`HttpLimits::header_read_timeout`] of the moment
//!   the server started waiting for it (slowloris).
//! - Request bodies are guarded in [`guard_request`]: a declared `Content-Length` over the
//!   route's limit is refused with 413 before a byte is read, and a body that stops arriving
//!   for [`HttpLimits::body_read_timeout`] fails the request.
//! - hyper answers an unparseable request head itself (400, 414 URI too long, 431 headers too
//!   large) with an empty body; [`GuardedIo`] gives those answers MLflow's JSON error shape.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use ferroflow_types::{ApiError, ErrorCode};
use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::error::error_response;

/// Connection and request limits (`--max-connections`, `--keep-alive-timeout`,
/// `--header-read-timeout`, `--body-read-timeout`).
#[derive(Debug, Clone)]
pub struct HttpLimits {
    pub max_connections: usize,
    pub keep_alive_timeout: Duration,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 1024,
            keep_alive_timeout: Duration::from_secs(5),
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(60),
        }
    }
}

/// Most bytes of request head (request line and headers) a connection may send; also the
/// most a connection buffers for reading.
const MAX_HEAD_BYTES: usize = 128 * 1024;

/// Serves `app` on `listener` until `shutdown` resolves; connections still open then get
/// up to 30 s to finish their requests.
pub async fn serve_with_limits(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::default());
        let io = hyper_util::rt::TokioIo::new(GuardedIo::new(
            stream,
            limits.keep_alive_timeout,
            activity.clone(),
        ));
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let guard = activity.begin();
                let app = app.clone();
                async move {
                    let resp = tower::ServiceExt::oneshot(app, req).await;
                    resp.map(|r| {
                        r.map(|inner| {
                            Body::new(TrackedBody {
                                inner,
                                _guard: guard,
                            })
                        })
                    })
                }
            });
        let conn = builder.serve_connection(io, service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open 30 s after shutdown began; closing them");
    }
    Ok(())
}

/// What a connection's requests are doing, shared by its [`GuardedIo`] and its service: a
/// connection is idle only when no answer is open and nothing new has arrived since the last
/// one ended (an answer may pause for long between writes: a slow database page, an object
/// store that stalls).
#[derive(Default)]
pub struct Activity {
    /// Answers whose body has not been dropped yet.
    open: AtomicUsize,
    /// Bumped each time an answer's body is dropped.
    finished: AtomicU64,
}

impl Activity {
    fn begin(self: &Arc<Self>) -> AnswerGuard {
        self.open.fetch_add(1, Ordering::SeqCst);
        AnswerGuard(self.clone())
    }
}

/// Held by an answer's body; its drop ends the answer.
struct AnswerGuard(Arc<Activity>);

impl Drop for AnswerGuard {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::SeqCst);
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An answer's body, unchanged, that tells [`Activity`] when it is done with.
struct TrackedBody {
    inner: Body,
    _guard: AnswerGuard,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A TCP stream that closes itself when idle between requests and rewrites hyper's empty
/// automatic error answers into JSON ones (see the module notes).
pub struct GuardedIo<S> {
    inner: S,
    keep_alive: Duration,
    activity: Arc<Activity>,
    /// `activity.finished` when last looked at.
    seen_finished: u64,
    /// When the connection last had something to do (opened, wrote, finished an answer).
    idle_since: Instant,
    /// Bytes arrived since the last answer ended: a request is being read or handled.
    busy: bool,
    /// A write is waiting on the client: the connection is not idle.
    write_blocked: bool,
    sleep: Pin<Box<Sleep>>,
    /// A rewritten answer still to be sent, and how much of it is sent.
    replacement: Option<(Vec<u8>, usize)>,
}

impl<S> GuardedIo<S> {
    pub fn new(inner: S, keep_alive: Duration, activity: Arc<Activity>) -> Self {
        let now = Instant::now();
        GuardedIo {
            inner,
            keep_alive,
            activity,
            seen_finished: 0,
            idle_since: now,
            busy: false,
            write_blocked: false,
            sleep: Box::pin(tokio::time::sleep_until(now + keep_alive)),
            replacement: None,
        }
    }
}

impl<S> GuardedIo<S> {
    /// Waiting for a next request: no answer open, nothing arrived since the last one
    /// ended, no write waiting on the client.
    fn is_idle(&mut self) -> bool {
        let finished = self.activity.finished.load(Ordering::SeqCst);
        let open = self.activity.open.load(Ordering::SeqCst);
        if finished != self.seen_finished {
            self.seen_finished = finished;
            if open == 0 {
                self.busy = false;
                self.idle_since = Instant::now();
            }
        }
        open == 0 && !self.busy && !self.write_blocked
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for GuardedIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.busy = true;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.is_idle() => {
                let deadline = this.idle_since + this.keep_alive;
                if this.sleep.deadline() != deadline {
                    this.sleep.as_mut().reset(deadline);
                }
                match this.sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "idle keep-alive connection closed",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> GuardedIo<S> {
    /// Sends what is left of a rewritten answer.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, sent)) = &mut self.replacement {
            if *sent == bytes.len() {
                self.replacement = None;
                break;
            }
            match Pin::new(&mut self.inner).poll_write(cx, &bytes[*sent..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *sent += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }

    fn wrote(&mut self) {
        self.idle_since = Instant::now();
        self.write_blocked = false;
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for GuardedIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Poll::Ready(Err(e)) = this.poll_replacement(cx) {
            return Poll::Ready(Err(e));
        }
        if this.replacement.is_some() {
            this.write_blocked = true;
            return Poll::Pending;
        }
        if let Some(json) = automatic_error_answer(buf) {
            this.replacement = Some((json, 0));
            let _ = this.poll_replacement(cx);
            this.wrote();
            return Poll::Ready(Ok(buf.len()));
        }
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                this.wrote();
                Poll::Ready(Ok(n))
            }
            Poll::Pending => {
                this.write_blocked = true;
                Poll::Pending
            }
            other => other,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// When `head` is one of hyper's own answers to a request head it could not parse (a 4xx
/// with `content-length: 0`; every answer of Ferroflow's own carries a body), the same answer
/// with MLflow's JSON error body.
fn automatic_error_answer(head: &[u8]) -> Option<Vec<u8>> {
    const PREFIX: &[u8] = b"HTTP/1.1 4";
    if head.len() > 512 || !head.starts_with(PREFIX) || !head.ends_with(b"\r\n\r\n") {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    if !text
        .to_ascii_lowercase()
        .contains("\r\ncontent-length: 0\r\n")
    {
        return None;
    }
    let status: u16 = text.get(9..12)?.parse().ok()?;
    let message = match status {
        400 => "The request could not be parsed as HTTP.",
        414 => "The request URI is too long.",
        431 => "The request headers are too large.",
        _ => return None,
    };
    let reason = StatusCode::from_u16(status)
        .ok()?
        .canonical_reason()
        .unwrap_or("");
    let body = ApiError::new(ErrorCode::BadRequest, message).to_json();
    Some(
        format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

/// Largest request body a route takes: artifact uploads stream to storage and have none.
fn body_limit(method: &Method, path: &str) -> Option<u64> {
    let artifact_upload = method == Method::PUT && path.contains("/mlflow-artifacts/");
    (!artifact_upload).then_some(crate::params::MAX_JSON_BODY as u64)
}

fn json_error(status: StatusCode, code: ErrorCode, message: String) -> Response {
    let mut resp = error_response(&ApiError::new(code, message));
    *resp.status_mut() = status;
    resp
}

/// Request-body rules for every route (see the module notes), and MLflow's JSON shape for
/// the plain-text rejections axum's extractors answer with (a path that is not UTF-8, a body
/// over the limit without a `Content-Length`, ...).
pub async fn guard_request(
    axum::extract::State(limits): axum::extract::State<Arc<HttpLimits>>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let (Some(limit), Some(len)) = (body_limit(req.method(), req.uri().path()), declared) {
        if len > limit {
            return json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::RequestTooLarge,
                format!("The request body of {len} bytes is larger than the {limit} bytes this endpoint accepts."),
            );
        }
    }
    let timeout = limits.body_read_timeout;
    let req = req.map(|body| {
        let frames = body.into_data_stream();
        Body::from_stream(futures::stream::unfold(
            Some(frames),
            move |frames| async move {
                let mut frames = frames?;
                match tokio::time::timeout(timeout, frames.next()).await {
                    Ok(Some(frame)) => Some((frame, Some(frames))),
                    Ok(None) => None,
                    Err(_) => Some((
                        Err(axum::Error::new(format!(
                            "the request body stopped arriving for {} s",
                            timeout.as_secs()
                        ))),
                        None,
                    )),
                }
            },
        ))
    });
    let resp = next.run(req).await;
    plain_text_errors_as_json(resp).await
}

async fn plain_text_errors_as_json(resp: Response) -> Response {
    let status = resp.status();
    let plain = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return resp;
    }
    let body = axum::body::to_bytes(resp.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let message = String::from_utf8_lossy(&body).trim().to_string();
    let code = match status {
        StatusCode::NOT_FOUND => ErrorCode::EndpointNotFound,
        s if s.is_server_error() => ErrorCode::InternalError,
        _ => ErrorCode::BadRequest,
    };
    json_error(status, code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_empty_error_answers_get_json_bodies() {
        let head = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: Tue, 08 Dec 2026 00:00:00 GMT\r\n\r\n";
        let out = automatic_error_answer(head).map(|b| String::from_utf8_lossy(&b).to_string());
        let out = out.unwrap_or_default();
        assert!(out.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{out}");
        assert!(
            out.ends_with(
                r#"{"error_code":"BAD_REQUEST","message":"The request URI is too long."}"#
            ),
            "{out}"
        );
        // Ferroflow's own answers always have a body: left alone.
        assert!(automatic_error_answer(b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 57\r\n\r\n").is_none());
        assert!(automatic_error_answer(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
    }

    #[test]
    fn only_artifact_uploads_are_unbounded() {
        assert_eq!(
            body_limit(&Method::PUT, "/api/2.0/mlflow-artifacts/artifacts/a/b"),
            None
        );
        assert!(body_limit(&Method::POST, "/api/2.0/mlflow/runs/log-batch").is_some());
        assert!(body_limit(&Method::POST, "/api/2.0/mlflow-artifacts/mpu/create/x").is_some());
    }
}
