//! Reading CAP messages and feeds (Atom or RSS) from outside.

use crate::dom::{self, Element};
use polis_base::{Error, Result};
use polis_domain::warning::WarningArea;
use polis_domain::LatLon;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// One earlier message a message references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub sender: String,
    pub identifier: String,
}

/// The area of an `info` block, as rings (a circle becomes a 48-gon).
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedArea {
    pub desc: String,
    pub rings: Vec<Vec<LatLon>>,
}

/// An `info` block.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedInfo {
    pub language: String,
    pub event: String,
    pub urgency: String,
    pub severity: String,
    pub certainty: String,
    pub expires: Option<OffsetDateTime>,
    pub headline: String,
    pub description: String,
    pub instruction: String,
    pub areas: Vec<ParsedArea>,
}

/// A CAP 1.2 message as read.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedAlert {
    pub identifier: String,
    pub sender: String,
    pub sent: OffsetDateTime,
    pub status: String,
    pub msg_type: String,
    pub scope: String,
    pub references: Vec<Reference>,
    pub info: Vec<ParsedInfo>,
}

impl ParsedAlert {
    /// Every ring of every area of every info block.
    pub fn rings(&self) -> impl Iterator<Item = &Vec<LatLon>> {
        self.info.iter().flat_map(|i| i.areas.iter()).flat_map(|a| a.rings.iter())
    }
}

fn required(e: &Element, name: &str) -> Result<String> {
    e.text_of(name)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::invalid(name, format!("a CAP message needs <{name}>")))
}

fn time_of(field: &str, s: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(s.trim(), &Rfc3339).map_err(|_| Error::invalid(field, format!("{s:?} is not a CAP date")))
}

fn point(field: &str, s: &str) -> Result<LatLon> {
    let (lat, lon) = s.split_once(',').ok_or_else(|| Error::invalid(field, "expected lat,lon"))?;
    let num = |v: &str| v.trim().parse::<f64>().map_err(|_| Error::invalid(field, format!("{v:?} is not a number")));
    LatLon::new(num(lat)?, num(lon)?)
}

fn area(e: &Element) -> Result<ParsedArea> {
    let mut rings = Vec::new();
    for p in e.all("polygon") {
        let pts = p.text.split_whitespace().map(|s| point("polygon", s)).collect::<Result<Vec<_>>>()?;
        if pts.len() < 4 {
            return Err(Error::invalid("polygon", "a CAP polygon needs at least four points"));
        }
        rings.push(pts);
    }
    for c in e.all("circle") {
        let (centre, radius) =
            c.text.trim().split_once(' ').ok_or_else(|| Error::invalid("circle", "expected lat,lon radius"))?;
        let km: f64 = radius.trim().parse().map_err(|_| Error::invalid("circle", "the radius is not a number"))?;
        let circle = WarningArea::circle(point("circle", centre)?, (km * 1000.0).max(1.0))?;
        rings.push(circle.ring());
    }
    Ok(ParsedArea { desc: e.text_of("areaDesc").unwrap_or_default(), rings })
}

fn info(e: &Element) -> Result<ParsedInfo> {
    Ok(ParsedInfo {
        language: e.text_of("language").unwrap_or_else(|| "en-US".into()),
        event: required(e, "event")?,
        urgency: required(e, "urgency")?,
        severity: required(e, "severity")?,
        certainty: required(e, "certainty")?,
        expires: e.text_of("expires").map(|s| time_of("expires", &s)).transpose()?,
        headline: e.text_of("headline").unwrap_or_default(),
        description: e.text_of("description").unwrap_or_default(),
        instruction: e.text_of("instruction").unwrap_or_default(),
        areas: e.all("area").map(area).collect::<Result<_>>()?,
    })
}

/// Reads a CAP message element.
pub fn alert_of(e: &Element) -> Result<ParsedAlert> {
    if e.name != "alert" {
        return Err(Error::invalid("xml", format!("expected a CAP <alert>, found <{}>", e.name)));
    }
    let references = e
        .text_of("references")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|r| {
            let mut parts = r.split(',');
            let sender = parts.next()?.to_string();
            let identifier = parts.next()?.to_string();
            Some(Reference { sender, identifier })
        })
        .collect();
    Ok(ParsedAlert {
        identifier: required(e, "identifier")?,
        sender: required(e, "sender")?,
        sent: time_of("sent", &required(e, "sent")?)?,
        status: required(e, "status")?,
        msg_type: required(e, "msgType")?,
        scope: required(e, "scope")?,
        references,
        info: e.all("info").map(info).collect::<Result<_>>()?,
    })
}

/// Reads a CAP message.
pub fn parse_alert(xml: &str) -> Result<ParsedAlert> {
    alert_of(&dom::parse(xml)?)
}

/// One item of a feed: its id, the link to its CAP message, or the message itself when the
/// feed carries it inline.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedItem {
    pub id: String,
    pub link: Option<String>,
    pub alert: Option<ParsedAlert>,
}

fn atom_link(entry: &Element) -> Option<String> {
    let links: Vec<&Element> = entry.all("link").collect();
    let cap = links.iter().find(|l| l.attr("type").is_some_and(|t| t.contains("cap")));
    let alt = links.iter().find(|l| l.attr("rel").is_none_or(|r| r == "alternate"));
    cap.or(alt).and_then(|l| l.attr("href")).map(str::to_string)
}

/// Reads an Atom feed, an RSS feed, or a lone CAP message (an item of its own).
pub fn parse_feed(xml: &str) -> Result<Vec<FeedItem>> {
    let root = dom::parse(xml)?;
    match root.name.as_str() {
        "alert" => {
            let a = alert_of(&root)?;
            Ok(vec![FeedItem { id: a.identifier.clone(), link: None, alert: Some(a) }])
        }
        "feed" => Ok(root
            .all("entry")
            .map(|e| FeedItem {
                id: e.text_of("id").unwrap_or_default(),
                link: atom_link(e),
                alert: e.find("alert").and_then(|a| alert_of(a).ok()),
            })
            .collect()),
        "rss" | "RDF" => {
            let channel = root.child("channel").unwrap_or(&root);
            let items = channel.all("item").chain(root.all("item"));
            Ok(items
                .map(|i| FeedItem {
                    id: i.text_of("guid").or_else(|| i.text_of("link")).unwrap_or_default(),
                    link: i
                        .text_of("link")
                        .or_else(|| i.child("enclosure").and_then(|e| e.attr("url").map(String::from))),
                    alert: i.find("alert").and_then(|a| alert_of(a).ok()),
                })
                .collect())
        }
        other => Err(Error::invalid("xml", format!("not a feed: root element <{other}>"))),
    }
}
