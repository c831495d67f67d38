//! Authentication of requests: `Authorization: Bearer TOKEN` resolved to an [`Actor`].

use crate::error::ApiError;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use polis_base::Error;
use polis_domain::Actor;

/// The bearer token of a request, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    bearer_of(&parts.headers)
}

/// The bearer token in request headers, if any.
pub fn bearer_of(headers: &axum::http::HeaderMap) -> Option<&str> {
    let v = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim()).filter(|t| !t.is_empty())
}

/// An authenticated request. Handlers that take it answer 401 without a valid token.
pub struct Authed(pub Actor);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(|| Error::unauthenticated("send Authorization: Bearer <token>"))?;
        Ok(Authed(state.app.authenticate(token).await?))
    }
}
