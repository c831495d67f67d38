//! Recorded video: the recorder (continuous recording of the cameras that ask for it, into
//! fragmented MP4 files of about a minute, indexed in the store), playback of a time range as one
//! MP4 assembled from those files, evidence export with a SHA-256 manifest, and retention by days,
//! by bytes per camera and by a floor of free disk.
//!
//! Files live under the video directory: `rec/<camera>/<start-ms>.mp4`, and
//! `exports/<export-id>/` (the clips and `manifest.json`).

use crate::App;
use bytes::Bytes;
use polis_base::{Error, Result};
use polis_domain::{Actor, Camera, Id, RecordingMode};
use polis_media::fmp4;
use polis_media::mux::Fragmenter;
use polis_media::{Frame, CLOCK_RATE};
use polis_store::Segment;
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// Tells the free bytes of the disk that holds a directory (the real one asks the kernel;
/// tests substitute a disk that fills up).
#[derive(Clone)]
pub struct FreeSpace(pub Arc<FreeSpaceFn>);

/// Free bytes of the disk that holds a directory.
pub type FreeSpaceFn = dyn Fn(&Path) -> std::io::Result<u64> + Send + Sync;

impl std::fmt::Debug for FreeSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FreeSpace")
    }
}

impl FreeSpace {
    /// The space an unprivileged writer may still use, from `statvfs`.
    pub fn of_disk() -> Self {
        FreeSpace(Arc::new(|p: &Path| {
            let s = rustix::fs::statvfs(p).map_err(std::io::Error::from)?;
            Ok(s.f_bavail.saturating_mul(s.f_frsize))
        }))
    }
}

/// Where and how video is kept.
#[derive(Debug, Clone)]
pub struct VideoConfig {
    pub dir: PathBuf,
    /// A recorded file is closed at the first key frame after this long.
    pub segment: Duration,
    /// When the disk holding the video has less free space than this, the oldest recordings go
    /// (whatever their camera), and an alarm is raised.
    pub min_free_bytes: u64,
    pub free_space: FreeSpace,
    /// A pulled camera without a picture this long (since its last picture, or since it was
    /// first seen offline if it never sent one) raises `camera-offline`.
    pub offline_alarm_after: Duration,
}

impl VideoConfig {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        VideoConfig {
            dir: dir.into(),
            segment: Duration::seconds(60),
            min_free_bytes: 2 << 30,
            free_space: FreeSpace::of_disk(),
            offline_alarm_after: DEFAULT_OFFLINE_ALARM_AFTER,
        }
    }

    fn rec_dir(&self) -> PathBuf {
        self.dir.join("rec")
    }

    fn export_dir(&self) -> PathBuf {
        self.dir.join("exports")
    }
}

/// The default of [`VideoConfig::offline_alarm_after`]: with the camera watch checking every
/// second, the alarm comes within 9 s of the last picture.
pub const DEFAULT_OFFLINE_ALARM_AFTER: Duration = Duration::seconds(8);

/// An event-recorded camera keeps this much video from before the event.
pub const PRE_EVENT: Duration = Duration::seconds(10);
/// ...and records this long after the last event near it.
pub const POST_EVENT: Duration = Duration::minutes(5);

/// Event-recorded cameras armed by an alarm or incident: recording until the time given.
#[derive(Default)]
pub(crate) struct Armed(std::sync::Mutex<HashMap<Id, OffsetDateTime>>);

impl Armed {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Id, OffsetDateTime>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn until(&self, camera: &Id) -> Option<OffsetDateTime> {
        self.lock().get(camera).copied()
    }
}

/// The frames an event-recorded camera keeps from before an event: whole groups of pictures
/// covering at least [`PRE_EVENT`].
#[derive(Default)]
struct PreBuffer(std::collections::VecDeque<Frame>);

impl PreBuffer {
    /// Frames kept at most (a stream with no key frame for a long time does not grow memory).
    const MAX: usize = 2_000;

    fn push(&mut self, frame: Frame) {
        if self.0.is_empty() && !frame.key {
            return;
        }
        let newest = frame.at;
        self.0.push_back(frame);
        // Drop leading groups while the next group still starts early enough.
        loop {
            let next_key = self.0.iter().skip(1).position(|f| f.key).map(|i| i + 1);
            match next_key {
                Some(i) if self.0[i].at <= newest - PRE_EVENT || self.0.len() > Self::MAX => {
                    self.0.drain(..i);
                }
                _ => break,
            }
        }
        if self.0.len() > Self::MAX {
            self.0.clear();
        }
    }
}

/// A flush of waiting frames happens at a key frame, or when they span this long.
const MAX_FRAGMENT: i64 = 2 * CLOCK_RATE as i64;

/// `base` joined with a relative path of plain names only (no `..`, no root, no `.`), so a
/// path built from an id or a stored row never leaves the data directory.
pub fn inside(base: &std::path::Path, rel: &str) -> Result<PathBuf> {
    let p = std::path::Path::new(rel);
    let plain = !rel.is_empty() && p.components().all(|c| matches!(c, std::path::Component::Normal(_)));
    if !plain {
        return Err(Error::internal(format!("refusing a path outside the data directory: {rel:?}")));
    }
    Ok(base.join(p))
}

fn io_error(what: &str, e: std::io::Error) -> Error {
    Error::unavailable(format!("{what}: {e}"))
}

fn ticks_to_duration(ticks: u64) -> Duration {
    Duration::microseconds((ticks as i128 * 1_000_000 / i128::from(CLOCK_RATE)) as i64)
}

fn duration_to_ticks(d: Duration) -> u64 {
    u64::try_from(d.whole_microseconds() * i128::from(CLOCK_RATE) / 1_000_000).unwrap_or(0)
}

/// A recorded file whose stream sends no frame for this long is closed.
const CLOSE_WHEN_QUIET: std::time::Duration = std::time::Duration::from_secs(2);

/// How long the recorder waits before it tries to open a file again after recording failed.
const RETRY_AFTER_FAILURE: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether each recorded camera is recording now, as the recorder last found.
#[derive(Default)]
pub(crate) struct RecordingStates(std::sync::Mutex<HashMap<Id, RecordingFailure>>);

/// Why a camera is not recording, and when the recorder may try again.
#[derive(Debug, Clone)]
struct RecordingFailure {
    reason: String,
    since: OffsetDateTime,
    retry_at: std::time::Instant,
}

impl RecordingStates {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Id, RecordingFailure>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn failed(&self, camera: &Id, reason: &str, now: OffsetDateTime) {
        let retry_at = std::time::Instant::now() + RETRY_AFTER_FAILURE;
        let mut states = self.lock();
        let since = states.get(camera).map_or(now, |f| f.since);
        states.insert(camera.clone(), RecordingFailure { reason: reason.to_string(), since, retry_at });
    }

    fn recording(&self, camera: &Id) {
        self.lock().remove(camera);
    }

    /// Whether the recorder may open a file now (not within a while of a failure).
    fn may_open(&self, camera: &Id) -> bool {
        self.lock().get(camera).is_none_or(|f| std::time::Instant::now() >= f.retry_at)
    }
}

/// Whether a camera is recording, for its health.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordingStatus {
    /// The camera is not set to record (or has no stream).
    Off,
    /// Set to record (continuously, or on events) and nothing failed.
    Recording,
    /// Set to record, but the last attempt failed (e.g. the recordings cannot be indexed while
    /// the store does not take writes): no file is being written.
    NotRecording { reason: String, since: OffsetDateTime },
}

impl RecordingStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            RecordingStatus::Off => "off",
            RecordingStatus::Recording => "recording",
            RecordingStatus::NotRecording { .. } => "not recording",
        }
    }
}

/// A file being written.
struct OpenSegment {
    file: tokio::fs::File,
    row: Segment,
    frag: Fragmenter,
}

impl App {
    /// Sets where video is kept; without it, recording, playback and export answer that video
    /// storage is not configured. Call once, before [`App::run_recorder`].
    pub fn configure_video(&self, config: VideoConfig) -> Result<()> {
        std::fs::create_dir_all(config.rec_dir()).map_err(|e| io_error("creating the video directory", e))?;
        std::fs::create_dir_all(config.export_dir()).map_err(|e| io_error("creating the export directory", e))?;
        self.video.set(config).map_err(|_| Error::failed_precondition("video storage is configured already"))
    }

    pub(crate) fn video_config(&self) -> Result<&VideoConfig> {
        self.video.get().ok_or_else(|| Error::failed_precondition("video storage is not configured on this server"))
    }

    /// Keeps a recorder running for every camera whose recording is continuous (and only those):
    /// checks the registry every `every`. Runs until the task is dropped.
    pub async fn run_recorder(self: Arc<Self>, every: std::time::Duration) {
        let mut tasks: HashMap<Id, (RecordingMode, tokio::task::JoinHandle<()>)> = HashMap::new();
        let mut stopping = self.stopping.subscribe();
        loop {
            if *stopping.borrow() {
                // The recorders close their files as their streams end (see `stop_video`).
                return;
            }
            let recorded: Vec<Camera> = self
                .registry()
                .await
                .cameras
                .values()
                .filter(|c| c.video.recording != RecordingMode::Off && c.stream.is_some())
                .cloned()
                .collect();
            let wanted: HashMap<Id, Camera> = recorded.into_iter().map(|c| (c.id.clone(), c)).collect();
            tasks.retain(|id, (mode, task)| {
                let keep = wanted.get(id).is_some_and(|c| c.video.recording == *mode) && !task.is_finished();
                if !keep {
                    task.abort();
                    if !wanted.contains_key(id) {
                        self.media.set_recording(id, None, false);
                    }
                }
                keep
            });
            for (id, cam) in wanted {
                // An event-recorded camera's stream runs all the time, for its pre-buffer.
                self.media.set_recording(&id, cam.stream.as_ref(), true);
                if let std::collections::hash_map::Entry::Vacant(slot) = tasks.entry(id.clone()) {
                    let app = self.clone();
                    let mode = cam.video.recording;
                    slot.insert((mode, tokio::spawn(async move { app.record(id, mode).await })));
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stopping.changed() => {}
            }
        }
    }

    /// Shuts video down for a server stop: no new recorder starts, every camera session ends,
    /// and each recorder closes its open file (its last fragment written and synced, so the
    /// file plays to its end). Returns when they have, or after `within`.
    pub async fn stop_video(&self, within: std::time::Duration) {
        let _ = self.stopping.send(true);
        self.media.stop_all();
        let deadline = tokio::time::Instant::now() + within;
        while self.recorders.load(std::sync::atomic::Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let left = self.recorders.load(std::sync::atomic::Ordering::Acquire);
        if left > 0 {
            tracing::warn!(recorders = left, "recordings still open when stopping");
        }
    }

    /// Records one camera for as long as its session runs (restarting with it): always, or for
    /// an event-recorded camera while it is armed, starting with its pre-buffer.
    async fn record(self: Arc<Self>, camera: Id, mode: RecordingMode) {
        struct Running(Arc<std::sync::atomic::AtomicUsize>);
        impl Drop for Running {
            fn drop(&mut self) {
                self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
            }
        }
        self.recorders.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let _running = Running(self.recorders.clone());
        loop {
            if *self.stopping.borrow() {
                return;
            }
            let Some(mut sub) = self.media.subscribe_running(&camera) else {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            };
            let mut open: Option<OpenSegment> = None;
            let mut pre = PreBuffer::default();
            loop {
                // A file whose stream went quiet is closed (its last frames written and synced)
                // rather than left open for the whole outage; the next connection starts a new one.
                let frame = if open.is_some() {
                    match tokio::time::timeout(CLOSE_WHEN_QUIET, sub.next()).await {
                        Ok(frame) => frame,
                        Err(_) => {
                            if let Some(seg) = open.take() {
                                if let Err(e) = self.close_segment(seg, None).await {
                                    tracing::warn!(camera = %camera, error = %e.message, "closing a recording failed");
                                }
                            }
                            continue;
                        }
                    }
                } else {
                    sub.next().await
                };
                let Some(frame) = frame else { break };
                let wanted =
                    mode == RecordingMode::Continuous || self.armed.until(&camera).is_some_and(|u| frame.at < u);
                let mut frames = Vec::new();
                if wanted {
                    frames.extend(pre.0.drain(..));
                    frames.push(frame);
                } else {
                    if let Some(seg) = open.take() {
                        if let Err(e) = self.close_segment(seg, None).await {
                            tracing::warn!(camera = %camera, error = %e.message, "closing a recording failed");
                        }
                    }
                    pre.push(frame);
                }
                for frame in frames {
                    if let Err(e) = self.record_frame(&camera, &mut open, frame).await {
                        if self.recording.may_open(&camera) {
                            tracing::warn!(camera = %camera, error = %e.message, "recording failed; trying again shortly");
                        }
                        self.recording.failed(&camera, &e.message, self.clock().now());
                        open = None;
                    }
                }
            }
            if let Some(seg) = open.take() {
                if let Err(e) = self.close_segment(seg, None).await {
                    tracing::warn!(camera = %camera, error = %e.message, "closing a recording failed");
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    async fn record_frame(&self, camera: &Id, open: &mut Option<OpenSegment>, frame: Frame) -> Result<()> {
        let config = self.video_config()?;
        if let Some(seg) = open.as_mut() {
            let continues = seg.frag.continues(&frame);
            let long_enough = frame.at - seg.row.start >= config.segment;
            if !continues || (frame.key && long_enough) {
                if let Some(seg) = open.take() {
                    let next = continues.then(|| seg.frag.next_decode_time(&frame));
                    self.close_segment(seg, next).await?;
                }
            }
        }
        if open.is_none() {
            if !frame.key || !self.recording.may_open(camera) {
                return Ok(()); // a file starts on a key frame, and not just after a failure
            }
            *open = Some(self.open_segment(camera, &frame).await?);
            self.recording.recording(camera);
        }
        let Some(seg) = open.as_mut() else { return Ok(()) };
        let due =
            seg.frag.pending() > 0 && (frame.key || frame.pts.saturating_sub(seg.frag_first_pts()) >= MAX_FRAGMENT);
        if due {
            let next = seg.frag.next_decode_time(&frame);
            self.write_fragment(seg, Some(next)).await?;
        }
        seg.frag.push(frame);
        Ok(())
    }

    async fn open_segment(&self, camera: &Id, first: &Frame) -> Result<OpenSegment> {
        use tokio::io::AsyncWriteExt;
        let config = self.video_config()?;
        let dir = inside(&config.rec_dir(), camera.as_str())?;
        tokio::fs::create_dir_all(&dir).await.map_err(|e| io_error("creating a recording directory", e))?;
        let start = first.at;
        let name = format!("{}/{}.mp4", camera.as_str(), start.unix_timestamp_nanos() / 1_000_000);
        let path = inside(&config.rec_dir(), &name)?;
        let frag = Fragmenter::new(first);
        let init = frag.init_segment();
        // The row goes first: a file that cannot be indexed is never created, and a crash
        // leaves at most a row without a file (which playback skips and retention removes).
        let row = Segment { camera: camera.clone(), start, end: start, file: name, bytes: init.len() as u64 };
        self.store().put_segment(&row).await?;
        let created = async {
            let mut file = tokio::fs::File::create(&path).await.map_err(|e| io_error("creating a recording", e))?;
            file.write_all(&init).await.map_err(|e| io_error("writing a recording", e))?;
            Ok::<_, Error>(file)
        }
        .await;
        match created {
            Ok(file) => Ok(OpenSegment { file, row, frag }),
            Err(e) => {
                let _ = tokio::fs::remove_file(&path).await;
                if let Err(d) = self.store().delete_segment(camera, start).await {
                    tracing::warn!(error = %d.message, "a row without its file is left; retention removes it");
                }
                Err(e)
            }
        }
    }

    async fn write_fragment(&self, seg: &mut OpenSegment, next_dts: Option<i64>) -> Result<()> {
        use tokio::io::AsyncWriteExt;
        let Some((bytes, span)) = seg.frag.flush(next_dts) else { return Ok(()) };
        seg.file.write_all(&bytes).await.map_err(|e| io_error("writing a recording", e))?;
        seg.row.bytes += bytes.len() as u64;
        seg.row.end = seg.row.start + ticks_to_duration(span.decode_time + span.duration);
        self.store().put_segment(&seg.row).await
    }

    async fn close_segment(&self, mut seg: OpenSegment, next_dts: Option<i64>) -> Result<()> {
        self.write_fragment(&mut seg, next_dts).await?;
        seg.file.sync_data().await.map_err(|e| io_error("syncing a recording", e))
    }

    /// An alarm or an incident at `p`: every event-recorded camera of `municipality` that sees
    /// the point records from its pre-buffer until [`POST_EVENT`] after now. Returns the cameras.
    pub async fn record_event(&self, municipality: &Id, p: polis_domain::LatLon) -> Vec<Id> {
        let until = self.clock().now() + POST_EVENT;
        let reg = self.registry().await;
        let cams: Vec<Id> = reg
            .camera_index
            .seeing(p, Some(municipality), 50)
            .into_iter()
            .filter(|h| reg.cameras.get(&h.id).is_some_and(|c| c.video.recording == RecordingMode::Events))
            .map(|h| h.id)
            .collect();
        drop(reg);
        let mut armed = self.armed.lock();
        for c in &cams {
            let e = armed.entry(c.clone()).or_insert(until);
            *e = (*e).max(until);
        }
        cams
    }

    // ---- Playback ------------------------------------------------------------------------

    /// The recorded spans of a camera between `from` and `to` (adjacent files joined).
    pub async fn recordings(
        &self,
        actor: &Actor,
        camera: &Id,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<(OffsetDateTime, OffsetDateTime)>> {
        let cam: Camera = self.get(actor, camera).await?;
        actor.check_video(&cam.municipality)?;
        check_range(from, to)?;
        Ok(spans(&self.store().segments(camera, from, to).await?, from, to))
    }

    /// A time range of a camera's recordings as one MP4 (checks the actor's right).
    pub async fn clip(&self, actor: &Actor, camera: &Id, from: OffsetDateTime, to: OffsetDateTime) -> Result<Clip> {
        let cam: Camera = self.get(actor, camera).await?;
        actor.check_video(&cam.municipality)?;
        self.clip_unchecked(camera, from, to).await
    }

    /// A clip for a share's holder or an export: the caller checked the right. A player asks
    /// for many byte ranges of one clip: clips of ranges that ended in the past are kept for a
    /// minute (the recording of a range still going on grows, so it is assembled each time).
    pub(crate) async fn clip_unchecked(&self, camera: &Id, from: OffsetDateTime, to: OffsetDateTime) -> Result<Clip> {
        check_range(from, to)?;
        let key = (camera.clone(), from, to);
        let now = self.clock().now();
        if let Some(c) = self.clips.get(&key, now) {
            return Ok(c);
        }
        let dir = self.video_config()?.rec_dir();
        let segments = self.store().segments(camera, from, to).await?;
        if segments.is_empty() {
            return Err(Error::not_found(format!("camera {camera} has no recording between these times")));
        }
        let finished = segments.last().is_some_and(|s| s.end >= to) || to < now - Duration::minutes(2);
        let clip = tokio::task::spawn_blocking(move || Clip::assemble(&dir, &segments, from, to))
            .await
            .map_err(|e| Error::internal(format!("assembling a clip: {e}")))??;
        if finished {
            self.clips.put(key, now, clip.clone());
        }
        Ok(clip)
    }
}

fn check_range(from: OffsetDateTime, to: OffsetDateTime) -> Result<()> {
    if to <= from {
        return Err(Error::invalid("to", "must be after from"));
    }
    if to - from > Duration::days(1) {
        return Err(Error::invalid("to", "a range of at most 24 hours"));
    }
    Ok(())
}

/// Joins files that follow each other (within 2 s) into spans, clipped to `from..to`.
pub fn spans(segments: &[Segment], from: OffsetDateTime, to: OffsetDateTime) -> Vec<(OffsetDateTime, OffsetDateTime)> {
    let mut out: Vec<(OffsetDateTime, OffsetDateTime)> = Vec::new();
    for s in segments {
        let (a, b) = (s.start.max(from), s.end.min(to));
        if b <= a {
            continue;
        }
        match out.last_mut() {
            Some(last) if a - last.1 <= Duration::seconds(2) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Recently assembled clips (see [`App::clip_unchecked`]).
#[derive(Default)]
pub(crate) struct ClipCache(std::sync::Mutex<Vec<(ClipKey, OffsetDateTime, Clip)>>);

type ClipKey = (Id, OffsetDateTime, OffsetDateTime);

impl ClipCache {
    const KEEP: Duration = Duration::minutes(1);
    const MAX: usize = 16;

    fn get(&self, key: &ClipKey, now: OffsetDateTime) -> Option<Clip> {
        let mut v = self.0.lock().unwrap_or_else(|p| p.into_inner());
        v.retain(|(_, at, _)| now - *at < Self::KEEP);
        v.iter().find(|(k, _, _)| k == key).map(|(_, _, c)| c.clone())
    }

    fn put(&self, key: ClipKey, now: OffsetDateTime, clip: Clip) {
        let mut v = self.0.lock().unwrap_or_else(|p| p.into_inner());
        v.retain(|(k, _, _)| *k != key);
        if v.len() >= Self::MAX {
            v.remove(0);
        }
        v.push((key, now, clip));
    }
}

/// A piece of a clip: bytes made here (the initialisation segment, rewritten fragment headers),
/// or a range of a recorded file (the pictures).
#[derive(Debug, Clone)]
enum Piece {
    Mem(Bytes),
    File { path: PathBuf, offset: u64, len: u64 },
}

impl Piece {
    fn len(&self) -> u64 {
        match self {
            Piece::Mem(b) => b.len() as u64,
            Piece::File { len, .. } => *len,
        }
    }
}

/// A playable MP4 of a time range, assembled from recorded files without copying the pictures:
/// the initialisation segment, then each fragment that overlaps the range with its decode time
/// rewritten so that the clip starts at 0. Served with range requests, or written out.
#[derive(Debug, Clone)]
pub struct Clip {
    pieces: Vec<Piece>,
    len: u64,
    /// The wall-clock time of the first picture and the clip's duration.
    pub start: OffsetDateTime,
    pub duration: Duration,
    pub mime: String,
}

impl Clip {
    fn assemble(dir: &Path, segments: &[Segment], from: OffsetDateTime, to: OffsetDateTime) -> Result<Clip> {
        let mut pieces = Vec::new();
        let mut init: Option<Vec<u8>> = None;
        let mut start: Option<OffsetDateTime> = None;
        let mut end_ticks = 0u64;
        let mut seq = 0u32;
        for seg in segments {
            let path = inside(dir, &seg.file)?;
            let (seg_init, frags) = match read_index(&path) {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(file = %seg.file, error = %e.message, "a recording is unreadable; skipped");
                    continue;
                }
            };
            match &init {
                None => {
                    pieces.push(Piece::Mem(Bytes::from(seg_init.clone())));
                    init = Some(seg_init);
                }
                // The camera changed its picture size or codec: one clip holds one format.
                Some(i) if *i != seg_init => break,
                Some(_) => {}
            }
            for (info, mut moof) in frags {
                let f_start = seg.start + ticks_to_duration(info.decode_time);
                let f_end = f_start + ticks_to_duration(info.duration);
                if f_end <= from || f_start >= to {
                    continue;
                }
                let clip_start = *start.get_or_insert(f_start);
                // Files meet where the wall clock says; a file that starts a little before the
                // last one ended (arrival jitter) starts at its end, so decode times never go back.
                let decode_time = duration_to_ticks(f_start - clip_start).max(end_ticks);
                seq += 1;
                fmp4::retime_fragment(&mut moof, seq, decode_time)?;
                end_ticks = end_ticks.max(decode_time + info.duration);
                pieces.push(Piece::Mem(Bytes::from(moof)));
                pieces.push(Piece::File {
                    path: path.clone(),
                    offset: info.offset + info.moof_len,
                    len: info.len - info.moof_len,
                });
            }
        }
        let (Some(start), Some(init)) = (start, init) else {
            return Err(Error::not_found("no recorded pictures in this range"));
        };
        let mime = mime_of_init(&init);
        let len = pieces.iter().map(Piece::len).sum();
        Ok(Clip { pieces, len, start, duration: ticks_to_duration(end_ticks), mime })
    }

    /// The clip's size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes `start..end` (end excluded) of the clip, read in chunks of about `chunk` bytes.
    pub fn read_range(&self, start: u64, end: u64, chunk: u64) -> Vec<ClipChunk> {
        let mut out = Vec::new();
        let mut at = 0u64;
        for p in &self.pieces {
            let (p_start, p_end) = (at, at + p.len());
            at = p_end;
            let (a, b) = (start.max(p_start), end.min(p_end));
            if a >= b {
                continue;
            }
            let mut off = a - p_start;
            while off < b - p_start {
                let n = (b - p_start - off).min(chunk.max(1));
                out.push(ClipChunk { piece: p.clone(), offset: off, len: n });
                off += n;
            }
        }
        out
    }

    /// Writes the whole clip to `out`, returning its SHA-256 (hex).
    pub fn write_to(&self, out: &mut impl std::io::Write) -> Result<String> {
        use sha2::Digest;
        let mut hash = sha2::Sha256::new();
        for c in self.read_range(0, self.len, 1 << 20) {
            let bytes = c.read()?;
            hash.update(&bytes);
            out.write_all(&bytes).map_err(|e| io_error("writing a clip", e))?;
        }
        Ok(hex(&hash.finalize()))
    }
}

/// A part of a clip to send: read it (blocking) with [`ClipChunk::read`].
#[derive(Debug, Clone)]
pub struct ClipChunk {
    piece: Piece,
    offset: u64,
    len: u64,
}

impl ClipChunk {
    pub fn read(&self) -> Result<Bytes> {
        match &self.piece {
            Piece::Mem(b) => Ok(b.slice(self.offset as usize..(self.offset + self.len) as usize)),
            Piece::File { path, offset, .. } => {
                let mut f = std::fs::File::open(path).map_err(|e| io_error("opening a recording", e))?;
                f.seek(SeekFrom::Start(offset + self.offset)).map_err(|e| io_error("reading a recording", e))?;
                let mut buf = vec![0; self.len as usize];
                f.read_exact(&mut buf).map_err(|e| io_error("reading a recording", e))?;
                Ok(Bytes::from(buf))
            }
        }
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The codec string from an initialisation segment this server wrote (its `avcC`/`hvcC`).
fn mime_of_init(init: &[u8]) -> String {
    let codec = init
        .windows(4)
        .position(|w| w == b"avcC")
        .and_then(|i| init.get(i + 5..i + 8))
        .map(|p| format!("avc1.{:02x}{:02x}{:02x}", p[0], p[1], p[2]))
        .or_else(|| init.windows(4).any(|w| w == b"hvcC").then(|| "hvc1".to_string()))
        .unwrap_or_else(|| "avc1.42c01e".to_string());
    format!("video/mp4; codecs=\"{codec}\"")
}

/// Reads a recorded file's index: its initialisation segment and each fragment's `moof` (small),
/// without reading the pictures.
/// A recorded file's initialisation segment, and each fragment with its `moof` box.
type FileIndex = (Vec<u8>, Vec<(fmp4::FragmentInfo, Vec<u8>)>);

fn read_index(path: &Path) -> Result<FileIndex> {
    let mut f = std::fs::File::open(path).map_err(|e| io_error("opening a recording", e))?;
    let size = f.metadata().map_err(|e| io_error("reading a recording", e))?.len();
    let mut at = 0u64;
    let mut init = Vec::new();
    let mut frags = Vec::new();
    let mut head = [0u8; 8];
    while at + 8 <= size {
        f.seek(SeekFrom::Start(at)).map_err(|e| io_error("reading a recording", e))?;
        f.read_exact(&mut head).map_err(|e| io_error("reading a recording", e))?;
        let box_len = u64::from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
        if box_len < 8 || at + box_len > size {
            break; // cut short by a crash: what is before stands
        }
        match &head[4..8] {
            b"ftyp" | b"moov" => {
                let mut b = vec![0; box_len as usize];
                f.seek(SeekFrom::Start(at)).map_err(|e| io_error("reading a recording", e))?;
                f.read_exact(&mut b).map_err(|e| io_error("reading a recording", e))?;
                init.extend_from_slice(&b);
            }
            b"moof" => {
                let mut moof = vec![0; box_len as usize];
                f.seek(SeekFrom::Start(at)).map_err(|e| io_error("reading a recording", e))?;
                f.read_exact(&mut moof).map_err(|e| io_error("reading a recording", e))?;
                let mdat_at = at + box_len;
                if mdat_at + 8 > size {
                    break;
                }
                f.read_exact(&mut head).map_err(|e| io_error("reading a recording", e))?;
                let mdat_len = u64::from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
                if &head[4..8] != b"mdat" || mdat_len < 8 || mdat_at + mdat_len > size {
                    break;
                }
                let (_, decode_time, duration, key) = fmp4::parse_moof(&moof)?;
                let info = fmp4::FragmentInfo {
                    offset: at,
                    moof_len: box_len,
                    len: box_len + mdat_len,
                    decode_time,
                    duration,
                    key,
                };
                frags.push((info, moof));
                at = mdat_at + mdat_len;
                continue;
            }
            _ => {}
        }
        at += box_len;
    }
    if init.is_empty() {
        return Err(Error::internal("a recording without its initialisation segment"));
    }
    Ok((init, frags))
}

impl OpenSegment {
    fn frag_first_pts(&self) -> i64 {
        self.frag.first_pending_pts().unwrap_or(i64::MAX)
    }
}

// ---- Orphans and status ----------------------------------------------------------------------

/// What [`App::adopt_orphan_recordings`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Orphans {
    /// Files the index did not know, indexed now.
    pub indexed: u64,
    /// Files the index did not know that hold no playable picture, deleted.
    pub deleted: u64,
}

impl App {
    /// At start: every file under the recordings directory that the index does not know (left
    /// by an older version or a fault) is indexed from its own fragments, or deleted when it holds
    /// none, so that no file is left that the index does not know.
    pub async fn adopt_orphan_recordings(&self) -> Result<Orphans> {
        let rec = self.video_config()?.rec_dir();
        let mut out = Orphans::default();
        let Ok(cameras) = std::fs::read_dir(&rec) else { return Ok(out) };
        for cam_dir in cameras.flatten() {
            let Some(cam_name) = cam_dir.file_name().to_str().map(str::to_string) else { continue };
            let Ok(camera) = Id::parse("camera", &cam_name) else { continue };
            let Ok(files) = std::fs::read_dir(cam_dir.path()) else { continue };
            for f in files.flatten() {
                let path = f.path();
                let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_string) else { continue };
                let Some(ms) = name.strip_suffix(".mp4").and_then(|m| m.parse::<i64>().ok()) else { continue };
                let Ok(start) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
                    continue;
                };
                let file = format!("{cam_name}/{name}");
                // Rows starting at that millisecond (also one that covers no time yet).
                let ms1 = Duration::milliseconds(1);
                let known = self.store().segments(&camera, start - ms1, start + ms1).await?;
                if known.iter().any(|s| s.file == file) {
                    continue;
                }
                let index = read_index(&path).ok().filter(|(_, frags)| !frags.is_empty());
                match index {
                    Some((_, frags)) => {
                        let (end_ticks, bytes) = frags.iter().fold((0u64, 0u64), |(e, b), (i, _)| {
                            (e.max(i.decode_time + i.duration), b.max(i.offset + i.len))
                        });
                        let row = Segment {
                            camera: camera.clone(),
                            start,
                            end: start + ticks_to_duration(end_ticks),
                            file,
                            bytes,
                        };
                        self.store().put_segment(&row).await?;
                        out.indexed += 1;
                    }
                    None => {
                        tokio::fs::remove_file(&path)
                            .await
                            .map_err(|e| io_error("deleting an unplayable recording", e))?;
                        out.deleted += 1;
                    }
                }
            }
        }
        if out.indexed + out.deleted > 0 {
            tracing::warn!(indexed = out.indexed, deleted = out.deleted, "recordings the index did not know");
        }
        Ok(out)
    }

    /// Whether the camera records now: off, recording, or not recording (and why).
    pub async fn recording_status(&self, actor: &Actor, id: &Id) -> Result<RecordingStatus> {
        let cam: Camera = self.get(actor, id).await?;
        if cam.video.recording == RecordingMode::Off || cam.stream.is_none() {
            return Ok(RecordingStatus::Off);
        }
        Ok(match self.recording.lock().get(id) {
            Some(f) => RecordingStatus::NotRecording { reason: f.reason.clone(), since: f.since },
            None => RecordingStatus::Recording,
        })
    }
}

// ---- Retention and watch ---------------------------------------------------------------------

/// What a retention run deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VideoPurge {
    pub files: u64,
    pub bytes: u64,
    /// Of those, deleted before their time because the disk was nearly full.
    pub for_space: u64,
}

/// The source id of the disk alarm (one per municipality).
pub const DISK_SOURCE: &str = "video-storage";

impl App {
    async fn delete_recording(&self, seg: &Segment) -> Result<()> {
        let path = inside(&self.video_config()?.rec_dir(), &seg.file)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("deleting a recording", e)),
        }
        // The row goes after the file: a crash in between leaves a row whose file is missing,
        // which playback skips and the next run removes; never a file nobody knows of.
        self.store().delete_segment(&seg.camera, seg.start).await
    }

    /// Retention of recorded video: each camera keeps its `retention_days` and at most its
    /// `retention_bytes`; then, while the disk has less than `min_free_bytes` free, the oldest
    /// recordings of all cameras go and the `video-disk-full` alarm is raised (cleared once
    /// there is room again). The file being written is never deleted.
    pub async fn purge_video(&self) -> Result<VideoPurge> {
        let config = self.video_config()?.clone();
        let now = self.clock().now();
        let cameras = self.registry().await.cameras.clone();
        let mut out = VideoPurge::default();
        for usage in self.store().segment_usage().await? {
            let cam = cameras.get(&usage.camera);
            let days = cam.map(|c| c.retention_days).unwrap_or(0);
            let cutoff = now - Duration::days(i64::from(days));
            let budget = cam.and_then(|c| c.video.retention_bytes).unwrap_or(u64::MAX);
            let mut bytes = usage.bytes;
            let mut left = usage.segments;
            'camera: loop {
                let batch = self.store().oldest_segments(Some(&usage.camera), 100).await?;
                if batch.is_empty() {
                    break;
                }
                for seg in &batch {
                    // Keep the newest file (it may be the one being written).
                    let expired = seg.end < cutoff || (bytes > budget && left > 1);
                    if !expired || left <= 1 {
                        break 'camera;
                    }
                    self.delete_recording(seg).await?;
                    bytes = bytes.saturating_sub(seg.bytes);
                    left -= 1;
                    out.files += 1;
                    out.bytes += seg.bytes;
                }
            }
        }
        // The disk floor, over all cameras, oldest first.
        let free = |dir: &Path| (config.free_space.0)(dir).map_err(|e| io_error("reading the free disk space", e));
        let mut free_now = free(&config.dir)?;
        let mut hit: std::collections::BTreeSet<Id> = std::collections::BTreeSet::new();
        'disk: while free_now < config.min_free_bytes {
            let batch = self.store().oldest_segments(None, 50).await?;
            // Files left per camera, counted down as they go: a camera whose files all fall in
            // this batch keeps its newest (it may be the one being written).
            let mut left: HashMap<Id, u64> =
                self.store().segment_usage().await?.into_iter().map(|u| (u.camera, u.segments)).collect();
            let mut deleted = false;
            for seg in &batch {
                let Some(n) = left.get_mut(&seg.camera).filter(|n| **n > 1) else {
                    continue;
                };
                *n -= 1;
                self.delete_recording(seg).await?;
                if let Some(c) = cameras.get(&seg.camera) {
                    hit.insert(c.municipality.clone());
                }
                out.files += 1;
                out.bytes += seg.bytes;
                out.for_space += 1;
                deleted = true;
                free_now = free(&config.dir)?;
                if free_now >= config.min_free_bytes {
                    break 'disk;
                }
            }
            if !deleted {
                break;
            }
        }
        let low = free_now < config.min_free_bytes || !hit.is_empty();
        let municipalities: std::collections::BTreeSet<Id> = cameras.values().map(|c| c.municipality.clone()).collect();
        for m in municipalities {
            let raise = low && (hit.contains(&m) || hit.is_empty());
            let message = format!(
                "video storage nearly full: {} MB free (floor {} MB); the oldest recordings were deleted",
                free_now >> 20,
                config.min_free_bytes >> 20
            );
            self.system_alarm(
                "video-disk-full",
                &Id::from_trusted(DISK_SOURCE),
                &m,
                None,
                polis_domain::Severity::Major,
                message,
                raise,
            )
            .await?;
        }
        Ok(out)
    }

    /// Runs [`App::purge_video`] every `every`.
    pub async fn run_video_retention(self: Arc<Self>, every: std::time::Duration) {
        loop {
            match self.purge_video().await {
                Ok(p) if p.files > 0 => {
                    tracing::info!(files = p.files, bytes = p.bytes, for_space = p.for_space, "video retention")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e.message, "video retention failed"),
            }
            tokio::time::sleep(every).await;
        }
    }

    /// Watches the health of the cameras whose stream is pulled (recorded or watched): one
    /// without a picture for the configured time (8 s by default, counted from its last picture)
    /// raises `camera-offline` (with the camera's place),
    /// cleared when it sends pictures again, or when its stream is no longer pulled (the idle
    /// session was stopped, recording was turned off, the camera was deleted). `offline_since`
    /// carries state between calls.
    pub async fn check_camera_health(&self, offline_since: &mut HashMap<Id, OffsetDateTime>) -> Result<usize> {
        let now = self.clock().now();
        let after = self.video_config()?.offline_alarm_after;
        let cameras = self.registry().await.cameras.clone();
        let mut changed = 0;
        let running: Vec<Id> = self.media.running().into_iter().filter(|id| !id.as_str().contains('~')).collect();
        offline_since.retain(|id, _| running.contains(id));
        for id in &running {
            let Some(cam) = cameras.get(id) else { continue };
            let health = self.media.health(id);
            let offline = health.status == polis_media::HealthStatus::Offline;
            let since = if offline { *offline_since.entry(id.clone()).or_insert(now) } else { now };
            if !offline {
                offline_since.remove(id);
            }
            // Offline since its last picture, if it ever sent one: the stream may have stopped
            // some seconds before its health says offline.
            let since = match health.last_frame_at {
                Some(last) if offline => last.min(since),
                _ => since,
            };
            let raise = offline && now - since >= after;
            if offline && !raise {
                continue;
            }
            let last = health.last_frame_at.map(rfc3339).unwrap_or_else(|| "never".into());
            let message =
                format!("camera {} is offline (last picture: {last}, reconnects: {})", cam.name, health.reconnects);
            let sev = polis_domain::Severity::Major;
            if self
                .system_alarm("camera-offline", id, &cam.municipality, Some(cam.position), sev, message, raise)
                .await?
            {
                changed += 1;
            }
        }
        // A camera whose session stopped (nobody records or watches it any more, or it was
        // deleted) is no longer watched: its alarm clears instead of staying open for ever.
        for (id, municipality) in self.active_system_alarms("camera-offline").await {
            // A camera its regular check found dead keeps its alarm until a check finds it back.
            if running.contains(&id) || self.probes.dead(&id) {
                continue;
            }
            let name = cameras.get(&id).map(|c| c.name.clone()).unwrap_or_else(|| id.to_string());
            let message = format!("camera {name} is no longer pulled (nobody records or watches it)");
            let sev = polis_domain::Severity::Major;
            if self.system_alarm("camera-offline", &id, &municipality, None, sev, message, false).await? {
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// Runs [`App::check_camera_health`] every `every`.
    pub async fn run_camera_watch(self: Arc<Self>, every: std::time::Duration) {
        let mut offline_since = HashMap::new();
        loop {
            if let Err(e) = self.check_camera_health(&mut offline_since).await {
                tracing::warn!(error = %e.message, "camera health check failed");
            }
            tokio::time::sleep(every).await;
        }
    }
}

// ---- Evidence export ---------------------------------------------------------------------------

/// One file of an export.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExportFile {
    pub camera: String,
    pub camera_name: String,
    pub name: String,
    /// The recorded pictures the file holds (whole key-frame groups around the range asked).
    pub from: String,
    pub to: String,
    pub duration_s: f64,
    pub bytes: u64,
    pub sha256: String,
}

/// What an evidence export holds and why: written beside the files as `manifest.json`, and in
/// the audit log.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExportManifest {
    pub id: String,
    pub municipality: String,
    pub created_at: String,
    pub exported_by: String,
    pub reason: String,
    pub incident: Option<String>,
    /// The range asked for.
    pub from: String,
    pub to: String,
    pub files: Vec<ExportFile>,
    pub hash_algorithm: String,
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// What an export is asked to hold.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub cameras: Vec<Id>,
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub reason: String,
    pub incident: Option<Id>,
}

impl App {
    /// Exports a time range of one or several cameras (of one municipality) to MP4 files with a
    /// manifest of their SHA-256 hashes, who exported them, why and for which incident. All or
    /// nothing: a camera without recordings in the range fails the export and nothing is kept.
    pub async fn export_video(&self, actor: &Actor, req: ExportRequest) -> Result<ExportManifest> {
        let reason = polis_domain::incident::check_text("reason", &req.reason, 500)?;
        if req.cameras.is_empty() || req.cameras.len() > 16 {
            return Err(Error::invalid("cameras", "name 1 to 16 cameras"));
        }
        check_range(req.from, req.to)?;
        let mut cams = Vec::new();
        for id in &req.cameras {
            let cam: Camera = self.get(actor, id).await?;
            actor.check_video(&cam.municipality)?;
            cams.push(cam);
        }
        let municipality = cams[0].municipality.clone();
        if cams.iter().any(|c| c.municipality != municipality) {
            return Err(Error::invalid("cameras", "an export holds cameras of one municipality"));
        }
        if let Some(inc) = &req.incident {
            let view = self.incident(actor, inc).await.map_err(|e| match e.kind {
                polis_base::ErrorKind::NotFound => Error::invalid("incident", format!("no incident {inc}")),
                _ => e,
            })?;
            if view.incident.municipality != municipality {
                return Err(Error::invalid("incident", "the incident is of another municipality"));
            }
        }
        let mut clips = Vec::new();
        for cam in &cams {
            let clip = self.clip_unchecked(&cam.id, req.from, req.to).await.map_err(|e| match e.kind {
                polis_base::ErrorKind::NotFound => {
                    Error::invalid("cameras", format!("camera {} has no recording in this range", cam.id))
                }
                _ => e,
            })?;
            clips.push(clip);
        }
        let now = self.clock().now();
        let id = crate::registry::new_id("export");
        let dir = inside(&self.video_config()?.export_dir(), id.as_str())?;
        let names: Vec<String> = cams.iter().map(|c| format!("{}.mp4", c.id)).collect();
        let written = {
            let (dir, clips, names) = (dir.clone(), clips.clone(), names.clone());
            tokio::task::spawn_blocking(move || write_export(&dir, &clips, &names))
                .await
                .map_err(|e| Error::internal(format!("writing an export: {e}")))?
        };
        let hashes = match written {
            Ok(h) => h,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let files = cams
            .iter()
            .zip(&clips)
            .zip(names.into_iter().zip(hashes))
            .map(|((cam, clip), (name, sha256))| ExportFile {
                camera: cam.id.to_string(),
                camera_name: cam.name.clone(),
                name,
                from: rfc3339(clip.start),
                to: rfc3339(clip.start + clip.duration),
                duration_s: clip.duration.as_seconds_f64(),
                bytes: clip.len(),
                sha256,
            })
            .collect();
        let manifest = ExportManifest {
            id: id.to_string(),
            municipality: municipality.to_string(),
            created_at: rfc3339(now),
            exported_by: actor.username.clone(),
            reason,
            incident: req.incident.as_ref().map(|i| i.to_string()),
            from: rfc3339(req.from),
            to: rfc3339(req.to),
            files,
            hash_algorithm: "SHA-256".into(),
        };
        let text = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::internal(format!("manifest: {e}")))?;
        let audit = self.audit(actor, "video.export", id.as_str(), Some(&municipality), None, Some(&manifest));
        let saved = std::fs::write(dir.join("manifest.json"), &text)
            .map_err(|e| io_error("writing the manifest", e))
            .and_then(|_| sync_dir(&dir));
        let recorded = match saved {
            Ok(()) => self.store().append_audit(&[audit]).await,
            Err(e) => Err(e),
        };
        if let Err(e) = recorded {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        Ok(manifest)
    }

    /// An export's manifest, for someone who may watch video of its municipality.
    pub async fn export_manifest(&self, actor: &Actor, id: &Id) -> Result<ExportManifest> {
        let path = inside(&self.video_config()?.export_dir(), id.as_str())?.join("manifest.json");
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::not_found(format!("no export {id}")))
            }
            Err(e) => return Err(io_error("reading an export", e)),
        };
        let m: ExportManifest =
            serde_json::from_slice(&text).map_err(|e| Error::internal(format!("export manifest {id}: {e}")))?;
        let municipality = Id::parse("municipality", &m.municipality)?;
        if !actor.sees(&municipality) {
            return Err(Error::not_found(format!("no export {id}")));
        }
        actor.check_video(&municipality)?;
        Ok(m)
    }

    /// The path of one file of an export (checked like the manifest); the download is audited.
    pub async fn export_file(&self, actor: &Actor, id: &Id, name: &str) -> Result<PathBuf> {
        let m = self.export_manifest(actor, id).await?;
        let file = m
            .files
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| Error::not_found(format!("export {id} has no file {name}")))?;
        let municipality = Id::parse("municipality", &m.municipality)?;
        let audit = self.audit(actor, "video.download", id.as_str(), Some(&municipality), None, Some(&file.name));
        self.store().append_audit(&[audit]).await?;
        inside(&inside(&self.video_config()?.export_dir(), id.as_str())?, &file.name)
    }

    /// Records in the audit log that the actor watched a camera (`live`, `snapshot` or `playback`).
    pub async fn log_view(&self, actor: &Actor, cam: &Camera, what: &str) -> Result<()> {
        let audit =
            self.audit(actor, &format!("video.{what}"), cam.id.as_str(), Some(&cam.municipality), None, None::<&()>);
        self.store().append_audit(&[audit]).await
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io_error("syncing an export", e))
}

/// Writes each clip to `dir/name` (made durable), returning the SHA-256 of each.
fn write_export(dir: &Path, clips: &[Clip], names: &[String]) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).map_err(|e| io_error("creating an export", e))?;
    let mut hashes = Vec::new();
    for (clip, name) in clips.iter().zip(names) {
        let mut f = std::fs::File::create(dir.join(name)).map_err(|e| io_error("creating an export file", e))?;
        hashes.push(clip.write_to(&mut f)?);
        f.sync_all().map_err(|e| io_error("syncing an export file", e))?;
    }
    Ok(hashes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use polis_base::SimClock;
    use polis_domain::{CameraKind, CameraStatus, FieldOfView, Heading, LatLon, OrgKind, Organisation, RangeM};
    use std::sync::atomic::{AtomicU64, Ordering};

    fn camera(id: &str, days: u32, budget: Option<u64>) -> Camera {
        Camera {
            id: Id::from_trusted(id),
            municipality: Id::from_trusted("kazanlak"),
            name: id.into(),
            name_en: String::new(),
            position: LatLon::new(42.619, 25.393).expect("position"),
            mount_height_m: 6.0,
            heading: Heading::new(0.0).expect("heading"),
            fov: FieldOfView::new(60.0).expect("fov"),
            range: RangeM::new("range_m", 100.0).expect("range"),
            kind: CameraKind::Fixed,
            stream: None,
            sub_stream: None,
            retention_days: days,
            owner: None,
            status: CameraStatus::Active,
            demo: false,
            video: polis_domain::CameraVideo { retention_bytes: budget, ..Default::default() },
        }
    }

    /// A disk of `capacity` bytes holding only the recordings.
    fn small_disk(capacity: Arc<AtomicU64>) -> FreeSpace {
        FreeSpace(Arc::new(move |dir: &Path| {
            let mut used = 0;
            for cam in std::fs::read_dir(dir.join("rec"))? {
                for f in std::fs::read_dir(cam?.path())? {
                    used += f?.metadata()?.len();
                }
            }
            Ok(capacity.load(Ordering::SeqCst).saturating_sub(used))
        }))
    }

    async fn app(clock: Arc<SimClock>, capacity: Arc<AtomicU64>) -> (Arc<App>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = polis_store::open("sqlite::memory:").await.expect("store");
        let app = App::open(store, clock).await.expect("app");
        let mut config = VideoConfig::new(dir.path());
        config.min_free_bytes = 10_000;
        config.free_space = small_disk(capacity);
        app.configure_video(config).expect("video");
        let system = Actor::system();
        app.put_organisation(
            &system,
            Organisation {
                id: Id::from_trusted("kazanlak"),
                kind: OrgKind::Municipality,
                name_bg: "Казанлък".into(),
                name_en: "Kazanlak".into(),
                municipality: Id::from_trusted("kazanlak"),
                agency_kind: None,
                demo: false,
            },
        )
        .await
        .expect("org");
        (app, dir)
    }

    /// Writes an hour-long recording of `bytes` bytes starting `hours_ago` hours before now.
    async fn recording(app: &App, camera: &str, hours_ago: i64, bytes: usize) -> Segment {
        let start = app.clock().now() - Duration::hours(hours_ago);
        let file = format!("{camera}/{}.mp4", start.unix_timestamp());
        let path = app.video_config().expect("config").rec_dir().join(&file);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(&path, vec![7u8; bytes]).expect("file");
        let seg = Segment {
            camera: Id::from_trusted(camera),
            start,
            end: start + Duration::hours(1),
            file,
            bytes: bytes as u64,
        };
        app.store().put_segment(&seg).await.expect("index");
        seg
    }

    async fn left(app: &App, camera: &str) -> Vec<i64> {
        let now = app.clock().now();
        let segs = app
            .store()
            .segments(&Id::from_trusted(camera), now - Duration::days(400), now + Duration::days(1))
            .await
            .expect("segments");
        for s in &segs {
            assert!(app.video_config().expect("config").rec_dir().join(&s.file).exists(), "{} lost its file", s.file);
        }
        segs.iter().map(|s| (now - s.start).whole_hours()).collect()
    }

    #[tokio::test]
    async fn retention_keeps_each_cameras_days_and_bytes_and_the_disk_floor() {
        let clock = Arc::new(SimClock::new(time::macros::datetime!(2026-06-01 00:00 UTC)));
        let capacity = Arc::new(AtomicU64::new(1 << 40));
        let (app, _dir) = app(clock.clone(), capacity.clone()).await;
        let system = Actor::system();
        app.create(&system, camera("days-2", 2, None)).await.expect("camera");
        app.create(&system, camera("budget", 30, Some(3_500))).await.expect("camera");
        for h in [100, 60, 47, 30, 1] {
            recording(&app, "days-2", h, 1000).await;
            recording(&app, "budget", h, 1000).await;
        }
        let p = app.purge_video().await.expect("purge");
        // days-2 keeps what ends within 2 days; budget keeps its newest 3 files (3,000 of 3,500 bytes).
        assert_eq!(left(&app, "days-2").await, vec![47, 30, 1]);
        assert_eq!(left(&app, "budget").await, vec![47, 30, 1]);
        assert_eq!((p.files, p.for_space), (4, 0));
        assert!(app.store().open_alarms().await.expect("alarms").is_empty());

        // Two days on, the days-2 camera's old files go; nothing else.
        clock.advance(Duration::days(2));
        app.purge_video().await.expect("purge");
        assert_eq!(left(&app, "days-2").await, vec![49]);
        assert_eq!(left(&app, "budget").await.len(), 3);

        // The disk fills up: the oldest recordings of any camera go until the floor is met,
        // never a camera's newest, and the disk alarm is raised; it clears once there is room.
        recording(&app, "days-2", 2, 1000).await;
        capacity.store(4_000 + 10_000 + 500, Ordering::SeqCst); // 5 files of 1,000 bytes on disk
        let p = app.purge_video().await.expect("purge");
        assert_eq!(p.for_space, 1, "{p:?}");
        assert_eq!(left(&app, "budget").await.len(), 2, "the oldest file overall was budget's (95 h)");
        let alarms = app.store().open_alarms().await.expect("alarms");
        assert_eq!(alarms.len(), 1, "{alarms:?}");
        assert_eq!((alarms[0].rule.as_str(), alarms[0].source.as_str()), ("video-disk-full", DISK_SOURCE));
        capacity.store(1 << 40, Ordering::SeqCst);
        app.purge_video().await.expect("purge");
        let alarm = app.store().alarm(&alarms[0].id).await.expect("alarm").expect("kept");
        assert!(alarm.cleared_at.is_some(), "the disk alarm clears: {alarm:?}");
    }

    #[tokio::test]
    async fn the_disk_floor_keeps_each_cameras_newest_file_even_when_all_are_the_oldest() {
        let clock = Arc::new(SimClock::new(time::macros::datetime!(2026-06-01 00:00 UTC)));
        let capacity = Arc::new(AtomicU64::new(1 << 40));
        let (app, _dir) = app(clock.clone(), capacity.clone()).await;
        let system = Actor::system();
        app.create(&system, camera("old", 30, None)).await.expect("camera");
        app.create(&system, camera("new", 30, None)).await.expect("camera");
        // All of old's files are older than any of new's: they fill the first batch together.
        for h in [300, 299, 298] {
            recording(&app, "old", h, 1000).await;
        }
        for h in [5, 4, 3, 2, 1] {
            recording(&app, "new", h, 1000).await;
        }
        // A disk that can never meet the floor: everything that may go goes.
        capacity.store(5_000, Ordering::SeqCst);
        let p = app.purge_video().await.expect("purge");
        assert_eq!(left(&app, "old").await, vec![298], "old keeps its newest file");
        assert_eq!(left(&app, "new").await, vec![1], "new keeps its newest file");
        assert_eq!((p.files, p.for_space), (6, 6), "{p:?}");
        assert_eq!(app.store().open_alarms().await.expect("alarms").len(), 1, "the disk alarm is raised");
    }

    #[tokio::test]
    async fn a_camera_offline_alarm_clears_when_its_idle_session_is_stopped() {
        let clock = Arc::new(SimClock::new(time::macros::datetime!(2026-06-01 00:00 UTC)));
        let (app, _dir) = app(clock.clone(), Arc::new(AtomicU64::new(1 << 40))).await;
        let system = Actor::system();
        // Nothing listens on port 1 of loopback: the camera never comes online.
        let url = polis_domain::registry::StreamUrl::parse("stream_url", "rtsp://127.0.0.1:1/main").expect("url");
        let mut cam = camera("gone", 30, None);
        cam.stream = Some(url.clone());
        app.create(&system, cam).await.expect("camera");
        let id = Id::from_trusted("gone");
        let open = |app: Arc<App>| async move {
            app.store().open_alarms().await.expect("alarms").into_iter().find(|a| a.rule.as_str() == "camera-offline")
        };
        let mut state = HashMap::new();
        app.media().watch(&id, &url); // someone looked at it
        app.check_camera_health(&mut state).await.expect("check");
        clock.advance(Duration::seconds(31));
        app.check_camera_health(&mut state).await.expect("check");
        let alarm = open(app.clone()).await.expect("offline for 30 s raises the alarm");
        assert!(alarm.cleared_at.is_none(), "{alarm:?}");

        // Nobody looks any more: the session is reaped while the camera is still offline.
        clock.advance(Duration::seconds(60));
        assert_eq!(app.media().reap_idle(), 1);
        assert_eq!(app.check_camera_health(&mut state).await.expect("check"), 1);
        let alarm = app.store().alarm(&alarm.id).await.expect("alarm").expect("kept");
        assert!(alarm.cleared_at.is_some(), "the alarm of a stream nobody pulls clears: {alarm:?}");
        assert_eq!(app.check_camera_health(&mut state).await.expect("check"), 0, "cleared once");
    }

    #[test]
    fn adjacent_files_join_into_spans_clipped_to_the_range() {
        let t0 = time::macros::datetime!(2026-06-01 00:00 UTC);
        let seg = |a: i64, b: i64| Segment {
            camera: Id::from_trusted("c"),
            start: t0 + Duration::seconds(a),
            end: t0 + Duration::seconds(b),
            file: String::new(),
            bytes: 0,
        };
        let s =
            spans(&[seg(0, 60), seg(61, 120), seg(200, 260)], t0 + Duration::seconds(10), t0 + Duration::seconds(230));
        assert_eq!(
            s,
            vec![
                (t0 + Duration::seconds(10), t0 + Duration::seconds(120)),
                (t0 + Duration::seconds(200), t0 + Duration::seconds(230))
            ]
        );
    }
}
