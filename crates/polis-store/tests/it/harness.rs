//! Fresh databases for each test: a SQLite file in a temporary directory, or a new PostgreSQL
//! database (`CREATE DATABASE polis_test_<random>`) on the server of `POLIS_TEST_PG_URL`, dropped
//! afterwards. Without that variable the PostgreSQL tests are skipped, unless `POLIS_REQUIRE_PG=1`
//! says they must run, in which case they fail.

use polis_store::DynStore;
use sqlx::Connection;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

/// A fresh, empty database that a test may open (and re-open) itself.
pub struct Fresh {
    pub url: String,
}

impl Fresh {
    pub async fn open(&self) -> DynStore {
        polis_store::open(&self.url).await.expect("open the test store")
    }

    pub fn is_sqlite(&self) -> bool {
        self.url.starts_with("sqlite:")
    }

    /// Runs one statement on the database behind the store's back (to corrupt it, or to look at
    /// what the store does not show).
    pub async fn raw_execute(&self, sql: &str) {
        if self.is_sqlite() {
            let mut c = sqlx::SqliteConnection::connect(&self.url).await.expect("raw sqlite connection");
            sqlx::query(sql).execute(&mut c).await.expect("raw statement");
        } else {
            let mut c = sqlx::PgConnection::connect(&self.url).await.expect("raw postgres connection");
            sqlx::query(sql).execute(&mut c).await.expect("raw statement");
        }
    }

    /// Runs a query returning one integer.
    pub async fn raw_i64(&self, sql: &str) -> i64 {
        if self.is_sqlite() {
            let mut c = sqlx::SqliteConnection::connect(&self.url).await.expect("raw sqlite connection");
            sqlx::query_scalar(sql).fetch_one(&mut c).await.expect("raw query")
        } else {
            let mut c = sqlx::PgConnection::connect(&self.url).await.expect("raw postgres connection");
            sqlx::query_scalar(sql).fetch_one(&mut c).await.expect("raw query")
        }
    }
}

/// Runs `test` on a fresh SQLite file.
pub async fn on_sqlite<Fut: Future<Output = ()>>(test: impl FnOnce(Fresh) -> Fut) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("polis.db").display());
    test(Fresh { url }).await;
}

/// Runs `test` on a fresh PostgreSQL database, or skips (see the module doc).
pub async fn on_postgres<Fut: Future<Output = ()>>(test: impl FnOnce(Fresh) -> Fut) {
    let Some(server) = pg_server_url() else { return };
    let name = unique_name();
    let mut admin = sqlx::PgConnection::connect(&server).await.expect("connect to POLIS_TEST_PG_URL");
    // A linguistic collation where the server has one (as production servers usually do), so
    // that tests of ordering see what byte order would hide; else the server's default.
    let icu =
        format!("CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'");
    if sqlx::query(&icu).execute(&mut admin).await.is_err() {
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create test database");
    }
    let _ = admin.close().await;
    let url = with_database(&server, &name);
    let _guard = DropDatabase { server, name };
    test(Fresh { url }).await;
}

/// Drops a test database when the test ends, also when it fails.
struct DropDatabase {
    server: String,
    name: String,
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot block: use a thread with its own.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&server).await.ok()?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                sqlx::query(&sql).execute(&mut admin).await.ok()
            })
        })
        .join();
        if !matches!(done, Ok(Some(_))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// Adapts a test taking a store to one taking a fresh database.
pub async fn with_store<Fut: Future<Output = ()>>(fresh: Fresh, test: impl FnOnce(DynStore) -> Fut) {
    let store = fresh.open().await;
    test(store.clone()).await;
    store.close().await;
}

fn pg_server_url() -> Option<String> {
    match std::env::var("POLIS_TEST_PG_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var("POLIS_REQUIRE_PG").as_deref() == Ok("1") => {
            panic!("POLIS_REQUIRE_PG=1 but POLIS_TEST_PG_URL is not set: the PostgreSQL tests must run")
        }
        _ => {
            eprintln!("skipped: set POLIS_TEST_PG_URL to run the PostgreSQL tests");
            None
        }
    }
}

fn unique_name() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("polis_test_{}_{}_{}", std::process::id(), nanos, N.fetch_add(1, Ordering::Relaxed))
}

/// `url` with its database (path) replaced by `db`, keeping any `?query`.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..].find('/').map_or(base.len(), |i| authority + i);
    format!("{}/{db}{query}", &base[..path])
}

#[test]
fn with_database_replaces_only_the_path() {
    assert_eq!(with_database("postgres://u@h:5/postgres", "t1"), "postgres://u@h:5/t1");
    assert_eq!(with_database("postgres://u@h:5", "t1"), "postgres://u@h:5/t1");
    assert_eq!(with_database("postgres://u:p@h/x?sslmode=disable", "t1"), "postgres://u:p@h/t1?sslmode=disable");
}
