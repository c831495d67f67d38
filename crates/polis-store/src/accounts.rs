//! Account administration and the audit log search: a user's changes (disabling ends their
//! sessions in the same transaction), the last sign-in, and the audit log filtered by actor,
//! action, object and time.

use crate::codec;
use crate::db::{Arg, Db};
use crate::error::db_error;
use crate::sql::{audit_from, user_from, write_audit, AUDIT, USERS};
use crate::{AuditEntry, AuditFilter};
use polis_base::{Error, Result};
use polis_domain::{AuditRecord, Id, User};
use time::OffsetDateTime;

pub(crate) async fn user(db: &Db, id: &Id) -> Result<Option<User>> {
    let sql = format!("{} WHERE id = $1", USERS.select_sql());
    let rows = db.fetch_all("find user", &sql, &[Arg::Text(id.as_str())]).await?;
    rows.first().map(user_from).transpose()
}

/// Replaces what an administrator may change of a user (role, municipality, agency, password
/// hash, disabled); with `end_sessions`, deletes every session of the user in the same
/// transaction.
pub(crate) async fn update_user(db: &Db, u: &User, end_sessions: bool, audit: &[AuditRecord]) -> Result<()> {
    const WHAT: &str = "update user";
    let mut tx = db.begin(WHAT).await?;
    let r = async {
        let args = [
            Arg::Text(u.id.as_str()),
            Arg::Text(u.role.as_str()),
            Arg::OptText(u.municipality.as_ref().map(Id::as_str)),
            Arg::OptText(u.agency.as_ref().map(Id::as_str)),
            Arg::Text(&u.password_hash),
            Arg::Bool(u.disabled),
        ];
        let n = tx
            .execute(
                "UPDATE users SET role = $2, municipality = $3, agency = $4, password_hash = $5, disabled = $6 \
                 WHERE id = $1",
                &args,
            )
            .await
            .map_err(|e| db_error(WHAT, e))?;
        if n == 0 {
            return Err(Error::not_found(format!("no user with id {}", u.id)));
        }
        if end_sessions {
            tx.execute("DELETE FROM sessions WHERE user_id = $1", &[Arg::Text(u.id.as_str())])
                .await
                .map_err(|e| db_error(WHAT, e))?;
        }
        write_audit(&mut tx, WHAT, audit).await
    }
    .await;
    tx.finish(WHAT, r).await
}

pub(crate) async fn record_login(db: &Db, user: &Id, at: OffsetDateTime) -> Result<()> {
    const WHAT: &str = "record a sign-in";
    let mut tx = db.begin(WHAT).await?;
    let r = tx
        .execute(
            "UPDATE users SET last_login_at_ms = $2 WHERE id = $1",
            &[Arg::Text(user.as_str()), Arg::Int(codec::to_ms(at))],
        )
        .await
        .map(|_| ())
        .map_err(|e| db_error(WHAT, e));
    tx.finish(WHAT, r).await
}

/// The audit log, newest first, filtered; every filter is an exact match (see
/// [`AuditFilter`]).
pub(crate) async fn search_audit(db: &Db, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
    let mut args: Vec<Arg<'_>> = vec![Arg::Int(i64::from(f.limit))];
    let mut conds: Vec<String> = Vec::new();
    fn push<'a>(args: &mut Vec<Arg<'a>>, conds: &mut Vec<String>, cond: &str, arg: Arg<'a>) {
        args.push(arg);
        conds.push(format!("{cond} ${}", args.len()));
    }
    let mut add = |cond: &str, arg| push(&mut args, &mut conds, cond, arg);
    if let Some(from) = f.from {
        add("at_ms >=", Arg::Int(codec::to_ms(from)));
    }
    if let Some(to) = f.to {
        add("at_ms <", Arg::Int(codec::to_ms(to)));
    }
    if let Some(seq) = f.before_seq {
        add("seq <", Arg::Int(seq));
    }
    if let Some(m) = &f.municipality {
        add("municipality =", Arg::Text(m.as_str()));
    }
    if let Some(a) = &f.actor {
        add("actor =", Arg::Text(a));
    }
    if let Some(a) = &f.action {
        // `camera.update` is one action; `camera` is every action on cameras.
        add(if a.contains('.') { "\"action\" =" } else { "entity =" }, Arg::Text(a));
    }
    if let Some(o) = &f.object {
        add("entity_id =", Arg::Text(o));
    }
    let mut sql = format!("SELECT seq, {} FROM audit_log", AUDIT.cols.join(", "));
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    sql.push_str(" ORDER BY seq DESC LIMIT $1");
    let rows = db.fetch_all("search the audit log", &sql, &args).await?;
    rows.iter().map(audit_from).collect()
}
