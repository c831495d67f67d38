// Polis console: public warnings. A panel (the top bar's "Warnings" button) lists the
// municipality's warnings and the warnings received from outside, drafts a warning from an open
// alarm (area, event and CAP codes filled in by the server), edits its texts in Bulgarian and
// English, approves it (a supervisor or administrator who did not write it) and cancels it (the
// all-clear). Each published step shows a link to its CAP 1.2 message.
"use strict";

(function () {
  const I = window.PolisI18n;
  const t = I.t;
  let B = null;
  let dialog = null;
  let editing = null;

  function fmt(ts) {
    return ts ? new Date(ts).toLocaleString(I.lang === "bg" ? "bg-BG" : "en-GB") : "";
  }

  async function act(fn) {
    try {
      await fn();
    } catch (e) {
      B.showToast(e && e.message ? e.message : String(e));
    }
    await render();
  }

  function field(label, name, value, long) {
    const id = `warn-${name.replace(".", "-")}`;
    const input = long
      ? B.el("textarea", { id, name, rows: 3 })
      : B.el("input", { id, name, type: "text", maxlength: name.startsWith("headline") ? 160 : 4000 });
    input.value = value || "";
    return B.el("div", { class: "warn-field" }, B.el("label", { for: id, text: label }), input);
  }

  function editor(w) {
    const c = w.revision || w;
    const form = B.el(
      "form",
      { class: "warn-editor", "data-id": w.id },
      field(t("warn.headline") + " (БГ)", "headline.bg", c.headline.bg),
      field(t("warn.headline") + " (EN)", "headline.en", c.headline.en),
      field(t("warn.description") + " (БГ)", "description.bg", c.description.bg, true),
      field(t("warn.description") + " (EN)", "description.en", c.description.en, true),
      field(t("warn.instruction") + " (БГ)", "instruction.bg", c.instruction.bg, true),
      field(t("warn.instruction") + " (EN)", "instruction.en", c.instruction.en, true),
      B.el("button", { type: "submit", class: "btn btn-primary", text: t("warn.save") }),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const v = (n) => form.querySelector(`[name="${n}"]`).value;
      const body = {};
      for (const k of ["headline", "description", "instruction"]) body[k] = { bg: v(`${k}.bg`), en: v(`${k}.en`) };
      editing = null;
      act(() => B.api("PATCH", `/api/v1/warnings/${encodeURIComponent(w.id)}`, body));
    });
    return form;
  }

  function item(w) {
    const me = B.state.user ? B.state.user.username : "";
    const role = B.state.user ? B.state.user.role : "";
    const live = ["draft", "published", "updated"].includes(w.status);
    const author = w.revision ? w.revision.by : w.created_by;
    const approvable = (w.status === "draft" || w.revision) && ["admin", "supervisor"].includes(role) && author !== me;
    const buttons = B.el("div", { class: "warn-actions" });
    if (live) {
      buttons.append(
        B.el("button", { type: "button", class: "btn", text: t("warn.edit"), onclick: () => ((editing = w.id), render()) }),
      );
    }
    if (approvable) {
      buttons.append(
        B.el("button", {
          type: "button",
          class: "btn btn-primary",
          text: t("warn.approve"),
          onclick: () => act(() => B.api("POST", `/api/v1/warnings/${encodeURIComponent(w.id)}/approve`)),
        }),
      );
    }
    if (live) {
      buttons.append(
        B.el("button", {
          type: "button",
          class: "btn",
          text: w.status === "draft" ? t("warn.discard") : t("warn.cancel"),
          onclick: () => act(() => B.api("POST", `/api/v1/warnings/${encodeURIComponent(w.id)}/cancel`)),
        }),
      );
    }
    const links = (w.messages || []).map((m) => B.el("a", { href: m.url, target: "_blank", rel: "noopener", text: `CAP ${m.msg_type}` }));
    return B.el(
      "li",
      { class: `warn-item warn-${w.status}`, "data-id": w.id },
      B.el("div", { class: "warn-head" }, B.el("strong", { text: (I.lang === "bg" ? w.headline.bg : w.headline.en) || w.event })),
      B.el("div", {
        class: "warn-meta",
        text: `${t("warn.status." + w.status)} · ${w.severity} · ${w.urgency} · ${t("warn.until")} ${fmt(w.expires)}`,
      }),
      w.revision ? B.el("div", { class: "warn-meta", text: t("warn.pending", { by: w.revision.by }) }) : null,
      B.el("div", { class: "warn-links" }, links),
      buttons,
      editing === w.id ? editor(w) : null,
    );
  }

  async function render() {
    if (!dialog || !dialog.open) return;
    const body = dialog.querySelector(".warn-body");
    let warnings = [];
    let external = [];
    let alarms = [];
    try {
      [warnings, external, alarms] = await Promise.all([
        B.api("GET", "/api/v1/warnings").then((r) => r.items),
        B.api("GET", "/api/v1/external-warnings").then((r) => r.items),
        B.api("GET", "/api/v1/alarms?state=open").catch(() => []),
      ]);
    } catch (e) {
      body.replaceChildren(B.el("p", { text: e.message || String(e) }));
      return;
    }
    const alarmList = B.el(
      "ul",
      { class: "warn-alarms" },
      (alarms || []).slice(0, 20).map((a) =>
        B.el(
          "li",
          {},
          B.el("span", { text: `${a.severity} · ${a.message} ` }),
          B.el("button", {
            type: "button",
            class: "btn",
            text: t("warn.draft_from_alarm"),
            onclick: () =>
              act(async () => {
                const w = await B.api("POST", `/api/v1/alarms/${encodeURIComponent(a.id)}/warning-draft`, {});
                editing = w.id;
              }),
          }),
        ),
      ),
    );
    body.replaceChildren(
      B.el("h3", { text: t("warn.from_alarms") }),
      alarms && alarms.length ? alarmList : B.el("p", { class: "muted", text: t("warn.no_alarms") }),
      B.el("h3", { text: t("warn.ours") }),
      warnings.length ? B.el("ul", { class: "warn-list" }, warnings.map(item)) : B.el("p", { class: "muted", text: t("warn.none") }),
      B.el("h3", { text: t("warn.external") }),
      external.length
        ? B.el(
            "ul",
            { class: "warn-list" },
            external.map((a) =>
              B.el("li", { class: `warn-item warn-${a.status}` }, B.el("strong", { text: `${a.event}: ${a.headline}` }), B.el("div", { class: "warn-meta", text: `${a.sender} · ${a.severity} · ${a.status}` })),
            ),
          )
        : B.el("p", { class: "muted", text: t("warn.none") }),
      B.el("p", {}, B.el("a", { href: "/public/", target: "_blank", rel: "noopener", text: t("warn.portal") })),
    );
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
          B.el("button", { type: "button", class: "btn btn-ghost", text: t("app.dismiss"), onclick: () => dialog.close() }),
        ),
        B.el("div", { class: "warn-body" }),
      );
      document.body.append(dialog);
    }
    dialog.querySelector("#warnings-title").textContent = t("warn.title");
    dialog.showModal();
    render();
  }

  window.PolisWarnings = {
    attach(bridge) {
      B = bridge;
      const anchor = document.getElementById("open-planner");
      if (!anchor || document.getElementById("open-warnings")) return;
      const btn = B.el("button", { id: "open-warnings", type: "button", class: "btn btn-ghost", "data-i18n": "warn.open", text: t("warn.open"), onclick: open });
      anchor.after(btn);
    },
    /** A live event of type `warning` or `external_warning`: redraw if open. */
    onEvent() {
      render();
    },
  };
})();
