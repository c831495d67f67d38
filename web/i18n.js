// Polis console: Bulgarian and English strings, and the language switch.
// Every string the console shows comes from here; elements carry `data-i18n` (text),
// `data-i18n-title`, `data-i18n-placeholder` or `data-i18n-aria` (attributes) with a key.
"use strict";

(function () {
  const STRINGS = {
    en: {
      "app.name": "Polis",
      "app.subtitle": "Integrated control center",
      "app.loading": "Loading map data…",
      "app.network_error": "Cannot reach the server.",
      "app.error": "Error",
      "app.dismiss": "Dismiss",

      "login.title": "Operator sign-in",
      "login.intro": "Integrated control center for video surveillance, sensors and key sites.",
      "login.username": "Username",
      "login.password": "Password",
      "login.submit": "Sign in",
      "login.busy": "Signing in…",
      "login.bad_credentials": "Wrong username or password.",
      "login.rate_limited": "Too many sign-in attempts. Wait a minute and try again.",
      "login.session_ended": "Your session has ended. Please sign in again.",
      "login.required": "Enter a username and a password.",

      "top.logout": "Sign out",
      "top.demo": "DEMO DATA",
      "top.demo_title": "Demonstration data: names and positions are approximate and not a real camera network.",
      "top.language": "Language",

      "role.admin": "Administrator",
      "role.supervisor": "Supervisor",
      "role.operator": "Operator",
      "role.agency": "Agency liaison",
      "role.viewer": "Viewer",

      "layers.title": "Layers",
      "layers.sites": "Key sites",
      "layers.cameras": "Cameras",
      "layers.cones": "Fields of view",
      "layers.sensors": "Sensors",
      "legend.key": "Legend",
      "legend.sectors": "Sectors",
      "legend.status": "Camera status",
      "legend.hint": "Click the map to find the cameras that see a point.",

      "map.zoom_in": "Zoom in",
      "map.zoom_out": "Zoom out",
      "map.reset": "Reset view",
      "map.offline": "Offline map: no base tiles configured",
      "map.label": "City map",

      "seeing.title": "Cameras that see this point",
      "seeing.none": "No camera sees this point.",
      "seeing.searching": "Searching…",
      "seeing.clear": "Clear",
      "seeing.count": "{n} found",

      "details.close": "Close",
      "details.site": "Key site",
      "details.camera": "Camera",
      "details.sensor": "Sensor",
      "details.covering": "Cameras covering this site",
      "details.covering_none": "No camera covers this site.",
      "details.show_on_map": "Show on map",

      "field.id": "ID",
      "field.municipality": "Municipality",
      "field.name": "Name",
      "field.name_bg": "Name (Bulgarian)",
      "field.name_en": "Name (English)",
      "field.category": "Category",
      "field.sectors": "Sectors",
      "field.priority": "Priority",
      "field.coordinates": "Coordinates",
      "field.geometry": "Shape",
      "field.heading_deg": "Heading",
      "field.fov_deg": "Field of view",
      "field.range_m": "Range",
      "field.kind": "Type",
      "field.mount_height_m": "Mount height",
      "field.stream_url": "Main stream",
      "field.sub_stream_url": "Sub-stream",
      "field.has_credentials": "Stream credentials stored",
      "field.retention_days": "Recording retention",
      "field.owner": "Owner",
      "field.status": "Status",
      "field.unit": "Unit",
      "field.demo": "Demo data",
      "field.distance_m": "Distance",

      "value.yes": "Yes",
      "value.no": "No",
      "value.none": "—",
      "value.days": "{n} days",
      "value.metres": "{n} m",
      "value.degrees": "{n}°",
      "value.point": "Point",
      "value.polygon": "Area ({n} vertices)",
      "value.priority_1": "1 (highest)",
      "value.priority_5": "5 (lowest)",
      "value.full_circle": "360° (turns)",

      "sector.safety": "Safety",
      "sector.transport": "Transport",
      "sector.disaster": "Disasters",
      "sector.tourism": "Tourism",

      "category.school": "School",
      "category.kindergarten": "Kindergarten",
      "category.hospital": "Hospital",
      "category.square": "Square",
      "category.crossroads": "Crossroads",
      "category.bus_station": "Bus station",
      "category.rail_station": "Railway station",
      "category.bridge": "Bridge",
      "category.river_bank": "River bank",
      "category.dam": "Dam",
      "category.industrial": "Industrial site",
      "category.tourist": "Tourist site",
      "category.municipal_building": "Municipal building",
      "category.park": "Park",
      "category.market": "Market",
      "category.stadium": "Stadium",
      "category.other": "Other",

      "camkind.fixed": "Fixed",
      "camkind.ptz": "PTZ (pan-tilt-zoom)",
      "camkind.anpr": "ANPR (number plates)",
      "camkind.thermal": "Thermal",

      "camkind_short.fixed": "Fixed",
      "camkind_short.ptz": "PTZ",
      "camkind_short.anpr": "ANPR",
      "camkind_short.thermal": "Thermal",
      "legend.kinds": "Camera type",

      "summary.active": "active",
      "summary.offline": "offline",
      "summary.planned": "planned",
      "summary.cameras": "cameras",

      "compass.N": "N",
      "compass.NE": "NE",
      "compass.E": "E",
      "compass.SE": "SE",
      "compass.S": "S",
      "compass.SW": "SW",
      "compass.W": "W",
      "compass.NW": "NW",

      "status.active": "Active",
      "status.planned": "Planned",
      "status.offline": "Offline",
      "status.decommissioned": "Decommissioned",

      "sensorkind.water_level": "Water level",
      "sensorkind.rain": "Rainfall",
      "sensorkind.air_quality": "Air quality",
      "sensorkind.traffic_count": "Traffic count",
      "sensorkind.traffic_speed": "Traffic speed",
      "sensorkind.noise": "Noise",
      "sensorkind.smoke": "Smoke",
      "sensorkind.temperature": "Temperature",
      "sensorkind.other": "Other",

      "alarms.title": "Alarms",
      "alarms.none": "No open alarms.",
      "alarms.badge_title": "Open alarms (unacknowledged in colour)",
      "alarms.mute": "Mute the alarm sound",
      "alarms.unmute": "Turn the alarm sound on",
      "alarms.live_on": "Live",
      "alarms.live_off": "Reconnecting…",
      "alarms.live_title_on": "Receiving live events",
      "alarms.live_title_off": "The live stream is interrupted; reconnecting",
      "alarms.count": "{n} open",

      "severity.critical": "Critical",
      "severity.major": "Major",
      "severity.minor": "Minor",
      "severity.warning": "Warning",

      "alarmstate.active_unacknowledged": "Active, not acknowledged",
      "alarmstate.active_acknowledged": "Active, acknowledged",
      "alarmstate.cleared_unacknowledged": "Cleared, not acknowledged",
      "alarmstate.cleared_acknowledged": "Cleared and acknowledged",

      "details.alarm": "Alarm",
      "alarm.acknowledge": "Acknowledge",
      "alarm.comment": "Comment",
      "alarm.comment_placeholder": "Add a comment…",
      "alarm.clear": "Clear",
      "alarm.clear_prompt": "Why is this alarm cleared by hand?",
      "alarm.clear_reason": "Reason for clearing",
      "alarm.clear_confirm": "Clear the alarm",
      "alarm.cancel": "Cancel",
      "alarm.reason_required": "Enter a reason.",
      "alarm.comments": "Comments",
      "alarm.no_comments": "No comments yet.",
      "alarm.cameras": "Cameras that see the source",
      "alarm.no_cameras": "No camera sees the source.",
      "alarm.conflict": "This step is not possible now: the alarm has changed in the meantime.",
      "alarm.forbidden": "Your role may not change alarms.",
      "alarm.repeats": "×{n}",
      "alarm.by": "{when} · {who}",

      "field.severity": "Severity",
      "field.state": "State",
      "field.value": "Value",
      "field.first_seen": "First seen",
      "field.last_seen": "Last seen",
      "field.count": "Repeats",
      "field.acknowledged": "Acknowledged",
      "field.cleared": "Cleared",
      "field.clear_reason": "Reason",
      "field.source": "Source",
      "field.latest": "Latest value",

      "sensorstate.ok": "Normal",
      "sensorstate.alarm": "In alarm",
      "sensorstate.warning": "Minor alarm",
      "sensorstate.silent": "Silent (no data)",
      "legend.sensors": "Sensor state",

      "chart.title": "Last 6 hours",
      "chart.loading": "Loading readings…",
      "chart.empty": "No readings in the last 6 hours.",
      "chart.minute": "minute averages",
      "chart.time": "Time",
      "chart.label": "Chart of the sensor's readings",
      "quantity.pm25": "PM2.5",
      "quantity.pm10": "PM10",
    },

    bg: {
      "app.name": "Полис",
      "app.subtitle": "Интегриран контролен център",
      "app.loading": "Зареждане на данните…",
      "app.network_error": "Няма връзка със сървъра.",
      "app.error": "Грешка",
      "app.dismiss": "Затвори",

      "login.title": "Вход за оператори",
      "login.intro": "Интегриран контролен център за видеонаблюдение, сензори и ключови обекти.",
      "login.username": "Потребителско име",
      "login.password": "Парола",
      "login.submit": "Вход",
      "login.busy": "Влизане…",
      "login.bad_credentials": "Грешно потребителско име или парола.",
      "login.rate_limited": "Твърде много опити за вход. Изчакайте минута и опитайте отново.",
      "login.session_ended": "Сесията ви изтече. Моля, влезте отново.",
      "login.required": "Въведете потребителско име и парола.",

      "top.logout": "Изход",
      "top.demo": "ДЕМО ДАННИ",
      "top.demo_title": "Демонстрационни данни: имената и позициите са приблизителни и не са реална мрежа от камери.",
      "top.language": "Език",

      "role.admin": "Администратор",
      "role.supervisor": "Ръководител смяна",
      "role.operator": "Оператор",
      "role.agency": "Представител на служба",
      "role.viewer": "Наблюдател",

      "layers.title": "Слоеве",
      "layers.sites": "Ключови обекти",
      "layers.cameras": "Камери",
      "layers.cones": "Зрителни полета",
      "layers.sensors": "Сензори",
      "legend.key": "Легенда",
      "legend.sectors": "Сектори",
      "legend.status": "Състояние на камерите",
      "legend.hint": "Щракнете върху картата, за да видите кои камери виждат дадена точка.",

      "map.zoom_in": "Приближи",
      "map.zoom_out": "Отдалечи",
      "map.reset": "Начален изглед",
      "map.offline": "Офлайн карта: няма зададена картна основа",
      "map.label": "Карта на града",

      "seeing.title": "Камери, които виждат тази точка",
      "seeing.none": "Нито една камера не вижда тази точка.",
      "seeing.searching": "Търсене…",
      "seeing.clear": "Изчисти",
      "seeing.count": "Намерени: {n}",

      "details.close": "Затвори",
      "details.site": "Ключов обект",
      "details.camera": "Камера",
      "details.sensor": "Сензор",
      "details.covering": "Камери, които покриват обекта",
      "details.covering_none": "Нито една камера не покрива обекта.",
      "details.show_on_map": "Покажи на картата",

      "field.id": "Идентификатор",
      "field.municipality": "Община",
      "field.name": "Име",
      "field.name_bg": "Име (български)",
      "field.name_en": "Име (английски)",
      "field.category": "Категория",
      "field.sectors": "Сектори",
      "field.priority": "Приоритет",
      "field.coordinates": "Координати",
      "field.geometry": "Форма",
      "field.heading_deg": "Посока",
      "field.fov_deg": "Зрителен ъгъл",
      "field.range_m": "Обхват",
      "field.kind": "Вид",
      "field.mount_height_m": "Височина на монтаж",
      "field.stream_url": "Основен поток",
      "field.sub_stream_url": "Допълнителен поток",
      "field.has_credentials": "Съхранени данни за достъп до потока",
      "field.retention_days": "Съхранение на записите",
      "field.owner": "Собственик",
      "field.status": "Състояние",
      "field.unit": "Мерна единица",
      "field.demo": "Демо данни",
      "field.distance_m": "Разстояние",

      "value.yes": "Да",
      "value.no": "Не",
      "value.none": "—",
      "value.days": "{n} дни",
      "value.metres": "{n} м",
      "value.degrees": "{n}°",
      "value.point": "Точка",
      "value.polygon": "Зона ({n} върха)",
      "value.priority_1": "1 (най-висок)",
      "value.priority_5": "5 (най-нисък)",
      "value.full_circle": "360° (въртяща се)",

      "sector.safety": "Сигурност",
      "sector.transport": "Транспорт",
      "sector.disaster": "Бедствия",
      "sector.tourism": "Туризъм",

      "category.school": "Училище",
      "category.kindergarten": "Детска градина",
      "category.hospital": "Болница",
      "category.square": "Площад",
      "category.crossroads": "Кръстовище",
      "category.bus_station": "Автогара",
      "category.rail_station": "Железопътна гара",
      "category.bridge": "Мост",
      "category.river_bank": "Речен бряг",
      "category.dam": "Язовир",
      "category.industrial": "Промишлен обект",
      "category.tourist": "Туристически обект",
      "category.municipal_building": "Общинска сграда",
      "category.park": "Парк",
      "category.market": "Пазар",
      "category.stadium": "Стадион",
      "category.other": "Друго",

      "camkind.fixed": "Фиксирана",
      "camkind.ptz": "Въртяща се (PTZ)",
      "camkind.anpr": "Разпознаване на номера (ANPR)",
      "camkind.thermal": "Термовизионна",

      "camkind_short.fixed": "Фиксирана",
      "camkind_short.ptz": "PTZ",
      "camkind_short.anpr": "ANPR",
      "camkind_short.thermal": "Термокамера",
      "legend.kinds": "Вид камера",

      "summary.active": "активни",
      "summary.offline": "без връзка",
      "summary.planned": "планирани",
      "summary.cameras": "камери",

      "compass.N": "С",
      "compass.NE": "СИ",
      "compass.E": "И",
      "compass.SE": "ЮИ",
      "compass.S": "Ю",
      "compass.SW": "ЮЗ",
      "compass.W": "З",
      "compass.NW": "СЗ",

      "status.active": "Активна",
      "status.planned": "Планирана",
      "status.offline": "Без връзка",
      "status.decommissioned": "Изведена от експлоатация",

      "sensorkind.water_level": "Ниво на водата",
      "sensorkind.rain": "Валежи",
      "sensorkind.air_quality": "Качество на въздуха",
      "sensorkind.traffic_count": "Брой превозни средства",
      "sensorkind.traffic_speed": "Скорост на движението",
      "sensorkind.noise": "Шум",
      "sensorkind.smoke": "Дим",
      "sensorkind.temperature": "Температура",
      "sensorkind.other": "Друго",

      "alarms.title": "Аларми",
      "alarms.none": "Няма отворени аларми.",
      "alarms.badge_title": "Отворени аларми (непотвърдените в цвят)",
      "alarms.mute": "Изключи звука на алармите",
      "alarms.unmute": "Включи звука на алармите",
      "alarms.live_on": "На живо",
      "alarms.live_off": "Свързване…",
      "alarms.live_title_on": "Получаване на събития в реално време",
      "alarms.live_title_off": "Потокът от събития е прекъснат; свързване отново",
      "alarms.count": "{n} отворени",

      "severity.critical": "Критична",
      "severity.major": "Голяма",
      "severity.minor": "Малка",
      "severity.warning": "Предупреждение",

      "alarmstate.active_unacknowledged": "Активна, непотвърдена",
      "alarmstate.active_acknowledged": "Активна, потвърдена",
      "alarmstate.cleared_unacknowledged": "Изчистена, непотвърдена",
      "alarmstate.cleared_acknowledged": "Изчистена и потвърдена",

      "details.alarm": "Аларма",
      "alarm.acknowledge": "Потвърди",
      "alarm.comment": "Коментар",
      "alarm.comment_placeholder": "Добавете коментар…",
      "alarm.clear": "Изчисти",
      "alarm.clear_prompt": "Защо изчиствате алармата ръчно?",
      "alarm.clear_reason": "Причина за изчистване",
      "alarm.clear_confirm": "Изчисти алармата",
      "alarm.cancel": "Отказ",
      "alarm.reason_required": "Въведете причина.",
      "alarm.comments": "Коментари",
      "alarm.no_comments": "Още няма коментари.",
      "alarm.cameras": "Камери, които виждат източника",
      "alarm.no_cameras": "Нито една камера не вижда източника.",
      "alarm.conflict": "Стъпката не е възможна в момента: алармата междувременно е променена.",
      "alarm.forbidden": "Вашата роля не позволява промяна на аларми.",
      "alarm.repeats": "×{n}",
      "alarm.by": "{when} · {who}",

      "field.severity": "Степен",
      "field.state": "Състояние",
      "field.value": "Стойност",
      "field.first_seen": "Първа поява",
      "field.last_seen": "Последна поява",
      "field.count": "Повторения",
      "field.acknowledged": "Потвърдена",
      "field.cleared": "Изчистена",
      "field.clear_reason": "Причина",
      "field.source": "Източник",
      "field.latest": "Последна стойност",

      "sensorstate.ok": "Нормално",
      "sensorstate.alarm": "В аларма",
      "sensorstate.warning": "Малка аларма",
      "sensorstate.silent": "Мълчи (няма данни)",
      "legend.sensors": "Състояние на сензорите",

      "chart.title": "Последните 6 часа",
      "chart.loading": "Зареждане на измерванията…",
      "chart.empty": "Няма измервания през последните 6 часа.",
      "chart.minute": "средни стойности за минута",
      "chart.time": "Час",
      "chart.label": "Графика на измерванията на сензора",
      "quantity.pm25": "ФПЧ2,5",
      "quantity.pm10": "ФПЧ10",
    },
  };

  const STORAGE_KEY = "polis.lang";
  const listeners = [];

  function initialLanguage() {
    let saved = null;
    try {
      saved = localStorage.getItem(STORAGE_KEY);
    } catch (_) {
      // Storage may be disabled; fall back to the browser's language.
    }
    if (saved === "bg" || saved === "en") return saved;
    const nav = (navigator.languages && navigator.languages[0]) || navigator.language || "en";
    return nav.toLowerCase().startsWith("bg") ? "bg" : "en";
  }

  let lang = initialLanguage();

  /** The string for `key` in the current language, with `{name}` placeholders filled. */
  function t(key, params) {
    let s = STRINGS[lang][key];
    if (s === undefined) s = STRINGS.en[key];
    if (s === undefined) return key;
    if (params) {
      s = s.replace(/\{(\w+)\}/g, (m, name) => (params[name] !== undefined ? String(params[name]) : m));
    }
    return s;
  }

  /** The name of an enumerated value (`category`, `sector`, `camkind`, `status`, `sensorkind`,
   *  `role`, `severity`, `alarmstate`, `sensorstate`, `quantity`), or the raw value when the dictionary does not know it. */
  function term(group, value) {
    if (value === null || value === undefined || value === "") return t("value.none");
    const key = group + "." + value;
    return STRINGS[lang][key] !== undefined || STRINGS.en[key] !== undefined ? t(key) : String(value);
  }

  /** A number in the current language's format. */
  function number(n, digits) {
    const d = digits === undefined ? 0 : digits;
    return new Intl.NumberFormat(lang === "bg" ? "bg-BG" : "en-GB", {
      minimumFractionDigits: 0,
      maximumFractionDigits: d,
    }).format(n);
  }

  /** Fills every element under `root` that carries a `data-i18n*` attribute. */
  function apply(root) {
    const r = root || document;
    r.querySelectorAll("[data-i18n]").forEach((el) => {
      el.textContent = t(el.dataset.i18n);
    });
    r.querySelectorAll("[data-i18n-title]").forEach((el) => {
      el.title = t(el.dataset.i18nTitle);
    });
    r.querySelectorAll("[data-i18n-placeholder]").forEach((el) => {
      el.placeholder = t(el.dataset.i18nPlaceholder);
    });
    r.querySelectorAll("[data-i18n-aria]").forEach((el) => {
      el.setAttribute("aria-label", t(el.dataset.i18nAria));
    });
    document.documentElement.lang = lang;
    document.title = t("app.name") + " · " + t("app.subtitle");
    const bg = document.getElementById("lang-bg");
    const en = document.getElementById("lang-en");
    if (bg) bg.setAttribute("aria-pressed", String(lang === "bg"));
    if (en) en.setAttribute("aria-pressed", String(lang === "en"));
  }

  function setLanguage(next) {
    if (next !== "bg" && next !== "en") return;
    lang = next;
    try {
      localStorage.setItem(STORAGE_KEY, next);
    } catch (_) {
      // Not remembered; still switched for this page.
    }
    apply(document);
    listeners.forEach((fn) => fn(lang));
  }

  window.PolisI18n = {
    t,
    term,
    number,
    apply,
    setLanguage,
    get lang() {
      return lang;
    },
    onChange(fn) {
      listeners.push(fn);
    },
    strings: STRINGS,
  };
})();
