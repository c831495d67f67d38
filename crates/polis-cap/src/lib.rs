//! The Common Alerting Protocol (CAP 1.2, OASIS) and Atom feeds, as Polis writes and reads
//! them. This crate knows XML; nothing else in Polis does.
//!
//! - [`alert_xml`] turns a published step of a [`polis_domain::warning::Warning`] into a CAP 1.2
//!   message: serde structs ([`Alert`], [`Info`], [`Area`]) in the schema's element order,
//!   serialised by `quick-xml`, never by pasting strings.
//! - [`feed_xml`] writes the Atom feed of the messages in force.
//! - [`parse_alert`] and [`parse_feed`] read messages and feeds from outside (CAP in): a small
//!   namespace-blind element tree ([`dom`]) with limits on size and depth, then the fields Polis
//!   uses, each checked.

pub mod dom;
mod read;
mod write;

pub use read::{parse_alert, parse_feed, FeedItem, ParsedAlert, ParsedArea, ParsedInfo, Reference};
pub use write::{alert_xml, cap_time, feed_xml, Alert, Area, FeedEntry, Info, Publisher};

/// The CAP 1.2 namespace.
pub const CAP_NS: &str = "urn:oasis:names:tc:emergency:cap:1.2";
/// The Atom namespace.
pub const ATOM_NS: &str = "http://www.w3.org/2005/Atom";
/// The media type of a CAP message.
pub const CAP_MEDIA_TYPE: &str = "application/cap+xml";
