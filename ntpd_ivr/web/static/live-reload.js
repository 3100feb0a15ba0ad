// A server-rendered page that follows one topic of the live-push hub
// (ntpd_ivr/web/hub.py): the element with data-live-topic names the topic; on any event
// of it the page is loaded again, after data-live-reload-ms (0: at once; a longer wait
// folds a burst of changes into one reload). The page never polls. The element's
// data-live says connecting, live, refused or offline; the socket reconnects with backoff.
// Used by the agency screen (topic "dispatches") and the warnings page ("warnings").
"use strict";
(() => {
  const screen = document.querySelector("[data-live-topic]");
  if (!screen) return;
  const topic = screen.dataset.liveTopic;
  const wait = Number(screen.dataset.liveReloadMs || 0);
  let delay = 1000;
  let socket = null;
  let leaving = false;
  let reloading = false;

  // A button posts a form and the answer is this page again: the socket of the page being
  // left must not reload it in the middle.
  document.addEventListener("submit", () => {
    leaving = true;
    if (socket) socket.close();
  });

  function reload() {
    if (reloading) return;
    reloading = true;
    setTimeout(() => { if (!leaving) location.reload(); }, wait);
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws`);
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ id: 1, type: "subscribe", topic }));
    });
    socket.addEventListener("message", (message) => {
      const data = JSON.parse(message.data);
      if (data.type === "result") {
        screen.dataset.live = data.success ? "live" : "refused";
        delay = 1000;
      } else if (data.type === "event" && !leaving) {
        reload();
      }
    });
    socket.addEventListener("close", () => {
      if (leaving) return;
      screen.dataset.live = "offline";
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    });
  }

  connect();
})();
