//! Writing CAP 1.2 messages and the Atom feed with serde + quick-xml. Field order in each
//! struct is the element order the OASIS schema requires.

use crate::{ATOM_NS, CAP_MEDIA_TYPE, CAP_NS};
use polis_base::{Error, Result};
use polis_domain::warning::{cap_word, MessageRef, MsgType, Texts, Warning, WarningArea};
use serde::Serialize;
use time::OffsetDateTime;

/// `<alert>`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename = "alert")]
pub struct Alert {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub identifier: String,
    pub sender: String,
    pub sent: String,
    pub status: String,
    #[serde(rename = "msgType")]
    pub msg_type: String,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub references: Option<String>,
    #[serde(rename = "info")]
    pub info: Vec<Info>,
}

/// `<info>`, one per language.
#[derive(Debug, Clone, Serialize)]
pub struct Info {
    pub language: String,
    pub category: Vec<String>,
    pub event: String,
    pub urgency: String,
    pub severity: String,
    pub certainty: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub onset: Option<String>,
    pub expires: String,
    #[serde(rename = "senderName")]
    pub sender_name: String,
    pub headline: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web: Option<String>,
    pub area: Vec<Area>,
}

/// `<area>`: a polygon or a circle.
#[derive(Debug, Clone, Serialize)]
pub struct Area {
    #[serde(rename = "areaDesc")]
    pub area_desc: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub polygon: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub circle: Vec<String>,
}

/// Who sends: the CAP `sender` (no spaces, commas or `<&`), the name people read, and the
/// portal's address (for `web`), if known.
#[derive(Debug, Clone)]
pub struct Publisher {
    pub sender: String,
    pub name: Texts,
    pub web: Option<String>,
}

/// A CAP date and time: `2026-12-07T10:00:00+00:00` (whole seconds, an explicit offset, as
/// the schema's pattern requires).
pub fn cap_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn coord(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_string()
    }
}

fn area(a: &WarningArea, desc: &str) -> Area {
    match a {
        WarningArea::Polygon(ring) => {
            let mut pts: Vec<String> = ring.iter().map(|p| format!("{},{}", coord(p.lat()), coord(p.lon()))).collect();
            if let Some(first) = pts.first().cloned() {
                pts.push(first);
            }
            Area { area_desc: desc.to_string(), polygon: vec![pts.join(" ")], circle: Vec::new() }
        }
        WarningArea::Circle { center, radius_m } => Area {
            area_desc: desc.to_string(),
            polygon: Vec::new(),
            circle: vec![format!("{},{} {}", coord(center.lat()), coord(center.lon()), coord(radius_m / 1000.0))],
        },
    }
}

fn to_xml<T: Serialize>(what: &str, v: &T) -> Result<String> {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let mut ser = quick_xml::se::Serializer::new(&mut out);
    ser.indent(' ', 2);
    v.serialize(ser).map_err(|e| Error::internal(format!("cannot write {what} as XML")).with_source(e))?;
    out.push('\n');
    Ok(out)
}

/// The CAP 1.2 message of `msg`, one of `w`'s messages: `Alert`, `Update` or `Cancel`, with
/// `references` to every message of the warning sent before it, and an `info` block in
/// Bulgarian and one in English.
pub fn alert_xml(w: &Warning, msg: &MessageRef, publisher: &Publisher) -> Result<String> {
    let earlier: Vec<String> = w
        .messages
        .iter()
        .take_while(|m| m.identifier != msg.identifier)
        .map(|m| m.reference(&cap_time(m.sent)))
        .collect();
    let references = match msg.msg_type {
        MsgType::Alert => None,
        MsgType::Update | MsgType::Cancel => Some(earlier.join(" ")).filter(|s| !s.is_empty()),
    };
    let c = &w.content;
    let info = [("bg-BG", "bg"), ("en-GB", "en")]
        .iter()
        .map(|(language, lang)| {
            let pick = |t: &Texts| if *lang == "bg" { t.bg.clone() } else { t.en.clone() };
            let name = pick(&publisher.name);
            let desc = Some(pick(&c.area_desc)).filter(|s| !s.is_empty()).unwrap_or_else(|| name.clone());
            Info {
                language: language.to_string(),
                category: vec![cap_word(c.category.as_str())],
                event: c.event.clone(),
                urgency: cap_word(c.urgency.as_str()),
                severity: cap_word(c.severity.as_str()),
                certainty: cap_word(c.certainty.as_str()),
                onset: c.onset.map(cap_time),
                expires: cap_time(c.expires),
                sender_name: name,
                headline: pick(&c.headline),
                description: pick(&c.description),
                instruction: Some(pick(&c.instruction)).filter(|s| !s.is_empty()),
                web: publisher.web.clone(),
                area: vec![area(&c.area, &desc)],
            }
        })
        .collect();
    let alert = Alert {
        xmlns: CAP_NS,
        identifier: msg.identifier.clone(),
        sender: msg.sender.clone(),
        sent: cap_time(msg.sent),
        status: "Actual".into(),
        msg_type: cap_word(msg.msg_type.as_str()),
        scope: "Public".into(),
        note: (msg.msg_type == MsgType::Cancel).then(|| "All clear: this warning is cancelled.".to_string()),
        references,
        info,
    };
    to_xml("a CAP message", &alert)
}

/// One entry of the Atom feed: a CAP message in force.
#[derive(Debug, Clone)]
pub struct FeedEntry {
    pub identifier: String,
    pub title: String,
    pub summary: String,
    pub updated: OffsetDateTime,
    /// Where the CAP message is served.
    pub href: String,
}

#[derive(Serialize)]
#[serde(rename = "feed")]
struct AtomFeed {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    id: String,
    title: String,
    updated: String,
    author: AtomAuthor,
    link: Vec<AtomLink>,
    entry: Vec<AtomEntry>,
}

#[derive(Serialize)]
struct AtomAuthor {
    name: String,
}

#[derive(Serialize)]
struct AtomLink {
    #[serde(rename = "@rel")]
    rel: &'static str,
    #[serde(rename = "@type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(rename = "@href")]
    href: String,
}

#[derive(Serialize)]
struct AtomEntry {
    id: String,
    title: String,
    updated: String,
    summary: String,
    link: AtomLink,
}

fn atom_time(t: OffsetDateTime) -> String {
    cap_time(t).replace("+00:00", "Z")
}

/// The Atom feed (RFC 4287) of the CAP messages in force: `self_href` is the feed's own
/// address, `updated` the newest change.
pub fn feed_xml(
    title: &str,
    author: &str,
    self_href: &str,
    updated: OffsetDateTime,
    entries: &[FeedEntry],
) -> Result<String> {
    let feed = AtomFeed {
        xmlns: ATOM_NS,
        id: self_href.to_string(),
        title: title.to_string(),
        updated: atom_time(updated),
        author: AtomAuthor { name: author.to_string() },
        link: vec![AtomLink { rel: "self", kind: Some("application/atom+xml"), href: self_href.to_string() }],
        entry: entries
            .iter()
            .map(|e| AtomEntry {
                id: format!("urn:cap:{}", e.identifier),
                title: e.title.clone(),
                updated: atom_time(e.updated),
                summary: e.summary.clone(),
                link: AtomLink { rel: "alternate", kind: Some(CAP_MEDIA_TYPE), href: e.href.clone() },
            })
            .collect(),
    };
    to_xml("the Atom feed", &feed)
}
