// Polis console: the cameras and their view cones, drawn on the map's canvas (map.js's
// `canvasLayer`) so that a region of 50,000 cameras stays smooth.
//
// - Only what is in view is drawn, on the map's next animation frame (map.js throttles redraws
//   with requestAnimationFrame).
// - A world grid (cells of 64 px at zoom 14, about 450 m) finds the cameras in view at town and
//   street zoom without looking at the others.
// - Below zoom 17, when more than a few hundred cameras are in view (or below zoom 12), cameras
//   that fall in the same 64-pixel cell of a grid anchored to the world are drawn as one cluster
//   with their count and a ring coloured by their statuses; a cluster splits as the map zooms
//   in, and a click on it zooms to its cameras. Cells are computed once per zoom level.
// - Clicks and hover find the drawn marker or cluster under the pointer through a screen grid of
//   the last frame; the pointer's tip says what the camera is and its live health (why it is
//   offline). A camera's live health offline is a dashed red ring around its marker.
//
// Test hooks (what a person sees, as data): `PolisMap.camerasAt(x, y)`,
// `PolisMap.drawnCameras()`.
//
// Strings (Bulgarian and English) join the console's dictionary below.
"use strict";

(function () {
  const I = window.PolisI18n;
  const t = I.t;
  const TILE = 256;
  const CELL_PX = 64;
  const GRID_LEVEL = 14;
  const NO_CLUSTER_ZOOM = 17;
  const ALWAYS_CLUSTER_BELOW = 12;
  const FEW_IN_VIEW = 400;
  const CLUSTER_MIN = 4;
  const CONE_ZOOM = 11;
  const HIT_R = 11;
  const BUCKET = 32;
  const MAX_CLUSTER_LEVEL = NO_CLUSTER_ZOOM - 1;
  const EQUATOR_M = 40075016.686;
  const HL = "#ffd33d";
  const INK = "#0a0e13";
  const OFFLINE_RING = "#ff6b61";

  Object.assign(I.strings.en, {
    "map.cluster": "{n} cameras · click to zoom in",
    "map.cluster_offline": "{n} offline",
  });
  Object.assign(I.strings.bg, {
    "map.cluster": "{n} камери · щракнете за приближаване",
    "map.cluster_offline": "{n} без връзка",
  });

  const cellKey = (kx, ky, level) => kx + ky * Math.pow(2, level + 3);

  /** Whether a camera is offline as the operator should see it: typed so, or found dead. */
  const isOffline = (c) => c.p.status === "offline" || (!!c.live && c.live.status === "offline");

  class CameraLayer {
    /**
     * @param map a map.js MapView
     * @param opts {colour(c), title(c), destination(lat, lon, bearing, m), toWorld(lat, lon)}
     */
    constructor(map, opts) {
      this.map = map;
      this.opts = opts;
      this.cams = [];
      this.levels = new Map();
      this.grid = null;
      this.showCameras = true;
      this.showCones = true;
      this.seeing = new Set();
      this.selected = null;
      this.frame = { markers: [], clusters: [], cones: 0, mode: "none", buckets: null };
      this.maxRangeM = 0;
      this.layer = map.canvasLayer({
        name: "cameras",
        draw: (ctx, m) => this.draw(ctx, m),
        hitTest: (x, y) => this.hitTest(x, y),
      });
    }

    /** The cameras to draw (app.js's prepared cameras: id, p, lat, lon, world, heading, full). */
    setCameras(list) {
      this.cams = list;
      this.levels.clear();
      this.maxRangeM = 0;
      for (const c of list) this.maxRangeM = Math.max(this.maxRangeM, +c.p.range_m || 0);
      this.grid = this.cells(GRID_LEVEL);
      this.map.requestRender();
    }

    setVisible(cameras, cones) {
      this.showCameras = cameras;
      this.showCones = cones;
      this.layer.visible = cameras;
      this.map.requestRender();
    }

    /** Cameras that see the clicked point (yellow) and the selected one (white). */
    setHighlights(seeingIds, selectedId) {
      this.seeing = seeingIds;
      this.selected = selectedId;
      this.map.requestRender();
    }

    /** Live health or names changed: draw again. */
    refresh() {
      for (const lv of this.levels.values()) lv.stats = null;
      this.map.requestRender();
    }

    // -------------------------------------------------------------------------------------
    // Grids

    /** The cameras grouped by cells of CELL_PX pixels at zoom `level`, anchored to the world:
     *  {size, byKey: Map(key -> cell), list: [cell]}, a cell {kx, ky, x, y (mean world
     *  position), members: [camera], box}. Computed once per level. */
    cells(level) {
      const cached = this.levels.get(level);
      if (cached) return cached;
      const size = CELL_PX / (TILE * Math.pow(2, level));
      const byKey = new Map();
      for (const c of this.cams) {
        const kx = Math.floor(c.world.x / size);
        const ky = Math.floor(c.world.y / size);
        const key = cellKey(kx, ky, level);
        let cell = byKey.get(key);
        if (!cell) {
          cell = { kx, ky, x: 0, y: 0, members: [], x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity };
          byKey.set(key, cell);
        }
        cell.members.push(c);
        cell.x += c.world.x;
        cell.y += c.world.y;
        if (c.world.x < cell.x0) cell.x0 = c.world.x;
        if (c.world.x > cell.x1) cell.x1 = c.world.x;
        if (c.world.y < cell.y0) cell.y0 = c.world.y;
        if (c.world.y > cell.y1) cell.y1 = c.world.y;
      }
      const list = [...byKey.values()];
      for (const cell of list) {
        cell.x /= cell.members.length;
        cell.y /= cell.members.length;
      }
      const lv = { level, size, byKey, list, stats: null };
      this.levels.set(level, lv);
      return lv;
    }

    /** Cameras whose position lies in the world box (through the grid). */
    camerasIn(x0, y0, x1, y1) {
      const g = this.grid;
      const out = [];
      if (!g) return out;
      const kx0 = Math.floor(x0 / g.size);
      const kx1 = Math.floor(x1 / g.size);
      const ky0 = Math.floor(y0 / g.size);
      const ky1 = Math.floor(y1 / g.size);
      if ((kx1 - kx0 + 1) * (ky1 - ky0 + 1) > g.list.length) {
        for (const cell of g.list) if (cell.x1 >= x0 && cell.x0 <= x1 && cell.y1 >= y0 && cell.y0 <= y1) out.push(...cell.members);
        return out;
      }
      for (let ky = ky0; ky <= ky1; ky++) {
        for (let kx = kx0; kx <= kx1; kx++) {
          const cell = g.byKey.get(cellKey(kx, ky, GRID_LEVEL));
          if (cell) for (const c of cell.members) out.push(c);
        }
      }
      return out;
    }

    // -------------------------------------------------------------------------------------
    // Drawing

    draw(ctx, map) {
      const fr = { markers: [], clusters: [], cones: 0, mode: "none", buckets: null };
      this.frame = fr;
      if (!this.showCameras || !this.cams.length) return;
      const tr = map.screenTransform();
      const W = map.width;
      const H = map.height;
      const zoom = map.getZoom();
      const M = 24;
      // The view in world units, with a margin for markers and, at cone zoom, for cones.
      const rangePx = zoom >= CONE_ZOOM && this.showCones ? this.maxRangeM / map.metresPerPixel() : 0;
      const marginPx = Math.max(M, Math.min(rangePx, 4000));
      const wx0 = (tr.ox - marginPx) / tr.scale;
      const wx1 = (tr.ox + W + marginPx) / tr.scale;
      const wy0 = (tr.oy - marginPx) / tr.scale;
      const wy1 = (tr.oy + H + marginPx) / tr.scale;
      const sx = (w) => w.x * tr.scale - tr.ox;
      const sy = (w) => w.y * tr.scale - tr.oy;

      let singles = [];
      const clusters = [];
      if (zoom >= NO_CLUSTER_ZOOM) {
        fr.mode = "cameras";
        singles = this.camerasIn(wx0, wy0, wx1, wy1);
      } else {
        const level = Math.max(0, Math.min(MAX_CLUSTER_LEVEL, Math.floor(zoom)));
        const lv = this.cells(level);
        const inView = [];
        let n = 0;
        const cx0 = tr.ox / tr.scale - lv.size;
        const cx1 = (tr.ox + W) / tr.scale + lv.size;
        const cy0 = tr.oy / tr.scale - lv.size;
        const cy1 = (tr.oy + H) / tr.scale + lv.size;
        for (const cell of lv.list) {
          if (cell.x1 < wx0 || cell.x0 > wx1 || cell.y1 < wy0 || cell.y0 > wy1) continue;
          const near = cell.x >= cx0 && cell.x <= cx1 && cell.y >= cy0 && cell.y <= cy1;
          inView.push({ cell, near });
          if (near) n += cell.members.length;
        }
        const cluster = zoom < ALWAYS_CLUSTER_BELOW || n > FEW_IN_VIEW;
        fr.mode = cluster ? "clusters" : "cameras";
        for (const { cell, near } of inView) {
          if (cluster && cell.members.length >= CLUSTER_MIN) {
            if (near) clusters.push(cell);
          } else {
            for (const c of cell.members) singles.push(c);
          }
        }
      }

      const anySeeing = this.seeing.size > 0;
      const onScreen = (x, y) => x > -M && y > -M && x < W + M && y < H + M;
      // Highlighted cameras are drawn last, so on top.
      const rank = (c) => (c.id === this.selected ? 2 : this.seeing.has(c.id) ? 1 : 0);
      const plain = [];
      const raised = [];
      for (const c of singles) (rank(c) ? raised : plain).push(c);
      raised.sort((a, b) => rank(a) - rank(b));

      if (zoom >= CONE_ZOOM && this.showCones) fr.cones = this.drawCones(ctx, plain.concat(raised), sx, sy, W, H, anySeeing);

      const markers = [];
      for (const c of plain) {
        const x = sx(c.world);
        const y = sy(c.world);
        if (onScreen(x, y)) markers.push({ c, x, y, halo: c.live && c.live.status === "offline" ? "offline" : null });
      }
      const raisedMarkers = [];
      for (const c of raised) {
        const x = sx(c.world);
        const y = sy(c.world);
        if (onScreen(x, y)) raisedMarkers.push({ c, x, y, halo: rank(c) === 2 ? "selected" : "seeing" });
      }
      this.drawMarkers(ctx, markers, anySeeing ? 0.45 : 1);
      this.drawMarkers(ctx, raisedMarkers, 1);
      for (const cell of clusters) fr.clusters.push(this.drawCluster(ctx, cell, sx(cell), sy(cell)));
      fr.markers = markers.concat(raisedMarkers);
    }

    /** The cone's ring in world coordinates, made on first use. */
    coneOf(c) {
      if (c.cone) return c.cone;
      const range = Math.max(0, +c.p.range_m || 0);
      const ring = [];
      if (range > 0) {
        const { destination, toWorld } = this.opts;
        const fov = Math.min(360, Math.max(0, +c.p.fov_deg || 0));
        if (c.full) {
          for (let i = 0; i < 72; i++) {
            const q = destination(c.lat, c.lon, i * 5, range);
            ring.push(toWorld(q.lat, q.lon));
          }
        } else {
          const steps = Math.max(8, Math.ceil(fov / 4));
          ring.push(c.world);
          for (let i = 0; i <= steps; i++) {
            const q = destination(c.lat, c.lon, c.heading - fov / 2 + (fov * i) / steps, range);
            ring.push(toWorld(q.lat, q.lon));
          }
        }
      }
      c.cone = ring;
      return ring;
    }

    /** Cones batched by style: one path per style, filled then stroked. */
    drawCones(ctx, cams, sx, sy, W, H, anySeeing) {
      const groups = new Map();
      let drawn = 0;
      for (const c of cams) {
        const ring = this.coneOf(c);
        if (!ring.length) continue;
        let x0 = Infinity;
        let y0 = Infinity;
        let x1 = -Infinity;
        let y1 = -Infinity;
        const pts = new Array(ring.length);
        for (let i = 0; i < ring.length; i++) {
          const x = sx(ring[i]);
          const y = sy(ring[i]);
          pts[i] = [x, y];
          if (x < x0) x0 = x;
          if (x > x1) x1 = x;
          if (y < y0) y0 = y;
          if (y > y1) y1 = y;
        }
        if (x1 < 0 || y1 < 0 || x0 > W || y0 > H) continue;
        const st = this.coneStyle(c, anySeeing);
        let g = groups.get(st.key);
        if (!g) {
          g = { st, paths: [] };
          groups.set(st.key, g);
        }
        g.paths.push(pts);
        drawn++;
      }
      const order = [...groups.values()].sort((a, b) => a.st.z - b.st.z);
      ctx.lineJoin = "round";
      for (const g of order) {
        const st = g.st;
        ctx.beginPath();
        for (const pts of g.paths) {
          ctx.moveTo(pts[0][0], pts[0][1]);
          for (let i = 1; i < pts.length; i++) ctx.lineTo(pts[i][0], pts[i][1]);
          ctx.closePath();
        }
        ctx.globalAlpha = st.fillA;
        ctx.fillStyle = st.colour;
        ctx.fill();
        ctx.globalAlpha = st.strokeA;
        ctx.strokeStyle = st.colour;
        ctx.lineWidth = st.width;
        ctx.setLineDash(st.dash);
        ctx.stroke();
      }
      ctx.globalAlpha = 1;
      ctx.setLineDash([]);
      return drawn;
    }

    coneStyle(c, anySeeing) {
      const status = c.p.status;
      if (c.id === this.selected) return { key: "sel" + c.full, z: 3, colour: "#fff", fillA: 0.16, strokeA: 0.9, width: 1.5, dash: c.full ? [4, 4] : [] };
      if (this.seeing.has(c.id)) return { key: "see" + c.full, z: 2, colour: HL, fillA: c.full ? 0.1 : 0.2, strokeA: 0.85, width: 1.5, dash: c.full ? [4, 4] : [] };
      const colour = this.opts.colour(c);
      let fillA = c.full ? 0.045 : 0.1;
      let strokeA = c.full ? 0.3 : 0.5;
      let dash = c.full ? [4, 4] : [];
      if (status === "planned") {
        fillA = 0.035;
        dash = [2, 4];
      } else if (status === "decommissioned") {
        fillA = 0.03;
        strokeA = 0.25;
      }
      if (anySeeing) {
        fillA = 0.035;
        strokeA = 0.2;
      }
      return { key: colour + "|" + fillA + "|" + strokeA + "|" + dash.join(","), z: 1, colour, fillA, strokeA, width: 1, dash };
    }

    /** Markers: the same look as the SVG markers had (body coloured by status, heading wedge or
     *  PTZ ring, kind glyph, halo for offline, seeing and selected). */
    drawMarkers(ctx, list, alpha) {
      if (!list.length) return;
      // Halos first.
      for (const m of list) {
        if (!m.halo) continue;
        ctx.beginPath();
        ctx.arc(m.x, m.y, 11, 0, 2 * Math.PI);
        if (m.halo === "offline") {
          ctx.fillStyle = "rgba(255, 107, 97, 0.18)";
          ctx.strokeStyle = OFFLINE_RING;
          ctx.setLineDash([3, 2]);
        } else if (m.halo === "seeing") {
          ctx.fillStyle = "rgba(255, 211, 61, 0.18)";
          ctx.strokeStyle = HL;
          ctx.setLineDash([]);
        } else {
          ctx.fillStyle = "rgba(255, 255, 255, 0.15)";
          ctx.strokeStyle = "#fff";
          ctx.setLineDash([]);
        }
        ctx.lineWidth = 2.5;
        ctx.fill();
        ctx.stroke();
      }
      ctx.setLineDash([]);
      ctx.globalAlpha = alpha;
      const byColour = new Map();
      for (const m of list) {
        const colour = this.opts.colour(m.c);
        let g = byColour.get(colour);
        if (!g) byColour.set(colour, (g = []));
        g.push(m);
      }
      for (const [colour, ms] of byColour) {
        // Heading wedges (fixed cameras) and PTZ rings.
        ctx.beginPath();
        for (const m of ms) {
          if (m.c.full) continue;
          const a = (m.c.heading * Math.PI) / 180;
          const cos = Math.cos(a);
          const sin = Math.sin(a);
          const pt = (px, py) => [m.x + px * cos - py * sin, m.y + px * sin + py * cos];
          const [ax, ay] = pt(-3.6, -4.8);
          const [bx, by] = pt(0, -12.5);
          const [cx, cy] = pt(3.6, -4.8);
          ctx.moveTo(ax, ay);
          ctx.lineTo(bx, by);
          ctx.lineTo(cx, cy);
          ctx.closePath();
        }
        ctx.fillStyle = colour;
        ctx.fill();
        ctx.strokeStyle = INK;
        ctx.lineWidth = 1;
        ctx.stroke();
        ctx.beginPath();
        for (const m of ms) {
          if (!m.c.full) continue;
          ctx.moveTo(m.x + 9, m.y);
          ctx.arc(m.x, m.y, 9, 0, 2 * Math.PI);
        }
        ctx.strokeStyle = colour;
        ctx.lineWidth = 1.6;
        ctx.setLineDash([3, 2.3]);
        ctx.stroke();
        ctx.setLineDash([]);
        // Bodies: planned cameras hollow, ringed in their colour.
        ctx.beginPath();
        for (const m of ms) {
          if (m.c.p.status === "planned") continue;
          ctx.moveTo(m.x + 5.5, m.y);
          ctx.arc(m.x, m.y, 5.5, 0, 2 * Math.PI);
        }
        ctx.fillStyle = colour;
        ctx.fill();
        ctx.strokeStyle = INK;
        ctx.lineWidth = 1.5;
        ctx.stroke();
        ctx.beginPath();
        for (const m of ms) {
          if (m.c.p.status !== "planned") continue;
          ctx.moveTo(m.x + 5.5, m.y);
          ctx.arc(m.x, m.y, 5.5, 0, 2 * Math.PI);
        }
        ctx.fillStyle = INK;
        ctx.fill();
        ctx.strokeStyle = colour;
        ctx.lineWidth = 2;
        ctx.stroke();
      }
      // Kind glyphs: ANPR a plate, thermal a dot.
      ctx.fillStyle = INK;
      for (const m of list) {
        const planned = m.c.p.status === "planned";
        if (m.c.p.kind === "anpr") {
          ctx.fillStyle = planned ? "#a5b4fc" : INK;
          ctx.fillRect(m.x - 2.8, m.y - 1.4, 5.6, 2.8);
        } else if (m.c.p.kind === "thermal") {
          ctx.fillStyle = planned ? "#a5b4fc" : INK;
          ctx.beginPath();
          ctx.arc(m.x, m.y, 2, 0, 2 * Math.PI);
          ctx.fill();
        }
      }
      ctx.globalAlpha = 1;
    }

    /** A cluster: a disc sized by its count, a ring of its statuses' shares, the count. */
    drawCluster(ctx, cell, x, y) {
      const n = cell.members.length;
      const counts = new Map();
      let offline = 0;
      for (const c of cell.members) {
        const colour = isOffline(c) ? this.opts.colour({ p: { status: "offline" } }) : this.opts.colour(c);
        if (isOffline(c)) offline++;
        counts.set(colour, (counts.get(colour) || 0) + 1);
      }
      const r = Math.min(26, 11 + 3.2 * Math.log10(n) * 2);
      ctx.beginPath();
      ctx.arc(x, y, r, 0, 2 * Math.PI);
      ctx.fillStyle = "rgba(22, 32, 44, 0.92)";
      ctx.fill();
      let a = -Math.PI / 2;
      ctx.lineWidth = 3.5;
      for (const [colour, k] of counts) {
        const b = a + (2 * Math.PI * k) / n;
        ctx.beginPath();
        ctx.arc(x, y, r - 1.75, a, b);
        ctx.strokeStyle = colour;
        ctx.stroke();
        a = b;
      }
      ctx.fillStyle = "#e6edf3";
      ctx.font = "600 " + (n >= 1000 ? 10.5 : 11.5) + "px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText(n >= 10000 ? Math.round(n / 1000) + "k" : String(n), x, y + 0.5);
      return { cell, x, y, r, count: n, offline };
    }

    // -------------------------------------------------------------------------------------
    // Hit-testing

    buckets() {
      const fr = this.frame;
      if (fr.buckets) return fr.buckets;
      const b = new Map();
      const add = (x, y, r, item) => {
        for (let by = Math.floor((y - r) / BUCKET); by <= Math.floor((y + r) / BUCKET); by++) {
          for (let bx = Math.floor((x - r) / BUCKET); bx <= Math.floor((x + r) / BUCKET); bx++) {
            const k = bx + "," + by;
            let list = b.get(k);
            if (!list) b.set(k, (list = []));
            list.push(item);
          }
        }
      };
      fr.markers.forEach((m, i) => add(m.x, m.y, HIT_R, { kind: "camera", m, order: i }));
      fr.clusters.forEach((cl, i) => add(cl.x, cl.y, cl.r, { kind: "cluster", m: cl, order: fr.markers.length + i }));
      fr.buckets = b;
      return b;
    }

    /** Everything drawn at (x, y), topmost first. */
    itemsAt(x, y) {
      if (!this.layer.visible) return [];
      const list = this.buckets().get(Math.floor(x / BUCKET) + "," + Math.floor(y / BUCKET)) || [];
      const hits = list.filter((it) => Math.hypot(it.m.x - x, it.m.y - y) <= (it.kind === "camera" ? HIT_R : it.m.r));
      return hits.sort((a, b) => b.order - a.order);
    }

    hitTest(x, y) {
      const it = this.itemsAt(x, y)[0];
      if (!it) return null;
      if (it.kind === "camera") {
        const c = it.m.c;
        return { kind: "camera", id: c.id, tip: () => this.opts.title(c) };
      }
      const cl = it.m;
      return {
        kind: "cluster",
        id: cl.cell.kx + "/" + cl.cell.ky,
        tip: () => t("map.cluster", { n: I.number(cl.count) }) + (cl.offline ? "\n" + t("map.cluster_offline", { n: I.number(cl.offline) }) : ""),
        click: () => this.expand(cl.cell),
      };
    }

    /** Zooms to a cluster's cameras (at least one level further). */
    expand(cell) {
      const map = this.map;
      const W = map.width;
      const H = map.height;
      const pad = 60;
      const dx = Math.max(1e-12, cell.x1 - cell.x0);
      const dy = Math.max(1e-12, cell.y1 - cell.y0);
      const fit = Math.min(Math.log2((W - 2 * pad) / (dx * TILE)), Math.log2((H - 2 * pad) / (dy * TILE)));
      const zoom = Math.min(NO_CLUSTER_ZOOM + 1, Math.max(map.getZoom() + 1, Math.floor(fit)));
      const c = window.PolisMap.fromWorld((cell.x0 + cell.x1) / 2, (cell.y0 + cell.y1) / 2);
      map.animateTo(c.lat, c.lon, zoom);
    }

    /** What is drawn now, for tests and diagnostics. */
    summary() {
      const fr = this.frame;
      return {
        mode: fr.mode,
        cones: fr.cones,
        markers: fr.markers.map((m) => ({
          id: m.c.id,
          x: Math.round(m.x * 10) / 10,
          y: Math.round(m.y * 10) / 10,
          status: m.c.p.status,
          live: m.c.live ? m.c.live.status : null,
          halo: m.halo,
        })),
        clusters: fr.clusters.map((cl) => ({ x: Math.round(cl.x), y: Math.round(cl.y), count: cl.count, offline: cl.offline })),
        seeing: [...this.seeing],
        selected: this.selected,
      };
    }
  }

  let current = null;
  window.PolisCameraLayer = {
    create(map, opts) {
      current = new CameraLayer(map, opts);
      return current;
    },
  };
  // Test hooks on the map's namespace: the camera ids drawn at container pixel (x, y), topmost
  // first, and a summary of what is drawn.
  Object.assign(window.PolisMap, {
    camerasAt: (x, y) => (current ? current.itemsAt(x, y).filter((it) => it.kind === "camera").map((it) => it.m.c.id) : []),
    drawnCameras: () => (current ? current.summary() : { mode: "none", cones: 0, markers: [], clusters: [], seeing: [], selected: null }),
  });
})();
