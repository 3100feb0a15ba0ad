// The call-taker's desk, the map (templates/workspace.html, static/map.js): the popped
// call's fixes with their accuracy circles, and the incident's point. The point starts at
// the best fix (ntpdMap.bestFix); the call-taker may click the map or drag it. Each point
// is looked up on the server (GET /api/workspace/locate: the region, kecamatan and desa
// polygons it falls in) and handed to the form as "desk:place" (workspace-incident.js);
// a point outside the call's region shows the wrong-regency warning.
// A fix arriving during the call (AML, ELS, the location link) is a hub message
// `location.fix` {call, fix, fixes} on the desk's topic (fixes: the call's whole list, best first).
"use strict";
(() => {
  const element = document.getElementById("desk-map");
  if (!element) return;
  const $ = (id) => document.getElementById(id);
  const config = JSON.parse($("desk-config").textContent);
  const labels = config.labels;
  const mapLabels = { fix: labels["map.fix"] };
  for (const [key, value] of Object.entries(labels)) {
    if (key.startsWith("map.source.")) mapLabels[key.slice(4)] = value;
  }
  const desk = ntpdMap.create(element, config.map, { onPlace: placed, pointTitle: labels["map.point"] });
  let call = null;
  let fixes = [];
  let placedByTaker = false;
  const asked = { fix: 0, "call-taker": 0 }; // the newest look-up of each; older answers are dropped

  function say(key, values) {
    return (labels[key] ?? key).replace(/\{(\w+)\}/g, (_, name) => values[name] ?? "");
  }

  function warn(located) {
    const warning = $("map-warning");
    if (!located || located.inside !== false || !call) {
      warning.hidden = true;
      warning.textContent = "";
      return;
    }
    const region = config.regions[call.region]?.name ?? call.region;
    warning.textContent = located.region && located.region !== call.region
      ? say("map.outside", { region, other: located.region_name })
      : say("map.outside_unknown", { region });
    warning.hidden = false;
    warning.dataset.region = located.region ?? "";
  }

  // by "fix": the best fix, for the warning (where the caller is) and, unless the call-taker
  // placed the point, for the form; by "call-taker": the point they placed, for the form.
  async function lookUp(lat, lon, by, moved) {
    const mine = ++asked[by];
    const forCall = call?.uniqueid;
    const query = new URLSearchParams({ lat: String(lat), lon: String(lon), region: call?.region ?? "" });
    let located = null;
    try {
      const reply = await fetch(`/api/workspace/locate?${query}`, { credentials: "same-origin" });
      if (reply.ok) located = await reply.json();
    } catch (error) {
      console.warn("locate:", error);
    }
    if (mine !== asked[by] || forCall !== call?.uniqueid) return;
    if (by === "fix") {
      warn(located);
      element.dataset.inside = located?.inside === false ? "no" : "yes";
    }
    if (moved) {
      document.dispatchEvent(new CustomEvent("desk:place",
        { detail: { call: forCall, lat, lon, by, located } }));
    }
  }

  function propose() {
    const best = desk.showFixes(fixes, mapLabels);
    element.dataset.fixes = String(fixes.length);
    if (!best) return;
    if (!placedByTaker) {
      desk.setPoint(best.lat, best.lon);
      desk.frame([[best.lat, best.lon]]);
      element.dataset.point = `${best.lat},${best.lon}`;
    }
    lookUp(best.lat, best.lon, "fix", !placedByTaker);
  }

  function placed(lat, lon) {
    if (!call) return;
    placedByTaker = true;
    const round = (value) => Math.round(value * 1e6) / 1e6;
    element.dataset.point = `${round(lat)},${round(lon)}`;
    lookUp(round(lat), round(lon), "call-taker", true);
  }

  function popped(data) {
    const same = call !== null && call.uniqueid === data.uniqueid;
    call = same ? { ...call, ...data } : data;
    if (!same) {
      placedByTaker = false;
      fixes = [];
      desk.clearPoint();
      warn(null);
    }
    desk.setHome(call.region);
    fixes = ntpdMap.fixesOf(call);  // the server's list, best first
    if (fixes.length) { propose(); return; }
    desk.showFixes([]);
    desk.frame([]);
    element.dataset.fixes = "0";
  }

  document.addEventListener("desk:event", (message) => {
    const { topic, kind, data } = message.detail;
    if (topic !== "workspace") return;
    if (kind === "call.ringing") popped(data);
    else if (kind === "location.fix" && call && data.call === call.uniqueid) {
      fixes = ntpdMap.fixesOf(data);  // the call's whole list, ranked again by the server
      propose();
    }
  });

  // A text session opened on the desk (workspace-texts.js): its caller's fixes, as a pop's.
  document.addEventListener("desk:subject", (message) => popped(message.detail));

  // The call-taker typing coordinates moves the point too.
  for (const id of ["inc-lat", "inc-lon"]) {
    $(id).addEventListener("change", () => {
      const lat = Number($("inc-lat").value);
      const lon = Number($("inc-lon").value);
      if (!call || !$("inc-lat").value || !$("inc-lon").value || !Number.isFinite(lat)
          || !Number.isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) return;
      desk.setPoint(lat, lon);
      placed(lat, lon);
    });
  }

  const initial = JSON.parse($("call-initial").textContent);
  if (initial) popped(initial);
  else desk.frame([]);
})();
