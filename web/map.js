// Polis console: a small slippy-map engine. Web Mercator, XYZ raster tiles when a tile URL is
// configured, a graticule when not (air-gapped), and an SVG overlay whose layers the console
// draws. No dependencies.
//
// Coordinates: "world" coordinates are Web Mercator normalised to [0, 1] on both axes
// (x east, y south); screen pixels are relative to the map container's top-left corner.
"use strict";

(function () {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const TILE_SIZE = 256;
  const MAX_LAT = 85.0511287798;
  const EARTH_RADIUS_M = 6371008.8;
  const EQUATOR_M = 40075016.686;
  const DRAG_THRESHOLD_PX = 5;

  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  const toRad = (d) => (d * Math.PI) / 180;
  const toDeg = (r) => (r * 180) / Math.PI;

  /** Longitude/latitude in degrees to normalised Web Mercator. */
  function toWorld(lat, lon) {
    const phi = toRad(clamp(lat, -MAX_LAT, MAX_LAT));
    return {
      x: (lon + 180) / 360,
      y: (1 - Math.log(Math.tan(phi) + 1 / Math.cos(phi)) / Math.PI) / 2,
    };
  }

  /** Normalised Web Mercator to latitude/longitude in degrees. */
  function fromWorld(x, y) {
    const lon = x * 360 - 180;
    const lat = toDeg(Math.atan(Math.sinh(Math.PI * (1 - 2 * y))));
    return { lat, lon };
  }

  /** The point `dist_m` metres from (lat, lon) along the initial bearing `bearing_deg`, on a
   *  sphere (the same formula the server uses for view sectors). */
  function destination(lat, lon, bearingDeg, distM) {
    const d = distM / EARTH_RADIUS_M;
    const th = toRad(bearingDeg);
    const p1 = toRad(lat);
    const l1 = toRad(lon);
    const sinP2 = Math.sin(p1) * Math.cos(d) + Math.cos(p1) * Math.sin(d) * Math.cos(th);
    const p2 = Math.asin(clamp(sinP2, -1, 1));
    const l2 = l1 + Math.atan2(Math.sin(th) * Math.sin(d) * Math.cos(p1), Math.cos(d) - Math.sin(p1) * sinP2);
    return { lat: toDeg(p2), lon: ((toDeg(l2) + 540) % 360) - 180 };
  }

  /** Great-circle distance in metres (haversine). */
  function distance(aLat, aLon, bLat, bLon) {
    const dp = toRad(bLat - aLat);
    const dl = toRad(bLon - aLon);
    const h = Math.sin(dp / 2) ** 2 + Math.cos(toRad(aLat)) * Math.cos(toRad(bLat)) * Math.sin(dl / 2) ** 2;
    return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
  }

  function svg(tag, attrs, parent) {
    const el = document.createElementNS(SVG_NS, tag);
    if (attrs) for (const k in attrs) el.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(el);
    return el;
  }

  function html(tag, cls, parent) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    if (parent) parent.appendChild(el);
    return el;
  }

  /** 1, 2 or 5 times a power of ten, the largest not above `v`. */
  function niceFloor(v) {
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    const m = v / p;
    return (m >= 5 ? 5 : m >= 2 ? 2 : 1) * p;
  }

  class MapView {
    /**
     * @param {HTMLElement} container
     * @param {{center:{lat:number,lon:number}, zoom:number, tileUrl?:string|null,
     *          attribution?:string|null, minZoom?:number, maxZoom?:number}} options
     */
    constructor(container, options) {
      this.container = container;
      this.minZoom = options.minZoom ?? 3;
      this.maxZoom = options.maxZoom ?? 20;
      this.maxTileZoom = options.maxTileZoom ?? 19;
      this.tileUrl = options.tileUrl || null;
      this.home = { lat: options.center.lat, lon: options.center.lon, zoom: options.zoom };
      const c = toWorld(options.center.lat, options.center.lon);
      this.cx = c.x;
      this.cy = c.y;
      this.zoom = clamp(options.zoom, this.minZoom, this.maxZoom);
      this.width = container.clientWidth || 1;
      this.height = container.clientHeight || 1;
      this.handlers = {};
      this.tiles = new Map();
      this.frame = 0;
      this.anim = 0;
      this.pointers = new Map();
      this.gesture = null;

      container.classList.add("map-view");
      container.classList.toggle("map-no-tiles", !this.tileUrl);
      if (!container.hasAttribute("tabindex")) container.tabIndex = 0;

      this.tilePane = html("div", "map-tiles", container);
      this.grid = html("canvas", "map-grid", container);
      // Layers drawn on a canvas (many features: cameras and their view cones), under the SVG.
      this.canvas = html("canvas", "map-canvas", container);
      this.canvasLayers = [];
      this.tip = html("div", "map-tip", container);
      this.tip.setAttribute("role", "tooltip");
      this.tip.hidden = true;
      this.hover = null;
      this.overlay = svg("svg", { class: "map-overlay", "aria-hidden": "true" }, container);
      this.ui = html("div", "map-ui", container);
      this.buildControls(options.attribution);

      this.bindEvents();
      this.ro = new ResizeObserver(() => this.invalidateSize());
      this.ro.observe(container);
      this.render();
    }

    // -------------------------------------------------------------------------------------
    // Public API

    on(event, fn) {
      (this.handlers[event] ||= []).push(fn);
      return this;
    }

    emit(event, arg) {
      (this.handlers[event] || []).forEach((fn) => fn(arg));
    }

    /** Pixels per world unit at the current zoom. */
    get scale() {
      return TILE_SIZE * Math.pow(2, this.zoom);
    }

    /** The affine map from world coordinates to screen pixels: x = wx * scale - ox. */
    screenTransform() {
      const s = this.scale;
      return { scale: s, ox: this.cx * s - this.width / 2, oy: this.cy * s - this.height / 2 };
    }

    /** Latitude/longitude to container pixels. */
    project(lat, lon) {
      const w = toWorld(lat, lon);
      const t = this.screenTransform();
      return { x: w.x * t.scale - t.ox, y: w.y * t.scale - t.oy };
    }

    /** Container pixels to latitude/longitude. */
    unproject(x, y) {
      const t = this.screenTransform();
      return fromWorld((x + t.ox) / t.scale, (y + t.oy) / t.scale);
    }

    getCenter() {
      return fromWorld(this.cx, this.cy);
    }

    getZoom() {
      return this.zoom;
    }

    /** The visible area as {north, south, east, west}. */
    getBounds() {
      const nw = this.unproject(0, 0);
      const se = this.unproject(this.width, this.height);
      return { north: nw.lat, west: nw.lon, south: se.lat, east: se.lon };
    }

    /** Metres on the ground per screen pixel at latitude `lat` (default: the centre). */
    metresPerPixel(lat) {
      const l = lat === undefined ? this.getCenter().lat : lat;
      return (EQUATOR_M * Math.cos(toRad(l))) / this.scale;
    }

    /** Moves to a centre and zoom at once and draws synchronously. */
    setView(lat, lon, zoom) {
      this.stopAnimation();
      const w = toWorld(lat, lon);
      this.cx = w.x;
      this.cy = clamp(w.y, 0, 1);
      if (zoom !== undefined && zoom !== null) this.zoom = clamp(zoom, this.minZoom, this.maxZoom);
      this.render();
    }

    /** Fits a box of latitudes/longitudes into the view with `padding` pixels around. */
    fitBounds(south, west, north, east, padding) {
      const pad = padding ?? 40;
      const a = toWorld(north, west);
      const b = toWorld(south, east);
      const dx = Math.max(1e-9, b.x - a.x);
      const dy = Math.max(1e-9, b.y - a.y);
      const zx = Math.log2((this.width - 2 * pad) / (dx * TILE_SIZE));
      const zy = Math.log2((this.height - 2 * pad) / (dy * TILE_SIZE));
      const z = clamp(Math.min(zx, zy), this.minZoom, this.maxZoom);
      const c = fromWorld((a.x + b.x) / 2, (a.y + b.y) / 2);
      this.setView(c.lat, c.lon, z);
    }

    resetView() {
      this.animateTo(this.home.lat, this.home.lon, this.home.zoom);
    }

    /** Zooms by `delta` levels keeping the screen point `anchor` (default: the centre) fixed,
     *  animated. */
    zoomBy(delta, anchor) {
      const target = clamp(Math.round((this.targetZoom ?? this.zoom) + delta), this.minZoom, this.maxZoom);
      this.animateZoom(target, anchor);
    }

    /** A new SVG group for a layer; groups are stacked in creation order. */
    layer(name) {
      return svg("g", { class: "layer layer-" + name, "data-layer": name }, this.overlay);
    }

    /** A layer drawn on the canvas under the SVG overlay, for features too many for the DOM.
     *  `spec.draw(ctx, map)` paints the view (only what is in it); `spec.hitTest(x, y)` answers
     *  the feature at container pixel (x, y) as {kind, id, tip?} or null. Layers are drawn in
     *  the order added; the last one added is hit first. */
    canvasLayer(spec) {
      const layer = Object.assign({ visible: true }, spec);
      this.canvasLayers.push(layer);
      this.requestRender();
      return layer;
    }

    /** The canvas feature at container pixel (x, y), topmost first, or null. */
    canvasFeatureAt(x, y) {
      for (let i = this.canvasLayers.length - 1; i >= 0; i--) {
        const l = this.canvasLayers[i];
        if (!l.visible || !l.hitTest) continue;
        const hit = l.hitTest(x, y);
        if (hit) return hit;
      }
      return null;
    }

    /** Shows or hides the layer group `g`. */
    setLayerVisible(g, visible) {
      g.style.display = visible ? "" : "none";
    }

    /** Schedules a redraw on the next animation frame. */
    requestRender() {
      if (this.frame) return;
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.render();
      });
    }

    invalidateSize() {
      const w = this.container.clientWidth || 1;
      const h = this.container.clientHeight || 1;
      if (w === this.width && h === this.height) return;
      this.width = w;
      this.height = h;
      this.render();
    }

    destroy() {
      this.stopAnimation();
      if (this.frame) cancelAnimationFrame(this.frame);
      this.ro.disconnect();
      this.unbind.forEach((u) => u());
      this.tiles.forEach((t) => t.img.remove());
      this.tiles.clear();
      this.tilePane.remove();
      this.grid.remove();
      this.canvas.remove();
      this.tip.remove();
      this.overlay.remove();
      this.ui.remove();
      this.container.classList.remove("map-view", "map-no-tiles");
      this.handlers = {};
    }

    // -------------------------------------------------------------------------------------
    // Drawing

    render() {
      if (this.frame) {
        cancelAnimationFrame(this.frame);
        this.frame = 0;
      }
      this.overlay.setAttribute("width", this.width);
      this.overlay.setAttribute("height", this.height);
      if (this.tileUrl) this.renderTiles();
      else this.renderGraticule();
      this.renderCanvas();
      this.renderScale();
      this.emit("render", this);
    }

    tileSrc(z, x, y) {
      const n = 1 << z;
      const wx = ((x % n) + n) % n;
      const sub = "abc"[Math.abs(x + y) % 3];
      return this.tileUrl
        .replace("{z}", z)
        .replace("{x}", wx)
        .replace("{y}", y)
        .replace("{s}", sub)
        .replace("{r}", "");
    }

    renderTiles() {
      const tz = clamp(Math.round(this.zoom), 0, this.maxTileZoom);
      const n = 1 << tz;
      const t = this.screenTransform();
      const x0 = Math.floor((t.ox / t.scale) * n);
      const x1 = Math.floor(((t.ox + this.width) / t.scale) * n);
      const y0 = Math.max(0, Math.floor((t.oy / t.scale) * n));
      const y1 = Math.min(n - 1, Math.floor(((t.oy + this.height) / t.scale) * n));
      const needed = new Set();
      for (let y = y0; y <= y1; y++) {
        for (let x = x0; x <= x1; x++) {
          const key = tz + "/" + x + "/" + y;
          needed.add(key);
          if (!this.tiles.has(key)) this.addTile(key, tz, x, y);
        }
      }
      let allLoaded = true;
      needed.forEach((k) => {
        if (!this.tiles.get(k).done) allLoaded = false;
      });
      for (const [key, tile] of this.tiles) {
        const visible = this.placeTile(tile, t, tz);
        const stale = tile.z !== tz ? allLoaded || !visible : !needed.has(key);
        if (stale) {
          tile.img.remove();
          this.tiles.delete(key);
        }
      }
      this.tilesPending = !allLoaded;
    }

    addTile(key, z, x, y) {
      const img = document.createElement("img");
      img.alt = "";
      img.draggable = false;
      img.decoding = "async";
      const tile = { img, z, x, y, done: false };
      img.onload = () => {
        tile.done = true;
        img.classList.add("loaded");
        if (this.tilesPending) this.requestRender();
      };
      img.onerror = () => {
        tile.done = true;
        img.classList.add("failed");
        if (this.tilesPending) this.requestRender();
      };
      img.src = this.tileSrc(z, x, y);
      this.tilePane.appendChild(img);
      this.tiles.set(key, tile);
    }

    /** Positions a tile of any zoom level; returns whether it intersects the view. */
    placeTile(tile, t, tz) {
      const n = 1 << tile.z;
      const left = Math.round((tile.x / n) * t.scale - t.ox);
      const right = Math.round(((tile.x + 1) / n) * t.scale - t.ox);
      const top = Math.round((tile.y / n) * t.scale - t.oy);
      const bottom = Math.round(((tile.y + 1) / n) * t.scale - t.oy);
      const s = tile.img.style;
      s.transform = "translate(" + left + "px," + top + "px)";
      s.width = right - left + "px";
      s.height = bottom - top + "px";
      s.zIndex = tile.z === tz ? "2" : "1";
      return right > 0 && bottom > 0 && left < this.width && top < this.height;
    }

    renderGraticule() {
      const dpr = window.devicePixelRatio || 1;
      const c = this.grid;
      const w = this.width;
      const h = this.height;
      if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
        c.width = Math.round(w * dpr);
        c.height = Math.round(h * dpr);
        c.style.width = w + "px";
        c.style.height = h + "px";
      }
      const ctx = c.getContext("2d");
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, w, h);
      const b = this.getBounds();
      // About one line every 140 px.
      const degPerPx = (b.east - b.west) / w;
      const steps = [10, 5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001];
      let step = steps[0];
      for (const s of steps) if (s / degPerPx >= 110) step = s;
      const decimals = Math.max(0, Math.ceil(-Math.log10(step) - 1e-9));
      const styles = getComputedStyle(this.container);
      const lineColor = styles.getPropertyValue("--map-grid").trim() || "rgba(140,170,200,0.14)";
      const majorColor = styles.getPropertyValue("--map-grid-major").trim() || "rgba(140,170,200,0.26)";
      const labelColor = styles.getPropertyValue("--map-grid-label").trim() || "rgba(170,190,210,0.55)";
      ctx.lineWidth = 1;
      ctx.font = "11px system-ui, sans-serif";
      ctx.fillStyle = labelColor;
      const isMajor = (v) => Math.abs(v / (step * 5) - Math.round(v / (step * 5))) < 1e-6;

      for (let lon = Math.ceil(b.west / step) * step; lon <= b.east; lon += step) {
        const x = Math.round(this.project(0, lon).x) + 0.5;
        ctx.strokeStyle = isMajor(lon) ? majorColor : lineColor;
        ctx.beginPath();
        ctx.moveTo(x, 0);
        ctx.lineTo(x, h);
        ctx.stroke();
        ctx.textAlign = "left";
        ctx.fillText(lon.toFixed(decimals) + "°E", x + 4, 14);
      }
      for (let lat = Math.ceil(b.south / step) * step; lat <= b.north; lat += step) {
        const y = Math.round(this.project(lat, 0).y) + 0.5;
        ctx.strokeStyle = isMajor(lat) ? majorColor : lineColor;
        ctx.beginPath();
        ctx.moveTo(0, y);
        ctx.lineTo(w, y);
        ctx.stroke();
        ctx.textAlign = "right";
        ctx.fillText(lat.toFixed(decimals) + "°N", w - 6, y - 4);
      }
    }

    /** Sizes the feature canvas to the view (device pixels) and lets each canvas layer draw. */
    renderCanvas() {
      const c = this.canvas;
      if (!this.canvasLayers.length) {
        if (c.width) c.width = 0;
        return;
      }
      const dpr = window.devicePixelRatio || 1;
      const w = this.width;
      const h = this.height;
      if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
        c.width = Math.round(w * dpr);
        c.height = Math.round(h * dpr);
        c.style.width = w + "px";
        c.style.height = h + "px";
      }
      const ctx = c.getContext("2d");
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, w, h);
      for (const l of this.canvasLayers) {
        if (!l.visible) continue;
        ctx.save();
        l.draw(ctx, this);
        ctx.restore();
      }
      // What is under a resting pointer may have moved.
      if (this.hover) this.updateHover(this.hover.x, this.hover.y);
    }

    /** The pointer over a canvas feature: a pointer cursor and its tip beside it. */
    updateHover(x, y) {
      this.hover = { x, y };
      const hit = this.gesture && this.gesture.dragging ? null : this.canvasFeatureAt(x, y);
      this.container.classList.toggle("map-over-feature", !!hit);
      const text = hit && hit.tip ? hit.tip() : "";
      if (!text) {
        this.tip.hidden = true;
        this.tip.removeAttribute("data-id");
        return;
      }
      this.tip.textContent = text;
      this.tip.dataset.kind = hit.kind;
      this.tip.dataset.id = hit.id;
      this.tip.hidden = false;
      const left = Math.min(x + 14, Math.max(0, this.width - this.tip.offsetWidth - 4));
      const top = y + 18 + this.tip.offsetHeight > this.height ? y - 12 - this.tip.offsetHeight : y + 18;
      this.tip.style.transform = "translate(" + Math.round(left) + "px," + Math.round(top) + "px)";
    }

    renderScale() {
      const mpp = this.metresPerPixel();
      const metres = niceFloor(mpp * 110);
      const px = metres / mpp;
      this.scaleBar.style.width = Math.round(px) + "px";
      this.scaleLabel.textContent = metres >= 1000 ? metres / 1000 + " km" : metres + " m";
    }

    // -------------------------------------------------------------------------------------
    // Controls and events

    buildControls(attribution) {
      const zoom = html("div", "map-zoom", this.ui);
      const mk = (cls, text, key, fn) => {
        const b = html("button", "map-btn " + cls, zoom);
        b.type = "button";
        b.textContent = text;
        b.dataset.i18nTitle = key;
        b.dataset.i18nAria = key;
        b.addEventListener("click", fn);
        return b;
      };
      this.zoomInBtn = mk("map-zoom-in", "+", "map.zoom_in", () => this.zoomBy(1));
      this.zoomOutBtn = mk("map-zoom-out", "\u2212", "map.zoom_out", () => this.zoomBy(-1));
      mk("map-home", "\u2302", "map.reset", () => this.resetView());

      const foot = html("div", "map-foot", this.ui);
      const scale = html("div", "map-scale", foot);
      this.scaleBar = html("div", "map-scale-bar", scale);
      this.scaleLabel = html("span", "map-scale-label", this.scaleBar);
      this.coords = html("div", "map-coords", foot);
      if (!this.tileUrl) {
        const off = html("div", "map-offline", foot);
        off.dataset.i18n = "map.offline";
      }
      if (attribution) {
        const a = html("div", "map-attribution", this.ui);
        a.textContent = attribution;
      }
      if (window.PolisI18n) window.PolisI18n.apply(this.ui);
    }

    bindEvents() {
      const c = this.container;
      const listen = (target, type, fn, opts) => {
        target.addEventListener(type, fn, opts);
        return () => target.removeEventListener(type, fn, opts);
      };
      this.unbind = [
        listen(c, "pointerdown", (e) => this.onPointerDown(e)),
        listen(c, "pointermove", (e) => this.onPointerMove(e)),
        listen(c, "pointerup", (e) => this.onPointerUp(e)),
        listen(c, "pointercancel", (e) => this.onPointerUp(e, true)),
        listen(c, "pointerleave", () => {
          this.coords.textContent = "";
          this.hover = null;
          this.tip.hidden = true;
          this.container.classList.remove("map-over-feature");
        }),
        listen(c, "wheel", (e) => this.onWheel(e), { passive: false }),
        listen(c, "dblclick", (e) => {
          if (this.inUi(e.target) || this.featureOf(e.target)) return;
          const p = this.localPoint(e);
          if (this.canvasFeatureAt(p.x, p.y)) return;
          e.preventDefault();
          this.zoomBy(1, p);
        }),
        listen(c, "keydown", (e) => this.onKey(e)),
      ];
    }

    inUi(target) {
      return target instanceof Element && !!target.closest(".map-ui");
    }

    /** The feature element (anything with `data-feature`) at or above `target`. */
    featureOf(target) {
      if (!(target instanceof Element)) return null;
      const f = target.closest("[data-feature]");
      return f && this.overlay.contains(f) ? f : null;
    }

    localPoint(e) {
      const r = this.container.getBoundingClientRect();
      return { x: e.clientX - r.left, y: e.clientY - r.top };
    }

    onPointerDown(e) {
      if (this.inUi(e.target)) return;
      if (e.pointerType === "mouse" && e.button !== 0) return;
      const p = this.localPoint(e);
      this.pointers.set(e.pointerId, p);
      if (this.pointers.size === 1) {
        this.stopAnimation();
        this.gesture = { start: p, last: p, target: e.target, dragging: false, pinch: null };
      } else if (this.pointers.size === 2 && this.gesture) {
        const [a, b] = [...this.pointers.values()];
        this.gesture.dragging = true;
        this.gesture.pinch = { dist: Math.hypot(a.x - b.x, a.y - b.y), zoom: this.zoom };
      }
      try {
        this.container.setPointerCapture(e.pointerId);
      } catch (_) {
        // Synthetic pointers cannot always be captured; dragging still works inside the map.
      }
    }

    onPointerMove(e) {
      const p = this.localPoint(e);
      const ll = this.unproject(p.x, p.y);
      this.coords.textContent = ll.lat.toFixed(5) + ", " + ll.lon.toFixed(5);
      this.emit("pointer", { x: p.x, y: p.y, lat: ll.lat, lon: ll.lon });
      if (this.canvasLayers.length && !this.inUi(e.target) && !this.featureOf(e.target)) this.updateHover(p.x, p.y);
      else if (this.hover) {
        this.hover = null;
        this.tip.hidden = true;
        this.container.classList.remove("map-over-feature");
      }
      if (!this.pointers.has(e.pointerId) || !this.gesture) return;
      this.pointers.set(e.pointerId, p);
      const g = this.gesture;
      if (g.pinch && this.pointers.size >= 2) {
        const [a, b] = [...this.pointers.values()];
        const d = Math.hypot(a.x - b.x, a.y - b.y);
        const mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
        this.zoomAround(g.pinch.zoom + Math.log2(d / Math.max(1, g.pinch.dist)), mid);
        this.requestRender();
        return;
      }
      if (!g.dragging && Math.hypot(p.x - g.start.x, p.y - g.start.y) < DRAG_THRESHOLD_PX) return;
      if (!g.dragging) {
        g.dragging = true;
        this.container.classList.add("dragging");
      }
      this.panBy(g.last.x - p.x, g.last.y - p.y);
      g.last = p;
    }

    onPointerUp(e, cancelled) {
      if (!this.pointers.has(e.pointerId)) return;
      this.pointers.delete(e.pointerId);
      try {
        this.container.releasePointerCapture(e.pointerId);
      } catch (_) {
        // Not captured.
      }
      const g = this.gesture;
      if (this.pointers.size > 0) {
        if (g) g.pinch = null;
        if (g) g.last = [...this.pointers.values()][0];
        return;
      }
      this.gesture = null;
      this.container.classList.remove("dragging");
      if (!g || g.dragging || cancelled) return;
      const p = this.localPoint(e);
      const feature = this.featureOf(g.target);
      const drawn = feature || this.inUi(g.target) ? null : this.canvasFeatureAt(p.x, p.y);
      if (feature) {
        this.emit("featureclick", { element: feature, kind: feature.dataset.feature, id: feature.dataset.id });
      } else if (drawn && drawn.click) {
        drawn.click();
      } else if (drawn) {
        this.emit("featureclick", { element: null, kind: drawn.kind, id: drawn.id });
      } else {
        const ll = this.unproject(p.x, p.y);
        this.emit("click", { x: p.x, y: p.y, lat: ll.lat, lon: ll.lon });
      }
    }

    onWheel(e) {
      if (this.inUi(e.target)) return;
      e.preventDefault();
      const unit = e.deltaMode === 1 ? 0.05 : e.deltaMode === 2 ? 1 : 0.0035;
      const dz = clamp(-e.deltaY * unit, -1, 1);
      if (!dz) return;
      this.stopAnimation();
      this.zoomAround(this.zoom + dz, this.localPoint(e));
      this.requestRender();
    }

    onKey(e) {
      if (e.target !== this.container) return;
      const step = 120;
      const keys = {
        ArrowLeft: () => this.panBy(-step, 0),
        ArrowRight: () => this.panBy(step, 0),
        ArrowUp: () => this.panBy(0, -step),
        ArrowDown: () => this.panBy(0, step),
        "+": () => this.zoomBy(1),
        "=": () => this.zoomBy(1),
        "-": () => this.zoomBy(-1),
        _: () => this.zoomBy(-1),
        Home: () => this.resetView(),
      };
      const fn = keys[e.key];
      if (fn) {
        e.preventDefault();
        fn();
      }
    }

    panBy(dx, dy) {
      const s = this.scale;
      this.cx += dx / s;
      this.cy = clamp(this.cy + dy / s, 0, 1);
      this.requestRender();
    }

    /** Sets the zoom keeping the world point under the screen point `anchor` in place. */
    zoomAround(zoom, anchor) {
      const z = clamp(zoom, this.minZoom, this.maxZoom);
      const a = anchor || { x: this.width / 2, y: this.height / 2 };
      const s0 = this.scale;
      const wx = this.cx + (a.x - this.width / 2) / s0;
      const wy = this.cy + (a.y - this.height / 2) / s0;
      this.zoom = z;
      const s1 = this.scale;
      this.cx = wx - (a.x - this.width / 2) / s1;
      this.cy = clamp(wy - (a.y - this.height / 2) / s1, 0, 1);
    }

    stopAnimation() {
      if (this.anim) cancelAnimationFrame(this.anim);
      this.anim = 0;
      this.targetZoom = undefined;
    }

    animateZoom(target, anchor) {
      this.stopAnimation();
      const from = this.zoom;
      if (Math.abs(target - from) < 1e-9) return;
      this.targetZoom = target;
      const t0 = performance.now();
      const dur = 220;
      const step = (now) => {
        const k = Math.min(1, (now - t0) / dur);
        const e = 1 - Math.pow(1 - k, 3);
        this.zoomAround(from + (target - from) * e, anchor);
        this.render();
        if (k < 1) this.anim = requestAnimationFrame(step);
        else {
          this.anim = 0;
          this.targetZoom = undefined;
        }
      };
      this.anim = requestAnimationFrame(step);
    }

    animateTo(lat, lon, zoom) {
      this.stopAnimation();
      const w = toWorld(lat, lon);
      const from = { x: this.cx, y: this.cy, z: this.zoom };
      const to = { x: w.x, y: w.y, z: clamp(zoom ?? this.zoom, this.minZoom, this.maxZoom) };
      const t0 = performance.now();
      const dur = 350;
      const step = (now) => {
        const k = Math.min(1, (now - t0) / dur);
        const e = k < 0.5 ? 4 * k * k * k : 1 - Math.pow(-2 * k + 2, 3) / 2;
        this.cx = from.x + (to.x - from.x) * e;
        this.cy = from.y + (to.y - from.y) * e;
        this.zoom = from.z + (to.z - from.z) * e;
        this.render();
        this.anim = k < 1 ? requestAnimationFrame(step) : 0;
      };
      this.anim = requestAnimationFrame(step);
    }
  }

  window.PolisMap = { MapView, toWorld, fromWorld, destination, distance, svg };
})();
