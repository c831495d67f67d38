//! The HTTP/1 server loop: the router behind a header-read timeout, an idle timeout and a limit
//! on open connections, with a drain on shutdown.
//!
//! At the connection limit the server still accepts: it closes the oldest connection that has
//! no request in progress (one that never finished sending its headers, or an idle keep-alive
//! one), so a flood of half-sent requests cannot keep a monitor's `/healthz` out. Upgraded
//! connections (WebSockets) leave this count when they are handed to their handler; live video
//! has its own per-user limit.

use axum::body::{Body, HttpBody};
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tower::ServiceExt;

/// Limits of the server loop.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections at most (beyond it the oldest one with no request in progress is closed).
    pub max_connections: usize,
    /// A request's headers must arrive within this time of the connection's first byte wait.
    pub header_read_timeout: Duration,
    /// A connection with no request in progress and no byte moved for this long is closed.
    pub idle_timeout: Duration,
    /// On shutdown, requests in progress get this long to finish before the loop returns.
    pub drain: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4_096,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            drain: Duration::from_secs(5),
        }
    }
}

/// What the loop knows of one connection.
struct Conn {
    /// Requests whose response (body included) is not finished.
    in_flight: AtomicUsize,
    /// Milliseconds since the loop started at the last byte read or written.
    last_active_ms: AtomicU64,
    /// Told to close at once.
    kill: Notify,
}

struct Table {
    started: Instant,
    next_id: AtomicU64,
    open: Mutex<BTreeMap<u64, Arc<Conn>>>,
}

impl Table {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Makes room for one more connection: closes the oldest one with no request in progress.
    fn make_room(&self, max: usize) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        while open.len() >= max {
            let victim = open.iter().find(|(_, c)| c.in_flight.load(Ordering::Acquire) == 0).map(|(id, _)| *id);
            let Some(id) = victim else { break };
            if let Some(c) = open.remove(&id) {
                c.kill.notify_one();
            }
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting, lets requests
/// in progress finish for at most `limits.drain` and returns.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_tls(listener, router, limits, None, shutdown).await
}

/// [`serve`] over HTTPS when `tls` is given: each connection's TLS handshake must end within
/// `limits.header_read_timeout`, and every answer carries `Strict-Transport-Security`.
pub async fn serve_tls(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let table = Arc::new(Table { started: Instant::now(), next_id: AtomicU64::new(0), open: Mutex::default() });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or the like: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        while tasks.try_join_next().is_some() {}
        table.make_room(limits.max_connections);
        let id = table.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            in_flight: AtomicUsize::new(0),
            last_active_ms: AtomicU64::new(table.now_ms()),
            kill: Notify::new(),
        });
        table.open.lock().unwrap_or_else(|e| e.into_inner()).insert(id, conn.clone());
        let (router, table, stop) = (router.clone(), table.clone(), stop_rx.clone());
        let _ = stream.set_nodelay(true);
        match tls.clone() {
            None => tasks.spawn(connection(stream, addr, router, limits, table, id, conn, stop, false)),
            Some(acceptor) => tasks.spawn(async move {
                match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(tls_stream)) => {
                        connection(tls_stream, addr, router, limits, table, id, conn, stop, true).await
                    }
                    // A failed or slow handshake: the connection goes, nothing else is told.
                    _ => {
                        table.open.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                    }
                }
            }),
        };
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(limits.drain, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn connection<S>(
    stream: S,
    addr: SocketAddr,
    router: axum::Router,
    limits: Limits,
    table: Arc<Table>,
    id: u64,
    conn: Arc<Conn>,
    mut stop: watch::Receiver<bool>,
    https: bool,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(Tracked { inner: stream, conn: conn.clone(), table: table.clone() });
    let svc_conn = conn.clone();
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(addr));
        let guard = InFlight::new(svc_conn.clone());
        let router = router.clone();
        async move {
            let mut resp = router.oneshot(req.map(Body::new)).await?;
            if https {
                resp.headers_mut().insert(
                    axum::http::header::STRICT_TRANSPORT_SECURITY,
                    axum::http::HeaderValue::from_static("max-age=31536000"),
                );
            }
            Ok::<_, std::convert::Infallible>(resp.map(|b| Body::new(Guarded { inner: b, _guard: guard })))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).keep_alive(true);
    let served = builder.serve_connection(io, service).with_upgrades();
    let mut served = std::pin::pin!(served);
    let tick = (limits.idle_timeout / 4).max(Duration::from_millis(100));
    let mut stopping = *stop.borrow();
    if stopping {
        served.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            _ = served.as_mut() => break,
            _ = conn.kill.notified() => break,
            changed = stop.changed(), if !stopping => {
                if changed.is_err() || *stop.borrow() {
                    stopping = true;
                    served.as_mut().graceful_shutdown();
                }
            }
            _ = tokio::time::sleep(tick) => {
                let idle_ms = table.now_ms().saturating_sub(conn.last_active_ms.load(Ordering::Relaxed));
                if conn.in_flight.load(Ordering::Acquire) == 0 && idle_ms >= limits.idle_timeout.as_millis() as u64 {
                    break;
                }
            }
        }
    }
    table.open.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
}

/// Counts a request as in progress until its response body is done (or dropped).
struct InFlight(Arc<Conn>);

impl InFlight {
    fn new(c: Arc<Conn>) -> InFlight {
        c.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(c)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that holds its request's [`InFlight`] guard.
struct Guarded {
    inner: Body,
    _guard: InFlight,
}

impl HttpBody for Guarded {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// A TCP stream that notes when a byte last moved.
struct Tracked<S> {
    inner: S,
    conn: Arc<Conn>,
    table: Arc<Table>,
}

impl<S> Tracked<S> {
    fn touch(&self) {
        self.conn.last_active_ms.store(self.table.now_ms(), Ordering::Relaxed);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The TLS settings of a server from a PEM certificate chain and its PEM private key; the error
/// says which file is wrong and how.
pub fn tls_config(cert: &std::path::Path, key: &std::path::Path) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("{}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate in it", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("the certificate and the key do not go together: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
