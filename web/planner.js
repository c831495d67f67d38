// Polis console: the camera network planner. A panel (opened from the top bar) to plan the
// municipality's next cameras: the budget of each phase, the key sites to cover (and which of
// them are critical, watched by two cameras), the camera models allowed, the level of detail,
// poles generated around the sites and extra mounting points picked on the map. Then the job's
// progress live, the phases (coverage, bound, gap), coverage by sector before and after, the new
// cameras with their fields of view on the map, the report, and accepting the plan into the
// registry as planned cameras. The results are drawn above the form (no scrolling to them).
//
// The form is built once and kept while the panel shows the planner (live updates draw the
// panel again often; typing, focus and scroll positions survive them): only the parts that
// change are drawn again. Everything chosen lives in `S`, so closing and reopening the panel, or
// switching the language, keeps it.
"use strict";

(function () {
  const I = window.PolisI18n;
  const t = I.t;
  const { svg, destination } = window.PolisMap;
  const PHASE_COLOURS = ["#f0883e", "#3fb950", "#a371f7", "#58a6ff", "#db61a2", "#d29922"];
  const SECTORS = ["safety", "disaster", "transport", "tourism"];
  const SECTOR_COLOURS = { safety: "#f778ba", transport: "#e3b341", disaster: "#3d9dff", tourism: "#b083f0" };
  const PURPOSES = ["detect", "observe", "recognise", "identify"];
  const LOWER = { identify: "recognise", recognise: "observe", observe: "detect", detect: "detect" };
  /** Categories the server plans as critical unless told otherwise (as polis-core does). */
  const CRITICAL_CATEGORIES = ["school", "dam", "hospital"];
  const MAX_PHASES = 10;

  let B = null;
  const S = {
    job: null,
    starting: false,
    /** The last refusal of the server: {message, details}. */
    error: null,
    budgets: [15000, 15000, 15000],
    /** The most new cameras of each phase, besides the budgets (NaN: no count). */
    maxCameras: NaN,
    municipality: null,
    /** The chosen site ids (null until the sites are known: then every site). */
    chosen: null,
    /** Site id -> critical, where it differs from the category's rule. */
    critical: new Map(),
    filter: "",
    catalogue: null,
    catalogueLoading: false,
    /** The allowed model names (null until the catalogue is known: then all). */
    models: null,
    purpose: "observe",
    poles: true,
    poleCost: 600,
    /** How many cameras one mounting point may hold. */
    slots: 1,
    /** Extra mounting points: {n, lat, lon, cost, label}. */
    points: [],
    nextPoint: 1,
    picking: false,
    published: {},
    dom: null,
    /** Bumped whenever what the map layer shows changes. */
    version: 0,
    layer: null,
  };
  const el = (...a) => B.el(...a);
  const pct = (x) => I.number(100 * x, 1) + "%";
  const phaseColour = (n) => PHASE_COLOURS[(n - 1) % PHASE_COLOURS.length];

  function canPlan() {
    return B.state.user && ["admin", "supervisor"].includes(B.state.user.role);
  }

  function planOpen() {
    return !!B && !!B.state.selection && B.state.selection.kind === "plan";
  }

  function changed() {
    S.version++;
    B.requestRender();
  }

  // -----------------------------------------------------------------------------------------
  // Sites, models

  function siteName(p) {
    const first = I.lang === "bg" ? p.name_bg : p.name_en;
    const second = I.lang === "bg" ? p.name_en : p.name_bg;
    return first || second || p.id;
  }

  function municipalities() {
    return [...new Set((B.state.sites || []).map((s) => s.p.municipality).filter(Boolean))].sort();
  }

  /** The sites of the municipality planned for. */
  function mySites() {
    return (B.state.sites || []).filter((s) => !S.municipality || s.p.municipality === S.municipality);
  }

  function ensureDefaults() {
    const munis = municipalities();
    if (!S.municipality || (munis.length && !munis.includes(S.municipality))) {
      const own = B.state.user && B.state.user.municipality;
      S.municipality = own && munis.includes(own) ? own : munis[0] || own || null;
      S.chosen = null;
    }
    if (!S.chosen && (B.state.sites || []).length) {
      S.chosen = new Set(mySites().map((s) => s.id));
      S.version++;
    }
  }

  const defaultCritical = (p) => CRITICAL_CATEGORIES.includes(p.category);
  const isCritical = (s) => (S.critical.has(s.id) ? S.critical.get(s.id) : defaultCritical(s.p));

  function matches(s, q) {
    if (!q) return true;
    const hay = [s.id, s.p.name_en, s.p.name_bg, I.term("category", s.p.category), ...(s.p.sectors || []).map((x) => I.term("sector", x))]
      .filter(Boolean)
      .join(" ")
      .toLowerCase();
    return q
      .toLowerCase()
      .split(/\s+/)
      .filter(Boolean)
      .every((w) => hay.includes(w));
  }

  async function loadCatalogue() {
    if (S.catalogue || S.catalogueLoading || S.catalogueFailed) return;
    S.catalogueLoading = true;
    try {
      const c = await B.api("GET", "/api/v1/plans/models");
      S.catalogue = c;
      if (!S.models) S.models = new Set(c.models.map((m) => m.name));
      if (c.defaults && !S.purposeTouched) S.purpose = c.defaults.purpose || S.purpose;
      if (c.defaults && Number.isFinite(+c.defaults.pole_cost) && !S.poleCostTouched) S.poleCost = +c.defaults.pole_cost;
    } catch (ex) {
      // Shown once; opening the planner again tries again.
      S.catalogueFailed = true;
      B.showToast(ex);
    }
    S.catalogueLoading = false;
    if (S.dom) {
      renderModels();
      S.dom.purpose.value = S.purpose;
      S.dom.poleCost.value = String(S.poleCost);
    }
  }

  // -----------------------------------------------------------------------------------------
  // The job

  async function refresh() {
    if (!S.job) return;
    try {
      const j = await B.api("GET", "/api/v1/plans/" + encodeURIComponent(S.job.id));
      S.job = j;
    } catch (ex) {
      B.showToast(ex);
    }
    S.version++;
    B.renderDetails();
    B.requestRender();
  }

  function onEvent(d) {
    if (!S.job || !d || d.id !== S.job.id) return;
    Object.assign(S.job, { status: d.status, stage: d.stage, progress: d.progress });
    if (d.status !== "running") refresh();
    else B.renderDetails();
  }

  /** The request the form stands for. */
  function request() {
    const body = { budgets: S.budgets.map((b) => (Number.isFinite(b) ? b : null)), purpose: S.purpose, generate_poles: S.poles };
    if (S.municipality) body.municipality = S.municipality;
    if (Number.isFinite(S.maxCameras)) body.max_cameras = S.maxCameras;
    if (S.poles) body.pole_cost = Number.isFinite(S.poleCost) ? S.poleCost : null;
    if (S.slots !== 1) body.slots = Number.isFinite(S.slots) ? S.slots : null;
    const chosen = S.chosen || new Set();
    body.sites = sortedSites(mySites())
      .filter((s) => chosen.has(s.id))
      .map((s) => (S.critical.has(s.id) ? { id: s.id, critical: S.critical.get(s.id) } : s.id));
    if (S.catalogue && S.models) body.models = S.catalogue.models.map((m) => m.name).filter((n) => S.models.has(n));
    body.candidates = S.points.map((p) => ({
      id: "point-" + p.n,
      lat: +p.lat.toFixed(6),
      lon: +p.lon.toFixed(6),
      cost: Number.isFinite(p.cost) ? p.cost : null,
    }));
    return body;
  }

  /** Plans an instance file (docs/ref/plan-input.md), such as one whose options carry the
   * coverage of a GIS viewshed analysis, instead of the form. */
  async function runFile(file) {
    if (!file) return;
    let instance;
    try {
      instance = JSON.parse(await file.text());
    } catch (ex) {
      S.error = { message: t("plan.file_bad", { name: file.name }) + " " + ((ex && ex.message) || ""), details: [] };
      update();
      return;
    }
    const body = { instance };
    if (S.municipality) body.municipality = S.municipality;
    return run(body);
  }

  async function run(given) {
    S.starting = true;
    S.error = null;
    setPicking(false);
    update();
    try {
      S.job = await B.api("POST", "/api/v1/plans", given || request());
      S.version++;
      if (S.dom && S.dom.body) S.dom.body.scrollTop = 0;
    } catch (ex) {
      // A lost session shows the sign-in form instead.
      if (!ex || ex.status !== 401) S.error = { message: (ex && ex.message) || String(ex), details: (ex && ex.details) || [] };
    }
    S.starting = false;
    B.renderDetails();
    B.requestRender();
    // The events carry progress; a look now and then covers a missed one.
    const id = S.job && S.job.id;
    for (let n = 0; n < 600 && S.job && S.job.id === id && S.job.status === "running"; n++) {
      await new Promise((r) => setTimeout(r, 1000));
      if (S.job && S.job.id === id && S.job.status === "running") await refresh();
    }
  }

  async function openReport() {
    try {
      const res = await fetch("/api/v1/plans/" + encodeURIComponent(S.job.id) + "/report.html", {
        headers: { Authorization: "Bearer " + B.state.token },
      });
      if (!res.ok) throw new Error(res.status + " " + res.statusText);
      const url = URL.createObjectURL(new Blob([await res.text()], { type: "text/html" }));
      window.open(url, "_blank", "noopener");
    } catch (ex) {
      B.showToast(ex);
    }
  }

  async function accept() {
    try {
      await B.api("POST", "/api/v1/plans/" + encodeURIComponent(S.job.id) + "/accept");
      S.job.accepted = true;
    } catch (ex) {
      B.showToast(ex);
    }
    B.renderDetails();
  }

  // -----------------------------------------------------------------------------------------
  // Picking mounting points on the map

  function setPicking(on) {
    S.picking = !!on;
    if (S.dom) {
      S.dom.pick.setAttribute("aria-pressed", String(S.picking));
      S.dom.pick.textContent = t(S.picking ? "plan.pick_stop" : "plan.pick");
      S.dom.pickHint.hidden = !S.picking;
    }
    B.requestRender();
  }

  function addPoint(lat, lon, label) {
    S.points.push({ n: S.nextPoint++, lat, lon, cost: S.poleCost, label: label || null });
    renderPoints();
    changed();
  }

  /** A click on the map while picking adds a mounting point there; says whether it did. */
  function mapClick(lat, lon) {
    if (!S.picking || !planOpen()) return false;
    addPoint(lat, lon, null);
    return true;
  }

  /** A click on a marker while picking adds a mounting point at it (a municipal building, say). */
  function featureClick(kind, id) {
    if (!S.picking || !planOpen()) return false;
    const item = B.state.byId && B.state.byId[kind] ? B.state.byId[kind].get(id) : null;
    const at = item ? item.centre || item : null;
    if (at && Number.isFinite(at.lat) && Number.isFinite(at.lon)) {
      addPoint(at.lat, at.lon, kind === "site" ? siteName(item.p) : (item.p && B.shortName(item.p)) || id);
    }
    return true;
  }

  // -----------------------------------------------------------------------------------------
  // The form

  function section(cls, titleKey, ...children) {
    return el("fieldset", { class: "plan-section " + cls }, el("legend", { text: t(titleKey) }), ...children);
  }

  function numberInput(cls, value, label, oninput) {
    const i = el("input", { type: "number", min: "0", step: "100", class: "text-input " + cls, "aria-label": label, oninput });
    i.value = Number.isFinite(value) ? String(value) : "";
    return i;
  }

  function build(panel) {
    const head = el(
      "header",
      { class: "panel-head" },
      el("div", { class: "panel-titles" }, el("div", { class: "panel-kicker", text: t("plan.kicker") }), el("h2", { text: t("plan.title") })),
      el("button", { type: "button", class: "icon-btn", title: t("details.close"), "aria-label": t("details.close"), onclick: () => B.clearSelection() }, "×")
    );
    const d = { lang: I.lang };
    S.catalogueFailed = false;
    d.budgets = el("div", { class: "plan-budgets" });
    d.total = el("div", { class: "muted small plan-budget-total" });
    d.maxCameras = numberInput("plan-max-cameras", S.maxCameras, t("plan.max_cameras"), (e) => {
      S.maxCameras = e.target.value === "" ? NaN : +e.target.value;
    });
    d.maxCameras.step = "1";
    d.maxCameras.min = "1";
    d.maxCameras.placeholder = t("plan.max_cameras_any");
    d.addPhase = el("button", {
      type: "button",
      class: "btn btn-small plan-add-phase",
      text: "+ " + t("plan.add_phase"),
      onclick: () => {
        if (S.budgets.length >= MAX_PHASES) return;
        const last = S.budgets[S.budgets.length - 1];
        S.budgets.push(Number.isFinite(last) ? last : 15000);
        renderBudgets();
      },
    });

    d.siteCount = el("span", { class: "plan-site-count" });
    d.filter = el("input", {
      type: "search",
      class: "text-input plan-site-filter",
      placeholder: t("plan.filter"),
      "aria-label": t("plan.filter"),
      oninput: () => {
        S.filter = d.filter.value;
        renderSites();
      },
    });
    d.filter.value = S.filter;
    const setVisible = (on) => {
      ensureDefaults();
      for (const s of mySites()) if (matches(s, S.filter.trim())) on ? S.chosen.add(s.id) : S.chosen.delete(s.id);
      renderSites();
      changed();
    };
    d.sites = el("div", { class: "plan-site-list", role: "group", "aria-label": t("plan.sites") });
    d.municipality = el("select", {
      class: "text-input plan-municipality",
      "aria-label": t("plan.municipality"),
      onchange: () => {
        S.municipality = d.municipality.value;
        S.chosen = null;
        S.critical.clear();
        ensureDefaults();
        renderSites();
        changed();
      },
    });
    d.municipalityRow = el("label", { class: "plan-inline", text: t("plan.municipality") }, d.municipality);

    d.models = el("div", { class: "plan-models" });
    d.purpose = el(
      "select",
      {
        class: "text-input plan-purpose",
        "aria-label": t("plan.purpose"),
        onchange: () => {
          S.purpose = d.purpose.value;
          S.purposeTouched = true;
          renderModels();
        },
      },
      PURPOSES.map((p) => el("option", { value: p, text: t("plan.purpose_" + p) }))
    );
    d.purpose.value = S.purpose;
    d.poles = el("input", {
      type: "checkbox",
      class: "plan-poles",
      onchange: () => {
        S.poles = d.poles.checked;
        d.poleCost.disabled = !S.poles;
      },
    });
    d.poles.checked = S.poles;
    d.poleCost = numberInput("plan-pole-cost", S.poleCost, t("plan.pole_cost"), () => {
      S.poleCost = d.poleCost.value === "" ? NaN : +d.poleCost.value;
      S.poleCostTouched = true;
    });
    d.poleCost.disabled = !S.poles;
    d.slots = numberInput("plan-slots", S.slots, t("plan.slots"), () => {
      S.slots = d.slots.value === "" ? NaN : +d.slots.value;
    });
    d.slots.min = "1";
    d.slots.max = "64";
    d.slots.step = "1";

    d.pick = el("button", { type: "button", class: "btn btn-small plan-pick", "aria-pressed": String(S.picking), text: t(S.picking ? "plan.pick_stop" : "plan.pick"), onclick: () => setPicking(!S.picking) });
    d.pickHint = el("p", { class: "muted small plan-pick-hint", text: t("plan.pick_hint") });
    d.pickHint.hidden = !S.picking;
    d.points = el("ol", { class: "plan-points" });

    d.run = el("button", { type: "submit", class: "btn btn-small btn-primary plan-run", text: t("plan.run") });
    d.file = el("input", {
      type: "file",
      accept: ".json,application/json",
      class: "plan-file",
      "aria-label": t("plan.file"),
      onchange: () => {
        const f = d.file.files && d.file.files[0];
        d.file.value = "";
        runFile(f);
      },
    });
    d.error = el("div", { class: "form-error plan-error" });
    d.result = el("div", { class: "plan-result" });

    d.form = el(
      "form",
      {
        class: "plan-form",
        novalidate: true,
        onsubmit: (e) => {
          e.preventDefault();
          run();
        },
      },
      d.municipalityRow,
      section(
        "plan-budget-section",
        "plan.budgets",
        d.budgets,
        el("div", { class: "plan-row" }, d.addPhase, d.total),
        el("label", { class: "plan-row small plan-max-cameras-row" }, el("span", { text: t("plan.max_cameras") }), d.maxCameras)
      ),
      section(
        "plan-site-section",
        "plan.sites",
        el(
          "div",
          { class: "plan-row" },
          d.filter,
          el("button", { type: "button", class: "btn btn-small plan-sites-all", text: t("plan.all"), onclick: () => setVisible(true) }),
          el("button", { type: "button", class: "btn btn-small plan-sites-none", text: t("plan.none"), onclick: () => setVisible(false) })
        ),
        el("div", { class: "muted small" }, d.siteCount),
        d.sites
      ),
      section("plan-model-section", "plan.models", d.models, el("label", { class: "plan-inline", text: t("plan.purpose") }, d.purpose)),
      section(
        "plan-candidate-section",
        "plan.points",
        el("label", { class: "plan-check" }, d.poles, el("span", { text: t("plan.poles") })),
        el("label", { class: "plan-inline", text: t("plan.pole_cost") }, d.poleCost),
        el("label", { class: "plan-inline", text: t("plan.slots") }, d.slots),
        el("div", { class: "plan-row" }, d.pick),
        d.pickHint,
        d.points
      ),
      el("div", { class: "plan-row plan-run-row" }, d.run),
      el("label", { class: "plan-row small plan-file-row" }, el("span", { text: t("plan.file") }), d.file),
      el("p", { class: "muted small plan-file-hint", text: t("plan.file_hint") }),
      d.error
    );
    // The results come first, so that they show without scrolling past the form.
    const body = el("div", { class: "panel-body plan-body" }, el("p", { class: "muted small", text: t("plan.intro") }), d.result, d.form);
    d.head = head;
    d.body = body;
    S.dom = d;
    panel.replaceChildren(head, body);
    renderBudgets();
    renderSites();
    renderModels();
    renderPoints();
  }

  function renderBudgets() {
    const d = S.dom;
    const rows = S.budgets.map((b, i) =>
      el(
        "div",
        { class: "plan-budget-row", "data-phase": String(i + 1) },
        el("span", { class: "plan-phase-label" }, el("span", { class: "chip-dot", style: "background:" + phaseColour(i + 1) }), " " + t("plan.phase_n", { n: i + 1 })),
        numberInput("plan-budget", b, t("plan.budget_of", { n: i + 1 }), (e) => {
          S.budgets[i] = e.target.value === "" ? NaN : +e.target.value;
          renderTotal();
        }),
        el("button", {
          type: "button",
          class: "icon-btn plan-remove-phase",
          title: t("plan.remove_phase"),
          "aria-label": t("plan.remove_phase"),
          disabled: S.budgets.length <= 1,
          text: "×",
          onclick: () => {
            if (S.budgets.length <= 1) return;
            S.budgets.splice(i, 1);
            renderBudgets();
          },
        })
      )
    );
    d.budgets.replaceChildren(...rows);
    d.addPhase.disabled = S.budgets.length >= MAX_PHASES;
    renderTotal();
  }

  function renderTotal() {
    const sum = S.budgets.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
    S.dom.total.textContent = t("plan.total", { total: I.number(sum) });
  }

  function sortedSites(list) {
    const sector = (s) => (s.p.sectors || [])[0] || "other";
    const rank = (x) => (SECTORS.includes(x) ? SECTORS.indexOf(x) : SECTORS.length);
    return list
      .slice()
      .sort((a, b) => rank(sector(a)) - rank(sector(b)) || (a.p.priority || 5) - (b.p.priority || 5) || siteName(a.p).localeCompare(siteName(b.p)));
  }

  function renderSites() {
    const d = S.dom;
    ensureDefaults();
    d.sitesRef = B.state.sites;
    const munis = municipalities();
    d.municipalityRow.hidden = munis.length < 2;
    if (munis.length >= 2) {
      d.municipality.replaceChildren(...munis.map((m) => el("option", { value: m, text: municipalityName(m) })));
      d.municipality.value = S.municipality || "";
    }
    const all = sortedSites(mySites());
    const chosen = S.chosen || new Set();
    const q = S.filter.trim();
    const shown = all.filter((s) => matches(s, q));
    const groups = new Map();
    for (const s of shown) {
      const k = (s.p.sectors || [])[0] || "other";
      if (!groups.has(k)) groups.set(k, []);
      groups.get(k).push(s);
    }
    const out = [];
    for (const [sector, list] of groups) {
      const n = list.filter((s) => chosen.has(s.id)).length;
      const box = el("input", {
        type: "checkbox",
        class: "plan-group-check",
        "data-sector": sector,
        "aria-label": I.term("sector", sector),
        onchange: (e) => {
          for (const s of list) e.target.checked ? chosen.add(s.id) : chosen.delete(s.id);
          renderSites();
          changed();
        },
      });
      box.checked = n === list.length;
      box.indeterminate = n > 0 && n < list.length;
      out.push(
        el(
          "label",
          { class: "plan-site-group", "data-sector": sector },
          box,
          el("span", { class: "chip-dot", style: "background:" + (SECTOR_COLOURS[sector] || "#8b949e") }),
          el("span", { class: "plan-group-name", text: I.term("sector", sector) }),
          el("span", { class: "muted small", text: n + "/" + list.length })
        )
      );
      for (const s of list) {
        const check = el("input", {
          type: "checkbox",
          class: "plan-site-check",
          "data-site-id": s.id,
          onchange: (e) => {
            e.target.checked ? chosen.add(s.id) : chosen.delete(s.id);
            row.classList.toggle("is-chosen", e.target.checked);
            renderSiteCount();
            changed();
          },
        });
        check.checked = chosen.has(s.id);
        const crit = isCritical(s);
        const critBtn = el("button", {
          type: "button",
          class: "plan-site-critical" + (crit ? " is-on" : ""),
          "data-site-id": s.id,
          "aria-pressed": String(crit),
          title: t("plan.critical"),
          text: critLabel(crit),
          onclick: () => {
            const next = !isCritical(s);
            if (next === defaultCritical(s.p)) S.critical.delete(s.id);
            else S.critical.set(s.id, next);
            critBtn.classList.toggle("is-on", next);
            critBtn.setAttribute("aria-pressed", String(next));
            critBtn.textContent = critLabel(next);
          },
        });
        const row = el(
          "div",
          { class: "plan-site" + (check.checked ? " is-chosen" : ""), "data-site-id": s.id },
          el(
            "label",
            { class: "plan-site-main" },
            check,
            el(
              "span",
              { class: "plan-site-text" },
              el("span", { class: "plan-site-name", title: siteName(s.p), text: siteName(s.p) }),
              el("span", { class: "plan-site-meta", text: I.term("category", s.p.category) + " · " + t("plan.priority", { p: s.p.priority || 5 }) })
            )
          ),
          critBtn
        );
        out.push(row);
      }
    }
    if (!all.length) out.push(el("p", { class: "muted small", text: t("plan.no_sites") }));
    else if (!shown.length) out.push(el("p", { class: "muted small", text: t("plan.no_match") }));
    d.sites.replaceChildren(...out);
    renderSiteCount();
  }

  const critLabel = (on) => (on ? "✓ " : "") + t("plan.critical_short");

  function renderSiteCount() {
    const all = mySites();
    const chosen = S.chosen || new Set();
    S.dom.siteCount.textContent = t("plan.sites_count", { n: all.filter((s) => chosen.has(s.id)).length, total: all.length });
  }

  function municipalityName(id) {
    const m = B.state.municipalities && B.state.municipalities.get(id);
    if (!m) return id;
    return I.lang === "bg" ? m.name_bg || m.name_en || id : m.name_en || m.name_bg || id;
  }

  function renderModels() {
    const d = S.dom;
    if (!S.catalogue) {
      d.models.replaceChildren(el("p", { class: "muted small", text: t(S.catalogueFailed ? "plan.models_failed" : "plan.loading") }));
      loadCatalogue();
      return;
    }
    d.models.replaceChildren(
      ...S.catalogue.models.map((m) => {
        const box = el("input", {
          type: "checkbox",
          class: "plan-model-check",
          "data-model": m.name,
          onchange: (e) => (e.target.checked ? S.models.add(m.name) : S.models.delete(m.name)),
        });
        box.checked = S.models.has(m.name);
        const level = m.kind === "ptz" ? LOWER[S.purpose] : S.purpose;
        const reach = m.ranges_m ? m.ranges_m[level] : m.reach_m;
        return el(
          "label",
          { class: "plan-model", "data-model": m.name },
          box,
          el(
            "span",
            { class: "plan-model-main" },
            el("span", { class: "plan-model-name", text: m.name }),
            el("span", {
              class: "plan-model-meta",
              text: t("plan.model_meta", { kind: t("plan.kind_" + m.kind), hfov: I.number(m.hfov_deg), px: m.h_pixels, cost: I.number(m.cost) }),
            })
          ),
          el("span", {
            class: "plan-model-range",
            title: t(m.kind === "ptz" ? "plan.range_ptz" : "plan.range_fixed", { purpose: t("plan.purpose_" + level) }),
            text: t("plan.range", { m: I.number(reach || 0) }),
          })
        );
      })
    );
  }

  function renderPoints() {
    const d = S.dom;
    if (!d) return;
    if (!S.points.length) {
      d.points.replaceChildren(el("li", { class: "muted small plan-no-points", text: t("plan.no_points") }));
      return;
    }
    d.points.replaceChildren(
      ...S.points.map((p) =>
        el(
          "li",
          { class: "plan-point", "data-point": String(p.n) },
          el("span", { class: "plan-point-badge", text: String(p.n) }),
          el("span", { class: "plan-point-where", title: p.lat.toFixed(6) + ", " + p.lon.toFixed(6), text: p.label || p.lat.toFixed(5) + ", " + p.lon.toFixed(5) }),
          numberInput("plan-point-cost", p.cost, t("plan.point_cost", { n: p.n }), (e) => {
            p.cost = e.target.value === "" ? NaN : +e.target.value;
          }),
          el("button", {
            type: "button",
            class: "icon-btn plan-point-remove",
            title: t("plan.remove_point"),
            "aria-label": t("plan.remove_point"),
            text: "×",
            onclick: () => {
              S.points = S.points.filter((x) => x !== p);
              renderPoints();
              changed();
            },
          })
        )
      )
    );
  }

  // -----------------------------------------------------------------------------------------
  // The result

  function sectorTable(s) {
    const last = s.phases[s.phases.length - 1];
    const before = s.before.sectors || {};
    const after = (last && last.sectors) || {};
    const rank = (x) => (SECTORS.includes(x) ? SECTORS.indexOf(x) : SECTORS.length);
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    if (!keys.length) return null;
    const table = el("table", { class: "plan-table plan-sector-table" });
    table.appendChild(
      el("tr", {}, el("th", { text: t("plan.sector") }), el("th", { text: t("plan.today") }), el("th", { text: t("plan.after", { n: last ? last.phase : 0 }) }), el("th", { text: t("plan.change") }))
    );
    for (const k of keys) {
      const b = before[k] ? before[k].share : 0;
      const a = after[k] ? after[k].share : b;
      table.appendChild(
        el(
          "tr",
          { class: "plan-sector-row", "data-sector": k },
          el("td", {}, el("span", { class: "chip-dot", style: "background:" + (SECTOR_COLOURS[k] || "#8b949e") }), " " + I.term("sector", k)),
          el("td", { text: pct(b) }),
          el("td", {}, el("span", { class: "plan-share" }, el("span", { style: "width:" + Math.round(100 * a) + "%" })), " " + pct(a)),
          el("td", { class: "plan-delta", text: "+" + I.number(100 * (a - b), 1) })
        )
      );
    }
    return table;
  }

  function renderResult() {
    const d = S.dom;
    const j = S.job;
    const out = [];
    if (j) {
      const running = j.status === "running";
      if (running) {
        out.push(
          el(
            "div",
            { class: "plan-progress" },
            el("div", { class: "muted small", text: t("plan.stage_" + (j.stage || "queued")) + " · " + pct(j.progress || 0) }),
            el("div", { class: "plan-bar" }, el("span", { style: "width:" + Math.round(100 * (j.progress || 0)) + "%" })),
            el("button", { type: "button", class: "btn btn-small plan-cancel", text: t("plan.cancel"), onclick: () => B.api("DELETE", "/api/v1/plans/" + encodeURIComponent(j.id)).catch(B.showToast) })
          )
        );
      } else if (j.status === "done" && j.summary) {
        const s = j.summary;
        out.push(el("h3", { class: "plan-h3", text: t("plan.result") }));
        if (j.input) {
          out.push(
            el("p", {
              class: "muted small plan-input-summary",
              text: t("plan.input_summary", { sites: j.input.sites.length, models: j.input.models.length, candidates: j.input.candidates, purpose: t("plan.purpose_" + j.input.purpose) }),
            })
          );
        }
        const table = el("table", { class: "plan-table" });
        table.appendChild(el("tr", {}, ["plan.phase", "plan.budget", "plan.cameras", "plan.covered", "plan.bound", "plan.gap"].map((k) => el("th", { text: t(k) }))));
        table.appendChild(el("tr", {}, el("td", { text: t("plan.today") }), el("td"), el("td"), el("td", { text: pct(s.before.covered_weight / s.total_weight) }), el("td"), el("td")));
        for (const ph of s.phases) {
          table.appendChild(
            el(
              "tr",
              { class: "plan-phase-row", "data-phase": String(ph.phase) },
              el("td", {}, el("span", { class: "chip-dot", style: "background:" + phaseColour(ph.phase) }), " " + ph.phase),
              el("td", { class: "plan-spent", text: I.number(Math.max(0, ph.spent) || 0) + " / " + I.number(ph.budget) }),
              el("td", { text: String(ph.cameras) }),
              el("td", { text: pct(ph.covered_weight / ph.total_weight) }),
              el("td", { text: pct(ph.upper_bound / ph.total_weight) }),
              el("td", { text: pct(ph.gap) })
            )
          );
        }
        out.push(table);
        const sectors = sectorTable(s);
        if (sectors) out.push(el("h3", { class: "plan-h3", text: t("plan.sectors") }), sectors);
        const cams = el("ol", { class: "item-list plan-cameras" });
        for (const f of (j.geojson && j.geojson.features) || []) {
          const p = f.properties;
          cams.appendChild(
            el(
              "li",
              { class: "cam-item plan-camera", role: "button", tabindex: "0", "data-phase": String(p.phase), onclick: () => B.state.map && B.state.map.animateTo(f.geometry.coordinates[1], f.geometry.coordinates[0], 17) },
              el("span", { class: "status-dot", style: "background:" + phaseColour(p.phase) }),
              el(
                "span",
                { class: "cam-item-main" },
                el("span", { class: "cam-item-name", text: p.rank + ". " + (p.place || p.candidate) }),
                el("span", { class: "cam-item-meta", text: p.model + " · " + t("plan.camera_meta", { phase: p.phase, heading: p.heading === null ? "PTZ" : Math.round(p.heading) + "°", cost: I.number(p.cost) }) })
              ),
              el("span", { class: "cam-item-dist", text: "+" + I.number(p.gain, 2) })
            )
          );
        }
        out.push(el("h3", { class: "plan-h3", text: t("plan.new_cameras") }), cams);
        out.push(
          el(
            "div",
            { class: "incident-actions" },
            el("button", { type: "button", class: "btn btn-small plan-report", text: t("plan.report"), onclick: openReport }),
            canPlan() && !j.accepted ? el("button", { type: "button", class: "btn btn-small btn-primary plan-accept", text: t("plan.accept"), onclick: accept }) : null,
            j.accepted ? el("span", { class: "muted small plan-accepted", text: t("plan.accepted") }) : null,
            publishButton(j)
          )
        );
      } else {
        out.push(el("p", { class: "form-error", text: t("plan.status_" + j.status) + (j.error ? ": " + j.error : "") }));
      }
    }
    d.result.replaceChildren(...out);
  }

  /** For administrators: publishes the plan's report on the citizen portal (the council's
   *  approved expansion plan), or withdraws it. */
  function publishButton(j) {
    const W = window.PolisWarnings;
    if (!W || !W.isAdmin()) return null;
    const on = j.id in S.published ? S.published[j.id] : W.isPublic("plan", j.id);
    return el("button", {
      type: "button",
      class: "btn btn-small plan-publish",
      "aria-pressed": String(on),
      text: t(on ? "plan.unpublish" : "plan.publish"),
      onclick: async (e) => {
        e.currentTarget.disabled = true;
        try {
          await W.setPublic("plan", j.id, !on);
          S.published[j.id] = !on;
        } catch (err) {
          B.showToast(err);
        }
        update();
      },
    });
  }

  /** Draws again what changes: the run button, the error, the sites when the registry changed,
   *  and the result. */
  function update() {
    const d = S.dom;
    if (!d) return;
    const j = S.job;
    d.run.disabled = (j && j.status === "running") || S.starting || !canPlan();
    if (d.sitesRef !== B.state.sites) renderSites();
    if (S.error) {
      d.error.replaceChildren(
        el("div", { text: S.error.message }),
        ...S.error.details.map((x) => el("div", { class: "plan-error-detail", "data-field": x.field || "", text: (x.field ? x.field + ": " : "") + x.message }))
      );
      d.error.hidden = false;
    } else {
      d.error.replaceChildren();
      d.error.hidden = true;
    }
    renderResult();
  }

  function renderDetails(panel) {
    panel.hidden = false;
    panel.dataset.kind = "plan";
    const j = S.job;
    panel.dataset.state = j ? j.status : "idle";
    if (j) panel.dataset.id = j.id;
    else delete panel.dataset.id;
    ensureDefaults();
    if (!S.dom || S.dom.lang !== I.lang || S.dom.body.parentNode !== panel || S.dom.head.parentNode !== panel) build(panel);
    update();
  }

  // -----------------------------------------------------------------------------------------
  // The map layer: chosen sites, extra mounting points, and the new cameras with their views

  /** The outline of a camera's view: a sector, or a circle for PTZ. */
  function viewOutline(lat, lon, p) {
    const r = +p.reach_m || 0;
    if (r <= 0) return [];
    const pts = [];
    if (p.ptz || p.heading === null) {
      for (let i = 0; i < 48; i++) pts.push(destination(lat, lon, i * 7.5, r));
      return pts;
    }
    const fov = +p.hfov_deg || 60;
    const steps = Math.max(6, Math.ceil(fov / 6));
    pts.push({ lat, lon });
    for (let i = 0; i <= steps; i++) pts.push(destination(lat, lon, p.heading - fov / 2 + (fov * i) / steps, r));
    return pts;
  }

  function buildLayer(g, open) {
    g.replaceChildren();
    const L = { version: S.version, open, items: [] };
    S.layer = L;
    if (!open) return;
    const rings = svg("g", { class: "plan-site-rings" }, g);
    const cones = svg("g", { class: "plan-cones" }, g);
    const marks = svg("g", { class: "plan-markers" }, g);
    const points = svg("g", { class: "plan-points-layer" }, g);
    const chosen = S.chosen || new Set();
    for (const s of mySites()) {
      if (!chosen.has(s.id) || !s.centre) continue;
      const e = svg("circle", { class: "plan-site-ring", r: 13, "data-site-id": s.id }, rings);
      L.items.push({ e, lat: s.centre.lat, lon: s.centre.lon });
    }
    const j = S.job;
    const features = j && j.status === "done" && j.geojson ? j.geojson.features : [];
    for (const f of features) {
      const [lon, lat] = f.geometry.coordinates;
      const p = f.properties;
      const colour = phaseColour(p.phase);
      const outline = viewOutline(lat, lon, p);
      if (outline.length) {
        const e = svg("path", { class: "plan-cone" + (p.ptz ? " is-ptz" : ""), fill: colour, stroke: colour, "data-phase": String(p.phase) }, cones);
        L.items.push({ e, path: outline });
      }
      const m = svg("g", { class: "plan-marker", "data-phase": String(p.phase), "data-rank": String(p.rank) }, marks);
      m.style.setProperty("--phase", colour);
      svg("circle", { r: 7 }, m);
      const label = svg("text", { class: "plan-marker-phase", y: 3.5 }, m);
      label.textContent = String(p.phase);
      L.items.push({ e: m, lat, lon });
    }
    for (const p of S.points) {
      const m = svg("g", { class: "plan-point-marker", "data-point": String(p.n) }, points);
      svg("rect", { x: -8, y: -8, width: 16, height: 16, rx: 3 }, m);
      const label = svg("text", { y: 4 }, m);
      label.textContent = String(p.n);
      L.items.push({ e: m, lat: p.lat, lon: p.lon });
    }
  }

  function draw(map) {
    const g = B.state.g && B.state.g.plan;
    if (!g) return;
    const open = planOpen();
    const mapEl = document.getElementById("map");
    if (mapEl) mapEl.classList.toggle("is-picking", open && S.picking);
    if (!S.layer || S.layer.version !== S.version || S.layer.open !== open) buildLayer(g, open);
    for (const it of S.layer.items) {
      if (it.path) {
        let d = "";
        it.path.forEach((q, i) => {
          const p = map.project(q.lat, q.lon);
          d += (i ? "L" : "M") + p.x.toFixed(1) + "," + p.y.toFixed(1);
        });
        it.e.setAttribute("d", d + "Z");
      } else {
        const p = map.project(it.lat, it.lon);
        it.e.setAttribute("transform", `translate(${p.x.toFixed(1)},${p.y.toFixed(1)})`);
      }
    }
  }

  window.PolisPlanner = {
    attach(bridge) {
      B = bridge;
    },
    renderDetails,
    onEvent,
    draw,
    mapClick,
    featureClick,
    canPlan: () => canPlan(),
    reset() {
      S.job = null;
      S.error = null;
      S.chosen = null;
      S.municipality = null;
      S.critical.clear();
      S.points = [];
      S.picking = false;
      S.dom = null;
      S.version++;
    },
  };
})();
