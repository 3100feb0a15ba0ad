// The maps of the call-taker's desk and the agency's screen (docs/workspace.md "The map"),
// drawn with Leaflet from this server (static/leaflet/): centers may be offline. The base
// layer is the settings' web.map_tile_url; without it the map is plain (the points, their
// accuracy circles, a scale and the regions' boundaries), never a third-party asset.
// Page config (ntpd_ivr/location/model.py map_config): {tiles, attribution,
// boundaries: {region: {name, level, geojson}}}.
"use strict";
const ntpdMap = (() => {
  // The proposed point among a call's fixes: the newest, unless an older one is much more
  // accurate (its radius at most a quarter) and recent enough that the caller is likely
  // still there. A fix without a radius is of unknown accuracy: any fix with one beats it.
  const MUCH_MORE_ACCURATE = 4;
  const STILL_THERE_MS = 10 * 60 * 1000;
  const SOURCES = ["network", "aml", "els", "link", "call-taker"];

  function usable(fix) {
    return fix && Number.isFinite(fix.lat) && Number.isFinite(fix.lon)
      && Math.abs(fix.lat) <= 90 && Math.abs(fix.lon) <= 180;
  }

  function bestFix(fixes) {
    const time = (fix) => Date.parse(fix.at ?? "") || 0;
    const radius = (fix) => (fix.radius_m > 0 ? fix.radius_m : Infinity);
    const newestFirst = (fixes ?? []).filter(usable).sort((a, b) => time(b) - time(a));
    if (!newestFirst.length) return null;
    const newest = newestFirst[0];
    let best = newest;
    for (const older of newestFirst.slice(1)) {
      if (time(newest) - time(older) > STILL_THERE_MS) break;
      if (radius(older) * MUCH_MORE_ACCURATE <= radius(best) && radius(older) < radius(best)) {
        best = older;
      }
    }
    return best;
  }

  // A pop's fixes: the operator's PIDF-LO (`location`, when it has a position) and any
  // `fixes` (AML, ELS, the location link, ...), as one list.
  function fixesOf(call) {
    const fixes = [];
    const location = call?.location;
    if (location && Number.isFinite(location.lat) && Number.isFinite(location.lon)) {
      fixes.push({ source: location.source || "network", lat: location.lat, lon: location.lon,
        radius_m: location.radius_m ?? null, method: location.kind, at: call.arrived_at });
    }
    for (const fix of call?.fixes ?? []) if (usable(fix)) fixes.push(fix);
    return fixes;
  }

  const OUTLINE = { color: "#5b3cc4", weight: 2, fill: false, interactive: false };
  const HOME = { color: "#c0392b", weight: 3, fill: false, interactive: false };
  const AREA = { color: "#7a7a7a", weight: 1, dashArray: "4 3", fill: false, interactive: false };

  // One map in `element`. options.onPlace(lat, lon) is called when the person places or
  // drags the incident's point (none: the point is only shown).
  function create(element, config, options = {}) {
    const map = L.map(element, { attributionControl: false, zoomSnap: 0.5 });
    if (config.tiles) {
      L.tileLayer(config.tiles, { maxZoom: 19, attribution: config.attribution || "" }).addTo(map);
      L.control.attribution({ prefix: false }).addTo(map);
    } else {
      element.classList.add("map-plain");
    }
    L.control.scale({ imperial: false }).addTo(map);
    const layers = {};
    for (const [key, region] of Object.entries(config.boundaries ?? {})) {
      layers[key] = L.geoJSON(region.geojson, {
        style: (feature) => (feature.properties?.kecamatan ? AREA : OUTLINE),
      }).addTo(map);
    }
    const fixLayer = L.layerGroup().addTo(map);
    let point = null;
    let home = null;

    function frame(extra) {
      let bounds = home && layers[home] ? layers[home].getBounds() : null;
      for (const latlng of extra) bounds = bounds ? bounds.extend(latlng) : L.latLngBounds([latlng]);
      if (!bounds) {
        const all = Object.values(layers).map((layer) => layer.getBounds());
        for (const b of all) bounds = bounds ? bounds.extend(b) : L.latLngBounds(b.getSouthWest(), b.getNorthEast());
      }
      if (bounds && bounds.isValid()) map.fitBounds(bounds.pad(0.15), { maxZoom: 15, animate: false });
      else map.setView([-2.5, 118], 4, { animate: false });  // Indonesia
    }

    function setHome(region) {
      home = region;
      for (const [key, layer] of Object.entries(layers)) {
        layer.eachLayer((part) => {
          if (!part.feature?.properties?.kecamatan) part.setStyle(key === region ? HOME : OUTLINE);
        });
      }
    }

    function showFixes(fixes, labels = {}) {
      fixLayer.clearLayers();
      const best = bestFix(fixes);
      for (const fix of fixes.filter(usable)) {
        const source = SOURCES.includes(fix.source) ? fix.source : "other";
        const text = (labels.fix ?? "{source} ± {radius} m")
          .replace("{source}", labels[`source.${source}`] ?? fix.source)
          .replace("{radius}", fix.radius_m > 0 ? Math.round(fix.radius_m) : "?");
        if (fix.radius_m > 0) {
          L.circle([fix.lat, fix.lon], { radius: fix.radius_m, weight: 1, fillOpacity: 0.12,
            className: `fix-circle fix-${source}`, interactive: false }).addTo(fixLayer);
        }
        L.circleMarker([fix.lat, fix.lon], { radius: fix === best ? 7 : 5, weight: 2,
          fillOpacity: 0.9, className: `fix fix-${source}${fix === best ? " fix-best" : ""}` })
          .bindTooltip(text).addTo(fixLayer);
      }
      return best;
    }

    function setPoint(lat, lon) {
      if (point) point.setLatLng([lat, lon]);
      else {
        point = L.marker([lat, lon], {
          draggable: Boolean(options.onPlace), keyboard: true, title: options.pointTitle ?? "",
          icon: L.divIcon({ className: "incident-point", iconSize: [22, 22], iconAnchor: [11, 11] }),
        }).addTo(map);
        point.on("dragend", () => {
          const at = point.getLatLng();
          options.onPlace(at.lat, at.lng);
        });
      }
    }

    function clearPoint() {
      if (point) { point.remove(); point = null; }
    }

    if (options.onPlace) {
      map.on("click", (event) => {
        setPoint(event.latlng.lat, event.latlng.lng);
        options.onPlace(event.latlng.lat, event.latlng.lng);
      });
    }
    frame([]);
    const shown = { map, frame, setHome, showFixes, setPoint, clearPoint };
    element.ntpdMap = shown;  // the element's map, for the page's other scripts and tests
    return shown;
  }

  // The agency's screen (incidents/templates/agency.html): its incidents' points, shown.
  function agencyScreen() {
    const element = document.getElementById("agency-map");
    if (!element) return;
    const config = JSON.parse(document.getElementById("agency-map-config").textContent);
    const shown = create(element, config);
    const points = [];
    for (const p of config.points ?? []) {
      if (!usable(p)) continue;
      L.circleMarker([p.lat, p.lon], { radius: 7, weight: 2, fillOpacity: 0.9,
        className: "incident-point-shown" }).bindTooltip(p.text).addTo(shown.map);
      points.push([p.lat, p.lon]);
    }
    const regions = Object.keys(config.boundaries ?? {});
    if (regions.length === 1) shown.setHome(regions[0]);
    shown.frame(points);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", agencyScreen);
  } else {
    agencyScreen();
  }

  return { bestFix, fixesOf, create };
})();
