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
    ws.onclose = () => {
      if (dot) dot.classList.remove("on");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
})();
