// Live updates: one websocket per page, reconnecting with backoff.
// Pages declare <body data-live-streams="fleet,events"> (or any element with that attribute)
// and listen for "mailmon:live" DOM events: event.detail = {stream, event, data}.
(function () {
  const holder = document.querySelector("[data-live-streams]");
  const dot = document.getElementById("live-status");
  if (!holder) return;
  const streams = holder.getAttribute("data-live-streams");
  let delay = 1000;
  function connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${proto}://${location.host}/ws/live/?streams=${encodeURIComponent(streams)}`);
    ws.onopen = () => { delay = 1000; if (dot) dot.classList.add("on"); };
    ws.onmessage = (msg) => {
      const payload = JSON.parse(msg.data);
      document.dispatchEvent(new CustomEvent("mailmon:live", { detail: payload }));
    };
    ws.onclose = (event) => {
      if (dot) dot.classList.remove("on");
      // 4401 not logged in (session ended), 4403 no role: retrying cannot help (docs/api.md).
      if (event.code === 4401 || event.code === 4403) {
        if (dot) dot.title = event.code === 4401 ? "live updates stopped: log in again" : "live updates: no role";
        return;
      }
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
})();
