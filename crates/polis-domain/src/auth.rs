//! Users, roles, the acting principal and audit records.

use crate::registry::string_enum;
use crate::values::Id;
use polis_base::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use time::OffsetDateTime;

string_enum!(
    /// What a user may do. Ordered from most to least powerful except `Agency`, which is an
    /// outside liaison that only sees what is shared with it.
    Role {
        Admin = "admin",
        Supervisor = "supervisor",
        Operator = "operator",
        Agency = "agency",
        Viewer = "viewer",
    }
);

/// A stored user.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: Id,
    pub username: String,
    pub role: Role,
    /// The municipality the user works for; `None` for a region-wide administrator.
    pub municipality: Option<Id>,
    /// For agency users: the agency organisation.
    pub agency: Option<Id>,
    /// Argon2id PHC string. Never leaves the server.
    pub password_hash: String,
    pub created_at: OffsetDateTime,
    /// A disabled user cannot sign in and has no working session.
    pub disabled: bool,
    /// When the user last signed in.
    pub last_login_at: Option<OffsetDateTime>,
}

impl User {
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: self.id.clone(),
            username: self.username.clone(),
            role: self.role,
            municipality: self.municipality.clone(),
            agency: self.agency.clone(),
        }
    }
}

/// Usernames: 1-64 characters of letters, digits, `.`, `_`, `-`, `@`.
pub fn check_username(s: &str) -> Result<()> {
    if s.is_empty() || s.len() > 64 || !s.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')) {
        return Err(Error::invalid("username", "must be 1 to 64 letters, digits, '.', '_', '-' or '@'"));
    }
    Ok(())
}

/// Passwords: at least 8 characters.
pub fn check_password(s: &str) -> Result<()> {
    if s.chars().count() < 8 || s.len() > 1024 {
        return Err(Error::invalid("password", "must be 8 to 1024 characters"));
    }
    Ok(())
}

/// The authenticated principal of a request. All permission checks are methods here, so the
/// rules live in one place and are tested without a server.
#[derive(Debug, Clone, PartialEq)]
pub struct Actor {
    pub user_id: Id,
    pub username: String,
    pub role: Role,
    pub municipality: Option<Id>,
    pub agency: Option<Id>,
}

impl Actor {
    /// The principal used by the command line and the demo seeder.
    pub fn system() -> Actor {
        Actor {
            user_id: Id::from_trusted("system"),
            username: "system".into(),
            role: Role::Admin,
            municipality: None,
            agency: None,
        }
    }

    /// Whether the actor may see things of municipality `m` at all.
    pub fn sees(&self, m: &Id) -> bool {
        match &self.municipality {
            None => true,
            Some(own) => own == m,
        }
    }

    /// The municipality filter for listings: `None` means every municipality.
    pub fn scope(&self) -> Option<&Id> {
        self.municipality.as_ref()
    }

    /// Reading the registry (sites, cameras, sensors): every role but agency liaisons, who see
    /// only what is shared with them.
    pub fn check_read_registry(&self) -> Result<()> {
        match self.role {
            Role::Admin | Role::Supervisor | Role::Operator | Role::Viewer => Ok(()),
            Role::Agency => Err(Error::permission_denied("agency users see only what is shared with them")),
        }
    }

    /// Live view, playback and evidence export of a camera of municipality `m`: administrators,
    /// supervisors and operators of `m`. Viewers see the map but no video; agency liaisons see
    /// video only through a share.
    pub fn check_video(&self, m: &Id) -> Result<()> {
        if !matches!(self.role, Role::Admin | Role::Supervisor | Role::Operator) {
            return Err(Error::permission_denied(format!("role {} may not watch video", self.role)));
        }
        if !self.sees(m) {
            return Err(Error::permission_denied(format!("you may not see municipality {m}")));
        }
        Ok(())
    }

    /// Whether the actor's role may change the registry of some municipality at all: checked
    /// before a large body is read, and on an import with no rows.
    pub fn check_may_write_registry(&self) -> Result<()> {
        if !matches!(self.role, Role::Admin | Role::Supervisor) {
            return Err(Error::permission_denied(format!("role {} may not change the registry", self.role)));
        }
        Ok(())
    }

    /// Changing the registry of municipality `m`: administrators and supervisors of `m`.
    pub fn check_write_registry(&self, m: &Id) -> Result<()> {
        self.check_may_write_registry()?;
        if !self.sees(m) {
            return Err(Error::permission_denied(format!("you may not change municipality {m}")));
        }
        Ok(())
    }

    /// Managing users and organisations: administrators (of `m`, or region-wide).
    pub fn check_admin(&self, m: Option<&Id>) -> Result<()> {
        if self.role != Role::Admin {
            return Err(Error::permission_denied("only administrators may do this"));
        }
        match (m, &self.municipality) {
            (_, None) => Ok(()),
            (Some(m), Some(own)) if m == own => Ok(()),
            _ => Err(Error::permission_denied("administrators may only manage their own municipality")),
        }
    }

    /// Drafting, editing and cancelling public warnings of municipality `m`: operators,
    /// supervisors and administrators of `m`.
    pub fn check_warnings(&self, m: &Id) -> Result<()> {
        if !matches!(self.role, Role::Admin | Role::Supervisor | Role::Operator) {
            return Err(Error::permission_denied(format!("role {} may not write warnings", self.role)));
        }
        if !self.sees(m) {
            return Err(Error::permission_denied(format!("you may not see municipality {m}")));
        }
        Ok(())
    }

    /// Approving (publishing) a public warning of municipality `m`: supervisors and
    /// administrators of `m` (and never the warning's author, see `Warning::approve`).
    pub fn check_approve_warning(&self, m: &Id) -> Result<()> {
        if !matches!(self.role, Role::Admin | Role::Supervisor) {
            return Err(Error::permission_denied("only supervisors and administrators may approve warnings"));
        }
        if !self.sees(m) {
            return Err(Error::permission_denied(format!("you may not see municipality {m}")));
        }
        Ok(())
    }

    /// The municipality a new item goes to when the request does not name one.
    pub fn default_municipality(&self) -> Result<Id> {
        self.municipality.clone().ok_or_else(|| Error::invalid("municipality", "required for region-wide users"))
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.username, self.role)
    }
}

/// One line of the audit log: who changed what, when, and the state before and after (JSON
/// snapshots with secrets removed).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    pub municipality: Option<Id>,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(role: Role, m: Option<&str>) -> Actor {
        Actor {
            user_id: Id::from_trusted("u"),
            username: "u".into(),
            role,
            municipality: m.map(Id::from_trusted),
            agency: None,
        }
    }

    #[test]
    fn scoping_is_by_municipality() {
        let kz = Id::from_trusted("kazanlak");
        let other = Id::from_trusted("stara-zagora");
        let a = actor(Role::Admin, Some("kazanlak"));
        assert!(a.check_write_registry(&kz).is_ok());
        assert!(a.check_write_registry(&other).is_err());
        assert!(actor(Role::Admin, None).check_write_registry(&other).is_ok());
    }

    #[test]
    fn viewers_and_operators_cannot_write() {
        let kz = Id::from_trusted("kazanlak");
        assert!(actor(Role::Viewer, Some("kazanlak")).check_write_registry(&kz).is_err());
        assert!(actor(Role::Operator, Some("kazanlak")).check_write_registry(&kz).is_err());
        assert!(actor(Role::Viewer, Some("kazanlak")).check_read_registry().is_ok());
        assert!(actor(Role::Agency, Some("kazanlak")).check_read_registry().is_err());
    }
}
