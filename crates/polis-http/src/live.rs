//! Wire forms and handlers of live city data: observations, rules, alarms.

use crate::auth::Authed;
use crate::error::ApiResult;
use crate::routes::object;
use crate::wire::{self, Fields};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use polis_base::{Error, FieldError, Result};
use polis_core::intake::AlarmAction;
use polis_domain::rules::GeofenceTrigger;
use polis_domain::{Alarm, Condition, Id, LatLon, Observation, Role, Rule, RuleScope, SensorKind, Severity};
use polis_ingest::RawObservation;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn opt_time(t: Option<OffsetDateTime>) -> Value {
    t.map(|t| Value::String(rfc3339(t))).unwrap_or(Value::Null)
}

// ---- Observations ---------------------------------------------------------------------------

/// `POST /api/v1/observations`: a JSON array of `{"sensor", "time", "value"}` (or `"values":
/// {"pm25": .., "pm10": ..}`), or `{"observations": [...]}`. Answers once the accepted ones are
/// durable, listing each rejected one with its index, field and reason.
pub async fn post_observations(State(s): State<AppState>, Authed(a): Authed, body: Bytes) -> ApiResult<Json<Value>> {
    let v: Value = serde_json::from_slice(&body).map_err(|e| {
        Error::invalid("body", format!("malformed JSON at line {}, column {}: {e}", e.line(), e.column()))
    })?;
    let items = match v {
        Value::Array(a) => a,
        Value::Object(mut o) => match o.remove("observations") {
            Some(Value::Array(a)) => a,
            _ => return Err(Error::invalid("body", "send an array of observations").into()),
        },
        _ => return Err(Error::invalid("body", "send an array of observations").into()),
    };
    // Items that do not even have the shape of an observation are rejected here, by index.
    let mut batch = Vec::with_capacity(items.len());
    let mut index_of = Vec::with_capacity(items.len());
    let mut shape_rejects = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        match serde_json::from_value::<RawObservation>(item) {
            Ok(r) => {
                batch.push(r);
                index_of.push(i);
            }
            Err(e) => shape_rejects.push(json!({"index": i, "field": "observation", "reason": e.to_string()})),
        }
    }
    let report = s.app.ingest(Some(&a), None, batch).await?;
    let mut rejected: Vec<Value> = report
        .rejected
        .iter()
        .map(|r| json!({"index": index_of.get(r.index).copied().unwrap_or(r.index), "field": r.field, "reason": r.reason}))
        .collect();
    rejected.extend(shape_rejects);
    rejected.sort_by_key(|r| r["index"].as_u64());
    Ok(Json(json!({"accepted": report.accepted, "rejected": rejected, "alarms_changed": report.alarms_changed})))
}

fn param_time(q: &HashMap<String, String>, name: &str) -> Result<Option<OffsetDateTime>> {
    match q.get(name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => OffsetDateTime::parse(v, &Rfc3339)
            .map(Some)
            .map_err(|_| Error::invalid(name, format!("{v:?} is not an RFC 3339 time"))),
    }
}

/// `GET /api/v1/sensors/{id}/observations?from&to&step&quantity`: raw readings, or with
/// `step` (`1m`, `1h`, or seconds) aggregated buckets with min, max, avg and count.
pub async fn sensor_observations(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let id = Id::parse("id", &id)?;
    let sensor: polis_domain::Sensor = s.app.get(&a, &id).await?;
    if s.app.is_sos_tracker(&id) && !matches!(a.role, Role::Admin | Role::Supervisor | Role::Operator) {
        return Err(
            Error::permission_denied("an SOS device's track is for operators, supervisors and administrators").into()
        );
    }
    let now = s.app.clock().now();
    let to = param_time(&q, "to")?.unwrap_or(now + time::Duration::minutes(1));
    let from = param_time(&q, "from")?.unwrap_or(to - time::Duration::hours(24));
    if from >= to {
        return Err(Error::invalid("from", "must be before to").into());
    }
    let quantity = q.get("quantity").filter(|v| !v.is_empty()).map(String::as_str);
    let step = match q.get("step").map(String::as_str).filter(|v| !v.is_empty() && *v != "raw") {
        None => None,
        Some("1m") | Some("minute") => Some(time::Duration::minutes(1)),
        Some("1h") | Some("hour") => Some(time::Duration::hours(1)),
        Some(v) => match v.parse::<i64>() {
            Ok(secs) if (1..=86_400 * 31).contains(&secs) => Some(time::Duration::seconds(secs)),
            _ => return Err(Error::invalid("step", "use raw, 1m, 1h or a number of seconds").into()),
        },
    };
    let base = json!({"sensor": sensor.id.as_str(), "unit": sensor.unit, "kind": sensor.kind.as_str(),
                      "quantity": quantity, "from": rfc3339(from), "to": rfc3339(to)});
    let mut out = match base {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    match step {
        None => {
            let obs = s.app.store().observations(&id, quantity, from, to, 10_000).await?;
            out.insert("step".into(), "raw".into());
            out.insert(
                "points".into(),
                obs.iter().map(|o| json!({"time": rfc3339(o.time()), "value": o.value()})).collect(),
            );
        }
        Some(step) => {
            let buckets = s.app.store().observation_buckets(&id, quantity, from, to, step).await?;
            out.insert("step".into(), json!(step.whole_seconds()));
            out.insert(
                "points".into(),
                buckets
                    .iter()
                    .map(|b| json!({"time": rfc3339(b.start), "min": b.min, "max": b.max, "avg": b.avg, "count": b.count}))
                    .collect(),
            );
        }
    }
    Ok(Json(Value::Object(out)))
}

pub fn observation_json(o: &Observation) -> Value {
    json!({
        "sensor": o.sensor().as_str(),
        "time": rfc3339(o.time()),
        "quantity": o.quantity(),
        "value": o.value(),
        "lat": o.position().map(|p| p.lat()),
        "lon": o.position().map(|p| p.lon()),
    })
}

// ---- Rules ----------------------------------------------------------------------------------

fn ring_from(v: &Value, field: &str) -> std::result::Result<Vec<LatLon>, FieldError> {
    // A GeoJSON Polygon geometry or a bare ring of [lon, lat] pairs.
    let g = if v.get("type").is_some() { v.clone() } else { json!({"type": "Polygon", "coordinates": [v]}) };
    match wire::geometry_from(&g) {
        Ok(polis_domain::SiteGeometry::Polygon(r)) => Ok(r),
        Ok(_) => Err(FieldError::new(field, "must be a polygon")),
        Err(e) => Err(FieldError::new(field, e.message)),
    }
}

fn condition_from(v: Option<&Value>, errs: &mut Vec<FieldError>) -> Option<Condition> {
    let Some(Value::Object(m)) = v else {
        errs.push(FieldError::new("condition", "is required: an object with a type"));
        return None;
    };
    let mut f = Fields::new(m);
    let ty = f.str("type");
    let c = match ty.as_deref() {
        Some("threshold") | Some("duration") => {
            let above = f.opt_f64("above");
            let below = f.opt_f64("below");
            let hysteresis = f.opt_f64("hysteresis").unwrap_or(0.0);
            if ty.as_deref() == Some("threshold") {
                Some(Condition::Threshold { above, below, hysteresis })
            } else {
                let minutes = f.opt_int("minutes").unwrap_or(0).clamp(0, u32::MAX as i64) as u32;
                Some(Condition::Duration { above, below, hysteresis, minutes })
            }
        }
        Some("rate_of_change") => Some(Condition::RateOfChange {
            max_per_minute: f.f64("max_per_minute").unwrap_or(0.0),
            window_minutes: f.opt_int("window_minutes").unwrap_or(5).clamp(0, u32::MAX as i64) as u32,
        }),
        Some("silence") => {
            Some(Condition::Silence { minutes: f.opt_int("minutes").unwrap_or(0).clamp(0, u32::MAX as i64) as u32 })
        }
        Some("geofence") => {
            let zone = match m.get("zone") {
                Some(z) => match ring_from(z, "condition.zone") {
                    Ok(r) => Some(r),
                    Err(e) => {
                        f.errors.push(e);
                        None
                    }
                },
                None => {
                    f.problem("zone", "is required");
                    None
                }
            };
            let trigger = match f.opt_str("trigger") {
                Some(t) => f.absorb(GeofenceTrigger::parse("trigger", &t)),
                None => Some(GeofenceTrigger::Enter),
            };
            zone.zip(trigger).map(|(zone, trigger)| Condition::Geofence { zone, trigger })
        }
        Some(other) => {
            f.problem(
                "type",
                format!("unknown condition type {other:?}; expected threshold, duration, rate_of_change, silence or geofence"),
            );
            None
        }
        None => None,
    };
    errs.extend(f.errors.into_iter().map(|mut e| {
        if !e.field.starts_with("condition") {
            e.field = format!("condition.{}", e.field);
        }
        e
    }));
    c
}

/// A rule from its JSON form; `id` from the path on updates.
pub fn rule_from(m: &Map<String, Value>, id: Option<&Id>, default_municipality: Option<&Id>) -> Result<Rule> {
    let mut f = Fields::new(m);
    let id = match id {
        Some(i) => Some(i.clone()),
        None if f.has("id") => f.opt_id("id"),
        None => Some(polis_core::registry::new_id("rule")),
    };
    let municipality = f.opt_id("municipality").or_else(|| default_municipality.cloned());
    if municipality.is_none() {
        f.problem("municipality", "is required: this server has several municipalities");
    }
    let name = f.str("name");
    let scope = match (f.opt_id("sensor"), f.opt_str("sensor_kind")) {
        (Some(s), None) => Some(RuleScope::Sensor(s)),
        (None, Some(k)) => {
            let kind = f.absorb(SensorKind::parse("sensor_kind", &k));
            let zone = match m.get("zone").filter(|z| !z.is_null()) {
                None => Some(None),
                Some(z) => match ring_from(z, "zone") {
                    Ok(r) => Some(Some(r)),
                    Err(e) => {
                        f.errors.push(e);
                        None
                    }
                },
            };
            kind.zip(zone).map(|(kind, zone)| RuleScope::Kind { kind, zone })
        }
        (Some(_), Some(_)) => {
            f.problem("sensor", "give either sensor or sensor_kind, not both");
            None
        }
        (None, None) => {
            f.problem("sensor", "give a sensor id, or a sensor_kind (with an optional zone)");
            None
        }
    };
    let severity = match f.opt_str("severity") {
        Some(v) => f.absorb(Severity::parse("severity", &v)),
        None => Some(Severity::Major),
    };
    let quantity = f.opt_str("quantity");
    let enabled = f.opt_bool("enabled").unwrap_or(true);
    let mut errs = std::mem::take(&mut f.errors);
    let condition = condition_from(m.get("condition"), &mut errs);
    let rule = (|| {
        Some(Rule {
            id: id?,
            municipality: municipality?,
            name: name?,
            version: 1,
            enabled,
            scope: scope?,
            quantity,
            condition: condition?,
            severity: severity?,
        })
    })();
    match rule {
        Some(r) if errs.is_empty() => Ok(r),
        _ => {
            if errs.is_empty() {
                errs.push(FieldError::new("?", "invalid rule"));
            }
            Err(Error::invalid_fields("invalid rule", errs))
        }
    }
}

fn ring_json(r: &[LatLon]) -> Value {
    wire::site_geometry(&polis_domain::SiteGeometry::Polygon(r.to_vec()))
}

pub fn rule_json(r: &Rule) -> Value {
    let condition = match &r.condition {
        Condition::Threshold { above, below, hysteresis } => {
            json!({"type": "threshold", "above": above, "below": below, "hysteresis": hysteresis})
        }
        Condition::Duration { above, below, hysteresis, minutes } => {
            json!({"type": "duration", "above": above, "below": below, "hysteresis": hysteresis, "minutes": minutes})
        }
        Condition::RateOfChange { max_per_minute, window_minutes } => {
            json!({"type": "rate_of_change", "max_per_minute": max_per_minute, "window_minutes": window_minutes})
        }
        Condition::Silence { minutes } => json!({"type": "silence", "minutes": minutes}),
        Condition::Geofence { zone, trigger } => {
            json!({"type": "geofence", "zone": ring_json(zone), "trigger": trigger.as_str()})
        }
    };
    let (sensor, kind, zone) = match &r.scope {
        RuleScope::Sensor(s) => (Some(s.as_str()), None, Value::Null),
        RuleScope::Kind { kind, zone } => {
            (None, Some(kind.as_str()), zone.as_deref().map(ring_json).unwrap_or(Value::Null))
        }
    };
    json!({
        "id": r.id.as_str(), "municipality": r.municipality.as_str(), "name": r.name, "version": r.version,
        "enabled": r.enabled, "sensor": sensor, "sensor_kind": kind, "zone": zone, "quantity": r.quantity,
        "condition": condition, "severity": r.severity.as_str(),
    })
}

pub async fn list_rules(State(s): State<AppState>, Authed(a): Authed) -> ApiResult<Json<Value>> {
    Ok(Json(s.app.rules(&a).await?.iter().map(rule_json).collect()))
}

pub async fn get_rule(State(s): State<AppState>, Authed(a): Authed, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(rule_json(&s.app.rule(&a, &Id::parse("id", &id)?).await?)))
}

/// A new rule from a body as for `POST /rules`: a rule for one sensor belongs to the sensor's
/// municipality unless it says otherwise.
pub(crate) async fn rule_input(s: &AppState, a: &polis_domain::Actor, body: &[u8]) -> Result<Rule> {
    let m = object(body)?;
    let sensor = m.get("sensor").and_then(Value::as_str).and_then(|s| Id::parse("sensor", s).ok());
    let default = match sensor {
        Some(id) => match s.app.get::<polis_domain::Sensor>(a, &id).await {
            Ok(sensor) => Some(sensor.municipality),
            Err(_) => s.app.default_municipality(a).await,
        },
        None => s.app.default_municipality(a).await,
    };
    rule_from(&m, None, default.as_ref())
}

pub async fn create_rule(State(s): State<AppState>, Authed(a): Authed, body: Bytes) -> ApiResult<Response> {
    let rule = rule_input(&s, &a, &body).await?;
    if s.app.rule(&a, &rule.id).await.is_ok() {
        return Err(Error::already_exists(format!("a rule with id {} exists; PATCH it", rule.id))
            .with_details(vec![FieldError::new("id", "exists")])
            .into());
    }
    let rule = s.app.put_rule(&a, rule).await?;
    Ok((StatusCode::CREATED, Json(rule_json(&rule))).into_response())
}

pub async fn patch_rule(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let id = Id::parse("id", &id)?;
    let before = s.app.rule(&a, &id).await?;
    let changes = object(&body)?;
    let mut merged = match rule_json(&before) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    // Scope fields replace each other.
    if changes.contains_key("sensor") {
        merged.remove("sensor_kind");
        merged.remove("zone");
    }
    if changes.contains_key("sensor_kind") {
        merged.remove("sensor");
    }
    merged.extend(changes);
    let rule = rule_from(&merged, Some(&id), Some(&before.municipality))?;
    Ok(Json(rule_json(&s.app.put_rule(&a, rule).await?)))
}

pub async fn delete_rule(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.app.delete_rule(&a, &Id::parse("id", &id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- Alarms ---------------------------------------------------------------------------------

/// An alarm's wire form (as on the event stream).
pub fn alarm_json_plain(al: &Alarm) -> Value {
    json!({
        "id": al.id.as_str(), "municipality": al.municipality.as_str(), "rule": al.rule.as_str(),
        "rule_version": al.rule_version, "source": al.source.as_str(), "severity": al.severity.as_str(),
        "state": al.state.as_str(), "message": al.message, "first_seen": rfc3339(al.first_seen),
        "last_seen": rfc3339(al.last_seen), "count": al.count, "value": al.value,
        "lat": al.location.map(|p| p.lat()), "lon": al.location.map(|p| p.lon()),
        "acknowledged_by": al.acknowledged_by, "acknowledged_at": opt_time(al.acknowledged_at),
        "cleared_at": opt_time(al.cleared_at), "cleared_by": al.cleared_by, "clear_reason": al.clear_reason,
        "comments": al.comments.iter().map(|c| json!({"at": rfc3339(c.at), "by": c.by, "text": c.text})).collect::<Vec<_>>(),
    })
}

/// An alarm with the cameras that see its source (nearest first), for the API.
pub async fn alarm_json(s: &AppState, a: &polis_domain::Actor, al: &Alarm) -> Value {
    let cameras = match al.location {
        Some(p) => s.app.cameras_seeing(a, p, 5).await.unwrap_or_default(),
        None => Vec::new(),
    };
    let mut v = alarm_json_plain(al);
    v["cameras"] = cameras_json(cameras.iter().map(|(c, d)| (c, *d)));
    v
}

fn cameras_json<'a>(cameras: impl Iterator<Item = (&'a polis_domain::Camera, f64)>) -> Value {
    cameras
        .map(|(c, d)| json!({"id": c.id.as_str(), "name": c.name, "distance_m": (d * 10.0).round() / 10.0}))
        .collect()
}

/// An alarm as the event stream carries it: like the API's form, with the cameras of the alarm's
/// municipality that see its source when the event is sent (the same for every receiver).
pub async fn alarm_json_for_stream(app: &polis_core::App, al: &Alarm) -> Value {
    let mut v = alarm_json_plain(al);
    v["cameras"] = match al.location {
        Some(p) => {
            let reg = app.registry().await;
            let hits = reg.camera_index.seeing(p, Some(&al.municipality), 5);
            cameras_json(hits.iter().filter_map(|h| reg.cameras.get(&h.id).map(|c| (c, h.distance_m))))
        }
        None => Value::Array(Vec::new()),
    };
    v
}

/// `GET /api/v1/alarms?state=active|open|all|<one state>`.
pub async fn list_alarms(
    State(s): State<AppState>,
    Authed(a): Authed,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let filter = q.get("state").map(String::as_str).unwrap_or("open");
    // Closed alarms (cleared and acknowledged) are only in the full list.
    let open_only = !matches!(filter, "all" | "cleared" | "cleared_acknowledged");
    let limit = match q.get("limit").filter(|v| !v.is_empty()) {
        None => 500,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| Error::invalid("limit", "must be a whole number from 1 to 10000"))?,
    };
    let keep = |al: &Alarm| -> bool {
        match filter {
            "all" => true,
            "open" => al.is_open(),
            "active" => al.is_active(),
            "cleared" => !al.is_active(),
            other => al.state.as_str() == other,
        }
    };
    if !matches!(filter, "all" | "open" | "active" | "cleared")
        && polis_domain::AlarmState::parse("state", filter).is_err()
    {
        return Err(Error::invalid("state", "use open, active, cleared, all or an alarm state").into());
    }
    let alarms = s.app.alarms(&a, open_only, limit).await?;
    let mut out = Vec::new();
    for al in alarms.iter().filter(|al| keep(al)) {
        out.push(alarm_json(&s, &a, al).await);
    }
    Ok(Json(Value::Array(out)))
}

pub async fn get_alarm(State(s): State<AppState>, Authed(a): Authed, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let al = s.app.alarm(&a, &Id::parse("id", &id)?).await?;
    Ok(Json(alarm_json(&s, &a, &al).await))
}

async fn act(s: &AppState, a: &polis_domain::Actor, id: &str, action: AlarmAction) -> ApiResult<Json<Value>> {
    let al = s.app.alarm_action(a, &Id::parse("id", id)?, action).await?;
    Ok(Json(alarm_json(s, a, &al).await))
}

pub async fn ack_alarm(State(s): State<AppState>, Authed(a): Authed, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    act(&s, &a, &id, AlarmAction::Acknowledge).await
}

fn text_field(body: &[u8], name: &str) -> Result<String> {
    let m = object(body)?;
    let mut f = Fields::new(&m);
    match f.str(name) {
        Some(t) => Ok(t),
        None => Err(Error::invalid_fields(format!("{name} is required"), f.errors)),
    }
}

pub async fn comment_alarm(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    act(&s, &a, &id, AlarmAction::Comment(text_field(&body, "text")?)).await
}

pub async fn clear_alarm(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    act(&s, &a, &id, AlarmAction::Clear(text_field(&body, "reason")?)).await
}
