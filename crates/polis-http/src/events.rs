//! `GET /api/v1/events`: the live event stream as Server-Sent Events (`Accept:
//! text/event-stream`) or as a WebSocket (an upgrade request). Both carry the same JSON objects
//! `{"id", "type", "municipality", "data"}`, filtered by the caller's municipality and by
//! `?types=a,b`, `?municipality=a,b` (among those the caller may see) and `?sensors=a,b` (the
//! observations of those sensors only). A client resumes with `Last-Event-ID` (SSE) or `?after=ID` and gets every
//! retained event after that id, then the live stream, nothing twice. When events were lost to
//! it (it fell too far behind, or asked for an id older than the retention window) it receives a
//! `gap` event with the last id it got, and should reload its state.
//!
//! A browser cannot set an Authorization header on a WebSocket (or an `EventSource`): a
//! signed-in client asks `POST /events/ticket` for a ticket, good once and for 30 seconds, and
//! opens `GET /events?ticket=...`. A long-lived token never goes into a URL.
//!
//! A stream ends when the session that opened it does (logout, the user disabled or changed):
//! the SSE response ends, the WebSocket is closed; a ticket keeps only its session's token hash
//! and works only while that session does.

use crate::auth::{bearer_of, Authed};
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use polis_base::Error;
use polis_core::accounts::SessionEnd;
use polis_core::bus::{Delivery, Envelope, Subscription};
use polis_core::live::LiveEvent;
use polis_core::App;
use polis_domain::Actor;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

/// What a subscriber asked for.
struct Filter {
    types: Option<HashSet<String>>,
    /// Only these municipalities (all visible to the actor).
    municipalities: Option<HashSet<polis_domain::Id>>,
    /// Observations of these sensors only (other kinds of event are not affected).
    sensors: Option<HashSet<polis_domain::Id>>,
    actor: Actor,
}

/// At most this many sensors in `?sensors=`.
pub const MAX_WATCHED_SENSORS: usize = 1000;

/// A comma-separated list of ids from the query, or `None` when absent or empty.
fn id_list(q: &HashMap<String, String>, name: &str) -> polis_base::Result<Option<HashSet<polis_domain::Id>>> {
    let Some(list) = q.get(name).filter(|v| !v.trim().is_empty()) else { return Ok(None) };
    let mut out = HashSet::new();
    for v in list.split(',').map(str::trim).filter(|v| !v.is_empty()) {
        out.insert(polis_domain::Id::parse(name, v)?);
    }
    Ok(Some(out))
}

impl Filter {
    fn wants(&self, e: &Envelope<LiveEvent>) -> bool {
        let visible = if self.actor.role == polis_domain::Role::Agency {
            // Agency liaisons receive the incidents shared with them (or that their units work
            // on) and the dispatch support addressed to them, nothing else.
            match (&e.event, &self.actor.agency) {
                (LiveEvent::Incident(i), Some(a)) => i.agencies.contains(a),
                (LiveEvent::Dispatch(d), Some(a)) => d.agency == *a,
                _ => false,
            }
        } else {
            match &e.municipality {
                Some(m) => self.actor.sees(m),
                None => self.actor.municipality.is_none(),
            }
        };
        visible
            && self.types.as_ref().is_none_or(|t| t.contains(e.event.type_name()))
            && self.municipalities.as_ref().is_none_or(|ms| e.municipality.as_ref().is_some_and(|m| ms.contains(m)))
            && match (&e.event, &self.sensors) {
                (LiveEvent::Observation(o), Some(watched)) => watched.contains(o.sensor()),
                _ => true,
            }
    }
}

async fn event_json(app: &App, e: &Envelope<LiveEvent>) -> Value {
    let data = match &e.event {
        LiveEvent::Registry { entity, change, count, ids } => json!({
            "entity": entity, "change": change.as_str(), "count": count,
            "ids": ids.iter().map(|i| i.as_str()).collect::<Vec<_>>(),
        }),
        LiveEvent::Alarm(a) => crate::live::alarm_json_for_stream(app, a).await,
        LiveEvent::Observation(o) => crate::live::observation_json(o),
        LiveEvent::Incident(i) => crate::incidents::incident_json(&i.incident),
        LiveEvent::Dispatch(d) => json!({
            "agency": d.agency.as_str(),
            "reason": d.reason,
            "at": crate::live::rfc3339(d.at),
            "incident": crate::incidents::view_json_at(&d.view, d.at),
        }),
        LiveEvent::Plan { id, status, stage, progress } => {
            json!({"id": id.as_str(), "status": status, "stage": stage, "progress": progress})
        }
        LiveEvent::Warning(w) => serde_json::to_value(crate::warnings::WarningOut::from(&**w)).unwrap_or(Value::Null),
        LiveEvent::ExternalWarning(a) => {
            serde_json::to_value(crate::warnings::ExternalOut::from(&**a)).unwrap_or(Value::Null)
        }
    };
    json!({
        "id": e.id,
        "type": e.event.type_name(),
        "municipality": e.municipality.as_ref().map(|m| m.as_str()),
        "data": data,
    })
}

fn gap_json(last_id: u64) -> Value {
    json!({"id": last_id, "type": "gap", "municipality": null, "data": {"last_id": last_id}})
}

/// The JSON text of recent events, made once per event and shared by every subscriber that
/// receives it (an alarm fanned out to hundreds of consoles is serialised once, not once a
/// console). What an event's JSON says depends on the event only, never on who receives it.
#[derive(Default, Clone)]
pub(crate) struct JsonCache(Arc<Mutex<VecDeque<(u64, Utf8Bytes)>>>);

impl JsonCache {
    /// How many recent events' text is kept.
    const KEEP: usize = 256;

    async fn text(&self, app: &App, e: &Envelope<LiveEvent>) -> Utf8Bytes {
        let lock = || self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, text)) = lock().iter().rev().find(|(id, _)| *id == e.id) {
            return text.clone();
        }
        // Made outside the lock; two subscribers racing for a new event may both make it.
        let text = Utf8Bytes::from(event_json(app, e).await.to_string());
        let mut cache = lock();
        if !cache.iter().any(|(id, _)| *id == e.id) {
            if cache.len() >= Self::KEEP {
                cache.pop_front();
            }
            cache.push_back((e.id, text.clone()));
        }
        text
    }
}

/// The next event for this subscriber as JSON text (its id, type and text), skipping what it
/// does not want.
async fn next_json(
    sub: &mut Subscription<LiveEvent>,
    filter: &Filter,
    cache: &JsonCache,
    app: &App,
) -> Option<(u64, &'static str, Utf8Bytes)> {
    loop {
        match sub.next().await? {
            Delivery::Event(e) if filter.wants(&e) => {
                return Some((e.id, e.event.type_name(), cache.text(app, &e).await));
            }
            Delivery::Event(_) => continue,
            Delivery::Gap { last_id } => return Some((last_id, "gap", Utf8Bytes::from(gap_json(last_id).to_string()))),
        }
    }
}

/// How long an event-stream ticket is good for.
pub const TICKET_LIFE: time::Duration = time::Duration::seconds(30);

/// `POST /api/v1/events/ticket`: a ticket to open the event stream once, within 30 seconds, as
/// the caller, from a client that cannot send an Authorization header.
pub async fn ticket(
    State(s): State<AppState>,
    Authed(_): Authed,
    headers: axum::http::HeaderMap,
) -> ApiResult<Json<crate::wire::session::TicketOut>> {
    let session = bearer_of(&headers).map(polis_core::auth::token_hash).unwrap_or_default();
    let ticket = s.app.issue_ticket(&session, polis_store::TicketPurpose::Events, TICKET_LIFE).await?;
    Ok(Json(crate::wire::session::TicketOut { ticket, expires_in_s: TICKET_LIFE.whole_seconds() }))
}

pub async fn events(State(s): State<AppState>, req: Request) -> ApiResult<Response> {
    let (mut parts, _) = req.into_parts();
    let q: HashMap<String, String> = parts
        .uri
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
                .map(|(k, v)| (k.to_string(), v.replace("%2C", ",").replace("%2c", ",")))
                .collect()
        })
        .unwrap_or_default();
    let (actor, end) = match q.get("ticket").filter(|t| !t.is_empty()) {
        Some(t) if !parts.headers.contains_key(header::AUTHORIZATION) => {
            let unknown = || Error::unauthenticated("this event ticket is unknown, used or expired");
            let session = s.app.take_event_ticket(t).await?.ok_or_else(unknown)?;
            s.app.authenticate_hash_watched(&session).await.map_err(|_| unknown())?
        }
        _ => {
            let token = bearer_of(&parts.headers)
                .ok_or_else(|| Error::unauthenticated("send Authorization: Bearer <token>"))?;
            s.app.authenticate_watched(token).await?
        }
    };
    let types = match q.get("types").filter(|t| !t.is_empty()) {
        None => None,
        Some(list) => {
            let mut set = HashSet::new();
            for t in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                if !LiveEvent::TYPES.contains(&t) {
                    return Err(Error::invalid(
                        "types",
                        format!("unknown event type {t:?}; expected some of: {}", LiveEvent::TYPES.join(", ")),
                    )
                    .into());
                }
                set.insert(t.to_string());
            }
            Some(set)
        }
    };
    let last_event_id = parts.headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_string);
    let after = match last_event_id.or_else(|| q.get("after").cloned()).filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => Some(v.trim().parse::<u64>().map_err(|_| Error::invalid("after", "must be an event id"))?),
    };
    let municipalities = id_list(&q, "municipality")?;
    if let Some(ms) = &municipalities {
        let reg = s.app.registry().await;
        for m in ms {
            // One the caller may not see is as unknown as one that does not exist.
            if !actor.sees(m) || !reg.is_municipality(m) || actor.role == polis_domain::Role::Agency {
                return Err(Error::not_found(format!("no municipality with id {m}"))
                    .with_details(vec![polis_base::FieldError::new("municipality", format!("no municipality {m}"))])
                    .into());
            }
        }
    }
    let sensors = id_list(&q, "sensors")?;
    if sensors.as_ref().is_some_and(|s| s.len() > MAX_WATCHED_SENSORS) {
        return Err(Error::invalid("sensors", format!("at most {MAX_WATCHED_SENSORS} sensors")).into());
    }
    let filter = Filter { types, municipalities, sensors, actor };
    let wants_ws = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if wants_ws {
        let ws = WebSocketUpgrade::from_request_parts(&mut parts, &s)
            .await
            .map_err(|e| ApiError(Error::invalid("upgrade", format!("bad WebSocket upgrade: {e}"))))?;
        let sub = s.app.bus().subscribe(after).await?;
        let cache = s.event_json.clone();
        let app = s.app.clone();
        return Ok(ws.on_upgrade(move |socket| websocket(socket, sub, filter, cache, end, app)));
    }
    let accepts_sse = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    if !accepts_sse {
        return Err(Error::invalid("accept", "ask for text/event-stream, or open a WebSocket").into());
    }
    let sub = s.app.bus().subscribe(after).await?;
    let cache = s.event_json.clone();
    let app = s.app.clone();
    let stream = futures::stream::unfold((sub, filter, cache, app), |(mut sub, filter, cache, app)| async move {
        let (id, ty, json) = next_json(&mut sub, &filter, &cache, &app).await?;
        let ev = SseEvent::default().id(id.to_string()).event(ty).data(json.as_str());
        Some((Ok::<_, Infallible>(ev), (sub, filter, cache, app)))
    });
    // The response ends when the session does.
    let mut end = end;
    let stream = futures::StreamExt::take_until(stream, Box::pin(async move { end.ended().await }));
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

async fn websocket(
    mut socket: WebSocket,
    mut sub: Subscription<LiveEvent>,
    filter: Filter,
    cache: JsonCache,
    mut end: SessionEnd,
    app: Arc<App>,
) {
    loop {
        tokio::select! {
            _ = end.ended() => {
                let close = axum::extract::ws::CloseFrame { code: 4401, reason: "the session has ended".into() };
                let _ = socket.send(Message::Close(Some(close))).await;
                break;
            }
            next = next_json(&mut sub, &filter, &cache, &app) => {
                let Some((_, _, json)) = next else { break };
                if socket.send(Message::Text(json)).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
            },
        }
    }
}
