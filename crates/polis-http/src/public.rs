//! The citizen portal under `/public/`, without an account: the page (rendered here, so it
//! reads with JavaScript off), its small data API, the CAP 1.2 messages and their Atom feed.
//!
//! A crowd must not hurt the control room: every answer is rendered once per change of what is
//! public (or every few seconds) and shared (`Portal::cache`), carries an `ETag` and
//! `Cache-Control` (a repeat with `If-None-Match` is a bodiless 304), and each client address
//! is rate-limited (`Limiter`). No cookies are set and nothing is loaded from elsewhere.

use crate::error::{ApiError, ApiResult};
use crate::live::rfc3339;
use crate::warnings::{cap_url, GeometryOut, TextsOut};
use crate::AppState;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use polis_base::{Error, Result};
use polis_core::portal::{MonthStats, PublicNetwork, PublicSensor};
use polis_core::warnings::PublicWarning;
use polis_domain::warning::{CapSeverity, InboundAlert};
use polis_domain::{Camera, Id, LatLon, Sector};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Instant;

/// How the portal protects itself.
#[derive(Debug, Clone, Copy)]
pub struct PortalConfig {
    /// Requests per second each client address may make on average (0: no limit).
    pub rate_per_sec: f64,
    /// How many it may make at once.
    pub burst: f64,
    /// How long answers may be reused (seconds): `Cache-Control: max-age` and the render cache.
    pub max_age_s: u64,
    /// Requests per second the portal answers in all, whoever asks (0: no limit): beyond it,
    /// requests wait their turn (up to [`MAX_PORTAL_WAIT`], then 503), so that a crowd cannot
    /// take the processor from the control room.
    pub total_per_sec: f64,
}

/// The longest a portal request waits for its turn under [`PortalConfig::total_per_sec`].
pub const MAX_PORTAL_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

impl Default for PortalConfig {
    fn default() -> Self {
        PortalConfig { rate_per_sec: 20.0, burst: 100.0, max_age_s: 5, total_per_sec: 6_000.0 }
    }
}

/// When a portal request may be answered under the total rate.
enum Turn {
    Now,
    At(Instant),
    Busy,
}

/// The portal's shared state.
pub struct Portal {
    config: PortalConfig,
    limiter: Mutex<HashMap<IpAddr, (f64, Instant)>>,
    cache: Mutex<HashMap<String, Cached>>,
    /// The next free turn under the portal's total rate.
    next_turn: Mutex<Instant>,
}

#[derive(Clone)]
struct Cached {
    version: u64,
    tick: i64,
    etag: HeaderValue,
    content_type: &'static str,
    body: Bytes,
}

impl Portal {
    pub fn new(config: PortalConfig) -> Portal {
        Portal {
            config,
            limiter: Mutex::new(HashMap::new()),
            cache: Mutex::new(HashMap::new()),
            next_turn: Mutex::new(Instant::now()),
        }
    }

    /// This request's turn under the total rate. Turns not used in the last 100 ms are not
    /// saved up, so a burst stays small; a turn further away than [`MAX_PORTAL_WAIT`] is not
    /// taken.
    fn turn(&self) -> Turn {
        if self.config.total_per_sec <= 0.0 {
            return Turn::Now;
        }
        let step = std::time::Duration::from_secs_f64(1.0 / self.config.total_per_sec);
        let now = Instant::now();
        let mut next = self.next_turn.lock().unwrap_or_else(|p| p.into_inner());
        let slot = (*next).max(now.checked_sub(std::time::Duration::from_millis(100)).unwrap_or(now));
        if slot > now + MAX_PORTAL_WAIT {
            return Turn::Busy;
        }
        *next = slot + step;
        if slot > now {
            Turn::At(slot)
        } else {
            Turn::Now
        }
    }

    /// Takes a token from the address's bucket; `false` when it is empty.
    fn allow(&self, ip: IpAddr) -> bool {
        if self.config.rate_per_sec <= 0.0 {
            return true;
        }
        let mut map = self.limiter.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if map.len() > 100_000 {
            // Forget idle addresses rather than grow without bound.
            let burst = self.config.burst;
            let rate = self.config.rate_per_sec;
            map.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * rate < burst);
        }
        let (tokens, at) = map.entry(ip).or_insert((self.config.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.config.rate_per_sec).min(self.config.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Rate limit per client address for everything under `/public`.
pub(crate) async fn limit(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let ip = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| a.ip());
    if let Some(ip) = ip {
        if !s.portal.allow(ip) {
            return ApiError(Error::new(polis_base::ErrorKind::ResourceExhausted, "too many requests: retry in 1 s"))
                .into_response();
        }
    }
    // Everyone's requests together: wait for a turn, or hear that the portal is busy.
    match s.portal.turn() {
        Turn::Now => {}
        Turn::At(when) => tokio::time::sleep_until(when.into()).await,
        Turn::Busy => {
            return ApiError(Error::new(polis_base::ErrorKind::Unavailable, "the portal is busy: retry in 1 s"))
                .into_response();
        }
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    resp
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/public", get(|| async { Redirect::permanent("/public/") }))
        .route("/public/", get(page))
        .route("/public/index.html", get(page))
        .route("/public/portal.css", get(|| async { asset("text/css; charset=utf-8", PORTAL_CSS) }))
        .route("/public/portal.js", get(|| async { asset("text/javascript; charset=utf-8", PORTAL_JS) }))
        .route("/public/api/v1/warnings", get(warnings_geojson))
        .route("/public/api/v1/external-warnings", get(external_geojson))
        .route("/public/api/v1/sensors", get(sensors))
        .route("/public/api/v1/cameras", get(cameras))
        .route("/public/api/v1/cameras/{id}/snapshot.jpg", get(snapshot))
        .route("/public/api/v1/stats", get(stats))
        .route("/public/cap/feed.atom", get(feed))
        .route("/public/cap/alerts/{file}", get(alert))
        .route("/public/plans/{file}", get(plan_report))
}

const PORTAL_CSS: &str = include_str!("../../../web/public/portal.css");
const PORTAL_JS: &str = include_str!("../../../web/public/portal.js");

fn asset(ct: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, ct), (header::CACHE_CONTROL, "public, max-age=300")], body).into_response()
}

fn etag_of(body: &[u8]) -> HeaderValue {
    // FNV-1a over the body: a change of content is a change of tag.
    let h = body.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3));
    HeaderValue::from_str(&format!("\"{h:016x}-{}\"", body.len())).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// Serves `key` from the render cache (fresh while nothing public changed and within
/// `max_age_s`), rendering it at most once per change; answers 304 to a matching
/// `If-None-Match`.
async fn cached<F>(
    s: &AppState,
    key: String,
    content_type: &'static str,
    headers: &HeaderMap,
    render: F,
) -> ApiResult<Response>
where
    F: std::future::Future<Output = Result<Vec<u8>>>,
{
    let version = s.app.public_version();
    let max_age = s.portal.config.max_age_s.max(1);
    let tick = s.app.clock().now().unix_timestamp() / max_age as i64;
    let hit = {
        let cache = s.portal.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(&key).filter(|c| c.version == version && c.tick == tick).cloned()
    };
    let entry = match hit {
        Some(c) => c,
        None => {
            let body = Bytes::from(render.await?);
            let c = Cached { version, tick, etag: etag_of(&body), content_type, body };
            let mut cache = s.portal.cache.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(key, c.clone());
            c
        }
    };
    let cache_control = HeaderValue::from_str(&format!("public, max-age={max_age}"))
        .unwrap_or(HeaderValue::from_static("public, max-age=5"));
    if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == entry.etag.as_bytes()) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, entry.etag), (header::CACHE_CONTROL, cache_control)])
            .into_response());
    }
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(entry.content_type)),
            (header::ETAG, entry.etag),
            (header::CACHE_CONTROL, cache_control),
        ],
        entry.body,
    )
        .into_response())
}

fn json<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::internal("cannot encode JSON").with_source(e))
}

fn municipality_param(q: &HashMap<String, String>) -> Result<Option<Id>> {
    q.get("municipality").filter(|m| !m.is_empty()).map(|m| Id::parse("municipality", m)).transpose()
}

// ---- Warnings as GeoJSON -----------------------------------------------------------------------

#[derive(Serialize)]
struct FeatureCollection<P: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    features: Vec<Feature<P>>,
}

#[derive(Serialize)]
struct Feature<P: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
    geometry: GeometryOut,
    properties: P,
}

#[derive(Serialize)]
struct WarningProps {
    identifier: String,
    municipality: String,
    msg_type: &'static str,
    status: &'static str,
    event: String,
    category: &'static str,
    urgency: &'static str,
    severity: &'static str,
    certainty: &'static str,
    headline: TextsOut,
    description: TextsOut,
    instruction: TextsOut,
    area_desc: TextsOut,
    /// A circle's radius (the geometry is then its 48-gon).
    radius_m: Option<f64>,
    sent: String,
    onset: Option<String>,
    expires: String,
    cap: String,
}

fn warning_feature(p: &PublicWarning) -> Feature<WarningProps> {
    let w = &p.warning;
    let c = &w.content;
    Feature {
        kind: "Feature",
        id: w.id.to_string(),
        geometry: GeometryOut::polygon(&c.area),
        properties: WarningProps {
            identifier: p.message.identifier.clone(),
            municipality: w.municipality.to_string(),
            msg_type: p.message.msg_type.as_str(),
            status: w.status.as_str(),
            event: c.event.clone(),
            category: c.category.as_str(),
            urgency: c.urgency.as_str(),
            severity: c.severity.as_str(),
            certainty: c.certainty.as_str(),
            headline: (&c.headline).into(),
            description: (&c.description).into(),
            instruction: (&c.instruction).into(),
            area_desc: (&c.area_desc).into(),
            radius_m: match c.area {
                polis_domain::warning::WarningArea::Circle { radius_m, .. } => Some(radius_m),
                _ => None,
            },
            sent: rfc3339(p.message.sent),
            onset: c.onset.map(rfc3339),
            expires: rfc3339(c.expires),
            cap: cap_url(&p.message.identifier),
        },
    }
}

async fn warnings_geojson(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let m = municipality_param(&q)?;
    let key = format!("warnings:{}", m.as_ref().map(|m| m.as_str()).unwrap_or(""));
    let app = s.app.clone();
    cached(&s, key, "application/geo+json", &headers, async move {
        let list = app.public_warnings(m.as_ref());
        json(&FeatureCollection { kind: "FeatureCollection", features: list.iter().map(warning_feature).collect() })
    })
    .await
}

#[derive(Serialize)]
struct ExternalProps {
    sender: String,
    identifier: String,
    event: String,
    severity: String,
    urgency: String,
    certainty: String,
    headline: String,
    description: String,
    language: String,
    sent: String,
    expires: Option<String>,
}

async fn external_geojson(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let app = s.app.clone();
    cached(&s, "external".into(), "application/geo+json", &headers, async move {
        let features = app
            .public_external_warnings()
            .iter()
            .filter_map(|a| {
                let ring = a.areas.first()?;
                Some(Feature {
                    kind: "Feature",
                    id: a.key.clone(),
                    geometry: GeometryOut::Polygon {
                        kind: "Polygon",
                        coordinates: vec![ring.iter().map(|p| [p.lon(), p.lat()]).collect()],
                    },
                    properties: ExternalProps {
                        sender: a.sender.clone(),
                        identifier: a.identifier.clone(),
                        event: a.event.clone(),
                        severity: a.severity.clone(),
                        urgency: a.urgency.clone(),
                        certainty: a.certainty.clone(),
                        headline: a.headline.clone(),
                        description: a.description.clone(),
                        language: a.language.clone(),
                        sent: rfc3339(a.sent),
                        expires: a.expires.map(rfc3339),
                    },
                })
            })
            .collect();
        json(&FeatureCollection { kind: "FeatureCollection", features })
    })
    .await
}

// ---- CAP -----------------------------------------------------------------------------------

async fn feed(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let app = s.app.clone();
    cached(&s, "feed".into(), "application/atom+xml; charset=utf-8", &headers, async move {
        app.public_feed("/public/cap/feed.atom", cap_url).map(String::into_bytes)
    })
    .await
}

async fn alert(State(s): State<AppState>, Path(file): Path<String>, headers: HeaderMap) -> ApiResult<Response> {
    let identifier = file
        .strip_suffix(".xml")
        .filter(|i| !i.is_empty() && i.len() <= 200)
        .ok_or_else(|| Error::not_found("no such CAP message"))?
        .to_string();
    let app = s.app.clone();
    cached(&s, format!("cap:{identifier}"), "application/cap+xml; charset=utf-8", &headers, async move {
        app.public_cap_message(&identifier).await.map(|m| m.xml.into_bytes())
    })
    .await
}

// ---- Sensors, cameras, statistics ------------------------------------------------------------------

#[derive(Serialize)]
struct SensorOut {
    id: String,
    name: String,
    name_en: String,
    kind: &'static str,
    unit: String,
    lat: f64,
    lon: f64,
    latest: Vec<ValueOut>,
    last_24h: Vec<HourOut>,
}

#[derive(Serialize)]
struct ValueOut {
    quantity: Option<String>,
    value: f64,
    time: String,
}

#[derive(Serialize)]
struct HourOut {
    start: String,
    min: f64,
    max: f64,
    avg: f64,
}

fn sensor_out(p: &PublicSensor) -> SensorOut {
    SensorOut {
        id: p.sensor.id.to_string(),
        name: p.sensor.name.clone(),
        name_en: p.sensor.name_en.clone(),
        kind: p.sensor.kind.as_str(),
        unit: p.sensor.unit.clone(),
        lat: p.sensor.position.lat(),
        lon: p.sensor.position.lon(),
        latest: p
            .latest
            .iter()
            .map(|o| ValueOut { quantity: o.quantity().map(String::from), value: o.value(), time: rfc3339(o.time()) })
            .collect(),
        last_24h: p
            .hours
            .iter()
            .map(|b| HourOut { start: rfc3339(b.start), min: b.min, max: b.max, avg: b.avg })
            .collect(),
    }
}

#[derive(Serialize)]
struct Items<T> {
    items: Vec<T>,
}

async fn sensors(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let app = s.app.clone();
    cached(&s, "sensors".into(), "application/json", &headers, async move {
        let list = app.public_sensors().await?;
        json(&Items { items: list.iter().map(sensor_out).collect::<Vec<_>>() })
    })
    .await
}

#[derive(Serialize)]
struct CameraOut {
    id: String,
    name: String,
    name_en: String,
    lat: f64,
    lon: f64,
    snapshot: String,
}

fn camera_out(c: &Camera) -> CameraOut {
    CameraOut {
        id: c.id.to_string(),
        name: c.name.clone(),
        name_en: c.name_en.clone(),
        lat: c.position.lat(),
        lon: c.position.lon(),
        snapshot: format!("/public/api/v1/cameras/{}/snapshot.jpg", c.id),
    }
}

async fn cameras(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let app = s.app.clone();
    cached(&s, "cameras".into(), "application/json", &headers, async move {
        let list = app.public_cameras().await;
        json(&Items { items: list.iter().map(camera_out).collect::<Vec<_>>() })
    })
    .await
}

async fn snapshot(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let id = Id::parse("id", &id).map_err(|_| Error::not_found("no such public camera"))?;
    let jpeg = s.app.public_snapshot(&id).await?;
    Ok((
        [(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "public, max-age=5")],
        Bytes::from((*jpeg).clone()),
    )
        .into_response())
}

#[derive(Serialize)]
struct MonthOut {
    month: String,
    /// `null` when fewer than 5 (suppressed).
    total: Option<usize>,
    by_type: HashMap<String, Option<usize>>,
    median_response_min: Option<f64>,
}

fn month_out(m: &MonthStats) -> MonthOut {
    MonthOut {
        month: m.month.clone(),
        total: m.total,
        by_type: m.by_type.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        median_response_min: m.median_response_min,
    }
}

#[derive(Serialize)]
struct StatsOut {
    suppressed_below: usize,
    months: Vec<MonthOut>,
}

async fn stats(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let m = municipality_param(&q)?;
    let key = format!("stats:{}", m.as_ref().map(|m| m.as_str()).unwrap_or(""));
    let app = s.app.clone();
    cached(&s, key, "application/json", &headers, async move {
        let months = app.public_stats(m.as_ref(), 12).await?;
        json(&StatsOut {
            suppressed_below: polis_core::portal::MIN_COUNT,
            months: months.iter().map(month_out).collect(),
        })
    })
    .await
}

// ---- The page --------------------------------------------------------------------------------

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Lang {
    Bg,
    En,
}

impl Lang {
    fn t(self, bg: &'static str, en: &'static str) -> &'static str {
        if self == Lang::Bg {
            bg
        } else {
            en
        }
    }
    /// A registry name in this language: `name` is in Bulgarian, `name_en` (may be empty) in English.
    fn name<'a>(self, name: &'a str, name_en: &'a str) -> &'a str {
        if self == Lang::En && !name_en.is_empty() {
            name_en
        } else {
            name
        }
    }
    fn pick(self, t: &polis_domain::warning::Texts) -> &str {
        let (first, other) = if self == Lang::Bg { (&t.bg, &t.en) } else { (&t.en, &t.bg) };
        if first.is_empty() {
            other
        } else {
            first
        }
    }
}

fn severity_label(l: Lang, s: CapSeverity) -> &'static str {
    match s {
        CapSeverity::Extreme => l.t("извънредна опасност", "extreme"),
        CapSeverity::Severe => l.t("висока опасност", "severe"),
        CapSeverity::Moderate => l.t("умерена опасност", "moderate"),
        CapSeverity::Minor => l.t("ниска опасност", "minor"),
        CapSeverity::Unknown => l.t("неизвестна", "unknown"),
    }
}

fn local_time(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
}

/// A small map: the warnings' areas, public sensors and cameras, projected into a box.
fn map_svg(
    l: Lang,
    warnings: &[PublicWarning],
    externals: &[InboundAlert],
    sensors: &[PublicSensor],
    cams: &[Camera],
) -> String {
    let mut pts: Vec<LatLon> = warnings.iter().flat_map(|w| w.warning.content.area.ring()).collect();
    pts.extend(externals.iter().flat_map(|a| a.areas.iter().flatten().copied()));
    pts.extend(sensors.iter().map(|s| s.sensor.position));
    pts.extend(cams.iter().map(|c| c.position));
    if pts.is_empty() {
        return String::new();
    }
    let (mut s, mut w, mut n, mut e) = (90.0f64, 180.0f64, -90.0f64, -180.0f64);
    for p in &pts {
        s = s.min(p.lat());
        n = n.max(p.lat());
        w = w.min(p.lon());
        e = e.max(p.lon());
    }
    let pad_lat = ((n - s) * 0.1).max(0.005);
    let pad_lon = ((e - w) * 0.1).max(0.005);
    let (s, n, w, e) = (s - pad_lat, n + pad_lat, w - pad_lon, e + pad_lon);
    let k = (s.to_radians() / 2.0 + n.to_radians() / 2.0).cos();
    let (width, height) = (600.0, (600.0 * (n - s) / ((e - w) * k)).clamp(200.0, 600.0));
    let x = |p: &LatLon| (p.lon() - w) / (e - w) * width;
    let y = |p: &LatLon| (n - p.lat()) / (n - s) * height;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"map\" viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\" aria-labelledby=\"map-title\"><title id=\"map-title\">{}</title><rect width=\"100%\" height=\"100%\" class=\"land\"/>",
        esc(l.t("Карта на предупрежденията в сила, публичните сензори и камери", "Map of the warnings in force, public sensors and cameras"))
    );
    let ring = |r: &[LatLon]| r.iter().map(|p| format!("{:.1},{:.1}", x(p), y(p))).collect::<Vec<_>>().join(" ");
    for ext in externals {
        for r in &ext.areas {
            let _ = write!(svg, "<polygon class=\"area external\" points=\"{}\"/>", ring(r));
        }
    }
    for pw in warnings {
        let _ = write!(
            svg,
            "<polygon class=\"area sev-{}\" points=\"{}\"><title>{}</title></polygon>",
            pw.warning.content.severity.as_str(),
            ring(&pw.warning.content.area.ring()),
            esc(l.pick(&pw.warning.content.headline))
        );
    }
    for ps in sensors {
        let p = ps.sensor.position;
        let _ = write!(
            svg,
            "<circle class=\"sensor\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"6\"><title>{}</title></circle>",
            x(&p),
            y(&p),
            esc(l.name(&ps.sensor.name, &ps.sensor.name_en))
        );
    }
    for c in cams {
        let _ = write!(
            svg,
            "<rect class=\"camera\" x=\"{:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\"><title>{}</title></rect>",
            x(&c.position) - 5.0,
            y(&c.position) - 5.0,
            esc(l.name(&c.name, &c.name_en))
        );
    }
    svg.push_str("</svg>");
    svg
}

fn sparkline(l: Lang, p: &PublicSensor) -> String {
    if p.hours.len() < 2 {
        return format!(
            "<p class=\"muted\">{}</p>",
            l.t("Няма данни за последните 24 часа.", "No data for the last 24 hours.")
        );
    }
    let lo = p.hours.iter().map(|b| b.min).fold(f64::INFINITY, f64::min);
    let hi = p.hours.iter().map(|b| b.max).fold(f64::NEG_INFINITY, f64::max);
    let span = (hi - lo).max(1e-9);
    let n = p.hours.len() as f64 - 1.0;
    let pts: Vec<String> = p
        .hours
        .iter()
        .enumerate()
        .map(|(i, b)| format!("{:.1},{:.1}", i as f64 / n * 200.0, 40.0 - (b.avg - lo) / span * 36.0 - 2.0))
        .collect();
    format!(
        "<svg class=\"spark\" viewBox=\"0 0 200 40\" role=\"img\" aria-label=\"{}\"><polyline points=\"{}\"/></svg>",
        esc(&format!(
            "{} {}: {} {lo:.1} – {hi:.1} {}",
            l.t("Последни 24 часа", "Last 24 hours"),
            l.name(&p.sensor.name, &p.sensor.name_en),
            l.t("от", "from"),
            p.sensor.unit
        )),
        pts.join(" ")
    )
}

/// `GET /public/plans/{id}.html`: a plan's report as the municipality published it.
async fn plan_report(State(s): State<AppState>, Path(file): Path<String>, headers: HeaderMap) -> ApiResult<Response> {
    let not_found = || Error::not_found(format!("no published plan report {file:?}"));
    let id = file.strip_suffix(".html").and_then(|id| Id::parse("id", id).ok()).ok_or_else(not_found)?;
    let html = s.app.public_report(&id).ok_or_else(not_found)?;
    let mut resp =
        cached(&s, format!("plan:{id}"), "text/html; charset=utf-8", &headers, async move { Ok(html.into_bytes()) })
            .await?;
    // The report is a document: its own styles and pictures, nothing else.
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; img-src data:"),
    );
    Ok(resp)
}

fn sector_name(l: Lang, s: Sector) -> &'static str {
    match s {
        Sector::Safety => l.t("Обществена безопасност", "Public safety"),
        Sector::Transport => l.t("Транспорт", "Transport"),
        Sector::Disaster => l.t("Бедствия и аварии", "Disasters and accidents"),
        Sector::Tourism => l.t("Туризъм", "Tourism"),
    }
}

/// A table's caption and column heads (texts the portal wrote itself; no escaping needed).
fn table_head(h: &mut String, caption: &str, cols: [&str; 3]) {
    let _ = write!(h, "<table><caption>{caption}</caption><thead><tr>");
    for c in cols {
        let _ = write!(h, "<th scope=\"col\">{c}</th>");
    }
    h.push_str("</tr></thead><tbody>");
}

/// The camera network: how many cameras serve, how much of each sector's and each key site's
/// area they see, and the expansion plans the municipality published.
fn network_section(h: &mut String, l: Lang, n: &PublicNetwork) {
    let pct = |x: f64| format!("{:.0}%", (x * 100.0).clamp(0.0, 100.0));
    let _ = write!(
        h,
        "<section aria-labelledby=\"network-h\"><h2 id=\"network-h\">{}</h2><p>{}</p>",
        l.t("Камерна мрежа", "The camera network"),
        esc(&if l == Lang::Bg {
            format!("{} камери в експлоатация от {} регистрирани.", n.active, n.total)
        } else {
            format!("{} cameras in service of {} registered.", n.active, n.total)
        })
    );
    if !n.sectors.is_empty() {
        table_head(
            h,
            l.t("Покритие на ключовите обекти по сектори", "Coverage of the key sites by sector"),
            [l.t("Сектор", "Sector"), l.t("Ключови обекти", "Key sites"), l.t("Покритие", "Covered")],
        );
        for (sector, sites, seen) in &n.sectors {
            let _ = write!(
                h,
                "<tr><th scope=\"row\">{}</th><td>{sites}</td><td>{}</td></tr>",
                sector_name(l, *sector),
                pct(*seen)
            );
        }
        h.push_str("</tbody></table>");
    }
    if !n.sites.is_empty() {
        let _ = write!(
            h,
            "<details><summary>{}</summary>",
            l.t("Покритие на всеки ключов обект", "Coverage of each key site")
        );
        table_head(
            h,
            l.t(
                "Каква част от всеки ключов обект виждат работещите камери",
                "How much of each key site the cameras in service see",
            ),
            [l.t("Обект", "Key site"), l.t("Сектори", "Sectors"), l.t("Покритие", "Covered")],
        );
        for site in &n.sites {
            let name = if l == Lang::Bg { &site.name_bg } else { &site.name_en };
            let sectors: Vec<&str> = site.sectors.iter().map(|s| sector_name(l, *s)).collect();
            let _ = write!(
                h,
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td></tr>",
                esc(name),
                esc(&sectors.join(", ")),
                pct(site.seen)
            );
        }
        h.push_str("</tbody></table></details>");
    }
    let _ = write!(h, "<h3>{}</h3>", l.t("План за разширение", "Expansion plan"));
    if n.reports.is_empty() {
        let _ = write!(h, "<p class=\"none\">{}</p>", l.t("Няма публикуван план.", "No plan is published."));
    } else {
        h.push_str("<ul class=\"reports\">");
        for (id, at) in &n.reports {
            let _ = write!(
                h,
                "<li><a href=\"/public/plans/{}.html\">{} {}</a></li>",
                esc(id.as_str()),
                l.t("План, публикуван на", "Plan published on"),
                esc(&local_time(*at))
            );
        }
        h.push_str("</ul>");
    }
    h.push_str("</section>");
}

async fn page(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let lang = if q.get("lang").map(String::as_str) == Some("en") { Lang::En } else { Lang::Bg };
    let m = municipality_param(&q)?;
    let key =
        format!("page:{}:{}", if lang == Lang::En { "en" } else { "bg" }, m.as_ref().map(|m| m.as_str()).unwrap_or(""));
    let app = s.app.clone();
    cached(&s, key, "text/html; charset=utf-8", &headers, async move {
        let warnings = app.public_warnings(m.as_ref());
        let externals = app.public_external_warnings();
        let sensors = app.public_sensors().await?;
        let cams = app.public_cameras().await;
        let stats = app.public_stats(m.as_ref(), 12).await?;
        let network = app.public_network(m.as_ref()).await;
        Ok(render_page(lang, &warnings, &externals, &sensors, &cams, &stats, &network).into_bytes())
    })
    .await
}

fn render_page(
    l: Lang,
    warnings: &[PublicWarning],
    externals: &[InboundAlert],
    sensors: &[PublicSensor],
    cams: &[Camera],
    stats: &[MonthStats],
    network: &PublicNetwork,
) -> String {
    let mut h = String::with_capacity(16 * 1024);
    let (code, other, other_href, other_name) = if l == Lang::Bg {
        ("bg", "en", "/public/?lang=en", "English")
    } else {
        ("en", "bg", "/public/", "Български")
    };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"{code}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title}</title><link rel=\"stylesheet\" href=\"/public/portal.css\">\
<link rel=\"alternate\" type=\"application/atom+xml\" href=\"/public/cap/feed.atom\" title=\"CAP 1.2\"></head><body>\
<a class=\"skip\" href=\"#main\">{skip}</a><header><h1>{title}</h1>\
<nav aria-label=\"{langlabel}\"><a href=\"{other_href}\" lang=\"{other}\" hreflang=\"{other}\">{other_name}</a></nav></header><main id=\"main\">",
        title = esc(l.t("Община — публична информация", "Municipality — public information")),
        skip = l.t("Към съдържанието", "Skip to content"),
        langlabel = l.t("Език", "Language"),
    );
    // Warnings.
    let _ = write!(
        h,
        "<section aria-labelledby=\"warnings-h\"><h2 id=\"warnings-h\">{}</h2>",
        l.t("Предупреждения в сила", "Warnings in force")
    );
    let map = map_svg(l, warnings, externals, sensors, cams);
    if !map.is_empty() {
        let _ = write!(h, "<figure class=\"mapbox\">{map}</figure>");
    }
    if warnings.is_empty() {
        let _ = write!(
            h,
            "<p class=\"none\">{}</p>",
            l.t("Няма предупреждения в сила.", "There are no warnings in force.")
        );
    } else {
        h.push_str("<ul class=\"warnings\">");
        for pw in warnings {
            let c = &pw.warning.content;
            let _ = write!(
                h,
                "<li class=\"warning sev-{sev}\"><article><h3>{head}</h3><p class=\"meta\"><strong>{sevl}</strong> · {event} · {until} {exp}</p>\
<p>{desc}</p>",
                sev = c.severity.as_str(),
                head = esc(l.pick(&c.headline)),
                sevl = esc(severity_label(l, c.severity)),
                event = esc(&c.event),
                until = l.t("до", "until"),
                exp = esc(&local_time(c.expires)),
                desc = esc(l.pick(&c.description)),
            );
            let instr = l.pick(&c.instruction);
            if !instr.is_empty() {
                let _ = write!(
                    h,
                    "<p class=\"instruction\"><strong>{}:</strong> {}</p>",
                    l.t("Какво да направите", "What to do"),
                    esc(instr)
                );
            }
            let area = l.pick(&c.area_desc);
            if !area.is_empty() {
                let _ = write!(h, "<p>{}: {}</p>", l.t("Район", "Area"), esc(area));
            }
            let _ = write!(
                h,
                "<p><a href=\"{}\">{} (CAP 1.2)</a></p></article></li>",
                esc(&cap_url(&pw.message.identifier)),
                l.t("Съобщение в стандартен формат", "Message in the standard format")
            );
        }
        h.push_str("</ul>");
    }
    if !externals.is_empty() {
        let _ = write!(
            h,
            "<h3>{}</h3><ul class=\"external\">",
            l.t("Предупреждения от други институции", "Warnings from other authorities")
        );
        for a in externals {
            let _ = write!(
                h,
                "<li><strong>{}</strong> ({}, {}): {}</li>",
                esc(&a.event),
                esc(&a.sender),
                esc(&a.severity),
                esc(&a.headline)
            );
        }
        h.push_str("</ul>");
    }
    let _ = write!(
        h,
        "<p><a href=\"/public/cap/feed.atom\">{}</a></p></section>",
        l.t("Абонамент (Atom, CAP 1.2)", "Subscribe (Atom feed, CAP 1.2)")
    );
    // Sensors.
    let _ = write!(
        h,
        "<section aria-labelledby=\"sensors-h\"><h2 id=\"sensors-h\">{}</h2>",
        l.t("Въздух и вода", "Air and water")
    );
    if sensors.is_empty() {
        let _ = write!(h, "<p class=\"none\">{}</p>", l.t("Няма публикувани сензори.", "No sensors are published."));
    } else {
        h.push_str("<ul class=\"sensors\">");
        for p in sensors {
            let latest = p
                .latest
                .iter()
                .find(|o| o.quantity().is_none())
                .or(p.latest.first())
                .map(|o| format!("{:.1} {}", o.value(), esc(&p.sensor.unit)))
                .unwrap_or_else(|| "—".into());
            let _ = write!(
                h,
                "<li><h3>{}</h3><p class=\"value\">{latest}</p>{}</li>",
                esc(l.name(&p.sensor.name, &p.sensor.name_en)),
                sparkline(l, p)
            );
        }
        h.push_str("</ul>");
    }
    h.push_str("</section>");
    // Webcams.
    let _ = write!(h, "<section aria-labelledby=\"cams-h\"><h2 id=\"cams-h\">{}</h2>", l.t("Уебкамери", "Webcams"));
    if cams.is_empty() {
        let _ = write!(h, "<p class=\"none\">{}</p>", l.t("Няма публикувани камери.", "No cameras are published."));
    } else {
        h.push_str("<ul class=\"cams\">");
        for c in cams {
            let _ = write!(
                h,
                "<li><figure><img class=\"webcam\" src=\"/public/api/v1/cameras/{id}/snapshot.jpg\" alt=\"{alt}: {name}\" width=\"320\" height=\"180\" loading=\"lazy\"><figcaption>{name}</figcaption></figure></li>",
                id = esc(c.id.as_str()),
                alt = l.t("Снимка от уебкамера", "Webcam picture"),
                name = esc(l.name(&c.name, &c.name_en))
            );
        }
        h.push_str("</ul>");
    }
    h.push_str("</section>");
    network_section(&mut h, l, network);
    // Statistics.
    let _ = write!(
        h,
        "<section aria-labelledby=\"stats-h\"><h2 id=\"stats-h\">{}</h2><p class=\"muted\">{}</p>",
        l.t("Инциденти по месеци", "Incidents per month"),
        l.t(
            "Брой под 5 не се показва (<5), за да се пази личната информация.",
            "Counts below 5 are not shown (<5) to protect privacy."
        )
    );
    if stats.is_empty() {
        let _ = write!(h, "<p class=\"none\">{}</p>", l.t("Няма данни.", "No data."));
    } else {
        let _ = write!(
            h,
            "<table><caption>{}</caption><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
            l.t("Инциденти и време за реакция", "Incidents and response time"),
            l.t("Месец", "Month"),
            l.t("Инциденти", "Incidents"),
            l.t("Медиана до пристигане (мин.)", "Median to on scene (min)")
        );
        for m in stats {
            let total = m.total.map(|n| n.to_string()).unwrap_or_else(|| "&lt;5".into());
            let med = m.median_response_min.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into());
            let _ = write!(h, "<tr><th scope=\"row\">{}</th><td>{total}</td><td>{med}</td></tr>", esc(&m.month));
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("</section></main>");
    let _ = writeln!(
        h,
        "<footer><p>{}</p></footer><script type=\"module\" src=\"/public/portal.js\"></script></body></html>",
        l.t(
            "Без регистрация, без бисквитки, без проследяване. Данните са публикувани от общината.",
            "No account, no cookies, no tracking. The data is published by the municipality."
        )
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_rate_spaces_turns_and_refuses_a_queue_longer_than_a_second() {
        let portal = Portal::new(PortalConfig { total_per_sec: 10.0, ..PortalConfig::default() });
        let start = Instant::now();
        let mut turns = Vec::new();
        loop {
            match portal.turn() {
                Turn::Now => turns.push(start),
                Turn::At(t) => turns.push(t),
                Turn::Busy => break,
            }
            assert!(turns.len() < 100, "never busy");
        }
        // One turn at once, then one every 100 ms, up to a second ahead: about 11 or 12.
        assert!((10..=13).contains(&turns.len()), "{} turns", turns.len());
        for w in turns.windows(2).skip(1) {
            let gap = w[1].duration_since(w[0]).as_secs_f64();
            assert!((0.099..0.101).contains(&gap), "turns {gap} s apart");
        }
        let unlimited = Portal::new(PortalConfig { total_per_sec: 0.0, ..PortalConfig::default() });
        assert!((0..1000).all(|_| matches!(unlimited.turn(), Turn::Now)));
    }
}
