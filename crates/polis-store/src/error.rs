//! Turning SQLx errors into [`polis_base::Error`] kinds, in one place.
//!
//! A database's own error can carry row values (PostgreSQL's DETAIL: "Failing row contains
//! (...)", which for a camera includes its stream password). So the source attached to a mapped
//! error is a [`DbFailure`] holding only the error code and the primary message, which name
//! constraints and columns but never values.

use polis_base::{Error, FieldError};
use sqlx::error::ErrorKind as SqlxKind;
use std::fmt;

/// The sanitised remains of a database error: its code and primary message.
#[derive(Debug)]
pub(crate) struct DbFailure {
    code: Option<String>,
    message: String,
}

impl fmt::Display for DbFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(c) => write!(f, "{} (code {c})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for DbFailure {}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.kind() == SqlxKind::UniqueViolation)
}

pub(crate) fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.kind() == SqlxKind::ForeignKeyViolation)
}

/// The name of the constraint (PostgreSQL) or the message naming the columns (SQLite) of a
/// database error, to tell which unique key was hit.
pub(crate) fn constraint_text(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(d) => d.constraint().map(str::to_string).unwrap_or_else(|| d.message().to_string()),
        _ => String::new(),
    }
}

/// Whether a database error code means "try again later": SQLite busy/locked/full, PostgreSQL
/// connection exceptions, shutdown, too many connections, serialization failure, deadlock.
fn transient_code(postgres: bool, code: &str) -> bool {
    if postgres {
        return code.starts_with("08")
            || code.starts_with("53")
            || code.starts_with("57P")
            || code == "40001"
            || code == "40P01";
    }
    // SQLite: extended result codes; the primary code is the low byte.
    // 5 BUSY, 6 LOCKED, 10 IOERR, 13 FULL, 14 CANTOPEN.
    code.parse::<i32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 10 | 13 | 14))
}

/// Maps an SQLx error from doing `what` (e.g. "insert cameras") to an error kind:
/// unique violation -> AlreadyExists, foreign key violation -> FailedPrecondition, connection and
/// lock problems -> Unavailable, anything else -> Internal. The message names the operation only.
pub(crate) fn db_error(what: &str, e: sqlx::Error) -> Error {
    match e {
        sqlx::Error::Database(d) => {
            let code = d.code().map(|c| c.into_owned());
            let kind = d.kind();
            let postgres = d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some();
            let failure = DbFailure { code: code.clone(), message: d.message().to_string() };
            let err = match kind {
                SqlxKind::UniqueViolation => Error::already_exists(format!("{what}: already exists")),
                SqlxKind::ForeignKeyViolation => {
                    Error::failed_precondition(format!("{what}: refers to something that does not exist"))
                }
                _ if code.as_deref().is_some_and(|c| transient_code(postgres, c)) => {
                    Error::unavailable(format!("{what}: the database is busy or unavailable"))
                }
                _ => Error::internal(format!("{what}: database error")),
            };
            err.with_source(failure)
        }
        e @ (sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_)) => {
            Error::unavailable(format!("{what}: the database is unavailable")).with_source(e)
        }
        e => Error::internal(format!("{what}: database error")).with_source(e),
    }
}

/// A row read back that does not make a valid domain value.
pub(crate) fn corrupt(
    table: &str,
    id: &str,
    column: &str,
    source: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    Error::internal(format!("corrupt row in table {table} (id {id:?}): column {column}")).with_source(source)
}

/// `AlreadyExists` for item `row` (0-based) of a batch whose id is taken.
pub(crate) fn id_taken(entity: &str, id: &str, row: Option<usize>) -> Error {
    let fe = FieldError::new("id", format!("{entity} id {id:?} is already taken"));
    let fe = match row {
        Some(r) => fe.at_row(r),
        None => fe,
    };
    let message = match row {
        Some(r) => format!("{entity} id {id:?} (item {r}) is already taken"),
        None => format!("a {entity} id in the batch is already taken"),
    };
    Error::already_exists(message).with_details(vec![fe])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_codes_are_recognised_for_both_engines() {
        assert!(transient_code(false, "5")); // SQLITE_BUSY
        assert!(transient_code(false, "517")); // SQLITE_BUSY_SNAPSHOT
        assert!(!transient_code(false, "19")); // SQLITE_CONSTRAINT
        assert!(!transient_code(false, "2067")); // SQLITE_CONSTRAINT_UNIQUE
        assert!(transient_code(true, "08006")); // connection_failure
        assert!(transient_code(true, "57P01")); // admin_shutdown
        assert!(transient_code(true, "40001")); // serialization_failure
        assert!(!transient_code(true, "42P01")); // undefined_table
        assert!(!transient_code(true, "23505")); // unique_violation
    }

    #[test]
    fn pool_exhaustion_is_unavailable() {
        let e = db_error("list cameras", sqlx::Error::PoolTimedOut);
        assert_eq!(e.kind, polis_base::ErrorKind::Unavailable);
        assert!(e.message.contains("list cameras"));
    }

    #[test]
    fn a_taken_id_names_the_field_and_row() {
        let e = id_taken("camera", "cam-7", Some(3));
        assert_eq!(e.kind, polis_base::ErrorKind::AlreadyExists);
        assert_eq!(e.details[0].field, "id");
        assert_eq!(e.details[0].row, Some(3));
    }
}
