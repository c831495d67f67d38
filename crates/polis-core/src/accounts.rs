//! Accounts: administrators change users (disable and re-enable, reset a password, change role
//! and organisation), and sessions that end take everything opened with them.
//!
//! A long-lived connection (the live event stream, live video) holds a [`SessionEnd`] for the
//! session that opened it. Logging out, disabling the user or resetting their password deletes
//! the session(s) in the store first and then signals every `SessionEnd` of them, so the
//! connection closes at once; a change of role or organisation signals without deleting (the
//! client reconnects with its new rights). A `SessionEnd` also asks the store every
//! [`SESSION_RECHECK`] whether its session still holds, so a session ended by another node, or
//! expired, ends its connections too.
//!
//! Nobody locks the administrators out: an administrator cannot disable themselves or change
//! their own role or organisation, and the last active region-wide administrator cannot be
//! disabled, demoted or moved into a municipality (`FailedPrecondition`, 409). Changes are
//! serialised so that two administrators cannot remove each other at once.

use crate::auth::{hash_password, token_hash};
use crate::App;
use polis_base::{Clock, Error, Result};
use polis_domain::auth::check_password;
use polis_domain::{Actor, AuditRecord, Id, OrgKind, Role, User};
use polis_store::DynStore;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// How often an open connection asks the store whether its session still holds.
pub const SESSION_RECHECK: std::time::Duration = std::time::Duration::from_secs(15);

/// The open connections of each session, and the lock of account changes.
#[derive(Default)]
pub struct Accounts {
    /// By token hash: the user and the signal its connections wait on.
    watched: Mutex<HashMap<String, (Id, watch::Sender<bool>)>>,
    changes: tokio::sync::Mutex<()>,
    /// The server is stopping: every connection ends, and one opened now ends at once.
    closing: std::sync::atomic::AtomicBool,
}

impl Accounts {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Id, watch::Sender<bool>)>> {
        self.watched.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn watch(&self, hash: &str, user: &Id) -> watch::Receiver<bool> {
        let mut map = self.lock();
        if self.closing.load(std::sync::atomic::Ordering::Acquire) {
            return watch::channel(true).1;
        }
        // Forget sessions nobody watches any more.
        if map.len() > 64 {
            map.retain(|_, (_, tx)| tx.receiver_count() > 0);
        }
        match map.get(hash) {
            Some((_, tx)) if !*tx.borrow() => tx.subscribe(),
            _ => {
                let (tx, rx) = watch::channel(false);
                map.insert(hash.to_string(), (user.clone(), tx));
                rx
            }
        }
    }

    /// Ends the connections of one session.
    fn end_session(&self, hash: &str) -> usize {
        match self.lock().remove(hash) {
            Some((_, tx)) => {
                let _ = tx.send(true);
                tx.receiver_count()
            }
            None => 0,
        }
    }

    /// Ends the connections of every session, now and from now on (the server is stopping).
    fn end_all(&self) -> usize {
        let mut map = self.lock();
        self.closing.store(true, std::sync::atomic::Ordering::Release);
        map.drain()
            .map(|(_, (_, tx))| {
                let _ = tx.send(true);
                tx.receiver_count()
            })
            .sum()
    }

    /// Ends the connections of every session of a user.
    fn end_user(&self, user: &Id) -> usize {
        let mut map = self.lock();
        let hashes: Vec<String> = map.iter().filter(|(_, (u, _))| u == user).map(|(h, _)| h.clone()).collect();
        let mut n = 0;
        for h in hashes {
            if let Some((_, tx)) = map.remove(&h) {
                let _ = tx.send(true);
                n += tx.receiver_count();
            }
        }
        n
    }
}

/// Resolves when the session that opened a connection ends (logout, the user disabled or
/// changed, expiry): the connection should then close.
pub struct SessionEnd {
    rx: watch::Receiver<bool>,
    store: DynStore,
    clock: Arc<dyn Clock>,
    hash: String,
}

impl SessionEnd {
    pub async fn ended(&mut self) {
        // Whether the signal fired (`false`: it is gone without firing, which cannot happen while
        // registered; then only the store is asked).
        async fn signalled(rx: &mut watch::Receiver<bool>) -> bool {
            rx.wait_for(|ended| *ended).await.is_ok()
        }
        let mut signal = true;
        loop {
            if signal {
                tokio::select! {
                    fired = signalled(&mut self.rx) => {
                        if fired {
                            return;
                        }
                        signal = false;
                        continue;
                    }
                    _ = tokio::time::sleep(SESSION_RECHECK) => {}
                }
            } else {
                tokio::time::sleep(SESSION_RECHECK).await;
            }
            if let Ok(None) = self.store.session_user(&self.hash, self.clock.now()).await {
                return;
            }
        }
    }
}

/// What an administrator changes of a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub disabled: Option<bool>,
    pub role: Option<Role>,
    /// `Some(None)`: region-wide.
    pub municipality: Option<Option<Id>>,
    pub agency: Option<Option<Id>>,
    /// A new password (reset by the administrator).
    pub password: Option<String>,
}

/// What the audit log records of a user: never the password hash.
#[derive(serde::Serialize)]
pub(crate) struct UserSnapshot<'a> {
    id: &'a str,
    username: &'a str,
    role: &'a str,
    municipality: Option<&'a str>,
    agency: Option<&'a str>,
    disabled: bool,
}

impl<'a> UserSnapshot<'a> {
    pub(crate) fn of(u: &'a User) -> Self {
        UserSnapshot {
            id: u.id.as_str(),
            username: &u.username,
            role: u.role.as_str(),
            municipality: u.municipality.as_ref().map(|m| m.as_str()),
            agency: u.agency.as_ref().map(|a| a.as_str()),
            disabled: u.disabled,
        }
    }
}

fn is_active_root(u: &User) -> bool {
    u.role == Role::Admin && u.municipality.is_none() && !u.disabled
}

impl App {
    /// The actor of a session given by its token hash (what tickets keep instead of a token).
    pub async fn authenticate_hash(&self, hash: &str) -> Result<Actor> {
        let user = self
            .store()
            .session_user(hash, self.clock().now())
            .await?
            .ok_or_else(|| Error::unauthenticated("the token is unknown or expired"))?;
        Ok(user.actor())
    }

    /// Authenticates a bearer token for a long-lived connection: the actor, and what resolves
    /// when the session ends.
    pub async fn authenticate_watched(&self, token: &str) -> Result<(Actor, SessionEnd)> {
        self.authenticate_hash_watched(&token_hash(token)).await
    }

    /// [`App::authenticate_watched`] by token hash.
    pub async fn authenticate_hash_watched(&self, hash: &str) -> Result<(Actor, SessionEnd)> {
        // Watch first, then check: a session ended in between is seen by the check.
        let user = self.store().session_user(hash, self.clock().now()).await?;
        let Some(user) = user else {
            return Err(Error::unauthenticated("the token is unknown or expired"));
        };
        let rx = self.accounts.watch(hash, &user.id);
        let still = self.store().session_user(hash, self.clock().now()).await?;
        let Some(user) = still.filter(|u| u.id == user.id) else {
            return Err(Error::unauthenticated("the token is unknown or expired"));
        };
        let end = SessionEnd { rx, store: self.store().clone(), clock: self.clock.clone(), hash: hash.to_string() };
        Ok((user.actor(), end))
    }

    /// The server is stopping: every event stream and live video opened with a session ends now
    /// (their clients reconnect to another node, or once this one is back), so that stopping
    /// need not wait for connections that never end by themselves. Returns how many ended.
    pub fn end_connections(&self) -> usize {
        self.accounts.end_all()
    }

    /// Ends a session: its token stops working and its open connections close.
    pub(crate) async fn end_session(&self, token: &str) -> Result<()> {
        let hash = token_hash(token);
        self.store().delete_session(&hash).await?;
        let n = self.accounts.end_session(&hash);
        tracing::info!(connections = n, "session ended");
        Ok(())
    }

    /// One user, for an administrator who may manage them (others: `NotFound`).
    pub async fn user(&self, actor: &Actor, id: &Id) -> Result<User> {
        actor.check_admin(actor.municipality.as_ref())?;
        let user = self.store().user(id).await?.ok_or_else(|| Error::not_found(format!("no user with id {id}")))?;
        if actor.check_admin(user.municipality.as_ref()).is_err() {
            return Err(Error::not_found(format!("no user with id {id}")));
        }
        Ok(user)
    }

    /// Checks a role, municipality and agency that go together.
    pub(crate) async fn check_assignment(
        &self,
        role: Role,
        municipality: Option<&Id>,
        agency: Option<&Id>,
    ) -> Result<()> {
        let reg = self.registry().await;
        if let Some(m) = municipality {
            if !reg.is_municipality(m) {
                return Err(Error::invalid("municipality", format!("no municipality with id {m}")));
            }
        }
        if municipality.is_none() && role != Role::Admin {
            // Without a municipality a user would see every municipality's data.
            return Err(Error::invalid(
                "municipality",
                format!("a user with the role {} needs a municipality", role.as_str()),
            ));
        }
        match (agency, role) {
            (None, Role::Agency) => Err(Error::invalid("agency", "an agency user needs an agency")),
            (Some(a), _) => {
                let org = reg.organisations.get(a).filter(|o| o.kind == OrgKind::Agency);
                let Some(org) = org else {
                    return Err(Error::invalid("agency", format!("no agency with id {a}")));
                };
                if municipality != Some(&org.municipality) {
                    return Err(Error::invalid("agency", "the agency belongs to another municipality"));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// An administrator changes a user. Disabling or a new password ends every session of the
    /// user (tokens answer 401, streams and live video close, tickets stop working); a new role
    /// or organisation closes their open connections so they reconnect with the new rights.
    /// Every change is audited (`user.disable`, `user.enable`, `user.update`,
    /// `user.password_reset`).
    pub async fn update_user(&self, actor: &Actor, id: &Id, change: UserChange) -> Result<User> {
        if let Some(p) = &change.password {
            check_password(p)?;
        }
        let _serial = self.accounts.changes.lock().await;
        let before = self.user(actor, id).await?;
        let mut after = before.clone();
        if let Some(d) = change.disabled {
            after.disabled = d;
        }
        if let Some(r) = change.role {
            after.role = r;
        }
        if let Some(m) = change.municipality {
            after.municipality = m;
        }
        let agency_sent = change.agency.is_some();
        if let Some(a) = change.agency {
            after.agency = a;
        }
        if after.role != Role::Agency && !agency_sent && change.role.is_some() {
            // Leaving the agency role leaves the agency.
            after.agency = None;
        }
        if after.municipality != before.municipality {
            actor.check_admin(after.municipality.as_ref())?;
        }
        let reassigned =
            after.role != before.role || after.municipality != before.municipality || after.agency != before.agency;
        if reassigned {
            self.check_assignment(after.role, after.municipality.as_ref(), after.agency.as_ref()).await?;
        }
        if before.id == actor.user_id {
            if after.disabled && !before.disabled {
                return Err(Error::failed_precondition(
                    "you cannot disable your own account; ask another administrator",
                ));
            }
            if reassigned {
                return Err(Error::failed_precondition(
                    "you cannot change your own role or organisation; ask another administrator",
                ));
            }
        }
        if is_active_root(&before) && !is_active_root(&after) {
            let others =
                self.store().list_users().await?.into_iter().filter(|u| u.id != before.id && is_active_root(u));
            if others.count() == 0 {
                return Err(Error::failed_precondition(format!(
                    "{} is the last active region-wide administrator; make another one first",
                    before.username
                )));
            }
        }
        if let Some(pw) = change.password {
            after.password_hash = tokio::task::spawn_blocking(move || hash_password(&pw))
                .await
                .map_err(|e| Error::internal("password hashing failed").with_source(e))??;
        }
        let mut audit: Vec<AuditRecord> = Vec::new();
        let record = |action: &str| {
            self.audit(
                actor,
                action,
                before.id.as_str(),
                after.municipality.as_ref(),
                Some(&UserSnapshot::of(&before)),
                Some(&UserSnapshot::of(&after)),
            )
        };
        if reassigned {
            audit.push(record("user.update"));
        }
        if after.disabled != before.disabled {
            audit.push(record(if after.disabled { "user.disable" } else { "user.enable" }));
        }
        let new_password = after.password_hash != before.password_hash;
        if new_password {
            audit.push(record("user.password_reset"));
        }
        if audit.is_empty() {
            return Ok(after);
        }
        let end_sessions = new_password || (after.disabled && !before.disabled);
        self.store().update_user(&after, end_sessions, &audit).await?;
        if end_sessions || reassigned {
            let n = self.accounts.end_user(&after.id);
            tracing::info!(user = %after.username, connections = n, "ended the user's connections");
        }
        Ok(after)
    }
}

impl App {
    /// The audit log searched ([`polis_store::AuditFilter`]), newest first, scoped to the
    /// actor's municipality (a municipal caller never sees region-wide or other municipalities'
    /// records). Administrators and supervisors only, as [`App::audit_log`].
    pub async fn search_audit(
        &self,
        actor: &Actor,
        mut filter: polis_store::AuditFilter,
    ) -> Result<Vec<polis_store::AuditEntry>> {
        if !matches!(actor.role, Role::Admin | Role::Supervisor) {
            return Err(Error::permission_denied("only administrators and supervisors may read the audit log"));
        }
        filter.municipality = actor.scope().cloned();
        filter.limit = filter.limit.clamp(1, 10_000);
        self.store().search_audit(&filter).await
    }
}
