//! A small element tree of a SOAP answer, by local names.
//!
//! Cameras differ in namespace prefixes and some declare none for the prefixes they use, so
//! answers are read without namespace resolution: an element is known by its local name (the
//! part after the colon), which is unique enough within one ONVIF answer.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// One element: its local name, attributes (local names), text and children.
#[derive(Debug, Default, Clone)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Element>,
}

/// The most elements and the deepest nesting an answer may have (an answer is small: a
/// camera's profiles are a few hundred elements).
const MAX_ELEMENTS: usize = 20_000;
const MAX_DEPTH: usize = 64;

fn local(name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    match name.rsplit_once(':') {
        Some((_, l)) => l.to_string(),
        None => name.into_owned(),
    }
}

fn start(e: &BytesStart<'_>) -> Result<Element, String> {
    let mut el = Element { name: local(e.name().as_ref()), ..Element::default() };
    for a in e.attributes() {
        let a = a.map_err(|e| format!("bad attribute: {e}"))?;
        let value = a.unescape_value().map_err(|e| format!("bad attribute value: {e}"))?;
        el.attrs.push((local(a.key.as_ref()), value.into_owned()));
    }
    Ok(el)
}

/// Reads a whole document into its root element.
pub fn parse(text: &str) -> Result<Element, String> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = vec![Element::default()];
    let mut count = 0usize;
    loop {
        let ev = reader.read_event().map_err(|e| format!("not XML: {e}"))?;
        match ev {
            Event::Start(e) => {
                count += 1;
                if count > MAX_ELEMENTS || stack.len() > MAX_DEPTH {
                    return Err("the answer is too large".into());
                }
                stack.push(start(&e)?);
            }
            Event::Empty(e) => {
                count += 1;
                let el = start(&e)?;
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(el);
                }
            }
            Event::End(_) => {
                if stack.len() < 2 {
                    return Err("not XML: an end tag without its start".into());
                }
                if let Some(el) = stack.pop() {
                    if let Some(parent) = stack.last_mut() {
                        parent.children.push(el);
                    }
                }
            }
            Event::Text(t) => {
                let t = t.unescape().map_err(|e| format!("bad text: {e}"))?;
                if let Some(el) = stack.last_mut() {
                    el.text.push_str(t.trim());
                }
            }
            Event::CData(t) => {
                if let Some(el) = stack.last_mut() {
                    el.text.push_str(String::from_utf8_lossy(&t).trim());
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if stack.len() != 1 {
        return Err("not XML: an element is not closed".into());
    }
    let mut doc = stack.pop().unwrap_or_default();
    match doc.children.len() {
        1 => Ok(doc.children.remove(0)),
        _ => Err("not XML: no single root element".into()),
    }
}

impl Element {
    /// The first descendant (or this element) with this local name, depth first.
    pub fn find(&self, name: &str) -> Option<&Element> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(name))
    }

    /// Every descendant with this local name (not inside another match), in document order.
    pub fn find_all<'a>(&'a self, name: &str, out: &mut Vec<&'a Element>) {
        for c in &self.children {
            if c.name == name {
                out.push(c);
            } else {
                c.find_all(name, out);
            }
        }
    }

    /// The direct child with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the first descendant with this local name.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.find(name).map(|e| e.text.as_str())
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Escapes text for an element's content or a double-quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_local_names_attributes_and_text_even_with_undeclared_prefixes() {
        let doc = parse(
            r#"<?xml version="1.0"?><s:Envelope xmlns:s="x"><s:Body><ptz:R><tt:PanTilt x="0.5" y="-1"/>
               <tt:Name>A &amp; B</tt:Name></ptz:R></s:Body></s:Envelope>"#,
        )
        .expect("parse");
        assert_eq!(doc.name, "Envelope");
        let pt = doc.find("PanTilt").expect("pan tilt");
        assert_eq!((pt.attr("x"), pt.attr("y")), (Some("0.5"), Some("-1")));
        assert_eq!(doc.text_of("Name"), Some("A & B"));
    }

    #[test]
    fn refuses_what_is_not_one_well_formed_document() {
        assert!(parse("<a><b></a>").is_err());
        assert!(parse("<a></a><b></b>").is_err());
        assert!(parse("hello").is_err());
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(parse(&deep).is_err());
    }
}
