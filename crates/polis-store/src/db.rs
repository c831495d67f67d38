//! The two engines behind one small surface: run a statement with arguments, fetch rows, read a
//! column, in a transaction or on the read pool. Everything above this module writes its SQL
//! once; it is the same text for both engines (`$1` placeholders are understood by SQLx's SQLite
//! driver as well as by PostgreSQL), except where a statement has thousands of parameters (see
//! `Table::insert_sql_with`).
//!
//! Two concrete pools are used rather than SQLx's `Any` driver: no per-value conversion through
//! an intermediate type on the hot path, and each engine keeps its own connection settings.

use crate::error::db_error;
use polis_base::{ErrorKind, Result};
use sqlx::postgres::{PgPool, PgRow, Postgres};
use sqlx::sqlite::{Sqlite, SqlitePool, SqliteRow};
use sqlx::{Row, Transaction};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// One bound argument. Strings are borrowed from the caller's values.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    Int(i64),
    OptInt(Option<i64>),
    Real(f64),
    OptReal(Option<f64>),
    Bool(bool),
    Text(&'a str),
    OptText(Option<&'a str>),
}

/// Binds `args` in order to a `sqlx::query`, for either engine.
macro_rules! bind_all {
    ($sql:expr, $args:expr) => {{
        let mut q = sqlx::query($sql);
        for a in $args {
            q = match *a {
                Arg::Int(v) => q.bind(v),
                Arg::OptInt(v) => q.bind(v),
                Arg::Real(v) => q.bind(v),
                Arg::OptReal(v) => q.bind(v),
                Arg::Bool(v) => q.bind(v),
                Arg::Text(v) => q.bind(v),
                Arg::OptText(v) => q.bind(v),
            };
        }
        q
    }};
}

/// The pools of one store.
pub(crate) enum Db {
    /// SQLite allows one writer at a time: all writes go through a pool of exactly one
    /// connection (so they queue here instead of failing with `SQLITE_BUSY`), reads through a
    /// pool of `query_only` connections that see the last committed state (WAL).
    Sqlite {
        writer: SqlitePool,
        reader: SqlitePool,
        health: Arc<WriteHealth>,
    },
    Postgres(PgPool, Arc<WriteHealth>),
}

/// Whether writes succeed: the last write failure for lack of space or an unavailable database,
/// until a write commits again.
#[derive(Debug, Default)]
pub(crate) struct WriteHealth(Mutex<crate::WriteStatus>);

impl WriteHealth {
    fn lock(&self) -> std::sync::MutexGuard<'_, crate::WriteStatus> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes a failed write if its error says the database is full or unavailable.
    pub(crate) fn failed(&self, e: &polis_base::Error) {
        if e.kind != ErrorKind::Unavailable {
            return;
        }
        let mut s = self.lock();
        s.failed_writes += 1;
        s.failing_since.get_or_insert_with(SystemTime::now);
        let source = e.source.as_ref().map(|s| format!(": {s}")).unwrap_or_default();
        s.last_error = Some(format!("{}{source}", e.message));
    }

    pub(crate) fn committed(&self) {
        let mut s = self.lock();
        if s.failing_since.is_some() {
            s.failing_since = None;
        }
    }

    pub(crate) fn status(&self) -> crate::WriteStatus {
        self.lock().clone()
    }
}

impl Db {
    pub(crate) fn health(&self) -> &Arc<WriteHealth> {
        match self {
            Db::Sqlite { health, .. } | Db::Postgres(_, health) => health,
        }
    }

    pub(crate) fn is_sqlite(&self) -> bool {
        matches!(self, Db::Sqlite { .. })
    }

    pub(crate) fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite { .. } => "sqlite",
            Db::Postgres(..) => "postgres",
        }
    }

    /// Begins a write transaction. On SQLite it is `BEGIN IMMEDIATE`: the write lock is taken at
    /// once (waiting up to the busy timeout for another process), so a transaction that reads
    /// before it writes cannot fail half-way on a lock upgrade.
    pub(crate) async fn begin(&self, what: &str) -> Result<Tx> {
        let tx = match self {
            Db::Sqlite { writer, .. } => writer.begin_with("BEGIN IMMEDIATE").await.map(TxInner::Sqlite),
            Db::Postgres(pool, _) => pool.begin().await.map(TxInner::Postgres),
        };
        match tx {
            Ok(inner) => Ok(Tx { inner, health: self.health().clone() }),
            Err(e) => {
                let e = db_error(what, e);
                self.health().failed(&e);
                Err(e)
            }
        }
    }

    /// Runs a query on the read pool and returns all its rows.
    pub(crate) async fn fetch_all(&self, what: &str, sql: &str, args: &[Arg<'_>]) -> Result<Vec<DbRow>> {
        let rows = match self {
            Db::Sqlite { reader, .. } => {
                bind_all!(sql, args).fetch_all(reader).await.map(|v| v.into_iter().map(DbRow::Sqlite).collect())
            }
            Db::Postgres(pool, _) => {
                bind_all!(sql, args).fetch_all(pool).await.map(|v| v.into_iter().map(DbRow::Postgres).collect())
            }
        };
        rows.map_err(|e| db_error(what, e))
    }

    /// Closes every connection, waiting for them to finish.
    pub(crate) async fn close(&self) {
        match self {
            Db::Sqlite { writer, reader, .. } => {
                reader.close().await;
                writer.close().await;
            }
            Db::Postgres(pool, _) => pool.close().await,
        }
    }
}

/// An open write transaction. Dropping it without [`Tx::finish`] rolls it back.
pub(crate) struct Tx {
    inner: TxInner,
    health: Arc<WriteHealth>,
}

enum TxInner {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    pub(crate) fn is_sqlite(&self) -> bool {
        matches!(self.inner, TxInner::Sqlite(_))
    }

    /// Runs one statement; returns the number of rows it changed. The raw SQLx error is returned
    /// so that callers can tell a unique violation from other failures.
    pub(crate) async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, sqlx::Error> {
        match &mut self.inner {
            TxInner::Sqlite(tx) => bind_all!(sql, args).execute(&mut **tx).await.map(|r| r.rows_affected()),
            TxInner::Postgres(tx) => bind_all!(sql, args).execute(&mut **tx).await.map(|r| r.rows_affected()),
        }
    }

    pub(crate) async fn fetch_all(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<DbRow>, sqlx::Error> {
        match &mut self.inner {
            TxInner::Sqlite(tx) => {
                bind_all!(sql, args).fetch_all(&mut **tx).await.map(|v| v.into_iter().map(DbRow::Sqlite).collect())
            }
            TxInner::Postgres(tx) => {
                bind_all!(sql, args).fetch_all(&mut **tx).await.map(|v| v.into_iter().map(DbRow::Postgres).collect())
            }
        }
    }

    /// Runs a script of several statements without arguments (migrations).
    pub(crate) async fn execute_script(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        match &mut self.inner {
            TxInner::Sqlite(tx) => sqlx::raw_sql(sql).execute(&mut **tx).await.map(|_| ()),
            TxInner::Postgres(tx) => sqlx::raw_sql(sql).execute(&mut **tx).await.map(|_| ()),
        }
    }

    /// Commits when `result` is `Ok`, rolls back otherwise; returns `result` (or the commit's
    /// failure). A failure for lack of space or an unavailable database is noted in the store's
    /// write health; a commit clears it.
    pub(crate) async fn finish<T>(self, what: &str, result: Result<T>) -> Result<T> {
        let health = self.health.clone();
        match result {
            Ok(v) => {
                let committed = match self.inner {
                    TxInner::Sqlite(tx) => tx.commit().await,
                    TxInner::Postgres(tx) => tx.commit().await,
                };
                match committed {
                    Ok(()) => {
                        health.committed();
                        Ok(v)
                    }
                    Err(e) => {
                        let e = db_error(what, e);
                        health.failed(&e);
                        Err(e)
                    }
                }
            }
            Err(e) => {
                health.failed(&e);
                self.rollback().await;
                Err(e)
            }
        }
    }

    /// Rolls back now (rather than when the connection is next used), so SQLite's write lock is
    /// released at once. A failure here is logged; the pool then closes the connection instead
    /// of reusing it (see `leaves_no_transaction_open`), and the database rolls the transaction
    /// back itself.
    pub(crate) async fn rollback(self) {
        let r = match self.inner {
            TxInner::Sqlite(tx) => tx.rollback().await,
            TxInner::Postgres(tx) => tx.rollback().await,
        };
        if let Err(e) = r {
            tracing::warn!(error = %e, "rollback failed");
        }
    }
}

/// The pools' `after_release` check: a connection handed back still inside a transaction (its
/// commit or rollback failed, e.g. on a full disk, or the caller went away) is closed, never
/// reused; the pool opens a fresh one when it is next needed. On SQLite a ping first runs
/// whatever rollback a dropped transaction queued on the connection's worker, so that a
/// connection that rolls back cleanly is kept (PostgreSQL's driver counts such a rollback at
/// once).
pub(crate) async fn leaves_no_transaction_open<C: sqlx::Connection>(
    conn: &mut C,
    ping_first: bool,
) -> Result<bool, sqlx::Error> {
    if ping_first {
        conn.ping().await?;
    }
    if conn.is_in_transaction() {
        tracing::warn!("a database connection was left inside a transaction; closing it");
        return Ok(false);
    }
    Ok(true)
}

/// A row of either engine.
pub(crate) enum DbRow {
    Sqlite(SqliteRow),
    Postgres(PgRow),
}

macro_rules! get {
    ($self:expr, $i:expr) => {
        match $self {
            DbRow::Sqlite(r) => r.try_get($i),
            DbRow::Postgres(r) => r.try_get($i),
        }
    };
}

impl DbRow {
    pub(crate) fn int(&self, i: usize) -> Result<i64, sqlx::Error> {
        get!(self, i)
    }
    pub(crate) fn real(&self, i: usize) -> Result<f64, sqlx::Error> {
        get!(self, i)
    }
    pub(crate) fn opt_int(&self, i: usize) -> Result<Option<i64>, sqlx::Error> {
        get!(self, i)
    }
    pub(crate) fn opt_real(&self, i: usize) -> Result<Option<f64>, sqlx::Error> {
        get!(self, i)
    }
    pub(crate) fn boolean(&self, i: usize) -> Result<bool, sqlx::Error> {
        get!(self, i)
    }
    pub(crate) fn text(&self, i: usize) -> Result<String, sqlx::Error> {
        get!(self, i)
    }
    pub(crate) fn opt_text(&self, i: usize) -> Result<Option<String>, sqlx::Error> {
        get!(self, i)
    }
}
