// Polis console: city setup, for administrators and supervisors. Rules (a form for every kind of
// condition, with a preview of what the rule would have done over the stored readings of the last
// 24 hours before it is saved), sensors (placed by a click on the map), key sites (their outline
// drawn on the map) and, for administrators, organisations (municipalities and agencies). Every
// form sends what the API takes; a refusal keeps what was typed, marks each field the server
// named and lists every problem. Import as a wizard: a file is checked first (every bad row and
// field listed, nothing written), then imported all or nothing; exports of every kind. Saving is audited by the server; the map follows by itself
// (registry events).
"use strict";

(function () {
  const I = window.PolisI18n;
  const t = I.t;
  const KINDS = ["water_level", "rain", "air_quality", "traffic_count", "traffic_speed", "noise", "smoke", "temperature", "other"];
  const CONDITIONS = ["threshold", "duration", "rate_of_change", "silence", "geofence"];
  const SEVERITIES = ["critical", "major", "minor", "warning"];
  const CATEGORIES = ["school", "kindergarten", "hospital", "square", "crossroads", "bus_station", "rail_station", "bridge",
    "river_bank", "dam", "industrial", "tourist", "municipal_building", "park", "market", "stadium", "other"];
  const SECTORS = ["safety", "transport", "disaster", "tourism"];
  const AGENCY_KINDS = ["police", "fire_safety", "ambulance", "civil_protection", "municipal_services"];
  const LIST_MAX = 200;

  Object.assign(I.strings.en, {
    "setup.open": "City setup",
    "setup.title": "City setup",
    "setup.close": "Close",
    "setup.tab_rules": "Rules",
    "setup.tab_sensors": "Sensors",
    "setup.tab_sites": "Key sites",
    "setup.tab_orgs": "Organisations",
    "setup.new_rule": "New rule",
    "setup.new_sensor": "New sensor",
    "setup.new_site": "New key site",
    "setup.new_org": "New organisation",
    "setup.edit": "Edit",
    "setup.delete": "Delete",
    "setup.confirm_delete": "Delete {what}?",
    "setup.save": "Save",
    "setup.cancel": "Cancel",
    "setup.saved": "Saved: {what}.",
    "setup.deleted": "Deleted: {what}.",
    "setup.problems": "Not saved. Please correct:",
    "setup.filter": "Filter by name",
    "setup.shown": "{n} of {total} shown",
    "setup.none": "None yet.",
    "setup.name": "Name",
    "setup.id": "Id (optional)",
    "setup.municipality": "Municipality",
    "setup.applies": "Applies to",
    "setup.one_sensor": "One sensor",
    "setup.every_kind": "Every sensor of a kind",
    "setup.sensor": "Sensor",
    "setup.kind": "Kind",
    "setup.zone": "Only inside an area",
    "setup.zone_none": "Anywhere in the municipality",
    "setup.zone_set": "An area of {n} corners",
    "setup.draw_zone": "Draw the area",
    "setup.clear_zone": "Remove the area",
    "setup.quantity": "Quantity (empty: the main value)",
    "setup.condition": "Condition",
    "setup.cond_threshold": "Beyond a level",
    "setup.cond_duration": "Beyond a level for a time",
    "setup.cond_rate_of_change": "Changing too fast",
    "setup.cond_silence": "No data for a time",
    "setup.cond_geofence": "Entering or leaving an area",
    "setup.direction": "When the value is",
    "setup.above": "above",
    "setup.below": "below",
    "setup.level": "Level",
    "setup.hysteresis": "Clears this much back (hysteresis)",
    "setup.minutes": "Minutes",
    "setup.max_per_minute": "Most change per minute",
    "setup.window_minutes": "Measured over (minutes)",
    "setup.trigger": "Raise on",
    "setup.enter": "entering",
    "setup.leave": "leaving",
    "setup.fence": "The area",
    "setup.severity": "Severity",
    "setup.enabled": "In force",
    "setup.disabled": "Off",
    "setup.version": "v{n}",
    "setup.preview": "Preview: the last 24 hours",
    "setup.previewing": "Replaying the last 24 hours…",
    "setup.preview_result": "Over the last 24 hours ({readings} readings from {sensors} sensors) this rule would have raised {raised} alarms; {cleared} of them cleared.",
    "setup.preview_truncated": "Only part of the readings was replayed (too many).",
    "setup.preview_raise": "raised",
    "setup.preview_clear": "cleared",
    "setup.preview_more": "…and {n} more",
    "setup.unit": "Unit",
    "setup.name_local": "Name (in Bulgarian)",
    "setup.owner": "Owner",
    "setup.position": "Position",
    "setup.pick": "Pick on the map",
    "setup.no_position": "Not placed yet",
    "setup.lat": "Latitude",
    "setup.lon": "Longitude",
    "setup.name_bg": "Name in Bulgarian",
    "setup.name_en": "Name in English",
    "setup.category": "Category",
    "setup.sectors": "Sectors",
    "setup.priority": "Priority (1 highest)",
    "setup.outline": "Outline",
    "setup.draw_outline": "Draw the outline",
    "setup.outline_none": "A point only",
    "setup.org_kind": "Kind",
    "setup.kind_municipality": "Municipality",
    "setup.kind_agency": "Agency",
    "setup.agency_kind": "Service",
    "setup.org_municipality": "Serves municipality (empty: the region)",
    "setup.rule": "rule",
    "setup.tab_io": "Import and export",
    "setup.io_kind": "What",
    "setup.io_cameras": "Cameras",
    "setup.io_sensors": "Sensors",
    "setup.io_sites": "Key sites",
    "setup.io_file": "File (CSV or GeoJSON)",
    "setup.io_check": "Check the file",
    "setup.io_checking": "Checking…",
    "setup.io_ready": "{n} rows are ready to import. Nothing has been written yet.",
    "setup.io_import": "Import all {n}",
    "setup.io_imported": "Imported {n}.",
    "setup.io_bad": "Nothing was written: {n} problems. Correct the file and check it again.",
    "setup.io_row": "Row",
    "setup.io_field": "Field",
    "setup.io_problem": "Problem",
    "setup.io_no_file": "Choose a file first.",
    "setup.io_export": "Export",
    "setup.io_export_hint": "Exports carry every field but passwords; importing an export gives back the same registry.",
    "agencykind.police": "Police",
    "agencykind.fire_safety": "Fire safety",
    "agencykind.ambulance": "Ambulance",
    "agencykind.civil_protection": "Civil protection",
    "agencykind.municipal_services": "Municipal services",
  });
  Object.assign(I.strings.bg, {
    "setup.open": "Настройка",
    "setup.title": "Настройка на града",
    "setup.close": "Затвори",
    "setup.tab_rules": "Правила",
    "setup.tab_sensors": "Сензори",
    "setup.tab_sites": "Ключови обекти",
    "setup.tab_orgs": "Организации",
    "setup.new_rule": "Ново правило",
    "setup.new_sensor": "Нов сензор",
    "setup.new_site": "Нов ключов обект",
    "setup.new_org": "Нова организация",
    "setup.edit": "Редактирай",
    "setup.delete": "Изтрий",
    "setup.confirm_delete": "Да се изтрие ли {what}?",
    "setup.save": "Запази",
    "setup.cancel": "Отказ",
    "setup.saved": "Запазено: {what}.",
    "setup.deleted": "Изтрито: {what}.",
    "setup.problems": "Не е запазено. Моля, поправете:",
    "setup.filter": "Търсене по име",
    "setup.shown": "Показани {n} от {total}",
    "setup.none": "Все още няма.",
    "setup.name": "Име",
    "setup.id": "Идентификатор (по избор)",
    "setup.municipality": "Община",
    "setup.applies": "Отнася се за",
    "setup.one_sensor": "Един сензор",
    "setup.every_kind": "Всички сензори от вид",
    "setup.sensor": "Сензор",
    "setup.kind": "Вид",
    "setup.zone": "Само в зона",
    "setup.zone_none": "Навсякъде в общината",
    "setup.zone_set": "Зона с {n} ъгъла",
    "setup.draw_zone": "Начертай зоната",
    "setup.clear_zone": "Премахни зоната",
    "setup.quantity": "Величина (празно: основната стойност)",
    "setup.condition": "Условие",
    "setup.cond_threshold": "Над или под ниво",
    "setup.cond_duration": "Над или под ниво за определено време",
    "setup.cond_rate_of_change": "Твърде бърза промяна",
    "setup.cond_silence": "Липса на данни за определено време",
    "setup.cond_geofence": "Влизане в зона или излизане от нея",
    "setup.direction": "Когато стойността е",
    "setup.above": "над",
    "setup.below": "под",
    "setup.level": "Ниво",
    "setup.hysteresis": "Отпада при връщане с толкова (хистерезис)",
    "setup.minutes": "Минути",
    "setup.max_per_minute": "Най-голяма промяна за минута",
    "setup.window_minutes": "Измерена за (минути)",
    "setup.trigger": "Тревога при",
    "setup.enter": "влизане",
    "setup.leave": "излизане",
    "setup.fence": "Зоната",
    "setup.severity": "Сериозност",
    "setup.enabled": "В сила",
    "setup.disabled": "Изключено",
    "setup.version": "в{n}",
    "setup.preview": "Преглед: последните 24 часа",
    "setup.previewing": "Възпроизвеждане на последните 24 часа…",
    "setup.preview_result": "През последните 24 часа ({readings} измервания от {sensors} сензора) това правило щеше да вдигне {raised} тревоги; {cleared} от тях щяха да отпаднат.",
    "setup.preview_truncated": "Възпроизведена е само част от измерванията (твърде много са).",
    "setup.preview_raise": "тревога",
    "setup.preview_clear": "отпадане",
    "setup.preview_more": "…и още {n}",
    "setup.unit": "Мерна единица",
    "setup.name_local": "Име (на български)",
    "setup.owner": "Собственик",
    "setup.position": "Местоположение",
    "setup.pick": "Посочи на картата",
    "setup.no_position": "Още не е поставен",
    "setup.lat": "Ширина",
    "setup.lon": "Дължина",
    "setup.name_bg": "Име на български",
    "setup.name_en": "Име на английски",
    "setup.category": "Категория",
    "setup.sectors": "Сектори",
    "setup.priority": "Приоритет (1 най-висок)",
    "setup.outline": "Очертание",
    "setup.draw_outline": "Начертай очертанието",
    "setup.outline_none": "Само точка",
    "setup.org_kind": "Вид",
    "setup.kind_municipality": "Община",
    "setup.kind_agency": "Служба",
    "setup.agency_kind": "Служба",
    "setup.org_municipality": "Обслужва община (празно: областта)",
    "setup.rule": "правило",
    "setup.tab_io": "Внос и износ",
    "setup.io_kind": "Какво",
    "setup.io_cameras": "Камери",
    "setup.io_sensors": "Сензори",
    "setup.io_sites": "Ключови обекти",
    "setup.io_file": "Файл (CSV или GeoJSON)",
    "setup.io_check": "Провери файла",
    "setup.io_checking": "Проверка…",
    "setup.io_ready": "{n} реда са готови за внос. Още нищо не е записано.",
    "setup.io_import": "Внеси всички {n}",
    "setup.io_imported": "Внесени: {n}.",
    "setup.io_bad": "Нищо не е записано: {n} проблема. Поправете файла и го проверете отново.",
    "setup.io_row": "Ред",
    "setup.io_field": "Поле",
    "setup.io_problem": "Проблем",
    "setup.io_no_file": "Първо изберете файл.",
    "setup.io_export": "Износ",
    "setup.io_export_hint": "Износът съдържа всички полета без паролите; вносът му възстановява същия регистър.",
    "agencykind.police": "Полиция",
    "agencykind.fire_safety": "Пожарна безопасност",
    "agencykind.ambulance": "Спешна помощ",
    "agencykind.civil_protection": "Гражданска защита",
    "agencykind.municipal_services": "Общински служби",
  });

  let B = null;
  let dialog = null;
  const S = {
    session: -1,
    tab: "rules",
    rules: [],
    orgs: [],
    form: null, // { kind: "rule" | "sensor" | "site" | "org", id: null | existing id, v: values }
    problems: [], // [{ field, message }]
    message: null,
    preview: null, // the answer of POST /rules/preview, or "busy"
    filter: "",
    io: { kind: "cameras", file: null, municipality: "", checked: null, problems: null, busy: false }, // the import wizard
  };

  const role = () => (B && B.state.user ? B.state.user.role : "");
  const canWrite = () => ["admin", "supervisor"].includes(role());
  const isAdmin = () => role() === "admin";
  const el = (...a) => B.el(...a);
  const term = (k, v) => I.term(k, v);

  function inLang(bg, en) {
    return I.lang === "bg" ? bg || en || "" : en || bg || "";
  }

  function municipalities() {
    return [...B.state.municipalities.values()].filter((o) => o.kind === "municipality");
  }

  function defaultMunicipality() {
    const own = B.state.user && B.state.user.municipality;
    if (own) return own;
    const m = municipalities()[0];
    return m ? m.id : "";
  }

  function muniName(id) {
    const o = B.state.municipalities.get(id);
    return o ? inLang(o.name_bg, o.name_en) || id : id || "";
  }

  function sensorName(id) {
    const s = B.state.byId && B.state.byId.sensor.get(id);
    return s ? B.shortName(s.p) || id : id;
  }

  // ---- Loading ------------------------------------------------------------------------------

  async function load() {
    const session = S.session;
    try {
      const [rules, orgs] = await Promise.all([
        B.api("GET", "/api/v1/rules"),
        B.api("GET", "/api/v1/organisations").catch(() => []),
      ]);
      if (session !== S.session) return;
      S.rules = (Array.isArray(rules) ? rules : []).slice().sort((a, b) => a.name.localeCompare(b.name));
      S.orgs = Array.isArray(orgs) ? orgs : [];
    } catch (e) {
      B.showToast(e);
    }
    render();
  }

  // ---- Forms: values, fields, problems -------------------------------------------------------

  function problemFor(field) {
    return S.problems.find((p) => p.field === field || (p.field && p.field.startsWith(field + ".")));
  }

  /** A labelled control bound to `S.form.v[key]`; `field` is the API's name for it (marked when
   *  the server names it). */
  function field(labelKey, key, control, fieldName) {
    const name = fieldName || key;
    const bad = problemFor(name);
    control.setAttribute("data-field", name);
    control.classList.add("text-input");
    if (bad) control.setAttribute("aria-invalid", "true");
    const id = "setup-f-" + key.replace(/[^a-z0-9]/gi, "-");
    control.id = id;
    return el("div", { class: "warn-field" }, el("label", { for: id, text: t(labelKey) }), control,
      bad ? el("small", { class: "setup-field-problem", text: bad.message }) : null);
  }

  function input(key, type, attrs) {
    const v = S.form.v[key];
    return el("input", Object.assign({ type: type || "text", name: key, value: v === undefined || v === null ? "" : String(v),
      oninput: (e) => (S.form.v[key] = e.target.value), onchange: (e) => (S.form.v[key] = e.target.value) }, attrs || {}));
  }

  function choice(key, options, rerender) {
    const v = S.form.v[key];
    return el("select", { name: key, onchange: (e) => {
      S.form.v[key] = e.target.value;
      if (rerender) render();
    } }, options.map(([value, text]) => el("option", { value, selected: String(v) === value }, text)));
  }

  function num(v) {
    if (v === "" || v === null || v === undefined) return null;
    const n = Number(String(v).replace(",", "."));
    return Number.isFinite(n) ? n : String(v);
  }

  function ring(points) {
    const r = points.map((p) => [p.lon, p.lat]);
    r.push(r[0]);
    return { type: "Polygon", coordinates: [r] };
  }

  function pointsOf(geojson) {
    const c = geojson && geojson.type === "Polygon" && geojson.coordinates && geojson.coordinates[0];
    if (!Array.isArray(c)) return null;
    const pts = c.map((q) => ({ lat: +q[1], lon: +q[0] }));
    if (pts.length > 1 && pts[0].lat === pts[pts.length - 1].lat && pts[0].lon === pts[pts.length - 1].lon) pts.pop();
    return pts;
  }

  function problemsBox() {
    if (!S.problems.length) return null;
    return el("div", { class: "setup-problems", role: "alert" }, el("p", { text: t("setup.problems") }),
      el("ul", null, S.problems.map((p) => el("li", { "data-field": p.field || "" }, (p.field ? p.field + ": " : "") + (p.message || "")))));
  }

  async function submit(method, path, body, what) {
    S.problems = [];
    try {
      const res = await B.api(method, path, body);
      S.form = null;
      S.preview = null;
      S.message = t("setup.saved", { what });
      await load();
      return res;
    } catch (e) {
      if (e && e.status === 401) return undefined;
      S.problems = (e && e.details && e.details.length ? e.details : [{ field: "", message: e && e.message ? e.message : String(e) }]);
      render();
      return undefined;
    }
  }

  async function remove(path, what) {
    if (!window.confirm(t("setup.confirm_delete", { what }))) return;
    try {
      await B.api("DELETE", path);
      S.message = t("setup.deleted", { what });
      S.form = null;
      await load();
    } catch (e) {
      B.showToast(e);
    }
  }

  /** Steps the panel aside while a point is picked or an area drawn, then back. */
  function pick(mode, done, initial) {
    if (dialog && dialog.open) dialog.close();
    const back = () => open(true);
    const D = window.PolisDraw;
    const finish = (pts) => {
      done(pts);
      back();
    };
    if (mode === "point") D.point(finish, back);
    else D.polygon(finish, back, initial);
  }

  function formButtons(extra) {
    return el("div", { class: "warn-actions" },
      extra,
      el("button", { type: "submit", class: "btn btn-primary btn-small setup-save", text: t("setup.save") }),
      el("button", { type: "button", class: "btn btn-ghost btn-small setup-cancel", text: t("setup.cancel"), onclick: () => {
        S.form = null;
        S.problems = [];
        S.preview = null;
        render();
      } }));
  }

  function municipalityField() {
    if (B.state.user && B.state.user.municipality) return null;
    return field("setup.municipality", "municipality", choice("municipality", municipalities().map((m) => [m.id, muniName(m.id)])));
  }

  function listFilter() {
    return el("input", { type: "search", class: "text-input setup-filter", placeholder: t("setup.filter"), "aria-label": t("setup.filter"),
      value: S.filter, oninput: (e) => {
        S.filter = e.target.value;
        render();
      } });
  }

  function filtered(items, name) {
    const q = S.filter.trim().toLowerCase();
    const all = q ? items.filter((x) => name(x).toLowerCase().includes(q)) : items;
    return { shown: all.slice(0, LIST_MAX), total: all.length };
  }

  function table(cls, head, rows) {
    if (!rows.length) return el("p", { class: "muted", text: t("setup.none") });
    return el("table", { class: "admin-table " + cls }, el("thead", null, el("tr", null, head.map((k) => el("th", { text: t(k) })))),
      el("tbody", null, rows));
  }

  function rowActions(onEdit, onDelete) {
    return el("td", { class: "admin-actions" },
      el("button", { type: "button", class: "btn btn-small setup-edit", text: t("setup.edit"), onclick: onEdit }),
      el("button", { type: "button", class: "btn btn-small btn-ghost setup-delete", text: t("setup.delete"), onclick: onDelete }));
  }

  // ---- Rules ----------------------------------------------------------------------------------

  function ruleValues(r) {
    const c = (r && r.condition) || { type: "threshold" };
    const below = c.below !== undefined && c.below !== null;
    return {
      municipality: (r && r.municipality) || defaultMunicipality(),
      name: r ? r.name : "",
      target: r && r.sensor_kind ? "kind" : "sensor",
      sensor: (r && r.sensor) || (B.state.sensors[0] && B.state.sensors[0].id) || "",
      sensor_kind: (r && r.sensor_kind) || "water_level",
      zone: r && r.zone ? pointsOf(r.zone) : null,
      quantity: (r && r.quantity) || "",
      type: c.type,
      dir: below ? "below" : "above",
      level: below ? c.below : c.above !== undefined ? c.above : "",
      hysteresis: c.hysteresis !== undefined && c.hysteresis !== null ? c.hysteresis : "",
      minutes: c.minutes !== undefined ? c.minutes : "",
      max_per_minute: c.max_per_minute !== undefined ? c.max_per_minute : "",
      window_minutes: c.window_minutes !== undefined ? c.window_minutes : "",
      fence: c.zone ? pointsOf(c.zone) : null,
      trigger: c.trigger || "leave",
      severity: (r && r.severity) || "major",
      enabled: r ? r.enabled !== false : true,
    };
  }

  /** The body of POST /rules (and PATCH, and the preview) from the form. */
  function ruleBody(v) {
    const condition = { type: v.type };
    if (v.type === "threshold" || v.type === "duration") {
      condition[v.dir] = num(v.level);
      condition.hysteresis = num(v.hysteresis) === null ? 0 : num(v.hysteresis);
    }
    if (v.type === "duration" || v.type === "silence") condition.minutes = num(v.minutes);
    if (v.type === "rate_of_change") {
      condition.max_per_minute = num(v.max_per_minute);
      condition.window_minutes = num(v.window_minutes);
    }
    if (v.type === "geofence") {
      condition.zone = v.fence && v.fence.length >= 3 ? ring(v.fence) : null;
      condition.trigger = v.trigger;
    }
    const body = { name: v.name, severity: v.severity, enabled: !!v.enabled, quantity: v.quantity.trim() || null, condition };
    if (v.municipality) body.municipality = v.municipality;
    if (v.target === "kind") {
      body.sensor_kind = v.sensor_kind;
      body.zone = v.zone && v.zone.length >= 3 ? ring(v.zone) : null;
    } else {
      body.sensor = v.sensor;
    }
    return body;
  }

  function conditionSummary(r) {
    const c = r.condition || {};
    const lvl = c.above !== undefined && c.above !== null ? "> " + I.number(c.above) : c.below !== undefined && c.below !== null ? "< " + I.number(c.below) : "";
    switch (c.type) {
      case "threshold": return lvl;
      case "duration": return `${lvl}, ${I.number(c.minutes)} min`;
      case "rate_of_change": return `±${I.number(c.max_per_minute)}/min`;
      case "silence": return `${I.number(c.minutes)} min`;
      default: return t("setup.cond_" + c.type);
    }
  }

  function rulesTab() {
    const rows = S.rules.map((r) =>
      el("tr", { "data-rule": r.id },
        el("td", null, el("strong", { text: r.name }), " ", el("small", { class: "muted", text: t("setup.version", { n: r.version }) })),
        el("td", { text: r.sensor ? sensorName(r.sensor) : term("sensorkind", r.sensor_kind) + (r.zone ? " ▱" : "") }),
        el("td", { text: t("setup.cond_" + (r.condition && r.condition.type)) + " " + conditionSummary(r) }),
        el("td", { text: term("severity", r.severity) }),
        el("td", { text: r.enabled ? t("setup.enabled") : t("setup.disabled") }),
        canWrite() ? rowActions(() => openForm("rule", r.id, ruleValues(r)), () => remove("/api/v1/rules/" + encodeURIComponent(r.id), r.name)) : el("td")));
    return el("div", null,
      S.form && S.form.kind === "rule" ? ruleForm() : el("button", { type: "button", class: "btn btn-primary btn-small setup-new", text: t("setup.new_rule"), onclick: () => openForm("rule", null, ruleValues(null)) }),
      table("setup-rules", ["setup.name", "setup.applies", "setup.condition", "setup.severity", "setup.enabled", ""], rows));
  }

  function ruleForm() {
    const v = S.form.v;
    const sensors = B.state.sensors.filter((s) => !v.municipality || s.p.municipality === v.municipality);
    const sensorLabel = (s) => B.shortName(s.p) || s.id;
    const parts = [
      el("h3", { text: S.form.id ? v.name || S.form.id : t("setup.new_rule") }),
      municipalityField(),
      field("setup.name", "name", input("name", "text", { maxlength: "200", required: true })),
      field("setup.applies", "target", choice("target", [["sensor", t("setup.one_sensor")], ["kind", t("setup.every_kind")]], true)),
    ];
    if (v.target === "sensor") {
      parts.push(field("setup.sensor", "sensor", choice("sensor", sensors.map((s) => [s.id, sensorLabel(s)]))));
    } else {
      parts.push(field("setup.kind", "sensor_kind", choice("sensor_kind", KINDS.map((k) => [k, term("sensorkind", k)]))));
      parts.push(el("div", { class: "warn-area-row", "data-field": "zone" },
        el("span", { class: "setup-zone-summary", text: v.zone ? t("setup.zone_set", { n: v.zone.length }) : t("setup.zone_none") }),
        el("button", { type: "button", class: "btn btn-small setup-draw-zone", text: t("setup.draw_zone"),
          onclick: () => pick("polygon", (pts) => (v.zone = pts)) }),
        v.zone ? el("button", { type: "button", class: "btn btn-small btn-ghost", text: t("setup.clear_zone"), onclick: () => ((v.zone = null), render()) }) : null));
    }
    parts.push(field("setup.quantity", "quantity", input("quantity", "text", { maxlength: "64" })));
    parts.push(field("setup.condition", "type", choice("type", CONDITIONS.map((c) => [c, t("setup.cond_" + c)]), true), "condition.type"));
    if (v.type === "threshold" || v.type === "duration") {
      parts.push(el("div", { class: "warn-pair" },
        field("setup.direction", "dir", choice("dir", [["above", t("setup.above")], ["below", t("setup.below")]], true)),
        field("setup.level", "level", input("level", "number", { step: "any" }), "condition." + v.dir)));
      parts.push(field("setup.hysteresis", "hysteresis", input("hysteresis", "number", { step: "any", min: "0" }), "condition.hysteresis"));
    }
    if (v.type === "duration" || v.type === "silence") {
      parts.push(field("setup.minutes", "minutes", input("minutes", "number", { min: "1", step: "1" }), "condition.minutes"));
    }
    if (v.type === "rate_of_change") {
      parts.push(el("div", { class: "warn-pair" },
        field("setup.max_per_minute", "max_per_minute", input("max_per_minute", "number", { step: "any", min: "0" }), "condition.max_per_minute"),
        field("setup.window_minutes", "window_minutes", input("window_minutes", "number", { min: "1", step: "1" }), "condition.window_minutes")));
    }
    if (v.type === "geofence") {
      parts.push(field("setup.trigger", "trigger", choice("trigger", [["leave", t("setup.leave")], ["enter", t("setup.enter")]]), "condition.trigger"));
      const bad = problemFor("condition.zone");
      parts.push(el("div", { class: "warn-area-row", "data-field": "condition.zone", "aria-invalid": bad ? "true" : null },
        el("span", { class: "setup-fence-summary", text: t("setup.fence") + ": " + (v.fence ? t("setup.zone_set", { n: v.fence.length }) : "—") }),
        el("button", { type: "button", class: "btn btn-small setup-draw-fence", text: t("setup.draw_zone"),
          onclick: () => pick("polygon", (pts) => (v.fence = pts)) })));
    }
    parts.push(el("div", { class: "warn-pair" },
      field("setup.severity", "severity", choice("severity", SEVERITIES.map((s) => [s, term("severity", s)]))),
      el("label", { class: "setup-check" }, el("input", { type: "checkbox", name: "enabled", checked: !!v.enabled, onchange: (e) => (v.enabled = e.target.checked) }),
        " " + t("setup.enabled"))));
    parts.push(problemsBox());
    parts.push(previewBox());
    parts.push(formButtons(el("button", { type: "button", class: "btn btn-small setup-run-preview", text: t("setup.preview"), onclick: preview })));
    return el("form", { class: "warn-editor setup-form", "data-form": "rule", onsubmit: (e) => {
      e.preventDefault();
      const body = ruleBody(v);
      if (S.form.id) submit("PATCH", "/api/v1/rules/" + encodeURIComponent(S.form.id), body, v.name);
      else submit("POST", "/api/v1/rules", body, v.name);
    } }, parts);
  }

  async function preview() {
    S.preview = "busy";
    S.problems = [];
    render();
    try {
      S.preview = await B.api("POST", "/api/v1/rules/preview?hours=24", ruleBody(S.form.v));
    } catch (e) {
      S.preview = null;
      if (e && e.status === 401) return;
      S.problems = e && e.details && e.details.length ? e.details : [{ field: "", message: e && e.message ? e.message : String(e) }];
    }
    render();
  }

  function previewBox() {
    const p = S.preview;
    if (!p) return null;
    if (p === "busy") return el("p", { id: "setup-preview", class: "setup-preview muted", role: "status", text: t("setup.previewing") });
    const shown = p.events.slice(-20);
    return el("div", { id: "setup-preview", class: "setup-preview", role: "status", "data-raised": String(p.raised), "data-cleared": String(p.cleared) },
      el("p", { class: "setup-preview-summary", text: t("setup.preview_result", {
        readings: I.number(p.readings), sensors: I.number(p.sensors), raised: I.number(p.raised), cleared: I.number(p.cleared) }) }),
      p.truncated ? el("p", { class: "muted", text: t("setup.preview_truncated") }) : null,
      shown.length
        ? el("ol", { class: "setup-preview-events" },
            p.events.length > shown.length ? el("li", { class: "muted", text: t("setup.preview_more", { n: I.number(p.events.length - shown.length) }) }) : null,
            shown.map((ev) => el("li", { "data-kind": ev.kind },
              el("time", { datetime: ev.time, text: B.fmtTime(Date.parse(ev.time), true) }), " ",
              el("strong", { text: t("setup.preview_" + ev.kind) }), " · ",
              (ev.source_name || ev.source) + (ev.value !== null && ev.value !== undefined ? " · " + I.number(ev.value) : ""))))
        : null);
  }

  // ---- Sensors --------------------------------------------------------------------------------

  function sensorValues(s) {
    const p = (s && s.p) || {};
    return {
      municipality: p.municipality || defaultMunicipality(),
      id: "",
      name: p.name || "",
      name_en: p.name_en || "",
      kind: p.kind || "water_level",
      unit: p.unit || "",
      owner: p.owner || "",
      lat: s ? s.lat : "",
      lon: s ? s.lon : "",
    };
  }

  function sensorsTab() {
    const { shown, total } = filtered(B.state.sensors, (s) => `${s.p.name || s.id} ${s.p.name_en || ""}`);
    const rows = shown.map((s) =>
      el("tr", { "data-sensor": s.id },
        el("td", { text: B.shortName(s.p) || s.id }),
        el("td", { text: term("sensorkind", s.p.kind) }),
        el("td", { text: s.p.unit || "" }),
        el("td", { text: muniName(s.p.municipality) }),
        rowActions(() => openForm("sensor", s.id, sensorValues(s)), () => remove("/api/v1/sensors/" + encodeURIComponent(s.id), s.p.name || s.id))));
    return el("div", null,
      S.form && S.form.kind === "sensor" ? sensorForm() : el("button", { type: "button", class: "btn btn-primary btn-small setup-new", text: t("setup.new_sensor"), onclick: () => openForm("sensor", null, sensorValues(null)) }),
      listFilter(),
      el("p", { class: "muted setup-count", text: t("setup.shown", { n: I.number(shown.length), total: I.number(total) }) }),
      table("setup-sensors", ["setup.name", "setup.kind", "setup.unit", "setup.municipality", ""], rows));
  }

  function positionField() {
    const v = S.form.v;
    return el("fieldset", { class: "warn-area-field" }, el("legend", { text: t("setup.position") }),
      el("div", { class: "warn-pair" },
        field("setup.lat", "lat", input("lat", "number", { step: "any", min: "-90", max: "90" })),
        field("setup.lon", "lon", input("lon", "number", { step: "any", min: "-180", max: "180" }))),
      el("button", { type: "button", class: "btn btn-small setup-pick", text: t("setup.pick"), onclick: () => pick("point", (pts) => {
        v.lat = pts[0].lat;
        v.lon = pts[0].lon;
      }) }));
  }

  function sensorForm() {
    const v = S.form.v;
    return el("form", { class: "warn-editor setup-form", "data-form": "sensor", onsubmit: (e) => {
      e.preventDefault();
      const body = { name: v.name, name_en: v.name_en, kind: v.kind, unit: v.unit, lat: num(v.lat), lon: num(v.lon) };
      if (v.owner) body.owner = v.owner;
      if (S.form.id) return submit("PATCH", "/api/v1/sensors/" + encodeURIComponent(S.form.id), body, v.name);
      if (v.municipality) body.municipality = v.municipality;
      if (v.id.trim()) body.id = v.id.trim();
      return submit("POST", "/api/v1/sensors", body, v.name);
    } },
      el("h3", { text: S.form.id ? v.name || S.form.id : t("setup.new_sensor") }),
      S.form.id ? null : municipalityField(),
      S.form.id ? null : field("setup.id", "id", input("id", "text", { maxlength: "64" })),
      el("div", { class: "warn-pair" },
        field("setup.name_local", "name", input("name", "text", { maxlength: "200", required: true, lang: "bg" })),
        field("setup.name_en", "name_en", input("name_en", "text", { maxlength: "200", lang: "en" }))),
      el("div", { class: "warn-pair" },
        field("setup.kind", "kind", choice("kind", KINDS.map((k) => [k, term("sensorkind", k)]))),
        field("setup.unit", "unit", input("unit", "text", { maxlength: "32" }))),
      field("setup.owner", "owner", input("owner", "text", { maxlength: "200" })),
      positionField(),
      problemsBox(),
      formButtons(null));
  }

  // ---- Key sites ------------------------------------------------------------------------------

  function siteValues(s) {
    const p = (s && s.p) || {};
    return {
      municipality: p.municipality || defaultMunicipality(),
      id: "",
      name_bg: p.name_bg || "",
      name_en: p.name_en || "",
      category: p.category || "square",
      sectors: (p.sectors || ["safety"]).slice(),
      priority: p.priority || 3,
      outline: s && s.ring ? s.ring.map((w) => window.PolisMap.fromWorld(w.x, w.y)).map((q) => ({ lat: +q.lat.toFixed(6), lon: +q.lon.toFixed(6) })) : null,
      lat: s && s.centre ? +s.centre.lat.toFixed(6) : "",
      lon: s && s.centre ? +s.centre.lon.toFixed(6) : "",
    };
  }

  function sitesTab() {
    const { shown, total } = filtered(B.state.sites, (s) => `${s.p.name_bg || ""} ${s.p.name_en || ""}`);
    const rows = shown.map((s) =>
      el("tr", { "data-site": s.id },
        el("td", { text: inLang(s.p.name_bg, s.p.name_en) || s.id }),
        el("td", { text: term("category", s.p.category) }),
        el("td", { text: (s.p.sectors || []).map((x) => term("sector", x)).join(", ") }),
        el("td", { text: String(s.p.priority || "") }),
        rowActions(() => openForm("site", s.id, siteValues(s)), () => remove("/api/v1/sites/" + encodeURIComponent(s.id), inLang(s.p.name_bg, s.p.name_en) || s.id))));
    return el("div", null,
      S.form && S.form.kind === "site" ? siteForm() : el("button", { type: "button", class: "btn btn-primary btn-small setup-new", text: t("setup.new_site"), onclick: () => openForm("site", null, siteValues(null)) }),
      listFilter(),
      el("p", { class: "muted setup-count", text: t("setup.shown", { n: I.number(shown.length), total: I.number(total) }) }),
      table("setup-sites", ["setup.name", "setup.category", "setup.sectors", "setup.priority", ""], rows));
  }

  function siteForm() {
    const v = S.form.v;
    const sectorBoxes = el("fieldset", { class: "warn-area-field", "data-field": "sectors", "aria-invalid": problemFor("sectors") ? "true" : null },
      el("legend", { text: t("setup.sectors") }),
      el("div", { class: "warn-area-row" }, SECTORS.map((x) => el("label", { class: "setup-check" },
        el("input", { type: "checkbox", name: "sector-" + x, checked: v.sectors.includes(x), onchange: (e) => {
          v.sectors = v.sectors.filter((y) => y !== x);
          if (e.target.checked) v.sectors.push(x);
        } }), " " + term("sector", x)))));
    const outline = el("fieldset", { class: "warn-area-field", "data-field": "geometry" }, el("legend", { text: t("setup.outline") }),
      el("div", { class: "warn-area-row" },
        el("span", { class: "setup-outline-summary", text: v.outline ? t("setup.zone_set", { n: v.outline.length }) : t("setup.outline_none") }),
        el("button", { type: "button", class: "btn btn-small setup-draw-outline", text: t("setup.draw_outline"),
          onclick: () => pick("polygon", (pts) => (v.outline = pts)) }),
        v.outline ? el("button", { type: "button", class: "btn btn-small btn-ghost", text: t("setup.clear_zone"), onclick: () => ((v.outline = null), render()) }) : null),
      v.outline ? null : positionField());
    return el("form", { class: "warn-editor setup-form", "data-form": "site", onsubmit: (e) => {
      e.preventDefault();
      const body = { name_bg: v.name_bg, name_en: v.name_en, category: v.category, sectors: v.sectors, priority: num(v.priority) };
      if (v.outline && v.outline.length >= 3) body.geometry = ring(v.outline);
      else body.geometry = { type: "Point", coordinates: [num(v.lon), num(v.lat)] };
      const name = inLang(v.name_bg, v.name_en);
      if (S.form.id) return submit("PATCH", "/api/v1/sites/" + encodeURIComponent(S.form.id), body, name);
      if (v.municipality) body.municipality = v.municipality;
      if (v.id.trim()) body.id = v.id.trim();
      return submit("POST", "/api/v1/sites", body, name);
    } },
      el("h3", { text: S.form.id ? inLang(v.name_bg, v.name_en) || S.form.id : t("setup.new_site") }),
      S.form.id ? null : municipalityField(),
      S.form.id ? null : field("setup.id", "id", input("id", "text", { maxlength: "64" })),
      el("div", { class: "warn-pair" },
        field("setup.name_bg", "name_bg", input("name_bg", "text", { maxlength: "200", lang: "bg" })),
        field("setup.name_en", "name_en", input("name_en", "text", { maxlength: "200", lang: "en" }))),
      el("div", { class: "warn-pair" },
        field("setup.category", "category", choice("category", CATEGORIES.map((c) => [c, term("category", c)]))),
        field("setup.priority", "priority", choice("priority", ["1", "2", "3", "4", "5"].map((n) => [n, n])))),
      sectorBoxes,
      outline,
      problemsBox(),
      formButtons(null));
  }

  // ---- Organisations ---------------------------------------------------------------------------

  function orgsTab() {
    const rows = S.orgs.map((o) =>
      el("tr", { "data-org": o.id },
        el("td", { text: inLang(o.name_bg, o.name_en) || o.id }),
        el("td", { text: o.kind === "agency" ? t("setup.kind_agency") + (o.agency_kind ? " · " + term("agencykind", o.agency_kind) : "") : t("setup.kind_municipality") }),
        el("td", { text: o.municipality ? muniName(o.municipality) : "" }),
        el("td", { text: o.id })));
    return el("div", null,
      S.form && S.form.kind === "org" ? orgForm() : el("button", { type: "button", class: "btn btn-primary btn-small setup-new", text: t("setup.new_org"),
        onclick: () => openForm("org", null, { id: "", kind: "agency", name_bg: "", name_en: "", agency_kind: "police", municipality: defaultMunicipality() }) }),
      table("setup-orgs", ["setup.name", "setup.org_kind", "setup.municipality", "setup.id"], rows));
  }

  function orgForm() {
    const v = S.form.v;
    const agency = v.kind === "agency";
    return el("form", { class: "warn-editor setup-form", "data-form": "org", onsubmit: (e) => {
      e.preventDefault();
      const body = { id: v.id.trim(), kind: v.kind, name_bg: v.name_bg, name_en: v.name_en };
      if (agency) {
        body.agency_kind = v.agency_kind;
        if (v.municipality) body.municipality = v.municipality;
      }
      submit("POST", "/api/v1/organisations", body, inLang(v.name_bg, v.name_en) || v.id).then(() => B.reloadMunicipalities());
    } },
      el("h3", { text: t("setup.new_org") }),
      field("setup.org_kind", "kind", choice("kind", [["agency", t("setup.kind_agency")], ["municipality", t("setup.kind_municipality")]], true)),
      field("setup.id", "id", input("id", "text", { maxlength: "64", required: true })),
      el("div", { class: "warn-pair" },
        field("setup.name_bg", "name_bg", input("name_bg", "text", { maxlength: "200", lang: "bg" })),
        field("setup.name_en", "name_en", input("name_en", "text", { maxlength: "200", lang: "en" }))),
      agency ? field("setup.agency_kind", "agency_kind", choice("agency_kind", AGENCY_KINDS.map((k) => [k, term("agencykind", k)]))) : null,
      agency ? field("setup.org_municipality", "municipality", choice("municipality", [["", "—"]].concat(municipalities().map((m) => [m.id, muniName(m.id)])))) : null,
      problemsBox(),
      formButtons(null));
  }

  // ---- Import and export ----------------------------------------------------------------------

  /** Sends the chosen file to the import route (as CSV or GeoJSON, by its name); a dry run
   *  only checks. Returns [status, answer]. */
  async function sendImport(dryRun) {
    const io = S.io;
    const text = await io.file.text();
    const csv = /\.csv$/i.test(io.file.name) || io.file.type === "text/csv";
    const q = { municipality: io.municipality || defaultMunicipality() };
    if (dryRun) q.dry_run = "true";
    const res = await fetch(`/api/v1/import/${io.kind}?${B.query(q)}`, {
      method: "POST",
      headers: { Authorization: "Bearer " + B.state.token, "Content-Type": csv ? "text/csv" : "application/geo+json", Accept: "application/json" },
      body: text,
      cache: "no-store",
    });
    let answer = null;
    try {
      answer = await res.json();
    } catch (_) {
      answer = null;
    }
    return [res.status, answer];
  }

  async function runImport(dryRun) {
    const io = S.io;
    if (!io.file) {
      io.problems = [{ field: "file", message: t("setup.io_no_file") }];
      return render();
    }
    io.busy = true;
    io.problems = null;
    if (dryRun) io.checked = null;
    S.message = null;
    render();
    try {
      const [status, answer] = await sendImport(dryRun);
      if (status >= 200 && status < 300) {
        if (dryRun) io.checked = answer.checked;
        else {
          S.message = t("setup.io_imported", { n: I.number(answer.imported) });
          io.checked = null;
          io.file = null;
        }
      } else {
        const err = (answer && answer.error) || {};
        io.checked = null;
        io.problems = err.details && err.details.length ? err.details : [{ field: "", message: err.message || String(status) }];
      }
    } catch (e) {
      B.showToast(e);
    }
    io.busy = false;
    render();
  }

  async function download(name) {
    try {
      const res = await fetch("/api/v1/export/" + name, { headers: { Authorization: "Bearer " + B.state.token }, cache: "no-store" });
      if (!res.ok) throw new B.ApiError(res.status, res.status + " " + res.statusText);
      const url = URL.createObjectURL(await res.blob());
      const a = el("a", { href: url, download: name });
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e) {
      B.showToast(e);
    }
  }

  function ioTab() {
    const io = S.io;
    const kinds = ["cameras", "sensors", "sites"];
    const wizard = el("form", { class: "warn-editor setup-import", onsubmit: (e) => (e.preventDefault(), runImport(true)) },
      el("div", { class: "warn-pair" },
        el("div", { class: "warn-field" }, el("label", { for: "setup-io-kind", text: t("setup.io_kind") }),
          el("select", { id: "setup-io-kind", name: "io-kind", class: "text-input", onchange: (e) => {
            io.kind = e.target.value;
            io.checked = null;
            io.problems = null;
            render();
          } }, kinds.map((k) => el("option", { value: k, selected: io.kind === k }, t("setup.io_" + k))))),
        B.state.user && B.state.user.municipality ? null : el("div", { class: "warn-field" }, el("label", { for: "setup-io-muni", text: t("setup.municipality") }),
          el("select", { id: "setup-io-muni", name: "io-municipality", class: "text-input", onchange: (e) => (io.municipality = e.target.value) },
            municipalities().map((m) => el("option", { value: m.id, selected: (io.municipality || defaultMunicipality()) === m.id }, muniName(m.id)))))),
      el("div", { class: "warn-field" }, el("label", { for: "setup-io-file", text: t("setup.io_file") }),
        el("input", { id: "setup-io-file", name: "io-file", type: "file", accept: ".csv,.geojson,.json,text/csv,application/geo+json", onchange: (e) => {
          io.file = e.target.files && e.target.files[0] ? e.target.files[0] : null;
          io.checked = null;
          io.problems = null;
          render();
        } }),
        io.file ? el("small", { class: "muted setup-io-chosen", text: io.file.name }) : null),
      el("div", { class: "warn-actions" },
        el("button", { type: "submit", class: "btn btn-small setup-io-check", disabled: io.busy, text: io.busy ? t("setup.io_checking") : t("setup.io_check") }),
        io.checked !== null && io.checked !== undefined
          ? el("button", { type: "button", class: "btn btn-primary btn-small setup-io-import", disabled: io.busy, text: t("setup.io_import", { n: I.number(io.checked) }),
              onclick: () => runImport(false) })
          : null),
      io.checked !== null && io.checked !== undefined
        ? el("p", { class: "setup-io-ready", role: "status", text: t("setup.io_ready", { n: I.number(io.checked) }) })
        : null,
      io.problems
        ? el("div", { class: "setup-problems setup-io-problems", role: "alert" },
            el("p", { text: t("setup.io_bad", { n: I.number(io.problems.length) }) }),
            el("table", { class: "admin-table" },
              el("thead", null, el("tr", null, ["setup.io_row", "setup.io_field", "setup.io_problem"].map((k) => el("th", { text: t(k) })))),
              el("tbody", null, io.problems.slice(0, 500).map((p) =>
                el("tr", { "data-row": p.row === undefined || p.row === null ? "" : String(p.row), "data-field": p.field || "" },
                  el("td", { text: p.row === undefined || p.row === null ? "" : String(p.row) }),
                  el("td", { text: p.field || "" }),
                  el("td", { text: p.message || "" }))))))
        : null);
    const exports = el("div", { class: "setup-exports" },
      el("h3", { text: t("setup.io_export") }),
      el("p", { class: "muted", text: t("setup.io_export_hint") }),
      el("div", { class: "warn-actions" }, kinds.flatMap((k) => ["csv", "geojson"].map((ext) =>
        el("button", { type: "button", class: "btn btn-small setup-export", "data-file": `${k}.${ext}`, text: `${t("setup.io_" + k)} · ${ext.toUpperCase()}`,
          onclick: () => download(`${k}.${ext}`) })))));
    return el("div", null, wizard, exports);
  }

  // ---- The panel --------------------------------------------------------------------------------

  function openForm(kind, id, values) {
    S.form = { kind, id, v: values };
    S.problems = [];
    S.preview = null;
    S.message = null;
    render();
    const first = dialog && dialog.querySelector(".setup-form input:not([type=hidden]), .setup-form select");
    if (first) first.focus();
  }

  function render() {
    if (!dialog || !B) return;
    const body = dialog.querySelector(".warn-body");
    if (!body) return;
    const focused = document.activeElement && dialog.contains(document.activeElement) ? document.activeElement.getAttribute("name") : null;
    const tabs = ["rules", "sensors", "sites", "io"].concat(isAdmin() ? ["orgs"] : []);
    const tab = (name) => el("button", { type: "button", class: "btn btn-small admin-tab setup-tab", "data-tab": name, "aria-pressed": String(S.tab === name),
      text: t("setup.tab_" + name), onclick: () => {
        S.tab = name;
        S.form = null;
        S.problems = [];
        S.preview = null;
        S.message = null;
        S.filter = "";
        render();
      } });
    const content = { rules: rulesTab, sensors: sensorsTab, sites: sitesTab, io: ioTab, orgs: orgsTab }[S.tab] || rulesTab;
    body.replaceChildren(
      el("div", { class: "setup-tabs" }, tabs.map(tab)),
      S.message ? el("p", { id: "setup-message", class: "admin-message", role: "status", text: S.message }) : null,
      content());
    if (focused) {
      const again = body.querySelector(`[name="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    }
  }

  function open(keep) {
    if (!dialog) {
      dialog = el("dialog", { id: "setup-dialog", class: "warn-dialog setup-dialog", "aria-labelledby": "setup-title" },
        el("div", { class: "warn-top" },
          el("h2", { id: "setup-title", text: t("setup.title") }),
          el("button", { type: "button", id: "setup-close", class: "btn btn-ghost btn-small", text: t("setup.close"), onclick: () => dialog.close() })),
        el("div", { class: "warn-body" }));
      document.body.appendChild(dialog);
    }
    dialog.querySelector("#setup-title").textContent = t("setup.title");
    if (!dialog.open) dialog.showModal();
    if (!keep) S.message = null;
    render();
    if (!keep) load();
  }

  window.PolisSetup = {
    attach(bridge) {
      B = bridge;
      const anchor = document.getElementById("open-planner");
      if (!anchor || document.getElementById("open-setup")) return;
      anchor.after(el("button", { id: "open-setup", type: "button", class: "btn btn-ghost", hidden: true, "data-i18n": "setup.open",
        text: t("setup.open"), onclick: () => open(false) }));
      I.onChange(() => {
        if (dialog && dialog.open) open(true);
      });
    },
    start(session) {
      S.session = session;
      document.getElementById("open-setup").hidden = !canWrite();
    },
    reset() {
      S.session = -1;
      S.rules = [];
      S.orgs = [];
      S.form = null;
      S.problems = [];
      S.preview = null;
      S.message = null;
      const b = document.getElementById("open-setup");
      if (b) b.hidden = true;
      if (dialog && dialog.open) dialog.close();
    },
    /** A registry change arrived: the lists follow. */
    onRegistry() {
      if (dialog && dialog.open && !S.form) render();
    },
  };
})();
