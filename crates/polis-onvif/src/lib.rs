//! ONVIF cameras for Polis: WS-Discovery on the local network, a device's information and media
//! profiles (filling a new camera's stream addresses), and PTZ control.
//!
//! SOAP 1.2 over HTTP with a WS-Security UsernameToken (password digest); answers are read with
//! `quick-xml` by local element names. This crate does I/O only: who may turn which camera, and
//! where to aim it, is decided in `polis-core` and `polis-domain`.

mod device;
pub mod discovery;
mod xml;

pub use device::{password_digest, Credentials, Device, DeviceInformation, Preset, Profile, PtzPosition};
pub use discovery::{discover, Found};
