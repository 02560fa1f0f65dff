"""Plotly figures for a node's page: pure functions from ``selectors.node_metrics`` (and the events
selectors) to :class:`~apps.events.charts.Chart`, with an honest empty state when nothing was reported."""

from __future__ import annotations

import plotly.graph_objects as go

from apps.events.charts import TYPE_COLORS, Chart, _layout, _plotly_time

NO_REPORTS = "The agent sent no reports in this range."
RESOURCE_LINES = (("cpu_percent", "CPU", "#2f6fdb"), ("memory_percent", "memory", "#8e44ad"),
                  ("swap_percent", "swap", "#d69e2e"))
LOAD_LINES = (("load1", "1 min"), ("load5", "5 min"), ("load15", "15 min"))
# Share of samples with the service up: red (down all along) through yellow to green (up).
UPTIME_SCALE = [[0.0, "#d64545"], [0.5, "#d69e2e"], [0.99, "#9ad3b0"], [1.0, "#1f9d55"]]


def _x(data: dict) -> list[str]:
    return [_plotly_time(b) for b in data.get("buckets") or []]


def _has_values(*series: list | None) -> bool:
    return any(v is not None for values in series for v in values or [])


def _lines(chart_id: str, title: str, data: dict, lines: list[tuple[str, list, str | None]], *, empty: str = NO_REPORTS,
           **layout) -> Chart:
    if not data.get("buckets") or not _has_values(*(values for _name, values, _color in lines)):
        return Chart(chart_id, title, None, empty)
    fig = go.Figure()
    x = _x(data)
    for name, values, color in lines:
        if _has_values(values):
            fig.add_trace(go.Scatter(x=x, y=values, name=name, mode="lines", connectgaps=False,
                                     line={"color": color} if color else {}))
    return Chart(chart_id, title, _layout(fig, hovermode="x unified", **layout))


def resources_chart(data: dict) -> Chart:
    """CPU, memory and swap use (% per bucket, mean of the samples)."""
    series = data.get("series") or {}
    lines = [(label, series.get(key), color) for key, label, color in RESOURCE_LINES]
    return _lines("resources", f"CPU, memory, swap (% · {data.get('resolution')} means, UTC)", data, lines,
                  yaxis={"range": [0, 100], "title": "%"})


def disks_chart(data: dict) -> Chart:
    """Used space per mount (%)."""
    disks = data.get("disks") or {}
    lines = [(mount, values, None) for mount, values in sorted(disks.items())]
    return _lines("disks", "Disk use per mount (%, UTC)", data, lines, empty="No disk figures in this range.",
                  yaxis={"range": [0, 100], "title": "% used"})


def network_chart(data: dict) -> Chart:
    """Receive and transmit rates (bytes/s) from the agent's byte counters."""
    series = data.get("series") or {}
    lines = [("received", series.get("net_rx_bps"), "#2f6fdb"), ("sent", series.get("net_tx_bps"), "#1f9d55")]
    return _lines("network", "Network (bytes/s, UTC)", data, lines, empty="No network counters in this range.",
                  yaxis_title="bytes/s")


def load_chart(data: dict) -> Chart:
    series = data.get("series") or {}
    lines = [(label, series.get(key), None) for key, label in LOAD_LINES]
    return _lines("load", "Load average (UTC)", data, lines, empty="No load figures in this range.")


def queue_chart(data: dict) -> Chart:
    """The mail queue: each bucket's highest report."""
    series = data.get("series") or {}
    return _lines("queue", "Mail queue (peak per bucket, UTC)", data,
                  [("queued", series.get("queue_size"), TYPE_COLORS["queued"])],
                  empty="No queue reports in this range.", yaxis_title="messages")


def rates_chart(performance: dict) -> Chart:
    """Bounce (bounced + rejected) and deferral share of the sent outcomes per bucket, in %
    (``selectors_mta.node_performance``); gaps where the node sent nothing."""
    title = "Bounce and deferral rate (% of sent, UTC)"
    series = performance.get("series") or {}
    if not any(series.get("sent") or []):
        return Chart("bounce-rate", title, None, "No mail sent from this node in this range.")
    lines = [("bounce rate", "bounce_rate", TYPE_COLORS["bounced"]), ("deferral rate", "deferral_rate",
                                                                       TYPE_COLORS["deferred"])]
    fig = go.Figure([
        go.Scatter(x=_x(performance), y=[None if v is None else 100.0 * v for v in series[key]], name=name,
                   mode="lines+markers", connectgaps=False, line={"color": color})
        for name, key, color in lines
    ])  # fmt: skip
    return Chart("bounce-rate", title, _layout(fig, yaxis_title="%", hovermode="x unified"))


def services_chart(data: dict) -> Chart:
    """Up/down timeline: one row per service, each bucket coloured by the share of samples it was up."""
    title = "Services up/down (share of reports up, UTC)"
    services = data.get("services") or {}
    if not data.get("buckets") or not _has_values(*services.values()):
        return Chart("services", title, None, "No service reports in this range.")
    names = sorted(services, reverse=True)  # heatmap rows draw bottom-up: keep A on top
    z = [services[name] for name in names]
    text = [["no report" if v is None else f"{100 * v:.0f} % up" for v in row] for row in z]
    fig = go.Figure(go.Heatmap(x=_x(data), y=names, z=z, zmin=0, zmax=1, colorscale=UPTIME_SCALE, text=text,
                               hovertemplate="%{y} %{x}: %{text}<extra></extra>", xgap=1, ygap=2,
                               colorbar={"title": "up", "tickformat": ".0%"}))
    return Chart("services", title, _layout(fig, height=max(160, 40 * len(names) + 90),
                                            yaxis={"type": "category", "automargin": True}))
