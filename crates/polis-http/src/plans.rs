//! The camera network planner over HTTP: planning jobs with progress on the live stream, their
//! results (summary, GeoJSON, the HTML report) and accepting a plan into the registry.

use crate::auth::Authed;
use crate::error::ApiResult;
use crate::routes::object;
use crate::wire::Fields;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use polis_base::{Error, FieldError};
use polis_core::plan::{
    catalogue, default_sector_weights, ExtraCandidate, PlanInput, PlanJob, ScenarioOptions, SiteChoice,
    DEFAULT_POLE_COST, DEFAULT_PURPOSE, MAX_PHASES,
};
use polis_domain::{Id, Sector};
use polis_plan::model::{range_m, Dori};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

fn dori_str(d: Dori) -> &'static str {
    match d {
        Dori::Detect => "detect",
        Dori::Observe => "observe",
        Dori::Recognise => "recognise",
        Dori::Identify => "identify",
    }
}

fn parse_dori(field: &str, s: &str) -> Result<Dori, FieldError> {
    match s.trim().to_ascii_lowercase().as_str() {
        "detect" => Ok(Dori::Detect),
        "observe" => Ok(Dori::Observe),
        "recognise" => Ok(Dori::Recognise),
        "identify" => Ok(Dori::Identify),
        _ => Err(FieldError::new(
            field,
            format!("unknown value {s:?}; expected one of: detect, observe, recognise, identify"),
        )),
    }
}

fn job_json(j: &PlanJob, full: bool) -> Value {
    let mut v = json!({
        "id": j.id.as_str(), "municipality": j.municipality.as_str(), "created_by": j.created_by,
        "status": j.status.as_str(), "stage": j.stage, "progress": (j.progress * 1000.0).round() / 1000.0,
        "error": j.error, "accepted": j.accepted,
        "input": {
            "sites": j.input.sites, "models": j.input.models, "budgets": j.input.budgets,
            "max_cameras": j.input.max_cameras,
            "purpose": dori_str(j.input.purpose), "candidates": j.input.candidates,
            "demand_points": j.input.demand_points,
        },
    });
    if let (true, Some(r)) = (full, &j.result) {
        let (problem, plan) = &**r;
        v["summary"] = polis_plan::report::summary(problem, plan);
        v["geojson"] = polis_plan::report::geojson(problem, plan);
    }
    v
}

/// The fields of the registry form of `POST /api/v1/plans`.
const REGISTRY_FIELDS: &[&str] = &[
    "municipality",
    "phases",
    "budget",
    "budgets",
    "max_cameras",
    "sites",
    "sector_weights",
    "models",
    "candidates",
    "generate_poles",
    "pole_cost",
    "purpose",
    "slots",
];

/// A number at `field` of a JSON value, or a problem.
fn number(errors: &mut Vec<FieldError>, field: &str, v: Option<&Value>, required: bool) -> Option<f64> {
    match v {
        None | Some(Value::Null) if !required => None,
        None | Some(Value::Null) => {
            errors.push(FieldError::new(field, "is required"));
            None
        }
        Some(Value::Number(n)) => n.as_f64(),
        Some(_) => {
            errors.push(FieldError::new(field, "must be a number"));
            None
        }
    }
}

/// Problems with keys of `obj` outside `known`, named `prefix.key`.
fn unknown_keys(errors: &mut Vec<FieldError>, prefix: &str, obj: &Map<String, Value>, known: &[&str]) {
    for k in obj.keys().filter(|k| !known.contains(&k.as_str())) {
        let field = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        errors.push(FieldError::new(field, format!("unknown field; expected one of: {}", known.join(", "))));
    }
}

/// The registry form: what to plan of the municipality's own registry. Every shape problem is
/// collected, each naming its field; what needs the registry (site ids) is checked by the core.
fn registry_options(m: &Map<String, Value>, f: &mut Fields) -> ScenarioOptions {
    let mut errors = Vec::new();
    unknown_keys(&mut errors, "", m, REGISTRY_FIELDS);
    let counts = m.get("max_cameras").filter(|v| !v.is_null());
    let budgets = match m.get("budgets") {
        None | Some(Value::Null) => {
            let phases = f.opt_int("phases").unwrap_or(match counts {
                Some(Value::Array(list)) => list.len() as i64,
                _ => 3,
            });
            if !(1..=MAX_PHASES as i64).contains(&phases) {
                f.problem("phases", format!("must be from 1 to {MAX_PHASES}"));
            }
            let phases = phases.clamp(1, MAX_PHASES as i64) as usize;
            match f.opt_f64("budget") {
                // A count of cameras alone limits the phases.
                None if counts.is_some() => Vec::new(),
                budget => {
                    let budget = budget.unwrap_or(15_000.0);
                    if !(budget.is_finite() && budget > 0.0) {
                        f.problem("budget", "must be a positive number");
                    }
                    vec![budget; phases]
                }
            }
        }
        Some(Value::Array(list)) => {
            if m.contains_key("phases") || m.contains_key("budget") {
                errors.push(FieldError::new("budgets", "give either budgets or phases and budget, not both"));
            }
            if !(1..=MAX_PHASES).contains(&list.len()) {
                errors.push(FieldError::new("budgets", format!("give from 1 to {MAX_PHASES} phase budgets")));
            }
            let mut out = Vec::new();
            for (i, b) in list.iter().enumerate() {
                let field = format!("budgets[{i}]");
                match number(&mut errors, &field, Some(b), true) {
                    Some(b) if b.is_finite() && b > 0.0 => out.push(b),
                    Some(_) => errors.push(FieldError::new(field, "must be a positive number")),
                    None => {}
                }
            }
            out
        }
        Some(_) => {
            errors.push(FieldError::new("budgets", "must be a list of phase budgets"));
            Vec::new()
        }
    };
    let count = |errors: &mut Vec<FieldError>, field: &str, v: &Value| match v.as_u64() {
        Some(n) if (1..=10_000).contains(&n) => Some(n as u32),
        _ => {
            errors.push(FieldError::new(field, "must be a whole number of cameras from 1 to 10000"));
            None
        }
    };
    let phases = if budgets.is_empty() {
        match counts {
            Some(Value::Array(list)) => list.len(),
            // Checked above.
            _ => m.get("phases").and_then(Value::as_i64).unwrap_or(3).clamp(1, MAX_PHASES as i64) as usize,
        }
    } else {
        budgets.len()
    };
    let max_cameras = match counts {
        None => Vec::new(),
        Some(Value::Array(list)) => {
            if list.len() != phases {
                errors.push(FieldError::new(
                    "max_cameras",
                    format!("give one count per phase ({phases}), or one number for every phase"),
                ));
            }
            list.iter().enumerate().filter_map(|(i, v)| count(&mut errors, &format!("max_cameras[{i}]"), v)).collect()
        }
        Some(v) => count(&mut errors, "max_cameras", v).map(|n| vec![n; phases]).unwrap_or_default(),
    };
    let sites = match m.get("sites") {
        None | Some(Value::Null) => None,
        Some(Value::Array(list)) => {
            let mut out = Vec::new();
            for (i, s) in list.iter().enumerate() {
                let field = format!("sites[{i}]");
                match s {
                    Value::String(id) => out.push(SiteChoice::new(id.trim())),
                    Value::Object(o) => {
                        unknown_keys(&mut errors, &field, o, &["id", "priority", "critical"]);
                        let id = match o.get("id") {
                            Some(Value::String(id)) if !id.trim().is_empty() => id.trim().to_string(),
                            _ => {
                                errors.push(FieldError::new(format!("{field}.id"), "give the site's id"));
                                continue;
                            }
                        };
                        let priority = match o.get("priority") {
                            None | Some(Value::Null) => None,
                            Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64(),
                            Some(_) => {
                                errors.push(FieldError::new(
                                    format!("{field}.priority"),
                                    "must be a whole number from 1 (highest) to 5",
                                ));
                                None
                            }
                        };
                        let critical = match o.get("critical") {
                            None | Some(Value::Null) => None,
                            Some(Value::Bool(b)) => Some(*b),
                            Some(_) => {
                                errors.push(FieldError::new(format!("{field}.critical"), "must be true or false"));
                                None
                            }
                        };
                        out.push(SiteChoice { id, priority, critical });
                    }
                    _ => {
                        errors.push(FieldError::new(field, "must be a site id or {\"id\", \"priority\", \"critical\"}"))
                    }
                }
            }
            Some(out)
        }
        Some(_) => {
            errors.push(FieldError::new("sites", "must be a list of site ids"));
            None
        }
    };
    let mut sector_weights = BTreeMap::new();
    match m.get("sector_weights") {
        None | Some(Value::Null) => {}
        Some(Value::Object(o)) => {
            for (k, v) in o {
                let field = format!("sector_weights.{k}");
                let sector = match Sector::parse(&field, k) {
                    Ok(s) => s,
                    Err(e) => {
                        errors.extend(e.details);
                        continue;
                    }
                };
                if let Some(w) = number(&mut errors, &field, Some(v), true) {
                    sector_weights.insert(sector, w);
                }
            }
        }
        Some(_) => errors.push(FieldError::new("sector_weights", "must be an object of sector: weight")),
    }
    let models = match m.get("models") {
        None | Some(Value::Null) => None,
        Some(Value::Array(list)) => {
            let mut out = Vec::new();
            for (i, v) in list.iter().enumerate() {
                match v.as_str() {
                    Some(n) => out.push(n.trim().to_string()),
                    None => errors.push(FieldError::new(format!("models[{i}]"), "must be a model's name")),
                }
            }
            Some(out)
        }
        Some(_) => {
            errors.push(FieldError::new("models", "must be a list of model names"));
            None
        }
    };
    let mut candidates = Vec::new();
    match m.get("candidates") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (i, c) in list.iter().enumerate() {
                let field = format!("candidates[{i}]");
                let Some(o) = c.as_object() else {
                    errors.push(FieldError::new(field, "must be {\"lat\", \"lon\", \"cost\", \"id\"}"));
                    continue;
                };
                unknown_keys(&mut errors, &field, o, &["id", "lat", "lon", "cost", "slots"]);
                let lat = number(&mut errors, &format!("{field}.lat"), o.get("lat"), true);
                let lon = number(&mut errors, &format!("{field}.lon"), o.get("lon"), true);
                let cost = number(&mut errors, &format!("{field}.cost"), o.get("cost"), true);
                let id = match o.get("id") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s.trim().to_string()),
                    Some(_) => {
                        errors.push(FieldError::new(format!("{field}.id"), "must be a string"));
                        None
                    }
                };
                let slots = match o.get("slots") {
                    None | Some(Value::Null) => None,
                    Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
                        Some(n) => Some(n),
                        None => {
                            errors.push(FieldError::new(
                                format!("{field}.slots"),
                                "must be a whole number of cameras the mounting point may hold",
                            ));
                            None
                        }
                    },
                };
                if let (Some(lat), Some(lon), Some(cost)) = (lat, lon, cost) {
                    candidates.push(ExtraCandidate { id, lat, lon, cost, slots });
                }
            }
        }
        Some(_) => errors.push(FieldError::new("candidates", "must be a list of {\"lat\", \"lon\", \"cost\"}")),
    }
    let slots = match m.get("slots") {
        None | Some(Value::Null) => 1,
        Some(v) => v.as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or_else(|| {
            errors.push(FieldError::new("slots", "must be a whole number of cameras one mounting point may hold"));
            1
        }),
    };
    let generate_poles = f.opt_bool("generate_poles").unwrap_or(true);
    let pole_cost = f.opt_f64("pole_cost").unwrap_or(DEFAULT_POLE_COST);
    let purpose = match f.opt_str("purpose") {
        None => DEFAULT_PURPOSE,
        Some(p) => parse_dori("purpose", &p).unwrap_or_else(|e| {
            errors.push(e);
            DEFAULT_PURPOSE
        }),
    };
    f.errors.extend(errors);
    ScenarioOptions {
        budgets,
        max_cameras,
        sites,
        sector_weights,
        models,
        candidates,
        generate_poles,
        pole_cost,
        purpose,
        slots,
    }
}

/// `POST /api/v1/plans`: the registry form (`budgets` or `phases` x `budget`, `max_cameras`, `sites`,
/// `sector_weights`, `models`, `candidates`, `generate_poles`, `pole_cost`, `purpose`, `slots`,
/// `municipality`; all optional) plans the municipality's own key sites and cameras;
/// `{"instance": {...}}` plans an instance in the file format of `docs/ref/plan-input.md`.
/// Answers 202 with the job; `plan` events follow.
/// A planning instance of a large city is tens of megabytes.
const PLAN_LIMIT: usize = 256 * 1024 * 1024;

pub async fn create(State(s): State<AppState>, Authed(a): Authed, body: axum::body::Body) -> ApiResult<Response> {
    // Planning is for administrators and supervisors: others get a 403 before the body is read.
    a.check_may_write_registry()?;
    let body = crate::guard::read_body(body, PLAN_LIMIT).await?;
    let m = object(&body)?;
    let mut f = Fields::new(&m);
    let municipality = f.opt_id("municipality");
    let input = match m.get("instance") {
        Some(inst) => {
            let mut errors = Vec::new();
            unknown_keys(&mut errors, "", &m, &["municipality", "instance"]);
            f.errors.extend(errors);
            match serde_json::from_value::<polis_plan::Instance>(inst.clone()) {
                Ok(i) => Some(PlanInput::Instance(Box::new(i))),
                Err(e) => {
                    f.problem("instance", format!("not a valid instance: {e}"));
                    None
                }
            }
        }
        None => Some(PlanInput::Registry(registry_options(&m, &mut f))),
    };
    let input = match input {
        Some(i) if f.errors.is_empty() => i,
        _ => return Err(Error::invalid_fields("invalid plan request", f.errors).into()),
    };
    let job = s.app.start_plan(&a, municipality, input).await?;
    Ok((StatusCode::ACCEPTED, Json(job_json(&job, false))).into_response())
}

/// `GET /api/v1/plans/models?purpose=observe`: the camera models registry plans may use, with
/// their DORI ranges, and the defaults of the registry form.
pub async fn models(Authed(_a): Authed, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    let purpose = match q.get("purpose").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => DEFAULT_PURPOSE,
        Some(p) => parse_dori("purpose", p).map_err(|e| Error::invalid_fields("invalid purpose", vec![e]))?,
    };
    let r1 = |v: f64| (v * 10.0).round() / 10.0;
    let models: Vec<Value> = catalogue()
        .iter()
        .map(|m| {
            let ranges: Map<String, Value> = [Dori::Detect, Dori::Observe, Dori::Recognise, Dori::Identify]
                .into_iter()
                .map(|d| (dori_str(d).to_string(), json!(r1(range_m(m.h_pixels, m.hfov_deg, d)))))
                .collect();
            json!({
                "name": m.id, "kind": if m.ptz { "ptz" } else { "fixed" }, "hfov_deg": m.hfov_deg,
                "h_pixels": m.h_pixels, "cost": m.cost, "ranges_m": ranges,
                "reach_m": r1(m.reach_m(purpose)),
            })
        })
        .collect();
    let weights: Map<String, Value> =
        default_sector_weights().into_iter().map(|(k, v)| (k.as_str().to_string(), json!(v))).collect();
    Ok(Json(json!({
        "purpose": dori_str(purpose),
        "models": models,
        "defaults": {
            "purpose": dori_str(DEFAULT_PURPOSE), "pole_cost": DEFAULT_POLE_COST, "generate_poles": true,
            "budgets": [15_000.0, 15_000.0, 15_000.0], "sector_weights": weights, "max_phases": MAX_PHASES,
        },
    })))
}

pub async fn get(State(s): State<AppState>, Authed(a): Authed, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let job = s.app.plan_job(&a, &Id::parse("id", &id)?)?;
    Ok(Json(job_json(&job, true)))
}

/// `DELETE /api/v1/plans/{id}`: cancels a running job.
pub async fn cancel(State(s): State<AppState>, Authed(a): Authed, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let job = s.app.cancel_plan(&a, &Id::parse("id", &id)?)?;
    Ok(Json(job_json(&job, false)))
}

pub async fn report(State(s): State<AppState>, Authed(a): Authed, Path(id): Path<String>) -> ApiResult<Response> {
    let job = s.app.plan_job(&a, &Id::parse("id", &id)?)?;
    let Some(r) = job.result.as_ref() else {
        return Err(Error::failed_precondition(format!("plan {id} is {}", job.status.as_str())).into());
    };
    let (problem, plan) = &**r;
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], polis_plan::report::html(problem, plan)).into_response())
}

/// `POST /api/v1/plans/{id}/accept`: the plan's cameras go into the registry as planned.
pub async fn accept(State(s): State<AppState>, Authed(a): Authed, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let n = s.app.accept_plan(&a, &Id::parse("id", &id)?).await?;
    Ok(Json(json!({"cameras": n})))
}
