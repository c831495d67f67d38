//! Wire types of sessions and users: logging in, the caller, users, the console's settings and
//! event-stream tickets. Serde-derived, converted from domain values with `From`.

use polis_domain::{Actor, User};
use serde::Serialize;

/// The signed-in user, as the login answer and `GET /me` show it (never the password hash).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = SessionUser)]
pub struct UserOut {
    pub id: String,
    pub username: String,
    #[schema(schema_with = crate::admin::role_schema)]
    pub role: &'static str,
    /// The user's municipality (null: region-wide, administrators only)
    pub municipality: Option<String>,
    pub agency: Option<String>,
}

impl From<&User> for UserOut {
    fn from(u: &User) -> Self {
        UserOut {
            id: u.id.as_str().to_string(),
            username: u.username.clone(),
            role: u.role.as_str(),
            municipality: u.municipality.as_ref().map(|m| m.as_str().to_string()),
            agency: u.agency.as_ref().map(|a| a.as_str().to_string()),
        }
    }
}

impl From<&Actor> for UserOut {
    fn from(a: &Actor) -> Self {
        UserOut {
            id: a.user_id.as_str().to_string(),
            username: a.username.clone(),
            role: a.role.as_str(),
            municipality: a.municipality.as_ref().map(|m| m.as_str().to_string()),
            agency: a.agency.as_ref().map(|m| m.as_str().to_string()),
        }
    }
}

/// The answer to `POST /auth/login`.
#[derive(Debug, Serialize)]
pub struct LoginOut {
    pub token: String,
    /// RFC 3339.
    pub expires_at: String,
    pub user: UserOut,
}

/// A point on the map.
#[derive(Debug, Serialize)]
pub struct LatLonOut {
    pub lat: f64,
    pub lon: f64,
}

/// The answer to `GET /console/config`.
#[derive(Debug, Serialize)]
pub struct ConsoleConfigOut {
    pub tile_url: Option<String>,
    pub attribution: Option<String>,
    pub center: LatLonOut,
    pub zoom: u8,
    pub public_url: Option<String>,
}

impl From<&crate::ConsoleConfig> for ConsoleConfigOut {
    fn from(c: &crate::ConsoleConfig) -> Self {
        ConsoleConfigOut {
            tile_url: c.tile_url.clone(),
            attribution: c.tile_attribution.clone(),
            center: LatLonOut { lat: c.center.0, lon: c.center.1 },
            zoom: c.zoom,
            public_url: c.public_url.clone(),
        }
    }
}

/// The answer to `POST /events/ticket`.
#[derive(Debug, Serialize)]
pub struct TicketOut {
    pub ticket: String,
    pub expires_in_s: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire form keeps the field names the document and the console use.
    #[test]
    fn a_login_answer_has_the_documented_fields() {
        let out = LoginOut {
            token: "t".into(),
            expires_at: "2026-12-07T10:00:00Z".into(),
            user: UserOut {
                id: "u1".into(),
                username: "ana".into(),
                role: "operator",
                municipality: Some("kazanlak".into()),
                agency: None,
            },
        };
        let v = serde_json::to_value(&out).expect("serialises");
        assert_eq!(
            v,
            serde_json::json!({"token": "t", "expires_at": "2026-12-07T10:00:00Z",
                "user": {"id": "u1", "username": "ana", "role": "operator", "municipality": "kazanlak", "agency": null}})
        );
    }
}
