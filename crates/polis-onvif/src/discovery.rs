//! WS-Discovery of ONVIF cameras: a `Probe` for `dn:NetworkVideoTransmitter` sent to the
//! multicast group 239.255.255.250:3702 of the local network, and directed (unicast) to any
//! addresses given (cameras on other subnets, or where multicast does not pass), and the
//! `ProbeMatch` answers that relate to it, collected for a while.

use crate::xml;
use polis_base::Error;
use std::net::SocketAddr;
use std::time::Duration;

/// The WS-Discovery multicast group and port.
pub const MULTICAST: &str = "239.255.255.250:3702";

/// A camera that answered a probe.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    /// Its endpoint reference (a stable `urn:uuid:`).
    pub endpoint: String,
    /// Its device service addresses.
    pub xaddrs: Vec<String>,
    /// The name, hardware and location it announces in its scopes, if any.
    pub name: Option<String>,
    pub hardware: Option<String>,
    pub location: Option<String>,
    /// Where its answer came from.
    pub from: SocketAddr,
}

fn message_id() -> String {
    let b: [u8; 16] = rand::random();
    format!(
        "urn:uuid:{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_be_bytes([b[4], b[5]]),
        u16::from_be_bytes([b[6], b[7]]) & 0x0fff,
        (u16::from_be_bytes([b[8], b[9]]) & 0x3fff) | 0x8000,
        u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]])
    )
}

/// The probe message with this id.
pub fn probe(id: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><s:Header><a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action><a:MessageID>{id}</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header><s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body></s:Envelope>"#
    )
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(v) = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads a `ProbeMatch` that relates to the probe `id`.
pub fn probe_match(text: &str, id: &str, from: SocketAddr) -> Option<Found> {
    let doc = xml::parse(text).ok()?;
    if doc.text_of("RelatesTo").map(str::trim) != Some(id) {
        return None;
    }
    let m = doc.find("ProbeMatch")?;
    let endpoint = m.find("EndpointReference").and_then(|e| e.text_of("Address")).unwrap_or("").trim().to_string();
    let xaddrs: Vec<String> = m.text_of("XAddrs").unwrap_or("").split_whitespace().map(str::to_string).collect();
    if xaddrs.is_empty() {
        return None;
    }
    let scopes = m.text_of("Scopes").unwrap_or("");
    let scope = |kind: &str| {
        let prefix = format!("onvif://www.onvif.org/{kind}/");
        let parts: Vec<&str> = scopes.split_whitespace().collect();
        let start = parts.iter().position(|p| p.starts_with(&prefix))?;
        // A name with spaces that its camera did not encode runs on until the next scope.
        let mut words = vec![&parts[start][prefix.len()..]];
        words.extend(parts[start + 1..].iter().take_while(|p| !p.contains("://")));
        Some(percent_decode(&words.join(" "))).filter(|s| !s.is_empty())
    };
    Some(Found {
        endpoint: if endpoint.is_empty() { xaddrs[0].clone() } else { endpoint },
        xaddrs,
        name: scope("name"),
        hardware: scope("hardware"),
        location: scope("location"),
        from,
    })
}

/// Probes the local network (multicast) and the `directed` addresses, and collects the
/// cameras that answer within `within`, each once.
pub async fn discover(within: Duration, directed: &[SocketAddr]) -> Result<Vec<Found>, Error> {
    let socket = tokio::net::UdpSocket::bind("0.0.0.0:0")
        .await
        .map_err(|e| Error::unavailable("cannot open a UDP socket for discovery").with_source(e))?;
    let id = message_id();
    let msg = probe(&id);
    let mut sent = 0;
    // The local network: fails where there is no multicast route (then only directed probes).
    match socket.send_to(msg.as_bytes(), MULTICAST).await {
        Ok(_) => sent += 1,
        Err(e) => tracing::debug!(error = %e, "no multicast WS-Discovery probe"),
    }
    for to in directed {
        match socket.send_to(msg.as_bytes(), to).await {
            Ok(_) => sent += 1,
            Err(e) => tracing::debug!(error = %e, %to, "a directed WS-Discovery probe was not sent"),
        }
    }
    if sent == 0 {
        return Err(Error::unavailable("no WS-Discovery probe could be sent (no network?)"));
    }
    let deadline = tokio::time::Instant::now() + within;
    let mut found: Vec<Found> = Vec::new();
    let mut buf = vec![0u8; 65_536];
    loop {
        let got = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await;
        let Ok(Ok((n, from))) = got else { break };
        let text = String::from_utf8_lossy(&buf[..n]);
        if let Some(f) = probe_match(&text, &id, from) {
            if !found.iter().any(|g| g.endpoint == f.endpoint) {
                found.push(f);
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MATCH: &str = r#"<?xml version="1.0"?><soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><soap:Header><wsa:RelatesTo>urn:uuid:1</wsa:RelatesTo></soap:Header><soap:Body><d:ProbeMatches><d:ProbeMatch><d:EndpointReference><wsa:Address>urn:uuid:cam</wsa:Address></d:EndpointReference><d:Types>dn:NetworkVideoTransmitter</d:Types><d:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/name/Gate%20North onvif://www.onvif.org/hardware/PTZ-1</d:Scopes><d:XAddrs>http://10.0.0.5/onvif/device_service http://[fe80::1]/onvif/device_service</d:XAddrs></d:ProbeMatch></d:ProbeMatches></soap:Body></soap:Envelope>"#;

    #[test]
    fn a_probe_match_gives_the_address_name_and_hardware() {
        let from: SocketAddr = "10.0.0.5:3702".parse().expect("addr");
        let f = probe_match(MATCH, "urn:uuid:1", from).expect("a match");
        assert_eq!(f.endpoint, "urn:uuid:cam");
        assert_eq!(f.xaddrs[0], "http://10.0.0.5/onvif/device_service");
        assert_eq!(f.name.as_deref(), Some("Gate North"));
        assert_eq!(f.hardware.as_deref(), Some("PTZ-1"));
        // An answer to another probe is not ours.
        assert!(probe_match(MATCH, "urn:uuid:2", from).is_none());
        assert!(probe_match("garbage", "urn:uuid:1", from).is_none());
    }

    #[test]
    fn a_probe_asks_for_video_transmitters_with_its_id() {
        let id = message_id();
        assert!(id.starts_with("urn:uuid:") && id.len() == 45, "{id}");
        let p = probe(&id);
        assert!(p.contains(&id) && p.contains("dn:NetworkVideoTransmitter"));
        xml::parse(&p).expect("well-formed");
    }
}
