//! Authentication: argon2id password hashes, opaque bearer tokens (only their SHA-256 is
//! stored), a login rate limiter, and user management.

use crate::registry::new_id;
use crate::App;
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use polis_base::{Error, ErrorKind, Result};
use polis_domain::auth::{check_password, check_username};
use polis_domain::{Actor, Id, OrgKind, Role, User};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use time::{Duration, OffsetDateTime};

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("hashing a password failed: {e}")))
}

fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A hash to verify against when the user does not exist, so that the time of a failed login
/// does not tell whether the username exists.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not-a-real-password").unwrap_or_default())
}

/// A new random token (256 bits, URL-safe base64).
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The SHA-256 (hex) of a token: what the store keeps.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random password (for the first administrator when none is given).
pub fn generate_password() -> String {
    let bytes: [u8; 18] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A successful login.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub user: User,
    pub expires_at: OffsetDateTime,
}

/// Counts failed logins per key (username, client address) in a sliding window; past the limit,
/// logins are refused until the window passes, even with the right password.
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, Vec<OffsetDateTime>>>,
    pub max_failures: usize,
    pub window: Duration,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter::new()
    }
}

impl LoginLimiter {
    pub fn new() -> Self {
        LoginLimiter { failures: Mutex::new(HashMap::new()), max_failures: 5, window: Duration::minutes(5) }
    }

    /// `Err` with the seconds to wait when any key is over the limit.
    pub fn check(&self, keys: &[String], now: OffsetDateTime) -> std::result::Result<(), i64> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for k in keys {
            if let Some(v) = map.get_mut(k) {
                v.retain(|t| now - *t < self.window);
                if v.len() >= self.max_failures {
                    let wait = v.first().map(|t| (*t + self.window - now).whole_seconds().max(1)).unwrap_or(1);
                    return Err(wait);
                }
            }
        }
        Ok(())
    }

    pub fn record_failure(&self, keys: &[String], now: OffsetDateTime) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, v| v.last().is_some_and(|t| now - *t < self.window));
        }
        for k in keys {
            map.entry(k.clone()).or_default().push(now);
        }
    }

    pub fn clear(&self, key: &str) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

/// What an administrator gives to create a user.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    pub role: Role,
    pub municipality: Option<Id>,
    pub agency: Option<Id>,
}

impl App {
    /// Checks a username and password; on success opens a session. `client` is the caller's
    /// address, used with the username for rate limiting.
    pub async fn login(&self, username: &str, password: &str, client: &str) -> Result<Session> {
        let now = self.clock().now();
        let keys = [format!("user:{}", username.to_lowercase()), format!("addr:{client}")];
        if let Err(wait) = self.limiter.check(&keys, now) {
            tracing::warn!(username, client, "login rate limited");
            return Err(Error::new(
                ErrorKind::ResourceExhausted,
                format!("too many failed logins; try again in {wait} seconds"),
            ));
        }
        let user = self.store().user_by_username(username).await?;
        let pw = password.to_string();
        let phc = user.as_ref().map(|u| u.password_hash.clone()).unwrap_or_else(|| dummy_hash().to_string());
        let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &phc))
            .await
            .map_err(|e| Error::internal("password check failed").with_source(e))?;
        let user = match (user, ok) {
            (Some(u), true) => u,
            _ => {
                self.limiter.record_failure(&keys, now);
                tracing::info!(username, client, "failed login");
                return Err(Error::unauthenticated("wrong username or password"));
            }
        };
        self.limiter.clear(&keys[0]);
        let bytes: [u8; 32] = rand::random();
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let expires_at = now + self.session_ttl;
        self.store().create_session(&token_hash(&token), &user.id, expires_at).await?;
        tracing::info!(username = %user.username, "login");
        Ok(Session { token, user, expires_at })
    }

    /// The actor behind a bearer token.
    pub async fn authenticate(&self, token: &str) -> Result<Actor> {
        let user = self
            .store()
            .session_user(&token_hash(token), self.clock().now())
            .await?
            .ok_or_else(|| Error::unauthenticated("the token is unknown or expired"))?;
        Ok(user.actor())
    }

    /// Deletes expired login sessions (housekeeping: the server does it every hour).
    pub async fn purge_expired_sessions(&self) -> Result<u64> {
        self.store().purge_sessions(self.clock().now()).await
    }

    pub async fn logout(&self, token: &str) -> Result<()> {
        self.store().delete_session(&token_hash(token)).await
    }

    /// Creates a user. Administrators only; a municipal administrator creates users of their own
    /// municipality. `actor` is `Actor::system()` for the command line.
    pub async fn create_user(&self, actor: &Actor, new: NewUser) -> Result<User> {
        check_username(&new.username)?;
        check_password(&new.password)?;
        actor.check_admin(new.municipality.as_ref())?;
        {
            let reg = self.registry().await;
            if let Some(m) = &new.municipality {
                if !reg.is_municipality(m) {
                    return Err(Error::invalid("municipality", format!("no municipality with id {m}")));
                }
            }
            if new.municipality.is_none() && new.role != Role::Admin {
                // Without a municipality a user would see every municipality's data.
                return Err(Error::invalid(
                    "municipality",
                    format!("a user with the role {} needs a municipality", new.role.as_str()),
                ));
            }
            match (&new.agency, new.role) {
                (None, Role::Agency) => return Err(Error::invalid("agency", "an agency user needs an agency")),
                (Some(a), _) => {
                    let org = reg.organisations.get(a).filter(|o| o.kind == OrgKind::Agency);
                    let Some(org) = org else {
                        return Err(Error::invalid("agency", format!("no agency with id {a}")));
                    };
                    if new.municipality.as_ref() != Some(&org.municipality) {
                        return Err(Error::invalid("agency", "the agency belongs to another municipality"));
                    }
                }
                _ => {}
            }
        }
        let pw = new.password.clone();
        let password_hash = tokio::task::spawn_blocking(move || hash_password(&pw))
            .await
            .map_err(|e| Error::internal("password hashing failed").with_source(e))??;
        let user = User {
            id: new_id("user"),
            username: new.username,
            role: new.role,
            municipality: new.municipality,
            agency: new.agency,
            password_hash,
            created_at: self.clock().now(),
        };
        let audit = self.audit(
            actor,
            "user.create",
            user.id.as_str(),
            user.municipality.as_ref(),
            None,
            Some(&UserSnapshot::of(&user)),
        );
        self.store().create_user(&user, Some(&audit)).await?;
        Ok(user)
    }

    /// Users the actor administers.
    pub async fn users(&self, actor: &Actor) -> Result<Vec<User>> {
        actor.check_admin(actor.municipality.as_ref())?;
        Ok(self
            .store()
            .list_users()
            .await?
            .into_iter()
            .filter(|u| actor.municipality.is_none() || u.municipality == actor.municipality)
            .collect())
    }

    /// Makes sure a region-wide administrator `admin` exists. When it does not, creates it with
    /// `password`, or with a generated one which is returned so that it can be shown once.
    pub async fn ensure_admin(&self, password: Option<String>) -> Result<Option<String>> {
        if self.store().user_by_username("admin").await?.is_some() {
            return Ok(None);
        }
        let (pw, generated) = match password {
            Some(p) => (p, None),
            None => {
                let p = generate_password();
                (p.clone(), Some(p))
            }
        };
        let new =
            NewUser { username: "admin".into(), password: pw, role: Role::Admin, municipality: None, agency: None };
        self.create_user(&Actor::system(), new).await?;
        Ok(generated)
    }
}

/// What the audit log records of a user: never the password hash.
#[derive(serde::Serialize)]
struct UserSnapshot<'a> {
    id: &'a str,
    username: &'a str,
    role: &'a str,
    municipality: Option<&'a str>,
    agency: Option<&'a str>,
}

impl<'a> UserSnapshot<'a> {
    fn of(u: &'a User) -> Self {
        UserSnapshot {
            id: u.id.as_str(),
            username: &u.username,
            role: u.role.as_str(),
            municipality: u.municipality.as_ref().map(|m| m.as_str()),
            agency: u.agency.as_ref().map(|a| a.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_when_right() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a phc string"));
    }

    #[test]
    fn limiter_blocks_after_max_failures_and_forgets_after_the_window() {
        let l = LoginLimiter::new();
        let t0 = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let keys = ["user:a".to_string()];
        for _ in 0..5 {
            assert!(l.check(&keys, t0).is_ok());
            l.record_failure(&keys, t0);
        }
        assert!(l.check(&keys, t0 + Duration::seconds(10)).is_err());
        assert!(l.check(&keys, t0 + Duration::minutes(6)).is_ok());
    }

    #[test]
    fn token_hash_is_hex_sha256() {
        assert_eq!(token_hash("abc").len(), 64);
        assert_ne!(token_hash("abc"), token_hash("abd"));
    }
}
