// The call-taker's desk (templates/workspace.html, ntpd_ivr/workspace/http.py): the
// screen pop and the queue presence arrive over the live-push hub's `workspace` topic,
// for this user only. The page never polls; a dropped socket reconnects with backoff.
// Every event is handed on as a "desk:event" (workspace-incident.js: the incident form,
// wrap-up, disposition and dispatch; workspace-texts.js: the text sessions).
"use strict";
// The desk's one way to call its JSON API (the incidents and texts APIs) with the page's
// CSRF token; a refusal throws its reason (workspace-incident.js, workspace-texts.js).
window.ntpdDesk = {
  async api(method, path, body) {
    const csrf = document.querySelector("meta[name=csrf-token]").content;
    const headers = method === "GET" ? {} : { "X-CSRF-Token": csrf };
    if (body) headers["Content-Type"] = "application/json";
    const reply = await fetch(path, {
      method,
      headers,
      body: body ? JSON.stringify(body) : undefined,
      credentials: "same-origin",
    });
    const data = await reply.json().catch(() => ({}));
    if (!reply.ok) {
      const error = new Error(data.reason || data.error || String(reply.status));
      error.code = data.error; // the refusal's id ("agency-closed", ...)
      error.retryAfter = Number(reply.headers.get("Retry-After")) || 0;
      error.data = data; // all of it (a transfer's reason code and its words)
      throw error;
    }
    return data;
  },
  // A save that must not be lost (docs/ha.md, "PostgreSQL"): while the database cannot be
  // reached (503, during a failover about 10 s) or the controller does not answer, it is
  // sent again after Retry-After (2 s) and `waiting()` is called, so the screen can say
  // "saving…"; what the call-taker typed stays in the form and in its draft meanwhile.
  // Any other refusal throws as api() does; after `withinMs` it throws too (the draft
  // is still kept, and the call-taker can press save again).
  async save(method, path, body, waiting, withinMs = 300000) {
    const until = Date.now() + withinMs;
    for (;;) {
      let retryMs = 2000;
      try {
        return await this.api(method, path, body);
      } catch (error) {
        // fetch() throws a TypeError when there is no answer at all.
        const unreachable = error.code === "database-unavailable" ||
          error.code === "sessions-unavailable" || error instanceof TypeError;
        if (!unreachable || Date.now() + retryMs > until) throw error;
        if (error.retryAfter) retryMs = error.retryAfter * 1000;
      }
      waiting();
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  },
};
(() => {
  const desk = document.getElementById("workspace");
  if (!desk) return;
  const labels = desk.dataset;
  const $ = (id) => document.getElementById(id);
  const callCard = $("call");
  let nextId = 1;
  let delay = 1000;
  const TOPICS = ["workspace", "incidents"];
  let subscribed = 0;

  function label(prefix, value) {
    // data-label-state-logged-out is dataset.labelStateLoggedOut
    const key = prefix + String(value).split("-")
      .map((part) => part.charAt(0).toUpperCase() + part.slice(1)).join("");
    return labels[key] ?? String(value);
  }

  function text(id, value) {
    $(id).textContent = value === null || value === undefined || value === ""
      ? labels.unknown : String(value);
  }

  function where(location, fixes) {
    // The best of the call's fixes (the server's order: the location model's rule) when
    // it is the caller's phone's own; the map draws them all (docs/workspace.md).
    const best = fixes && fixes.length ? fixes[0] : null;
    if (best && best.source !== "network") {
      const radius = best.radius_m ? ` ± ${best.radius_m} m` : "";
      return `${best.lat}, ${best.lon}${radius} · ${label("labelFix", best.source)}`;
    }
    if (!location) return labels.locationNone;
    const parts = [];
    if (location.lat !== null && location.lon !== null) {
      parts.push(`${location.lat}, ${location.lon}`);
    }
    if (location.radius_m) parts.push(`± ${location.radius_m} m`);
    if (location.civic) parts.push(Object.values(location.civic).join(", "));
    if (!parts.length) parts.push(location.kind);
    return parts.join(" · ");
  }

  let current = null;

  function showCall(call) {
    current = call;
    callCard.dataset.state = call.state;
    callCard.dataset.uniqueid = call.uniqueid;
    $("call-state").textContent = label("labelCall", call.state);
    $("call-none").hidden = true;
    $("call-facts").hidden = false;
    text("call-caller", call.caller_number);
    text("call-region", call.region);
    text("call-category", call.category);
    text("call-wait", call.wait_seconds == null ? null
      : labels.seconds.replace("{n}", call.wait_seconds));
    text("call-location", where(call.location, call.fixes));
    const body = $("history").querySelector("tbody");
    body.replaceChildren();
    for (const earlier of call.history) {
      const row = document.createElement("tr");
      // The time in the center's zone and the outcome in words (static/i18n.js, the catalogue).
      const outcome = earlier.disposition ? label("labelOutcome", earlier.disposition) : "";
      // an earlier text session says so (docs/texts.md: each entry's medium)
      const what = earlier.medium === "sms" ? `${earlier.category ?? ""} · ${labels.historySms}`
        : earlier.category;
      for (const value of [ntpdTime.format(earlier.arrived_at), what, outcome]) {
        const cell = document.createElement("td");
        cell.textContent = value ?? "";
        row.append(cell);
      }
      body.append(row);
    }
    $("history-note").textContent = !call.history_complete ? labels.historyIncomplete
      : call.history.length ? "" : labels.historyNone;
  }

  function callState(data, state) {
    if (callCard.dataset.uniqueid !== data.uniqueid) return;
    callCard.dataset.state = state;
    $("call-state").textContent = label("labelCall", state);
    if (data.wait_seconds !== undefined) {
      text("call-wait", labels.seconds.replace("{n}", data.wait_seconds));
    }
  }

  function showPresence(presence) {
    const state = $("presence-state");
    if (!state) return;
    state.dataset.state = presence.state;
    state.textContent = label("labelState", presence.state);
    $("presence-reason").textContent = presence.reason ? label("labelReason", presence.reason) : "";
    $("presence-queues").textContent = presence.queues.map((q) => q.queue).join(", ");
  }

  function showDispatchFailed(failed) {
    // A connect dispatch no agency trunk took (ntpd_ivr/dispatch/): the caller is still here.
    const alert = $("dispatch-alert");
    const config = $("desk-config");
    const names = config ? (JSON.parse(config.textContent).agencies ?? {}) : {};
    alert.textContent = labels.dispatchFailed.replace("{agency}", names[failed.agency] ?? failed.agency)
      .replace("{reason}", label("labelDispatch", failed.reason));
    alert.hidden = false;
  }

  const linkButton = $("send-location-link");
  if (linkButton) {
    // The location link by SMS (ntpd_ivr/location/link.py): its fix comes as location.fix.
    linkButton.addEventListener("click", async () => {
      if (!current) return;
      const note = $("location-link-note");
      const csrf = document.querySelector("meta[name=csrf-token]").content;
      const reply = await fetch("/api/location/link", { method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ call: current.uniqueid }) });
      const body = await reply.json().catch(() => ({}));
      note.textContent = reply.ok ? linkButton.dataset.sent
        : linkButton.dataset.failed.replace("{reason}", body.reason ?? reply.status);
    });
  }

  const initial = JSON.parse($("call-initial").textContent);
  if (initial) showCall(initial);
  // A text session the call-taker opened is the desk's subject as a pop is (workspace-texts.js).
  document.addEventListener("desk:subject", (event) => showCall(event.detail));

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws`);
    socket.addEventListener("open", () => {
      // "incidents": dispatch and disposition changes, for workspace-incident.js
      subscribed = 0;
      for (const topic of TOPICS) {
        socket.send(JSON.stringify({ id: nextId++, type: "subscribe", topic }));
      }
    });
    socket.addEventListener("message", (message) => {
      const data = JSON.parse(message.data);
      if (data.type === "result") {
        if (!data.success) console.error("workspace:", data.error);
        else if (++subscribed === TOPICS.length) { delay = 1000; desk.dataset.live = "yes"; }
        return;
      }
      if (data.type !== "event") return;
      if (data.kind === "location.fix" && !data.data.fixes) {
        // A text session's fix comes alone (ntpd_ivr/texts/plugin.py): put it before
        // the ones already shown, the newest first, for this page and the map.
        const before = current && current.uniqueid === data.data.call ? current.fixes ?? [] : [];
        data.data.fixes = [data.data.fix, ...before];
      }
      document.dispatchEvent(new CustomEvent("desk:event", { detail: data }));
      if (data.topic !== "workspace") return;
      if (data.kind === "call.ringing") showCall(data.data);
      else if (data.kind === "presence") showPresence(data.data);
      else if (data.kind === "dispatch.failed") showDispatchFailed(data.data);
      else if (data.kind === "sms.status") $("sms-down").hidden = data.data.up !== false;
      else if (data.kind === "location.fix" && current && current.uniqueid === data.data.call) {
        current.fixes = data.data.fixes;
        text("call-location", where(current.location, current.fixes));
      }
      else if (data.kind.startsWith("call.")) callState(data.data, data.kind.slice(5));
    });
    socket.addEventListener("close", () => {
      desk.dataset.live = "no";
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    });
  }

  connect();
})();
