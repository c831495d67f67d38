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

/// A SQLite store whose database cannot grow past a number of pages (`PRAGMA max_page_count` on
/// its writer connections): a full disk, made without privileges, for fault tests.
#[derive(Clone)]
pub struct PageLimit {
    limit: std::sync::Arc<std::sync::atomic::AtomicU64>,
    writer: sqlx::SqlitePool,
}

impl PageLimit {
    /// Opens (creating) a SQLite store at `path` without a limit yet.
    pub async fn open(path: &std::path::Path) -> Result<(crate::DynStore, PageLimit)> {
        let limit = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (db, writer) = crate::sqlite_db(path, Some(limit.clone())).await?;
        Ok((std::sync::Arc::new(crate::sql::SqlStore::new(db)), PageLimit { limit, writer }))
    }

    /// The database's size now, in pages.
    pub async fn page_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&self.writer)
            .await
            .map_err(|e| Error::internal("PRAGMA page_count").with_source(e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Lets the database grow to `pages` at most (`None`: no limit), from the next write on
    /// (waiting for the one writer connection), and on every connection opened later.
    pub async fn set(&self, pages: Option<u64>) -> Result<()> {
        let pages = pages.unwrap_or(crate::SQLITE_NO_PAGE_LIMIT).max(1);
        self.limit.store(pages, Ordering::SeqCst);
        sqlx::query(&format!("PRAGMA max_page_count = {pages}"))
            .execute(&self.writer)
            .await
            .map_err(|e| Error::internal("PRAGMA max_page_count").with_source(e))?;
        Ok(())
    }

    /// `PRAGMA integrity_check`: `ok`, or the problems found.
    pub async fn integrity_check(&self) -> Result<String> {
        let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&self.writer)
            .await
            .map_err(|e| Error::internal("PRAGMA integrity_check").with_source(e))?;
        Ok(rows.join("; "))
    }
}
