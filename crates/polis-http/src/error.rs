//! The one place where an [`polis_base::Error`] becomes an HTTP status and a JSON body:
//! `{"error": {"code", "message", "details": [{"row", "field", "message"}]}}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use polis_base::{Error, ErrorKind};

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::AlreadyExists | ErrorKind::FailedPrecondition => StatusCode::CONFLICT,
        ErrorKind::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = status_of(e.kind);
        // Internal details stay in the log; the client gets a generic message.
        let message = if e.kind == ErrorKind::Internal {
            tracing::error!(error = %e, source = ?e.source, "internal error");
            "internal error".to_string()
        } else {
            e.message.clone()
        };
        let details = e
            .details
            .iter()
            .map(|d| DetailOut { row: d.row, field: d.field.clone(), message: d.message.clone() })
            .collect();
        let body = ErrorOut { error: ErrorBody { code: e.kind.code(), message, details } };
        let mut resp = (status, axum::Json(body)).into_response();
        if e.kind == ErrorKind::Unauthenticated {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if e.kind == ErrorKind::ResourceExhausted {
            if let Some(secs) = e.message.split_whitespace().find_map(|w| w.parse::<u64>().ok()) {
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    resp.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
        }
        resp
    }
}

/// The answer to a body over its route's limit (413), in the shape of every other error (axum's
/// own answer is plain text): code `payload_too_large`, naming the field `body`.
pub fn too_large() -> Response {
    let body = ErrorOut {
        error: ErrorBody {
            code: "payload_too_large",
            message: "the request body is larger than this route takes".into(),
            details: vec![DetailOut { row: None, field: "body".into(), message: "is too large".into() }],
        },
    };
    (StatusCode::PAYLOAD_TOO_LARGE, axum::Json(body)).into_response()
}

/// Every error answer: `{"error": {"code", "message", "details": [{"row", "field", "message"}]}}`.
#[derive(serde::Serialize)]
struct ErrorOut {
    error: ErrorBody,
}

#[derive(serde::Serialize)]
struct ErrorBody {
    code: &'static str,
    message: String,
    details: Vec<DetailOut>,
}

#[derive(serde::Serialize)]
struct DetailOut {
    row: Option<usize>,
    field: String,
    message: String,
}
