// The call-taker's desk, text (SMS) sessions (templates/workspace.html, docs/workspace.md
// "Texts"): the sessions offered to this desk with Take, the conversation of the one the
// call-taker opened (messages in order, each outgoing one's delivery state), the reply
// box with quick replies, End with a disposition and the voice callback. A session is a
// `calls` row (medium "sms", uniqueid "sms-<n>"): opening one makes it the desk's subject
// ("desk:subject", read by workspace.js, workspace-incident.js and workspace-map.js), so
// the incident form, the location-link button and dispatch work on it as on a voice call.
// A voice pop (call.ringing) takes the subject back.
// What changes elsewhere arrives on the desk's `workspace` topic as "desk:event":
// text.offered {session}, text.taken {uniqueid, by}, text.message {uniqueid, message},
// text.delivery {uniqueid, message_id, delivery}, text.ended {uniqueid},
// text.unanswered {uniqueid} (docs/texts.md).
// A message's body is the caller's own text: always set as textContent, never as HTML.
// What the call-taker typed in the reply box is kept in localStorage, per user and
// session, until it is sent: a reload loses nothing.
"use strict";
(() => {
  const card = document.getElementById("texts");
  if (!card) return;
  const $ = (id) => document.getElementById(id);
  const labels = JSON.parse($("texts-config").textContent);
  const me = document.querySelector(".who")?.dataset.user ?? "";
  const sessions = new Map(); // uniqueid -> session (messages once opened)
  let selected = null; // the uniqueid of the open session
  const SELECTED_KEY = `ntpd-desk:${me}:text-selected`;

  function say(key, values = {}) {
    return (labels[key] ?? key).replace(/\{(\w+)\}/g, (_, name) => values[name] ?? "");
  }

  function show(id, text) {
    $(id).textContent = text ?? "";
    $(id).hidden = !text;
  }

  const api = ntpdDesk.api; // workspace.js

  const url = (uniqueid, tail = "") => `/api/texts/${encodeURIComponent(uniqueid)}${tail}`;

  // --- drafts (localStorage; a browser without it just keeps none) ----------------------

  const draftKey = (uniqueid) => `ntpd-draft:${me}:${uniqueid}:reply`;

  function keep(key, value) {
    try {
      if (value) localStorage.setItem(key, value); else localStorage.removeItem(key);
    } catch (error) { console.warn("draft:", error); }
  }

  function kept(key) {
    try { return localStorage.getItem(key); } catch (error) { return null; }
  }

  // --- the list -------------------------------------------------------------------------

  function mine(session) {
    return session.state === "taken" && session.taken_by === me;
  }

  function listed(session) {
    // offered to this desk, or this call-taker's own; another's is gone from the list
    return session.state === "offered" || session.taken_by === me;
  }

  function renderList() {
    const list = $("texts-list");
    list.replaceChildren();
    // as the server lists them: the higher priority (the prank policy's) first, then oldest
    const shown = [...sessions.values()].filter(listed)
      .sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0)
        || String(a.opened_at).localeCompare(String(b.opened_at)));
    for (const session of shown) {
      const item = document.createElement("li");
      item.dataset.uniqueid = session.uniqueid;
      item.dataset.state = session.state;
      item.classList.toggle("selected", session.uniqueid === selected);
      item.classList.toggle("unanswered", Boolean(session.unanswered));
      const who = document.createElement("strong");
      who.textContent = session.caller_number ?? "";
      const when = document.createElement("span");
      when.className = "muted";
      when.textContent = `${ntpdTime.format(session.opened_at)} · ${say(`state.${session.state}`)}`;
      // the caller's latest words (not the acknowledgement or a reply)
      const last = ordered(session.messages ?? []).filter((m) => m.direction === "in").pop();
      const preview = document.createElement("span");
      preview.className = "preview";
      preview.textContent = last ? last.body : "";
      item.append(who, when, preview);
      if (session.standing?.strikes) { // the number's prank strikes (docs/texts.md)
        const strikes = document.createElement("span");
        strikes.className = "strikes";
        strikes.textContent = say("strikes", { n: session.standing.strikes });
        item.append(strikes);
      }
      if (session.unanswered) {
        const flag = document.createElement("span");
        flag.className = "flag";
        flag.textContent = say("unanswered");
        item.append(flag);
      }
      const button = document.createElement("button");
      button.type = "button";
      if (session.state === "offered") {
        button.className = "take";
        button.textContent = say("take");
        button.addEventListener("click", () => take(session.uniqueid, button));
      } else {
        button.className = "open";
        button.textContent = say("open");
        button.disabled = session.uniqueid === selected;
        button.addEventListener("click", () => open(session.uniqueid));
      }
      item.append(button);
      list.append(item);
    }
    $("texts-none").hidden = shown.length > 0;
  }

  function remember(session) {
    const before = sessions.get(session.uniqueid);
    // a list entry or a push may come without the messages an opened session has
    const merged = { ...before, ...session };
    if (!session.messages && before?.messages) merged.messages = before.messages;
    sessions.set(session.uniqueid, merged);
    return merged;
  }

  async function take(uniqueid, button) {
    show("texts-error", "");
    button.disabled = true;
    try {
      remember(await api("POST", url(uniqueid, "/take")));
      await open(uniqueid);
    } catch (error) {
      show("texts-error", say("failed", { reason: error.message }));
      button.disabled = false;
      renderList();
    }
  }

  // --- the conversation -----------------------------------------------------------------

  function ordered(messages) {
    return [...messages].sort((a, b) => String(a.at).localeCompare(String(b.at))
      || Number(a.id) - Number(b.id));
  }

  function messageItem(message) {
    const item = document.createElement("li");
    item.className = `msg ${message.direction === "out" ? "out" : "in"}`;
    item.dataset.id = String(message.id);
    item.dataset.direction = message.direction;
    item.classList.toggle("flagged", Boolean(message.flagged)); // over the flood limit
    const body = document.createElement("p");
    body.className = "body";
    body.textContent = message.body ?? ""; // the caller's text: never HTML
    const meta = document.createElement("span");
    meta.className = "meta";
    const author = message.direction === "out" ? (message.author ?? "") : say("caller");
    meta.textContent = `${author} · ${ntpdTime.format(message.at)}`;
    item.append(body, meta);
    if (message.direction === "out") {
      const delivery = document.createElement("span");
      delivery.className = "delivery";
      item.append(" ", delivery);
      setDelivery(item, message.delivery);
    }
    return item;
  }

  function setDelivery(item, delivery) {
    const state = delivery ?? "queued";
    item.dataset.delivery = state;
    item.querySelector(".delivery").textContent = say(`delivery.${state}`);
  }

  function renderPane() {
    const session = sessions.get(selected);
    const pane = $("text-pane");
    card.dataset.selected = selected ?? "";
    if (!session) { pane.hidden = true; return; }
    pane.hidden = false;
    pane.dataset.uniqueid = session.uniqueid;
    pane.dataset.state = session.state;
    $("text-state").textContent = session.state === "taken" && session.taken_by !== me
      ? say("taken_by", { user: session.taken_by }) : say(`state.${session.state}`);
    const list = $("text-messages");
    list.replaceChildren(...ordered(session.messages ?? []).map(messageItem));
    list.scrollTop = list.scrollHeight;
    const ended = session.state === "ended";
    $("text-ended").hidden = !ended;
    $("text-controls").hidden = ended;
  }

  function subject(session) {
    // The desk's subject, as a voice pop is (workspace.js showCall, the incident form, the map).
    return {
      uniqueid: session.uniqueid, medium: "sms", state: "text",
      caller_number: session.caller_number, region: session.region,
      category: session.category, arrived_at: session.opened_at, wait_seconds: null,
      location: session.location ?? null, fixes: session.fixes ?? [],
      history: session.history ?? [], history_complete: session.history_complete ?? true,
    };
  }

  async function open(uniqueid) {
    show("texts-error", "");
    let session;
    try {
      session = remember(await api("GET", url(uniqueid)));
    } catch (error) {
      show("texts-error", say("failed", { reason: error.message }));
      return;
    }
    const changed = selected !== uniqueid;
    selected = uniqueid;
    keep(SELECTED_KEY, uniqueid);
    if (changed) {
      $("text-body").value = kept(draftKey(uniqueid)) ?? "";
      show("text-note", "");
      show("text-error", "");
    }
    renderPane();
    renderList();
    document.dispatchEvent(new CustomEvent("desk:subject", { detail: subject(session) }));
  }

  function close() {
    selected = null;
    keep(SELECTED_KEY, "");
    renderPane();
    renderList();
  }

  async function send(body) {
    show("text-error", "");
    const uniqueid = selected;
    $("text-send").disabled = true;
    try {
      const message = await api("POST", url(uniqueid, "/messages"), body);
      added(uniqueid, message);
      if (body.body !== undefined) {
        keep(draftKey(uniqueid), "");
        if (selected === uniqueid) $("text-body").value = "";
      }
    } catch (error) {
      show("text-error", say("failed", { reason: error.message }));
    } finally {
      $("text-send").disabled = false;
    }
  }

  function added(uniqueid, message) {
    const session = sessions.get(uniqueid);
    if (!session) return;
    const messages = session.messages ?? [];
    const at = messages.findIndex((m) => String(m.id) === String(message.id));
    if (at >= 0) messages[at] = { ...messages[at], ...message }; else messages.push(message);
    session.messages = messages;
    if (message.direction === "out") session.unanswered = false;
    if (uniqueid === selected) renderPane();
    renderList();
  }

  function delivered(data) {
    const session = sessions.get(data.uniqueid);
    const message = session?.messages?.find((m) => String(m.id) === String(data.message_id));
    if (message) message.delivery = data.delivery;
    if (data.uniqueid !== selected) return;
    const item = $("text-messages").querySelector(`li[data-id="${CSS.escape(String(data.message_id))}"]`);
    if (item && item.dataset.direction === "out") setDelivery(item, data.delivery);
  }

  $("text-reply").addEventListener("submit", (event) => {
    event.preventDefault();
    const body = $("text-body").value.trim();
    if (selected && body) send({ body });
  });
  $("text-body").addEventListener("input", () => {
    if (selected) keep(draftKey(selected), $("text-body").value);
  });

  $("text-end").addEventListener("click", async () => {
    if (!selected) return;
    show("text-error", "");
    try {
      const body = { disposition: $("text-disposition").value };
      // genuine names its incident: the one the desk's form saved for this session
      const incident = $("incident");
      if (incident.dataset.uniqueid === selected && incident.dataset.incident) {
        body.incident_id = Number(incident.dataset.incident);
      }
      remember(await api("POST", url(selected, "/end"), body));
      keep(draftKey(selected), "");
      renderPane();
      renderList();
    } catch (error) {
      show("text-error", say("failed", { reason: error.message }));
    }
  });

  $("text-callback").addEventListener("click", async () => {
    if (!selected) return;
    show("text-error", "");
    try {
      await api("POST", url(selected, "/callback"), {});
      show("text-note", say("callback.done"));
    } catch (error) {
      show("text-error", say("failed", { reason: error.message }));
    }
  });

  $("texts-accept").addEventListener("change", async (event) => {
    const wanted = event.target.checked;
    show("texts-error", "");
    try {
      const reply = await api("PUT", "/api/workspace/accepts-text", { accepts: wanted });
      event.target.checked = Boolean(reply.accepts);
    } catch (error) {
      event.target.checked = !wanted;
      show("texts-error", say("failed", { reason: error.message }));
    }
  });

  async function quickReplies() {
    const box = $("text-quick");
    try {
      const { quick_replies: replies } = await api("GET", "/api/texts/quick-replies");
      box.replaceChildren();
      for (const reply of replies) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "quick-reply";
        button.dataset.quick = String(reply.id);
        button.textContent = reply.text;
        button.addEventListener("click", () => { if (selected) send({ quick: reply.id }); });
        box.append(button);
      }
    } catch (error) {
      console.warn("quick replies:", error);
    }
  }

  // --- what the socket brings -----------------------------------------------------------

  document.addEventListener("desk:event", (message) => {
    const { topic, kind, data } = message.detail;
    if (topic !== "workspace") return;
    if (kind === "call.ringing") {
      if (selected) close(); // a voice call takes the desk
      return;
    }
    if (kind === "text.offered") {
      remember(data.session ?? data);
    } else if (kind === "text.taken") {
      const session = sessions.get(data.uniqueid);
      if (!session) return;
      session.state = "taken";
      session.taken_by = data.by;
      if (data.uniqueid === selected) renderPane();
    } else if (kind === "text.message") {
      const session = sessions.get(data.uniqueid);
      if (session && !session.messages) session.messages = [];
      added(data.uniqueid, data.message);
      return;
    } else if (kind === "text.delivery") {
      delivered(data);
      return;
    } else if (kind === "text.unanswered") {
      const session = sessions.get(data.uniqueid);
      if (!session) return;
      session.unanswered = true;
    } else if (kind === "text.ended") {
      const session = sessions.get(data.uniqueid);
      if (!session) return;
      session.state = "ended";
      if (data.uniqueid === selected) renderPane();
    } else {
      return;
    }
    renderList();
  });

  // The socket reconnects after a drop (workspace.js); the list is read again then, since
  // what was pushed meanwhile is lost.
  const desk = $("workspace");
  new MutationObserver(() => { if (desk.dataset.live === "yes") load(); })
    .observe(desk, { attributes: true, attributeFilter: ["data-live"] });

  async function load() {
    try {
      const data = await api("GET", "/api/texts");
      if (typeof data.accepts === "boolean") $("texts-accept").checked = data.accepts;
      for (const session of data.sessions) remember(session);
    } catch (error) {
      show("texts-error", say("failed", { reason: error.message }));
      return;
    }
    renderList();
    if (selected) return;
    // After a reload: the session this call-taker had open, unless a voice call is on the desk.
    const voice = JSON.parse($("call-initial").textContent);
    const again = sessions.get(kept(SELECTED_KEY) ?? "");
    if (again && mine(again) && !(voice && ["ringing", "connected"].includes(voice.state))) {
      await open(again.uniqueid);
    }
  }

  quickReplies();
})();
