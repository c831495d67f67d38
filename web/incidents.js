// Polis console: incidents. The list of open incidents, their markers on the map, the incident
// panel (workflow, procedure checklist, cameras, video shares, units, nearby sensors, journal),
// creating an incident from a map click or an alarm, and live updates from the event stream.
// app.js attaches its helpers with PolisIncidents.attach(bridge) and calls the hooks below.
"use strict";

(function () {
  const I = window.PolisI18n;
  const t = I.t;
  const term = I.term;
  const { svg } = window.PolisMap;

  const PRIORITY_COLOURS = { 1: "#f85149", 2: "#ff8b3d", 3: "#e3c341", 4: "#4ea1ff" };
  const TYPES = ["traffic_accident", "fire", "flood", "crime", "medical", "missing_person", "infrastructure", "other"];
  const NEXT = { new: "verified", verified: "dispatched", dispatched: "on_scene", on_scene: "resolved", resolved: "closed" };
  const SHARE_LIVES = [1800, 7200, 14400, 43200];

  let B = null; // the bridge from app.js
  const S = {
    list: new Map(), // open incidents by id (the list and the map)
    closed: null, // recently closed or cancelled incidents by id, while the list shows them
    detail: null, // the selected incident's full view
    detailSeq: 0,
    creating: null, // {lat, lon, alarm} while the create form is open
    related: new Map(), // alarm id -> incidents it may belong to
    agencies: [],
    shareFor: null, // cameras chosen for a share
    scene: null, // the selected incident's live video: {incident, order, players, box}
    token: null, // {incident, token} just created, shown once
    cancelling: false,
    session: 0,
  };

  const $ = (id) => document.getElementById(id);
  const el = (...a) => B.el(...a);
  const timeOf = (s) => (s ? Date.parse(s) : 0);

  function role() {
    return B.state.user ? B.state.user.role : "viewer";
  }
  function canHandle() {
    return ["admin", "supervisor", "operator"].includes(role());
  }
  function canSupervise() {
    return ["admin", "supervisor"].includes(role());
  }

  function typeName(ty) {
    return term("inctype", ty);
  }

  function age(iso) {
    const s = Math.max(0, Math.round((Date.now() - timeOf(iso)) / 1000));
    if (s < 60) return t("inc.age_s", { n: s });
    if (s < 3600) return t("inc.age_m", { n: Math.floor(s / 60) });
    return t("inc.age_h", { n: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
  }

  async function call(method, path, body) {
    try {
      return await B.api(method, path, body);
    } catch (ex) {
      B.showToast(ex);
      return null;
    }
  }

  // ---- List and map --------------------------------------------------------------------------

  async function start(session) {
    S.session = session;
    S.list.clear();
    S.detail = null;
    if (S.closed) loadClosed(session);
    renderList();
    try {
      const list = await B.api("GET", "/api/v1/incidents?open=true&limit=500");
      if (session !== S.session) return;
      for (const i of list || []) S.list.set(i.id, i);
    } catch (ex) {
      if (ex.status !== 403) B.showToast(ex);
    }
    renderList();
    B.requestRender();
    loadAgencies(session);
  }

  // The ages in the list move on by themselves.
  setInterval(() => {
    if (B && S.list.size) renderList();
  }, 30000);

  async function loadAgencies(session) {
    try {
      const orgs = await B.api("GET", "/api/v1/organisations");
      if (session !== S.session) return;
      S.agencies = (orgs || []).filter((o) => o.kind === "agency");
      const sel = B.state.selection;
      if (sel && sel.kind === "incident") B.renderDetails();
    } catch (_) {
      S.agencies = [];
    }
  }

  /** The recently closed and cancelled incidents (for a look back, and for reopening). */
  async function loadClosed(session) {
    try {
      const all = await B.api("GET", "/api/v1/incidents?limit=200");
      if (session !== S.session || !S.closed) return;
      S.closed.clear();
      for (const i of all || []) if (!isOpen(i)) S.closed.set(i.id, i);
    } catch (ex) {
      if (ex.status !== 403) B.showToast(ex);
    }
    renderList();
  }

  function toggleClosed() {
    S.closed = S.closed ? null : new Map();
    const b = $("incident-closed");
    if (b) b.setAttribute("aria-pressed", S.closed ? "true" : "false");
    if (S.closed) loadClosed(S.session);
    renderList();
  }

  function isOpen(i) {
    return i.status !== "closed" && i.status !== "cancelled";
  }

  function reset() {
    stopScene();
    S.session++;
    S.list.clear();
    if (S.closed) S.closed.clear();
    S.detail = null;
    S.creating = null;
    S.token = null;
    renderList();
  }

  function order(a, b) {
    return a.priority - b.priority || timeOf(b.created_at) - timeOf(a.created_at);
  }

  function renderList() {
    const ol = $("incident-list");
    if (!ol) return;
    const items = [...S.list.values()].sort(order);
    const closed = S.closed ? [...S.closed.values()].sort((a, b) => timeOf(b.updated_at) - timeOf(a.updated_at)) : [];
    const sel = B && B.state.selection;
    ol.replaceChildren(
      ...items.concat(closed).map((i) =>
        el(
          "li",
          {
            class: "alarm-item incident-item" + (isOpen(i) ? "" : " is-closed") + (sel && sel.kind === "incident" && sel.id === i.id ? " is-selected" : ""),
            style: "--sev:" + (PRIORITY_COLOURS[i.priority] || "#8b949e"),
            "data-incident-id": i.id,
            "data-status": i.status,
            tabindex: "0",
            role: "button",
            onclick: () => select(i.id),
            onkeydown: (e) => {
              if (e.key === "Enter" || e.key === " ") {
                e.preventDefault();
                select(i.id);
              }
            },
          },
          el("span", { class: "incident-prio", text: "P" + i.priority }),
          el(
            "span",
            { class: "alarm-main" },
            el("span", { class: "alarm-title", text: typeName(i.type) }),
            el("span", { class: "alarm-meta", text: term("incstatus", i.status) + " · " + (isOpen(i) ? age(i.created_at) : B.fmtTime(timeOf(i.updated_at), true)) })
          )
        )
      )
    );
    const count = $("incident-count");
    if (count) count.textContent = items.length ? t("inc.count", { n: items.length }) : "";
    const empty = $("incident-empty");
    if (empty) empty.hidden = items.length + closed.length > 0;
  }

  function draw(map) {
    const g = B.state.g && B.state.g.incidents;
    if (!g) return;
    const items = [...S.list.values()];
    const keep = new Set(items.map((i) => i.id));
    for (const node of [...g.childNodes]) if (!keep.has(node.dataset.id)) node.remove();
    for (const i of items) {
      let m = g.querySelector('[data-id="' + CSS.escape(i.id) + '"]');
      if (!m) {
        m = svg("g", { class: "incident-marker", "data-feature": "incident", "data-id": i.id }, g);
        // A warning sign on a post: the post's foot is the spot, so that what stands there (the
        // sensor of an alarm, a camera) stays visible and clickable.
        svg("circle", { class: "incident-halo", r: 9 }, m);
        svg("path", { class: "incident-stem", d: "M0,-2V-16" }, m);
        svg("path", { class: "incident-shape", d: "M0,-38L12,-16H-12Z" }, m);
        svg("text", { class: "incident-label", y: -20, "text-anchor": "middle" }, m);
      }
      m.style.setProperty("--prio", PRIORITY_COLOURS[i.priority] || "#8b949e");
      m.querySelector("text").textContent = "!";
      const sel = B.state.selection;
      m.classList.toggle("is-selected", !!(sel && sel.kind === "incident" && sel.id === i.id));
      const p = map.project(i.lat, i.lon);
      m.setAttribute("transform", `translate(${p.x.toFixed(1)},${p.y.toFixed(1)})`);
    }
  }

  // ---- Live --------------------------------------------------------------------------------

  function onEvent(i) {
    if (!i || !i.id) return;
    if (isOpen(i)) {
      S.list.set(i.id, i);
      if (S.closed) S.closed.delete(i.id);
    } else {
      S.list.delete(i.id);
      if (S.closed) S.closed.set(i.id, i);
    }
    renderList();
    B.requestRender();
    if (S.detail && S.detail.id === i.id && S.detail.updated_at !== i.updated_at) refresh(i.id);
  }

  // ---- Selection and the panel ---------------------------------------------------------------

  function select(id) {
    S.cancelling = false;
    S.shareFor = null;
    if (!S.token || S.token.incident !== id) S.token = null;
    B.selectIncident(id);
    const i = S.list.get(id) || (S.closed && S.closed.get(id));
    if (i && B.state.map) B.state.map.animateTo(i.lat, i.lon, Math.max(B.state.map.getZoom(), 16));
    refresh(id);
  }

  async function refresh(id) {
    const seq = ++S.detailSeq;
    try {
      const v = await B.api("GET", "/api/v1/incidents/" + encodeURIComponent(id));
      if (seq !== S.detailSeq) return;
      S.detail = v;
      if (!isOpen(v)) {
        S.list.delete(v.id);
        if (S.closed) S.closed.set(v.id, v);
      } else if (S.list.has(v.id)) S.list.set(v.id, Object.assign(S.list.get(v.id), v));
    } catch (ex) {
      if (seq !== S.detailSeq) return;
      B.showToast(ex);
    }
    renderList();
    B.renderDetails();
  }

  /** Renders the incident panel into `panel` (the details panel) for the selected incident. */
  function renderDetails(panel, id) {
    panel.hidden = false;
    panel.dataset.kind = "incident";
    panel.dataset.id = id;
    const v = S.detail && S.detail.id === id ? S.detail : null;
    if (!v) {
      panel.dataset.state = "loading";
      panel.replaceChildren(el("div", { class: "panel-body" }, el("p", { class: "muted" }, el("span", { class: "spinner small" }), " ", t("inc.loading"))));
      return;
    }
    panel.dataset.state = v.status;
    const noteInput = panel.querySelector(".incident-note-text");
    const noteDraft = noteInput ? noteInput.value : "";
    const reasonInput = panel.querySelector(".incident-reason");
    const reasonDraft = reasonInput ? reasonInput.value : "";
    const colour = PRIORITY_COLOURS[v.priority] || "#8b949e";

    const head = el(
      "header",
      { class: "panel-head" },
      el("span", { class: "type-bar", style: "background:" + colour }),
      el(
        "div",
        { class: "panel-titles" },
        el("div", { class: "panel-kicker", text: t("inc.kicker") + " · P" + v.priority }),
        el("h2", { class: "incident-title", text: typeName(v.type) }),
        el("div", { class: "panel-sub mono", text: v.id })
      ),
      el("button", { type: "button", class: "icon-btn", title: t("details.close"), "aria-label": t("details.close"), onclick: () => B.clearSelection() }, "×")
    );

    const rows = [
      B.row("inc.status", B.chip(term("incstatus", v.status), colour)),
      B.row("inc.source", term("incsource", v.source)),
      v.external_ref ? B.row("inc.external_ref", v.external_ref) : [],
      v.description ? B.row("inc.description", v.description) : [],
      v.address ? B.row("inc.address", v.address) : [],
      B.row("inc.created", B.fmtTime(timeOf(v.created_at), true) + " · " + v.created_by),
      B.row("field.coordinates", el("span", { class: "mono", text: B.fmtCoords(v.lat, v.lon) })),
    ];
    const times = v.times || {};
    for (const k of ["verified_at", "dispatched_at", "on_scene_at", "resolved_at", "closed_at"]) {
      if (times[k]) rows.push(B.row("inc.t_" + k, B.fmtTime(timeOf(times[k]), true)));
    }

    // Eyes on the scene first: the nearest camera's live video, the next ones beside it.
    const scene = sceneSection(v);
    const sections = scene ? [scene] : [];
    sections.push(el("dl", { class: "fields" }, rows.flat()));
    if (v.sos_profile) {
      sections.push(
        el(
          "section",
          { class: "covering incident-sos" },
          el("h3", { text: t("inc.sos_profile") }),
          el("dl", { class: "fields" }, [B.row("inc.sos_name", v.sos_profile.name), B.row("inc.sos_details", v.sos_profile.details), B.row("inc.sos_contact", v.sos_profile.contact)].flat())
        )
      );
    }
    sections.push(camerasSection(v));
    sections.push(workflowSection(v, reasonDraft));
    if (v.checklist) sections.push(checklistSection(v));
    if (canHandle() && v.status !== "closed" && v.status !== "cancelled") sections.push(shareSection(v));
    if ((v.shares || []).length) sections.push(sharesList(v));
    sections.push(unitsSection(v));
    if ((v.sensors || []).length) sections.push(sensorsSection(v));
    if (v.area_contents) sections.push(areaSection(v));
    if (role() !== "agency") sections.push(journalSection(v, noteDraft));

    const body = el("div", { class: "panel-body" }, sections);
    const foot = el(
      "div",
      { class: "panel-actions" },
      el("button", {
        type: "button",
        class: "btn btn-small",
        text: t("details.show_on_map"),
        onclick: () => B.state.map && B.state.map.animateTo(v.lat, v.lon, Math.max(B.state.map.getZoom(), 17)),
      })
    );
    const scroll = panel.querySelector(".panel-body");
    const top = scroll ? scroll.scrollTop : 0;
    panel.replaceChildren(head, body, foot);
    body.scrollTop = top;
  }

  async function transition(v, to, reason) {
    const r = await call("POST", "/api/v1/incidents/" + encodeURIComponent(v.id) + "/transitions", { to, reason: reason || null });
    if (r) {
      S.cancelling = false;
      onEvent(r);
      await refresh(v.id);
    }
    return !!r;
  }

  function workflowSection(v, reasonDraft) {
    const s = el("section", { class: "covering incident-workflow" }, el("h3", { text: t("inc.workflow") }));
    const steps = el("ol", { class: "incident-steps" });
    for (const st of ["new", "verified", "dispatched", "on_scene", "resolved", "closed"]) {
      const reached = st === "new" || !!(v.times || {})[st + "_at"];
      steps.appendChild(el("li", { class: "incident-step" + (reached ? " is-reached" : "") + (v.status === st ? " is-current" : ""), text: term("incstatus", st) }));
    }
    s.appendChild(steps);
    if (!canHandle()) return s;
    const open = v.status !== "closed" && v.status !== "cancelled";
    const actions = el("div", { class: "incident-actions" });
    if (NEXT[v.status]) {
      actions.appendChild(
        el("button", {
          type: "button",
          class: "btn btn-small btn-primary incident-next",
          "data-to": NEXT[v.status],
          text: t("inc.to_" + NEXT[v.status]),
          onclick: (e) => ((e.currentTarget.disabled = true), transition(v, NEXT[v.status])),
        })
      );
    }
    if (open) {
      actions.appendChild(el("button", { type: "button", class: "btn btn-small incident-cancel", text: t("inc.cancel"), onclick: () => ((S.cancelling = !S.cancelling), B.renderDetails()) }));
    } else if (canSupervise()) {
      actions.appendChild(el("button", { type: "button", class: "btn btn-small incident-reopen", text: t("inc.reopen"), onclick: () => ((S.cancelling = !S.cancelling), B.renderDetails()) }));
    }
    s.appendChild(actions);
    if (S.cancelling) {
      const reason = el("input", { type: "text", class: "text-input incident-reason", maxlength: "2000", placeholder: t("inc.reason"), "aria-label": t("inc.reason") });
      reason.value = reasonDraft;
      const to = open ? "cancelled" : "verified";
      s.appendChild(
        el(
          "form",
          {
            class: "inline-form",
            onsubmit: async (e) => {
              e.preventDefault();
              if (!reason.value.trim()) return reason.focus();
              await transition(v, to, reason.value.trim());
            },
          },
          reason,
          el("button", { type: "submit", class: "btn btn-small incident-reason-ok", text: open ? t("inc.cancel_confirm") : t("inc.reopen_confirm") })
        )
      );
    }
    return s;
  }

  function checklistSection(v) {
    const c = v.checklist;
    const s = el("section", { class: "covering incident-checklist" }, el("h3", { text: t("inc.checklist", { v: c.version }) }));
    const ol = el("ol", { class: "checklist" });
    c.items.forEach((it, n) => {
      const box = el("input", { type: "checkbox", class: "checklist-box", "data-item": String(n), disabled: !canHandle() || v.status === "closed" || v.status === "cancelled" });
      box.checked = !!it.done;
      box.addEventListener("change", async () => {
        box.disabled = true;
        const r = await call("POST", "/api/v1/incidents/" + encodeURIComponent(v.id) + "/checklist/" + n, { done: box.checked });
        if (r) await refresh(v.id);
        else box.disabled = false;
      });
      ol.appendChild(
        el(
          "li",
          { class: "checklist-item" + (it.done ? " is-done" : "") },
          el("label", {}, box, " ", el("span", { text: it.text })),
          it.done ? el("div", { class: "muted small", text: t("alarm.by", { when: B.fmtTime(timeOf(it.checked_at), true), who: it.checked_by || "" }) }) : null
        )
      );
    });
    s.appendChild(ol);
    return s;
  }

  // ---- Eyes on the scene ---------------------------------------------------------------------
  // The incident panel opens with the live video of the nearest camera that sees the spot (no
  // click), a row of the next ones as live thumbnails (a click puts one in the large view), and
  // the share button beside them. The players live as long as the incident stays selected: the
  // panel is drawn again on every change, and the same elements are put back into it.

  const SCENE_THUMBS = 3;

  function canWatchVideo() {
    return !!(window.PolisVideo && window.PolisVideo.canWatch() && B.livePlayer);
  }

  function stopScene() {
    const sc = S.scene;
    if (!sc) return;
    S.scene = null;
    clearInterval(sc.watch);
    for (const p of sc.players.values()) p.stop();
    sc.players.clear();
  }

  function sceneCameraLabel(cameras, id) {
    const c = (cameras || []).find((x) => x.id === id) || {};
    const known = B.state.byId.camera.get(id);
    const name = B.shortName((known && known.p) || c) || id;
    return Number.isFinite(+c.distance_m) ? name + " · " + B.fmtMetres(+c.distance_m) : name;
  }

  function sceneSection(v) {
    if (!isOpen(v)) {
      if (S.scene && S.scene.owner === "incident:" + v.id) stopScene();
      return null;
    }
    return sceneFor("incident:" + v.id, v.cameras || [], { share: canHandle() });
  }

  /** The scene of `owner` ("incident:ID" or "alarm:ID"): the nearest of `cameras` live, the next
   *  ones as thumbnails; `opts.share` adds the share button (incidents). One scene at a time. */
  function sceneFor(owner, cameras, opts) {
    if (!canWatchVideo() || !cameras.length) {
      if (S.scene && S.scene.owner === owner) stopScene();
      return null;
    }
    const ids = cameras.slice(0, 1 + SCENE_THUMBS).map((c) => c.id);
    const key = ids.join(",");
    if (S.scene && (S.scene.owner !== owner || S.scene.key !== key)) stopScene();
    if (!S.scene) S.scene = buildScene(owner, ids, key);
    const sc = S.scene;
    sc.cameras = cameras;
    sc.opts = opts || {};
    paintScene(sc);
    return sc.box;
  }

  function buildScene(owner, ids, key) {
    const sc = { owner, key, order: ids.slice(), players: new Map(), cameras: [], opts: {}, box: null, watch: 0 };
    const main = el("div", { class: "scene-stage", "data-state": "connecting" }, el("video", { class: "scene-video" }), el("div", { class: "scene-label" }), el("div", { class: "tile-msg", hidden: true }));
    const thumbs = el("div", { class: "scene-thumbs" });
    const actions = el("div", { class: "scene-actions" });
    sc.box = el("section", { class: "incident-scene", "data-owner": owner }, el("h3", { text: t("inc.scene") }), main, thumbs, actions);
    sc.main = main;
    sc.thumbs = thumbs;
    sc.actions = actions;
    // Gone from the page (another selection): the players stop.
    sc.watch = setInterval(() => {
      if (S.scene === sc && !sc.box.isConnected) stopScene();
    }, 1000);
    startScenePlayers(sc);
    return sc;
  }

  function startScenePlayers(sc) {
    for (const p of sc.players.values()) p.stop();
    sc.players.clear();
    const [first, ...rest] = sc.order;
    sc.main.dataset.cameraId = first;
    sc.main.dataset.state = "connecting";
    const oldVideo = sc.main.querySelector("video");
    const video = el("video", { class: "scene-video" });
    oldVideo.replaceWith(video);
    sc.players.set(
      "main",
      B.livePlayer(video, first, {
        stream: "sub",
        onState: (st) => {
          if (S.scene !== sc) return;
          sc.main.dataset.state = st;
          const msg = sc.main.querySelector(".tile-msg");
          msg.hidden = st === "live";
          msg.textContent = st === "live" ? "" : t(st === "error" ? "app.error" : st === "reconnecting" ? "video.reconnecting" : "video.connecting");
        },
      })
    );
    sc.thumbs.replaceChildren();
    for (const id of rest) {
      const tv = el("video", { class: "scene-thumb-video" });
      const thumb = el(
        "button",
        {
          type: "button",
          class: "scene-thumb",
          "data-camera-id": id,
          title: t("inc.scene_swap"),
          onclick: () => {
            sc.order = [id, ...sc.order.filter((x) => x !== id)];
            startScenePlayers(sc);
            paintScene(sc);
          },
        },
        tv,
        el("span", { class: "scene-thumb-label" })
      );
      sc.thumbs.appendChild(thumb);
      sc.players.set(id, B.livePlayer(tv, id, { stream: "sub" }));
    }
    sc.thumbs.hidden = !rest.length;
  }

  function paintScene(sc) {
    sc.main.querySelector(".scene-label").textContent = sceneCameraLabel(sc.cameras, sc.order[0]);
    sc.thumbs.querySelectorAll(".scene-thumb").forEach((b) => (b.querySelector(".scene-thumb-label").textContent = sceneCameraLabel(sc.cameras, b.dataset.cameraId)));
    const buttons = [];
    if (sc.opts.share) {
      buttons.push(
        el("button", {
          type: "button",
          class: "btn btn-small btn-primary scene-share",
          text: t("inc.share_open"),
          onclick: () => {
            S.shareFor = new Set(sc.order.slice(0, 2));
            B.renderDetails();
            const f = document.querySelector("#details .incident-share");
            if (f) f.scrollIntoView({ block: "nearest" });
          },
        })
      );
    }
    buttons.push(
      el("button", {
        type: "button",
        class: "btn btn-small scene-open",
        text: t("inc.scene_open"),
        onclick: () => window.PolisVideo.openCamera(sc.order[0]),
      })
    );
    sc.actions.replaceChildren(...buttons);
  }

  /** "Turn to the incident": aims a PTZ camera at the spot over ONVIF (the incident gives the
   *  operator priority over someone else's control), then says where it points or why not. */
  function turnButton(v, id) {
    return ptzTurnButton(id, { command: "look", incident: v.id }, t("ptz.turn_to_incident"));
  }

  function ptzTurnButton(id, body, label) {
    const out = el("span", { class: "ptz-turn-result muted small", role: "status" });
    const b = el("button", {
      type: "button",
      class: "btn btn-small ptz-turn",
      "data-camera": id,
      text: label,
      onclick: async (e) => {
        e.stopPropagation();
        b.disabled = true;
        out.classList.remove("is-error");
        out.textContent = t("ptz.turning");
        try {
          const st = await B.api("POST", "/api/v1/cameras/" + encodeURIComponent(id) + "/ptz", body);
          out.textContent = st.aim ? t("ptz.turned", { deg: I.number(st.aim.bearing_deg, 0), m: I.number(st.aim.distance_m, 0) }) : t("ptz.ready");
          out.dataset.state = "turned";
        } catch (ex) {
          out.textContent = ex.message || String(ex);
          out.classList.add("is-error");
          out.dataset.state = "refused";
        } finally {
          b.disabled = false;
        }
      },
    });
    return el("span", { class: "ptz-turn-box" }, b, out);
  }

  function camerasSection(v) {
    const s = el("section", { class: "covering incident-cameras" }, el("h3", { text: t("inc.cameras") }));
    if (!(v.cameras || []).length) {
      s.appendChild(el("p", { class: "empty", text: t("alarm.no_cameras") }));
      return s;
    }
    const list = el("ol", { class: "item-list" });
    for (const c of v.cameras) {
      const known = B.state.byId.camera.get(c.id);
      const item = B.cameraItem(Object.assign({}, known ? known.p : {}, c), "incident-camera");
      if (c.ptz) {
        item.querySelector(".cam-item-name").appendChild(el("span", { class: "badge-ptz", text: " PTZ" }));
        if (canWatchVideo() && isOpen(v)) item.appendChild(turnButton(v, c.id));
      }
      if (S.shareFor) {
        const box = el("input", { type: "checkbox", class: "share-camera", "data-camera": c.id, "aria-label": t("inc.share_choose") });
        box.checked = S.shareFor.has(c.id);
        box.addEventListener("click", (e) => e.stopPropagation());
        box.addEventListener("change", () => (box.checked ? S.shareFor.add(c.id) : S.shareFor.delete(c.id)));
        item.insertBefore(box, item.firstChild);
      }
      list.appendChild(item);
    }
    s.appendChild(list);
    return s;
  }

  function shareSection(v) {
    const s = el("section", { class: "covering incident-share" }, el("h3", { text: t("inc.share") }));
    if (S.token && S.token.incident === v.id) {
      // Built on the address the agencies reach (the configured public one, else this one).
      const origin = (B.state.config && B.state.config.public_url) || location.origin;
      const link = origin + "/share.html#" + S.token.token;
      const copyRow = (value, cls, label) => {
        const input = el("input", { type: "text", class: "text-input mono " + cls, readonly: true, value, "aria-label": label });
        return el(
          "div",
          { class: "inline-form" },
          input,
          el("button", {
            type: "button",
            class: "btn btn-small share-copy",
            text: t("inc.copy"),
            title: t("inc.copy") + ": " + label,
            onclick: async (e) => {
              const b = e.currentTarget;
              input.select();
              try {
                await navigator.clipboard.writeText(value);
              } catch (_) {
                document.execCommand("copy");
              }
              b.textContent = t("inc.copied");
            },
          })
        );
      };
      s.appendChild(
        el(
          "div",
          { class: "share-once" },
          el("p", { class: "small", text: t("inc.share_once") }),
          el("div", { class: "muted small", text: t("inc.share_link") }),
          copyRow(link, "share-token", t("inc.share_link")),
          el("div", { class: "muted small", text: t("inc.share_token") }),
          copyRow(S.token.token, "share-token-raw", t("inc.share_token")),
          el("a", { class: "share-page-link small", href: "/share.html#" + S.token.token, target: "_blank", rel: "noopener noreferrer", text: t("inc.share_page") })
        )
      );
    }
    if (!S.shareFor) {
      s.appendChild(
        el("button", {
          type: "button",
          class: "btn btn-small incident-share-open",
          text: t("inc.share_open"),
          disabled: !(v.cameras || []).length,
          onclick: () => {
            S.shareFor = new Set((v.cameras || []).slice(0, 2).map((c) => c.id));
            B.renderDetails();
          },
        })
      );
      return s;
    }
    const agency = el("select", { class: "text-input share-agency", "aria-label": t("inc.share_agency") });
    for (const a of S.agencies) agency.appendChild(el("option", { value: a.id, text: I.lang === "bg" ? a.name_bg || a.name_en : a.name_en || a.name_bg }));
    const life = el("select", { class: "text-input share-life", "aria-label": t("inc.share_life") });
    for (const secs of SHARE_LIVES) {
      const o = el("option", { value: String(secs), text: t("inc.share_hours", { n: I.number(secs / 3600, 1) }) });
      if (secs === 7200) o.selected = true;
      life.appendChild(o);
    }
    s.appendChild(el("p", { class: "muted small", text: t("inc.share_hint") }));
    s.appendChild(
      el(
        "form",
        {
          class: "share-form",
          onsubmit: async (e) => {
            e.preventDefault();
            const cameras = [...S.shareFor];
            const r = await call("POST", "/api/v1/incidents/" + encodeURIComponent(v.id) + "/shares", {
              agency: agency.value,
              cameras,
              expires_in_s: +life.value,
            });
            if (r) {
              S.token = { incident: v.id, token: r.token };
              S.shareFor = null;
              await refresh(v.id);
            }
          },
        },
        agency,
        life,
        el("div", { class: "inline-form" }, el("button", { type: "submit", class: "btn btn-small btn-primary share-submit", text: t("inc.share_create") }), el("button", { type: "button", class: "btn btn-small", text: t("inc.share_cancel"), onclick: () => ((S.shareFor = null), B.renderDetails()) }))
      )
    );
    return s;
  }

  function agencyName(id) {
    const a = S.agencies.find((x) => x.id === id);
    return a ? (I.lang === "bg" ? a.name_bg || a.name_en : a.name_en || a.name_bg) : id;
  }

  function sharesList(v) {
    const s = el("section", { class: "covering incident-shares" }, el("h3", { text: t("inc.shares") }));
    const ol = el("ol", { class: "item-list" });
    for (const sh of v.shares) {
      ol.appendChild(
        el(
          "li",
          { class: "share-item" + (sh.active ? "" : " is-inactive"), "data-share-id": sh.id },
          el(
            "div",
            { class: "cam-item-main" },
            el("span", { class: "cam-item-name", text: agencyName(sh.agency) }),
            el("span", {
              class: "cam-item-meta",
              text: t("inc.share_meta", { n: sh.cameras.length, until: B.fmtTime(timeOf(sh.expires_at), true) }) + (sh.revoked_at ? " · " + t("inc.revoked") : !sh.active ? " · " + t("inc.expired") : ""),
            })
          ),
          sh.active && canHandle()
            ? el("button", {
                type: "button",
                class: "btn btn-small share-revoke",
                text: t("inc.revoke"),
                onclick: async () => {
                  if (await call("POST", "/api/v1/shares/" + encodeURIComponent(sh.id) + "/revoke")) refresh(v.id);
                },
              })
            : null
        )
      );
    }
    s.appendChild(ol);
    return s;
  }

  function unitsSection(v) {
    const s = el("section", { class: "covering incident-units" }, el("h3", { text: t("inc.units") }));
    const active = (v.units || []).filter((u) => !u.released_at);
    if (active.length) {
      const ol = el("ol", { class: "item-list" });
      for (const u of active) {
        ol.appendChild(
          el(
            "li",
            { class: "unit-item is-assigned", "data-unit-id": u.unit },
            el("div", { class: "cam-item-main" }, el("span", { class: "cam-item-name", text: u.unit }), el("span", { class: "cam-item-meta", text: agencyName(u.agency) + " · " + B.fmtTime(timeOf(u.assigned_at)) })),
            canHandle()
              ? el("button", {
                  type: "button",
                  class: "btn btn-small unit-release",
                  text: t("inc.release"),
                  onclick: async () => {
                    if (await call("DELETE", "/api/v1/incidents/" + encodeURIComponent(v.id) + "/units/" + encodeURIComponent(u.unit))) refresh(v.id);
                  },
                })
              : null
          )
        );
      }
      s.appendChild(ol);
    }
    const proposed = (v.proposed_units || []).filter((p) => !active.some((a) => a.unit === p.unit));
    if (proposed.length && canHandle()) {
      s.appendChild(el("div", { class: "muted small", text: t("inc.proposed") }));
      const ol = el("ol", { class: "item-list" });
      for (const p of proposed) {
        ol.appendChild(
          el(
            "li",
            { class: "unit-item is-proposed", "data-unit-id": p.unit },
            el(
              "div",
              { class: "cam-item-main" },
              el("span", { class: "cam-item-name", text: p.name || p.unit }),
              el("span", { class: "cam-item-meta", text: agencyName(p.agency) + (p.distance_m !== null && p.distance_m !== undefined ? " · " + B.fmtMetres(p.distance_m) : "") })
            ),
            el("button", {
              type: "button",
              class: "btn btn-small unit-assign",
              text: t("inc.assign"),
              onclick: async (e) => {
                e.currentTarget.disabled = true;
                if (await call("POST", "/api/v1/incidents/" + encodeURIComponent(v.id) + "/units", { unit: p.unit })) refresh(v.id);
              },
            })
          )
        );
      }
      s.appendChild(ol);
    } else if (!active.length) {
      s.appendChild(el("p", { class: "empty", text: t("inc.no_units") }));
    }
    return s;
  }

  function sensorsSection(v) {
    const s = el("section", { class: "covering incident-sensors" }, el("h3", { text: t("inc.sensors") }));
    const ol = el("ol", { class: "item-list" });
    for (const r of v.sensors) {
      const latest = (r.latest || []).map((o) => (o.quantity ? o.quantity + " " : "") + I.number(o.value, 2) + (r.unit ? " " + r.unit : "")).join(", ");
      ol.appendChild(
        el(
          "li",
          { class: "cam-item", role: "button", tabindex: "0", onclick: () => B.select("sensor", r.id, { reveal: true }) },
          el("span", { class: "cam-item-main" }, el("span", { class: "cam-item-name", text: B.shortName(r) || r.id }), el("span", { class: "cam-item-meta", text: term("sensorkind", r.kind) + (latest ? " · " + latest : "") })),
          el("span", { class: "cam-item-dist", text: B.fmtMetres(r.distance_m) })
        )
      );
    }
    s.appendChild(ol);
    return s;
  }

  function areaSection(v) {
    const a = v.area_contents;
    return el(
      "section",
      { class: "covering incident-area" },
      el("h3", { text: t("inc.area") }),
      el("p", { class: "muted", text: t("inc.area_counts", { c: a.cameras.length, s: a.sensors.length, k: a.sites.length }) })
    );
  }

  function journalSection(v, draft) {
    const s = el("section", { class: "covering incident-journal" }, el("h3", { text: t("inc.journal") }));
    const ol = el("ol", { class: "comment-list journal-list" });
    for (const j of v.journal || []) {
      ol.appendChild(
        el(
          "li",
          { class: "comment journal-entry", "data-kind": j.kind },
          el("div", { class: "comment-meta", text: B.fmtTime(timeOf(j.at), true) + " · " + j.by + " · " + term("journalkind", j.kind) }),
          el("div", { class: "comment-text", text: j.text })
        )
      );
    }
    s.appendChild(ol);
    if (canHandle()) {
      const input = el("input", { type: "text", class: "text-input incident-note-text", maxlength: "2000", placeholder: t("inc.note_placeholder"), "aria-label": t("inc.note") });
      input.value = draft;
      s.appendChild(
        el(
          "form",
          {
            class: "inline-form",
            onsubmit: async (e) => {
              e.preventDefault();
              const text = input.value.trim();
              if (!text) return;
              if (await call("POST", "/api/v1/incidents/" + encodeURIComponent(v.id) + "/notes", { text })) {
                input.value = "";
                refresh(v.id);
              }
            },
          },
          input,
          el("button", { type: "submit", class: "btn btn-small incident-note", text: t("inc.note") })
        )
      );
    }
    return s;
  }

  // ---- Creating ----------------------------------------------------------------------------

  /** The "new incident" form, in the seeing panel (a map click) or an alarm's panel. */
  function createForm(at) {
    if (!canHandle()) return null;
    if (!S.creating || S.creating.key !== at.key) {
      return el("button", {
        type: "button",
        class: "btn btn-small btn-primary incident-create-open",
        text: at.alarm ? t("inc.create_from_alarm") : t("inc.create_here"),
        onclick: () => {
          S.creating = at;
          B.rerender();
        },
      });
    }
    const type = el("select", { class: "text-input incident-type", "aria-label": t("inc.type") });
    if (at.alarm) type.appendChild(el("option", { value: "", text: t("inc.type_from_alarm") }));
    for (const ty of TYPES) type.appendChild(el("option", { value: ty, text: typeName(ty) }));
    if (at.type) type.value = at.type;
    const prio = el("select", { class: "text-input incident-priority", "aria-label": t("inc.priority") });
    prio.appendChild(el("option", { value: "", text: t("inc.priority_default") }));
    for (const p of [1, 2, 3, 4]) prio.appendChild(el("option", { value: String(p), text: "P" + p + " · " + t("inc.prio_" + p) }));
    const desc = el("textarea", { class: "text-input incident-description", rows: "2", maxlength: "4000", placeholder: t("inc.description"), "aria-label": t("inc.description") });
    const address = el("input", { type: "text", class: "text-input incident-address", maxlength: "500", placeholder: t("inc.address"), "aria-label": t("inc.address") });
    // Where the report came from; SOS incidents come only from the devices.
    const source = el("select", { class: "text-input incident-source", "aria-label": t("inc.source") });
    for (const so of at.alarm ? ["alarm", "operator", "external", "citizen", "warning"] : ["operator", "external", "citizen", "warning"]) {
      source.appendChild(el("option", { value: so, text: t("inc.source") + ": " + term("incsource", so) }));
    }
    const extRef = el("input", { type: "text", class: "text-input incident-external-ref", maxlength: "200", placeholder: t("inc.external_ref_hint"), "aria-label": t("inc.external_ref") });
    // The panel is drawn again on live changes (an alarm's count, a camera's status): what has
    // been typed, and where, survives it.
    const c = S.creating;
    c.draft = c.draft || {};
    const fields = { type, prio, desc, address, source, extRef };
    for (const [name, f] of Object.entries(fields)) {
      if (c.draft[name] !== undefined) f.value = c.draft[name];
      const keep = () => (c.draft[name] = f.value);
      f.addEventListener("input", keep);
      f.addEventListener("change", keep);
      f.addEventListener("focus", () => (c.focus = name));
      f.addEventListener("blur", () => {
        if (c.focus === name) c.focus = null;
      });
    }
    if (c.focus && fields[c.focus]) {
      const f = fields[c.focus];
      requestAnimationFrame(() => {
        if (!f.isConnected || S.creating !== c) return;
        f.focus();
        if (f.setSelectionRange && typeof f.value === "string" && f.type !== "select-one") f.setSelectionRange(f.value.length, f.value.length);
      });
    }
    return el(
      "form",
      {
        class: "incident-create",
        onsubmit: async (e) => {
          e.preventDefault();
          const body = { description: desc.value.trim(), address: address.value.trim() };
          if (type.value) body.type = type.value;
          if (prio.value) body.priority = +prio.value;
          if (source.value) body.source = source.value;
          if (extRef.value.trim()) body.external_ref = extRef.value.trim();
          if (at.alarm) body.alarms = [at.alarm];
          else Object.assign(body, { lat: at.lat, lon: at.lon });
          const r = await call("POST", "/api/v1/incidents", body);
          if (!r) return;
          S.creating = null;
          S.list.set(r.id, r);
          S.detail = r;
          renderList();
          B.requestRender();
          select(r.id);
        },
      },
      el("h3", { text: t("inc.new") }),
      type,
      prio,
      source,
      extRef,
      desc,
      address,
      el("div", { class: "inline-form" }, el("button", { type: "submit", class: "btn btn-small btn-primary incident-create-submit", text: t("inc.create") }), el("button", { type: "button", class: "btn btn-small", text: t("inc.share_cancel"), onclick: () => ((S.creating = null), B.rerender()) }))
    );
  }

  /** What an alarm's panel offers: link to a nearby open incident, or a new incident. */
  function alarmSection(a) {
    if (!canHandle()) return null;
    const s = el("section", { class: "covering alarm-incident" }, el("h3", { text: t("inc.kicker") }));
    const rel = S.related.get(a.id);
    if (rel === undefined) {
      S.related.set(a.id, null);
      B.api("GET", "/api/v1/alarms/" + encodeURIComponent(a.id) + "/incidents")
        .then((list) => {
          S.related.set(a.id, list || []);
          B.rerender();
        })
        .catch(() => S.related.set(a.id, []));
    }
    const linked = [...S.list.values()].filter((i) => (i.alarms || []).includes(a.id));
    for (const i of linked) {
      s.appendChild(el("button", { type: "button", class: "btn btn-small alarm-incident-open", text: t("inc.open_linked", { type: typeName(i.type) }), onclick: () => select(i.id) }));
    }
    for (const i of rel || []) {
      s.append(
        el("p", { class: "muted small", text: t("inc.related", { type: typeName(i.type), d: B.fmtMetres(i.distance_m || 0) }) }),
        el("button", {
          type: "button",
          class: "btn btn-small btn-primary alarm-incident-link",
          "data-incident-id": i.id,
          text: t("inc.link"),
          onclick: async () => {
            const r = await call("POST", "/api/v1/incidents/" + encodeURIComponent(i.id) + "/alarms", { alarm: a.id });
            if (r) {
              S.related.delete(a.id);
              onEvent(r);
              select(i.id);
            }
          },
        })
      );
    }
    // A new incident only when the alarm belongs to none and no open one nearby may take it.
    if (!linked.length && !(rel && rel.length)) {
      const f = createForm({ key: "alarm:" + a.id, alarm: a.id, type: a.suggested_type });
      if (f) s.appendChild(f);
    }
    return s;
  }

  function seeingSection(sg) {
    if (!canHandle() || !sg) return null;
    const form = createForm({ key: "pt:" + sg.lat + "," + sg.lon, lat: sg.lat, lon: sg.lon });
    if (!form) return null;
    // The open form comes first in the panel, so that all of it shows without scrolling.
    return el("div", { class: "seeing-incident" + (form.tagName === "FORM" ? " is-form" : "") }, form);
  }

  // ---- Dispatch support for agency users ------------------------------------------------------

  /** An incident pushed to the user's agency (a unit assigned, or video shared): it joins the
   *  list, and an agency user sees a notice that opens it. */
  function onDispatch(d) {
    if (!d || !d.incident || !d.incident.id) return;
    onEvent(d.incident);
    if (role() !== "agency") return;
    const n = $("incident-notice");
    if (!n) return;
    S.notice = d;
    paintNotice();
  }

  function paintNotice() {
    const n = $("incident-notice");
    const d = S.notice;
    if (!n) return;
    if (!d) {
      n.hidden = true;
      return;
    }
    const i = d.incident;
    const sensors = (i.sensors || []).length;
    n.hidden = false;
    n.dataset.incident = i.id;
    n.dataset.reason = d.reason;
    n.textContent = t(d.reason === "shared" ? "inc.dispatch_shared" : "inc.dispatch_assigned", {
      type: typeName(i.type),
      cameras: (i.cameras || []).length,
      sensors,
    });
    n.onclick = () => {
      S.notice = null;
      paintNotice();
      select(i.id);
    };
  }

  // ---- Statistics ------------------------------------------------------------------------------

  const STATS_PHASES = ["to_verify", "to_dispatch", "to_arrive", "to_resolve"];
  const statsQuery = { days: 30, group: "type", period: "" };

  function duration(s) {
    if (s === null || s === undefined) return "–";
    const v = Math.round(s);
    if (v < 3600) return Math.floor(v / 60) + ":" + String(v % 60).padStart(2, "0");
    return Math.floor(v / 3600) + " h " + String(Math.floor((v % 3600) / 60)).padStart(2, "0") + " min";
  }

  function statsGroupName(group, g) {
    if (group === "type") return typeName(g);
    if (group === "agency") return g === "none" ? t("stats.no_agency") : agencyName(g);
    return g;
  }

  async function loadStats(d) {
    const body = d.querySelector(".stats-table-box");
    body.dataset.state = "loading";
    const to = new Date(Date.now() + 60000);
    const from = new Date(to.getTime() - statsQuery.days * 86400e3);
    const q = { from: from.toISOString(), to: to.toISOString(), group: statsQuery.group };
    if (statsQuery.period) q.period = statsQuery.period;
    let r;
    try {
      r = await B.api("GET", "/api/v1/stats/incidents?" + B.query(q));
    } catch (ex) {
      body.dataset.state = "error";
      body.replaceChildren(el("p", { class: "form-error", text: ex.message || t("app.error") }));
      return;
    }
    if (!d.isConnected) return;
    const rows = (r && r.rows) || [];
    body.dataset.state = "done";
    if (!rows.length) {
      body.replaceChildren(el("p", { class: "empty stats-empty", text: t("stats.none") }));
      return;
    }
    const head = [statsQuery.period ? t("stats.period") : null, t("stats.group_" + statsQuery.group), t("stats.incidents"), t("stats.open_cancelled")]
      .concat(STATS_PHASES.map((p) => t("stats." + p)))
      .filter((x) => x !== null);
    body.replaceChildren(
      el(
        "table",
        { class: "stats-table" },
        el("thead", null, el("tr", null, head.map((h) => el("th", { text: h })))),
        el(
          "tbody",
          null,
          rows.map((row) =>
            el(
              "tr",
              { class: "stats-row", "data-group": row.group, "data-period": row.period || "" },
              statsQuery.period ? el("td", { class: "mono", text: row.period }) : null,
              el("td", { text: statsGroupName(statsQuery.group, row.group) }),
              el("td", { class: "num stats-incidents", text: String(row.incidents) }),
              el("td", { class: "num", text: row.open + " / " + row.cancelled }),
              STATS_PHASES.map((p) => {
                const x = row[p] || {};
                return el("td", { class: "num stats-" + p, title: t("stats.cell_title", { n: x.count || 0 }) }, x.count ? duration(x.median_s) + " · " + duration(x.p90_s) : "–");
              })
            )
          )
        )
      ),
      el("p", { class: "muted small", text: t("stats.note") })
    );
  }

  function openStats() {
    const select = (cls, value, options, onchange) => {
      const s = el("select", { class: "text-input " + cls, onchange: (e) => onchange(e.target.value) }, options.map(([v, label]) => el("option", { value: v, text: label })));
      s.value = value;
      return s;
    };
    let d = null;
    const reload = () => d && loadStats(d);
    const controls = el(
      "div",
      { class: "inline-form stats-controls" },
      select("stats-days", String(statsQuery.days), [7, 30, 90, 365].map((n) => [String(n), t("stats.days", { n })]), (v) => ((statsQuery.days = +v), reload())),
      select("stats-group", statsQuery.group, ["type", "agency", "municipality"].map((g) => [g, t("stats.by") + " " + t("stats.group_" + g).toLowerCase()]), (v) => ((statsQuery.group = v), reload())),
      select("stats-period", statsQuery.period, [["", t("stats.period_none")], ["day", t("stats.period_day")], ["week", t("stats.period_week")], ["month", t("stats.period_month")]], (v) => ((statsQuery.period = v), reload()))
    );
    d = el(
      "dialog",
      { class: "stats-dialog" },
      el("header", { class: "dialog-head" }, el("h2", { text: t("stats.title") }), el("button", { type: "button", class: "icon-btn dialog-close", title: t("details.close"), "aria-label": t("details.close"), onclick: () => d.close() }, "×")),
      el("div", { class: "dialog-body" }, controls, el("div", { class: "stats-table-box" }))
    );
    d.addEventListener("close", () => d.remove());
    document.body.appendChild(d);
    d.showModal();
    loadStats(d);
  }

  window.PolisIncidents = {
    /** An alarm's scene: the cameras that see its source, the nearest live (app.js). */
    alarmScene(a) {
      return sceneFor("alarm:" + a.id, a.cameras || [], { share: false });
    },
    /** "Turn to the alarm" for a PTZ camera that sees an alarm's source. */
    alarmTurnButton(a, cameraId) {
      if (!canWatchVideo() || !Number.isFinite(a.lat) || !Number.isFinite(a.lon)) return null;
      return ptzTurnButton(cameraId, { command: "look", lat: a.lat, lon: a.lon }, t("ptz.turn_to_alarm"));
    },
    attach(bridge) {
      B = bridge;
      const b = $("incident-closed");
      if (b) b.addEventListener("click", toggleClosed);
      const st = $("incident-stats");
      if (st) st.addEventListener("click", openStats);
    },
    start(session) {
      const st = $("incident-stats");
      if (st) st.hidden = role() === "agency";
      return start(session);
    },
    reset() {
      const st = $("incident-stats");
      if (st) st.hidden = true;
      S.notice = null;
      paintNotice();
      document.querySelectorAll("dialog.stats-dialog").forEach((d) => (d.open ? d.close() : d.remove()));
      return reset();
    },
    onDispatch,
    draw,
    onEvent,
    renderDetails,
    renderList,
    select,
    alarmSection,
    seeingSection,
    gap() {
      start(S.session);
    },
  };
})();
