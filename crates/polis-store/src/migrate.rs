//! Versioned schema migrations, one list per engine, embedded in the binary.
//!
//! At open, in one transaction: the `schema_version` table is created if missing, the versions
//! already applied are read, the missing ones are applied in order and recorded. Re-opening an
//! up-to-date database changes nothing. A database with a version this binary does not know (made
//! by a newer Polis) is refused, and so is one whose recorded migration names differ from ours
//! (made by a different line of development): running on a schema we do not understand could
//! corrupt it.
//!
//! To change the schema, add `NNNN_name.sql` for *both* engines and a line to each list below;
//! never edit a migration that has been released.

use crate::db::{Arg, Db, Tx};
use crate::error::db_error;
use polis_base::{Error, Result};

pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

pub(crate) const SQLITE: &[Migration] = &[
    Migration { version: 1, name: "initial", sql: include_str!("../migrations/sqlite/0001_initial.sql") },
    Migration { version: 2, name: "live", sql: include_str!("../migrations/sqlite/0002_live.sql") },
    Migration { version: 3, name: "rollups", sql: include_str!("../migrations/sqlite/0003_rollups.sql") },
    Migration { version: 4, name: "incidents", sql: include_str!("../migrations/sqlite/0004_incidents.sql") },
    Migration { version: 5, name: "video", sql: include_str!("../migrations/sqlite/0005_video.sql") },
    Migration { version: 6, name: "accounts", sql: include_str!("../migrations/sqlite/0006_accounts.sql") },
    Migration { version: 7, name: "warnings", sql: include_str!("../migrations/sqlite/0007_warnings.sql") },
    Migration { version: 8, name: "reliability", sql: include_str!("../migrations/sqlite/0008_reliability.sql") },
    Migration { version: 9, name: "tickets", sql: include_str!("../migrations/sqlite/0009_tickets.sql") },
    Migration { version: 10, name: "onvif", sql: include_str!("../migrations/sqlite/0010_onvif.sql") },
    Migration {
        version: 11,
        name: "published_reports",
        sql: include_str!("../migrations/sqlite/0011_published_reports.sql"),
    },
    Migration { version: 12, name: "english_names", sql: include_str!("../migrations/sqlite/0012_english_names.sql") },
];

pub(crate) const POSTGRES: &[Migration] = &[
    Migration { version: 1, name: "initial", sql: include_str!("../migrations/postgres/0001_initial.sql") },
    Migration { version: 2, name: "live", sql: include_str!("../migrations/postgres/0002_live.sql") },
    Migration { version: 3, name: "rollups", sql: include_str!("../migrations/postgres/0003_rollups.sql") },
    Migration { version: 4, name: "incidents", sql: include_str!("../migrations/postgres/0004_incidents.sql") },
    Migration { version: 5, name: "video", sql: include_str!("../migrations/postgres/0005_video.sql") },
    Migration { version: 6, name: "accounts", sql: include_str!("../migrations/postgres/0006_accounts.sql") },
    Migration { version: 7, name: "warnings", sql: include_str!("../migrations/postgres/0007_warnings.sql") },
    Migration { version: 8, name: "reliability", sql: include_str!("../migrations/postgres/0008_reliability.sql") },
    Migration { version: 9, name: "tickets", sql: include_str!("../migrations/postgres/0009_tickets.sql") },
    Migration { version: 10, name: "onvif", sql: include_str!("../migrations/postgres/0010_onvif.sql") },
    Migration {
        version: 11,
        name: "published_reports",
        sql: include_str!("../migrations/postgres/0011_published_reports.sql"),
    },
    Migration {
        version: 12,
        name: "english_names",
        sql: include_str!("../migrations/postgres/0012_english_names.sql"),
    },
];

/// Serialises concurrent opens of one PostgreSQL database (an arbitrary, fixed key).
const PG_MIGRATION_LOCK: i64 = 0x706f_6c69_735f_6d69; // "polis_mi"

const WHAT: &str = "migrate the database schema";

/// Brings the schema up to date; returns the version it is at.
pub(crate) async fn run(db: &Db) -> Result<i64> {
    let migrations = match db {
        Db::Sqlite { .. } => SQLITE,
        Db::Postgres(..) => POSTGRES,
    };
    let mut tx = db.begin(WHAT).await?;
    let r = run_in(&mut tx, matches!(db, Db::Postgres(..)), migrations).await;
    tx.finish(WHAT, r).await
}

async fn run_in(tx: &mut Tx, postgres: bool, migrations: &[Migration]) -> Result<i64> {
    let err = |e| db_error(WHAT, e);
    if postgres {
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[Arg::Int(PG_MIGRATION_LOCK)]).await.map_err(err)?;
    }
    tx.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (
            version BIGINT NOT NULL PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at_ms BIGINT NOT NULL
        )",
        &[],
    )
    .await
    .map_err(err)?;
    let rows = tx.fetch_all("SELECT version, name FROM schema_version ORDER BY version", &[]).await.map_err(err)?;
    let mut applied = Vec::with_capacity(rows.len());
    for row in &rows {
        let version = row.int(0).map_err(err)?;
        let name = row.text(1).map_err(err)?;
        applied.push((version, name));
    }
    let known = migrations.last().map_or(0, |m| m.version);
    check_applied(&applied, migrations, known)?;
    let start = applied.last().map_or(0, |(v, _)| *v);
    let mut current = start;
    for m in migrations.iter().filter(|m| m.version > start) {
        tx.execute_script(m.sql)
            .await
            .map_err(|e| db_error(&format!("apply schema migration {:04}_{}", m.version, m.name), e))?;
        let now = crate::codec::to_ms(time::OffsetDateTime::now_utc());
        tx.execute(
            "INSERT INTO schema_version (version, name, applied_at_ms) VALUES ($1, $2, $3)",
            &[Arg::Int(m.version), Arg::Text(m.name), Arg::Int(now)],
        )
        .await
        .map_err(err)?;
        tracing::info!(version = m.version, name = m.name, "applied schema migration");
        current = m.version;
    }
    Ok(current)
}

/// The applied versions must be exactly our first ones, with the same names.
fn check_applied(applied: &[(i64, String)], migrations: &[Migration], known: i64) -> Result<()> {
    if let Some((newest, _)) = applied.last() {
        if *newest > known {
            return Err(Error::failed_precondition(format!(
                "the database has schema version {newest}, newer than this Polis understands (up to {known}); \
                 run a newer Polis on it, or point this one at another database"
            )));
        }
    }
    for (i, (version, name)) in applied.iter().enumerate() {
        match migrations.get(i) {
            Some(m) if m.version == *version && m.name == name => {}
            _ => {
                return Err(Error::failed_precondition(format!(
                    "the database records schema migration {version:04}_{name}, which this Polis does not have; \
                     it was made by a different build of Polis"
                )))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_engines_have_the_same_numbered_migrations() {
        assert_eq!(SQLITE.len(), POSTGRES.len());
        for (i, (s, p)) in SQLITE.iter().zip(POSTGRES).enumerate() {
            assert_eq!(s.version, i as i64 + 1, "versions are 1, 2, 3, ...");
            assert_eq!((s.version, s.name), (p.version, p.name));
        }
    }

    #[test]
    fn a_newer_database_is_refused_with_a_clear_message() {
        let applied = vec![(1, "initial".to_string()), (2, "future".to_string())];
        let e = check_applied(&applied, SQLITE, 1).unwrap_err();
        assert_eq!(e.kind, polis_base::ErrorKind::FailedPrecondition);
        assert!(e.message.contains("newer"), "{}", e.message);
    }

    #[test]
    fn a_foreign_migration_history_is_refused() {
        let applied = vec![(1, "something_else".to_string())];
        let e = check_applied(&applied, SQLITE, 1).unwrap_err();
        assert_eq!(e.kind, polis_base::ErrorKind::FailedPrecondition);
        assert!(check_applied(&[], SQLITE, 1).is_ok());
        assert!(check_applied(&[(1, "initial".into())], SQLITE, 1).is_ok());
    }
}
