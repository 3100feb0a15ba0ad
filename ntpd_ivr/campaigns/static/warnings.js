// The supervisors' warnings page follows its campaigns through the live-push hub
// (ntpd_ivr/web/hub.py, topic "warnings"): on a change the server-rendered page is loaded
// again, at most every two seconds; the page never polls.
"use strict";
(() => {
  const screen = document.getElementById("warnings");
  if (!screen) return;
  let delay = 1000;
  let socket = null;
  let leaving = false;
  let reloadAt = 0;

  document.addEventListener("submit", () => {
    leaving = true;
    if (socket) socket.close();
  });

  function reloadSoon() {
    if (reloadAt) return;
    reloadAt = Date.now() + 2000;
    setTimeout(() => { if (!leaving) location.reload(); }, 2000);
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws`);
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ id: 1, type: "subscribe", topic: "warnings" }));
    });
    socket.addEventListener("message", (message) => {
      const data = JSON.parse(message.data);
      if (data.type === "result") {
        screen.dataset.live = data.success ? "live" : "refused";
        delay = 1000;
      } else if (data.type === "event" && !leaving) {
        reloadSoon();
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
