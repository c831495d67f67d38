//! Administration routes: users (list, one, change: disable and re-enable, reset a password,
//! role and organisation) and the audit log searched by actor, action, object and time, as JSON
//! or CSV. Wire types are serde-derived here; passwords and hashes never appear in them.

use crate::auth::Authed;
use crate::error::ApiResult;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use polis_base::{Error, Result};
use polis_core::accounts::UserChange;
use polis_domain::{Id, Role, User};
use polis_store::{AuditEntry, AuditFilter};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// A user as administrators see them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = User)]
pub struct UserOut {
    pub id: String,
    pub username: String,
    #[schema(schema_with = role_schema)]
    pub role: &'static str,
    /// The user's municipality (null: region-wide, administrators only)
    pub municipality: Option<String>,
    pub agency: Option<String>,
    /// A disabled user cannot sign in and has no working session (not in the login answer)
    pub disabled: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When the user last signed in (null: never)
    #[schema(format = DateTime)]
    pub last_login_at: Option<String>,
}

/// A role's schema: one of the roles' names.
pub(crate) fn role_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(Role::ALL.iter().map(|r| r.as_str())))
        .build()
}

impl From<&User> for UserOut {
    fn from(u: &User) -> Self {
        UserOut {
            id: u.id.to_string(),
            username: u.username.clone(),
            role: u.role.as_str(),
            municipality: u.municipality.as_ref().map(Id::to_string),
            agency: u.agency.as_ref().map(Id::to_string),
            disabled: u.disabled,
            created_at: rfc3339(u.created_at),
            last_login_at: u.last_login_at.map(rfc3339),
        }
    }
}

/// Reads a present field as `Some`: with `T = Option<U>`, `Some(None)` for an explicit `null`
/// (`None` when absent); with a plain `T`, `null` is refused.
pub(crate) fn explicit<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// `PATCH /users/{id}`: every field optional; `null` only where nullable.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    // `null` is refused where the document does not say `nullable` (`explicit` reads a value).
    /// true: disable (at once every token of the user answers 401, their event streams, live
    /// video and tickets end); false: enable again
    #[serde(default, deserialize_with = "explicit")]
    #[schema(nullable = false)]
    pub disabled: Option<bool>,
    #[serde(default, deserialize_with = "explicit")]
    #[schema(schema_with = role_schema)]
    pub role: Option<String>,
    /// The user's municipality (null or empty: region-wide, administrators only)
    #[serde(default, deserialize_with = "explicit")]
    pub municipality: Option<Option<String>>,
    /// The user's agency (null or empty: none)
    #[serde(default, deserialize_with = "explicit")]
    pub agency: Option<Option<String>>,
    /// A new password (the user's sessions end); never returned or logged
    #[serde(default, deserialize_with = "explicit")]
    #[schema(nullable = false, min_length = 8, max_length = 1024)]
    pub password: Option<String>,
}

/// A JSON object body into `T` (all of whose fields are optional), naming the field at fault.
pub(crate) fn parse_object<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    let obj = crate::routes::object(body)?;
    match serde_json::from_value::<T>(Value::Object(obj.clone())) {
        Ok(t) => Ok(t),
        Err(e) => {
            for (k, v) in &obj {
                let one: Map<String, Value> = std::iter::once((k.clone(), v.clone())).collect();
                if let Err(e) = serde_json::from_value::<T>(Value::Object(one)) {
                    let msg = e.to_string();
                    if msg.starts_with("missing field") {
                        // About another field, which this one-field object lacks: not about `k`.
                        continue;
                    }
                    let msg =
                        if msg.starts_with("unknown field") { "is not a field of this request".into() } else { msg };
                    return Err(Error::invalid(k.as_str(), msg));
                }
            }
            let msg = e.to_string();
            match msg.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()) {
                Some(field) => Err(Error::invalid(field, "is required")),
                None => Err(Error::invalid("body", msg)),
            }
        }
    }
}

fn opt_id(field: &str, v: Option<Option<String>>) -> Result<Option<Option<Id>>> {
    match v {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(s)) if s.is_empty() => Ok(Some(None)),
        Some(Some(s)) => Ok(Some(Some(Id::parse(field, &s)?))),
    }
}

impl UserPatch {
    fn into_change(self) -> Result<UserChange> {
        Ok(UserChange {
            disabled: self.disabled,
            role: self.role.map(|r| Role::parse("role", &r)).transpose()?,
            municipality: opt_id("municipality", self.municipality)?,
            agency: opt_id("agency", self.agency)?,
            password: self.password,
        })
    }
}

/// `GET /users`: the users the caller administers.
#[utoipa::path(tag = "users", get, path = "/users", summary = "Users (administrators)",
    responses(
        (status = 200, description = "List", body = Vec<UserOut>),
        (status = 401, response = crate::doc::ErrorResponse),
        (status = 403, response = crate::doc::ErrorResponse),
    ))]
pub(crate) async fn list_users(State(s): State<AppState>, Authed(a): Authed) -> ApiResult<Json<Vec<UserOut>>> {
    let users = s.app.users(&a).await?;
    Ok(Json(users.iter().map(UserOut::from).collect()))
}

/// `GET /users/{id}`.
#[utoipa::path(tag = "users", get, path = "/users/{id}",
    summary = "One user (administrators of the user's municipality, or region-wide)",
    params(("id" = String, Path, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")),
    responses(
        (status = 200, description = "User", body = UserOut),
        (status = 400, response = crate::doc::ErrorResponse),
        (status = 401, response = crate::doc::ErrorResponse),
        (status = 403, response = crate::doc::ErrorResponse),
        (status = 404, response = crate::doc::ErrorResponse),
    ))]
pub(crate) async fn get_user(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
) -> ApiResult<Json<UserOut>> {
    let id = crate::routes::parse_id("id", &id)?;
    Ok(Json(UserOut::from(&s.app.user(&a, &id).await?)))
}

/// `PATCH /users/{id}`: disable (`{"disabled": true}`: at once every token of the user answers
/// 401 and their event streams and live video end), re-enable, reset the password, change role,
/// municipality or agency.
#[utoipa::path(tag = "users", patch, path = "/users/{id}",
    summary = "Change a user (administrators)",
    description = "Disable (at once every token of the user answers 401, their event streams, live video and \
        tickets end; sign-in is refused saying the account is disabled), re-enable, reset the password (their \
        sessions end), change role, municipality or agency. An administrator cannot disable themselves or \
        change their own role or organisation, nor remove the last active region-wide administrator (409). \
        Audited as user.disable, user.enable, user.password_reset, user.update.",
    params(("id" = String, Path, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")),
    request_body = UserPatch,
    responses(
        (status = 200, description = "The user as changed", body = UserOut),
        (status = 400, response = crate::doc::ErrorResponse),
        (status = 401, response = crate::doc::ErrorResponse),
        (status = 403, response = crate::doc::ErrorResponse),
        (status = 404, response = crate::doc::ErrorResponse),
        (status = 409, response = crate::doc::ErrorResponse),
        (status = 413, response = crate::doc::TooLargeResponse),
    ))]
pub(crate) async fn patch_user(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<UserOut>> {
    let id = crate::routes::parse_id("id", &id)?;
    let change = parse_object::<UserPatch>(&body)?.into_change()?;
    let user = s.app.update_user(&a, &id, change).await?;
    Ok(Json(UserOut::from(&user)))
}

// ---- Audit log ---------------------------------------------------------------------------------

/// One audit record on the wire; `before` and `after` are the JSON snapshots (secrets removed).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = AuditEntry)]
pub struct AuditOut {
    pub seq: i64,
    #[schema(format = DateTime)]
    pub at: String,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    pub municipality: Option<String>,
    /// The item before the change (any JSON value: an object, or for some actions a summary or a
    /// name), or null
    pub before: Option<Value>,
    /// The item after the change (any JSON value), or null
    pub after: Option<Value>,
}

/// The filters of `GET /audit` and `GET /audit.csv`, each an exact match and optional (an empty
/// value is absent). The names are written only here: the document's parameters and the
/// parsing ([`audit_filter`]) both come from this struct.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only changes by this username
    #[param(nullable = false)]
    pub actor: Option<String>,
    /// An action (camera.update), or an entity without a dot (camera: every action on cameras)
    #[param(nullable = false)]
    pub action: Option<String>,
    /// Only changes of the item with this id
    #[param(nullable = false)]
    pub object: Option<String>,
    /// Records at or after this time (RFC 3339)
    #[param(value_type = String, format = DateTime, required = false)]
    pub from: Option<String>,
    /// Records before this time (RFC 3339)
    #[param(value_type = String, format = DateTime, required = false)]
    pub to: Option<String>,
    /// Records older than this sequence number (to page back)
    #[param(value_type = i64, required = false)]
    pub before: Option<String>,
    /// At most this many (default 100; for the CSV export 10000, the most)
    #[param(value_type = i64, required = false)]
    pub limit: Option<String>,
}

impl AuditQuery {
    /// The filters from the query's parameters (others are ignored); a filter given twice is
    /// refused, naming it (`?limit=5&limit=` is not "no limit").
    fn of(pairs: &[(String, String)]) -> Result<AuditQuery> {
        let mut q = HashMap::new();
        for (k, v) in pairs {
            if q.insert(k.as_str(), v.as_str()).is_some() {
                return Err(Error::invalid(k.as_str(), "is given more than once"));
            }
        }
        serde_json::to_value(q).and_then(serde_json::from_value).map_err(|e| Error::invalid("query", e.to_string()))
    }
}

impl From<&AuditEntry> for AuditOut {
    fn from(e: &AuditEntry) -> Self {
        let r = &e.record;
        let parse = |s: &Option<String>| s.as_deref().and_then(|t| serde_json::from_str::<Value>(t).ok());
        AuditOut {
            seq: e.seq,
            at: rfc3339(r.at),
            actor: r.actor.clone(),
            action: r.action.clone(),
            entity: r.entity.clone(),
            entity_id: r.entity_id.clone(),
            municipality: r.municipality.as_ref().map(Id::to_string),
            before: parse(&r.before),
            after: parse(&r.after),
        }
    }
}

/// The most records one search returns.
const AUDIT_MAX: u32 = 10_000;

fn audit_filter(q: &AuditQuery) -> Result<AuditFilter> {
    let text = |name: &str, v: &Option<String>| -> Result<Option<String>> {
        match v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) if v.len() > 200 => Err(Error::invalid(name, "at most 200 characters")),
            Some(v) => Ok(Some(v.to_string())),
        }
    };
    // Only an empty value means "absent": a value of whitespace (even Unicode's, `%C2%85`) is
    // checked like any other and refused.
    let time = |name: &str, v: &Option<String>| -> Result<Option<OffsetDateTime>> {
        match v.as_deref().filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => OffsetDateTime::parse(v, &Rfc3339)
                .map(Some)
                .map_err(|_| Error::invalid(name, format!("{v:?} is not an RFC 3339 time"))),
        }
    };
    let number = |name: &str, v: &Option<String>, max: i64| -> Result<Option<i64>> {
        match v.as_deref().filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => match v.parse::<i64>() {
                Ok(n) if (1..=max).contains(&n) => Ok(Some(n)),
                _ => Err(Error::invalid(name, format!("must be a whole number from 1 to {max}"))),
            },
        }
    };
    let (from, to) = (time("from", &q.from)?, time("to", &q.to)?);
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(Error::invalid("to", "must not be before from"));
        }
    }
    Ok(AuditFilter {
        municipality: None,
        actor: text("actor", &q.actor)?,
        action: text("action", &q.action)?,
        object: text("object", &q.object)?,
        from,
        to,
        before_seq: number("before", &q.before, i64::MAX)?,
        limit: number("limit", &q.limit, i64::from(AUDIT_MAX))?.map_or(100, |n| n as u32),
    })
}

/// `GET /audit?actor=&action=&object=&from=&to=&limit=&before=`: the audit log, newest first,
/// filtered (each filter an exact match; `action` without a `.` is an entity: `user` matches
/// `user.disable`), scoped to the caller's municipality.
#[utoipa::path(tag = "audit", get, path = "/audit",
    summary = "The audit log, newest first, filtered (administrators and supervisors, scoped to their municipality)",
    params(AuditQuery),
    responses(
        (status = 200, description = "Entries", body = Vec<AuditOut>),
        (status = 400, response = crate::doc::ErrorResponse),
        (status = 401, response = crate::doc::ErrorResponse),
        (status = 403, response = crate::doc::ErrorResponse),
    ))]
pub(crate) async fn audit(
    State(s): State<AppState>,
    Authed(a): Authed,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Vec<AuditOut>>> {
    let entries = s.app.search_audit(&a, audit_filter(&AuditQuery::of(&q)?)?).await?;
    Ok(Json(entries.iter().map(AuditOut::from).collect()))
}

/// A CSV cell that a spreadsheet shows as text: one starting with `=`, `+`, `-`, `@`, a tab or a
/// carriage return (which a spreadsheet would run as a formula) gets a leading `'`.
pub fn csv_cell(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    }
}

const AUDIT_CSV_COLUMNS: &[&str] =
    &["seq", "at", "actor", "action", "entity", "entity_id", "municipality", "before", "after"];

fn audit_csv(entries: &[AuditEntry]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| Error::internal("writing CSV failed").with_source(e);
    w.write_record(AUDIT_CSV_COLUMNS).map_err(io)?;
    for e in entries {
        let r = &e.record;
        let rec = [
            e.seq.to_string(),
            rfc3339(r.at),
            r.actor.clone(),
            r.action.clone(),
            r.entity.clone(),
            r.entity_id.clone(),
            r.municipality.as_ref().map(Id::to_string).unwrap_or_default(),
            r.before.clone().unwrap_or_default(),
            r.after.clone().unwrap_or_default(),
        ];
        w.write_record(rec.iter().map(|c| csv_cell(c))).map_err(io)?;
    }
    w.into_inner().map_err(|e| Error::internal("writing CSV failed").with_source(e.into_error()))
}

/// `GET /audit.csv` with the filters of `/audit`: the same records as CSV, cells escaped so that
/// a spreadsheet runs none of them as a formula.
#[utoipa::path(tag = "audit", get, path = "/audit.csv",
    summary = "The audit log as CSV, with the filters of /audit (cells a spreadsheet would run as formulas start with ')",
    params(AuditQuery),
    responses(
        (status = 200, description = "CSV: seq, at, actor, action, entity, entity_id, municipality, before, after",
            content_type = "text/csv", body = String),
        (status = 400, response = crate::doc::ErrorResponse),
        (status = 401, response = crate::doc::ErrorResponse),
        (status = 403, response = crate::doc::ErrorResponse),
    ))]
pub(crate) async fn audit_csv_export(
    State(s): State<AppState>,
    Authed(a): Authed,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let q = AuditQuery::of(&q)?;
    let mut filter = audit_filter(&q)?;
    if q.limit.as_deref().is_none_or(str::is_empty) {
        filter.limit = AUDIT_MAX;
    }
    let entries = s.app.search_audit(&a, filter).await?;
    let body = audit_csv(&entries)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"audit.csv\""),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_escaped_and_others_kept() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("\tx"), "'\tx");
        assert_eq!(csv_cell("camera.update"), "camera.update");
        assert_eq!(csv_cell(""), "");
    }

    #[test]
    fn a_patch_names_the_field_at_fault() {
        let e = parse_object::<UserPatch>(br#"{"disabled": "yes"}"#).unwrap_err();
        assert_eq!(e.details[0].field, "disabled");
        let e = parse_object::<UserPatch>(br#"{"role": "admin", "colour": "red"}"#).unwrap_err();
        assert_eq!(e.details[0].field, "colour");
        let p = parse_object::<UserPatch>(br#"{"municipality": null}"#).unwrap();
        assert_eq!(p.municipality, Some(None));
        let p = parse_object::<UserPatch>(br#"{}"#).unwrap();
        assert_eq!(p.municipality, None);
    }
}
