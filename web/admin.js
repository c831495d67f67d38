// Polis console: administration (administrators only). Users: the list with role, organisation,
// status and last sign-in; create a user; disable and re-enable (a disabled user's sessions,
// streams and live video end at once); reset a password; change role and organisation. The
// server refuses what would lock the administrators out and says why. The audit log: search by
// who, what, object and time, and export what was found as CSV.
//
// Its strings (Bulgarian and English) are added to the console's dictionary below.
"use strict";

(function () {
  const I = window.PolisI18n;
  const t = I.t;
  const ROLES = ["admin", "supervisor", "operator", "agency", "viewer"];

  Object.assign(I.strings.en, {
    "admin.open": "Administration",
    "admin.title": "Administration",
    "admin.close": "Close",
    "admin.tab_users": "Users",
    "admin.tab_audit": "Audit log",
    "admin.username": "Username",
    "admin.password": "Password",
    "admin.role": "Role",
    "admin.municipality": "Municipality",
    "admin.agency": "Agency",
    "admin.region": "Whole region",
    "admin.none": "—",
    "admin.status": "Status",
    "admin.active": "Active",
    "admin.disabled": "Disabled",
    "admin.last_login": "Last sign-in",
    "admin.never": "Never",
    "admin.created": "Created",
    "admin.actions": "Actions",
    "admin.disable": "Disable",
    "admin.enable": "Enable",
    "admin.reset": "Reset password",
    "admin.new_password": "New password (8+ characters)",
    "admin.save": "Save",
    "admin.cancel": "Cancel",
    "admin.create": "Create user",
    "admin.you": "you",
    "admin.saved": "Saved.",
    "admin.disabled_done": "{user} is disabled: their sessions, streams and live video have ended.",
    "admin.enabled_done": "{user} can sign in again.",
    "admin.reset_done": "The password of {user} is changed; their sessions have ended.",
    "admin.created_done": "{user} is created.",
    "admin.loading": "Loading…",
    "admin.actor": "Who (username)",
    "admin.action": "What (action or entity)",
    "admin.object": "Object (id)",
    "admin.from": "From",
    "admin.to": "To",
    "admin.search": "Search",
    "admin.export": "Export CSV",
    "admin.results": "{n} records",
    "admin.no_results": "No records match.",
    "admin.at": "Time",
    "admin.change": "Change",
    "login.disabled": "This account is disabled. Ask an administrator.",
  });
  Object.assign(I.strings.bg, {
    "admin.open": "Администриране",
    "admin.title": "Администриране",
    "admin.close": "Затвори",
    "admin.tab_users": "Потребители",
    "admin.tab_audit": "Одитен дневник",
    "admin.username": "Потребителско име",
    "admin.password": "Парола",
    "admin.role": "Роля",
    "admin.municipality": "Община",
    "admin.agency": "Служба",
    "admin.region": "Целият регион",
    "admin.none": "—",
    "admin.status": "Състояние",
    "admin.active": "Активен",
    "admin.disabled": "Деактивиран",
    "admin.last_login": "Последен вход",
    "admin.never": "Никога",
    "admin.created": "Създаден",
    "admin.actions": "Действия",
    "admin.disable": "Деактивирай",
    "admin.enable": "Активирай",
    "admin.reset": "Нова парола",
    "admin.new_password": "Нова парола (поне 8 знака)",
    "admin.save": "Запази",
    "admin.cancel": "Отказ",
    "admin.create": "Създай потребител",
    "admin.you": "вие",
    "admin.saved": "Запазено.",
    "admin.disabled_done": "{user} е деактивиран: сесиите, потоците и видеото му са прекратени.",
    "admin.enabled_done": "{user} може да влиза отново.",
    "admin.reset_done": "Паролата на {user} е сменена; сесиите му са прекратени.",
    "admin.created_done": "{user} е създаден.",
    "admin.loading": "Зареждане…",
    "admin.actor": "Кой (потребител)",
    "admin.action": "Какво (действие или вид)",
    "admin.object": "Обект (идентификатор)",
    "admin.from": "От",
    "admin.to": "До",
    "admin.search": "Търси",
    "admin.export": "Експорт CSV",
    "admin.results": "{n} записа",
    "admin.no_results": "Няма съвпадащи записи.",
    "admin.at": "Време",
    "admin.change": "Промяна",
    "login.disabled": "Този профил е деактивиран. Обърнете се към администратор.",
  });

  let B = null;
  const S = { session: 0, tab: "users", users: [], editing: null, message: null, audit: null, query: {} };
  const $ = (id) => document.getElementById(id);
  const el = (...a) => B.el(...a);

  function canAdminister() {
    return !!(B && B.state.user && B.state.user.role === "admin");
  }

  function orgName(id) {
    if (!id) return t("admin.region");
    const o = B.state.municipalities.get(id);
    return o ? (I.lang === "bg" ? o.name_bg || o.name_en : o.name_en || o.name_bg) || id : id;
  }

  function when(s) {
    if (!s) return t("admin.never");
    return new Intl.DateTimeFormat(I.lang === "bg" ? "bg-BG" : "en-GB", {
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
    }).format(new Date(s));
  }

  function orgs(kind) {
    return [...B.state.municipalities.values()].filter((o) => o.kind === kind);
  }

  function select(name, value, options, label) {
    return el(
      "select",
      { name, "aria-label": label },
      options.map(([v, text]) => el("option", { value: v, selected: v === (value || "") }, text))
    );
  }

  function municipalitySelect(value) {
    const own = B.state.user && B.state.user.municipality;
    const opts = own ? [] : [["", t("admin.region")]];
    for (const m of orgs("municipality")) if (!own || m.id === own) opts.push([m.id, orgName(m.id)]);
    return select("municipality", value, opts, t("admin.municipality"));
  }

  function agencySelect(value) {
    return select("agency", value, [["", t("admin.none")]].concat(orgs("agency").map((a) => [a.id, orgName(a.id)])), t("admin.agency"));
  }

  function roleSelect(value) {
    return select("role", value, ROLES.map((r) => [r, I.term("role", r)]), t("admin.role"));
  }

  function say(key, user) {
    S.message = { key, user };
    render();
  }

  async function call(method, path, body) {
    try {
      return await B.api(method, path, body);
    } catch (ex) {
      B.showToast(ex);
      return undefined;
    }
  }

  // ---- Users -----------------------------------------------------------------------------

  async function loadUsers() {
    const session = S.session;
    const list = await call("GET", "/api/v1/users");
    if (session !== S.session || !list) return;
    S.users = list.slice().sort((a, b) => a.username.localeCompare(b.username));
    render();
  }

  async function patchUser(u, body, doneKey) {
    const res = await call("PATCH", "/api/v1/users/" + encodeURIComponent(u.id), body);
    if (!res) return;
    S.editing = null;
    const i = S.users.findIndex((x) => x.id === u.id);
    if (i >= 0) S.users[i] = res;
    say(doneKey, u.username);
  }

  function userRow(u) {
    const me = B.state.user && B.state.user.username === u.username;
    const editing = S.editing && S.editing.id === u.id ? S.editing.mode : null;
    const actions = el("td", { class: "admin-actions" });
    if (editing === "password") {
      const input = el("input", { type: "password", name: "new-password", autocomplete: "new-password", placeholder: t("admin.new_password") });
      actions.append(
        input,
        el("button", { type: "button", class: "btn btn-small btn-primary", "data-action": "save-password", text: t("admin.save"),
          onclick: () => patchUser(u, { password: input.value }, "admin.reset_done") }),
        el("button", { type: "button", class: "btn btn-small", text: t("admin.cancel"), onclick: () => ((S.editing = null), render()) })
      );
    } else if (editing === "role") {
      const role = roleSelect(u.role);
      const muni = municipalitySelect(u.municipality);
      const agency = agencySelect(u.agency);
      actions.append(
        role,
        muni,
        agency,
        el("button", { type: "button", class: "btn btn-small btn-primary", "data-action": "save-role", text: t("admin.save"),
          onclick: () =>
            patchUser(u, { role: role.value, municipality: muni.value || null, agency: agency.value || null }, "admin.saved") }),
        el("button", { type: "button", class: "btn btn-small", text: t("admin.cancel"), onclick: () => ((S.editing = null), render()) })
      );
    } else {
      actions.append(
        u.disabled
          ? el("button", { type: "button", class: "btn btn-small", "data-action": "enable", text: t("admin.enable"),
              onclick: () => patchUser(u, { disabled: false }, "admin.enabled_done") })
          : el("button", { type: "button", class: "btn btn-small btn-danger", "data-action": "disable", text: t("admin.disable"),
              disabled: me, onclick: () => patchUser(u, { disabled: true }, "admin.disabled_done") }),
        el("button", { type: "button", class: "btn btn-small", "data-action": "reset", text: t("admin.reset"),
          onclick: () => ((S.editing = { id: u.id, mode: "password" }), render()) }),
        el("button", { type: "button", class: "btn btn-small", "data-action": "change", text: t("admin.change"), disabled: me,
          onclick: () => ((S.editing = { id: u.id, mode: "role" }), render()) })
      );
    }
    return el(
      "tr",
      { "data-username": u.username, "data-disabled": u.disabled ? "1" : "0", class: u.disabled ? "admin-user-disabled" : null },
      el("td", null, u.username, me ? el("span", { class: "admin-you", text: " (" + t("admin.you") + ")" }) : null),
      el("td", { text: I.term("role", u.role) }),
      el("td", { text: orgName(u.municipality) + (u.agency ? " · " + orgName(u.agency) : "") }),
      el("td", { class: "admin-status", text: t(u.disabled ? "admin.disabled" : "admin.active") }),
      el("td", { text: when(u.last_login_at) }),
      actions
    );
  }

  function createForm() {
    const username = el("input", { name: "username", autocomplete: "off", placeholder: t("admin.username"), "aria-label": t("admin.username") });
    const password = el("input", { name: "password", type: "password", autocomplete: "new-password", placeholder: t("admin.password"), "aria-label": t("admin.password") });
    const role = roleSelect("operator");
    const muni = municipalitySelect(B.state.user && B.state.user.municipality);
    const agency = agencySelect(null);
    return el(
      "form",
      {
        id: "admin-create",
        class: "admin-form",
        onsubmit: async (e) => {
          e.preventDefault();
          const body = { username: username.value.trim(), password: password.value, role: role.value };
          if (muni.value) body.municipality = muni.value;
          if (agency.value) body.agency = agency.value;
          const res = await call("POST", "/api/v1/users", body);
          if (!res) return;
          S.users.push(res);
          S.users.sort((a, b) => a.username.localeCompare(b.username));
          say("admin.created_done", res.username);
        },
      },
      username,
      password,
      role,
      muni,
      agency,
      el("button", { type: "submit", class: "btn btn-primary btn-small", text: t("admin.create") })
    );
  }

  function usersTab() {
    const head = ["admin.username", "admin.role", "admin.municipality", "admin.status", "admin.last_login", "admin.actions"];
    return el(
      "div",
      { class: "admin-users" },
      createForm(),
      el(
        "table",
        { id: "admin-users", class: "admin-table" },
        el("thead", null, el("tr", null, head.map((k) => el("th", { text: t(k) })))),
        el("tbody", null, S.users.map(userRow))
      )
    );
  }

  // ---- Audit log -------------------------------------------------------------------------

  function auditQuery() {
    const q = {};
    for (const k of ["actor", "action", "object"]) if (S.query[k]) q[k] = S.query[k];
    for (const k of ["from", "to"]) if (S.query[k]) q[k] = new Date(S.query[k]).toISOString();
    return B.query(q);
  }

  async function searchAudit() {
    const session = S.session;
    const list = await call("GET", "/api/v1/audit?" + auditQuery() + "&limit=500");
    if (session !== S.session || !list) return;
    S.audit = list;
    render();
  }

  async function exportAudit() {
    try {
      const res = await fetch("/api/v1/audit.csv?" + auditQuery(), {
        headers: { Authorization: "Bearer " + B.state.token },
        cache: "no-store",
      });
      if (!res.ok) throw new B.ApiError(res.status, res.status + " " + res.statusText);
      const url = URL.createObjectURL(await res.blob());
      const a = el("a", { href: url, download: "audit.csv" });
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (ex) {
      B.showToast(ex);
    }
  }

  function auditTab() {
    const field = (name, type) =>
      el("label", null, el("span", { text: t("admin." + name) }),
        el("input", { name: "audit-" + name, type: type || "text", value: S.query[name] || "",
          oninput: (e) => (S.query[name] = e.target.value) }));
    const form = el(
      "form",
      { id: "admin-audit-form", class: "admin-form", onsubmit: (e) => (e.preventDefault(), searchAudit()) },
      field("actor"),
      field("action"),
      field("object"),
      field("from", "datetime-local"),
      field("to", "datetime-local"),
      el("button", { type: "submit", class: "btn btn-primary btn-small", text: t("admin.search") }),
      el("button", { type: "button", class: "btn btn-small", text: t("admin.export"), onclick: exportAudit })
    );
    let results = null;
    if (S.audit) {
      results = S.audit.length
        ? el(
            "table",
            { id: "admin-audit", class: "admin-table" },
            el("thead", null, el("tr", null, ["admin.at", "admin.actor", "admin.action", "admin.object"].map((k) => el("th", { text: t(k) })))),
            el("tbody", null, S.audit.map((r) =>
              el("tr", { "data-seq": String(r.seq) },
                el("td", { text: when(r.at) }),
                el("td", { text: r.actor }),
                el("td", { text: r.action }),
                el("td", { text: r.entity_id }))))
          )
        : el("p", { class: "empty", text: t("admin.no_results") });
    }
    return el("div", { class: "admin-audit" }, form,
      S.audit ? el("p", { class: "admin-count", text: t("admin.results", { n: S.audit.length }) }) : null, results);
  }

  // ---- The panel ---------------------------------------------------------------------------

  function render() {
    const view = $("admin-view");
    if (!view || view.hidden) return;
    const tab = (name) =>
      el("button", { type: "button", class: "btn btn-small admin-tab", "aria-pressed": String(S.tab === name), "data-tab": name,
        text: t("admin.tab_" + name), onclick: () => {
          S.tab = name;
          S.message = null;
          render();
        } });
    view.replaceChildren(
      el("div", { class: "admin-card" },
        el("header", { class: "admin-head" },
          el("h2", { text: t("admin.title") }),
          tab("users"),
          tab("audit"),
          el("button", { type: "button", id: "admin-close", class: "btn btn-ghost btn-small", text: t("admin.close"), onclick: close })),
        S.message ? el("p", { id: "admin-message", class: "admin-message", role: "status", text: t(S.message.key, { user: S.message.user }) }) : null,
        S.tab === "users" ? usersTab() : auditTab())
    );
  }

  function open() {
    const view = $("admin-view");
    view.hidden = false;
    S.message = null;
    render();
    loadUsers();
  }

  function close() {
    $("admin-view").hidden = true;
    S.editing = null;
  }

  window.PolisAdmin = {
    attach(bridge) {
      B = bridge;
      $("open-admin").addEventListener("click", open);
      I.onChange(render);
    },
    start(session) {
      S.session = session;
      $("open-admin").hidden = !canAdminister();
    },
    reset() {
      S.session = -1;
      S.users = [];
      S.audit = null;
      S.query = {};
      S.editing = null;
      S.message = null;
      $("open-admin").hidden = true;
      $("admin-view").hidden = true;
    },
  };
})();
