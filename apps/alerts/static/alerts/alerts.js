// Alerts pages: refresh the active-alerts table and the navigation badge on the "alerts" stream.
(function () {
  function badge() {
    let el = document.getElementById("alerts-firing-badge");
    const link = document.querySelector('.nav a[href$="/alerts/"]');
    if (!el && link) {
      el = document.createElement("span");
      el.id = "alerts-firing-badge";
      el.className = "badge sev-critical";
      el.title = "alerts firing";
      link.append(" ", el);
    }
    return el;
  }
  document.addEventListener("mailmon:live", (event) => {
    if (event.detail.stream !== "alerts") return;
    document.body.dispatchEvent(new Event("alerts-refresh"));
    const data = event.detail.data || {};
    const el = "firing" in data ? badge() : null;
    if (el) {
      el.textContent = data.firing;
      el.hidden = !data.firing;
    }
  });
})();
