//! The API as a checked contract: every response the tests receive through the harness is held
//! against the served OpenAPI document (status documented, content type documented, JSON body
//! valid against the schema, with every object closed so an undocumented field fails too), and
//! the router and the document list the same operations.

use crate::harness::{spawn, Backend};
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, LazyLock, Mutex};

/// Where the document's paths are served.
const BASE: &str = "/api/v1";

/// The served document: `openapi.json` with the generated areas merged in (`polis_http::doc`).
static DOC: LazyLock<Value> = LazyLock::new(|| polis_http::doc::document().clone());

/// The document's components as JSON Schema (2020-12), objects closed.
static COMPONENTS: LazyLock<Value> = LazyLock::new(|| {
    let mut schemas = Map::new();
    if let Some(s) = DOC["components"]["schemas"].as_object() {
        for (name, schema) in s {
            schemas.insert(name.clone(), to_json_schema(schema));
        }
    }
    json!({ "schemas": schemas })
});

type Validators = Mutex<HashMap<String, Arc<jsonschema::Validator>>>;
static VALIDATORS: LazyLock<Validators> = LazyLock::new(Validators::default);

/// An OpenAPI 3.0 schema object as a JSON Schema 2020-12 one: `nullable` becomes a union with
/// null, boolean `exclusiveMinimum`/`exclusiveMaximum` become numbers, and an object schema with
/// `properties` but no `additionalProperties` is closed (responses must not carry fields the
/// document does not name).
pub fn to_json_schema(v: &Value) -> Value {
    let Some(obj) = v.as_object() else { return v.clone() };
    if obj.contains_key("$ref") {
        return json!({"$ref": obj["$ref"]});
    }
    if obj.contains_key("allOf") {
        // One object with the members' properties, so closing it does not refuse the fields
        // that another member adds.
        let mut merged = flatten_all_of(v);
        for (k, val) in obj {
            if k != "allOf" {
                merged.insert(k.clone(), val.clone());
            }
        }
        return to_json_schema(&Value::Object(merged));
    }
    let mut out = Map::new();
    for (k, val) in obj {
        let converted = match k.as_str() {
            "properties" => Value::Object(
                val.as_object()
                    .map(|props| props.iter().map(|(n, s)| (n.clone(), to_json_schema(s))).collect())
                    .unwrap_or_default(),
            ),
            "items" | "not" => to_json_schema(val),
            "additionalProperties" if val.is_object() => to_json_schema(val),
            "oneOf" | "anyOf" | "allOf" => {
                Value::Array(val.as_array().map(|a| a.iter().map(to_json_schema).collect()).unwrap_or_default())
            }
            "nullable" | "exclusiveMinimum" | "exclusiveMaximum" | "example" | "discriminator" | "xml" => continue,
            _ => val.clone(),
        };
        out.insert(k.clone(), converted);
    }
    for (excl, bound) in [("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")] {
        if obj.get(excl) == Some(&Value::Bool(true)) {
            if let Some(b) = out.remove(bound) {
                out.insert(excl.into(), b);
            }
        }
    }
    if out.contains_key("properties") && !out.contains_key("additionalProperties") {
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    if obj.get("nullable") == Some(&Value::Bool(true)) {
        return json!({"anyOf": [{"type": "null"}, Value::Object(out)]});
    }
    Value::Object(out)
}

/// The properties and required fields of an `allOf`'s members (references followed), merged.
fn flatten_all_of(v: &Value) -> Map<String, Value> {
    let mut props = Map::new();
    let mut required: Vec<Value> = Vec::new();
    let members: Vec<&Value> = match v.get("allOf").and_then(Value::as_array) {
        Some(list) => list.iter().map(deref).collect(),
        None => vec![deref(v)],
    };
    for m in members {
        let m = if m.get("allOf").is_some() { Value::Object(flatten_all_of(m)) } else { m.clone() };
        if let Some(p) = m.get("properties").and_then(Value::as_object) {
            props.extend(p.clone());
        }
        if let Some(r) = m.get("required").and_then(Value::as_array) {
            required.extend(r.iter().cloned());
        }
    }
    let mut out = Map::new();
    out.insert("type".into(), json!("object"));
    out.insert("properties".into(), Value::Object(props));
    if !required.is_empty() {
        out.insert("required".into(), Value::Array(required));
    }
    out
}

/// Follows a `#/components/...` reference of the document.
fn deref(v: &Value) -> &Value {
    match v.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => DOC.pointer(pointer).unwrap_or(&Value::Null),
        None => v,
    }
}

/// The document's path template matching a request path (below [`BASE`]): literal segments
/// win over parameters, as in the router.
fn template_of(path: &str) -> Option<(String, &'static Value)> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut best: Option<(usize, &String, &Value)> = None;
    for (template, item) in DOC["paths"].as_object()? {
        let tsegs: Vec<&str> = template.trim_start_matches('/').split('/').collect();
        if tsegs.len() != segs.len() {
            continue;
        }
        let mut literal = 0;
        let fits = tsegs.iter().zip(&segs).all(|(t, s)| {
            if t.starts_with('{') && t.ends_with('}') {
                !s.is_empty()
            } else {
                literal += 1;
                t == s
            }
        });
        if fits && best.is_none_or(|(l, _, _)| literal > l) {
            best = Some((literal, template, item));
        }
    }
    best.map(|(_, t, item)| (t.clone(), item))
}

fn validator(key: &str, schema: &Value) -> Arc<jsonschema::Validator> {
    let mut cache = VALIDATORS.lock().unwrap();
    if let Some(v) = cache.get(key) {
        return v.clone();
    }
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": *COMPONENTS,
        "allOf": [to_json_schema(schema)],
    });
    let v = Arc::new(
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("the document's schema for {key} is not valid JSON Schema: {e}")),
    );
    cache.insert(key.to_string(), v.clone());
    v
}

/// Checks one response against the document; `Err` says how it is off.
pub fn check(
    method: &Method,
    path: &str,
    status: StatusCode,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(), String> {
    let Some(api_path) = path.strip_prefix(BASE) else {
        return Ok(()); // /healthz, /metrics and the console's files are outside the document
    };
    let (template, item) = template_of(api_path).ok_or_else(|| format!("no documented path matches {path}"))?;
    let op = item
        .get(method.as_str().to_ascii_lowercase())
        .ok_or_else(|| format!("{method} {template} is not documented"))?;
    let responses = op["responses"].as_object().ok_or_else(|| format!("{method} {template} has no responses"))?;
    let code = status.as_u16().to_string();
    let range = format!("{}XX", &code[..1]);
    let response = responses
        .get(&code)
        .or_else(|| responses.get(&range))
        .or_else(|| responses.get("default"))
        .map(deref)
        .ok_or_else(|| format!("status {code} of {method} {template} is not documented"))?;
    let media = content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    let content = response.get("content").and_then(Value::as_object);
    let (media, entry) = match (media, content) {
        (None, None) => return Ok(()),
        (Some(_), None) | (None, Some(_)) if body.is_empty() => return Ok(()),
        (Some(m), Some(c)) => match c.get(&m).or_else(|| c.get("*/*")) {
            Some(e) => (m, e),
            None => {
                return Err(format!(
                    "{method} {template} answered {code} as {m}; the document has {:?}",
                    c.keys().collect::<Vec<_>>()
                ))
            }
        },
        (m, None) => {
            return Err(format!("{method} {template} answered {code} with a body ({m:?}); the document has none"))
        }
        (None, Some(_)) => return Err(format!("{method} {template} answered {code} with a body but no content type")),
    };
    let is_json = media == "application/json" || media.ends_with("+json");
    let Some(schema) = entry.get("schema").filter(|_| is_json) else { return Ok(()) };
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("{method} {template} answered {code} {media} that is not JSON: {e}"))?;
    let key = format!("{method} {template} {code} {media}");
    let v = validator(&key, schema);
    let errors: Vec<String> = v.iter_errors(&value).take(8).map(|e| format!("at {}: {e}", e.instance_path)).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        let mut shown = value.to_string();
        if shown.len() > 1500 {
            let mut cut = 1500;
            while !shown.is_char_boundary(cut) {
                cut -= 1;
            }
            shown.truncate(cut);
        }
        Err(format!("{key}: the body is off the document:\n  {}\nbody: {shown}", errors.join("\n  ")))
    }
}

/// The operations (method, path template) of the router, read from its route table and asked
/// of the running server: a request with a method no route has is answered 405 with `Allow`.
async fn router_operations(t: &crate::harness::TestApp) -> BTreeSet<(String, String)> {
    let router = polis_http::router(t.app.clone(), polis_http::ConsoleConfig::default());
    // axum lists a router's paths in its Debug form: `path_router: PathRouter { ..., node: Node
    // { paths: {RouteId(1): "/healthz", ...} } }, fallback_router: ...`.
    let debug = format!("{router:?}");
    let routes = debug.split("fallback_router").next().unwrap_or("");
    let mut paths = BTreeSet::new();
    for part in routes.split("): \"").skip(1) {
        let path = part.split('"').next().unwrap_or("");
        if path.starts_with('/') && !path.contains("__private__") {
            paths.insert(path.to_string());
        }
    }
    assert!(paths.len() > 50, "could not read the router's paths from its Debug form: {paths:?}");
    let probe = Method::from_bytes(b"PROBE").unwrap();
    let mut ops = BTreeSet::new();
    for p in paths {
        let concrete: Vec<String> =
            p.split('/').map(|s| if s.starts_with('{') { "probe-x".to_string() } else { s.to_string() }).collect();
        let r = t.client.request(probe.clone(), t.url(&concrete.join("/"))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{p} did not refuse an unknown method");
        let allow = r.headers().get("allow").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        for m in allow.split(',').map(str::trim).filter(|m| !m.is_empty() && *m != "HEAD") {
            ops.insert((m.to_string(), p.clone()));
        }
    }
    ops
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_of_the_router_is_in_the_openapi_document_and_back() {
    let t = spawn(Backend::Sqlite).await;
    let served: Value = t.client.get(t.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(served, *DOC, "the served document is openapi.json with the generated areas");
    let mut documented = BTreeSet::new();
    for (template, item) in DOC["paths"].as_object().unwrap() {
        for m in ["get", "post", "put", "patch", "delete"] {
            if item.get(m).is_some() {
                documented.insert((m.to_ascii_uppercase(), format!("{BASE}{template}")));
            }
        }
    }
    let routed = router_operations(&t).await;
    // Outside the API (not under /api/v1): health, readiness and metrics, and the citizen
    // portal's public routes (documented in docs/ref/warnings.md); every route of /api/v1 must
    // be in the document.
    let undocumented: Vec<_> = routed.difference(&documented).filter(|(_, p)| p.starts_with(BASE)).collect();
    let outside: Vec<_> = routed.iter().filter(|(_, p)| !p.starts_with(BASE)).map(|(_, p)| p.as_str()).collect();
    assert!(outside.contains(&"/healthz") && outside.iter().any(|p| p.starts_with("/public")), "{outside:?}");
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(undocumented.is_empty(), "routes missing from openapi.json: {undocumented:?}");
    assert!(unrouted.is_empty(), "operations in openapi.json that the router does not have: {unrouted:?}");
}

#[test]
fn the_checker_refuses_what_the_document_does_not_say() {
    let camera = json!({"type": "Feature", "id": "c1", "geometry": {"type": "Point", "coordinates": [25.4, 42.6]},
        "properties": {"id": "c1", "municipality": "kazanlak", "name": "C", "lat": 42.6, "lon": 25.4,
        "heading_deg": 0.0, "fov_deg": 60.0, "range_m": 100.0, "kind": "fixed"}});
    let get = Method::GET;
    let json_ct = Some("application/json");
    // An undocumented status, content type and field are each refused.
    let e = check(&get, "/api/v1/cameras/c1", StatusCode::IM_A_TEAPOT, json_ct, b"{}").unwrap_err();
    assert!(e.contains("418"), "{e}");
    let e = check(&get, "/api/v1/cameras/c1", StatusCode::OK, Some("text/html"), b"<p>").unwrap_err();
    assert!(e.contains("text/html"), "{e}");
    let mut extra = camera.clone();
    extra["properties"]["surprise"] = json!(1);
    let body = serde_json::to_vec(&extra).unwrap();
    let e = check(&get, "/api/v1/cameras/c1", StatusCode::OK, json_ct, &body).unwrap_err();
    assert!(e.contains("surprise"), "{e}");
    let mut null_name = camera.clone();
    null_name["properties"]["name"] = Value::Null;
    let body = serde_json::to_vec(&null_name).unwrap();
    assert!(check(&get, "/api/v1/cameras/c1", StatusCode::OK, json_ct, &body).is_err());
    // Outside the API nothing is checked.
    assert!(check(&get, "/healthz", StatusCode::OK, json_ct, b"{}").is_ok());
}

/// Every `$ref` in `v`.
fn refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.insert(r.clone());
            }
            m.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[test]
fn the_generated_areas_are_written_nowhere_else_and_every_reference_resolves() {
    let written: Value = serde_json::from_str(include_str!("../../src/openapi.json")).expect("openapi.json is JSON");
    let generated = polis_http::doc::generated();
    // The users', the audit log's and the PTZ areas are generated (their operations and schemas).
    let mut ops = BTreeSet::new();
    for (path, item) in generated["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            ops.insert(format!("{} {path}", method.to_uppercase()));
            assert!(
                written["paths"][path].get(method).is_none(),
                "{method} {path} is generated (polis_http::doc): remove it from openapi.json"
            );
        }
        if written["paths"].get(path).is_some_and(|w| w.get("parameters").is_some()) {
            panic!("{path} has parameters written by hand beside generated operations");
        }
    }
    let want: BTreeSet<String> = [
        "GET /users",
        "GET /users/{id}",
        "PATCH /users/{id}",
        "GET /audit",
        "GET /audit.csv",
        "GET /cameras/{id}/onvif",
        "PUT /cameras/{id}/onvif",
        "DELETE /cameras/{id}/onvif",
        "GET /cameras/{id}/ptz",
        "POST /cameras/{id}/ptz",
        "DELETE /cameras/{id}/ptz/control",
        "GET /cameras/{id}/ptz/presets",
        "POST /onvif/probe",
        "POST /onvif/discover",
        "POST /rules/preview",
        "GET /sos/devices",
        "POST /sos/devices",
        "DELETE /sos/devices/{id}",
        "POST /sos/devices/{id}/positions",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(ops, want);
    for name in generated["schemas"].as_object().unwrap().keys() {
        assert!(
            written["components"]["schemas"].get(name).is_none(),
            "schema {name} is generated (polis_http::doc): remove it from openapi.json"
        );
    }
    for name in ["User", "UserPatch", "SessionUser", "AuditEntry"] {
        assert!(generated["schemas"].get(name).is_some(), "{name} is not generated");
    }
    // Every reference of the served document names something in it.
    let mut all = BTreeSet::new();
    refs(&DOC, &mut all);
    for r in &all {
        let pointer = r.strip_prefix('#').unwrap_or(r);
        assert!(DOC.pointer(pointer).is_some(), "{r} names nothing in the served document");
    }
    // The generated schemas are held to the same checks as the written ones.
    let user = json!({"id": "u1", "username": "a", "role": "viewer", "municipality": "kazanlak", "agency": null,
        "disabled": false, "created_at": "2026-12-07T10:00:00Z", "last_login_at": null});
    check(&Method::GET, "/api/v1/users/u1", StatusCode::OK, Some("application/json"), user.to_string().as_bytes())
        .unwrap();
    let mut odd = user.clone();
    odd["role"] = json!("king");
    assert!(check(
        &Method::GET,
        "/api/v1/users/u1",
        StatusCode::OK,
        Some("application/json"),
        odd.to_string().as_bytes()
    )
    .is_err());
}
