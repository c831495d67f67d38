//! The RTSP stream opener, on the `retina` crate: TCP interleaved, basic/digest auth, H.264 or H.265.

use crate::session::{Frame, FrameSource, StreamOpener, StreamParams, VideoCodec};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use polis_base::{Error, Result};
use polis_domain::registry::StreamUrl;
use retina::client::{Credentials, Demuxed, PlayOptions, SessionOptions, SetupOptions, TcpTransportOptions, Transport};
use retina::codec::{CodecItem, ParametersRef, VideoParameters, VideoParametersCodec};
use std::sync::Arc;

/// Opens RTSP streams with `retina`.
#[derive(Debug, Default, Clone)]
pub struct RetinaOpener;

struct RetinaSource {
    demuxed: Demuxed,
    video: usize,
    params: Option<Arc<StreamParams>>,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> Error {
    Error::unavailable(format!("{what}: {e}"))
}

fn params_of(p: &VideoParameters) -> Result<StreamParams> {
    let codec = match p.codec_params() {
        VideoParametersCodec::H264 { .. } => VideoCodec::H264,
        _ => VideoCodec::H265,
    };
    let sample_entry =
        p.mp4_sample_entry().build().map_err(|e| Error::failed_precondition(format!("stream parameters: {e}")))?;
    let (width, height) = p.pixel_dimensions();
    Ok(StreamParams {
        codec,
        rfc6381: p.rfc6381_codec().to_string(),
        width,
        height,
        sample_entry,
        extra_data: p.extra_data().to_vec(),
    })
}

#[async_trait]
impl StreamOpener for RetinaOpener {
    async fn open(&self, url: &StreamUrl) -> Result<Box<dyn FrameSource>> {
        // The URL without user information (user and password travel separately); credential
        // query parameters must reach the camera, so every error is redacted below.
        let stored = url.stored();
        let parsed =
            url::Url::parse(stored.expose()).map_err(|e| Error::invalid("stream_url", url.redact(&e.to_string())))?;
        let creds = url.username.as_ref().map(|u| Credentials {
            username: u.clone(),
            password: url.password.as_ref().map(|p| p.expose().to_string()).unwrap_or_default(),
        });
        let opts = SessionOptions::default().creds(creds).user_agent("polis".to_string());
        let unavailable = |what: &str, e: retina::Error| Error::unavailable(url.redact(&format!("{what}: {e}")));
        let mut session =
            retina::client::Session::describe(parsed, opts).await.map_err(|e| unavailable("DESCRIBE", e))?;
        let video = session
            .streams()
            .iter()
            .position(|s| s.media() == "video" && matches!(s.encoding_name(), "h264" | "h265"))
            .ok_or_else(|| Error::failed_precondition("the stream has no H.264 or H.265 video"))?;
        session
            .setup(video, SetupOptions::default().transport(Transport::Tcp(TcpTransportOptions::default())))
            .await
            .map_err(|e| unavailable("SETUP", e))?;
        let params = match session.streams()[video].parameters() {
            Some(ParametersRef::Video(p)) => Some(Arc::new(params_of(p)?)),
            _ => None,
        };
        let playing = session.play(PlayOptions::default()).await.map_err(|e| unavailable("PLAY", e))?;
        let demuxed = playing.demuxed().map_err(|e| unavailable("demux", e))?;
        Ok(Box::new(RetinaSource { demuxed, video, params }))
    }
}

#[async_trait]
impl FrameSource for RetinaSource {
    async fn next_frame(&mut self) -> Result<Option<Frame>> {
        loop {
            match self.demuxed.next().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(unavailable("stream", e)),
                Some(Ok(CodecItem::VideoFrame(f))) => {
                    if f.has_new_parameters() || self.params.is_none() {
                        if let Some(ParametersRef::Video(p)) = self.demuxed.streams()[self.video].parameters() {
                            self.params = Some(Arc::new(params_of(p)?));
                        }
                    }
                    // Frames before the first parameters cannot be decoded by anyone: skip them.
                    let Some(params) = self.params.clone() else { continue };
                    let (key, pts) = (f.is_random_access_point(), f.timestamp().elapsed());
                    return Ok(Some(Frame {
                        data: Bytes::from(f.into_data()),
                        key,
                        pts,
                        at: time::OffsetDateTime::now_utc(),
                        params,
                        connection: 0,
                    }));
                }
                Some(Ok(_)) => continue,
            }
        }
    }
}
