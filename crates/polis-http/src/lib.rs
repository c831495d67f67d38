//! The HTTP face of Polis: JSON under `/api/v1`, GeoJSON for the registry, the OpenAPI
//! document, `/healthz`, Prometheus `/metrics` and the embedded console. This is the only crate
//! that knows the wire format; handlers parse input into domain values, call [`polis_core::App`]
//! and render the result.

mod admin;
mod auth;
mod console;
pub mod doc;
mod error;
mod events;
mod export;
mod extract;
mod guard;
pub mod import;
mod incidents;
mod live;
mod media;
mod metrics;
mod plans;
mod preview;
mod ptz;
pub mod public;
mod routes;
pub mod server;
mod sos;
pub mod warnings;
pub mod wire;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use polis_core::App;
use std::net::SocketAddr;
use std::sync::Arc;

pub use error::{status_of, ApiError};
pub use guard::MAX_LIVE_PER_USER;

/// What the console needs to draw the map.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// An XYZ tile URL template (`https://host/{z}/{x}/{y}.png`); `None` air-gapped.
    pub tile_url: Option<String>,
    pub tile_attribution: Option<String>,
    pub center: (f64, f64),
    pub zoom: u8,
    /// The address agencies and citizens reach this server at (`https://polis.example.bg`),
    /// when it is not the one operators use: share links are built on it.
    pub public_url: Option<String>,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig { tile_url: None, tile_attribution: None, center: (42.619, 25.393), zoom: 14, public_url: None }
    }
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub app: Arc<App>,
    pub console: Arc<ConsoleConfig>,
    metrics: Arc<metrics::Metrics>,
    /// The JSON text of recent live events, shared by their subscribers.
    event_json: events::JsonCache,
    /// Server-added latency of live view: from a frame's arrival to its fragment on a socket.
    live_latency: Arc<metrics::Latency>,
    /// Open live views per user or share (a per-user limit).
    live_slots: guard::LiveSlots,
    /// Failed share-token uses per client address.
    share_throttle: guard::ShareThrottle,
    /// The token `/metrics` answers besides an administrator's session (`None`: only those).
    metrics_token: Option<Arc<String>>,
    /// The citizen portal's render cache and rate limiter.
    portal: Arc<public::Portal>,
    /// The offline basemap, when one is served.
    tiles: Option<Arc<polis_store::MbTiles>>,
}

/// Options of the HTTP application beyond the console's.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// A token for Prometheus scrapes of `/metrics` (`Authorization: Bearer ...`).
    pub metrics_token: Option<String>,
    /// The citizen portal's limits.
    pub portal: public::PortalConfig,
    /// An offline basemap served at `/tiles/{z}/{x}/{y}.png` (the console's tiles then).
    pub tiles: Option<polis_store::MbTiles>,
}

/// The whole HTTP application.
pub fn router(app: Arc<App>, console: ConsoleConfig) -> axum::Router {
    router_with(app, console, HttpOptions::default())
}

/// The whole HTTP application, with options.
pub fn router_with(app: Arc<App>, console: ConsoleConfig, options: HttpOptions) -> axum::Router {
    let state = AppState {
        portal: Arc::new(public::Portal::new(options.portal)),
        app,
        console: Arc::new(console),
        metrics: Arc::new(metrics::Metrics::default()),
        event_json: events::JsonCache::default(),
        live_latency: Arc::default(),
        live_slots: guard::LiveSlots::default(),
        share_throttle: guard::ShareThrottle::default(),
        metrics_token: options.metrics_token.filter(|t| !t.is_empty()).map(Arc::new),
        tiles: options.tiles.map(Arc::new),
    };
    routes::routes()
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::share_throttle))
        .merge(public::routes().layer(axum::middleware::from_fn_with_state(state.clone(), public::limit)))
        .layer(axum::middleware::from_fn(guard::query_guard))
        .layer(axum::middleware::from_fn(guard::json_too_large))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .layer(axum::middleware::from_fn(guard::security_headers))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = std::time::Instant::now();
    let resp = next.run(req).await;
    state.metrics.observe(resp.status().as_u16(), start.elapsed());
    resp
}

/// Serves the router on a bound listener until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    server::serve(listener, router, server::Limits::default(), shutdown).await
}

/// The client address, when the server was started with connect info.
pub(crate) fn client_addr(ci: Option<&ConnectInfo<SocketAddr>>) -> String {
    ci.map(|ConnectInfo(a)| a.ip().to_string()).unwrap_or_else(|| "unknown".into())
}
