use std::fmt;

/// The closed set of failure kinds. The HTTP layer maps each to a status in exactly one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The caller sent something malformed or out of range (400).
    InvalidArgument,
    /// Not authenticated: missing, bad or expired credentials (401).
    Unauthenticated,
    /// Authenticated but not allowed (403).
    PermissionDenied,
    /// The thing does not exist, or the caller may not know it exists (404).
    NotFound,
    /// A thing with that identity exists already (409).
    AlreadyExists,
    /// The request is valid but the current state forbids it (409).
    FailedPrecondition,
    /// Too many requests (429).
    ResourceExhausted,
    /// A dependency is down; retrying later may help (503).
    Unavailable,
    /// A bug or an unexpected failure (500).
    Internal,
}

impl ErrorKind {
    /// A stable snake_case code used on the wire.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::FailedPrecondition => "failed_precondition",
            ErrorKind::ResourceExhausted => "resource_exhausted",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
        }
    }
}

/// One problem with one field of one input item. `row` is the 1-based line of a CSV file
/// (counting the header as line 1) or the 0-based index of a GeoJSON feature / JSON array item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub row: Option<usize>,
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { row: None, field: field.into(), message: message.into() }
    }
    pub fn at_row(mut self, row: usize) -> Self {
        self.row = Some(row);
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.row {
            Some(r) => write!(f, "row {r}, field {}: {}", self.field, self.message),
            None => write!(f, "field {}: {}", self.field, self.message),
        }
    }
}

/// The error currency of Polis.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// Field-level details (validation and import problems).
    pub details: Vec<FieldError>,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), details: Vec::new(), source: None }
    }
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let fe = FieldError::new(field, message);
        Error { kind: ErrorKind::InvalidArgument, message: fe.to_string(), details: vec![fe], source: None }
    }
    /// An invalid-argument error carrying many field problems (an import, a form).
    pub fn invalid_fields(message: impl Into<String>, details: Vec<FieldError>) -> Self {
        Error { kind: ErrorKind::InvalidArgument, message: message.into(), details, source: None }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::NotFound, message)
    }
    pub fn already_exists(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::AlreadyExists, message)
    }
    pub fn permission_denied(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::PermissionDenied, message)
    }
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Unauthenticated, message)
    }
    pub fn failed_precondition(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::FailedPrecondition, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Unavailable, message)
    }
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }
    pub fn with_details(mut self, details: Vec<FieldError>) -> Self {
        self.details = details;
        self
    }
}
