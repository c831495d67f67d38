//! Running the simulator on a timer: over HTTP to any Polis, or in-process to a [`Sink`].

use super::Simulator;
use crate::{excerpt, is_transient, RawObservation, Sink};
use polis_base::{Error, Result};
use polis_domain::registry::Secret;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::time::MissedTickBehavior;

/// Observations kept for a later try while the target is unreachable; the oldest go first.
const MAX_PENDING: usize = 50_000;

/// What a simulator run did, returned when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimReport {
    /// Simulation steps taken.
    pub steps: u64,
    /// Observations the target accepted (as a batch; the target may still have rejected some).
    pub delivered: u64,
    /// Failed deliveries (each retried on the next step unless the target refused for good).
    pub failures: u64,
    /// Observations dropped: refused for good, or the oldest when too many were waiting.
    pub dropped: u64,
    /// Logins made (with [`Credentials::Login`]): the first, and one after each refused session.
    pub logins: u64,
}

/// How the simulator signs in to the Polis it feeds.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// A bearer token as it is; a 401 drops the batch (the token will not get better).
    Token(Secret),
    /// A user and password: the simulator logs in (`POST /api/v1/auth/login`) before the first
    /// batch and again whenever the session is refused (it expired, or was revoked), keeping the
    /// batch for the next try.
    Login { username: String, password: Secret },
}

/// Posts one batch per `interval` as JSON (`[{sensor, time, value | values}]`) to
/// `POST {target}/api/v1/observations` with `Authorization: Bearer {token}`, until `shutdown`.
///
/// Unreachable target or 5xx, 408, 429: the batch is kept and sent with the next one. Other 4xx
/// (a bad token, for instance): logged with the response and dropped. Errors only when `target`
/// is not an http(s) URL.
pub async fn run_http(
    target: &str,
    token: Secret,
    sim: Simulator,
    interval: Duration,
    shutdown: impl Future<Output = ()>,
) -> Result<SimReport> {
    run_http_with(target, Credentials::Token(token), sim, interval, shutdown).await
}

/// [`run_http`] with [`Credentials`]: with a user and password, a refused session (401) means
/// logging in again and sending the kept batch with the next step.
pub async fn run_http_with(
    target: &str,
    credentials: Credentials,
    mut sim: Simulator,
    interval: Duration,
    shutdown: impl Future<Output = ()>,
) -> Result<SimReport> {
    let base = target.trim().trim_end_matches('/');
    let lower = base.to_ascii_lowercase();
    let host_part = lower.strip_prefix("http://").or_else(|| lower.strip_prefix("https://"));
    if host_part.is_none_or(|h| h.is_empty() || h.starts_with('/')) {
        return Err(Error::invalid(
            "target",
            "must be an http:// or https:// URL of a Polis, e.g. http://127.0.0.1:8080",
        ));
    }
    let url = format!("{base}/api/v1/observations");
    let login_url = format!("{base}/api/v1/auth/login");
    // reqwest's rustls needs a process-wide crypto provider; another part may have installed
    // one already, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| Error::internal("could not build the HTTP client").with_source(e))?;
    tracing::info!(%url, sensors = sim.sensors().len(), interval_ms = interval.as_millis() as u64, "simulator posting");

    let mut token: Option<Secret> = match &credentials {
        Credentials::Token(t) => Some(t.clone()),
        Credentials::Login { .. } => None,
    };
    let mut report = SimReport::default();
    let mut pending: Vec<RawObservation> = Vec::new();
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            _ = ticker.tick() => {}
        }
        pending.extend(sim.step(OffsetDateTime::now_utc()));
        report.steps += 1;
        report.dropped += trim_oldest(&mut pending);
        if pending.is_empty() {
            continue;
        }
        if token.is_none() {
            if let Credentials::Login { username, password } = &credentials {
                let signed_in = tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    r = login(&client, &login_url, username, password) => r,
                };
                match signed_in {
                    Ok(t) => {
                        report.logins += 1;
                        token = Some(t);
                    }
                    Err(e) => {
                        report.failures += 1;
                        tracing::warn!(url = %login_url, error = %e, waiting = pending.len(), "simulator: login failed; will retry");
                        continue;
                    }
                }
            }
        }
        let Some(current) = token.clone() else { continue };
        let sent = tokio::select! {
            biased;
            () = &mut shutdown => break,
            r = post(&client, &url, &current, &pending) => r,
        };
        match sent {
            Ok(()) => {
                report.delivered += pending.len() as u64;
                pending.clear();
            }
            Err(Refused::Unauthorized(e)) if matches!(credentials, Credentials::Login { .. }) => {
                report.failures += 1;
                tracing::info!(%url, error = %e, waiting = pending.len(), "simulator: session refused; logging in again");
                token = None;
            }
            Err(Refused::Retry(e)) => {
                report.failures += 1;
                tracing::warn!(%url, error = %e, waiting = pending.len(), "simulator: post failed; will retry");
            }
            Err(Refused::Unauthorized(e) | Refused::ForGood(e)) => {
                report.failures += 1;
                tracing::error!(%url, error = %e, "simulator: target refused the batch; dropped");
                report.dropped += pending.len() as u64;
                pending.clear();
            }
        }
    }
    tracing::info!(?report, "simulator stopped");
    Ok(report)
}

/// Logs in; the session token.
async fn login(
    client: &reqwest::Client,
    url: &str,
    username: &str,
    password: &Secret,
) -> std::result::Result<Secret, String> {
    let body = serde_json::json!({"username": username, "password": password.expose()});
    let resp = client.post(url).json(&body).send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let bytes = resp.bytes().await.unwrap_or_default();
    if !status.is_success() {
        return Err(format!("HTTP {status}: {}", excerpt(&bytes, 300)));
    }
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("token").and_then(|t| t.as_str()).map(Secret::new))
        .ok_or_else(|| "no token in the login answer".to_string())
}

/// Why a post failed.
enum Refused {
    /// Unreachable, 5xx, 408, 429: try again.
    Retry(String),
    /// 401: the token is not (or no longer) good.
    Unauthorized(String),
    /// Any other 4xx.
    ForGood(String),
}

/// Posts a batch.
async fn post(
    client: &reqwest::Client,
    url: &str,
    token: &Secret,
    batch: &[RawObservation],
) -> std::result::Result<(), Refused> {
    let resp = client
        .post(url)
        .bearer_auth(token.expose())
        .json(batch)
        .send()
        .await
        .map_err(|e| Refused::Retry(e.to_string()))?;
    let status = resp.status();
    let body = resp.bytes().await.unwrap_or_default();
    if status.is_success() {
        // Observations refused one by one (e.g. sensors this Polis does not know) are worth a
        // line: the rest of the batch is stored.
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
            if let Some(rejected) = v.get("rejected").and_then(|r| r.as_array()).filter(|r| !r.is_empty()) {
                tracing::warn!(count = rejected.len(), first = %rejected[0], "simulator: target rejected some observations");
            }
        }
        return Ok(());
    }
    let reason = format!("HTTP {status}: {}", excerpt(&body, 300));
    Err(match status.as_u16() {
        401 => Refused::Unauthorized(reason),
        408 | 429 => Refused::Retry(reason),
        _ if status.is_server_error() => Refused::Retry(reason),
        _ => Refused::ForGood(reason),
    })
}

/// Delivers one batch per `interval` to `sink`, grouped by the sensors' municipality, until
/// `shutdown`. Transient sink errors keep the batch for the next step; others drop it.
pub async fn run_sink(
    sink: Arc<dyn Sink>,
    mut sim: Simulator,
    interval: Duration,
    shutdown: impl Future<Output = ()>,
) -> SimReport {
    let municipality: BTreeMap<String, String> =
        sim.sensors().iter().map(|s| (s.id.to_string(), s.municipality.to_string())).collect();
    let mut report = SimReport::default();
    let mut pending: BTreeMap<String, Vec<RawObservation>> = BTreeMap::new();
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    tokio::pin!(shutdown);
    'run: loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            _ = ticker.tick() => {}
        }
        for o in sim.step(OffsetDateTime::now_utc()) {
            let m = municipality.get(&o.sensor).cloned().unwrap_or_default();
            pending.entry(m).or_default().push(o);
        }
        report.steps += 1;
        let keys: Vec<String> = pending.keys().cloned().collect();
        for m in keys {
            let Some(batch) = pending.get_mut(&m) else { continue };
            report.dropped += trim_oldest(batch);
            if batch.is_empty() {
                continue;
            }
            let result = tokio::select! {
                biased;
                () = &mut shutdown => break 'run,
                r = sink.ingest(&m, batch.clone()) => r,
            };
            match result {
                Ok(()) => {
                    report.delivered += batch.len() as u64;
                    batch.clear();
                }
                Err(e) if is_transient(e.kind) => {
                    report.failures += 1;
                    tracing::warn!(municipality = %m, error = %e, waiting = batch.len(), "simulator: sink failed; will retry");
                }
                Err(e) => {
                    report.failures += 1;
                    report.dropped += batch.len() as u64;
                    tracing::error!(municipality = %m, error = %e, "simulator: sink refused the batch; dropped");
                    batch.clear();
                }
            }
        }
    }
    report
}

/// Keeps at most [`MAX_PENDING`] observations, dropping the oldest; returns how many went.
fn trim_oldest(pending: &mut Vec<RawObservation>) -> u64 {
    let excess = pending.len().saturating_sub(MAX_PENDING);
    if excess > 0 {
        pending.drain(..excess);
        tracing::warn!(dropped = excess, "simulator: target unreachable for long; oldest observations dropped");
    }
    excess as u64
}
