//! Serving HTTP with bounds on what a connection may hold: at most `max_connections` at once
//! (more wait in the kernel's backlog, as Prometheus' `--web.max-connections` does), a
//! deadline for a request's headers, and an idle timeout. Without them 1,100 idle and
//! slow-header connections stayed open for minutes, used up the process' file descriptors,
//! and the loop's own scrapes failed with "Too many open files".

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tower::ServiceExt;

use crate::ApiLimits;

/// Serves `router` on `listener` until the task is dropped, within `limits`' connection
/// count, read timeout and idle timeout; over TLS when `tls` is given (the handshake must
/// finish within the read timeout).
pub async fn serve_bounded(
    listener: TcpListener,
    router: Router,
    limits: &ApiLimits,
    tls: Option<crate::TlsConfig>,
) -> std::io::Result<()> {
    let acceptor = tls.map(|t| tokio_rustls::TlsAcceptor::from(t.0));
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (read_timeout, idle_timeout) = (limits.read_timeout, limits.idle_timeout);
    let mut accept_errors = 0u32;
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else { return Ok(()) };
        let (stream, _peer) = match listener.accept().await {
            Ok(accepted) => {
                accept_errors = 0;
                accepted
            }
            Err(e) => {
                // Out of file descriptors (or a connection reset before it was accepted):
                // wait instead of spinning, and say so once in a while.
                if accept_errors.is_multiple_of(100) {
                    tracing::warn!(error = %e, "the API cannot accept a connection");
                }
                accept_errors = accept_errors.wrapping_add(1);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(
            router.clone().map_request(|r: hyper::Request<hyper::body::Incoming>| r.map(axum::body::Body::new)),
        );
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match acceptor {
                None => serve_connection(stream, service, read_timeout, idle_timeout).await,
                Some(acceptor) => match tokio::time::timeout(read_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => serve_connection(tls, service, read_timeout, idle_timeout).await,
                    Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!("TLS handshake not finished within the read timeout"),
                },
            }
        });
    }
}

/// Serves one connection until it ends, closing it once idle for `idle_timeout`.
async fn serve_connection<S, Svc>(stream: S, service: Svc, read_timeout: Duration, idle_timeout: Duration)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    Svc: hyper::service::Service<hyper::Request<hyper::body::Incoming>, Response = axum::response::Response>
        + Send
        + 'static,
    Svc::Future: Send + 'static,
    Svc::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let activity = Activity::new();
    let io = TokioIo::new(Watched { inner: stream, activity: activity.clone() });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(read_timeout).keep_alive(true);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut closing_since: Option<Instant> = None;
    loop {
        let idle_until = activity.last() + idle_timeout;
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "API connection ended with an error");
                }
                return;
            }
            () = tokio::time::sleep_until(idle_until) => {
                if activity.last() + idle_timeout > Instant::now() {
                    continue;
                }
                match closing_since {
                    // A request still being answered finishes first; an idle
                    // keep-alive connection closes at once.
                    None => {
                        conn.as_mut().graceful_shutdown();
                        closing_since = Some(Instant::now());
                        activity.touch();
                    }
                    // Nothing moved for another idle period while closing (a client
                    // that does not read its answer): drop the connection.
                    Some(_) => return,
                }
            }
        }
    }
}

/// When a connection last moved bytes, in milliseconds since it opened.
#[derive(Clone)]
struct Activity {
    opened: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Activity {
    fn new() -> Self {
        Self { opened: Instant::now(), last_ms: Arc::new(AtomicU64::new(0)) }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.opened + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// A stream that records when bytes last went either way.
struct Watched<S> {
    inner: S,
    activity: Activity,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
