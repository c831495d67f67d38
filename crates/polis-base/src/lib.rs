//! The smallest shared layer of Polis: one error currency ([`Error`] with a closed
//! [`ErrorKind`]), injectable time ([`Clock`]) and the tracing set-up.
//!
//! Every other crate depends on this one and on nothing above it.

mod clock;
mod error;

pub use clock::{Clock, SimClock, SystemClock};
pub use error::{Error, ErrorKind, FieldError, Result};

/// Installs the global tracing subscriber: JSON lines when `json` is true, human text otherwise.
/// The filter comes from `RUST_LOG` (default `info`).
pub fn init_tracing(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second initialisation (tests) is harmless: ignore the error.
    if json {
        let _ = builder.json().try_init();
    } else {
        let _ = builder.try_init();
    }
}
