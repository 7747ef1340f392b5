//! The accept loop: HTTP/1.1 connections, limits, and graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use super::App;

/// The HTTP/1.1 connection settings for `limits`.
///
/// The request head (request line, header lines, the blank line; as sent) is
/// limited exactly by `max_header_size`: hyper answers 431 and closes the
/// connection above it, and above `max_headers` header lines. The read buffer is
/// at least as large, so it never cuts a head short first.
fn connection_builder(limits: &rook_config::Limits) -> http1::Builder {
    let mut builder = http1::Builder::new();
    let max_head = usize::try_from(limits.max_header_bytes).unwrap_or(usize::MAX);
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms))
        .max_header_size(max_head)
        .max_buf_size(max_head.max(8192))
        .max_headers(limits.max_headers as usize)
        .keep_alive(true);
    builder
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains.
///
/// Draining: the listener closes at once (new connections are refused), idle
/// keep-alive connections close, in-flight requests and streams get
/// `shutdown_grace` to finish; streams still running after it end with an explicit
/// SSE error event, and connections left after that are dropped.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut limits = app.limits.load_full();
    let mut builder = connection_builder(&limits);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // EMFILE and friends: back off briefly instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                // A reload changed `[limits]`: connections from now on get the new ones.
                if !Arc::ptr_eq(&limits, &app.limits.load()) {
                    limits = app.limits.load_full();
                    builder = connection_builder(&limits);
                }
                let app = app.clone();
                let svc = service_fn(move |req| {
                    let app = app.clone();
                    async move { Ok::<_, Infallible>(app.handle(req, peer).await) }
                });
                let conn = builder.serve_connection(TokioIo::new(stream), svc);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, peer = %peer, "connection ended with an error");
                    }
                });
            }
        }
    }
    drop(listener);
    let grace = app.shutdown_grace();
    tracing::info!(
        in_flight_connections = graceful.count(),
        grace_seconds = grace.as_secs(),
        "shutting down: draining in-flight requests"
    );
    app.begin_shutdown();
    let drained = tokio::time::timeout(grace, graceful.shutdown()).await;
    if drained.is_err() {
        tracing::warn!("grace period over: ending the remaining streams with an error event");
        app.end_streams();
        // Give the error events a moment to reach the clients.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.finish().await;
    tracing::info!("shutdown complete");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("received Ctrl-C"),
        () = term => tracing::info!("received SIGTERM"),
    }
}

/// Binds the listening socket.
pub(crate) async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
