//! Limits checked before work: body sizes per route, rights before a large body is read.

use axum::body::{Body, Bytes};
use polis_base::{Error, Result};
use polis_domain::{Actor, Id};

/// `POST /sites/within`: a polygon of `polis_domain::polygon::MAX_CORNERS` corners as GeoJSON is
/// well under this.
pub const WITHIN_LIMIT: usize = 1024 * 1024;

/// Who may import into `municipality` (or anywhere, when none is named), checked before the
/// body is read.
pub fn check_import(a: &Actor, municipality: Option<&Id>) -> Result<()> {
    match municipality {
        Some(m) => a.check_write_registry(m),
        None => a.check_may_write_registry(),
    }
}

/// Reads a body of at most `limit` bytes.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| Error::invalid("body", format!("the body is larger than {limit} bytes or was cut off")))
}

/// The subprotocol a live-video WebSocket answers with.
pub const LIVE_PROTOCOL: &str = "polis.live";

/// Live views one user (or one share) may have open at once.
pub const MAX_LIVE_PER_USER: usize = 16;

/// The credentials of a live-video upgrade request.
pub enum LiveCredentials {
    Token(String),
    Share(String),
}

/// The credentials an upgrade request carries: `Authorization: Bearer`, `X-Polis-Share`, or a
/// subprotocol `polis.token.<token>` / `polis.share.<token>` (what a browser can send).
pub fn live_credentials(parts: &axum::http::request::Parts) -> Option<LiveCredentials> {
    if let Some(t) = crate::auth::bearer(parts) {
        return Some(LiveCredentials::Token(t.to_string()));
    }
    let header = |name: &str| parts.headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>();
    if let Some(t) = header("x-polis-share").into_iter().map(str::trim).find(|t| !t.is_empty()) {
        return Some(LiveCredentials::Share(t.to_string()));
    }
    for offered in header("sec-websocket-protocol").iter().flat_map(|v| v.split(',')).map(str::trim) {
        if let Some(t) = offered.strip_prefix("polis.token.").filter(|t| !t.is_empty()) {
            return Some(LiveCredentials::Token(t.to_string()));
        }
        if let Some(t) = offered.strip_prefix("polis.share.").filter(|t| !t.is_empty()) {
            return Some(LiveCredentials::Share(t.to_string()));
        }
    }
    None
}

/// Open live views per user or share.
#[derive(Clone, Default)]
pub struct LiveSlots(std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>);

/// One open live view; gives its slot back when dropped.
pub struct LiveSlot {
    slots: LiveSlots,
    key: String,
}

impl LiveSlots {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, usize>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a slot for `key`, or refuses (429) when it has [`MAX_LIVE_PER_USER`] open.
    pub fn take(&self, key: &str) -> Result<LiveSlot> {
        let mut m = self.lock();
        let n = m.entry(key.to_string()).or_insert(0);
        if *n >= MAX_LIVE_PER_USER {
            return Err(Error::new(
                polis_base::ErrorKind::ResourceExhausted,
                format!("at most {MAX_LIVE_PER_USER} live views at once; close one first"),
            ));
        }
        *n += 1;
        Ok(LiveSlot { slots: self.clone(), key: key.to_string() })
    }
}

impl Drop for LiveSlot {
    fn drop(&mut self) {
        let mut m = self.slots.lock();
        if let Some(n) = m.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.key);
            }
        }
    }
}

/// A `Content-Disposition: attachment` for any file name: control characters dropped, an ASCII
/// `filename` for old clients (other characters as `_`) and the full name as RFC 8187
/// `filename*`. Always a valid header value.
pub fn attachment_disposition(name: &str) -> axum::http::HeaderValue {
    let clean: String = name.chars().filter(|c| !c.is_control()).collect();
    let clean = if clean.trim().is_empty() { "download".to_string() } else { clean };
    let ascii: String = clean
        .chars()
        .map(|c| if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' { c } else { '_' })
        .collect();
    let mut encoded = String::new();
    for b in clean.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    axum::http::HeaderValue::from_str(&format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"))
        .unwrap_or_else(|_| axum::http::HeaderValue::from_static("attachment"))
}

/// A stored content type as a header value, or `application/octet-stream` when it is not one.
pub fn content_type(ct: &str) -> axum::http::HeaderValue {
    axum::http::HeaderValue::from_str(ct)
        .ok()
        .filter(|_| ct.chars().all(|c| c.is_ascii_graphic() || c == ' '))
        .unwrap_or_else(|| axum::http::HeaderValue::from_static("application/octet-stream"))
}

// ---- Middleware ------------------------------------------------------------------------------

use crate::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Headers on every answer (console, share page, API): no framing by other sites, no content
/// sniffing, no referrer (a share page's address must not travel to another site).
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    };
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    // A page's own policy (the console's) gains `frame-ancestors` if it has none.
    let csp = match h.get(header::CONTENT_SECURITY_POLICY).and_then(|v| v.to_str().ok()) {
        Some(p) if p.contains("frame-ancestors") => None,
        Some(p) => HeaderValue::from_str(&format!("{p}; frame-ancestors 'none'")).ok(),
        None => Some(HeaderValue::from_static("frame-ancestors 'none'")),
    };
    if let Some(v) = csp {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

/// Failed share-token uses per client address: after [`FREE_SHARE_FAILURES`] an address waits
/// before its next try, a wait that doubles with each further failure (at most 5 minutes).
#[derive(Clone, Default)]
pub struct ShareThrottle(std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, (u32, Instant)>>>);

/// Share-token failures of one address before waits begin.
pub const FREE_SHARE_FAILURES: u32 = 10;
const SHARE_FIRST_WAIT: Duration = Duration::from_secs(5);
const SHARE_MAX_WAIT: Duration = Duration::from_secs(300);
const SHARE_FORGET: Duration = Duration::from_secs(3600);

impl ShareThrottle {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, (u32, Instant)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Seconds `addr` must still wait, if any.
    fn wait(&self, addr: &str) -> Option<u64> {
        let m = self.lock();
        let &(n, last) = m.get(addr)?;
        let over = n.checked_sub(FREE_SHARE_FAILURES)?;
        let wait = (SHARE_FIRST_WAIT * (1u32 << over.min(16))).min(SHARE_MAX_WAIT);
        let left = wait.checked_sub(last.elapsed())?;
        Some(left.as_secs().max(1))
    }

    fn fail(&self, addr: &str) -> u32 {
        let mut m = self.lock();
        if m.len() > 100_000 {
            m.retain(|_, (_, last)| last.elapsed() < SHARE_FORGET);
        }
        let e = m.entry(addr.to_string()).or_insert((0, Instant::now()));
        if e.1.elapsed() >= SHARE_FORGET {
            e.0 = 0;
        }
        *e = (e.0.saturating_add(1), Instant::now());
        e.0
    }
}

/// Whether a request uses a share token: the share routes (`/share`, `/share/...`; not the
/// administrators' `/shares/...`), or a live view opened with one.
fn uses_share(req: &Request) -> bool {
    let path = req.uri().path();
    path == "/api/v1/share"
        || path.starts_with("/api/v1/share/")
        || req.headers().contains_key(crate::incidents::SHARE_HEADER)
        || req
            .headers()
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| v.contains("polis.share.")))
}

/// Throttles and logs failed share-token uses by client address (the token is never logged).
pub async fn share_throttle(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if !uses_share(&req) {
        return next.run(req).await;
    }
    let addr = crate::client_addr(req.extensions().get::<ConnectInfo<SocketAddr>>());
    let path = req.uri().path().to_string();
    if let Some(wait) = s.share_throttle.wait(&addr) {
        tracing::warn!(client = %addr, path = %path, "share token use throttled");
        let e = Error::new(
            polis_base::ErrorKind::ResourceExhausted,
            format!("too many failed share links; try again in {wait} seconds"),
        );
        let mut r = crate::ApiError(e).into_response();
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let resp = next.run(req).await;
    if matches!(resp.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        let n = s.share_throttle.fail(&addr);
        tracing::warn!(client = %addr, path = %path, failures = n, "share token refused");
    }
    resp
}

/// `/metrics` answers a bearer token: the configured metrics token, or an administrator's
/// session.
pub async fn metrics_auth(s: &AppState, parts: &axum::http::request::Parts) -> Result<()> {
    let token = crate::auth::bearer(parts)
        .ok_or_else(|| Error::unauthenticated("send Authorization: Bearer <metrics token>"))?;
    if let Some(expected) = &s.metrics_token {
        if constant_time_eq(token.as_bytes(), expected.as_bytes()) {
            return Ok(());
        }
    }
    let actor = s.app.authenticate(token).await?;
    actor.check_admin(None).map_err(|_| Error::permission_denied("metrics are for administrators"))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Refuses a query with the NUL character (`%00`) in a parameter, naming it (PostgreSQL cannot
/// store or compare it in text, so both stores refuse it here alike), and a query that gives a
/// parameter twice (`?limit=5&limit=` would otherwise be read as its last value, "no limit").
pub async fn query_guard(req: Request, next: Next) -> Response {
    if let Some(q) = req.uri().query().filter(|q| q.contains("%00")) {
        let name = q
            .split('&')
            .find(|pair| pair.contains("%00"))
            .and_then(|pair| pair.split('=').next())
            .filter(|name| !name.is_empty() && !name.contains('%'))
            .unwrap_or("query");
        let e = Error::invalid(name, "must not contain the NUL character (%00)");
        return crate::ApiError(e).into_response();
    }
    if req.uri().query().is_some() {
        if let Ok(axum::extract::Query(pairs)) = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(req.uri())
        {
            let mut seen = std::collections::HashSet::new();
            if let Some((name, _)) = pairs.iter().find(|(k, _)| !seen.insert(k.as_str())) {
                let e = Error::invalid(name.as_str(), "is given more than once");
                return crate::ApiError(e).into_response();
            }
        }
    }
    next.run(req).await
}

/// A body over its route's limit is refused with the JSON error of every other 4xx
/// ([`crate::error::too_large`]), not axum's plain-text 413.
pub async fn json_too_large(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if resp.status() != StatusCode::PAYLOAD_TOO_LARGE || json {
        return resp;
    }
    crate::error::too_large()
}
