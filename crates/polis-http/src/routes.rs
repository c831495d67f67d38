//! Routes and handlers. Each handler: parse the request into domain values (every problem named
//! by field), call the application, render the wire form.

use crate::auth::{bearer, Authed};
use crate::error::{ApiError, ApiResult};
use crate::import::{self, Format};
use crate::wire::{self, Defaults};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use polis_base::{Error, Result};
use polis_core::{Entity, NewUser};
use polis_domain::{Actor, Camera, Id, LatLon, Role, Sensor, Site};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::net::SocketAddr;

/// Imports of 100,000 cameras are tens of megabytes.
const IMPORT_LIMIT: usize = 256 * 1024 * 1024;
const BODY_LIMIT: usize = 2 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    let api = Router::new()
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
        .route("/me", get(me))
        .route("/console/config", get(console_config))
        .route("/cameras", get(list_cameras).post(create::<Camera>))
        .route("/cameras/seeing", get(cameras_seeing))
        .route("/cameras/near", get(cameras_near))
        .route("/cameras/health", get(crate::media::cameras_health))
        .route("/cameras/{id}/health", get(crate::media::camera_health))
        .route("/cameras/{id}/live", get(crate::media::live))
        .route("/cameras/{id}/snapshot", get(crate::media::snapshot))
        .route("/cameras/{id}/recordings", get(crate::media::recordings))
        .route("/cameras/{id}/playback", post(crate::media::playback_ticket))
        .route("/cameras/{id}/recording.mp4", get(crate::media::recording_mp4))
        .route("/exports", post(crate::media::create_export))
        .route("/exports/{id}/manifest.json", get(crate::media::export_manifest))
        .route("/exports/{id}/files/{name}", get(crate::media::export_file))
        .route(
            "/cameras/{id}/onvif",
            get(crate::ptz::get_link).put(crate::ptz::put_link).delete(crate::ptz::delete_link),
        )
        .route("/cameras/{id}/ptz", get(crate::ptz::state).post(crate::ptz::command))
        .route("/cameras/{id}/ptz/control", axum::routing::delete(crate::ptz::release))
        .route("/cameras/{id}/ptz/presets", get(crate::ptz::presets))
        .route("/onvif/probe", post(crate::ptz::probe))
        .route("/onvif/discover", post(crate::ptz::discover))
        .route("/cameras/{id}", get(get_one::<Camera>).patch(patch::<Camera>).delete(delete::<Camera>))
        .route("/sites", get(list_sites).post(create::<Site>))
        .route("/sites/near", get(sites_near))
        .route("/sites/within", post(sites_within).layer(DefaultBodyLimit::max(crate::guard::WITHIN_LIMIT)))
        .route("/sites/{id}", get(get_one::<Site>).patch(patch::<Site>).delete(delete::<Site>))
        .route("/sites/{id}/cameras", get(site_cameras))
        .route("/sensors", get(list_sensors).post(create::<Sensor>))
        .route("/sensors/near", get(sensors_near))
        .route("/sensors/{id}", get(get_one::<Sensor>).patch(patch::<Sensor>).delete(delete::<Sensor>))
        .route("/export/cameras.csv", get(export_cameras_csv))
        .route("/export/{file}", get(crate::export::export))
        .route("/organisations", get(list_organisations).post(put_organisation))
        .route("/users", get(crate::admin::list_users).post(create_user))
        .route("/users/{id}", get(crate::admin::get_user).patch(crate::admin::patch_user))
        .route("/audit", get(crate::admin::audit))
        .route("/audit.csv", get(crate::admin::audit_csv_export))
        .route("/events", get(crate::events::events))
        .route("/events/ticket", post(crate::events::ticket))
        .route("/observations", post(crate::live::post_observations))
        .route("/sensors/{id}/observations", get(crate::live::sensor_observations))
        .route("/rules", get(crate::live::list_rules).post(crate::live::create_rule))
        .route("/rules/preview", post(crate::preview::preview_rule))
        .route(
            "/rules/{id}",
            get(crate::live::get_rule).patch(crate::live::patch_rule).delete(crate::live::delete_rule),
        )
        .route("/alarms", get(crate::live::list_alarms))
        .route("/alarms/{id}", get(crate::live::get_alarm))
        .route("/alarms/{id}/ack", post(crate::live::ack_alarm))
        .route("/alarms/{id}/comment", post(crate::live::comment_alarm))
        .route("/alarms/{id}/clear", post(crate::live::clear_alarm))
        .route("/alarms/{id}/incidents", get(crate::incidents::related))
        .route("/incidents", get(crate::incidents::list_incidents).post(crate::incidents::create_incident))
        .route("/incidents/{id}", get(crate::incidents::get_incident))
        .route("/incidents/{id}/transitions", post(crate::incidents::transition))
        .route("/incidents/{id}/checklist/{item}", post(crate::incidents::check_item))
        .route("/incidents/{id}/notes", post(crate::incidents::add_note))
        .route("/incidents/{id}/journal", get(crate::incidents::journal))
        .route(
            "/incidents/{id}/attachments",
            post(crate::incidents::attach)
                .layer(DefaultBodyLimit::max(polis_core::incidents::MAX_ATTACHMENT_BYTES + 1)),
        )
        .route("/attachments/{id}", get(crate::incidents::get_attachment))
        .route("/incidents/{id}/snapshots", post(crate::incidents::attach_snapshot))
        .route("/incidents/{id}/alarms", post(crate::incidents::link_alarm))
        .route("/incidents/{id}/units", post(crate::incidents::assign))
        .route("/incidents/{id}/units/{unit}", axum::routing::delete(crate::incidents::release))
        .route("/incidents/{id}/shares", post(crate::incidents::create_share))
        .route("/shares/{id}/revoke", post(crate::incidents::revoke_share))
        .route("/shares/{id}/uses", get(crate::incidents::share_uses))
        .route("/share", get(crate::incidents::open_share))
        .route("/share/cameras/{id}", get(crate::incidents::shared_camera))
        .route("/share/cameras/{id}/snapshot", get(crate::media::shared_snapshot))
        .route("/units", get(crate::incidents::list_units).post(crate::incidents::create_unit))
        .route("/units/{id}", axum::routing::patch(crate::incidents::patch_unit))
        .route("/units/{id}/report", post(crate::incidents::report_unit))
        .route("/procedures", get(crate::incidents::list_procedures))
        .route("/procedures/{id}/versions", get(crate::incidents::procedure_versions))
        .route("/procedures/type/{type}", axum::routing::put(crate::incidents::put_procedure))
        .route("/sos/devices", get(crate::sos::list_sos).post(crate::sos::put_sos))
        .route("/sos/devices/{id}", axum::routing::delete(crate::sos::delete_sos))
        .route("/sos/devices/{id}/positions", post(crate::sos::post_position))
        .route("/sos/alerts", post(crate::incidents::sos_alert))
        .route("/stats/incidents", get(crate::incidents::stats))
        .route("/plans", post(crate::plans::create).layer(DefaultBodyLimit::max(IMPORT_LIMIT)))
        .route("/plans/models", get(crate::plans::models))
        .route("/plans/{id}", get(crate::plans::get).delete(crate::plans::cancel))
        .route("/plans/{id}/report.html", get(crate::plans::report))
        .route("/plans/{id}/accept", post(crate::plans::accept))
        .route("/warnings", get(crate::warnings::list).post(crate::warnings::create))
        .route("/warnings/{id}", get(crate::warnings::get_one).patch(crate::warnings::patch))
        .route("/warnings/{id}/approve", post(crate::warnings::approve))
        .route("/warnings/{id}/cancel", post(crate::warnings::cancel))
        .route("/warnings/{id}/messages", get(crate::warnings::messages))
        .route("/alarms/{id}/warning-draft", post(crate::warnings::draft_from_alarm))
        .route("/external-warnings", get(crate::warnings::external))
        .route("/publications", get(crate::warnings::publications))
        .route("/publications/{kind}/{id}", axum::routing::put(crate::warnings::put_publication))
        .route("/openapi.json", get(openapi))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .route("/import/{kind}", post(import_items).layer(DefaultBodyLimit::max(IMPORT_LIMIT)))
        .fallback(api_not_found);
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/tiles/{z}/{x}/{file}", get(tile))
        .nest("/api/v1", api)
        .fallback(get(console_asset))
}

// ---------------------------------------------------------------------------------------------
// Parsing helpers

/// A JSON object from a request body.
pub(crate) fn object(body: &[u8]) -> Result<Map<String, Value>> {
    crate::extract::refuse_nul(body)?;
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Error::invalid("body", "expected a JSON object")),
        Err(e) => {
            Err(Error::invalid("body", format!("malformed JSON at line {}, column {}: {e}", e.line(), e.column())))
        }
    }
}

type Params = Query<HashMap<String, String>>;

/// A number in the query; only an empty value is absent (whitespace is not a number).
fn param_f64(q: &HashMap<String, String>, name: &str) -> Result<Option<f64>> {
    match q.get(name).map(String::as_str).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or_else(|| Error::invalid(name, format!("{s:?} is not a number"))),
    }
}

fn param_point(q: &HashMap<String, String>) -> Result<LatLon> {
    let lat = param_f64(q, "lat")?.ok_or_else(|| Error::invalid("lat", "is required"))?;
    let lon = param_f64(q, "lon")?.ok_or_else(|| Error::invalid("lon", "is required"))?;
    LatLon::new(lat, lon)
}

fn param_limit(q: &HashMap<String, String>, default: usize) -> Result<usize> {
    match param_f64(q, "limit")? {
        None => Ok(default),
        Some(v) if (1.0..=10_000.0).contains(&v) && v.fract() == 0.0 => Ok(v as usize),
        Some(_) => Err(Error::invalid("limit", "must be a whole number from 1 to 10000")),
    }
}

fn param_radius(q: &HashMap<String, String>) -> Result<f64> {
    match param_f64(q, "radius_m")? {
        Some(r) if (0.0..=100_000.0).contains(&r) => Ok(r),
        Some(_) => Err(Error::invalid("radius_m", "must be from 0 to 100000 metres")),
        None => Err(Error::invalid("radius_m", "is required")),
    }
}

pub(crate) fn parse_id(field: &str, s: &str) -> Result<Id> {
    Id::parse(field, s)
}

fn geojson(v: Value) -> Response {
    ([(header::CONTENT_TYPE, "application/geo+json")], Json(v)).into_response()
}

// ---------------------------------------------------------------------------------------------
// Public endpoints

async fn healthz(State(s): State<AppState>) -> Json<Value> {
    Json(json!({"status": "ok", "store": s.app.store().backend()}))
}

/// The answer of `GET /readyz`.
#[derive(serde::Serialize)]
struct ReadyBody {
    /// `ready` or `unavailable`.
    status: &'static str,
    store: &'static str,
    /// Why not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// Since when the application's writes have been failing (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    failing_since: Option<String>,
}

/// `GET /readyz`: 200 when the store takes a small write now, else 503 with the reason. No
/// authentication, like `/healthz`.
async fn readyz(State(s): State<AppState>) -> Response {
    let r = s.app.readiness().await;
    let body = ReadyBody {
        status: if r.ready { "ready" } else { "unavailable" },
        store: r.store,
        reason: r.reason,
        failing_since: r.failing_since.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
    };
    let status = if r.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

async fn metrics(State(s): State<AppState>, req: axum::extract::Request) -> ApiResult<Response> {
    let (parts, _) = req.into_parts();
    crate::guard::metrics_auth(&s, &parts).await?;
    let reg = s.app.registry().await;
    let gauges = [
        ("polis_registry_cameras", "Cameras in the registry.", reg.cameras.len() as f64),
        ("polis_registry_sites", "Key sites in the registry.", reg.sites.len() as f64),
        ("polis_registry_sensors", "Sensors in the registry.", reg.sensors.len() as f64),
    ];
    drop(reg);
    let mut text = s.metrics.render(&gauges);
    s.live_latency.render(&mut text);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

async fn openapi() -> Json<&'static Value> {
    Json(crate::doc::document())
}

/// `GET /tiles/{z}/{x}/{y}.{ext}`: a tile of the offline basemap (no token: the console's map
/// loads tiles as pictures, like its own files). 404 where the file has no tile.
async fn tile(State(s): State<AppState>, Path((z, x, file)): Path<(String, String, String)>) -> Response {
    let Some(tiles) = s.tiles.clone() else {
        return (StatusCode::NOT_FOUND, "no offline basemap is served").into_response();
    };
    let y = file.split_once('.').map(|(y, _)| y).unwrap_or(&file);
    let (Ok(z), Ok(x), Ok(y)) = (z.parse::<u8>(), x.parse::<u32>(), y.parse::<u32>()) else {
        return (StatusCode::NOT_FOUND, "no such tile").into_response();
    };
    let content_type = match tiles.format() {
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        _ => "image/png",
    };
    match tiles.tile(z, x, y).await {
        Ok(Some(bytes)) => {
            ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=86400")], bytes)
                .into_response()
        }
        Ok(None) => (StatusCode::NOT_FOUND, "no such tile").into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn console_asset(uri: Uri) -> Response {
    crate::console::asset(uri.path())
}

async fn api_not_found(uri: Uri) -> ApiError {
    Error::not_found(format!("no API endpoint {}", uri.path())).into()
}

// ---------------------------------------------------------------------------------------------
// Sessions

async fn login(
    State(s): State<AppState>,
    ext: axum::http::Extensions,
    body: Bytes,
) -> ApiResult<Json<wire::session::LoginOut>> {
    let obj = object(&body)?;
    let mut f = wire::Fields::strict(&obj, &[]);
    let username = f.str("username");
    let password = match obj.get("password") {
        Some(Value::String(p)) if !p.is_empty() => Some(p.clone()),
        _ => {
            f.problem("password", "is required");
            None
        }
    };
    let (Some(username), Some(password)) = (username, password) else {
        return Err(Error::invalid_fields("username and password are required", f.errors).into());
    };
    let session = s.app.login(&username, &password, &crate::client_addr(ext.get::<ConnectInfo<SocketAddr>>())).await?;
    Ok(Json(wire::session::LoginOut {
        token: session.token,
        expires_at: session.expires_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        user: (&session.user).into(),
    }))
}

async fn logout(State(s): State<AppState>, req: axum::extract::Request) -> ApiResult<StatusCode> {
    let (parts, _) = req.into_parts();
    let token = bearer(&parts).ok_or_else(|| Error::unauthenticated("send Authorization: Bearer <token>"))?;
    s.app.authenticate(token).await?;
    s.app.logout(token).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn me(Authed(a): Authed) -> Json<wire::session::UserOut> {
    Json((&a).into())
}

async fn console_config(State(s): State<AppState>, Authed(_): Authed) -> Json<wire::session::ConsoleConfigOut> {
    Json(s.console.as_ref().into())
}

// ---------------------------------------------------------------------------------------------
// Registry items: one generic path per operation

/// How a registry kind goes on the wire.
trait Wire: Entity {
    fn to_props(&self) -> Map<String, Value>;
    fn to_feature(&self, distance_m: Option<f64>) -> Value;
    fn from_props(map: &Map<String, Value>, d: &Defaults) -> std::result::Result<Self, Vec<polis_base::FieldError>>;
    /// On PATCH: fields the wire form cannot carry (credentials, polygons) are kept from
    /// `before` unless the body replaces them.
    fn keep_unsent(&mut self, before: &Self, body: &Map<String, Value>);
}

impl Wire for Camera {
    fn to_props(&self) -> Map<String, Value> {
        wire::camera_props(self)
    }
    fn to_feature(&self, d: Option<f64>) -> Value {
        wire::camera_feature(self, d)
    }
    fn from_props(map: &Map<String, Value>, d: &Defaults) -> std::result::Result<Self, Vec<polis_base::FieldError>> {
        wire::camera_from(map, d, None)
    }
    fn keep_unsent(&mut self, before: &Self, body: &Map<String, Value>) {
        // A URL sent back as it was shown (credentials removed) keeps its credentials.
        let shown = |new: &Option<polis_domain::StreamUrl>, old: &Option<polis_domain::StreamUrl>| match (new, old) {
            (Some(n), Some(o)) => !n.has_credentials() && n.url == o.url,
            _ => false,
        };
        if !body.contains_key("stream_url") || shown(&self.stream, &before.stream) {
            self.stream = before.stream.clone();
        }
        if !body.contains_key("sub_stream_url") || shown(&self.sub_stream, &before.sub_stream) {
            self.sub_stream = before.sub_stream.clone();
        }
    }
}

impl Wire for Site {
    fn to_props(&self) -> Map<String, Value> {
        let mut p = wire::site_props(self);
        p.insert("geometry".into(), wire::site_geometry(&self.geometry));
        p
    }
    fn to_feature(&self, d: Option<f64>) -> Value {
        wire::site_feature(self, d)
    }
    fn from_props(map: &Map<String, Value>, d: &Defaults) -> std::result::Result<Self, Vec<polis_base::FieldError>> {
        wire::site_from(map, None, d, None)
    }
    fn keep_unsent(&mut self, _before: &Self, _body: &Map<String, Value>) {}
}

impl Wire for Sensor {
    fn to_props(&self) -> Map<String, Value> {
        wire::sensor_props(self)
    }
    fn to_feature(&self, d: Option<f64>) -> Value {
        wire::sensor_feature(self, d)
    }
    fn from_props(map: &Map<String, Value>, d: &Defaults) -> std::result::Result<Self, Vec<polis_base::FieldError>> {
        wire::sensor_from(map, d, None)
    }
    fn keep_unsent(&mut self, _before: &Self, _body: &Map<String, Value>) {}
}

fn invalid(kind: &str, errs: Vec<polis_base::FieldError>) -> ApiError {
    Error::invalid_fields(format!("invalid {kind}"), errs).into()
}

async fn list_features<T: Wire>(s: &AppState, a: &Actor) -> ApiResult<Response> {
    let items: Vec<T> = s.app.list(a).await?;
    Ok(geojson(wire::feature_collection(items.iter().map(|i| i.to_feature(None)).collect())))
}

async fn list_cameras(State(s): State<AppState>, Authed(a): Authed) -> ApiResult<Response> {
    list_features::<Camera>(&s, &a).await
}
async fn list_sites(State(s): State<AppState>, Authed(a): Authed) -> ApiResult<Response> {
    list_features::<Site>(&s, &a).await
}
async fn list_sensors(State(s): State<AppState>, Authed(a): Authed) -> ApiResult<Response> {
    list_features::<Sensor>(&s, &a).await
}

async fn create<T: Wire>(State(s): State<AppState>, Authed(a): Authed, body: Bytes) -> ApiResult<Response> {
    let obj = object(&body)?;
    let default = s.app.default_municipality(&a).await;
    let d = Defaults { municipality: default.as_ref(), id: None };
    let item = T::from_props(&obj, &d).map_err(|e| invalid(T::KIND, e))?;
    let item = s.app.create(&a, item).await?;
    Ok((StatusCode::CREATED, Json(Value::Object(item.to_props()))).into_response())
}

async fn get_one<T: Wire>(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let item: T = s.app.get(&a, &parse_id("id", &id)?).await?;
    Ok(Json(Value::Object(item.to_props())))
}

async fn patch<T: Wire>(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let id = parse_id("id", &id)?;
    let changes = object(&body)?;
    if changes.get("id").is_some_and(|v| v.as_str() != Some(id.as_str())) {
        return Err(Error::invalid("id", "the id cannot be changed").into());
    }
    let before: T = s.app.get(&a, &id).await?;
    let mut merged = before.to_props();
    merged.extend(changes.clone());
    let d = Defaults { municipality: Some(before.municipality()), id: Some(&id) };
    let mut item = T::from_props(&merged, &d).map_err(|e| invalid(T::KIND, e))?;
    item.keep_unsent(&before, &changes);
    let item = s.app.update(&a, item).await?;
    Ok(Json(Value::Object(item.to_props())))
}

async fn delete<T: Wire>(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.app.delete::<T>(&a, &parse_id("id", &id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn import_items(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(kind): Path<String>,
    Query(q): Params,
    headers: HeaderMap,
    body: axum::body::Body,
) -> ApiResult<Json<ImportOut>> {
    let format = Format::from_content_type(headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()))?;
    let municipality = match q.get("municipality") {
        Some(m) => Some(parse_id("municipality", m)?),
        None => s.app.default_municipality(&a).await,
    };
    let dry_run = match q.get("dry_run").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(Error::invalid("dry_run", "must be true or false").into()),
    };
    // Rights first, then the (up to 256 MB) body: who may not import gets a 403 at once.
    crate::guard::check_import(&a, municipality.as_ref())?;
    let body = crate::guard::read_body(body, IMPORT_LIMIT).await?;
    let file = (body, format, municipality);
    let n = match kind.as_str() {
        "cameras" => import_parsed(&s, &a, parse_off_thread(import::parse_cameras, file).await?, dry_run).await?,
        "sensors" => import_parsed(&s, &a, parse_off_thread(import::parse_sensors, file).await?, dry_run).await?,
        "sites" => import_parsed(&s, &a, parse_off_thread(import::parse_sites, file).await?, dry_run).await?,
        other => return Err(Error::not_found(format!("cannot import {other:?}; use cameras, sites or sensors")).into()),
    };
    Ok(Json(if dry_run {
        ImportOut { imported: 0, checked: Some(n), dry_run: Some(true) }
    } else {
        ImportOut { imported: n, checked: None, dry_run: None }
    }))
}

/// The answer of `POST /import/{kind}`: how many were imported, or with `dry_run` how many were
/// checked (nothing imported).
#[derive(serde::Serialize)]
struct ImportOut {
    imported: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    checked: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dry_run: Option<bool>,
}

type Parser<T> = fn(&[u8], Format, &Defaults) -> Result<import::Parsed<T>>;

/// Parsing a large file is CPU work: it runs off the async workers.
async fn parse_off_thread<T: Send + 'static>(
    parse: Parser<T>,
    (body, format, municipality): (Bytes, Format, Option<Id>),
) -> Result<import::Parsed<T>> {
    tokio::task::spawn_blocking(move || {
        parse(&body, format, &Defaults { municipality: municipality.as_ref(), id: None })
    })
    .await
    .map_err(|e| Error::internal("parsing the import failed").with_source(e))?
}

async fn import_parsed<T: Entity>(s: &AppState, a: &Actor, parsed: import::Parsed<T>, dry_run: bool) -> Result<usize> {
    let done = if dry_run { s.app.check_import(a, parsed.items).await } else { s.app.import(a, parsed.items).await };
    done.map_err(|e| parsed.rows.locate(e))
}

async fn export_cameras_csv(State(s): State<AppState>, Authed(a): Authed) -> ApiResult<Response> {
    let cams: Vec<Camera> = s.app.list(&a).await?;
    let body = import::cameras_csv(&cams)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"cameras.csv\""),
        ],
        body,
    )
        .into_response())
}

// ---------------------------------------------------------------------------------------------
// Geo queries

async fn cameras_seeing(State(s): State<AppState>, Authed(a): Authed, Query(q): Params) -> ApiResult<Response> {
    let p = param_point(&q)?;
    let limit = param_limit(&q, 10)?;
    let hits = s.app.cameras_seeing(&a, p, limit).await?;
    Ok(geojson(wire::feature_collection(hits.iter().map(|(c, d)| c.to_feature(Some(*d))).collect())))
}

async fn cameras_near(State(s): State<AppState>, Authed(a): Authed, Query(q): Params) -> ApiResult<Response> {
    let (p, r, limit) = (param_point(&q)?, param_radius(&q)?, param_limit(&q, 100)?);
    let hits = s.app.cameras_within(&a, p, r, limit).await?;
    Ok(geojson(wire::feature_collection(hits.iter().map(|(c, d)| c.to_feature(Some(*d))).collect())))
}

async fn sites_near(State(s): State<AppState>, Authed(a): Authed, Query(q): Params) -> ApiResult<Response> {
    let (p, r, limit) = (param_point(&q)?, param_radius(&q)?, param_limit(&q, 100)?);
    let hits = s.app.sites_within_radius(&a, p, r, limit).await?;
    Ok(geojson(wire::feature_collection(hits.iter().map(|(x, d)| x.to_feature(Some(*d))).collect())))
}

async fn sensors_near(State(s): State<AppState>, Authed(a): Authed, Query(q): Params) -> ApiResult<Response> {
    let (p, r, limit) = (param_point(&q)?, param_radius(&q)?, param_limit(&q, 100)?);
    let hits = s.app.sensors_within_radius(&a, p, r, limit).await?;
    Ok(geojson(wire::feature_collection(hits.iter().map(|(x, d)| x.to_feature(Some(*d))).collect())))
}

/// Sites that intersect a polygon: the body is a GeoJSON Polygon geometry or a Feature with one.
async fn sites_within(
    State(s): State<AppState>,
    Authed(a): Authed,
    Query(q): Params,
    body: Bytes,
) -> ApiResult<Response> {
    // Who may not read the registry learns nothing from the body's size or shape.
    a.check_read_registry()?;
    let obj = Value::Object(object(&body)?);
    let g = if obj.get("type").and_then(Value::as_str) == Some("Feature") {
        obj.get("geometry").cloned().unwrap_or(Value::Null)
    } else {
        obj
    };
    let ring = match wire::geometry_from(&g) {
        Ok(polis_domain::SiteGeometry::Polygon(r)) => r,
        Ok(_) => return Err(Error::invalid("geometry", "send a Polygon").into()),
        Err(e) => return Err(Error::invalid_fields(e.to_string(), vec![e]).into()),
    };
    let limit = param_limit(&q, 1000)?;
    let sites = s.app.sites_within_polygon(&a, &ring, limit).await?;
    Ok(geojson(wire::feature_collection(sites.iter().map(|x| x.to_feature(None)).collect())))
}

async fn site_cameras(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
    Query(q): Params,
) -> ApiResult<Response> {
    let limit = param_limit(&q, 100)?;
    let hits = s.app.cameras_seeing_site(&a, &parse_id("id", &id)?, limit).await?;
    Ok(geojson(wire::feature_collection(hits.iter().map(|(c, d)| c.to_feature(Some(*d))).collect())))
}

// ---------------------------------------------------------------------------------------------
// Organisations, users, audit

async fn list_organisations(State(s): State<AppState>, Authed(a): Authed) -> ApiResult<Json<Value>> {
    let orgs = s.app.organisations(&a).await?;
    Ok(Json(Value::Array(orgs.iter().map(wire::organisation_json).collect())))
}

async fn put_organisation(State(s): State<AppState>, Authed(a): Authed, body: Bytes) -> ApiResult<Response> {
    let org = wire::organisation_from(&object(&body)?)?;
    let org = s.app.create_organisation(&a, org).await?;
    Ok((StatusCode::CREATED, Json(wire::organisation_json(&org))).into_response())
}

async fn create_user(State(s): State<AppState>, Authed(a): Authed, body: Bytes) -> ApiResult<Response> {
    let obj = object(&body)?;
    let mut f = wire::Fields::strict(&obj, &["municipality", "agency"]);
    let username = f.str("username");
    let password = f.str("password");
    let role = f.str("role").and_then(|r| {
        let r = Role::parse("role", &r);
        f.absorb(r)
    });
    let municipality = f.opt_id("municipality").or_else(|| a.municipality.clone());
    let agency = f.opt_id("agency");
    let (Some(username), Some(password), Some(role)) = (username, password, role) else {
        return Err(Error::invalid_fields("invalid user", f.errors).into());
    };
    if !f.errors.is_empty() {
        return Err(Error::invalid_fields("invalid user", f.errors).into());
    }
    let user = s.app.create_user(&a, NewUser { username, password, role, municipality, agency }).await?;
    Ok((StatusCode::CREATED, Json(crate::admin::UserOut::from(&user))).into_response())
}
