//! Synthetic cameras for the demo city: a `demo://` stream is a test pattern (colour bars, a grey
//! ramp and a box that moves each frame) with the camera's label and the current UTC date and time,
//! encoded to H.264 live and paced in real time.
//!
//! [`RoutingOpener`] sends `demo://` URLs here and every other URL to the RTSP opener.

use crate::codec::{EncoderSettings, H264Encoder, Rgb};
use crate::session::{Frame, FrameSource, StreamOpener, CLOCK_RATE};
use async_trait::async_trait;
use polis_base::{Error, Result};
use polis_domain::registry::StreamUrl;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::time::{Instant, Interval, MissedTickBehavior};

/// The URL scheme of synthetic streams.
pub const DEMO_SCHEME: &str = "demo";

/// Whether a stream URL names a synthetic stream (`demo://...`, scheme case-insensitive).
pub fn is_demo_url(url: &str) -> bool {
    url.split_once("://").is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case(DEMO_SCHEME))
}

/// The picture and pace of synthetic streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntheticSettings {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Time between key frames.
    pub key_interval: Duration,
}

impl Default for SyntheticSettings {
    /// 640 x 360 at 10 frames per second, a key frame every 2 seconds.
    fn default() -> Self {
        SyntheticSettings { width: 640, height: 360, fps: 10, key_interval: Duration::from_secs(2) }
    }
}

impl SyntheticSettings {
    fn encoder_settings(&self) -> EncoderSettings {
        let mut s = EncoderSettings::new(self.width, self.height, self.fps);
        let frames = (self.key_interval.as_secs_f64() * f64::from(self.fps)).round();
        s.key_every = if frames >= 1.0 { frames.min(f64::from(u32::MAX)) as u32 } else { 1 };
        s
    }
}

/// Opens `demo://<anything>/<label>` streams: each is a live synthetic picture labelled with the
/// URL's last path segment (percent-decoded).
#[derive(Debug, Clone, Default)]
pub struct SyntheticOpener {
    settings: SyntheticSettings,
}

impl SyntheticOpener {
    /// An opener with the default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// An opener with other picture settings (checked when a stream is opened).
    pub fn with_settings(settings: SyntheticSettings) -> Self {
        SyntheticOpener { settings }
    }
}

/// The label of a demo URL: its last non-empty path segment, percent-decoded; else its host.
fn label_of(url: &str) -> Result<String> {
    let parsed = url::Url::parse(url).map_err(|e| Error::invalid("stream_url", e.to_string()))?;
    if !parsed.scheme().eq_ignore_ascii_case(DEMO_SCHEME) {
        return Err(Error::invalid("stream_url", format!("not a {DEMO_SCHEME}:// URL")));
    }
    let segment = parsed.path_segments().and_then(|mut segments| segments.rfind(|s| !s.is_empty()).map(str::to_string));
    let raw = segment.or_else(|| parsed.host_str().map(str::to_string)).unwrap_or_default();
    Ok(percent_decode(&raw))
}

/// Decodes `%XX` escapes (invalid UTF-8 becomes U+FFFD; a lone `%` stays as it is).
fn percent_decode(s: &str) -> String {
    let hex = |b: u8| char::from(b).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex))
        {
            (b'%', Some(hi), Some(lo)) => Some((hi * 16 + lo) as u8),
            _ => None,
        };
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[async_trait]
impl StreamOpener for SyntheticOpener {
    async fn open(&self, url: &StreamUrl) -> Result<Box<dyn FrameSource>> {
        let label = label_of(&url.url)?;
        // `?sub`: the camera's sub stream, half the size.
        let mut settings = self.settings;
        if url.url.ends_with("?sub") {
            settings.width = (settings.width / 4 * 2).max(16);
            settings.height = (settings.height / 4 * 2).max(16);
        }
        let encoder = H264Encoder::new(settings.encoder_settings())?;
        let period = Duration::from_secs(1) / settings.fps.max(1);
        let start = Instant::now();
        let mut interval = tokio::time::interval_at(start, period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut background = Rgb::new(settings.width, settings.height);
        draw_background(&mut background);
        let painter = Painter { label, picture: background.clone(), background, encoder, count: 0 };
        Ok(Box::new(SyntheticSource { painter: Arc::new(Mutex::new(painter)), interval, start }))
    }
}

/// Draws and encodes the pictures of one stream.
struct Painter {
    label: String,
    /// The still part of the picture, drawn once.
    background: Rgb,
    picture: Rgb,
    encoder: H264Encoder,
    /// Pictures drawn so far: moves the box.
    count: u64,
}

impl Painter {
    fn next_frame(&mut self, now: OffsetDateTime, pts: i64) -> Result<Option<Frame>> {
        self.picture.data.copy_from_slice(&self.background.data);
        draw_overlay(&mut self.picture, &self.label, now, self.count);
        self.count += 1;
        self.encoder.encode_at(&self.picture, pts)
    }
}

/// A live synthetic stream: one frame per tick of a real-time interval, never ending.
struct SyntheticSource {
    painter: Arc<Mutex<Painter>>,
    interval: Interval,
    start: Instant,
}

#[async_trait]
impl FrameSource for SyntheticSource {
    async fn next_frame(&mut self) -> Result<Option<Frame>> {
        loop {
            // The tick's scheduled instant, so pts follow the wall clock even when a tick is late;
            // ticks missed altogether are skipped.
            let tick = self.interval.tick().await;
            let nanos = tick.saturating_duration_since(self.start).as_nanos();
            let pts = i64::try_from(nanos * u128::from(CLOCK_RATE) / 1_000_000_000).unwrap_or(i64::MAX);
            let painter = self.painter.clone();
            let now = OffsetDateTime::now_utc();
            // Drawing and encoding take milliseconds of CPU: keep them off the async workers.
            let frame = tokio::task::spawn_blocking(move || {
                let mut p = painter.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                p.next_frame(now, pts)
            })
            .await
            .map_err(|e| Error::internal(format!("the synthetic picture task failed: {e}")))??;
            if let Some(frame) = frame {
                return Ok(Some(frame));
            }
        }
    }
}

/// Sends `demo://` streams to the synthetic opener and all others to the RTSP opener.
#[derive(Clone)]
pub struct RoutingOpener {
    rtsp: Arc<dyn StreamOpener>,
    demo: Arc<dyn StreamOpener>,
}

impl std::fmt::Debug for RoutingOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RoutingOpener")
    }
}

impl RoutingOpener {
    /// E.g. `RoutingOpener::new(RetinaOpener, SyntheticOpener::new())`.
    pub fn new(rtsp: impl StreamOpener, demo: impl StreamOpener) -> Self {
        RoutingOpener { rtsp: Arc::new(rtsp), demo: Arc::new(demo) }
    }

    /// The same from shared openers.
    pub fn from_shared(rtsp: Arc<dyn StreamOpener>, demo: Arc<dyn StreamOpener>) -> Self {
        RoutingOpener { rtsp, demo }
    }
}

#[async_trait]
impl StreamOpener for RoutingOpener {
    async fn open(&self, url: &StreamUrl) -> Result<Box<dyn FrameSource>> {
        if is_demo_url(&url.url) {
            self.demo.open(url).await
        } else {
            self.rtsp.open(url).await
        }
    }
}

// The picture.

const WHITE: [u8; 3] = [235, 235, 235];
const BLACK: [u8; 3] = [16, 16, 16];
/// 75% colour bars: white, yellow, cyan, green, magenta, red, blue.
const BARS: [[u8; 3]; 7] =
    [[191, 191, 191], [191, 191, 0], [0, 191, 191], [0, 191, 0], [191, 0, 191], [191, 0, 0], [0, 0, 191]];

/// Where the colour bars end and the ramp begins.
fn bars_height(img: &Rgb) -> i64 {
    i64::from(img.height) * 2 / 3
}

/// The still part: colour bars over the top two thirds, a grey ramp below.
fn draw_background(img: &mut Rgb) {
    let (w, h) = (i64::from(img.width), i64::from(img.height));
    let bars_h = bars_height(img);
    for (i, colour) in BARS.iter().enumerate() {
        let x0 = w * i as i64 / 7;
        let x1 = w * (i as i64 + 1) / 7;
        img.fill_rect(x0, 0, x1 - x0, bars_h, *colour);
    }
    // A grey ramp from black to white: one row, copied down.
    let Ok(first) = u32::try_from(bars_h) else { return };
    for x in 0..img.width {
        let v = (u64::from(x) * 255 / u64::from(img.width.saturating_sub(1).max(1))) as u8;
        img.set_pixel(x, first, [v, v, v]);
    }
    let row_len = img.width as usize * 3;
    let start = first as usize * row_len;
    for row in (bars_h + 1)..h {
        let to = row as usize * row_len;
        if to + row_len <= img.data.len() {
            img.data.copy_within(start..start + row_len, to);
        }
    }
}

/// The moving part: the box (position from `count`), the label and the date and time.
fn draw_overlay(img: &mut Rgb, label: &str, now: OffsetDateTime, count: u64) {
    let (w, h) = (i64::from(img.width), i64::from(img.height));
    let bars_h = bars_height(img);
    // A box bouncing left and right across the bars, a step each frame.
    let side = (h / 8).max(4);
    let travel = (w - side).max(1);
    let step = (w / 64).max(1);
    let pos = (count as i64).wrapping_mul(step).rem_euclid(2 * travel);
    let x = if pos < travel { pos } else { 2 * travel - pos };
    let y = bars_h / 2 - side / 2;
    img.fill_rect(x, y, side, side, BLACK);
    img.fill_rect(x + 2, y + 2, side - 4, side - 4, WHITE);

    // Label at the top left and the date and time at the bottom left, on dark bands.
    let scale = (img.height / 120).clamp(1, 8);
    let margin = i64::from(4 * scale);
    let line = i64::from(GLYPH_H * scale);
    let time = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    for (text, y) in [(label, margin), (time.as_str(), h - margin - line)] {
        let width = text_width(text, scale);
        img.fill_rect(margin / 2, y - margin / 2, width + margin, line + margin, BLACK);
        draw_text(img, margin, y, text, scale, WHITE);
    }
}

/// Glyph cell: 5 columns, 8 rows (capitals and digits use the top 7, descenders the 8th).
const GLYPH_W: u32 = 5;
const GLYPH_H: u32 = 8;
/// Horizontal advance per character, in glyph pixels (one column of space).
const ADVANCE: u32 = GLYPH_W + 1;

/// The width of `text` drawn at `scale`, in pixels.
fn text_width(text: &str, scale: u32) -> i64 {
    let n = text.chars().count() as i64;
    (n * i64::from(ADVANCE * scale) - i64::from(scale)).max(0)
}

/// Draws `text` with its top-left corner at (x, y), each glyph pixel a `scale` x `scale` square;
/// clipped to the picture.
fn draw_text(img: &mut Rgb, x: i64, y: i64, text: &str, scale: u32, colour: [u8; 3]) {
    let s = i64::from(scale);
    for (i, c) in text.chars().enumerate() {
        let left = x + i as i64 * i64::from(ADVANCE) * s;
        for (row, bits) in glyph_rows(c).iter().enumerate() {
            for col in 0..GLYPH_W {
                if bits & (1 << (GLYPH_W - 1 - col)) != 0 {
                    img.fill_rect(left + i64::from(col) * s, y + row as i64 * s, s, s, colour);
                }
            }
        }
    }
}

/// The rows of a character's glyph, leftmost column in bit 4.
fn glyph_rows(c: char) -> [u8; GLYPH_H as usize] {
    let art = glyph_art(c).unwrap_or(BOX);
    let mut rows = [0u8; GLYPH_H as usize];
    for (row, pattern) in rows.iter_mut().zip(art.split(' ')) {
        *row = pattern.bytes().fold(0, |acc, b| (acc << 1) | u8::from(b == b'#'));
    }
    rows
}

/// Drawn for characters the font lacks.
const BOX: &str = "##### #...# #...# #...# #...# #...# #####";

/// The font: each glyph is rows of 5 pixels (`#` ink, `.` paper) separated by spaces, top first.
fn glyph_art(c: char) -> Option<&'static str> {
    Some(match c {
        ' ' => ".....",
        '-' => "..... ..... ..... ##### ..... ..... .....",
        ':' => "..... .##.. .##.. ..... .##.. .##.. .....",
        '.' => "..... ..... ..... ..... ..... .##.. .##..",
        '/' => "..... ....# ...#. ..#.. .#... #.... .....",
        '_' => "..... ..... ..... ..... ..... ..... #####",
        '0' => ".###. #...# #..## #.#.# ##..# #...# .###.",
        '1' => "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
        '2' => ".###. #...# ....# ...#. ..#.. .#... #####",
        '3' => "##### ...#. ..#.. ...#. ....# #...# .###.",
        '4' => "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
        '5' => "##### #.... ####. ....# ....# #...# .###.",
        '6' => "..##. .#... #.... ####. #...# #...# .###.",
        '7' => "##### ....# ...#. ..#.. .#... .#... .#...",
        '8' => ".###. #...# #...# .###. #...# #...# .###.",
        '9' => ".###. #...# #...# .#### ....# ...#. .##..",
        'A' => ".###. #...# #...# ##### #...# #...# #...#",
        'B' => "####. #...# #...# ####. #...# #...# ####.",
        'C' => ".###. #...# #.... #.... #.... #...# .###.",
        'D' => "###.. #..#. #...# #...# #...# #..#. ###..",
        'E' => "##### #.... #.... ####. #.... #.... #####",
        'F' => "##### #.... #.... ####. #.... #.... #....",
        'G' => ".###. #...# #.... #.### #...# #...# .####",
        'H' => "#...# #...# #...# ##### #...# #...# #...#",
        'I' => ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
        'J' => "..### ...#. ...#. ...#. ...#. #..#. .##..",
        'K' => "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
        'L' => "#.... #.... #.... #.... #.... #.... #####",
        'M' => "#...# ##.## #.#.# #.#.# #...# #...# #...#",
        'N' => "#...# #...# ##..# #.#.# #..## #...# #...#",
        'O' => ".###. #...# #...# #...# #...# #...# .###.",
        'P' => "####. #...# #...# ####. #.... #.... #....",
        'Q' => ".###. #...# #...# #...# #.#.# #..#. .##.#",
        'R' => "####. #...# #...# ####. #.#.. #..#. #...#",
        'S' => ".#### #.... #.... .###. ....# ....# ####.",
        'T' => "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
        'U' => "#...# #...# #...# #...# #...# #...# .###.",
        'V' => "#...# #...# #...# #...# #...# .#.#. ..#..",
        'W' => "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
        'X' => "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
        'Y' => "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",
        'Z' => "##### ....# ...#. ..#.. .#... #.... #####",
        'a' => "..... ..... .###. ....# .#### #...# .####",
        'b' => "#.... #.... ####. #...# #...# #...# ####.",
        'c' => "..... ..... .###. #.... #.... #...# .###.",
        'd' => "....# ....# .#### #...# #...# #...# .####",
        'e' => "..... ..... .###. #...# ##### #.... .###.",
        'f' => "..##. .#..# .#... ###.. .#... .#... .#...",
        'g' => "..... ..... .#### #...# #...# .#### ....# .###.",
        'h' => "#.... #.... #.##. ##..# #...# #...# #...#",
        'i' => "..#.. ..... .##.. ..#.. ..#.. ..#.. .###.",
        'j' => "...#. ..... ..##. ...#. ...#. ...#. #..#. .##..",
        'k' => "#.... #.... #..#. #.#.. ##... #.#.. #..#.",
        'l' => ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
        'm' => "..... ..... ##.#. #.#.# #.#.# #.#.# #.#.#",
        'n' => "..... ..... #.##. ##..# #...# #...# #...#",
        'o' => "..... ..... .###. #...# #...# #...# .###.",
        'p' => "..... ..... ####. #...# #...# ####. #.... #....",
        'q' => "..... ..... .#### #...# #...# .#### ....# ....#",
        'r' => "..... ..... #.##. ##..# #.... #.... #....",
        's' => "..... ..... .#### #.... .###. ....# ####.",
        't' => ".#... .#... ###.. .#... .#... .#..# ..##.",
        'u' => "..... ..... #...# #...# #...# #..## .##.#",
        'v' => "..... ..... #...# #...# #...# .#.#. ..#..",
        'w' => "..... ..... #...# #...# #.#.# #.#.# .#.#.",
        'x' => "..... ..... #...# .#.#. ..#.. .#.#. #...#",
        'y' => "..... ..... #...# #...# #...# .#### ....# .###.",
        'z' => "..... ..... ##### ...#. ..#.. .#... #####",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_key_frame;
    use crate::session::VideoCodec;

    /// The whole picture: bars, ramp, the moving box (position from `count`), label and time.
    fn draw_test_pattern(img: &mut Rgb, label: &str, now: OffsetDateTime, count: u64) {
        draw_background(img);
        draw_overlay(img, label, now, count);
    }

    fn demo_url(url: &str) -> StreamUrl {
        StreamUrl { url: url.into(), username: None, password: None, secret_query: None }
    }

    #[test]
    fn the_font_covers_what_it_promises_and_every_glyph_is_well_formed() {
        let promised = ('A'..='Z').chain('a'..='z').chain('0'..='9').chain("-:./ _".chars());
        for c in promised {
            let art = glyph_art(c).unwrap_or_else(|| panic!("no glyph for {c:?}"));
            let rows: Vec<&str> = art.split(' ').collect();
            assert!(c == ' ' || (7..=8).contains(&rows.len()), "{c:?} has {} rows", rows.len());
            assert!(rows.iter().all(|r| r.len() == 5 && r.bytes().all(|b| b == b'#' || b == b'.')), "{c:?}");
        }
        assert_eq!(glyph_rows(' '), [0; 8]);
        assert_eq!(glyph_rows('€'), glyph_rows('\u{1}'));
        assert_eq!(glyph_rows('€')[0], 0b11111);
        assert_eq!(glyph_rows('€')[3], 0b10001);
        // Distinct characters look distinct.
        let all: Vec<char> = ('A'..='Z').chain('a'..='z').chain('0'..='9').chain("-:./ _".chars()).collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(glyph_rows(*a), glyph_rows(*b), "{a:?} and {b:?}");
            }
        }
    }

    #[test]
    fn text_is_drawn_scaled_where_asked() {
        let mut img = Rgb::new(40, 30);
        draw_text(&mut img, 2, 3, "1", 2, [255, 0, 0]);
        // '1' row 0 is "..#..": a 2x2 square at x 2 + 2*2 = 6, y 3.
        for (x, y) in [(6, 3), (7, 3), (6, 4), (7, 4)] {
            assert_eq!(img.pixel(x, y), Some([255, 0, 0]), "({x}, {y})");
        }
        assert_eq!(img.pixel(5, 3), Some([0, 0, 0]));
        assert_eq!(img.pixel(8, 3), Some([0, 0, 0]));
        // Row 6 is ".###.": x 4..10 at y 15..17.
        assert_eq!(img.pixel(4, 15), Some([255, 0, 0]));
        assert_eq!(img.pixel(9, 16), Some([255, 0, 0]));
        assert_eq!(img.pixel(10, 16), Some([0, 0, 0]));
        assert_eq!(text_width("12", 2), 22);
        // Text running off the picture is clipped.
        draw_text(&mut img, 30, 25, "WWWW", 3, [1, 2, 3]);
        draw_text(&mut img, -100, -100, "x", 3, [1, 2, 3]);
    }

    #[test]
    fn labels_come_from_the_last_path_segment() {
        assert_eq!(label_of("demo://kazanlak/CAM-014").unwrap(), "CAM-014");
        assert_eq!(label_of("DEMO://kazanlak/north/Rozova%20dolina%2F2/").unwrap(), "Rozova dolina/2");
        assert_eq!(label_of("demo://kazanlak").unwrap(), "kazanlak");
        assert_eq!(label_of("demo://x/%zz%").unwrap(), "%zz%");
        assert_eq!(label_of("demo://x/%C3%A9").unwrap(), "é");
        assert!(label_of("rtsp://kazanlak/CAM-014").is_err());
        assert!(label_of("not a url").is_err());
        assert!(is_demo_url("demo://a/b") && is_demo_url("Demo://a") && !is_demo_url("rtsp://demo/x"));
        assert!(!is_demo_url("demo:x"));
    }

    fn at(h: u8, m: u8, s: u8) -> OffsetDateTime {
        time::macros::datetime!(2026-05-03 00:00 UTC).replace_time(time::Time::from_hms(h, m, s).unwrap())
    }

    #[test]
    fn the_pattern_moves_and_shows_label_and_time() {
        let mut a = Rgb::new(640, 360);
        let mut b = Rgb::new(640, 360);
        let mut c = Rgb::new(640, 360);
        draw_test_pattern(&mut a, "CAM-1", at(12, 0, 0), 0);
        draw_test_pattern(&mut b, "CAM-1", at(12, 0, 0), 1);
        draw_test_pattern(&mut c, "CAM-1", at(12, 0, 1), 0);
        assert_ne!(a, b, "the box moves each frame");
        assert_ne!(a, c, "the clock ticks");
        // The box is the only difference between a and b, the seconds digit between a and c.
        let differing_rows = |p: &Rgb, q: &Rgb| -> Vec<u32> {
            (0..p.height).filter(|&y| (0..p.width).any(|x| p.pixel(x, y) != q.pixel(x, y))).collect()
        };
        let box_rows = differing_rows(&a, &b);
        assert!(box_rows.iter().all(|&y| (90..150).contains(&y)), "{box_rows:?}");
        let clock_rows = differing_rows(&a, &c);
        assert!(clock_rows.iter().all(|&y| y >= 360 - 12 - 24), "{clock_rows:?}");
        // The label is white text on a dark band at the top left.
        let ink = (12..36).flat_map(|y| (12..120).map(move |x| (x, y))).filter(|&(x, y)| a.pixel(x, y) == Some(WHITE));
        assert!(ink.count() > 100);
        // Colour bars: yellow in the second seventh, blue in the last.
        assert_eq!(a.pixel(140, 200), Some(BARS[1]));
        assert_eq!(a.pixel(620, 200), Some(BARS[6]));
        // The grey ramp below them, black to white.
        assert_eq!(a.pixel(0, 250), Some([0, 0, 0]));
        assert_eq!(a.pixel(320, 300), Some([127, 127, 127]));
        assert_eq!(a.pixel(639, 359), Some([255, 255, 255]));
    }

    #[tokio::test]
    async fn a_demo_stream_is_live_h264() {
        let opener = SyntheticOpener::new();
        let started = std::time::Instant::now();
        let mut source = opener.open(&demo_url("demo://kazanlak/CAM-1")).await.unwrap();
        let mut frames = Vec::new();
        for _ in 0..4 {
            frames.push(source.next_frame().await.unwrap().unwrap());
        }
        // Paced in real time: four frames at 10 fps take three periods.
        assert!(started.elapsed() >= Duration::from_millis(290), "{:?}", started.elapsed());

        let first = &frames[0];
        assert!(first.key);
        assert!(frames[1..].iter().all(|f| !f.key));
        let p = &first.params;
        assert_eq!((p.codec, p.width, p.height), (VideoCodec::H264, 640, 360));
        assert_eq!(u32::from_be_bytes(p.sample_entry[0..4].try_into().unwrap()) as usize, p.sample_entry.len());
        assert_eq!(&p.sample_entry[4..8], b"avc1");
        assert!(p.rfc6381.starts_with("avc1."));
        assert!(frames.windows(2).all(|w| w[1].pts > w[0].pts), "pts increase");
        assert!(frames.windows(2).all(|w| w[1].data != w[0].data), "pictures change");
        // On the 100 ms grid (a late tick is skipped, so a step may be a multiple).
        assert!(frames.iter().all(|f| f.pts % 9000 == 0), "{:?}", frames.iter().map(|f| f.pts).collect::<Vec<_>>());

        let picture = decode_key_frame(first).unwrap();
        assert_eq!((picture.width, picture.height), (640, 360));
        // The decoded picture shows the bars: the blue bar is blue.
        let px = picture.pixel(620, 200).unwrap();
        assert!(px[2] > 150 && px[0] < 50 && px[1] < 50, "{px:?}");
    }

    #[tokio::test]
    async fn key_frames_follow_the_interval() {
        let settings = SyntheticSettings { width: 64, height: 48, fps: 50, key_interval: Duration::from_millis(100) };
        let mut source = SyntheticOpener::with_settings(settings).open(&demo_url("demo://x/y")).await.unwrap();
        let mut keys = Vec::new();
        for _ in 0..11 {
            keys.push(source.next_frame().await.unwrap().unwrap().key);
        }
        let want: Vec<bool> = (0..11).map(|i| i % 5 == 0).collect();
        assert_eq!(keys, want);
    }

    #[tokio::test]
    async fn bad_urls_and_settings_are_errors() {
        assert!(SyntheticOpener::new().open(&demo_url("rtsp://x/y")).await.is_err());
        let odd = SyntheticSettings { width: 641, ..SyntheticSettings::default() };
        assert!(SyntheticOpener::with_settings(odd).open(&demo_url("demo://x/y")).await.is_err());
    }

    /// Answers every open with an error naming itself.
    struct Named(&'static str);

    #[async_trait]
    impl StreamOpener for Named {
        async fn open(&self, _url: &StreamUrl) -> Result<Box<dyn FrameSource>> {
            Err(Error::unavailable(self.0))
        }
    }

    #[tokio::test]
    async fn routing_sends_demo_urls_to_the_synthetic_opener() {
        let router = RoutingOpener::new(Named("rtsp"), Named("demo"));
        let which = |url: &'static str| {
            let router = router.clone();
            async move { router.open(&demo_url(url)).await.err().unwrap().message }
        };
        assert_eq!(which("demo://kazanlak/CAM-1").await, "demo");
        assert_eq!(which("DEMO://kazanlak/CAM-1").await, "demo");
        assert_eq!(which("rtsp://10.0.0.5/main").await, "rtsp");
        assert_eq!(which("rtsps://demo/x").await, "rtsp");

        let real = RoutingOpener::new(Named("rtsp"), SyntheticOpener::new());
        let mut source = real.open(&demo_url("demo://kazanlak/CAM-1")).await.unwrap();
        assert!(source.next_frame().await.unwrap().unwrap().key);
    }
}
