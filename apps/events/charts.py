"""Plotly figures for the email pages: pure functions from selector results to charts.

Each builder takes the dict a function in ``apps/events/selectors.py`` returns and
gives a :class:`Chart`: a figure, or ``None`` plus the sentence the page shows
instead. A chart is never drawn from invented data: no events, no figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import plotly.graph_objects as go

# Same palette as static/css/mailmon.css (--ok, --warn, --bad ...), so tiles and traces agree.
TYPE_COLORS = {
    "delivered": "#1f9d55",
    "deferred": "#d69e2e",
    "bounced": "#d64545",
    "rejected": "#8e44ad",
    "complained": "#e67e22",
    "queued": "#2f6fdb",
}
# Outcomes stack; "queued" is the same message seen earlier, so it is drawn as its own line.
STACKED_TYPES = ("delivered", "deferred", "bounced", "rejected", "complained")
GAUGE_GREEN, GAUGE_YELLOW, GAUGE_RED = "#1f9d55", "#d69e2e", "#d64545"
_JSON_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


@dataclass(frozen=True)
class Chart:
    """One chart slot on a page: ``figure`` is None when there is nothing to draw."""

    id: str
    title: str
    figure: go.Figure | None
    empty: str = "No events in this range."

    @property
    def json(self) -> str:
        """The figure as JSON safe to place inside a ``<script type="application/json">``."""
        if self.figure is None:
            return ""
        return self.figure.to_json().translate(_JSON_ESCAPES)

    @property
    def trace_names(self) -> list[str]:
        return [trace.name for trace in self.figure.data] if self.figure is not None else []


def _layout(fig: go.Figure, *, height: int = 320, **extra: Any) -> go.Figure:
    # No Python-side template: "plotly_white" costs ~25 ms and ~8 KiB of JSON per figure;
    # these few settings give the same look.
    axis = {"gridcolor": "#e3e6ea", "linecolor": "#e3e6ea", "zeroline": False, "automargin": True}
    defaults = {
        "template": "none",
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "white",
        "xaxis": axis,
        "yaxis": axis,
        "margin": {"l": 50, "r": 20, "t": 20, "b": 40},
        # Above the plot area (Plotly widens the top margin for as many rows as a phone needs), so the
        # legend never overlaps the x axis; stacked traces keep the order they were added in.
        "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom",
                   "traceorder": "normal"},
        "font": {"family": "system-ui, sans-serif", "size": 12},
    }
    fig.update_layout(**{**defaults, **extra}, height=height)
    return fig


def _plotly_time(iso: str) -> str:
    """ISO 8601 → naive UTC text: plotly.js would otherwise drop or misread the offset."""
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(sep=" ")


def drill(**params: str | list[str] | None) -> str:
    """A point's drill-down: the event-list filters it stands for, as a query string that
    ``static/js/events.js`` merges into the page's picker state on ``plotly_click``."""
    return urlencode({k: v for k, v in params.items() if v not in (None, "", [])}, doseq=True)


def _bucket_drills(data: dict, **params: str | list[str] | None) -> list[str]:
    """One drill per bucket: the bucket's own [start, end) as a custom range."""
    buckets = [datetime.fromisoformat(b.replace("Z", "+00:00")).astimezone(UTC) for b in data["buckets"]]
    step = buckets[1] - buckets[0] if len(buckets) > 1 else timedelta(minutes=5)
    fmt = "%Y-%m-%d %H:%M"
    return [drill(range="custom", **{"from": b.strftime(fmt), "to": (b + step).strftime(fmt)}, **params)
            for b in buckets]


def _per_bucket(data: dict) -> str:
    return f"events per {data.get('resolution') or 'bucket'}"


def _has_counts(series: dict[str, list[int | None]]) -> bool:
    return any(value for values in series.values() for value in values)


def throughput_chart(data: dict) -> Chart:
    """Stacked area of outcomes per bucket (``throughput(group_by="type")``), queued as a line."""
    title = "Throughput by event type (UTC)"
    series = data.get("series") or {}
    if not data.get("buckets") or not _has_counts(series):
        return Chart("throughput", title, None)
    x = [_plotly_time(b) for b in data["buckets"]]
    fig = go.Figure()
    ordered = [t for t in STACKED_TYPES if t in series] + sorted(set(series) - set(STACKED_TYPES) - {"queued"})
    for key in ordered:
        fig.add_trace(
            go.Scatter(x=x, y=series[key], name=key, mode="lines", stackgroup="outcomes",
                       line={"width": 0.5, "color": TYPE_COLORS.get(key)}, customdata=_bucket_drills(data, type=key))
        )
    if "queued" in series:
        fig.add_trace(go.Scatter(x=x, y=series["queued"], name="queued", mode="lines",
                                 line={"dash": "dot", "color": TYPE_COLORS["queued"]},
                                 customdata=_bucket_drills(data, type="queued")))
    return Chart("throughput", title, _layout(fig, yaxis_title=_per_bucket(data), hovermode="x unified"))


def node_lines_chart(data: dict) -> Chart:
    """One line per node (``throughput(group_by="node")``)."""
    title = "Events per node (UTC)"
    series = data.get("series") or {}
    if not data.get("buckets") or not _has_counts(series):
        return Chart("per-node", title, None)
    x = [_plotly_time(b) for b in data["buckets"]]
    fig = go.Figure()
    # "other" (nodes past the top 10) last, so the named nodes keep the first colours.
    for key in sorted(series, key=lambda k: (k == "other", k)):
        node = None if key == "other" else key  # "other" is many nodes: drill to the bucket only
        fig.add_trace(go.Scatter(x=x, y=series[key], name=key, mode="lines",
                                 customdata=_bucket_drills(data, node=node)))
    return Chart("per-node", title, _layout(fig, yaxis_title=_per_bucket(data), hovermode="x unified"))


def gauge_color(value_ms: float, *, green_ms: int, yellow_ms: int) -> str:
    if value_ms < green_ms:
        return GAUGE_GREEN
    return GAUGE_YELLOW if value_ms < yellow_ms else GAUGE_RED


PERCENTILES = (("p50", "median (p50)"), ("p95", "p95"), ("p99", "p99"))


def percentiles_chart(delivery_time_ms: dict, *, green_ms: int, yellow_ms: int) -> Chart:
    """p50, p95 and p99 as bars on one scale (seconds), each coloured by the thresholds
    (green < green_ms ≤ yellow < yellow_ms ≤ red); the exact average, when known, is a
    dashed line labelled "average"."""
    title = "Delivery time percentiles"
    shown = [(label, delivery_time_ms.get(key)) for key, label in PERCENTILES]
    if all(value is None for _label, value in shown):
        return Chart("percentiles", title, None, "No deliveries in this range.")
    shown = [(label, value) for label, value in shown if value is not None]
    fig = go.Figure(go.Bar(
        y=[label for label, _v in shown], x=[v / 1000 for _l, v in shown], orientation="h", name="delivery time",
        marker_color=[gauge_color(v, green_ms=green_ms, yellow_ms=yellow_ms) for _l, v in shown],
        text=[f"{v / 1000:.2f} s" for _l, v in shown], textposition="auto",
    ))  # fmt: skip
    fig = _layout(fig, height=220, xaxis_title="seconds", yaxis={"autorange": "reversed", "automargin": True},
                  showlegend=False)  # fmt: skip
    average = delivery_time_ms.get("avg")
    if average is not None:
        fig.add_vline(x=average / 1000, line_dash="dash", line_color="#6b7685",
                      annotation_text=f"average {average / 1000:.2f} s", annotation_position="top")  # fmt: skip
    return Chart("percentiles", title, fig, "No deliveries in this range.")


def delivery_time_chart(data: dict) -> Chart:
    """p50 / p95 / p99 per bucket (``delivery_time_series()``), in seconds, on one axis."""
    title = "Delivery time over time (UTC)"
    series = data["series"]
    if all(v is None for values in series.values() for v in values):
        return Chart("delivery-time", title, None, "No deliveries in this range.")
    x = [_plotly_time(b) for b in data["buckets"]]
    colors = {"p50": GAUGE_GREEN, "p95": GAUGE_YELLOW, "p99": GAUGE_RED}
    fig = go.Figure([
        go.Scatter(x=x, y=[None if v is None else v / 1000 for v in series[key]], name=label, mode="lines+markers",
                   line={"color": colors[key]}, connectgaps=False)
        for key, label in PERCENTILES
    ])  # fmt: skip
    return Chart("delivery-time", title, _layout(fig, yaxis_title="seconds", hovermode="x unified"))


def histogram_chart(data: dict) -> Chart:
    """Delivery-time distribution over the fixed buckets of ``delivery_histogram()``."""
    title = "Delivery time distribution"
    if not data.get("total"):
        return Chart("histogram", title, None, "No deliveries in this range.")
    buckets = data["buckets"]
    fig = go.Figure(go.Bar(x=[b["label"] for b in buckets], y=[b["count"] for b in buckets], name="deliveries",
                           marker_color=TYPE_COLORS["delivered"]))
    return Chart("histogram", title, _layout(fig, xaxis_title="delivery time", yaxis_title="deliveries"))


def queue_chart(data: dict) -> Chart:
    """Queue size per node over time (``queue()``); gaps stay gaps where a node did not report."""
    title = "Queue size per node (UTC)"
    series = data.get("series") or {}
    per_node = series.get("per_node") or {}
    if not series.get("buckets") or not any(v is not None for values in per_node.values() for v in values):
        return Chart("queue", title, None, "No queue reports from the nodes in this range.")
    x = [_plotly_time(b) for b in series["buckets"]]
    fig = go.Figure()
    for node in sorted(per_node):
        fig.add_trace(go.Scatter(x=x, y=per_node[node], name=node, mode="lines", connectgaps=False))
    return Chart("queue", title, _layout(fig, yaxis_title="messages queued", hovermode="x unified"))


def bounce_category_chart(data: dict) -> Chart:
    """Bounced and rejected events by category, largest first."""
    title = "Bounces by category"
    rows = [row for row in data.get("by_category") or [] if row["count"]]
    if not data.get("total") or not rows:
        return Chart("bounce-categories", title, None, "No bounces or rejections in this range.")
    rows = sorted(rows, key=lambda r: r["count"])  # Plotly draws horizontal bars bottom-up
    fig = go.Figure(go.Bar(x=[r["count"] for r in rows], y=[r["label"] for r in rows], orientation="h",
                           name="bounces", marker_color=TYPE_COLORS["bounced"],
                           text=[f"{r['percent']:.1f} %" for r in rows], textposition="auto",
                           customdata=[drill(type=["bounced", "rejected"], category=r["category"]) for r in rows]))
    return Chart("bounce-categories", title, _layout(fig, height=max(240, 36 * len(rows) + 80), xaxis_title="events",
                                                     margin={"l": 10, "r": 20, "t": 20, "b": 40}))


def _code_label(row: dict) -> str:
    code = "—" if row.get("status_code") is None else str(row["status_code"])
    return f"{code} {row.get('enhanced_status') or ''}".strip()


def code_value(row: dict) -> str:
    """The exact ``code=`` filter of a row: "550 5.7.1", "550" or "5.7.1"."""
    return " ".join(str(part) for part in (row.get("status_code"), row.get("enhanced_status")) if part)


def bounce_code_chart(data: dict, *, limit: int = 15) -> Chart:
    """The most frequent SMTP code / enhanced status pairs among bounces."""
    title = "Bounces by SMTP code"
    rows = [row for row in data.get("by_code") or [] if row["count"]][:limit]
    if not data.get("total") or not rows:
        return Chart("bounce-codes", title, None, "No bounces or rejections in this range.")
    fig = go.Figure(go.Bar(x=[_code_label(r) for r in rows], y=[r["count"] for r in rows], name="bounces",
                           marker_color=TYPE_COLORS["rejected"],
                           customdata=[drill(type=["bounced", "rejected"], code=code_value(r)) for r in rows]))
    return Chart("bounce-codes", title, _layout(fig, xaxis_title="code", yaxis_title="events", xaxis_type="category"))


def destinations_chart(data: dict) -> Chart:
    """Delivered / deferred / bounced / rejected per recipient domain for the first rows of the page."""
    title = "Outcomes per destination"
    rows = [row for row in data.get("results") or [] if row["sent"]]
    if not rows:
        return Chart("destinations", title, None, "No mail sent to any destination in this range.")
    rows = rows[:20][::-1]  # horizontal bars draw bottom-up; keep the table's first row on top
    domains = [r["domain"] for r in rows]
    fig = go.Figure()
    for key in ("delivered", "deferred", "bounced", "rejected"):
        fig.add_trace(go.Bar(x=[r.get(key, 0) for r in rows], y=domains, name=key, orientation="h",
                             marker_color=TYPE_COLORS[key], customdata=[drill(type=key, to_domain=d) for d in domains]))
    return Chart("destinations", title, _layout(fig, barmode="stack", height=max(240, 26 * len(rows) + 90),
                                                margin={"l": 10, "r": 20, "t": 20, "b": 40}, xaxis_title="events"))
