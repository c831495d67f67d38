//! H.264 through OpenH264 (compiled from its bundled source): decode a key frame to RGB for
//! snapshots, and encode pictures into [`Frame`]s for the demo city's synthetic cameras.
//!
//! Frames carry NAL units in the MP4 sample format (each prefixed by its length) and the stream's
//! SPS/PPS travel in [`StreamParams::extra_data`] (the AVCDecoderConfigurationRecord); OpenH264
//! speaks Annex B (NAL units after `00 00 00 01` start codes), so both directions convert.

use crate::session::{Frame, StreamParams, VideoCodec, CLOCK_RATE};
use bytes::Bytes;
use openh264::decoder::{DecodedYUV, Decoder, DecoderConfig};
use openh264::encoder::{
    Complexity, Encoder, EncoderConfig, FrameRate, IntraFramePeriod, Profile, RateControlMode, UsageType,
};
use openh264::formats::{RgbSliceU8, YUVBuffer, YUVSource};
use openh264::{OpenH264API, Timestamp};
use polis_base::{Error, Result};
use std::fmt;
use std::sync::Arc;

/// A picture: 8-bit RGB, row-major, three bytes per pixel and no padding between rows.
#[derive(Clone, PartialEq, Eq)]
pub struct Rgb {
    pub width: u32,
    pub height: u32,
    /// `width * height * 3` bytes: R, G, B of the top-left pixel first.
    pub data: Vec<u8>,
}

impl fmt::Debug for Rgb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rgb")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("bytes", &self.data.len())
            .finish()
    }
}

impl Rgb {
    /// A black picture of the given size.
    pub fn new(width: u32, height: u32) -> Rgb {
        Rgb { width, height, data: vec![0; (width as usize).saturating_mul(height as usize).saturating_mul(3)] }
    }

    /// Whether `data` holds exactly `width * height` pixels.
    pub fn is_consistent(&self) -> bool {
        (self.width as usize).checked_mul(self.height as usize).and_then(|n| n.checked_mul(3)) == Some(self.data.len())
    }

    /// The byte offset of pixel (x, y), if it is inside the picture and its data.
    fn offset(&self, x: u32, y: u32) -> Option<usize> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let at = (y as usize * self.width as usize + x as usize) * 3;
        (at + 3 <= self.data.len()).then_some(at)
    }

    /// The colour of pixel (x, y), or `None` outside the picture.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 3]> {
        let at = self.offset(x, y)?;
        Some([self.data[at], self.data[at + 1], self.data[at + 2]])
    }

    /// Sets pixel (x, y); nothing happens outside the picture.
    pub fn set_pixel(&mut self, x: u32, y: u32, colour: [u8; 3]) {
        if let Some(at) = self.offset(x, y) {
            self.data[at..at + 3].copy_from_slice(&colour);
        }
    }

    /// Fills the rectangle at (x, y) of size w x h, clipped to the picture.
    pub fn fill_rect(&mut self, x: i64, y: i64, w: i64, h: i64, colour: [u8; 3]) {
        let x0 = x.clamp(0, self.width as i64);
        let x1 = x.saturating_add(w).clamp(0, self.width as i64);
        let y0 = y.clamp(0, self.height as i64);
        let y1 = y.saturating_add(h).clamp(0, self.height as i64);
        for row in y0..y1 {
            self.fill_row(row as u32, x0 as u32, x1 as u32, colour);
        }
    }

    /// Fills pixels `x0..x1` of row `y` (already clipped to the width by the caller or here).
    pub(crate) fn fill_row(&mut self, y: u32, x0: u32, x1: u32, colour: [u8; 3]) {
        let x1 = x1.min(self.width);
        if x0 >= x1 || y >= self.height {
            return;
        }
        let start = (y as usize * self.width as usize + x0 as usize) * 3;
        let end = (start + (x1 - x0) as usize * 3).min(self.data.len());
        if let Some(row) = self.data.get_mut(start..end) {
            for px in row.chunks_exact_mut(3) {
                px.copy_from_slice(&colour);
            }
        }
    }
}

// NAL unit types (H.264 table 7-1) this module cares about.
const NAL_SLICE: u8 = 1;
const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const NAL_AUD: u8 = 9;

fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1f)
}

/// Largest picture side we accept from a decoder (H.264 level 6.2 allows 8192 x 4320).
const MAX_DECODED_SIDE: usize = 8192;

fn undecodable(message: impl fmt::Display) -> Error {
    Error::failed_precondition(format!("the key frame cannot be decoded: {message}"))
}

fn openh264_error(what: &str, e: &openh264::Error) -> String {
    if e.native_code() != 0 {
        format!("{what} (OpenH264 error {})", e.native_code())
    } else {
        format!("{what} ({e})")
    }
}

/// An AVCDecoderConfigurationRecord (ISO/IEC 14496-15, 5.3.3.1), borrowed from its bytes.
#[derive(Debug)]
struct AvcConfig<'a> {
    /// Bytes in front of each NAL unit of a sample: 1, 2 or 4.
    length_size: usize,
    sps: Vec<&'a [u8]>,
    pps: Vec<&'a [u8]>,
}

/// Reads big-endian fields, failing (never panicking) at the end of the input.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if self.rest.len() < n {
            return Err(undecodable(format!("the decoder configuration ends inside {what}")));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    /// `count` parameter sets of NAL type `kind`, each after its 16-bit length.
    fn parameter_sets(&mut self, count: usize, kind: u8, what: &str) -> Result<Vec<&'a [u8]>> {
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let len = usize::from(self.u16(what)?);
            let nal = self.take(len, what)?;
            check_nal(nal)?;
            if nal_type(nal) != kind {
                return Err(undecodable(format!(
                    "the decoder configuration has a NAL unit of type {} among its {what}s",
                    nal_type(nal)
                )));
            }
            out.push(nal);
        }
        Ok(out)
    }
}

fn parse_avc_config(bytes: &[u8]) -> Result<AvcConfig<'_>> {
    let mut r = Reader { rest: bytes };
    let version = r.u8("the version")?;
    if version != 1 {
        return Err(undecodable(format!("unknown decoder configuration version {version}")));
    }
    r.take(3, "the profile and level")?;
    let length_size = usize::from(r.u8("the NAL length size")? & 0x03) + 1;
    if length_size == 3 {
        return Err(undecodable("a NAL length size of 3 bytes is not allowed"));
    }
    let sps_count = usize::from(r.u8("the SPS count")? & 0x1f);
    let sps = r.parameter_sets(sps_count, NAL_SPS, "SPS")?;
    let pps_count = usize::from(r.u8("the PPS count")?);
    let pps = r.parameter_sets(pps_count, NAL_PPS, "PPS")?;
    // High profiles may append chroma format and bit depths; the decoder reads those from the SPS.
    if sps.is_empty() || pps.is_empty() {
        return Err(undecodable("the decoder configuration lacks an SPS or a PPS"));
    }
    Ok(AvcConfig { length_size, sps, pps })
}

/// A NAL unit must not be empty and its forbidden_zero_bit must be 0.
fn check_nal(nal: &[u8]) -> Result<()> {
    match nal.first() {
        None => Err(undecodable("an empty NAL unit")),
        Some(b) if b & 0x80 != 0 => Err(undecodable("a NAL unit with its forbidden bit set")),
        Some(_) => Ok(()),
    }
}

/// Splits MP4 sample data into its NAL units.
fn split_length_prefixed(mut data: &[u8], length_size: usize) -> Result<Vec<&[u8]>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        if data.len() < length_size {
            return Err(undecodable("the frame ends inside a NAL unit length"));
        }
        let (prefix, rest) = data.split_at(length_size);
        let len = prefix.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        if len > rest.len() {
            return Err(undecodable(format!("a NAL unit of {len} bytes but only {} bytes left", rest.len())));
        }
        let (nal, rest) = rest.split_at(len);
        check_nal(nal)?;
        out.push(nal);
        data = rest;
    }
    Ok(out)
}

/// Splits an Annex B byte stream into its NAL units (without start codes and trailing zero bytes).
fn split_annex_b(stream: &[u8]) -> Vec<&[u8]> {
    // Positions just after each `00 00 01`.
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut out = Vec::with_capacity(starts.len());
    for (k, &start) in starts.iter().enumerate() {
        // The next start code begins 3 bytes before the next NAL unit; zero bytes before it (the
        // fourth byte of a 4-byte start code, trailing_zero_8bits) belong to no NAL unit.
        let mut end = starts.get(k + 1).map_or(stream.len(), |&next| next - 3);
        while end > start && stream[end - 1] == 0 {
            end -= 1;
        }
        if end > start {
            out.push(&stream[start..end]);
        }
    }
    out
}

fn push_annex_b(out: &mut Vec<u8>, nal: &[u8]) {
    out.extend_from_slice(&[0, 0, 0, 1]);
    out.extend_from_slice(nal);
}

/// Decodes a key frame (an H.264 IDR access unit) to an RGB picture, for snapshots.
///
/// The SPS/PPS come from the frame's parameters (`extra_data`, the AVCDecoderConfigurationRecord).
/// H.265 streams, frames that are not key frames and malformed data are errors, never panics.
pub fn decode_key_frame(frame: &Frame) -> Result<Rgb> {
    if frame.params.codec == VideoCodec::H265 {
        return Err(Error::failed_precondition("snapshots of H.265 streams are not supported"));
    }
    if !frame.key {
        return Err(Error::failed_precondition("a snapshot needs a key frame"));
    }
    let config = parse_avc_config(&frame.params.extra_data)?;
    let nals = split_length_prefixed(&frame.data, config.length_size)?;
    if !nals.iter().any(|n| (NAL_SLICE..=NAL_IDR).contains(&nal_type(n))) {
        return Err(undecodable("the frame holds no picture"));
    }
    let mut stream = Vec::with_capacity(frame.data.len() + frame.params.extra_data.len() + 16);
    for nal in config.sps.iter().chain(&config.pps).chain(&nals) {
        push_annex_b(&mut stream, nal);
    }
    decode_annex_b(&stream)
}

/// Decodes the first picture of an Annex B stream. A panic inside the bindings is turned into an
/// error (the C++ decoder itself checks its input).
fn decode_annex_b(stream: &[u8]) -> Result<Rgb> {
    let outcome = std::panic::catch_unwind(|| -> Result<Rgb> {
        let mut decoder = Decoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new())
            .map_err(|e| Error::internal(openh264_error("the H.264 decoder could not start", &e)))?;
        if let Some(picture) = decoder.decode(stream).map_err(|e| undecodable(openh264_error("bad H.264 data", &e)))? {
            return to_rgb(&picture);
        }
        let remaining = decoder.flush_remaining().map_err(|e| undecodable(openh264_error("bad H.264 data", &e)))?;
        match remaining.first() {
            Some(picture) => to_rgb(picture),
            None => Err(undecodable("the decoder produced no picture")),
        }
    });
    outcome.unwrap_or_else(|_| Err(undecodable("the H.264 decoder failed")))
}

fn to_rgb(picture: &DecodedYUV<'_>) -> Result<Rgb> {
    let (w, h) = picture.dimensions();
    if w == 0 || h == 0 || w > MAX_DECODED_SIDE || h > MAX_DECODED_SIDE {
        return Err(undecodable(format!("a picture of {w} x {h} pixels")));
    }
    let mut data = vec![0; w * h * 3];
    picture.write_rgb8(&mut data);
    // Both sides are at most 8192, so they fit.
    Ok(Rgb { width: w as u32, height: h as u32, data })
}

/// How an [`H264Encoder`] encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderSettings {
    /// Picture width in pixels: even, 16..=3840.
    pub width: u32,
    /// Picture height in pixels: even, 16..=2160.
    pub height: u32,
    /// Frames per second (1..=120): each frame's pts advances by `90000 / fps`.
    pub fps: u32,
    /// A key frame every this many frames (at least 1; 1 = every frame).
    pub key_every: u32,
}

impl EncoderSettings {
    /// `width` x `height` at `fps`, a key frame every 2 seconds.
    pub fn new(width: u32, height: u32, fps: u32) -> EncoderSettings {
        EncoderSettings { width, height, fps, key_every: fps.saturating_mul(2).max(1) }
    }

    fn check(&self) -> Result<()> {
        let even = |v: u32| v.is_multiple_of(2);
        if !(16..=3840).contains(&self.width) || !even(self.width) {
            return Err(Error::invalid("width", "the width must be even and between 16 and 3840"));
        }
        if !(16..=2160).contains(&self.height) || !even(self.height) {
            return Err(Error::invalid("height", "the height must be even and between 16 and 2160"));
        }
        if !(1..=120).contains(&self.fps) {
            return Err(Error::invalid("fps", "the frame rate must be between 1 and 120"));
        }
        if self.key_every == 0 {
            return Err(Error::invalid("key_every", "the key frame interval must be at least 1 frame"));
        }
        Ok(())
    }
}

/// Encodes RGB pictures of a fixed size into H.264 [`Frame`]s (Constrained Baseline, one slice per
/// picture, no B-frames) with the [`StreamParams`] a player or recorder needs.
///
/// Rate control is off: every picture is coded with OpenH264's default quantiser (QP 26), so every
/// picture becomes a frame (OpenH264's rate control would drop pictures to hold a bit rate).
pub struct H264Encoder {
    settings: EncoderSettings,
    encoder: Encoder,
    yuv: YUVBuffer,
    params: Option<Arc<StreamParams>>,
    /// Pictures given so far (for the key frame schedule and the default pts).
    count: u64,
}

impl fmt::Debug for H264Encoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("H264Encoder").field("settings", &self.settings).field("count", &self.count).finish()
    }
}

impl H264Encoder {
    /// A new encoder; fails on settings out of range.
    pub fn new(settings: EncoderSettings) -> Result<H264Encoder> {
        settings.check()?;
        let config = EncoderConfig::new()
            .usage_type(UsageType::CameraVideoRealTime)
            .profile(Profile::Baseline)
            .complexity(Complexity::Low)
            .rate_control_mode(RateControlMode::Off)
            .max_frame_rate(FrameRate::from_hz(settings.fps as f32))
            // Every picture becomes a frame, and key frames come exactly when scheduled (forced).
            .skip_frames(false)
            .scene_change_detect(false)
            .intra_frame_period(IntraFramePeriod::from_num_frames(settings.key_every))
            .num_threads(1);
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| Error::internal(openh264_error("the H.264 encoder could not start", &e)))?;
        Ok(H264Encoder {
            settings,
            encoder,
            yuv: YUVBuffer::new(settings.width as usize, settings.height as usize),
            params: None,
            count: 0,
        })
    }

    /// The settings this encoder was made with.
    pub fn settings(&self) -> EncoderSettings {
        self.settings
    }

    /// The stream parameters, once the first picture was encoded.
    pub fn params(&self) -> Option<Arc<StreamParams>> {
        self.params.clone()
    }

    /// Encodes the next picture; its pts is `frames so far * 90000 / fps`.
    ///
    /// `Ok(None)` when the encoder produced no picture for this input (it should not: frame
    /// skipping is off).
    pub fn encode(&mut self, picture: &Rgb) -> Result<Option<Frame>> {
        let pts = i64::try_from(self.count.saturating_mul(u64::from(CLOCK_RATE)) / u64::from(self.settings.fps))
            .unwrap_or(i64::MAX);
        self.encode_at(picture, pts)
    }

    /// Encodes the next picture with the given pts (in [`CLOCK_RATE`] units), for a caller that
    /// paces frames by the wall clock.
    pub fn encode_at(&mut self, picture: &Rgb, pts: i64) -> Result<Option<Frame>> {
        let (w, h) = (self.settings.width, self.settings.height);
        if picture.width != w || picture.height != h || !picture.is_consistent() {
            return Err(Error::invalid(
                "picture",
                format!("the encoder takes {w} x {h} RGB pictures, got {} x {}", picture.width, picture.height),
            ));
        }
        self.yuv.read_rgb8(RgbSliceU8::new(&picture.data, (w as usize, h as usize)));
        if self.count.is_multiple_of(u64::from(self.settings.key_every)) {
            self.encoder.force_intra_frame();
        }
        self.count += 1;
        let millis = u64::try_from(pts.max(0) / i64::from(CLOCK_RATE / 1000)).unwrap_or(0);
        let annex_b = self
            .encoder
            .encode_at(&self.yuv, Timestamp::from_millis(millis))
            .map_err(|e| Error::internal(openh264_error("H.264 encoding failed", &e)))?
            .to_vec();

        let (mut sps, mut pps, mut key, mut has_picture) = (None, None, false, false);
        let mut sample = Vec::with_capacity(annex_b.len() + 16);
        for nal in split_annex_b(&annex_b) {
            match nal_type(nal) {
                NAL_SPS => sps = Some(nal),
                NAL_PPS => pps = Some(nal),
                NAL_AUD => {}
                t => {
                    key |= t == NAL_IDR;
                    has_picture |= (NAL_SLICE..=NAL_IDR).contains(&t);
                    let len = u32::try_from(nal.len())
                        .map_err(|_| Error::internal("the encoder produced a NAL unit over 4 GiB"))?;
                    sample.extend_from_slice(&len.to_be_bytes());
                    sample.extend_from_slice(nal);
                }
            }
        }
        if let (Some(sps), Some(pps)) = (sps, pps) {
            let extra_data = avc_decoder_configuration(sps, pps)?;
            if self.params.as_ref().is_none_or(|p| p.extra_data != extra_data) {
                self.params = Some(Arc::new(StreamParams {
                    codec: VideoCodec::H264,
                    rfc6381: rfc6381(sps)?,
                    width: w,
                    height: h,
                    sample_entry: avc1_sample_entry(w, h, &extra_data)?,
                    extra_data,
                }));
            }
        }
        if !has_picture {
            return Ok(None);
        }
        let params =
            self.params.clone().ok_or_else(|| Error::internal("the encoder sent a picture before its SPS/PPS"))?;
        Ok(Some(Frame {
            data: Bytes::from(sample),
            key,
            pts,
            at: time::OffsetDateTime::now_utc(),
            params,
            connection: 0,
        }))
    }
}

fn too_long(what: &str) -> Error {
    Error::internal(format!("the encoder produced an over-long {what}"))
}

/// The AVCDecoderConfigurationRecord for one SPS and one PPS, with 4-byte NAL lengths.
fn avc_decoder_configuration(sps: &[u8], pps: &[u8]) -> Result<Vec<u8>> {
    if sps.len() < 4 {
        return Err(Error::internal("the encoder produced an SPS shorter than 4 bytes"));
    }
    let sps_len = u16::try_from(sps.len()).map_err(|_| too_long("SPS"))?;
    let pps_len = u16::try_from(pps.len()).map_err(|_| too_long("PPS"))?;
    let mut out = Vec::with_capacity(11 + sps.len() + pps.len());
    out.push(1); // configurationVersion
    out.extend_from_slice(&sps[1..4]); // AVCProfileIndication, profile_compatibility, AVCLevelIndication
    out.push(0xfc | 3); // reserved '111111', lengthSizeMinusOne = 3
    out.push(0xe0 | 1); // reserved '111', numOfSequenceParameterSets = 1
    out.extend_from_slice(&sps_len.to_be_bytes());
    out.extend_from_slice(sps);
    out.push(1); // numOfPictureParameterSets
    out.extend_from_slice(&pps_len.to_be_bytes());
    out.extend_from_slice(pps);
    Ok(out)
}

/// `avc1.PPCCLL`: profile, constraint flags and level from the SPS, lowercase hex.
fn rfc6381(sps: &[u8]) -> Result<String> {
    match sps.get(1..4) {
        Some(b) => Ok(format!("avc1.{:02x}{:02x}{:02x}", b[0], b[1], b[2])),
        None => Err(Error::internal("the encoder produced an SPS shorter than 4 bytes")),
    }
}

/// The name written into the sample entry's `compressorname` (at most 31 bytes).
const COMPRESSOR: &[u8] = b"OpenH264 (Polis)";

/// A complete `avc1` VisualSampleEntry box (ISO/IEC 14496-12 12.1.3, 14496-15 5.4.2) holding an
/// `avcC` box with `avcc`.
fn avc1_sample_entry(width: u32, height: u32, avcc: &[u8]) -> Result<Vec<u8>> {
    let w = u16::try_from(width).map_err(|_| Error::invalid("width", "too wide for a sample entry"))?;
    let h = u16::try_from(height).map_err(|_| Error::invalid("height", "too high for a sample entry"))?;
    let avcc_box_len = u32::try_from(8 + avcc.len()).map_err(|_| too_long("decoder configuration"))?;
    let total = 86 + avcc_box_len;
    let mut out = Vec::with_capacity(total as usize);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(b"avc1");
    out.extend_from_slice(&[0; 6]); // SampleEntry reserved
    out.extend_from_slice(&1u16.to_be_bytes()); // data_reference_index
    out.extend_from_slice(&[0; 2]); // pre_defined
    out.extend_from_slice(&[0; 2]); // reserved
    out.extend_from_slice(&[0; 12]); // pre_defined[3]
    out.extend_from_slice(&w.to_be_bytes());
    out.extend_from_slice(&h.to_be_bytes());
    out.extend_from_slice(&0x0048_0000u32.to_be_bytes()); // horizresolution: 72 dpi
    out.extend_from_slice(&0x0048_0000u32.to_be_bytes()); // vertresolution: 72 dpi
    out.extend_from_slice(&[0; 4]); // reserved
    out.extend_from_slice(&1u16.to_be_bytes()); // frame_count
    let mut name = [0u8; 32]; // compressorname: a length byte, then the name, zero-padded
    name[0] = COMPRESSOR.len() as u8;
    name[1..=COMPRESSOR.len()].copy_from_slice(COMPRESSOR);
    out.extend_from_slice(&name);
    out.extend_from_slice(&0x0018u16.to_be_bytes()); // depth: colour, no alpha
    out.extend_from_slice(&(-1i16).to_be_bytes()); // pre_defined
    out.extend_from_slice(&avcc_box_len.to_be_bytes());
    out.extend_from_slice(b"avcC");
    out.extend_from_slice(avcc);
    debug_assert_eq!(out.len(), total as usize);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four flat quadrants (red, green, blue, grey) with a white bar across the middle.
    fn quadrants(w: u32, h: u32) -> Rgb {
        let mut img = Rgb::new(w, h);
        let (hw, hh) = (i64::from(w / 2), i64::from(h / 2));
        img.fill_rect(0, 0, hw, hh, [200, 30, 30]);
        img.fill_rect(hw, 0, hw, hh, [30, 180, 40]);
        img.fill_rect(0, hh, hw, hh, [20, 40, 200]);
        img.fill_rect(hw, hh, hw, hh, [128, 128, 128]);
        img
    }

    fn mean(img: &Rgb, x0: u32, y0: u32, x1: u32, y1: u32) -> [f64; 3] {
        let mut sum = [0f64; 3];
        let mut n = 0f64;
        for y in y0..y1 {
            for x in x0..x1 {
                let p = img.pixel(x, y).unwrap();
                for c in 0..3 {
                    sum[c] += f64::from(p[c]);
                }
                n += 1.0;
            }
        }
        sum.map(|s| s / n)
    }

    fn assert_close(got: [f64; 3], want: [u8; 3], tolerance: f64) {
        for c in 0..3 {
            assert!((got[c] - f64::from(want[c])).abs() <= tolerance, "got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn encoded_key_frame_decodes_back_to_the_picture() {
        let (w, h) = (320, 240);
        let picture = quadrants(w, h);
        let mut enc = H264Encoder::new(EncoderSettings::new(w, h, 10)).unwrap();
        let frame = enc.encode(&picture).unwrap().unwrap();
        assert!(frame.key);
        assert_eq!(frame.pts, 0);
        let decoded = decode_key_frame(&frame).unwrap();
        assert_eq!((decoded.width, decoded.height), (w, h));
        // Interiors of the quadrants, away from edges and chroma bleeding.
        assert_close(mean(&decoded, 20, 20, 140, 100), [200, 30, 30], 12.0);
        assert_close(mean(&decoded, 180, 20, 300, 100), [30, 180, 40], 12.0);
        assert_close(mean(&decoded, 20, 140, 140, 220), [20, 40, 200], 12.0);
        assert_close(mean(&decoded, 180, 140, 300, 220), [128, 128, 128], 12.0);
    }

    #[test]
    fn frames_carry_mp4_samples_and_complete_params() {
        let (w, h) = (176, 144);
        let mut settings = EncoderSettings::new(w, h, 25);
        settings.key_every = 3;
        let mut enc = H264Encoder::new(settings).unwrap();
        let mut frames = Vec::new();
        for i in 0..7u8 {
            let mut img = quadrants(w, h);
            img.fill_rect(i64::from(i) * 10, 60, 16, 16, [255, 255, 255]);
            frames.push(enc.encode(&img).unwrap().unwrap());
        }
        let keys: Vec<bool> = frames.iter().map(|f| f.key).collect();
        assert_eq!(keys, [true, false, false, true, false, false, true]);
        let pts: Vec<i64> = frames.iter().map(|f| f.pts).collect();
        assert_eq!(pts, [0, 3600, 7200, 10800, 14400, 18000, 21600]);
        // Every frame is length-prefixed NAL units without SPS/PPS, and all share one params.
        for f in &frames {
            let nals = split_length_prefixed(&f.data, 4).unwrap();
            assert!(!nals.is_empty());
            assert!(nals.iter().all(|n| !matches!(nal_type(n), NAL_SPS | NAL_PPS)));
            assert!(Arc::ptr_eq(&f.params, &frames[0].params));
        }
        assert!(decode_key_frame(&frames[3]).is_ok());

        let p = &frames[0].params;
        assert_eq!((p.width, p.height, p.codec), (w, h, VideoCodec::H264));
        let config = parse_avc_config(&p.extra_data).unwrap();
        assert_eq!((config.length_size, config.sps.len(), config.pps.len()), (4, 1, 1));
        let sps = config.sps[0];
        assert_eq!(p.extra_data[1..4], sps[1..4]);
        assert_eq!(p.rfc6381, format!("avc1.{:02x}{:02x}{:02x}", sps[1], sps[2], sps[3]));
        assert!(p.rfc6381.starts_with("avc1.42"), "Baseline: {}", p.rfc6381);

        let se = &p.sample_entry;
        assert_eq!(u32::from_be_bytes(se[0..4].try_into().unwrap()) as usize, se.len());
        assert_eq!(&se[4..8], b"avc1");
        assert_eq!(&se[8..14], &[0; 6]);
        assert_eq!(u16::from_be_bytes([se[14], se[15]]), 1);
        assert_eq!(u16::from_be_bytes([se[32], se[33]]), w as u16);
        assert_eq!(u16::from_be_bytes([se[34], se[35]]), h as u16);
        assert_eq!(&se[36..44], &[0, 0x48, 0, 0, 0, 0x48, 0, 0]);
        assert_eq!(u16::from_be_bytes([se[48], se[49]]), 1);
        assert_eq!(se[50] as usize, COMPRESSOR.len());
        assert_eq!(&se[82..86], &[0x00, 0x18, 0xff, 0xff]);
        assert_eq!(u32::from_be_bytes(se[86..90].try_into().unwrap()) as usize, se.len() - 86);
        assert_eq!(&se[90..94], b"avcC");
        assert_eq!(&se[94..], &p.extra_data[..]);
    }

    fn frame_with(data: Vec<u8>, extra_data: Vec<u8>, codec: VideoCodec) -> Frame {
        Frame {
            data: Bytes::from(data),
            key: true,
            pts: 0,
            at: time::OffsetDateTime::now_utc(),
            connection: 0,
            params: Arc::new(StreamParams {
                codec,
                rfc6381: "avc1.42c01e".into(),
                width: 64,
                height: 64,
                sample_entry: Vec::new(),
                extra_data,
            }),
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut enc = H264Encoder::new(EncoderSettings::new(64, 64, 10)).unwrap();
        let good = enc.encode(&quadrants(64, 64)).unwrap().unwrap();
        let extra = good.params.extra_data.clone();

        // Random bytes as the configuration, as the frame, and both.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut noise = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed >> 24) as u8
                })
                .collect()
        };
        for n in [0, 1, 3, 7, 50, 500, 5000] {
            let _ = decode_key_frame(&frame_with(noise(n), noise(n), VideoCodec::H264));
            assert!(decode_key_frame(&frame_with(noise(n), extra.clone(), VideoCodec::H264)).is_err());
        }
        // Well-framed NAL units (an IDR slice header) with a nonsense body.
        for n in [1usize, 2, 10, 100, 1000] {
            let mut body = vec![0x65];
            body.extend(noise(n));
            let mut data = (body.len() as u32).to_be_bytes().to_vec();
            data.extend(&body);
            let _ = decode_key_frame(&frame_with(data, extra.clone(), VideoCodec::H264));
        }
        // The real frame cut short, and its lengths broken.
        let mut cut = good.data.to_vec();
        cut.truncate(cut.len() / 2);
        assert!(decode_key_frame(&frame_with(cut, extra.clone(), VideoCodec::H264)).is_err());
        let mut long = good.data.to_vec();
        long[0] = 0x7f;
        assert!(decode_key_frame(&frame_with(long, extra.clone(), VideoCodec::H264)).is_err());
        // A broken configuration.
        assert!(decode_key_frame(&frame_with(good.data.to_vec(), extra[..5].to_vec(), VideoCodec::H264)).is_err());
        assert!(decode_key_frame(&frame_with(good.data.to_vec(), Vec::new(), VideoCodec::H264)).is_err());
        // Bit flips in the slice data and in the SPS/PPS: errors or damaged pictures, never a panic.
        for i in 0..300 {
            let (mut data, mut config) = (good.data.to_vec(), extra.clone());
            let flip = noise(2);
            if i % 3 == 0 {
                let k = 8 + usize::from(flip[0]) % (config.len() - 8);
                config[k] ^= 1 << (flip[1] % 8);
            } else {
                let k = 5 + (usize::from(flip[0]) * 7 + i) % (data.len() - 5);
                data[k] ^= 1 << (flip[1] % 8);
            }
            let _ = decode_key_frame(&frame_with(data, config, VideoCodec::H264));
        }
        // And the untouched frame still decodes.
        assert!(decode_key_frame(&frame_with(good.data.to_vec(), extra, VideoCodec::H264)).is_ok());
    }

    #[test]
    fn h265_and_delta_frames_are_refused_clearly() {
        let e = decode_key_frame(&frame_with(vec![0, 0, 0, 1, 0x40], Vec::new(), VideoCodec::H265)).unwrap_err();
        assert_eq!(e.kind, polis_base::ErrorKind::FailedPrecondition);
        assert!(e.message.contains("H.265"), "{}", e.message);

        let mut enc = H264Encoder::new(EncoderSettings::new(64, 64, 10)).unwrap();
        enc.encode(&quadrants(64, 64)).unwrap();
        let delta = enc.encode(&quadrants(64, 64)).unwrap().unwrap();
        assert!(!delta.key);
        assert!(decode_key_frame(&delta).is_err());
    }

    #[test]
    fn encoder_refuses_bad_settings_and_pictures() {
        assert!(H264Encoder::new(EncoderSettings::new(641, 360, 10)).is_err());
        assert!(H264Encoder::new(EncoderSettings::new(640, 0, 10)).is_err());
        assert!(H264Encoder::new(EncoderSettings::new(640, 360, 0)).is_err());
        let mut enc = H264Encoder::new(EncoderSettings::new(64, 64, 10)).unwrap();
        assert!(enc.encode(&Rgb::new(32, 32)).is_err());
        let mut short = Rgb::new(64, 64);
        short.data.pop();
        assert!(enc.encode(&short).is_err());
    }

    #[test]
    fn annex_b_splitting_handles_both_start_codes() {
        let stream = [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 0, 1, 0x65, 4, 5];
        let nals = split_annex_b(&stream);
        assert_eq!(nals, [&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 4, 5][..]]);
        assert!(split_annex_b(&[1, 2, 3]).is_empty());
    }
}
