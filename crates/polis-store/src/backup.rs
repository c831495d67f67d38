//! Backups of the embedded SQLite database while Polis runs, and restoring one.
//!
//! A backup is `VACUUM INTO` on a connection of its own: one read transaction, so the copy is
//! the database as of one commit (every write acknowledged before the backup began, nothing
//! half-written), made while the server goes on writing (WAL lets the writer continue). The copy
//! is written beside the target under a temporary name, flushed to disk, and renamed into place,
//! so a backup file is either whole or absent.
//!
//! Restoring checks the file (SQLite integrity check, a Polis schema this build knows), then
//! replaces the database file the same way, removing the old write-ahead log. It refuses while
//! the database looks in use (a non-empty write-ahead log: Polis is running, or stopped without
//! closing it), unless forced.

use crate::error::db_error;
use crate::migrate;
use polis_base::{Error, Result};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Row};
use std::path::{Path, PathBuf};

fn io(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let msg = format!("{what} {}", path.display());
    move |e| Error::unavailable(format!("{msg}: {e}")).with_source(e)
}

fn temp_beside(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".partial-{}", std::process::id()));
    path.with_file_name(name)
}

/// Flushes a file and its directory entry to disk.
fn sync_file_and_dir(path: &Path) -> Result<()> {
    std::fs::File::open(path).and_then(|f| f.sync_all()).map_err(io("flushing", path))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Directories cannot be opened for syncing everywhere; where they can, this makes the
        // rename durable.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

async fn connect(path: &Path, read_only: bool) -> Result<sqlx::SqliteConnection> {
    if !path.is_file() {
        return Err(Error::not_found(format!("no database file at {}", path.display())));
    }
    SqliteConnectOptions::new()
        .filename(path)
        .read_only(read_only)
        .busy_timeout(std::time::Duration::from_secs(30))
        .connect()
        .await
        .map_err(|e| db_error(&format!("open {}", path.display()), e))
}

/// The schema version of a Polis database; `FailedPrecondition` for what is not one, or one of a
/// newer Polis.
async fn polis_schema(conn: &mut sqlx::SqliteConnection, path: &Path) -> Result<i64> {
    let what = format!("read the schema of {}", path.display());
    let tables: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| db_error(&what, e))?;
    if tables == 0 {
        return Err(Error::failed_precondition(format!("{} is not a Polis database", path.display())));
    }
    let version: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| db_error(&what, e))?;
    let version = version.unwrap_or(0);
    let known = migrate::SQLITE.last().map_or(0, |m| m.version);
    if version > known {
        return Err(Error::failed_precondition(format!(
            "{} has schema version {version}, newer than this Polis knows ({known})",
            path.display()
        )));
    }
    Ok(version)
}

/// Copies the SQLite database at `database` to `out` (which must not exist) as of one moment,
/// while other connections (a running Polis) go on reading and writing. Returns the size of the
/// copy in bytes.
pub async fn backup_sqlite(database: &Path, out: &Path) -> Result<u64> {
    if out.exists() {
        return Err(Error::already_exists(format!("{} exists; choose a new file name", out.display())));
    }
    let mut conn = connect(database, false).await?;
    polis_schema(&mut conn, database).await?;
    let partial = temp_beside(out);
    let _ = std::fs::remove_file(&partial);
    let target = partial.to_str().ok_or_else(|| Error::invalid("out", "the path must be valid UTF-8"))?.to_string();
    let r = sqlx::query("VACUUM INTO $1").bind(&target).execute(&mut conn).await;
    let _ = conn.close().await;
    if let Err(e) = r {
        let _ = std::fs::remove_file(&partial);
        return Err(db_error(&format!("back up {}", database.display()), e));
    }
    let done = tokio::task::spawn_blocking({
        let (partial, out) = (partial.clone(), out.to_path_buf());
        move || -> Result<u64> {
            sync_file_and_dir(&partial)?;
            std::fs::rename(&partial, &out).map_err(io("renaming the backup to", &out))?;
            sync_file_and_dir(&out)?;
            Ok(std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0))
        }
    })
    .await
    .map_err(|e| Error::internal("backup task failed").with_source(e))?;
    if done.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    done
}

/// Replaces the SQLite database at `database` with the backup `backup`, after checking it.
/// `FailedPrecondition` while the database looks in use (its write-ahead log is not empty)
/// unless `force`. Returns the backup's schema version (Polis migrates it on its next start).
pub async fn restore_sqlite(backup: &Path, database: &Path, force: bool) -> Result<i64> {
    let mut conn = connect(backup, true).await?;
    let version = polis_schema(&mut conn, backup).await?;
    let what = format!("check {}", backup.display());
    let rows = sqlx::query("PRAGMA integrity_check").fetch_all(&mut conn).await.map_err(|e| db_error(&what, e))?;
    let _ = conn.close().await;
    let verdict: Vec<String> = rows.iter().filter_map(|r| r.try_get::<String, _>(0).ok()).collect();
    if verdict != ["ok"] {
        return Err(Error::failed_precondition(format!(
            "{} is damaged: {}",
            backup.display(),
            verdict.into_iter().take(5).collect::<Vec<_>>().join("; ")
        )));
    }
    let side = |suffix: &str| {
        let mut name = database.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(suffix);
        database.with_file_name(name)
    };
    let (wal, shm) = (side("-wal"), side("-shm"));
    let in_use = std::fs::metadata(&wal).map(|m| m.len() > 0).unwrap_or(false);
    if in_use && !force {
        return Err(Error::failed_precondition(format!(
            "{} looks in use (its write-ahead log {} is not empty): stop Polis first, or restore with --force",
            database.display(),
            wal.display()
        )));
    }
    let (backup, database) = (backup.to_path_buf(), database.to_path_buf());
    tokio::task::spawn_blocking(move || -> Result<()> {
        let partial = temp_beside(&database);
        std::fs::copy(&backup, &partial).map_err(io("copying the backup to", &partial))?;
        sync_file_and_dir(&partial)?;
        for f in [&wal, &shm] {
            match std::fs::remove_file(f) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("removing", f)(e)),
            }
        }
        std::fs::rename(&partial, &database).map_err(io("renaming the restored database to", &database))?;
        sync_file_and_dir(&database)
    })
    .await
    .map_err(|e| Error::internal("restore task failed").with_source(e))??;
    Ok(version)
}
