//! Polis media: supervised RTSP camera sessions and their health.
//!
//! One [`MediaHub`] owns one session per stream; a session reconnects with backoff and keeps a
//! [`Health`] computed by the pure [`HealthCalc`]. Streams are opened through [`StreamOpener`]
//! ([`RetinaOpener`] for RTSP) so the session logic is tested without a network.

pub mod fmp4;
pub mod health;
pub mod hub;
pub mod mux;
pub mod retina_opener;
pub mod session;

pub use health::{Health, HealthCalc, HealthPolicy, HealthStatus};
pub use hub::{HubConfig, MediaHub};
pub use retina_opener::RetinaOpener;
pub use session::{
    Backoff, Frame, FrameSource, HealthHandle, StreamOpener, StreamParams, Subscription, Tap, VideoCodec, CLOCK_RATE,
};
