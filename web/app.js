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
    alarms: new Map(), // open alarms by id
    alarmEls: new Map(), // their queue elements
    alarmsLoaded: false,
    alarmLoadSeq: 0,
    alarmTouched: null, // alarms from the stream while the list loads
    alarmFrame: 0,
    selectedAlarm: null,
    alarmClearing: false,
    rules: new Map(), // rule id -> condition type
    live: null, // the event stream connection
    connLostAt: null, // when the server was last found unreachable (until caught up again)
    liveSince: 0,
    muted: false,
    audio: null,
    chart: null, // {sensor, state, series: [{quantity, points: [{t, v}]}], unit, from, to, step}
    chartSeq: 0,
    chartFrame: 0,
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
      connectionLost();
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
  /** A name in the console's language: of a registry item's properties (`name` in the
   *  municipality's language, `name_en` in English), or of a text "BG / EN". */
  function shortName(name) {
    if (name && typeof name === "object") {
      const p = name;
      if (p.name_en && I.lang === "en") return p.name_en;
      return p.name ? shortName(String(p.name)) : p.name_en || "";
    }
    if (!name) return "";
    const parts = name.split(" / ");
    if (parts.length !== 2) return name;
    const cyr = parts.map((x) => CYRILLIC.test(x));
    if (cyr[0] === cyr[1]) return name;
    const bgPart = cyr[0] ? parts[0] : parts[1];
    const enPart = cyr[0] ? parts[1] : parts[0];
    return (I.lang === "bg" ? bgPart : enPart).trim() || name;
  }

  /** The item's name in the other language, when it has one that differs (for its panel). */
  function otherName(p) {
    const shown = shortName(p);
    if (p.name_en && p.name_en !== p.name) return shown === p.name_en ? p.name : p.name_en;
    return shown !== p.name ? p.name : "";
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
      else if (ex.status === 403) setLoginError("login.disabled", null);
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
    stopLive();
    state.alarms = new Map();
    state.alarmsLoaded = false;
    state.alarmLoadSeq++;
    state.selectedAlarm = null;
    state.rules = new Map();
    state.chart = null;
    renderAlarmQueue();
    renderAlarmBadge();
    Inc.reset();
    Planner.reset();
    Video.reset();
    Admin.reset();
    CamEdit.reset();
    Warn.reset();
    Draw.reset();
    Setup.reset();
    Search.reset();
    Units.reset();
    $("open-planner").hidden = true;
    if (state.map) state.map.destroy();
    state.map = null;
    state.g = null;
    state.camLayer = null;
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
      // An agency user sees no registry and no alarms, only the incidents shared with it.
      const agency = state.user.role === "agency";
      $("alarm-queue").hidden = agency;
      const [sites, cameras, sensors] = await Promise.allSettled(
        agency ? [null, null, null] : [api("GET", "/api/v1/sites"), api("GET", "/api/v1/cameras"), api("GET", "/api/v1/sensors")]
      );
      if (session !== state.session) return;
      for (const r of [sites, cameras, sensors]) if (r.status === "rejected") showToast(r.reason);
      setData(
        sites.status === "fulfilled" ? sites.value : null,
        cameras.status === "fulfilled" ? cameras.value : null,
        sensors.status === "fulfilled" ? sensors.value : null
      );
      loadMunicipalities(session);
      loadRules(session);
      startLive(session);
      Inc.start(session);
      $("open-planner").hidden = !Planner.canPlan();
      Video.start(session);
      Admin.start(session);
      Warn.start(session);
      Setup.start(session);
      Search.start(session);
      Units.start(session);
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

  /** What is known now of each camera's stream (its session's health, else its last regular
   *  check), shown on its marker: `data-live` on the marker and a line in its title. */
  async function loadCameraLive(session) {
    if (!state.user || state.user.role === "agency" || !state.cameras.length) return;
    let r;
    try {
      r = await api("GET", "/api/v1/cameras/health");
    } catch (_) {
      return; // Shown again at the next round.
    }
    if (session !== state.session) return;
    for (const it of (r && r.items) || []) {
      const c = state.byId.camera.get(it.id);
      if (!c) continue;
      c.live = it;
    }
    updateTitles();
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
    updateSensorStates();
    state.map.render();
    Setup.onRegistry();
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
    const heading = +p.heading_deg || 0;
    // The view cone's ring is made by camlayer.js when it is first drawn.
    return { id: p.id, p, lat: pt.lat, lon: pt.lon, world: toWorld(pt.lat, pt.lon), cone: null, full, heading };
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
      incidents: map.layer("incidents"),
      plan: map.layer("plan"),
      camedit: map.layer("camedit"),
      click: map.layer("click"),
    };
    // Cameras and their cones: drawn on the map's canvas, clustered at low zoom (camlayer.js).
    state.camLayer = window.PolisCameraLayer.create(map, {
      colour: (c) => statusColour(c.p),
      title: cameraTitle,
      destination,
      toWorld,
    });
    map.on("render", drawOverlay);
    // While an editor draws or picks a point (draw.js, units.js), or cameras are edited on the
    // map (administrators), clicks are theirs.
    map.on("click", (e) => Draw.mapClick(e.lat, e.lon) || Units.mapClick(e.lat, e.lon) || CamEdit.mapClick(e.lat, e.lon) || Planner.mapClick(e.lat, e.lon) || seeAt(e.lat, e.lon));
    map.on("featureclick", (e) => CamEdit.featureClick(e.kind, e.id) || Planner.featureClick(e.kind, e.id) || select(e.kind, e.id));
    CamEdit.onMap(map);
    applyLayerVisibility();

    window.polisMap = {
      /** Does what a click on the map at (lat, lon) does. */
      clickLatLon: (lat, lon) => Draw.mapClick(lat, lon) || Units.mapClick(lat, lon) || CamEdit.mapClick(lat, lon) || Planner.mapClick(lat, lon) || seeAt(lat, lon),
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
    if (state.camLayer) state.camLayer.setVisible(L.cameras, L.cones);
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

    state.camLayer.setCameras(state.cameras);

    for (const s of state.sensors) {
      const m = svg("g", { class: "sensor-marker kind-" + s.p.kind, "data-feature": "sensor", "data-id": s.id, "data-sensor-id": s.id }, g.sensors);
      svg("rect", { class: "hit", x: -10, y: -10, width: 20, height: 20 }, m);
      svg("circle", { class: "alarm-ring", r: 10 }, m);
      svg("rect", { class: "sensor-shape", x: -5, y: -5, width: 10, height: 10, rx: 2.5 }, m);
      svg("circle", { class: "glyph", r: 1.8 }, m);
      s.title = svg("title", null, m);
      s.el = m;
    }
    updateTitles();
    updateHighlights();
    // The markers are new: what is known of each camera's stream is asked again.
    loadCameraLive(state.session);
  }

  function updateTitles() {
    for (const s of state.sites) s.title.textContent = siteName(s.p) + " · " + term("category", s.p.category);
    if (state.camLayer) state.camLayer.refresh();
    for (const s of state.sensors) s.title.textContent = sensorTitle(s);
  }

  /** What the pointer's tip says of a camera on the map: name, kind, status and, when known, its
   *  live health with why it is offline and when it was checked. */
  function cameraTitle(c) {
    let text = (shortName(c.p) || c.id) + " · " + term("camkind", c.p.kind) + " · " + term("status", c.p.status);
    const live = c.live;
    if (live && live.status !== "unknown") {
      text += " · " + t("live." + live.status);
      if (live.reason) text += " (" + t("live.reason." + live.reason) + ")";
      if (live.checked_at) text += " · " + t("live.checked", { when: fmtTime(timeOf(live.checked_at), true) });
    }
    return text;
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

    for (const s of state.sensors) {
      const x = sx(s.world);
      const y = sy(s.world);
      const shown = inView(x, y);
      setShown(s.el, shown);
      if (shown) s.el.setAttribute("transform", `translate(${x.toFixed(1)},${y.toFixed(1)})`);
    }

    drawSeeingMarks(map);
    Inc.draw(map);
    Planner.draw(map);
    Warn.draw(map);
    Draw.draw(map);
    CamEdit.draw(map);
    Units.draw(map);
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
    if (state.camLayer) state.camLayer.setHighlights(seeingIds, sel && sel.kind === "camera" ? sel.id : null);
    for (const s of state.sites) {
      const selected = !!sel && sel.kind === "site" && sel.id === s.id;
      s.el.classList.toggle("is-selected", selected);
      if (s.area) s.area.classList.toggle("is-selected", selected);
    }
    const alarmSource = sel && sel.kind === "alarm" && state.selectedAlarm ? state.selectedAlarm.source : null;
    for (const s of state.sensors) {
      s.el.classList.toggle("is-selected", !!sel && ((sel.kind === "sensor" && sel.id === s.id) || alarmSource === s.id));
    }
    $("map").classList.toggle("has-seeing", seeingIds.size > 0);
  }

  // -----------------------------------------------------------------------------------------
  // Which cameras see a point

  async function seeAt(lat, lon) {
    if (!state.map || (state.user && state.user.role === "agency")) return;
    const qlat = Math.round(lat * 1e7) / 1e7;
    const qlon = Math.round(lon * 1e7) / 1e7;
    const seq = ++state.seeingSeq;
    state.selection = null;
    state.seeing = { lat: qlat, lon: qlon, state: "loading", items: null };
    renderDetails();
    renderSeeing();
    renderAlarmQueue();
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
    const create = sg.state !== "loading" ? Inc.seeingSection(sg) : null;
    const creating = !!(create && create.classList.contains("is-form"));
    panel.classList.toggle("is-creating", creating);
    if (creating) body.appendChild(create);
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
    if (create && !creating) body.appendChild(create);
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
        el("span", { class: "cam-item-name", text: shortName(it) || it.id, title: it.name || it.id }),
        el("span", { class: "cam-item-meta", text: term("camkind", it.kind) + " · " + term("status", it.status) })
      ),
      el("span", { class: "cam-item-dist", text: Number.isFinite(+it.distance_m) ? fmtMetres(+it.distance_m) : "" })
    );
  }

  // -----------------------------------------------------------------------------------------
  // Selection and details

  function select(kind, id, opts) {
    if (kind === "incident") {
      const again = state.selection && state.selection.kind === "incident" && state.selection.id === id;
      state.selection = { kind, id };
      renderDetails();
      renderSeeing();
      renderAlarmQueue();
      Inc.renderList();
      updateHighlights();
      if (!again && !(opts && opts.fromModule)) Inc.select(id);
      return;
    }
    const item = state.byId[kind] && state.byId[kind].get(id);
    const fromSeeing =
      kind === "camera" && state.seeing && state.seeing.items ? state.seeing.items.find((x) => x.id === id) : null;
    if (!item && !fromSeeing) return;
    state.selection = { kind, id };
    if (kind === "sensor") loadChart(id);
    renderDetails();
    renderSeeing();
    renderAlarmQueue();
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
    renderAlarmQueue();
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
    if (sel && sel.kind === "incident") {
      Inc.renderDetails(panel, sel.id);
      return;
    }
    if (sel && sel.kind === "plan") {
      Planner.renderDetails(panel);
      return;
    }
    if (sel && sel.kind === "alarm") {
      const alarm = state.alarms.get(sel.id) || (state.selectedAlarm && state.selectedAlarm.id === sel.id ? state.selectedAlarm : null);
      if (alarm) {
        renderAlarmDetails(panel, alarm);
        return;
      }
    }
    delete panel.dataset.state;
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
    const lead = [];
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
      title = shortName(p) || p.id;
      subtitle = term("camkind", p.kind);
      colour = statusColour(p);
      const full = p.kind === "ptz" || +p.fov_deg >= 360;
      rows.push(
        otherName(p) ? row("field.name", otherName(p)) : [],
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
      title = shortName(p) || p.id;
      subtitle = term("sensorkind", p.kind);
      const st = item.alarmState || "ok";
      colour = st === "silent" ? SENSOR_COLOURS.silent : st === "alarm" ? SEVERITY_COLOURS[item.el.dataset.severity] || "var(--sensor)" : "var(--sensor)";
      rows.push(
        otherName(p) ? row("field.name", otherName(p)) : [],
        row("field.latest", el("span", { id: "sensor-latest", class: "latest-value", text: latestText(item) })),
        row("field.state", chip(term("sensorstate", st), colour)),
        row("field.kind", term("sensorkind", p.kind)),
        row("field.unit", orNone(p.unit)),
        row("field.owner", orNone(p.owner)),
        row("field.municipality", municipalityName(p.municipality)),
        row("field.coordinates", el("span", { class: "mono", text: fmtCoords(item.lat, item.lon) })),
        row("field.id", el("span", { class: "mono", text: p.id }))
      );
      if (p.demo) rows.push(row("field.demo", yesNo(true)));
      const alarms = [...state.alarms.values()].filter((a) => a.source === p.id).sort(alarmOrder);
      if (alarms.length) {
        const list = el("ol", { class: "item-list" });
        for (const a of alarms) {
          list.appendChild(
            el(
              "li",
              { class: "cam-item sensor-alarm", "data-alarm-id": a.id, tabindex: "0", role: "button", onclick: () => selectAlarm(a.id) },
              el("span", { class: "status-dot", style: "background:" + (SEVERITY_COLOURS[a.severity] || DEFAULT_COLOUR) }),
              el(
                "span",
                { class: "cam-item-main" },
                el("span", { class: "cam-item-name", text: a.message || term("severity", a.severity) }),
                el("span", { class: "cam-item-meta", text: term("severity", a.severity) + " · " + term("alarmstate", a.state) })
              )
            )
          );
        }
        extra.push(el("section", { class: "covering" }, el("h3", { text: t("alarms.title") }), list));
      }
      lead.push(
        el(
          "section",
          { class: "chart-section" },
          el("h3", { text: t("chart.title") }),
          el("div", { id: "sensor-chart", class: "sensor-chart", "data-sensor-id": p.id })
        )
      );
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
    const body = el("div", { class: "panel-body" }, lead, el("dl", { class: "fields" }, rows.flat()), extra);
    const foot = el(
      "div",
      { class: "panel-actions" },
      el("button", { type: "button", class: "btn btn-small", text: t("details.show_on_map"), onclick: () => reveal(sel) }),
      sel.kind === "camera" && Video.canWatch()
        ? el("button", { type: "button", class: "btn btn-small btn-primary camera-live", text: t("video.live_video"), onclick: () => Video.openCamera(sel.id) })
        : null
    );
    panel.replaceChildren(head, body, foot);
    if (sel.kind === "sensor") renderChart();
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
  // Alarms and the live event stream

  const SEVERITIES = ["critical", "major", "minor", "warning"];
  const SEVERITY_COLOURS = { critical: "#f85149", major: "#ff8b3d", minor: "#e3c341", warning: "#4ea1ff" };
  const SENSOR_COLOURS = { ok: "#2dd4bf", silent: "#7d8590" };
  const SILENCE_MS = 15 * 60 * 1000;
  const SILENCE_TEXT = /silen|no data|no reading|no observation|мълч|няма данни/i;
  const MUTE_KEY = "polis.alarm_muted";
  const LIVE_TYPES = "alarm,observation,registry,incident,plan,dispatch,warning,external_warning";
  const LIVE_RETRY_MAX_MS = 5000;

  const sevRank = (s) => (SEVERITIES.includes(s) ? SEVERITIES.indexOf(s) : SEVERITIES.length);
  const isOpenAlarm = (a) => a.state !== "cleared_acknowledged";
  const isActiveAlarm = (a) => a.state === "active_unacknowledged" || a.state === "active_acknowledged";
  const isUnacked = (a) => typeof a.state === "string" && a.state.endsWith("_unacknowledged");
  const timeOf = (s) => {
    const v = Date.parse(s);
    return Number.isFinite(v) ? v : 0;
  };

  function fmtTime(ms, withDate) {
    if (!ms) return t("value.none");
    const opts = { hour: "2-digit", minute: "2-digit" };
    if (withDate) Object.assign(opts, { second: "2-digit", day: "2-digit", month: "2-digit" });
    return new Intl.DateTimeFormat(I.lang === "bg" ? "bg-BG" : "en-GB", opts).format(new Date(ms));
  }

  /** Queue order: severity, then the newest first. */
  function alarmOrder(a, b) {
    return sevRank(a.severity) - sevRank(b.severity) || timeOf(b.first_seen) - timeOf(a.first_seen) || (a.id < b.id ? -1 : 1);
  }

  function sensorLabel(id) {
    const s = state.byId.sensor.get(id);
    return s ? shortName(s.p) || id : id;
  }

  /** What an alarm is about, in words: its sensor's or camera's name, "a warning from outside"
   *  for a received CAP warning, the municipality's name for a store alarm; else the id. */
  function sourceLabel(a) {
    const id = a.source;
    const item = state.byId.sensor.get(id) || state.byId.camera.get(id);
    if (item) return shortName(item.p) || id;
    if (a.rule === "cap-inbound") return t("alarm.outside_warning");
    const m = state.municipalities.get(id);
    if (m) return (I.lang === "bg" ? m.name_bg : m.name_en) || m.name_en || id;
    return id;
  }

  function fmtValue(v, unit) {
    if (v === null || v === undefined || !Number.isFinite(+v)) return t("value.none");
    const n = +v;
    const digits = Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2;
    return I.number(n, digits) + (unit ? " " + unit : "");
  }

  /** The open alarms, loaded once per connection and then kept up to date by the stream. */
  async function loadAlarms(session) {
    const seq = ++state.alarmLoadSeq;
    // Alarms that arrive on the stream while the list loads are newer than the list.
    state.alarmTouched = new Map();
    try {
      const list = await api("GET", "/api/v1/alarms?state=open");
      if (session !== state.session || seq !== state.alarmLoadSeq) return false;
      const touched = state.alarmTouched || new Map();
      const next = new Map();
      for (const a of Array.isArray(list) ? list : []) {
        if (!a || !a.id) continue;
        const newer = touched.get(a.id);
        if (newer && !isOpenAlarm(newer)) continue;
        next.set(a.id, newer ? Object.assign({}, newer, { cameras: a.cameras }) : a);
      }
      for (const [id, a] of touched) if (!next.has(id) && isOpenAlarm(a)) next.set(id, a);
      state.alarms = next;
      state.alarmTouched = null;
      state.alarmsLoaded = true;
      alarmsChanged();
      return true;
    } catch (ex) {
      if (session !== state.session || seq !== state.alarmLoadSeq) return false;
      state.alarmTouched = null;
      if (ex.status !== 403 && ex.status !== 0) showToast(ex);
      return false;
    }
  }

  /** Rule ids to their condition type (to know silence rules); optional. */
  async function loadRules(session) {
    try {
      const rules = await api("GET", "/api/v1/rules");
      if (session !== state.session) return;
      const list = Array.isArray(rules) ? rules : (rules && rules.items) || [];
      state.rules = new Map(list.filter((r) => r && r.id).map((r) => [r.id, (r.condition && r.condition.type) || ""]));
      updateSensorStates();
    } catch (_) {
      // Not every role may list rules: silence is then recognised by the alarm's message.
    }
  }

  /** A new or changed alarm (from the stream or an answer of the API). */
  function applyAlarm(a, announce) {
    if (!a || !a.id) return;
    if (state.alarmTouched) state.alarmTouched.set(a.id, a);
    const prev = state.alarms.get(a.id);
    const merged = Object.assign({}, a, { cameras: a.cameras || (prev && prev.cameras) || null });
    if (isOpenAlarm(a)) state.alarms.set(a.id, merged);
    else state.alarms.delete(a.id);
    if (state.selectedAlarm && state.selectedAlarm.id === a.id) state.selectedAlarm = merged;
    if (announce && !prev && state.alarmsLoaded && isActiveAlarm(a) && isUnacked(a)) {
      if (a.severity === "critical" || a.severity === "major") beep(a.severity);
    }
    alarmsChanged();
  }

  /** Re-renders what depends on the alarms, at most once a frame. */
  function alarmsChanged() {
    if (state.alarmFrame) return;
    state.alarmFrame = requestAnimationFrame(() => {
      state.alarmFrame = 0;
      renderAlarmQueue();
      renderAlarmBadge();
      updateSensorStates();
      if (state.selection && state.selection.kind === "alarm") renderDetails();
    });
  }

  function renderAlarmBadge() {
    const open = [...state.alarms.values()];
    const unacked = open.filter(isUnacked);
    const worst = unacked.slice().sort(alarmOrder)[0];
    const badge = $("alarm-badge");
    badge.dataset.count = String(open.length);
    if (worst) badge.dataset.severity = worst.severity;
    else delete badge.dataset.severity;
    badge.classList.toggle("has-unacked", unacked.length > 0);
    $("alarm-count").textContent = I.number(open.length);
    $("alarm-queue-count").textContent = open.length ? t("alarms.count", { n: I.number(open.length) }) : "";
  }

  /** The queue: one element per alarm, kept (not rebuilt) while the alarm changes. */
  function renderAlarmQueue() {
    const list = $("alarm-list");
    const alarms = [...state.alarms.values()].sort(alarmOrder);
    const keep = new Set(alarms.map((a) => a.id));
    for (const [id, li] of state.alarmEls) {
      if (!keep.has(id)) {
        li.remove();
        state.alarmEls.delete(id);
      }
    }
    const sel = state.selection && state.selection.kind === "alarm" ? state.selection.id : null;
    alarms.forEach((a, i) => {
      let li = state.alarmEls.get(a.id);
      if (!li) {
        li = el("li", {
          class: "alarm-item",
          "data-alarm-id": a.id,
          tabindex: "0",
          role: "button",
          onclick: () => selectAlarm(a.id),
          onkeydown: (e) => {
            if (e.key === "Enter" || e.key === " ") {
              e.preventDefault();
              selectAlarm(a.id);
            }
          },
        });
        state.alarmEls.set(a.id, li);
      }
      fillAlarmItem(li, a, a.id === sel);
      if (list.children[i] !== li) list.insertBefore(li, list.children[i] || null);
    });
    $("alarm-empty").hidden = alarms.length > 0 || !state.alarmsLoaded;
  }

  function fillAlarmItem(li, a, selected) {
    li.dataset.severity = a.severity;
    li.dataset.state = a.state;
    li.dataset.source = a.source || "";
    li.classList.toggle("is-unacked", isUnacked(a));
    li.classList.toggle("is-cleared", !isActiveAlarm(a));
    li.classList.toggle("is-selected", selected);
    const sensor = state.byId.sensor.get(a.source);
    li.replaceChildren(
      el("span", { class: "alarm-bar", "aria-hidden": "true" }),
      el(
        "span",
        { class: "alarm-main" },
        el(
          "span",
          { class: "alarm-top" },
          el("span", { class: "alarm-sev", text: term("severity", a.severity) }),
          el("span", { class: "alarm-source", text: sourceLabel(a), title: a.source }),
          el("span", { class: "alarm-time", text: fmtTime(timeOf(a.first_seen)), title: fmtTime(timeOf(a.first_seen), true) })
        ),
        el("span", { class: "alarm-msg", text: a.message || "", title: a.message || "" }),
        el(
          "span",
          { class: "alarm-meta" },
          el("span", { class: "alarm-state", text: term("alarmstate", a.state) }),
          Number.isFinite(+a.value) ? el("span", { class: "alarm-value", text: fmtValue(a.value, sensor && sensor.p.unit) }) : null,
          +a.count > 1 ? el("span", { class: "alarm-repeats", text: t("alarm.repeats", { n: a.count }) }) : null
        )
      )
    );
  }

  function selectAlarm(id) {
    const a = state.alarms.get(id);
    if (!a) return;
    state.selection = { kind: "alarm", id };
    state.selectedAlarm = a;
    state.alarmClearing = false;
    renderDetails();
    renderSeeing();
    renderAlarmQueue();
    updateHighlights();
    const sensor = state.byId.sensor.get(a.source);
    const pos = Number.isFinite(a.lat) && Number.isFinite(a.lon) ? a : sensor;
    if (pos && state.map) state.map.animateTo(pos.lat, pos.lon, Math.max(state.map.getZoom(), 16));
    refreshAlarm(id);
  }

  /** The alarm with the cameras that see its source, as this user may see them (the stream
   *  carries the cameras as they were when its event was sent). */
  async function refreshAlarm(id) {
    const session = state.session;
    try {
      const a = await api("GET", "/api/v1/alarms/" + encodeURIComponent(id));
      if (session !== state.session) return;
      if (!a.cameras) a.cameras = [];
      if (!state.alarms.has(id) && !(state.selectedAlarm && state.selectedAlarm.id === id)) return;
      applyAlarm(a, false);
    } catch (ex) {
      if (session === state.session && ex.status !== 404) showToast(ex);
    }
  }

  async function alarmAction(id, step, body) {
    const session = state.session;
    try {
      const a = await api("POST", "/api/v1/alarms/" + encodeURIComponent(id) + "/" + step, body);
      if (session !== state.session) return false;
      applyAlarm(a, false);
      return true;
    } catch (ex) {
      if (session !== state.session) return false;
      if (ex.status === 409) {
        showToast(new ApiError(409, t("alarm.conflict")));
        refreshAlarm(id);
      } else if (ex.status === 403) showToast(new ApiError(403, t("alarm.forbidden")));
      else showToast(ex);
      if (state.selection && state.selection.kind === "alarm") renderDetails();
      return false;
    }
  }

  function renderAlarmDetails(panel, a) {
    panel.hidden = false;
    panel.dataset.kind = "alarm";
    panel.dataset.id = a.id;
    panel.dataset.state = a.state;
    // Keep what the operator is typing across live updates.
    const typed = panel.querySelector(".alarm-comment-text");
    const typedReason = panel.querySelector(".alarm-clear-reason");
    const draft = typed ? typed.value : "";
    const reasonDraft = typedReason ? typedReason.value : "";
    const focused = document.activeElement && panel.contains(document.activeElement) ? document.activeElement.className : null;

    const sensor = state.byId.sensor.get(a.source);
    const unit = sensor ? sensor.p.unit : null;
    const colour = SEVERITY_COLOURS[a.severity] || DEFAULT_COLOUR;
    const readOnly = state.user && (state.user.role === "viewer" || state.user.role === "agency");
    const who = (by, at) => (by || at ? t("alarm.by", { when: fmtTime(timeOf(at), true), who: by || t("value.none") }) : null);
    const rows = [
      row("field.severity", chip(term("severity", a.severity), colour)),
      row("field.state", term("alarmstate", a.state)),
      row("field.value", el("span", { class: "alarm-detail-value", text: fmtValue(a.value, unit) })),
      row("field.first_seen", fmtTime(timeOf(a.first_seen), true)),
      row("field.last_seen", fmtTime(timeOf(a.last_seen), true)),
      row("field.count", I.number(+a.count || 1)),
      a.acknowledged_at || a.acknowledged_by ? row("field.acknowledged", who(a.acknowledged_by, a.acknowledged_at)) : [],
      a.cleared_at || a.cleared_by ? row("field.cleared", who(a.cleared_by, a.cleared_at)) : [],
      a.clear_reason ? row("field.clear_reason", a.clear_reason) : [],
      row(
        "field.source",
        sensor
          ? el("a", { href: "#", class: "mono alarm-source-link", text: a.source, onclick: (e) => (e.preventDefault(), select("sensor", a.source, { reveal: true })) })
          : el("span", { class: "mono", text: a.source || "" })
      ),
      row("field.coordinates", Number.isFinite(a.lat) && Number.isFinite(a.lon) ? el("span", { class: "mono", text: fmtCoords(a.lat, a.lon) }) : null),
    ];

    const comments = el("section", { class: "covering alarm-comments" }, el("h3", { text: t("alarm.comments") }));
    if (!(a.comments || []).length) comments.appendChild(el("p", { class: "empty muted", text: t("alarm.no_comments") }));
    else {
      const ol = el("ol", { class: "comment-list" });
      for (const c of a.comments) {
        ol.appendChild(
          el("li", { class: "comment" }, el("div", { class: "comment-meta", text: who(c.by, c.at) }), el("div", { class: "comment-text", text: c.text }))
        );
      }
      comments.appendChild(ol);
    }
    if (!readOnly) {
      const input = el("input", {
        type: "text",
        class: "text-input alarm-comment-text",
        maxlength: "2000",
        placeholder: t("alarm.comment_placeholder"),
        "aria-label": t("alarm.comment"),
      });
      input.value = draft;
      const send = async (e) => {
        e.preventDefault();
        const text = input.value.trim();
        if (!text) return;
        const ok = await alarmAction(a.id, "comment", { text });
        const now = $("details").querySelector(".alarm-comment-text");
        if (ok && now) now.value = "";
      };
      comments.appendChild(
        el("form", { class: "inline-form", onsubmit: send }, input, el("button", { type: "submit", class: "btn btn-small alarm-comment", text: t("alarm.comment") }))
      );
    }

    const cams = el("section", { class: "covering alarm-cameras" }, el("h3", { text: t("alarm.cameras") }));
    if (!a.cameras) cams.appendChild(el("p", { class: "muted" }, el("span", { class: "spinner small" }), " ", t("seeing.searching")));
    else if (!a.cameras.length) cams.appendChild(el("p", { class: "empty", text: t("alarm.no_cameras") }));
    else {
      const list = el("ol", { class: "item-list" });
      for (const c of a.cameras) {
        const known = state.byId.camera.get(c.id);
        const item = cameraItem(Object.assign({}, known ? known.p : {}, c), "alarm-camera");
        const ptz = c.ptz || (known && known.p.kind === "ptz");
        const turn = ptz && !readOnly && isActiveAlarm(a) && Inc.alarmTurnButton ? Inc.alarmTurnButton(a, c.id) : null;
        if (turn) item.appendChild(turn);
        list.appendChild(item);
      }
      cams.appendChild(list);
    }

    const extra = [];
    if (state.alarmClearing && isActiveAlarm(a) && !readOnly) {
      const reason = el("input", {
        type: "text",
        class: "text-input alarm-clear-reason",
        maxlength: "500",
        placeholder: t("alarm.clear_reason"),
        "aria-label": t("alarm.clear_reason"),
      });
      reason.value = reasonDraft;
      const error = el("div", { class: "form-error", hidden: true });
      const confirm = async (e) => {
        e.preventDefault();
        const text = reason.value.trim();
        if (!text) {
          error.textContent = t("alarm.reason_required");
          error.hidden = false;
          reason.focus();
          return;
        }
        if (await alarmAction(a.id, "clear", { reason: text })) {
          state.alarmClearing = false;
          renderDetails();
        }
      };
      extra.push(
        el(
          "form",
          { class: "clear-form", onsubmit: confirm },
          el("label", { class: "clear-prompt", text: t("alarm.clear_prompt") }),
          el("div", { class: "inline-form" }, reason, el("button", { type: "submit", class: "btn btn-small btn-danger alarm-clear-confirm", text: t("alarm.clear_confirm") })),
          error,
          el("button", {
            type: "button",
            class: "btn btn-small btn-ghost alarm-clear-cancel",
            text: t("alarm.cancel"),
            onclick: () => {
              state.alarmClearing = false;
              renderDetails();
            },
          })
        )
      );
    }

    const head = el(
      "header",
      { class: "panel-head" },
      el("span", { class: "type-bar", style: "background:" + colour }),
      el(
        "div",
        { class: "panel-titles" },
        el("div", { class: "panel-kicker", text: t("details.alarm") + " · " + term("severity", a.severity) }),
        el("h2", { id: "details-title", text: sourceLabel(a) }),
        el("div", { class: "panel-sub", text: sensor ? term("sensorkind", sensor.p.kind) : "" })
      ),
      el("button", { type: "button", class: "icon-btn", title: t("details.close"), "aria-label": t("details.close"), onclick: clearSelection }, "×")
    );
    // Eyes on the source: the nearest camera that sees it live at the top, with no click.
    const scene = isActiveAlarm(a) && a.cameras && Inc.alarmScene ? Inc.alarmScene(a) : null;
    const body = el(
      "div",
      { class: "panel-body" },
      scene,
      el("p", { class: "alarm-message", text: a.message || "" }),
      extra,
      el("dl", { class: "fields" }, rows.flat()),
      Inc.alarmSection(a),
      cams,
      comments
    );
    const foot = el(
      "div",
      { class: "panel-actions" },
      !readOnly && isUnacked(a)
        ? el("button", { type: "button", class: "btn btn-small btn-primary alarm-ack", text: t("alarm.acknowledge"), onclick: (e) => ((e.currentTarget.disabled = true), alarmAction(a.id, "ack")) })
        : null,
      // A warning may follow an alarm that has already cleared (a gauge that dipped once).
      !readOnly ? Warn.alarmButton(a) : null,
      !readOnly && isActiveAlarm(a)
        ? el("button", {
            type: "button",
            class: "btn btn-small alarm-clear",
            text: t("alarm.clear"),
            "aria-expanded": String(!!state.alarmClearing),
            onclick: () => {
              state.alarmClearing = !state.alarmClearing;
              renderDetails();
              const r = $("details").querySelector(".alarm-clear-reason");
              if (r) r.focus();
            },
          })
        : null,
      el("button", {
        type: "button",
        class: "btn btn-small",
        text: t("details.show_on_map"),
        onclick: () => {
          const pos = Number.isFinite(a.lat) && Number.isFinite(a.lon) ? a : sensor;
          if (pos && state.map) state.map.animateTo(pos.lat, pos.lon, Math.max(state.map.getZoom(), 17));
        },
      })
    );
    panel.replaceChildren(head, body, foot);
    if (focused) {
      const again = panel.querySelector("." + focused.split(" ").filter((c) => c.startsWith("alarm-"))[0]);
      if (again && again.focus) again.focus();
    }
  }

  // ---- Sound

  function loadMuted() {
    try {
      return localStorage.getItem(MUTE_KEY) === "1";
    } catch (_) {
      return false;
    }
  }

  function renderMute() {
    const b = $("alarm-mute");
    b.setAttribute("aria-pressed", String(state.muted));
    b.classList.toggle("is-muted", state.muted);
    const label = t(state.muted ? "alarms.unmute" : "alarms.mute");
    b.title = label;
    b.setAttribute("aria-label", label);
  }

  function toggleMute() {
    state.muted = !state.muted;
    try {
      localStorage.setItem(MUTE_KEY, state.muted ? "1" : "0");
    } catch (_) {
      // Not remembered.
    }
    renderMute();
    if (!state.muted) unlockAudio();
  }

  /** Browsers start audio only after a user gesture: make the context on the first one. */
  function unlockAudio() {
    if (state.muted) return;
    try {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) return;
      if (!state.audio) state.audio = new Ctx();
      if (state.audio.state === "suspended") state.audio.resume();
    } catch (_) {
      // No audio.
    }
  }

  /** A short tone pattern: three high beeps for critical, two lower ones for major. */
  function beep(severity) {
    if (state.muted) return;
    unlockAudio();
    const ctx = state.audio;
    if (!ctx) return;
    try {
      const tones = severity === "critical" ? [988, 740, 988] : [660, 523];
      let at = ctx.currentTime + 0.02;
      for (const f of tones) {
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        osc.type = "triangle";
        osc.frequency.value = f;
        gain.gain.setValueAtTime(0.0001, at);
        gain.gain.exponentialRampToValueAtTime(0.25, at + 0.015);
        gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.16);
        osc.connect(gain).connect(ctx.destination);
        osc.start(at);
        osc.stop(at + 0.18);
        at += 0.2;
      }
    } catch (_) {
      // No audio.
    }
  }

  // ---- The stream: an EventSource opened with a one-time ticket (POST /events/ticket), as an
  // EventSource cannot send the token; every reconnect takes a new ticket and resumes after the
  // last event id received.

  function startLive(session) {
    stopLive();
    const live = { session, source: null, lastId: null, retries: 0, timer: 0, stopped: false };
    state.live = live;
    state.liveSince = Date.now();
    connectLive(live);
  }

  function stopLive() {
    const live = state.live;
    state.live = null;
    if (live) {
      live.stopped = true;
      clearTimeout(live.timer);
      clearTimeout(live.watchdog);
      if (live.source) live.source.close();
    }
    setLiveStatus(false);
    setConnLost(false);
  }

  // ---- Losing the server: a banner across the screen, and what is shown marked out of date
  // from the moment the event stream or a request fails until the stream is back and the
  // alarm list has been loaded again (missed events come with the resumed stream).

  function setConnLost(lost) {
    if (lost && !state.connLostAt) state.connLostAt = Date.now();
    if (!lost) state.connLostAt = null;
    renderConnBanner();
  }

  function renderConnBanner() {
    const lost = !!state.connLostAt && !!state.token;
    const banner = $("conn-banner");
    banner.hidden = !lost;
    banner.textContent = lost ? t("conn.lost", { since: fmtTime(state.connLostAt) }) : "";
    $("app-view").classList.toggle("stale", lost);
    document.querySelector(".workspace").dataset.stale = lost ? t("conn.stale") : "";
  }

  /** A request could not reach the server: say so, and have the stream reconnect and catch up. */
  function connectionLost() {
    if (!state.token) return;
    setConnLost(true);
    const live = state.live;
    if (live && live.source && $("live-state").dataset.live === "on") {
      live.source.close();
      live.source = null;
      retryLive(live);
    }
  }

  /** The stream is back: load the alarms afresh, then clear the banner if nothing failed meanwhile. */
  async function catchUp(live) {
    const ok = await loadAlarms(live.session);
    if (ok && state.live === live && $("live-state").dataset.live === "on") setConnLost(false);
  }

  function setLiveStatus(on) {
    const e = $("live-state");
    e.dataset.live = on ? "on" : "off";
    e.textContent = state.live || on ? t(on ? "alarms.live_on" : "alarms.live_off") : "";
    e.title = t(on ? "alarms.live_title_on" : "alarms.live_title_off");
  }

  async function connectLive(live) {
    if (live.stopped || live.session !== state.session || !state.token) return;
    let ticket;
    try {
      // A 401 here ends the session (in api()).
      ticket = (await api("POST", "/api/v1/events/ticket")).ticket;
    } catch (e) {
      if (e.status !== 401) retryLive(live);
      return;
    }
    if (live.stopped || live.session !== state.session) return;
    const params = { types: LIVE_TYPES, ticket };
    if (live.lastId !== null) params.after = live.lastId;
    const source = new EventSource("/api/v1/events?" + query(params));
    live.source = source;
    const resumed = live.lastId !== null;
    source.onopen = () => {
      if (live.stopped || live.source !== source) return;
      setLiveStatus(true);
      // Connected without a resume point: (re)load the list now, so nothing falls in between;
      // back after a loss: load the alarms afresh, then clear the banner.
      if (state.connLostAt) catchUp(live);
      else if (!resumed) loadAlarms(live.session);
    };
    // The ticket worked once: the browser's own reconnect would be refused, so reconnect here.
    source.onerror = () => {
      source.close();
      if (live.stopped || live.source !== source) return;
      live.source = null;
      retryLive(live);
    };
    const onEvent = (msg) => {
      if (live.stopped || live.source !== source) return;
      if (msg.lastEventId) live.lastId = msg.lastEventId;
      live.retries = 0;
      let ev = null;
      try {
        ev = JSON.parse(msg.data);
      } catch (_) {
        ev = null;
      }
      if (ev) onLiveEvent(ev);
    };
    for (const type of LIVE_TYPES.split(",").concat(["gap"])) source.addEventListener(type, onEvent);
  }

  function retryLive(live) {
    clearTimeout(live.watchdog);
    if (live.stopped || live.session !== state.session) return;
    setLiveStatus(false);
    setConnLost(true);
    if (!state.alarmsLoaded) loadAlarms(live.session);
    const delay = Math.min(LIVE_RETRY_MAX_MS, 1000 * Math.pow(2, live.retries)) * (0.75 + Math.random() * 0.5);
    live.retries++;
    clearTimeout(live.timer);
    live.timer = setTimeout(() => connectLive(live), delay);
  }

  function onLiveEvent(ev) {
    if (!state.live) return;
    if (ev.type === "alarm") {
      applyAlarm(ev.data, true);
      // A camera found dead (or back): its marker says so at once.
      if (ev.data && ev.data.rule === "camera-offline") loadCameraLive(state.session);
    }
    else if (ev.type === "observation") onObservation(ev.data);
    else if (ev.type === "incident") Inc.onEvent(ev.data);
    else if (ev.type === "dispatch") Inc.onDispatch(ev.data);
    else if (ev.type === "plan") Planner.onEvent(ev.data);
    else if (ev.type === "gap") {
      // Events were missed: reload the alarms (and, after a loss, clear the banner once done).
      if (state.connLostAt) catchUp(state.live);
      else loadAlarms(state.session);
      Inc.gap();
    }
    else if (ev.type === "registry") onRegistryChange(ev.data || {});
    else if (ev.type === "warning" || ev.type === "external_warning") Warn.onEvent(ev.type, ev.data);
  }

  /** Sites, cameras or sensors changed elsewhere: reload them (at most every two seconds); a
   *  changed rule: reload the rules. */
  function onRegistryChange(d) {
    const entity = String(d.entity || "").replace(/s$/, "");
    if (entity === "rule") {
      clearTimeout(state.rulesTimer);
      state.rulesTimer = setTimeout(() => loadRules(state.session), 1000);
      return;
    }
    if (!["site", "camera", "sensor"].includes(entity)) return;
    clearTimeout(state.registryTimer);
    state.registryTimer = setTimeout(() => reloadRegistry(state.session), 2000);
  }

  async function reloadRegistry(session) {
    try {
      const [sites, cameras, sensors] = await Promise.all([
        api("GET", "/api/v1/sites"),
        api("GET", "/api/v1/cameras"),
        api("GET", "/api/v1/sensors"),
      ]);
      if (session !== state.session || !state.map) return;
      const live = new Map(state.sensors.map((s) => [s.id, { latest: s.latest, seenAt: s.seenAt }]));
      setData(sites, cameras, sensors);
      for (const s of state.sensors) Object.assign(s, live.get(s.id) || {});
      updateTitles();
      renderDetails();
      // Alarms drawn before their source was known are labelled by its name now.
      renderAlarmQueue();
      Video.onRegistry();
    } catch (_) {
      // The next change tries again.
    }
  }

  // -----------------------------------------------------------------------------------------
  // Sensors: live values, state colours and the chart

  function onObservation(o) {
    if (!o || !o.sensor) return;
    const s = state.byId.sensor.get(o.sensor);
    if (!s || !Number.isFinite(+o.value)) return;
    const at = timeOf(o.time) || Date.now();
    const q = o.quantity || "value";
    s.latest = s.latest || {};
    if (!s.latest[q] || s.latest[q].at <= at) s.latest[q] = { value: +o.value, at };
    const wasQuiet = s.seenAt === undefined;
    s.seenAt = Date.now();
    if (s.title) s.title.textContent = sensorTitle(s);
    if (wasQuiet && s.el && s.el.dataset.state === "silent") updateSensorStates();
    const sel = state.selection;
    if (sel && sel.kind === "sensor" && sel.id === s.id) {
      const latest = document.getElementById("sensor-latest");
      if (latest) latest.textContent = latestText(s);
      chartAdd(s, o.quantity, at, +o.value);
    }
  }

  function quantityName(q) {
    return q && q !== "value" ? term("quantity", q) : "";
  }

  function latestText(s) {
    const entries = Object.entries(s.latest || {});
    if (!entries.length) return t("value.none");
    entries.sort((a, b) => (a[0] < b[0] ? 1 : -1));
    const values = entries.map(([q, v]) => [quantityName(q), fmtValue(v.value, s.p.unit)].filter(Boolean).join(" "));
    const at = Math.max(...entries.map(([, v]) => v.at));
    return values.join(" · ") + " (" + fmtTime(at) + ")";
  }

  function sensorTitle(s) {
    const parts = [shortName(s.p) || s.id, term("sensorkind", s.p.kind)];
    if (s.latest && Object.keys(s.latest).length) parts.push(latestText(s));
    if (s.alarmState && s.alarmState !== "ok") parts.push(term("sensorstate", s.alarmState === "alarm" ? "alarm" : s.alarmState));
    return parts.join(" · ");
  }

  /** Colours the sensor markers: by the worst active alarm, grey when silent, else teal. */
  function updateSensorStates() {
    const bySource = new Map();
    for (const a of state.alarms.values()) {
      if (!bySource.has(a.source)) bySource.set(a.source, []);
      bySource.get(a.source).push(a);
    }
    const now = Date.now();
    for (const s of state.sensors) {
      let silent = false;
      let worst = null;
      let unacked = false;
      for (const a of bySource.get(s.id) || []) {
        const quiet = now - (s.seenAt || state.liveSince || now) >= SILENCE_MS;
        if (SILENCE_TEXT.test(a.message || "") || (state.rules.get(a.rule) === "silence" && quiet)) silent = true;
        else if (isActiveAlarm(a) && (!worst || sevRank(a.severity) < sevRank(worst))) worst = a.severity;
        if (isUnacked(a)) unacked = true;
      }
      const st = silent ? "silent" : worst ? "alarm" : "ok";
      s.alarmState = st;
      if (!s.el) continue;
      s.el.dataset.state = st;
      if (st === "alarm") s.el.dataset.severity = worst;
      else delete s.el.dataset.severity;
      s.el.classList.toggle("is-unacked", unacked && st !== "ok");
      if (s.title) s.title.textContent = sensorTitle(s);
      if (st !== "ok" && state.g) state.g.sensors.appendChild(s.el);
    }
  }

  const CHART = { w: 330, h: 176, left: 46, right: 12, top: 22, bottom: 30 };
  const SERIES_COLOURS = ["#2dd4bf", "#d2a8ff", "#ffd33d"];

  async function loadChart(sensorId) {
    const s = state.byId.sensor.get(sensorId);
    if (!s) return;
    const session = state.session;
    const seq = ++state.chartSeq;
    const to = Date.now() + 60000;
    const from = to - 6 * 3600 * 1000 - 60000;
    state.chart = { sensor: sensorId, state: "loading", series: [], unit: s.p.unit, from, to, step: "raw" };
    renderChart();
    const fetchSeries = async (quantity) => {
      const params = { from: new Date(from).toISOString(), to: new Date(to).toISOString(), step: "raw" };
      if (quantity) params.quantity = quantity;
      const path = "/api/v1/sensors/" + encodeURIComponent(sensorId) + "/observations?";
      let r = await api("GET", path + query(params));
      if ((r.points || []).length >= 500) r = await api("GET", path + query(Object.assign(params, { step: "1m" })));
      const points = (r.points || [])
        .map((p) => ({ t: timeOf(p.time), v: p.value !== undefined ? p.value : p.avg }))
        .filter((p) => p.t && Number.isFinite(p.v))
        .sort((a, b) => a.t - b.t);
      return { quantity: quantity || null, step: r.step, unit: r.unit, points };
    };
    try {
      let series;
      if (s.p.kind === "air_quality") {
        series = await Promise.all(["pm25", "pm10"].map(fetchSeries));
        if (series.every((x) => !x.points.length)) series = [await fetchSeries(null)];
      } else {
        series = [await fetchSeries(null)];
      }
      if (seq !== state.chartSeq || session !== state.session) return;
      state.chart.state = "done";
      state.chart.series = series;
      state.chart.step = series.some((x) => x.step !== "raw") ? "1m" : "raw";
      if (!state.chart.unit) state.chart.unit = (series.find((x) => x.unit) || {}).unit || "";
      // The newest reading, when the stream has not brought one yet.
      s.latest = s.latest || {};
      for (const x of series) {
        const last = x.points[x.points.length - 1];
        const q = x.quantity || "value";
        if (last && (!s.latest[q] || s.latest[q].at < last.t)) s.latest[q] = { value: last.v, at: last.t };
      }
      const latest = document.getElementById("sensor-latest");
      if (latest) latest.textContent = latestText(s);
      if (s.title) s.title.textContent = sensorTitle(s);
    } catch (ex) {
      if (seq !== state.chartSeq || session !== state.session) return;
      state.chart.state = "error";
      state.chart.error = ex.message;
    }
    renderChart();
  }

  /** A live reading of the charted sensor. */
  function chartAdd(s, quantity, at, value) {
    const c = state.chart;
    if (!c || c.sensor !== s.id || c.state !== "done") return;
    let series = c.series.find((x) => x.quantity === (quantity || null));
    if (!series && c.series.length === 1 && !c.series[0].quantity) series = c.series[0];
    if (!series) {
      if (!quantity) return;
      series = { quantity, step: "raw", points: [] };
      c.series.push(series);
    }
    const pts = series.points;
    const bucket = c.step === "raw" ? 0 : 60000;
    const last = pts[pts.length - 1];
    if (bucket && last && Math.floor(last.t / bucket) === Math.floor(at / bucket)) last.v = value;
    else if (!last || last.t <= at) pts.push({ t: at, v: value });
    else return;
    c.to = Math.max(c.to, at + 60000);
    c.from = c.to - 6 * 3600 * 1000 - 60000;
    for (const x of c.series) while (x.points.length && x.points[0].t < c.from) x.points.shift();
    if (!state.chartFrame) {
      state.chartFrame = requestAnimationFrame(() => {
        state.chartFrame = 0;
        renderChart();
      });
    }
  }

  function niceTicks(lo, hi, count) {
    if (!(hi > lo)) {
      const pad = Math.abs(lo) * 0.1 || 1;
      lo -= pad;
      hi += pad;
    }
    const raw = (hi - lo) / count;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) || 10 * p;
    const a = Math.floor(lo / step) * step;
    const b = Math.ceil(hi / step) * step;
    const ticks = [];
    for (let v = a; v <= b + step / 2; v += step) ticks.push(Math.abs(v) < step / 1e6 ? 0 : v);
    return { lo: a, hi: b, step, ticks };
  }

  /** The chart of the selected sensor, an SVG drawn by hand, into #sensor-chart. */
  function renderChart() {
    const box = document.getElementById("sensor-chart");
    const c = state.chart;
    if (!box || !c || box.dataset.sensorId !== c.sensor) return;
    box.dataset.state = c.state;
    if (c.state === "loading") {
      box.replaceChildren(el("p", { class: "muted" }, el("span", { class: "spinner small" }), " ", t("chart.loading")));
      return;
    }
    if (c.state === "error") {
      box.replaceChildren(el("p", { class: "form-error", text: c.error || t("app.error") }));
      return;
    }
    const all = c.series.flatMap((x) => x.points);
    box.dataset.points = String(all.length);
    if (!all.length) {
      box.replaceChildren(el("p", { class: "empty", text: t("chart.empty") }));
      return;
    }
    const { w, h, left, right, top, bottom } = CHART;
    const pw = w - left - right;
    const ph = h - top - bottom;
    let lo = Infinity;
    let hi = -Infinity;
    for (const p of all) {
      if (p.v < lo) lo = p.v;
      if (p.v > hi) hi = p.v;
    }
    const y = niceTicks(lo, hi, 4);
    const X = (tm) => left + ((tm - c.from) / (c.to - c.from)) * pw;
    const Y = (v) => top + ph - ((v - y.lo) / (y.hi - y.lo)) * ph;
    const root = svg("svg", {
      class: "chart",
      viewBox: `0 0 ${w} ${h}`,
      width: "100%",
      role: "img",
      "aria-label": t("chart.label"),
      "data-points": String(all.length),
    });
    const grid = svg("g", { class: "chart-grid" }, root);
    const decimals = Math.max(0, -Math.floor(Math.log10(y.step) + 1e-9));
    for (const v of y.ticks) {
      const yy = Y(v).toFixed(1);
      svg("line", { x1: left, x2: w - right, y1: yy, y2: yy }, grid);
      const label = svg("text", { class: "chart-tick", x: left - 5, y: yy, "text-anchor": "end", "dominant-baseline": "middle" }, root);
      label.textContent = I.number(v, decimals);
    }
    const hour = 3600 * 1000;
    for (let tm = Math.ceil(c.from / hour) * hour; tm <= c.to; tm += hour) {
      const xx = X(tm).toFixed(1);
      svg("line", { x1: xx, x2: xx, y1: top, y2: top + ph }, grid);
      const label = svg("text", { class: "chart-tick", x: xx, y: h - bottom + 14, "text-anchor": "middle" }, root);
      label.textContent = fmtTime(tm);
    }
    svg("path", { class: "chart-axis", d: `M${left},${top}V${top + ph}H${w - right}` }, root);
    const unit = svg("text", { class: "chart-unit", x: left - 5, y: top - 9, "text-anchor": "end" }, root);
    unit.textContent = c.unit || "";
    const axisTime = svg("text", { class: "chart-unit", x: w - right, y: h - 2, "text-anchor": "end" }, root);
    axisTime.textContent = t("chart.time") + (c.step !== "raw" ? " · " + t("chart.minute") : "");

    c.series.forEach((x, i) => {
      if (!x.points.length) return;
      const colour = SERIES_COLOURS[i % SERIES_COLOURS.length];
      const g = svg("g", { class: "chart-series", "data-quantity": x.quantity || "value" }, root);
      let d = "";
      let prev = null;
      for (const p of x.points) {
        // A break in the line where readings are missing for over 15 minutes.
        d += (prev && p.t - prev.t <= 15 * 60000 ? "L" : "M") + X(p.t).toFixed(1) + "," + Y(p.v).toFixed(1);
        prev = p;
      }
      svg("path", { class: "chart-line", d, stroke: colour }, g);
      const last = x.points[x.points.length - 1];
      svg("circle", { class: "chart-point", cx: X(last.t).toFixed(1), cy: Y(last.v).toFixed(1), r: 3, fill: colour }, g);
      if (x.points.length < 60) {
        for (const p of x.points.slice(0, -1)) svg("circle", { class: "chart-dot", cx: X(p.t).toFixed(1), cy: Y(p.v).toFixed(1), r: 1.6, fill: colour }, g);
      }
      if (c.series.length > 1 || x.quantity) {
        const lx = left + 8 + i * 70;
        svg("line", { class: "chart-key", x1: lx, x2: lx + 12, y1: top - 12, y2: top - 12, stroke: colour }, root);
        const name = svg("text", { class: "chart-tick", x: lx + 16, y: top - 12, "dominant-baseline": "middle" }, root);
        name.textContent = quantityName(x.quantity);
      }
    });
    box.replaceChildren(root);
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
    const sensorKey = (st, colour) => el("li", null, el("span", { class: "key key-sensor", style: "background:" + colour }), term("sensorstate", st));
    $("legend-sensors").replaceChildren(
      sensorKey("ok", SENSOR_COLOURS.ok),
      sensorKey("alarm", SEVERITY_COLOURS.critical),
      sensorKey("warning", SEVERITY_COLOURS.minor),
      sensorKey("silent", SENSOR_COLOURS.silent)
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
    renderAlarmQueue();
    renderAlarmBadge();
    Inc.renderList();
    Video.onLanguage();
    renderMute();
    setLiveStatus($("live-state").dataset.live === "on");
    renderConnBanner();
    if (state.g) updateTitles();
    if (!$("login-view").hidden) {
      $("login-submit").textContent = t("login.submit");
      if (state.loginError && state.loginError.key) setLoginError(state.loginError.key, null);
    }
  }

  // -----------------------------------------------------------------------------------------
  // Start

  /** The feature modules: incidents (incidents.js), the planner (planner.js) and video
   *  (video.js). They work through one bridge of app.js's helpers; video.js adds `livePlayer`. */
  const Inc = window.PolisIncidents;
  const Planner = window.PolisPlanner;
  const Warn = window.PolisWarnings;
  const Video = window.PolisVideo;
  const Admin = window.PolisAdmin;
  const Draw = window.PolisDraw;
  const Setup = window.PolisSetup;
  const Search = window.PolisSearch;
  const CamEdit = window.PolisCameraEdit;
  const Units = window.PolisUnits;

  function bridge() {
    return {
      api,
      ApiError,
      query,
      el,
      state,
      showToast,
      row,
      chip,
      fmtTime,
      fmtCoords,
      fmtMetres,
      shortName,
      statusColour,
      /** The camera drawn on the map at the page's point (clientX, clientY), or null. */
      cameraAt: (clientX, clientY) => {
        if (!state.map || !state.camLayer) return null;
        const r = $("map").getBoundingClientRect();
        const hit = state.map.canvasFeatureAt(clientX - r.left, clientY - r.top);
        return hit && hit.kind === "camera" ? hit.id : null;
      },
      cameraItem,
      select,
      clearSelection,
      renderDetails,
      requestRender: () => state.map && state.map.requestRender(),
      rerender: () => (renderDetails(), renderSeeing()),
      selectIncident: (id) => select("incident", id, { fromModule: true }),
      reloadMunicipalities: () => loadMunicipalities(state.session),
    };
  }

  function init() {
    const B = bridge();
    Inc.attach(B);
    Planner.attach(B);
    Video.attach(B);
    Admin.attach(B);
    CamEdit.attach(B);
    Warn.attach(B);
    Draw.attach(B);
    Setup.attach(B);
    Search.attach(B);
    Units.attach(B);
    $("open-planner").addEventListener("click", () => {
      state.selection = { kind: "plan", id: "plan" };
      renderDetails();
      renderSeeing();
      if (state.map) state.map.requestRender();
    });
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
    state.muted = loadMuted();
    renderMute();
    $("alarm-mute").addEventListener("click", toggleMute);
    $("alarm-badge").addEventListener("click", () => {
      const first = $("alarm-list").querySelector(".alarm-item");
      if (first) first.focus();
    });
    document.addEventListener("pointerdown", unlockAudio, { passive: true });
    document.addEventListener("keydown", unlockAudio);
    // Silence is a matter of time: look again every half minute.
    setInterval(() => {
      if (state.token) loadCameraLive(state.session);
      if (state.sensors.length) updateSensorStates();
    }, 30000);
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
