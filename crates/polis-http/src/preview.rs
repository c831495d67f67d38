//! `POST /rules/preview`: what a rule would have done over the stored readings of the last
//! hours, before it is saved (the console's rule editor shows it). The body is a rule as for
//! `POST /rules` (the hand-written `Rule` schema); the answer's wire types are derived here and
//! the operation is generated into the document (`doc::RulesArea`).

use crate::auth::Authed;
use crate::error::ApiResult;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::Json;
use polis_base::{Error, Result};
use polis_domain::{Sensor, SignalKind};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use utoipa::openapi::{Ref, RefOr, Schema};

/// How many raises and clears one answer lists at most (the counts cover them all).
pub const PREVIEW_MAX_EVENTS: usize = 1_000;

/// The hand-written `Rule` schema, referred to from generated operations.
pub struct RuleRef;

impl utoipa::PartialSchema for RuleRef {
    fn schema() -> RefOr<Schema> {
        RefOr::Ref(Ref::from_schema_name("Rule"))
    }
}

impl utoipa::ToSchema for RuleRef {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Rule")
    }
}

/// The parameters of `POST /rules/preview`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// How many hours back to replay, 1 to 168 (default 24)
    #[param(value_type = i64, required = false, minimum = 1, maximum = 168)]
    pub hours: Option<String>,
}

/// One raise or clear the rule would have signalled.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = RulePreviewEvent)]
pub struct PreviewEventOut {
    /// `raise` or `clear`
    pub kind: String,
    /// The sensor
    pub source: String,
    /// The sensor's name
    pub source_name: String,
    pub time: String,
    /// The reading (null for silence)
    pub value: Option<f64>,
    /// What an alarm would have said
    pub message: String,
}

/// What the rule would have done.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = RulePreview)]
pub struct PreviewOut {
    pub from: String,
    pub to: String,
    /// Sensors the rule applies to (replayed)
    pub sensors: usize,
    /// Stored readings replayed
    pub readings: usize,
    /// More sensors or readings were there than a preview replays
    pub truncated: bool,
    /// How many alarms the rule would have raised
    pub raised: usize,
    /// How many of them would have cleared within the period
    pub cleared: usize,
    /// The raises and clears, oldest first (at most 1,000)
    pub events: Vec<PreviewEventOut>,
}

impl PreviewQuery {
    /// The parameters from the query's pairs (others are ignored; one given twice is refused).
    fn of(pairs: &[(String, String)]) -> Result<PreviewQuery> {
        let mut q = PreviewQuery::default();
        for (k, v) in pairs {
            if k == "hours" {
                if q.hours.is_some() {
                    return Err(Error::invalid("hours", "is given more than once"));
                }
                q.hours = Some(v.clone());
            }
        }
        Ok(q)
    }

    fn hours(&self) -> Result<u32> {
        match self.hours.as_deref().filter(|v| !v.is_empty()) {
            None => Ok(24),
            Some(v) => match v.parse::<u32>() {
                Ok(n) if (1..=168).contains(&n) => Ok(n),
                _ => Err(Error::invalid("hours", "must be a whole number from 1 to 168")),
            },
        }
    }
}

/// `POST /rules/preview`.
#[utoipa::path(tag = "rules", post, path = "/rules/preview", summary = "Preview a rule over past readings",
    description = "What the rule in the body (as for creating or editing a rule; nothing is saved) would \
        have done over the stored readings of the last `hours`: every alarm it would have raised and \
        cleared. Administrators and supervisors of the rule's municipality; the same checks as saving it.",
    params(PreviewQuery),
    request_body(content = inline(RuleRef), description = "The rule as it would be saved"),
    responses(
        (status = 200, description = "What the rule would have done", body = PreviewOut),
        (status = 400, response = crate::doc::ErrorResponse),
        (status = 401, response = crate::doc::ErrorResponse),
        (status = 403, response = crate::doc::ErrorResponse),
        (status = 413, response = crate::doc::TooLargeResponse),
    ))]
pub(crate) async fn preview_rule(
    State(s): State<AppState>,
    Authed(a): Authed,
    Query(pairs): Query<Vec<(String, String)>>,
    body: Bytes,
) -> ApiResult<Json<PreviewOut>> {
    let hours = PreviewQuery::of(&pairs)?.hours()?;
    let rule = crate::live::rule_input(&s, &a, &body).await?;
    let p = s.app.preview_rule(&a, &rule, hours).await?;
    let names: std::collections::HashMap<_, _> = {
        let reg = s.app.registry().await;
        p.signals
            .iter()
            .filter_map(|sig| reg.sensors.get(&sig.source).map(|x: &Sensor| (sig.source.clone(), x.name.clone())))
            .collect()
    };
    let raised = p.signals.iter().filter(|x| x.kind == SignalKind::Raise).count();
    let cleared = p.signals.iter().filter(|x| x.kind == SignalKind::Clear).count();
    let events = p
        .signals
        .iter()
        .take(PREVIEW_MAX_EVENTS)
        .map(|x| PreviewEventOut {
            kind: x.kind.as_str().to_string(),
            source: x.source.to_string(),
            source_name: names.get(&x.source).cloned().unwrap_or_default(),
            time: crate::live::rfc3339(x.time),
            value: x.value,
            message: x.message.clone(),
        })
        .collect();
    Ok(Json(PreviewOut {
        from: crate::live::rfc3339(p.from),
        to: crate::live::rfc3339(p.to),
        sensors: p.sensors,
        readings: p.readings,
        truncated: p.truncated,
        raised,
        cleared,
        events,
    }))
}
