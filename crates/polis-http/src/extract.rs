//! Request body extraction: a JSON body parsed into a type, whatever its `Content-Type`, with a
//! 400 that names the field (`serde_path_to_error`) instead of axum's plain-text rejections.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use polis_base::Error;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A JSON request body of type `T`.
pub struct JsonBody<T>(pub T);

/// Refuses a JSON body with the NUL character (`\u0000`) in a string or a key, naming the field
/// (`a.b[2].c`): PostgreSQL cannot store it in text, so both stores refuse it here alike. A body
/// that is not JSON passes (its parser reports it).
pub fn refuse_nul(body: &[u8]) -> Result<(), Error> {
    if !body.windows(6).any(|w| w == b"\\u0000") {
        return Ok(());
    }
    fn find(v: &Value, path: &str) -> Option<String> {
        let at = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
        match v {
            Value::String(s) if s.contains('\0') => Some(if path.is_empty() { "body".into() } else { path.into() }),
            Value::Array(items) => items.iter().enumerate().find_map(|(i, x)| find(x, &format!("{path}[{i}]"))),
            Value::Object(m) => {
                m.iter().find_map(|(k, x)| if k.contains('\0') { Some(at(k)) } else { find(x, &at(k)) })
            }
            _ => None,
        }
    }
    match serde_json::from_slice::<Value>(body).ok().as_ref().and_then(|v| find(v, "")) {
        Some(field) => Err(Error::invalid(&field, "must not contain the NUL character (U+0000)")),
        None => Ok(()),
    }
}

/// Parses `body` as `T`; a problem is a 400 naming the field (`a.b[2].c`) or `body`.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    refuse_nul(body)?;
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            Error::invalid(
                "body",
                format!("malformed JSON at line {}, column {}: {inner}", inner.line(), inner.column()),
            )
        } else {
            let field = if path.is_empty() || path == "." { "body".to_string() } else { path };
            Error::invalid(&field, inner.to_string())
        }
    })
}

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequest<S> for JsonBody<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(IntoResponse::into_response)?;
        parse_json(&bytes).map(JsonBody).map_err(|e| ApiError(e).into_response())
    }
}
