// Polis console: the camera network planner. A panel (opened from the top bar) to plan the
// municipality's next cameras phase by phase within a budget, follow the job's progress live,
// see the phases (coverage, bound, gap) and the cameras in order of value on the map, open the
// report, and accept the plan into the registry as planned cameras.
"use strict";

(function () {
  const I = window.PolisI18n;
  const t = I.t;
  const { svg } = window.PolisMap;
  const PHASE_COLOURS = ["#f0883e", "#3fb950", "#a371f7", "#58a6ff", "#db61a2", "#d29922"];

  let B = null;
  const S = { job: null, phases: 3, budget: 15000, starting: false };
  const el = (...a) => B.el(...a);
  const pct = (x) => I.number(100 * x, 1) + "%";

  function canPlan() {
    return B.state.user && ["admin", "supervisor"].includes(B.state.user.role);
  }

  async function refresh() {
    if (!S.job) return;
    try {
      const j = await B.api("GET", "/api/v1/plans/" + encodeURIComponent(S.job.id));
      S.job = j;
    } catch (ex) {
      B.showToast(ex);
    }
    B.renderDetails();
    B.requestRender();
  }

  function onEvent(d) {
    if (!S.job || !d || d.id !== S.job.id) return;
    Object.assign(S.job, { status: d.status, stage: d.stage, progress: d.progress });
    if (d.status !== "running") refresh();
    else B.renderDetails();
  }

  async function run(phases, budget) {
    S.starting = true;
    B.renderDetails();
    try {
      S.job = await B.api("POST", "/api/v1/plans", { phases, budget });
      S.phases = phases;
      S.budget = budget;
    } catch (ex) {
      B.showToast(ex);
    }
    S.starting = false;
    B.renderDetails();
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
      const r = await B.api("POST", "/api/v1/plans/" + encodeURIComponent(S.job.id) + "/accept");
      S.job.accepted = true;
      S.accepted = r.cameras;
    } catch (ex) {
      B.showToast(ex);
    }
    B.renderDetails();
  }

  function renderDetails(panel) {
    panel.hidden = false;
    panel.dataset.kind = "plan";
    const j = S.job;
    panel.dataset.state = j ? j.status : "idle";
    if (j) panel.dataset.id = j.id;
    const head = el(
      "header",
      { class: "panel-head" },
      el("div", { class: "panel-titles" }, el("div", { class: "panel-kicker", text: t("plan.kicker") }), el("h2", { text: t("plan.title") })),
      el("button", { type: "button", class: "icon-btn", title: t("details.close"), "aria-label": t("details.close"), onclick: () => B.clearSelection() }, "×")
    );
    const body = el("div", { class: "panel-body" });
    body.appendChild(el("p", { class: "muted small", text: t("plan.intro") }));
    const phases = el("input", { type: "number", min: "1", max: "10", class: "text-input plan-phases", "aria-label": t("plan.phases") });
    phases.value = String(S.phases);
    const budget = el("input", { type: "number", min: "0", step: "100", class: "text-input plan-budget", "aria-label": t("plan.budget") });
    budget.value = String(S.budget);
    const running = j && j.status === "running";
    body.appendChild(
      el(
        "form",
        {
          class: "plan-form",
          onsubmit: (e) => {
            e.preventDefault();
            run(Math.max(1, Math.min(10, +phases.value || 3)), Math.max(1, +budget.value || 15000));
          },
        },
        el("label", { text: t("plan.phases") }, phases),
        el("label", { text: t("plan.budget") }, budget),
        el("button", { type: "submit", class: "btn btn-small btn-primary plan-run", disabled: running || S.starting || !canPlan(), text: t("plan.run") })
      )
    );
    if (j) {
      if (running) {
        body.appendChild(
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
        const table = el("table", { class: "plan-table" });
        table.appendChild(el("tr", {}, ["plan.phase", "plan.cameras", "plan.covered", "plan.bound", "plan.gap"].map((k) => el("th", { text: t(k) }))));
        table.appendChild(el("tr", {}, el("td", { text: t("plan.today") }), el("td", { text: "" }), el("td", { text: pct(s.before.covered_weight / s.total_weight) }), el("td"), el("td")));
        for (const ph of s.phases) {
          table.appendChild(
            el(
              "tr",
              { class: "plan-phase-row", "data-phase": String(ph.phase) },
              el("td", {}, el("span", { class: "chip-dot", style: "background:" + PHASE_COLOURS[(ph.phase - 1) % PHASE_COLOURS.length] }), " " + ph.phase),
              el("td", { text: String(ph.cameras) }),
              el("td", { text: pct(ph.covered_weight / ph.total_weight) }),
              el("td", { text: pct(ph.upper_bound / ph.total_weight) }),
              el("td", { text: pct(ph.gap) })
            )
          );
        }
        body.appendChild(table);
        const cams = el("ol", { class: "item-list plan-cameras" });
        for (const f of (j.geojson && j.geojson.features) || []) {
          const p = f.properties;
          cams.appendChild(
            el(
              "li",
              { class: "cam-item plan-camera", role: "button", tabindex: "0", onclick: () => B.state.map && B.state.map.animateTo(f.geometry.coordinates[1], f.geometry.coordinates[0], 17) },
              el("span", { class: "status-dot", style: "background:" + PHASE_COLOURS[(p.phase - 1) % PHASE_COLOURS.length] }),
              el("span", { class: "cam-item-main" }, el("span", { class: "cam-item-name", text: p.rank + ". " + p.model }), el("span", { class: "cam-item-meta", text: t("plan.camera_meta", { phase: p.phase, heading: p.heading === null ? "PTZ" : Math.round(p.heading) + "°", cost: I.number(p.cost) }) })),
              el("span", { class: "cam-item-dist", text: "+" + I.number(p.gain, 2) })
            )
          );
        }
        body.appendChild(el("h3", { class: "plan-h3", text: t("plan.new_cameras") }));
        body.appendChild(cams);
        body.appendChild(
          el(
            "div",
            { class: "incident-actions" },
            el("button", { type: "button", class: "btn btn-small plan-report", text: t("plan.report"), onclick: openReport }),
            canPlan() && !j.accepted ? el("button", { type: "button", class: "btn btn-small btn-primary plan-accept", text: t("plan.accept"), onclick: accept }) : null,
            j.accepted ? el("span", { class: "muted small plan-accepted", text: t("plan.accepted") }) : null
          )
        );
      } else if (j.status !== "running") {
        body.appendChild(el("p", { class: "form-error", text: t("plan.status_" + j.status) + (j.error ? ": " + j.error : "") }));
      }
    }
    panel.replaceChildren(head, body);
  }

  function draw(map) {
    const g = B.state.g && B.state.g.plan;
    if (!g) return;
    const j = S.job;
    const features = j && j.status === "done" && j.geojson && B.state.selection && B.state.selection.kind === "plan" ? j.geojson.features : [];
    while (g.childNodes.length > features.length) g.lastChild.remove();
    features.forEach((f, i) => {
      let m = g.childNodes[i];
      if (!m) {
        m = svg("g", { class: "plan-marker" }, g);
        svg("circle", { r: 7 }, m);
      }
      const p = map.project(f.geometry.coordinates[1], f.geometry.coordinates[0]);
      m.style.setProperty("--phase", PHASE_COLOURS[(f.properties.phase - 1) % PHASE_COLOURS.length]);
      m.setAttribute("transform", `translate(${p.x.toFixed(1)},${p.y.toFixed(1)})`);
    });
  }

  window.PolisPlanner = {
    attach(bridge) {
      B = bridge;
    },
    renderDetails,
    onEvent,
    draw,
    canPlan: () => canPlan(),
    reset() {
      S.job = null;
    },
  };
})();
