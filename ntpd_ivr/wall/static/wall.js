// The supervisor's wall (ntpd_ivr/wall): drawn from the state the controller pushes on the
// live hub's `wall` topic. The page never polls; it says when its data is old (AMI down,
// nothing heard from Asterisk, or its own socket closed) instead of showing it as current.
"use strict";
(() => {
  const wall = document.getElementById("wall");
  if (!wall) return;
  const $ = (id) => document.getElementById(id);
  const text = JSON.parse($("wall-text").textContent);
  const csrf = document.querySelector("meta[name=csrf-token]").content;
  let state = JSON.parse($("wall-initial").textContent);
  // The live calls by name (wall/model.py call_key); the lists are drawn from them. After a
  // whole state the controller sends only what changed ("changes", numbered by `seq`).
  let calls = new Map();
  let seq = null;
  let clockOffset = 0; // server time minus this browser's
  let nextId = 1;
  let delay = 1000;

  const t = (key, values = {}) =>
    (text[key] ?? key).replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
  const now = () => Date.now() / 1000 + clockOffset;
  const seconds = (since) => t("wall.seconds", { n: Math.max(0, Math.round(now() - since)) });
  // The center's zone, in the user's language (static/i18n.js: as the server shows it).
  const clock = (epoch) => ntpdTime.format(epoch * 1000);

  function cell(row, value, cls) {
    const td = document.createElement("td");
    td.textContent = value ?? "";
    if (cls) td.className = cls;
    row.append(td);
    return td;
  }

  function rows(body, items, fill, emptyText = t("wall.none")) {
    body.replaceChildren();
    if (!items.length) {
      const tr = document.createElement("tr");
      cell(tr, emptyText, "muted");
      body.append(tr);
      return;
    }
    for (const item of items) {
      const tr = document.createElement("tr");
      fill(tr, item);
      body.append(tr);
    }
  }

  function callRow(tr, call) {
    tr.dataset.uniqueid = call.uniqueid;
    tr.dataset.state = call.state;
    tr.dataset.caller = call.caller_number;
    const caller = cell(tr, call.caller_number, "caller");
    if (call.overflow) {
      // Another center's edge sent it: that center is dark (docs/ha.md, "A second site").
      tr.dataset.overflow = call.overflow.region;
      const note = document.createElement("div");
      note.className = "overflow";
      note.textContent = t("wall.overflow", { region: call.overflow.region_name,
                                              center: call.overflow.neighbour_name });
      caller.append(note);
    }
    cell(tr, seconds(call.since), "wait").dataset.since = call.since;
    if (call.state === "talking") cell(tr, call.taker, "taker");
    if (call.node) { tr.dataset.node = call.node; cell(tr, call.node, "node muted"); }
  }

  const callKey = (call) => `${call.node || ""}/${call.uniqueid}`;
  const order = (a, b) => a.since - b.since || (a.uniqueid < b.uniqueid ? -1 : a.uniqueid > b.uniqueid ? 1 : 0);

  function indexCalls() {
    calls = new Map();
    for (const call of [...state.ivr, ...state.talking, ...Object.values(state.queues).flat()]) {
      calls.set(callKey(call), call);
    }
  }

  // The lists as wall_changes (wall/model.py) says a wall draws them: by state, then by
  // queue (in the queues' order), each in order of `since`.
  function listCalls() {
    const all = [...calls.values()].sort(order);
    const queues = {};
    for (const call of all) if (call.state === "queue") (queues[call.queue] ??= []).push(call);
    state.ivr = all.filter((call) => call.state === "ivr");
    state.talking = all.filter((call) => call.state === "talking");
    state.queues = Object.fromEntries(Object.keys(queues).sort().map((q) => [q, queues[q]]));
  }

  function applyChanges(changes) {
    for (const [key, value] of Object.entries(changes)) {
      if (key !== "calls" && key !== "gone") state[key] = value;
    }
    for (const key of changes.gone) calls.delete(key);
    for (const call of changes.calls) calls.set(callKey(call), call);
    listCalls();
  }

  function drawCalls() {
    rows($("calls-ivr").tBodies[0], state.ivr, callRow);
    rows($("calls-talking").tBodies[0], state.talking, callRow);
    const queues = $("calls-queues");
    queues.replaceChildren();
    let waiting = 0;
    for (const [queue, calls] of Object.entries(state.queues)) {
      waiting += calls.length;
      const h = document.createElement("h3");
      h.textContent = t("wall.queue", { queue });
      const table = document.createElement("table");
      table.className = "calls";
      table.dataset.queue = queue;
      table.append(document.createElement("tbody"));
      rows(table.tBodies[0], calls, callRow);
      queues.append(h, table);
    }
    if (!waiting) queues.textContent = t("wall.none");
    $("count-ivr").textContent = state.ivr.length;
    $("count-queue").textContent = waiting;
    $("count-talking").textContent = state.talking.length;
  }

  function drawTakers() {
    rows($("takers"), state.takers, (tr, taker) => {
      tr.dataset.endpoint = taker.endpoint;
      tr.dataset.state = taker.state;
      cell(tr, taker.endpoint);
      const label = t(`wall.state.${taker.state}`);
      const reason = text[`desk.reason.${taker.reason}`] ?? taker.reason;  // a pause reason
      cell(tr, taker.reason ? `${label} (${reason})` : label, "state");
      cell(tr, seconds(taker.since), "wait").dataset.since = taker.since;
      cell(tr, taker.queues.join(", "));
    });
  }

  function pct(value) { return value === null || value === undefined ? "-" : `${value} %`; }

  function drawFigures() {
    const f = state.figures || {};
    const cb = (state.callbacks && state.callbacks.today) || {};
    const lines = [
      ["offered", t("wall.fig.offered"), f.offered ?? "-", ""],
      ["answered", t("wall.fig.answered"), f.answered ?? "-", ""],
    ];
    for (const n of [10, 15, 20]) {
      const key = `answered_within_${n}s_pct`;
      lines.push([key, t("wall.fig.within", { n }), pct(f[key]), state.targets[key]]);
    }
    lines.push(["abandon", t("wall.fig.abandon"), pct(f.abandon_rate_pct), ""]);
    lines.push(["slowest", t("wall.fig.slowest"),
      f.slowest_10pct_average_seconds == null ? "-" : t("wall.seconds", { n: f.slowest_10pct_average_seconds }), ""]);
    lines.push(["callbacks-reached", t("wall.fig.callbacks_reached"), pct(cb.reached_pct), ""]);
    lines.push(["callback-delay", t("wall.fig.callback_delay"),
      cb.average_abandon_to_callback_seconds == null ? "-"
        : t("wall.seconds", { n: cb.average_abandon_to_callback_seconds }), ""]);
    rows($("figures"), lines, (tr, [key, label, value, target]) => {
      tr.dataset.figure = key;
      cell(tr, label);
      const v = cell(tr, value, "value");
      if (target !== "" && target !== undefined) {
        cell(tr, `${t("wall.target")} ${target} %`, "muted");
        const actual = f[key];
        if (actual !== null && actual !== undefined) v.dataset.met = actual >= target ? "yes" : "no";
      }
    });
  }

  function drawIncidents() {
    rows($("incidents"), state.incidents, (tr, i) => {
      tr.dataset.incident = i.id;
      cell(tr, `#${i.id}`); cell(tr, i.category); cell(tr, i.kecamatan); cell(tr, t(`severity.${i.severity}`));
    });
    rows($("dispatches"), state.dispatches, (tr, d) => {
      tr.dataset.dispatch = d.id;
      cell(tr, `#${d.incident_id}`); cell(tr, d.agency); cell(tr, t(`dispatch.status.${d.status}`), "status"); cell(tr, d.category);
    });
    $("count-incidents").textContent = state.incidents.length;
    $("count-dispatches").textContent = state.dispatches.length;
  }

  async function callBack(id, endpoint, button) {
    button.disabled = true;
    const reply = await fetch(`/api/callbacks/${id}/call`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ endpoint }),
    });
    if (!reply.ok) {
      const body = await reply.json().catch(() => ({}));
      button.title = body.reason || reply.statusText;
      button.disabled = false;
    }
  }

  function drawCallbacks() {
    const open = (state.callbacks && state.callbacks.open) || [];
    const endpoints = state.takers.filter((k) => k.state !== "logged-out").map((k) => k.endpoint);
    rows($("callbacks"), open, (tr, c) => {
      tr.dataset.callback = c.id;
      tr.dataset.status = c.status;
      cell(tr, c.caller_number, "caller");
      cell(tr, ntpdTime.format(c.abandoned_at));
      cell(tr, c.abandon_count);
      cell(tr, t(`callback.status.${c.status}`), "status");
      const actions = cell(tr, "");
      if (c.status === "calling") return;
      const select = document.createElement("select");
      select.setAttribute("aria-label", t("wall.via"));
      for (const e of endpoints) select.append(new Option(e, e));
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = t("wall.call_back");
      button.addEventListener("click", () => callBack(c.id, select.value, button));
      actions.append(select, button);
    }, t("callback.none"));
    $("count-callbacks").textContent = open.length;
  }

  // 112 by text (docs/texts.md): the sessions no call-taker took yet; one whose offer timed
  // out is raised like an abandoned call.
  function drawTexts() {
    const texts = state.texts || {};
    const waiting = texts.waiting || [];
    rows($("texts"), waiting, (tr, s) => {
      tr.dataset.text = s.uniqueid;
      tr.dataset.unanswered = s.unanswered ? "yes" : "no";
      cell(tr, s.caller_number, "caller");
      cell(tr, s.region);
      const wait = cell(tr, seconds(s.opened_at), "wait");
      wait.dataset.since = s.opened_at;
      cell(tr, t(s.unanswered ? "wall.texts.unanswered" : "wall.texts.offered"), "status");
    }, t("wall.none"));
    $("count-texts").textContent = waiting.length;
    $("texts-taken").textContent = t("wall.texts.taken", { n: texts.taken || 0 });
  }

  // CAP alerts for the center's regions (ntpd_ivr/alerts) and surge mode, one action each.
  async function post(path, button) {
    button.disabled = true;
    const reply = await fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: "{}",
    });
    if (!reply.ok) {
      const body = await reply.json().catch(() => ({}));
      button.title = body.reason || reply.statusText;
    }
    button.disabled = false;
  }

  function drawAlerts() {
    const alerts = state.alerts || {};
    const recent = alerts.recent || [];
    rows($("alerts"), recent, (tr, a) => {
      tr.dataset.alert = a.id;
      tr.dataset.severity = a.severity;
      cell(tr, a.headline || a.event, "headline");
      cell(tr, t(`wall.cap.severity.${a.severity}`), "severity");
      cell(tr, t(`wall.cap.urgency.${a.urgency}`), "urgency");
      cell(tr, a.area, "area");
      cell(tr, a.source, "source");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "surge-on";
      button.textContent = t("wall.alert.surge_on");
      button.addEventListener("click", () => post(`/api/alerts/${a.id}/surge`, button));
      const campaign = document.createElement("button");
      campaign.type = "button";
      campaign.className = "campaign";
      campaign.textContent = t("wall.alert.campaign");
      campaign.addEventListener("click", () => post(`/api/alerts/${a.id}/campaign`, campaign));
      cell(tr, "").append(button, campaign);
    }, t("wall.alert.none"));
    $("count-alerts").textContent = recent.length;
    const surge = alerts.surge;
    $("wall-surge").hidden = !surge;
    wall.dataset.surge = surge ? "on" : "off";
    $("wall-surge-text").textContent = surge ? t("wall.surge.active", {
      time: ntpdTime.format(surge.ends_at), who: surge.started_by, headline: surge.headline }) : "";
    $("wall-alerts-refused").hidden = !alerts.refused;
    $("wall-alerts-refused").textContent = t("wall.alert.refused", { n: alerts.refused || 0 });
  }

  function freshness() {
    const asOf = state.as_of;
    $("wall-as-of").textContent = asOf ? t("wall.as_of", { time: clock(asOf) }) : "";
    $("wall-ami-down").hidden = state.ami_connected;
    const stale = !asOf || now() - asOf > state.stale_after_seconds;
    $("wall-stale").hidden = !stale || !state.ami_connected;
    $("wall-stale").textContent = t("wall.stale", { time: asOf ? clock(asOf) : "-" });
    wall.dataset.fresh = stale || !state.ami_connected || wall.dataset.live !== "yes" ? "no" : "yes";
  }

  // Two nodes (docs/ha.md): each node's AMI state, and a banner naming a node that is down.
  function drawNodes() {
    const nodes = state.nodes || [];
    const down = nodes.filter((n) => !n.connected && n.role === "peer");
    $("wall-node-down").hidden = !down.length;
    $("wall-node-down").textContent = down.map((n) => t("wall.node_down", {
      node: n.name, time: n.down_since ? clock(n.down_since) : "-" })).join(" ");
    $("wall-nodes").hidden = !nodes.length;
    $("wall-nodes").textContent = nodes.map((n) => t("wall.node", {
      node: n.name, state: t(n.connected ? "wall.node.up" : "wall.node.down"),
      time: n.heard_at ? clock(n.heard_at) : "-" })).join(" · ");
    for (const n of nodes) wall.dataset[`node${n.role === "peer" ? "Peer" : "Local"}`] =
      n.connected ? "up" : "down";
  }

  function draw() {
    clockOffset = state.now - Date.now() / 1000;
    drawCalls(); drawTakers(); drawFigures(); drawIncidents(); drawCallbacks(); drawTexts();
    drawAlerts(); drawNodes(); freshness();
  }

  function tick() {
    for (const td of wall.querySelectorAll("td.wait")) td.textContent = seconds(Number(td.dataset.since));
    freshness();
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws`);
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ id: nextId++, type: "subscribe", topic: "wall" }));
    });
    socket.addEventListener("message", (message) => {
      const data = JSON.parse(message.data);
      if (data.type === "result") {
        if (data.success) { delay = 1000; wall.dataset.live = "yes"; $("wall-offline").hidden = true; }
        else console.error("wall:", data.error);
        return;
      }
      if (data.type !== "event") return;
      if (data.kind === "state") {
        state = data.data; seq = state.seq; indexCalls(); listCalls(); draw();
      } else if (data.kind === "changes") {
        if (seq === null || data.data.seq !== seq + 1) {
          // A gap (never sent by the controller): a new socket starts from a whole state.
          console.error("wall: changes", data.data.seq, "after", seq);
          socket.close();
          return;
        }
        seq = data.data.seq; applyChanges(data.data); draw();
      }
    });
    socket.addEventListener("close", () => {
      seq = null;
      wall.dataset.live = "no";
      $("wall-offline").hidden = false;
      freshness();
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    });
  }

  $("wall-surge-off").addEventListener("click", (e) => post("/api/surge/off", e.target));
  indexCalls();
  draw();
  setInterval(tick, 1000);
  connect();
})();
