// Polis share page: what an incident's video share opens for an outside agency: the incident, the
// share's expiry, and for each shared camera a snapshot and its live video (player.js). The token
// comes from the URL fragment (never sent to the server in a URL); it goes in the X-Polis-Share
// header, and as the first message of each live video socket. When the share expires, is revoked
// or its incident is closed, the page says so and its video stops.
"use strict";

(function () {
  const I = window.PolisI18n;
  const t = I.t;
  const term = I.term;
  const RELOAD_MS = 60000;

  let token = "";
  let last = null; // {data} or {status, reason, error}
  let cameraKey = ""; // the shared cameras the cards were built for
  const cards = new Map(); // camera id -> {box, video, img, player, snapUrl}
  let expiryTimer = 0;

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children.flat()) if (c) e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    return e;
  }

  function fmt(iso) {
    return iso ? new Intl.DateTimeFormat(I.lang === "bg" ? "bg-BG" : "en-GB", { dateStyle: "short", timeStyle: "short" }).format(new Date(iso)) : "";
  }

  // ---- Cameras -----------------------------------------------------------------------------

  function stopCards() {
    for (const c of cards.values()) {
      if (c.player) c.player.stop();
      if (c.snapUrl) URL.revokeObjectURL(c.snapUrl);
    }
    cards.clear();
    cameraKey = "";
  }

  async function snapshot(card) {
    card.box.dataset.snapshot = "loading";
    paintCard(card);
    try {
      const res = await fetch("/api/v1/share/cameras/" + encodeURIComponent(card.camera.id) + "/snapshot", {
        headers: { "X-Polis-Share": token },
        cache: "no-store",
      });
      if (!res.ok) {
        const body = await res.json().catch(() => null);
        throw Object.assign(new Error((body && body.error && body.error.message) || String(res.status)), { status: res.status });
      }
      const blob = await res.blob();
      if (cards.get(card.camera.id) !== card) return;
      if (card.snapUrl) URL.revokeObjectURL(card.snapUrl);
      card.snapUrl = URL.createObjectURL(blob);
      card.img.src = card.snapUrl;
      card.snapAt = new Date().toISOString();
      card.box.dataset.snapshot = "ok";
    } catch (ex) {
      if (cards.get(card.camera.id) !== card) return;
      card.box.dataset.snapshot = "error";
      card.snapError = ex.message;
      // A refusal means the share itself ended: the page says why.
      if (ex.status === 403) load();
    }
    paintCard(card);
  }

  function buildCard(cam) {
    const video = el("video", { class: "share-video", muted: "", playsinline: "", autoplay: "" });
    const img = el("img", { class: "share-snapshot", alt: "" });
    const card = {
      camera: cam,
      video,
      img,
      player: null,
      snapUrl: null,
      state: "connecting",
      message: null,
      box: el("li", { class: "share-cam", "data-camera": cam.id }),
    };
    card.box.replaceChildren(
      el("div", { class: "share-cam-head" }),
      el("div", { class: "share-media" }, el("figure", { class: "share-live" }, video, el("figcaption", { class: "share-live-state" })), el("figure", { class: "share-still" }, img, el("figcaption", { class: "share-still-state" })))
    );
    card.player = window.PolisPlayer.live(video, cam.id, {
      stream: "main",
      auth: () => (token ? { share: token } : null),
      onState: (st, message) => {
        if (cards.get(cam.id) !== card) return;
        card.state = st;
        card.message = message;
        card.box.dataset.state = st;
        paintCard(card);
        // The server ended the video: perhaps the share did. Ask, and say why.
        if (st === "error") load();
      },
    });
    card.box.dataset.state = card.player.state;
    snapshot(card);
    return card;
  }

  function paintCard(card) {
    const c = card.camera;
    const head = card.box.querySelector(".share-cam-head");
    head.replaceChildren(
      el("span", { class: "cam-item-name", text: c.name || c.id }),
      el("span", { class: "cam-item-meta", text: term("camkind", c.kind) + " · " + term("status", c.status) }),
      el("span", { class: "cam-item-meta mono share-camera-pos", text: (+c.lat).toFixed(5) + ", " + (+c.lon).toFixed(5) }),
      el("button", { type: "button", class: "btn btn-small share-snap-btn", text: t("share.snapshot_again"), onclick: () => snapshot(card) })
    );
    const ls = card.box.querySelector(".share-live-state");
    ls.textContent =
      card.state === "live"
        ? t("share.live")
        : card.state === "error"
          ? t("share.video_error", { message: card.message || t("app.error") })
          : t(card.state === "reconnecting" ? "video.reconnecting" : "video.connecting");
    const ss = card.box.querySelector(".share-still-state");
    const snap = card.box.dataset.snapshot;
    ss.textContent =
      snap === "ok" ? t("share.snapshot_at", { at: fmt(card.snapAt) }) : snap === "error" ? t("share.snapshot_error", { message: card.snapError || "" }) : t("share.snapshot_loading");
  }

  // ---- The page ----------------------------------------------------------------------------

  function reasonText() {
    switch (last.reason) {
      case "expired":
        return t("share.reason_expired");
      case "revoked":
        return t("share.reason_revoked");
      case "closed":
        return t("share.reason_closed");
      case "unknown":
        return t("share.reason_unknown");
      default:
        return last.status === 403 ? t("share.expired") : last.status === 404 ? t("share.gone") : "";
    }
  }

  function render() {
    const view = document.getElementById("share-view");
    if (!last) {
      delete view.dataset.state;
      view.replaceChildren(el("p", { class: "muted", text: t("share.loading") }));
      return;
    }
    if (last.error) {
      stopCards();
      view.dataset.state = "error";
      if (last.reason) view.dataset.reason = last.reason;
      else delete view.dataset.reason;
      view.replaceChildren(el("h1", { text: t("share.unavailable") }), el("p", { class: "share-reason", text: reasonText() }), el("p", { class: "form-error", text: last.error }));
      return;
    }
    view.dataset.state = "ok";
    delete view.dataset.reason;
    const i = last.data.incident;
    const cams = last.data.cameras || [];
    const key = cams.map((c) => c.id).join(",");
    if (key !== cameraKey) {
      stopCards();
      cameraKey = key;
      for (const c of cams) cards.set(c.id, buildCard(c));
    }
    for (const c of cams) {
      const card = cards.get(c.id);
      card.camera = c;
      paintCard(card);
    }
    const list = el("ol", { class: "item-list share-cameras" }, cams.map((c) => cards.get(c.id).box));
    view.replaceChildren(
      el("div", { class: "panel-kicker", text: t("inc.kicker") + " · P" + i.priority }),
      el("h1", { text: term("inctype", i.type) }),
      el("p", { class: "share-description", text: i.description || "" }),
      el("p", { class: "muted", text: t("share.status", { status: term("incstatus", i.status), created: fmt(i.created_at) }) }),
      el("p", { class: "muted mono", text: i.lat.toFixed(5) + ", " + i.lon.toFixed(5) + (i.address ? " · " + i.address : "") }),
      el("p", { class: "share-until", text: t("share.until", { until: fmt(last.data.share.expires_at) }) }),
      el("h2", { text: t("share.cameras", { n: cams.length }) }),
      list
    );
  }

  async function load() {
    token = decodeURIComponent(location.hash.replace(/^#/, ""));
    if (!token) {
      last = { error: t("share.no_token") };
      return render();
    }
    try {
      const res = await fetch("/api/v1/share", { headers: { Accept: "application/json", "X-Polis-Share": token }, cache: "no-store" });
      const body = await res.json().catch(() => null);
      if (res.ok) {
        last = { data: body };
      } else {
        const err = (body && body.error) || {};
        const d = (err.details || []).find((x) => x.field === "share");
        last = { status: res.status, reason: d ? d.message : null, error: err.message || String(res.status) };
      }
    } catch (_) {
      // The network failed: keep what is shown (the video players retry on their own).
      if (!last) last = { error: t("app.network_error") };
    }
    clearTimeout(expiryTimer);
    if (last.data) {
      // At the expiry, ask again: the server says it ended and the video stops.
      const left = new Date(last.data.share.expires_at).getTime() - Date.now();
      expiryTimer = setTimeout(load, Math.max(1000, Math.min(left + 500, RELOAD_MS)));
    }
    render();
  }

  document.addEventListener("click", (e) => {
    const b = e.target instanceof Element ? e.target.closest(".lang-btn") : null;
    if (b) I.setLanguage(b.dataset.lang);
  });
  I.onChange(render);
  I.apply(document);
  render();
  load();
  window.addEventListener("hashchange", () => {
    stopCards();
    last = null;
    render();
    load();
  });
  setInterval(load, RELOAD_MS);
})();
