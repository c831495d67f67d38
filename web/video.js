// Polis console: video. The video wall (1, 4, 9 or 16 tiles of live video; a tile's camera is
// chosen from a list, or clicked or dragged from the map; the wall is kept in localStorage), the
// live player (player.js: fragmented MP4 over a WebSocket into Media Source Extensions), and the single-camera
// view: large live video, the stream's health, a timeline of the recordings with playback, a
// snapshot and an evidence export. app.js attaches its helpers with PolisVideo.attach(bridge);
// the module adds `livePlayer` to that bridge for other modules.
"use strict";

(function () {
  const I = window.PolisI18n;
  const t = I.t;
  const term = I.term;

  const LAYOUTS = [1, 4, 9, 16];
  const STORE_KEY = "polis.wall";
  const HEALTH_MS = 5000;
  const RECORDINGS_MS = 30000;
  const PLAYBACK_S = 30 * 60; // a click on the timeline plays this long
  const ZOOMS = [
    { key: "video.zoom_24h", span: 24 * 3600e3, tick: 2 * 3600e3 },
    { key: "video.zoom_1h", span: 3600e3, tick: 10 * 60e3 },
    { key: "video.zoom_10m", span: 10 * 60e3, tick: 60e3 },
  ];
  const HEALTH_COLOURS = { online: "#3fb950", degraded: "#e3b341", offline: "#f85149" };
  const UNKNOWN_COLOUR = "#6e7681";

  let B = null; // the bridge from app.js
  const S = {
    session: 0,
    open: false,
    mode: "wall", // or "single"
    layout: 4,
    tiles: new Array(16).fill(null), // camera ids
    active: 0, // the tile the next chosen camera goes to
    withMap: false,
    filter: "",
    players: new Map(), // tile index -> {camera, stream, player}
    health: new Map(), // camera id -> health answer, or {error}
    healthTimer: 0,
    single: null, // the single-camera view's state
    drag: null, // a camera dragged from the map
  };

  const $ = (id) => document.getElementById(id);
  const el = (...a) => B.el(...a);
  const role = () => (B && B.state.user ? B.state.user.role : "viewer");

  /** Live view, snapshots, playback and export: administrators, supervisors and operators.
   *  Viewers see no video, agency liaisons only through a share (docs/ref/video.md); the server
   *  decides per camera, and a tile shows its refusal. */
  const VIDEO_ROLES = ["admin", "supervisor", "operator"];
  function canWatch() {
    return !!(B && B.state.user) && VIDEO_ROLES.includes(role());
  }
  function canExport() {
    return VIDEO_ROLES.includes(role());
  }

  // -----------------------------------------------------------------------------------------
  // Small helpers

  /** RFC 3339 in UTC, to the second. */
  const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
  const pad = (n) => String(n).padStart(2, "0");
  /** A `datetime-local` value (local time, to the second). */
  function localInput(ms) {
    const d = new Date(ms);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }
  function clock(ms, withDate) {
    const opts = { hour: "2-digit", minute: "2-digit", second: "2-digit" };
    if (withDate) Object.assign(opts, { day: "2-digit", month: "2-digit" });
    return new Intl.DateTimeFormat(I.lang === "bg" ? "bg-BG" : "en-GB", opts).format(new Date(ms));
  }
  function hm(ms) {
    return new Intl.DateTimeFormat(I.lang === "bg" ? "bg-BG" : "en-GB", { hour: "2-digit", minute: "2-digit" }).format(new Date(ms));
  }
  function fmtBytes(n) {
    if (!Number.isFinite(+n)) return "";
    if (n >= 1e6) return t("video.mb", { n: I.number(n / 1e6, 1) });
    if (n >= 1e3) return t("video.kb", { n: I.number(n / 1e3, 0) });
    return t("video.bytes", { n: I.number(n) });
  }

  function camera(id) {
    return B.state.byId.camera.get(id) || null;
  }
  function cameraName(id) {
    const c = camera(id);
    return c ? B.shortName(c.p) || id : id;
  }
  const camPath = (id) => "/api/v1/cameras/" + encodeURIComponent(id);

  /** GET with the session's token, as a Blob (snapshots, export files). */
  async function fetchBlob(path) {
    let res;
    try {
      res = await fetch(path, { headers: { Authorization: "Bearer " + B.state.token }, cache: "no-store" });
    } catch (_) {
      throw new B.ApiError(0, t("app.network_error"));
    }
    if (!res.ok) {
      let message = res.status + " " + (res.statusText || "");
      let details = [];
      try {
        const j = await res.json();
        if (j && j.error) {
          message = j.error.message || message;
          details = Array.isArray(j.error.details) ? j.error.details : [];
        }
      } catch (_) {
        // Not JSON: keep the status line.
      }
      throw new B.ApiError(res.status, message, details);
    }
    return res.blob();
  }

  /** Saves a Blob under `name` through a temporary link. */
  function saveBlob(blob, name) {
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: name, hidden: true });
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  /** An API error as the toast shows it: the message, then each detail with its field. */
  function errorBox(ex, cls) {
    const box = el("div", { class: "form-error " + (cls || ""), role: "alert" }, el("div", { text: ex && ex.message ? ex.message : String(ex) }));
    const details = (ex && ex.details) || [];
    if (details.some((d) => d.message)) {
      box.appendChild(
        el(
          "ul",
          null,
          details.filter((d) => d.message).map((d) => el("li", { "data-field": d.field || "" }, d.field ? d.field + ": " : "", d.message))
        )
      );
    }
    return box;
  }

  // -----------------------------------------------------------------------------------------
  // The live player (player.js), authenticated by the signed-in user's token

  function livePlayer(video, cameraId, opts) {
    return window.PolisPlayer.live(video, cameraId, Object.assign({}, opts, { auth: () => (B && B.state.token ? { token: B.state.token } : null) }));
  }

  // -----------------------------------------------------------------------------------------
  // Health

  function healthFor(id) {
    return S.health.get(id) || null;
  }

  async function pollHealth() {
    if (!S.open) return;
    const session = S.session;
    const ids = new Set();
    if (S.mode === "single" && S.single) ids.add(S.single.camera);
    else for (let i = 0; i < S.layout; i++) if (S.tiles[i]) ids.add(S.tiles[i]);
    // The health of the stream on screen (health never starts a stream by itself).
    const stream = S.mode === "wall" && S.layout !== 1 ? "sub" : "main";
    await Promise.all(
      [...ids].map(async (id) => {
        try {
          const h = await B.api("GET", camPath(id) + "/health?stream=" + stream);
          if (session === S.session) S.health.set(id, h || {});
        } catch (ex) {
          if (session === S.session) S.health.set(id, { error: ex.message, status: null });
        }
      })
    );
    if (session !== S.session || !S.open) return;
    if (S.mode === "wall") {
      for (let i = 0; i < S.layout; i++) {
        paintTileBar(i);
        repaintWaiting(tileEl(i));
      }
    } else {
      renderSingleHealth();
      repaintWaiting(document.querySelector("#video-view .single-stage"));
    }
  }

  function startHealth() {
    clearInterval(S.healthTimer);
    pollHealth();
    S.healthTimer = setInterval(() => {
      pollHealth();
      if (S.mode === "single" && S.single && ++S.single.ticks % Math.round(RECORDINGS_MS / HEALTH_MS) === 0) loadRecordings();
    }, HEALTH_MS);
  }

  function healthDot(h) {
    const st = h && h.status;
    return el("span", {
      class: "status-dot health-dot",
      "data-health": st || "unknown",
      style: "background:" + (HEALTH_COLOURS[st] || UNKNOWN_COLOUR),
      title: h && h.error ? h.error : term("health", st || "unknown"),
    });
  }

  function fpsText(h) {
    if (!h || h.error || !Number.isFinite(+h.fps)) return "";
    return t("video.fps", { n: I.number(+h.fps, 1) });
  }

  // -----------------------------------------------------------------------------------------
  // The wall: state kept per user in localStorage

  function storeKey() {
    const u = B.state.user;
    return STORE_KEY + (u && u.username ? "." + u.username : "");
  }

  function load() {
    S.layout = 4;
    S.tiles = new Array(16).fill(null);
    try {
      const saved = JSON.parse(localStorage.getItem(storeKey()) || "null");
      if (saved && LAYOUTS.includes(saved.layout)) S.layout = saved.layout;
      if (saved && Array.isArray(saved.tiles)) saved.tiles.slice(0, 16).forEach((id, i) => (S.tiles[i] = typeof id === "string" && id ? id : null));
    } catch (_) {
      // A fresh wall.
    }
    S.active = Math.max(0, S.tiles.slice(0, S.layout).indexOf(null));
  }

  function save() {
    try {
      localStorage.setItem(storeKey(), JSON.stringify({ layout: S.layout, tiles: S.tiles }));
    } catch (_) {
      // Not remembered.
    }
  }

  /** Puts camera `id` on tile `i` (null empties it); the next empty tile becomes the active one. */
  function setTile(i, id) {
    if (i < 0 || i >= S.layout) return;
    S.tiles[i] = id || null;
    save();
    startTile(i);
    paintTileBar(i);
    if (id) {
      const next = S.tiles.slice(0, S.layout).indexOf(null);
      if (next >= 0) setActive(next);
    }
    renderList();
    pollHealth();
  }

  function setActive(i) {
    S.active = i;
    const grid = document.querySelector("#video-view .wall-grid");
    if (grid) grid.querySelectorAll(".wall-tile").forEach((tile) => tile.classList.toggle("is-active", +tile.dataset.tile === i));
  }

  function tileEl(i) {
    return document.querySelector('#video-view .wall-tile[data-tile="' + i + '"]');
  }

  function stopTile(i) {
    const p = S.players.get(i);
    if (p) {
      p.player.stop();
      S.players.delete(i);
    }
  }

  function stopAllTiles() {
    for (const i of [...S.players.keys()]) stopTile(i);
  }

  /** (Re)starts tile i's player if its camera or stream changed. */
  function startTile(i) {
    const tile = tileEl(i);
    const id = S.tiles[i];
    const stream = S.layout === 1 ? "main" : "sub";
    const cur = S.players.get(i);
    if (cur && cur.camera === id && cur.stream === stream) return;
    stopTile(i);
    if (!tile) return;
    tile.dataset.cameraId = id || "";
    const retry = () => {
      stopTile(i);
      startTile(i);
    };
    if (!id) {
      tile.dataset.state = "empty";
      paintTileMessage(tile, "empty");
      return;
    }
    const video = tile.querySelector("video");
    let entry = null;
    const player = livePlayer(video, id, {
      stream,
      onState: (st, message) => {
        if (!entry || S.players.get(i) !== entry) return;
        tile.dataset.state = st;
        paintTileMessage(tile, st, message, retry);
      },
    });
    entry = { camera: id, stream, player };
    S.players.set(i, entry);
    // A camera that cannot be reached says why soon, not at the next round of health.
    clearTimeout(S.healthSoon);
    S.healthSoon = setTimeout(pollHealth, 2000);
    tile.dataset.state = player.state;
    paintTileMessage(tile, player.state, null, retry);
  }

  function paintTileMessage(box, st, message, onRetry) {
    const msg = box.querySelector(".tile-msg");
    if (!msg) return;
    if (st === "live" || st === "empty") {
      msg.replaceChildren();
      msg.hidden = true;
      return;
    }
    msg.hidden = false;
    if (st === "error") {
      msg.replaceChildren(
        el("span", { class: "tile-error", text: message || t("app.error") }),
        el("button", { type: "button", class: "btn btn-small tile-retry", text: t("video.retry"), onclick: (e) => (e.stopPropagation(), onRetry()) })
      );
    } else {
      // A camera whose stream cannot be pulled says so (and since when, and why) instead of
      // "Connecting..." for ever.
      const cam = box.dataset.cameraId || (S.single && box.classList.contains("single-stage") ? S.single.camera : "");
      const off = offlineText(cam ? healthFor(cam) : null);
      if (off) msg.replaceChildren(el("span", { class: "tile-offline", text: off }));
      else msg.replaceChildren(el("span", { class: "spinner small" }), " ", t(st === "reconnecting" ? "video.reconnecting" : "video.connecting"));
    }
  }

  /** "Offline since 14:05: the camera refused the credentials", from a health answer, or null. */
  function offlineText(h) {
    if (!h || h.error || h.status !== "offline" || !(h.reason || h.offline_since)) return null;
    const head = h.offline_since ? t("video.offline_since", { time: hm(Date.parse(h.offline_since)) }) : term("health", "offline");
    return h.reason ? head + ": " + term("offline", h.reason) : head;
  }

  /** Repaints the message of a box still waiting for pictures (its health may say why). */
  function repaintWaiting(box) {
    if (!box) return;
    const st = box.dataset.state;
    if (st !== "connecting" && st !== "reconnecting") return;
    const msg = box.querySelector(".tile-msg");
    if (msg && !msg.querySelector(".tile-error")) paintTileMessage(box, st, null, () => {});
  }

  function paintTileBar(i) {
    const tile = tileEl(i);
    if (!tile) return;
    const id = S.tiles[i];
    const bar = tile.querySelector(".tile-bar");
    const empty = tile.querySelector(".tile-empty");
    empty.hidden = !!id;
    bar.hidden = !id;
    if (!id) return;
    const h = healthFor(id);
    bar.replaceChildren(
      healthDot(h),
      el("span", { class: "tile-name", text: cameraName(id), title: (camera(id) && camera(id).p.name) || id, draggable: "true" }),
      el("span", { class: "tile-fps", text: fpsText(h) }),
      el("button", { type: "button", class: "tile-btn tile-open", title: t("video.open_single"), "aria-label": t("video.open_single"), onclick: (e) => (e.stopPropagation(), openSingle(id)) }, "⤢"),
      el("button", { type: "button", class: "tile-btn tile-clear", title: t("video.clear_tile"), "aria-label": t("video.clear_tile"), onclick: (e) => (e.stopPropagation(), setTile(i, null)) }, "×")
    );
  }

  // -----------------------------------------------------------------------------------------
  // Drawing the view

  function view() {
    return $("video-view");
  }

  function render() {
    const v = view();
    if (!v) return;
    v.hidden = !S.open;
    $("open-video").setAttribute("aria-pressed", String(S.open));
    if (!S.open) {
      v.replaceChildren();
      return;
    }
    v.dataset.mode = S.mode;
    v.classList.toggle("with-map", S.mode === "wall" && S.withMap);
    if (S.mode === "single") renderSingle(v);
    else renderWall(v);
  }

  function closeButton() {
    return el("button", { type: "button", class: "icon-btn video-close", title: t("video.close"), "aria-label": t("video.close"), onclick: close }, "×");
  }

  function renderWall(v) {
    const layouts = el(
      "div",
      { class: "wall-layouts", role: "group", "aria-label": t("video.layout") },
      LAYOUTS.map((n) =>
        el("button", {
          type: "button",
          class: "btn btn-small wall-layout",
          "data-layout": String(n),
          "aria-pressed": String(S.layout === n),
          title: t(n === 1 ? "video.layout_one" : "video.layout_n", { n }),
          text: n === 1 ? "1" : Math.sqrt(n) + "×" + Math.sqrt(n),
          onclick: () => setLayout(n),
        })
      )
    );
    const bar = el(
      "header",
      { class: "video-bar" },
      el("div", { class: "panel-titles" }, el("div", { class: "panel-kicker", text: t("video.kicker") }), el("h2", { text: t("video.wall") })),
      layouts,
      el("button", {
        type: "button",
        class: "btn btn-small wall-map-toggle",
        "aria-pressed": String(S.withMap),
        title: t("video.map_title"),
        text: t("video.map"),
        onclick: () => {
          S.withMap = !S.withMap;
          // The map beside the wall is for taking cameras: free it of the details panel.
          if (S.withMap && B.state.selection) B.clearSelection();
          render();
        },
      }),
      closeButton()
    );

    const filter = el("input", { type: "search", class: "text-input wall-filter", placeholder: t("video.filter"), "aria-label": t("video.filter") });
    filter.value = S.filter;
    const refilter = () => {
      if (S.filter === filter.value) return;
      S.filter = filter.value;
      renderList();
    };
    for (const ev of ["input", "change", "search"]) filter.addEventListener(ev, refilter);
    const aside = el(
      "aside",
      { class: "wall-side" },
      el("h3", { text: t("video.cameras") }),
      filter,
      el("ol", { class: "item-list wall-cameras" }),
      el("p", { class: "muted small wall-hint", text: t(S.withMap ? "video.map_hint" : "video.list_hint") })
    );

    const n = Math.sqrt(S.layout);
    const grid = el("div", { class: "wall-grid", "data-layout": String(S.layout), style: "--cols:" + n });
    for (let i = 0; i < S.layout; i++) grid.appendChild(buildTile(i));

    // Players whose tile is drawn again are restarted on the new video elements.
    stopAllTiles();
    v.replaceChildren(bar, el("div", { class: "video-body" }, aside, grid));
    for (let i = 0; i < S.layout; i++) {
      startTile(i);
      paintTileBar(i);
    }
    setActive(S.active < S.layout ? S.active : 0);
    renderList();
  }

  function buildTile(i) {
    const video = el("video", { class: "tile-video", muted: true, autoplay: true, playsinline: true, disablepictureinpicture: true });
    video.muted = true;
    const tile = el(
      "div",
      {
        class: "wall-tile",
        "data-tile": String(i),
        "data-state": "empty",
        tabindex: "0",
        role: "button",
        "aria-label": t("video.tile", { n: i + 1 }),
        onclick: () => setActive(i),
        ondblclick: () => S.tiles[i] && openSingle(S.tiles[i]),
        onkeydown: (e) => {
          if (e.key === "Enter" && S.tiles[i]) openSingle(S.tiles[i]);
          else if (e.key === "Delete" || e.key === "Backspace") setTile(i, null);
        },
        ondragover: (e) => {
          if (e.dataTransfer && [...e.dataTransfer.types].includes("application/x-polis-camera")) {
            e.preventDefault();
            e.dataTransfer.dropEffect = "copy";
            tile.classList.add("is-drop");
          }
        },
        ondragleave: () => tile.classList.remove("is-drop"),
        ondrop: (e) => {
          tile.classList.remove("is-drop");
          let d = null;
          try {
            d = JSON.parse(e.dataTransfer.getData("application/x-polis-camera"));
          } catch (_) {
            d = null;
          }
          if (!d || !d.camera) return;
          e.preventDefault();
          dropOn(i, d.camera, Number.isInteger(d.from) ? d.from : null);
        },
        ondragstart: (e) => {
          // Dragging a tile's name moves its camera to another tile (the two swap).
          if (!S.tiles[i] || !e.target.classList || !e.target.classList.contains("tile-name")) return;
          e.dataTransfer.setData("application/x-polis-camera", JSON.stringify({ camera: S.tiles[i], from: i }));
          e.dataTransfer.effectAllowed = "copyMove";
        },
      },
      video,
      el("div", { class: "tile-empty" }, el("span", { class: "tile-number", text: String(i + 1) }), el("span", { text: t("video.tile_empty") })),
      el("div", { class: "tile-msg", hidden: true }),
      el("div", { class: "tile-bar", hidden: true })
    );
    return tile;
  }

  /** A camera dropped on tile i, from the list, the map (from: null) or tile `from` (a swap). */
  function dropOn(i, id, from) {
    if (from !== null && from !== i && from < S.layout) {
      const other = S.tiles[i];
      S.tiles[from] = other;
      S.tiles[i] = id;
      save();
      for (const k of [from, i]) {
        startTile(k);
        paintTileBar(k);
      }
      renderList();
      return;
    }
    setActive(i);
    setTile(i, id);
  }

  function renderList() {
    const ol = document.querySelector("#video-view .wall-cameras");
    if (!ol) return;
    const q = S.filter.trim().toLowerCase();
    const onWall = new Set(S.tiles.slice(0, S.layout).filter(Boolean));
    const cams = B.state.cameras
      .filter((c) => !q || [c.p.name, c.p.name_en, c.id].some((s) => s && String(s).toLowerCase().includes(q)))
      .sort((a, b) => cameraName(a.id).localeCompare(cameraName(b.id), I.lang));
    ol.replaceChildren(
      ...cams.map((c) =>
        el(
          "li",
          {
            class: "cam-item wall-cam" + (onWall.has(c.id) ? " is-on-wall" : ""),
            "data-camera-id": c.id,
            tabindex: "0",
            role: "button",
            draggable: "true",
            title: c.p.name || c.id,
            onclick: () => setTile(S.active, c.id),
            onkeydown: (e) => {
              if (e.key === "Enter" || e.key === " ") {
                e.preventDefault();
                setTile(S.active, c.id);
              }
            },
            ondragstart: (e) => {
              e.dataTransfer.setData("application/x-polis-camera", JSON.stringify({ camera: c.id }));
              e.dataTransfer.setData("text/plain", c.id);
              e.dataTransfer.effectAllowed = "copy";
            },
          },
          el("span", { class: "status-dot", style: "background:" + B.statusColour(c.p), title: term("status", c.p.status) }),
          el(
            "span",
            { class: "cam-item-main" },
            el("span", { class: "cam-item-name", text: cameraName(c.id) }),
            el("span", { class: "cam-item-meta", text: term("camkind", c.p.kind) + " · " + term("status", c.p.status) + (onWall.has(c.id) ? " · " + t("video.on_wall") : "") })
          )
        )
      )
    );
    if (!cams.length) ol.appendChild(el("li", { class: "empty", text: t("video.no_cameras") }));
  }

  function setLayout(n) {
    if (!LAYOUTS.includes(n) || n === S.layout) return;
    S.layout = n;
    if (S.active >= n) S.active = 0;
    save();
    render();
    pollHealth();
  }

  // -----------------------------------------------------------------------------------------
  // Cameras from the map: a click puts one on the active tile; a drag onto any tile

  function onMapPointerDown(e) {
    if (!S.open || S.mode !== "wall" || !S.withMap) return;
    if (e.pointerType === "mouse" && e.button !== 0) return;
    // Cameras are drawn on the map's canvas: the one under the pointer, if any.
    if (e.target instanceof Element && e.target.closest(".map-ui, [data-feature]")) return;
    const cameraId = B.cameraAt(e.clientX, e.clientY);
    if (!cameraId) return;
    // Ours, not the map's: the map neither pans nor opens the camera's details.
    e.stopPropagation();
    e.preventDefault();
    S.drag = { camera: cameraId, x: e.clientX, y: e.clientY, moved: false, ghost: null, pointer: e.pointerId };
    window.addEventListener("pointermove", onDragMove, true);
    window.addEventListener("pointerup", onDragEnd, true);
    window.addEventListener("pointercancel", onDragCancel, true);
  }

  function onDragMove(e) {
    const d = S.drag;
    if (!d || e.pointerId !== d.pointer) return;
    if (!d.moved && Math.hypot(e.clientX - d.x, e.clientY - d.y) < 5) return;
    d.moved = true;
    if (!d.ghost) {
      d.ghost = el("div", { class: "wall-ghost" }, el("span", { class: "status-dot", style: "background:" + (camera(d.camera) ? B.statusColour(camera(d.camera).p) : UNKNOWN_COLOUR) }), cameraName(d.camera));
      document.body.appendChild(d.ghost);
    }
    d.ghost.style.transform = "translate(" + (e.clientX + 12) + "px," + (e.clientY + 8) + "px)";
    document.querySelectorAll("#video-view .wall-tile.is-drop").forEach((x) => x.classList.remove("is-drop"));
    const over = tileAt(e.clientX, e.clientY);
    if (over) over.classList.add("is-drop");
  }

  function tileAt(x, y) {
    const hit = document.elementFromPoint(x, y);
    return hit ? hit.closest("#video-view .wall-tile") : null;
  }

  function onDragEnd(e) {
    const d = S.drag;
    if (!d || e.pointerId !== d.pointer) return;
    onDragCancel();
    if (!d.moved) {
      setTile(S.active, d.camera);
      return;
    }
    const tile = tileAt(e.clientX, e.clientY);
    if (tile) dropOn(+tile.dataset.tile, d.camera, null);
  }

  function onDragCancel() {
    const d = S.drag;
    S.drag = null;
    window.removeEventListener("pointermove", onDragMove, true);
    window.removeEventListener("pointerup", onDragEnd, true);
    window.removeEventListener("pointercancel", onDragCancel, true);
    if (d && d.ghost) d.ghost.remove();
    document.querySelectorAll("#video-view .wall-tile.is-drop").forEach((x) => x.classList.remove("is-drop"));
  }

  // -----------------------------------------------------------------------------------------
  // The single-camera view

  function openSingle(id) {
    if (!canWatch()) return;
    stopAllTiles();
    stopSingle();
    S.open = true;
    S.mode = "single";
    S.single = {
      camera: id,
      player: null,
      playback: null, // {from, to, url} while a recording plays
      state: "connecting",
      message: null,
      zoom: 0,
      end: null, // the timeline's right edge (ms), null: now
      spans: null, // recorded spans in the window, or null while loading
      spansError: null,
      sel: null, // {from, to} chosen by dragging the timeline
      ticks: 0,
      seq: 0,
    };
    render();
    startHealth();
    loadRecordings();
  }

  function stopSingle() {
    const s = S.single;
    if (!s) return;
    if (s.player) s.player.stop();
    s.player = null;
    const video = document.querySelector("#video-view .single-video");
    if (video && s.playback) {
      video.removeAttribute("src");
      video.load();
    }
    closeDialogs();
  }

  function backToWall() {
    stopSingle();
    S.single = null;
    S.mode = "wall";
    render();
    startHealth();
  }

  function renderSingle(v) {
    const s = S.single;
    const id = s.camera;
    const c = camera(id);
    const bar = el(
      "header",
      { class: "video-bar" },
      el("button", { type: "button", class: "btn btn-small single-back", text: "← " + t("video.wall"), onclick: backToWall }),
      el(
        "div",
        { class: "panel-titles" },
        el("div", { class: "panel-kicker", text: t("video.kicker") + (c ? " · " + term("camkind", c.p.kind) : "") }),
        el("h2", { class: "single-title", text: cameraName(id), title: (c && c.p.name) || id })
      ),
      el("span", { class: "single-health" }),
      closeButton()
    );
    const video = el("video", { class: "single-video", muted: true, autoplay: true, playsinline: true });
    video.muted = true;
    video.addEventListener("timeupdate", () => paintCursor());
    const stage = el(
      "div",
      { class: "single-stage", "data-state": "connecting" },
      video,
      el("div", { class: "single-badge" }),
      el("div", { class: "tile-msg", hidden: true })
    );
    const tools = el(
      "div",
      { class: "single-tools" },
      el("button", { type: "button", class: "btn btn-small single-live", text: t("video.live"), onclick: goLive }),
      el("button", { type: "button", class: "btn btn-small single-snapshot", text: t("video.snapshot"), onclick: snapshot }),
      canExport() ? el("button", { type: "button", class: "btn btn-small single-export", text: t("video.export"), onclick: () => exportDialog() }) : null
    );
    const timeline = el(
      "section",
      { class: "timeline-box" },
      el(
        "div",
        { class: "timeline-head" },
        el("h3", { text: t("video.timeline") }),
        el(
          "div",
          { class: "timeline-zooms", role: "group" },
          ZOOMS.map((z, k) => el("button", { type: "button", class: "btn btn-small timeline-zoom", "data-zoom": String(k), "aria-pressed": String(s.zoom === k), text: t(z.key), onclick: () => setZoom(k) }))
        ),
        el("button", { type: "button", class: "btn btn-small timeline-earlier", title: t("video.earlier"), "aria-label": t("video.earlier"), text: "‹", onclick: () => pan(-1) }),
        el("button", { type: "button", class: "btn btn-small timeline-later", title: t("video.later"), "aria-label": t("video.later"), text: "›", onclick: () => pan(1) }),
        el("button", { type: "button", class: "btn btn-small timeline-now", text: t("video.now"), onclick: () => ((s.end = null), loadRecordings()) })
      ),
      el("div", { class: "timeline", "data-state": "loading" }),
      el("p", { class: "muted small timeline-hint", text: t("video.timeline_hint") })
    );
    const side = el("aside", { class: "single-side" }, el("dl", { class: "fields single-fields" }), c && c.p.kind === "ptz" ? ptzPanel(id) : null);
    v.replaceChildren(bar, el("div", { class: "video-body single-view", "data-camera-id": id }, el("div", { class: "single-main" }, stage, tools, timeline), side));
    if (s.playback) startPlayback(s.playback.from, s.playback.to, s.playback.url, s.playback.start);
    else startLive();
    renderSingleHealth();
    renderTimeline();
  }

  // ---- PTZ over ONVIF: turn, zoom, presets and "north is here" for a PTZ camera with a link.
  // The server gives control to one operator at a time; its refusal names the holder.

  const PTZ_SPEED = 0.5;

  function ptzPanel(id) {
    const box = el("section", { class: "ptz-panel", "data-camera-id": id }, el("h3", { text: t("ptz.title") }), el("p", { class: "ptz-status muted small", text: t("ptz.loading") }));
    loadPtz(box, id);
    return box;
  }

  function paintPtzState(box, st) {
    const status = box.querySelector(".ptz-status");
    if (!status) return;
    const parts = [];
    if (Number.isFinite(st.bearing_deg)) parts.push(t("ptz.facing", { deg: I.number(st.bearing_deg, 0) }));
    if (Number.isFinite(st.zoom)) parts.push(t("ptz.zoom_at", { z: I.number(st.zoom * 100, 0) }));
    if (st.holder) parts.push(t("ptz.held_by", { user: st.holder.username }) + (st.holder.incident ? " · " + st.holder.incident : ""));
    status.textContent = parts.join(" · ") || t("ptz.ready");
    status.classList.remove("is-error");
    box.dataset.pan = String(st.pan);
    box.dataset.tilt = String(st.tilt);
    box.dataset.holder = st.holder ? st.holder.username : "";
  }

  function ptzError(box, ex) {
    const status = box.querySelector(".ptz-status");
    if (!status) return;
    status.textContent = (ex && ex.message) || String(ex);
    status.classList.add("is-error");
  }

  async function ptzCommand(box, id, body) {
    try {
      const st = await B.api("POST", camPath(id) + "/ptz", body);
      paintPtzState(box, st);
      return st;
    } catch (ex) {
      ptzError(box, ex);
      return null;
    }
  }

  async function loadPtz(box, id) {
    let st;
    try {
      st = await B.api("GET", camPath(id) + "/ptz");
    } catch (ex) {
      ptzError(box, ex);
      box.dataset.state = "unavailable";
      return;
    }
    box.dataset.state = "ready";
    const hold = (label, aria, speeds) => {
      const b = el("button", { type: "button", class: "btn btn-small ptz-btn", text: label, title: aria, "aria-label": aria });
      let moving = false;
      const start = (e) => {
        e.preventDefault();
        moving = true;
        ptzCommand(box, id, Object.assign({ command: "move", seconds: 5 }, speeds));
      };
      const stop = () => {
        if (!moving) return;
        moving = false;
        ptzCommand(box, id, { command: "stop" });
      };
      b.addEventListener("pointerdown", start);
      b.addEventListener("pointerup", stop);
      b.addEventListener("pointerleave", stop);
      b.addEventListener("keydown", (e) => (e.key === "Enter" || e.key === " ") && !moving && start(e));
      b.addEventListener("keyup", (e) => (e.key === "Enter" || e.key === " ") && stop());
      return b;
    };
    const pad = el(
      "div",
      { class: "ptz-pad", role: "group", "aria-label": t("ptz.title") },
      el("span"),
      hold("▲", t("ptz.up"), { tilt: PTZ_SPEED }),
      el("span"),
      hold("◀", t("ptz.left"), { pan: -PTZ_SPEED }),
      el("button", { type: "button", class: "btn btn-small ptz-stop", text: "■", title: t("ptz.stop"), "aria-label": t("ptz.stop"), onclick: () => ptzCommand(box, id, { command: "stop" }) }),
      hold("▶", t("ptz.right"), { pan: PTZ_SPEED }),
      hold("−", t("ptz.zoom_out"), { zoom: -PTZ_SPEED }),
      hold("▼", t("ptz.down"), { tilt: -PTZ_SPEED }),
      hold("+", t("ptz.zoom_in"), { zoom: PTZ_SPEED })
    );
    const presets = el("ul", { class: "ptz-presets" });
    const loadPresets = async () => {
      try {
        const list = await B.api("GET", camPath(id) + "/ptz/presets");
        presets.replaceChildren(
          ...list.map((p) =>
            el("li", {}, el("button", { type: "button", class: "btn btn-small ptz-preset", "data-token": p.token, text: p.name || p.token, onclick: () => ptzCommand(box, id, { command: "goto_preset", token: p.token }) }))
          )
        );
      } catch (ex) {
        ptzError(box, ex);
      }
    };
    const name = el("input", { type: "text", class: "text-input ptz-preset-name", maxlength: 64, placeholder: t("ptz.preset_name"), "aria-label": t("ptz.preset_name") });
    const save = el("button", {
      type: "button",
      class: "btn btn-small ptz-save-preset",
      text: t("ptz.save_preset"),
      onclick: async () => {
        if (!name.value.trim()) return;
        if (await ptzCommand(box, id, { command: "set_preset", name: name.value.trim() })) {
          name.value = "";
          loadPresets();
        }
      },
    });
    const extra = [];
    if (role() === "admin" || role() === "supervisor") {
      extra.push(
        el("button", {
          type: "button",
          class: "btn btn-small ptz-set-north",
          text: t("ptz.set_north"),
          title: t("ptz.set_north_hint"),
          onclick: async () => {
            try {
              const now = await B.api("GET", camPath(id) + "/ptz");
              const link = await B.api("GET", camPath(id) + "/onvif");
              await B.api("PUT", camPath(id) + "/onvif", { url: link.url, username: link.username, profile: link.profile, pan_north: now.pan });
              paintPtzState(box, await B.api("GET", camPath(id) + "/ptz"));
            } catch (ex) {
              ptzError(box, ex);
            }
          },
        })
      );
    }
    box.append(pad, el("h4", { text: t("ptz.presets") }), presets, el("div", { class: "ptz-preset-row" }, name, save), ...extra);
    paintPtzState(box, st);
    loadPresets();
  }

  function singleVideo() {
    return document.querySelector("#video-view .single-video");
  }

  function paintStage() {
    const s = S.single;
    const stage = document.querySelector("#video-view .single-stage");
    if (!s || !stage) return;
    stage.dataset.state = s.state;
    stage.dataset.playback = s.playback ? "recording" : "live";
    const view = document.querySelector("#video-view .single-view");
    if (view) view.dataset.playback = s.playback ? "recording" : "live";
    const badge = stage.querySelector(".single-badge");
    badge.classList.toggle("is-live", !s.playback);
    badge.textContent = s.playback ? t("video.playback_badge", { time: clock(s.playback.from, true) }) : t("video.live_badge");
    paintTileMessage(stage, s.state === "playing" ? "live" : s.state, s.message, () => (s.playback ? startPlayback(s.playback.from, s.playback.to) : startLive()));
    const live = document.querySelector("#video-view .single-live");
    if (live) live.disabled = !s.playback;
  }

  function startLive() {
    const s = S.single;
    const video = singleVideo();
    if (!s || !video) return;
    if (s.player) s.player.stop();
    s.playback = null;
    video.controls = false;
    video.onloadeddata = null;
    video.onerror = null;
    video.removeAttribute("src");
    s.state = "connecting";
    s.message = null;
    let player = null;
    player = livePlayer(video, s.camera, {
      stream: "main",
      onState: (st, message) => {
        if (S.single !== s || !player || s.player !== player) return;
        s.state = st;
        s.message = message;
        paintStage();
        renderSingleHealth();
      },
    });
    s.player = player;
    paintStage();
    paintCursor();
  }

  function goLive() {
    const s = S.single;
    if (!s) return;
    s.sel = null;
    startLive();
    renderTimeline();
  }

  /** Plays the recording from `from` to `to` (ms); `url` when already granted. */
  async function startPlayback(from, to, url, start0) {
    const s = S.single;
    const video = singleVideo();
    if (!s || !video) return;
    if (s.player) s.player.stop();
    s.player = null;
    const seq = ++s.seq;
    s.playback = { from, to, url: null, start: from };
    s.state = "connecting";
    s.message = null;
    paintStage();
    paintCursor();
    try {
      let start = from;
      if (!url) {
        const r = await B.api("POST", camPath(s.camera) + "/playback", { from: iso(from), to: iso(to) });
        url = r && r.url;
        if (!url) throw new Error(t("app.error"));
        // The clip starts on the key frame at or before `from`: its time 0 is `start`.
        if (r.start && Number.isFinite(Date.parse(r.start))) start = Date.parse(r.start);
      } else if (start0 !== undefined) start = start0;
      if (S.single !== s || seq !== s.seq) return;
      s.playback.url = url;
      s.playback.start = start;
      video.controls = true;
      video.onloadeddata = () => {
        if (S.single !== s || seq !== s.seq) return;
        s.state = "playing";
        paintStage();
      };
      video.onerror = () => {
        if (S.single !== s || seq !== s.seq || !s.playback) return;
        s.state = "error";
        s.message = t("video.playback_failed");
        paintStage();
      };
      video.src = url;
      const p = video.play();
      if (p && p.catch) p.catch(() => {});
    } catch (ex) {
      if (S.single !== s || seq !== s.seq) return;
      s.state = "error";
      s.message = ex.message;
      paintStage();
    }
  }

  function renderSingleHealth() {
    const s = S.single;
    if (!s) return;
    const h = healthFor(s.camera);
    const head = document.querySelector("#video-view .single-health");
    if (head) {
      head.dataset.health = (h && h.status) || "unknown";
      head.replaceChildren(healthDot(h), el("span", { text: h && !h.error ? term("health", h.status) : h && h.error ? h.error : t("video.health_loading") }), el("span", { class: "tile-fps", text: fpsText(h) }));
    }
    const dl = document.querySelector("#video-view .single-fields");
    if (!dl) return;
    const c = camera(s.camera);
    const video = singleVideo();
    const size = video && video.videoWidth ? { width: video.videoWidth, height: video.videoHeight } : s.player ? s.player.size : null;
    const rows = [
      B.row("field.health", h && !h.error ? term("health", h.status) : h && h.error ? h.error : null),
      B.row("field.fps", h && Number.isFinite(+h.fps) ? I.number(+h.fps, 1) : null),
      B.row("field.bitrate", h && Number.isFinite(+h.bitrate_bps) ? t("video.kbps", { n: I.number(+h.bitrate_bps / 1000, 0) }) : null),
      B.row("field.last_frame", h && h.last_frame_at ? clock(Date.parse(h.last_frame_at), true) : null),
      B.row("field.reconnects", h && Number.isFinite(+h.reconnects) ? I.number(+h.reconnects) : null),
      B.row("field.resolution", size && size.width ? size.width + " × " + size.height : null),
      c ? B.row("field.kind", term("camkind", c.p.kind)) : [],
      c ? B.row("field.status", term("status", c.p.status)) : [],
      B.row("field.id", el("span", { class: "mono", text: s.camera })),
    ];
    dl.replaceChildren(...rows.flat());
  }

  // ---- The timeline

  function windowOf(s) {
    const z = ZOOMS[s.zoom];
    const now = Date.now();
    const to = s.end === null ? now : Math.min(now, s.end);
    return { from: to - z.span, to, now };
  }

  function setZoom(k) {
    const s = S.single;
    if (!s || k === s.zoom) return;
    s.zoom = k;
    // Zoomed in around what plays, or up to now.
    const now = Date.now();
    const at = s.playback ? cursorTime() : null;
    s.end = at === null ? null : Math.min(now, at + ZOOMS[k].span / 2);
    if (s.end !== null && now - s.end < 1000) s.end = null;
    document.querySelectorAll("#video-view .timeline-zoom").forEach((b) => b.setAttribute("aria-pressed", String(+b.dataset.zoom === k)));
    loadRecordings();
  }

  function pan(dir) {
    const s = S.single;
    if (!s) return;
    const w = windowOf(s);
    const end = w.to + (dir * ZOOMS[s.zoom].span) / 2;
    s.end = end >= w.now - 1000 ? null : end;
    loadRecordings();
  }

  async function loadRecordings() {
    const s = S.single;
    if (!s) return;
    const w = windowOf(s);
    const seq = (s.recSeq = (s.recSeq || 0) + 1);
    s.window = w;
    renderTimeline();
    try {
      const list = await B.api("GET", camPath(s.camera) + "/recordings?" + B.query({ from: iso(w.from), to: iso(w.to) }));
      if (S.single !== s || seq !== s.recSeq) return;
      s.spans = (Array.isArray(list) ? list : (list && list.items) || [])
        .map((r) => ({ from: Date.parse(r.from), to: Date.parse(r.to) }))
        .filter((r) => Number.isFinite(r.from) && Number.isFinite(r.to) && r.to > r.from);
      s.spansError = null;
    } catch (ex) {
      if (S.single !== s || seq !== s.recSeq) return;
      s.spans = [];
      s.spansError = ex.message;
    }
    renderTimeline();
  }

  function cursorTime() {
    const s = S.single;
    const video = singleVideo();
    if (!s || !s.playback || !video) return null;
    return s.playback.start + (video.currentTime || 0) * 1000;
  }

  function paintCursor() {
    const s = S.single;
    const cur = document.querySelector("#video-view .timeline-cursor");
    if (!s || !cur || !s.window) return;
    const w = s.window;
    const at = s.playback ? cursorTime() : null;
    if (at === null || at < w.from || at > w.to) {
      cur.hidden = true;
      return;
    }
    cur.hidden = false;
    cur.style.left = ((100 * (at - w.from)) / (w.to - w.from)).toFixed(3) + "%";
    cur.title = clock(at, true);
  }

  function renderTimeline() {
    const s = S.single;
    const box = document.querySelector("#video-view .timeline");
    if (!s || !box) return;
    const w = s.window || windowOf(s);
    s.window = w;
    const pct = (ms) => (100 * (Math.min(w.to, Math.max(w.from, ms)) - w.from)) / (w.to - w.from);
    box.dataset.state = s.spans === null ? "loading" : s.spansError ? "error" : "done";
    box.dataset.from = iso(w.from);
    box.dataset.to = iso(w.to);
    box.dataset.spans = String(s.spans ? s.spans.length : 0);
    const track = el("div", { class: "timeline-track", role: "slider", "aria-label": t("video.timeline"), tabindex: "0" });
    for (const r of s.spans || []) {
      if (r.to < w.from || r.from > w.to) continue;
      const left = pct(r.from);
      track.appendChild(
        el("div", {
          class: "timeline-span",
          "data-from": iso(r.from),
          "data-to": iso(r.to),
          style: "left:" + left.toFixed(3) + "%;width:" + Math.max(0.15, pct(r.to) - left).toFixed(3) + "%",
          title: clock(r.from, true) + " – " + clock(r.to, true),
        })
      );
    }
    if (s.sel) {
      const left = pct(s.sel.from);
      track.appendChild(el("div", { class: "timeline-sel", style: "left:" + left.toFixed(3) + "%;width:" + Math.max(0.2, pct(s.sel.to) - left).toFixed(3) + "%", title: clock(s.sel.from, true) + " – " + clock(s.sel.to, true) }));
    }
    track.appendChild(el("div", { class: "timeline-cursor", hidden: true }));
    const axis = el("div", { class: "timeline-axis" });
    const step = ZOOMS[s.zoom].tick;
    const offset = new Date(w.from).getTimezoneOffset() * 60e3; // ticks on local hours
    for (let tm = Math.ceil((w.from - offset) / step) * step + offset; tm <= w.to; tm += step) {
      const x = pct(tm);
      track.appendChild(el("div", { class: "timeline-grid", style: "left:" + x.toFixed(3) + "%" }));
      if (x > 3 && x < 97) axis.appendChild(el("span", { class: "timeline-tick", style: "left:" + x.toFixed(3) + "%", text: hm(tm) }));
    }
    axis.appendChild(el("span", { class: "timeline-edge timeline-edge-from", text: clock(w.from, true) }));
    axis.appendChild(el("span", { class: "timeline-edge timeline-edge-to", text: s.end === null ? t("video.now") : clock(w.to, true) }));
    bindTrack(track, w);
    const notes = [];
    if (s.spans === null) notes.push(el("div", { class: "timeline-note muted small" }, el("span", { class: "spinner small" }), " ", t("video.loading_recordings")));
    else if (s.spansError) notes.push(el("div", { class: "timeline-note form-error", text: s.spansError }));
    else if (!s.spans.length) notes.push(el("div", { class: "timeline-note muted small", text: t("video.no_recordings") }));
    box.replaceChildren(track, axis, ...notes);
    paintCursor();
  }

  /** Click: play from that moment; drag: choose a range and play it. */
  function bindTrack(track, w) {
    const timeAt = (clientX) => {
      const r = track.getBoundingClientRect();
      const f = Math.min(1, Math.max(0, (clientX - r.left) / Math.max(1, r.width)));
      return Math.round(w.from + f * (w.to - w.from));
    };
    let down = null;
    track.addEventListener("pointermove", (e) => {
      track.title = clock(timeAt(e.clientX), true);
      if (!down) return;
      if (Math.abs(e.clientX - down.x) < 4 && !down.moved) return;
      down.moved = true;
      const a = Math.min(down.t, timeAt(e.clientX));
      const b = Math.max(down.t, timeAt(e.clientX));
      let sel = track.querySelector(".timeline-sel");
      if (!sel) sel = track.appendChild(el("div", { class: "timeline-sel" }));
      sel.style.left = ((100 * (a - w.from)) / (w.to - w.from)).toFixed(3) + "%";
      sel.style.width = ((100 * (b - a)) / (w.to - w.from)).toFixed(3) + "%";
    });
    track.addEventListener("pointerdown", (e) => {
      if (e.pointerType === "mouse" && e.button !== 0) return;
      down = { x: e.clientX, t: timeAt(e.clientX), moved: false };
      try {
        track.setPointerCapture(e.pointerId);
      } catch (_) {
        // Synthetic pointers: the drag works inside the track.
      }
    });
    track.addEventListener("pointerup", (e) => {
      const d = down;
      down = null;
      if (!d) return;
      const s = S.single;
      if (!s) return;
      const now = Date.now();
      if (d.moved) {
        const a = Math.min(d.t, timeAt(e.clientX));
        const b = Math.min(now, Math.max(d.t, timeAt(e.clientX)));
        if (b - a < 1000) return;
        s.sel = { from: a, to: b };
        playFrom(a, b);
      } else {
        s.sel = null;
        playFrom(d.t, Math.min(now, d.t + PLAYBACK_S * 1000));
      }
    });
    track.addEventListener("pointercancel", () => (down = null));
    track.addEventListener("keydown", (e) => {
      const s = S.single;
      if (!s || (e.key !== "Enter" && e.key !== " ")) return;
      e.preventDefault();
      const at = Math.max(w.from, Date.now() - 10 * 60e3);
      playFrom(at, Math.min(Date.now(), at + PLAYBACK_S * 1000));
    });
  }

  /** Playback of [from, to] from the timeline; starts where a recording begins, if later. */
  function playFrom(from, to) {
    const s = S.single;
    if (!s) return;
    const inside = (s.spans || []).find((r) => r.from <= from && r.to > from);
    if (!inside) {
      const next = (s.spans || []).filter((r) => r.from > from && r.from < to).sort((a, b) => a.from - b.from)[0];
      if (next) from = next.from;
    }
    startPlayback(from, to);
    renderTimeline();
  }

  // ---- Snapshot and export

  function dialog(cls, title, body, onClose) {
    const d = el(
      "dialog",
      { class: "video-dialog " + cls },
      el("header", { class: "dialog-head" }, el("h2", { text: title }), el("button", { type: "button", class: "icon-btn dialog-close", title: t("details.close"), "aria-label": t("details.close"), onclick: () => d.close() }, "×")),
      body
    );
    d.addEventListener("close", () => {
      d.remove();
      if (onClose) onClose();
    });
    document.body.appendChild(d);
    d.showModal();
    return d;
  }

  function closeDialogs() {
    document.querySelectorAll("dialog.video-dialog").forEach((d) => (d.open ? d.close() : d.remove()));
  }

  async function snapshot() {
    const s = S.single;
    if (!s) return;
    const id = s.camera;
    const btn = document.querySelector("#video-view .single-snapshot");
    if (btn) btn.disabled = true;
    try {
      const blob = await fetchBlob(camPath(id) + "/snapshot");
      if (S.single !== s) return;
      const at = Date.now();
      const url = URL.createObjectURL(blob);
      const stamp = iso(at).replace(/[-:]/g, "").replace("T", "-").replace("Z", "");
      const name = id + "-" + stamp + ".jpg";
      dialog(
        "snapshot-dialog",
        t("video.snapshot_title", { name: cameraName(id) }),
        el(
          "div",
          { class: "dialog-body" },
          el("img", { class: "snapshot-img", src: url, alt: t("video.snapshot_title", { name: cameraName(id) }) }),
          el(
            "div",
            { class: "dialog-actions" },
            el("span", { class: "muted small", text: t("video.taken_at", { time: clock(at, true) }) }),
            el("a", { class: "btn btn-small btn-primary snapshot-download", href: url, download: name, text: t("video.download") })
          )
        ),
        () => URL.revokeObjectURL(url)
      );
    } catch (ex) {
      B.showToast(ex);
    } finally {
      if (btn) btn.disabled = false;
    }
  }

  function exportDialog() {
    const s = S.single;
    if (!s || !canExport()) return;
    const id = s.camera;
    const now = Date.now();
    const range = s.sel ? s.sel : { from: now - 10 * 60e3, to: now };
    const from = el("input", { type: "datetime-local", step: "1", class: "text-input export-from", name: "from", required: true });
    const to = el("input", { type: "datetime-local", step: "1", class: "text-input export-to", name: "to", required: true });
    from.value = localInput(range.from);
    to.value = localInput(range.to);
    const reason = el("textarea", { class: "text-input export-reason", name: "reason", rows: "2", maxlength: "2000", required: true, placeholder: t("video.export_reason_placeholder") });
    const incident = el("input", { type: "text", class: "text-input export-incident", name: "incident", maxlength: "100", autocomplete: "off", spellcheck: "false" });
    const errors = el("div", { class: "export-errors" });
    const submit = el("button", { type: "submit", class: "btn btn-small btn-primary export-submit", text: t("video.export_submit") });
    const fields = { from, to, reason, incident };
    const showError = (ex) => {
      errors.replaceChildren(errorBox(ex));
      for (const f of Object.values(fields)) f.removeAttribute("aria-invalid");
      for (const d of (ex && ex.details) || []) {
        const f = fields[String(d.field || "").split(/[.[]/)[0]];
        if (f) f.setAttribute("aria-invalid", "true");
      }
    };
    const form = el(
      "form",
      {
        class: "export-form",
        novalidate: true,
        onsubmit: async (e) => {
          e.preventDefault();
          const a = new Date(from.value).getTime();
          const b = new Date(to.value).getTime();
          if (!Number.isFinite(a) || !Number.isFinite(b) || b <= a) {
            showError({ message: t("video.export_range_bad"), details: [{ field: "to" }] });
            to.focus();
            return;
          }
          if (!reason.value.trim()) {
            showError({ message: t("video.export_reason_required"), details: [{ field: "reason" }] });
            reason.focus();
            return;
          }
          submit.disabled = true;
          submit.textContent = t("video.export_busy");
          errors.replaceChildren();
          try {
            const r = await B.api("POST", "/api/v1/exports", {
              cameras: [id],
              from: iso(a),
              to: iso(b),
              reason: reason.value.trim(),
              incident: incident.value.trim() || null,
            });
            form.replaceWith(exportResult(r));
          } catch (ex) {
            showError(ex);
            submit.disabled = false;
            submit.textContent = t("video.export_submit");
          }
        },
      },
      el("div", { class: "export-range" }, el("label", null, el("span", { text: t("video.export_from") }), from), el("label", null, el("span", { text: t("video.export_to") }), to)),
      el("label", null, el("span", { text: t("video.export_reason") }), reason),
      el("label", null, el("span", { text: t("video.export_incident") }), incident),
      errors,
      el("div", { class: "dialog-actions" }, el("span", { class: "muted small", text: t("video.export_note") }), submit)
    );
    dialog("export-dialog", t("video.export_title", { name: cameraName(id) }), el("div", { class: "dialog-body" }, form));
    reason.focus();
  }

  function exportResult(r) {
    const id = r && r.id ? String(r.id) : "";
    const base = "/api/v1/exports/" + encodeURIComponent(id);
    const download = (path, name) => async (e) => {
      const b = e.currentTarget;
      b.disabled = true;
      try {
        saveBlob(await fetchBlob(path), name);
      } catch (ex) {
        const box = b.closest(".export-result").querySelector(".export-errors");
        if (box) box.replaceChildren(errorBox(ex));
      } finally {
        b.disabled = false;
      }
    };
    const files = (r && r.files) || [];
    return el(
      "div",
      { class: "export-result", "data-export-id": id },
      el("p", { class: "small", text: t("video.export_done", { id }) }),
      el(
        "ol",
        { class: "item-list export-files" },
        files.map((f) =>
          el(
            "li",
            { class: "export-file", "data-name": f.name },
            el(
              "div",
              { class: "cam-item-main" },
              el("span", { class: "cam-item-name", text: f.name }),
              el("span", { class: "cam-item-meta", text: [f.camera_name ? B.shortName(f.camera_name) : cameraName(f.camera), f.from && f.to ? clock(Date.parse(f.from), true) + " – " + clock(Date.parse(f.to)) : null, fmtBytes(+f.bytes)].filter(Boolean).join(" · ") }),
              el("code", { class: "mono wrap export-sha", title: "SHA-256", text: "SHA-256 " + (f.sha256 || "") })
            ),
            el("button", { type: "button", class: "btn btn-small export-download", text: t("video.download"), onclick: download(f.url || base + "/files/" + encodeURIComponent(f.name), f.name) })
          )
        )
      ),
      el(
        "div",
        { class: "dialog-actions" },
        el("span", { class: "muted small", text: t("video.export_manifest_note") }),
        el("button", { type: "button", class: "btn btn-small export-manifest", text: t("video.export_manifest"), onclick: download((r && r.manifest_url) || base + "/manifest.json", id + "-manifest.json") })
      ),
      el("div", { class: "export-errors" })
    );
  }

  // -----------------------------------------------------------------------------------------
  // Opening and closing

  function openWall() {
    if (!canWatch()) return;
    stopSingle();
    S.single = null;
    S.open = true;
    S.mode = "wall";
    render();
    startHealth();
  }

  function close() {
    onDragCancel();
    stopSingle();
    stopAllTiles();
    clearInterval(S.healthTimer);
    S.single = null;
    S.open = false;
    render();
  }

  function toggle() {
    if (S.open) close();
    else openWall();
  }

  window.PolisVideo = {
    attach(bridge) {
      B = bridge;
      B.livePlayer = livePlayer;
      $("open-video").addEventListener("click", toggle);
      // Capture, so that a camera taken from the map is ours and not a pan or a selection.
      $("map").addEventListener("pointerdown", onMapPointerDown, true);
      document.addEventListener("keydown", (e) => {
        if (e.key === "Escape" && S.open && !document.querySelector("dialog.video-dialog[open]")) {
          if (S.mode === "single") backToWall();
          else close();
        }
      });
    },
    /** After sign-in: the wall of this user, and the button if the role may watch. */
    start(session) {
      S.session = session;
      S.health.clear();
      load();
      $("open-video").hidden = !canWatch();
    },
    reset() {
      S.session++;
      close();
      S.health.clear();
      $("open-video").hidden = true;
    },
    /** The "Live video" button of a camera's details. */
    openCamera(id) {
      openSingle(id);
    },
    canWatch: () => canWatch(),
    /** The registry changed: names and the list. */
    onRegistry() {
      if (!S.open) return;
      if (S.mode === "wall") {
        for (let i = 0; i < S.layout; i++) paintTileBar(i);
        renderList();
      } else renderSingleHealth();
    },
    /** The language changed: draw the view again (its players restart). */
    onLanguage() {
      if (!S.open) return;
      const s = S.single;
      stopSingle();
      S.single = s;
      render();
    },
    livePlayer: (...a) => livePlayer(...a),
  };
})();
