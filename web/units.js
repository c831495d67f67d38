// Polis console: units, procedures and SOS devices. A panel (the top bar's "Units & SOS"
// button) with three tabs: response units (create and edit name, kind, agency, status and
// position, picked on the map), procedures (each incident type's checklist: edit the items and
// save a new version; earlier versions listed), and SOS devices (label, the wearer's profile for
// the roles that may see it, safe zones drawn on the map by clicks, the check-in interval).
// Units are drawn on the map with their status (loaded again with the panel's changes and every
// 30 s). app.js calls start/reset with the session, draw on each frame and mapClick before its
// own click handling.
//
// Its strings (Bulgarian and English) are added to the console's dictionary below.
"use strict";

(function () {
  const I = window.PolisI18n;
  const t = I.t;
  const M = window.PolisMap;
  const UNIT_KINDS = ["patrol_car", "fire_engine", "ambulance", "crew", "other"];
  const UNIT_STATUSES = ["available", "dispatched", "on_scene", "out_of_service"];
  const TYPES = ["fire", "traffic_accident", "flood", "crime", "medical", "missing_person", "infrastructure", "other"];

  Object.assign(I.strings.en, {
    "units.open": "Units & SOS",
    "units.title": "Units, procedures and SOS devices",
    "units.close": "Close",
    "units.tab_units": "Units",
    "units.tab_procedures": "Procedures",
    "units.tab_sos": "SOS devices",
    "units.new_unit": "New unit",
    "units.new_device": "New device",
    "units.edit": "Edit",
    "units.delete": "Remove",
    "units.save": "Save",
    "units.cancel": "Cancel",
    "units.saved": "Saved.",
    "units.none": "None yet.",
    "units.id": "Id (optional)",
    "units.name": "Name",
    "units.kind": "Kind",
    "units.agency": "Agency",
    "units.status": "Status",
    "units.position": "Position",
    "units.no_position": "No position",
    "units.pick_position": "Pick on the map",
    "units.pick_hint": "Click the map where the unit is.",
    "units.kind.patrol_car": "Patrol car",
    "units.kind.fire_engine": "Fire engine",
    "units.kind.ambulance": "Ambulance",
    "units.kind.crew": "Crew",
    "units.kind.other": "Other",
    "units.status.available": "Available",
    "units.status.dispatched": "Dispatched",
    "units.status.on_scene": "On scene",
    "units.status.out_of_service": "Out of service",
    "units.type": "Incident type",
    "units.proc_title": "Title",
    "units.items": "Checklist",
    "units.add_item": "Add a step",
    "units.up": "Up",
    "units.down": "Down",
    "units.version": "version {n}",
    "units.versions": "Earlier versions",
    "units.save_version": "Save as a new version",
    "units.edit_procedure": "Edit checklist",
    "units.new_procedure": "Checklist for another type",
    "units.label": "Label (no personal data)",
    "units.profile": "Wearer (seen only by operators, supervisors and administrators)",
    "units.profile_name": "Name",
    "units.profile_details": "Details",
    "units.profile_contact": "Contact",
    "units.checkin": "Check-in every (minutes; empty: none)",
    "units.zones": "Safe zones",
    "units.zone_name": "Zone name",
    "units.zone_corners": "{n} corners",
    "units.add_zone": "Add a safe zone",
    "units.redraw": "Redraw",
    "units.draw_hint": "Click the map to add corners ({n} so far).",
    "units.draw_undo": "Undo",
    "units.draw_finish": "Finish the zone",
    "units.last_position": "Last position {when}",
    "units.never_reported": "Never reported",
    "units.municipality": "Municipality",
    "units.deleted": "Removed.",
    "units.confirm_delete": "Remove this device with its safe zones and check-in?",
  });
  Object.assign(I.strings.bg, {
    "units.open": "Екипи и SOS",
    "units.title": "Екипи, процедури и SOS устройства",
    "units.close": "Затвори",
    "units.tab_units": "Екипи",
    "units.tab_procedures": "Процедури",
    "units.tab_sos": "SOS устройства",
    "units.new_unit": "Нов екип",
    "units.new_device": "Ново устройство",
    "units.edit": "Редактирай",
    "units.delete": "Премахни",
    "units.save": "Запази",
    "units.cancel": "Отказ",
    "units.saved": "Запазено.",
    "units.none": "Все още няма.",
    "units.id": "Идентификатор (по избор)",
    "units.name": "Име",
    "units.kind": "Вид",
    "units.agency": "Служба",
    "units.status": "Състояние",
    "units.position": "Местоположение",
    "units.no_position": "Няма местоположение",
    "units.pick_position": "Избери на картата",
    "units.pick_hint": "Щракнете на картата където е екипът.",
    "units.kind.patrol_car": "Патрулка",
    "units.kind.fire_engine": "Пожарна",
    "units.kind.ambulance": "Линейка",
    "units.kind.crew": "Аварийна група",
    "units.kind.other": "Друг",
    "units.status.available": "Свободен",
    "units.status.dispatched": "Изпратен",
    "units.status.on_scene": "На място",
    "units.status.out_of_service": "Извън строя",
    "units.type": "Вид инцидент",
    "units.proc_title": "Заглавие",
    "units.items": "Контролен списък",
    "units.add_item": "Добави стъпка",
    "units.up": "Нагоре",
    "units.down": "Надолу",
    "units.version": "версия {n}",
    "units.versions": "Предишни версии",
    "units.save_version": "Запази като нова версия",
    "units.edit_procedure": "Редактирай списъка",
    "units.new_procedure": "Списък за друг вид",
    "units.label": "Етикет (без лични данни)",
    "units.profile": "Носител (виждат го само оператори, супервайзори и администратори)",
    "units.profile_name": "Име",
    "units.profile_details": "Подробности",
    "units.profile_contact": "Връзка",
    "units.checkin": "Обаждане на всеки (минути; празно: без)",
    "units.zones": "Безопасни зони",
    "units.zone_name": "Име на зоната",
    "units.zone_corners": "{n} ъгъла",
    "units.add_zone": "Добави безопасна зона",
    "units.redraw": "Начертай отново",
    "units.draw_hint": "Щракнете на картата, за да добавите ъгли (досега {n}).",
    "units.draw_undo": "Отмени",
    "units.draw_finish": "Завърши зоната",
    "units.last_position": "Последно местоположение {when}",
    "units.never_reported": "Не е докладвало",
    "units.municipality": "Община",
    "units.deleted": "Премахнато.",
    "units.confirm_delete": "Да се премахне ли устройството с безопасните му зони и обажданията?",
  });

  let B = null;
  let dialog = null;
  const S = {
    session: -1,
    tab: "units",
    units: [],
    procedures: [],
    versions: null, // { id, list } of the procedure whose history is shown
    devices: [],
    form: null, // the open form: { kind: "unit" | "procedure" | "sos", isNew, values }
    error: null, // the last refusal of the open form: { message, fields: Set }
    drawing: null, // { zone: index, points: [{ lat, lon }] } while a safe zone is drawn
    picking: false, // while a unit's position is picked on the map
    bar: null,
    g: null,
    gMap: null,
    version: 0,
    built: -1,
    items: [],
  };

  const role = () => (B && B.state.user ? B.state.user.role : null);
  const canEdit = () => ["admin", "supervisor"].includes(role());
  const seesDevices = () => ["admin", "supervisor", "operator"].includes(role());
  const el = (...a) => B.el(...a);

  function orgName(o) {
    return (I.lang === "bg" ? o.name_bg || o.name_en : o.name_en || o.name_bg) || o.id;
  }

  function orgs(kind) {
    return [...B.state.municipalities.values()].filter((o) => o.kind === kind);
  }

  async function call(method, path, body) {
    try {
      S.error = null;
      return await B.api(method, path, body);
    } catch (ex) {
      S.error = { message: ex.message, fields: new Set((ex.details || []).map((d) => d.field)) };
      B.showToast(ex);
      render();
      return undefined;
    }
  }

  // ---- Loading ---------------------------------------------------------------------------------

  async function load() {
    const session = S.session;
    const get = (path) => B.api("GET", path).catch(() => null);
    const [units, procedures, devices] = await Promise.all([
      get("/api/v1/units"),
      role() === "agency" ? null : get("/api/v1/procedures"),
      seesDevices() ? get("/api/v1/sos/devices") : null,
    ]);
    if (session !== S.session) return;
    const before = JSON.stringify(S.units);
    S.units = Array.isArray(units) ? units : [];
    S.procedures = Array.isArray(procedures) ? procedures : [];
    S.devices = Array.isArray(devices) ? devices : [];
    render();
    // The map is drawn again only when the units changed.
    if (JSON.stringify(S.units) !== before) {
      S.version++;
      B.requestRender();
    }
  }

  // ---- Fields ----------------------------------------------------------------------------------

  /** A labelled input bound to `values[name]`. */
  function field(label, name, values, opts = {}) {
    const id = "units-f-" + (opts.id || name);
    const invalid = S.error && S.error.fields.has(opts.errorField || name);
    const input = opts.options
      ? el(
          "select",
          { id, name, class: "text-input", "aria-invalid": invalid ? "true" : null, onchange: (e) => (values[name] = e.target.value) },
          opts.options.map(([v, text]) => el("option", { value: v, selected: v === (values[name] || "") }, text))
        )
      : el(opts.multiline ? "textarea" : "input", {
          id,
          name,
          class: "text-input",
          type: opts.type || (opts.multiline ? null : "text"),
          "aria-invalid": invalid ? "true" : null,
          oninput: (e) => (values[name] = e.target.value),
        });
    if (!opts.options) input.value = values[name] == null ? "" : String(values[name]);
    return el("div", { class: "warn-field" }, el("label", { for: id, text: label }), input);
  }

  function actions(...buttons) {
    return el("div", { class: "warn-actions" }, ...buttons);
  }

  function button(text, onclick, cls = "btn btn-small", extra = {}) {
    return el("button", Object.assign({ type: "button", class: cls, text, onclick }, extra));
  }

  function when(s) {
    return B.fmtTime ? B.fmtTime(s) : s;
  }

  // ---- Units -----------------------------------------------------------------------------------

  function unitForm() {
    const v = S.form.values;
    const agencies = orgs("agency");
    const where = Number.isFinite(v.lat) && Number.isFinite(v.lon) ? `${v.lat.toFixed(5)}, ${v.lon.toFixed(5)}` : t("units.no_position");
    return el(
      "div",
      { class: "warn-editor units-unit-form" },
      S.form.isNew ? field(t("units.id"), "id", v) : null,
      field(t("units.name"), "name", v),
      field(t("units.kind"), "kind", v, { options: UNIT_KINDS.map((k) => [k, t("units.kind." + k)]) }),
      field(t("units.agency"), "agency", v, {
        options: (agencies.length ? [] : [["", "—"]]).concat(agencies.map((a) => [a.id, orgName(a)])).concat(
          v.agency && !agencies.some((a) => a.id === v.agency) ? [[v.agency, v.agency]] : []
        ),
      }),
      field(t("units.status"), "status", v, { options: UNIT_STATUSES.map((k) => [k, t("units.status." + k)]) }),
      el(
        "div",
        { class: "warn-field" },
        el("label", { text: t("units.position") }),
        el("div", { class: "warn-area-row" }, el("span", { class: "units-position", text: where }), button(t("units.pick_position"), startPicking, "btn btn-small units-pick"))
      ),
      actions(button(t("units.save"), saveUnit, "btn btn-small btn-primary units-save"), button(t("units.cancel"), closeForm))
    );
  }

  function editUnit(u) {
    S.error = null;
    S.form = u
      ? { kind: "unit", isNew: false, id: u.id, values: { name: u.name, kind: u.kind, agency: u.agency, status: u.status, lat: u.lat, lon: u.lon } }
      : { kind: "unit", isNew: true, values: { id: "", name: "", kind: "patrol_car", agency: (orgs("agency")[0] || {}).id || "", status: "available", lat: null, lon: null } };
    render();
  }

  async function saveUnit() {
    const v = S.form.values;
    const body = { name: v.name, kind: v.kind, agency: v.agency, status: v.status };
    if (Number.isFinite(v.lat) && Number.isFinite(v.lon)) Object.assign(body, { lat: v.lat, lon: v.lon });
    let res;
    if (S.form.isNew) {
      if (v.id) body.id = v.id;
      res = await call("POST", "/api/v1/units", body);
    } else {
      res = await call("PATCH", "/api/v1/units/" + encodeURIComponent(S.form.id), body);
    }
    if (!res) return;
    S.form = null;
    await load();
  }

  function unitsTab() {
    const list = S.units.slice().sort((a, b) => a.name.localeCompare(b.name));
    return [
      canEdit() ? actions(button(t("units.new_unit"), () => editUnit(null), "btn btn-small units-new-unit")) : null,
      S.form && S.form.kind === "unit" && S.form.isNew ? unitForm() : null,
      list.length
        ? el(
            "ul",
            { class: "warn-list units-list" },
            list.map((u) =>
              el(
                "li",
                { class: `warn-item unit-item unit-${u.status}`, "data-unit": u.id },
                el("div", { class: "warn-head" }, el("strong", { text: u.name }), el("span", { class: `unit-status unit-status-${u.status}`, text: t("units.status." + u.status) })),
                el("div", { class: "warn-meta", text: [t("units.kind." + u.kind), u.agency, u.incident ? "→ " + u.incident : null].filter(Boolean).join(" · ") }),
                canEdit() ? actions(button(t("units.edit"), () => editUnit(u))) : null,
                S.form && S.form.kind === "unit" && S.form.id === u.id ? unitForm() : null
              )
            )
          )
        : el("p", { class: "muted", text: t("units.none") }),
    ];
  }

  function startPicking() {
    S.picking = true;
    if (dialog && dialog.open) dialog.close();
    document.getElementById("map").classList.add("is-drawing");
    showBar();
  }

  // ---- Procedures ------------------------------------------------------------------------------

  function editProcedure(p, kind) {
    S.error = null;
    S.form = { kind: "procedure", type: p ? p.type : kind, municipality: p ? p.municipality : null, values: { title: p ? p.title : "", items: p ? p.items.slice() : [""], type: kind || "" } };
    render();
  }

  function procedureForm() {
    const v = S.form.values;
    const items = el(
      "ol",
      { class: "units-items" },
      v.items.map((text, i) => {
        const input = el("input", { class: "text-input units-item", type: "text", "data-index": i, "aria-label": t("units.items") + " " + (i + 1), oninput: (e) => (v.items[i] = e.target.value) });
        input.value = text;
        const move = (d) => {
          const j = i + d;
          if (j < 0 || j >= v.items.length) return;
          [v.items[i], v.items[j]] = [v.items[j], v.items[i]];
          render();
        };
        return el(
          "li",
          { class: "units-item-row" },
          input,
          button("↑", () => move(-1), "btn btn-small btn-ghost", { title: t("units.up"), disabled: i === 0 }),
          button("↓", () => move(1), "btn btn-small btn-ghost", { title: t("units.down"), disabled: i === v.items.length - 1 }),
          button("×", () => (v.items.splice(i, 1), render()), "btn btn-small btn-ghost", { title: t("units.delete") })
        );
      })
    );
    const taken = new Set(S.procedures.map((p) => p.type));
    return el(
      "div",
      { class: "warn-editor units-procedure-form" },
      S.form.type ? el("h3", { text: I.term("inctype", S.form.type) }) : field(t("units.type"), "type", v, { options: TYPES.filter((k) => !taken.has(k)).map((k) => [k, I.term("inctype", k)]) }),
      field(t("units.proc_title"), "title", v),
      el("div", { class: "warn-field" }, el("label", { text: t("units.items") }), items),
      actions(
        button(t("units.add_item"), () => (v.items.push(""), render()), "btn btn-small units-add-item"),
        button(t("units.save_version"), saveProcedure, "btn btn-small btn-primary units-save"),
        button(t("units.cancel"), closeForm)
      )
    );
  }

  async function saveProcedure() {
    const f = S.form;
    const type = f.type || f.values.type || TYPES.find((k) => !S.procedures.some((p) => p.type === k));
    const body = { title: f.values.title, items: f.values.items.map((x) => x.trim()).filter(Boolean) };
    if (f.municipality) body.municipality = f.municipality;
    else if (B.state.user && !B.state.user.municipality) {
      const m = orgs("municipality")[0];
      if (m) body.municipality = m.id;
    }
    const res = await call("PUT", "/api/v1/procedures/type/" + encodeURIComponent(type), body);
    if (!res) return;
    S.form = null;
    S.versions = null;
    await load();
  }

  async function showVersions(p) {
    if (S.versions && S.versions.id === p.id) {
      S.versions = null;
      return render();
    }
    const list = await call("GET", "/api/v1/procedures/" + encodeURIComponent(p.id) + "/versions");
    if (!list) return;
    S.versions = { id: p.id, list };
    render();
  }

  function proceduresTab() {
    const list = S.procedures.slice().sort((a, b) => a.type.localeCompare(b.type));
    const typeName = (k) => I.term("inctype", k);
    return [
      canEdit() && list.length < TYPES.length ? actions(button(t("units.new_procedure"), () => editProcedure(null, ""), "btn btn-small units-new-procedure")) : null,
      S.form && S.form.kind === "procedure" && !S.form.type ? procedureForm() : null,
      list.length
        ? el(
            "ul",
            { class: "warn-list units-procedures" },
            list.map((p) =>
              el(
                "li",
                { class: "warn-item procedure-item", "data-procedure": p.id, "data-type": p.type },
                el("div", { class: "warn-head" }, el("strong", { text: p.title || typeName(p.type) }), el("span", { class: "muted procedure-version", text: t("units.version", { n: p.version }) })),
                el("div", { class: "warn-meta", text: [typeName(p.type), p.updated_by, when(p.updated_at)].filter(Boolean).join(" · ") }),
                el("ol", { class: "units-checklist" }, p.items.map((x) => el("li", { text: x }))),
                actions(
                  canEdit() ? button(t("units.edit_procedure"), () => editProcedure(p), "btn btn-small units-edit-procedure") : null,
                  p.version > 1 ? button(t("units.versions"), () => showVersions(p), "btn btn-small btn-ghost") : null
                ),
                S.versions && S.versions.id === p.id
                  ? el("ul", { class: "units-versions" }, S.versions.list.map((o) => el("li", { text: `${t("units.version", { n: o.version })} · ${o.updated_by} · ${when(o.updated_at)}: ${o.items.join(" / ")}` })))
                  : null,
                S.form && S.form.kind === "procedure" && S.form.type === p.type ? procedureForm() : null
              )
            )
          )
        : el("p", { class: "muted", text: t("units.none") }),
    ];
  }

  // ---- SOS devices -----------------------------------------------------------------------------

  function editDevice(d) {
    S.error = null;
    const own = B.state.user && B.state.user.municipality;
    S.form = d
      ? {
          kind: "sos",
          isNew: false,
          id: d.id,
          values: {
            id: d.id,
            municipality: d.municipality,
            label: d.label,
            name: d.profile.name,
            details: d.profile.details,
            contact: d.profile.contact,
            checkin: d.checkin_minutes == null ? "" : String(d.checkin_minutes),
            zones: d.safe_zones.map((z) => ({ name: z.name, zone: z.zone.map(([lon, lat]) => ({ lat, lon })) })),
          },
        }
      : {
          kind: "sos",
          isNew: true,
          values: { id: "", municipality: own || (orgs("municipality")[0] || {}).id || "", label: "", name: "", details: "", contact: "", checkin: "", zones: [] },
        };
    S.version++;
    render();
    B.requestRender();
  }

  function deviceForm() {
    const v = S.form.values;
    const own = B.state.user && B.state.user.municipality;
    const zones = el(
      "ul",
      { class: "units-zones" },
      v.zones.map((z, i) =>
        el(
          "li",
          { class: "units-zone", "data-zone": i },
          field(t("units.zone_name"), "name", z, { id: "zone-" + i, errorField: `safe_zones[${i}].name` }),
          el("span", { class: "units-zone-corners" + (S.error && S.error.fields.has(`safe_zones[${i}].zone`) ? " units-invalid" : ""), text: t("units.zone_corners", { n: z.zone.length }) }),
          button(t("units.redraw"), () => startDrawing(i), "btn btn-small btn-ghost"),
          button("×", () => (v.zones.splice(i, 1), S.version++, render()), "btn btn-small btn-ghost", { title: t("units.delete") })
        )
      )
    );
    return el(
      "div",
      { class: "warn-editor units-sos-form" },
      S.form.isNew ? field(t("units.id"), "id", v, { id: "sos-id" }) : null,
      S.form.isNew && !own ? field(t("units.municipality"), "municipality", v, { id: "sos-municipality", options: orgs("municipality").map((m) => [m.id, orgName(m)]) }) : null,
      field(t("units.label"), "label", v, { id: "sos-label" }),
      el(
        "fieldset",
        { class: "warn-area-field" },
        el("legend", { text: t("units.profile") }),
        field(t("units.profile_name"), "name", v, { id: "sos-name", errorField: "profile.name" }),
        field(t("units.profile_details"), "details", v, { id: "sos-details", multiline: true, errorField: "profile.details" }),
        field(t("units.profile_contact"), "contact", v, { id: "sos-contact", errorField: "profile.contact" })
      ),
      field(t("units.checkin"), "checkin", v, { id: "sos-checkin", type: "number", errorField: "checkin_minutes" }),
      el("div", { class: "warn-field" }, el("label", { text: t("units.zones") }), zones, actions(button(t("units.add_zone"), () => startDrawing(v.zones.length), "btn btn-small units-add-zone"))),
      actions(button(t("units.save"), saveDevice, "btn btn-small btn-primary units-save"), button(t("units.cancel"), closeForm))
    );
  }

  async function saveDevice() {
    const v = S.form.values;
    const checkin = String(v.checkin).trim();
    const body = {
      label: v.label,
      profile: { name: v.name, details: v.details, contact: v.contact },
      safe_zones: v.zones.map((z) => ({ name: z.name || "", zone: z.zone.map((p) => [+p.lon.toFixed(6), +p.lat.toFixed(6)]) })),
      checkin_minutes: checkin === "" ? null : Number(checkin),
    };
    if (S.form.isNew) {
      if (v.id) body.id = v.id;
      if (v.municipality) body.municipality = v.municipality;
    } else {
      body.id = S.form.id;
      body.municipality = v.municipality;
    }
    const res = await call("POST", "/api/v1/sos/devices", body);
    if (!res) return;
    S.form = null;
    S.version++;
    await load();
  }

  async function deleteDevice(d) {
    if (!window.confirm(t("units.confirm_delete"))) return;
    const res = await call("DELETE", "/api/v1/sos/devices/" + encodeURIComponent(d.id));
    if (res === undefined && S.error) return;
    S.form = null;
    await load();
  }

  function sosTab() {
    const list = S.devices.slice().sort((a, b) => a.label.localeCompare(b.label));
    return [
      canEdit() ? actions(button(t("units.new_device"), () => editDevice(null), "btn btn-small units-new-device")) : null,
      S.form && S.form.kind === "sos" && S.form.isNew ? deviceForm() : null,
      list.length
        ? el(
            "ul",
            { class: "warn-list units-devices" },
            list.map((d) =>
              el(
                "li",
                { class: "warn-item sos-item", "data-device": d.id },
                el("div", { class: "warn-head" }, el("strong", { text: d.label }), el("span", { class: "muted", text: d.profile.name })),
                el("div", {
                  class: "warn-meta",
                  text: [
                    d.safe_zones.length ? `${t("units.zones")}: ${d.safe_zones.map((z) => z.name || "—").join(", ")}` : null,
                    d.checkin_minutes ? t("units.checkin").split("(")[0].trim() + " " + d.checkin_minutes + " min" : null,
                    d.position_at ? t("units.last_position", { when: when(d.position_at) }) : t("units.never_reported"),
                  ]
                    .filter(Boolean)
                    .join(" · "),
                }),
                canEdit() ? actions(button(t("units.edit"), () => editDevice(d), "btn btn-small units-edit-device"), button(t("units.delete"), () => deleteDevice(d), "btn btn-small btn-ghost units-delete-device")) : null,
                S.form && S.form.kind === "sos" && S.form.id === d.id ? deviceForm() : null
              )
            )
          )
        : el("p", { class: "muted", text: t("units.none") }),
    ];
  }

  // ---- Drawing a safe zone, picking a position -------------------------------------------------

  function startDrawing(zone) {
    S.drawing = { zone, points: [] };
    if (dialog && dialog.open) dialog.close();
    document.getElementById("map").classList.add("is-drawing");
    showBar();
    S.version++;
    B.requestRender();
  }

  function showBar() {
    if (!S.bar) {
      S.bar = el("div", { id: "units-draw-bar", class: "warn-draw-bar", role: "status" });
      document.getElementById("map").after(S.bar);
    }
    if (S.picking) {
      S.bar.replaceChildren(el("span", { class: "warn-draw-hint", text: t("units.pick_hint") }), button(t("units.cancel"), stopDrawing, "btn btn-small btn-ghost"));
    } else {
      const d = S.drawing;
      S.bar.replaceChildren(
        el("span", { class: "warn-draw-hint", text: t("units.draw_hint", { n: I.number(d.points.length) }) }),
        button(t("units.draw_undo"), () => (d.points.pop(), showBar(), S.version++, B.requestRender()), "btn btn-small", { disabled: d.points.length === 0 }),
        button(t("units.draw_finish"), finishDrawing, "btn btn-small btn-primary units-draw-finish", { disabled: d.points.length < 3 }),
        button(t("units.cancel"), stopDrawing, "btn btn-small btn-ghost")
      );
    }
    S.bar.hidden = false;
  }

  function stopDrawing() {
    S.drawing = null;
    S.picking = false;
    if (S.bar) S.bar.hidden = true;
    const map = document.getElementById("map");
    if (map) map.classList.remove("is-drawing");
    S.version++;
    B.requestRender();
    if (S.form) open();
  }

  function finishDrawing() {
    const d = S.drawing;
    if (d && S.form && S.form.kind === "sos" && d.points.length >= 3) {
      const zones = S.form.values.zones;
      if (d.zone < zones.length) zones[d.zone].zone = d.points;
      else zones.push({ name: "", zone: d.points });
    }
    stopDrawing();
  }

  /** A click on the map while drawing a zone adds a corner; while picking, sets the unit's
   *  position. Says whether the click was taken. */
  function mapClick(lat, lon) {
    if (S.picking && S.form && S.form.kind === "unit") {
      S.form.values.lat = lat;
      S.form.values.lon = lon;
      stopDrawing();
      return true;
    }
    const d = S.drawing;
    if (!d) return false;
    d.points.push({ lat, lon });
    showBar();
    S.version++;
    B.requestRender();
    return true;
  }

  // ---- The map layer ---------------------------------------------------------------------------

  function build(map) {
    if (S.gMap !== map) {
      S.g = map.layer("units");
      S.gMap = map;
      S.built = -1;
    }
    if (S.built === S.version) return;
    S.built = S.version;
    S.g.replaceChildren();
    S.items = [];
    // The safe zones of the device being edited.
    if (S.form && S.form.kind === "sos") {
      S.form.values.zones.forEach((z, i) => {
        if (S.drawing && S.drawing.zone === i) return;
        const e = M.svg("path", { class: "sos-zone" }, S.g);
        M.svg("title", null, e).textContent = z.name || t("units.zones");
        S.items.push({ e, ring: z.zone, close: true });
      });
    }
    const d = S.drawing;
    if (d && d.points.length) {
      S.items.push({ e: M.svg("path", { class: "warn-drawing sos-drawing" }, S.g), ring: d.points, close: false });
      for (const p of d.points) S.items.push({ e: M.svg("circle", { class: "warn-vertex", r: 4 }, S.g), point: p });
    }
    for (const u of S.units) {
      if (!Number.isFinite(u.lat) || !Number.isFinite(u.lon)) continue;
      const e = M.svg("g", { class: `unit-marker unit-status-${u.status}`, "data-unit": u.id }, S.g);
      M.svg("rect", { x: -6, y: -6, width: 12, height: 12, rx: 2 }, e);
      M.svg("title", null, e).textContent = `${u.name} · ${t("units.kind." + u.kind)} · ${t("units.status." + u.status)}`;
      S.items.push({ e, point: { lat: u.lat, lon: u.lon }, marker: true });
    }
  }

  function draw(map) {
    if (!map || !B || !B.state.token) return;
    build(map);
    for (const it of S.items) {
      if (it.point) {
        const p = map.project(it.point.lat, it.point.lon);
        if (it.marker) it.e.setAttribute("transform", `translate(${p.x.toFixed(1)},${p.y.toFixed(1)})`);
        else {
          it.e.setAttribute("cx", p.x.toFixed(1));
          it.e.setAttribute("cy", p.y.toFixed(1));
        }
        continue;
      }
      let dd = "";
      it.ring.forEach((q, i) => {
        const p = map.project(q.lat, q.lon);
        dd += (i ? "L" : "M") + p.x.toFixed(1) + "," + p.y.toFixed(1);
      });
      it.e.setAttribute("d", it.close ? dd + "Z" : dd);
    }
  }

  // ---- The panel -------------------------------------------------------------------------------

  function closeForm() {
    S.form = null;
    S.error = null;
    S.version++;
    render();
    B.requestRender();
  }

  function render() {
    if (!dialog) return;
    dialog.querySelector("#units-title").textContent = t("units.title");
    const tabs = [["units", "units.tab_units"], ["procedures", "units.tab_procedures"]];
    if (seesDevices()) tabs.push(["sos", "units.tab_sos"]);
    const bar = el(
      "div",
      { class: "units-tabs", role: "tablist" },
      tabs.map(([k, key]) =>
        el("button", {
          type: "button",
          role: "tab",
          class: "btn btn-small" + (S.tab === k ? " btn-primary" : " btn-ghost"),
          "data-tab": k,
          "aria-selected": S.tab === k ? "true" : "false",
          text: t(key),
          onclick: () => {
            S.tab = k;
            if (S.form) closeForm();
            render();
          },
        })
      )
    );
    const body = S.tab === "procedures" ? proceduresTab() : S.tab === "sos" ? sosTab() : unitsTab();
    dialog.querySelector(".warn-body").replaceChildren(bar, ...body.flat().filter(Boolean));
  }

  function open() {
    if (!dialog) {
      dialog = el(
        "dialog",
        { id: "units-dialog", class: "warn-dialog units-dialog", "aria-labelledby": "units-title" },
        el("div", { class: "warn-top" }, el("h2", { id: "units-title", text: t("units.title") }), button(t("units.close"), () => dialog.close(), "btn btn-ghost units-close")),
        el("div", { class: "warn-body" })
      );
      document.body.append(dialog);
    }
    render();
    if (!dialog.open) dialog.showModal();
    load().catch(() => {});
  }

  window.PolisUnits = {
    attach(bridge) {
      B = bridge;
      const anchor = document.getElementById("open-planner");
      if (!anchor || document.getElementById("open-units")) return;
      const btn = el("button", { id: "open-units", type: "button", class: "btn btn-ghost", hidden: true, "data-i18n": "units.open", text: t("units.open"), onclick: open });
      anchor.after(btn);
      document.addEventListener("keydown", (e) => {
        if (e.key === "Escape" && (S.drawing || S.picking)) stopDrawing();
      });
      I.onChange(() => {
        S.version++;
        render();
        if (S.bar && !S.bar.hidden) showBar();
      });
    },
    /** A session began: load units (drawn on the map) and, for the panel, the rest. */
    start(session) {
      S.session = session;
      const shown = role() !== "agency" && role() !== "viewer";
      document.getElementById("open-units").hidden = !shown;
      load().catch(() => {});
      clearInterval(S.timer);
      S.timer = setInterval(() => S.session === session && load().catch(() => {}), 30000);
    },
    reset() {
      S.session = -1;
      clearInterval(S.timer);
      S.units = [];
      S.devices = [];
      S.procedures = [];
      S.form = null;
      S.drawing = null;
      S.picking = false;
      S.gMap = null;
      S.version++;
      if (S.bar) S.bar.hidden = true;
      if (dialog && dialog.open) dialog.close();
    },
    draw,
    mapClick,
    isDrawing: () => !!(S.drawing || S.picking),
  };
})();
