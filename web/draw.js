// Polis console: picking a point or drawing a polygon on the map, for the editors (city setup).
// One drawing at a time: `start` hides nothing itself (the caller steps its panel aside), shows a
// bar under the map with the hint, Undo corner, Finish and Cancel, takes the map's clicks
// (`mapClick`, called first in app.js's click chain) and draws the corners on its own layer
// (`draw`, on each frame). `done(points)` gets [{lat, lon}] (one point, or the polygon's corners);
// `cancel()` runs on Cancel or Escape.
"use strict";

(function () {
  const I = window.PolisI18n;
  const t = I.t;
  const M = window.PolisMap;

  Object.assign(I.strings.en, {
    "draw.point_hint": "Click the map where it is.",
    "draw.polygon_hint": "Click the map to add corners ({n} so far).",
    "draw.undo": "Undo corner",
    "draw.finish": "Finish",
    "draw.cancel": "Cancel",
  });
  Object.assign(I.strings.bg, {
    "draw.point_hint": "Щракнете върху картата, където се намира.",
    "draw.polygon_hint": "Щракнете върху картата, за да добавите ъгли (досега {n}).",
    "draw.undo": "Премахни ъгъл",
    "draw.finish": "Готово",
    "draw.cancel": "Отказ",
  });

  let B = null;
  const S = { d: null, bar: null, g: null, gMap: null, built: "", items: [] };

  function start(mode, done, cancel, initial, hint) {
    S.d = { mode, points: (initial || []).slice(), done, cancel, hint };
    document.getElementById("map").classList.add("is-drawing");
    showBar();
    B.requestRender();
  }

  function showBar() {
    if (!S.bar) {
      S.bar = B.el("div", { id: "draw-bar", class: "warn-draw-bar", role: "status" });
      document.getElementById("map").after(S.bar);
    }
    const d = S.d;
    const polygon = d.mode === "polygon";
    S.bar.replaceChildren(
      B.el("span", { class: "warn-draw-hint", text: polygon ? t("draw.polygon_hint", { n: I.number(d.points.length) }) : d.hint || t("draw.point_hint") }),
      polygon
        ? B.el("button", { type: "button", class: "btn btn-small draw-undo", text: t("draw.undo"), disabled: d.points.length === 0,
            onclick: () => (d.points.pop(), showBar(), B.requestRender()) })
        : null,
      polygon
        ? B.el("button", { type: "button", class: "btn btn-small btn-primary draw-finish", text: t("draw.finish"), disabled: d.points.length < 3,
            onclick: () => finish() })
        : null,
      B.el("button", { type: "button", class: "btn btn-small btn-ghost draw-cancel", text: t("draw.cancel"), onclick: () => stop(true) })
    );
    S.bar.hidden = false;
  }

  function stop(cancelled) {
    const d = S.d;
    S.d = null;
    if (S.bar) S.bar.hidden = true;
    const map = document.getElementById("map");
    if (map) map.classList.remove("is-drawing");
    B.requestRender();
    if (d && cancelled && d.cancel) d.cancel();
  }

  function finish() {
    const d = S.d;
    if (!d) return;
    const r6 = (x) => +x.toFixed(6);
    const points = d.points.map((p) => ({ lat: r6(p.lat), lon: r6(p.lon) }));
    stop(false);
    d.done(points);
  }

  /** A click on the map while drawing: a corner, or the point. Says whether it was taken. */
  function mapClick(lat, lon) {
    const d = S.d;
    if (!d) return false;
    d.points.push({ lat, lon });
    if (d.mode === "point") finish();
    else {
      showBar();
      B.requestRender();
    }
    return true;
  }

  function draw(map) {
    if (!map || !B) return;
    if (S.gMap !== map) {
      S.g = map.layer("drawing");
      S.gMap = map;
      S.built = "";
    }
    const d = S.d;
    const key = d ? d.mode + d.points.length : "";
    if (S.built !== key) {
      S.built = key;
      S.g.replaceChildren();
      S.items = [];
      if (d && d.points.length) {
        if (d.mode === "polygon") S.items.push({ e: M.svg("path", { class: "warn-drawing" }, S.g), ring: d.points });
        for (const p of d.points) S.items.push({ e: M.svg("circle", { class: "warn-vertex", r: 4 }, S.g), point: p });
      }
    }
    for (const it of S.items) {
      if (it.point) {
        const p = map.project(it.point.lat, it.point.lon);
        it.e.setAttribute("cx", p.x.toFixed(1));
        it.e.setAttribute("cy", p.y.toFixed(1));
      } else {
        it.e.setAttribute("d", it.ring.map((q, i) => {
          const p = map.project(q.lat, q.lon);
          return (i ? "L" : "M") + p.x.toFixed(1) + "," + p.y.toFixed(1);
        }).join(""));
      }
    }
  }

  window.PolisDraw = {
    attach(bridge) {
      B = bridge;
      document.addEventListener("keydown", (e) => {
        if (e.key === "Escape" && S.d) stop(true);
      });
    },
    /** Picks one point: `done([{lat, lon}])`; `hint` replaces the bar's text. */
    point: (done, cancel, hint) => start("point", done, cancel, [], hint),
    /** Draws a polygon: `done(corners)` with 3 or more corners. */
    polygon: (done, cancel, initial) => start("polygon", done, cancel, initial),
    reset: () => S.d && stop(false),
    active: () => !!S.d,
    mapClick,
    draw,
  };
})();
