// Polis share page: what an incident's video share opens for an outside agency. The token comes
// from the URL fragment (never sent to the server in a URL) and goes in the X-Polis-Share header.
"use strict";

(function () {
  const I = window.PolisI18n;
  const t = I.t;
  const term = I.term;
  let last = null;

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const c of children.flat()) if (c) e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    return e;
  }

  function fmt(iso) {
    return iso ? new Intl.DateTimeFormat(I.lang === "bg" ? "bg-BG" : "en-GB", { dateStyle: "short", timeStyle: "short" }).format(new Date(iso)) : "";
  }

  function render() {
    const view = document.getElementById("share-view");
    if (!last) {
      delete view.dataset.state;
      view.replaceChildren(el("p", { class: "muted", text: t("share.loading") }));
      return;
    }
    if (last.error) {
      view.dataset.state = "error";
      view.replaceChildren(
        el("h1", { text: t("share.unavailable") }),
        el("p", { text: last.status === 403 ? t("share.expired") : last.status === 404 ? t("share.gone") : "" }),
        el("p", { class: "form-error", text: last.error })
      );
      return;
    }
    view.dataset.state = "ok";
    const i = last.data.incident;
    const cams = last.data.cameras || [];
    view.replaceChildren(
      el("div", { class: "panel-kicker", text: t("inc.kicker") + " · P" + i.priority }),
      el("h1", { text: term("inctype", i.type) }),
      el("p", { text: i.description || "" }),
      el("p", { class: "muted", text: t("share.status", { status: term("incstatus", i.status), created: fmt(i.created_at) }) }),
      el("p", { class: "muted mono", text: i.lat.toFixed(5) + ", " + i.lon.toFixed(5) + (i.address ? " · " + i.address : "") }),
      el("p", { class: "muted", text: t("share.until", { until: fmt(last.data.share.expires_at) }) }),
      el("h2", { text: t("share.cameras", { n: cams.length }) }),
      el("ol", { class: "item-list share-cameras" }, cams.map((c) => el("li", { class: "cam-item" }, el("span", { class: "cam-item-main" }, el("span", { class: "cam-item-name", text: c.name || c.id }), el("span", { class: "cam-item-meta", text: term("camkind", c.kind) + " · " + term("status", c.status) }), el("span", { class: "cam-item-meta mono share-camera-pos", text: (+c.lat).toFixed(5) + ", " + (+c.lon).toFixed(5) }))))),
      el("p", { class: "muted small", text: t("share.video_note") })
    );
  }

  async function load() {
    const token = decodeURIComponent(location.hash.replace(/^#/, ""));
    if (!token) {
      last = { error: t("share.no_token") };
      return render();
    }
    try {
      const res = await fetch("/api/v1/share", { headers: { Accept: "application/json", "X-Polis-Share": token }, cache: "no-store" });
      const body = await res.json().catch(() => null);
      last = res.ok ? { data: body } : { status: res.status, error: (body && body.error && body.error.message) || String(res.status) };
    } catch (_) {
      last = { error: t("app.network_error") };
    }
    render();
  }

  document.addEventListener("click", (e) => {
    const b = e.target instanceof Element ? e.target.closest(".lang-btn") : null;
    if (b) I.setLanguage(b.dataset.lang);
  });
  I.onChange(render);
  I.apply(document);
  render();
  load();
  window.addEventListener("hashchange", () => ((last = null), render(), load()));
  setInterval(load, 60000);
})();
