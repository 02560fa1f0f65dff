// Live pages: when a live message arrives, re-render the page's live regions from the server
// (the page's own URL, so its range and filters apply server-side), at most once every few
// seconds. Elements marked data-live-region (with an id) are swapped; a drawn Plotly chart is
// kept and updated in place (Plotly.react, by the page's own script on "mailmon:refreshed").
(function () {
  const MIN_GAP_MS = 3000;
  let timer = null;
  let last = 0;
  let busy = false;
  const regions = () => [...document.querySelectorAll("[data-live-region][id]")];

  function stamp() {
    const now = new Date().toLocaleTimeString("en-GB", { timeZone: "UTC", hour12: false }) + " UTC";
    document.querySelectorAll("[data-live-stamp]").forEach((el) => { el.textContent = now; });
  }

  async function refresh() {
    timer = null;
    if (busy) { schedule(); return; }
    busy = true;
    last = Date.now();
    try {
      const response = await fetch(location.href, { headers: { "HX-Request": "true" }, credentials: "same-origin" });
      if (!response.ok) return;
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const old of regions()) {
        const fresh = doc.getElementById(old.id);
        if (!fresh) continue;
        fresh.querySelectorAll("[data-plotly][id]").forEach((el) => {
          const drawn = old.querySelector("#" + CSS.escape(el.id));
          if (drawn && drawn.classList.contains("js-plotly-plot")) el.replaceWith(drawn);
        });
        old.replaceWith(fresh);
        if (window.htmx) window.htmx.process(fresh);
      }
      stamp();
      document.dispatchEvent(new CustomEvent("mailmon:refreshed"));
    } catch (err) {
      // a failed refresh is retried on the next live message
    } finally {
      busy = false;
    }
  }

  function schedule() {
    if (timer) return;
    timer = setTimeout(refresh, Math.max(0, last + MIN_GAP_MS - Date.now()));
  }

  document.addEventListener("mailmon:live", (e) => {
    if (e.detail.stream === "system" || !regions().length) return;
    schedule();
  });
})();
