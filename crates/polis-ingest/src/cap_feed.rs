//! CAP in: polls feeds of CAP messages (Atom or RSS, or a bare CAP message) with conditional
//! GET (`If-None-Match` / `If-Modified-Since`), fetches each new item's message, and hands it
//! to a [`CapSink`] (the application decides what to keep). A feed that times out, answers
//! garbage or sends an invalid message is logged and polled again later, with backoff; one
//! feed never blocks another (each has its own task).

use crate::Backoff;
use polis_base::{Error, Result};
use polis_cap::ParsedAlert;
use polis_domain::{Id, LatLon};
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// One feed to poll for a municipality.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    pub url: String,
    pub municipality: Id,
    pub every: Duration,
}

/// Where received messages go. Implemented by the application.
#[async_trait::async_trait]
pub trait CapSink: Send + Sync + 'static {
    /// The outline of the municipality that messages must touch; `None` to skip this round.
    async fn outline(&self, municipality: &Id) -> Option<Vec<LatLon>>;
    /// Takes one message; `Ok(true)` when it was new and kept.
    async fn receive(&self, feed: &str, municipality: &Id, outline: &[LatLon], alert: &ParsedAlert) -> Result<bool>;
}

/// What a feed's poller remembers between rounds.
#[derive(Debug, Default)]
pub struct FeedState {
    etag: Option<String>,
    last_modified: Option<String>,
    /// Items already taken (by id or link), so an unchanged item is not fetched again.
    seen: HashSet<String>,
}

/// The HTTP client for feeds: a timeout on everything, no cookies, small redirects.
pub fn client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::limited(3))
        .user_agent("polis-cap-in")
        .build()
        .map_err(|e| Error::internal("cannot build the feed client").with_source(e))
}

async fn get_text(
    client: &reqwest::Client,
    url: &str,
    state: Option<&FeedState>,
) -> Result<Option<(String, reqwest::header::HeaderMap)>> {
    let mut req = client.get(url);
    if let Some(st) = state {
        if let Some(e) = &st.etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, e);
        }
        if let Some(m) = &st.last_modified {
            req = req.header(reqwest::header::IF_MODIFIED_SINCE, m);
        }
    }
    let resp = req.send().await.map_err(|e| Error::unavailable(format!("GET {url}: {e}")))?;
    if resp.status() == reqwest::StatusCode::NOT_MODIFIED {
        return Ok(None);
    }
    if !resp.status().is_success() {
        return Err(Error::unavailable(format!("GET {url}: HTTP {}", resp.status())));
    }
    if resp.content_length().is_some_and(|n| n as usize > polis_cap::dom::MAX_BYTES) {
        return Err(Error::invalid("feed", format!("GET {url}: too large")));
    }
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.map_err(|e| Error::unavailable(format!("GET {url}: {e}")))?;
    if bytes.len() > polis_cap::dom::MAX_BYTES {
        return Err(Error::invalid("feed", format!("GET {url}: too large")));
    }
    let text =
        String::from_utf8(bytes.to_vec()).map_err(|_| Error::invalid("feed", format!("GET {url}: not UTF-8")))?;
    Ok(Some((text, headers)))
}

/// One round: fetches the feed (conditionally) and every new item's message, hands each to the
/// sink. Returns how many the sink kept. An invalid item is logged and skipped; a feed that
/// cannot be read is an error (the caller retries later).
pub async fn poll_once(
    client: &reqwest::Client,
    feed: &FeedConfig,
    state: &mut FeedState,
    sink: &dyn CapSink,
) -> Result<usize> {
    let Some(outline) = sink.outline(&feed.municipality).await else { return Ok(0) };
    let Some((text, headers)) = get_text(client, &feed.url, Some(state)).await? else { return Ok(0) };
    let items = polis_cap::parse_feed(&text)?;
    let base = reqwest::Url::parse(&feed.url).map_err(|_| Error::invalid("feed", "not a URL"))?;
    let mut kept = 0;
    for item in items {
        let key = if item.id.is_empty() { item.link.clone().unwrap_or_default() } else { item.id.clone() };
        if !key.is_empty() && state.seen.contains(&key) {
            continue;
        }
        let alert = match (item.alert, &item.link) {
            (Some(a), _) => a,
            (None, Some(link)) => {
                let url = match base.join(link) {
                    Ok(u) => u,
                    Err(_) => {
                        tracing::warn!(feed = %feed.url, link = %link, "CAP in: an item's link is not a URL");
                        continue;
                    }
                };
                match get_text(client, url.as_str(), None).await {
                    Ok(Some((xml, _))) => match polis_cap::parse_alert(&xml) {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!(feed = %feed.url, item = %url, error = %e, "CAP in: invalid message skipped");
                            state.seen.insert(key);
                            continue;
                        }
                    },
                    Ok(None) => continue,
                    Err(e) => {
                        // Not marked seen: tried again next round.
                        tracing::warn!(feed = %feed.url, item = %url, error = %e, "CAP in: message not fetched");
                        continue;
                    }
                }
            }
            (None, None) => continue,
        };
        if sink.receive(&feed.url, &feed.municipality, &outline, &alert).await? {
            kept += 1;
        }
        if !key.is_empty() {
            state.seen.insert(key);
        }
    }
    let header =
        |name| headers.get(name).and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok()).map(String::from);
    state.etag = header(reqwest::header::ETAG);
    state.last_modified = header(reqwest::header::LAST_MODIFIED);
    Ok(kept)
}

/// Polls one feed until `shutdown` completes: every `feed.every`, or later with backoff after
/// a failure.
pub async fn run(feed: FeedConfig, sink: Arc<dyn CapSink>, shutdown: impl Future<Output = ()>) {
    let client = match client() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "CAP in: no HTTP client");
            return;
        }
    };
    let mut state = FeedState::default();
    let mut backoff = Backoff::new(feed.every, (feed.every * 16).max(Duration::from_secs(600)));
    tokio::pin!(shutdown);
    loop {
        let delay = match poll_once(&client, &feed, &mut state, &*sink).await {
            Ok(n) => {
                if n > 0 {
                    tracing::info!(feed = %feed.url, kept = n, "CAP in: messages received");
                }
                backoff.reset();
                feed.every
            }
            Err(e) => {
                let d = backoff.next_delay();
                tracing::warn!(feed = %feed.url, error = %e, retry_in_s = d.as_secs(), "CAP in: feed failed");
                d
            }
        };
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}
