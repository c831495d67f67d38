//! Fragmented MP4 (ISO BMFF), written and read just enough for video: the initialisation segment
//! (`ftyp` + `moov` of one video track) and media fragments (`moof` + `mdat`), as Media Source
//! Extensions, browsers' `<video>` and ffmpeg read them. One track, id 1, timescale
//! [`CLOCK_RATE`]. Recording, playback, export and live view all use this one format.
//!
//! The reader ([`fragments`]) walks the top-level boxes of a file this module wrote and finds each
//! fragment with its decode time; [`retime_fragment`] rewrites a fragment's sequence number and
//! decode time, so fragments of several recordings join into one playable file.

use crate::session::{StreamParams, CLOCK_RATE};
use bytes::Bytes;
use polis_base::{Error, Result};

/// One sample (a video frame) of a fragment.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The frame in MP4 sample format (length-prefixed NAL units).
    pub data: Bytes,
    /// Its duration in [`CLOCK_RATE`] units: the next frame's decode time minus its own.
    pub duration: u32,
    pub key: bool,
    /// Presentation time minus decode time (non-zero for streams with B-frames), in
    /// [`CLOCK_RATE`] units; written as a signed composition offset (`trun` version 1).
    pub cto: i32,
}

/// Appends a box: its size, its type, then what `body` writes.
fn boxed(out: &mut Vec<u8>, kind: &[u8; 4], body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(kind);
    body(out);
    let size = (out.len() - start) as u32;
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

/// A "full box": a box with a version and 24 bits of flags.
fn full(out: &mut Vec<u8>, kind: &[u8; 4], version: u8, flags: u32, body: impl FnOnce(&mut Vec<u8>)) {
    boxed(out, kind, |o| {
        o.push(version);
        o.extend_from_slice(&flags.to_be_bytes()[1..]);
        body(o);
    });
}

fn u16be(o: &mut Vec<u8>, v: u16) {
    o.extend_from_slice(&v.to_be_bytes());
}
fn u32be(o: &mut Vec<u8>, v: u32) {
    o.extend_from_slice(&v.to_be_bytes());
}
fn u64be(o: &mut Vec<u8>, v: u64) {
    o.extend_from_slice(&v.to_be_bytes());
}

/// The identity matrix of `mvhd` and `tkhd`.
fn matrix(o: &mut Vec<u8>) {
    for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        u32be(o, v);
    }
}

/// The MIME type of a stream as MSE wants it, e.g. `video/mp4; codecs="avc1.4d401f"`.
pub fn mime(params: &StreamParams) -> String {
    format!("video/mp4; codecs=\"{}\"", params.rfc6381)
}

/// The initialisation segment: `ftyp` and a `moov` with one video track and no samples (they come
/// in fragments).
pub fn init_segment(params: &StreamParams) -> Vec<u8> {
    let mut o = Vec::with_capacity(700 + params.sample_entry.len());
    boxed(&mut o, b"ftyp", |o| {
        o.extend_from_slice(b"isom");
        u32be(o, 0x200);
        for brand in [b"isom", b"iso5", b"iso6", b"avc1", b"mp41"] {
            o.extend_from_slice(brand);
        }
    });
    boxed(&mut o, b"moov", |o| {
        full(o, b"mvhd", 0, 0, |o| {
            u32be(o, 0); // creation time
            u32be(o, 0); // modification time
            u32be(o, 1000); // timescale
            u32be(o, 0); // duration: unknown, it is in the fragments
            u32be(o, 0x0001_0000); // rate 1.0
            u16be(o, 0x0100); // volume 1.0
            o.extend_from_slice(&[0; 10]);
            matrix(o);
            o.extend_from_slice(&[0; 24]); // pre_defined
            u32be(o, 2); // next track id
        });
        boxed(o, b"trak", |o| {
            full(o, b"tkhd", 0, 0x3, |o| {
                u32be(o, 0);
                u32be(o, 0);
                u32be(o, 1); // track id
                u32be(o, 0);
                u32be(o, 0); // duration
                o.extend_from_slice(&[0; 8]);
                u16be(o, 0); // layer
                u16be(o, 0); // alternate group
                u16be(o, 0); // volume: video
                u16be(o, 0);
                matrix(o);
                u32be(o, params.width << 16);
                u32be(o, params.height << 16);
            });
            boxed(o, b"mdia", |o| {
                full(o, b"mdhd", 0, 0, |o| {
                    u32be(o, 0);
                    u32be(o, 0);
                    u32be(o, CLOCK_RATE);
                    u32be(o, 0);
                    u16be(o, 0x55c4); // language "und"
                    u16be(o, 0);
                });
                full(o, b"hdlr", 0, 0, |o| {
                    u32be(o, 0);
                    o.extend_from_slice(b"vide");
                    o.extend_from_slice(&[0; 12]);
                    o.extend_from_slice(b"Polis video\0");
                });
                boxed(o, b"minf", |o| {
                    full(o, b"vmhd", 0, 1, |o| o.extend_from_slice(&[0; 8]));
                    boxed(o, b"dinf", |o| {
                        full(o, b"dref", 0, 0, |o| {
                            u32be(o, 1);
                            full(o, b"url ", 0, 1, |_| {});
                        });
                    });
                    boxed(o, b"stbl", |o| {
                        full(o, b"stsd", 0, 0, |o| {
                            u32be(o, 1);
                            o.extend_from_slice(&params.sample_entry);
                        });
                        full(o, b"stts", 0, 0, |o| u32be(o, 0));
                        full(o, b"stsc", 0, 0, |o| u32be(o, 0));
                        full(o, b"stsz", 0, 0, |o| {
                            u32be(o, 0);
                            u32be(o, 0);
                        });
                        full(o, b"stco", 0, 0, |o| u32be(o, 0));
                    });
                });
            });
        });
        boxed(o, b"mvex", |o| {
            full(o, b"trex", 0, 0, |o| {
                u32be(o, 1); // track id
                u32be(o, 1); // sample description index
                u32be(o, 0);
                u32be(o, 0);
                u32be(o, 0);
            });
        });
    });
    o
}

/// Sample flags of `trun`: a sync sample depends on nothing; others depend on earlier ones and
/// are not sync samples.
const KEY_FLAGS: u32 = 0x0200_0000;
const DELTA_FLAGS: u32 = 0x0101_0000;

/// `trun` flags: data offset, and per sample a duration, a size and flags...
const TRUN_FLAGS: u32 = 0x0701;
/// ...and a composition time offset.
const TRUN_FLAGS_CTO: u32 = 0x0f01;

/// A media fragment: `moof` (sequence number `seq`, decode time `decode_time` of its first
/// sample) and the `mdat` with the samples. Without samples it is empty. When a sample's
/// presentation differs from its decoding (B-frames), the `trun` is version 1 with a signed
/// composition offset per sample; otherwise version 0 without them.
pub fn fragment(seq: u32, decode_time: u64, samples: &[Sample]) -> Vec<u8> {
    if samples.is_empty() {
        return Vec::new();
    }
    let payload: usize = samples.iter().map(|s| s.data.len()).sum();
    let mut o = Vec::with_capacity(100 + 16 * samples.len() + payload);
    fragment_into(&mut o, seq, decode_time, samples);
    o
}

/// [`fragment`], appended to `o` (so a caller can reuse one buffer).
pub fn fragment_into(o: &mut Vec<u8>, seq: u32, decode_time: u64, samples: &[Sample]) {
    if samples.is_empty() {
        return;
    }
    let start = o.len();
    let payload: usize = samples.iter().map(|s| s.data.len()).sum();
    let with_cto = samples.iter().any(|s| s.cto != 0);
    let (version, flags) = if with_cto { (1, TRUN_FLAGS_CTO) } else { (0, TRUN_FLAGS) };
    let mut data_offset_at = 0;
    boxed(o, b"moof", |o| {
        full(o, b"mfhd", 0, 0, |o| u32be(o, seq));
        boxed(o, b"traf", |o| {
            // default-base-is-moof: data offsets count from the start of this moof.
            full(o, b"tfhd", 0, 0x02_0000, |o| u32be(o, 1));
            full(o, b"tfdt", 1, 0, |o| u64be(o, decode_time));
            // data offset, and a duration, size and flags (and composition offset) per sample.
            full(o, b"trun", version, flags, |o| {
                u32be(o, samples.len() as u32);
                data_offset_at = o.len();
                u32be(o, 0);
                for s in samples {
                    u32be(o, s.duration);
                    u32be(o, s.data.len() as u32);
                    u32be(o, if s.key { KEY_FLAGS } else { DELTA_FLAGS });
                    if with_cto {
                        o.extend_from_slice(&s.cto.to_be_bytes());
                    }
                }
            });
        });
    });
    let data_offset = (o.len() - start + 8) as u32;
    o[data_offset_at..data_offset_at + 4].copy_from_slice(&data_offset.to_be_bytes());
    let mdat_size = (8 + payload) as u32;
    u32be(o, mdat_size);
    o.extend_from_slice(b"mdat");
    for s in samples {
        o.extend_from_slice(&s.data);
    }
}

/// Where a fragment lies in a file this module wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentInfo {
    /// Offset of its `moof` in the file.
    pub offset: u64,
    /// Length of the `moof` box.
    pub moof_len: u64,
    /// Length of the `moof` and the `mdat` that follows it.
    pub len: u64,
    /// The decode time of its first sample, in [`CLOCK_RATE`] units.
    pub decode_time: u64,
    /// The sum of its samples' durations.
    pub duration: u64,
    /// Whether it starts with a key frame.
    pub key: bool,
}

fn malformed(what: &str) -> Error {
    Error::internal(format!("malformed MP4: {what}"))
}

fn be32(b: &[u8], at: usize) -> Result<u32> {
    b.get(at..at + 4).map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]])).ok_or_else(|| malformed("short box"))
}

fn be64(b: &[u8], at: usize) -> Result<u64> {
    Ok((u64::from(be32(b, at)?) << 32) | u64::from(be32(b, at + 4)?))
}

/// The boxes directly inside `body`: (type, start of the box, its length).
fn children(body: &[u8]) -> Result<Vec<([u8; 4], usize, usize)>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 8 <= body.len() {
        let size = be32(body, at)? as usize;
        if size < 8 || at + size > body.len() {
            return Err(malformed("a box overruns its parent"));
        }
        let mut kind = [0; 4];
        kind.copy_from_slice(&body[at + 4..at + 8]);
        out.push((kind, at, size));
        at += size;
    }
    Ok(out)
}

fn child<'a>(body: &'a [u8], kind: &[u8; 4]) -> Result<&'a [u8]> {
    let (_, at, len) = children(body)?
        .into_iter()
        .find(|(k, _, _)| k == kind)
        .ok_or_else(|| malformed(&format!("no {} box", String::from_utf8_lossy(kind))))?;
    Ok(&body[at..at + len])
}

/// Parses a `moof` box (whole, with its header): (sequence number, decode time, total duration,
/// first sample is a key frame).
pub fn parse_moof(moof: &[u8]) -> Result<(u32, u64, u64, bool)> {
    let body = moof.get(8..).ok_or_else(|| malformed("short moof"))?;
    let mfhd = child(body, b"mfhd")?;
    let seq = be32(mfhd, 12)?;
    let traf = child(body, b"traf")?;
    let traf = &traf[8..];
    let tfdt = child(traf, b"tfdt")?;
    let decode_time = if tfdt.get(8) == Some(&1) { be64(tfdt, 12)? } else { u64::from(be32(tfdt, 12)?) };
    let trun = child(traf, b"trun")?;
    let flags = be32(trun, 8)? & 0xff_ffff;
    let entry = match flags {
        TRUN_FLAGS => 12,
        TRUN_FLAGS_CTO => 16,
        _ => return Err(malformed("a trun this module did not write")),
    };
    let count = be32(trun, 12)? as usize;
    let (mut duration, mut key) = (0u64, false);
    for i in 0..count {
        let at = 20 + entry * i;
        duration += u64::from(be32(trun, at)?);
        if i == 0 {
            key = be32(trun, at + 8)? == KEY_FLAGS;
        }
    }
    Ok((seq, decode_time, duration, key))
}

/// The samples of a `moof` box (whole, with its header), as (duration, composition offset, key).
pub fn moof_samples(moof: &[u8]) -> Result<Vec<(u32, i32, bool)>> {
    let body = moof.get(8..).ok_or_else(|| malformed("short moof"))?;
    let traf = child(body, b"traf")?;
    let trun = child(&traf[8..], b"trun")?;
    let flags = be32(trun, 8)? & 0xff_ffff;
    let entry = match flags {
        TRUN_FLAGS => 12,
        TRUN_FLAGS_CTO => 16,
        _ => return Err(malformed("a trun this module did not write")),
    };
    let count = be32(trun, 12)? as usize;
    (0..count)
        .map(|i| {
            let at = 20 + entry * i;
            let cto = if entry == 16 { be32(trun, at + 12)? as i32 } else { 0 };
            Ok((be32(trun, at)?, cto, be32(trun, at + 8)? == KEY_FLAGS))
        })
        .collect()
}

/// The fragments of a file (or the start of one: a fragment cut short at the end, as a crash
/// mid-write leaves it, is left out), and the length of the initialisation segment before them.
pub fn fragments(file: &[u8]) -> Result<(usize, Vec<FragmentInfo>)> {
    let mut at = 0usize;
    let mut init_len = None;
    let mut out = Vec::new();
    while at + 8 <= file.len() {
        let size = be32(file, at)? as usize;
        if size < 8 || at + size > file.len() {
            break; // cut short
        }
        let kind = &file[at + 4..at + 8];
        if kind == b"moof" {
            init_len.get_or_insert(at);
            let moof = &file[at..at + size];
            let mdat_at = at + size;
            let mdat_size = match be32(file, mdat_at) {
                Ok(s) if file.get(mdat_at + 4..mdat_at + 8) == Some(b"mdat") => s as usize,
                _ => break,
            };
            if mdat_size < 8 || mdat_at + mdat_size > file.len() {
                break;
            }
            let (_, decode_time, duration, key) = parse_moof(moof)?;
            out.push(FragmentInfo {
                offset: at as u64,
                moof_len: size as u64,
                len: (size + mdat_size) as u64,
                decode_time,
                duration,
                key,
            });
            at = mdat_at + mdat_size;
        } else {
            at += size;
        }
    }
    Ok((init_len.unwrap_or(at), out))
}

/// Rewrites a `moof` (whole, with its header) in place: its sequence number and decode time.
pub fn retime_fragment(moof: &mut [u8], seq: u32, decode_time: u64) -> Result<()> {
    // Find the offsets first (immutable), then write.
    let (mfhd_at, tfdt_at, tfdt_v1) = {
        let body = moof.get(8..).ok_or_else(|| malformed("short moof"))?;
        let kids = children(body)?;
        let (_, mfhd, _) = kids.iter().find(|(k, _, _)| k == b"mfhd").ok_or_else(|| malformed("no mfhd"))?;
        let (_, traf, traf_len) = kids.iter().find(|(k, _, _)| k == b"traf").ok_or_else(|| malformed("no traf"))?;
        let traf_body = &body[traf + 8..traf + traf_len];
        let (_, tfdt, _) =
            children(traf_body)?.into_iter().find(|(k, _, _)| k == b"tfdt").ok_or_else(|| malformed("no tfdt"))?;
        let tfdt_abs = 8 + traf + 8 + tfdt;
        (8 + mfhd, tfdt_abs, moof.get(tfdt_abs + 8) == Some(&1))
    };
    let put = |m: &mut [u8], at: usize, b: &[u8]| -> Result<()> {
        m.get_mut(at..at + b.len()).ok_or_else(|| malformed("short box"))?.copy_from_slice(b);
        Ok(())
    };
    put(moof, mfhd_at + 12, &seq.to_be_bytes())?;
    if tfdt_v1 {
        put(moof, tfdt_at + 12, &decode_time.to_be_bytes())
    } else {
        let t = u32::try_from(decode_time).map_err(|_| malformed("decode time beyond a version 0 tfdt"))?;
        put(moof, tfdt_at + 12, &t.to_be_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::VideoCodec;

    pub(crate) fn params() -> StreamParams {
        StreamParams {
            codec: VideoCodec::H264,
            rfc6381: "avc1.42c01e".into(),
            width: 640,
            height: 360,
            sample_entry: b"\0\0\0\x10avc1fakeentry".to_vec(),
            extra_data: Vec::new(),
        }
    }

    fn samples(n: usize) -> Vec<Sample> {
        (0..n)
            .map(|i| Sample { data: Bytes::from(vec![i as u8; 10 + i]), duration: 3000, key: i == 0, cto: 0 })
            .collect()
    }

    #[test]
    fn the_init_segment_is_ftyp_then_moov_with_the_sample_entry() {
        let init = init_segment(&params());
        let kids = children(&init).unwrap();
        let kinds: Vec<&[u8]> = kids.iter().map(|(k, _, _)| &k[..]).collect();
        assert_eq!(kinds, [b"ftyp", b"moov"]);
        assert_eq!(kids.iter().map(|(_, _, l)| l).sum::<usize>(), init.len());
        let entry = &params().sample_entry;
        assert!(init.windows(entry.len()).any(|w| w == &entry[..]));
        assert_eq!(mime(&params()), "video/mp4; codecs=\"avc1.42c01e\"");
    }

    #[test]
    fn fragments_read_back_with_their_times_and_lengths() {
        let mut file = init_segment(&params());
        let init_len = file.len();
        let a = fragment(1, 0, &samples(3));
        let b = fragment(2, 9000, &samples(2));
        file.extend_from_slice(&a);
        file.extend_from_slice(&b);
        let (init, frags) = fragments(&file).unwrap();
        assert_eq!(init, init_len);
        assert_eq!(frags.len(), 2);
        assert_eq!(frags[0].offset, init_len as u64);
        assert_eq!(frags[0].len, a.len() as u64);
        assert_eq!((frags[0].decode_time, frags[0].duration, frags[0].key), (0, 9000, true));
        assert_eq!((frags[1].decode_time, frags[1].duration), (9000, 6000));
        // The data offset points at the first sample's bytes.
        let moof_len = frags[0].moof_len as usize;
        assert_eq!(&a[moof_len + 4..moof_len + 8], b"mdat");
        assert_eq!(a[moof_len + 8], 0);
    }

    #[test]
    fn a_fragment_cut_short_is_left_out() {
        let mut file = init_segment(&params());
        file.extend_from_slice(&fragment(1, 0, &samples(3)));
        let whole = file.len();
        file.extend_from_slice(&fragment(2, 9000, &samples(3)));
        file.truncate(whole + 40);
        let (_, frags) = fragments(&file).unwrap();
        assert_eq!(frags.len(), 1);
    }

    #[test]
    fn retiming_rewrites_sequence_and_decode_time() {
        let mut f = fragment(7, 123, &samples(2));
        let moof_len = be32(&f, 0).unwrap() as usize;
        retime_fragment(&mut f[..moof_len], 1, 90_000 * 3600).unwrap();
        let (seq, t, d, key) = parse_moof(&f[..moof_len]).unwrap();
        assert_eq!((seq, t, d, key), (1, 90_000 * 3600, 6000, true));
    }

    #[test]
    fn composition_offsets_make_a_version_1_trun_with_signed_offsets() {
        let mut s = samples(3);
        (s[0].cto, s[1].cto, s[2].cto) = (3000, 6000, -3000);
        let f = fragment(1, 0, &s);
        let moof_len = be32(&f, 0).unwrap() as usize;
        let trun = f.windows(4).position(|w| w == b"trun").unwrap() - 4;
        assert_eq!(f[trun + 8], 1, "trun version");
        assert_eq!(be32(&f, trun + 8).unwrap() & 0xff_ffff, 0x0f01);
        assert_eq!(
            moof_samples(&f[..moof_len]).unwrap(),
            vec![(3000, 3000, true), (3000, 6000, false), (3000, -3000, false)]
        );
        // The data offset still points at the first sample, and the file reads back.
        let (_, frags) = fragments(&f).unwrap();
        assert_eq!((frags[0].duration, frags[0].key), (9000, true));
        assert_eq!(&f[moof_len + 4..moof_len + 8], b"mdat");
        let off = be32(&f, trun + 16).unwrap() as usize;
        assert_eq!(off, moof_len + 8);
        // Without offsets, version 0 and no offset field.
        let plain = fragment(1, 0, &samples(2));
        let trun = plain.windows(4).position(|w| w == b"trun").unwrap() - 4;
        assert_eq!((plain[trun + 8], be32(&plain, trun + 8).unwrap() & 0xff_ffff), (0, 0x0701));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse_moof(b"\0\0\0\x08moof").is_err());
        assert!(parse_moof(&[0, 0, 0, 30, b'm', b'o', b'o', b'f', 0, 0, 0, 99]).is_err());
        let (_, frags) = fragments(b"\0\0\0\x02junk-junk").unwrap();
        assert!(frags.is_empty());
    }
}
