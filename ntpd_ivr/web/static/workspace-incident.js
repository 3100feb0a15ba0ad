// The call-taker's desk, third column (templates/workspace.html): the incident form for
// the popped call, the suggestion of an open incident to attach it to as a duplicate, the
// call's disposition and wrap-up, and the dispatch panel with each dispatch's live status.
// Requests go to the incidents API (docs/incidents.md) with the page's CSRF token; what
// changes elsewhere (an agency accepting, the telephony dialling) arrives as "desk:event"
// from workspace.js's socket. The page never polls. The subject is the popped call, or a
// text session the call-taker opened ("desk:subject", workspace-texts.js; it has no voice
// channel, so dispatch offers notify only). What the call-taker typed into the form is kept
// in localStorage per user and call until it is saved: a reload loses nothing. While the
// database fails over, a save says "saving…" and is sent again until it lands
// (ntpdDesk.save, workspace.js).
"use strict";
(() => {
  const card = document.getElementById("incident");
  if (!card) return;
  const $ = (id) => document.getElementById(id);
  const config = JSON.parse($("desk-config").textContent);
  const labels = config.labels;
  const form = $("incident-form");
  const FINAL = new Set(["resolved", "refused", "timed-out", "cancelled", "failed"]);
  let call = null; // {uniqueid, ...} the call the form is for
  let incidentId = null;
  // This draft's key, sent with its save: a save sent again (its answer lost while the
  // database failed over) finds the incident the first one made (docs/ha.md).
  let saveKey = "";
  let placeFromMap = false; // the kecamatan/desa shown came from the map's look-up
  let wrapupTimer = null;
  const dispatchRows = new Map(); // agency -> <tr>
  let transfer = null; // {transfer, name, state} the transfer of this call in progress
  const me = document.querySelector(".who")?.dataset.user ?? "";

  function say(key, values = {}) {
    return (labels[key] ?? key).replace(/\{(\w+)\}/g, (_, name) => values[name] ?? "");
  }

  function showError(id, text) {
    $(id).textContent = text;
    $(id).hidden = !text;
  }

  const api = ntpdDesk.api; // workspace.js
  // Saves retried while the database fails over, the screen saying so meanwhile.
  const save = (method, path, body) => ntpdDesk.save(method, path, body, () => {
    showError("incident-error", "");
    $("incident-status").textContent = labels["incident.saving"];
    $("incident-status").hidden = false;
  });

  function option(select, value, text) {
    const item = document.createElement("option");
    item.value = value;
    item.textContent = text;
    select.append(item);
  }

  // --- the form -----------------------------------------------------------------------

  function places() {
    return config.regions[$("inc-region").value]?.places ?? {};
  }

  // The last option of each list: a place the list lacks (or a region without a list) is
  // typed into the text field under it. No place name starts with a space
  // (ntpd_ivr/places/model.py), so this value is never a listed one.
  const OTHER = " other";

  function fillPlaces(select, names, wanted) {
    select.replaceChildren();
    option(select, "", labels["incident.choose"]);
    for (const name of names) option(select, name, name);
    option(select, OTHER, labels["incident.other"]);
    const match = names.find(
      (name) => wanted && name.toLowerCase() === String(wanted).toLowerCase());
    // Nothing to pick from, or a name (the operator's civic address) the list lacks: typed.
    select.value = match ?? (names.length === 0 || wanted ? OTHER : "");
  }

  function showOther(select, input, wanted, required) {
    const typed = select.value === OTHER;
    input.hidden = !typed;
    input.required = typed && required;
    input.value = typed && wanted ? String(wanted) : "";
  }

  function fillKecamatan(wanted) {
    fillPlaces($("inc-kecamatan"), Object.keys(places()), wanted);
    showOther($("inc-kecamatan"), $("inc-kecamatan-other"), wanted, true);
    fillDesa();
  }

  function fillDesa(wanted) {
    const kecamatan = $("inc-kecamatan").value;
    fillPlaces($("inc-desa"), kecamatan === OTHER ? [] : places()[kecamatan] ?? [], wanted);
    if (kecamatan === "" && !wanted) $("inc-desa").value = "";
    showOther($("inc-desa"), $("inc-desa-other"), wanted, false);
  }

  function placeValue(selectId) {
    const select = $(selectId);
    return (select.value === OTHER ? $(`${selectId}-other`) : select).value.trim();
  }

  function networkLocation(location) {
    if (!location || !["point", "circle", "civic"].includes(location.kind)) return null;
    const parts = [];
    if (location.lat !== null && location.lon !== null) parts.push(`${location.lat}, ${location.lon}`);
    if (location.radius_m) parts.push(`± ${location.radius_m} m`);
    if (location.civic) {
      parts.push(["RD", "HNO", "A4", "A3", "A2"].map((k) => location.civic[k]).filter(Boolean).join(", "));
    }
    return parts.join(" · ");
  }

  function newSaveKey() {
    const bytes = crypto.getRandomValues(new Uint8Array(16)); // also outside HTTPS
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function startForm(popped) {
    call = popped;
    incidentId = null;
    saveKey = newSaveKey();
    placeFromMap = false;
    dispatchRows.clear();
    form.reset();
    card.dataset.state = "open";
    card.dataset.uniqueid = popped.uniqueid;
    delete card.dataset.incident;
    $("incident-call").textContent = popped.caller_number ?? "";
    $("incident-none").hidden = true;
    form.hidden = false;
    $("suggestions").hidden = true;
    $("dispatch-panel").hidden = true;
    $("transfer-panel").hidden = true;
    transfer = null;
    $("disposition-panel").hidden = false;
    showDisposition("", "");
    showError("incident-error", "");
    showError("dispatch-alert", "");
    showWrapup(null);
    if (popped.category && config.categories.includes(popped.category)) {
      $("inc-category").value = popped.category;
    }
    $("inc-region").value = config.regions[popped.region] ? popped.region : config.default_region;
    const location = popped.location;
    const shown = networkLocation(location);
    $("inc-network").hidden = !shown;
    $("inc-network-text").textContent = shown ?? "";
    fillKecamatan(location?.civic?.A3);
    fillDesa(location?.civic?.A4);
    if (shown && location.lat !== null && location.lon !== null) {
      $("inc-lat").value = location.lat;
      $("inc-lon").value = location.lon;
    }
    if (location?.civic) {
      $("inc-address").value = [location.civic.RD, location.civic.HNO].filter(Boolean).join(" ");
    }
    transferred(popped.transfer);
    overflowed(popped.overflow);
    restoreDraft(); // after the transfer's prefill: what the call-taker typed wins
    // Only a call already answered can have a transfer: its pop seen again after a reload
    // or a reconnect. A ringing pop asks nothing (screens are pushed to, never polling).
    if (popped.state === "connected") resumeTransfer(popped.uniqueid);
  }

  // A reloaded desk: this call's transfer to another center, if one is in progress
  // (GET /api/transfers, from the controller's memory or the transfers_out row), shown
  // with its saved incident as before the reload.
  async function resumeTransfer(uniqueid) {
    let found = null;
    try {
      found = (await api("GET", `/api/transfers?call=${encodeURIComponent(uniqueid)}`)).transfer;
    } catch (error) {
      return; // nothing to resume, or the controller cannot say now: the desk as it is
    }
    if (!found || !call || call.uniqueid !== uniqueid || transfer
        || ["completed", "failed"].includes(found.state) || found.incident_id == null) return;
    showSaved(found.incident_id);
    showTransfers($("inc-region").value);
    transfer = found;
    showTransferState(transfer);
  }

  // A caller another 112 center transferred (ntpd_ivr/transfer): the incident its
  // call-taker typed, from the EIDO it sent, fills the form; the call-taker checks it.
  function transferred(transfer) {
    const note = $("inc-transfer");
    const incoming = transfer?.form;
    note.hidden = !incoming;
    if (!incoming) return;
    note.textContent = (note.dataset.label ?? "")
      // Who sent it is who the token proved (our config's name), not what the EIDO claims.
      .replace("{center}", transfer.neighbour_name ?? transfer.neighbour ?? "")
      .replace("{call}", incoming.remote_call_id ?? "-");
    if (config.categories.includes(incoming.category)) $("inc-category").value = incoming.category;
    if (incoming.severity && [...$("inc-severity").options].some((o) => o.value === incoming.severity)) {
      $("inc-severity").value = incoming.severity;
    }
    if (incoming.kecamatan) fillKecamatan(incoming.kecamatan);
    if (incoming.desa) fillDesa(incoming.desa);
    for (const [key, id] of [["address", "inc-address"], ["description", "inc-description"]]) {
      if (incoming[key]) $(id).value = incoming[key];
    }
    if (incoming.lat !== null && incoming.lat !== undefined && incoming.lon !== null && incoming.lon !== undefined) {
      $("inc-lat").value = incoming.lat;
      $("inc-lon").value = incoming.lon;
    }
  }

  // A call another center's edge sent here because every node there is dead (docs/ha.md,
  // "A second site"): the region it was for, and that center as our config names it.
  function overflowed(overflow) {
    const note = $("inc-overflow");
    note.hidden = !overflow;
    if (!overflow) return;
    note.textContent = (note.dataset.label ?? "")
      .replace("{region}", overflow.region_name ?? overflow.region ?? "")
      .replace("{center}", overflow.neighbour_name ?? overflow.neighbour ?? "");
  }

  // --- the draft (localStorage; a browser without it just keeps none) --------------------

  const KEPT = [["category", "inc-category"], ["severity", "inc-severity"],
    ["people", "inc-people"], ["address", "inc-address"], ["lat", "inc-lat"],
    ["lon", "inc-lon"], ["description", "inc-description"]];

  const draftKey = () => `ntpd-draft:${me}:${call.uniqueid}:incident`;

  function keepDraft() {
    if (!call || incidentId !== null) return;
    const kept = { region: $("inc-region").value, kecamatan: placeValue("inc-kecamatan"),
      desa: placeValue("inc-desa"), save_key: saveKey };
    for (const [key, id] of KEPT) kept[key] = $(id).value;
    try { localStorage.setItem(draftKey(), JSON.stringify(kept)); } catch (error) {
      console.warn("draft:", error);
    }
  }

  function dropDraft() {
    try { if (call) localStorage.removeItem(draftKey()); } catch (error) { /* none kept */ }
  }

  function restoreDraft() {
    let kept = null;
    try { kept = JSON.parse(localStorage.getItem(draftKey()) ?? "null"); } catch (error) {
      kept = null;
    }
    if (!kept) return;
    if (typeof kept.save_key === "string" && kept.save_key) saveKey = kept.save_key;
    if (config.regions[kept.region]) {
      $("inc-region").value = kept.region;
      fillKecamatan(kept.kecamatan || undefined);
      fillDesa(kept.desa || undefined);
    }
    for (const [key, id] of KEPT) if (typeof kept[key] === "string") $(id).value = kept[key];
  }

  form.addEventListener("input", keepDraft);
  form.addEventListener("change", keepDraft);

  function draft() {
    const body = { call: call.uniqueid, save_key: saveKey };
    for (const [key, id] of [["category", "inc-category"], ["severity", "inc-severity"],
      ["region", "inc-region"], ["address", "inc-address"], ["lat", "inc-lat"], ["lon", "inc-lon"],
      ["description", "inc-description"]]) {
      body[key] = $(id).value.trim();
    }
    body.kecamatan = placeValue("inc-kecamatan");
    body.desa = placeValue("inc-desa");
    body.people_involved = Number($("inc-people").value || 0);
    return body;
  }

  // The card of a saved incident (after its save, or a reload during its transfer).
  function showSaved(id) {
    incidentId = id;
    dropDraft();
    card.dataset.incident = String(id);
    form.hidden = true;
    $("suggestions").hidden = true;
    showDisposition("genuine", say("incident.saved", { id }));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!call) return;
    $("inc-save").disabled = true;
    try {
      const incident = await save("POST", "/api/incidents", draft());
      showSaved(incident.id);
      showTransfers(incident.region);
      await showProposal(incident.id);
    } catch (error) {
      showError("incident-error", `${labels["incident.failed"]}: ${error.message}`);
    } finally {
      $("inc-save").disabled = false;
    }
  });

  $("inc-region").addEventListener("change", () => { placeFromMap = false; fillKecamatan(); suggest(); });
  $("inc-kecamatan").addEventListener("change", () => {
    placeFromMap = false;
    showOther($("inc-kecamatan"), $("inc-kecamatan-other"), "", true);
    fillDesa();
    suggest();
  });
  $("inc-desa").addEventListener("change", () => {
    placeFromMap = false;
    showOther($("inc-desa"), $("inc-desa-other"), "", false);
  });
  $("inc-kecamatan-other").addEventListener("change", suggest);
  $("inc-category").addEventListener("change", suggest);

  // --- suggestion: an open incident of this category in this kecamatan ------------------

  async function suggest() {
    const category = $("inc-category").value;
    const kecamatan = placeValue("inc-kecamatan");
    const list = $("suggestion-list");
    if (!call || incidentId !== null || !category || !kecamatan) {
      $("suggestions").hidden = true;
      return;
    }
    const query = new URLSearchParams({ category, kecamatan });
    let found = [];
    try {
      found = (await api("GET", `/api/incidents/suggest?${query}`)).incidents;
    } catch (error) {
      showError("incident-error", error.message);
    }
    list.replaceChildren();
    for (const incident of found) {
      const item = document.createElement("li");
      item.dataset.incident = String(incident.id);
      const what = document.createElement("span");
      const when = ntpdTime.format(incident.created_at);  // the center's zone (static/i18n.js)
      what.textContent = `#${incident.id} · ${when} · ${incident.kecamatan}` +
        `${incident.desa ? " / " + incident.desa : ""} · ${incident.description}`;
      const attach = document.createElement("button");
      attach.type = "button";
      attach.className = "attach";
      attach.textContent = labels["suggest.attach"];
      attach.addEventListener("click", () => attachTo(incident.id));
      item.append(what, attach);
      list.append(item);
    }
    $("suggestions").hidden = found.length === 0;
  }

  async function attachTo(id) {
    try {
      await save("POST", `/api/calls/${encodeURIComponent(call.uniqueid)}/disposition`,
        { disposition: "duplicate", incident_id: id });
      dropDraft();
      form.hidden = true;
      $("suggestions").hidden = true;
      showDisposition("duplicate", say("suggest.attached", { id }));
    } catch (error) {
      showError("incident-error", error.message);
    }
  }

  // --- disposition and wrap-up ----------------------------------------------------------

  function showDisposition(disposition, note) {
    const current = $("disposition-current");
    current.dataset.disposition = disposition;
    current.textContent = disposition ? labels[`disposition.${disposition}`] : labels["disposition.none"];
    if (note === undefined) return; // pushed: what this screen said stays
    if (note) showError("incident-error", "");
    $("incident-status").textContent = note;
    $("incident-status").hidden = !note;
  }

  for (const button of document.querySelectorAll("button.dispose")) {
    button.addEventListener("click", async () => {
      if (!call) return;
      try {
        await save("POST", `/api/calls/${encodeURIComponent(call.uniqueid)}/disposition`,
          { disposition: button.dataset.disposition });
        dropDraft();
        form.hidden = true;
        $("suggestions").hidden = true;
        showDisposition(button.dataset.disposition);
      } catch (error) {
        showError("incident-error", error.message);
      }
    });
  }

  function showWrapup(wrapup) {
    clearInterval(wrapupTimer);
    const note = $("wrapup-note");
    if (!wrapup) { note.hidden = true; card.dataset.wrapup = "no"; return; }
    card.dataset.wrapup = "yes";
    const deadline = new Date(wrapup.deadline).getTime();
    const tick = () => {
      const left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
      note.textContent = say("wrapup", { n: left });
    };
    tick();
    note.hidden = false;
    wrapupTimer = setInterval(tick, 1000);
  }

  function wrapupEnded(data) {
    clearInterval(wrapupTimer);
    card.dataset.wrapup = data.outcome;
    $("wrapup-note").textContent = labels[`wrapup.${data.outcome}`] ?? data.outcome;
  }

  // --- dispatch -------------------------------------------------------------------------

  async function showProposal(id) {
    const body = $("proposal").querySelector("tbody");
    body.replaceChildren();
    $("dispatch-panel").hidden = false;
    $("dispatch-title").textContent = say("dispatch.proposal", { id });
    let agencies = [];
    try {
      agencies = (await api("GET", `/api/incidents/${id}/proposal`)).agencies;
    } catch (error) {
      showError("dispatch-alert", error.message);
    }
    if (!agencies.length) $("dispatch-title").textContent += ` — ${labels["dispatch.none"]}`;
    for (const agency of agencies) {
      const row = document.createElement("tr");
      row.dataset.agency = agency.agency;
      row.dataset.hours = agency.hours ?? "";
      const name = document.createElement("td");
      name.textContent = agency.name;
      const actions = document.createElement("td");
      // A text session has no voice channel to bridge an agency into.
      for (const mode of call?.medium === "sms" ? ["notify"] : ["connect", "notify"]) {
        const button = document.createElement("button");
        button.type = "button";
        button.dataset.mode = mode;
        button.textContent = labels[`dispatch.${mode}`];
        button.addEventListener("click", () => dispatch(agency.agency, mode, row));
        actions.append(button, " ");
      }
      const status = document.createElement("td");
      status.className = "status";
      row.append(name, actions, status);
      // Outside its hours nobody is on its trunk: the server refuses a connect, so the
      // desk says "tutup" and offers notify only.
      if (agency.open === false) markClosed(row, name);
      body.append(row);
      dispatchRows.set(agency.agency, row);
    }
  }

  function markClosed(row, name = row.querySelector("td")) {
    row.dataset.closed = "true";
    let mark = name.querySelector(".closed");
    if (!mark) {
      mark = document.createElement("span");
      mark.className = "closed";
      name.append(" ", mark);
    }
    mark.textContent = say("dispatch.closed_mark", { reason: row.dataset.hours });
    const connect = row.querySelector('button[data-mode="connect"]');
    if (connect) connect.disabled = true;
  }

  async function dispatch(agency, mode, row) {
    showError("dispatch-alert", "");
    for (const button of row.querySelectorAll("button")) button.disabled = true;
    const body = { agency, mode };
    if (mode === "connect") body.call = call.uniqueid;
    try {
      showDispatch(await api("POST", `/api/incidents/${incidentId}/dispatches`, body));
    } catch (error) {
      const name = config.agencies[agency] ?? agency;
      for (const button of row.querySelectorAll("button")) button.disabled = false;
      if (error.code === "agency-closed") { // it closed since the list was shown
        showError("dispatch-alert", say("dispatch.closed", { agency: name, reason: row.dataset.hours }));
        markClosed(row);
      } else {
        showError("dispatch-alert", say("dispatch.failed", { agency: name, reason: error.message }));
      }
    }
  }

  function showDispatch(dispatch) {
    const row = dispatchRows.get(dispatch.agency);
    if (!row || Number(row.dataset.dispatch ?? 0) > dispatch.id) return; // an older one
    row.dataset.dispatch = String(dispatch.id);
    row.dataset.status = dispatch.status;
    row.dataset.mode = dispatch.mode;
    row.querySelector("td.status").textContent = labels[`status.${dispatch.status}`] ?? dispatch.status;
    const live = !FINAL.has(dispatch.status);
    for (const button of row.querySelectorAll("button")) {
      button.disabled = live || (row.dataset.closed === "true" && button.dataset.mode === "connect");
    }
    const agency = config.agencies[dispatch.agency] ?? dispatch.agency;
    // A connect dispatch's failure comes with its reason on this user's own topic
    // (workspace.js shows it); a notify dispatch has only its status.
    if (dispatch.status === "timed-out" && dispatch.mode !== "connect") {
      showError("dispatch-alert", say("dispatch.no_answer", { agency }));
    } else if (dispatch.status === "refused") {
      showError("dispatch-alert", say("dispatch.refused", { agency }));
    }
  }

  // --- transfer to another 112 center (docs/eido.md, "Sending a transfer") ------------------

  // The saved incident's region's centers, one button each; a center without a contact
  // (calls come from it, none go to it) is shown disabled, with why. A text session has no
  // voice channel to hand over.
  function showTransfers(region) {
    const centers = config.neighbours?.[region] ?? [];
    const list = $("transfer-centers");
    list.replaceChildren();
    $("transfer-panel").hidden = !centers.length || call?.medium === "sms";
    showTransferState(null);
    for (const center of centers) {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.neighbour = center.key;
      button.textContent = center.name;
      if (!center.callable) {
        button.disabled = true;
        button.title = say("transfer.no-contact", { center: center.name });
      }
      button.addEventListener("click", () => startTransfer(center));
      list.append(button);
    }
  }

  function transferButtons(enabled) {
    for (const button of $("transfer-centers").querySelectorAll("button")) {
      const center = (config.neighbours?.[$("inc-region").value] ?? [])
        .find((c) => c.key === button.dataset.neighbour);
      button.disabled = !enabled || (center !== undefined && !center.callable);
    }
  }

  // One line for where the transfer is; a failure also as an alert with its reason.
  function showTransferState(data) {
    const line = $("transfer-state");
    line.hidden = !data;
    line.dataset.state = data?.state ?? "";
    $("transfer-hand-over").hidden = data?.state !== "accepted";
    showError("transfer-alert", "");
    if (!data) return;
    const values = { center: data.name };
    if (data.state === "failed") {
      values.reason = data.text ?? labels[`transfer.reason.${data.reason}`] ?? data.reason;
      showError("transfer-alert", say("transfer.state.failed", values));
      line.hidden = true;
    } else {
      line.textContent = say(`transfer.state.${data.state}`, values);
    }
    transferButtons(data.state === "failed");
  }

  async function startTransfer(center) {
    transfer = { transfer: null, name: center.name, state: "sending" };
    showTransferState(transfer);
    try {
      const started = await api("POST", `/api/incidents/${incidentId}/transfers`,
                                { neighbour: center.key, call: call.uniqueid });
      // The socket may have told a later state already: only move forward.
      if (transfer.state === "sending") {
        transfer = { ...transfer, transfer: started.transfer, state: started.state };
        showTransferState(transfer);
      } else {
        transfer.transfer = started.transfer;
      }
    } catch (error) {
      transfer = { transfer: null, name: center.name, state: "failed",
                   reason: error.data?.code, text: error.data?.text ?? error.message };
      showTransferState(transfer);
    }
  }

  function transferChanged(data) {
    if (!call || data.call !== call.uniqueid) return;
    if (transfer && transfer.transfer && transfer.transfer !== data.transfer) return;
    transfer = { ...(transfer ?? {}), ...data, name: transfer?.name ?? data.name, text: undefined };
    showTransferState(transfer);
  }

  $("transfer-hand-over").addEventListener("click", async () => {
    if (!transfer?.transfer) return;
    $("transfer-hand-over").disabled = true;
    try {
      await api("POST", `/api/incidents/${incidentId}/transfers/${transfer.transfer}/hand-over`,
                { call: call.uniqueid });
    } catch (error) {
      showError("transfer-alert", error.data?.text ?? error.message);
    } finally {
      $("transfer-hand-over").disabled = false;
    }
  });

  // --- what the socket brings -------------------------------------------------------------

  // A dispatch of this desk's incident: by its incident, or by a dispatch id on screen.
  function rowOf(data) {
    const id = String(data.dispatch_id ?? data.id ?? "");
    return dispatchRows.get(data.agency)
      ?? [...dispatchRows.values()].find((row) => id && row.dataset.dispatch === id);
  }

  function ours(data) {
    return data.incident_id === incidentId
      || (data.incident_id === undefined && rowOf(data) !== undefined);
  }

  document.addEventListener("desk:event", (message) => {
    const { topic, kind, data } = message.detail;
    if (topic === "workspace") {
      if (kind === "call.ringing" && (!call || call.uniqueid !== data.uniqueid)) startForm(data);
      else if (kind === "call.ringing") call = { ...call, ...data };
      else if (kind === "wrapup") {
        // restored after a controller restart, maybe for a call this page never saw pop
        if (!call || data.uniqueid !== call.uniqueid) startForm({ uniqueid: data.uniqueid });
        showWrapup(data);
      }
      else if (kind === "wrapup.ended" && call && data.uniqueid === call.uniqueid) wrapupEnded(data);
      else if (kind === "transfer.state") transferChanged(data);
      return;
    }
    if (kind === "call.disposition" && call && data.call === call.uniqueid) {
      showDisposition(data.disposition);
    } else if (kind.startsWith("dispatch.") && incidentId !== null && ours(data)) {
      if (kind === "dispatch.failed") {
        const row = rowOf(data);
        // The alert itself is workspace.js's (the dispatching call-taker's own topic).
        if (row) {
          row.dataset.status = "failed";
          const reason = String(data.reason ?? "");
          const key = "labelDispatch" + reason.split("-")
            .map((part) => part.charAt(0).toUpperCase() + part.slice(1)).join("");
          row.querySelector("td.status").textContent =
            document.getElementById("workspace").dataset[key] ?? reason;
        }
        if (row) for (const button of row.querySelectorAll("button")) button.disabled = false;
      } else {
        showDispatch(data);
      }
    }
  });

  // A text session opened on the desk (workspace-texts.js): the form's subject, as a pop.
  document.addEventListener("desk:subject", (message) => {
    const subject = message.detail;
    if (!call || call.uniqueid !== subject.uniqueid) startForm(subject);
    else call = { ...call, ...subject };
  });

  // The incident's point from the map (workspace-map.js): its coordinates, and where it
  // lies. A point the call-taker placed sets the region, kecamatan and desa; a fix sets
  // them only while nobody else has (the operator's civic address, the call-taker's pick).
  document.addEventListener("desk:place", (message) => {
    const { lat, lon, by, located } = message.detail;
    if (!call || message.detail.call !== call.uniqueid || incidentId !== null) return;
    $("inc-lat").value = String(lat);
    $("inc-lon").value = String(lon);
    if (!located?.kecamatan || !config.regions[located.region]) return;
    if (by !== "call-taker" && placeValue("inc-kecamatan") && !placeFromMap) return;
    $("inc-region").value = located.region;
    fillKecamatan(located.kecamatan);
    fillDesa(located.desa);
    placeFromMap = true;
    suggest();
  });

  const initial = JSON.parse($("call-initial").textContent);
  if (initial) startForm(initial);
  showWrapup(JSON.parse($("wrapup-initial").textContent));
})();
