//! From frames to fragments: a [`Fragmenter`] turns the frames of one connection (one set of
//! stream parameters, one timeline) into MP4 fragments whose decode times start at 0.

use crate::fmp4::{self, Sample};
use crate::session::{Frame, StreamParams, CLOCK_RATE};
use std::sync::Arc;

/// A jump of the presentation time larger than this (or backwards) starts a new timeline: the
/// camera reconnected or its clock jumped.
const MAX_GAP: i64 = 10 * CLOCK_RATE as i64;

/// The duration assumed for a frame before the next one says otherwise (25 fps).
const DEFAULT_DURATION: u32 = CLOCK_RATE / 25;

/// Collects frames of one timeline and cuts them into fragments.
pub struct Fragmenter {
    params: Arc<StreamParams>,
    base_pts: i64,
    last_pts: i64,
    seq: u32,
    pending: Vec<Frame>,
    last_duration: u32,
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
        Fragmenter {
            params: first.params.clone(),
            base_pts: first.pts,
            last_pts: first.pts,
            seq: 0,
            pending: Vec::new(),
            last_duration: DEFAULT_DURATION,
        }
    }

    pub fn params(&self) -> &Arc<StreamParams> {
        &self.params
    }

    /// The initialisation segment of this timeline.
    pub fn init_segment(&self) -> Vec<u8> {
        fmp4::init_segment(&self.params)
    }

    /// Whether `frame` continues this timeline (same stream parameters, time moving forward
    /// without a big jump); if not, the caller starts a new [`Fragmenter`].
    pub fn continues(&self, frame: &Frame) -> bool {
        let same = Arc::ptr_eq(&self.params, &frame.params) || *self.params == *frame.params;
        let delta = frame.pts - self.last_pts;
        same && (0..=MAX_GAP).contains(&delta)
    }

    /// Adds a frame to the next fragment.
    pub fn push(&mut self, frame: Frame) {
        self.last_pts = frame.pts;
        self.pending.push(frame);
    }

    /// The time of the first frame waiting, if any.
    pub fn first_pending_pts(&self) -> Option<i64> {
        self.pending.first().map(|f| f.pts)
    }

    /// Frames waiting for the next fragment.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Cuts the waiting frames into a fragment. `next_pts`, the time of the frame that follows
    /// if known, gives the last frame its exact duration; otherwise the previous frame's
    /// duration is assumed (live view cannot wait).
    pub fn flush(&mut self, next_pts: Option<i64>) -> Option<(Vec<u8>, FragmentSpan)> {
        let first = self.pending.first()?;
        let decode_time = u64::try_from(first.pts - self.base_pts).unwrap_or(0);
        let mut samples = Vec::with_capacity(self.pending.len());
        for (i, f) in self.pending.iter().enumerate() {
            let next = self.pending.get(i + 1).map(|n| n.pts).or(next_pts);
            let duration = match next {
                Some(n) if n > f.pts => u32::try_from(n - f.pts).unwrap_or(self.last_duration),
                _ => self.last_duration,
            };
            self.last_duration = duration;
            samples.push(Sample { data: f.data.clone(), duration, key: f.key });
        }
        self.seq += 1;
        let duration = samples.iter().map(|s| u64::from(s.duration)).sum();
        let span = FragmentSpan { decode_time, duration, frames: samples.len() };
        self.pending.clear();
        Some((fmp4::fragment(self.seq, decode_time, &samples), span))
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
        }
    }

    #[test]
    fn fragments_start_at_zero_and_durations_follow_the_timestamps() {
        let p = params();
        let mut m = Fragmenter::new(&frame(&p, 1000, true));
        for (i, pts) in [1000, 4600, 8200].into_iter().enumerate() {
            m.push(frame(&p, pts, i == 0));
        }
        let (bytes, span) = m.flush(Some(11_800)).unwrap();
        assert_eq!(span, FragmentSpan { decode_time: 0, duration: 10_800, frames: 3 });
        let (_, frags) = fmp4::fragments(&bytes).unwrap();
        assert_eq!((frags[0].decode_time, frags[0].duration, frags[0].key), (0, 10_800, true));
        // Without the next time, the last frame lasts as long as the one before.
        m.push(frame(&p, 11_800, false));
        let (_, span) = m.flush(None).unwrap();
        assert_eq!((span.decode_time, span.duration), (10_800, 3600));
        assert!(m.flush(None).is_none());
    }

    #[test]
    fn a_jump_backwards_or_new_parameters_end_the_timeline() {
        let p = params();
        let mut m = Fragmenter::new(&frame(&p, 0, true));
        m.push(frame(&p, 0, true));
        assert!(m.continues(&frame(&p, 3600, false)));
        assert!(!m.continues(&frame(&p, -1, false)));
        assert!(!m.continues(&frame(&p, 11 * 90_000, false)));
        let mut other = (*p).clone();
        other.width = 1920;
        assert!(!m.continues(&frame(&Arc::new(other), 3600, true)));
    }
}
