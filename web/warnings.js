// Polis console: public warnings. A panel (the top bar's "Warnings" button) lists the
// municipality's warnings and those received from outside authorities, writes a new warning
// (event, CAP codes, expiry, texts in Bulgarian and English, and an area taken from a key site,
// drawn on the map as a polygon or set as a circle), drafts one from an open alarm (the alarm
// panel's "Draft a warning": area, event and codes filled in by the server), edits it, approves
// it (a supervisor or administrator who did not write it) and cancels it (the all-clear). Each
// published step links its CAP 1.2 message. Warnings in force, ours and outside ones, are drawn
// on the map. app.js calls start/reset with the session, draw on each frame, onEvent for live
// `warning`/`external_warning` events. Areas are drawn with draw.js.
"use strict";

(function () {
  const I = window.PolisI18n;
  const t = I.t;
  const M = window.PolisMap;
  const CATEGORIES = ["met", "geo", "safety", "security", "rescue", "fire", "health", "env", "transport", "infra", "cbrne", "other"];
  const URGENCIES = ["immediate", "expected", "future", "past", "unknown"];
  const SEVERITIES = ["extreme", "severe", "moderate", "minor", "unknown"];
  const CERTAINTIES = ["observed", "likely", "possible", "unlikely", "unknown"];
  const TEXTS = ["headline", "description", "instruction", "area_desc"];
  const IN_FORCE = ["published", "updated"];

  let B = null;
  let dialog = null;
  const S = {
    session: 0,
    warnings: [],
    external: [],
    publications: [],
    publishKind: "sensor",
    reloadTimer: null,
    editing: null, // the id of the warning whose form is open, or "new"
    values: null, // the open form's values, kept across redraws and while drawing an area
    error: null, // the last refusal of the open form: { message, fields: Set }
    bar: null,
    g: null,
    gMap: null,
    version: 0,
    built: -1,
    items: [],
  };

  const role = () => (B && B.state.user ? B.state.user.role : "");
  const canWrite = () => ["admin", "supervisor", "operator"].includes(role());
  const canApprove = () => ["admin", "supervisor"].includes(role());
  const isAdmin = () => role() === "admin";
  const inLang = (texts) => (texts ? (I.lang === "bg" ? texts.bg || texts.en : texts.en || texts.bg) || "" : "");

  function fmt(ts) {
    return ts ? new Date(ts).toLocaleString(I.lang === "bg" ? "bg-BG" : "en-GB") : "";
  }

  /** A local `datetime-local` value for an instant. */
  function localInput(ts) {
    const d = new Date(ts);
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
  }

  // ---- Data ------------------------------------------------------------------------------

  async function load() {
    const session = S.session;
    const [ours, outside, published] = await Promise.allSettled([
      B.api("GET", "/api/v1/warnings"),
      B.api("GET", "/api/v1/external-warnings"),
      isAdmin() ? B.api("GET", "/api/v1/publications") : Promise.resolve({ items: [] }),
    ]);
    if (session !== S.session) return;
    if (ours.status === "fulfilled") S.warnings = (ours.value && ours.value.items) || [];
    if (outside.status === "fulfilled") S.external = (outside.value && outside.value.items) || [];
    if (published.status === "fulfilled") S.publications = (published.value && published.value.items) || [];
    S.version++;
    B.requestRender();
    render();
  }

  /** Live changes come in bursts (a draft, its approval, its message): reload once for them. */
  function reloadSoon() {
    clearTimeout(S.reloadTimer);
    S.reloadTimer = setTimeout(() => load().catch(() => {}), 150);
  }

  // ---- Areas -----------------------------------------------------------------------------

  /** The points of an area as sent or received: a polygon's ring, or a circle as a 48-gon. */
  function ringOf(area) {
    if (!area) return [];
    if (area.type === "Polygon" && Array.isArray(area.coordinates) && Array.isArray(area.coordinates[0])) {
      return area.coordinates[0].map((c) => ({ lat: +c[1], lon: +c[0] }));
    }
    if (area.type === "Point" && Array.isArray(area.coordinates) && +area.radius_m > 0) {
      const [lon, lat] = area.coordinates;
      const pts = [];
      for (let i = 0; i < 48; i++) pts.push(M.destination(+lat, +lon, (i * 360) / 48, +area.radius_m));
      return pts;
    }
    return [];
  }

  /** A site's area: its outline, or 300 m around it when it is only a point. */
  function siteArea(id) {
    const s = B.state.byId.site.get(id);
    if (!s) return null;
    if (s.ring && s.ring.length >= 3) {
      const ring = s.ring.map((w) => M.fromWorld(w.x, w.y)).map((p) => [+p.lon.toFixed(6), +p.lat.toFixed(6)]);
      const [a, b] = [ring[0], ring[ring.length - 1]];
      if (a[0] !== b[0] || a[1] !== b[1]) ring.push(a);
      return { type: "Polygon", coordinates: [ring] };
    }
    if (s.centre) return { type: "Point", coordinates: [+s.centre.lon.toFixed(6), +s.centre.lat.toFixed(6)], radius_m: 300 };
    return null;
  }

  function areaSummary(area) {
    if (!area) return t("warn.area_none");
    if (area.type === "Point") return t("warn.area_circle", { r: B.fmtMetres(+area.radius_m) });
    const n = Math.max(0, ((area.coordinates && area.coordinates[0]) || []).length - 1);
    return t("warn.area_polygon", { n: I.number(n) });
  }

  function siteName(s) {
    const p = s.p || {};
    return (I.lang === "bg" ? p.name_bg || p.name : p.name_en || p.name) || s.id;
  }

  // ---- The form --------------------------------------------------------------------------

  /** The form's starting values: a warning's content, or a fresh warning's. */
  function valuesOf(w) {
    const c = w ? (w.revision ? w.revision.content : w) : null;
    const v = {
      event: c ? c.event : "",
      category: c ? c.category : "met",
      urgency: c ? c.urgency : "expected",
      severity: c ? c.severity : "moderate",
      certainty: c ? c.certainty : "likely",
      expires: localInput(c ? c.expires : Date.now() + 12 * 3600 * 1000),
      radius: c && c.area && c.area.type === "Point" ? String(Math.round(c.area.radius_m)) : "1000",
      site: "",
      area: c ? c.area : null,
    };
    for (const k of TEXTS) for (const l of ["bg", "en"]) v[`${k}.${l}`] = c && c[k] ? c[k][l] || "" : "";
    return v;
  }

  function bodyOf(v) {
    const body = {
      event: v.event.trim(),
      category: v.category,
      urgency: v.urgency,
      severity: v.severity,
      certainty: v.certainty,
      expires: v.expires ? new Date(v.expires).toISOString() : "",
    };
    if (v.area) body.area = v.area;
    for (const k of TEXTS) body[k] = { bg: v[`${k}.bg`], en: v[`${k}.en`] };
    return body;
  }

  async function submit() {
    const v = S.values;
    const id = S.editing;
    try {
      if (id === "new") await B.api("POST", "/api/v1/warnings", bodyOf(v));
      else await B.api("PATCH", `/api/v1/warnings/${encodeURIComponent(id)}`, bodyOf(v));
      closeForm();
      await load();
    } catch (e) {
      if (e && e.status === 401) return;
      const details = (e && e.details) || [];
      S.error = { message: e && e.message ? e.message : String(e), fields: new Set(details.map((d) => String(d.field || "").split(".")[0])) };
      render();
    }
  }

  function closeForm() {
    S.editing = null;
    S.values = null;
    S.error = null;
  }

  function openForm(id, w) {
    S.editing = id;
    S.values = valuesOf(w);
    S.error = null;
  }

  function form() {
    const v = S.values;
    const bad = (name) => (S.error && S.error.fields.has(name) ? "true" : null);
    const keep = (name) => (e) => (v[name] = e.target.value);
    const label = (forId, key, suffix) => B.el("label", { for: forId, text: t(key) + (suffix ? ` (${suffix})` : "") });
    const select = (name, options, prefix) =>
      B.el(
        "div",
        { class: "warn-field" },
        label(`warn-${name}`, `warn.${name}`),
        B.el(
          "select",
          { id: `warn-${name}`, name, class: "text-input", "aria-invalid": bad(name), onchange: keep(name) },
          options.map((o) => B.el("option", { value: o, text: t(`${prefix}.${o}`), selected: v[name] === o })),
        ),
      );
    const text = (name, key, lang, long, max) => {
      const k = lang ? `${name}.${lang}` : name;
      const id = `warn-${k.replace(".", "-")}`;
      const input = long
        ? B.el("textarea", { id, name: k, rows: 3, class: "text-input", maxlength: max, "aria-invalid": bad(name), oninput: keep(k) })
        : B.el("input", { id, name: k, type: "text", class: "text-input", maxlength: max, "aria-invalid": bad(name), oninput: keep(k) });
      input.value = v[k] || "";
      return B.el("div", { class: "warn-field" }, label(id, key, lang ? lang.toUpperCase() : null), input);
    };
    const expires = B.el("input", { id: "warn-expires", name: "expires", type: "datetime-local", class: "text-input", "aria-invalid": bad("expires"), onchange: keep("expires") });
    expires.value = v.expires;

    const sites = B.state.sites.slice().sort((a, b) => siteName(a).localeCompare(siteName(b)));
    const siteSelect = B.el(
      "select",
      { id: "warn-site", class: "text-input", onchange: keep("site") },
      B.el("option", { value: "", text: t("warn.area_site_pick") }),
      sites.map((s) => B.el("option", { value: s.id, text: siteName(s), selected: v.site === s.id })),
    );
    const radius = B.el("input", { id: "warn-radius", type: "number", min: 1, max: 100000, step: 50, class: "text-input warn-radius", oninput: keep("radius") });
    radius.value = v.radius;
    const area = B.el(
      "fieldset",
      { class: "warn-area-field", "aria-invalid": bad("area") },
      B.el("legend", { text: t("warn.area") }),
      B.el("p", { class: "warn-area-summary", "data-kind": v.area ? v.area.type : "none", text: areaSummary(v.area) }),
      B.el(
        "div",
        { class: "warn-area-row" },
        siteSelect,
        B.el("button", {
          type: "button",
          class: "btn btn-small warn-area-site",
          text: t("warn.area_site"),
          onclick: () => {
            const a = v.site ? siteArea(v.site) : null;
            if (a) {
              v.area = a;
              render();
            }
          },
        }),
      ),
      B.el(
        "div",
        { class: "warn-area-row" },
        B.el("button", { type: "button", class: "btn btn-small warn-draw-polygon", text: t("warn.area_draw"), onclick: () => startDrawing("polygon") }),
        B.el("label", { for: "warn-radius", class: "small", text: t("warn.area_radius") }),
        radius,
        B.el("button", { type: "button", class: "btn btn-small warn-draw-circle", text: t("warn.area_circle_pick"), onclick: () => startDrawing("circle") }),
      ),
    );

    const errors = S.error
      ? B.el("div", { class: "form-error warn-error", role: "alert", text: S.error.message })
      : null;
    const f = B.el(
      "form",
      { class: "warn-editor", "data-id": S.editing, novalidate: true },
      B.el("h3", { text: S.editing === "new" ? t("warn.new_title") : t("warn.edit_title") }),
      text("event", "warn.event", null, false, 200),
      B.el("div", { class: "warn-codes" }, select("category", CATEGORIES, "warn.cat"), select("urgency", URGENCIES, "warn.urg"), select("severity", SEVERITIES, "warn.sev"), select("certainty", CERTAINTIES, "warn.cert")),
      B.el("div", { class: "warn-field" }, label("warn-expires", "warn.expires"), expires),
      area,
      B.el("div", { class: "warn-pair" }, text("headline", "warn.headline", "bg", false, 160), text("headline", "warn.headline", "en", false, 160)),
      B.el("div", { class: "warn-pair" }, text("description", "warn.description", "bg", true, 4000), text("description", "warn.description", "en", true, 4000)),
      B.el("div", { class: "warn-pair" }, text("instruction", "warn.instruction", "bg", true, 4000), text("instruction", "warn.instruction", "en", true, 4000)),
      B.el("div", { class: "warn-pair" }, text("area_desc", "warn.area_desc", "bg", false, 400), text("area_desc", "warn.area_desc", "en", false, 400)),
      errors,
      B.el(
        "div",
        { class: "warn-actions" },
        B.el("button", { type: "submit", class: "btn btn-primary warn-save", text: S.editing === "new" ? t("warn.create") : t("warn.save") }),
        B.el("button", { type: "button", class: "btn btn-ghost warn-form-cancel", text: t("warn.form_cancel"), onclick: () => (closeForm(), render()) }),
      ),
    );
    f.addEventListener("submit", (e) => {
      e.preventDefault();
      submit();
    });
    return f;
  }

  // ---- Drawing an area on the map ----------------------------------------------------------

  /** Draws the form's area on the map (draw.js): a polygon corner by corner, or a circle's
   *  centre with one click; the panel steps aside meanwhile and comes back with the area. */
  function startDrawing(mode) {
    if (dialog && dialog.open) dialog.close();
    const back = () => S.values && open();
    const r6 = (x) => +x.toFixed(6);
    const D = window.PolisDraw;
    if (mode === "polygon") {
      D.polygon((pts) => {
        if (S.values) {
          const ring = pts.map((p) => [r6(p.lon), r6(p.lat)]);
          ring.push(ring[0]);
          S.values.area = { type: "Polygon", coordinates: [ring] };
        }
        back();
      }, back);
    } else {
      D.point((pts) => {
        if (S.values) {
          const p = pts[0];
          S.values.area = { type: "Point", coordinates: [r6(p.lon), r6(p.lat)], radius_m: Math.max(1, +S.values.radius || 1000) };
        }
        back();
      }, back, t("warn.circle_hint"));
    }
  }

  // ---- The map layer -----------------------------------------------------------------------

  function build(map) {
    if (S.gMap !== map) {
      S.g = map.layer("warnings");
      S.gMap = map;
      S.built = -1;
    }
    const key = S.version;
    if (S.built === key) return;
    S.built = key;
    S.g.replaceChildren();
    S.items = [];
    const shape = (ring, cls, title) => {
      if (ring.length < 3) return;
      const e = M.svg("path", { class: cls }, S.g);
      if (title) M.svg("title", null, e).textContent = title;
      S.items.push({ e, ring, close: true });
    };
    for (const a of S.external) {
      if (a.status !== "in_force") continue;
      for (const g of a.areas || []) shape(ringOf(g), `warn-area warn-area-external sev-${String(a.severity).toLowerCase()}`, `${a.event}: ${a.headline}`);
    }
    for (const w of S.warnings) {
      if (!IN_FORCE.includes(w.status)) continue;
      shape(ringOf(w.area), `warn-area sev-${w.severity}`, inLang(w.headline) || w.event);
    }
  }

  function draw(map) {
    if (!map || !B || !B.state.token) return;
    build(map);
    for (const it of S.items) {
      let d = "";
      it.ring.forEach((q, i) => {
        const p = map.project(q.lat, q.lon);
        d += (i ? "L" : "M") + p.x.toFixed(1) + "," + p.y.toFixed(1);
      });
      it.e.setAttribute("d", it.close ? d + "Z" : d);
    }
  }

  // ---- The panel ---------------------------------------------------------------------------

  async function act(fn) {
    try {
      await fn();
    } catch (e) {
      B.showToast(e);
    }
    await load();
  }

  function item(w) {
    const me = B.state.user ? B.state.user.username : "";
    const live = ["draft", "published", "updated"].includes(w.status);
    const author = w.revision ? w.revision.by : w.created_by;
    const approvable = (w.status === "draft" || w.revision) && canApprove() && author !== me;
    const buttons = B.el("div", { class: "warn-actions" });
    if (live && canWrite()) {
      buttons.append(B.el("button", { type: "button", class: "btn btn-small warn-edit", text: t("warn.edit"), onclick: () => (openForm(w.id, w), render()) }));
    }
    if (approvable) {
      buttons.append(
        B.el("button", {
          type: "button",
          class: "btn btn-small btn-primary warn-approve",
          text: t("warn.approve"),
          onclick: () => act(() => B.api("POST", `/api/v1/warnings/${encodeURIComponent(w.id)}/approve`)),
        }),
      );
    }
    if (live && canWrite()) {
      buttons.append(
        B.el("button", {
          type: "button",
          class: "btn btn-small warn-cancel",
          text: w.status === "draft" ? t("warn.discard") : t("warn.cancel"),
          onclick: () => act(() => B.api("POST", `/api/v1/warnings/${encodeURIComponent(w.id)}/cancel`)),
        }),
      );
    }
    const links = (w.messages || []).map((m) => B.el("a", { href: m.url, target: "_blank", rel: "noopener", class: "warn-cap", text: `CAP ${m.msg_type}` }));
    return B.el(
      "li",
      { class: `warn-item warn-${w.status}`, "data-id": w.id, "data-status": w.status },
      B.el("div", { class: "warn-head" }, B.el("span", { class: `warn-sev sev-${w.severity}`, text: t(`warn.sev.${w.severity}`) }), B.el("strong", { text: inLang(w.headline) || w.event })),
      B.el("div", { class: "warn-meta", text: `${t("warn.status." + w.status)} · ${t("warn.urg." + w.urgency)} · ${t("warn.until")} ${fmt(w.expires)}` }),
      B.el("div", { class: "warn-meta", text: areaSummary(w.area) + (w.alarm ? ` · ${t("warn.from_alarm")}` : "") }),
      w.revision ? B.el("div", { class: "warn-meta", text: t("warn.pending", { by: w.revision.by }) }) : null,
      w.status === "draft" && !approvable ? B.el("div", { class: "warn-meta muted", text: t("warn.needs_second", { by: author }) }) : null,
      links.length ? B.el("div", { class: "warn-links" }, links) : null,
      buttons,
      S.editing === w.id ? form() : null,
    );
  }

  function externalItem(a) {
    return B.el(
      "li",
      { class: `warn-item warn-external-item warn-${a.status}`, "data-identifier": a.identifier },
      B.el("div", { class: "warn-head" }, B.el("span", { class: `warn-sev sev-${String(a.severity).toLowerCase()}`, text: a.severity }), B.el("strong", { text: `${a.event}: ${a.headline}` })),
      B.el("div", { class: "warn-meta", text: `${a.sender} · ${t("warn.ext_status." + a.status)}${a.expires ? ` · ${t("warn.until")} ${fmt(a.expires)}` : ""}` }),
      a.description ? B.el("p", { class: "warn-desc", text: a.description }) : null,
    );
  }

  /** Publishes (or withdraws) an item on the citizen portal. */
  async function setPublic(kind, id, on) {
    await B.api("PUT", `/api/v1/publications/${encodeURIComponent(kind)}/${encodeURIComponent(id)}`, { public: !!on });
  }

  function itemName(kind, id) {
    const f = kind === "sensor" ? B.state.byId.sensor.get(id) : kind === "camera" ? B.state.byId.camera.get(id) : null;
    if (!f || !f.p) return id;
    return B.shortName(f.p) || id;
  }

  /** What the citizen portal shows, for administrators: published sensors, webcams and plan
   *  reports, each withdrawable, and a picker to publish more. */
  function publicSection() {
    if (!isAdmin()) return null;
    const shown = S.publications.filter((p) => p.public !== false);
    const list = shown.length
      ? B.el(
          "ul",
          { class: "warn-list warn-publications" },
          shown.map((p) =>
            B.el(
              "li",
              { class: "warn-item warn-publication", "data-kind": p.kind, "data-item": p.item },
              B.el("div", { class: "warn-head" }, B.el("span", { class: "warn-sev", text: t(`warn.pub_kind.${p.kind}`) }), B.el("strong", { text: itemName(p.kind, p.item) })),
              B.el("div", { class: "warn-meta", text: t("warn.pub_by", { who: p.by || "", when: fmt(p.at) }) }),
              B.el(
                "div",
                { class: "warn-actions" },
                B.el("button", { type: "button", class: "btn btn-small warn-withdraw", text: t("warn.pub_withdraw"), onclick: () => act(() => setPublic(p.kind, p.item, false)) }),
              ),
            ),
          ),
        )
      : B.el("p", { class: "muted", text: t("warn.pub_none") });
    const kind = S.publishKind;
    const taken = new Set(shown.filter((p) => p.kind === kind).map((p) => p.item));
    const pool = (kind === "sensor" ? B.state.sensors : B.state.cameras).filter((f) => !taken.has(f.id));
    const kindSelect = B.el(
      "select",
      { id: "warn-pub-kind", class: "text-input", "aria-label": t("warn.pub_kind"), onchange: (e) => ((S.publishKind = e.target.value), render()) },
      ["sensor", "camera"].map((k) => B.el("option", { value: k, text: t(`warn.pub_kind.${k}`), selected: k === kind })),
    );
    const itemSelect = B.el(
      "select",
      { id: "warn-pub-item", class: "text-input", "aria-label": t("warn.pub_item") },
      pool
        .slice()
        .sort((a, b) => String(a.p.name || a.id).localeCompare(String(b.p.name || b.id)))
        .map((f) => B.el("option", { value: f.id, text: itemName(kind, f.id) })),
    );
    const publish = B.el("button", {
      type: "button",
      class: "btn btn-small btn-primary warn-publish",
      text: t("warn.pub_publish"),
      disabled: pool.length === 0,
      onclick: () => itemSelect.value && act(() => setPublic(kind, itemSelect.value, true)),
    });
    return [
      B.el("h3", { text: t("warn.pub_title") }),
      B.el("p", { class: "muted small", text: t("warn.pub_hint") }),
      list,
      B.el("div", { class: "warn-area-row warn-publish-row" }, kindSelect, itemSelect, publish),
    ];
  }

  function render() {
    if (!dialog || !dialog.open) return;
    const body = dialog.querySelector(".warn-body");
    const alarms = [...B.state.alarms.values()].filter((a) => String(a.state).startsWith("active_")).slice(0, 20);
    const alarmList = B.el(
      "ul",
      { class: "warn-alarms" },
      alarms.map((a) => B.el("li", {}, B.el("span", { text: `${a.severity} · ${a.message} ` }), canWrite() ? draftButton(a) : null)),
    );
    const newButton =
      canWrite() && S.editing !== "new"
        ? B.el("button", { type: "button", class: "btn btn-small warn-new", text: t("warn.new"), onclick: () => (openForm("new", null), render()) })
        : null;
    // Keep the focus and caret of the field being typed in across the redraw.
    const active = document.activeElement;
    const focused = active && body.contains(active) && active.id ? { id: active.id, start: active.selectionStart, end: active.selectionEnd } : null;
    const parts = [
      B.el("div", { class: "warn-section-head" }, B.el("h3", { text: t("warn.ours") }), newButton),
      S.editing === "new" ? form() : null,
      S.warnings.length ? B.el("ul", { class: "warn-list" }, S.warnings.map(item)) : B.el("p", { class: "muted", text: t("warn.none") }),
      canWrite() ? B.el("h3", { text: t("warn.from_alarms") }) : null,
      canWrite() ? (alarms.length ? alarmList : B.el("p", { class: "muted", text: t("warn.no_alarms") })) : null,
      B.el("h3", { text: t("warn.external") }),
      S.external.length ? B.el("ul", { class: "warn-list warn-external" }, S.external.map(externalItem)) : B.el("p", { class: "muted", text: t("warn.none") }),
      publicSection(),
      B.el("p", {}, B.el("a", { href: "/public/", target: "_blank", rel: "noopener", text: t("warn.portal") })),
    ];
    body.replaceChildren(...parts.flat().filter(Boolean));
    if (focused) {
      const again = document.getElementById(focused.id);
      if (again) {
        again.focus();
        if (typeof focused.start === "number" && typeof again.setSelectionRange === "function") {
          try {
            again.setSelectionRange(focused.start, focused.end);
          } catch (_) {
            // Not a text field.
          }
        }
      }
    }
  }

  function open() {
    if (!dialog) {
      dialog = B.el(
        "dialog",
        { id: "warnings-dialog", class: "warn-dialog", "aria-labelledby": "warnings-title" },
        B.el(
          "div",
          { class: "warn-top" },
          B.el("h2", { id: "warnings-title", text: t("warn.title") }),
          B.el("button", { type: "button", class: "btn btn-ghost warn-close", text: t("app.dismiss"), onclick: () => dialog.close() }),
        ),
        B.el("div", { class: "warn-body" }),
      );
      document.body.append(dialog);
    }
    dialog.querySelector("#warnings-title").textContent = t("warn.title");
    if (!dialog.open) dialog.showModal();
    render();
    load().catch(() => {});
  }

  /** "Draft a warning" for an alarm: the server drafts it from the alarm; its form opens. */
  function draftButton(a) {
    return B.el("button", {
      type: "button",
      class: "btn btn-small warn-draft-from-alarm",
      "data-alarm": a.id,
      text: t("warn.draft_from_alarm"),
      onclick: async (e) => {
        e.currentTarget.disabled = true;
        try {
          const w = await B.api("POST", `/api/v1/alarms/${encodeURIComponent(a.id)}/warning-draft`, {});
          await load();
          openForm(w.id, w);
          open();
        } catch (err) {
          B.showToast(err);
        }
      },
    });
  }

  window.PolisWarnings = {
    attach(bridge) {
      B = bridge;
      const anchor = document.getElementById("open-planner");
      if (!anchor || document.getElementById("open-warnings")) return;
      const btn = B.el("button", { id: "open-warnings", type: "button", class: "btn btn-ghost", hidden: true, "data-i18n": "warn.open", text: t("warn.open"), onclick: open });
      anchor.after(btn);
    },
    /** A session began: load the warnings (agencies see none). */
    start(session) {
      S.session = session;
      const agency = role() === "agency";
      document.getElementById("open-warnings").hidden = agency;
      if (!agency) load().catch(() => {});
    },
    reset() {
      S.session = -1;
      S.warnings = [];
      S.external = [];
      S.gMap = null;
      S.version++;
      closeForm();
      if (dialog && dialog.open) dialog.close();
    },
    /** A live event of type `warning` or `external_warning`. */
    onEvent() {
      reloadSoon();
    },
    /** An alarm panel's button, for those who may write warnings. */
    alarmButton(a) {
      return canWrite() ? draftButton(a) : null;
    },
    draw,
    setPublic,
    isAdmin,
    isPublic: (kind, id) => S.publications.some((p) => p.kind === kind && p.item === id && p.public !== false),
  };
})();
