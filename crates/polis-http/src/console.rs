//! The operator console: static files compiled into the binary, so it works air-gapped.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

const FILES: &[(&str, &str, &str)] = &[
    ("index.html", "text/html; charset=utf-8", include_str!("../../../web/index.html")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("../../../web/app.js")),
    ("map.js", "text/javascript; charset=utf-8", include_str!("../../../web/map.js")),
    ("camlayer.js", "text/javascript; charset=utf-8", include_str!("../../../web/camlayer.js")),
    ("camedit.js", "text/javascript; charset=utf-8", include_str!("../../../web/camedit.js")),
    ("incidents.js", "text/javascript; charset=utf-8", include_str!("../../../web/incidents.js")),
    ("planner.js", "text/javascript; charset=utf-8", include_str!("../../../web/planner.js")),
    ("video.js", "text/javascript; charset=utf-8", include_str!("../../../web/video.js")),
    ("admin.js", "text/javascript; charset=utf-8", include_str!("../../../web/admin.js")),
    ("warnings.js", "text/javascript; charset=utf-8", include_str!("../../../web/warnings.js")),
    ("draw.js", "text/javascript; charset=utf-8", include_str!("../../../web/draw.js")),
    ("setup.js", "text/javascript; charset=utf-8", include_str!("../../../web/setup.js")),
    ("search.js", "text/javascript; charset=utf-8", include_str!("../../../web/search.js")),
    ("units.js", "text/javascript; charset=utf-8", include_str!("../../../web/units.js")),
    ("player.js", "text/javascript; charset=utf-8", include_str!("../../../web/player.js")),
    ("share.html", "text/html; charset=utf-8", include_str!("../../../web/share.html")),
    ("share.js", "text/javascript; charset=utf-8", include_str!("../../../web/share.js")),
    ("i18n.js", "text/javascript; charset=utf-8", include_str!("../../../web/i18n.js")),
    ("style.css", "text/css; charset=utf-8", include_str!("../../../web/style.css")),
];

/// Serves `/` and the console files.
pub fn asset(path: &str) -> Response {
    let name = path.trim_start_matches('/');
    let name = if name.is_empty() { "index.html" } else { name };
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, ct, body)) => (
            [
                (header::CONTENT_TYPE, *ct),
                (header::CACHE_CONTROL, "no-cache"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    // Live video plays from a MediaSource and snapshots show from a Blob: both are
                    // blob: URLs the page made itself.
                    "default-src 'self'; img-src 'self' data: blob: https: http:; media-src 'self' blob:; \
                     style-src 'self' 'unsafe-inline'",
                ),
            ],
            *body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
