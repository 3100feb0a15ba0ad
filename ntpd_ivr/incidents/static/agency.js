// The agency's screen follows its dispatches through the live-push hub
// (ntpd_ivr/web/hub.py, topic "dispatches": this agency's only). When one is created or
// changes, the server-rendered list is loaded again; the page never polls.
"use strict";
(() => {
  const screen = document.getElementById("agency");
  if (!screen) return;
  let delay = 1000;
  let socket = null;
  let leaving = false;

  // A button posts a form and the answer is this page again: the socket of the page being
  // left must not reload it in the middle.
  document.addEventListener("submit", () => {
    leaving = true;
    if (socket) socket.close();
  });

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws`);
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ id: 1, type: "subscribe", topic: "dispatches" }));
    });
    socket.addEventListener("message", (message) => {
      const data = JSON.parse(message.data);
      if (data.type === "result") {
        screen.dataset.live = data.success ? "live" : "refused";
        delay = 1000;
      } else if (data.type === "event" && !leaving) {
        leaving = true;
        location.reload();
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
