// Email pages: draw server-built Plotly figures, keep the picker's "custom" choice in step,
// let htmx swap 400 form errors in, and redraw charts in place after a live refresh (refresh.js).
(function () {
  const config = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

  function drawCharts(root) {
    if (!window.Plotly) return;
    root.querySelectorAll("[data-plotly]").forEach((el) => {
      const source = document.getElementById(el.dataset.plotly);
      if (!source) return;
      const fig = JSON.parse(source.textContent);
      Plotly.react(el, fig.data, fig.layout, config);
      if (!el.dataset.drill) { el.dataset.drill = "1"; el.on("plotly_click", (ev) => drillDown(ev)); }
    });
  }

  // Clicking a bar or point opens exactly the events behind it: the page's picker state
  // (range and filters from the URL) plus the point's own filters (charts.drill()).
  const PAGE_ONLY = ["sort", "page", "cursor"];
  function drillDown(ev) {
    const point = ev && ev.points && ev.points[0];
    if (!point || !point.customdata) return;
    const params = new URLSearchParams(window.location.search);
    PAGE_ONLY.forEach((name) => params.delete(name));
    const extra = new URLSearchParams(point.customdata);
    if (extra.has("from")) { params.delete("from"); params.delete("to"); params.delete("range"); }
    for (const name of new Set(extra.keys())) {
      params.delete(name);
      extra.getAll(name).forEach((value) => params.append(name, value));
    }
    window.location.assign("/events/search/?" + params.toString());
  }

  // Typing a from/to date means a custom range: tick it before htmx reads the form
  // (capture phase runs before the form's own change handler).
  document.addEventListener("change", (e) => {
    if (!e.target.matches("[data-custom-range]")) return;
    const radio = e.target.form && e.target.form.querySelector("[data-custom-range-radio]");
    if (radio) radio.checked = true;
  }, true);

  // Keep pushed URLs short: drop empty filters, and from/to unless the range is custom
  // (a relative range must stay relative when the link is shared).
  document.addEventListener("htmx:configRequest", (e) => {
    const form = e.detail.formData;  // htmx 2: the FormData the request is built from
    if (!form || !form.has("range")) return;
    if (form.get("range") !== "custom") { form.delete("from"); form.delete("to"); }
    for (const [name, value] of [...form.entries()]) { if (value === "") form.delete(name); }
  });

  // A 400 carries the form with its error message: show it instead of dropping the response.
  document.addEventListener("htmx:beforeSwap", (e) => {
    if (e.detail.xhr.status === 400) { e.detail.shouldSwap = true; e.detail.isError = false; }
  });
  // outerHTML swaps replace the element htmx reports, so redraw from the fresh #events-page.
  document.addEventListener("htmx:afterSettle", () => drawCharts(document.getElementById("events-page") || document));

  // Back/forward restores a snapshot of the DOM: charts come back as dead SVG, so draw them anew.
  document.addEventListener("htmx:historyRestore", () => {
    document.querySelectorAll("[data-plotly]").forEach((el) => { el.replaceChildren(); el.className = "chart"; });
    drawCharts(document);
  });

  // Live pages: refresh.js swapped in fresh regions (keeping drawn charts): update the charts in place.
  document.addEventListener("mailmon:refreshed", () => drawCharts(document));

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => drawCharts(document));
  } else {
    drawCharts(document);
  }
})();
