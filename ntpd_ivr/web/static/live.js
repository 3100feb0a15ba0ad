// The page's side of the live-push hub (ntpd_ivr/web/hub.py): one WebSocket, explicit
// subscriptions, events shown as they come. The page never polls; if the socket drops it
// says so and reconnects with backoff.
"use strict";
(() => {
  const panel = document.getElementById("live");
  if (!panel) return;
  const list = panel.querySelector("[data-live-list]");
  const empty = panel.querySelector("[data-live-empty]");
  const status = panel.querySelector("[data-live-status]");
  const topics = panel.dataset.topics.split(" ").filter(Boolean);
  let nextId = 1;
  let delay = 1000;

  function show(state, label) {
    panel.dataset.state = state;
    status.textContent = label;
  }

  function render(event) {
    const item = document.createElement("li");
    item.dataset.kind = event.kind;
    const time = document.createElement("time");
    time.textContent = ntpdTime.format(new Date());  // the center's zone (static/i18n.js)
    item.append(time);
    if (event.data.by) {
      const who = document.createElement("strong");
      who.textContent = event.data.by + ": ";
      item.append(who);
    }
    item.append(document.createTextNode(String(event.data.text ?? JSON.stringify(event.data))));
    list.prepend(item);
    if (empty) empty.hidden = true;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws`);
    const pending = new Set();
    socket.addEventListener("open", () => {
      for (const topic of topics) {
        const id = nextId++;
        pending.add(id);
        socket.send(JSON.stringify({ id, type: "subscribe", topic }));
      }
    });
    socket.addEventListener("message", (message) => {
      const data = JSON.parse(message.data);
      if (data.type === "result") {
        pending.delete(data.id);
        if (!data.success) console.error("live:", data.error);
        if (pending.size === 0) {
          delay = 1000;
          show("live", panel.dataset.labelLive);
        }
      } else if (data.type === "event") {
        render(data);
      }
    });
    socket.addEventListener("close", () => {
      show("offline", panel.dataset.labelOffline);
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    });
  }

  connect();
})();
