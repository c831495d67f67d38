//! Polis media: supervised RTSP camera sessions and their health.
//!
//! One [`MediaHub`] owns one session per stream; a session reconnects with backoff and keeps a
//! [`Health`] computed by the pure [`HealthCalc`]. Streams are opened through [`StreamOpener`]
//! ([`RetinaOpener`] for RTSP, [`SyntheticOpener`] for the demo city's `demo://` cameras, and
//! [`RoutingOpener`] choosing between them) so the session logic is tested without a network.
//! [`codec`] decodes and encodes H.264 with OpenH264; [`snapshot`] turns a key frame into a JPEG
//! with the privacy zones blacked out. [`fmp4`] and [`mux`] write and read the fragmented MP4 of
//! recordings, playback and live view.

pub mod codec;
pub mod fmp4;
pub mod health;
pub mod hub;
pub mod mux;
pub mod retina_opener;
pub mod session;
pub mod snapshot;
pub mod synthetic;

pub use codec::{decode_key_frame, EncoderSettings, H264Encoder, Rgb};
pub use health::{Health, HealthCalc, HealthPolicy, HealthStatus, OfflineReason};
pub use hub::{HubConfig, MediaHub};
pub use retina_opener::RetinaOpener;
pub use session::{
    Backoff, Frame, FrameSource, HealthHandle, StreamOpener, StreamParams, Subscription, Tap, VideoCodec, CLOCK_RATE,
};
pub use snapshot::{encode_jpeg, mask_privacy_zones, snapshot_jpeg};
pub use synthetic::{RoutingOpener, SyntheticOpener, SyntheticSettings};
