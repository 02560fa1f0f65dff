// Sending-IP pages: show 400 answers (they name the field at fault), draw the server-built
// Plotly figures, and the "select this page" box of the IP table.
(function () {
  const config = { responsive: true, displaylogo: false };

  function drawCharts() {
    if (!window.Plotly) return;
    document.querySelectorAll("[data-plotly]").forEach((el) => {
      const fig = JSON.parse(document.getElementById(el.dataset.plotly).textContent);
      Plotly.react(el, fig.data, fig.layout, config);
    });
  }

  window.addEventListener("load", drawCharts);
  document.addEventListener("htmx:beforeSwap", (e) => {
    if (e.detail.xhr.status === 400) { e.detail.shouldSwap = true; e.detail.isError = false; }
  });
  document.addEventListener("change", (e) => {
    if (e.target.id === "ips-select-page") {
      document.querySelectorAll("#ip-table input[name=ip]").forEach((box) => { box.checked = e.target.checked; });
    }
  });
})();
