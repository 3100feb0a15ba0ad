// The screens' one way to show a time, the same text as the server's
// ntpd_ivr.i18n.format_time: the center's zone, to the second, in the user's language,
// with the zone's short name ("7 Des 2026 12.24.07 WIB"). The page gives the zone, the
// catalogue's CLDR pattern and the month names (<html data-time-config>, from
// ntpd_ivr.i18n.script_time_config); the browser only works out the zone's wall clock.
// tests/browser/test_i18n_screens.py checks both sides give the same text.
"use strict";
window.ntpdTime = (() => {
  const config = JSON.parse(document.documentElement.dataset.timeConfig || "null")
    || { zone: "UTC", abbreviation: "UTC", pattern: "y-MM-dd HH:mm:ss", months: [] };
  const clock = new Intl.DateTimeFormat("en-US", {
    timeZone: config.zone, year: "numeric", month: "numeric", day: "numeric",
    hour: "numeric", minute: "numeric", second: "numeric", hourCycle: "h23",
  });
  const two = (value) => String(value).padStart(2, "0");

  function format(when) {
    if (when === null || when === undefined || when === "") return "";
    // A time without a zone is UTC, as on the server (a browser would take it as local).
    const zoneless = typeof when === "string" && /T[\d:.]+$/.test(when);
    const date = new Date(zoneless ? `${when}Z` : when);
    if (Number.isNaN(date.getTime())) return String(when);
    const part = {};
    for (const { type, value } of clock.formatToParts(date)) part[type] = value;
    const month = Number(part.month);
    const fields = {
      d: String(Number(part.day)), dd: two(part.day),
      M: String(month), MM: two(month), MMM: config.months[month - 1] ?? String(month),
      y: part.year, yyyy: part.year,
      H: String(Number(part.hour)), HH: two(part.hour),
      mm: two(part.minute), ss: two(part.second),
    };
    // Only these CLDR fields: tests/unit/test_i18n.py keeps every catalogue's pattern to them.
    const shown = config.pattern.replace(/d+|M+|y+|H+|m+|s+/g, (token) => fields[token] ?? token);
    // The center's zones keep no summer time: one short name (WIB, WITA, WIT) all year.
    return `${shown} ${config.abbreviation}`;
  }

  return { format };
})();
