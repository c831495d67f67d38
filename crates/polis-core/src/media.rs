//! Camera video: the application's side of the [`polis_media::MediaHub`]: who may see a camera's
//! health, and when a camera's stream is pulled (someone looks at it).

use crate::App;
use polis_base::{Clock, Result};
use polis_domain::{Actor, Camera, Id};
use polis_media::{Health, HubConfig, MediaHub, RetinaOpener};
use std::sync::Arc;

/// The hub of the running server: RTSP through retina.
pub(crate) fn hub(clock: Arc<dyn Clock>) -> MediaHub {
    MediaHub::new(Arc::new(RetinaOpener), clock, HubConfig::default())
}

impl App {
    pub fn media(&self) -> &MediaHub {
        &self.media
    }

    /// The health of a camera the actor may see. Asking counts as watching: the camera's stream is
    /// pulled (one upstream connection) until nobody has asked for a while.
    pub async fn camera_health(&self, actor: &Actor, id: &Id) -> Result<Health> {
        let cam: Camera = self.get(actor, id).await?;
        match &cam.stream {
            Some(url) => self.media.watch(id, url),
            None => self.media.stop(id),
        }
        Ok(self.media.health(id))
    }

    /// Stops watched sessions nobody has looked at lately; run periodically by the binary.
    pub async fn run_media_reaper(self: Arc<Self>, every: std::time::Duration) {
        loop {
            tokio::time::sleep(every).await;
            let n = self.media.reap_idle();
            if n > 0 {
                tracing::info!(stopped = n, "idle camera sessions stopped");
            }
        }
    }
}
