//! From frames to fragments: a [`Fragmenter`] turns the frames of one connection (one set of
//! stream parameters, one timeline) into MP4 fragments whose decode times start at 0.
//!
//! Cameras send presentation times only (RTP timestamps), in decode order. With B-frames the
//! presentation times of consecutive frames go back and forth, so the decode times are made here
//! ([`Timeline`]): a frame's decode time is the smallest presentation time still waiting in a
//! reorder window as deep as the stream reorders (from the SPS, or learnt when a frame comes
//! earlier than the window allows). That is causal (no waiting for later frames, so live view
//! adds no latency), strictly increasing, never later than the frame's presentation time, and
//! equal to it for streams without B-frames. A sample's duration is the next frame's decode time
//! minus its own; when the next frame is not known yet (live view), the last measured interval.

use crate::fmp4::{self, Sample};
use crate::session::{Frame, StreamParams, VideoCodec, CLOCK_RATE};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

/// A jump of the presentation time larger than this starts a new timeline: the camera
/// reconnected or its clock jumped.
const MAX_GAP: i64 = 10 * CLOCK_RATE as i64;

/// A presentation time further back than this before the last decode time starts a new
/// timeline too (B-frames come back by a few frame intervals, never by a second).
const MAX_BACK: i64 = CLOCK_RATE as i64;

/// The frame interval assumed before two frames have shown the real one (25 fps).
const DEFAULT_INTERVAL: i64 = CLOCK_RATE as i64 / 25;

/// The deepest reorder window a stream may need (H.264 allows at most 16 frames).
const MAX_REORDER: usize = 16;

/// How many frames the stream's decoder reorders, from its H.264 SPS: the bitstream restriction's
/// `max_num_reorder_frames` if it says, none for the Baseline profile (no B-frames), else
/// `None` (unknown).
pub fn reorder_depth(params: &StreamParams) -> Option<usize> {
    if params.codec != VideoCodec::H264 {
        return None;
    }
    // avcC: version, profile, compatibility, level, length size, SPS count, then length + SPS.
    let x = &params.extra_data;
    if x.len() < 8 || x[5] & 0x1f == 0 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([x[6], x[7]]));
    let nal = x.get(8..8 + len)?;
    let rbsp = h264_reader::rbsp::decode_nal(nal).ok()?;
    let sps = h264_reader::nal::sps::SeqParameterSet::from_bits(h264_reader::rbsp::BitReader::new(&rbsp[..])).ok()?;
    if let Some(r) = sps.vui_parameters.as_ref().and_then(|v| v.bitstream_restrictions.as_ref()) {
        return Some((r.max_num_reorder_frames as usize).min(MAX_REORDER));
    }
    (u8::from(sps.profile_idc) == 66).then_some(0)
}

/// Decode times for frames that arrive in decode order with presentation times (see the module
/// documentation).
#[derive(Debug, Clone)]
pub struct Timeline {
    /// Presentation times in the reorder window.
    window: BinaryHeap<Reverse<i64>>,
    depth: usize,
    last_dts: Option<i64>,
    /// The last measured frame interval (between consecutive decode times).
    interval: i64,
    /// The last decode time was pushed past its frame's presentation (see [`Timeline::next`]).
    behind: bool,
    /// The last steps between decode times (a ring), for [`Timeline::cover`].
    steps: [i64; STEPS],
    step_at: usize,
}

/// How many recent frame intervals [`Timeline::cover`] looks at.
const STEPS: usize = 8;

impl Timeline {
    /// A timeline whose decoder reorders `depth` frames.
    pub fn new(depth: usize) -> Self {
        Timeline {
            window: BinaryHeap::new(),
            depth: depth.min(MAX_REORDER),
            last_dts: None,
            interval: DEFAULT_INTERVAL,
            behind: false,
            steps: [0; STEPS],
            step_at: 0,
        }
    }

    /// The reorder depth in use (it grows when a frame shows that it was too small).
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The last measured frame interval, in [`CLOCK_RATE`] units.
    pub fn interval(&self) -> i64 {
        self.interval
    }

    /// The longest of the recent frame intervals (at least the last one): what live view
    /// declares for a frame whose successor it does not know yet. With a variable frame rate or
    /// dropped frames, a frame then lasts until the next one shows (overlapping its successor is
    /// harmless: the successor replaces it), where the last interval would leave a gap in the
    /// browser's buffer at which playback stalls.
    pub fn cover(&self) -> i64 {
        self.steps.iter().copied().max().unwrap_or(0).max(self.interval)
    }

    /// The last decode time given.
    pub fn last(&self) -> Option<i64> {
        self.last_dts
    }

    /// The decode time the next frame, presented at `pts`, would get (without taking it).
    pub fn peek(&self, pts: i64) -> i64 {
        self.clone().next(pts, None)
    }

    /// The decode time of the next frame, presented at `pts`; at most `max` (live view keeps a
    /// frame's decode time within twice the duration it declared for the frame before, or the
    /// browser would take it for a discontinuity and drop pictures until the next key frame).
    pub fn next(&mut self, pts: i64, max: Option<i64>) -> i64 {
        self.window.push(Reverse(pts));
        let mut dts = if self.window.len() > self.depth {
            self.window.pop().map(|Reverse(p)| p).unwrap_or(pts)
        } else {
            // The window is still filling: the frames before the first pictures, one interval apart.
            let first = self.window.iter().map(|Reverse(p)| *p).min().unwrap_or(pts);
            match self.last_dts {
                Some(last) => (last + self.interval).min(first),
                None => first - self.interval * (self.depth - self.window.len() + 1) as i64,
            }
        };
        if let Some(last) = self.last_dts {
            if dts <= last {
                // A frame earlier than the window allows: the stream reorders more than assumed.
                // The frames already behind decode just after the last one (their presentation
                // comes first: a negative composition offset) until the window catches up; the
                // window grows once per such episode.
                if !self.behind && self.depth < MAX_REORDER {
                    self.depth += 1;
                }
                self.behind = true;
                dts = last + 1;
            } else {
                self.behind = false;
            }
            if let Some(max) = max {
                dts = dts.min(max.max(last + 1));
            }
            let step = dts - last;
            if step >= i64::from(CLOCK_RATE / 1000) && step <= MAX_GAP {
                self.interval = step;
                self.steps[self.step_at] = step;
                self.step_at = (self.step_at + 1) % STEPS;
            }
        }
        self.last_dts = Some(dts);
        dts
    }
}

/// Collects frames of one timeline and cuts them into fragments.
pub struct Fragmenter {
    params: Arc<StreamParams>,
    timeline: Timeline,
    /// The decode time that is 0 in the fragments.
    base_dts: i64,
    /// The connection whose frames these are ([`Frame::connection`]).
    connection: u64,
    max_pts: i64,
    seq: u32,
    /// Waiting frames with their decode times.
    pending: Vec<(Frame, i64)>,
    /// After a fragment whose last duration was assumed: the decode time the next frame may
    /// take at most.
    max_next: Option<i64>,
    samples: Vec<Sample>,
}

/// What a fragment holds, for an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentSpan {
    /// Decode time of the first frame since the timeline began, in [`CLOCK_RATE`] units.
    pub decode_time: u64,
    pub duration: u64,
    pub frames: usize,
}

impl Fragmenter {
    /// A timeline that starts with `first` (which should be a key frame).
    pub fn new(first: &Frame) -> Self {
        let depth = reorder_depth(&first.params).unwrap_or(match first.params.codec {
            // Unknown: cameras that use B-frames mostly use two; too deep costs nothing but a
            // constant offset, too shallow is learnt.
            VideoCodec::H264 | VideoCodec::H265 => 2,
        });
        let timeline = Timeline::new(depth);
        let base_dts = timeline.peek(first.pts);
        Fragmenter {
            params: first.params.clone(),
            timeline,
            base_dts,
            connection: first.connection,
            max_pts: first.pts,
            seq: 0,
            pending: Vec::new(),
            max_next: None,
            samples: Vec::new(),
        }
    }

    pub fn params(&self) -> &Arc<StreamParams> {
        &self.params
    }

    /// The initialisation segment of this timeline.
    pub fn init_segment(&self) -> Vec<u8> {
        fmp4::init_segment(&self.params)
    }

    /// Whether `frame` continues this timeline (same connection, same stream parameters, time
    /// moving on without a big jump; B-frames may come back a little); if not, the caller starts
    /// a new [`Fragmenter`]. A new connection always starts a new timeline: its presentation
    /// times start again from 0, which after a short connection would otherwise look like a
    /// B-frame coming back a little.
    pub fn continues(&self, frame: &Frame) -> bool {
        if frame.connection != self.connection {
            return false;
        }
        let same = Arc::ptr_eq(&self.params, &frame.params) || *self.params == *frame.params;
        let back = self.timeline.last().map_or(frame.pts, |l| l - MAX_BACK);
        same && frame.pts >= back && frame.pts - self.max_pts <= MAX_GAP
    }

    /// The decode time `frame` would get next (to give the frame before it its exact duration).
    pub fn next_decode_time(&self, frame: &Frame) -> i64 {
        self.timeline.peek(frame.pts)
    }

    /// Adds a frame to the next fragment.
    pub fn push(&mut self, frame: Frame) {
        let dts = self.timeline.next(frame.pts, self.max_next.take());
        self.max_pts = self.max_pts.max(frame.pts);
        self.pending.push((frame, dts));
    }

    /// The time of the first frame waiting, if any.
    pub fn first_pending_pts(&self) -> Option<i64> {
        self.pending.first().map(|(f, _)| f.pts)
    }

    /// Frames waiting for the next fragment.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The reorder depth in use.
    pub fn reorder(&self) -> usize {
        self.timeline.depth()
    }

    /// Cuts the waiting frames into a fragment. `next_dts`, the decode time of the frame that
    /// follows if known ([`Fragmenter::next_decode_time`]), gives the last frame its exact
    /// duration; otherwise the last measured interval is assumed (live view cannot wait).
    pub fn flush(&mut self, next_dts: Option<i64>) -> Option<(Vec<u8>, FragmentSpan)> {
        let mut out = Vec::new();
        let span = self.flush_into(&mut out, next_dts)?;
        Some((out, span))
    }

    /// [`Fragmenter::flush`], appending the fragment to `out`.
    pub fn flush_into(&mut self, out: &mut Vec<u8>, next_dts: Option<i64>) -> Option<FragmentSpan> {
        let (_, first_dts) = self.pending.first()?;
        let decode_time = u64::try_from(first_dts - self.base_dts).unwrap_or(0);
        self.samples.clear();
        for (i, (f, dts)) in self.pending.iter().enumerate() {
            let next = self.pending.get(i + 1).map(|(_, d)| *d).or(next_dts).filter(|n| n > dts);
            let duration = match next {
                Some(n) => n - dts,
                None => {
                    let d = self.timeline.cover().max(1);
                    self.max_next = Some(dts + 2 * d);
                    d
                }
            };
            self.samples.push(Sample {
                data: f.data.clone(),
                duration: u32::try_from(duration).unwrap_or(u32::MAX),
                key: f.key,
                cto: i32::try_from(f.pts - dts).unwrap_or(if f.pts > *dts { i32::MAX } else { i32::MIN }),
            });
        }
        self.seq += 1;
        let duration = self.samples.iter().map(|s| u64::from(s.duration)).sum();
        let span = FragmentSpan { decode_time, duration, frames: self.samples.len() };
        fmp4::fragment_into(out, self.seq, decode_time, &self.samples);
        self.samples.clear();
        self.pending.clear();
        Some(span)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::VideoCodec;
    use bytes::Bytes;
    use time::OffsetDateTime;

    fn params() -> Arc<StreamParams> {
        Arc::new(StreamParams {
            codec: VideoCodec::H264,
            rfc6381: "avc1.42c01e".into(),
            width: 64,
            height: 64,
            sample_entry: vec![0, 0, 0, 8, b'a', b'v', b'c', b'1'],
            extra_data: Vec::new(),
        })
    }

    fn frame(p: &Arc<StreamParams>, pts: i64, key: bool) -> Frame {
        Frame {
            data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
            key,
            pts,
            at: OffsetDateTime::UNIX_EPOCH,
            params: p.clone(),
            connection: 1,
        }
    }

    /// The samples of one fragment: (duration, composition offset, key).
    fn samples_of(bytes: &[u8]) -> Vec<(u32, i32, bool)> {
        let (_, frags) = fmp4::fragments(bytes).unwrap();
        fmp4::moof_samples(&bytes[..frags[0].moof_len as usize]).unwrap()
    }

    /// Decode times of a whole fragment, and presentation times (decode time + offset).
    fn times(decode_time: u64, samples: &[(u32, i32, bool)]) -> (Vec<i64>, Vec<i64>) {
        let mut t = decode_time as i64;
        let mut dts = Vec::new();
        let mut pts = Vec::new();
        for (d, cto, _) in samples {
            dts.push(t);
            pts.push(t + i64::from(*cto));
            t += i64::from(*d);
        }
        (dts, pts)
    }

    #[test]
    fn fragments_start_at_zero_and_durations_follow_the_timestamps() {
        let p = params();
        let first = frame(&p, 1000, true);
        let mut m = Fragmenter::new(&first);
        // A Baseline-like stream (unknown SPS gives a window of 2): 2 frames of offset.
        let depth = m.reorder() as i64;
        for (i, pts) in [1000, 4600, 8200].into_iter().enumerate() {
            m.push(frame(&p, pts, i == 0));
        }
        let next = m.next_decode_time(&frame(&p, 11_800, false));
        let (bytes, span) = m.flush(Some(next)).unwrap();
        assert_eq!(span.decode_time, 0);
        assert_eq!(span.frames, 3);
        let s = samples_of(&bytes);
        let (dts, pts) = times(0, &s);
        // Presentation times are the camera's, shifted by the window.
        let shift = depth * 3600;
        assert_eq!(pts, vec![shift, shift + 3600, shift + 7200]);
        assert!(dts.windows(2).all(|w| w[1] > w[0]));
        assert!(dts.iter().zip(&pts).all(|(d, p)| d <= p));
        assert!(s[0].2 && !s[1].2);
    }

    #[test]
    fn live_durations_are_the_measured_interval_not_a_constant() {
        // 10 fps, no B-frames (depth 0), flushed frame by frame as live view does.
        let p = params();
        let mut m = Fragmenter::new(&frame(&p, 0, true));
        m.timeline = Timeline::new(0);
        m.base_dts = 0;
        let mut last_end = None;
        for i in 0..20i64 {
            m.push(frame(&p, i * 9000, i == 0));
            let (bytes, span) = m.flush(None).unwrap();
            let s = samples_of(&bytes);
            assert_eq!(s.len(), 1);
            // Shown when the camera took it, from the first frame on.
            assert_eq!(span.decode_time as i64 + i64::from(s[0].1), i * 9000, "frame {i} shows at its time");
            if let Some((t, dur)) = last_end {
                // Never a jump the browser would take for a discontinuity.
                assert!(
                    span.decode_time > t && span.decode_time <= t + 2 * dur,
                    "frame {i}: {t} + {dur} -> {}",
                    span.decode_time
                );
            }
            if i >= 4 {
                // Once measured (the 25 fps guess corrected within a few frames): exact.
                assert_eq!(span.decode_time, (i * 9000) as u64);
                assert!(s[0].0 >= 9000, "frame {i} lasts at least the measured 100 ms, not a constant");
            }
            if i >= 4 + STEPS as i64 {
                assert_eq!(s[0].0, 9000, "frame {i} lasts the measured 100 ms");
            }
            last_end = Some((span.decode_time, span.duration));
        }
    }

    #[test]
    fn b_frames_get_increasing_decode_times_and_composition_offsets() {
        // x264 with 2 B-frames and a pyramid, 25 fps: I0 P3 B2 b1 P6 B5 b4 ... in decode order.
        let d = 3600i64;
        let order = [0, 3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10];
        let p = params();
        let mut m = Fragmenter::new(&frame(&p, 0, true));
        for (i, k) in order.iter().enumerate() {
            m.push(frame(&p, k * d, i == 0));
        }
        let next = m.next_decode_time(&frame(&p, 15 * d, true));
        let (bytes, span) = m.flush(Some(next)).unwrap();
        let s = samples_of(&bytes);
        let (dts, pts) = times(span.decode_time, &s);
        assert!(dts.windows(2).all(|w| w[1] > w[0]), "decode times go backwards: {dts:?}");
        assert!(dts.iter().zip(&pts).all(|(d, p)| d <= p), "a frame decoded after it shows: {dts:?} {pts:?}");
        // The presentation times are the camera's (one constant shift), every duration one frame.
        let shift = pts[0];
        let expect: Vec<i64> = order.iter().map(|k| k * d + shift).collect();
        assert_eq!(pts, expect);
        assert!(s.iter().all(|(dur, _, _)| i64::from(*dur) == d), "{s:?}");
        assert!(s.iter().any(|(_, cto, _)| *cto > 0));
    }

    #[test]
    fn a_deeper_reorder_than_assumed_is_learnt_without_going_backwards() {
        let d = 3600i64;
        let mut t = Timeline::new(0);
        let order = [0, 3, 1, 2, 6, 4, 5, 9, 7, 8, 12, 10, 11];
        let dts: Vec<i64> = order.iter().map(|k| t.next(k * d, None)).collect();
        assert!(dts.windows(2).all(|w| w[1] > w[0]), "{dts:?}");
        assert!(t.depth() >= 1);
        // Once learnt, the later frames decode no later than they show.
        assert!(dts[7..].iter().zip(&order[7..]).all(|(dt, k)| *dt <= k * d), "{dts:?}");
    }

    #[test]
    fn variable_rate_and_dropped_frames_keep_the_decode_times_continuous() {
        // 30 fps with frames 3, 4 and 7 of every ten dropped, flushed frame by frame (live).
        let p = params();
        let mut m = Fragmenter::new(&frame(&p, 0, true));
        m.timeline = Timeline::new(0);
        m.base_dts = 0;
        let mut prev: Option<(u64, u64)> = None;
        let mut presented = Vec::new();
        for i in (0..90i64).filter(|i| ![3, 4, 7].contains(&(i % 10))) {
            m.push(frame(&p, i * 3000, i == 0));
            let (bytes, span) = m.flush(None).unwrap();
            let s = samples_of(&bytes);
            if let Some((t, dur)) = prev {
                assert!(span.decode_time > t, "decode time goes back at frame {i}");
                // Within twice the duration the previous fragment declared: no discontinuity.
                assert!(span.decode_time <= t + 2 * dur, "a jump at frame {i}: {t} + {dur} -> {}", span.decode_time);
            }
            if let Some(&(p0, d0)) = presented.last() {
                // The frame before lasts at least until this one shows: no hole to stall at.
                assert!(p0 + d0 >= span.decode_time as i64 + i64::from(s[0].1) || i < 20, "a hole before frame {i}");
            }
            prev = Some((span.decode_time, span.duration));
            presented.push((span.decode_time as i64 + i64::from(s[0].1), span.duration as i64));
        }
        let presented: Vec<i64> = presented.into_iter().map(|(p, _)| p).collect();
        // What is shown is when the camera took it.
        let expect: Vec<i64> = (0..90i64).filter(|i| ![3, 4, 7].contains(&(i % 10))).map(|i| i * 3000).collect();
        assert_eq!(presented, expect);
    }

    #[test]
    fn a_jump_backwards_or_new_parameters_end_the_timeline() {
        let p = params();
        let mut m = Fragmenter::new(&frame(&p, 0, true));
        m.push(frame(&p, 0, true));
        assert!(m.continues(&frame(&p, 3600, false)));
        assert!(m.continues(&frame(&p, -3600, false)), "a B-frame may come back a little");
        assert!(!m.continues(&frame(&p, -2 * 90_000, false)));
        assert!(!m.continues(&frame(&p, 11 * 90_000, false)));
        let mut other = (*p).clone();
        other.width = 1920;
        assert!(!m.continues(&frame(&Arc::new(other), 3600, true)));
        // A reconnect: the new connection's times start at 0 again, within a B-frame's reach of
        // a short first connection, but a new connection is a new timeline.
        let mut m = Fragmenter::new(&frame(&p, 0, true));
        m.push(frame(&p, 0, true));
        m.push(frame(&p, 3600, false));
        assert!(m.continues(&frame(&p, 7200, false)));
        assert!(!m.continues(&Frame { connection: 2, ..frame(&p, 0, true) }));
    }

    #[test]
    fn the_reorder_depth_comes_from_the_sps() {
        // x264 Main profile, 2 B-frames: max_num_reorder_frames 2 in its VUI.
        let mut p = (*params()).clone();
        assert_eq!(reorder_depth(&p), None, "no SPS");
        p.extra_data = avcc(&X264_MAIN_BFRAMES_SPS);
        assert_eq!(reorder_depth(&p), Some(X264_MAIN_BFRAMES_REORDER));
    }

    fn avcc(sps: &[u8]) -> Vec<u8> {
        let mut v = vec![1, sps[1], sps[2], sps[3], 0xff, 0xe1];
        v.extend_from_slice(&(sps.len() as u16).to_be_bytes());
        v.extend_from_slice(sps);
        v.extend_from_slice(&[1, 0, 4, 0x68, 0xee, 0x3c, 0x80]);
        v
    }

    // The SPS x264 writes for the Main profile with 2 B-frames (GStreamer's x264enc, bframes=2).
    const X264_MAIN_BFRAMES_SPS: [u8; 28] = [
        0x67, 0x4d, 0x40, 0x15, 0xec, 0xa0, 0xa0, 0xfd, 0x80, 0xb5, 0x06, 0x06, 0x06, 0xa5, 0x00, 0x00, 0x03, 0x00,
        0x01, 0x00, 0x00, 0x03, 0x00, 0x32, 0x8f, 0x16, 0x2d, 0x96,
    ];
    const X264_MAIN_BFRAMES_REORDER: usize = 2;
}
