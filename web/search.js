// Polis console: the top bar's search. Finds key sites (by either language's name), cameras and
// sensors (by name or id) among what the console holds, as one types; words may come in any order
// ("levski cam" finds "Levski Blvd camera"). Arrow keys move through the matches, Enter or a click
// goes there: the map moves to it and its panel opens. Camera names carry their street, so a
// street's name finds the cameras on it.
"use strict";

(function () {
  const I = window.PolisI18n;
  const t = I.t;
  const PER_KIND = 6;

  Object.assign(I.strings.en, {
    "search.placeholder": "Search a place, camera or sensor",
    "search.label": "Search the map",
    "search.none": "Nothing found",
    "search.kind_site": "Site",
    "search.kind_camera": "Camera",
    "search.kind_sensor": "Sensor",
  });
  Object.assign(I.strings.bg, {
    "search.placeholder": "Търсене на място, камера или сензор",
    "search.label": "Търсене по картата",
    "search.none": "Няма намерени",
    "search.kind_site": "Обект",
    "search.kind_camera": "Камера",
    "search.kind_sensor": "Сензор",
  });

  let B = null;
  let box = null;
  let list = null;
  const S = { matches: [], active: -1 };

  const fold = (s) => String(s || "").toLowerCase().normalize("NFD").replace(/[\u0300-\u036f]/g, "");

  function label(kind, x) {
    const p = x.p || {};
    if (kind === "site") return (I.lang === "bg" ? p.name_bg || p.name_en : p.name_en || p.name_bg) || x.id;
    return B.shortName(p) || x.id;
  }

  function haystack(kind, x) {
    const p = x.p || {};
    return fold([x.id, p.name, p.name_bg, p.name_en].filter(Boolean).join(" "));
  }

  /** The matches of `q`: every word must occur; names that start with the query come first. */
  function find(q) {
    const words = fold(q).split(/\s+/).filter(Boolean);
    if (!words.length) return [];
    const out = [];
    for (const [kind, items] of [["site", B.state.sites], ["camera", B.state.cameras], ["sensor", B.state.sensors]]) {
      const found = [];
      for (const x of items || []) {
        const h = haystack(kind, x);
        if (words.every((w) => h.includes(w))) {
          found.push({ kind, id: x.id, text: label(kind, x), starts: fold(label(kind, x)).startsWith(words[0]) });
          if (found.length >= PER_KIND * 20) break;
        }
      }
      found.sort((a, b) => Number(b.starts) - Number(a.starts) || a.text.localeCompare(b.text));
      out.push(...found.slice(0, PER_KIND));
    }
    return out;
  }

  function show() {
    list.replaceChildren();
    if (!box.value.trim()) {
      list.hidden = true;
      box.setAttribute("aria-expanded", "false");
      return;
    }
    if (!S.matches.length) {
      list.append(B.el("li", { class: "search-none", role: "option", "aria-disabled": "true", text: t("search.none") }));
    }
    S.matches.forEach((m, i) => {
      list.append(B.el("li", { id: "search-opt-" + i, class: "search-item", role: "option", "data-kind": m.kind, "data-id": m.id,
        "aria-selected": String(i === S.active),
        onmousedown: (e) => {
          e.preventDefault();
          go(i);
        } },
        B.el("span", { class: "search-kind", text: t("search.kind_" + m.kind) }),
        B.el("span", { class: "search-text", text: m.text })));
    });
    if (S.active >= 0) box.setAttribute("aria-activedescendant", "search-opt-" + S.active);
    else box.removeAttribute("aria-activedescendant");
    list.hidden = false;
    box.setAttribute("aria-expanded", "true");
  }

  function go(i) {
    const m = S.matches[i];
    if (!m) return;
    list.hidden = true;
    box.setAttribute("aria-expanded", "false");
    box.blur();
    B.select(m.kind, m.id);
    const item = B.state.byId[m.kind] && B.state.byId[m.kind].get(m.id);
    const pos = item && (item.centre || item);
    if (pos && Number.isFinite(pos.lat) && window.polisMap) window.polisMap.view.animateTo(pos.lat, pos.lon, Math.max(window.polisMap.view.getZoom(), 16));
  }

  function onKey(e) {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      if (!S.matches.length) return;
      const n = S.matches.length;
      S.active = e.key === "ArrowDown" ? (S.active + 1) % n : (S.active - 1 + n) % n;
      show();
    } else if (e.key === "Enter") {
      e.preventDefault();
      go(S.active >= 0 ? S.active : 0);
    } else if (e.key === "Escape") {
      box.value = "";
      S.matches = [];
      show();
      box.blur();
    }
  }

  window.PolisSearch = {
    attach(bridge) {
      B = bridge;
      const anchor = document.getElementById("status-line");
      if (!anchor || document.getElementById("map-search")) return;
      box = B.el("input", { id: "map-search", type: "search", class: "map-search", role: "combobox", autocomplete: "off",
        "aria-autocomplete": "list", "aria-expanded": "false", "aria-controls": "map-search-results",
        placeholder: t("search.placeholder"), "aria-label": t("search.label"), hidden: true });
      list = B.el("ul", { id: "map-search-results", class: "map-search-results", role: "listbox", hidden: true });
      const wrap = B.el("div", { class: "map-search-wrap" }, box, list);
      anchor.after(wrap);
      box.addEventListener("input", () => {
        S.matches = find(box.value);
        S.active = S.matches.length ? 0 : -1;
        show();
      });
      box.addEventListener("keydown", onKey);
      box.addEventListener("blur", () => setTimeout(() => (list.hidden = true), 150));
      box.addEventListener("focus", () => box.value.trim() && show());
      I.onChange(() => {
        box.placeholder = t("search.placeholder");
        box.setAttribute("aria-label", t("search.label"));
      });
    },
    start() {
      box.hidden = false;
    },
    reset() {
      if (!box) return;
      box.value = "";
      box.hidden = true;
      list.hidden = true;
      S.matches = [];
    },
  };
})();
