//! Helpers for other crates' tests: fresh PostgreSQL databases on a test server.

use polis_base::{Error, Result};
use sqlx::Connection;
use std::sync::atomic::{AtomicU32, Ordering};

/// Creates an empty database `polis_t_<pid>_<n>_<nanos>` on the server of `server_url` and
/// returns a URL to it. The server is a throw-away one (scripts/test), so nothing drops it.
pub async fn fresh_postgres_database(server_url: &str) -> Result<String> {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let name = format!("polis_t_{}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed), nanos);
    let mut admin = sqlx::PgConnection::connect(server_url)
        .await
        .map_err(|e| Error::unavailable("cannot connect to the test PostgreSQL").with_source(e))?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .map_err(|e| Error::internal("cannot create a test database").with_source(e))?;
    let _ = admin.close().await;
    // Replace the database part of the URL (the path after the authority), keeping any query.
    let (head, query) = match server_url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (server_url, None),
    };
    let scheme_end = head.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match head[scheme_end..].find('/') {
        Some(i) => &head[..scheme_end + i],
        None => head,
    };
    Ok(match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    })
}
