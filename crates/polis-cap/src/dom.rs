//! A small element tree read with `quick-xml`, blind to namespace prefixes (`cap:alert` and
//! `alert` are both `alert`): enough to read CAP messages, Atom and RSS from outside. Input is
//! limited in size, depth and element count, so a hostile feed costs little.

use polis_base::{Error, Result};
use quick_xml::events::Event;
use quick_xml::Reader;

/// The largest document read.
pub const MAX_BYTES: usize = 4 * 1024 * 1024;
const MAX_DEPTH: usize = 48;
const MAX_ELEMENTS: usize = 50_000;

/// An element: its local name, attributes (local names), text and children.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }
    /// Every child named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
    /// The trimmed text of the first child named `name`.
    pub fn text_of(&self, name: &str) -> Option<String> {
        self.child(name).map(|c| c.text.trim().to_string())
    }
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    /// The first element named `name` here or below (depth first).
    pub fn find(&self, name: &str) -> Option<&Element> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(name))
    }
}

fn local(name: &[u8]) -> String {
    let s = String::from_utf8_lossy(name);
    match s.rsplit_once(':') {
        Some((_, l)) => l.to_string(),
        None => s.into_owned(),
    }
}

fn bad(msg: impl Into<String>) -> Error {
    Error::invalid("xml", msg)
}

/// Parses a document into its root element.
pub fn parse(xml: &str) -> Result<Element> {
    if xml.len() > MAX_BYTES {
        return Err(bad(format!("document larger than {MAX_BYTES} bytes")));
    }
    let mut stack: Vec<Element> = Vec::new();
    let mut count = 0usize;
    let mut root = None;
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    loop {
        let ev = reader.read_event().map_err(|e| bad(format!("malformed XML: {e}")))?;
        match ev {
            Event::Start(e) => {
                count += 1;
                if count > MAX_ELEMENTS || stack.len() >= MAX_DEPTH {
                    return Err(bad("document too large or too deep"));
                }
                stack.push(element(&e)?);
            }
            Event::Empty(e) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(bad("document too large"));
                }
                let el = element(&e)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => {
                        root = Some(el);
                    }
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or_else(|| bad("unbalanced end tag"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                let s = t.unescape().map_err(|e| bad(format!("bad text: {e}")))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                }
            }
            Event::CData(t) => {
                let s = String::from_utf8_lossy(&t.into_inner()).into_owned();
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        if root.is_some() && stack.is_empty() {
            break;
        }
    }
    root.ok_or_else(|| bad("no root element"))
}

fn element(e: &quick_xml::events::BytesStart<'_>) -> Result<Element> {
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| bad(format!("bad attribute: {e}")))?;
        let v = a.unescape_value().map_err(|e| bad(format!("bad attribute value: {e}")))?;
        attrs.push((local(a.key.as_ref()), v.into_owned()));
    }
    Ok(Element { name: local(e.name().as_ref()), attrs, text: String::new(), children: Vec::new() })
}
