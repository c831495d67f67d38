//! Camera video endpoints: health, live view (fragmented MP4 over a WebSocket), the list of
//! recordings, playback of a range as MP4 (with range requests), and playback tickets.

use crate::auth::{bearer_of, Authed};
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use polis_base::{Error, Result};
use polis_core::accounts::SessionEnd;
use polis_core::media::StreamChoice;
use polis_core::video::Clip;
use polis_domain::Id;
use polis_media::mux::Fragmenter;
use polis_media::{fmp4, Health, Subscription};
use serde_json::{json, Value};
use std::collections::HashMap;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

fn health_json(h: &Health) -> Value {
    json!({
        "status": h.status.as_str(),
        "fps": (h.fps * 10.0).round() / 10.0,
        "bitrate_bps": h.bitrate_bps,
        "last_frame_at": h.last_frame_at.and_then(|t| t.format(&Rfc3339).ok()),
        "reconnects": h.reconnects,
        "offline_since": h.offline_since.and_then(|t| t.format(&Rfc3339).ok()),
        "reason": h.reason.map(|r| r.as_str()),
    })
}

fn stream_choice(q: &HashMap<String, String>) -> Result<StreamChoice> {
    match q.get("stream").map(String::as_str) {
        None | Some("") | Some("main") => Ok(StreamChoice::Main),
        Some("sub") => Ok(StreamChoice::Sub),
        Some(_) => Err(Error::invalid("stream", "must be main or sub")),
    }
}

/// `GET /cameras/{id}/health?stream=main|sub`: the health of the session pulling that stream;
/// asking does not start one (`"pulled": false`, offline, when nobody records or watches it).
pub(crate) async fn camera_health(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let id = crate::routes::parse_id("id", &id)?;
    let choice = stream_choice(&q)?;
    let health = s.app.camera_health(&a, &id, choice).await?;
    let mut v = health_json(health.as_ref().unwrap_or(&Health::offline()));
    let no_stream = health.as_ref().is_some_and(|h| h.reason == Some(polis_media::OfflineReason::NoStream));
    v["pulled"] = (health.is_some() && !no_stream).into();
    // Whether pictures are being recorded: "off", "recording" or "not recording" (with why).
    let recording = s.app.recording_status(&a, &id).await?;
    v["recording"] = recording.as_str().into();
    if let polis_core::video::RecordingStatus::NotRecording { reason, since } = recording {
        v["recording_error"] = reason.into();
        v["recording_failing_since"] = fmt(since).into();
    }
    Ok(Json(v))
}

/// One camera's entry of `GET /cameras/health`.
#[derive(serde::Serialize)]
pub(crate) struct CameraLiveOut {
    id: String,
    status: &'static str,
    reason: Option<&'static str>,
    by: &'static str,
    checked_at: Option<String>,
}

#[derive(serde::Serialize)]
pub(crate) struct CameraLiveList {
    items: Vec<CameraLiveOut>,
}

/// `GET /api/v1/cameras/health`: what is known now of every camera's stream, for the map.
pub(crate) async fn cameras_health(State(s): State<AppState>, Authed(a): Authed) -> ApiResult<Json<CameraLiveList>> {
    let items = s
        .app
        .camera_states(&a)
        .await?
        .into_iter()
        .map(|c| CameraLiveOut {
            id: c.id.to_string(),
            status: c.status,
            reason: c.reason.map(|r| r.as_str()),
            by: c.by,
            checked_at: c.checked_at.map(fmt),
        })
        .collect();
    Ok(Json(CameraLiveList { items }))
}

fn time_param(q: &HashMap<String, String>, name: &str) -> Result<OffsetDateTime> {
    let v = q.get(name).filter(|v| !v.is_empty()).ok_or_else(|| Error::invalid(name, "is required (RFC 3339)"))?;
    OffsetDateTime::parse(v, &Rfc3339).map_err(|_| Error::invalid(name, format!("{v:?} is not an RFC 3339 time")))
}

fn fmt(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// `GET /cameras/{id}/recordings?from&to`: the recorded spans.
pub(crate) async fn recordings(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let id = crate::routes::parse_id("id", &id)?;
    let (from, to) = (time_param(&q, "from")?, time_param(&q, "to")?);
    let spans = s.app.recordings(&a, &id, from, to).await?;
    Ok(Json(Value::Array(spans.into_iter().map(|(f, t)| json!({"from": fmt(f), "to": fmt(t)})).collect())))
}

// ---- Playback tickets -------------------------------------------------------------------------

/// A `<video>` element cannot send an Authorization header: a signed-in user asks for a ticket,
/// good for one camera and range for ten minutes, and the player puts it in the URL. The ticket
/// keeps the token hash of the session that asked for it, and works only while that session does.
const TICKET_LIFE: Duration = Duration::minutes(10);

/// `POST /cameras/{id}/playback` with `{"from","to"}`: a playback URL for a `<video>` element.
pub(crate) async fn playback_ticket(
    State(s): State<AppState>,
    Authed(a): Authed,
    headers: HeaderMap,
    Path(id): Path<String>,
    crate::extract::JsonBody(body): crate::extract::JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let id = crate::routes::parse_id("id", &id)?;
    let q: HashMap<String, String> = ["from", "to"]
        .iter()
        .filter_map(|k| body.get(*k).and_then(Value::as_str).map(|v| (k.to_string(), v.to_string())))
        .collect();
    let (from, to) = (time_param(&q, "from")?, time_param(&q, "to")?);
    // Checks the right and that there is something to play.
    let clip = s.app.clip(&a, &id, from, to).await?;
    let cam: polis_domain::Camera = s.app.get(&a, &id).await?;
    s.app.log_view(&a, &cam, "playback").await?;
    let session = bearer_of(&headers).map(polis_core::auth::token_hash).unwrap_or_default();
    let purpose = polis_store::TicketPurpose::Playback { camera: id.clone(), from, to };
    let token = s.app.issue_ticket(&session, purpose, TICKET_LIFE).await?;
    let url = format!(
        "/api/v1/cameras/{id}/recording.mp4?from={}&to={}&ticket={token}",
        urlencode(&fmt(from)),
        urlencode(&fmt(to))
    );
    Ok(Json(json!({
        "url": url, "expires_in_s": TICKET_LIFE.whole_seconds(), "start": fmt(clip.start),
        "duration_s": clip.duration.as_seconds_f64(), "bytes": clip.len(),
    })))
}

/// Whether two instants are the same millisecond (what the store keeps of a ticket's range).
fn same_ms(a: OffsetDateTime, b: OffsetDateTime) -> bool {
    a.unix_timestamp_nanos().div_euclid(1_000_000) == b.unix_timestamp_nanos().div_euclid(1_000_000)
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET /cameras/{id}/recording.mp4?from&to` (bearer token, or `ticket`): the range as MP4,
/// with `Range` requests answered 206.
pub(crate) async fn recording_mp4(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    req: Request,
) -> ApiResult<Response> {
    let (mut parts, _) = req.into_parts();
    let id = crate::routes::parse_id("id", &id)?;
    let (from, to) = (time_param(&q, "from")?, time_param(&q, "to")?);
    let clip = match q.get("ticket").filter(|t| !t.is_empty()) {
        Some(t) => {
            let ticket = s.app.playback_ticket(t).await?;
            let ticket =
                ticket.ok_or_else(|| Error::permission_denied("this playback ticket is unknown or expired"))?;
            let fits = matches!(&ticket.purpose,
                polis_store::TicketPurpose::Playback { camera, from: f, to: t } if *camera == id && same_ms(*f, from) && same_ms(*t, to));
            if !fits {
                return Err(Error::permission_denied("this playback ticket is for another camera or range").into());
            }
            let actor = s
                .app
                .authenticate_hash(&ticket.session)
                .await
                .map_err(|_| Error::unauthenticated("the session of this playback ticket has ended"))?;
            s.app.clip(&actor, &id, from, to).await?
        }
        None => {
            let Authed(a) = Authed::from_request_parts(&mut parts, &s).await?;
            let clip = s.app.clip(&a, &id, from, to).await?;
            // A player asks for many ranges of one clip: the view is logged at its start.
            let at_start = parts
                .headers
                .get(header::RANGE)
                .and_then(|v| v.to_str().ok())
                .is_none_or(|r| r.starts_with("bytes=0-"));
            if at_start {
                let cam: polis_domain::Camera = s.app.get(&a, &id).await?;
                s.app.log_view(&a, &cam, "playback").await?;
            }
            clip
        }
    };
    Ok(serve_clip(clip, &parts.headers))
}

/// Serves a clip whole (200) or the requested byte range (206, or 416 when out of range).
pub(crate) fn serve_clip(clip: Clip, headers: &HeaderMap) -> Response {
    let len = clip.len();
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok()).and_then(|v| parse_range(v, len));
    let (status, start, end) = match range {
        Some(Ok((a, b))) => (StatusCode::PARTIAL_CONTENT, a, b),
        Some(Err(())) => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
        None => (StatusCode::OK, 0, len),
    };
    let chunks = clip.read_range(start, end, 256 * 1024);
    let stream = futures::stream::iter(chunks).then(|c| async move {
        tokio::task::spawn_blocking(move || c.read())
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .map_err(|e| std::io::Error::other(e.message))
    });
    let mut r = Response::new(Body::from_stream(stream));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    if let Ok(v) = HeaderValue::from_str(&(end - start).to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", end.saturating_sub(1))) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    r
}

use futures::StreamExt;

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` as a half-open range; `Err` when unsatisfiable; `None`
/// for what is not a single byte range (then the whole clip is sent).
fn parse_range(v: &str, len: u64) -> Option<std::result::Result<(u64, u64), ()>> {
    let spec = v.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    // RFC 9110, 14.1.2: a suffix of 0 bytes, or a first byte at or past the end, cannot be
    // satisfied (416); a last byte before the first makes the header invalid (ignored: 200).
    let r = match (a.is_empty(), b.is_empty()) {
        (true, false) => {
            let n: u64 = b.parse().ok()?;
            if n == 0 || len == 0 {
                Err(())
            } else {
                Ok((len - n.min(len), len))
            }
        }
        (false, _) => {
            let start: u64 = a.parse().ok()?;
            let end = if b.is_empty() {
                len
            } else {
                let last = b.parse::<u64>().ok()?;
                if last < start {
                    return None;
                }
                last.saturating_add(1).min(len)
            };
            if start >= len {
                Err(())
            } else {
                Ok((start, end))
            }
        }
        _ => return None,
    };
    Some(r)
}

// ---- Live view ---------------------------------------------------------------------------------

/// A frame older than this when its turn comes is skipped (with the rest of its group of
/// pictures): a slow viewer jumps to the next key frame instead of falling further behind.
const MAX_LAG: Duration = Duration::seconds(1);

/// `GET /cameras/{id}/live?stream=main|sub` as a WebSocket, authenticated in the upgrade
/// request itself: by the Authorization header or `X-Polis-Share`, or (browsers cannot set
/// headers on WebSockets) by the subprotocols `polis.live` plus `polis.token.<token>` or
/// `polis.share.<token>`. An upgrade without credentials is refused at once (401), and a user (or
/// share) has at most [`crate::guard::MAX_LIVE_PER_USER`] live views open. Then: a text
/// `{"type":"init","mime",...}`, the initialisation segment (binary), and one binary fragment per
/// frame.
pub(crate) async fn live(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    req: Request,
) -> ApiResult<Response> {
    let (mut parts, _) = req.into_parts();
    let id = crate::routes::parse_id("id", &id)?;
    let choice = stream_choice(&q)?;
    let (sub, share, slot, end) = match crate::guard::live_credentials(&parts) {
        Some(crate::guard::LiveCredentials::Token(token)) => {
            let (actor, end) = s.app.authenticate_watched(&token).await?;
            let slot = s.live_slots.take(&format!("user:{}", actor.user_id))?;
            (s.app.live(&actor, &id, choice).await?, None, slot, Some(end))
        }
        Some(crate::guard::LiveCredentials::Share(token)) => {
            let slot = s.live_slots.take(&format!("share:{}", polis_core::auth::token_hash(&token)))?;
            (s.app.live_shared(&token, &id, choice).await?, Some(token), slot, None)
        }
        None => {
            return Err(Error::unauthenticated(
                "authenticate the upgrade: Authorization: Bearer, X-Polis-Share, or the subprotocols \
                 polis.live and polis.token.<token> (or polis.share.<token>)",
            )
            .into())
        }
    };
    let ws = WebSocketUpgrade::from_request_parts(&mut parts, &s)
        .await
        .map_err(|e| ApiError(Error::invalid("upgrade", format!("bad WebSocket upgrade: {e}"))))?;
    let ws = ws.protocols([crate::guard::LIVE_PROTOCOL]);
    Ok(ws.on_upgrade(move |socket| async move {
        let _slot = slot;
        live_socket(socket, s, id, sub, share, end).await
    }))
}

async fn send_error(socket: &mut WebSocket, e: &Error) {
    let msg = json!({"type": "error", "code": e.kind.code(), "message": e.message}).to_string();
    let _ = socket.send(Message::Text(msg.into())).await;
    let _ = socket.send(Message::Close(None)).await;
}

/// Resolves when the session ends; never for a socket opened with a share.
async fn session_ended(end: &mut Option<SessionEnd>) {
    match end {
        Some(e) => e.ended().await,
        None => std::future::pending().await,
    }
}

/// How often a live socket opened with a share asks whether the share still holds.
const SHARE_RECHECK: std::time::Duration = std::time::Duration::from_secs(5);

async fn live_socket(
    mut socket: WebSocket,
    s: AppState,
    id: Id,
    mut sub: Subscription,
    share: Option<String>,
    mut end: Option<SessionEnd>,
) {
    // Video opened with a share ends when the share does (expired, revoked, incident closed).
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + SHARE_RECHECK, SHARE_RECHECK);
    let mut muxer: Option<Fragmenter> = None;
    loop {
        tokio::select! {
            _ = session_ended(&mut end) => {
                return send_error(&mut socket, &Error::unauthenticated("the session has ended")).await;
            }
            _ = recheck.tick(), if share.is_some() => {
                if let Some(token) = &share {
                    if let Err(e) = s.app.check_share(token, &id).await {
                        return send_error(&mut socket, &e).await;
                    }
                }
            }
            frame = sub.next() => {
                let Some(frame) = frame else { break };
                // The group of pictures a new viewer starts with is old by design: all of it
                // goes, so the viewer's first fragments are continuous from its key frame.
                let lag = s.app.clock().now() - frame.at;
                if lag > MAX_LAG && !frame.key && !sub.from_backlog() {
                    sub.resync();
                    continue;
                }
                let fresh = match &muxer {
                    Some(m) => !m.continues(&frame),
                    None => true,
                };
                if fresh {
                    if !frame.key {
                        continue;
                    }
                    let m = Fragmenter::new(&frame);
                    let p = m.params();
                    let init = json!({"type": "init", "mime": fmp4::mime(p), "width": p.width, "height": p.height});
                    if socket.send(Message::Text(init.to_string().into())).await.is_err()
                        || socket.send(Message::Binary(m.init_segment().into())).await.is_err()
                    {
                        break;
                    }
                    muxer = Some(m);
                }
                let Some(m) = muxer.as_mut() else { continue };
                let (at, backlog) = (frame.at, sub.from_backlog());
                m.push(frame);
                if let Some((bytes, _)) = m.flush(None) {
                    if socket.send(Message::Binary(bytes.into())).await.is_err() {
                        break;
                    }
                    if !backlog {
                        s.live_latency.observe((s.app.clock().now() - at).unsigned_abs());
                    }
                }
            }
            msg = socket.recv() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
            },
        }
    }
}

// ---- Evidence export ---------------------------------------------------------------------------

fn export_json(m: &polis_core::video::ExportManifest) -> Value {
    let mut v = serde_json::to_value(m).unwrap_or(Value::Null);
    if let Some(files) = v.get_mut("files").and_then(Value::as_array_mut) {
        for f in files {
            let name = f["name"].as_str().unwrap_or_default().to_string();
            f["url"] = format!("/api/v1/exports/{}/files/{name}", m.id).into();
        }
    }
    json!({"id": m.id, "files": v["files"].clone(), "manifest": v, "manifest_url": format!("/api/v1/exports/{}/manifest.json", m.id)})
}

/// `POST /exports` with `{"cameras": [ids], "from", "to", "reason", "incident"}`.
pub(crate) async fn create_export(
    State(s): State<AppState>,
    Authed(a): Authed,
    crate::extract::JsonBody(body): crate::extract::JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let q: HashMap<String, String> = ["from", "to"]
        .iter()
        .filter_map(|k| body.get(*k).and_then(Value::as_str).map(|v| (k.to_string(), v.to_string())))
        .collect();
    let (from, to) = (time_param(&q, "from")?, time_param(&q, "to")?);
    let cameras = match body.get("cameras") {
        Some(Value::Array(list)) => list
            .iter()
            .map(|c| c.as_str().ok_or_else(|| Error::invalid("cameras", "must be a list of camera ids")))
            .map(|c| c.and_then(|c| Id::parse("cameras", c)))
            .collect::<Result<Vec<_>>>()?,
        _ => return Err(Error::invalid("cameras", "must be a list of camera ids").into()),
    };
    let reason = body.get("reason").and_then(Value::as_str).unwrap_or_default().to_string();
    let incident = match body.get("incident") {
        None | Some(Value::Null) => None,
        Some(Value::String(i)) if i.is_empty() => None,
        Some(Value::String(i)) => Some(Id::parse("incident", i)?),
        Some(_) => return Err(Error::invalid("incident", "must be an incident id").into()),
    };
    let req = polis_core::video::ExportRequest { cameras, from, to, reason, incident };
    let m = s.app.export_video(&a, req).await?;
    Ok((StatusCode::CREATED, Json(export_json(&m))))
}

pub(crate) async fn export_manifest(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = crate::routes::parse_id("id", &id)?;
    let m = s.app.export_manifest(&a, &id).await?;
    Ok(Json(serde_json::to_value(&m).unwrap_or(Value::Null)))
}

/// `GET /exports/{id}/files/{name}`: one exported MP4, as a download.
pub(crate) async fn export_file(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    let id = crate::routes::parse_id("id", &id)?;
    let path = s.app.export_file(&a, &id, &name).await?;
    let file = std::fs::File::open(&path).map_err(|e| Error::unavailable(format!("opening the export: {e}")))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let stream = futures::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let read = tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let mut buf = vec![0; 256 * 1024];
            let n = file.read(&mut buf)?;
            buf.truncate(n);
            Ok::<_, std::io::Error>((buf, file))
        })
        .await;
        match read {
            Ok(Ok((buf, _))) if buf.is_empty() => None,
            Ok(Ok((buf, file))) => Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), Some(file))),
            Ok(Err(e)) => Some((Err(e), None)),
            Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
        }
    });
    let mut r = Response::new(Body::from_stream(stream));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    if let Ok(v) = HeaderValue::from_str(&len.to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    h.insert(header::CONTENT_DISPOSITION, crate::guard::attachment_disposition(&format!("{id}-{name}")));
    Ok(r)
}

fn jpeg(bytes: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(bytes));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `GET /cameras/{id}/snapshot`: the latest key frame as JPEG, privacy zones blacked out.
pub(crate) async fn snapshot(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = crate::routes::parse_id("id", &id)?;
    Ok(jpeg(s.app.snapshot(&a, &id).await?))
}

/// `GET /share/cameras/{id}/snapshot` with the share token in `X-Polis-Share`.
pub(crate) async fn shared_snapshot(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = crate::routes::parse_id("id", &id)?;
    let token = crate::incidents::share_token(&headers)?;
    Ok(jpeg(s.app.snapshot_shared(&token, &id).await?))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    /// Issue 14: ranges per RFC 9110 (`bytes=-0` is unsatisfiable, not a 206 of nothing).
    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(parse_range("bytes=-0", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=-1", 0), Some(Err(())));
        assert_eq!(parse_range("bytes=-500", 100), Some(Ok((0, 100))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok((90, 100))));
        assert_eq!(parse_range("bytes=10-19", 100), Some(Ok((10, 20))));
        assert_eq!(parse_range("bytes=90-500", 100), Some(Ok((90, 100))));
        assert_eq!(parse_range("bytes=20-10", 100), None, "an invalid range is ignored");
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}
