// Polis console: cameras on the map, for administrators (issue 13). With "Edit cameras" on, a
// click on an empty place of the map starts a new camera there; a click on a camera edits it.
// Handles on the map move the camera (its dot), turn it and set its range (the handle at the tip
// of its view cone) and widen or narrow its field of view (the handles at the cone's edges). A
// saved camera's handle edits are saved at once (PATCH /api/v1/cameras/{id}); a new camera is
// saved with its form (POST /api/v1/cameras). The server validates and audits every change; a
// refused change shows the server's message beside each field it names and the handles go back.
// The form also holds the name, kind, status, mount height, stream address (with a "test" that
// takes a snapshot through the server), recording mode and retention.
//
// Its strings (Bulgarian and English) join the console's dictionary below.
"use strict";

(function () {
  const I = window.PolisI18n;
  const t = I.t;
  const { svg, destination, distance } = window.PolisMap;
  const KINDS = ["fixed", "ptz", "anpr", "thermal"];
  const STATUSES = ["active", "planned", "offline", "decommissioned"];
  const RECORDING = ["off", "continuous"];

  Object.assign(I.strings.en, {
    "camedit.toggle": "Edit cameras",
    "camedit.toggle_on": "Editing cameras: click the map to add one, a camera to edit it",
    "camedit.new": "New camera",
    "camedit.edit": "Edit camera",
    "camedit.hint": "Drag the dot to move it, the tip of its view to turn it and set its range, the edges to widen its view.",
    "camedit.name": "Name (in Bulgarian)",
    "camedit.name_en": "Name in English",
    "camedit.kind": "Kind",
    "camedit.status": "Status",
    "camedit.heading": "Heading (°)",
    "camedit.fov": "Field of view (°)",
    "camedit.range": "Range (m)",
    "camedit.height": "Mount height (m)",
    "camedit.stream": "Stream address (RTSP)",
    "camedit.recording": "Recording",
    "camedit.rec.off": "Off",
    "camedit.rec.continuous": "Continuous",
    "camedit.retention": "Retention (days)",
    "camedit.save": "Save",
    "camedit.create": "Add camera",
    "camedit.close": "Close",
    "camedit.test": "Test stream",
    "camedit.testing": "Taking a snapshot…",
    "camedit.test_ok": "The camera answers: a snapshot of now.",
    "camedit.test_save_first": "Save the camera first, then test its stream.",
    "camedit.saved": "Saved.",
    "camedit.refused": "Not saved: {message}",
    "camedit.position": "Position",
  });
  Object.assign(I.strings.bg, {
    "camedit.toggle": "Редакция на камери",
    "camedit.toggle_on": "Редакция на камери: щракнете върху картата за нова, върху камера за редакция",
    "camedit.new": "Нова камера",
    "camedit.edit": "Редакция на камера",
    "camedit.hint": "Плъзнете точката, за да я преместите, върха на зрителното поле, за да я завъртите и зададете обхват, краищата, за да разширите полето.",
    "camedit.name": "Име (на български)",
    "camedit.name_en": "Име на английски",
    "camedit.kind": "Вид",
    "camedit.status": "Състояние",
    "camedit.heading": "Посока (°)",
    "camedit.fov": "Зрително поле (°)",
    "camedit.range": "Обхват (м)",
    "camedit.height": "Височина на монтаж (м)",
    "camedit.stream": "Адрес на потока (RTSP)",
    "camedit.recording": "Запис",
    "camedit.rec.off": "Изключен",
    "camedit.rec.continuous": "Непрекъснат",
    "camedit.retention": "Съхранение (дни)",
    "camedit.save": "Запази",
    "camedit.create": "Добави камера",
    "camedit.close": "Затвори",
    "camedit.test": "Провери потока",
    "camedit.testing": "Снимка…",
    "camedit.test_ok": "Камерата отговаря: снимка от сега.",
    "camedit.test_save_first": "Първо запазете камерата, после проверете потока.",
    "camedit.saved": "Запазено.",
    "camedit.refused": "Не е запазено: {message}",
    "camedit.position": "Позиция",
  });

  let B = null;
  const S = {
    on: false,
    draft: null, // the camera being edited: {id|null, saved: props|null, lat, lon, heading_deg, ...}
    errors: {}, // field -> message from the server
    message: null, // {kind: "ok"|"error", text}
    test: null, // {state: "loading"|"ok"|"error", url?, text?}
    drag: null,
    button: null,
    panel: null,
  };
  const $ = (id) => document.getElementById(id);
  const el = (...a) => B.el(...a);

  function canEdit() {
    return !!(B && B.state.user && B.state.user.role === "admin");
  }

  /** The map is (re)made: the toggle in its controls for administrators. */
  function onMap(map) {
    S.button = null;
    if (!canEdit()) return;
    const zoom = map.ui.querySelector(".map-zoom");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "map-btn camedit-toggle";
    b.textContent = "\u270e";
    b.addEventListener("click", () => setOn(!S.on));
    zoom.appendChild(b);
    S.button = b;
    renderButton();
  }

  function renderButton() {
    if (!S.button) return;
    S.button.title = t(S.on ? "camedit.toggle_on" : "camedit.toggle");
    S.button.setAttribute("aria-label", t("camedit.toggle"));
    S.button.setAttribute("aria-pressed", String(S.on));
    S.button.classList.toggle("is-on", S.on);
    $("map").classList.toggle("camedit-on", S.on);
  }

  function setOn(on) {
    S.on = on && canEdit();
    if (!S.on) close();
    renderButton();
    B.requestRender();
  }

  function reset() {
    S.on = false;
    S.draft = null;
    S.drag = null;
    S.button = null;
    if (S.panel) S.panel.remove();
    S.panel = null;
    const m = $("map");
    if (m) m.classList.remove("camedit-on");
  }

  function close() {
    S.draft = null;
    S.errors = {};
    S.message = null;
    S.test = null;
    if (S.panel) S.panel.remove();
    S.panel = null;
    B.requestRender();
  }

  const FIELDS = ["name", "name_en", "kind", "status", "heading_deg", "fov_deg", "range_m", "mount_height_m", "stream_url", "recording", "retention_days"];
  const NUMERIC = new Set(["heading_deg", "fov_deg", "range_m", "mount_height_m", "retention_days"]);

  function fromCamera(c) {
    const p = c.p;
    const d = { id: c.id, lat: c.lat, lon: c.lon };
    for (const k of FIELDS) d[k] = p[k] === undefined || p[k] === null ? "" : p[k];
    d.saved = Object.assign({}, d);
    return d;
  }

  /** A click on the map while editing: a new camera there (or the new one moved there). */
  function mapClick(lat, lon) {
    if (!S.on) return false;
    if (S.draft && !S.draft.id) {
      S.draft.lat = lat;
      S.draft.lon = lon;
    } else {
      S.draft = {
        id: null,
        saved: null,
        lat,
        lon,
        name: "",
        name_en: "",
        kind: "fixed",
        status: "active",
        heading_deg: 0,
        fov_deg: 60,
        range_m: 60,
        mount_height_m: 6,
        stream_url: "",
        recording: "off",
        retention_days: 30,
      };
      S.errors = {};
      S.message = null;
      S.test = null;
    }
    renderPanel();
    B.requestRender();
    return true;
  }

  /** A click on a camera while editing: edit it. */
  function featureClick(kind, id) {
    if (!S.on || kind !== "camera") return false;
    const c = B.state.byId.camera.get(id);
    if (!c) return false;
    S.draft = fromCamera(c);
    S.errors = {};
    S.message = null;
    S.test = null;
    renderPanel();
    B.requestRender();
    return true;
  }

  // -----------------------------------------------------------------------------------------
  // Saving

  /** The body for the API from the draft: every field for a new camera, the changed ones for a
   *  saved camera (only `fields` when given). */
  function body(d, fields) {
    const out = {};
    const keys = fields || FIELDS.concat(["lat", "lon"]);
    for (const k of keys) {
      let v = d[k];
      if (d.saved && String(v) === String(d.saved[k])) continue;
      if (NUMERIC.has(k) || k === "lat" || k === "lon") v = v === "" ? null : Number(v);
      if (k === "stream_url" && v === "") v = null;
      if (v === null && !d.saved) continue;
      out[k] = v;
    }
    return out;
  }

  async function save(fields) {
    const d = S.draft;
    if (!d) return;
    const payload = body(d, fields);
    if (d.id && !Object.keys(payload).length) return;
    S.message = null;
    try {
      const res = d.id
        ? await B.api("PATCH", "/api/v1/cameras/" + encodeURIComponent(d.id), payload)
        : await B.api("POST", "/api/v1/cameras", payload);
      if (S.draft !== d) return;
      const next = { id: res.id, lat: res.lat, lon: res.lon };
      for (const k of FIELDS) next[k] = res[k] === undefined || res[k] === null ? "" : res[k];
      next.saved = Object.assign({}, next);
      S.draft = next;
      S.errors = {};
      S.message = { kind: "ok", text: t("camedit.saved") };
    } catch (e) {
      if (S.draft !== d) return;
      S.errors = {};
      for (const f of (e && e.details) || []) if (f && f.field) S.errors[f.field] = f.message;
      S.message = { kind: "error", text: t("camedit.refused", { message: e.message }) };
      // What the handles moved goes back to what is saved.
      if (d.saved && fields) for (const k of fields) d[k] = d.saved[k];
    }
    renderPanel();
    B.requestRender();
  }

  async function testStream() {
    const d = S.draft;
    if (!d || !d.id) {
      S.test = { state: "error", text: t("camedit.test_save_first") };
      renderPanel();
      return;
    }
    S.test = { state: "loading" };
    renderPanel();
    let res;
    try {
      res = await fetch("/api/v1/cameras/" + encodeURIComponent(d.id) + "/snapshot", {
        headers: { Authorization: "Bearer " + B.state.token },
        cache: "no-store",
      });
    } catch (_) {
      S.test = { state: "error", text: t("app.network_error") };
      renderPanel();
      return;
    }
    if (S.draft !== d) return;
    if (res.ok) {
      S.test = { state: "ok", url: URL.createObjectURL(await res.blob()) };
    } else {
      let text = res.status + " " + (res.statusText || "");
      try {
        const j = await res.json();
        if (j && j.error && j.error.message) text = j.error.message;
      } catch (_) {
        // Not JSON: the status line.
      }
      S.test = { state: "error", text };
    }
    renderPanel();
  }

  // -----------------------------------------------------------------------------------------
  // The form

  function renderPanel() {
    const d = S.draft;
    if (!d) {
      close();
      return;
    }
    if (!S.panel) {
      S.panel = el("section", { id: "camedit-panel", class: "camedit-panel", role: "dialog", "aria-labelledby": "camedit-title" });
      $("map").appendChild(S.panel);
      // The map neither pans nor clicks through the form.
      for (const type of ["pointerdown", "dblclick", "wheel"]) S.panel.addEventListener(type, (e) => e.stopPropagation());
    }
    const field = (k, label, input) =>
      el(
        "div",
        { class: "camedit-field" + (S.errors[k] ? " has-error" : ""), "data-field": k },
        el("label", { for: "camedit-" + k, text: t(label) }),
        input,
        S.errors[k] ? el("div", { class: "field-error", role: "alert", text: S.errors[k] }) : null
      );
    const keep = (k) => (e) => {
      d[k] = e.target.value;
      if (["heading_deg", "fov_deg", "range_m", "kind"].includes(k)) B.requestRender();
    };
    const input = (k, type, extra) =>
      el("input", Object.assign({ id: "camedit-" + k, name: k, type, class: "text-input", value: String(d[k] ?? ""), oninput: keep(k), "aria-invalid": S.errors[k] ? "true" : "false" }, extra || {}));
    const select = (k, options, prefix) =>
      el(
        "select",
        { id: "camedit-" + k, name: k, class: "text-input", onchange: keep(k) },
        options.map((o) => el("option", { value: o, text: prefix ? t(prefix + o) : I.term(k === "kind" ? "camkind" : "status", o), selected: String(d[k]) === o }))
      );
    const test = S.test;
    S.panel.dataset.id = d.id || "";
    S.panel.dataset.mode = d.id ? "edit" : "new";
    S.panel.replaceChildren(
      el("h3", { id: "camedit-title", text: d.id ? t("camedit.edit") + " · " + d.id : t("camedit.new") }),
      el("p", { class: "muted small", text: t("camedit.hint") }),
      el("p", { class: "small mono camedit-position", "data-field": "position", text: t("camedit.position") + ": " + (+d.lat).toFixed(6) + ", " + (+d.lon).toFixed(6) }),
      S.errors.lat || S.errors.lon ? el("div", { class: "field-error", role: "alert", text: S.errors.lat || S.errors.lon }) : null,
      field("name", "camedit.name", input("name", "text")),
      field("name_en", "camedit.name_en", input("name_en", "text")),
      el("div", { class: "camedit-row" }, field("kind", "camedit.kind", select("kind", KINDS)), field("status", "camedit.status", select("status", STATUSES))),
      el(
        "div",
        { class: "camedit-row" },
        field("heading_deg", "camedit.heading", input("heading_deg", "number", { step: 1 })),
        field("fov_deg", "camedit.fov", input("fov_deg", "number", { step: 1 })),
        field("range_m", "camedit.range", input("range_m", "number", { step: 1 }))
      ),
      el("div", { class: "camedit-row" }, field("mount_height_m", "camedit.height", input("mount_height_m", "number", { step: 0.5 })), field("retention_days", "camedit.retention", input("retention_days", "number", { step: 1 }))),
      field("stream_url", "camedit.stream", input("stream_url", "text", { placeholder: "rtsp://…", autocomplete: "off" })),
      field("recording", "camedit.recording", select("recording", RECORDING, "camedit.rec.")),
      S.message ? el("div", { class: "camedit-message " + (S.message.kind === "ok" ? "ok" : "form-error"), role: S.message.kind === "ok" ? "status" : "alert", text: S.message.text }) : null,
      test
        ? el(
            "div",
            { class: "camedit-test", "data-state": test.state },
            test.state === "loading" ? el("span", { class: "muted small", text: t("camedit.testing") }) : null,
            test.state === "ok" ? el("span", { class: "small", text: t("camedit.test_ok") }) : null,
            test.state === "ok" ? el("img", { class: "camedit-snapshot", src: test.url, alt: t("camedit.test_ok") }) : null,
            test.state === "error" ? el("div", { class: "form-error", role: "alert", text: test.text }) : null
          )
        : null,
      el(
        "div",
        { class: "camedit-actions" },
        el("button", { type: "button", class: "btn btn-small btn-primary camedit-save", text: t(d.id ? "camedit.save" : "camedit.create"), onclick: () => save() }),
        el("button", { type: "button", class: "btn btn-small camedit-test-btn", text: t("camedit.test"), onclick: testStream }),
        el("button", { type: "button", class: "btn btn-small camedit-close", text: t("camedit.close"), onclick: close })
      )
    );
  }

  // -----------------------------------------------------------------------------------------
  // Handles on the map

  /** Bearing in degrees from screen point a to b (north up; the map is locally conformal). */
  const bearing = (a, b) => ((Math.atan2(b.x - a.x, -(b.y - a.y)) * 180) / Math.PI + 360) % 360;
  const angleDiff = (a, b) => Math.abs((((a - b) % 360) + 540) % 360 - 180);

  function draw(map) {
    const g = B.state.g && B.state.g.camedit;
    if (!g) return;
    const d = S.draft;
    if (!S.on || !d) {
      g.replaceChildren();
      return;
    }
    const ptz = d.kind === "ptz";
    const heading = +d.heading_deg || 0;
    const fov = ptz ? 360 : Math.min(360, Math.max(1, +d.fov_deg || 1));
    const range = Math.max(1, +d.range_m || 1);
    const p = map.project(d.lat, d.lon);
    const at = (b, r) => {
      const q = destination(d.lat, d.lon, b, r);
      return map.project(q.lat, q.lon);
    };
    let path = "";
    if (fov >= 360) {
      for (let i = 0; i <= 72; i++) {
        const q = at(i * 5, range);
        path += (i ? "L" : "M") + q.x.toFixed(1) + "," + q.y.toFixed(1);
      }
    } else {
      const steps = Math.max(8, Math.ceil(fov / 4));
      path = "M" + p.x.toFixed(1) + "," + p.y.toFixed(1);
      for (let i = 0; i <= steps; i++) {
        const q = at(heading - fov / 2 + (fov * i) / steps, range);
        path += "L" + q.x.toFixed(1) + "," + q.y.toFixed(1);
      }
    }
    path += "Z";
    const tip = at(heading, range);
    const left = at(heading - fov / 2, range);
    const right = at(heading + fov / 2, range);
    const handles = [
      { role: "move", x: p.x, y: p.y, r: 8 },
      { role: "aim", x: tip.x, y: tip.y, r: 7 },
    ];
    if (!ptz && fov < 360) handles.push({ role: "fov-left", x: left.x, y: left.y, r: 6 }, { role: "fov-right", x: right.x, y: right.y, r: 6 });
    g.replaceChildren();
    svg("path", { class: "camedit-cone", d: path }, g);
    svg("line", { class: "camedit-axis", x1: p.x.toFixed(1), y1: p.y.toFixed(1), x2: tip.x.toFixed(1), y2: tip.y.toFixed(1) }, g);
    for (const h of handles) {
      const c = svg("circle", { class: "camedit-handle camedit-" + h.role, "data-handle": h.role, cx: h.x.toFixed(1), cy: h.y.toFixed(1), r: h.r }, g);
      c.addEventListener("pointerdown", (e) => startDrag(e, h.role));
    }
  }

  function startDrag(e, role) {
    if (e.button !== 0 && e.pointerType === "mouse") return;
    e.stopPropagation();
    e.preventDefault();
    S.drag = { role, pointer: e.pointerId, moved: false };
    window.addEventListener("pointermove", onDrag, true);
    window.addEventListener("pointerup", endDrag, true);
    window.addEventListener("pointercancel", endDrag, true);
  }

  function onDrag(e) {
    const dr = S.drag;
    const d = S.draft;
    if (!dr || !d || e.pointerId !== dr.pointer) return;
    e.stopPropagation();
    const map = B.state.map;
    const r = $("map").getBoundingClientRect();
    const q = { x: e.clientX - r.left, y: e.clientY - r.top };
    const ll = map.unproject(q.x, q.y);
    const p = map.project(d.lat, d.lon);
    dr.moved = true;
    if (dr.role === "move") {
      d.lat = Math.round(ll.lat * 1e7) / 1e7;
      d.lon = Math.round(ll.lon * 1e7) / 1e7;
    } else if (dr.role === "aim") {
      d.heading_deg = Math.round(bearing(p, q));
      d.range_m = Math.max(1, Math.round(distance(d.lat, d.lon, ll.lat, ll.lon)));
    } else {
      d.fov_deg = Math.max(1, Math.min(359, Math.round(2 * angleDiff(bearing(p, q), +d.heading_deg || 0))));
    }
    renderPanel();
    B.requestRender();
  }

  function endDrag(e) {
    const dr = S.drag;
    if (!dr || e.pointerId !== dr.pointer) return;
    e.stopPropagation();
    S.drag = null;
    window.removeEventListener("pointermove", onDrag, true);
    window.removeEventListener("pointerup", endDrag, true);
    window.removeEventListener("pointercancel", endDrag, true);
    if (!dr.moved || !S.draft || !S.draft.id) return;
    const fields = dr.role === "move" ? ["lat", "lon"] : dr.role === "aim" ? ["heading_deg", "range_m"] : ["fov_deg"];
    save(fields);
  }

  function onLanguageChange() {
    renderButton();
    if (S.draft) renderPanel();
  }

  function attach(bridge) {
    B = bridge;
    I.onChange(onLanguageChange);
  }

  window.PolisCameraEdit = { attach, reset, onMap, mapClick, featureClick, draw, isOn: () => S.on };
})();
