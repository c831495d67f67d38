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

/// Where and how video is kept.
#[derive(Debug, Clone)]
pub struct VideoConfig {
    pub dir: PathBuf,
    /// A recorded file is closed at the first key frame after this long.
    pub segment: Duration,
    /// When the disk holding the video has less free space than this, the oldest recordings go
    /// (whatever their camera), and an alarm is raised.
    pub min_free_bytes: u64,
}

impl VideoConfig {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        VideoConfig { dir: dir.into(), segment: Duration::seconds(60), min_free_bytes: 2 << 30 }
    }

    fn rec_dir(&self) -> PathBuf {
        self.dir.join("rec")
    }

    fn export_dir(&self) -> PathBuf {
        self.dir.join("exports")
    }
}

/// A flush of waiting frames happens at a key frame, or when they span this long.
const MAX_FRAGMENT: i64 = 2 * CLOCK_RATE as i64;

fn io_error(what: &str, e: std::io::Error) -> Error {
    Error::unavailable(format!("{what}: {e}"))
}

fn ticks_to_duration(ticks: u64) -> Duration {
    Duration::microseconds((ticks as i128 * 1_000_000 / i128::from(CLOCK_RATE)) as i64)
}

fn duration_to_ticks(d: Duration) -> u64 {
    u64::try_from(d.whole_microseconds() * i128::from(CLOCK_RATE) / 1_000_000).unwrap_or(0)
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
        let mut tasks: HashMap<Id, tokio::task::JoinHandle<()>> = HashMap::new();
        loop {
            let recorded: Vec<Camera> = self
                .registry()
                .await
                .cameras
                .values()
                .filter(|c| c.video.recording == RecordingMode::Continuous && c.stream.is_some())
                .cloned()
                .collect();
            let wanted: HashMap<Id, Camera> = recorded.into_iter().map(|c| (c.id.clone(), c)).collect();
            tasks.retain(|id, task| {
                let keep = wanted.contains_key(id) && !task.is_finished();
                if !keep {
                    task.abort();
                    self.media.set_recording(id, None, false);
                }
                keep
            });
            for (id, cam) in wanted {
                self.media.set_recording(&id, cam.stream.as_ref(), true);
                if let std::collections::hash_map::Entry::Vacant(slot) = tasks.entry(id.clone()) {
                    let app = self.clone();
                    slot.insert(tokio::spawn(async move { app.record(id).await }));
                }
            }
            tokio::time::sleep(every).await;
        }
    }

    /// Records one camera for as long as its session runs (restarting with it).
    async fn record(self: Arc<Self>, camera: Id) {
        loop {
            let Some(mut sub) = self.media.subscribe_running(&camera) else {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            };
            let mut open: Option<OpenSegment> = None;
            while let Some(frame) = sub.next().await {
                if let Err(e) = self.record_frame(&camera, &mut open, frame).await {
                    tracing::warn!(camera = %camera, error = %e.message, "recording failed; starting a new file");
                    open = None;
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
                    self.close_segment(seg, continues.then_some(frame.pts)).await?;
                }
            }
        }
        if open.is_none() {
            if !frame.key {
                return Ok(()); // a file starts on a key frame
            }
            *open = Some(self.open_segment(camera, &frame).await?);
        }
        let Some(seg) = open.as_mut() else { return Ok(()) };
        let due =
            seg.frag.pending() > 0 && (frame.key || frame.pts.saturating_sub(seg.frag_first_pts()) >= MAX_FRAGMENT);
        if due {
            self.write_fragment(seg, Some(frame.pts)).await?;
        }
        seg.frag.push(frame);
        Ok(())
    }

    async fn open_segment(&self, camera: &Id, first: &Frame) -> Result<OpenSegment> {
        use tokio::io::AsyncWriteExt;
        let config = self.video_config()?;
        let dir = config.rec_dir().join(camera.as_str());
        tokio::fs::create_dir_all(&dir).await.map_err(|e| io_error("creating a recording directory", e))?;
        let start = first.at;
        let name = format!("{}/{}.mp4", camera.as_str(), start.unix_timestamp_nanos() / 1_000_000);
        let path = config.rec_dir().join(&name);
        let frag = Fragmenter::new(first);
        let init = frag.init_segment();
        let mut file = tokio::fs::File::create(&path).await.map_err(|e| io_error("creating a recording", e))?;
        file.write_all(&init).await.map_err(|e| io_error("writing a recording", e))?;
        let row = Segment { camera: camera.clone(), start, end: start, file: name, bytes: init.len() as u64 };
        self.store().put_segment(&row).await?;
        Ok(OpenSegment { file, row, frag })
    }

    async fn write_fragment(&self, seg: &mut OpenSegment, next_pts: Option<i64>) -> Result<()> {
        use tokio::io::AsyncWriteExt;
        let Some((bytes, span)) = seg.frag.flush(next_pts) else { return Ok(()) };
        seg.file.write_all(&bytes).await.map_err(|e| io_error("writing a recording", e))?;
        seg.row.bytes += bytes.len() as u64;
        seg.row.end = seg.row.start + ticks_to_duration(span.decode_time + span.duration);
        self.store().put_segment(&seg.row).await
    }

    async fn close_segment(&self, mut seg: OpenSegment, next_pts: Option<i64>) -> Result<()> {
        self.write_fragment(&mut seg, next_pts).await?;
        seg.file.sync_data().await.map_err(|e| io_error("syncing a recording", e))
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

    /// A clip for a share's holder or an export: the caller checked the right.
    pub(crate) async fn clip_unchecked(&self, camera: &Id, from: OffsetDateTime, to: OffsetDateTime) -> Result<Clip> {
        check_range(from, to)?;
        let dir = self.video_config()?.rec_dir();
        let segments = self.store().segments(camera, from, to).await?;
        if segments.is_empty() {
            return Err(Error::not_found(format!("camera {camera} has no recording between these times")));
        }
        tokio::task::spawn_blocking(move || Clip::assemble(&dir, &segments, from, to))
            .await
            .map_err(|e| Error::internal(format!("assembling a clip: {e}")))?
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
            let path = dir.join(&seg.file);
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
                let decode_time = duration_to_ticks(f_start - clip_start);
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
        let dir = self.video_config()?.export_dir().join(id.as_str());
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
        let path = self.video_config()?.export_dir().join(id.as_str()).join("manifest.json");
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
        Ok(self.video_config()?.export_dir().join(id.as_str()).join(&file.name))
    }

    /// Records in the audit log that the actor watched a camera (`live` or `playback`).
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
