//! Authentication: argon2id password hashes, opaque bearer tokens (only their SHA-256 is
//! stored), a login rate limiter, and user management.

use crate::accounts::UserSnapshot;
use crate::registry::new_id;
use crate::App;
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use polis_base::{Error, ErrorKind, Result};
use polis_domain::auth::{check_password, check_username};
use polis_domain::{Actor, Id, Role, User};
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

/// Slows password guessing without locking out the people who use an account.
///
/// Failed logins are counted per account and address together, per account, and per address.
/// Past a free number of failures, each counter asks for a wait after its last failure that
/// doubles with every further failure (5 s, 10 s, 20 s, ... at most 15 minutes); while waiting,
/// a login is refused before the password is checked, so a guesser learns nothing. The
/// account-wide and address-wide counters do not apply to an account and address that logged
/// in successfully before: guesses from elsewhere (five addresses, thirty usernames from one
/// control-room address) slow the guessers, not the account's owner at their usual desk.
pub struct LoginLimiter {
    state: Mutex<LimiterState>,
}

#[derive(Default)]
struct LimiterState {
    /// Failures per key: how many, and the last one.
    failures: HashMap<String, (u32, OffsetDateTime)>,
    /// Account-and-address pairs that logged in, with the time.
    trusted: HashMap<String, OffsetDateTime>,
}

/// Failures of one account from one address before waits begin.
pub const FREE_PAIR_FAILURES: u32 = 5;
/// Failures of one account (from addresses it never logged in from) before waits begin.
pub const FREE_ACCOUNT_FAILURES: u32 = 10;
/// Failures from one address (to accounts never used from it) before waits begin.
pub const FREE_ADDRESS_FAILURES: u32 = 30;
/// The first wait; each further failure doubles it.
const FIRST_WAIT: Duration = Duration::seconds(5);
/// The longest wait.
const MAX_WAIT: Duration = Duration::minutes(15);
/// A counter with no failure for this long is forgotten.
const FORGET_AFTER: Duration = Duration::hours(1);
/// How long a successful login trusts its account and address.
const TRUST_FOR: Duration = Duration::days(30);

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter::new()
    }
}

fn wait_of(failures: u32, free: u32) -> Option<Duration> {
    let over = failures.checked_sub(free)?;
    let factor = 1i32 << over.min(12);
    Some((FIRST_WAIT * factor).min(MAX_WAIT))
}

impl LoginLimiter {
    pub fn new() -> Self {
        LoginLimiter { state: Mutex::new(LimiterState::default()) }
    }

    fn keys(user: &str, addr: &str) -> [String; 3] {
        let user = user.to_lowercase();
        [format!("pair:{user}\n{addr}"), format!("user:{user}"), format!("addr:{addr}")]
    }

    /// `Err` with the seconds to wait when a login of `user` from `addr` must wait.
    pub fn check(&self, user: &str, addr: &str, now: OffsetDateTime) -> std::result::Result<(), i64> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let [pair, account, address] = Self::keys(user, addr);
        let trusted = st.trusted.get(&pair).is_some_and(|t| now - *t < TRUST_FOR);
        let mut counters = vec![(pair, FREE_PAIR_FAILURES)];
        if !trusted {
            counters.push((account, FREE_ACCOUNT_FAILURES));
            counters.push((address, FREE_ADDRESS_FAILURES));
        }
        let mut longest: Option<i64> = None;
        for (key, free) in counters {
            let Some(&(n, last)) = st.failures.get(&key) else { continue };
            if let Some(wait) = wait_of(n, free) {
                let left = (last + wait - now).whole_seconds();
                if left > 0 {
                    longest = Some(longest.unwrap_or(0).max(left));
                }
            }
        }
        longest.map_or(Ok(()), Err)
    }

    pub fn record_failure(&self, user: &str, addr: &str, now: OffsetDateTime) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.failures.len() > 100_000 {
            st.failures.retain(|_, (_, last)| now - *last < FORGET_AFTER);
        }
        for k in Self::keys(user, addr) {
            let e = st.failures.entry(k).or_insert((0, now));
            if now - e.1 >= FORGET_AFTER {
                e.0 = 0;
            }
            *e = (e.0.saturating_add(1), now);
        }
    }

    /// A successful login: its account and address are trusted, and their own count is cleared.
    pub fn record_success(&self, user: &str, addr: &str, now: OffsetDateTime) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.trusted.len() > 100_000 {
            st.trusted.retain(|_, t| now - *t < TRUST_FOR);
        }
        let [pair, _, _] = Self::keys(user, addr);
        st.failures.remove(&pair);
        st.trusted.insert(pair, now);
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
        if let Err(wait) = self.limiter.check(username, client, now) {
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
                // Counted from when the answer goes out (a slow password check does not eat the wait).
                self.limiter.record_failure(username, client, self.clock().now());
                tracing::info!(username, client, "failed login");
                return Err(Error::unauthenticated("wrong username or password"));
            }
        };
        if user.disabled {
            tracing::info!(username = %user.username, client, "login of a disabled account refused");
            return Err(Error::permission_denied("this account is disabled; ask an administrator to enable it"));
        }
        self.limiter.record_success(username, client, now);
        let bytes: [u8; 32] = rand::random();
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let expires_at = now + self.session_ttl;
        self.store().create_session(&token_hash(&token), &user.id, expires_at).await?;
        self.store().record_login(&user.id, now).await?;
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

    /// Issues a ticket for the session whose token hash is `session` (see [`polis_store::Ticket`]):
    /// good for `life`, stored (only its hash) so that every node of a region honours it.
    pub async fn issue_ticket(
        &self,
        session: &str,
        purpose: polis_store::TicketPurpose,
        life: Duration,
    ) -> Result<String> {
        let now = self.clock().now();
        let ticket = new_token();
        let stored = polis_store::Ticket {
            hash: token_hash(&ticket),
            session: session.to_string(),
            purpose,
            expires: now + life,
        };
        self.store().put_ticket(&stored, now).await?;
        Ok(ticket)
    }

    /// Takes a one-time ticket (an event stream's): the session's token hash, once, if it is
    /// known, unexpired and for the event stream.
    pub async fn take_event_ticket(&self, ticket: &str) -> Result<Option<String>> {
        let t = self.store().take_ticket(&token_hash(ticket), self.clock().now()).await?;
        Ok(t.filter(|t| t.purpose == polis_store::TicketPurpose::Events).map(|t| t.session))
    }

    /// A playback ticket, as often as asked until it expires.
    pub async fn playback_ticket(&self, ticket: &str) -> Result<Option<polis_store::Ticket>> {
        let t = self.store().ticket(&token_hash(ticket), self.clock().now()).await?;
        Ok(t.filter(|t| matches!(t.purpose, polis_store::TicketPurpose::Playback { .. })))
    }

    /// Deletes expired login sessions (housekeeping: the server does it every hour).
    pub async fn purge_expired_sessions(&self) -> Result<u64> {
        self.store().purge_sessions(self.clock().now()).await
    }

    /// Ends the session: the token stops working, and the connections it opened (event
    /// streams, live video) and its tickets end with it.
    pub async fn logout(&self, token: &str) -> Result<()> {
        self.end_session(token).await
    }

    /// Creates a user. Administrators only; a municipal administrator creates users of their own
    /// municipality. `actor` is `Actor::system()` for the command line.
    pub async fn create_user(&self, actor: &Actor, new: NewUser) -> Result<User> {
        check_username(&new.username)?;
        check_password(&new.password)?;
        actor.check_admin(new.municipality.as_ref())?;
        self.check_assignment(new.role, new.municipality.as_ref(), new.agency.as_ref()).await?;
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
            disabled: false,
            last_login_at: None,
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
        match self.create_user(&Actor::system(), new).await {
            Ok(_) => Ok(generated),
            // Another node of a region starting at the same moment created it first.
            Err(e) if e.kind == ErrorKind::AlreadyExists && self.store().user_by_username("admin").await?.is_some() => {
                Ok(None)
            }
            Err(e) => Err(e),
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
    fn limiter_slows_guessing_and_spares_a_trusted_account_and_address() {
        let l = LoginLimiter::new();
        let t0 = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        l.record_success("ana", "10.0.0.1", t0);
        // Five failures from one address: that pair waits 5 s, then 10 s after one more.
        for _ in 0..5 {
            assert!(l.check("ana", "10.0.0.9", t0).is_ok());
            l.record_failure("ana", "10.0.0.9", t0);
        }
        assert_eq!(l.check("ana", "10.0.0.9", t0), Err(5));
        assert!(l.check("ana", "10.0.0.9", t0 + Duration::seconds(6)).is_ok());
        l.record_failure("ana", "10.0.0.9", t0 + Duration::seconds(6));
        assert_eq!(l.check("ana", "10.0.0.9", t0 + Duration::seconds(6)), Err(10));
        // Guesses from many addresses: new addresses wait, the owner's own address does not.
        for i in 0..20 {
            l.record_failure("ana", &format!("10.0.1.{i}"), t0);
        }
        assert!(l.check("ana", "10.0.2.1", t0 + Duration::seconds(1)).is_err());
        assert!(l.check("ana", "10.0.0.1", t0 + Duration::seconds(1)).is_ok());
        // Thirty usernames from one address: that address waits for accounts it never used.
        for i in 0..40 {
            l.record_failure(&format!("u{i}"), "10.0.0.1", t0);
        }
        assert!(l.check("someone", "10.0.0.1", t0 + Duration::seconds(1)).is_err());
        assert!(l.check("ana", "10.0.0.1", t0 + Duration::seconds(1)).is_ok());
        // Waits are bounded, and an hour without failures forgets them.
        assert!(l.check("someone", "10.0.0.1", t0 + MAX_WAIT + Duration::seconds(1)).is_ok());
        assert!(wait_of(100, 5).is_some_and(|w| w == MAX_WAIT));
    }

    #[test]
    fn token_hash_is_hex_sha256() {
        assert_eq!(token_hash("abc").len(), 64);
        assert_ne!(token_hash("abc"), token_hash("abd"));
    }
}
