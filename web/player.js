// Polis live player: a camera's live video as fragmented MP4 over a WebSocket into Media Source
// Extensions. Used by the console's video wall and camera view (video.js) and by the share page
// (share.js); the caller says how the socket authenticates (a user's token or a share token).
"use strict";

(function () {
  const t = window.PolisI18n.t;

  const MAX_LATENCY_S = 1.5; // behind the live edge by more than this: jump
  const LIVE_LAG_S = 0.5; // where to jump to, behind the live edge
  const KEEP_S = 10; // buffer kept behind the playhead
  const RETRY_MAX_MS = 30000;

  /**
   * Plays camera `cameraId` live in `video`. `opts.stream`: "main" or "sub"; `opts.auth()` gives
   * the socket's credentials, `{token}` (a signed-in user) or `{share}` (a share token),
   * or null to stop (signed out); `opts.onState(state, message)` hears "connecting", "live",
   * "reconnecting" and "error". Returns {stop()}; stop() closes the socket and releases the media
   * source.
   */
  function live(video, cameraId, opts) {
    const o = opts || {};
    const stream = o.stream === "sub" ? "sub" : "main";
    const P = {
      stopped: false,
      ws: null,
      ms: null,
      sb: null,
      url: null,
      mime: null,
      queue: [],
      waitingInit: false,
      retries: 0,
      timer: 0,
      failed: false,
      live: false,
      width: 0,
      height: 0,
      appended: 0,
    };
    const state = (s, message) => {
      P.state = s;
      if (o.onState) o.onState(s, message || null, P);
    };
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;

    function releaseSource() {
      const old = P.url;
      P.sb = null;
      P.ms = null;
      P.url = null;
      P.queue = [];
      if (old) {
        video.removeAttribute("src");
        try {
          video.load();
        } catch (_) {
          // Nothing loaded.
        }
        URL.revokeObjectURL(old);
      }
    }

    function newSource(mime) {
      releaseSource();
      P.mime = mime;
      const ms = new MediaSource();
      P.ms = ms;
      P.url = URL.createObjectURL(ms);
      ms.addEventListener(
        "sourceopen",
        () => {
          if (P.ms !== ms || P.stopped) return;
          try {
            const sb = ms.addSourceBuffer(mime);
            sb.mode = "segments";
            sb.addEventListener("updateend", () => {
              if (P.sb === sb) afterUpdate();
            });
            sb.addEventListener("error", () => {
              if (P.sb === sb) restart();
            });
            P.sb = sb;
          } catch (ex) {
            fail(t("video.unsupported", { mime }));
            return;
          }
          pump();
        },
        { once: true }
      );
      video.src = P.url;
    }

    /** Appends the next queued fragment, or trims the buffer, one operation at a time. */
    function pump() {
      const sb = P.sb;
      if (!sb || sb.updating || !P.ms || P.ms.readyState !== "open") return;
      // Keep the buffer short: what lies more than KEEP_S behind the playhead goes.
      const b = sb.buffered;
      if (b.length && P.appended % 25 === 0) {
        const cut = video.currentTime - KEEP_S;
        if (cut - b.start(0) > 2) {
          try {
            sb.remove(b.start(0), cut);
            P.appended++;
            return;
          } catch (_) {
            // Try again after the next append.
          }
        }
      }
      const next = P.queue.shift();
      if (!next) return;
      try {
        sb.appendBuffer(next);
        P.appended++;
      } catch (ex) {
        if (ex && ex.name === "QuotaExceededError" && b.length) {
          P.queue.unshift(next);
          try {
            sb.remove(b.start(0), Math.max(b.start(0) + 0.1, video.currentTime - 1));
          } catch (_) {
            restart();
          }
        } else {
          restart();
        }
      }
    }

    /** After an append: stay near the live edge, and keep playing. */
    function afterUpdate() {
      const b = video.buffered;
      if (b.length) {
        const last = b.length - 1;
        const start = b.start(last);
        const end = b.end(last);
        if (video.currentTime < start || end - video.currentTime > MAX_LATENCY_S) {
          video.currentTime = Math.max(start, end - LIVE_LAG_S);
        }
        if (!P.live && P.mediaSeen) {
          P.live = true;
          P.retries = 0;
          state("live");
        }
      }
      if (video.paused && b.length) {
        const p = video.play();
        if (p && p.catch) p.catch(() => {});
      }
      pump();
    }

    function onMessage(ev) {
      if (P.stopped) return;
      if (typeof ev.data === "string") {
        let m = null;
        try {
          m = JSON.parse(ev.data);
        } catch (_) {
          return;
        }
        if (m && m.type === "init") {
          const mime = String(m.mime || "");
          if (!window.MediaSource || !MediaSource.isTypeSupported(mime)) {
            fail(t("video.unsupported", { mime }));
            return;
          }
          P.width = +m.width || 0;
          P.height = +m.height || 0;
          P.live = false;
          P.mediaSeen = false;
          P.waitingInit = true;
          newSource(mime);
          state("connecting");
        } else if (m && m.type === "error") {
          fail(m.message || t("app.error"));
        }
        return;
      }
      if (!P.ms) return; // media before an init: nothing to attach it to
      if (P.waitingInit) P.waitingInit = false;
      else P.mediaSeen = true;
      P.queue.push(ev.data);
      pump();
    }

    function connect() {
      if (P.stopped) return;
      const auth = o.auth ? o.auth() : null;
      if (!auth) {
        stop();
        return;
      }
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      const url = scheme + "//" + location.host + "/api/v1/cameras/" + encodeURIComponent(cameraId) + "/live?stream=" + stream;
      let ws;
      try {
        // The socket authenticates in its upgrade request (refused at once without credentials):
        // browsers cannot set headers on a WebSocket, so the token travels as a subprotocol.
        const cred = auth.token ? "polis.token." + auth.token : "polis.share." + auth.share;
        ws = new WebSocket(url, ["polis.live", cred]);
      } catch (_) {
        retry();
        return;
      }
      ws.binaryType = "arraybuffer";
      P.ws = ws;
      ws.onmessage = (ev) => {
        if (P.ws === ws) onMessage(ev);
      };
      ws.onclose = () => {
        if (P.ws !== ws || P.stopped) return;
        P.ws = null;
        if (P.failed) return;
        retry();
      };
      ws.onerror = () => {
        // onclose follows.
      };
    }

    function retry() {
      if (P.stopped || P.failed) return;
      P.live = false;
      state("reconnecting");
      const delay = Math.min(RETRY_MAX_MS, 1000 * Math.pow(2, P.retries)) * (0.75 + Math.random() * 0.5);
      P.retries++;
      clearTimeout(P.timer);
      P.timer = setTimeout(connect, delay);
    }

    /** The stream broke on our side (decode error, a full buffer): a new connection brings a new
     *  initialisation segment. */
    function restart() {
      if (P.stopped) return;
      const ws = P.ws;
      P.ws = null;
      if (ws) ws.close();
      releaseSource();
      retry();
    }

    /** The server refused (no right, no camera, a bad stream): show why and stop. */
    function fail(message) {
      P.failed = true;
      const ws = P.ws;
      P.ws = null;
      if (ws) ws.close();
      releaseSource();
      state("error", message);
    }

    function stop() {
      if (P.stopped) return;
      P.stopped = true;
      clearTimeout(P.timer);
      const ws = P.ws;
      P.ws = null;
      if (ws) {
        ws.onclose = null;
        ws.close();
      }
      releaseSource();
      video.removeEventListener("error", onVideoError);
    }

    function onVideoError() {
      if (P.url && !P.stopped && !P.failed) restart();
    }
    video.addEventListener("error", onVideoError);

    // The caller hears states from now on, never from within this call.
    P.state = "connecting";
    if (!window.MediaSource || !window.WebSocket) {
      P.failed = true;
      setTimeout(() => state("error", t("video.no_mse")), 0);
    } else {
      connect();
    }
    return {
      stop,
      camera: cameraId,
      stream,
      get state() {
        return P.state;
      },
      get size() {
        return { width: P.width, height: P.height };
      },
    };
  }

  window.PolisPlayer = { live };
})();
