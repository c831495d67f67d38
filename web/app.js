// Polis console: sign-in, the city map with key sites, cameras and sensors, details of a selected
// item, and "which cameras see this point". Talks to /api/v1 with a bearer token kept in
// sessionStorage.
"use strict";

(function () {
  const I = window.PolisI18n;
  const t = I.t;
  const term = I.term;
  const { MapView, toWorld, destination, svg } = window.PolisMap;

  const TOKEN_KEY = "polis.token";
  const USER_KEY = "polis.user";
  const SEEING_LIMIT = 10;

  const SECTORS = ["safety", "transport", "disaster", "tourism"];
  const STATUSES = ["active", "planned", "offline", "decommissioned"];
  const CAMERA_KINDS = ["fixed", "ptz", "anpr", "thermal"];
  const SECTOR_COLOURS = { safety: "#f778ba", transport: "#e3b341", disaster: "#3d9dff", tourism: "#b083f0" };
  const STATUS_COLOURS = { active: "#3fb950", planned: "#a5b4fc", offline: "#f85149", decommissioned: "#6e7681" };
  const DEFAULT_COLOUR = "#8b949e";

  const $ = (id) => document.getElementById(id);

  const state = {
    token: null,
    user: null,
    config: null,
    municipalities: new Map(),
    sites: [],
    cameras: [],
    sensors: [],
    byId: { site: new Map(), camera: new Map(), sensor: new Map() },
    selection: null, // {kind, id}
    seeing: null, // {lat, lon, state: "loading"|"done"|"error", items: [...]}
    covering: new Map(), // site id -> {state, items}
    layers: { sites: true, cameras: true, cones: true, sensors: true },
    map: null,
    g: null, // SVG layer groups
    session: 0, // bumped at sign-in and sign-out, so late answers of an old session are dropped
    seeingSeq: 0,
  };

  // -----------------------------------------------------------------------------------------
  // The API

  class ApiError extends Error {
    constructor(status, message, details) {
      super(message);
      this.status = status;
      this.details = details || [];
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (state.token) headers.Authorization = "Bearer " + state.token;
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const session = state.session;
    let res;
    try {
      res = await fetch(path, init);
    } catch (_) {
      throw new ApiError(0, t("app.network_error"));
    }
    if (res.status === 401 && path !== "/api/v1/auth/login") {
      if (session === state.session && state.token) endSession("login.session_ended");
      throw new ApiError(401, t("login.session_ended"), [], true);
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
      throw new ApiError(res.status, message, details);
    }
    if (res.status === 204) return null;
    const text = await res.text();
    return text ? JSON.parse(text) : null;
  }

  function query(params) {
    return Object.entries(params)
      .map(([k, v]) => encodeURIComponent(k) + "=" + encodeURIComponent(v))
      .join("&");
  }

  // -----------------------------------------------------------------------------------------
  // Small DOM helpers

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === "class") e.className = v;
        else if (k === "text") e.textContent = v;
        else if (k.startsWith("data-")) e.setAttribute(k, v);
        else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v === true ? "" : v);
      }
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return e;
  }

  function showToast(err) {
    if (err && err.status === 401) return; // handled by the sign-in form
    $("toast-message").textContent = err && err.message ? err.message : String(err);
    const list = $("toast-details");
    list.replaceChildren();
    for (const d of (err && err.details) || []) {
      const where = [d.row !== undefined && d.row !== null ? "#" + d.row : null, d.field].filter(Boolean).join(" ");
      list.appendChild(el("li", null, where ? where + ": " : "", d.message || ""));
    }
    $("toast").hidden = false;
    clearTimeout(showToast.timer);
    showToast.timer = setTimeout(() => ($("toast").hidden = true), 12000);
  }

  const fmtMetres = (m) => t("value.metres", { n: I.number(m, m < 10 ? 1 : 0) });
  const fmtDeg = (d) => t("value.degrees", { n: I.number(d, 1) });
  const fmtCoords = (lat, lon) => lat.toFixed(5) + ", " + lon.toFixed(5);

  const CYRILLIC = /[\u0400-\u04FF]/;

  /** A camera or sensor name for lists and tooltips. Names written "Български / English" (as in
   *  the demo) show the part in the current language; any other name shows whole. */
  function shortName(name) {
    if (!name) return "";
    const parts = name.split(" / ");
    if (parts.length !== 2) return name;
    const cyr = parts.map((x) => CYRILLIC.test(x));
    if (cyr[0] === cyr[1]) return name;
    const bgPart = cyr[0] ? parts[0] : parts[1];
    const enPart = cyr[0] ? parts[1] : parts[0];
    return (I.lang === "bg" ? bgPart : enPart).trim() || name;
  }

  const COMPASS = ["N", "NE", "E", "SE", "S", "SW", "W", "NW"];

  /** A bearing as "45° (NE)". */
  function fmtHeading(h) {
    const d = ((Math.round(+h * 10) / 10) % 360 + 360) % 360;
    return fmtDeg(d) + " (" + t("compass." + COMPASS[Math.round(d / 45) % 8]) + ")";
  }

  function siteName(p) {
    const first = I.lang === "bg" ? p.name_bg : p.name_en;
    const second = I.lang === "bg" ? p.name_en : p.name_bg;
    return first || second || p.id;
  }

  // -----------------------------------------------------------------------------------------
  // Sign-in and sessions

  /** Shows `key`'s message (or a server's `text`) under the sign-in form; re-translated when the
   *  language changes. */
  function setLoginError(key, text) {
    const err = $("login-error");
    state.loginError = key ? { key } : text ? { text } : null;
    err.textContent = key ? t(key) : text || "";
    err.hidden = !state.loginError;
  }

  function showLogin(messageKey) {
    $("app-view").hidden = true;
    $("login-view").hidden = false;
    setLoginError(messageKey, null);
    const submit = $("login-submit");
    submit.disabled = false;
    submit.textContent = t("login.submit");
    setTimeout(() => ($("username").value ? $("password") : $("username")).focus(), 0);
  }

  async function onLoginSubmit(e) {
    e.preventDefault();
    const username = $("username").value.trim();
    const password = $("password").value;
    if (!username || !password) {
      setLoginError("login.required", null);
      return;
    }
    const submit = $("login-submit");
    submit.disabled = true;
    submit.textContent = t("login.busy");
    setLoginError(null, null);
    try {
      state.token = null;
      const res = await api("POST", "/api/v1/auth/login", { username, password });
      state.token = res.token;
      state.user = res.user || { username };
      try {
        sessionStorage.setItem(TOKEN_KEY, state.token);
        sessionStorage.setItem(USER_KEY, JSON.stringify(state.user));
      } catch (_) {
        // Storage disabled: the session lasts until the page is reloaded.
      }
      $("password").value = "";
      await startSession();
    } catch (ex) {
      if (ex.status === 401) setLoginError("login.bad_credentials", null);
      else if (ex.status === 429) setLoginError("login.rate_limited", null);
      else setLoginError(null, ex.message);
    } finally {
      submit.disabled = false;
      submit.textContent = t("login.submit");
    }
  }

  async function logout() {
    const token = state.token;
    endSession(null);
    if (token) {
      try {
        await fetch("/api/v1/auth/logout", { method: "POST", headers: { Authorization: "Bearer " + token } });
      } catch (_) {
        // The token expires on its own.
      }
    }
  }

  /** Drops the session and everything loaded with it, then shows the sign-in form. */
  function endSession(messageKey) {
    state.session++;
    state.token = null;
    state.user = null;
    try {
      sessionStorage.removeItem(TOKEN_KEY);
      sessionStorage.removeItem(USER_KEY);
    } catch (_) {
      // Nothing stored.
    }
    delete document.body.dataset.ready;
    if (state.map) state.map.destroy();
    state.map = null;
    state.g = null;
    delete window.polisMap;
    state.sites = [];
    state.cameras = [];
    state.sensors = [];
    state.byId = { site: new Map(), camera: new Map(), sensor: new Map() };
    state.selection = null;
    state.seeing = null;
    state.covering = new Map();
    $("details").hidden = true;
    $("seeing-panel").hidden = true;
    $("toast").hidden = true;
    $("demo-badge").hidden = true;
    renderSummary();
    showLogin(messageKey);
  }

  async function startSession() {
    const session = ++state.session;
    $("login-view").hidden = true;
    $("app-view").hidden = false;
    $("loading").hidden = false;
    renderUser();
    try {
      if (!state.user || !state.user.role) {
        state.user = await api("GET", "/api/v1/me");
      }
      const config = await api("GET", "/api/v1/console/config");
      if (session !== state.session) return;
      state.config = config;
      renderUser();
      createMap(config);
      const [sites, cameras, sensors] = await Promise.allSettled([
        api("GET", "/api/v1/sites"),
        api("GET", "/api/v1/cameras"),
        api("GET", "/api/v1/sensors"),
      ]);
      if (session !== state.session) return;
      for (const r of [sites, cameras, sensors]) if (r.status === "rejected") showToast(r.reason);
      setData(
        sites.status === "fulfilled" ? sites.value : null,
        cameras.status === "fulfilled" ? cameras.value : null,
        sensors.status === "fulfilled" ? sensors.value : null
      );
      loadMunicipalities(session);
      document.body.dataset.ready = "1";
    } catch (ex) {
      if (session !== state.session) return;
      showToast(ex);
    } finally {
      if (session === state.session) $("loading").hidden = true;
    }
  }

  /** Names of municipalities for the top bar; optional (not every role may list them). */
  async function loadMunicipalities(session) {
    try {
      const orgs = await api("GET", "/api/v1/organisations");
      if (session !== state.session) return;
      const list = Array.isArray(orgs) ? orgs : (orgs && (orgs.items || orgs.organisations)) || [];
      for (const o of list) if (o && o.id) state.municipalities.set(o.id, o);
      renderUser();
    } catch (_) {
      // Shown by id instead.
    }
  }

  /** Camera counts by status in the top bar. */
  function renderSummary() {
    const line = $("status-line");
    if (!state.cameras.length) {
      line.replaceChildren();
      return;
    }
    const n = { active: 0, offline: 0, planned: 0 };
    for (const c of state.cameras) if (n[c.p.status] !== undefined) n[c.p.status]++;
    const stat = (key, count, colour) =>
      el(
        "span",
        { class: "stat stat-" + key },
        el("span", { class: "status-dot", style: "background:" + colour }),
        el("b", { text: I.number(count) }),
        t("summary." + key)
      );
    line.replaceChildren(
      el("span", { class: "stat" }, el("b", { text: I.number(state.cameras.length) }), t("summary.cameras")),
      stat("active", n.active, STATUS_COLOURS.active),
      stat("offline", n.offline, STATUS_COLOURS.offline),
      stat("planned", n.planned, STATUS_COLOURS.planned)
    );
  }

  function renderUser() {
    const u = state.user || {};
    $("user-name").textContent = u.username || "";
    const parts = [];
    if (u.role) parts.push(term("role", u.role));
    if (u.municipality) {
      const m = state.municipalities.get(u.municipality);
      parts.push(m ? (I.lang === "bg" ? m.name_bg || m.name_en : m.name_en || m.name_bg) : u.municipality);
    }
    $("user-role").textContent = parts.join(" · ");
  }

  // -----------------------------------------------------------------------------------------
  // Data

  function features(fc) {
    return fc && Array.isArray(fc.features) ? fc.features : [];
  }

  function setData(sitesFc, camerasFc, sensorsFc) {
    state.sites = features(sitesFc).map(prepareSite).filter(Boolean);
    state.cameras = features(camerasFc).map(prepareCamera).filter(Boolean);
    state.sensors = features(sensorsFc).map(prepareSensor).filter(Boolean);
    state.byId = {
      site: new Map(state.sites.map((s) => [s.id, s])),
      camera: new Map(state.cameras.map((c) => [c.id, c])),
      sensor: new Map(state.sensors.map((s) => [s.id, s])),
    };
    const demo = [state.sites, state.cameras, state.sensors].some((list) => list.some((x) => x.p.demo === true));
    $("demo-badge").hidden = !demo;
    $("count-sites").textContent = String(state.sites.length);
    $("count-cameras").textContent = String(state.cameras.length);
    $("count-sensors").textContent = String(state.sensors.length);
    renderSummary();
    buildOverlay();
    state.map.render();
  }

  function pointOf(f) {
    const g = f.geometry;
    if (g && g.type === "Point" && Array.isArray(g.coordinates)) {
      return { lat: +g.coordinates[1], lon: +g.coordinates[0] };
    }
    const p = f.properties || {};
    if (Number.isFinite(p.lat) && Number.isFinite(p.lon)) return { lat: p.lat, lon: p.lon };
    return null;
  }

  function prepareSite(f) {
    const p = Object.assign({}, f.properties || {});
    if (!p.id && f.id) p.id = String(f.id);
    const g = f.geometry || {};
    const s = { id: p.id, p, ring: null, world: null, centre: null };
    if (g.type === "Polygon" && Array.isArray(g.coordinates) && Array.isArray(g.coordinates[0])) {
      const ring = g.coordinates[0].filter((c) => Array.isArray(c) && c.length >= 2);
      if (ring.length < 3) return null;
      s.ring = ring.map((c) => toWorld(+c[1], +c[0]));
      s.vertices = ring.length - (sameCoord(ring[0], ring[ring.length - 1]) ? 1 : 0);
      s.centre = ringCentre(ring);
    } else if (g.type === "MultiPolygon" && Array.isArray(g.coordinates) && g.coordinates[0]) {
      return prepareSite({ id: f.id, properties: p, geometry: { type: "Polygon", coordinates: g.coordinates[0] } });
    } else {
      const pt = pointOf(f);
      if (!pt) return null;
      s.centre = pt;
    }
    s.world = toWorld(s.centre.lat, s.centre.lon);
    return s;
  }

  const sameCoord = (a, b) => a[0] === b[0] && a[1] === b[1];

  /** The area centroid of a [lon, lat] ring (planar, fine at city scale). */
  function ringCentre(ring) {
    let a = 0;
    let cx = 0;
    let cy = 0;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [x0, y0] = ring[j];
      const [x1, y1] = ring[i];
      const cross = x0 * y1 - x1 * y0;
      a += cross;
      cx += (x0 + x1) * cross;
      cy += (y0 + y1) * cross;
    }
    if (Math.abs(a) < 1e-15) {
      const n = ring.length;
      return { lon: ring.reduce((s, c) => s + c[0], 0) / n, lat: ring.reduce((s, c) => s + c[1], 0) / n };
    }
    return { lon: cx / (3 * a), lat: cy / (3 * a) };
  }

  function prepareCamera(f) {
    const p = Object.assign({}, f.properties || {});
    if (!p.id && f.id) p.id = String(f.id);
    const pt = pointOf(f);
    if (!pt || !p.id) return null;
    const full = p.kind === "ptz" || +p.fov_deg >= 360;
    const range = Math.max(0, +p.range_m || 0);
    const heading = +p.heading_deg || 0;
    const fov = Math.min(360, Math.max(0, +p.fov_deg || 0));
    const ring = [];
    if (range > 0) {
      if (full) {
        for (let i = 0; i < 72; i++) ring.push(destination(pt.lat, pt.lon, i * 5, range));
      } else {
        const steps = Math.max(8, Math.ceil(fov / 4));
        ring.push(pt);
        for (let i = 0; i <= steps; i++) {
          ring.push(destination(pt.lat, pt.lon, heading - fov / 2 + (fov * i) / steps, range));
        }
      }
    }
    const cone = ring.map((q) => toWorld(q.lat, q.lon));
    const box = bbox(cone.length ? cone : [toWorld(pt.lat, pt.lon)]);
    return { id: p.id, p, lat: pt.lat, lon: pt.lon, world: toWorld(pt.lat, pt.lon), cone, box, full, heading };
  }

  function prepareSensor(f) {
    const p = Object.assign({}, f.properties || {});
    if (!p.id && f.id) p.id = String(f.id);
    const pt = pointOf(f);
    if (!pt || !p.id) return null;
    return { id: p.id, p, lat: pt.lat, lon: pt.lon, world: toWorld(pt.lat, pt.lon) };
  }

  function bbox(points) {
    let x0 = Infinity;
    let y0 = Infinity;
    let x1 = -Infinity;
    let y1 = -Infinity;
    for (const q of points) {
      if (q.x < x0) x0 = q.x;
      if (q.y < y0) y0 = q.y;
      if (q.x > x1) x1 = q.x;
      if (q.y > y1) y1 = q.y;
    }
    return { x0, y0, x1, y1 };
  }

  const sectorColour = (p) => SECTOR_COLOURS[(p.sectors || [])[0]] || DEFAULT_COLOUR;
  const statusColour = (p) => STATUS_COLOURS[p.status] || DEFAULT_COLOUR;

  // -----------------------------------------------------------------------------------------
  // The map and its layers

  function createMap(config) {
    if (state.map) state.map.destroy();
    const centre = config && config.center ? config.center : { lat: 42.619, lon: 25.393 };
    const map = new MapView($("map"), {
      center: { lat: +centre.lat, lon: +centre.lon },
      zoom: config && Number.isFinite(+config.zoom) ? +config.zoom : 14,
      tileUrl: config ? config.tile_url : null,
      attribution: config ? config.attribution : null,
    });
    state.map = map;
    state.g = {
      areas: map.layer("site-areas"),
      cones: map.layer("cones"),
      links: map.layer("links"),
      sites: map.layer("sites"),
      sensors: map.layer("sensors"),
      cameras: map.layer("cameras"),
      click: map.layer("click"),
    };
    map.on("render", drawOverlay);
    map.on("click", (e) => seeAt(e.lat, e.lon));
    map.on("featureclick", (e) => select(e.kind, e.id));
    applyLayerVisibility();

    window.polisMap = {
      /** Does what a click on the map at (lat, lon) does. */
      clickLatLon: (lat, lon) => seeAt(lat, lon),
      /** Container pixels of (lat, lon). */
      project: (lat, lon) => map.project(lat, lon),
      unproject: (x, y) => map.unproject(x, y),
      setView: (lat, lon, zoom) => map.setView(lat, lon, zoom),
      getView: () => Object.assign(map.getCenter(), { zoom: map.getZoom() }),
      select: (kind, id) => select(kind, id),
      view: map,
    };
  }

  function applyLayerVisibility() {
    if (!state.g) return;
    const L = state.layers;
    const g = state.g;
    state.map.setLayerVisible(g.areas, L.sites);
    state.map.setLayerVisible(g.sites, L.sites);
    state.map.setLayerVisible(g.cameras, L.cameras);
    state.map.setLayerVisible(g.cones, L.cameras && L.cones);
    state.map.setLayerVisible(g.sensors, L.sensors);
    $("layer-cones").disabled = !L.cameras;
  }

  /** Creates the SVG elements of every item once; drawOverlay() positions them. */
  function buildOverlay() {
    const g = state.g;
    for (const k of ["areas", "cones", "links", "sites", "sensors", "cameras", "click"]) g[k].replaceChildren();

    const sites = state.sites.slice().sort((a, b) => (b.p.priority || 5) - (a.p.priority || 5));
    for (const s of sites) {
      const colour = sectorColour(s.p);
      if (s.ring) {
        s.area = svg("path", { class: "site-area", fill: colour, stroke: colour }, g.areas);
      }
      const size = 4 + 1.2 * (6 - Math.min(5, Math.max(1, s.p.priority || 5)));
      const m = svg("g", { class: "site-marker", "data-feature": "site", "data-id": s.id, "data-site-id": s.id }, g.sites);
      svg("rect", { class: "hit", x: -10, y: -10, width: 20, height: 20 }, m);
      svg("path", { class: "site-shape", d: `M0,${-size}L${size},0L0,${size}L${-size},0Z`, fill: colour }, m);
      s.title = svg("title", null, m);
      s.el = m;
    }

    for (const c of state.cameras) {
      const colour = statusColour(c.p);
      if (c.cone.length) {
        c.coneEl = svg(
          "path",
          { class: "cone" + (c.full ? " cone-full" : "") + " status-" + c.p.status, fill: colour, stroke: colour },
          g.cones
        );
      }
      const m = svg(
        "g",
        {
          class: "camera-marker status-" + c.p.status + " kind-" + c.p.kind,
          "data-feature": "camera",
          "data-id": c.id,
          "data-camera-id": c.id,
        },
        g.cameras
      );
      svg("circle", { class: "hit", r: 11 }, m);
      svg("circle", { class: "halo", r: 11 }, m);
      if (c.full) svg("circle", { class: "ptz-ring", r: 9, stroke: colour }, m);
      else svg("path", { class: "heading", d: "M-3.6,-4.8L0,-12.5L3.6,-4.8Z", fill: colour, transform: `rotate(${c.heading})` }, m);
      svg("circle", { class: "body", r: 5.5, fill: colour, stroke: colour }, m);
      if (c.p.kind === "anpr") svg("rect", { class: "glyph", x: -2.8, y: -1.4, width: 5.6, height: 2.8 }, m);
      if (c.p.kind === "thermal") svg("circle", { class: "glyph", r: 2 }, m);
      c.title = svg("title", null, m);
      c.el = m;
    }

    for (const s of state.sensors) {
      const m = svg("g", { class: "sensor-marker kind-" + s.p.kind, "data-feature": "sensor", "data-id": s.id, "data-sensor-id": s.id }, g.sensors);
      svg("rect", { class: "hit", x: -10, y: -10, width: 20, height: 20 }, m);
      svg("rect", { class: "sensor-shape", x: -5, y: -5, width: 10, height: 10, rx: 2.5 }, m);
      svg("circle", { class: "glyph", r: 1.8 }, m);
      s.title = svg("title", null, m);
      s.el = m;
    }
    updateTitles();
    updateHighlights();
  }

  function updateTitles() {
    for (const s of state.sites) s.title.textContent = siteName(s.p) + " · " + term("category", s.p.category);
    for (const c of state.cameras) {
      c.title.textContent = (shortName(c.p.name) || c.id) + " · " + term("camkind", c.p.kind) + " · " + term("status", c.p.status);
    }
    for (const s of state.sensors) s.title.textContent = (shortName(s.p.name) || s.id) + " · " + term("sensorkind", s.p.kind);
  }

  function setShown(e, shown) {
    if (e._shown === shown) return;
    e._shown = shown;
    e.style.display = shown ? "" : "none";
  }

  /** Positions everything for the current view (called on every frame that moves the map). */
  function drawOverlay(map) {
    if (!state.g) return;
    const tr = map.screenTransform();
    const W = map.width;
    const H = map.height;
    const M = 24;
    const sx = (w) => w.x * tr.scale - tr.ox;
    const sy = (w) => w.y * tr.scale - tr.oy;
    const inView = (x, y) => x > -M && y > -M && x < W + M && y < H + M;
    const boxInView = (b) => sx({ x: b.x1 }) > -M && sx({ x: b.x0 }) < W + M && sy({ y: b.y1 }) > -M && sy({ y: b.y0 }) < H + M;
    const pathOf = (pts, close) => {
      let d = "";
      for (let i = 0; i < pts.length; i++) d += (i ? "L" : "M") + sx(pts[i]).toFixed(1) + "," + sy(pts[i]).toFixed(1);
      return close ? d + "Z" : d;
    };

    for (const s of state.sites) {
      if (s.area) {
        if (!s.box) s.box = bbox(s.ring);
        const shown = boxInView(s.box);
        setShown(s.area, shown);
        if (shown) s.area.setAttribute("d", pathOf(s.ring, true));
      }
      const x = sx(s.world);
      const y = sy(s.world);
      const shown = inView(x, y);
      setShown(s.el, shown);
      if (shown) s.el.setAttribute("transform", `translate(${x.toFixed(1)},${y.toFixed(1)})`);
    }

    const coneZoomOk = map.getZoom() >= 11;
    for (const c of state.cameras) {
      if (c.coneEl) {
        const shown = coneZoomOk && boxInView(c.box);
        setShown(c.coneEl, shown);
        if (shown) c.coneEl.setAttribute("d", pathOf(c.cone, true));
      }
      const x = sx(c.world);
      const y = sy(c.world);
      c.sx = x;
      c.sy = y;
      const shown = inView(x, y);
      setShown(c.el, shown);
      if (shown) c.el.setAttribute("transform", `translate(${x.toFixed(1)},${y.toFixed(1)})`);
    }

    for (const s of state.sensors) {
      const x = sx(s.world);
      const y = sy(s.world);
      const shown = inView(x, y);
      setShown(s.el, shown);
      if (shown) s.el.setAttribute("transform", `translate(${x.toFixed(1)},${y.toFixed(1)})`);
    }

    drawSeeingMarks(map);
  }

  /** The clicked point and the lines from each camera that sees it. */
  function drawSeeingMarks(map) {
    const g = state.g;
    const sg = state.seeing;
    if (!sg) {
      g.click.replaceChildren();
      g.links.replaceChildren();
      return;
    }
    const p = map.project(sg.lat, sg.lon);
    let mark = g.click.firstChild;
    if (!mark) {
      mark = svg("g", { class: "click-marker" }, g.click);
      svg("circle", { class: "pulse", r: 14 }, mark);
      svg("path", { class: "cross", d: "M-11,0H-4M4,0H11M0,-11V-4M0,4V11" }, mark);
      svg("circle", { class: "dot", r: 3.5 }, mark);
    }
    mark.setAttribute("transform", `translate(${p.x.toFixed(1)},${p.y.toFixed(1)})`);

    const items = sg.items || [];
    while (g.links.childNodes.length > items.length) g.links.lastChild.remove();
    items.forEach((it, i) => {
      let line = g.links.childNodes[i];
      if (!line) line = svg("line", { class: "seeing-link" }, g.links);
      const q = map.project(it.lat, it.lon);
      line.setAttribute("x1", q.x.toFixed(1));
      line.setAttribute("y1", q.y.toFixed(1));
      line.setAttribute("x2", p.x.toFixed(1));
      line.setAttribute("y2", p.y.toFixed(1));
    });
  }

  function updateHighlights() {
    const seeingIds = new Set(state.seeing && state.seeing.items ? state.seeing.items.map((x) => x.id) : []);
    const sel = state.selection;
    for (const c of state.cameras) {
      const seeing = seeingIds.has(c.id);
      const selected = !!sel && sel.kind === "camera" && sel.id === c.id;
      c.el.classList.toggle("is-seeing", seeing);
      c.el.classList.toggle("is-selected", selected);
      if (c.coneEl) {
        c.coneEl.classList.toggle("is-seeing", seeing);
        c.coneEl.classList.toggle("is-selected", selected);
      }
    }
    // Highlighted cameras are drawn last, so on top.
    if (state.g) {
      for (const c of state.cameras) {
        if (c.el.classList.contains("is-seeing")) state.g.cameras.appendChild(c.el);
      }
      for (const c of state.cameras) {
        if (c.el.classList.contains("is-selected")) {
          state.g.cameras.appendChild(c.el);
          if (c.coneEl) state.g.cones.appendChild(c.coneEl);
        }
      }
    }
    for (const s of state.sites) {
      const selected = !!sel && sel.kind === "site" && sel.id === s.id;
      s.el.classList.toggle("is-selected", selected);
      if (s.area) s.area.classList.toggle("is-selected", selected);
    }
    for (const s of state.sensors) {
      s.el.classList.toggle("is-selected", !!sel && sel.kind === "sensor" && sel.id === s.id);
    }
    $("map").classList.toggle("has-seeing", seeingIds.size > 0);
  }

  // -----------------------------------------------------------------------------------------
  // Which cameras see a point

  async function seeAt(lat, lon) {
    if (!state.map) return;
    const qlat = Math.round(lat * 1e7) / 1e7;
    const qlon = Math.round(lon * 1e7) / 1e7;
    const seq = ++state.seeingSeq;
    state.selection = null;
    state.seeing = { lat: qlat, lon: qlon, state: "loading", items: null };
    renderDetails();
    renderSeeing();
    updateHighlights();
    state.map.requestRender();
    try {
      const fc = await api("GET", "/api/v1/cameras/seeing?" + query({ lat: qlat, lon: qlon, limit: SEEING_LIMIT }));
      if (seq !== state.seeingSeq || !state.seeing) return;
      state.seeing.items = features(fc).map((f) => {
        const p = Object.assign({}, f.properties || {});
        if (!p.id && f.id) p.id = String(f.id);
        const pt = pointOf(f) || { lat: qlat, lon: qlon };
        return Object.assign(p, { lat: pt.lat, lon: pt.lon });
      });
      state.seeing.state = "done";
    } catch (ex) {
      if (seq !== state.seeingSeq || !state.seeing) return;
      state.seeing.state = "error";
      state.seeing.error = ex.message;
      state.seeing.items = [];
      showToast(ex);
    }
    renderSeeing();
    updateHighlights();
    if (state.map) state.map.requestRender();
  }

  function clearSeeing() {
    state.seeingSeq++;
    state.seeing = null;
    renderSeeing();
    updateHighlights();
    if (state.map) state.map.requestRender();
  }

  function renderSeeing() {
    const panel = $("seeing-panel");
    const sg = state.seeing;
    $("map-hint").hidden = !!sg;
    if (!sg) {
      panel.hidden = true;
      panel.replaceChildren();
      delete panel.dataset.state;
      return;
    }
    panel.hidden = false;
    panel.dataset.state = sg.state;
    panel.dataset.lat = String(sg.lat);
    panel.dataset.lon = String(sg.lon);
    const head = el(
      "header",
      { class: "panel-head" },
      el(
        "div",
        { class: "panel-titles" },
        el("h2", { text: t("seeing.title") }),
        el("div", { class: "panel-sub mono", text: fmtCoords(sg.lat, sg.lon) })
      ),
      el("button", { type: "button", class: "icon-btn", title: t("seeing.clear"), "aria-label": t("seeing.clear"), onclick: clearSeeing }, "×")
    );
    const body = el("div", { class: "panel-body" });
    if (sg.state === "loading") {
      body.appendChild(el("p", { class: "muted" }, el("span", { class: "spinner small" }), " ", t("seeing.searching")));
    } else if (sg.state === "error") {
      body.appendChild(el("p", { class: "form-error", text: sg.error || t("app.error") }));
    } else if (!sg.items.length) {
      body.appendChild(el("p", { class: "empty", text: t("seeing.none") }));
    } else {
      body.appendChild(el("div", { class: "panel-count", text: t("seeing.count", { n: sg.items.length }) }));
      const list = el("ol", { class: "item-list" });
      for (const it of sg.items) list.appendChild(cameraItem(it, "seeing-item"));
      body.appendChild(list);
    }
    panel.replaceChildren(head, body);
  }

  /** A camera row in a list (seeing results, site coverage): click selects it. */
  function cameraItem(it, cls) {
    const selected = state.selection && state.selection.kind === "camera" && state.selection.id === it.id;
    return el(
      "li",
      {
        class: cls + " cam-item" + (selected ? " is-selected" : ""),
        "data-camera-id": it.id,
        tabindex: "0",
        role: "button",
        onclick: () => select("camera", it.id, { reveal: true }),
        onkeydown: (e) => {
          if (e.key === "Enter" || e.key === " ") {
            e.preventDefault();
            select("camera", it.id, { reveal: true });
          }
        },
      },
      el("span", { class: "status-dot", style: "background:" + statusColour(it), title: term("status", it.status) }),
      el(
        "span",
        { class: "cam-item-main" },
        el("span", { class: "cam-item-name", text: shortName(it.name) || it.id, title: it.name || it.id }),
        el("span", { class: "cam-item-meta", text: term("camkind", it.kind) + " · " + term("status", it.status) })
      ),
      el("span", { class: "cam-item-dist", text: Number.isFinite(+it.distance_m) ? fmtMetres(+it.distance_m) : "" })
    );
  }

  // -----------------------------------------------------------------------------------------
  // Selection and details

  function select(kind, id, opts) {
    const item = state.byId[kind] && state.byId[kind].get(id);
    const fromSeeing =
      kind === "camera" && state.seeing && state.seeing.items ? state.seeing.items.find((x) => x.id === id) : null;
    if (!item && !fromSeeing) return;
    state.selection = { kind, id };
    renderDetails();
    renderSeeing();
    updateHighlights();
    if (kind === "site" && !state.covering.has(id)) loadCovering(id);
    if (opts && opts.reveal && state.map) {
      const pos = item ? item.centre || item : fromSeeing;
      const p = state.map.project(pos.lat, pos.lon);
      const m = 60;
      if (p.x < m || p.y < m || p.x > state.map.width - 380 || p.y > state.map.height - m) {
        state.map.animateTo(pos.lat, pos.lon, Math.max(state.map.getZoom(), 16));
      }
    }
  }

  function clearSelection() {
    state.selection = null;
    renderDetails();
    renderSeeing();
    updateHighlights();
  }

  async function loadCovering(siteId) {
    const session = state.session;
    state.covering.set(siteId, { state: "loading", items: [] });
    try {
      const fc = await api("GET", "/api/v1/sites/" + encodeURIComponent(siteId) + "/cameras?limit=20");
      if (session !== state.session) return;
      state.covering.set(siteId, {
        state: "done",
        items: features(fc).map((f) => Object.assign({ id: f.id }, f.properties || {})),
      });
    } catch (ex) {
      if (session !== state.session) return;
      state.covering.set(siteId, { state: "error", items: [], error: ex.message });
    }
    if (state.selection && state.selection.kind === "site" && state.selection.id === siteId) renderDetails();
  }

  function row(labelKey, value) {
    const dd = el("dd");
    if (value instanceof Node) dd.appendChild(value);
    else dd.textContent = value === null || value === undefined || value === "" ? t("value.none") : String(value);
    return [el("dt", { text: t(labelKey) }), dd];
  }

  const yesNo = (b) => t(b ? "value.yes" : "value.no");
  const orNone = (v) => (v === null || v === undefined || v === "" ? t("value.none") : v);

  function chip(text, colour) {
    return el("span", { class: "chip" }, el("span", { class: "chip-dot", style: "background:" + colour }), text);
  }

  function municipalityName(id) {
    const m = id && state.municipalities.get(id);
    if (!m) return orNone(id);
    return I.lang === "bg" ? m.name_bg || m.name_en || id : m.name_en || m.name_bg || id;
  }

  function renderDetails() {
    const panel = $("details");
    const sel = state.selection;
    const item = sel && state.byId[sel.kind] ? state.byId[sel.kind].get(sel.id) : null;
    let p = item ? item.p : null;
    if (!p && sel && sel.kind === "camera" && state.seeing && state.seeing.items) {
      p = state.seeing.items.find((x) => x.id === sel.id) || null;
    }
    if (!sel || !p) {
      panel.hidden = true;
      panel.replaceChildren();
      delete panel.dataset.kind;
      delete panel.dataset.id;
      return;
    }
    panel.hidden = false;
    panel.dataset.kind = sel.kind;
    panel.dataset.id = sel.id;

    let typeLabel;
    let title;
    let subtitle;
    let colour;
    const rows = [];
    const extra = [];
    if (sel.kind === "site") {
      typeLabel = t("details.site");
      title = siteName(p);
      subtitle = term("category", p.category);
      colour = sectorColour(p);
      const sectors = el("span", { class: "chips" }, (p.sectors || []).map((s) => chip(term("sector", s), SECTOR_COLOURS[s] || DEFAULT_COLOUR)));
      const pr = p.priority;
      const prText = pr === 1 ? t("value.priority_1") : pr === 5 ? t("value.priority_5") : orNone(pr);
      rows.push(
        row("field.category", term("category", p.category)),
        row("field.sectors", (p.sectors || []).length ? sectors : t("value.none")),
        row("field.priority", prText),
        row(I.lang === "bg" ? "field.name_en" : "field.name_bg", I.lang === "bg" ? p.name_en : p.name_bg),
        row("field.geometry", item.ring ? t("value.polygon", { n: item.vertices }) : t("value.point")),
        row("field.coordinates", el("span", { class: "mono", text: fmtCoords(item.centre.lat, item.centre.lon) })),
        row("field.municipality", municipalityName(p.municipality)),
        row("field.id", el("span", { class: "mono", text: p.id }))
      );
      if (p.demo) rows.push(row("field.demo", yesNo(true)));
      extra.push(coveringSection(sel.id));
    } else if (sel.kind === "camera") {
      typeLabel = t("details.camera");
      title = shortName(p.name) || p.id;
      subtitle = term("camkind", p.kind);
      colour = statusColour(p);
      const full = p.kind === "ptz" || +p.fov_deg >= 360;
      rows.push(
        shortName(p.name) !== p.name ? row("field.name", p.name) : [],
        row("field.status", chip(term("status", p.status), statusColour(p))),
        row("field.kind", term("camkind", p.kind)),
        row("field.heading_deg", full && p.kind === "ptz" ? t("value.full_circle") : fmtHeading(p.heading_deg)),
        row("field.fov_deg", fmtDeg(+p.fov_deg)),
        row("field.range_m", fmtMetres(+p.range_m)),
        row("field.mount_height_m", Number.isFinite(+p.mount_height_m) && p.mount_height_m !== null ? fmtMetres(+p.mount_height_m) : null),
        row("field.retention_days", Number.isFinite(+p.retention_days) && p.retention_days !== null ? t("value.days", { n: p.retention_days }) : null),
        row("field.stream_url", p.stream_url ? el("span", { class: "mono wrap", text: p.stream_url }) : null),
        row("field.sub_stream_url", p.sub_stream_url ? el("span", { class: "mono wrap", text: p.sub_stream_url }) : null),
        row("field.has_credentials", yesNo(!!p.has_credentials)),
        row("field.owner", orNone(p.owner)),
        row("field.municipality", municipalityName(p.municipality)),
        row("field.coordinates", el("span", { class: "mono", text: fmtCoords(+p.lat, +p.lon) })),
        row("field.id", el("span", { class: "mono", text: p.id }))
      );
      if (p.demo) rows.push(row("field.demo", yesNo(true)));
    } else {
      typeLabel = t("details.sensor");
      title = shortName(p.name) || p.id;
      subtitle = term("sensorkind", p.kind);
      colour = "var(--sensor)";
      rows.push(
        shortName(p.name) !== p.name ? row("field.name", p.name) : [],
        row("field.kind", term("sensorkind", p.kind)),
        row("field.unit", orNone(p.unit)),
        row("field.owner", orNone(p.owner)),
        row("field.municipality", municipalityName(p.municipality)),
        row("field.coordinates", el("span", { class: "mono", text: fmtCoords(item.lat, item.lon) })),
        row("field.id", el("span", { class: "mono", text: p.id }))
      );
      if (p.demo) rows.push(row("field.demo", yesNo(true)));
    }

    const head = el(
      "header",
      { class: "panel-head" },
      el("span", { class: "type-bar", style: "background:" + colour }),
      el(
        "div",
        { class: "panel-titles" },
        el("div", { class: "panel-kicker", text: typeLabel }),
        el("h2", { id: "details-title", text: title }),
        el("div", { class: "panel-sub", text: subtitle })
      ),
      el("button", { type: "button", class: "icon-btn", title: t("details.close"), "aria-label": t("details.close"), onclick: clearSelection }, "×")
    );
    const body = el("div", { class: "panel-body" }, el("dl", { class: "fields" }, rows.flat()), extra);
    const foot = el(
      "div",
      { class: "panel-actions" },
      el("button", { type: "button", class: "btn btn-small", text: t("details.show_on_map"), onclick: () => reveal(sel) })
    );
    panel.replaceChildren(head, body, foot);
  }

  function coveringSection(siteId) {
    const c = state.covering.get(siteId);
    const sec = el("section", { class: "covering" }, el("h3", { text: t("details.covering") }));
    if (!c || c.state === "loading") sec.appendChild(el("p", { class: "muted" }, el("span", { class: "spinner small" }), " ", t("seeing.searching")));
    else if (c.state === "error") sec.appendChild(el("p", { class: "form-error", text: c.error }));
    else if (!c.items.length) sec.appendChild(el("p", { class: "empty", text: t("details.covering_none") }));
    else {
      const list = el("ol", { class: "item-list" });
      for (const it of c.items) list.appendChild(cameraItem(it, "covering-item"));
      sec.appendChild(list);
    }
    return sec;
  }

  function reveal(sel) {
    const item = state.byId[sel.kind] && state.byId[sel.kind].get(sel.id);
    if (!item || !state.map) return;
    if (item.ring) {
      const b = bbox(item.ring);
      const nw = window.PolisMap.fromWorld(b.x0, b.y0);
      const se = window.PolisMap.fromWorld(b.x1, b.y1);
      state.map.fitBounds(se.lat, nw.lon, nw.lat, se.lon, 120);
      return;
    }
    const pos = item.centre || item;
    state.map.animateTo(pos.lat, pos.lon, Math.max(state.map.getZoom(), 17));
  }

  // -----------------------------------------------------------------------------------------
  // Legend

  function renderLegend() {
    const sectors = $("legend-sectors");
    sectors.replaceChildren(
      ...SECTORS.map((s) =>
        el("li", null, el("span", { class: "key key-diamond", style: "background:" + SECTOR_COLOURS[s] }), term("sector", s))
      )
    );
    const statuses = $("legend-status");
    statuses.replaceChildren(
      ...STATUSES.map((s) =>
        el(
          "li",
          { class: s === "decommissioned" ? "wide" : null },
          el("span", { class: "key key-dot status-" + s, style: "--c:" + STATUS_COLOURS[s] }),
          term("status", s)
        )
      )
    );
    $("legend-kinds").replaceChildren(
      ...CAMERA_KINDS.map((k) => el("li", { title: term("camkind", k) }, kindIcon(k), t("camkind_short." + k)))
    );
  }

  function kindIcon(kind) {
    const s = svg("svg", { class: "key-icon", viewBox: "-13 -13 26 26", width: 18, height: 18, "aria-hidden": "true" });
    const g = svg("g", { class: "camera-icon kind-" + kind }, s);
    if (kind === "ptz") svg("circle", { class: "ptz-ring", r: 9 }, g);
    else svg("path", { class: "heading", d: "M-3.6,-4.8L0,-12.5L3.6,-4.8Z" }, g);
    svg("circle", { class: "body", r: 5.5 }, g);
    if (kind === "anpr") svg("rect", { class: "glyph", x: -2.8, y: -1.4, width: 5.6, height: 2.8 }, g);
    if (kind === "thermal") svg("circle", { class: "glyph", r: 2 }, g);
    return s;
  }

  // -----------------------------------------------------------------------------------------
  // Language

  function onLanguageChange() {
    renderLegend();
    renderUser();
    renderSummary();
    renderDetails();
    renderSeeing();
    if (state.g) updateTitles();
    if (!$("login-view").hidden) {
      $("login-submit").textContent = t("login.submit");
      if (state.loginError && state.loginError.key) setLoginError(state.loginError.key, null);
    }
  }

  // -----------------------------------------------------------------------------------------
  // Start

  function init() {
    I.apply(document);
    renderLegend();
    I.onChange(onLanguageChange);

    document.addEventListener("click", (e) => {
      const b = e.target instanceof Element ? e.target.closest(".lang-btn") : null;
      if (b) I.setLanguage(b.dataset.lang);
    });
    $("login-form").addEventListener("submit", onLoginSubmit);
    $("logout").addEventListener("click", logout);
    $("toast-close").addEventListener("click", () => ($("toast").hidden = true));
    document.querySelectorAll("#legend input[data-layer]").forEach((cb) => {
      cb.addEventListener("change", () => {
        state.layers[cb.dataset.layer] = cb.checked;
        applyLayerVisibility();
      });
    });
    document.addEventListener("keydown", (e) => {
      if (e.key !== "Escape" || $("app-view").hidden) return;
      if (state.selection) clearSelection();
      else if (state.seeing) clearSeeing();
    });

    let token = null;
    let user = null;
    try {
      token = sessionStorage.getItem(TOKEN_KEY);
      user = JSON.parse(sessionStorage.getItem(USER_KEY) || "null");
    } catch (_) {
      token = null;
    }
    if (token) {
      state.token = token;
      state.user = user;
      startSession();
    } else {
      showLogin(null);
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
