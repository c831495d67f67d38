//! The served OpenAPI document: the hand-written `openapi.json` with the areas generated from
//! their wire types and handlers (`utoipa`, without its Swagger UI crate) merged in, so those
//! areas cannot drift from the code. Generated so far: users (`GET /users`, `GET` and
//! `PATCH /users/{id}`, the schemas `User`, `UserPatch` and `SessionUser`, which the
//! written login and `/me` operations refer to) and the audit log (`GET /audit`,
//! `GET /audit.csv`, their filters from one `IntoParams` struct, the schema `AuditEntry`) and ONVIF
//! and PTZ (`crate::ptz`: links, probe, discovery, PTZ state, commands and presets), the rule
//! preview (`crate::preview`) and SOS devices (`crate::sos`). A generated operation or schema must
//! not also be written by hand in `openapi.json` (`tests/it/contract.rs` checks it), and the
//! router-document and response checks run against the merged document.
//!
//! utoipa writes OpenAPI 3.1 and the document is 3.0: [`to_openapi_30`] turns `type: [T, "null"]`
//! and `oneOf: [{type: null}, X]` into `nullable: true`.

use serde_json::{json, Map, Value};
use std::sync::LazyLock;
use utoipa::openapi::{RefOr, Response, ResponseBuilder};
use utoipa::OpenApi;

/// `#/components/responses/Error`: the JSON error of every 4xx and 5xx (written in the document).
pub struct ErrorResponse;

impl<'r> utoipa::ToResponse<'r> for ErrorResponse {
    fn response() -> (&'r str, RefOr<Response>) {
        ("Error", ResponseBuilder::new().description("An error").build().into())
    }
}

/// `#/components/responses/TooLarge`: a body over its route's limit (written in the document).
pub struct TooLargeResponse;

impl<'r> utoipa::ToResponse<'r> for TooLargeResponse {
    fn response() -> (&'r str, RefOr<Response>) {
        ("TooLarge", ResponseBuilder::new().description("The body is too large").build().into())
    }
}

/// The pattern of ids in paths (`polis_domain::Id`).
pub const ID_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";

/// The users' area: administrators list, read and change users.
#[derive(OpenApi)]
#[openapi(
    paths(crate::admin::list_users, crate::admin::get_user, crate::admin::patch_user),
    components(schemas(crate::admin::UserOut, crate::admin::UserPatch, crate::wire::session::UserOut))
)]
pub struct UsersArea;

/// The audit log: searched as JSON or exported as CSV, with the same filters.
#[derive(OpenApi)]
#[openapi(paths(crate::admin::audit, crate::admin::audit_csv_export), components(schemas(crate::admin::AuditOut)))]
pub struct AuditArea;

/// ONVIF and PTZ: a camera's link, discovery and probing, control of PTZ cameras.
#[derive(OpenApi)]
#[openapi(
    paths(
        crate::ptz::get_link,
        crate::ptz::put_link,
        crate::ptz::delete_link,
        crate::ptz::probe,
        crate::ptz::discover,
        crate::ptz::state,
        crate::ptz::command,
        crate::ptz::release,
        crate::ptz::presets
    ),
    components(schemas(
        crate::ptz::OnvifLinkOut,
        crate::ptz::OnvifLinkIn,
        crate::ptz::ProbeIn,
        crate::ptz::ProfileOut,
        crate::ptz::DeviceOut,
        crate::ptz::DiscoverIn,
        crate::ptz::DiscoveredOut,
        crate::ptz::HolderOut,
        crate::ptz::AimOut,
        crate::ptz::PtzStateOut,
        crate::ptz::PresetOut,
        crate::ptz::PtzCommandIn
    ))
)]
pub struct PtzArea;

/// Rules: the preview of a rule over past readings.
#[derive(OpenApi)]
#[openapi(
    paths(crate::preview::preview_rule),
    components(schemas(crate::preview::PreviewOut, crate::preview::PreviewEventOut))
)]
pub struct RulesArea;

/// SOS devices: registration with safe zones and check-in, removal, position reports.
#[derive(OpenApi)]
#[openapi(
    paths(crate::sos::list_sos, crate::sos::put_sos, crate::sos::delete_sos, crate::sos::post_position),
    components(schemas(
        crate::sos::SosDeviceOut,
        crate::sos::SosDeviceIn,
        crate::sos::ProfileWire,
        crate::sos::SafeZoneWire,
        crate::sos::PositionIn,
        crate::sos::PositionOut
    ))
)]
pub struct SosArea;

/// Every generated area in the document's dialect: `{"paths": {...}, "schemas": {...}}`.
pub fn generated() -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for area in
        [UsersArea::openapi(), AuditArea::openapi(), PtzArea::openapi(), RulesArea::openapi(), SosArea::openapi()]
    {
        let v = to_openapi_30(serde_json::to_value(&area).unwrap_or(Value::Null));
        for (path, item) in v["paths"].as_object().into_iter().flatten() {
            let into = paths.entry(path.clone()).or_insert_with(|| json!({}));
            for (method, op) in item.as_object().into_iter().flatten() {
                into[method] = op.clone();
            }
        }
        if let Some(s) = v.pointer("/components/schemas").and_then(Value::as_object) {
            schemas.extend(s.clone());
        }
    }
    json!({"paths": paths, "schemas": schemas})
}

/// `written` (the hand-written document) with the generated operations and schemas put in.
pub fn merged(written: &Value, generated: &Value) -> Value {
    let mut doc = written.clone();
    for (path, item) in generated["paths"].as_object().into_iter().flatten() {
        if !doc["paths"][path].is_object() {
            doc["paths"][path] = json!({});
        }
        for (method, op) in item.as_object().into_iter().flatten() {
            doc["paths"][path][method] = op.clone();
        }
    }
    for (name, schema) in generated["schemas"].as_object().into_iter().flatten() {
        doc["components"]["schemas"][name] = schema.clone();
    }
    doc
}

/// The served document (`GET /api/v1/openapi.json`).
pub fn document() -> &'static Value {
    static DOC: LazyLock<Value> = LazyLock::new(|| {
        let written: Value = serde_json::from_str(include_str!("openapi.json")).unwrap_or(Value::Null);
        merged(&written, &generated())
    });
    &DOC
}

/// OpenAPI 3.1 nullability as 3.0's: `type: [T, "null"]` becomes `type: T, nullable: true`, and
/// `oneOf`/`anyOf` of one schema and `{type: null}` becomes `allOf: [it], nullable: true`.
pub fn to_openapi_30(v: Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.into_iter().map(to_openapi_30).collect()),
        Value::Object(m) => {
            let mut m: Map<String, Value> = m.into_iter().map(|(k, v)| (k, to_openapi_30(v))).collect();
            if let Some(Value::Array(types)) = m.get("type").cloned() {
                let rest: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
                if rest.len() < types.len() {
                    m.insert("nullable".into(), Value::Bool(true));
                }
                match rest.len() {
                    0 => {
                        m.remove("type");
                    }
                    1 => {
                        m.insert("type".into(), rest[0].clone());
                    }
                    _ => {
                        m.insert("type".into(), Value::Array(rest));
                    }
                }
            }
            for key in ["oneOf", "anyOf"] {
                let Some(Value::Array(alts)) = m.get(key).cloned() else { continue };
                let is_null = |s: &Value| {
                    s.get("type").is_some_and(|t| t == "null") && s.as_object().is_some_and(|o| o.len() == 1)
                };
                let rest: Vec<Value> = alts.iter().filter(|s| !is_null(s)).cloned().collect();
                if rest.len() == 1 && alts.len() == 2 {
                    m.remove(key);
                    m.insert("allOf".into(), Value::Array(rest));
                    m.insert("nullable".into(), Value::Bool(true));
                }
            }
            Value::Object(m)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullability_is_written_as_openapi_30_says() {
        let v = json!({"properties": {
            "a": {"type": ["string", "null"], "format": "date-time"},
            "b": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/X"}]},
            "c": {"type": "integer"},
        }});
        assert_eq!(
            to_openapi_30(v),
            json!({"properties": {
                "a": {"type": "string", "format": "date-time", "nullable": true},
                "b": {"allOf": [{"$ref": "#/components/schemas/X"}], "nullable": true},
                "c": {"type": "integer"},
            }})
        );
    }
}
