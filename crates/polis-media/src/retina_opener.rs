//! The RTSP stream opener, on the `retina` crate: TCP interleaved, basic/digest auth, H.264 or H.265.

use crate::session::{Frame, FrameSource, StreamOpener};
use async_trait::async_trait;
use futures::StreamExt;
use polis_base::{Error, Result};
use polis_domain::registry::StreamUrl;
use retina::client::{Credentials, Demuxed, PlayOptions, SessionOptions, SetupOptions, TcpTransportOptions, Transport};
use retina::codec::CodecItem;

/// Opens RTSP streams with `retina`.
#[derive(Debug, Default, Clone)]
pub struct RetinaOpener;

struct RetinaSource {
    demuxed: Demuxed,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> Error {
    Error::unavailable(format!("{what}: {e}"))
}

#[async_trait]
impl StreamOpener for RetinaOpener {
    async fn open(&self, url: &StreamUrl) -> Result<Box<dyn FrameSource>> {
        // The URL without credentials; they travel separately so they never appear in an error.
        let parsed = url::Url::parse(&url.url).map_err(|e| Error::invalid("stream_url", e.to_string()))?;
        let creds = url.username.as_ref().map(|u| Credentials {
            username: u.clone(),
            password: url.password.as_ref().map(|p| p.expose().to_string()).unwrap_or_default(),
        });
        let opts = SessionOptions::default().creds(creds).user_agent("polis".to_string());
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
        let playing = session.play(PlayOptions::default()).await.map_err(|e| unavailable("PLAY", e))?;
        let demuxed = playing.demuxed().map_err(|e| unavailable("demux", e))?;
        Ok(Box::new(RetinaSource { demuxed }))
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
                    return Ok(Some(Frame { bytes: f.data().len(), key: f.is_random_access_point() }))
                }
                Some(Ok(_)) => continue,
            }
        }
    }
}
