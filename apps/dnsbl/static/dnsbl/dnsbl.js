// Reputation pages: draw the server-built Plotly figures, follow "check now" progress on the
// live stream, and refresh the listings when a run finishes.
(function () {
  const config = { responsive: true, displaylogo: false };
  const latest = {};  // run id -> last progress: a fast worker may report before the box is swapped in

  function drawCharts() {
    if (!window.Plotly) return;
    document.querySelectorAll("[data-plotly]").forEach((el) => {
      const fig = JSON.parse(document.getElementById(el.dataset.plotly).textContent);
      Plotly.react(el, fig.data, fig.layout, config);
    });
  }

  function showProgress(box, data) {
    if (box.dataset.finished) return;
    box.querySelector("progress").value = data.done;
    box.querySelector("[data-progress]").textContent = `${data.done} / ${data.total}`;
    if (data.done >= data.total) {
      box.dataset.finished = "1";
      box.insertAdjacentHTML("beforeend", " — done.");
      document.body.dispatchEvent(new Event("dnsbl-refresh"));
    }
  }

  window.addEventListener("load", drawCharts);
  document.addEventListener("htmx:beforeSwap", (e) => {
    if (e.detail.xhr.status === 400) { e.detail.shouldSwap = true; e.detail.isError = false; }
  });
  document.addEventListener("htmx:afterSwap", () => {
    const box = document.getElementById("dnsbl-run");
    if (box && latest[box.dataset.run]) showProgress(box, latest[box.dataset.run]);
  });
  document.addEventListener("mailmon:live", (e) => {
    const { stream, event, data } = e.detail;
    if (stream !== "dnsbl" || event !== "progress") return;
    latest[data.run] = data;
    const box = document.querySelector(`#dnsbl-run[data-run="${data.run}"]`);
    if (box) showProgress(box, data);
  });
})();
