// Alerts pages: refresh the active-alerts table and the navigation badge on the "alerts" stream.
(function () {
  document.addEventListener("mailmon:live", (event) => {
    if (event.detail.stream !== "alerts") return;
    document.body.dispatchEvent(new Event("alerts-refresh"));
    const badge = document.getElementById("alerts-firing-badge");
    if (badge && event.detail.data && "firing" in event.detail.data) {
      badge.textContent = event.detail.data.firing;
      badge.hidden = !event.detail.data.firing;
    }
  });
})();
